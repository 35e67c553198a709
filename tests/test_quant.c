/* test_quant.c — GGML block dequantisation (core/formats/quant.c) through st_to_f32, and the Q8_0
 * integer dot-product kernel (core/compute/quant_dot.c).
 *
 * Round trip: tests/convert_checkpoint.py quantises random rows (6 × 512, with all-zero and
 * positive-only blocks) into every block type and stores beside them numpy's dequantisation,
 * computed from the integer quants and scales before they were packed. The C fast path and
 * the C per-element reference must both equal it bit for bit (same float32 operations in
 * the same order, no FMA: the build uses -ffp-contract=off). Without python3 + numpy only the
 * round trip is skipped. */
#include "flux.h"
#include "gguf.h"
#include "ops.h"
#include "precision.h"
#include "quant.h"
#include "quant_dot.h"
#include "testutil.h"

#include <math.h>
#include <string.h>

static const StDtype block_types[] = {ST_Q8_0, ST_Q4_0, ST_Q4_1, ST_Q5_0,
                                      ST_Q5_1, ST_Q4_K, ST_Q5_K, ST_Q6_K};

/* ------------------------------------------------------------------------------------- */
/* The python converter (tu_python_with_numpy runs it)                                  */

/* tests/convert_checkpoint.py, found from this source file's path (relative to the build
 * root, where meson runs the tests, or absolute). */
static char *converter_script(void)
{
    g_autofree char *dir = g_path_get_dirname(__FILE__);
    return g_build_filename(dir, "convert_checkpoint.py", NULL);
}

static const char *converted(void)
{
    static char *dir;
    if (dir) return dir;
    dir = tu_temp_dir();
    g_autofree char *script = converter_script();
    g_autofree char *model = tu_model_path(NULL);
    const char *argv[] = {tu_python_with_numpy(), script, model, dir, NULL};
    gint status;
    g_autofree char *err = NULL;
    GError *e = NULL;
    g_assert_true(g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_STDOUT_TO_DEV_NULL, NULL, NULL,
                               NULL, &err, &status, &e));
    g_assert_no_error(e);
    if (!g_spawn_check_wait_status(status, NULL)) g_error("convert_checkpoint.py failed:\n%s", err);
    return dir;
}

/* ------------------------------------------------------------------------------------- */

static gboolean same_bits(float a, float b)
{
    return memcmp(&a, &b, 4) == 0;
}

static void test_roundtrip(void)
{
    g_autofree char *p = g_build_filename(converted(), "quant_roundtrip.gguf", NULL);
    GError *err = NULL;
    StArchive *a = gguf_open(p, &err);
    g_assert_no_error(err);
    for (gsize k = 0; k < G_N_ELEMENTS(block_types); k++) {
        StDtype dt = block_types[k];
        g_autofree char *rn = g_strdup_printf("rt.%s", st_dtype_name(dt));
        g_autofree char *fn = g_strdup_printf("ref.%s", st_dtype_name(dt));
        g_autofree char *sn = g_strdup_printf("src.%s", st_dtype_name(dt));
        StTensor *q = st_archive_find(a, rn), *ref = st_archive_find(a, fn),
                 *src = st_archive_find(a, sn);
        g_assert_nonnull(q);
        g_assert_cmpint(q->dtype, ==, dt);
        size_t n = (size_t)q->numel;
        float *fast = g_new(float, n), *naive = g_new(float, n), *want = tu_f32(ref),
              *x = tu_f32(src);
        st_to_f32(fast, q, 0, q->numel);
        quant_dequantize_ref(dt, q->data, naive, q->numel);
        double err_max = 0, amax = 0;
        for (size_t i = 0; i < n; i++) {
            if (!same_bits(fast[i], want[i]) || !same_bits(naive[i], want[i]))
                g_error("%s element %zu: fast %.9g naive %.9g numpy %.9g", rn, i, fast[i], naive[i],
                        want[i]);
            err_max = fmax(err_max, fabs(fast[i] - x[i]));
            amax = fmax(amax, fabs(x[i]));
        }
        /* a row start in the middle: st_to_f32 of row 3 equals that part of the whole */
        int64_t K = q->shape[1];
        st_to_f32(naive, q, 3 * K, 2 * K);
        g_assert_cmpmem(naive, 2 * K * 4, fast + 3 * K, 2 * K * 4);
        g_test_message("%s: equal to numpy for %zu elements; quantisation error max %.3g "
                       "(%.3g of max|x|)",
                       rn, n, err_max, err_max / amax);
        g_free(fast), g_free(naive), g_free(want), g_free(x);
    }
    st_archive_free(a);
}

