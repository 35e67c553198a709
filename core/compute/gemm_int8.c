/* gemm_int8.c — see gemm_int8.h. Written for this project from Intel's descriptions of
 * vpdpbusd, vpmaddubsw/vpmaddwd and the AMX tile instructions (Intel SDM; tile configuration
 * "palette 1"), with ggml's activation quantisation (quantize_row_q8_0) as the x side.
 *
 * The x chunk (XCHUNK, calling thread), for rows padded to a multiple of MB:
 *   xq [mp/MB][nb][MB][bk] int8    sub-block b of a 32-row block: 32 rows of bk bytes, one
 *                                  AMX A tile (16 rows) per half, contiguous
 *   dx, xs [mp/MB][nb][MB] float   the rows' scale and exact sum per sub-block
 * The packed panel (PACK, per thread), for k from kb0·bk, nkb sub-blocks, groups of NP = 32
 * weight rows: group g, sub-block i at (g·nkb + i)·wblock_bytes(bk):
 *   2 tiles [bk/4][16 columns][4 bytes]: q of columns 0-15, then 16-31 (AMX B tiles; a row
 *   of a tile is one zmm of vpdpbusd operands, its halves two ymm)
 *   float scale[32], int32 corr[32] = −128·Σq (the vpdpbusd paths' offset), float min[32]
 * The output block (CBUF, per thread): float32 [mp, NC], zeroed per panel, every sub-block
 * added in order (gemm_int8.h's formula), then the valid part copied to y.
 *
 * Legend: M, K, N, bk, nb, b as in gemm_int8.h; MB = x rows per block, NP = weight rows per
 * group, NC = per panel, KC = k per packed chunk; r = row in a block, p = k quad (4 bytes). */
#include "gemm_int8.h"

#include "cpu_features.h"
#include "int8_blocks.h"
#include "pool.h"

#include <math.h>
#include <string.h>

#define MB               32  /* x rows per block: 2 AMX A tiles, 4 × 8 zmm rows, 8 × 4 ymm rows */
#define NP               32  /* weight rows per group: 2 AMX B tiles, 2 zmm, 4 ymm */
#define NC               128 /* weight rows per panel (the threads split N in panels) */
#define KC               512 /* k per packed chunk (a multiple of every block, 256) */
#define ROWS_SUB         512 /* x rows per pass over a decoded panel: [512, NC] floats in L2 */
#define X_CHUNK_MAX_ROWS 4608        /* 1024²'s tokens in one chunk: the weights decoded once */
#define X_CHUNK_BYTES    (48u << 20) /* x rows quantised at once */

#if defined(__x86_64__) && defined(__GNUC__)
#define GI_X86 1
#include <immintrin.h>
#define GI_AVX2    __attribute__((target("avx2,fma")))
#define GI_AVXVNNI __attribute__((target("avx2,fma,avxvnni")))
#define GI_AVX512  __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,fma")))
#define GI_VNNI    __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,fma")))
#define GI_AMX     __attribute__((target("amx-tile,amx-int8,avx512f,avx512bw,avx512vl,avx512dq,fma")))
#define GI_INLINE  static inline __attribute__((always_inline))
#endif
/* The x quantisation on feature-bit clones: SSE4.1 and later inline roundf (else a libm call
 * per value); the same bits on every clone. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) &&                             \
    !defined(__SANITIZE_ADDRESS__)
#define GI_SIMD __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define GI_SIMD
#endif

/* Bytes of one sub-block of a group: two tiles of bk/4 × 64 bytes, then scale, corr, min. */
static inline size_t wblock_bytes(int bk)
{
    return (size_t)32 * bk + 3 * 32 * 4;
}

typedef struct {
    float *y; /* [M, N] */
    const gint8 *xq;
    const float *dx, *xs; /* xs NULL for types without a min */
    const StTensor *w;
    int m0, mc, mp; /* chunk: first row, rows, rows padded to MB */
    int K, N, bk, nb;
    gboolean has_min, x_unsigned; /* x stored as x + 128: the vpdpbusd paths */
    GemmInt8Path path;
} Int8Job;

/* c[MB, NP] (rows NC apart) += the x block's nkb sub-blocks (xa: [nkb][MB][bk], dx and xs:
 * [nkb][MB]) times the group's (wg: nkb sub-blocks), in the order of gemm_int8.h. */
typedef void (*KernelFn)(const gint8 *xa, const float *dx, const float *xs, const guint8 *wg,
                         int nkb, int bk, gboolean has_min, float *c);

/* ------------------------------------------------------------------------------------- */
/* Per-thread scratch                                                                    */

typedef enum { SCRATCH_XCHUNK, SCRATCH_PACK, SCRATCH_CBUF, SCRATCH_ROW, N_SCRATCH } Scratch;

