/* test_gemm_bf16.c — the bf16-product GEMM (core/compute/gemm_bf16.c), every path this CPU
 * runs (AMX-BF16, AVX512-BF16, portable C), and ops_linear's choice of it under `fast`.
 *
 * Reference: the same math in double, y[m,n] = Σ_k bf16(x[m,k])·bf16(w[n,k]). Tolerance,
 * derived: each product of two bf16 is exact in float32; every path adds them into float32
 * accumulators along k, a chain of at most K additions with one rounding each, so
 *   |y - ref| <= (K + 2) · 2⁻²⁴ · Σ_k |bf16(x[m,k])·bf16(w[n,k])|.
 * Against float32 math on the unrounded operands each product moves by at most 2·2⁻⁸ + 2⁻¹⁶
 * relative (RNE to 8 significant bits, twice), which bounds the fast/float32 difference.
 * Sizes are odd on purpose (row, column and k tails of the 32-row blocks, 64-column panels,
 * 512-value k blocks and 32-value k steps; M = 4100 spans two x chunks); the bf16 weights sit
 * at an odd address, as a mapped checkpoint's may; float32 weights are rounded by the packer.
 *
 * Legend: M rows of x, K input features, N output features. */
#include "gemm_bf16.h"
#include "ops.h"
#include "precision.h"
#include "quant.h"
#include "testutil.h"

#include <math.h>
#include <string.h>

typedef struct {
    int M, K, N;
} Shape;

static const Shape shapes[] = {
    {1, 1, 1},     {3, 2, 7},     {33, 30, 65},    {70, 31, 130},  {17, 513, 64},
    {70, 1024, 7}, {3, 3073, 65}, {40, 3073, 130}, {4100, 64, 65}, {300, 2100, 40},
};

typedef struct {
    float *x;     /* [M, K] */
    float *xr;    /* [M, K] bf16(x) */
    float *wf;    /* [N, K] the weights' exact values (bf16 values, or float32) */
    float *wr;    /* [N, K] bf16(w) */
    guint8 *wbuf; /* the stored weights, from wbuf + 1 (bf16) or wbuf (float32) */
    StTensor w;
} Problem;