/* Blocks written by hand from the layout (independent of the python writer). */
static void test_hand_blocks(void)
{
    guint8 q8[34] = {0x00, 0x3c}; /* d = 1.0 */
    for (int j = 0; j < 32; j++) q8[2 + j] = (guint8)(gint8)(j - 20);
    float y[256];
    quant_dequantize(ST_Q8_0, q8, y, 32);
    for (int j = 0; j < 32; j++) g_assert_cmpfloat(y[j], ==, (float)(j - 20));

    guint8 q4[18] = {0x00, 0x40}; /* d = 2.0; byte j: low nibble j, high nibble 15 - j */
    for (int j = 0; j < 16; j++) q4[2 + j] = (guint8)(j | (15 - j) << 4);
    quant_dequantize(ST_Q4_0, q4, y, 32);
    for (int j = 0; j < 16; j++) {
        g_assert_cmpfloat(y[j], ==, 2.0f * (float)(j - 8));
        g_assert_cmpfloat(y[j + 16], ==, 2.0f * (float)(7 - j));
    }

    guint8 q5[22] = {0x00, 0x3c, 0x01, 0x00, 0x00, 0x80}; /* qh bits 0 and 31 set */
    quant_dequantize(ST_Q5_0, q5, y, 32);
    g_assert_cmpfloat(y[0], ==, 0.0f);   /* 0 | 16 - 16 */
    g_assert_cmpfloat(y[1], ==, -16.0f); /* 0 - 16 */
    g_assert_cmpfloat(y[31], ==, 0.0f);

    /* Q4_K: sub-block 5 gets scale 1 + 16·(top bits in byte 1) and min from byte 9's high
     * nibble; everything else zero. d = 1, dmin = 0.5. */
    guint8 k4[144] = {0x00, 0x3c, 0x00, 0x38};
    k4[4 + 1] = 1u << 6;                                   /* top 2 bits of sc5 = 1 → +16 */
    k4[4 + 9] = 0x2 << 4 | 0x1;                            /* sc5 low = 1, m5 low = 2 */
    for (int l = 0; l < 32; l++) k4[16 + 64 + l] = 3 << 4; /* group 2, high nibble: sub-block 5 */
    quant_dequantize(ST_Q4_K, k4, y, 256);
    for (int j = 0; j < 256; j++) {
        float want = (j >= 160 && j < 192) ? 17.0f * 3.0f - 0.5f * 2.0f : 0.0f;
        g_assert_cmpfloat(y[j], ==, want);
    }
    float r[256];
    quant_dequantize_ref(ST_Q4_K, k4, r, 256);
    g_assert_cmpmem(r, sizeof r, y, sizeof y);
}

/* quant's half decoder against safetensors.c's (independent code) on all 65536 values. */
static void test_f16(void)
{
    static guint16 h[65536];
    static float f[65536];
    for (int i = 0; i < 65536; i++) h[i] = (guint16)i;
    StTensor t = {.dtype = ST_F16, .ndim = 1, .shape = {65536}, .numel = 65536, .data = h};
    st_to_f32(f, &t, 0, 65536);
    for (int i = 0; i < 65536; i++) {
        float q = quant_f16_to_f32((guint16)i);
        g_assert_true(same_bits(q, f[i]) || (isnan(q) && isnan(f[i])));
    }
}