static void *thread_scratch(Scratch slot, size_t bytes)
{
    static GPrivate keys[N_SCRATCH] = {G_PRIVATE_INIT(g_free), G_PRIVATE_INIT(g_free),
                                       G_PRIVATE_INIT(g_free), G_PRIVATE_INIT(g_free)};
    static _Thread_local size_t cap[N_SCRATCH];
    void *buf = g_private_get(&keys[slot]);
    if (bytes > cap[slot]) {
        g_free(buf);
        buf = g_malloc(bytes);
        g_private_set(&keys[slot], buf);
        cap[slot] = bytes;
    }
    return buf;
}

/* ------------------------------------------------------------------------------------- */
/* x: quantisation and packing                                                           */

/* roundf (half away from zero) from truncation, which the clones inline: v − trunc(v) is exact
 * for |v| < 2²³. */
static inline float round_half_away(float v)
{
    const float t = truncf(v);
    return fabsf(v - t) >= 0.5f ? t + copysignf(1.0f, v) : t;
}

GI_SIMD void gemm_int8_quantize_block(const float *x, int bk, gint8 *q, float *d)
{
    float amax = 0.0f;
    gboolean finite = TRUE;
    for (int j = 0; j < bk; j++) {
        const float a = fabsf(x[j]);
        amax = a > amax ? a : amax; /* (a NaN leaves amax: the block is not finite anyway) */
        finite &= isfinite(x[j]) != 0;
    }
    const float db = amax / 127.0f;
    float id = db != 0.0f && finite ? 1.0f / db : 0.0f; /* 0: keeps the casts below defined */
    *d = finite ? db : NAN;
    /* |x·id| <= 127 up to one rounding, so the clamp only guards the cast */
    for (int j = 0; j < bk; j++)
        q[j] = (gint8)CLAMP(round_half_away(finite ? x[j] * id : 0.0f), -127.0f, 127.0f);
}

#ifdef GI_X86
/* gemm_int8_quantize_block on 16 lanes (bk a multiple of 16, at most 32): the same operations
 * on each value, so the same bits, without the branch on the rounding (mispredicted half the
 * time in the scalar loop). */
