/* ops.c — fast CPU ops (see ops.h); ops_naive.c holds their references.
 *
 * Where the time goes at FLUX.1 sizes (docs/PERFORMANCE.md has the measurements): the GEMMs
 * are OpenBLAS's; everything else here is written so that GCC vectorises it (plain loops over
 * arrays, no reductions that need reassociation) and is compiled in several instruction-set
 * variants chosen at run time (OPS_SIMD: AVX-512, AVX2+FMA, baseline x86-64), and split over
 * a persistent pool of threads (pool_parallel_for). Attention is flash style: per (head, query
 * tile) an sgemm per key tile, an online softmax with a vectorised exp, and an sgemm into the
 * output tile; the tiles run on the pool threads with OpenBLAS itself single-threaded meanwhile.
 */
#include "convert.h"
#include "ops.h"

#include "pool.h"
#include "gemm_bf16.h"
#include "gemm_int8.h"
#include "precision.h"
#include "quant_dot.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Several instruction-set variants of a hot loop, picked by the loader (GCC ifunc) from the
 * CPU's feature bits. (Not "arch=skylake-avx512"/"arch=haswell": those clones are chosen by
 * CPU model (__builtin_cpu_is), so every other CPU — Ice Lake, Sapphire Rapids, Zen — ran
 * the baseline SSE2 loops.) */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) &&                             \
    !defined(__SANITIZE_ADDRESS__)
#define OPS_SIMD __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define OPS_SIMD
#endif

/* Elementwise work below this many values runs on the calling thread: waking the pool costs
 * ~10-20 µs, about what 64 K values of a cheap op take. */
#define OPS_PAR_MIN (1u << 16)

/* Runs fn over [0, n) on the pool, each chunk calling sgemm itself: OpenBLAS is made
 * single-threaded meanwhile, else its threads and ours contend for the cores (measured:
 * several times slower) or spin in sched_yield between our calls. Below `min_n` items, or on
 * one thread, fn runs inline and OpenBLAS keeps its threads. */
static void parallel_blas_jobs(size_t n, size_t min_n, void (*fn)(void *, size_t, size_t),
                               void *ctx)
{
    if (pool_n_threads() < 2 || n < min_n) {
        fn(ctx, 0, n);
        return;
    }
    int blas_threads = openblas_get_num_threads();
    if (blas_threads > 1) openblas_set_num_threads(1);
    pool_parallel_for(n, fn, ctx);
    if (blas_threads > 1) openblas_set_num_threads(blas_threads);
}

/* Runs fn over [0, n) on the pool when n · cost_per_item is worth it, else inline. */
static void par_maybe(size_t n, size_t work, void (*fn)(void *, size_t, size_t), void *ctx)
{
    if (work < OPS_PAR_MIN)
        fn(ctx, 0, n);
    else
        pool_parallel_for(n, fn, ctx);
}

/* Float32 scratch buffers per thread and purpose, kept for the life of the thread: the
 * weight tiles, GEMV rows and attention tiles of every step reuse them (no allocation in the
 * step loop, no page faults on fresh blocks). Each grows to its largest request and is freed
 * when its thread exits. */
typedef enum {
    SCRATCH_LINEAR,
    SCRATCH_GEMV,
    SCRATCH_ATTENTION,
    SCRATCH_ATTN_BF16,
    N_SCRATCH
} ScratchSlot;

static void scratch_free(gpointer p)
{
    g_free(p);
}

static _Thread_local size_t cap[N_SCRATCH]; /* floats held per slot by this thread */

static float *thread_scratch(ScratchSlot slot, size_t n)
{
    static GPrivate keys[N_SCRATCH] = {G_PRIVATE_INIT(scratch_free), G_PRIVATE_INIT(scratch_free),
                                       G_PRIVATE_INIT(scratch_free), G_PRIVATE_INIT(scratch_free)};
    float *buf = g_private_get(&keys[slot]);
    if (n > cap[slot]) {
        buf = g_renew(float, buf, n); /* (g_private_replace would free the old block) */
        g_private_set(&keys[slot], buf);
        cap[slot] = n;
    }
    return buf;
}

