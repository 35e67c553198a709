/* test_preview.c — live previews (core/pipeline/preview.c): the x₀ the preview hook gets
 * against the golden runs, the projection against numpy, the VAE preview against the final
 * decode, the reduced-size decode, the plan, bad arguments. */
#include "flux.h"
#include "model.h"
#include "testutil.h"

#include <glib/gstdio.h>
#include <math.h>
#include <string.h>

/* ------------------------------------------------------------------------------------- */
/* x₀ against the golden runs                                                            */

typedef struct {
    int steps, lh, lw;
    float **x0; /* [steps] copies of what the hook got */
} X0Capture;

static void keep_x0(int step, const float *x0, int lh, int lw, void *ud)
{
    X0Capture *c = ud;
    g_assert_cmpint(step, >=, 1);
    g_assert_cmpint(step, <=, c->steps);
    g_assert_cmpint(lh, ==, c->lh);
    g_assert_cmpint(lw, ==, c->lw);
    c->x0[step - 1] = g_memdup2(x0, sizeof(float) * (size_t)lh * lw * 4);
}

/* x₀ at step i = (latents before step i) − σ_i · noise_pred_i, all from the reference. The
 * golden noise_pred is the conditional one; with true CFG it is neg + scale·(pos − neg). */
static void check_x0_golden(gconstpointer data)
{
    const char *file = data;
    JsonObject *set = json_object_get_object_member(tu_golden_manifest(file), "setting");
    FluxModel *m = tu_tiny_model();
    FluxGenerateParams p;
    flux_generate_params_init(&p, m);
    p.prompt = json_object_get_string_member(set, "prompt_text");
    p.width = (int)json_object_get_int_member(set, "width");
    p.height = (int)json_object_get_int_member(set, "height");
    p.steps = (int)json_object_get_int_member(set, "num_inference_steps");
    p.guidance = (float)json_object_get_double_member(set, "guidance_scale");
    p.seed = (guint64)json_object_get_int_member(set, "seed");
    p.max_sequence_length = (int)json_object_get_int_member(set, "max_sequence_length");
    float cfg = 1.0f;
    if (json_object_has_member(set, "negative_prompt")) {
        p.negative_prompt = json_object_get_string_member(set, "negative_prompt");
        p.true_cfg_scale = cfg = (float)json_object_get_double_member(set, "true_cfg_scale");
    }
    X0Capture cap = {.steps = p.steps, .lh = 2 * (p.height / 16), .lw = 2 * (p.width / 16)};
    cap.x0 = g_new0(float *, p.steps);
    p.preview = keep_x0;
    p.user_data = &cap;
    int W, H;
    flux_output_size(&p, &W, &H);
    g_autofree guint8 *rgb = g_malloc((size_t)W * H * 3);
    GError *err = NULL;
    g_assert_true(flux_generate(m, &p, rgb, &err));
    g_assert_no_error(err);

    size_t n = (size_t)cap.lh * cap.lw * 4;
    g_autofree float *sigmas = tu_f32(tu_golden_tensor(file, "sigmas"));
    g_autofree float *prev = tu_f32(tu_golden_tensor(file, "latents_init"));
    g_autofree float *want = g_new(float, n);
    for (int i = 0; i < p.steps; i++) {
        g_autofree char *np = g_strdup_printf("step.%d.noise_pred", i);
        g_autofree char *nn = g_strdup_printf("step.%d.neg_noise_pred", i);
        g_autofree char *nl = g_strdup_printf("step.%d.latents", i);
        g_autofree float *v = tu_f32(tu_golden_tensor(file, np));
        if (cfg > 1.0f) {
            g_autofree float *neg = tu_f32(tu_golden_tensor(file, nn));
            for (size_t k = 0; k < n; k++) v[k] = neg[k] + cfg * (v[k] - neg[k]);
        }
        for (size_t k = 0; k < n; k++) want[k] = prev[k] - sigmas[i] * v[k];
        g_assert_nonnull(cap.x0[i]);
        g_autofree char *what = g_strdup_printf("%s x0 at step %d", file, i);
        double d = tu_assert_close(what, cap.x0[i], want, n, 1e-4);
        g_test_message("%s: max relative difference %.2e", what, d);
        g_free(prev);
        prev = tu_f32(tu_golden_tensor(file, nl));
        g_free(cap.x0[i]);
    }
    /* at the last step x₀ is the final latents */
    g_autofree float *out = tu_f32(tu_golden_tensor(file, "output_latent"));
    tu_assert_close("last x0 vs output_latent", want, out, n, 1e-6);
    g_free(cap.x0);
    flux_model_free(m);
}