static void test_block_sizes(void)
{
    int blk;
    size_t bytes;
    uint64_t nb;
    g_assert_true(st_dtype_block(ST_Q6_K, &blk, &bytes) && blk == 256 && bytes == 210);
    g_assert_true(st_dtype_block(ST_F32, &blk, &bytes) && blk == 1 && bytes == 4);
    g_assert_false(st_dtype_block(ST_N_DTYPES, &blk, &bytes));
    g_assert_true(st_dtype_nbytes(ST_Q4_0, 3072 * 3072, &nb) && nb == 3072 * 3072 / 32 * 18);
    g_assert_false(st_dtype_nbytes(ST_Q4_K, 3072 + 32, &nb));
    g_assert_false(st_dtype_nbytes(ST_Q8_0, G_MAXUINT64 - 31, &nb)); /* overflow */
    g_assert_cmpuint(st_dtype_size(ST_Q8_0), ==, 0);
    g_assert_true(st_dtype_is_float(ST_Q5_K));
    g_assert_cmpint(gguf_ggml_type(ST_Q6_K), ==, 14);
    g_assert_cmpint(gguf_ggml_type(ST_BOOL), ==, -1);
    /* a scaled tensor: st_to_f32 multiplies after conversion */
    guint8 e4m3[2] = {0x38, 0xb8}; /* 1.0, -1.0 */
    StTensor t = {
        .dtype = ST_F8_E4M3, .ndim = 1, .shape = {2}, .numel = 2, .data = e4m3, .scale = 0.25f};
    float y[2];
    st_to_f32(y, &t, 0, 2);
    g_assert_cmpfloat(y[0], ==, 0.25f);
    g_assert_cmpfloat(y[1], ==, -0.25f);
}

/* ------------------------------------------------------------------------------------- */
/* Q8_0 integer dot products                                                             */

/* A random Q8_0 matrix [N, K]: quants uniform over all 256 int8 values, d a positive half
 * with exponent 1..18 (2^-14 .. 2^3), some blocks' d zero. */
static guint8 *random_q8(GRand *r, int N, int K)
{
    size_t nblk = (size_t)N * K / 32;
    guint8 *w = g_malloc(nblk * 34);
    for (size_t i = 0; i < nblk; i++) {
        guint8 *b = w + i * 34;
        guint16 h = (guint16)(g_rand_int_range(r, 1, 19) << 10 | g_rand_int_range(r, 0, 1024));
        if (g_rand_int_range(r, 0, 50) == 0) h = 0;
        b[0] = (guint8)(h & 0xff), b[1] = (guint8)(h >> 8);
        for (int j = 0; j < 32; j++) b[2 + j] = (guint8)g_rand_int_range(r, 0, 256);
    }
    return w;
}

/* x [M, K]: each 32-block scaled by 2^e, e in -8..8; every 7th block zero. */
static float *random_x(GRand *r, int M, int K)
{
    float *x = g_new(float, (size_t)M *K);
    for (size_t b = 0; b < (size_t)M * K / 32; b++) {
        float s = ldexpf(1.0f, g_rand_int_range(r, -8, 9)) * (b % 7 == 3 ? 0.0f : 1.0f);
        for (int j = 0; j < 32; j++) x[b * 32 + j] = s * (float)g_rand_double_range(r, -1, 1);
    }
    return x;
}

static StTensor q8_tensor(const guint8 *w, int N, int K)
{
    return (StTensor){.name = "w",
                      .dtype = ST_Q8_0,
                      .ndim = 2,
                      .shape = {N, K},
                      .numel = (int64_t)N * K,
                      .data = w,
                      .nbytes = (size_t)N * K / 32 * 34};
}

