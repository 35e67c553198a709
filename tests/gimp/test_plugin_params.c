/* test_plugin_params.c — the GIMP-free half of the plug-in: FluxRenderParams checks and
 * helpers (frontend/flux-params.c), the settings key file (frontend/flux-settings.c) and one
 * render through the worker (frontend/flux-worker.c) on the reference tiny model, compared
 * with the golden picture. Needs FLUX_REFERENCE_DIR. */
#include "flux-loras.h"
#include "flux-params.h"
#include "flux-settings.h"
#include "flux-worker.h"
#include "flux.h"

#include <glib/gstdio.h>
#include <math.h>
#include <png.h>
#include <stdlib.h>
#include <string.h>

static char *model_dir(void)
{
    const char *ref = g_getenv("FLUX_REFERENCE_DIR");
    g_assert_nonnull(ref);
    return g_build_filename(ref, "tiny-flux-dev", NULL);
}

static FluxRenderParams valid_params(void)
{
    FluxRenderParams p;
    flux_render_params_init(&p);
    flux_render_params_set_prompt(&p, "a photo of a cat");
    flux_render_params_set_model(&p, "/some/folder");
    return p;
}

static void expect_invalid(const FluxRenderParams *p, const char *fragment)
{
    GError *err = NULL;
    g_assert_false(flux_render_params_validate(p, &err));
    g_assert_error(err, FLUX_ERROR, FLUX_ERROR_ARGUMENT);
    if (!strstr(err->message, fragment))
        g_error("message \"%s\" lacks \"%s\"", err->message, fragment);
    g_error_free(err);
}

static void test_validate(void)
{
    FluxRenderParams p = valid_params();
    g_assert_true(flux_render_params_validate(&p, NULL));
    p.width = 0;
    expect_invalid(&p, "Width 0");
    p = valid_params(), p.height = 4097;
    expect_invalid(&p, "Height 4097");
    p = valid_params(), p.steps = 0;
    expect_invalid(&p, "steps 0");
    p = valid_params(), p.guidance = NAN;
    expect_invalid(&p, "Guidance");
    p = valid_params(), p.guidance = 101;
    expect_invalid(&p, "Guidance 101");
    p = valid_params(), p.random_seed = FALSE, p.seed = -3;
    expect_invalid(&p, "Seed -3");
    p = valid_params(), p.model[0] = '\0';
    expect_invalid(&p, "No model folder");
    p = valid_params();
    memcpy(p.prompt, "\xff\xfe", 3);
    expect_invalid(&p, "UTF-8");
}

static void test_helpers(void)
{
    g_assert_cmpint(flux_render_output_size(1000), ==, 992);
    g_assert_cmpint(flux_render_output_size(15), ==, 0);
    g_autofree char *a = flux_render_layer_name("  a photo of a cat\nsecond line");
    g_assert_cmpstr(a, ==, "a photo of a cat");
    g_autofree char *b = flux_render_layer_name("");
    g_assert_cmpstr(b, ==, "FLUX");
    g_autofree char *c = flux_render_layer_name(
        "一只猫坐在窗台上看着外面的雨，窗外是一座安静的小城，远处有山和雾，还有一只鸟飞过天空");
    g_assert_cmpint(g_utf8_strlen(c, -1), ==, 40);
    g_assert_true(g_str_has_suffix(c, "…"));
    g_autofree char *d = flux_format_duration(41.2);
    g_assert_cmpstr(d, ==, "41 s");
    g_autofree char *e = flux_format_duration(7500);
    g_assert_cmpstr(e, ==, "2 h 5 min");

    /* a prompt longer than the field is cut at a character boundary */
    GString *s = g_string_new(NULL);
    while (s->len < FLUX_PROMPT_MAX + 10) g_string_append(s, "猫");
    FluxRenderParams p;
    flux_render_params_set_prompt(&p, s->str);
    g_assert_true(g_utf8_validate(p.prompt, -1, NULL));
    g_assert_cmpuint(strlen(p.prompt), <, FLUX_PROMPT_MAX);
    g_string_free(s, TRUE);

    flux_render_params_init(&p);
    g_assert_true(p.random_seed);
    for (int i = 0; i < 20; i++) g_assert_cmpint(flux_render_params_pick_seed(&p), >=, 0);
    p.random_seed = FALSE, p.seed = 1234;
    g_assert_cmpint(flux_render_params_pick_seed(&p), ==, 1234);
}