GI_AVX512 static void quantize_block_avx512(const float *x, int bk, gint8 *q, float *d)
{
    const __m512 sign = _mm512_set1_ps(-0.0f), fmax = _mm512_set1_ps(3.40282347e38f);
    __m512 v[2], amax = _mm512_setzero_ps();
    __mmask16 finite = 0xffff;
    for (int h = 0; h < bk / 16; h++) {
        v[h] = _mm512_loadu_ps(x + 16 * h);
        const __m512 a = _mm512_andnot_ps(sign, v[h]);
        finite &= _mm512_cmp_ps_mask(a, fmax, _CMP_LE_OQ); /* false for inf and NaN */
        amax = _mm512_max_ps(amax, a);
    }
    if (finite != 0xffff) { /* the scalar path's answer for a block with inf or NaN */
        gemm_int8_quantize_block(x, bk, q, d);
        return;
    }
    const float db = _mm512_reduce_max_ps(amax) / 127.0f, id = db != 0.0f ? 1.0f / db : 0.0f;
    *d = db;
    for (int h = 0; h < bk / 16; h++) {
        const __m512 t = _mm512_mul_ps(v[h], _mm512_set1_ps(id));
        __m512 r = _mm512_roundscale_ps(t, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
        const __m512 frac = _mm512_andnot_ps(sign, _mm512_sub_ps(t, r));
        const __mmask16 up = _mm512_cmp_ps_mask(frac, _mm512_set1_ps(0.5f), _CMP_GE_OQ);
        const __m512 one = _mm512_or_ps(_mm512_and_ps(t, sign), _mm512_set1_ps(1.0f));
        r = _mm512_mask_add_ps(r, up, r, one);
        r = _mm512_min_ps(_mm512_max_ps(r, _mm512_set1_ps(-127.0f)), _mm512_set1_ps(127.0f));
        _mm_storeu_si128((__m128i *)(q + 16 * h), _mm512_cvtepi32_epi8(_mm512_cvttps_epi32(r)));
    }
}
#endif

/* The quantisation pack_x_rows uses: AVX-512 where the CPU has it. */
static void quantize_block(const float *x, int bk, gint8 *q, float *d)
{
#ifdef GI_X86
    static gsize has; /* 1: no, 2: yes */
    if (g_once_init_enter(&has)) g_once_init_leave(&has, cpu_has(CPU_AVX512) ? 2 : 1);
    if (has == 2) {
        quantize_block_avx512(x, bk, q, d);
        return;
    }
#endif
    gemm_int8_quantize_block(x, bk, q, d);
}

/* Σ x[j] in float, in order (the min term's x side). */
static float block_sum(const float *x, int bk)
{
    float s = 0.0f;
    for (int j = 0; j < bk; j++) s += x[j];
    return s;
}

typedef struct {
    const float *x; /* the chunk's first row */
    gint8 *xq;
    float *dx, *xs;
    int mc, K, bk, nb;
    gboolean x_unsigned; /* store x + 128 (vpdpbusd paths) */
} PackXJob;

/* Rows [begin, end) of the padded chunk into the layout above (zeros past the chunk's rows). */
static void pack_x_rows(void *ctx, size_t begin, size_t end)
{
    const PackXJob *p = ctx;
    for (size_t m = begin; m < end; m++) {
        const size_t mb = m / MB, r = m % MB;
        for (int b = 0; b < p->nb; b++) {
            const size_t at = (mb * p->nb + b) * MB + r;
            gint8 *q = p->xq + at * p->bk;
            if (m >= (size_t)p->mc) {
                memset(q, 0, (size_t)p->bk);
                p->dx[at] = 0.0f;
                if (p->xs) p->xs[at] = 0.0f;
                continue;
            }
            const float *src = p->x + m * p->K + (size_t)b * p->bk;
            quantize_block(src, p->bk, q, &p->dx[at]);
            if (p->xs) p->xs[at] = block_sum(src, p->bk);
            if (p->x_unsigned)
                for (int j = 0; j < p->bk; j++) q[j] = (gint8)((guint8)q[j] ^ 0x80);
        }
    }
}

/* ------------------------------------------------------------------------------------- */
/* Weights: one panel's k chunk decoded into groups                                      */

/* Columns n0 .. n0+NC-1 (those past N as zeros), sub-blocks kb0 .. kb0+nkb-1, into the
 * panel wp (group g's sub-block b at (g·nb + b)·wblock_bytes).
 * q, scale, mins: a row's decoded chunk (KC values, KC/16 factors). */
static void pack_panel(const Int8Job *j, int n0, int kb0, int nkb, guint8 *wp, gint8 *q,
                       float *scale, float *mins)
{
    const StTensor *w = j->w;
    int blk;
    size_t bytes;
    st_dtype_block(w->dtype, &blk, &bytes);
    const int bk = j->bk, k0 = kb0 * bk, nk = nkb * bk, groups = (MIN(NC, j->N - n0) + NP - 1) / NP;
    const size_t wbb = wblock_bytes(bk), row_bytes = (size_t)(j->K / blk) * bytes;
    for (int c = 0; c < groups * NP; c++) {
        guint8 *g = wp + ((size_t)(c / NP) * j->nb + kb0) * wbb;
        const int lane = c % NP;
        guint8 *tile = g + (size_t)(lane / 16) * 16 * bk + (lane % 16) * 4;
        const gboolean valid = n0 + c < j->N;
        if (valid)
            int8_blocks_decode(w->dtype,
                               (const guint8 *)w->data + (size_t)(n0 + c) * row_bytes +
                                   (size_t)(k0 / blk) * bytes,
                               nk / blk, q, scale, j->has_min ? mins : NULL);
        for (int i = 0; i < nkb; i++) {
            guint8 *wb = g + (size_t)i * wbb, *ti = tile + (size_t)i * wbb;
            const gint8 *qb = q + (size_t)i * bk;
            gint32 sum = 0;
            for (int p = 0; p < bk / 4; p++) {
                if (valid)
                    memcpy(ti + 64 * p, qb + 4 * p, 4);
                else
                    memset(ti + 64 * p, 0, 4);
            }
            if (valid && j->x_unsigned) /* (only the vpdpbusd paths read corr) */
                for (int k = 0; k < bk; k++) sum += qb[k];
            float *fs = (float *)(wb + 32 * bk);
            fs[lane] = valid ? scale[i] : 0.0f;
            ((gint32 *)(fs + 32))[lane] = -128 * sum;
            fs[64 + lane] = valid && j->has_min ? mins[i] : 0.0f;
        }
    }
}

/* ------------------------------------------------------------------------------------- */
/* Kernels: c[MB, NP] += x block · group over nkb sub-blocks (KernelFn)                  */

/* Plain C, signed x: the block sums in int32, then the float combination per sub-block. */
static void kernel_portable(const gint8 *xa, const float *dx, const float *xs, const guint8 *wg,
                            int nkb, int bk, gboolean has_min, float *c)
{
    const size_t wbb = wblock_bytes(bk);
    for (int i = 0; i < nkb; i++) {
        const gint8 *xb = xa + (size_t)i * MB * bk, *wb = (const gint8 *)wg + i * wbb;
        const float *scale = (const float *)(wb + 32 * bk), *mins = scale + 64;
        for (int r = 0; r < MB; r++)
            for (int col = 0; col < NP; col++) {
                const gint8 *wc = wb + (col / 16) * 16 * bk + (col % 16) * 4;
                gint32 s = 0;
                for (int k = 0; k < bk; k++) s += (gint32)xb[r * bk + k] * wc[(k / 4) * 64 + k % 4];
                float *cc = c + (size_t)r * NC + col;
                *cc = fmaf((float)s, dx[i * MB + r] * scale[col], *cc);
                if (has_min) *cc = fmaf(xs[i * MB + r], mins[col], *cc);
            }
    }
}

#ifdef GI_X86

/* One row's 32 outputs from the int32 sums of a sub-block (s0: columns 0-15, s1: 16-31). */
GI_AVX512 GI_INLINE void combine_zmm(float *cr, __m512i s0, __m512i s1, float dx, float xs,
                                     const float *scale, gboolean has_min)
{
    const __m512 d = _mm512_set1_ps(dx);
    __m512 c0 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s0), _mm512_mul_ps(d, _mm512_loadu_ps(scale)),
                                _mm512_loadu_ps(cr));
    __m512 c1 =
        _mm512_fmadd_ps(_mm512_cvtepi32_ps(s1), _mm512_mul_ps(d, _mm512_loadu_ps(scale + 16)),
                        _mm512_loadu_ps(cr + 16));
    if (has_min) {
        const __m512 v = _mm512_set1_ps(xs);
        c0 = _mm512_fmadd_ps(v, _mm512_loadu_ps(scale + 64), c0);
        c1 = _mm512_fmadd_ps(v, _mm512_loadu_ps(scale + 80), c1);
    }
    _mm512_storeu_ps(cr, c0);
    _mm512_storeu_ps(cr + 16, c1);
}