/* quant_dot_linear on the forced path p (which must run here). */
static float *qdot_on(QdotPath p, const float *x, const StTensor *w, int M, int K, int N)
{
    g_assert_true(quant_dot_set_path(p));
    float *y = g_new(float, (size_t)M *N);
    quant_dot_linear(y, x, w, M, K, N);
    g_assert_true(quant_dot_set_path(QDOT_AUTO));
    return y;
}

/* Bound on |y - Σ x·w| from quant_dot.h's derivation, per output: rounding x to the block grid
 * errs by at most dx·(1/2 + 127·2u) per element (the x·(1/dx) product and 1/dx are each
 * rounded once); the float combination of nb terms adds at most (nb + 2)·u·Σ|term|. */
static double qdot_bound(const float *xr, const float *wf, const guint8 *wq, int K)
{
    const double u = ldexp(1.0, -24);
    int nb = K / 32;
    float d[4096 / 32 * 4];
    gint8 q[4096 * 4];
    g_assert_cmpint(K, <=, 4096 * 4);
    quant_dot_quantize_row(xr, K, q, d);
    double bound = 0, terms = 0;
    for (int b = 0; b < nb; b++) {
        double aw = 0, s = 0;
        for (int j = 0; j < 32; j++) {
            aw += fabs(wf[b * 32 + j]);
            s += (double)q[b * 32 + j] * (gint8)wq[b * 34 + 2 + j];
        }
        bound += d[b] * (0.5 + 254 * u) * aw;
        terms += fabs(s * d[b] * quant_f16_to_f32((guint16)(wq[b * 34] | wq[b * 34 + 1] << 8)));
    }
    return bound + (nb + 2) * 1.01 * u * terms;
}

static void check_sizes(GRand *r, int M, int K, int N)
{
    guint8 *wq = random_q8(r, N, K);
    float *x = random_x(r, M, K), *wf = g_new(float, (size_t)N *K);
    StTensor w = q8_tensor(wq, N, K);
    quant_dequantize(ST_Q8_0, wq, wf, (int64_t)N * K);
    float *ref = qdot_on(QDOT_PORTABLE, x, &w, M, K, N);
    /* against the exact product */
    double worst = 0, err_max = 0, ymax = 0;
    size_t row_bytes = (size_t)K / 32 * 34;
    for (int m = 0; m < M; m++)
        for (int n = 0; n < N; n++) {
            double exact = 0;
            for (int k = 0; k < K; k++)
                exact += (double)x[(size_t)m * K + k] * wf[(size_t)n * K + k];
            double err = fabs(ref[(size_t)m * N + n] - exact);
            double bound = qdot_bound(x + (size_t)m * K, wf + (size_t)n * K, wq + n * row_bytes, K);
            if (err > bound)
                g_error("M=%d K=%d N=%d y[%d,%d] = %.9g, exact %.9g: error %.3g > bound %.3g", M, K,
                        N, m, n, ref[(size_t)m * N + n], exact, err, bound);
            if (bound > 0) worst = fmax(worst, err / bound);
            err_max = fmax(err_max, err);
            ymax = fmax(ymax, fabs(exact));
        }
    /* every SIMD path that runs here: the portable path's bits */
    static const QdotPath simd[] = {QDOT_AVX2, QDOT_VNNI, QDOT_AVX_VNNI};
    GString *ran = g_string_new("portable");
    for (gsize i = 0; i < G_N_ELEMENTS(simd); i++) {
        if (!quant_dot_set_path(simd[i])) continue;
        float *y = qdot_on(simd[i], x, &w, M, K, N);
        for (size_t e = 0; e < (size_t)M * N; e++)
            if (!same_bits(y[e], ref[e]))
                g_error("%s M=%d K=%d N=%d element %zu: %.9g, portable %.9g",
                        quant_dot_path_name(simd[i]), M, K, N, e, y[e], ref[e]);
        g_string_append_printf(ran, ", %s", quant_dot_path_name(simd[i]));
        g_free(y);
    }
    g_test_message("M=%d K=%d N=%d: paths %s bit-identical; error vs exact max %.3g (%.3g of "
                   "max|y|), at most %.2f of the bound",
                   M, K, N, ran->str, err_max, err_max / ymax, worst);
    g_string_free(ran, TRUE);
    g_free(wq), g_free(x), g_free(wf), g_free(ref);
}

