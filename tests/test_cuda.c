/* test_cuda.c — the backend registry (core/compute/backend.h) and every op of each backend against
 * the naive CPU ops (core/compute/ops_naive.c), on fresh random inputs: ggml's test-backend-ops.
 *
 * Two meson tests run this program (tests/cuda/meson.build):
 *   backend  (`--cpu`, suite unit, TAP): backend selection, which needs no GPU, and the cpu
 *            table's ops; runs everywhere.
 *   cuda     (suite cuda, exit-code protocol): the same plus the cuda table's ops; exits 77
 *            (skip) when this build has no CUDA or the machine has no usable GPU.
 *
 * Tolerances, as tu_assert_close measures them (max |got − ref| / max(1, max |ref|)):
 *   float32 ops   1e-5: float32 arithmetic against double references over rows of up to a few
 *                 thousand terms stays near 1e-6.
 *   F16 (cuda)    2e-3: the activation (linear) or Q, K, V and P (attention) are rounded to
 *                 f16 (unit roundoff u = 2^-11 ≈ 4.9e-4) and accumulated in float32; with
 *                 inputs in [-1, 1) the error is a few u of the largest value.
 *   BF16 (cuda)   1e-2: the same with u = 2^-8 ≈ 3.9e-3 (bf16 keeps 8 significant bits).
 * The cpu backend computes in float32 whatever the dtype, so it is held to 1e-5 throughout.
 *
 * Dimension letters: M rows, K inputs, N features, T tokens, NH heads, HD head dim.
 */
#include "backend.h"
#include "flux.h"
#include "ops.h"
#include "testutil.h"
#include "transformer.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#define ARENA_BYTES (64u << 20)

/* ------------------------------------------------------------------------------------- */
/* Helpers                                                                               */

/* A context of `be` for one test, with the ops' operands uploaded from / downloaded to host
 * arrays. */
typedef struct {
    const FluxBackend *be;
    FluxBackendCtx *c;
} Bk;

static Bk bk_open(gconstpointer data)
{
    Bk b = {.be = data, .c = NULL};
    GError *err = NULL;
    b.c = b.be->ctx_new(ARENA_BYTES, &err);
    g_assert_no_error(err);
    g_assert_nonnull(b.c);
    return b;
}

static void bk_close(Bk *b)
{
    GError *err = NULL;
    g_assert_true(b->be->sync(b->c, &err));
    g_assert_no_error(err);
    b->be->ctx_free(b->c);
}

/* n floats in the backend holding host[n] (or uninitialised when host is NULL) */
static float *bk_put(Bk *b, const float *host, size_t n)
{
    GError *err = NULL;
    float *p = b->be->alloc(b->c, n, &err);
    g_assert_no_error(err);
    if (host) b->be->upload(b->c, p, host, n);
    return p;
}

static float *bk_get(Bk *b, const float *src, size_t n)
{
    GError *err = NULL;
    float *host = g_new(float, n);
    g_assert_true(b->be->download(b->c, host, src, n, &err));
    g_assert_no_error(err);
    return host;
}

static float *random_array(size_t n, guint32 seed)
{
    float *x = g_new(float, n);
    tu_fill_random(x, n, seed);
    return x;
}

static gboolean is_cpu(const Bk *b)
{
    return strcmp(b->be->name, "cpu") == 0;
}

static double dtype_tol(const Bk *b, StDtype dt)
{
    if (is_cpu(b) || dt == ST_F32) return 1e-5;
    return dt == ST_F16 ? 2e-3 : 1e-2;
}

/* float32 → bf16 / f16 by truncation: the reference and the backend read the same bits. */
static guint16 to_bf16(float f)
{
    guint32 u;
    memcpy(&u, &f, 4);
    return (guint16)(u >> 16);
}

static guint16 to_f16(float f)
{
    /* values in [-1, 1): a normal f16 or zero, mantissa truncated */
    guint32 u;
    memcpy(&u, &f, 4);
    guint32 sign = (u >> 16) & 0x8000;
    int e = (int)((u >> 23) & 0xff) - 127 + 15;
    if (e <= 0) return (guint16)sign;
    return (guint16)(sign | ((guint32)e << 10) | ((u >> 13) & 0x3ff));
}

/* A weight tensor [N, K] of dtype dt from random values; its bytes are in *data (caller frees). */
static StTensor random_weight(StDtype dt, int N, int K, guint32 seed, void **data)
{
    float *wf = random_array((size_t)N * K, seed);
    if (dt == ST_F32) {
        *data = wf;
    } else {
        guint16 *h = g_new(guint16, (size_t)N * K);
        for (size_t i = 0; i < (size_t)N * K; i++)
            h[i] = dt == ST_BF16 ? to_bf16(wf[i]) : to_f16(wf[i]);
        g_free(wf);
        *data = h;
    }
    StTensor w = {.name = "test.weight",
                  .dtype = dt,
                  .ndim = 2,
                  .shape = {N, K},
                  .numel = (int64_t)N * K,
                  .data = *data,
                  .nbytes = (size_t)N * K * st_dtype_size(dt)};
    return w;
}