/* ------------------------------------------------------------------------------------- */
/* Vectorisable math                                                                     */

/* e^x for x in float range, ~2 ulp: x = n·ln2 + r, |r| <= ln2/2, e^r by its Taylor series to
 * r^7 (truncation < 1.3e-7 relative), 2^n built in the exponent bits. Branch-free so that
 * loops calling it vectorise; inputs are clamped to [-87, 88] (results stay normal floats:
 * e^-87 = 1.6e-38 stands in for smaller values, e^88 = 1.7e38 for larger). */
static inline __attribute__((always_inline)) float exp_approx(float x)
{
    x = x < -87.0f ? -87.0f : x;
    x = x > 88.0f ? 88.0f : x;
    /* round(x / ln2) with the 1.5·2^23 trick: exact for |x / ln2| < 2^22 */
    float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
    float r = x - n * 0.693145751953125f; /* ln2 high part: 16 significant bits, n·hi exact */
    r = r - n * 1.42860682030941723212e-6f;
    float p = 1.0f / 5040;
    p = p * r + 1.0f / 720;
    p = p * r + 1.0f / 120;
    p = p * r + 1.0f / 24;
    p = p * r + 1.0f / 6;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    int32_t bits = ((int32_t)n + 127) << 23;
    float s;
    memcpy(&s, &bits, sizeof s);
    return p * s;
}

/* ------------------------------------------------------------------------------------- */
/* Linear                                                                                */

/* Float32 rows of w converted per tile and thread: up to 24 MiB (512 rows at FLUX's widest
 * K = 12288), at least 256 rows (below that, repacking x for each tile's sgemm shows).
 * Measured on 2 threads at M = 1536, K/N = 3072/12288 (docs/PERFORMANCE.md): 4-8 MiB tiles
 * 50-90% of a float32 sgemm on the whole matrix, 12-48 MiB 95-115%. */
#define LINEAR_TILE_BYTES    (24u << 20)
#define LINEAR_TILE_MIN_ROWS 256
/* x with at most this many rows goes through the GEMV path: each weight is read once, as
 * stored (2 bytes for bf16), and used for every row of x; the AdaLN linears (M = batch) of
 * FLUX.1 are ~1.1e9 weights per step that sgemm would first have to see converted. */
#define LINEAR_GEMV_MAX_M 8
/* Weight rows converted at once by a GEMV worker (stays in L1/L2 for K <= 16 K). */
#define GEMV_ROWS 4

void ops_matmul(float *c, int ldc, const float *a, int lda, const float *b, int ldb, int M, int K,
                int N, int accumulate)
{
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1.0f, a, lda, b, ldb,
                accumulate ? 1.0f : 0.0f, c, ldc);
}

/* src: bf16 values at any address (safetensors data offsets promise no alignment), read
 * byte-wise through memcpy, which the vectoriser turns into plain unaligned loads. */
OPS_SIMD static void bf16_to_f32(float *dst, const guint8 *src, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        guint16 h;
        memcpy(&h, src + 2 * i, sizeof h);
        guint32 u = (guint32)h << 16;
        memcpy(dst + i, &u, sizeof u);
    }
}

/* dst [n] = elements first .. first+n-1 of w as float32: the bf16 path is vectorised here,
 * every other dtype goes through st_to_f32. */
static void weights_to_f32(float *dst, const StTensor *w, int64_t first, int64_t n)
{
    if (w->dtype == ST_BF16 && w->scale == 0.0f)
        bf16_to_f32(dst, (const guint8 *)w->data + 2 * first, (size_t)n);
    else
        st_to_f32(dst, w, first, n);
}

/* Σ a[k]·b[k] with 16 independent partial sums (the vectoriser needs them: a float sum is
 * not reassociated without -ffast-math) */
OPS_SIMD static float dot(const float *a, const float *b, int K)
{
    float acc[16] = {0};
    int k = 0;
    for (; k + 16 <= K; k += 16)
        for (int l = 0; l < 16; l++) acc[l] += a[k + l] * b[k + l];
    float s = 0.0f;
    for (; k < K; k++) s += a[k] * b[k];
    for (int l = 0; l < 16; l++) s += acc[l];
    return s;
}

