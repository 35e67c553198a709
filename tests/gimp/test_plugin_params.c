/* test_plugin_params.c — the GIMP-free half of the plug-in: FluxRenderParams checks and
 * helpers (frontend/flux-params.c), the settings key file (frontend/flux-settings.c), the
 * estimate (flux-estimate.c), the model messages (flux-model-problem.c, in English and
 * whole in German and Chinese), the help texts (flux-help.c) and renders through the worker
 * (frontend/flux-worker.c) on the reference tiny model, compared with the golden picture.
 * Needs FLUX_REFERENCE_DIR; FLUX_LOCALE_DIR (the built translations) for the translated ones. */
#include "testutil.h"
#include "flux-estimate.h"
#include "flux-help.h"
#include "flux-intl.h"
#include "flux-loras.h"
#include "flux-model-files.h"
#include "flux-precision-choice.h"
#include "flux-params.h"
#include "flux-settings.h"
#include "flux-worker.h"
#include "flux.h"

#include <glib/gstdio.h>
#include <locale.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
    expect_invalid(&p, "No model given");
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
    g_autofree char *seeded = flux_render_layer_name_seed("a photo of a cat", 42);
    g_assert_cmpstr(seeded, ==, "a photo of a cat (seed 42)");
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
    g_assert_false(s.rate_from_run);
    /* a run long enough replaces the rate, and says where it came from */
    g_assert_true(flux_estimate_take_run(&s, 3.0e12, 10.0));
    g_assert_true(flux_settings_save(path, &s, NULL));
    flux_settings_clear(&s);
    flux_settings_load(path, &s);
    g_assert_cmpfloat(s.gflops_per_s, ==, 300.0);
    g_assert_true(s.rate_from_run);
    flux_settings_clear(&s);
    /* the precision setting: kept when float32 or fast, automatic otherwise */
    g_assert_null(s.precision);
    flux_settings_set_precision(&s, "fast");
    flux_settings_set_model(&s, "/m/unet/x.gguf;vae=/m/vae/ae.safetensors");
    g_assert_true(flux_settings_save(path, &s, NULL));
    flux_settings_clear(&s);
    flux_settings_load(path, &s);
    g_assert_cmpstr(s.precision, ==, "fast");
    g_assert_cmpstr(s.model, ==, "/m/unet/x.gguf;vae=/m/vae/ae.safetensors");
    g_assert_cmpfloat(s.gflops_per_s, ==, 300.0); /* the other keys untouched */
    flux_settings_set_precision(&s, "float32");
    g_assert_true(flux_settings_save(path, &s, NULL));
    flux_settings_clear(&s);
    flux_settings_load(path, &s);
    g_assert_cmpstr(s.precision, ==, "float32");
    flux_settings_set_precision(&s, "auto");
    g_assert_null(s.precision);
    g_assert_true(flux_settings_save(path, &s, NULL));
    flux_settings_clear(&s);
    flux_settings_load(path, &s);
    g_assert_null(s.precision);
    flux_settings_clear(&s);
    g_assert_true(g_file_set_contents(path, "[flux]\nprecision=bf16\n", -1, NULL));
    flux_settings_load(path, &s); /* a value this version does not know: automatic */
    g_assert_null(s.precision);
    flux_settings_clear(&s);
    /* the dialogs' three choices map to these values and back */
    g_assert_null(flux_precision_choice_value(0));
    g_assert_cmpstr(flux_precision_choice_value(1), ==, "float32");
    g_assert_cmpstr(flux_precision_choice_value(2), ==, "fast");
    for (int i = 0; i < FLUX_N_PRECISIONS; i++)
        g_assert_cmpint(flux_precision_choice_index(flux_precision_choice_value(i)), ==, i);
    g_assert_cmpint(flux_precision_choice_index("auto"), ==, 0);
    g_assert_true(g_file_set_contents(path, "not a key file [", -1, NULL));
    flux_settings_load(path, &s); /* garbage: empty, no error */
    g_assert_null(s.model);
    g_unlink(path);
    g_rmdir(dir);
}