/* ------------------------------------------------------------------------------------- */
/* Backend selection (no GPU needed)                                                     */

static void test_select_auto(void)
{
    GError *err = NULL;
    const FluxBackend *be = flux_backend_get("auto", &err);
    g_assert_no_error(err);
    g_assert_nonnull(be);
    /* CUDA exactly when built in and a GPU answers; the CPU otherwise */
    const char *want = flux_backend_cuda_devices() > 0 ? "cuda" : "cpu";
    g_assert_cmpstr(be->name, ==, want);
    g_assert_true(flux_backend_get(NULL, &err) == be);
    g_assert_no_error(err);
    if (!flux_backend_cuda_built()) g_assert_cmpint(flux_backend_cuda_devices(), ==, 0);
}

static void test_select_cpu(void)
{
    GError *err = NULL;
    const FluxBackend *be = flux_backend_get("cpu", &err);
    g_assert_no_error(err);
    g_assert_cmpstr(be->name, ==, "cpu");
    FluxBackendCtx *c = be->ctx_new(0, &err);
    g_assert_no_error(err);
    g_assert_true(g_str_has_prefix(be->describe(c), "cpu ("));
    be->ctx_free(c);
}

static void test_select_cuda(void)
{
    GError *err = NULL;
    const FluxBackend *be = flux_backend_get("cuda", &err);
    if (flux_backend_cuda_devices() > 0) {
        g_assert_no_error(err);
        g_assert_cmpstr(be->name, ==, "cuda");
        return;
    }
    /* without a GPU: a clear error saying which of the two is missing */
    g_assert_null(be);
    g_assert_error(err, FLUX_ERROR, FLUX_ERROR_UNSUPPORTED);
    g_test_message("%s", err->message);
    g_assert_nonnull(strstr(err->message, "backend 'cuda'"));
    if (flux_backend_cuda_built())
        g_assert_nonnull(strstr(err->message, "no usable GPU"));
    else
        g_assert_nonnull(strstr(err->message, "no CUDA support"));
    g_clear_error(&err);
}

static void test_select_unknown(void)
{
    GError *err = NULL;
    g_assert_null(flux_backend_get("metal", &err));
    g_assert_error(err, FLUX_ERROR, FLUX_ERROR_ARGUMENT);
    g_assert_nonnull(strstr(err->message, "'metal'"));
    g_clear_error(&err);
}

/* ------------------------------------------------------------------------------------- */
/* Ops against the naive references                                                      */

static void check_linear(Bk *b, StDtype dt, int M, int K, int N, gboolean bias)
{
    void *wdata = NULL;
    StTensor w = random_weight(dt, N, K, 11, &wdata);
    g_autofree float *x = random_array((size_t)M * K, 12), *bv = random_array(N, 13);
    g_autofree float *ref = g_new(float, (size_t)M *N);
    ops_linear_naive(ref, x, &w, bias ? bv : NULL, M, K, N);

    GError *err = NULL;
    size_t mark = b->be->mark(b->c);
    FluxBackendWeight *bw = b->be->weight_new(b->c, &w, dt, &err);
    g_assert_no_error(err);
    float *dx = bk_put(b, x, (size_t)M * K), *db = bk_put(b, bv, N);
    float *dy = bk_put(b, NULL, (size_t)M * N);
    b->be->linear(b->c, dy, dx, bw, bias ? db : NULL, M);
    g_autofree float *got = bk_get(b, dy, (size_t)M * N);
    g_autofree char *what = g_strdup_printf("%s linear %s %dx%dx%d%s", b->be->name,
                                            st_dtype_name(dt), M, K, N, bias ? " +bias" : "");
    double rel = tu_assert_close(what, got, ref, (size_t)M * N, dtype_tol(b, dt));
    g_test_message("%s: relative max diff %.3g", what, rel);
    b->be->weight_free(b->c, bw);
    b->be->release(b->c, mark);
    g_free(wdata);
}

static void test_linear(gconstpointer data)
{
    Bk b = bk_open(data);
    const StDtype dts[3] = {ST_F32, ST_F16, ST_BF16};
    for (int i = 0; i < 3; i++) {
        check_linear(&b, dts[i], 37, 96, 70, TRUE); /* ragged against every tile size */
        check_linear(&b, dts[i], 1, 64, 3, FALSE);  /* a temb-sized GEMV */
        check_linear(&b, dts[i], 200, 512, 384, TRUE);
    }
    bk_close(&b);
}