typedef struct {
    float *y;
    const float *x, *b;
    const StTensor *w;
    int M, K, N;
} GemvJob;

/* Output columns [begin, end): GEMV_ROWS weight rows converted, then dotted with every x row. */
static void gemv_worker(void *ctx, size_t begin, size_t end)
{
    const GemvJob *j = ctx;
    const int K = j->K;
    float *buf = thread_scratch(SCRATCH_GEMV, (size_t)GEMV_ROWS * K);
    for (size_t n0 = begin; n0 < end; n0 += GEMV_ROWS) {
        int nr = end - n0 < GEMV_ROWS ? (int)(end - n0) : GEMV_ROWS;
        weights_to_f32(buf, j->w, (int64_t)n0 * K, (int64_t)nr * K);
        for (int m = 0; m < j->M; m++)
            for (int r = 0; r < nr; r++)
                j->y[(size_t)m * j->N + n0 + r] =
                    dot(j->x + (size_t)m * K, buf + (size_t)r * K, K) + (j->b ? j->b[n0 + r] : 0);
    }
}

typedef struct {
    float *y;
    const float *b;
    int N;
} BiasJob;

OPS_SIMD static void bias_rows(void *ctx, size_t begin, size_t end)
{
    const BiasJob *j = ctx;
    for (size_t m = begin; m < end; m++) {
        float *yr = j->y + m * j->N;
        for (int n = 0; n < j->N; n++) yr[n] += j->b[n];
    }
}

static int forced_tile_rows; /* ops_linear_force_tile_rows (tests) */

void ops_linear_force_tile_rows(int rows)
{
    forced_tile_rows = rows;
}

static int linear_tile_rows(int K)
{
    if (forced_tile_rows > 0) return forced_tile_rows;
    int rows = (int)(LINEAR_TILE_BYTES / (sizeof(float) * (size_t)(K > 0 ? K : 1)));
    return rows < LINEAR_TILE_MIN_ROWS ? LINEAR_TILE_MIN_ROWS : rows;
}

size_t ops_linear_scratch_bytes(int K)
{
    size_t tiles =
        (size_t)pool_n_threads() * (size_t)linear_tile_rows(K) * (size_t)K * sizeof(float);
    /* where fast can run, the bf16 GEMM's scratch too: the per-thread buffers of both paths
     * outlive a run, and the precision may change between runs */
    return tiles + (gemm_bf16_native() ? gemm_bf16_scratch_bytes(K) : 0) +
           (gemm_int8_native() ? gemm_int8_scratch_bytes(K) : 0);
}

typedef struct {
    float *y;
    const float *x;
    const StTensor *w;
    int M, K, N, rows;
} LinearJob;

/* Output columns [begin, end) of a linear, on one thread: a tile of weight rows converted
 * into this thread's scratch, then a single-threaded sgemm into y's columns. Each thread
 * converts only the rows it multiplies, while they are warm in its caches. */
static void linear_worker(void *ctx, size_t begin, size_t end)
{
    const LinearJob *j = ctx;
    float *tile = thread_scratch(SCRATCH_LINEAR, (size_t)j->rows * j->K);
    for (size_t n0 = begin; n0 < end; n0 += (size_t)j->rows) {
        int nr = end - n0 < (size_t)j->rows ? (int)(end - n0) : j->rows;
        weights_to_f32(tile, j->w, (int64_t)n0 * j->K, (int64_t)nr * j->K);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, j->M, nr, j->K, 1.0f, j->x, j->K, tile,
                    j->K, 0.0f, j->y + n0, j->N);
    }
}

/* y[M,N] = x[M,K] · w[N,K]ᵀ for non-float32 weights: the output columns are split over the
 * pool's threads, each converting and multiplying its own tiles with OpenBLAS single-threaded
 * (its threads would otherwise spin in sched_yield between our conversions: ~10-20% of a step
 * on a loaded 2-core machine, by perf). */
