/* int8_blocks.c — see int8_blocks.h. The bit layouts are quant.c's (ggml's block formats); each
 * decoder here gives the integers and the per-sub-block scale and min that quant.c's
 * dequantiser multiplies and adds, without doing the float products. */
#include "int8_blocks.h"

#include "quant.h"

#include <string.h>

static inline float half_at(const guint8 *p)
{
    return quant_f16_to_f32((guint16)(p[0] | p[1] << 8));
}

static inline guint32 u32_at(const guint8 *p)
{
    return (guint32)p[0] | (guint32)p[1] << 8 | (guint32)p[2] << 16 | (guint32)p[3] << 24;
}

/* Q4_0 / Q4_1 / Q5_0 / Q5_1 (32 elements): nibbles qs[16] (low = element j, high = j + 16),
 * the 5th bit of element j in bit j of qh (NULL: 4-bit types), minus `off`. */
static void small_block(const guint8 *qs, const guint8 *qh, int off, gint8 *q)
{
    const guint32 h = qh ? u32_at(qh) : 0;
    for (int j = 0; j < 16; j++) {
        q[j] = (gint8)(((qs[j] & 15) | (int)(h >> j & 1) << 4) - off);
        q[j + 16] = (gint8)(((qs[j] >> 4) | (int)(h >> (j + 16) & 1) << 4) - off);
    }
}

/* Q4_K / Q5_K (256 elements, 8 sub-blocks of 32): group g of 64 = sub-blocks 2g (low nibbles of
 * qs[32g ..]) and 2g+1 (high nibbles); Q5_K's 5th bit of sub-block s is bit s of qh[l]. */
static void k4_k5_block(const guint8 *b, gboolean five, gint8 *q, float *scale, float *min)
{
    const float d = half_at(b), dmin = half_at(b + 2);
    const guint8 *sc12 = b + 4, *qh = five ? b + 16 : NULL, *qs = b + (five ? 48 : 16);
    for (int s = 0; s < 8; s++) {
        int sc, m;
        quant_k_scale_min(sc12, s, &sc, &m);
        scale[s] = d * (float)sc;
        min[s] = -(dmin * (float)m);
        const guint8 *src = qs + 32 * (s / 2);
        for (int l = 0; l < 32; l++) {
            int v = s % 2 ? src[l] >> 4 : src[l] & 15;
            if (qh) v |= (qh[l] >> s & 1) << 4;
            q[32 * s + l] = (gint8)v;
        }
    }
}

/* Q6_K (256 elements, 16 sub-blocks of 16): in each half of 128, lane l gives elements l, l+32,
 * l+64, l+96 (low 4 bits from ql[l] / ql[l+32], low then high nibbles; 2 high bits from qh[l]);
 * the scale of element e is sc[e / 16]. */
static void q6_k_block(const guint8 *b, gint8 *q, float *scale)
{
    const gint8 *sc = (const gint8 *)(b + 192);
    const float d = half_at(b + 208);
    for (int s = 0; s < 16; s++) scale[s] = d * (float)sc[s];
    for (int h = 0; h < 2; h++) {
        const guint8 *ql = b + 64 * h, *qh = b + 128 + 32 * h;
        gint8 *y = q + 128 * h;
        for (int l = 0; l < 32; l++) {
            y[l] = (gint8)(((ql[l] & 15) | (qh[l] & 3) << 4) - 32);
            y[l + 32] = (gint8)(((ql[l + 32] & 15) | (qh[l] >> 2 & 3) << 4) - 32);
            y[l + 64] = (gint8)(((ql[l] >> 4) | (qh[l] >> 4 & 3) << 4) - 32);
            y[l + 96] = (gint8)(((ql[l + 32] >> 4) | (qh[l] >> 6 & 3) << 4) - 32);
        }
    }
}

gboolean int8_blocks_supported(StDtype dt)
{
    return dt >= ST_Q8_0 && dt <= ST_Q6_K;
}

int int8_blocks_bk(StDtype dt)
{
    return dt == ST_Q6_K ? 16 : 32;
}

gboolean int8_blocks_has_min(StDtype dt)
{
    return dt == ST_Q4_1 || dt == ST_Q5_1 || dt == ST_Q4_K || dt == ST_Q5_K;
}

void int8_blocks_decode(StDtype dt, const guint8 *src, int n_blocks, gint8 *q, float *scale,
                        float *min)
{
    int blk;
    size_t bytes;
    g_assert(int8_blocks_supported(dt) && st_dtype_block(dt, &blk, &bytes));
    const int subs = blk / int8_blocks_bk(dt);
    for (int i = 0; i < n_blocks; i++, src += bytes, q += blk, scale += subs) {
        float *mn = min ? min + (size_t)i * subs : NULL;
        switch (dt) {
        case ST_Q8_0:
            scale[0] = half_at(src);
            memcpy(q, src + 2, 32);
            break;
        case ST_Q4_0:
            scale[0] = half_at(src);
            small_block(src + 2, NULL, 8, q);
            break;
        case ST_Q4_1:
            scale[0] = half_at(src);
            mn[0] = half_at(src + 2);
            small_block(src + 4, NULL, 0, q);
            break;
        case ST_Q5_0:
            scale[0] = half_at(src);
            small_block(src + 6, src + 2, 16, q);
            break;
        case ST_Q5_1:
            scale[0] = half_at(src);
            mn[0] = half_at(src + 2);
            small_block(src + 8, src + 4, 0, q);
            break;
        case ST_Q4_K:
        case ST_Q5_K:
            k4_k5_block(src, dt == ST_Q5_K, q, scale, mn);
            break;
        case ST_Q6_K:
            q6_k_block(src, q, scale);
            break;
        default:
            g_assert_not_reached();
        }
        if (mn && !int8_blocks_has_min(dt))
            for (int s = 0; s < subs; s++) mn[s] = 0.0f;
    }
}