/* LayerNorm (with and without affine), RMSNorm, AdaLN modulation: [M, N] rows */
static void check_norms(Bk *b, int M, int N)
{
    const size_t n = (size_t)M * N;
    const float eps = 1e-6f;
    g_autofree float *x = random_array(n, 21), *g = random_array(N, 22), *bb = random_array(N, 23);
    for (size_t i = 0; i < n; i++) x[i] = 3.0f * x[i] + 0.5f; /* a mean to remove */
    g_autofree float *ref = g_new(float, n);
    size_t mark = b->be->mark(b->c);
    float *dx = bk_put(b, x, n), *dg = bk_put(b, g, N), *db = bk_put(b, bb, N);
    float *dy = bk_put(b, NULL, n);

    b->be->layernorm(b->c, dy, dx, dg, db, M, N, eps);
    ops_layernorm_naive(ref, x, g, bb, M, N, eps);
    g_autofree float *y1 = bk_get(b, dy, n);
    tu_assert_close("layernorm", y1, ref, n, 1e-5);

    b->be->layernorm(b->c, dy, dx, NULL, NULL, M, N, eps);
    ops_layernorm_naive(ref, x, NULL, NULL, M, N, eps);
    g_autofree float *y2 = bk_get(b, dy, n);
    tu_assert_close("layernorm (no affine)", y2, ref, n, 1e-5);

    b->be->rmsnorm(b->c, dy, dx, dg, M, N, eps);
    ops_rmsnorm_naive(ref, x, g, M, N, eps);
    g_autofree float *y3 = bk_get(b, dy, n);
    tu_assert_close("rmsnorm", y3, ref, n, 1e-5);

    /* modulate in place (y == x), as the blocks call it: shift = g, scale = bb */
    b->be->modulate(b->c, dx, dx, dg, db, M, N, eps);
    ops_layernorm_naive(ref, x, NULL, NULL, M, N, eps);
    for (int m = 0; m < M; m++)
        for (int d = 0; d < N; d++) {
            float *r = ref + (size_t)m * N + d;
            *r = (float)((double)*r * (1.0 + bb[d]) + g[d]);
        }
    g_autofree float *y4 = bk_get(b, dx, n);
    double rel = tu_assert_close("modulate", y4, ref, n, 1e-5);
    g_test_message("%s norms %dx%d: modulate relative max diff %.3g", b->be->name, M, N, rel);
    b->be->release(b->c, mark);
}

static void test_norms(gconstpointer data)
{
    Bk b = bk_open(data);
    check_norms(&b, 33, 16);   /* QK-norm-like rows shorter than a warp's stride */
    check_norms(&b, 9, 3072);  /* FLUX.1's D */
    check_norms(&b, 130, 100); /* ragged */
    bk_close(&b);
}

/* gated_add, add, GELU-tanh, SiLU, copy_columns over [M, N] */
static void check_elementwise(Bk *bp, int M, int N)
{
    Bk b = *bp;
    const size_t n = (size_t)M * N;
    size_t mark = b.be->mark(b.c);
    g_autofree float *x = random_array(n, 31), *y = random_array(n, 32),
                     *gate = random_array(N, 33);
    for (size_t i = 0; i < n; i++) y[i] *= 6.0f; /* GELU/SiLU over [-6, 6) */
    g_autofree float *ref = g_new(float, n);
    float *dx = bk_put(&b, x, n), *dy = bk_put(&b, y, n), *dg = bk_put(&b, gate, N);

    b.be->gated_add(b.c, dx, dy, dg, M, N);
    for (size_t i = 0; i < n; i++) ref[i] = (float)(x[i] + (double)gate[i % N] * y[i]);
    g_autofree float *r1 = bk_get(&b, dx, n);
    tu_assert_close("gated_add", r1, ref, n, 1e-5);

    b.be->add(b.c, dx, dy, n);
    for (size_t i = 0; i < n; i++) ref[i] = r1[i] + y[i];
    g_autofree float *r2 = bk_get(&b, dx, n);
    tu_assert_close("add", r2, ref, n, 1e-5);

    b.be->upload(b.c, dx, y, n);
    b.be->gelu_tanh(b.c, dx, n);
    memcpy(ref, y, n * sizeof(float));
    ops_gelu_tanh_naive(ref, n);
    g_autofree float *r3 = bk_get(&b, dx, n);
    tu_assert_close("gelu_tanh", r3, ref, n, 1e-5);

    b.be->upload(b.c, dx, y, n);
    b.be->silu(b.c, dx, n);
    memcpy(ref, y, n * sizeof(float));
    ops_silu_naive(ref, n);
    g_autofree float *r4 = bk_get(&b, dx, n);
    tu_assert_close("silu", r4, ref, n, 1e-5);

    /* copy_columns: the single block's concat, 50 columns of y [M, N] into x [M, N] at 7.. */
    b.be->upload(b.c, dx, x, n);
    b.be->copy_columns(b.c, dx + 7, N, dy, N, 50, M);
    memcpy(ref, x, n * sizeof(float));
    for (int m = 0; m < M; m++)
        memcpy(ref + (size_t)m * N + 7, y + (size_t)m * N, 50 * sizeof(float));
    g_autofree float *r5 = bk_get(&b, dx, n);
    tu_assert_close("copy_columns", r5, ref, n, 0.0);
    b.be->release(b.c, mark);
}

static void test_elementwise(gconstpointer data)
{
    Bk b = bk_open(data);
    check_elementwise(&b, 45, 211);  /* one thread on the cpu */
    check_elementwise(&b, 300, 400); /* above the cpu's threading threshold (64 K values) */
    bk_close(&b);
}

