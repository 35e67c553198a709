/* test_ops.c — every fast op against its naive reference (ops_naive.c) on random data,
 * with sizes that exercise the tiles' edges, and against closed-form values. */
#include "gemm_bf16.h"
#include "ops.h"
#include "pool.h"
#include "precision.h"
#include "testutil.h"

#include <math.h>
#include <string.h>

/* float32 → bf16 / f16 by truncation is fine here: both paths read the same bits. */
static guint16 to_bf16(float f)
{
    guint32 u;
    memcpy(&u, &f, 4);
    return (guint16)(u >> 16);
}

static guint16 to_f16(float f)
{
    /* values in [-1, 1): normal or zero f16, mantissa truncated */
    guint32 u;
    memcpy(&u, &f, 4);
    guint32 sign = (u >> 16) & 0x8000;
    int e = (int)((u >> 23) & 0xff) - 127 + 15;
    if (e <= 0) return (guint16)sign;
    return (guint16)(sign | ((guint32)e << 10) | ((u >> 13) & 0x3ff));
}

static void check_linear(StDtype dt, int M, int K, int N)
{
    float *x = g_new(float, (size_t)M *K), *wf = g_new(float, (size_t)N *K);
    float *b = g_new(float, N), *y1 = g_new(float, (size_t)M *N), *y2 = g_new(float, (size_t)M *N);
    tu_fill_random(x, (size_t)M * K, 1);
    tu_fill_random(wf, (size_t)N * K, 2);
    tu_fill_random(b, N, 3);
    void *wdata = wf;
    guint16 *h = NULL;
    if (dt != ST_F32) {
        h = g_new(guint16, (size_t)N * K);
        for (size_t i = 0; i < (size_t)N * K; i++)
            h[i] = dt == ST_BF16 ? to_bf16(wf[i]) : to_f16(wf[i]);
        wdata = h;
    }
    StTensor w = {.name = "w",
                  .dtype = dt,
                  .ndim = 2,
                  .shape = {N, K},
                  .numel = (int64_t)N * K,
                  .data = wdata};
    ops_linear(y1, x, &w, b, M, K, N);
    ops_linear_naive(y2, x, &w, b, M, K, N);
    g_autofree char *what = g_strdup_printf("linear %s %dx%dx%d", st_dtype_name(dt), M, K, N);
    /* float32 accumulation over K terms of size <= 1: error ~ K·2^-24 */
    tu_assert_close(what, y1, y2, (size_t)M * N, 1e-5);
    g_free(x), g_free(wf), g_free(b), g_free(y1), g_free(y2), g_free(h);
}

static void test_linear(void)
{
    check_linear(ST_F32, 7, 33, 19);
    check_linear(ST_BF16, 5, 64, 300);
    check_linear(ST_F16, 3, 17, 9);
    check_linear(ST_BF16, 2, 4096, 1100);
    /* M > 8: the tiled path, each thread converting and multiplying its own tiles, with
     * tiles of 7 rows so that every thread has several, and a ragged last one */
    ops_linear_force_tile_rows(7);
    check_linear(ST_BF16, 9, 96, 301);
    check_linear(ST_F16, 33, 40, 64);
    ops_linear_force_tile_rows(0);
    check_linear(ST_BF16, 64, 256, 1000);
}

static void test_linear_unaligned(void)
{
    /* a float32 weight at an odd address takes the converting path and gives the same result */
    int M = 3, K = 8, N = 5;
    float x[24], wf[40], y1[15], y2[15];
    tu_fill_random(x, 24, 4);
    tu_fill_random(wf, 40, 5);
    guint8 *raw = g_malloc(sizeof wf + 1);
    memcpy(raw + 1, wf, sizeof wf);
    StTensor w = {.dtype = ST_F32, .ndim = 2, .shape = {N, K}, .numel = N * K, .data = raw + 1};
    ops_linear(y1, x, &w, NULL, M, K, N);
    w.data = wf;
    ops_linear(y2, x, &w, NULL, M, K, N);
    g_assert_cmpmem(y1, sizeof y1, y2, sizeof y2);
    g_free(raw);
    /* bf16 at an odd address (safetensors promises no alignment): the GEMV path (M <= 8)
     * and the tiled one read it byte-wise (UBSan flagged the 16-bit loads) */
    for (int m = 3; m <= 20; m += 17) {
        float xb[20 * 8], yb1[20 * 5], yb2[20 * 5];
        guint16 h[40];
        tu_fill_random(xb, (size_t)m * K, 6);
        for (int i = 0; i < 40; i++) h[i] = tu_bf16_rne(wf[i]);
        guint8 *rb = g_malloc(sizeof h + 1);
        memcpy(rb + 1, h, sizeof h);
        StTensor wb = {
            .dtype = ST_BF16, .ndim = 2, .shape = {N, K}, .numel = N * K, .data = rb + 1};
        ops_linear(yb1, xb, &wb, NULL, m, K, N);
        wb.data = h;
        ops_linear(yb2, xb, &wb, NULL, m, K, N);
        g_assert_cmpmem(yb1, sizeof(float) * (size_t)m * N, yb2, sizeof(float) * (size_t)m * N);
        g_free(rb);
    }
}