static void test_check_model(void)
{
    g_autofree char *dir = tu_model_path(NULL);
    gboolean guidance = FALSE;
    int steps = 0;
    g_assert_true(flux_worker_check_model(dir, &guidance, &steps, NULL));
    g_assert_true(guidance); /* tiny-flux-dev is dev-type */
    g_assert_cmpint(steps, ==, 28);
    GError *err = NULL;
    g_assert_false(flux_worker_check_model("/nonexistent/flux", NULL, NULL, &err));
    g_assert_cmpstr(err->message, ==,
                    "“/nonexistent/flux” does not exist. Choose the folder of a FLUX.1 model or "
                    "its transformer file (.safetensors or .gguf).");
    g_clear_error(&err);
    g_assert_false(flux_worker_check_model("", NULL, NULL, &err));
    g_clear_error(&err);
}

typedef struct {
    GString *log;
    int blocks, step;
    double fraction;
} Spy;

static void on_within(int step, int total, double fraction, double left, void *user_data)
{
    Spy *spy = user_data;
    g_assert_cmpint(total, ==, 4);
    g_assert_cmpfloat(left, >=, 0.0);
    if (step != spy->step) { /* each step begins at 0 */
        g_assert_cmpfloat(fraction, ==, 0.0);
        spy->step = step, spy->fraction = 0.0;
        return;
    }
    g_assert_cmpfloat(fraction, >, spy->fraction); /* rises within the step */
    spy->fraction = fraction;
    spy->blocks++;
}

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

/* The render of the golden picture: "a photo of a cat", 64², 4 steps, guidance 3.5. */
static FluxRenderParams cat_params(const char *model)
{
    FluxRenderParams p;
    flux_render_params_init(&p);
    flux_render_params_set_prompt(&p, "a photo of a cat");
    flux_render_params_set_model(&p, model);
    p.width = p.height = 64;
    p.steps = 4;
    p.guidance = 3.5;
    return p;
}

/* Largest |difference| between 64×64 RGB pixels and the golden PNG. */
static int golden_max_diff(const guint8 *rgb)
{
    g_autofree char *golden = tu_model_path("golden/pipeline_p64x64_s4.png");
    int w, h;
    guint8 *want = tu_read_png(golden, &w, &h);
    g_assert_cmpint(w, ==, 64);
    g_assert_cmpint(h, ==, 64);
    int worst = 0;
    for (int i = 0; i < 64 * 64 * 3; i++) worst = MAX(worst, abs(rgb[i] - want[i]));
    g_free(want);
    return worst;
}

static void test_render_golden(void)
{
    g_autofree char *dir = tu_model_path(NULL);
    FluxRenderParams p = cat_params(dir);
    Spy spy = {g_string_new(NULL), 0, 0, 0.0};
    FluxWorkerCallbacks cb = {
        .phase = on_phase, .step = on_step, .user_data = &spy, .within_step = on_within};
    FluxWorkerResult res;
    GError *err = NULL;
    g_assert_true(flux_worker_run(&p, 0, &cb, &res, &err));
    g_assert_no_error(err);
    g_assert_cmpstr(spy.log->str, ==, "phase0 phase1 phase2 1/4 2/4 3/4 4/4 phase3 ");
    g_assert_cmpint(res.width, ==, 64);
    g_assert_cmpint(res.height, ==, 64);
    FluxModelInfo info;
    g_assert_true(flux_model_probe(dir, &info, NULL));
    g_assert_cmpint(spy.blocks, ==, 4 * (info.num_layers + info.num_single_layers));
    g_assert_cmpint(spy.step, ==, 4);
    g_assert_cmpfloat(res.steps_seconds, >, 0.0);
    g_assert_cmpfloat(res.steps_seconds, <=, res.seconds);
    g_assert_cmpfloat(res.steps_flops, ==,
                      4 * (flux_estimate_flops(&info, 64, 64, 512, 1) -
                           flux_estimate_flops(&info, 64, 64, 512, 0)));

    int worst = golden_max_diff(res.rgb);
    g_test_message("max |diff| against the golden picture: %d", worst);
    g_assert_cmpint(worst, <=, 1); /* the golden tolerance for 8-bit pictures */
    g_free(res.rgb);
    g_string_free(spy.log, TRUE);

    /* a bad size fails inside the pipeline's own checks, nothing allocated */
    p.width = 8;
    g_assert_false(flux_worker_run(&p, 0, NULL, &res, &err));
    g_assert_error(err, FLUX_ERROR, FLUX_ERROR_ARGUMENT);
    g_assert_null(res.rgb);
    g_clear_error(&err);
}