/* ------------------------------------------------------------------------------------- */
/* RoPE and attention                                                                    */

/* cos/sin [T, HD] as FluxPosEmbed lays them out: pair p's angle in columns 2p and 2p+1 */
static void rope_tables(float *cos_t, float *sin_t, int T, int HD)
{
    for (int t = 0; t < T; t++)
        for (int p = 0; p < HD / 2; p++) {
            double angle = (t % 37) * pow(10000.0, -2.0 * p / HD) + 0.1 * p;
            cos_t[(size_t)t * HD + 2 * p] = cos_t[(size_t)t * HD + 2 * p + 1] = (float)cos(angle);
            sin_t[(size_t)t * HD + 2 * p] = sin_t[(size_t)t * HD + 2 * p + 1] = (float)sin(angle);
        }
}

/* apply_rotary_emb in double on x [T, ld] */
static void rope_ref(float *x, int ld, const float *cos_t, const float *sin_t, int T, int NH,
                     int HD)
{
    for (int t = 0; t < T; t++)
        for (int h = 0; h < NH; h++)
            for (int i = 0; i < HD; i += 2) {
                float *p = x + (size_t)t * ld + (size_t)h * HD + i;
                const float *cr = cos_t + (size_t)t * HD + i, *sr = sin_t + (size_t)t * HD + i;
                double re = p[0], im = p[1];
                p[0] = (float)(re * cr[0] - im * sr[0]);
                p[1] = (float)(im * cr[1] + re * sr[1]);
            }
}

static void check_rope(Bk *bp, int T)
{
    Bk b = *bp;
    const int NH = 3, HD = 16, ld = NH * HD + 5; /* a strided view, as q within cat */
    const size_t n = (size_t)T * ld;
    size_t mark = b.be->mark(b.c);
    g_autofree float *x = random_array(n, 41), *cs = g_new(float, (size_t)T *HD),
                     *sn = g_new(float, (size_t)T *HD), *ref = g_memdup2(x, n * sizeof(float));
    rope_tables(cs, sn, T, HD);
    rope_ref(ref, ld, cs, sn, T, NH, HD);
    float *dx = bk_put(&b, x, n), *dc = bk_put(&b, cs, (size_t)T * HD),
          *ds = bk_put(&b, sn, (size_t)T * HD);
    b.be->rope(b.c, dx, ld, dc, ds, T, NH, HD);
    g_autofree float *got = bk_get(&b, dx, n);
    tu_assert_close("rope", got, ref, n, 1e-5); /* also: the 5 padding columns untouched */
    b.be->release(b.c, mark);
}

static void test_rope(gconstpointer data)
{
    Bk b = bk_open(data);
    check_rope(&b, 29);
    check_rope(&b, 2000); /* 96 K values: threaded on the cpu */
    bk_close(&b);
}

static void check_attention(Bk *b, StDtype dt, int T, int NH, int HD, gboolean rope, int pad)
{
    const int D = NH * HD, ld = D + pad;
    const size_t n = (size_t)T * ld;
    g_autofree float *q = random_array(n, 51), *k = random_array(n, 52), *v = random_array(n, 53);
    /* sharper softmax and outputs near 1, so that the tolerance (relative to max(1, max|ref|))
     * catches a key counted twice or missed (one key moves an output by ~1e-2 here) */
    for (size_t i = 0; i < n; i++) q[i] *= 2.0f, k[i] *= 2.0f, v[i] *= 4.0f;
    g_autofree float *cs = g_new(float, (size_t)T *HD), *sn = g_new(float, (size_t)T *HD);
    rope_tables(cs, sn, T, HD);
    OpsAttnShape s = {.Tq = T,
                      .Tk = T,
                      .NH = NH,
                      .HD = HD,
                      .ldq = ld,
                      .ldk = ld,
                      .ldv = ld,
                      .ldo = ld,
                      .scale = (float)(1.0 / sqrt((double)HD))};
    g_autofree float *ref = g_new0(float, n);
    {
        g_autofree float *qr = g_memdup2(q, n * sizeof(float)),
                         *kr = g_memdup2(k, n * sizeof(float));
        if (rope) {
            rope_ref(qr, ld, cs, sn, T, NH, HD);
            rope_ref(kr, ld, cs, sn, T, NH, HD);
        }
        ops_attention_naive(ref, qr, kr, v, &s);
    }
    size_t mark = b->be->mark(b->c);
    float *dq = bk_put(b, q, n), *dk = bk_put(b, k, n), *dv = bk_put(b, v, n);
    float *dc = bk_put(b, cs, (size_t)T * HD), *ds = bk_put(b, sn, (size_t)T * HD);
    /* out starts as NaN in the head columns (each must be written) and 0.25 in the padding
     * columns (which must come back unchanged) */
    g_autofree float *init = g_new(float, n);
    for (size_t i = 0; i < n; i++) {
        gboolean head = (int)(i % ld) < D;
        init[i] = head ? NAN : 0.25f;
        if (!head) ref[i] = 0.25f;
    }
    float *dout = bk_put(b, init, n);
    b->be->attention(b->c, dout, dq, dk, dv, &s, rope ? dc : NULL, rope ? ds : NULL, dt);
    g_autofree float *got = bk_get(b, dout, n);
    g_autofree char *what = g_strdup_printf("%s attention %s T=%d NH=%d HD=%d%s", b->be->name,
                                            st_dtype_name(dt), T, NH, HD, rope ? " +rope" : "");
    double rel = tu_assert_close(what, got, ref, n, dtype_tol(b, dt));
    g_test_message("%s: relative max diff %.3g", what, rel);
    b->be->release(b->c, mark);
}

