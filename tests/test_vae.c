/* test_vae.c — the AutoencoderKL decoder (core/models/vae.c) against the golden tensors of the tiny
 * model: golden/vae.safetensors (64×64 and 48×80, decoder intermediates through the trace hook)
 * and the pipeline goldens (their `vae_input` must give `vae_decoded`, `image` and, to ±1,
 * `image_u8`), the post-processing rounding, bf16 weights, post_quant_conv, config variants and
 * the error paths. */
#include "flux.h"
#include "testutil.h"
#include "vae.h"

#include <json-glib/json-glib.h>
#include <math.h>
#include <string.h>
#include <unistd.h>

/* README §3: max|diff| <= 1e-4 · max(1, max|ref|); the measured float32 noise of `decoded`
 * is 1.0e-6. */
#define TOL 1e-4

static char *vae_dir(void)
{
    g_autofree char *rel = tu_model_path("vae");
    return g_canonicalize_filename(rel, NULL);
}

static VaeModel *load_ok(const char *dir)
{
    GError *err = NULL;
    VaeModel *m = tu_vae_dir(dir, &err);
    g_assert_no_error(err);
    g_assert_nonnull(m);
    return m;
}

/* Decodes latents [C, h, w] (a golden tensor [1, C, h, w]); caller frees. */
static float *decode_ok(const VaeModel *m, const StTensor *lat, const FluxTrace *trace)
{
    g_assert_cmpint(lat->ndim, ==, 4);
    g_assert_cmpint(lat->shape[1], ==, vae_latent_channels(m));
    int h = (int)lat->shape[2], w = (int)lat->shape[3], up = vae_upscale(m);
    g_autofree float *z = tu_f32(lat);
    float *out = g_new(float, (size_t)vae_out_channels(m) * h * up * w * up);
    GError *err = NULL;
    g_assert_true(vae_decode(m, z, h, w, out, trace, &err));
    g_assert_no_error(err);
    return out;
}

/* ------------------------------------------------------------------------------------- */
/* Golden decodes                                                                        */

static void test_config(void)
{
    g_autofree char *dir = vae_dir();
    VaeModel *m = load_ok(dir);
    g_assert_cmpint(vae_latent_channels(m), ==, 16);
    g_assert_cmpint(vae_out_channels(m), ==, 3);
    g_assert_cmpint(vae_upscale(m), ==, 8);
    g_assert_cmpfloat(vae_scaling_factor(m), ==, 0.3611f);
    g_assert_cmpfloat(vae_shift_factor(m), ==, 0.1159f);
    vae_free(m);
    vae_free(NULL); /* NULL-safe */
}

static double check_decode(const VaeModel *m, const char *size, const char *what, double tol)
{
    g_autofree char *lat = g_strdup_printf("vae_%s.latents_scaled", size);
    g_autofree char *dec = g_strdup_printf("vae_%s.decoded", size);
    g_autofree char *img = g_strdup_printf("vae_%s.image", size);
    StTensor *ref = tu_golden_tensor("vae.safetensors", dec);
    g_autofree float *out = decode_ok(m, tu_golden_tensor("vae.safetensors", lat), NULL);
    g_autofree char *l1 = g_strdup_printf("%s %s", what, dec);
    double rel = tu_assert_close_t(l1, out, ref, tol);
    int H = (int)ref->shape[2], W = (int)ref->shape[3];
    g_autofree float *rgb = g_new(float, (size_t)H *W * 3);
    vae_to_rgbf(out, H, W, rgb);
    g_autofree char *l2 = g_strdup_printf("%s %s", what, img);
    double rel_img = tu_assert_close_t(l2, rgb, tu_golden_tensor("vae.safetensors", img), tol);
    g_test_message("%s %s: decoded max diff %.3g (relative), image %.3g", what, size, rel, rel_img);
    return rel;
}

static void test_decode(void)
{
    g_autofree char *dir = vae_dir();
    VaeModel *m = load_ok(dir);
    check_decode(m, "64x64", "f32", TOL);
    check_decode(m, "48x80", "f32", TOL);
    vae_free(m);
}

typedef struct {
    int n_seen;
    const char *const *expect;
} TraceCheck;

/* Each intermediate is compared with debug.decoder.* as it is emitted, so a mismatch names the
 * first stage that goes wrong. */