/* models/unet/flux1-dev.safetensors etc. linked to the tiny model's weight files. */
static char *comfy_tree(const char *dir, gboolean with_vae)
{
    char *root = g_dir_make_tmp("flux-comfy-XXXXXX", NULL);
    const char *links[][2] = {
        {"transformer/diffusion_pytorch_model.safetensors", "unet/flux1-dev.safetensors"},
        {"vae/diffusion_pytorch_model.safetensors", "vae/ae.safetensors"},
        {"text_encoder/model.safetensors", "clip/clip_l.safetensors"},
        {"text_encoder_2/model.safetensors", "clip/t5xxl_fp8_e4m3fn.safetensors"},
        /* what the tiny model's shapes do not show (docs/FORMATS.md, "Single files") */
        {"transformer/config.json", "unet/flux1-dev.json"},
        {"vae/config.json", "vae/ae.json"},
        {"text_encoder/config.json", "clip/clip_l.json"}};
    for (guint i = 0; i < G_N_ELEMENTS(links); i++) {
        if (!with_vae && g_str_has_prefix(links[i][1], "vae/")) continue;
        g_autofree char *from = g_build_filename(dir, links[i][0], NULL);
        g_autofree char *to = g_build_filename(root, links[i][1], NULL);
        g_autofree char *parent = g_path_get_dirname(to);
        g_assert_cmpint(g_mkdir_with_parents(parent, 0755), ==, 0);
        g_assert_cmpint(symlink(from, to), ==, 0);
    }
    return root;
}

static void remove_tree(const char *path)
{
    g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", path);
    g_assert_cmpint(system(cmd), ==, 0);
}

/* A transformer file: accepted with its companions found and the tokenizers given to the
 * worker; without its VAE, one message names what is missing and where it was looked for. */
static void test_file_model(void)
{
    g_autofree char *dir = tu_model_path(NULL);
    g_autofree char *root = comfy_tree(dir, TRUE);
    g_autofree char *file = g_build_filename(root, "unet", "flux1-dev.safetensors", NULL);
    GError *err = NULL;
    flux_worker_set_tokenizers(NULL);
    g_assert_false(flux_worker_check_model(file, NULL, NULL, &err));
    g_assert_nonnull(strstr(err->message, "tokenizers"));
    g_clear_error(&err);
    flux_worker_set_tokenizers(dir);
    int steps = 0;
    g_assert_true(flux_worker_check_model(file, NULL, &steps, &err));
    g_assert_no_error(err);
    g_assert_cmpint(steps, ==, 28);
    FluxRenderParams p = valid_params();
    flux_render_params_set_model(&p, file);
    p.steps = 0; /* a script asking for the model's default */
    g_assert_true(flux_worker_resolve_steps(&p, &err));
    g_assert_cmpint(p.steps, ==, 28);
    remove_tree(root);

    g_autofree char *bare = comfy_tree(dir, FALSE);
    g_autofree char *file2 = g_build_filename(bare, "unet", "flux1-dev.safetensors", NULL);
    g_assert_false(flux_worker_check_model(file2, NULL, NULL, &err));
    g_autofree char *unet = g_build_filename(bare, "unet", NULL);
    g_autofree char *want = g_strdup_printf(
        "The model file was found, but not the VAE (ae.safetensors) that goes with it. Put it "
        "into one of these folders (as ComfyUI keeps them):\n%s",
        unet);
    g_assert_cmpstr(err->message, ==, want);
    g_clear_error(&err);
    remove_tree(bare);
    flux_worker_set_tokenizers(NULL);
}

/* The tiny model with every companion chosen by hand as its own file. */
static char *tiny_spec(const char *dir)
{
    g_autofree char *vae =
        g_build_filename(dir, "vae", "diffusion_pytorch_model.safetensors", NULL);
    g_autofree char *clip = g_build_filename(dir, "text_encoder", "model.safetensors", NULL);
    g_autofree char *t5 = g_build_filename(dir, "text_encoder_2", "model.safetensors", NULL);
    g_autofree char *a = flux_model_with_companion(dir, FLUX_COMPANION_VAE, vae);
    g_autofree char *b = flux_model_with_companion(a, FLUX_COMPANION_CLIP_L, clip);
    return flux_model_with_companion(b, FLUX_COMPANION_T5, t5);
}