/* ------------------------------------------------------------------------------------- */
/* The projection against numpy                                                          */

/* The same map written independently: factors typed from ComfyUI's class Flux, torch's
 * bilinear (align_corners=False, half-pixel centres, edge clamp), then
 * round(clip(x/2 + 0.5, 0, 1)·255). Reads packed float32 [S, 64] from argv[1], writes
 * [oh, ow, 3] bytes to argv[6]. */
static const char *numpy_projection =
    "import sys, numpy as np\n"
    "h, w, oh, ow = map(int, sys.argv[2:6])\n"
    "p = np.fromfile(sys.argv[1], dtype=np.float32).reshape(h // 2, w // 2, 16, 2, 2)\n"
    "lat = p.transpose(2, 0, 3, 1, 4).reshape(16, h, w)\n"
    "F = np.array([[-0.0346, 0.0244, 0.0681], [0.0034, 0.0210, 0.0687],\n"
    "  [0.0275, -0.0668, -0.0433], [-0.0174, 0.0160, 0.0617], [0.0859, 0.0721, 0.0329],\n"
    "  [0.0004, 0.0383, 0.0115], [0.0405, 0.0861, 0.0915], [-0.0236, -0.0185, -0.0259],\n"
    "  [-0.0245, 0.0250, 0.1180], [0.1008, 0.0755, -0.0421], [-0.0515, 0.0201, 0.0011],\n"
    "  [0.0428, -0.0012, -0.0036], [0.0817, 0.0765, 0.0749], [-0.1264, -0.0522, -0.1103],\n"
    "  [-0.0280, -0.0881, -0.0499], [-0.1262, -0.0982, -0.0778]])\n"
    "b = np.array([-0.0329, -0.0718, -0.0851])\n"
    "img = np.einsum('chw,ck->khw', lat.astype(np.float64), F) + b[:, None, None]\n"
    "def taps(n_out, n_in):\n"
    "    s = np.clip((np.arange(n_out) + 0.5) * n_in / n_out - 0.5, 0, None)\n"
    "    i0 = np.minimum(np.floor(s).astype(int), n_in - 1)\n"
    "    return i0, np.minimum(i0 + 1, n_in - 1), s - i0\n"
    "y0, y1, ty = taps(oh, h)\n"
    "x0, x1, tx = taps(ow, w)\n"
    "top = img[:, y0][:, :, x0] * (1 - tx) + img[:, y0][:, :, x1] * tx\n"
    "bot = img[:, y1][:, :, x0] * (1 - tx) + img[:, y1][:, :, x1] * tx\n"
    "out = top * (1 - ty[:, None]) + bot * ty[:, None]\n"
    "u8 = np.round(np.clip(out / 2 + 0.5, 0, 1) * 255).astype(np.uint8)\n"
    "u8.transpose(1, 2, 0).tofile(sys.argv[6])\n";

static void check_projection(int h, int w, int oh, int ow)
{
    const char *py = tu_python_with_numpy();
    if (!py) {
        g_test_skip("no python3 with numpy");
        return;
    }
    size_t n = (size_t)h * w * 16;
    g_autofree float *lat = g_new(float, n);
    tu_fill_random(lat, n, 1234u + (guint32)(h * w));
    for (size_t k = 0; k < n; k++) lat[k] *= 8.0f; /* reach the clamp at both ends too */
    g_autofree char *in = tu_temp_file(".f32", lat, n * sizeof(float));
    g_autofree char *script = tu_temp_file(".py", numpy_projection, strlen(numpy_projection));
    g_autofree char *out = tu_temp_file(".u8", "", 0);
    g_autofree char *sizes = g_strdup_printf("%d %d %d %d", h, w, oh, ow);
    g_autofree char *cmd = g_strdup_printf("'%s' '%s' '%s' %s '%s'", py, script, in, sizes, out);
    g_autofree char *err_text = NULL;
    g_autofree char *ref = NULL;
    gsize len = 0;
    int status = 0;
    GError *err = NULL;
    const char *argv[] = {"/bin/sh", "-c", cmd, NULL};
    g_assert_true(
        g_spawn_sync(NULL, (char **)argv, NULL, 0, NULL, NULL, NULL, &err_text, &status, &err));
    g_assert_no_error(err);
    if (status != 0) g_test_fail_printf("numpy failed: %s", err_text);
    g_assert_true(g_file_get_contents(out, &ref, &len, &err));
    g_assert_cmpuint(len, ==, (gsize)oh * ow * 3);
    g_autofree guint8 *rgb = g_malloc((size_t)oh * ow * 3);
    g_assert_true(flux_preview_render(NULL, FLUX_PREVIEW_PROJECTION, lat, h, w, ow, oh, rgb, &err));
    g_assert_no_error(err);
    int worst = 0, clipped = 0;
    for (size_t k = 0; k < (size_t)oh * ow * 3; k++) {
        int d = abs((int)rgb[k] - (int)(guint8)ref[k]);
        worst = MAX(worst, d);
        clipped += rgb[k] == 0 || rgb[k] == 255;
    }
    g_test_message("projection %dx%d → %dx%d: worst u8 difference %d, %d clamped values", w, h, ow,
                   oh, worst, clipped);
    g_assert_cmpint(worst, <=, 1); /* float32 against float64 at a rounding edge */
    g_assert_cmpint(clipped, >, 0);
    g_assert_cmpint(clipped, <, (int)((size_t)oh * ow * 3 / 2));
}