static void test_norms(void)
{
    int M = 5, N = 77;
    float *x = g_new(float, M *N), *g = g_new(float, N), *b = g_new(float, N);
    float *y1 = g_new(float, M *N), *y2 = g_new(float, M *N);
    tu_fill_random(x, M * N, 6);
    for (int i = 0; i < M * N; i++) x[i] = x[i] * 3 + 5; /* non-zero mean */
    tu_fill_random(g, N, 7);
    tu_fill_random(b, N, 8);
    ops_layernorm(y1, x, g, b, M, N, 1e-6f);
    ops_layernorm_naive(y2, x, g, b, M, N, 1e-6f);
    tu_assert_close("layernorm", y1, y2, M * N, 1e-6);
    ops_layernorm(y1, x, NULL, NULL, M, N, 1e-6f);
    /* no affine: each row has mean 0 and variance 1 */
    for (int m = 0; m < M; m++) {
        double s = 0, ss = 0;
        for (int n = 0; n < N; n++) s += y1[m * N + n], ss += (double)y1[m * N + n] * y1[m * N + n];
        g_assert_cmpfloat_with_epsilon(s / N, 0.0, 1e-5);
        g_assert_cmpfloat_with_epsilon(ss / N, 1.0, 1e-4);
    }
    ops_rmsnorm(y1, x, g, M, N, 1e-6f);
    ops_rmsnorm_naive(y2, x, g, M, N, 1e-6f);
    tu_assert_close("rmsnorm", y1, y2, M * N, 1e-6);
    /* in place */
    memcpy(y1, x, sizeof(float) * M * N);
    ops_rmsnorm(y1, y1, g, M, N, 1e-6f);
    tu_assert_close("rmsnorm in place", y1, y2, M * N, 1e-6);
    g_free(x), g_free(g), g_free(b), g_free(y1), g_free(y2);
}

static void test_activations(void)
{
    enum { n = 1001 };
    float a[n], b[n];
    for (int i = 0; i < n; i++) a[i] = -8.0f + 16.0f * i / (n - 1);
    struct {
        const char *name;
        void (*fast)(float *, size_t), (*naive)(float *, size_t);
    } acts[] = {{"gelu_tanh", ops_gelu_tanh, ops_gelu_tanh_naive},
                {"gelu_erf", ops_gelu_erf, ops_gelu_erf_naive},
                {"quick_gelu", ops_quick_gelu, ops_quick_gelu_naive},
                {"silu", ops_silu, ops_silu_naive}};
    for (guint k = 0; k < G_N_ELEMENTS(acts); k++) {
        float x1[n], x2[n];
        memcpy(x1, a, sizeof a);
        memcpy(x2, a, sizeof a);
        acts[k].fast(x1, n);
        acts[k].naive(x2, n);
        tu_assert_close(acts[k].name, x1, x2, n, 1e-6);
    }
    /* closed forms: silu(1) = 1/(1+e^-1), gelu_erf(1) = Φ(1) */
    b[0] = 1.0f;
    ops_silu(b, 1);
    g_assert_cmpfloat_with_epsilon(b[0], 0.7310585786, 1e-6);
    b[0] = 1.0f;
    ops_gelu_erf(b, 1);
    g_assert_cmpfloat_with_epsilon(b[0], 0.8413447461, 1e-6);
    b[0] = 1.0f;
    ops_gelu_tanh(b, 1);
    g_assert_cmpfloat_with_epsilon(b[0], 0.8411919906, 1e-6);
}