static void test_attention(gconstpointer data)
{
    Bk b = bk_open(data);
    const StDtype dts[2] = {ST_BF16, ST_F16};
    for (int i = 0; i < 2; i++) {
        check_attention(&b, dts[i], 70, 2, 8, FALSE, 0);
        check_attention(&b, dts[i], 77, 3, 16, TRUE, 4);   /* tiny-flux's head dim, strided */
        check_attention(&b, dts[i], 200, 2, 128, TRUE, 0); /* FLUX.1's: tensor cores, ragged */
        check_attention(&b, dts[i], 64, 1, 128, FALSE, 8); /* exactly one tile */
        check_attention(&b, dts[i], 333, 2, 128, TRUE, 0); /* several key tiles */
    }
    bk_close(&b);
}

/* ------------------------------------------------------------------------------------- */
/* Error paths                                                                           */

static void test_errors(gconstpointer data)
{
    const FluxBackend *be = data;
    GError *err = NULL;
    FluxBackendCtx *c = be->ctx_new(4096, &err);
    g_assert_no_error(err);

    /* the arena refuses what it cannot hold, and names the sizes */
    g_assert_null(be->alloc(c, 1u << 20, &err));
    g_assert_error(err, FLUX_ERROR, FLUX_ERROR_NO_MEMORY);
    g_assert_nonnull(strstr(err->message, "arena exhausted"));
    g_clear_error(&err);
    size_t mark = be->mark(c);
    g_assert_nonnull(be->alloc(c, 1000, &err));
    be->release(c, mark);
    g_assert_nonnull(be->alloc(c, 1000, &err)); /* the released space is reused */
    g_assert_no_error(err);

    /* weights: storage dtype and shape */
    float w1[6] = {0};
    StTensor w = {.name = "blk.w",
                  .dtype = ST_F32,
                  .ndim = 2,
                  .shape = {2, 3},
                  .numel = 6,
                  .data = w1,
                  .nbytes = sizeof w1};
    g_assert_null(be->weight_new(c, &w, ST_I8, &err));
    g_assert_error(err, FLUX_ERROR, FLUX_ERROR_ARGUMENT);
    g_assert_nonnull(strstr(err->message, "blk.w"));
    g_clear_error(&err);
    w.ndim = 1;
    g_assert_null(be->weight_new(c, &w, ST_F32, &err));
    g_assert_error(err, FLUX_ERROR, FLUX_ERROR_MODEL);
    g_clear_error(&err);
    g_assert_true(be->sync(c, &err));
    be->ctx_free(c);

    if (strcmp(be->name, "cuda") != 0) return;
    /* cuda: shapes the kernels do not take are reported by the next sync, then cleared */
    c = be->ctx_new(1u << 20, &err);
    g_assert_no_error(err);
    float *buf = be->alloc(c, 24 * 4, &err);
    OpsAttnShape s = {.Tq = 4,
                      .Tk = 4,
                      .NH = 1,
                      .HD = 24,
                      .ldq = 24,
                      .ldk = 24,
                      .ldv = 24,
                      .ldo = 24,
                      .scale = 1.0f};
    be->attention(c, buf, buf, buf, buf, &s, NULL, NULL, ST_BF16);
    g_assert_false(be->sync(c, &err));
    g_assert_error(err, FLUX_ERROR, FLUX_ERROR_UNSUPPORTED);
    g_assert_nonnull(strstr(err->message, "head dim 24"));
    g_clear_error(&err);
    s.HD = 16, s.causal = 1;
    be->attention(c, buf, buf, buf, buf, &s, NULL, NULL, ST_BF16);
    g_assert_false(be->sync(c, &err));
    g_assert_error(err, FLUX_ERROR, FLUX_ERROR_UNSUPPORTED);
    g_clear_error(&err);
    g_assert_true(be->sync(c, &err));
    be->ctx_free(c);
}

/* ------------------------------------------------------------------------------------- */
/* Device selection through the API and the CLI (no GPU needed)                          */