static void test_projection_numpy(void)
{
    check_projection(6, 10, 48, 80); /* the picture's size: ×8 */
    check_projection(8, 8, 8, 8);    /* no resampling */
    check_projection(6, 4, 37, 29);  /* an odd size, up and down */
    check_projection(16, 12, 5, 7);  /* smaller than the latents */
}

/* ------------------------------------------------------------------------------------- */
/* The VAE preview                                                                       */

typedef struct {
    FluxModel *m;
    int steps, W, H;
    guint8 *last; /* the VAE preview of the last step */
} VaeCapture;

static void vae_on_last(int step, const float *x0, int lh, int lw, void *ud)
{
    VaeCapture *c = ud;
    if (step != c->steps) return;
    GError *err = NULL;
    c->last = g_malloc((size_t)c->W * c->H * 3);
    g_assert_true(flux_preview_render(c->m, FLUX_PREVIEW_VAE, x0, lh, lw, c->W, c->H, c->last,
                                      &err)); /* inside the run, on the same model */
    g_assert_no_error(err);
}

static void test_vae_last_step(void)
{
    FluxModel *m = tu_tiny_model();
    FluxGenerateParams p;
    flux_generate_params_init(&p, m);
    p.prompt = "a photo of a cat";
    p.width = 80;
    p.height = 48;
    p.steps = 3;
    p.max_sequence_length = 32;
    VaeCapture c = {.m = m, .steps = 3, .W = 80, .H = 48};
    p.preview = vae_on_last;
    p.user_data = &c;
    g_autofree guint8 *rgb = g_malloc(80 * 48 * 3);
    GError *err = NULL;
    g_assert_true(flux_generate(m, &p, rgb, &err));
    g_assert_no_error(err);
    g_assert_nonnull(c.last);
    /* x₀ of the last step is the final latents: the same picture, byte for byte */
    g_assert_cmpmem(c.last, 80 * 48 * 3, rgb, 80 * 48 * 3);
    g_free(c.last);
    flux_model_free(m);
}

/* A 1024² picture (latent 128²) decodes at 512²: the latents are averaged 2×2 first. */
static void test_vae_reduced(void)
{
    FluxModel *m = tu_tiny_model();
    int h = 128, w = 96; /* picture 768×1024 → decoded at 384×512 */
    size_t n = (size_t)h * w * 16;
    g_autofree float *packed = g_new(float, n);
    tu_fill_random(packed, n, 77u);
    FluxPreviewPlan plan;
    flux_preview_plan(&m->info, FLUX_PREVIEW_VAE, 8 * w, 8 * h, 4, 32, &plan);
    g_assert_cmpint(plan.decode_width, ==, 384);
    g_assert_cmpint(plan.decode_height, ==, 512);
    g_autofree guint8 *got = g_malloc(384 * 512 * 3);
    GError *err = NULL;
    g_assert_true(flux_preview_render(m, FLUX_PREVIEW_VAE, packed, h, w, 384, 512, got, &err));
    g_assert_no_error(err);

    /* independently: unpack, average 2×2, scale and shift, decode */
    int hr = h / 2, wr = w / 2;
    g_autofree float *z = g_new0(float, (size_t)16 * hr * wr);
    for (int c = 0; c < 16; c++)
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                size_t tok = (size_t)(y / 2) * (w / 2) + x / 2;
                z[((size_t)c * hr + y / 2) * wr + x / 2] +=
                    0.25f * packed[tok * 64 + c * 4 + (y % 2) * 2 + x % 2];
            }
    for (size_t k = 0; k < (size_t)16 * hr * wr; k++)
        z[k] = z[k] / vae_scaling_factor(m->vae) + vae_shift_factor(m->vae);
    g_autofree float *dec = g_new(float, (size_t)3 * 384 * 512);
    g_assert_true(vae_decode(m->vae, z, hr, wr, dec, NULL, &err));
    g_autofree guint8 *want = g_malloc(384 * 512 * 3);
    vae_to_rgb8(dec, 512, 384, want);
    int worst = 0;
    for (size_t k = 0; k < 384 * 512 * 3; k++) worst = MAX(worst, abs((int)got[k] - (int)want[k]));
    g_assert_cmpint(worst, <=, 1); /* the sum's order differs */
    flux_model_free(m);
}

