/* test_gemm_int8.c — the int8 GEMM of quantised weights (core/compute/gemm_int8.c) and its
 * block decoder (int8_blocks.c).
 *
 * For every GGML block type, on random blocks (random bytes, the float fields set to finite
 * values):
 *   - int8_blocks_decode's scale·q + min equals quant.c's dequantisation within its roundings;
 *   - the naive twin (gemm_int8_naive) is within the derived bound of the exact product in
 *     double on quant.c's dequantised weights (the float32 math of precision float32);
 *   - every path this CPU runs (AMX-INT8, AVX512-VNNI, AVX-VNNI, AVX2, portable: forced with
 *     gemm_int8_set_path) gives the naive twin's bits, at shapes crossing every blocking edge
 *     (32-row x blocks, 32-column groups, 128-column panels, 512-value k chunks, 1024-row x
 *     chunks).
 * meson also runs this program with FLUX_CPU_DISABLE=amx-int8,avx512-vnni (test
 * gemm_int8_no_amx), so that detection falls to the next path.
 *
 * Legend: M rows of x, K input features, N output features; bk = sub-block (32, 16 for Q6_K),
 * blk = block of the type (32 or 256). */
#include "cpu_features.h"
#include "gemm_bf16.h"
#include "gemm_int8.h"
#include "int8_blocks.h"
#include "ops.h"
#include "precision.h"
#include "quant.h"
#include "quant_dot.h"
#include "testutil.h"

#include <math.h>
#include <string.h>

static const StDtype types[] = {ST_Q8_0, ST_Q4_0, ST_Q4_1, ST_Q5_0,
                                ST_Q5_1, ST_Q4_K, ST_Q5_K, ST_Q6_K};

static const GemmInt8Path simd[] = {GEMM_INT8_PORTABLE, GEMM_INT8_AVX2, GEMM_INT8_AVX_VNNI,
                                    GEMM_INT8_VNNI, GEMM_INT8_AMX};

/* A half with exponent e (value in [2^(e-15), 2^(e-14))), random mantissa and sign. */
static void put_half(guint8 *p, GRand *r, int e, gboolean sign)
{
    guint16 h = (guint16)(e << 10 | g_rand_int_range(r, 0, 1024) | (sign ? 0x8000 : 0));
    p[0] = (guint8)h, p[1] = (guint8)(h >> 8);
}

/* N rows of K/blk random blocks of type dt. */
static guint8 *random_blocks(GRand *r, StDtype dt, int N, int K, size_t *nbytes)
{
    int blk;
    size_t bytes;
    g_assert_true(st_dtype_block(dt, &blk, &bytes));
    *nbytes = (size_t)N * K / blk * bytes;
    guint8 *w = g_malloc(*nbytes);
    for (size_t i = 0; i < *nbytes; i++) w[i] = (guint8)g_rand_int(r);
    for (guint8 *b = w; b < w + *nbytes; b += bytes) {
        const gboolean neg = g_rand_boolean(r);
        switch (dt) {
        case ST_Q4_1:
        case ST_Q5_1: /* d > 0, m of either sign */
        case ST_Q4_K:
        case ST_Q5_K: /* d, dmin > 0 */
            put_half(b, r, g_rand_int_range(r, 6, 12), FALSE);
            put_half(b + 2, r, g_rand_int_range(r, 6, 12),
                     dt == ST_Q4_1 || dt == ST_Q5_1 ? neg : 0);
            break;
        case ST_Q6_K:
            put_half(b + 208, r, g_rand_int_range(r, 4, 9), FALSE);
            break;
        default: /* Q8_0, Q4_0, Q5_0: d at the start */
            put_half(b, r, g_rand_int_range(r, 6, 12), neg);
        }
    }
    return w;
}

static StTensor tensor(StDtype dt, const guint8 *w, size_t nbytes, int N, int K)
{
    return (StTensor){.name = "w",
                      .dtype = dt,
                      .ndim = 2,
                      .shape = {N, K},
                      .numel = (int64_t)N * K,
                      .data = w,
                      .nbytes = nbytes};
}

/* Activations with a different magnitude per 32 (some blocks all zero, some with one large
 * value, as the transformer's outliers). */
static float *random_x(GRand *r, int M, int K)
{
    float *x = g_new(float, (size_t)M *K);
    for (size_t b = 0; b < (size_t)M * K / 16; b++) {
        float s = ldexpf(1.0f, g_rand_int_range(r, -6, 7)) * (b % 11 == 5 ? 0.0f : 1.0f);
        for (int j = 0; j < 16; j++) x[b * 16 + j] = s * (float)g_rand_double_range(r, -1, 1);
        if (b % 13 == 7) x[b * 16 + 3] *= 40.0f;
    }
    return x;
}