static void test_select_env(void)
{
    GError *err = NULL;
    /* FLUX_DEVICE replaces "auto" (so that test suites can pin the cpu on GPU machines) */
    g_setenv("FLUX_DEVICE", "cpu", TRUE);
    g_assert_cmpstr(flux_backend_get("auto", &err)->name, ==, "cpu");
    g_assert_cmpstr(flux_backend_get(NULL, &err)->name, ==, "cpu");
    g_assert_no_error(err);
    g_assert_false(flux_backend_is_auto(NULL));
    g_assert_true(flux_device_check(NULL, &err));
    g_setenv("FLUX_DEVICE", "metal", TRUE);
    g_assert_null(flux_backend_get("auto", &err));
    g_assert_error(err, FLUX_ERROR, FLUX_ERROR_ARGUMENT);
    g_assert_true(g_str_has_prefix(err->message, "FLUX_DEVICE: "));
    g_clear_error(&err);
    g_assert_cmpstr(flux_backend_get("cpu", &err)->name, ==, "cpu"); /* a name beats the variable */
    g_setenv("FLUX_DEVICE", "auto", TRUE);
    g_assert_true(flux_backend_is_auto("auto"));
    g_unsetenv("FLUX_DEVICE");
    g_assert_true(flux_backend_is_auto(NULL));
    g_assert_false(flux_backend_is_auto("cpu"));
}

static void test_device_check(void)
{
    GError *err = NULL;
    g_assert_true(flux_device_check(NULL, &err));
    g_assert_true(flux_device_check("auto", &err));
    g_assert_true(flux_device_check("cpu", &err));
    g_assert_no_error(err);
    g_assert_false(flux_device_check("gpu", &err));
    g_assert_error(err, FLUX_ERROR, FLUX_ERROR_ARGUMENT);
    g_assert_nonnull(strstr(err->message, "'gpu'"));
    g_clear_error(&err);
    gboolean have = flux_backend_cuda_devices() > 0;
    g_assert_true(flux_device_check("cuda", &err) == have);
    if (!have) {
        g_assert_error(err, FLUX_ERROR, FLUX_ERROR_UNSUPPORTED);
        g_clear_error(&err);
    }
}

/* The tiny model's transformer on the golden inputs of `cname`, on `device`; the output and
 * its golden reference (caller frees both). */
static float *dit_run(DitModel *m, const char *device, const char *cname, float **ref, size_t *n,
                      char **described)
{
    const char *file = "transformer.safetensors";
    g_autofree char *hn = g_strdup_printf("%s.hidden_states", cname);
    g_autofree char *en = g_strdup_printf("%s.encoder_hidden_states", cname);
    const StTensor *h = tu_golden_tensor(file, hn), *e = tu_golden_tensor(file, en);
    const int B = (int)h->shape[0], T_img = (int)h->shape[1], T_txt = (int)e->shape[1];
    const char *what[5] = {"pooled_projections", "timestep", "guidance", "img_ids", "txt_ids"};
    float *in[5];
    for (int i = 0; i < 5; i++) {
        g_autofree char *name = g_strdup_printf("%s.%s", cname, what[i]);
        in[i] = tu_f32(tu_golden_tensor(file, name));
    }
    g_autofree float *hid = tu_f32(h), *enc = tu_f32(e);
    g_autofree char *oname = g_strdup_printf("%s.output", cname);
    const StTensor *o = tu_golden_tensor(file, oname);
    *n = (size_t)o->numel;
    *ref = tu_f32(o);
    GError *err = NULL;
    DitContext *c = dit_context_new_on(m, device, B, T_img, T_txt, &err);
    g_assert_no_error(err);
    if (described) *described = g_strdup(dit_context_device(c));
    float *out = g_new(float, *n);
    gboolean ok = dit_forward(c, hid, enc, in[0], in[1], in[2], in[3], in[4], out, NULL, &err);
    g_assert_no_error(err);
    g_assert_true(ok);
    /* a second step reuses the uploaded rotary tables and must give the same numbers */
    g_autofree float *again = g_new(float, *n);
    g_assert_true(dit_forward(c, hid, enc, in[0], in[1], in[2], in[3], in[4], again, NULL, &err));
    g_assert_cmpmem(out, *n * sizeof(float), again, *n * sizeof(float));
    dit_context_free(c);
    for (int i = 0; i < 5; i++) g_free(in[i]);
    return out;
}

static DitModel *tiny_dit(void)
{
    g_autofree char *dir = tu_model_path("transformer");
    GError *err = NULL;
    DitModel *m = tu_dit_dir(dir, &err);
    g_assert_no_error(err);
    return m;
}

/* The transformer through the backend table: the cpu device gives the golden numbers (the
 * transformer suite holds every case to 1e-4; this checks the device path); "cuda" without a
 * GPU is refused with a message saying why, and "auto" then runs on the cpu. */
static void test_transformer_devices(void)
{
    DitModel *m = tiny_dit();
    float *ref = NULL;
    size_t n = 0;
    g_autofree char *desc = NULL;
    g_autofree float *out = dit_run(m, "cpu", "tf_64x64", &ref, &n, &desc);
    double rel = tu_assert_close("cpu tf_64x64", out, ref, n, 1e-4);
    g_test_message("cpu (%s) vs golden: relative max diff %.3g", desc, rel);
    g_assert_true(g_str_has_prefix(desc, "cpu ("));
    g_free(ref);
    GError *err = NULL;
    if (flux_backend_cuda_devices() == 0) {
        g_assert_null(dit_context_new_on(m, "cuda", 1, 16, 16, &err));
        g_assert_error(err, FLUX_ERROR, FLUX_ERROR_UNSUPPORTED);
        g_assert_nonnull(strstr(err->message, "backend 'cuda'"));
        g_clear_error(&err);
        DitContext *c = dit_context_new_on(m, "auto", 1, 16, 16, &err);
        g_assert_no_error(err);
        g_assert_true(g_str_has_prefix(dit_context_device(c), "cpu ("));
        dit_context_free(c);
    }
    g_assert_null(dit_context_new_on(m, "tpu", 1, 16, 16, &err));
    g_assert_error(err, FLUX_ERROR, FLUX_ERROR_ARGUMENT);
    g_clear_error(&err);
    dit_free(m);
}