/* A model string with companions chosen by hand: the golden picture, byte for byte the plain
 * folder's; a wrong choice named in the artist's words; what the Model files rows show. */
static void test_chosen_companions(void)
{
    g_autofree char *dir = tu_model_path(NULL);
    g_autofree char *spec = tiny_spec(dir);
    g_autofree char *vae =
        g_build_filename(dir, "vae", "diffusion_pytorch_model.safetensors", NULL);
    g_autofree char *want =
        g_strdup_printf("%s;vae=%s;clip_l=%s/text_encoder/model.safetensors;t5=%s/text_encoder_2/"
                        "model.safetensors",
                        dir, vae, dir, dir);
    g_assert_cmpstr(spec, ==, want);
    GError *err = NULL;
    FluxRenderParams p = cat_params(spec), plain = cat_params(dir);
    FluxWorkerResult a, b;
    g_assert_true(flux_worker_run(&p, 0, NULL, &a, &err));
    g_assert_no_error(err);
    g_assert_true(flux_worker_run(&plain, 0, NULL, &b, &err));
    g_assert_cmpmem(a.rgb, 64 * 64 * 3, b.rgb, 64 * 64 * 3);
    g_assert_cmpint(golden_max_diff(a.rgb), <=, 1);
    g_free(a.rgb), g_free(b.rgb);

    /* the Model files rows: chosen, and the folder's own once Automatic */
    FluxModelFilesView v;
    flux_model_files_view(spec, &v);
    g_assert_true(v.chosen[FLUX_COMPANION_VAE] && v.chosen[FLUX_COMPANION_T5]);
    g_assert_cmpstr(v.file[FLUX_COMPANION_VAE], ==, vae);
    g_assert_cmpstr(v.note[FLUX_COMPANION_VAE], ==, "Chosen by you.");
    g_assert_false(v.missing);
    flux_model_files_view_clear(&v);
    g_autofree char *undone = flux_model_with_companion(spec, FLUX_COMPANION_VAE, NULL);
    flux_model_files_view(undone, &v);
    g_assert_false(v.chosen[FLUX_COMPANION_VAE]);
    g_assert_cmpstr(v.file[FLUX_COMPANION_VAE], ==, vae); /* shown, not chosen */
    g_assert_cmpstr(v.note[FLUX_COMPANION_VAE], ==, "The model folder's own.");
    g_assert_true(v.chosen[FLUX_COMPANION_CLIP_L]);
    flux_model_files_view_clear(&v);
    /* another model keeps the choices; the main path reads back */
    g_autofree char *moved = flux_model_with_path(spec, "/elsewhere/flux1-dev.gguf");
    g_autofree char *main_path = flux_model_main_path(moved);
    g_assert_cmpstr(main_path, ==, "/elsewhere/flux1-dev.gguf");
    g_assert_true(g_str_has_suffix(moved, "/text_encoder_2/model.safetensors"));

    /* the CLIP-L file chosen as the VAE: refused in plain words, naming the file */
    g_autofree char *clip = g_build_filename(dir, "text_encoder", "model.safetensors", NULL);
    g_autofree char *wrong = flux_model_with_companion(dir, FLUX_COMPANION_VAE, clip);
    g_assert_false(flux_worker_check_model(wrong, NULL, NULL, &err));
    g_autofree char *msg = g_strdup_printf(
        "“%s” is not the VAE (ae.safetensors): it holds other weights. Choose the right file "
        "under Model files, or press Automatic to find it by itself.",
        clip);
    g_assert_cmpstr(err->message, ==, msg);
    g_clear_error(&err);
    g_autofree char *gone =
        flux_model_with_companion(dir, FLUX_COMPANION_T5, "/nonexistent/t5xxl_fp16.safetensors");
    g_assert_false(flux_worker_check_model(gone, NULL, NULL, &err));
    g_assert_nonnull(strstr(err->message, "“/nonexistent/t5xxl_fp16.safetensors”, chosen as"));
    g_clear_error(&err);
    g_autofree char *typo = g_strconcat(dir, ";vea=", vae, NULL);
    g_assert_false(flux_worker_check_model(typo, NULL, NULL, &err));
    g_assert_nonnull(strstr(err->message, "“vea=” is not one of its parts"));
    g_clear_error(&err);
}