static void test_qdot_sizes(void)
{
    GRand *r = g_rand_new_with_seed(g_test_rand_int());
    static const int Ms[] = {1, 3, 4, 5, 17}, Ns[] = {1, 7, 13, 37}, Ks[] = {32, 96, 544};
    for (gsize a = 0; a < G_N_ELEMENTS(Ms); a++)
        for (gsize b = 0; b < G_N_ELEMENTS(Ns); b++)
            for (gsize c = 0; c < G_N_ELEMENTS(Ks); c++) check_sizes(r, Ms[a], Ks[c], Ns[b]);
    check_sizes(r, 70, 3072, 40);      /* FLUX's width */
    check_sizes(r, 9, 12288 + 32, 11); /* wider than FLUX's MLP */
    g_rand_free(r);
}

/* Enough rows of x that the driver walks them in several chunks (512 KiB of int8 each) and
 * splits the tiles over the pool. */
static void test_qdot_chunks(void)
{
    GRand *r = g_rand_new_with_seed(g_test_rand_int());
    int M = 45, K = 16384, N = 21; /* chunks of 32 rows */
    guint8 *wq = random_q8(r, N, K);
    float *x = random_x(r, M, K);
    StTensor w = q8_tensor(wq, N, K);
    float *ref = qdot_on(QDOT_PORTABLE, x, &w, M, K, N);
    /* each row on its own gives the same bits (no dependence on the chunking) */
    float *row = g_new(float, N);
    for (int m = 0; m < M; m++) {
        g_assert_true(quant_dot_set_path(QDOT_PORTABLE));
        quant_dot_linear(row, x + (size_t)m * K, &w, 1, K, N);
        g_assert_cmpmem(row, N * 4, ref + (size_t)m * N, N * 4);
    }
    g_assert_true(quant_dot_set_path(QDOT_AUTO));
    float *y = qdot_on(quant_dot_path(), x, &w, M, K, N);
    g_assert_cmpmem(y, (size_t)M * N * 4, ref, (size_t)M * N * 4);
    g_free(wq), g_free(x), g_free(ref), g_free(row), g_free(y);
    g_rand_free(r);
}

/* Quantisation of a row: ggml's rule (d = max|x|/127, q = round half away from zero). */
static void test_qdot_quantize(void)
{
    float x[64] = {0}, d[2];
    gint8 q[64];
    x[0] = 127.0f, x[1] = -63.5f, x[2] = 0.49f, x[3] = -127.0f, x[4] = 1.5f;
    x[32 + 5] = INFINITY; /* second block: not finite */
    quant_dot_quantize_row(x, 64, q, d);
    g_assert_cmpfloat(d[0], ==, 1.0f);
    g_assert_cmpint(q[0], ==, 127);
    g_assert_cmpint(q[1], ==, -64); /* half away from zero */
    g_assert_cmpint(q[2], ==, 0);
    g_assert_cmpint(q[3], ==, -127);
    g_assert_cmpint(q[4], ==, 2);
    g_assert_true(isnan(d[1]));
    for (int j = 32; j < 64; j++) g_assert_cmpint(q[j], ==, 0);
    float z[32] = {0};
    quant_dot_quantize_row(z, 32, q, d);
    g_assert_cmpfloat(d[0], ==, 0.0f);

    /* a NaN block makes the outputs NaN on every path, like the float product */
    GRand *r = g_rand_new_with_seed(7);
    guint8 *wq = random_q8(r, 9, 64);
    StTensor w = q8_tensor(wq, 9, 64);
    static const QdotPath paths[] = {QDOT_PORTABLE, QDOT_AVX2, QDOT_VNNI, QDOT_AVX_VNNI};
    for (gsize i = 0; i < G_N_ELEMENTS(paths); i++) {
        if (!quant_dot_set_path(paths[i])) continue;
        float y[9];
        quant_dot_linear(y, x, &w, 1, 64, 9);
        for (int n = 0; n < 9; n++) g_assert_true(isnan(y[n]));
    }
    g_assert_true(quant_dot_set_path(QDOT_AUTO));
    g_assert_false(quant_dot_set_path((QdotPath)99));
    g_assert_cmpint(quant_dot_path(), !=, QDOT_AUTO);
    g_test_message("detected path: %s", quant_dot_path_name(quant_dot_path()));
    g_free(wq);
    g_rand_free(r);
}