static FluxModel *tiny_model(void)
{
    GError *err = NULL;
    g_autofree char *dir = tu_model_path(NULL);
    FluxModel *m = flux_model_load(dir, &err);
    g_assert_no_error(err);
    return m;
}

/* flux_generate's params: the device is validated before anything runs */
static void test_generate_device_errors(void)
{
    FluxModel *m = tiny_model();
    FluxGenerateParams p;
    flux_generate_params_init(&p, m);
    g_assert_null(p.device); /* auto */
    p.width = p.height = 16;
    p.steps = 1;
    guint8 rgb[16 * 16 * 3];
    GError *err = NULL;
    p.device = "npu";
    g_assert_false(flux_generate_params_validate(m, &p, &err));
    g_assert_error(err, FLUX_ERROR, FLUX_ERROR_ARGUMENT);
    g_clear_error(&err);
    g_assert_false(flux_generate(m, &p, rgb, &err));
    g_assert_error(err, FLUX_ERROR, FLUX_ERROR_ARGUMENT);
    g_clear_error(&err);
    if (flux_backend_cuda_devices() == 0) {
        p.device = "cuda";
        g_assert_false(flux_generate(m, &p, rgb, &err));
        g_assert_error(err, FLUX_ERROR, FLUX_ERROR_UNSUPPORTED);
        g_clear_error(&err);
    }
    p.device = "cpu";
    g_assert_true(flux_generate(m, &p, rgb, &err));
    g_assert_no_error(err);
    flux_model_free(m);
}

/* flux-generate --device: unknown names and a missing GPU are usage errors (exit 2) */
static int run_cli(const char *device, char **err_text)
{
    const char *exe = g_getenv("FLUX_GENERATE");
    g_autofree char *model = tu_model_path(NULL);
    const char *argv[] = {exe,
                          "--model",
                          model,
                          "--prompt",
                          "x",
                          "-W",
                          "16",
                          "-H",
                          "16",
                          "--steps",
                          "1",
                          "-o",
                          "/nonexistent/out.png",
                          "--device",
                          device,
                          "--quiet",
                          NULL};
    int status = 0;
    GError *err = NULL;
    g_assert_true(g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_STDOUT_TO_DEV_NULL, NULL, NULL,
                               NULL, err_text, &status, &err));
    g_assert_no_error(err);
    g_assert_true(WIFEXITED(status));
    return WEXITSTATUS(status);
}

static void test_cli_device(void)
{
    if (!g_getenv("FLUX_GENERATE")) {
        g_test_skip("FLUX_GENERATE is not set (run through meson test)");
        return;
    }
    g_autofree char *e1 = NULL, *e2 = NULL;
    g_assert_cmpint(run_cli("metal", &e1), ==, 2);
    g_test_message("%s", e1);
    g_assert_nonnull(strstr(e1, "--device metal: unknown backend 'metal'"));
    if (flux_backend_cuda_devices() > 0) return;
    g_assert_cmpint(run_cli("cuda", &e2), ==, 2);
    g_test_message("%s", e2);
    g_assert_nonnull(strstr(e2, "--device cuda: backend 'cuda': "));
    g_assert_nonnull(strstr(e2, flux_backend_cuda_built() ? "no usable GPU" : "no CUDA support"));
}

/* ------------------------------------------------------------------------------------- */
/* The whole model on the GPU (cuda suite)                                               */

/* Tolerance of BF16 weights, GEMM inputs and attention operands through the tiny model's
 * 2 + 2 blocks: emulating exactly that rounding in PyTorch on these golden inputs moves the
 * output by 5.3e-3 … 9.3e-3 (relative to max(1, max|ref|)); 3e-2 leaves 3× room, while a
 * wrong index in any kernel moves outputs by 1e-1 or more. */
#define DIT_BF16_TOL 3e-2

