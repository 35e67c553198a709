/* rng.c — torch CPU randn, bit-exact (see rng.h and the reference README "rng.safetensors").
 *
 * Follows PyTorch: at::mt19937 / CPUGeneratorImpl (engine, random(), random64(), the cached
 * double normal), at::uniform_real_distribution, at::normal_distribution<double> (scalar
 * path), and normal_fill / normal_fill_16 / normal_fill_16_AVX2 of
 * aten/src/ATen/native/cpu/DistributionTemplates.h with the Cephes log256_ps / sincos256_ps
 * of aten/src/ATen/native/cpu/avx_mathfun.h (rewritten here as scalar code, one lane).
 *
 * Legend: n = number of elements drawn; a "block" is 16 consecutive outputs whose first 8
 * take cos and last 8 take sin of the same 8 (radius, theta) pairs.
 *
 * Exactness: every float operation below must round once, as written. The AVX2 kernel's
 * fused multiply-adds are spelled fmaf() (exact single rounding in C99); every other
 * product/sum must NOT be contracted into an FMA by the compiler. C11 ISO mode (meson's
 * c_std=c11) already gives gcc -ffp-contract=off; the pragmas below keep it so under
 * gnu11 or -march=native builds too.
 */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

#include "rng.h"

#include <math.h>
#include <string.h>

/* ---------------------------------------------------------------------------------- */
/* Engine: 32-bit Mersenne Twister, identical output to std::mt19937.                 */

#define MT_M        397
#define MT_MATRIX_A 0x9908b0dfu
#define MT_UPPER    0x80000000u
#define MT_LOWER    0x7fffffffu

void rng_seed(FluxRng *r, guint64 seed)
{
    /* torch keeps the 64-bit seed but seeds the engine with its low 32 bits. */
    r->mt[0] = (uint32_t)(seed & 0xffffffffu);
    for (uint32_t i = 1; i < RNG_MT_N; i++)
        r->mt[i] = 1812433253u * (r->mt[i - 1] ^ (r->mt[i - 1] >> 30)) + i;
    r->idx = RNG_MT_N;
    r->has_normal = 0;
    r->next_normal = 0.0;
}

static void mt_twist(FluxRng *r)
{
    for (int i = 0; i < RNG_MT_N; i++) {
        uint32_t y = (r->mt[i] & MT_UPPER) | (r->mt[(i + 1) % RNG_MT_N] & MT_LOWER);
        r->mt[i] = r->mt[(i + MT_M) % RNG_MT_N] ^ (y >> 1) ^ ((y & 1u) ? MT_MATRIX_A : 0u);
    }
    r->idx = 0;
}

uint32_t rng_next_u32(FluxRng *r)
{
    if (r->idx >= RNG_MT_N) mt_twist(r);
    uint32_t y = r->mt[r->idx++];
    y ^= y >> 11;
    y ^= (y << 7) & 0x9d2c5680u;
    y ^= (y << 15) & 0xefc60000u;
    y ^= y >> 18;
    return y;
}

/* ---------------------------------------------------------------------------------- */
/* Uniforms (at::uniform_real_distribution on [0, 1)).                                 */

/* 24 random bits → [0, 1) in float. */
static float uniform_f32(FluxRng *r)
{
    return (float)(rng_next_u32(r) & 0xffffffu) * 0x1p-24f;
}

/* random64() = (first draw << 32) | second draw; 53 random bits → [0, 1) in double. */
static double uniform_f64(FluxRng *r)
{
    uint64_t hi = rng_next_u32(r);
    uint64_t lo = rng_next_u32(r);
    uint64_t x = (hi << 32) | lo;
    return (double)(x & ((UINT64_C(1) << 53) - 1)) * 0x1p-53;
}

/* ---------------------------------------------------------------------------------- */
/* Scalar path (n < 16): at::normal_distribution<double>, Box–Muller with a cached      */
/* second value that outlives the call (only rng_seed clears it).                       */

