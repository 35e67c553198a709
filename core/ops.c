/* ops.c — fast CPU ops (see ops.h); ops_naive.c holds their references. */
#include "ops.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------------------- */
/* Threading                                                                             */

int ops_n_threads(void)
{
    static gsize n = 0;
    if (g_once_init_enter(&n)) {
        int v = (int)g_get_num_processors();
        const char *env = g_getenv("FLUX_THREADS");
        if (env && atoi(env) > 0) v = atoi(env);
        g_once_init_leave(&n, (gsize)(v < 1 ? 1 : v));
    }
    return (int)n;
}

typedef struct {
    void (*fn)(void *, size_t, size_t);
    void *ctx;
    size_t begin, end;
} Chunk;

static gpointer run_chunk(gpointer p)
{
    Chunk *c = p;
    c->fn(c->ctx, c->begin, c->end);
    return NULL;
}

void ops_parallel_for(size_t n, void (*fn)(void *ctx, size_t begin, size_t end), void *ctx)
{
    size_t nt = (size_t)ops_n_threads();
    if (nt > n) nt = n;
    if (nt <= 1) {
        if (n) fn(ctx, 0, n);
        return;
    }
    Chunk chunks[64];
    GThread *threads[64];
    if (nt > 64) nt = 64;
    for (size_t t = 0; t < nt; t++) chunks[t] = (Chunk){fn, ctx, n * t / nt, n * (t + 1) / nt};
    for (size_t t = 1; t < nt; t++) threads[t] = g_thread_new("flux-op", run_chunk, &chunks[t]);
    run_chunk(&chunks[0]);
    for (size_t t = 1; t < nt; t++) g_thread_join(threads[t]);
}

/* ------------------------------------------------------------------------------------- */
/* Linear                                                                                */

/* Rows of w converted per tile: ~8 MiB of float32, enough to keep sgemm efficient while
 * never holding more than a tile of a bf16/f16 matrix in float32. */
#define LINEAR_TILE_BYTES (8u << 20)

void ops_matmul(float *c, int ldc, const float *a, int lda, const float *b, int ldb, int M, int K,
                int N, int accumulate)
{
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1.0f, a, lda, b, ldb,
                accumulate ? 1.0f : 0.0f, c, ldc);
}

static void add_bias(float *y, const float *b, int M, int N)
{
    if (!b) return;
    for (int m = 0; m < M; m++)
        for (int n = 0; n < N; n++) y[(size_t)m * N + n] += b[n];
}

void ops_linear(float *y, const float *x, const StTensor *w, const float *b, int M, int K, int N)
{
    g_assert(w->numel == (int64_t)N * K);
    if (M == 0 || N == 0) return;
    if (w->dtype == ST_F32 && ((uintptr_t)w->data % sizeof(float)) == 0) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.0f, x, K,
                    (const float *)w->data, K, 0.0f, y, N);
    } else {
        int rows = (int)(LINEAR_TILE_BYTES / (sizeof(float) * (size_t)(K ? K : 1)));
        if (rows < 16) rows = 16;
        if (rows > N) rows = N;
        float *tile = g_new(float, (size_t)rows *K);
        for (int n0 = 0; n0 < N; n0 += rows) {
            int nr = N - n0 < rows ? N - n0 : rows;
            st_to_f32(tile, w, (int64_t)n0 * K, (int64_t)nr * K);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, nr, K, 1.0f, x, K, tile, K,
                        0.0f, y + n0, N);
        }
        g_free(tile);
    }
    add_bias(y, b, M, N);
}

/* ------------------------------------------------------------------------------------- */
/* Normalisation                                                                         */

void ops_layernorm(float *y, const float *x, const float *g, const float *b, int M, int N,
                   float eps)
{
    for (int m = 0; m < M; m++) {
        const float *xr = x + (size_t)m * N;
        float *yr = y + (size_t)m * N;
        /* two-pass in double: exact enough that the result does not depend on N's size */
        double mean = 0, var = 0;
        for (int n = 0; n < N; n++) mean += xr[n];
        mean /= N;
        for (int n = 0; n < N; n++) var += (xr[n] - mean) * (xr[n] - mean);
        var /= N;
        float rstd = (float)(1.0 / sqrt(var + eps)), mu = (float)mean;
        for (int n = 0; n < N; n++) {
            float v = (xr[n] - mu) * rstd;
            if (g) v *= g[n];
            if (b) v += b[n];
            yr[n] = v;
        }
    }
}

void ops_rmsnorm(float *y, const float *x, const float *g, int M, int N, float eps)
{
    for (int m = 0; m < M; m++) {
        const float *xr = x + (size_t)m * N;
        float *yr = y + (size_t)m * N;
        double ss = 0;
        for (int n = 0; n < N; n++) ss += (double)xr[n] * xr[n];
        float r = (float)(1.0 / sqrt(ss / N + eps));
        for (int n = 0; n < N; n++) yr[n] = g ? xr[n] * r * g[n] : xr[n] * r;
    }
}

/* ------------------------------------------------------------------------------------- */
/* Activations                                                                           */