static void linear_tiled(float *y, const float *x, const StTensor *w, int M, int K, int N)
{
    int nt = pool_n_threads();
    int rows = linear_tile_rows(K), per_thread = (N + nt - 1) / nt;
    if (rows > per_thread) rows = per_thread;
    LinearJob j = {y, x, w, M, K, N, rows};
    parallel_blas_jobs((size_t)N, 2 * 16, linear_worker, &j); /* (narrower: OpenBLAS splits M) */
}

gboolean ops_linear_int8(const StTensor *w)
{
    if (!gemm_int8_supports(w) || !gemm_int8_native()) return FALSE;
    /* beside AMX-BF16, bf16 tiles of the exactly dequantised weights are as fast or faster for
     * every type but Q8_0 (the int8 GEMM's per-block float combination costs more for the
     * types with a min or 16-wide blocks: docs/PERFORMANCE.md, "int8 GEMM") */
    return gemm_bf16_path() != GEMM_BF16_AMX || w->dtype == ST_Q8_0;
}

void ops_linear(float *y, const float *x, const StTensor *w, const float *b, int M, int K, int N)
{
    g_assert(w->numel == (int64_t)N * K);
    if (M == 0 || N == 0) return;
    gboolean f32 = w->dtype == ST_F32 && ((uintptr_t)w->data % sizeof(float)) == 0;
    /* (float32 weights at an odd address take the tiled path: the same sums as sgemm's) */
    const gboolean fast = ops_precision() == OPS_PRECISION_FAST;
    /* Q8_0: integer products (fast only: x is rounded to 8 bits per block) */
    gboolean int8 = fast && M <= QDOT_MAX_M && quant_dot_supports(w);
    /* the other quantised linears, and Q8_0 above QDOT_MAX_M rows: the int8 GEMM */
    gboolean gemm8 = fast && !int8 && ops_linear_int8(w);
    if (!int8 && !gemm8 && M <= LINEAR_GEMV_MAX_M && w->dtype != ST_F32) {
        GemvJob j = {y, x, b, w, M, K, N};
        par_maybe((size_t)N, (size_t)N * K, gemv_worker, &j);
        return;
    }
    if (int8)
        quant_dot_linear(y, x, w, M, K, N);
    else if (gemm8)
        gemm_int8_linear(y, x, w, M, K, N);
    else if (fast && gemm_bf16_native()) {          /* bf16 products on AMX / AVX512-BF16 */
        gemm_bf16_linear_bias(y, x, w, b, M, K, N); /* (the bias added as y is written) */
        return;
    } else if (f32)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.0f, x, K,
                    (const float *)w->data, K, 0.0f, y, N);
    else
        linear_tiled(y, x, w, M, K, N);
    if (b) {
        BiasJob bj = {y, b, N};
        par_maybe((size_t)M, (size_t)M * N, bias_rows, &bj);
    }
}

/* ------------------------------------------------------------------------------------- */
/* Normalisation                                                                         */

typedef struct {
    float *y;
    const float *x, *g, *b;
    int N;
    float eps;
} NormJob;

OPS_SIMD static void layernorm_rows(void *ctx, size_t begin, size_t end)
{
    const NormJob *j = ctx;
    const int N = j->N;
    for (size_t m = begin; m < end; m++) {
        const float *xr = j->x + m * N;
        float *yr = j->y + m * N;
        /* two-pass in double: exact enough that the result does not depend on N's size */
        double mean = 0, var = 0;
        for (int n = 0; n < N; n++) mean += xr[n];
        mean /= N;
        for (int n = 0; n < N; n++) var += (xr[n] - mean) * (xr[n] - mean);
        var /= N;
        float rstd = (float)(1.0 / sqrt(var + j->eps)), mu = (float)mean;
        if (j->g && j->b)
            for (int n = 0; n < N; n++) yr[n] = (xr[n] - mu) * rstd * j->g[n] + j->b[n];
        else if (j->g)
            for (int n = 0; n < N; n++) yr[n] = (xr[n] - mu) * rstd * j->g[n];
        else if (j->b)
            for (int n = 0; n < N; n++) yr[n] = (xr[n] - mu) * rstd + j->b[n];
        else
            for (int n = 0; n < N; n++) yr[n] = (xr[n] - mu) * rstd;
    }
}

