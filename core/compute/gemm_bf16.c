/* gemm_bf16.c — see gemm_bf16.h. Written for this project from Intel's description of
 * vdpbf16ps / vcvtne2ps2bf16 (Intel SDM) and the bf16 format (the top 16 bits of a float32).
 *
 * Structure: the output columns are split over the thread pool in groups of NR = 4 weight
 * rows. A thread walks x in blocks of rows that stay in L2 (X_BLOCK_BYTES) and, for each of
 * its groups, multiplies MR = 4 rows of x at a time by the 4 weight rows over the full K:
 * 16 accumulators of 16 float32 lanes, summed horizontally at the end. Every weight row is
 * therefore read from memory M / (x rows per block) times, as stored (bf16), and never
 * written anywhere in float32.
 *
 * Legend: M, K, N as in gemm_bf16.h; MR = x rows and NR = weight rows per kernel call,
 * MB = x rows per block, k = index along K. */
#include "gemm_bf16.h"

#include "pool.h"

#include <string.h>

#define MR            4
#define NR            4
#define X_BLOCK_BYTES (512u << 10) /* x rows kept in L2 while the weights stream by */

#if defined(__x86_64__) && defined(__GNUC__)
#define GB_X86 1
#include <immintrin.h>
#define GB_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl")))
#define GB_BF16   __attribute__((target("avx512bf16,avx512f,avx512bw,avx512vl")))
#endif

typedef struct {
    float *y;          /* [M, N] */
    const float *x;    /* [M, K] float32 (portable, AVX-512F) */
    const guint16 *xb; /* [M, K] x rounded to bf16 (AVX512-BF16), else NULL */
    const guint8 *w;   /* [N, K] bf16, any alignment */
    int M, K, N, mb;   /* mb: x rows per block, a multiple of MR */
    float scale;       /* w->scale (0: none) */
    GemmBf16Path path;
} Bf16Job;

/* The float32 value of the bf16 at p (2 bytes, little-endian, any alignment). */
static inline float bf16_at(const guint8 *p)
{
    guint32 u = (guint32)(p[0] | p[1] << 8) << 16;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

void gemm_bf16_round(guint16 *dst, const float *src, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        guint32 u;
        memcpy(&u, src + i, sizeof u);
        if ((u & 0x7fffffffu) > 0x7f800000u) /* NaN: keep it, quiet */
            dst[i] = (guint16)(u >> 16 | 0x40);
        else /* + 0x7fff + the kept LSB: ties go to the even one; overflow gives ±inf */
            dst[i] = (guint16)((u + 0x7fffu + (u >> 16 & 1)) >> 16);
    }
}

static void store(const Bf16Job *j, int m, int n, float v)
{
    j->y[(size_t)m * j->N + n] = j->scale != 0.0f ? v * j->scale : v;
}

/* ------------------------------------------------------------------------------------- */
/* Portable C                                                                            */

/* Σ_k x[k]·w[k] with 16 partial sums (lane k mod 16, as the AVX-512F path), then their sum. */
static float dot_portable(const float *x, const guint8 *w, int K)
{
    float acc[16] = {0};
    int k = 0;
    for (; k + 16 <= K; k += 16)
        for (int l = 0; l < 16; l++) acc[l] += x[k + l] * bf16_at(w + 2 * (size_t)(k + l));
    for (; k < K; k++) acc[k % 16] += x[k] * bf16_at(w + 2 * (size_t)k);
    float s = 0.0f;
    for (int l = 0; l < 16; l++) s += acc[l];
    return s;
}

static void tile_portable(const Bf16Job *j, int n0, int nr, int m0, int mr)
{
    for (int m = m0; m < m0 + mr; m++)
        for (int n = n0; n < n0 + nr; n++)
            store(j, m, n,
                  dot_portable(j->x + (size_t)m * j->K, j->w + (size_t)n * j->K * 2, j->K));
}

/* ------------------------------------------------------------------------------------- */
/* x86: AVX-512F and AVX512-BF16                                                         */

#ifdef GB_X86

/* Row pointers of a tile: rows past the end repeat the last one (their results are dropped),
 * so the kernels have no row tail code. */
static void tile_rows(const Bf16Job *j, int n0, int nr, int m0, int mr, const guint8 **wr,
                      int *mrow)
{
    for (int r = 0; r < NR; r++) wr[r] = j->w + (size_t)(n0 + MIN(r, nr - 1)) * j->K * 2;
    for (int m = 0; m < MR; m++) mrow[m] = m0 + MIN(m, mr - 1);
}