static float normal_scalar(FluxRng *r)
{
    double v;
    if (r->has_normal) {
        r->has_normal = 0;
        v = r->next_normal;
    } else {
        double u1 = uniform_f64(r);
        double u2 = uniform_f64(r);
        double radius = sqrt(-2.0 * log1p(-u2));
        double theta = 2.0 * G_PI * u1;
        r->next_normal = radius * sin(theta);
        r->has_normal = 1;
        v = radius * cos(theta);
    }
    /* `* std + mean` with std 1, mean 0: the + 0.0 turns a -0 into +0, as torch does. */
    return (float)(v * 1.0 + 0.0);
}

/* ---------------------------------------------------------------------------------- */
/* Cephes single-precision log and sincos as in avx_mathfun.h, one lane. The multiply- */
/* adds that the AVX2 build of torch fuses are fmaf(); the rest round after each op.   */

static float f_from_bits(uint32_t b)
{
    float f;
    memcpy(&f, &b, sizeof f);
    return f;
}

static uint32_t f_bits(float f)
{
    uint32_t b;
    memcpy(&b, &f, sizeof b);
    return b;
}

#define CEPHES_SQRTHF 0.707106781186547524f
#define CEPHES_LOG_Q1 -2.12194440e-4f
#define CEPHES_LOG_Q2 0.693359375f

/* Natural log of x (x > 0; NaN otherwise): x = m·2^e with m in [√½, √2), then
 * log(1 + (m-1)) by a degree-9 polynomial, and e·ln2 split into q2 + q1. */
static float cephes_logf(float x)
{
    static const float p[9] = {
        7.0376836292E-2f,  -1.1514610310E-1f, 1.1676998740E-1f,
        -1.2420140846E-1f, +1.4249322787E-1f, -1.6668057665E-1f,
        +2.0000714765E-1f, -2.4999993993E-1f, +3.3333331174E-1f,
    };
    if (!(x > 0.0f)) return NAN;
    if (x < 0x1p-126f) /* the smallest normal float: cut off denormals */
        x = 0x1p-126f;
    uint32_t b = f_bits(x);
    int32_t ex = (int32_t)(b >> 23) - 0x7f;
    x = f_from_bits((b & ~0x7f800000u) | f_bits(0.5f)); /* mantissa in [0.5, 1) */
    float e = (float)ex;
    e = e + 1.0f;
    /* below √½: use 2m - 1 and one less in the exponent */
    int small = x < CEPHES_SQRTHF;
    float tmp = small ? x : 0.0f;
    x = x - 1.0f;
    e = e - (small ? 1.0f : 0.0f);
    x = x + tmp;

    float z = x * x;
    float y = p[0];
    for (int k = 1; k < 9; k++) y = fmaf(y, x, p[k]);
    y = y * x;
    float eq1 = e * CEPHES_LOG_Q1;
    y = fmaf(y, z, eq1);
    y = fmaf(-z, 0.5f, y);
    x = x + y;
    return fmaf(e, CEPHES_LOG_Q2, x);
}

#define CEPHES_FOPI 1.27323954473516f /* 4/π */
#define CEPHES_DP1  0.78515625f       /* π/4 split in three parts */
#define CEPHES_DP2  2.4187564849853515625e-4f
#define CEPHES_DP3  3.77489497744594108e-8f

/* sin and cos of x: reduce by multiples j of π/4 (j even), evaluate both polynomials on
 * the remainder and pick/sign them by the octant bits of j. */