static void check_trace(const char *name, FluxDtype dtype, int ndim, const int64_t *shape,
                        const void *data, void *user_data)
{
    TraceCheck *tc = user_data;
    g_assert_cmpint(dtype, ==, FLUX_DTYPE_F32);
    g_assert_cmpint(ndim, ==, 4);
    g_assert_nonnull(tc->expect[tc->n_seen]);
    g_assert_cmpstr(name, ==, tc->expect[tc->n_seen]);
    g_autofree char *ref = g_strdup_printf("vae_64x64.debug.%s", name);
    StTensor *t = tu_golden_tensor("vae.safetensors", ref);
    for (int d = 0; d < 4; d++) g_assert_cmpint(shape[d], ==, t->shape[d]);
    double rel = tu_assert_close_t(name, data, t, TOL);
    g_test_message("%s: relative max diff %.3g", name, rel);
    tc->n_seen++;
}

static void test_trace(void)
{
    static const char *const expect[] = {
        "decoder.conv_in",    "decoder.mid_block",  "decoder.up_block.0",    "decoder.up_block.1",
        "decoder.up_block.2", "decoder.up_block.3", "decoder.conv_norm_out", NULL};
    g_autofree char *dir = vae_dir();
    VaeModel *m = load_ok(dir);
    TraceCheck tc = {0, expect};
    FluxTrace trace = {check_trace, &tc};
    g_free(decode_ok(m, tu_golden_tensor("vae.safetensors", "vae_64x64.latents_scaled"), &trace));
    g_assert_cmpint(tc.n_seen, ==, 7);
    vae_free(m);
}

/* The pipeline goldens end to end from vae_input: decoded, the float image, and the 8-bit
 * image within ±1 (README: rounding at .5 boundaries). */
static void test_pipeline_images(void)
{
    static const char *const names[] = {"p64x64_s4", "p48x80_s3", "p56x72_s2_msl77",
                                        "p32x48_s2_truecfg"};
    g_autofree char *dir = vae_dir();
    VaeModel *m = load_ok(dir);
    for (gsize i = 0; i < G_N_ELEMENTS(names); i++) {
        g_autofree char *file = g_strdup_printf("pipeline_%s.safetensors", names[i]);
        StTensor *ref = tu_golden_tensor(file, "vae_decoded");
        StTensor *u8 = tu_golden_tensor(file, "image_u8");
        g_autofree float *out = decode_ok(m, tu_golden_tensor(file, "vae_input"), NULL);
        double rel = tu_assert_close_t(file, out, ref, TOL);
        int H = (int)ref->shape[2], W = (int)ref->shape[3];
        size_t n = (size_t)H * W * 3;
        g_assert_cmpuint(u8->numel, ==, n);
        g_autofree float *rgbf = g_new(float, n);
        vae_to_rgbf(out, H, W, rgbf);
        tu_assert_close_t("image", rgbf, tu_golden_tensor(file, "image"), TOL);
        g_autofree guint8 *rgb = g_new(guint8, n);
        vae_to_rgb8(out, H, W, rgb);
        const guint8 *want = u8->data;
        int off_by_one = 0;
        for (size_t k = 0; k < n; k++) {
            int d = abs((int)rgb[k] - (int)want[k]);
            g_assert_cmpint(d, <=, 1);
            off_by_one += d;
        }
        g_test_message("%s: decoded max diff %.3g (relative), image_u8 %d of %zu values off by "
                       "one",
                       names[i], rel, off_by_one, n);
    }
    vae_free(m);
}

/* ------------------------------------------------------------------------------------- */
/* Post-processing                                                                       */

/* The reference's own decoded tensor must give its image_u8 exactly: same float32 operations
 * (x / 2 + 0.5, clamp, · 255, round half to even). */