void ops_gelu_tanh(float *x, size_t n)
{
    const float c = 0.7978845608028654f; /* sqrt(2/pi) */
    for (size_t i = 0; i < n; i++) {
        float v = x[i];
        x[i] = 0.5f * v * (1.0f + tanhf(c * (v + 0.044715f * v * v * v)));
    }
}

void ops_gelu_erf(float *x, size_t n)
{
    for (size_t i = 0; i < n; i++) x[i] = 0.5f * x[i] * (1.0f + erff(x[i] * 0.70710678118654752f));
}

void ops_quick_gelu(float *x, size_t n)
{
    for (size_t i = 0; i < n; i++) x[i] = x[i] / (1.0f + expf(-1.702f * x[i]));
}

void ops_silu(float *x, size_t n)
{
    for (size_t i = 0; i < n; i++) x[i] = x[i] / (1.0f + expf(-x[i]));
}

/* ------------------------------------------------------------------------------------- */
/* Attention (flash style)                                                               */

#define ATT_BQ 64  /* queries per tile */
#define ATT_BK 256 /* keys per tile */

typedef struct {
    float *out;
    const float *q, *k, *v;
    const OpsAttnShape *s;
    int n_qtiles;
} AttnJob;

/* One (head, query tile): S = scale·Q Kᵀ (+bias) per key tile, running max m and sum l,
 * O = O·e^(m_old-m_new) + P V; finally O / l. Scratch: S [BQ, BK], O [BQ, HD]. */
static void attn_tile(const AttnJob *J, int h, int i0, float *S, float *O, float *mrow, float *lrow)
{
    const OpsAttnShape *s = J->s;
    int HD = s->HD, nq = s->Tq - i0 < ATT_BQ ? s->Tq - i0 : ATT_BQ;
    const float *q = J->q + (size_t)i0 * s->ldq + (size_t)h * HD;
    for (int i = 0; i < nq; i++) {
        mrow[i] = -INFINITY;
        lrow[i] = 0.0f;
    }
    memset(O, 0, sizeof(float) * (size_t)nq * HD);
    int kend = s->causal ? (i0 + nq < s->Tk ? i0 + nq : s->Tk) : s->Tk;
    for (int j0 = 0; j0 < kend; j0 += ATT_BK) {
        int nk = kend - j0 < ATT_BK ? kend - j0 : ATT_BK;
        const float *k = J->k + (size_t)j0 * s->ldk + (size_t)h * HD;
        const float *v = J->v + (size_t)j0 * s->ldv + (size_t)h * HD;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, nq, nk, HD, s->scale, q, s->ldq, k,
                    s->ldk, 0.0f, S, ATT_BK);
        for (int i = 0; i < nq; i++) {
            float *sr = S + (size_t)i * ATT_BK;
            if (s->rel_bias) {
                const float *rb = s->rel_bias + (size_t)h * (s->Tq + s->Tk - 1) + (s->Tq - 1);
                for (int j = 0; j < nk; j++) sr[j] += rb[(j0 + j) - (i0 + i)];
            }
            if (s->causal)
                for (int j = 0; j < nk; j++)
                    if (j0 + j > i0 + i) sr[j] = -INFINITY;
            float mx = mrow[i];
            for (int j = 0; j < nk; j++) mx = sr[j] > mx ? sr[j] : mx;
            if (mx == -INFINITY) continue; /* the whole tile is masked for this query */
            float alpha = expf(mrow[i] - mx), sum = 0.0f;
            for (int j = 0; j < nk; j++) {
                sr[j] = expf(sr[j] - mx);
                sum += sr[j];
            }
            lrow[i] = lrow[i] * alpha + sum;
            mrow[i] = mx;
            float *orow = O + (size_t)i * HD;
            for (int d = 0; d < HD; d++) orow[d] *= alpha;
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, nq, HD, nk, 1.0f, S, ATT_BK, v,
                    s->ldv, 1.0f, O, HD);
    }
    for (int i = 0; i < nq; i++) {
        float *o = J->out + (size_t)(i0 + i) * s->ldo + (size_t)h * HD;
        float inv = lrow[i] > 0 ? 1.0f / lrow[i] : 0.0f;
        for (int d = 0; d < HD; d++) o[d] = O[(size_t)i * HD + d] * inv;
    }
}

static void attn_worker(void *ctx, size_t begin, size_t end)
{
    const AttnJob *J = ctx;
    int HD = J->s->HD;
    float *S = g_new(float, (size_t)ATT_BQ *ATT_BK);
    float *O = g_new(float, (size_t)ATT_BQ *HD);
    float m[ATT_BQ], l[ATT_BQ];
    for (size_t t = begin; t < end; t++)
        attn_tile(J, (int)(t / J->n_qtiles), (int)(t % J->n_qtiles) * ATT_BQ, S, O, m, l);
    g_free(S);
    g_free(O);
}

void ops_attention(float *out, const float *q, const float *k, const float *v,
                   const OpsAttnShape *s)
{
    AttnJob J = {out, q, k, v, s, (s->Tq + ATT_BQ - 1) / ATT_BQ};
    ops_parallel_for((size_t)s->NH * J.n_qtiles, attn_worker, &J);
}