/* A transformer file whose VAE is nowhere: the row says so and opens; choosing it mends it. */
static void test_companion_missing(void)
{
    g_autofree char *dir = tu_model_path(NULL);
    g_autofree char *bare = comfy_tree(dir, FALSE);
    g_autofree char *file = g_build_filename(bare, "unet", "flux1-dev.safetensors", NULL);
    flux_worker_set_tokenizers(dir);
    FluxModelFilesView v;
    flux_model_files_view(file, &v);
    g_assert_true(v.missing);
    g_assert_null(v.file[FLUX_COMPANION_VAE]);
    g_assert_cmpstr(v.note[FLUX_COMPANION_VAE], ==, "Not found: choose it.");
    g_autofree char *clip = g_build_filename(bare, "clip", "clip_l.safetensors", NULL);
    g_assert_cmpstr(v.file[FLUX_COMPANION_CLIP_L], ==, clip);
    g_assert_cmpstr(v.note[FLUX_COMPANION_CLIP_L], ==, "Found by itself.");
    flux_model_files_view_clear(&v);
    GError *err = NULL;
    g_assert_false(flux_worker_check_model(file, NULL, NULL, &err));
    g_clear_error(&err);
    /* chosen from elsewhere, with the config its tiny sizes need beside it */
    g_autofree char *other = g_build_filename(bare, "other", NULL);
    g_autofree char *vae = g_build_filename(other, "my-ae.safetensors", NULL);
    g_autofree char *vae_cfg = g_build_filename(other, "my-ae.json", NULL);
    g_autofree char *vae_from =
        g_build_filename(dir, "vae", "diffusion_pytorch_model.safetensors", NULL);
    g_autofree char *cfg_from = g_build_filename(dir, "vae", "config.json", NULL);
    g_assert_cmpint(g_mkdir(other, 0755), ==, 0);
    g_assert_cmpint(symlink(vae_from, vae), ==, 0);
    g_assert_cmpint(symlink(cfg_from, vae_cfg), ==, 0);
    g_autofree char *mended = flux_model_with_companion(file, FLUX_COMPANION_VAE, vae);
    int steps = 0;
    g_assert_true(flux_worker_check_model(mended, NULL, &steps, &err));
    g_assert_no_error(err);
    g_assert_cmpint(steps, ==, 28);
    flux_worker_set_tokenizers(NULL);
    remove_tree(bare);
}

/* The Precision setting reaches the run: float32 gives the golden picture, an unknown value
 * stops the run naming it. */
static void test_precision_setting(void)
{
    g_autofree char *dir = tu_model_path(NULL);
    FluxRenderParams p = cat_params(dir);
    FluxWorkerResult res;
    GError *err = NULL;
    flux_worker_set_precision("float32");
    g_assert_true(flux_worker_run(&p, 0, NULL, &res, &err));
    g_assert_no_error(err);
    g_assert_cmpint(golden_max_diff(res.rgb), <=, 1);
    g_free(res.rgb);
    flux_worker_set_precision("bf16");
    g_assert_false(flux_worker_run(&p, 0, NULL, &res, &err));
    g_assert_error(err, FLUX_ERROR, FLUX_ERROR_ARGUMENT);
    g_assert_nonnull(strstr(err->message, "bf16"));
    g_clear_error(&err);
    flux_worker_set_precision(NULL);
}

