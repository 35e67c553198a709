/* test_quant.c — GGML block dequantisation (core/quant.c) through st_to_f32.
 *
 * Round trip: tests/convert_checkpoint.py quantises random rows (6 × 512, with all-zero and
 * positive-only blocks) into every block type and stores beside them numpy's dequantisation,
 * computed from the integer quants and scales before they were packed. The C fast path and
 * the C per-element reference must both equal it bit for bit (same float32 operations in
 * the same order, no FMA: the build uses -ffp-contract=off). Without python3 + numpy only the
 * round trip is skipped. */
#include "flux.h"
#include "gguf.h"
#include "quant.h"
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

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/quant/block-sizes", test_block_sizes);
    g_test_add_func("/quant/f16", test_f16);
    g_test_add_func("/quant/hand-blocks", test_hand_blocks);
    if (tu_python_with_numpy())
        g_test_add_func("/quant/roundtrip-numpy", test_roundtrip);
    else
        g_test_message("python3 with numpy not found: round trip skipped");
    return g_test_run();
}