/* 16 bf16 at p widened to float32: zero-extended to 32 bits and shifted into the top half. */
GB_AVX512 static inline __m512 widen16(__m256i h)
{
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

/* y[m0.., n0..] for MR x rows × NR weight rows over the full K: 16 lanes of k per step, the
 * last (K mod 16) by masked loads (zeros in the unused lanes of both operands). */
GB_AVX512 static void tile_avx512f(const Bf16Job *j, int n0, int nr, int m0, int mr)
{
    const guint8 *wr[NR];
    int mrow[MR];
    tile_rows(j, n0, nr, m0, mr, wr, mrow);
    const float *xr[MR];
    for (int m = 0; m < MR; m++) xr[m] = j->x + (size_t)mrow[m] * j->K;
    __m512 acc[MR][NR];
#pragma GCC unroll 4
    for (int m = 0; m < MR; m++)
#pragma GCC unroll 4
        for (int r = 0; r < NR; r++) acc[m][r] = _mm512_setzero_ps();
    const int K = j->K;
    for (int k = 0; k < K; k += 16) {
        __mmask16 mask = K - k >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (K - k)) - 1);
        __m512 wv[NR];
#pragma GCC unroll 4
        for (int r = 0; r < NR; r++)
            wv[r] = widen16(_mm256_maskz_loadu_epi16(mask, wr[r] + 2 * (size_t)k));
#pragma GCC unroll 4
        for (int m = 0; m < MR; m++) {
            __m512 xv = _mm512_maskz_loadu_ps(mask, xr[m] + k);
#pragma GCC unroll 4
            for (int r = 0; r < NR; r++) acc[m][r] = _mm512_fmadd_ps(xv, wv[r], acc[m][r]);
        }
    }
    float sums[MR][NR]; /* (constant indices keep acc in registers) */
#pragma GCC unroll 4
    for (int m = 0; m < MR; m++)
#pragma GCC unroll 4
        for (int r = 0; r < NR; r++) sums[m][r] = _mm512_reduce_add_ps(acc[m][r]);
    for (int m = 0; m < mr; m++)
        for (int r = 0; r < nr; r++) store(j, m0 + m, n0 + r, sums[m][r]);
}

/* The same tile with x in bf16: 32 values of k per step, vdpbf16ps adding the products of
 * each pair (k, k+1) into one float32 lane; the last (K mod 32) by masked loads. K need not
 * be even: a row's pairs start at its own k = 0 in both operands. */
GB_BF16 static void tile_bf16(const Bf16Job *j, int n0, int nr, int m0, int mr)
{
    const guint8 *wr[NR];
    int mrow[MR];
    tile_rows(j, n0, nr, m0, mr, wr, mrow);
    const guint16 *xr[MR];
    for (int m = 0; m < MR; m++) xr[m] = j->xb + (size_t)mrow[m] * j->K;
    __m512 acc[MR][NR];
#pragma GCC unroll 4
    for (int m = 0; m < MR; m++)
#pragma GCC unroll 4
        for (int r = 0; r < NR; r++) acc[m][r] = _mm512_setzero_ps();
    const int K = j->K;
    for (int k = 0; k < K; k += 32) {
        __mmask32 mask = K - k >= 32 ? (__mmask32)0xffffffffu : (__mmask32)((1u << (K - k)) - 1);
        __m512bh wv[NR];
#pragma GCC unroll 4
        for (int r = 0; r < NR; r++)
            wv[r] = (__m512bh)_mm512_maskz_loadu_epi16(mask, wr[r] + 2 * (size_t)k);
#pragma GCC unroll 4
        for (int m = 0; m < MR; m++) {
            __m512bh xv = (__m512bh)_mm512_maskz_loadu_epi16(mask, xr[m] + k);
#pragma GCC unroll 4
            for (int r = 0; r < NR; r++) acc[m][r] = _mm512_dpbf16_ps(acc[m][r], xv, wv[r]);
        }
    }
    float sums[MR][NR]; /* (constant indices keep acc in registers) */
#pragma GCC unroll 4
    for (int m = 0; m < MR; m++)
#pragma GCC unroll 4
        for (int r = 0; r < NR; r++) sums[m][r] = _mm512_reduce_add_ps(acc[m][r]);
    for (int m = 0; m < mr; m++)
        for (int r = 0; r < nr; r++) store(j, m0 + m, n0 + r, sums[m][r]);
}