GI_AVX2 GI_INLINE __m256i bcast4(const gint8 *p)
{
    gint32 v;
    memcpy(&v, p, 4);
    return _mm256_set1_epi32(v);
}

/* AVX512-VNNI: 8 rows × 32 columns, 16 zmm of int32 sums started at corr (x is x + 128);
 * bk a constant in each instance (inlined below). */
GI_VNNI GI_INLINE void vnni_body(const gint8 *xa, const float *dx, const float *xs,
                                 const guint8 *wg, int nkb, const int bk, gboolean has_min,
                                 float *c)
{
    const size_t wbb = wblock_bytes(bk);
    for (int r0 = 0; r0 < MB; r0 += 8)
        for (int i = 0; i < nkb; i++) {
            const guint8 *wb = wg + i * wbb, *t1 = wb + 16 * bk;
            const gint8 *xb = xa + ((size_t)i * MB + r0) * bk;
            const float *scale = (const float *)(wb + 32 * bk);
            const __m512i corr0 = _mm512_loadu_si512(scale + 32),
                          corr1 = _mm512_loadu_si512(scale + 48);
            __m512i acc[8][2];
#pragma GCC unroll 8
            for (int r = 0; r < 8; r++) acc[r][0] = corr0, acc[r][1] = corr1;
#pragma GCC unroll 8
            for (int p = 0; p < bk / 4; p++) {
                const __m512i w0 = _mm512_loadu_si512(wb + 64 * p),
                              w1 = _mm512_loadu_si512(t1 + 64 * p);
#pragma GCC unroll 8
                for (int r = 0; r < 8; r++) {
                    gint32 v;
                    memcpy(&v, xb + r * bk + 4 * p, 4);
                    const __m512i xv = _mm512_set1_epi32(v);
                    acc[r][0] = _mm512_dpbusd_epi32(acc[r][0], xv, w0);
                    acc[r][1] = _mm512_dpbusd_epi32(acc[r][1], xv, w1);
                }
            }
#pragma GCC unroll 8
            for (int r = 0; r < 8; r++)
                combine_zmm(c + (size_t)(r0 + r) * NC, acc[r][0], acc[r][1], dx[i * MB + r0 + r],
                            has_min ? xs[i * MB + r0 + r] : 0.0f, scale, has_min);
        }
}

GI_VNNI static void kernel_vnni(const gint8 *xa, const float *dx, const float *xs, const guint8 *wg,
                                int nkb, int bk, gboolean has_min, float *c)
{
    if (bk == 32)
        vnni_body(xa, dx, xs, wg, nkb, 32, has_min, c);
    else
        vnni_body(xa, dx, xs, wg, nkb, 16, has_min, c);
}

/* ymm kernels (AVX-VNNI and AVX2): 4 rows × 16 columns (one tile: t), 8 int32 sums in ymm;
 * DOT(acc, x quad broadcast, w, |w|) adds the 4-byte products. One body for both: a function
 * that names one instruction set's intrinsic cannot inline the other's (hence the macro). */