static void test_rgb8_rounding(void)
{
    static const char *const names[] = {"p64x64_s4", "p48x80_s3", "p56x72_s2_msl77",
                                        "p32x48_s2_truecfg"};
    for (gsize i = 0; i < G_N_ELEMENTS(names); i++) {
        g_autofree char *file = g_strdup_printf("pipeline_%s.safetensors", names[i]);
        StTensor *dec = tu_golden_tensor(file, "vae_decoded");
        StTensor *u8 = tu_golden_tensor(file, "image_u8");
        int H = (int)dec->shape[2], W = (int)dec->shape[3];
        g_autofree float *d = tu_f32(dec);
        g_autofree guint8 *rgb = g_new(guint8, (size_t)H * W * 3);
        vae_to_rgb8(d, H, W, rgb);
        g_assert_cmpmem(rgb, u8->nbytes, u8->data, u8->nbytes);
        g_autofree float *rgbf = g_new(float, (size_t)H *W * 3);
        vae_to_rgbf(d, H, W, rgbf);
        g_autofree float *img = tu_f32(tu_golden_tensor(file, "image"));
        g_assert_cmpmem(rgbf, sizeof(float) * H * W * 3, img, sizeof(float) * H * W * 3);
    }
    /* one pixel [3, 1, 1] at a time: 0 → 127.5 → 128 (half to even), 1/255 steps, limits */
    static const struct {
        float d;
        guint8 want;
    } cases[] = {{0.0f, 128},      {-1.0f, 0},   {1.0f, 255},       {-2.0f, 0},
                 {3.0f, 255},      {NAN, 0},     {INFINITY, 255},   {-INFINITY, 0},
                 {-0.9960784f, 1}, {0.99f, 254}, {-1.0f / 255, 127}};
    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        float d[3] = {cases[i].d, cases[i].d, cases[i].d};
        guint8 rgb[3];
        vae_to_rgb8(d, 1, 1, rgb);
        if (rgb[0] != cases[i].want)
            g_test_fail_printf("decoded %g → %u, expected %u", cases[i].d, rgb[0], cases[i].want);
    }
    /* layout: [3, H, W] planes → [H, W, 3] pixels */
    float planes[3 * 2] = {-1, 1, 0.0f, -1.0f, 1.0f, 1.0f};
    guint8 px[6];
    vae_to_rgb8(planes, 1, 2, px);
    g_assert_cmpmem(px, 6, ((guint8[]){0, 128, 255, 255, 0, 255}), 6);
}

/* ------------------------------------------------------------------------------------- */
/* Model variants in temporary folders                                                    */

static JsonNode *int_node(gint64 v)
{
    JsonNode *n = json_node_new(JSON_NODE_VALUE);
    json_node_set_int(n, v);
    return n;
}

static JsonNode *bool_node(gboolean v)
{
    JsonNode *n = json_node_new(JSON_NODE_VALUE);
    json_node_set_boolean(n, v);
    return n;
}

static JsonNode *string_node(const char *s)
{
    JsonNode *n = json_node_new(JSON_NODE_VALUE);
    json_node_set_string(n, s);
    return n;
}

static JsonNode *array_node(const char *json)
{
    return json_from_string(json, NULL);
}

typedef enum { W_F32, W_BF16, W_BF16_AS_F32 } WeightMode;

/* Rewrites the weights into <dst>: float32, bf16, or float32 holding the bf16-rounded values;
 * `extra` (may be NULL) adds tensors. */
static void write_weights(const char *src, const char *dst, WeightMode mode,
                          void (*extra)(StWriter *w))
{
    g_autofree char *in = g_build_filename(src, "diffusion_pytorch_model.safetensors", NULL);
    g_autofree char *out = g_build_filename(dst, "diffusion_pytorch_model.safetensors", NULL);
    StArchive *a = st_archive_open(in, NULL);
    g_assert_nonnull(a);
    StWriter *w = st_writer_new();
    for (gsize i = 0; i < st_archive_n_tensors(a); i++) {
        StTensor *t = st_archive_tensor(a, i);
        float *f = tu_f32(t);
        guint16 *h = g_new(guint16, t->numel);
        for (int64_t k = 0; mode != W_F32 && k < t->numel; k++) {
            h[k] = tu_bf16_rne(f[k]);
            guint32 u = (guint32)h[k] << 16;
            memcpy(&f[k], &u, 4);
        }
        st_writer_add(w, t->name, mode == W_BF16 ? ST_BF16 : ST_F32, t->ndim, t->shape,
                      mode == W_BF16 ? (const void *)h : (const void *)f);
        g_free(f);
        g_free(h);
    }
    if (extra) extra(w);
    g_assert_true(st_writer_save(w, out, NULL));
    st_writer_free(w);
    st_archive_free(a);
}

/* bf16 weights, converted tile by tile, give what float32 weights holding the same values
 * give (only summation order may differ). */
static void test_bf16_weights(void)
{
    g_autofree char *src = vae_dir();
    g_autofree char *d16 = tu_variant_dir(src, NULL, NULL);
    g_autofree char *d32 = tu_variant_dir(src, NULL, NULL);
    write_weights(src, d16, W_BF16, NULL);
    write_weights(src, d32, W_BF16_AS_F32, NULL);
    VaeModel *m16 = load_ok(d16), *m32 = load_ok(d32);
    StTensor *lat = tu_golden_tensor("vae.safetensors", "vae_48x80.latents_scaled");
    g_autofree float *a = decode_ok(m16, lat, NULL);
    g_autofree float *b = decode_ok(m32, lat, NULL);
    double rel = tu_assert_close("bf16 vs upcast f32 weights", a, b, 3 * 48 * 80, 1e-5);
    g_test_message("bf16 vs its float32 twin: %.3g", rel);
    vae_free(m16);
    vae_free(m32);
}

