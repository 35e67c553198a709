/* quant.c — see quant.h. Follows the block layouts of ggml's ggml-common.h and the element
 * formulas of ggml-quants.c dequantize_row_* (same float operation order: the scale product
 * first, then the quant, then the min), so results equal ggml's and numpy's bit for bit.
 * Legend: d, dmin = block (super-block) scales; sc, m = 6/8-bit sub-block scale and min;
 * q = the element's unsigned quant; l = index inside a 32-element group. */
#include "quant.h"

#include <math.h>
#include <string.h>

float quant_f16_to_f32(uint16_t h)
{
    int s = h >> 15, e = (h >> 10) & 31, m = h & 1023;
    float r;
    if (e == 0)
        r = ldexpf((float)m, -24); /* zero and subnormals */
    else if (e == 31)
        r = m ? NAN : INFINITY;
    else
        r = ldexpf((float)(m | 1024), e - 25);
    return s ? -r : r;
}

static inline float half_at(const uint8_t *p)
{
    return quant_f16_to_f32((uint16_t)(p[0] | (p[1] << 8)));
}

static inline uint32_t u32_at(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* (quant.h) Q4_K/Q5_K: bytes 0-3
 * hold sc0-3 (low 6 bits) and the top 2 bits of sc4-7; bytes 4-7 likewise for the mins;
 * bytes 8-11 hold the low 4 bits of sc4-7 (low nibble) and of m4-7 (high nibble). */
void quant_k_scale_min(const uint8_t *sc12, int s, int *sc, int *m)
{
    if (s < 4) {
        *sc = sc12[s] & 63;
        *m = sc12[s + 4] & 63;
    } else {
        *sc = (sc12[s + 4] & 15) | ((sc12[s - 4] >> 6) << 4);
        *m = (sc12[s + 4] >> 4) | ((sc12[s] >> 6) << 4);
    }
}

/* ------------------------------------------------------------------------------------- */
/* Fast path: one block at a time                                                        */

static void deq_q8_0(const uint8_t *b, float *y)
{
    float d = half_at(b);
    for (int j = 0; j < 32; j++) y[j] = (float)(int8_t)b[2 + j] * d;
}

/* Q4_0 / Q4_1: `off` is subtracted from the nibble (8 for Q4_0); Q4_1 adds m instead. */
static void deq_q4_0(const uint8_t *b, float *y)
{
    float d = half_at(b);
    const uint8_t *qs = b + 2;
    for (int j = 0; j < 16; j++) {
        y[j] = (float)((qs[j] & 15) - 8) * d;
        y[j + 16] = (float)((qs[j] >> 4) - 8) * d;
    }
}

static void deq_q4_1(const uint8_t *b, float *y)
{
    float d = half_at(b), m = half_at(b + 2);
    const uint8_t *qs = b + 4;
    for (int j = 0; j < 16; j++) {
        y[j] = (float)(qs[j] & 15) * d + m;
        y[j + 16] = (float)(qs[j] >> 4) * d + m;
    }
}

static void deq_q5_0(const uint8_t *b, float *y)
{
    float d = half_at(b);
    uint32_t qh = u32_at(b + 2);
    const uint8_t *qs = b + 6;
    for (int j = 0; j < 16; j++) {
        int lo = (qs[j] & 15) | (int)((qh >> j) & 1) << 4;
        int hi = (qs[j] >> 4) | (int)((qh >> (j + 16)) & 1) << 4;
        y[j] = (float)(lo - 16) * d;
        y[j + 16] = (float)(hi - 16) * d;
    }
}

static void deq_q5_1(const uint8_t *b, float *y)
{
    float d = half_at(b), m = half_at(b + 2);
    uint32_t qh = u32_at(b + 4);
    const uint8_t *qs = b + 8;
    for (int j = 0; j < 16; j++) {
        int lo = (qs[j] & 15) | (int)((qh >> j) & 1) << 4;
        int hi = (qs[j] >> 4) | (int)((qh >> (j + 16)) & 1) << 4;
        y[j] = (float)lo * d + m;
        y[j + 16] = (float)hi * d + m;
    }
}

/* Q4_K and Q5_K share the structure: 4 groups of 64 = two 32-element sub-blocks using the
 * low and high nibbles of the same 32 bytes; Q5_K's 5th bit is bit 2g (low) / 2g+1 (high)
 * of qh[l] for group g. qh == NULL for Q4_K. */
static void deq_k4_k5(const uint8_t *sc12, const uint8_t *qh, const uint8_t *qs, float d,
                      float dmin, float *y)
{
    for (int g = 0; g < 4; g++) {
        int sc, m;
        quant_k_scale_min(sc12, 2 * g, &sc, &m);
        float d1 = d * (float)sc, m1 = dmin * (float)m;
        quant_k_scale_min(sc12, 2 * g + 1, &sc, &m);
        float d2 = d * (float)sc, m2 = dmin * (float)m;
        const uint8_t *q = qs + 32 * g;
        for (int l = 0; l < 32; l++) {
            int hb = qh ? ((qh[l] >> (2 * g)) & 1) << 4 : 0;
            y[64 * g + l] = d1 * (float)((q[l] & 15) | hb) - m1;
        }
        for (int l = 0; l < 32; l++) {
            int hb = qh ? ((qh[l] >> (2 * g + 1)) & 1) << 4 : 0;
            y[64 * g + 32 + l] = d2 * (float)((q[l] >> 4) | hb) - m2;
        }
    }
}

static void deq_q4_k(const uint8_t *b, float *y)
{
    deq_k4_k5(b + 4, NULL, b + 16, half_at(b), half_at(b + 2), y);
}

static void deq_q5_k(const uint8_t *b, float *y)
{
    deq_k4_k5(b + 4, b + 16, b + 48, half_at(b), half_at(b + 2), y);
}

/* Q6_K: two halves of 128; in each, 32 lanes l give 4 elements (l, l+32, l+64, l+96): low 4
 * bits from ql[l] / ql[l+32] (low, then high nibbles), top 2 bits from qh[l] bits 0-1, 2-3,
 * 4-5, 6-7; a signed 8-bit scale per 16 elements. */
static void deq_q6_k(const uint8_t *b, float *y)
{
    const uint8_t *ql = b, *qh = b + 128;
    const int8_t *sc = (const int8_t *)(b + 192);
    float d = half_at(b + 208);
    for (int h = 0; h < 2; h++, ql += 64, qh += 32, sc += 8, y += 128) {
        for (int l = 0; l < 32; l++) {
            int s = l / 16;
            int q0 = ((ql[l] & 15) | ((qh[l] & 3) << 4)) - 32;
            int q1 = ((ql[l + 32] & 15) | (((qh[l] >> 2) & 3) << 4)) - 32;
            int q2 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
            int q3 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
            y[l] = d * (float)sc[s] * (float)q0;
            y[l + 32] = d * (float)sc[s + 2] * (float)q1;
            y[l + 64] = d * (float)sc[s + 4] * (float)q2;
            y[l + 96] = d * (float)sc[s + 6] * (float)q3;
        }
    }
}

void quant_dequantize(StDtype dt, const void *src, float *dst, int64_t n)
{
    void (*fn)(const uint8_t *, float *);
    switch (dt) {
    case ST_Q8_0:
        fn = deq_q8_0;
        break;
    case ST_Q4_0:
        fn = deq_q4_0;
        break;
    case ST_Q4_1:
        fn = deq_q4_1;
        break;
    case ST_Q5_0:
        fn = deq_q5_0;
        break;
    case ST_Q5_1:
        fn = deq_q5_1;
        break;
    case ST_Q4_K:
        fn = deq_q4_k;
        break;
    case ST_Q5_K:
        fn = deq_q5_k;
        break;
    case ST_Q6_K:
        fn = deq_q6_k;
        break;
    default:
        g_assert_not_reached();
    }
    int blk;
    size_t bytes;
    st_dtype_block(dt, &blk, &bytes);
    g_assert(n % blk == 0);
    const uint8_t *b = src;
    for (int64_t i = 0; i < n; i += blk, b += bytes) fn(b, dst + i);
}

/* ------------------------------------------------------------------------------------- */
/* Naive reference: one element at a time                                                */

/* The 4 low bits of element j (0..31) of a 32-element Q4/Q5 block whose qs start at qs. */
static int nib32(const uint8_t *qs, int j)
{
    return j < 16 ? qs[j] & 15 : qs[j - 16] >> 4;
}

static float ref_k4_k5(const uint8_t *b, int j, gboolean five)
{
    int sub = j / 32, g = j / 64, l = j % 32;
    int sc, m;
    quant_k_scale_min(b + 4, sub, &sc, &m);
    const uint8_t *qs = b + (five ? 48 : 16);
    int q = (sub % 2 == 0) ? qs[32 * g + l] & 15 : qs[32 * g + l] >> 4;
    if (five) q |= ((b[16 + l] >> sub) & 1) << 4; /* bit `sub` of qh[l] */
    float d1 = half_at(b) * (float)sc, m1 = half_at(b + 2) * (float)m;
    return d1 * (float)q - m1;
}

static float ref_q6_k(const uint8_t *b, int j)
{
    int h = j / 128, r = j % 128, quarter = r / 32, l = r % 32;
    uint8_t lowbyte = b[64 * h + l + 32 * (quarter & 1)];
    int low = quarter >= 2 ? lowbyte >> 4 : lowbyte & 15;
    int high = (b[128 + 32 * h + l] >> (2 * quarter)) & 3;
    int8_t sc = (int8_t)b[192 + 8 * h + l / 16 + 2 * quarter];
    return half_at(b + 208) * (float)sc * (float)((low | high << 4) - 32);
}

float quant_ref_element(StDtype dt, const void *src, int64_t i)
{
    int blk;
    size_t bytes;
    g_assert(st_dtype_block(dt, &blk, &bytes) && blk > 1);
    const uint8_t *b = (const uint8_t *)src + (size_t)(i / blk) * bytes;
    int j = (int)(i % blk);
    switch (dt) {
    case ST_Q8_0:
        return (float)(int8_t)b[2 + j] * half_at(b);
    case ST_Q4_0:
        return (float)(nib32(b + 2, j) - 8) * half_at(b);
    case ST_Q4_1:
        return (float)nib32(b + 4, j) * half_at(b) + half_at(b + 2);
    case ST_Q5_0:
        return (float)((nib32(b + 6, j) | (int)((u32_at(b + 2) >> j) & 1) << 4) - 16) * half_at(b);
    case ST_Q5_1:
        return (float)(nib32(b + 8, j) | (int)((u32_at(b + 4) >> j) & 1) << 4) * half_at(b) +
               half_at(b + 2);
    case ST_Q4_K:
        return ref_k4_k5(b, j, FALSE);
    case ST_Q5_K:
        return ref_k4_k5(b, j, TRUE);
    case ST_Q6_K:
        return ref_q6_k(b, j);
    default:
        g_assert_not_reached();
    }
    return 0.0f;
}

void quant_dequantize_ref(StDtype dt, const void *src, float *dst, int64_t n)
{
    for (int64_t i = 0; i < n; i++) dst[i] = quant_ref_element(dt, src, i);
}