#define GI_YMM_BODY(DOT, START)                                                                    \
    const size_t wbb = wblock_bytes(bk);                                                           \
    const __m256i ones = _mm256_set1_epi16(1);                                                     \
    (void)ones;                                                                                    \
    for (int t = 0; t < 2; t++)                                                                    \
        for (int r0 = 0; r0 < MB; r0 += 4)                                                         \
            for (int i = 0; i < nkb; i++) {                                                        \
                const guint8 *wb = wg + i * wbb, *tb = wb + t * 16 * bk;                           \
                const gint8 *xb = xa + ((size_t)i * MB + r0) * bk;                                 \
                const float *scale = (const float *)(wb + 32 * bk) + 16 * t;                       \
                const __m256i s0 = START((const __m256i *)(scale + 32)),                           \
                              s1 = START((const __m256i *)(scale + 40));                           \
                __m256i acc[4][2];                                                                 \
                _Pragma("GCC unroll 4") for (int r = 0; r < 4; r++) acc[r][0] = s0,                \
                                                                    acc[r][1] = s1;                \
                _Pragma("GCC unroll 8") for (int p = 0; p < bk / 4; p++)                           \
                {                                                                                  \
                    const __m256i w0 = _mm256_loadu_si256((const __m256i *)(tb + 64 * p)),         \
                                  w1 = _mm256_loadu_si256((const __m256i *)(tb + 64 * p + 32));    \
                    const __m256i a0 = _mm256_abs_epi8(w0), a1 = _mm256_abs_epi8(w1);              \
                    (void)a0, (void)a1;                                                            \
                    _Pragma("GCC unroll 4") for (int r = 0; r < 4; r++)                            \
                    {                                                                              \
                        const __m256i xv = bcast4(xb + r * bk + 4 * p);                            \
                        acc[r][0] = DOT(acc[r][0], xv, w0, a0);                                    \
                        acc[r][1] = DOT(acc[r][1], xv, w1, a1);                                    \
                    }                                                                              \
                }                                                                                  \
                _Pragma("GCC unroll 4") for (int r = 0; r < 4; r++)                                \
                {                                                                                  \
                    float *cr = c + (size_t)(r0 + r) * NC + 16 * t;                                \
                    const __m256 d = _mm256_set1_ps(dx[i * MB + r0 + r]);                          \
                    __m256 c0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(acc[r][0]),                     \
                                                _mm256_mul_ps(d, _mm256_loadu_ps(scale)),          \
                                                _mm256_loadu_ps(cr));                              \
                    __m256 c1 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(acc[r][1]),                     \
                                                _mm256_mul_ps(d, _mm256_loadu_ps(scale + 8)),      \
                                                _mm256_loadu_ps(cr + 8));                          \
                    if (has_min) {                                                                 \
                        const __m256 v = _mm256_set1_ps(xs[i * MB + r0 + r]);                      \
                        c0 = _mm256_fmadd_ps(v, _mm256_loadu_ps(scale + 64), c0);                  \
                        c1 = _mm256_fmadd_ps(v, _mm256_loadu_ps(scale + 72), c1);                  \
                    }                                                                              \
                    _mm256_storeu_ps(cr, c0);                                                      \
                    _mm256_storeu_ps(cr + 8, c1);                                                  \
                }                                                                                  \
            }

/* AVX-VNNI: x is x + 128 (unsigned), sums start at corr. */
#define GI_DOT_AVXVNNI(acc, x, w, a) _mm256_dpbusd_avx_epi32(acc, x, w)
#define GI_START_CORR(p)             _mm256_loadu_si256(p)
/* AVX2: |w| (unsigned, 128 for -128) times x with w's sign: pair sums ≤ 2·128·127 fit int16. */
#define GI_DOT_AVX2(acc, x, w, a)                                                                  \
    _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(a, _mm256_sign_epi8(x, w)), ones))
#define GI_START_ZERO(p) ((void)(p), _mm256_setzero_si256())

GI_AVXVNNI GI_INLINE void avx_vnni_body(const gint8 *xa, const float *dx, const float *xs,
                                        const guint8 *wg, int nkb, const int bk, gboolean has_min,
                                        float *c){GI_YMM_BODY(GI_DOT_AVXVNNI, GI_START_CORR)}

GI_AVXVNNI
    static void kernel_avx_vnni(const gint8 *xa, const float *dx, const float *xs, const guint8 *wg,
                                int nkb, int bk, gboolean has_min, float *c)
{
    if (bk == 32)
        avx_vnni_body(xa, dx, xs, wg, nkb, 32, has_min, c);
    else
        avx_vnni_body(xa, dx, xs, wg, nkb, 16, has_min, c);
}

GI_AVX2 GI_INLINE void avx2_body(const gint8 *xa, const float *dx, const float *xs,
                                 const guint8 *wg, int nkb, const int bk, gboolean has_min,
                                 float *c){GI_YMM_BODY(GI_DOT_AVX2, GI_START_ZERO)}

GI_AVX2 static void kernel_avx2(const gint8 *xa, const float *dx, const float *xs, const guint8 *wg,
                                int nkb, int bk, gboolean has_min, float *c)
{
    if (bk == 32)
        avx2_body(xa, dx, xs, wg, nkb, 32, has_min, c);
    else
        avx2_body(xa, dx, xs, wg, nkb, 16, has_min, c);
}

/* AMX tile configuration (palette 1): tiles 0-3 the int32 sums (16 × 16), 4-5 the x (A) tiles
 * (16 rows × bk bytes), 6-7 the weight (B) tiles (bk/4 rows × 64 bytes). */
typedef struct {
    guint8 palette, start_row, reserved[14];
    guint16 colsb[16];
    guint8 rows[16];
} TileConfig;