/* post_quant_conv = 1×1 with weight 2·I and bias 0.1·c, fed (z − 0.1·c) / 2: must reproduce
 * the golden decode of z (and bind the two tensors). */
static void add_post_quant(StWriter *w)
{
    float wt[16 * 16] = {0}, b[16];
    for (int c = 0; c < 16; c++) wt[c * 16 + c] = 2.0f, b[c] = 0.1f * c;
    st_writer_add(w, "post_quant_conv.weight", ST_F32, 4, (const int64_t[]){16, 16, 1, 1}, wt);
    st_writer_add(w, "post_quant_conv.bias", ST_F32, 1, (const int64_t[]){16}, b);
}

static void test_post_quant_conv(void)
{
    g_autofree char *src = vae_dir();
    TuCfgEdit on[] = {{"use_post_quant_conv", bool_node(TRUE)}, {NULL, NULL}};
    g_autofree char *dir = tu_variant_dir(src, on, NULL);
    write_weights(src, dir, W_F32, add_post_quant);
    VaeModel *m = load_ok(dir);
    StTensor *lat = tu_golden_tensor("vae.safetensors", "vae_64x64.latents_scaled");
    g_autofree float *z = tu_f32(lat);
    for (int c = 0; c < 16; c++)
        for (int i = 0; i < 64; i++) z[c * 64 + i] = (z[c * 64 + i] - 0.1f * c) / 2.0f;
    g_autofree float *out = g_new(float, 3 * 64 * 64);
    g_assert_true(vae_decode(m, z, 8, 8, out, NULL, NULL));
    tu_assert_close_t("post_quant_conv", out,
                      tu_golden_tensor("vae.safetensors", "vae_64x64.decoded"), TOL);
    vae_free(m);
}

/* Both halves are bound (the tiny model has no quant_conv, use_quant_conv being false as in
 * FLUX.1): nothing is left unused. */
static void test_unused(void)
{
    g_autofree char *dir = vae_dir();
    VaeModel *m = load_ok(dir);
    gsize n = vae_unused_tensors(m, NULL);
    g_assert_cmpuint(n, ==, 0);
    vae_free(m);

    /* without the mid-block attention, the 10 tensors of each half's become unused */
    TuCfgEdit no_attn[] = {{"mid_block_add_attention", bool_node(FALSE)}, {NULL, NULL}};
    g_autofree char *d2 = tu_variant_dir(dir, no_attn, "diffusion_pytorch_model.safetensors");
    m = load_ok(d2);
    g_assert_cmpuint(vae_unused_tensors(m, NULL), ==, n + 20);
    g_autofree float *out =
        decode_ok(m, tu_golden_tensor("vae.safetensors", "vae_64x64.latents_scaled"), NULL);
    for (int i = 0; i < 3 * 64 * 64; i++) g_assert_true(isfinite(out[i]));
    vae_free(m);
}

/* ------------------------------------------------------------------------------------- */
/* Errors                                                                                */

static void expect_load_error(const char *dir, int code, const char *const *needles)
{
    GError *err = NULL;
    g_assert_null(tu_vae_dir(dir, &err));
    tu_expect_error(&err, code, needles);
}