void ops_layernorm(float *y, const float *x, const float *g, const float *b, int M, int N,
                   float eps)
{
    NormJob j = {y, x, g, b, N, eps};
    par_maybe((size_t)M, (size_t)M * N, layernorm_rows, &j);
}

OPS_SIMD static void rmsnorm_rows(void *ctx, size_t begin, size_t end)
{
    const NormJob *j = ctx;
    const int N = j->N;
    for (size_t m = begin; m < end; m++) {
        const float *xr = j->x + m * N;
        float *yr = j->y + m * N;
        double ss = 0;
        for (int n = 0; n < N; n++) ss += (double)xr[n] * xr[n];
        float r = (float)(1.0 / sqrt(ss / N + j->eps));
        if (j->g)
            for (int n = 0; n < N; n++) yr[n] = xr[n] * r * j->g[n];
        else
            for (int n = 0; n < N; n++) yr[n] = xr[n] * r;
    }
}

void ops_rmsnorm(float *y, const float *x, const float *g, int M, int N, float eps)
{
    NormJob j = {y, x, g, NULL, N, eps};
    par_maybe((size_t)M, (size_t)M * N, rmsnorm_rows, &j);
}

/* ------------------------------------------------------------------------------------- */
/* Activations                                                                           */

/* GELU(tanh) as x·σ(2u), u = √(2/π)(x + 0.044715x³): 0.5(1 + tanh u) = 1/(1 + e^-2u), which
 * has no cancellation near u = 0 and needs one exp and one division. */
OPS_SIMD static void gelu_tanh_chunk(void *ctx, size_t begin, size_t end)
{
    float *x = ctx;
    const float c2 = -2.0f * 0.7978845608028654f; /* -2·sqrt(2/pi) */
    for (size_t i = begin; i < end; i++) {
        float v = x[i];
        x[i] = v / (1.0f + exp_approx(c2 * (v + 0.044715f * v * v * v)));
    }
}

OPS_SIMD static void quick_gelu_chunk(void *ctx, size_t begin, size_t end)
{
    float *x = ctx;
    for (size_t i = begin; i < end; i++) x[i] = x[i] / (1.0f + exp_approx(-1.702f * x[i]));
}

OPS_SIMD static void silu_chunk(void *ctx, size_t begin, size_t end)
{
    float *x = ctx;
    for (size_t i = begin; i < end; i++) x[i] = x[i] / (1.0f + exp_approx(-x[i]));
}

static void gelu_erf_chunk(void *ctx, size_t begin, size_t end)
{
    float *x = ctx;
    for (size_t i = begin; i < end; i++)
        x[i] = 0.5f * x[i] * (1.0f + erff(x[i] * 0.70710678118654752f));
}

void ops_gelu_tanh(float *x, size_t n)
{
    par_maybe(n, n, gelu_tanh_chunk, x);
}

void ops_gelu_erf(float *x, size_t n)
{
    par_maybe(n, n, gelu_erf_chunk, x);
}

void ops_quick_gelu(float *x, size_t n)
{
    par_maybe(n, n, quick_gelu_chunk, x);
}

void ops_silu(float *x, size_t n)
{
    par_maybe(n, n, silu_chunk, x);
}

/* ------------------------------------------------------------------------------------- */
/* Attention (flash style)                                                               */

/* Queries per tile: up to 512, halved while there are fewer than 2 jobs per thread (the VAE's
 * single head). Keys per tile: 512. Measured at T = 4608, 24 heads × 128 on 2 threads (quiet
 * host): 128 × 512 tiles 3.9 s, 256 × 512 3.4 s, 256 × 1024 3.1 s, 512 × 512 2.5–2.7 s,
 * 1024 × 512 2.7 s: larger query tiles amortise the packing of each K and V tile over more
 * rows in the single-threaded sgemms. */
#define ATT_BQ_MAX 512
#define ATT_BQ_MIN 64
#define ATT_BK     512

typedef struct {
    float *out;
    const float *q, *k, *v;
    const OpsAttnShape *s;
    int bq, n_qtiles; /* queries per tile, tiles per head */
    gboolean bf16;    /* fast precision with a native bf16 path: gemm_bf16_tile */
} AttnJob;