GI_AMX static void amx_begin(int bk)
{
    /* static: GCC's _tile_loadconfig names only 8 bytes as its input (docs/CRITICAL.md) */
    static const TileConfig cfg32 = {.palette = 1,
                                     .colsb = {64, 64, 64, 64, 32, 32, 64, 64},
                                     .rows = {16, 16, 16, 16, 16, 16, 8, 8}};
    static const TileConfig cfg16 = {.palette = 1,
                                     .colsb = {64, 64, 64, 64, 16, 16, 64, 64},
                                     .rows = {16, 16, 16, 16, 16, 16, 4, 4}};
    _tile_loadconfig(bk == 32 ? &cfg32 : &cfg16);
}

GI_AMX static void amx_end(void)
{
    _tile_release();
}

/* The int32 sums of one sub-block: 32 rows × 32 columns in 4 tiles (2 x tiles × 2 weight
 * tiles, each loaded tile used twice), stored to s. */
GI_AMX GI_INLINE void amx_products(const gint8 *xb, const guint8 *wb, int bk, gint32 (*s)[NP])
{
    _tile_zero(0);
    _tile_zero(1);
    _tile_zero(2);
    _tile_zero(3);
    _tile_loadd(4, xb, bk);
    _tile_loadd(6, wb, 64);
    _tile_dpbssd(0, 4, 6);
    _tile_loadd(7, wb + 16 * bk, 64);
    _tile_dpbssd(1, 4, 7);
    _tile_loadd(5, xb + 16 * bk, bk);
    _tile_dpbssd(2, 5, 6);
    _tile_dpbssd(3, 5, 7);
    _tile_stored(0, &s[0][0], NP * 4);
    _tile_stored(1, &s[0][16], NP * 4);
    _tile_stored(2, &s[16][0], NP * 4);
    _tile_stored(3, &s[16][16], NP * 4);
}

/* c rows += the float combination of n sub-blocks' stored sums (s[i] for sub-block b0 + i),
 * each row's 32 outputs kept in two zmm over the sub-blocks (in order). */
GI_AMX GI_INLINE void amx_combine(gint32 (*s)[MB][NP], int b0, int n, const float *dx,
                                  const float *xs, const guint8 *wg, int bk, gboolean has_min,
                                  float *c)
{
    const size_t wbb = wblock_bytes(bk);
    for (int r = 0; r < MB; r++) {
        float *cr = c + (size_t)r * NC;
        __m512 c0 = _mm512_loadu_ps(cr), c1 = _mm512_loadu_ps(cr + 16);
        for (int i = 0; i < n; i++) {
            const int b = b0 + i;
            const float *scale = (const float *)(wg + b * wbb + 32 * bk);
            const __m512 d = _mm512_set1_ps(dx[b * MB + r]);
            c0 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_load_si512(&s[i][r][0])),
                                 _mm512_mul_ps(d, _mm512_loadu_ps(scale)), c0);
            c1 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_load_si512(&s[i][r][16])),
                                 _mm512_mul_ps(d, _mm512_loadu_ps(scale + 16)), c1);
            if (has_min) {
                const __m512 v = _mm512_set1_ps(xs[b * MB + r]);
                c0 = _mm512_fmadd_ps(v, _mm512_loadu_ps(scale + 64), c0);
                c1 = _mm512_fmadd_ps(v, _mm512_loadu_ps(scale + 80), c1);
            }
        }
        _mm512_storeu_ps(cr, c0);
        _mm512_storeu_ps(cr + 16, c1);
    }
}

#define AMX_RUN 4 /* sub-blocks whose sums are stored before they are combined */

/* Runs of AMX_RUN sub-blocks: the tile products of run u, then the float combination of run
 * u − 1 (its sums in the other half of s): the tiles are not renamed, so combining right after
 * each store leaves the tile unit idle; and a row's outputs stay in registers over a run. */
GI_AMX static void kernel_amx(const gint8 *xa, const float *dx, const float *xs, const guint8 *wg,
                              int nkb, int bk, gboolean has_min, float *c)
{
    static _Thread_local gint32 s[2][AMX_RUN][MB][NP] __attribute__((aligned(64))); /* 32 KiB */
    const size_t wbb = wblock_bytes(bk);
    const int runs = (nkb + AMX_RUN - 1) / AMX_RUN;
    for (int u = 0; u <= runs; u++) {
        for (int i = u * AMX_RUN; u < runs && i < MIN(nkb, (u + 1) * AMX_RUN); i++)
            amx_products(xa + (size_t)i * MB * bk, wg + i * wbb, bk, s[u % 2][i - u * AMX_RUN]);
        if (u > 0) {
            const int b0 = (u - 1) * AMX_RUN;
            amx_combine(s[(u - 1) % 2], b0, MIN(AMX_RUN, nkb - b0), dx, xs, wg, bk, has_min, c);
        }
    }
}

#endif /* GI_X86 */

/* ------------------------------------------------------------------------------------- */
/* Driver                                                                                */