/* ------------------------------------------------------------------------------------- */
/* The plan and bad arguments                                                            */

static void test_plan(void)
{
    /* FLUX.1-dev's shapes (transformer/, text_encoder_2/ and vae/ configs) */
    FluxModelInfo info = {.uses_guidance = TRUE,
                          .inner_dim = 3072,
                          .num_heads = 24,
                          .num_layers = 19,
                          .num_single_layers = 38,
                          .t5_d_model = 4096,
                          .vae_channels = 256}; /* max of the first two block_out_channels */
    int sizes[][2] = {{512, 512}, {1024, 1024}, {1024, 768}, {2048, 2048}};
    for (guint i = 0; i < G_N_ELEMENTS(sizes); i++) {
        int W = sizes[i][0], H = sizes[i][1];
        FluxPreviewPlan vae, proj;
        flux_preview_plan(&info, FLUX_PREVIEW_VAE, W, H, 28, 512, &vae);
        flux_preview_plan(&info, FLUX_PREVIEW_PROJECTION, W, H, 28, 512, &proj);
        g_test_message("%d×%d: VAE preview %d×%d every %d steps (%.1f%% of the run); "
                       "projection %.2e%%",
                       W, H, vae.decode_width, vae.decode_height, vae.every, 100 * vae.share,
                       100 * proj.share);
        g_assert_cmpint(MAX(vae.decode_width, vae.decode_height), <=, FLUX_PREVIEW_VAE_MAX_SIDE);
        g_assert_cmpint(vae.decode_width * H, ==, vae.decode_height * W); /* the aspect kept */
        g_assert_cmpint(vae.every, >=, 1);
        g_assert_cmpfloat(vae.share, >, 0.0);
        g_assert_cmpfloat(vae.share, <=, 0.1);
        g_assert_cmpint(proj.every, ==, 1);
        g_assert_cmpfloat(proj.share, <, 0.001);
    }
}

static void test_bad_arguments(void)
{
    float lat[4 * 64] = {0};
    guint8 rgb[16 * 16 * 3];
    GError *err = NULL;
    g_assert_false(flux_preview_render(NULL, FLUX_PREVIEW_VAE, lat, 4, 4, 16, 16, rgb, &err));
    tu_expect_error(&err, FLUX_ERROR_ARGUMENT, (const char *const[]){"needs the model", NULL});
    g_assert_false(
        flux_preview_render(NULL, FLUX_PREVIEW_PROJECTION, lat, 3, 4, 16, 16, rgb, &err));
    tu_expect_error(&err, FLUX_ERROR_ARGUMENT, (const char *const[]){"latents", "4×3", NULL});
    g_assert_false(flux_preview_render(NULL, FLUX_PREVIEW_PROJECTION, lat, 4, 4, 0, 16, rgb, &err));
    tu_expect_error(&err, FLUX_ERROR_ARGUMENT, (const char *const[]){"preview size", NULL});
    g_assert_false(flux_preview_render(NULL, (FluxPreviewQuality)7, lat, 4, 4, 16, 16, rgb, &err));
    tu_expect_error(&err, FLUX_ERROR_ARGUMENT, (const char *const[]){"quality", NULL});
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    const char *goldens[] = {"pipeline_p64x64_s4.safetensors", "pipeline_p48x80_s3.safetensors",
                             "pipeline_p56x72_s2_msl77.safetensors",
                             "pipeline_p32x48_s2_truecfg.safetensors"};
    for (guint i = 0; i < G_N_ELEMENTS(goldens); i++) {
        g_autofree char *path = g_strdup_printf("/preview/x0-golden/%s", goldens[i]);
        g_test_add_data_func(path, goldens[i], check_x0_golden);
    }
    g_test_add_func("/preview/projection-numpy", test_projection_numpy);
    g_test_add_func("/preview/vae-last-step", test_vae_last_step);
    g_test_add_func("/preview/vae-reduced", test_vae_reduced);
    g_test_add_func("/preview/plan", test_plan);
    g_test_add_func("/preview/bad-arguments", test_bad_arguments);
    return g_test_run();
}