/* ------------------------------------------------------------------------------------- */

/* scale·q + min against quant.c's float: they differ by quant.c's last product and sum. */
static void test_decode(void)
{
    GRand *r = g_rand_new_with_seed(g_test_rand_int());
    for (gsize t = 0; t < G_N_ELEMENTS(types); t++) {
        const StDtype dt = types[t];
        const int K = 512, bk = int8_blocks_bk(dt);
        int blk;
        size_t bytes, nbytes;
        st_dtype_block(dt, &blk, &bytes);
        guint8 *w = random_blocks(r, dt, 1, K, &nbytes);
        gint8 q[512];
        float scale[512 / 16], mins[512 / 16], f[512];
        int8_blocks_decode(dt, w, K / blk, q, scale, mins);
        quant_dequantize(dt, w, f, K);
        double worst = 0;
        for (int k = 0; k < K; k++) {
            const double v = (double)scale[k / bk] * q[k] + mins[k / bk];
            const double tol = ldexp(1.0, -23) * (fabs((double)scale[k / bk] * q[k]) + fabs(f[k]));
            if (fabs(v - f[k]) > tol)
                g_error("%s element %d: scale %g · q %d + min %g = %.9g, quant.c %.9g",
                        st_dtype_name(dt), k, scale[k / bk], q[k], mins[k / bk], v, f[k]);
            worst = fmax(worst, fabs(v - f[k]));
            if (!int8_blocks_has_min(dt)) g_assert_cmpfloat(mins[k / bk], ==, 0.0f);
        }
        g_test_message("%s: decoded = dequantised within %.3g", st_dtype_name(dt), worst);
        g_free(w);
    }
    g_rand_free(r);
}

/* The bound on |y − Σ x·w| (w: quant.c's floats) for one output, per gemm_int8.h's formula:
 *   x rounded to the grid:   Σ_b dx_b (1/2 + 254u) Σ_j |scale_b q_j|   (x·(1/dx) and 1/dx
 *                            rounded once each, as in test_quant.c's qdot_bound)
 *   the float combination:   (2 nb + 2) u Σ_b (|S_b dx_b scale_b| + |xs_b min_b|)  (one
 *                            rounding of dx·scale, one per fma)
 *   xs, the float sum of bk: bk u Σ_b |min_b| Σ_j |x_j|
 *   quant.c's own roundings: 2u Σ_k |x_k| (|scale q_k| + |min|)  (its product and sum) */
static double bound(const float *x, const gint8 *q, const float *scale, const float *mins, int K,
                    int bk)
{
    const double u = ldexp(1.0, -24);
    const int nb = K / bk;
    double eq = 0, terms = 0, es = 0, ed = 0;
    for (int b = 0; b < nb; b++) {
        gint8 xq[32];
        float dx;
        gemm_int8_quantize_block(x + b * bk, bk, xq, &dx);
        double aw = 0, ax = 0, s = 0;
        for (int j = 0; j < bk; j++) {
            const int k = b * bk + j;
            aw += fabs((double)scale[b] * q[k]);
            ax += fabs(x[k]);
            s += (double)xq[j] * q[k];
            ed += fabs(x[k]) * (fabs((double)scale[b] * q[k]) + fabs(mins[b]));
        }
        eq += dx * (0.5 + 254 * u) * aw;
        terms += fabs(s * dx * scale[b]) + ax * fabs(mins[b]) * (1 + bk * u);
        es += bk * u * fabs(mins[b]) * ax;
    }
    return eq + (2 * nb + 2) * 1.01 * u * terms + es + 2.01 * u * ed;
}

/* gemm_int8_linear on path p (which must run here). */
static float *on_path(GemmInt8Path p, const float *x, const StTensor *w, int M, int K, int N)
{
    g_assert_true(gemm_int8_set_path(p));
    float *y = g_new(float, (size_t)M *N);
    gemm_int8_linear(y, x, w, M, K, N);
    g_assert_true(gemm_int8_set_path(GEMM_INT8_AUTO));
    return y;
}

/* One type and shape: the naive twin within the bound of the exact product, every path its
 * bits. Returns the worst error / bound. */