static KernelFn kernel_for(GemmInt8Path path)
{
    switch (path) {
#ifdef GI_X86
    case GEMM_INT8_AMX:
        return kernel_amx;
    case GEMM_INT8_VNNI:
        return kernel_vnni;
    case GEMM_INT8_AVX_VNNI:
        return kernel_avx_vnni;
    case GEMM_INT8_AVX2:
        return kernel_avx2;
#endif
    default:
        return kernel_portable;
    }
}

/* Panels [begin, end) of NC weight rows against the whole x chunk: each panel decoded once
 * (all of K), then multiplied ROWS_SUB x rows at a time, so that the output block stays in L2. */
static void panel_worker(void *ctx, size_t begin, size_t end)
{
    const Int8Job *j = ctx;
    const int bk = j->bk, kbc = KC / bk; /* sub-blocks per k chunk */
    const size_t wbb = wblock_bytes(bk);
    guint8 *wp = thread_scratch(SCRATCH_PACK, (size_t)(NC / NP) * j->nb * wbb);
    float *cb = thread_scratch(SCRATCH_CBUF, (size_t)MIN(j->mp, ROWS_SUB) * NC * sizeof(float));
    float *scale = thread_scratch(SCRATCH_ROW, (size_t)KC + 2 * (KC / 16) * sizeof(float));
    float *mins = scale + KC / 16;
    gint8 *q = (gint8 *)(mins + KC / 16);
    const KernelFn kernel = kernel_for(j->path);
#ifdef GI_X86
    if (j->path == GEMM_INT8_AMX) amx_begin(bk);
#endif
    for (size_t panel = begin; panel < end; panel++) {
        const int n0 = (int)panel * NC, nc = MIN(NC, j->N - n0), groups = (nc + NP - 1) / NP;
        for (int kb0 = 0; kb0 < j->nb; kb0 += kbc)
            pack_panel(j, n0, kb0, MIN(kbc, j->nb - kb0), wp, q, scale, mins);
        for (int r0 = 0; r0 < j->mp; r0 += ROWS_SUB) {
            const int rp = MIN(ROWS_SUB, j->mp - r0);
            memset(cb, 0, (size_t)rp * NC * sizeof(float));
            for (int kb0 = 0; kb0 < j->nb; kb0 += kbc) {
                const int nkb = MIN(kbc, j->nb - kb0);
                for (int g = 0; g < groups; g++) /* (this part of the group stays in L1) */
                    for (int mb = r0 / MB; mb < (r0 + rp) / MB; mb++) {
                        const size_t at = ((size_t)mb * j->nb + kb0) * MB;
                        kernel(j->xq + at * bk, j->dx + at, j->xs ? j->xs + at : NULL,
                               wp + ((size_t)g * j->nb + kb0) * wbb, nkb, bk, j->has_min,
                               cb + (size_t)(mb * MB - r0) * NC + g * NP);
                    }
            }
            for (int r = r0; r < MIN(r0 + rp, j->mc); r++)
                memcpy(j->y + (size_t)(j->m0 + r) * j->N + n0, cb + (size_t)(r - r0) * NC,
                       (size_t)nc * sizeof(float));
        }
    }
#ifdef GI_X86
    if (j->path == GEMM_INT8_AMX) amx_end();
#endif
}

/* x rows per chunk: ≤ X_CHUNK_BYTES of int8 and factors, ≤ X_CHUNK_MAX_ROWS, a multiple of MB. */
static int chunk_rows(int K)
{
    size_t rows = X_CHUNK_BYTES / ((size_t)K + (size_t)K / 2) / MB * MB;
    return (int)CLAMP(rows, (size_t)MB, (size_t)X_CHUNK_MAX_ROWS);
}

/* Bytes of the x chunk: int8 values, then dx and xs (K/16 floats each at most). */
static size_t x_chunk_bytes(int rows, int K)
{
    return (size_t)rows * ((size_t)K + 2 * (size_t)(K / 16) * sizeof(float));
}

size_t gemm_int8_scratch_bytes(int K)
{
    const int rows = chunk_rows(MAX(K, 1));
    const size_t per_thread = (size_t)(NC / NP) * (K / 16) * wblock_bytes(16) +
                              (size_t)MIN(rows, ROWS_SUB) * NC * sizeof(float) + KC +
                              2 * (KC / 16) * 4;
    return x_chunk_bytes(rows, K) + (size_t)pool_n_threads() * per_thread;
}

gboolean gemm_int8_supports(const StTensor *w)
{
    return int8_blocks_supported(w->dtype) && w->scale == 0.0f && w->ndim == 2;
}