static void cephes_sincosf(float x, float *s_out, float *c_out)
{
    static const float sp[3] = {-1.9515295891E-4f, 8.3321608736E-3f, -1.6666654611E-1f};
    static const float cp[3] = {2.443315711809948E-005f, -1.388731625493765E-003f,
                                4.166664568298827E-002f};
    uint32_t sign_sin = f_bits(x) & 0x80000000u;
    x = fabsf(x);
    int32_t j = (int32_t)(x * CEPHES_FOPI); /* truncation, as cvttps */
    j = (j + 1) & ~1;
    float y = (float)j;
    uint32_t swap_sin = (uint32_t)(j & 4) << 29;
    int sin_is_sin_poly = (j & 2) == 0;
    uint32_t sign_cos = ((uint32_t)(~(j - 2)) & 4u) << 29;
    sign_sin ^= swap_sin;

    x = fmaf(y, -CEPHES_DP1, x);
    x = fmaf(y, -CEPHES_DP2, x);
    x = fmaf(y, -CEPHES_DP3, x);
    float z = x * x;

    float c = fmaf(fmaf(cp[0], z, cp[1]), z, cp[2]);
    c = c * z;
    float half_z = z * 0.5f;
    c = fmaf(c, z, -half_z);
    c = c + 1.0f;

    float s = fmaf(fmaf(sp[0], z, sp[1]), z, sp[2]);
    s = s * z;
    s = fmaf(s, x, x);

    /* The vector code selects with masks and adds the masked-out +0, which turns -0
     * into +0; keep that addition. */
    float sv = (sin_is_sin_poly ? s : c) + 0.0f;
    float cv = (sin_is_sin_poly ? c : s) + 0.0f;
    *s_out = f_from_bits(f_bits(sv) ^ sign_sin);
    *c_out = f_from_bits(f_bits(cv) ^ sign_cos);
}

/* ---------------------------------------------------------------------------------- */
/* Vectorised path (n >= 16): uniforms in place, then Box–Muller per block of 16.     */

/* d[16]: uniforms in → normals out (normal_fill_16_AVX2). */
static void fill16_avx2(float *d)
{
    const float two_pi = (float)(2.0 * G_PI);
    for (int j = 0; j < 8; j++) {
        float u1 = 1.0f - d[j]; /* [0, 1) → (0, 1] for the log */
        float u2 = d[j + 8];
        float radius = sqrtf(-2.0f * cephes_logf(u1));
        float theta = two_pi * u2;
        float sn, cs;
        cephes_sincosf(theta, &sn, &cs);
        /* fmadd(n, std = 1, mean = 0) */
        d[j] = fmaf(radius * cs, 1.0f, 0.0f);
        d[j + 8] = fmaf(radius * sn, 1.0f, 0.0f);
    }
}

/* d[16]: the generic normal_fill_16 (libm float functions, theta rounded from double). */
static void fill16_generic(float *d)
{
    for (int j = 0; j < 8; j++) {
        float u1 = 1.0f - d[j];
        float u2 = d[j + 8];
        float radius = sqrtf(-2.0f * logf(u1));
        float theta = (float)(2.0 * G_PI * (double)u2);
        d[j] = radius * cosf(theta) * 1.0f + 0.0f;
        d[j + 8] = radius * sinf(theta) * 1.0f + 0.0f;
    }
}

/* out[n], n >= 16. A ragged tail is not drawn separately: the last 16 slots get 16 fresh
 * uniforms and are transformed again, overwriting what the last full block left there. */
static void normal_fill(FluxRng *r, float *out, size_t n, void (*fill16)(float *d))
{
    for (size_t i = 0; i < n; i++) out[i] = uniform_f32(r);
    for (size_t i = 0; i + 16 <= n; i += 16) fill16(out + i);
    if (n % 16 != 0) {
        float *tail = out + n - 16;
        for (int i = 0; i < 16; i++) tail[i] = uniform_f32(r);
        fill16(tail);
    }
}

static void randn_with(FluxRng *r, float *out, size_t n, void (*fill16)(float *d))
{
    g_assert(r != NULL && (out != NULL || n == 0));
    if (n >= 16) {
        normal_fill(r, out, n, fill16);
        return;
    }
    for (size_t i = 0; i < n; i++) out[i] = normal_scalar(r);
}

void rng_randn(FluxRng *r, float *out, size_t n)
{
    randn_with(r, out, n, fill16_avx2);
}

void rng_randn_generic(FluxRng *r, float *out, size_t n)
{
    randn_with(r, out, n, fill16_generic);
}