/* max(m, x[0..n)), NaNs skipped as `x > m ? x : m` skips them. One running maximum made this a
 * chain of dependent 4-cycle vmaxss, one per score (70% of the softmax's samples at 512 × 512
 * tiles); 16 independent maxima remove the wait. The maximum does not depend on the order in
 * which it is taken (±0 aside, whose choice does not change e^(s - m)), so the result is the
 * same. */
OPS_SIMD static float row_max(const float *x, int n, float m)
{
    float lane[16];
    for (int t = 0; t < 16; t++) lane[t] = m;
    int j = 0;
    for (; j + 16 <= n; j += 16)
        for (int t = 0; t < 16; t++) lane[t] = x[j + t] > lane[t] ? x[j + t] : lane[t];
    for (; j < n; j++) m = x[j] > m ? x[j] : m;
    for (int t = 0; t < 16; t++) m = lane[t] > m ? lane[t] : m;
    return m;
}

/* One row of a score tile: bias, mask, then the online-softmax update. sr [nk] becomes
 * e^(s - m_new); returns α = e^(m_old - m_new) for rescaling the row's output; *m, *l are the
 * running max and sum. rb: the row's relative-bias base (rb[j] for key j of the tile) or NULL;
 * n_valid: keys beyond it are masked (causal). */
OPS_SIMD static float softmax_row(float *sr, int nk, const float *rb, int n_valid, float *m,
                                  float *l)
{
    if (rb)
        for (int j = 0; j < nk; j++) sr[j] += rb[j];
    for (int j = n_valid; j < nk; j++) sr[j] = -INFINITY;
    float mx = row_max(sr, nk, *m);
    if (mx == -INFINITY) { /* the whole tile is masked for this query */
        for (int j = 0; j < nk; j++) sr[j] = 0.0f;
        return 1.0f;
    }
    float sum[16] = {0};
    int j = 0;
    for (; j + 16 <= nk; j += 16)
        for (int t = 0; t < 16; t++) {
            float e = sr[j + t] == -INFINITY ? 0.0f : exp_approx(sr[j + t] - mx);
            sr[j + t] = e;
            sum[t] += e;
        }
    float s = 0.0f;
    for (; j < nk; j++) {
        sr[j] = sr[j] == -INFINITY ? 0.0f : exp_approx(sr[j] - mx);
        s += sr[j];
    }
    for (int t = 0; t < 16; t++) s += sum[t];
    float alpha = *m == -INFINITY ? 0.0f : exp_approx(*m - mx);
    *l = *l * alpha + s;
    *m = mx;
    return alpha;
}

OPS_SIMD static void scale_row(float *x, int n, float a)
{
    for (int i = 0; i < n; i++) x[i] *= a;
}

/* fast: the operands rounded to bf16 and packed once (gemm_bf16_pack_a/_b) instead of once
 * per tile pair: a head's K and V for all its query tiles on this thread (at T = 1536 each
 * key tile's K and V were rounded again for each of the 3 query tiles of 512), a query
 * tile's Q for all its key tiles. Per thread: K as [nk, HD] and V as [nk, HD] read
 * transposed, per key tile of ATT_BK; Q [bq, HD] and P [bq, ATT_BK]. */
typedef struct {
    guint16 *k, *v, *q, *p;
    size_t kt, vt; /* guint16 per packed key tile of K, of V */
    int head;      /* whose K and V are packed (-1: none yet) */
} AttnBf16;

/* The packed operands' sizes for Tk keys, head_dim HD and bq queries per tile, in guint16
 * (all multiples of 32): per key tile kt (K) and vt (V); q (Q) and p (P) once. */
typedef struct {
    size_t tiles, kt, vt, qt, pt;
} AttnBf16Size;

static AttnBf16Size attn_bf16_size(int Tk, int HD, int bq)
{
    return (AttnBf16Size){.tiles = (size_t)(Tk + ATT_BK - 1) / ATT_BK,
                          .kt = gemm_bf16_pack_b_bytes(ATT_BK, HD) / 2,
                          .vt = gemm_bf16_pack_b_bytes(HD, ATT_BK) / 2,
                          .qt = gemm_bf16_pack_a_bytes(bq, HD) / 2,
                          .pt = gemm_bf16_pack_a_bytes(bq, ATT_BK) / 2};
}