void gemm_int8_linear(float *y, const float *x, const StTensor *w, int M, int K, int N)
{
    int blk;
    size_t bytes;
    g_assert(gemm_int8_supports(w) && st_dtype_block(w->dtype, &blk, &bytes));
    g_assert(w->numel == (int64_t)N * K && K % blk == 0);
    if (M <= 0 || N <= 0) return;
    const int bk = int8_blocks_bk(w->dtype), nb = K / bk, rows = chunk_rows(K);
    const gboolean has_min = int8_blocks_has_min(w->dtype);
    const GemmInt8Path path = gemm_int8_path();
    const int mp_max = MIN(rows, (M + MB - 1) / MB * MB);
    guint8 *buf = thread_scratch(SCRATCH_XCHUNK, x_chunk_bytes(mp_max, K));
    for (int m0 = 0; m0 < M; m0 += rows) {
        const int mc = MIN(rows, M - m0), mp = (mc + MB - 1) / MB * MB;
        float *dx = (float *)buf, *xs = has_min ? dx + (size_t)mp * nb : NULL;
        gint8 *xq = (gint8 *)(dx + 2 * (size_t)mp * nb);
        const gboolean x_unsigned = path == GEMM_INT8_VNNI || path == GEMM_INT8_AVX_VNNI;
        PackXJob px = {x + (size_t)m0 * K, xq, dx, xs, mc, K, bk, nb, x_unsigned};
        pool_parallel_for((size_t)mp, pack_x_rows, &px);
        Int8Job j = {y, xq, dx, xs, w, m0, mc, mp, K, N, bk, nb, has_min, x_unsigned, path};
        pool_parallel_for(((size_t)N + NC - 1) / NC, panel_worker, &j);
    }
}

/* ------------------------------------------------------------------------------------- */
/* The naive twin                                                                        */

void gemm_int8_naive(float *y, const float *x, const StTensor *w, int M, int K, int N)
{
    int blk;
    size_t bytes;
    g_assert(gemm_int8_supports(w) && st_dtype_block(w->dtype, &blk, &bytes) && K % blk == 0);
    const int bk = int8_blocks_bk(w->dtype), nb = K / bk;
    const gboolean has_min = int8_blocks_has_min(w->dtype);
    const size_t row_bytes = (size_t)(K / blk) * bytes;
    gint8 *xq = g_new(gint8, (size_t)M * K), *q = g_new(gint8, K);
    float *dx = g_new(float, (size_t)M *nb), *xs = g_new(float, (size_t)M *nb);
    float *scale = g_new(float, nb), *mins = g_new(float, nb);
    for (int m = 0; m < M; m++)
        for (int b = 0; b < nb; b++) {
            const float *src = x + (size_t)m * K + (size_t)b * bk;
            gemm_int8_quantize_block(src, bk, xq + (size_t)m * K + (size_t)b * bk,
                                     &dx[(size_t)m * nb + b]);
            xs[(size_t)m * nb + b] = block_sum(src, bk);
        }
    for (int n = 0; n < N; n++) {
        int8_blocks_decode(w->dtype, (const guint8 *)w->data + (size_t)n * row_bytes, K / blk, q,
                           scale, mins);
        for (int m = 0; m < M; m++) {
            float acc = 0.0f;
            for (int b = 0; b < nb; b++) {
                const gint8 *xb = xq + (size_t)m * K + (size_t)b * bk, *wb = q + (size_t)b * bk;
                gint32 s = 0;
                for (int k = 0; k < bk; k++) s += (gint32)xb[k] * wb[k];
                acc = fmaf((float)s, dx[(size_t)m * nb + b] * scale[b], acc);
                if (has_min) acc = fmaf(xs[(size_t)m * nb + b], mins[b], acc);
            }
            y[(size_t)m * N + n] = acc;
        }
    }
    g_free(xq), g_free(q), g_free(dx), g_free(xs), g_free(scale), g_free(mins);
}

/* ------------------------------------------------------------------------------------- */
/* Path selection                                                                        */

#ifdef GI_X86
#define GI_BUILT 0
#else
#define GI_BUILT CPU_NOT_BUILT
#endif

/* In GemmInt8Path order, ranked for detection (cpu_features.h). */
static const CpuPath paths[] = {
    [GEMM_INT8_AUTO] = {"auto", 0, 0},
    [GEMM_INT8_PORTABLE] = {"portable", 0, 1},
    [GEMM_INT8_AVX2] = {"avx2", GI_BUILT | CPU_BIT(CPU_AVX2), 2},
    [GEMM_INT8_AVX_VNNI] = {"avx-vnni", GI_BUILT | CPU_BIT(CPU_AVX_VNNI), 3},
    [GEMM_INT8_VNNI] = {"avx512-vnni", GI_BUILT | CPU_BIT(CPU_AVX512_VNNI), 4},
    [GEMM_INT8_AMX] = {"amx-int8", GI_BUILT | CPU_BIT(CPU_AMX_INT8), 5},
};
static CpuPathChoice choice = CPU_PATH_CHOICE(paths);

gboolean gemm_int8_set_path(GemmInt8Path p)
{
    return cpu_path_force(&choice, (int)p);
}

GemmInt8Path gemm_int8_path(void)
{
    return (GemmInt8Path)cpu_path_current(&choice);
}

const char *gemm_int8_path_name(GemmInt8Path p)
{
    return cpu_path_name(&choice, (int)p);
}

gboolean gemm_int8_native(void)
{
    return gemm_int8_path() != GEMM_INT8_PORTABLE;
}