static void check_attention(int Tq, int Tk, int NH, int HD, int causal, int bias)
{
    int ld = NH * HD + 3; /* a leading dim wider than the heads, as in fused buffers */
    float *q = g_new(float, (size_t)Tq *ld), *k = g_new(float, (size_t)Tk *ld);
    float *v = g_new(float, (size_t)Tk *ld);
    float *o1 = g_new0(float, (size_t)Tq *NH *HD), *o2 = g_new0(float, (size_t)Tq *NH *HD);
    float *rb = bias ? g_new(float, (size_t)NH *(Tq + Tk - 1)) : NULL;
    tu_fill_random(q, (size_t)Tq * ld, 11);
    tu_fill_random(k, (size_t)Tk * ld, 12);
    tu_fill_random(v, (size_t)Tk * ld, 13);
    for (size_t i = 0; i < (size_t)Tq * ld; i++) q[i] *= 4; /* peaked softmax */
    if (rb) tu_fill_random(rb, (size_t)NH * (Tq + Tk - 1), 14);
    OpsAttnShape s = {Tq, Tk, NH, HD, ld, ld, ld, NH * HD, 1.0f / sqrtf((float)HD), rb, causal};
    ops_attention(o1, q, k, v, &s);
    ops_attention_naive(o2, q, k, v, &s);
    g_autofree char *what = g_strdup_printf("attention Tq=%d Tk=%d NH=%d HD=%d causal=%d bias=%d",
                                            Tq, Tk, NH, HD, causal, bias);
    tu_assert_close(what, o1, o2, (size_t)Tq * NH * HD, 1e-5);
    g_free(q), g_free(k), g_free(v), g_free(o1), g_free(o2), g_free(rb);
}

static void test_attention(void)
{
    check_attention(16, 16, 2, 16, 0, 0);
    check_attention(150, 600, 3, 8, 0, 0); /* several query and key tiles, ragged ends */
    check_attention(77, 77, 4, 8, 1, 0);   /* CLIP: causal */
    check_attention(130, 130, 2, 8, 1, 0); /* causal across tiles */
    check_attention(700, 700, 2, 8, 1, 0); /* causal across key tiles (512) too */
    check_attention(300, 300, 4, 8, 0, 1); /* T5: relative bias, no scaling tested via scale */
    check_attention(5, 270, 1, 32, 0, 1);  /* Tq != Tk */
}

/* Attention under `fast` (bf16 Q·Kᵀ and P·V where a native path runs) against a double
 * evaluation. Bound, derived per output (query i, dim d) with u = 2⁻⁸: rounding q and k moves
 * each score by at most δ_i = (2u + u²)·scale·max_j Σ_e |q_ie k_je|, so every softmax weight
 * by a factor within e^(±2δ_i); rounding P and V moves each product by at most 2u + u²:
 *   |o - ref| <= ((e^(2δ_i) - 1)(1 + 2u) + 2u + u²) · Σ_j p_ij |v_jd| + 1e-5 · max(1, |ref|). */
static void check_attention_fast(int Tq, int Tk, int NH, int HD, int causal, int bias)
{
    int ld = NH * HD + 3;
    float *q = g_new(float, (size_t)Tq *ld), *k = g_new(float, (size_t)Tk *ld);
    float *v = g_new(float, (size_t)Tk *ld), *o = g_new0(float, (size_t)Tq *NH *HD);
    float *rb = bias ? g_new(float, (size_t)NH *(Tq + Tk - 1)) : NULL;
    tu_fill_random(q, (size_t)Tq * ld, 21);
    tu_fill_random(k, (size_t)Tk * ld, 22);
    tu_fill_random(v, (size_t)Tk * ld, 23);
    for (size_t i = 0; i < (size_t)Tq * ld; i++) q[i] *= 4; /* peaked softmax */
    if (rb) tu_fill_random(rb, (size_t)NH * (Tq + Tk - 1), 24);
    const float scale = 1.0f / sqrtf((float)HD);
    OpsAttnShape s = {Tq, Tk, NH, HD, ld, ld, ld, NH * HD, scale, rb, causal};
    const OpsPrecision saved = ops_precision();
    ops_precision_set(OPS_PRECISION_FAST);
    ops_attention(o, q, k, v, &s);
    ops_precision_set(saved);
    const double u = ldexp(1.0, -8);
    double worst = 0.0, moved = 0.0;
    double *sc = g_new(double, Tk), *pabs = g_new(double, HD), *ref = g_new(double, HD);
    for (int h = 0; h < NH; h++)
        for (int i = 0; i < Tq; i++) {
            const float *qi = q + (size_t)i * ld + h * HD;
            double mx = -INFINITY, delta = 0.0, l = 0.0;
            int nk = causal ? MIN(i + 1, Tk) : Tk;
            for (int j = 0; j < nk; j++) {
                const float *kj = k + (size_t)j * ld + h * HD;
                double d = 0.0, a = 0.0;
                for (int e = 0; e < HD; e++) {
                    d += (double)qi[e] * kj[e];
                    a += fabs((double)qi[e] * kj[e]);
                }
                sc[j] = d * scale + (rb ? rb[(size_t)h * (Tq + Tk - 1) + (j - i) + (Tq - 1)] : 0);
                delta = MAX(delta, (2 * u + u * u) * scale * a);
                mx = MAX(mx, sc[j]);
            }
            for (int j = 0; j < nk; j++) l += (sc[j] = exp(sc[j] - mx));
            for (int e = 0; e < HD; e++) ref[e] = pabs[e] = 0.0;
            for (int j = 0; j < nk; j++)
                for (int e = 0; e < HD; e++) {
                    double p = sc[j] / l, vv = v[(size_t)j * ld + h * HD + e];
                    ref[e] += p * vv;
                    pabs[e] += p * fabs(vv);
                }
            const double f = (exp(2 * delta) - 1) * (1 + 2 * u) + 2 * u + u * u;
            for (int e = 0; e < HD; e++) {
                double got = o[(size_t)i * NH * HD + h * HD + e], err = fabs(got - ref[e]);
                worst = MAX(worst, err / (f * pabs[e] + 1e-5 * MAX(1.0, fabs(ref[e]))));
                moved = MAX(moved, err);
            }
        }
    g_test_message("fast attention Tq=%d Tk=%d NH=%d HD=%d causal=%d bias=%d: max |diff| %.3g, "
                   "worst %.3g of the derived bound",
                   Tq, Tk, NH, HD, causal, bias, moved, worst);
    g_assert_cmpfloat(worst, <=, 1.0);
    if (gemm_bf16_native()) g_assert_cmpfloat(moved, >, 1e-5); /* bf16 really ran */
    g_free(sc), g_free(pabs), g_free(ref);
    g_free(q), g_free(k), g_free(v), g_free(o), g_free(rb);
}