/* A partial and an interrupted download of a diffusers folder, said in plain words. */
static void test_broken_folder(void)
{
    g_autofree char *dir = tu_model_path(NULL);
    g_autofree char *copy = g_dir_make_tmp("flux-partial-XXXXXX", NULL);
    const char *subs[] = {"model_index.json", "scheduler",   "text_encoder", "text_encoder_2",
                          "tokenizer",        "tokenizer_2", "vae"};
    for (guint i = 0; i < G_N_ELEMENTS(subs); i++) {
        g_autofree char *from = g_build_filename(dir, subs[i], NULL);
        g_autofree char *to = g_build_filename(copy, subs[i], NULL);
        g_assert_cmpint(symlink(from, to), ==, 0);
    }
    GError *err = NULL;
    g_assert_false(flux_worker_check_model(copy, NULL, NULL, &err));
    g_autofree char *tr = g_build_filename(copy, "transformer", NULL);
    g_autofree char *want = g_strdup_printf(
        "The model folder is incomplete: “%s” (the transformer (the large model file)) is "
        "missing. The download probably stopped early: download the model again (only the "
        "missing part is needed).",
        tr);
    g_assert_cmpstr(err->message, ==, want);
    g_clear_error(&err);

    /* the transformer's weights cut short: found from the header, sizes in the message */
    g_assert_cmpint(g_mkdir(tr, 0755), ==, 0);
    g_autofree char *cfg_from = g_build_filename(dir, "transformer", "config.json", NULL);
    g_autofree char *cfg_to = g_build_filename(tr, "config.json", NULL);
    g_assert_cmpint(symlink(cfg_from, cfg_to), ==, 0);
    g_autofree char *w_from =
        g_build_filename(dir, "transformer", "diffusion_pytorch_model.safetensors", NULL);
    g_autofree char *w_to = g_build_filename(tr, "diffusion_pytorch_model.safetensors", NULL);
    g_autofree char *data = NULL;
    gsize len;
    g_assert_true(g_file_get_contents(w_from, &data, &len, NULL));
    g_assert_true(g_file_set_contents(w_to, data, (gssize)(len / 2), NULL));
    g_assert_false(flux_worker_check_model(copy, NULL, NULL, &err));
    g_autofree char *have = g_format_size(len / 2), *full = g_format_size(len);
    g_autofree char *want2 = g_strdup_printf(
        "“%s” is incomplete: it has %s of the %s it should have. Its download was interrupted: "
        "download this file again.",
        w_to, have, full);
    g_assert_cmpstr(err->message, ==, want2);
    g_clear_error(&err);
    remove_tree(copy);
}

/* The tokenizers installed with the plug-in (data/tokenizers) in place of the model's own:
 * the golden picture, so they are the ones FLUX.1 was trained with. */
static void test_bundled_tokenizers(void)
{
    const char *data = g_getenv("FLUX_DATA_DIR");
    g_assert_nonnull(data);
    g_autofree char *tok = g_build_filename(data, "tokenizers", NULL);
    g_autofree char *dir = tu_model_path(NULL);
    g_autofree char *copy = g_dir_make_tmp("flux-notok-XXXXXX", NULL);
    const char *subs[] = {"model_index.json", "scheduler",   "text_encoder",
                          "text_encoder_2",   "transformer", "vae"};
    for (guint i = 0; i < G_N_ELEMENTS(subs); i++) {
        g_autofree char *from = g_build_filename(dir, subs[i], NULL);
        g_autofree char *to = g_build_filename(copy, subs[i], NULL);
        g_assert_cmpint(symlink(from, to), ==, 0);
    }
    FluxRenderParams p = cat_params(copy);
    GError *err = NULL;
    FluxWorkerResult res;
    flux_worker_set_tokenizers(NULL);
    g_assert_false(flux_worker_run(&p, 0, NULL, &res, &err)); /* no tokenizers anywhere */
    g_assert_nonnull(strstr(err->message, "tokenizer"));
    g_clear_error(&err);
    flux_worker_set_tokenizers(tok);
    g_assert_true(flux_worker_run(&p, 0, NULL, &res, &err));
    g_assert_no_error(err);
    int worst = golden_max_diff(res.rgb);
    g_test_message("bundled tokenizers: max |diff| against the golden picture %d", worst);
    g_assert_cmpint(worst, <=, 1);
    g_free(res.rgb);
    flux_worker_set_tokenizers(NULL);
    remove_tree(copy);
}

/* The same messages in German and Chinese: whole sentences from the catalogue, no English.
 * Each language in a process of its own: gettext keeps what it found for the first. */