/* Under `fast` ops_linear takes the integer path for Q8_0 up to QDOT_MAX_M rows (same bits as
 * quant_dot_linear plus the bias); under float32 (and above QDOT_MAX_M rows in float32) the
 * dequantising path (float-exact products). */
static void test_qdot_ops_linear(void)
{
    GRand *r = g_rand_new_with_seed(g_test_rand_int());
    int K = 256, N = 19, M = QDOT_MAX_M + 1;
    guint8 *wq = random_q8(r, N, K);
    float *x = random_x(r, M, K), *bias = g_new(float, N), *wf = g_new(float, (size_t)N *K);
    for (int n = 0; n < N; n++) bias[n] = (float)n - 9.5f;
    StTensor w = q8_tensor(wq, N, K);
    quant_dequantize(ST_Q8_0, wq, wf, (int64_t)N * K);
    float *y = g_new(float, (size_t)M *N), *q = g_new(float, (size_t)M *N);
    static const int rows[] = {1, 5, QDOT_MAX_M};
    const OpsPrecision saved = ops_precision();
    ops_precision_set(OPS_PRECISION_FAST);
    for (gsize i = 0; i < G_N_ELEMENTS(rows); i++) {
        ops_linear(y, x, &w, bias, rows[i], K, N);
        quant_dot_linear(q, x, &w, rows[i], K, N);
        for (int e = 0; e < rows[i] * N; e++) q[e] += bias[e % N];
        g_assert_cmpmem(y, (size_t)rows[i] * N * 4, q, (size_t)rows[i] * N * 4);
    }
    ops_precision_set(OPS_PRECISION_FLOAT32);
    ops_linear(y, x, &w, bias, M, K, N);
    double d = 0; /* error over the float32 summation bound K·u·(Σ|x·w| + |b|) */
    for (int m = 0; m < M; m++)
        for (int n = 0; n < N; n++) {
            double exact = bias[n], mag = fabs(bias[n]);
            for (int k = 0; k < K; k++) {
                exact += (double)x[m * K + k] * wf[n * K + k];
                mag += fabs((double)x[m * K + k] * wf[n * K + k]);
            }
            d = fmax(d, fabs(y[m * N + n] - exact) / (K * ldexp(1.0, -24) * mag));
        }
    g_assert_cmpfloat(d, <=, 1.0);
    ops_precision_set(saved);
    g_free(wq), g_free(x), g_free(bias), g_free(wf), g_free(y), g_free(q);
    g_rand_free(r);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/quant/block-sizes", test_block_sizes);
    g_test_add_func("/quant/f16", test_f16);
    g_test_add_func("/quant/hand-blocks", test_hand_blocks);
    g_test_add_func("/quant/dot/quantize", test_qdot_quantize);
    g_test_add_func("/quant/dot/sizes", test_qdot_sizes);
    g_test_add_func("/quant/dot/chunks", test_qdot_chunks);
    g_test_add_func("/quant/dot/ops-linear", test_qdot_ops_linear);
    if (tu_python_with_numpy())
        g_test_add_func("/quant/roundtrip-numpy", test_roundtrip);
    else
        g_test_message("python3 with numpy not found: round trip skipped");
    return g_test_run();
}