#endif /* GB_X86 */

/* ------------------------------------------------------------------------------------- */
/* Driver                                                                                */

static void tile(const Bf16Job *j, int n0, int nr, int m0, int mr)
{
    switch (j->path) {
#ifdef GB_X86
    case GEMM_BF16_AVX512F:
        tile_avx512f(j, n0, nr, m0, mr);
        return;
    case GEMM_BF16_AVX512BF16:
        tile_bf16(j, n0, nr, m0, mr);
        return;
#endif
    default:
        tile_portable(j, n0, nr, m0, mr);
    }
}

/* Weight-row groups [begin, end) (NR rows each): for each block of x rows, every group of the
 * range against every MR rows of the block. */
static void bf16_worker(void *ctx, size_t begin, size_t end)
{
    const Bf16Job *j = ctx;
    const int n_lo = (int)begin * NR, n_hi = MIN((int)end * NR, j->N);
    for (int mb0 = 0; mb0 < j->M; mb0 += j->mb) {
        const int mb1 = MIN(mb0 + j->mb, j->M);
        for (int n0 = n_lo; n0 < n_hi; n0 += NR)
            for (int m0 = mb0; m0 < mb1; m0 += MR)
                tile(j, n0, MIN(NR, n_hi - n0), m0, MIN(MR, mb1 - m0));
    }
}

typedef struct {
    const float *x;
    guint16 *xb;
    int K;
} RoundJob;

static void round_rows(void *ctx, size_t begin, size_t end)
{
    const RoundJob *r = ctx;
    gemm_bf16_round(r->xb + begin * r->K, r->x + begin * r->K, (end - begin) * r->K);
}

void gemm_bf16_linear(float *y, const float *x, const StTensor *w, int M, int K, int N)
{
    g_assert(w->dtype == ST_BF16 && w->numel == (int64_t)N * K && K > 0);
    if (M == 0 || N == 0) return;
    Bf16Job j = {y, x, NULL, w->data, M, K, N, 0, w->scale, gemm_bf16_path()};
    const size_t elt = j.path == GEMM_BF16_AVX512BF16 ? sizeof(guint16) : sizeof(float);
    j.mb = (int)MAX((size_t)MR, X_BLOCK_BYTES / (elt * (size_t)K) / MR * MR);
    guint16 *xb = NULL;
    if (j.path == GEMM_BF16_AVX512BF16) {
        xb = g_new(guint16, (size_t)M * K);
        RoundJob r = {x, xb, K};
        pool_parallel_for((size_t)M, round_rows, &r);
        j.xb = xb;
    }
    pool_parallel_for(((size_t)N + NR - 1) / NR, bf16_worker, &j);
    g_free(xb);
}

/* ------------------------------------------------------------------------------------- */
/* Path selection                                                                        */

static gboolean path_runs(GemmBf16Path p)
{
    switch (p) {
    case GEMM_BF16_PORTABLE:
        return TRUE;
#ifdef GB_X86
    case GEMM_BF16_AVX512F:
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512vl");
    case GEMM_BF16_AVX512BF16:
        return path_runs(GEMM_BF16_AVX512F) && __builtin_cpu_supports("avx512bf16");
#endif
    default:
        return FALSE;
    }
}

static GemmBf16Path detect(void)
{
    if (path_runs(GEMM_BF16_AVX512BF16)) return GEMM_BF16_AVX512BF16;
    if (path_runs(GEMM_BF16_AVX512F)) return GEMM_BF16_AVX512F;
    return GEMM_BF16_PORTABLE;
}

static gint forced = GEMM_BF16_AUTO;

gboolean gemm_bf16_set_path(GemmBf16Path p)
{
    if (p != GEMM_BF16_AUTO && !path_runs(p)) return FALSE;
    g_atomic_int_set(&forced, (gint)p);
    return TRUE;
}

GemmBf16Path gemm_bf16_path(void)
{
    static gsize detected;
    if (g_once_init_enter(&detected)) g_once_init_leave(&detected, (gsize)detect());
    GemmBf16Path f = (GemmBf16Path)g_atomic_int_get(&forced);
    return f != GEMM_BF16_AUTO ? f : (GemmBf16Path)detected;
}

const char *gemm_bf16_path_name(GemmBf16Path p)
{
    static const char *names[] = {"auto", "portable", "avx512f", "avx512-bf16"};
    return (unsigned)p < G_N_ELEMENTS(names) ? names[p] : "?";
}