static void check_translated(const char *lang, const char *exists, const char *needs_config)
{
    const char *locale_dir = g_getenv("FLUX_LOCALE_DIR");
    g_autofree char *mo = g_build_filename(locale_dir ? locale_dir : "", lang, "LC_MESSAGES",
                                           GETTEXT_PACKAGE ".mo", NULL);
    if (!locale_dir || !g_file_test(mo, G_FILE_TEST_EXISTS) || !setlocale(LC_ALL, "C.UTF-8")) {
        g_test_skip("translations not built (-Dplugin=disabled) or no C.UTF-8 locale");
        return;
    }
    if (!g_test_subprocess()) {
        g_setenv("LANGUAGE", lang, TRUE);
        g_test_trap_subprocess(NULL, 0, G_TEST_SUBPROCESS_INHERIT_STDERR);
        g_unsetenv("LANGUAGE");
        g_test_trap_assert_passed();
        return;
    }
    flux_intl_init(locale_dir);
    GError *err = NULL;
    g_assert_false(flux_worker_check_model("/nonexistent/flux", NULL, NULL, &err));
    g_printerr("%s: %s\n", lang, err->message);
    g_assert_nonnull(strstr(err->message, exists));
    g_assert_null(strstr(err->message, "does not exist"));
    g_assert_null(strstr(err->message, "Choose"));
    g_clear_error(&err);
    /* a companion chosen wrongly, and the new dialog words */
    g_autofree char *dir = tu_model_path(NULL);
    g_autofree char *clip = g_build_filename(dir, "text_encoder", "model.safetensors", NULL);
    g_autofree char *wrong = flux_model_with_companion(dir, FLUX_COMPANION_VAE, clip);
    g_assert_false(flux_worker_check_model(wrong, NULL, NULL, &err));
    g_printerr("%s: %s\n", lang, err->message);
    g_assert_nonnull(strstr(err->message, clip));
    g_assert_null(strstr(err->message, "Choose"));
    g_assert_null(strstr(err->message, "holds other weights"));
    g_clear_error(&err);
    /* a single file whose tiny sizes need the config beside it, and it is not there */
    g_autofree char *root = comfy_tree(dir, TRUE);
    g_autofree char *file = g_build_filename(root, "unet", "flux1-dev.safetensors", NULL);
    g_autofree char *clip_file = g_build_filename(root, "clip", "clip_l.safetensors", NULL);
    g_autofree char *clip_cfg = g_build_filename(root, "clip", "clip_l.json", NULL);
    g_assert_cmpint(g_unlink(clip_cfg), ==, 0);
    flux_worker_set_tokenizers(dir);
    g_assert_false(flux_worker_check_model(file, NULL, NULL, &err));
    flux_worker_set_tokenizers(NULL);
    g_printerr("%s: %s\n", lang, err->message);
    g_assert_nonnull(strstr(err->message, clip_file));
    g_assert_nonnull(strstr(err->message, clip_cfg));
    g_assert_nonnull(strstr(err->message, needs_config));
    g_assert_null(strstr(err->message, "settings"));
    g_assert_null(strstr(err->message, "CLIP-L text encoder"));
    g_clear_error(&err);
    remove_tree(root);
    g_assert_cmpstr(flux_precision_choice_label(2), !=, "Fast");
    g_assert_cmpstr(flux_companion_label(FLUX_COMPANION_VAE), ==, "_VAE:");
    g_autofree char *help = flux_help_getting_model(16ull << 30);
    g_assert_null(strstr(help, "Where to get"));
    g_assert_null(strstr(help, "Take a"));
    g_assert_nonnull(strstr(help, "Q4_K_S"));
}

static void test_translated_de(void)
{
    check_translated("de", "existiert nicht", "Einstellungen");
}

static void test_translated_zh(void)
{
    check_translated("zh_CN", "不存在", "无法从文件本身读取");
}