/* floats of SCRATCH_ATTN_BF16 for that size */
static size_t attn_bf16_floats(AttnBf16Size z)
{
    return (z.tiles * (z.kt + z.vt) + z.qt + z.pt + 1) / 2;
}

static void attn_bf16_init(AttnBf16 *c, const AttnJob *J)
{
    const AttnBf16Size z = attn_bf16_size(J->s->Tk, J->s->HD, J->bq);
    c->k = (guint16 *)thread_scratch(SCRATCH_ATTN_BF16, attn_bf16_floats(z));
    c->v = c->k + z.tiles * z.kt, c->q = c->v + z.tiles * z.vt, c->p = c->q + z.qt;
    c->kt = z.kt, c->vt = z.vt, c->head = -1;
}

/* Packs head h's K and V, every key tile, unless they are already there. */
static void attn_bf16_head(AttnBf16 *c, const AttnJob *J, int h)
{
    const OpsAttnShape *s = J->s;
    if (c->head == h) return;
    for (int j0 = 0; j0 < s->Tk; j0 += ATT_BK) {
        const int nk = MIN(ATT_BK, s->Tk - j0);
        const size_t t = (size_t)(j0 / ATT_BK);
        gemm_bf16_pack_b(c->k + t * c->kt, J->k + (size_t)j0 * s->ldk + (size_t)h * s->HD, s->ldk,
                         FALSE, nk, s->HD);
        gemm_bf16_pack_b(c->v + t * c->vt, J->v + (size_t)j0 * s->ldv + (size_t)h * s->HD, s->ldv,
                         TRUE, s->HD, nk);
    }
    c->head = h;
}

/* One (head, query tile): S = scale·Q Kᵀ (+bias) per key tile, running max m and sum l,
 * O = O·e^(m_old-m_new) + P V; finally O / l. Scratch: S [BQ, BK], O [BQ, HD]; c: fast's
 * packed operands (NULL under float32). */
static void attn_tile(const AttnJob *J, AttnBf16 *c, int h, int i0, float *S, float *O, float *mrow,
                      float *lrow)
{
    const OpsAttnShape *s = J->s;
    int HD = s->HD, nq = s->Tq - i0 < J->bq ? s->Tq - i0 : J->bq;
    const float *q = J->q + (size_t)i0 * s->ldq + (size_t)h * HD;
    for (int i = 0; i < nq; i++) {
        mrow[i] = -INFINITY;
        lrow[i] = 0.0f;
    }
    memset(O, 0, sizeof(float) * (size_t)nq * HD);
    if (c) {
        attn_bf16_head(c, J, h);
        gemm_bf16_pack_a(c->q, q, s->ldq, nq, HD);
    }
    int kend = s->causal ? (i0 + nq < s->Tk ? i0 + nq : s->Tk) : s->Tk;
    for (int j0 = 0; j0 < kend; j0 += ATT_BK) {
        int nk = kend - j0 < ATT_BK ? kend - j0 : ATT_BK;
        const float *k = J->k + (size_t)j0 * s->ldk + (size_t)h * HD;
        const float *v = J->v + (size_t)j0 * s->ldv + (size_t)h * HD;
        /* (a causal cut tile is shorter than the packed one: packed anew) */
        const gboolean packed = c && nk == MIN(ATT_BK, s->Tk - j0);
        const size_t t = (size_t)(j0 / ATT_BK);
        if (packed) /* fast: bf16 products (Q and K rounded), float32 sums */
            gemm_bf16_tile_packed(S, ATT_BK, c->q, c->k + t * c->kt, nq, HD, nk, s->scale, FALSE);
        else if (c)
            gemm_bf16_tile(S, ATT_BK, q, s->ldq, k, s->ldk, FALSE, nq, HD, nk, s->scale, FALSE);
        else
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, nq, nk, HD, s->scale, q, s->ldq, k,
                        s->ldk, 0.0f, S, ATT_BK);
        for (int i = 0; i < nq; i++) {
            const float *rb = NULL;
            if (s->rel_bias) /* bias of key j0 + j for query i0 + i */
                rb = s->rel_bias + (size_t)h * (s->Tq + s->Tk - 1) + (s->Tq - 1) + j0 - (i0 + i);
            int n_valid = s->causal ? i0 + i - j0 + 1 : nk;
            n_valid = n_valid < 0 ? 0 : n_valid > nk ? nk : n_valid;
            float alpha = softmax_row(S + (size_t)i * ATT_BK, nk, rb, n_valid, &mrow[i], &lrow[i]);
            if (alpha != 1.0f) scale_row(O + (size_t)i * HD, HD, alpha);
        }
        if (packed) { /* P (in [0, 1]) and V rounded to bf16 */
            gemm_bf16_pack_a(c->p, S, ATT_BK, nq, nk);
            gemm_bf16_tile_packed(O, HD, c->p, c->v + t * c->vt, nq, nk, HD, 1.0f, TRUE);
        } else if (c)
            gemm_bf16_tile(O, HD, S, ATT_BK, v, s->ldv, TRUE, nq, nk, HD, 1.0f, TRUE);
        else
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, nq, HD, nk, 1.0f, S, ATT_BK, v,
                        s->ldv, 1.0f, O, HD);
    }
    for (int i = 0; i < nq; i++) {
        float *o = J->out + (size_t)(i0 + i) * s->ldo + (size_t)h * HD;
        float inv = lrow[i] > 0 ? 1.0f / lrow[i] : 0.0f;
        for (int d = 0; d < HD; d++) o[d] = O[(size_t)i * HD + d] * inv;
    }
}