static void test_settings(void)
{
    g_autofree char *dir = g_dir_make_tmp("flux-settings-XXXXXX", NULL);
    g_autofree char *path = g_build_filename(dir, FLUX_SETTINGS_FILE, NULL);
    FluxSettings s;
    flux_settings_load(path, &s); /* missing file: empty */
    g_assert_null(s.model);
    g_assert_cmpfloat(s.gflops_per_s, ==, 0.0);
    flux_settings_set_model(&s, "/models/FLUX.1-schnell");
    flux_settings_set_model(&s, s.model); /* aliasing is allowed */
    s.gflops_per_s = 412.5;
    g_assert_true(flux_settings_save(path, &s, NULL));
    flux_settings_clear(&s);
    flux_settings_load(path, &s);
    g_assert_cmpstr(s.model, ==, "/models/FLUX.1-schnell");
    g_assert_cmpfloat(s.gflops_per_s, ==, 412.5);
    flux_settings_clear(&s);
    g_assert_true(g_file_set_contents(path, "not a key file [", -1, NULL));
    flux_settings_load(path, &s); /* garbage: empty, no error */
    g_assert_null(s.model);
    g_unlink(path);
    g_rmdir(dir);
}

static void test_check_model(void)
{
    g_autofree char *dir = model_dir();
    gboolean guidance = FALSE;
    int steps = 0;
    g_assert_true(flux_worker_check_model(dir, &guidance, &steps, NULL));
    g_assert_true(guidance); /* tiny-flux-dev is dev-type */
    g_assert_cmpint(steps, ==, 28);
    GError *err = NULL;
    g_assert_false(flux_worker_check_model("/nonexistent/flux", NULL, NULL, &err));
    g_assert_nonnull(strstr(err->message, "/nonexistent/flux"));
    g_clear_error(&err);
    g_assert_false(flux_worker_check_model("", NULL, NULL, &err));
    g_clear_error(&err);
}

typedef struct {
    GString *log;
} Spy;

static void on_phase(FluxWorkerPhase phase, void *user_data)
{
    Spy *spy = user_data;
    g_string_append_printf(spy->log, "phase%d ", phase);
}

static void on_step(int step, int total, double left, void *user_data)
{
    Spy *spy = user_data;
    g_assert_cmpfloat(left, >=, 0.0);
    g_string_append_printf(spy->log, "%d/%d ", step, total);
}

static void test_render_golden(void)
{
    g_autofree char *dir = model_dir();
    g_autofree char *golden = g_build_filename(dir, "golden", "pipeline_p64x64_s4.png", NULL);
    FluxRenderParams p;
    flux_render_params_init(&p);
    flux_render_params_set_prompt(&p, "a photo of a cat");
    flux_render_params_set_model(&p, dir);
    p.width = p.height = 64;
    p.steps = 4;
    p.guidance = 3.5;
    Spy spy = {g_string_new(NULL)};
    FluxWorkerCallbacks cb = {.phase = on_phase, .step = on_step, .user_data = &spy};
    FluxWorkerResult res;
    GError *err = NULL;
    g_assert_true(flux_worker_run(&p, 0, &cb, &res, &err));
    g_assert_no_error(err);
    g_assert_cmpstr(spy.log->str, ==, "phase0 phase1 phase2 1/4 2/4 3/4 4/4 phase3 ");
    g_assert_cmpint(res.width, ==, 64);
    g_assert_cmpint(res.height, ==, 64);

    png_image img = {.version = PNG_IMAGE_VERSION};
    g_assert_true(png_image_begin_read_from_file(&img, golden));
    img.format = PNG_FORMAT_RGB;
    guint8 *want = g_malloc(PNG_IMAGE_SIZE(img));
    g_assert_true(png_image_finish_read(&img, NULL, want, 0, NULL));
    g_assert_cmpint(img.width, ==, 64);
    int worst = 0;
    for (int i = 0; i < 64 * 64 * 3; i++) worst = MAX(worst, abs(res.rgb[i] - want[i]));
    g_test_message("max |diff| against %s: %d", golden, worst);
    g_assert_cmpint(worst, <=, 1); /* the golden tolerance for 8-bit pictures */
    g_free(want);
    g_free(res.rgb);
    g_string_free(spy.log, TRUE);

    /* a bad size fails inside the pipeline's own checks, nothing allocated */
    p.width = 8;
    g_assert_false(flux_worker_run(&p, 0, NULL, &res, &err));
    g_assert_error(err, FLUX_ERROR, FLUX_ERROR_ARGUMENT);
    g_assert_null(res.rgb);
    g_clear_error(&err);
}