static float bf16_value(guint16 h)
{
    guint32 u = (guint32)h << 16;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static float bf16_round(float f)
{
    return bf16_value(tu_bf16_rne(f));
}

static void problem_init(Problem *p, int M, int K, int N, StDtype dt, guint32 seed)
{
    const size_t nw = (size_t)N * K;
    p->x = g_new(float, (size_t)M *K);
    p->xr = g_new(float, (size_t)M *K);
    p->wf = g_new(float, nw);
    p->wr = g_new(float, nw);
    tu_fill_random(p->x, (size_t)M * K, seed);
    tu_fill_random(p->wf, nw, seed + 1);
    for (size_t i = 0; i < (size_t)M * K; i++) p->xr[i] = bf16_round(p->x[i]);
    if (dt == ST_BF16) {
        p->wbuf = g_malloc(nw * 2 + 1);
        for (size_t i = 0; i < nw; i++) {
            guint16 h = tu_bf16_rne(p->wf[i] * 0.25f);
            p->wf[i] = p->wr[i] = bf16_value(h);
            memcpy(p->wbuf + 1 + 2 * i, &h, 2); /* little-endian host */
        }
    } else {
        p->wbuf = g_malloc(nw * 4);
        memcpy(p->wbuf, p->wf, nw * 4);
        for (size_t i = 0; i < nw; i++) p->wr[i] = bf16_round(p->wf[i]);
    }
    p->w = (StTensor){.name = "w",
                      .dtype = dt,
                      .ndim = 2,
                      .shape = {N, K},
                      .numel = (int64_t)nw,
                      .data = dt == ST_BF16 ? p->wbuf + 1 : p->wbuf,
                      .nbytes = nw * (dt == ST_BF16 ? 2 : 4)};
}

static void problem_free(Problem *p)
{
    g_free(p->x), g_free(p->xr), g_free(p->wf), g_free(p->wr), g_free(p->wbuf);
}

/* max over y of |y - ref| / bound (<= 1 passes), ref and bound in double; rounded: the
 * reference on bf16(x), bf16(w) with the float32 bound above, else on x, w with the bf16
 * rounding bound added. */
static double worst_ratio(const Problem *p, const float *y, int M, int K, int N, gboolean rounded)
{
    double worst = 0.0;
    const float *xs = rounded ? p->xr : p->x, *ws = rounded ? p->wr : p->wf;
    const double u24 = ldexp(1.0, -24), rel = rounded ? 0.0 : ldexp(1.0, -7) + ldexp(1.0, -16);
    for (int m = 0; m < M; m++)
        for (int n = 0; n < N; n++) {
            const float *xm = xs + (size_t)m * K, *wn = ws + (size_t)n * K;
            double ref = 0.0, mag = 0.0;
            for (int k = 0; k < K; k++) {
                ref += (double)xm[k] * wn[k];
                mag += fabs((double)xm[k] * wn[k]);
            }
            double bound = ((K + 2.0) * u24 * (1.0 + rel) + rel) * mag + 1e-30;
            worst = MAX(worst, fabs(y[(size_t)m * N + n] - ref) / bound);
        }
    return worst;
}

static void check_path(GemmBf16Path path, StDtype dt)
{
    if (!gemm_bf16_set_path(path)) {
        g_autofree char *msg =
            g_strdup_printf("%s does not run on this CPU", gemm_bf16_path_name(path));
        g_test_skip(msg);
        return;
    }
    g_assert_cmpint(gemm_bf16_path(), ==, path);
    double worst = 0.0;
    guint32 seed = 1;
    for (gsize i = 0; i < G_N_ELEMENTS(shapes); i++, seed += 2) {
        int M = shapes[i].M, K = shapes[i].K, N = shapes[i].N;
        Problem p;
        problem_init(&p, M, K, N, dt, seed);
        float *y = g_new(float, (size_t)M *N);
        gemm_bf16_linear(y, p.x, &p.w, M, K, N);
        double r = worst_ratio(&p, y, M, K, N, TRUE);
        if (r > 1.0)
            g_error("%s M=%d K=%d N=%d: error %.3g of the bound", gemm_bf16_path_name(path), M, K,
                    N, r);
        worst = MAX(worst, r);
        g_free(y);
        problem_free(&p);
    }
    g_test_message("%s, %s weights: worst error %.3g of the derived bound",
                   gemm_bf16_path_name(path), dt == ST_BF16 ? "bf16" : "f32", worst);
    gemm_bf16_set_path(GEMM_BF16_AUTO);
}

static void test_portable(void)
{
    check_path(GEMM_BF16_PORTABLE, ST_BF16);
    check_path(GEMM_BF16_PORTABLE, ST_F32);
}

static void test_avx512bf16(void)
{
    check_path(GEMM_BF16_AVX512BF16, ST_BF16);
    check_path(GEMM_BF16_AVX512BF16, ST_F32);
}

static void test_amx(void)
{
    check_path(GEMM_BF16_AMX, ST_BF16);
    check_path(GEMM_BF16_AMX, ST_F32);
}

/* Worst |c - ref| / bound of c = c0 + 0.5 · a · Bᵀ: the bound of the header plus one rounding
 * of the final addition. */
static double tile_worst(const float *c, const float *c0, int ldc, const float *a, int lda,
                         const float *b, int ldb, int kn, int M, int K, int N)
{
    double worst = 0.0;
    for (int m = 0; m < M; m++)
        for (int n = 0; n < N; n++) {
            double ref = 0.0, mag = 0.0;
            for (int k = 0; k < K; k++) {
                double p = (double)bf16_round(a[(size_t)m * lda + k]) *
                           bf16_round(kn ? b[(size_t)k * ldb + n] : b[(size_t)n * ldb + k]);
                ref += p;
                mag += fabs(p);
            }
            ref = c0[(size_t)m * ldc + n] + 0.5 * ref;
            double bound = (K + 3.0) * ldexp(1.0, -24) * (0.5 * mag + fabs(ref)) + 1e-30;
            worst = MAX(worst, fabs(c[(size_t)m * ldc + n] - ref) / bound);
        }
    return worst;
}

/* gemm_bf16_tile (attention's tiles) on the current path: B as rows [N, K] and as [K, N] read
 * transposed, strided operands, alpha, accumulation into c, within the derived bound; and the
 * operands packed once (gemm_bf16_pack_a/_b) give the same bits in each of two products. */
static void check_tile(int M, int K, int N)
{
    const int lda = K + 5, ldc = N + 1;
    for (int kn = 0; kn < 2; kn++) {
        const int ldb = kn ? N + 2 : K + 3, brows = kn ? K : N;
        float *a = g_new(float, (size_t)M *lda), *b = g_new(float, (size_t)brows *ldb);
        float *c = g_new(float, (size_t)M *ldc), *c0 = g_new(float, (size_t)M *ldc);
        float *cp = g_new(float, (size_t)M *ldc);
        guint16 *ap = g_malloc(gemm_bf16_pack_a_bytes(M, K));
        guint16 *bp = g_malloc(gemm_bf16_pack_b_bytes(N, K));
        tu_fill_random(a, (size_t)M * lda, 31);
        tu_fill_random(b, (size_t)brows * ldb, 32);
        tu_fill_random(c0, (size_t)M * ldc, 33);
        memcpy(c, c0, sizeof(float) * M * ldc);
        gemm_bf16_tile(c, ldc, a, lda, b, ldb, kn, M, K, N, 0.5f, TRUE);
        double worst = tile_worst(c, c0, ldc, a, lda, b, ldb, kn, M, K, N);
        g_test_message("tile %s %dx%dx%d, B %s: worst error %.3g of the derived bound",
                       gemm_bf16_path_name(gemm_bf16_path()), M, K, N, kn ? "[K, N]" : "[N, K]",
                       worst);
        g_assert_cmpfloat(worst, <=, 1.0);
        gemm_bf16_pack_a(ap, a, lda, M, K);
        gemm_bf16_pack_b(bp, b, ldb, kn, N, K);
        for (int use = 0; use < 2; use++) {
            memcpy(cp, c0, sizeof(float) * M * ldc);
            gemm_bf16_tile_packed(cp, ldc, ap, bp, M, K, N, 0.5f, TRUE);
            g_assert_cmpmem(cp, sizeof(float) * M * ldc, c, sizeof(float) * M * ldc);
        }
        g_free(a), g_free(b), g_free(c), g_free(c0), g_free(cp), g_free(ap), g_free(bp);
    }
}

static void test_tile(void)
{
    const GemmBf16Path paths[] = {GEMM_BF16_PORTABLE, GEMM_BF16_AVX512BF16, GEMM_BF16_AMX};
    for (gsize pi = 0; pi < G_N_ELEMENTS(paths); pi++) {
        if (!gemm_bf16_set_path(paths[pi])) continue;
        check_tile(70, 130, 300);
        check_tile(40, 2100, 300); /* two k blocks of the packed B, two panels */
    }
    gemm_bf16_set_path(GEMM_BF16_AUTO);
}

/* Quantised weights (what `fast` multiplies for Q8_0 / Q4_0 files above the int8 kernel's
 * rows): each packed row is the exact dequantised value rounded to bf16, on every path. Blocks
 * of random bytes with a valid f16 scale in [2⁻⁴, 1); K = 544 spans two k blocks of 512. */
static void test_quantised(void)
{
    const struct {
        StDtype dt;
        int bytes;
    } types[] = {{ST_Q8_0, 34}, {ST_Q4_0, 18}};
    const GemmBf16Path paths[] = {GEMM_BF16_PORTABLE, GEMM_BF16_AVX512BF16, GEMM_BF16_AMX};
    const int M = 70, K = 544, N = 65, nb = N * K / 32;
    GRand *r = g_rand_new_with_seed(5);
    for (gsize t = 0; t < G_N_ELEMENTS(types); t++) {
        guint8 *q = g_malloc((size_t)nb * types[t].bytes);
        for (int b = 0; b < nb; b++) {
            guint8 *blk = q + (size_t)b * types[t].bytes;
            guint16 h = (guint16)(g_rand_int_range(r, 11, 15) << 10 | g_rand_int_range(r, 0, 1024));
            blk[0] = (guint8)(h & 0xff), blk[1] = (guint8)(h >> 8);
            for (int j = 2; j < types[t].bytes; j++) blk[j] = (guint8)g_rand_int_range(r, 0, 256);
        }
        StTensor w = {.name = "w",
                      .dtype = types[t].dt,
                      .ndim = 2,
                      .shape = {N, K},
                      .numel = (int64_t)N * K,
                      .data = q,
                      .nbytes = (size_t)nb * types[t].bytes};
        Problem p = {0};
        p.x = g_new(float, (size_t)M *K);
        p.xr = g_new(float, (size_t)M *K);
        p.wf = g_new(float, (size_t)N *K);
        p.wr = g_new(float, (size_t)N *K);
        tu_fill_random(p.x, (size_t)M * K, 41);
        for (size_t i = 0; i < (size_t)M * K; i++) p.xr[i] = bf16_round(p.x[i]);
        quant_dequantize(types[t].dt, q, p.wf, (int64_t)N * K);
        for (size_t i = 0; i < (size_t)N * K; i++) p.wr[i] = bf16_round(p.wf[i]);
        float *y = g_new(float, (size_t)M *N);
        for (gsize pi = 0; pi < G_N_ELEMENTS(paths); pi++) {
            if (!gemm_bf16_set_path(paths[pi])) continue;
            gemm_bf16_linear(y, p.x, &w, M, K, N);
            double ra = worst_ratio(&p, y, M, K, N, TRUE), rb = worst_ratio(&p, y, M, K, N, FALSE);
            g_test_message("%s %s weights: worst %.3g of the bound on the rounded operands, %.3g "
                           "of the bf16 bound against the exact dequantised weights",
                           gemm_bf16_path_name(paths[pi]), types[t].dt == ST_Q8_0 ? "Q8_0" : "Q4_0",
                           ra, rb);
            g_assert_cmpfloat(ra, <=, 1.0);
            g_assert_cmpfloat(rb, <=, 1.0);
        }
        gemm_bf16_set_path(GEMM_BF16_AUTO);
        g_free(y), g_free(q), g_free(p.x), g_free(p.xr), g_free(p.wf), g_free(p.wr);
    }
    g_rand_free(r);
}

/* ops_linear: under float32 the exact float32 math (the 1e-5 of the float path), under fast
 * exactly gemm_bf16_linear's result (plus the bias) where a native path runs, within the
 * derived bf16 bound of the unrounded math; a per-tensor scale multiplies the result. */
static void test_ops_linear_precision(void)
{
    const int M = 70, K = 1030, N = 130;
    Problem p;
    problem_init(&p, M, K, N, ST_BF16, 7);
    /* ops_linear's float32 path reads bf16 as guint16: give it an aligned copy (UBSan) */
    guint16 *aligned = g_new(guint16, (size_t)N * K);
    memcpy(aligned, p.w.data, (size_t)N * K * 2);
    p.w.data = aligned;
    float *bias = g_new0(float, N);
    float *yg = g_new(float, (size_t)M *N), *yf = g_new(float, (size_t)M *N);
    float *y32 = g_new(float, (size_t)M *N), *ys = g_new(float, (size_t)M *N);
    const OpsPrecision saved = ops_precision();
    ops_precision_set(OPS_PRECISION_FLOAT32);
    ops_linear(y32, p.x, &p.w, NULL, M, K, N);
    float *ref = g_new(float, (size_t)M *N);
    ops_linear_naive(ref, p.x, &p.w, NULL, M, K, N);
    tu_assert_close("float32 ops_linear vs naive", y32, ref, (size_t)M * N, 1e-5);
    ops_precision_set(OPS_PRECISION_FAST);
    for (int n = 0; n < N; n++) bias[n] = 0.125f * n;
    ops_linear(yf, p.x, &p.w, bias, M, K, N);
    gemm_bf16_linear(yg, p.x, &p.w, M, K, N);
    if (gemm_bf16_native()) {
        for (int m = 0; m < M; m++)
            for (int n = 0; n < N; n++)
                g_assert_cmpfloat(yf[m * N + n], ==, yg[m * N + n] + bias[n]);
        g_test_message("fast vs unrounded math: worst %.3g of the bf16 bound",
                       worst_ratio(&p, yg, M, K, N, FALSE));
    } else
        g_test_message("no native bf16 path: fast runs the float32 code here");
    g_assert_cmpfloat(worst_ratio(&p, yg, M, K, N, FALSE), <=, 1.0);
    p.w.scale = 0.5f; /* (now st_to_f32 converts the bf16: the same values, halved) */
    gemm_bf16_linear(ys, p.x, &p.w, M, K, N);
    for (size_t i = 0; i < (size_t)M * N; i++) g_assert_cmpfloat(ys[i], ==, 0.5f * yg[i]);
    ops_precision_set(saved);
    g_free(yg), g_free(yf), g_free(y32), g_free(ys), g_free(ref), g_free(bias), g_free(aligned);
    problem_free(&p);
}

/* gemm_bf16_round is round-to-nearest-even, as torch's .to(torch.bfloat16). */
static void test_round(void)
{
    float v[4096];
    tu_fill_random(v, 4096, 3);
    const float special[] = {
        0.0f,       -0.0f,         INFINITY, -INFINITY,
        NAN,        3.4028235e38f, 1e-40f,   1.00390625f /* tie, to even (down) */,
        1.01171875f /* tie, to even (up) */};
    for (gsize i = 0; i < G_N_ELEMENTS(special); i++) v[i] = special[i];
    guint16 h[4096];
    gemm_bf16_round(h, v, 4096);
    for (int i = 0; i < 4096; i++) {
        if (isnan(v[i]))
            g_assert_true(isnan(bf16_value(h[i])));
        else
            g_assert_cmphex(h[i], ==, tu_bf16_rne(v[i]));
    }
    g_assert_cmphex(h[7], ==, 0x3f80);
    g_assert_cmphex(h[8], ==, 0x3f82);
}

static void test_paths(void)
{
    g_assert_true(gemm_bf16_set_path(GEMM_BF16_PORTABLE));
    g_assert_cmpstr(gemm_bf16_path_name(gemm_bf16_path()), ==, "portable");
    g_assert_false(gemm_bf16_set_path(GEMM_BF16_N_PATHS));
    g_assert_true(gemm_bf16_set_path(GEMM_BF16_AUTO));
    g_assert_cmpint(gemm_bf16_path(), !=, GEMM_BF16_AUTO);
    g_assert_cmpstr(gemm_bf16_path_name(GEMM_BF16_N_PATHS), ==, "?");
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/gemm_bf16/round", test_round);
    g_test_add_func("/gemm_bf16/paths", test_paths);
    g_test_add_func("/gemm_bf16/portable", test_portable);
    g_test_add_func("/gemm_bf16/avx512bf16", test_avx512bf16);
    g_test_add_func("/gemm_bf16/amx", test_amx);
    g_test_add_func("/gemm_bf16/tile", test_tile);
    g_test_add_func("/gemm_bf16/quantised", test_quantised);
    g_test_add_func("/gemm_bf16/ops_linear_precision", test_ops_linear_precision);
    return g_test_run();
}