static double check(GRand *r, StDtype dt, int M, int K, int N)
{
    size_t nbytes;
    guint8 *wq = random_blocks(r, dt, N, K, &nbytes);
    const StTensor w = tensor(dt, wq, nbytes, N, K);
    float *x = random_x(r, M, K), *wf = g_new(float, (size_t)N *K),
          *ref = g_new(float, (size_t)M *N);
    const int bk = int8_blocks_bk(dt);
    int blk;
    size_t bytes;
    st_dtype_block(dt, &blk, &bytes);
    quant_dequantize(dt, wq, wf, (int64_t)N * K);
    gemm_int8_naive(ref, x, &w, M, K, N);
    gint8 *q = g_new(gint8, K);
    float *scale = g_new(float, K / 16), *mins = g_new(float, K / 16);
    double worst = 0, err_max = 0, ymax = 0;
    for (int n = 0; n < N; n++) {
        int8_blocks_decode(dt, wq + (size_t)n * (K / blk) * bytes, K / blk, q, scale, mins);
        for (int m = 0; m < M; m++) {
            double exact = 0;
            for (int k = 0; k < K; k++)
                exact += (double)x[(size_t)m * K + k] * wf[(size_t)n * K + k];
            const double err = fabs(ref[(size_t)m * N + n] - exact);
            const double bd = bound(x + (size_t)m * K, q, scale, mins, K, bk);
            if (err > bd)
                g_error("%s M=%d K=%d N=%d y[%d,%d] = %.9g, exact %.9g: error %.3g > bound %.3g",
                        st_dtype_name(dt), M, K, N, m, n, ref[(size_t)m * N + n], exact, err, bd);
            if (bd > 0) worst = fmax(worst, err / bd);
            err_max = fmax(err_max, err);
            ymax = fmax(ymax, fabs(exact));
        }
    }
    GString *ran = g_string_new("");
    for (gsize i = 0; i < G_N_ELEMENTS(simd); i++) {
        if (!gemm_int8_set_path(simd[i])) continue;
        float *y = on_path(simd[i], x, &w, M, K, N);
        for (size_t e = 0; e < (size_t)M * N; e++)
            if (memcmp(&y[e], &ref[e], 4) != 0)
                g_error("%s %s M=%d K=%d N=%d element %zu: %.9g, naive %.9g",
                        gemm_int8_path_name(simd[i]), st_dtype_name(dt), M, K, N, e, y[e], ref[e]);
        g_string_append_printf(ran, " %s", gemm_int8_path_name(simd[i]));
        g_free(y);
    }
    g_test_message("%s M=%d K=%d N=%d: naive twin's bits on%s; vs exact max %.3g (%.2g of "
                   "max|y|), %.3f of the bound",
                   st_dtype_name(dt), M, K, N, ran->str, err_max, err_max / ymax, worst);
    g_string_free(ran, TRUE);
    g_free(wq), g_free(x), g_free(wf), g_free(ref), g_free(q), g_free(scale), g_free(mins);
    return worst;
}

/* Every type at shapes crossing the blocking edges (K = 1024 + 256 crosses the 512-value k
 * chunks; N = 130 two panels and a partial group; M = 33 two x blocks). */
static void test_types(void)
{
    GRand *r = g_rand_new_with_seed(g_test_rand_int());
    static const int shapes[][3] = {{1, 256, 7}, {33, 1280, 130}, {70, 512, 45}};
    for (gsize t = 0; t < G_N_ELEMENTS(types); t++)
        for (gsize s = 0; s < G_N_ELEMENTS(shapes); s++)
            check(r, types[t], shapes[s][0], shapes[s][1], shapes[s][2]);
    g_rand_free(r);
}

/* More rows than one x chunk (4608) and than one pass over a panel (512), for the types with
 * and without a min. */
static void test_chunks(void)
{
    GRand *r = g_rand_new_with_seed(g_test_rand_int());
    check(r, ST_Q8_0, 4700, 256, 40);
    check(r, ST_Q4_K, 4700, 256, 40);
    g_rand_free(r);
}

/* NaN or infinity in x: NaN in that row's outputs on every path, as the float path would. */
static void test_not_finite(void)
{
    GRand *r = g_rand_new_with_seed(g_test_rand_int());
    size_t nbytes;
    const int M = 3, K = 256, N = 5;
    guint8 *wq = random_blocks(r, ST_Q4_K, N, K, &nbytes);
    const StTensor w = tensor(ST_Q4_K, wq, nbytes, N, K);
    float *x = random_x(r, M, K);
    x[K + 40] = INFINITY;
    for (gsize i = 0; i < G_N_ELEMENTS(simd); i++) {
        if (!gemm_int8_set_path(simd[i])) continue;
        float *y = on_path(simd[i], x, &w, M, K, N);
        for (int n = 0; n < N; n++) {
            g_assert_true(isfinite(y[n]) && isfinite(y[2 * N + n]));
            g_assert_true(isnan(y[N + n]));
        }
        g_free(y);
    }
    g_free(wq), g_free(x);
    g_rand_free(r);
}