static void test_cuda_transformer(void)
{
    DitModel *m = tiny_dit();
    const char *cases[4] = {"tf_64x64", "tf_48x80", "tf_256x192", "tf_b2_32x32"};
    for (int i = 0; i < 4; i++) {
        float *ref = NULL, *ref2 = NULL;
        size_t n = 0;
        g_autofree char *desc = NULL;
        g_autofree float *cpu = dit_run(m, "cpu", cases[i], &ref, &n, NULL);
        g_autofree float *gpu = dit_run(m, "cuda", cases[i], &ref2, &n, &desc);
        g_autofree char *w1 = g_strdup_printf("cuda vs cpu %s", cases[i]);
        g_autofree char *w2 = g_strdup_printf("cuda vs golden %s", cases[i]);
        double r1 = tu_assert_close(w1, gpu, cpu, n, DIT_BF16_TOL);
        double r2 = tu_assert_close(w2, gpu, ref, n, DIT_BF16_TOL);
        g_test_message("%s (%s): relative max diff %.3g vs cpu, %.3g vs golden", cases[i], desc, r1,
                       r2);
        g_free(ref), g_free(ref2);
    }
    g_assert_cmpuint(dit_device_weight_bytes(m), >, 0);
    dit_free(m);
}

/* The golden run p64x64_s4 with the transformer on the GPU: noise predictions and the final
 * latents against the reference. The same emulation as above gives 2.4e-3 on the final
 * latents (4 Euler steps average the per-step error); 2e-2 on them, 3e-2 per step. */
static void test_cuda_pipeline(void)
{
    FluxModel *m = tiny_model();
    FluxGenerateParams p;
    flux_generate_params_init(&p, m);
    p.prompt = "a photo of a cat";
    p.width = p.height = 64;
    p.steps = 4;
    p.seed = 0;
    p.device = "cuda";
    GHashTable *seen = tu_capture_new();
    p.trace = tu_capture_trace;
    p.user_data = seen;
    guint8 *rgb = g_malloc(64 * 64 * 3);
    GError *err = NULL;
    g_assert_true(flux_generate(m, &p, rgb, &err));
    g_assert_no_error(err);
    const char *file = "pipeline_p64x64_s4.safetensors";
    for (int i = 0; i <= 4; i++) {
        g_autofree char *name =
            i < 4 ? g_strdup_printf("step.%d.noise_pred", i) : g_strdup("output_latent");
        const float *got = g_hash_table_lookup(seen, name);
        g_assert_nonnull(got);
        double rel =
            tu_assert_close_t(name, got, tu_golden_tensor(file, name), i < 4 ? DIT_BF16_TOL : 2e-2);
        g_test_message("cuda pipeline %s: relative max diff %.3g", name, rel);
    }
    const StTensor *u8 = tu_golden_tensor(file, "image_u8");
    int worst = 0;
    for (int i = 0; i < 64 * 64 * 3; i++)
        worst = MAX(worst, abs((int)rgb[i] - (int)((const guint8 *)u8->data)[i]));
    g_test_message("cuda pipeline image: max 8-bit difference %d", worst);
    g_hash_table_destroy(seen);
    g_free(rgb);
    flux_model_free(m);
}

/* ------------------------------------------------------------------------------------- */

static void add_backend_tests(const FluxBackend *be)
{
    static const struct {
        const char *name;
        GTestDataFunc fn;
    } tests[] = {
        {"linear", test_linear}, {"norms", test_norms},         {"elementwise", test_elementwise},
        {"rope", test_rope},     {"attention", test_attention}, {"errors", test_errors},
    };
    for (size_t i = 0; i < G_N_ELEMENTS(tests); i++) {
        g_autofree char *path = g_strdup_printf("/backend/%s/%s", be->name, tests[i].name);
        g_test_add_data_func(path, be, tests[i].fn);
    }
}

int main(int argc, char **argv)
{
    /* --cpu: selection and the cpu table only (the 'backend' test, runs everywhere) */
    gboolean cpu_only = argc > 1 && strcmp(argv[1], "--cpu") == 0;
    if (cpu_only) argv[1] = argv[0], argv++, argc--;
    g_test_init(&argc, &argv, NULL);
    /* the suites may pin FLUX_DEVICE=cpu for the golden tests; these choose for themselves */
    g_unsetenv("FLUX_DEVICE");

    if (!cpu_only && flux_backend_cuda_devices() == 0) {
        g_print("# SKIP %s\n", flux_backend_cuda_built()
                                   ? "no usable CUDA GPU on this machine"
                                   : "this build has no CUDA backend (meson -Dcuda=enabled)");
        return 77; /* meson's exit-code protocol: skipped */
    }
    g_test_add_func("/backend/select/auto", test_select_auto);
    g_test_add_func("/backend/select/cpu", test_select_cpu);
    g_test_add_func("/backend/select/cuda", test_select_cuda);
    g_test_add_func("/backend/select/unknown", test_select_unknown);
    g_test_add_func("/backend/select/env", test_select_env);
    g_test_add_func("/backend/device/check", test_device_check);
    g_test_add_func("/backend/device/transformer", test_transformer_devices);
    g_test_add_func("/backend/device/generate", test_generate_device_errors);
    g_test_add_func("/backend/device/cli", test_cli_device);
    add_backend_tests(flux_backend_get("cpu", NULL));
    if (!cpu_only) {
        add_backend_tests(flux_backend_get("cuda", NULL));
        g_test_add_func("/backend/cuda/transformer", test_cuda_transformer);
        g_test_add_func("/backend/cuda/pipeline-golden", test_cuda_pipeline);
    }
    return g_test_run();
}