static void test_attention_fast(void)
{
    check_attention_fast(150, 600, 3, 8, 0, 0);
    check_attention_fast(700, 700, 2, 8, 1, 0);
    check_attention_fast(300, 300, 4, 8, 0, 1);
    check_attention_fast(5, 270, 1, 32, 0, 1);
    check_attention_fast(200, 600, 2, 128, 0, 0); /* FLUX's head size */
}

/* The memory estimate's attention term is what attention really keeps: one thread's scratch
 * after an attention of query tiles of the full 512 rows (4 heads × 2 tiles keep bq at its
 * largest on up to 4 threads) over 3 key tiles equals the per-thread share of
 * ops_attention_scratch_bytes under fast (with the packed bf16 K and V where a native path
 * runs), and float32 keeps no more. Run inside a pool chunk, so that the jobs run on this one
 * thread. */
typedef struct {
    size_t held[2];
} ScratchProbe;

static void attention_on_one_thread(void *ctx, size_t begin, size_t end)
{
    (void)begin, (void)end;
    ScratchProbe *p = ctx;
    const int Tq = 1024, Tk = 1536, NH = 4, HD = 128, ld = NH * HD;
    float *q = g_new(float, (size_t)Tk *ld), *o = g_new(float, (size_t)Tq *ld);
    tu_fill_random(q, (size_t)Tk * ld, 31);
    OpsAttnShape s = {Tq, Tk, NH, HD, ld, ld, ld, ld, 0.1f, NULL, 0};
    const OpsPrecision saved = ops_precision();
    for (int f = 0; f < 2; f++) {
        ops_precision_set(f ? OPS_PRECISION_FAST : OPS_PRECISION_FLOAT32);
        ops_attention(o, q, q, q, &s);
        p->held[f] = ops_attention_thread_bytes();
    }
    ops_precision_set(saved);
    g_free(q), g_free(o);
}

static void test_attention_scratch(void)
{
    if (pool_n_threads() > 4) {
        g_test_skip("more than 4 threads: the jobs would use query tiles of fewer rows");
        return;
    }
    ScratchProbe p = {{0, 0}};
    pool_parallel_for(1, attention_on_one_thread, &p);
    const size_t per_thread = ops_attention_scratch_bytes(1536, 128) / (size_t)pool_n_threads();
    g_test_message("attention scratch of one thread: float32 %zu, fast %zu; estimate %zu",
                   p.held[0], p.held[1], per_thread);
    /* (each buffer keeps its largest size: the tests before this one used smaller shapes) */
    g_assert_cmpuint(p.held[0], >=, (size_t)512 * (512 + 128) * sizeof(float));
    g_assert_cmpuint(p.held[0], <=, per_thread);
    g_assert_cmpuint(p.held[1], ==, per_thread);
}