/* ops_linear under fast for a Q8_0 and a Q4_K weight at any M: the bits of the kernel
 * ops_linear_int8 names (gemm_int8_linear; else the bf16 GEMM) plus the bias, beyond
 * quant_dot's rows for Q8_0; under float32 the dequantised float32 product (ops_linear_naive's
 * numbers). */
static void check_ops(GRand *r, StDtype dt)
{
    size_t nbytes;
    const int K = 512, N = 37, M = 80;
    guint8 *wq = random_blocks(r, dt, N, K, &nbytes);
    const StTensor w = tensor(dt, wq, nbytes, N, K);
    float *x = random_x(r, M, K), *bias = g_new(float, N);
    float *y = g_new(float, (size_t)M *N), *q = g_new(float, (size_t)M *N);
    for (int n = 0; n < N; n++) bias[n] = (float)n - 18.5f;
    const OpsPrecision saved = ops_precision();
    ops_precision_set(OPS_PRECISION_FAST);
    const gboolean int8 = ops_linear_int8(&w);
    if (dt == ST_Q8_0) g_assert_true(int8 == gemm_int8_native());
    static const int rows[] = {1, 8, 65, 80};
    for (gsize i = 0; i < G_N_ELEMENTS(rows); i++) {
        if (dt == ST_Q8_0 && rows[i] <= QDOT_MAX_M) continue; /* quant_dot's (test_quant.c) */
        if (!int8 && rows[i] <= 8) continue;                  /* the GEMV (test_ops.c) */
        ops_linear(y, x, &w, bias, rows[i], K, N);
        if (int8)
            gemm_int8_linear(q, x, &w, rows[i], K, N);
        else if (gemm_bf16_native())
            gemm_bf16_linear(q, x, &w, rows[i], K, N);
        else
            ops_linear_naive(q, x, &w, NULL, rows[i], K, N);
        for (int e = 0; e < rows[i] * N; e++) q[e] += bias[e % N];
        if (int8 || gemm_bf16_native())
            g_assert_cmpmem(y, (size_t)rows[i] * N * 4, q, (size_t)rows[i] * N * 4);
    }
    g_test_message("%s under fast: %s", st_dtype_name(dt),
                   int8 ? gemm_int8_path_name(gemm_int8_path()) : "not int8");
    ops_precision_set(OPS_PRECISION_FLOAT32);
    ops_linear(y, x, &w, bias, M, K, N);
    ops_linear_naive(q, x, &w, bias, M, K, N);
    tu_assert_close("float32 linear", y, q, (size_t)M * N, 1e-5);
    ops_precision_set(saved);
    g_free(wq), g_free(x), g_free(bias), g_free(y), g_free(q);
}

/* Detection takes the best path that runs (FLUX_CPU_DISABLE removes paths); ops_linear's
 * choice under fast and float32. */
static void test_detect_and_ops(void)
{
    g_assert_true(gemm_int8_set_path(GEMM_INT8_AUTO));
    const GemmInt8Path p = gemm_int8_path();
    for (gsize i = 0; i < G_N_ELEMENTS(simd); i++)
        if (simd[i] > p) g_assert_false(gemm_int8_set_path(simd[i]));
    g_assert_true(gemm_int8_set_path(GEMM_INT8_AUTO));
    g_assert_cmpint(gemm_int8_set_path(GEMM_INT8_AMX), ==, cpu_has(CPU_AMX_INT8));
    g_assert_true(gemm_int8_set_path(GEMM_INT8_AUTO));
    g_autofree char *cpu = cpu_features_describe();
    g_test_message("CPU %s; FLUX_CPU_DISABLE=%s; detected path %s", cpu,
                   g_getenv("FLUX_CPU_DISABLE") ? g_getenv("FLUX_CPU_DISABLE") : "",
                   gemm_int8_path_name(p));
    GRand *r = g_rand_new_with_seed(g_test_rand_int());
    check_ops(r, ST_Q8_0);
    check_ops(r, ST_Q4_K);
    g_rand_free(r);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/gemm_int8/decode", test_decode);
    g_test_add_func("/gemm_int8/types", test_types);
    g_test_add_func("/gemm_int8/chunks", test_chunks);
    g_test_add_func("/gemm_int8/not-finite", test_not_finite);
    g_test_add_func("/gemm_int8/detect-and-ops", test_detect_and_ops);
    return g_test_run();
}