/* The PDB / settings form of the LoRA list: parse, format back, refuse bad items. */
static void test_lora_list(void)
{
    FluxLora *l;
    int n;
    GError *err = NULL;
    g_assert_true(flux_lora_list_parse(" style.safetensors:0.8; turbo.safetensors ;;\n"
                                       "/my loras/x:v2.safetensors:-1\n",
                                       &l, &n, &err));
    g_assert_no_error(err);
    g_assert_cmpint(n, ==, 3);
    g_assert_cmpstr(l[0].path, ==, "style.safetensors");
    g_assert_cmpfloat(l[0].multiplier, ==, 0.8f);
    g_assert_cmpstr(l[1].path, ==, "turbo.safetensors");
    g_assert_cmpfloat(l[1].multiplier, ==, 1.0f);
    g_assert_cmpstr(l[2].path, ==, "/my loras/x:v2.safetensors");
    g_assert_cmpfloat(l[2].multiplier, ==, -1.0f);
    g_autofree char *text = flux_lora_list_format(l, n);
    g_assert_cmpstr(text, ==,
                    "style.safetensors:0.8;turbo.safetensors:1;/my loras/x:v2.safetensors:-1");
    flux_lora_list_free(l, n);

    g_assert_true(flux_lora_list_parse(" ; ", &l, &n, NULL));
    g_assert_cmpint(n, ==, 0);
    g_assert_null(l);
    g_assert_false(flux_lora_list_parse("a.safetensors;b.safetensors:1000", &l, &n, &err));
    g_assert_error(err, FLUX_ERROR, FLUX_ERROR_ARGUMENT);
    g_assert_nonnull(strstr(err->message, "b.safetensors:1000"));
    g_clear_error(&err);

    FluxRenderParams p = valid_params();
    g_assert_true(flux_render_params_set_loras(&p, "a.safetensors:0.5"));
    g_assert_true(flux_render_params_validate(&p, NULL));
    g_assert_true(flux_render_params_set_loras(&p, ":2"));
    expect_invalid(&p, "LoRA");
    char *long_list = g_strnfill(FLUX_LORAS_MAX, 'x');
    g_assert_false(flux_render_params_set_loras(&p, long_list));
    g_free(long_list);

    /* the worker hands the list to the pipeline: a missing file fails naming it */
    g_autofree char *dir = model_dir();
    flux_render_params_set_model(&p, dir);
    flux_render_params_set_loras(&p, "/nonexistent/style.safetensors:0.8");
    p.width = p.height = 32;
    p.steps = 1;
    FluxWorkerResult res;
    g_assert_false(flux_worker_run(&p, 0, NULL, &res, &err));
    g_assert_error(err, FLUX_ERROR, FLUX_ERROR_IO);
    g_assert_nonnull(strstr(err->message, "/nonexistent/style.safetensors"));
    g_assert_null(res.rgb);
    g_clear_error(&err);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/plugin/params/validate", test_validate);
    g_test_add_func("/plugin/params/helpers", test_helpers);
    g_test_add_func("/plugin/settings/round-trip", test_settings);
    g_test_add_func("/plugin/worker/check-model", test_check_model);
    g_test_add_func("/plugin/worker/render-golden", test_render_golden);
    g_test_add_func("/plugin/loras/list", test_lora_list);
    return g_test_run();
}