static void test_load_errors(void)
{
    g_autofree char *src = vae_dir();
    TuCfgEdit ch[] = {{"block_out_channels", array_node("[8, 16, 16, 32]")}, {NULL, NULL}};
    g_autofree char *d1 = tu_variant_dir(src, ch, "diffusion_pytorch_model.safetensors");
    expect_load_error(d1, FLUX_ERROR_MODEL,
                      (const char *const[]){"decoder.conv_in.weight", "[16, 16, 3, 3]",
                                            "expected [32, 16, 3, 3]", NULL});
    TuCfgEdit lat[] = {{"latent_channels", int_node(4)}, {NULL, NULL}};
    g_autofree char *d2 = tu_variant_dir(src, lat, "diffusion_pytorch_model.safetensors");
    expect_load_error(
        d2, FLUX_ERROR_MODEL,
        (const char *const[]){"decoder.conv_in.weight", "expected [16, 4, 3, 3]", NULL});
    TuCfgEdit groups[] = {{"norm_num_groups", int_node(3)}, {NULL, NULL}};
    g_autofree char *d3 = tu_variant_dir(src, groups, "diffusion_pytorch_model.safetensors");
    expect_load_error(d3, FLUX_ERROR_MODEL,
                      (const char *const[]){"norm_num_groups", "block_out_channels", NULL});
    TuCfgEdit layers[] = {{"layers_per_block", int_node(2)}, {NULL, NULL}};
    g_autofree char *d4 = tu_variant_dir(src, layers, "diffusion_pytorch_model.safetensors");
    expect_load_error(
        d4, FLUX_ERROR_MODEL,
        (const char *const[]){"decoder.up_blocks.0.resnets.2.norm1.weight", "missing", NULL});
    TuCfgEdit pq[] = {{"use_post_quant_conv", bool_node(TRUE)}, {NULL, NULL}};
    g_autofree char *d5 = tu_variant_dir(src, pq, "diffusion_pytorch_model.safetensors");
    expect_load_error(d5, FLUX_ERROR_MODEL,
                      (const char *const[]){"post_quant_conv.weight", "missing", NULL});
    TuCfgEdit act[] = {{"act_fn", string_node("gelu")}, {NULL, NULL}};
    g_autofree char *d6 = tu_variant_dir(src, act, "diffusion_pytorch_model.safetensors");
    expect_load_error(d6, FLUX_ERROR_UNSUPPORTED, (const char *const[]){"act_fn", "gelu", NULL});
    TuCfgEdit types[] = {
        {"up_block_types", array_node("[\"UpDecoderBlock2D\", "
                                      "\"AttnUpDecoderBlock2D\", "
                                      "\"UpDecoderBlock2D\", \"UpDecoderBlock2D\"]")},
        {NULL, NULL}};
    g_autofree char *d7 = tu_variant_dir(src, types, "diffusion_pytorch_model.safetensors");
    expect_load_error(d7, FLUX_ERROR_UNSUPPORTED,
                      (const char *const[]){"up_block_types", "AttnUpDecoderBlock2D", NULL});
    TuCfgEdit ntypes[] = {{"up_block_types", array_node("[\"UpDecoderBlock2D\"]")}, {NULL, NULL}};
    g_autofree char *d8 = tu_variant_dir(src, ntypes, "diffusion_pytorch_model.safetensors");
    expect_load_error(d8, FLUX_ERROR_MODEL, (const char *const[]){"up_block_types", NULL});
    TuCfgEdit none[] = {{NULL, NULL}};
    g_autofree char *d9 = tu_variant_dir(src, none, NULL);
    expect_load_error(d9, FLUX_ERROR_IO,
                      (const char *const[]){"diffusion_pytorch_model.safetensors", NULL});
    expect_load_error("/nonexistent/vae", FLUX_ERROR_IO,
                      (const char *const[]){"config.json", NULL});
}

static void test_decode_errors(void)
{
    g_autofree char *dir = vae_dir();
    VaeModel *m = load_ok(dir);
    float z[16], out[3 * 64];
    static const int sizes[][2] = {{0, 1}, {1, 0}, {-3, 2}, {FLUX_MAX_SIZE / 8 + 1, 1}};
    for (gsize i = 0; i < G_N_ELEMENTS(sizes); i++) {
        GError *err = NULL;
        g_assert_false(vae_decode(m, z, sizes[i][0], sizes[i][1], out, NULL, &err));
        g_assert_error(err, FLUX_ERROR, FLUX_ERROR_ARGUMENT);
        g_test_message("expected error: %s", err->message);
        g_error_free(err);
    }
    /* the smallest latent, 1×1 → 8×8 */
    for (int c = 0; c < 16; c++) z[c] = 0.1f * (float)c - 0.7f;
    g_assert_true(vae_decode(m, z, 1, 1, out, NULL, NULL));
    for (int i = 0; i < 3 * 64; i++) g_assert_true(isfinite(out[i]));
    vae_free(m);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/vae/config", test_config);
    g_test_add_func("/vae/decode-golden", test_decode);
    g_test_add_func("/vae/trace-intermediates", test_trace);
    g_test_add_func("/vae/pipeline-images", test_pipeline_images);
    g_test_add_func("/vae/rgb8-rounding", test_rgb8_rounding);
    g_test_add_func("/vae/bf16-weights", test_bf16_weights);
    g_test_add_func("/vae/post-quant-conv", test_post_quant_conv);
    g_test_add_func("/vae/unused-tensors", test_unused);
    g_test_add_func("/vae/load-errors", test_load_errors);
    g_test_add_func("/vae/decode-errors", test_decode_errors);
    return g_test_run();
}