static void test_help(void)
{
    g_autofree char *help = flux_help_getting_model(0);
    const char *must[] = {"black-forest-labs", "Non-Commercial", "city96",
                          "23.8 GB",           "6.7 GB",         "t5xxl_fp8_e4m3fn.safetensors",
                          "ae.safetensors"};
    for (guint i = 0; i < G_N_ELEMENTS(must); i++)
        if (!strstr(help, must[i])) g_error("the help lacks \"%s\":\n%s", must[i], help);
    g_assert_null(strstr(help, "This computer has"));
    g_autofree char *small = flux_help_getting_model(16ull << 30);
    g_assert_nonnull(strstr(small, "This computer has 16.0"));
    g_assert_nonnull(strstr(small, "GiB. Take a GGUF Q4_K_S"));
    g_autofree char *mid = flux_help_getting_model(24ull << 30);
    g_assert_nonnull(strstr(mid, "Take an FP8 or GGUF Q8_0"));
    g_autofree char *big = flux_help_getting_model(64ull << 30);
    g_assert_nonnull(strstr(big, "The full BF16 models fit."));
    g_assert_nonnull(strstr(flux_help_first_run(), "Help"));
}

/* The estimate: from a quick test first, then from runs long enough to mean something. */
static void test_estimate(void)
{
    g_autofree char *dir = tu_model_path(NULL);
    FluxModelInfo info;
    g_assert_true(flux_model_probe(dir, &info, NULL));
    FluxSettings s = {0};
    g_autofree char *none = flux_estimate_text(&info, 64, 64, 4, &s);
    g_assert_nonnull(strstr(none, "known after the first run"));
    g_assert_true(flux_estimate_calibrate(&s));
    g_test_message("quick test: %.1f GFLOP/s", s.gflops_per_s);
    g_assert_cmpfloat(s.gflops_per_s, >, 0.1);
    g_assert_false(s.rate_from_run);
    g_assert_false(flux_estimate_calibrate(&s)); /* once */
    g_autofree char *test = flux_estimate_text(&info, 64, 64, 4, &s);
    g_assert_nonnull(strstr(test, "from a quick test"));
    g_assert_false(flux_estimate_take_run(&s, 1e12, 0.01)); /* too short to mean anything */
    g_assert_false(flux_estimate_take_run(&s, 1e9, 10.0));  /* a tiny model, slowed down */
    g_assert_false(s.rate_from_run);
    g_assert_true(flux_estimate_take_run(&s, 2e11, 4.0));
    g_assert_cmpfloat(s.gflops_per_s, ==, 50.0);
    /* FLUX.1-sized figures: 4 steps at 1024² are 4 · 57 blocks of (24 D² T + 4 T² D) */
    FluxModelInfo big = {.inner_dim = 3072,
                         .num_layers = 19,
                         .num_single_layers = 38,
                         .t5_d_model = 4096,
                         .vae_channels = 512};
    double secs = flux_estimate_seconds(&big, 1024, 1024, 4, &s);
    double want = flux_estimate_flops(&big, 1024, 1024, 512, 4) / 50e9;
    g_assert_cmpfloat(fabs(secs - want), <, 1e-9 * want);
    g_autofree char *run = flux_estimate_text(&big, 1024, 1024, 4, &s);
    g_autofree char *dur = flux_format_duration(want);
    g_test_message("%s", run);
    g_assert_nonnull(strstr(run, dur));
    g_assert_nonnull(strstr(run, "measured by the last run"));
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
    g_autofree char *dir = tu_model_path(NULL);
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
    g_test_add_func("/plugin/worker/file-model", test_file_model);
    g_test_add_func("/plugin/worker/broken-folder", test_broken_folder);
    g_test_add_func("/plugin/messages/translated/de", test_translated_de);
    g_test_add_func("/plugin/messages/translated/zh_CN", test_translated_zh);
    g_test_add_func("/plugin/help", test_help);
    g_test_add_func("/plugin/worker/bundled-tokenizers", test_bundled_tokenizers);
    g_test_add_func("/plugin/estimate", test_estimate);
    g_test_add_func("/plugin/params/validate", test_validate);
    g_test_add_func("/plugin/params/helpers", test_helpers);
    g_test_add_func("/plugin/settings/round-trip", test_settings);
    g_test_add_func("/plugin/worker/check-model", test_check_model);
    g_test_add_func("/plugin/worker/render-golden", test_render_golden);
    g_test_add_func("/plugin/loras/list", test_lora_list);
    g_test_add_func("/plugin/worker/chosen-companions", test_chosen_companions);
    g_test_add_func("/plugin/worker/companion-missing", test_companion_missing);
    g_test_add_func("/plugin/worker/precision-setting", test_precision_setting);
    return g_test_run();
}
