/* convert.c — see convert.h. Element formats: IEEE half and bfloat16 (the top half of a
 * float32), FP8 e4m3fn / e5m2 (OCP 8-bit floats). */
#include "convert.h"
#include "quant.h"

#include <math.h>
#include <string.h>

static inline float bf16_to_f32(uint16_t h)
{
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static inline float f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f, man = h & 0x3ff, u;
    if (exp == 0) {
        if (man == 0) {
            u = sign;
        } else { /* subnormal: renormalise */
            exp = 127 - 15 + 1;
            while (!(man & 0x400)) {
                man <<= 1;
                exp--;
            }
            u = sign | (exp << 23) | ((man & 0x3ff) << 13);
        }
    } else if (exp == 31) {
        u = sign | 0x7f800000u | (man << 13);
    } else {
        u = sign | ((exp + 127 - 15) << 23) | (man << 13);
    }
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* FP8 e4m3fn: bias 7, no infinities, S.1111.111 is NaN. */
static inline float f8e4m3_to_f32(uint8_t v)
{
    int s = v >> 7, e = (v >> 3) & 15, m = v & 7;
    float r;
    if (e == 15 && m == 7)
        r = NAN;
    else if (e == 0)
        r = ldexpf((float)m, -9);
    else
        r = ldexpf(1.0f + m / 8.0f, e - 7);
    return s ? -r : r;
}

static inline float f8e5m2_to_f32(uint8_t v)
{
    return f16_to_f32((uint16_t)v << 8);
}

static void to_f32(float *dst, const StTensor *t, int64_t first, int64_t n)
{
    if (t->dtype >= ST_Q8_0) {
        int blk;
        size_t bytes;
        st_dtype_block(t->dtype, &blk, &bytes);
        g_assert(first % blk == 0 && n % blk == 0);
        const guint8 *q = (const guint8 *)t->data + (size_t)(first / blk) * bytes;
        quant_dequantize(t->dtype, q, dst, n);
        return;
    }
    const guint8 *p = (const guint8 *)t->data + (size_t)first * st_dtype_size(t->dtype);
    switch (t->dtype) {
    case ST_F32:
        memcpy(dst, p, (size_t)n * 4);
        break;
    case ST_F64:
        for (int64_t i = 0; i < n; i++) {
            double d;
            memcpy(&d, p + 8 * i, 8);
            dst[i] = (float)d;
        }
        break;
    case ST_BF16:
        for (int64_t i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, p + 2 * i, 2);
            dst[i] = bf16_to_f32(h);
        }
        break;
    case ST_F16:
        for (int64_t i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, p + 2 * i, 2);
            dst[i] = f16_to_f32(h);
        }
        break;
    case ST_F8_E4M3:
        for (int64_t i = 0; i < n; i++) dst[i] = f8e4m3_to_f32(p[i]);
        break;
    case ST_F8_E5M2:
        for (int64_t i = 0; i < n; i++) dst[i] = f8e5m2_to_f32(p[i]);
        break;
    default:
        g_assert_not_reached();
    }
}

void st_to_f32(float *dst, const StTensor *t, int64_t first, int64_t n)
{
    g_assert(first >= 0 && n >= 0 && first + n <= t->numel);
    to_f32(dst, t, first, n);
    if (t->scale != 0.0f)
        for (int64_t i = 0; i < n; i++) dst[i] *= t->scale;
}