/* floats of SCRATCH_ATTENTION: S [bq, ATT_BK] and O [bq, HD] */
static size_t attn_tile_floats(int bq, int HD)
{
    return (size_t)bq * (ATT_BK + (size_t)HD);
}

size_t ops_attention_scratch_bytes(int Tk, int HD)
{
    if (Tk <= 0 || HD <= 0) return 0;
    size_t floats = attn_tile_floats(ATT_BQ_MAX, HD);
    if (gemm_bf16_native()) floats += attn_bf16_floats(attn_bf16_size(Tk, HD, ATT_BQ_MAX));
    return (size_t)pool_n_threads() * floats * sizeof(float);
}

size_t ops_attention_thread_bytes(void)
{
    return (cap[SCRATCH_ATTENTION] + cap[SCRATCH_ATTN_BF16]) * sizeof(float);
}

static void attn_worker(void *ctx, size_t begin, size_t end)
{
    const AttnJob *J = ctx;
    int HD = J->s->HD;
    float *S = thread_scratch(SCRATCH_ATTENTION, attn_tile_floats(J->bq, HD));
    float *O = S + (size_t)J->bq * ATT_BK;
    float m[ATT_BQ_MAX], l[ATT_BQ_MAX];
    AttnBf16 c; /* (consecutive jobs share a head: its K and V are packed once) */
    if (J->bf16) attn_bf16_init(&c, J);
    for (size_t t = begin; t < end; t++)
        attn_tile(J, J->bf16 ? &c : NULL, (int)(t / J->n_qtiles), (int)(t % J->n_qtiles) * J->bq, S,
                  O, m, l);
}

/* The (head, query tile) jobs run on the pool threads (parallel_blas_jobs), each calling
 * sgemm on tiles too small for OpenBLAS to split well. */
void ops_attention(float *out, const float *q, const float *k, const float *v,
                   const OpsAttnShape *s)
{
    int bq = ATT_BQ_MAX;
    while (bq > ATT_BQ_MIN &&
           (size_t)s->NH * (size_t)((s->Tq + bq - 1) / bq) < 2 * (size_t)pool_n_threads())
        bq /= 2;
    AttnJob J = {out,
                 q,
                 k,
                 v,
                 s,
                 bq,
                 (s->Tq + bq - 1) / bq,
                 ops_precision() == OPS_PRECISION_FAST && gemm_bf16_native()};
    parallel_blas_jobs((size_t)s->NH * J.n_qtiles, 2, attn_worker, &J);
}