/* The elementwise steps of a transformer block (ops_block.c) against their naive twins, at a
 * size above the threshold where they split over the threads (64 K values) and one below. */
static void check_block_kernels(int M, int N)
{
    size_t n = (size_t)M * N;
    float *x = g_new(float, n), *y = g_new(float, n), *a = g_new(float, n), *b = g_new(float, n);
    float *shift = g_new(float, N), *scale = g_new(float, N), *gate = g_new(float, N);
    tu_fill_random(x, n, 11);
    tu_fill_random(y, n, 12);
    tu_fill_random(shift, N, 13);
    tu_fill_random(scale, N, 14);
    tu_fill_random(gate, N, 15);
    g_autofree char *what = g_strdup_printf("modulate %dx%d", M, N);
    ops_modulate(a, x, shift, scale, M, N, 1e-6f);
    ops_modulate_naive(b, x, shift, scale, M, N, 1e-6f);
    /* the fast LayerNorm sums in another order: within its own tolerance (test_norms) */
    tu_assert_close(what, a, b, n, 1e-5);
    /* the others compute each value by the same expression: equal bit for bit */
    memcpy(a, x, n * sizeof *a);
    memcpy(b, x, n * sizeof *b);
    ops_gated_add(a, y, gate, M, N);
    ops_gated_add_naive(b, y, gate, M, N);
    g_assert_cmpmem(a, n * sizeof *a, b, n * sizeof *b);
    g_assert_cmpfloat(a[N + 3], ==, x[N + 3] + gate[3] * y[N + 3]);
    ops_add(a, y, n);
    ops_add_naive(b, y, n);
    g_assert_cmpmem(a, n * sizeof *a, b, n * sizeof *b);
    /* RoPE on NH = 2 heads of HD = N/4 in rows of ld = N (the other half left alone) */
    int HD = N / 4, NH = 2; /* cos, sin [M, HD]: y and the next M·HD values of y */
    memcpy(a, x, n * sizeof *a);
    memcpy(b, x, n * sizeof *b);
    ops_rope(a, N, y, y + (size_t)M * HD, M, NH, HD);
    ops_rope_naive(b, N, y, y + (size_t)M * HD, M, NH, HD);
    g_assert_cmpmem(a, n * sizeof *a, b, n * sizeof *b);
    g_assert_cmpfloat(a[NH * HD], ==, x[NH * HD]);
    /* a rotation keeps each pair's length when cos² + sin² = 1 */
    for (int i = 0; i < M * HD; i++) {
        double t = 6.283185307179586 * (i / 2 % 97) / 97.0; /* repeat-interleaved pairs */
        a[i] = (float)cos(t), b[i] = (float)sin(t);
    }
    float *r = g_new(float, n);
    memcpy(r, x, n * sizeof *r);
    ops_rope(r, N, a, b, M, NH, HD);
    for (int t = 0; t < M; t++)
        for (int i = 0; i + 1 < NH * HD; i += 2) {
            const float *p = x + (size_t)t * N + i, *q = r + (size_t)t * N + i;
            g_assert_cmpfloat_with_epsilon(hypot(q[0], q[1]), hypot(p[0], p[1]), 1e-5);
        }
    g_free(r);
    /* columns [0, N/2) of x into rows of stride N of a and b */
    memset(a, 0, n * sizeof *a);
    memset(b, 0, n * sizeof *b);
    ops_copy_columns(a, N, x, N, N / 2, M);
    ops_copy_columns_naive(b, N, x, N, N / 2, M);
    g_assert_cmpmem(a, n * sizeof *a, b, n * sizeof *b);
    g_assert_cmpfloat(a[(size_t)(M - 1) * N + N / 2 - 1], ==, x[(size_t)(M - 1) * N + N / 2 - 1]);
    g_assert_cmpfloat(a[N / 2], ==, 0.0f);
    g_free(x), g_free(y), g_free(a), g_free(b), g_free(shift), g_free(scale), g_free(gate);
}

static void test_block_kernels(void)
{
    check_block_kernels(7, 96);    /* 672 values: on the calling thread */
    check_block_kernels(300, 512); /* 153 600 values: on the pool */
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/ops/linear", test_linear);
    g_test_add_func("/ops/attention-fast", test_attention_fast);
    g_test_add_func("/ops/attention-scratch", test_attention_scratch);
    g_test_add_func("/ops/linear-unaligned", test_linear_unaligned);
    g_test_add_func("/ops/norms", test_norms);
    g_test_add_func("/ops/activations", test_activations);
    g_test_add_func("/ops/attention", test_attention);
    g_test_add_func("/ops/block-kernels", test_block_kernels);
    return g_test_run();
}
