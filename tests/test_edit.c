/* test_edit.c — img2img, inpainting and FLUX.1 Fill through flux_generate against every case of
 * ../shared/reference/tiny-flux-dev/golden/edit/ (diffusers 0.32.2 FluxImg2ImgPipeline,
 * FluxInpaintPipeline, FluxFillPipeline): every float tensor the golden has (image and noise
 * latents, masks, start latents, schedule, every step's latents, the image) within 1e-4 relative,
 * image_u8 within ±1; the Fill model from its folder and from a BFL-named single file; the
 * strength → start-step rule; every validation error. */
#include "edit.h"
#include "flux.h"
#include "testutil.h"

#include <json-glib/json-glib.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define TOL  1e-4
#define EDIT "edit/edit.safetensors"

static JsonObject *edit_manifest(void)
{
    static JsonParser *parser;
    if (!parser) {
        g_autofree char *path = tu_model_path("golden/edit/manifest.json");
        GError *err = NULL;
        parser = json_parser_new();
        json_parser_load_from_file(parser, path, &err);
        g_assert_no_error(err);
    }
    return json_node_get_object(json_parser_get_root(parser));
}

static char *fill_dir(void)
{
    return g_build_filename(tu_ref_dir(), "tiny-flux-fill-dev", NULL);
}

static FluxModel *load_dir(const char *dir)
{
    GError *err = NULL;
    FluxModel *m = flux_model_load(dir, &err);
    g_assert_no_error(err);
    return m;
}

/* "PROMPTS['plain']" → the manifest's text for "plain". */
static const char *prompt_text(const char *call)
{
    g_assert_true(g_str_has_prefix(call, "PROMPTS['"));
    g_autofree char *key = g_strndup(call + 9, strlen(call) - 11);
    JsonObject *prompts = json_object_get_object_member(edit_manifest(), "prompts");
    return json_object_get_string_member(prompts, key);
}

static const guint8 *golden_u8(const char *name, const char *what, int *h, int *w)
{
    g_autofree char *key = g_strdup_printf("%s.%s", name, what);
    const StTensor *t = tu_golden_tensor(EDIT, key);
    g_assert_cmpint(t->dtype, ==, ST_U8);
    *h = (int)t->shape[0], *w = (int)t->shape[1];
    return t->data;
}

/* Runs case `name` on model m; compares every float tensor of the case; returns the worst
 * relative difference. */
static double run_case(FluxModel *m, const char *name)
{
    JsonObject *c = json_object_get_object_member(
        json_object_get_object_member(edit_manifest(), "cases"), name);
    JsonObject *call = json_object_get_object_member(c, "call");
    FluxGenerateParams p;
    flux_generate_params_init(&p, m);
    p.prompt = prompt_text(json_object_get_string_member(call, "prompt"));
    p.width = (int)json_object_get_int_member(call, "width");
    p.height = (int)json_object_get_int_member(call, "height");
    p.steps = (int)json_object_get_int_member(call, "num_inference_steps");
    p.guidance = (float)json_object_get_double_member(call, "guidance_scale");
    p.max_sequence_length = (int)json_object_get_int_member(call, "max_sequence_length");
    if (json_object_has_member(call, "strength"))
        p.strength = json_object_get_double_member(call, "strength");
    p.seed = (guint64)json_object_get_int_member(c, "seed");
    p.init_image = golden_u8(name, "init_image_u8", &p.init_height, &p.init_width);
    if (json_object_has_member(call, "mask_image"))
        p.mask = golden_u8(name, "mask_u8", &p.mask_height, &p.mask_width);
    GHashTable *seen = tu_capture_new();
    p.trace = tu_capture_trace;
    p.user_data = seen;
    guint8 *rgb = g_malloc((gsize)p.width * p.height * 3);
    GError *err = NULL;
    g_assert_true(flux_generate(m, &p, rgb, &err));
    g_assert_no_error(err);

    StFile *g = tu_golden(EDIT);
    g_autofree char *prefix = g_strdup_printf("%s.", name);
    double worst = 0;
    int n = 0;
    for (gsize i = 0; i < st_file_n_tensors(g); i++) {
        StTensor *ref = st_file_tensor(g, i);
        if (ref->dtype != ST_F32 || !g_str_has_prefix(ref->name, prefix)) continue;
        const char *key = ref->name + strlen(prefix);
        float *got = g_hash_table_lookup(seen, key);
        if (!got) {
            g_test_fail_printf("%s: no traced tensor '%s'", name, key);
            continue;
        }
        worst = fmax(worst, tu_assert_close_t(ref->name, got, ref, TOL));
        n++;
    }
    int h, w, bad = 0;
    const guint8 *ref = golden_u8(name, "image_u8", &h, &w);
    for (int i = 0; i < h * w * 3; i++) bad += abs((int)rgb[i] - (int)ref[i]) > 1;
    g_assert_cmpint(bad, ==, 0);
    g_test_message("%s: %d tensors, worst relative max diff %.3g", name, n, worst);
    g_hash_table_destroy(seen);
    g_free(rgb);
    return worst;
}

static void test_img2img_inpaint(void)
{
    g_autofree char *dir = tu_model_path(NULL);
    FluxModel *m = load_dir(dir);
    g_assert_false(flux_model_is_fill(m));
    const char *cases[] = {"i2i_64x64_s4_str06", "i2i_48x80_s5_str085", "i2i_32x32_s3_str1",
                           "inp_64x64_s4_str1_rect", "inp_80x48_s4_str07_soft"};
    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) run_case(m, cases[i]);
    flux_model_free(m);
}

static void test_fill_folder(void)
{
    g_autofree char *dir = fill_dir();
    FluxModel *m = load_dir(dir);
    g_assert_true(flux_model_is_fill(m));
    FluxGenerateParams p;
    flux_generate_params_init(&p, m);
    g_assert_cmpfloat(p.guidance, ==, 30.0f); /* FluxFillPipeline's default */
    run_case(m, "fill_64x64_s3_ellipse");
    run_case(m, "fill_48x64_s2_rect");
    flux_model_free(m);
}

/* The Fill transformer as a single file with Black Forest Labs' names (img_in.weight
 * [3072→inner, 384]): its config comes from the shapes, in_channels 384 included. */
static void test_fill_single_file(void)
{
    const char *py = tu_python_with_numpy();
    if (!py) {
        g_test_skip("no python with numpy");
        return;
    }
    g_autofree char *dir = fill_dir();
    g_autofree char *tmp = tu_temp_dir();
    g_autofree char *file = g_build_filename(tmp, "flux1-fill-tiny.safetensors", NULL);
    g_autofree char *src = g_path_get_dirname(__FILE__);
    g_autofree char *script = g_build_filename(src, "convert_checkpoint.py", NULL);
    const char *argv[] = {py, script, "--bfl-transformer", dir, file, NULL};
    int status;
    GError *err = NULL;
    g_assert_true(g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, NULL, NULL,
                               &status, &err));
    g_assert_no_error(err);
    g_assert_true(g_spawn_check_wait_status(status, NULL));
    FluxModelFiles f = {.folder = dir, .transformer = file};
    FluxModel *m = flux_model_load_files(&f, &err);
    g_assert_no_error(err);
    g_assert_true(flux_model_is_fill(m));
    run_case(m, "fill_64x64_s3_ellipse");
    flux_model_free(m);
}

/* get_timesteps with Python's float arithmetic (values printed by python3): 10·0.3 = 3.0 →
 * t_start 7, where a float32 strength (0.300000012) would give 6; 4·0.2 = 0.8 → int(3.2) = 3:
 * one step still runs; only a strength whose N·s vanishes next to N runs none. */
static void test_t_start(void)
{
    g_assert_cmpint(edit_t_start(4, 0.6), ==, 1);
    g_assert_cmpint(edit_t_start(5, 0.85), ==, 0);
    g_assert_cmpint(edit_t_start(3, 1.0), ==, 0);
    g_assert_cmpint(edit_t_start(4, 0.7), ==, 1);
    g_assert_cmpint(edit_t_start(10, 0.7), ==, 3);
    g_assert_cmpint(edit_t_start(10, 0.3), ==, 7);
    g_assert_cmpint(edit_t_start(28, 0.3), ==, 19);
    g_assert_cmpint(edit_t_start(4, 0.2), ==, 3);
    g_assert_cmpint(edit_t_start(3, 0.7), ==, 0);
    g_assert_cmpint(edit_t_start(4, 1e-20), ==, 4);
}

static void expect_invalid(const FluxModel *m, const FluxGenerateParams *p, const char *needle)
{
    GError *err = NULL;
    g_assert_false(flux_generate_params_validate(m, p, &err));
    g_assert_error(err, FLUX_ERROR, FLUX_ERROR_ARGUMENT);
    g_test_message("expected: %s", err->message);
    if (!strstr(err->message, needle)) g_test_fail_printf("'%s' lacks '%s'", err->message, needle);
    g_error_free(err);
}

static void test_validate(void)
{
    static guint8 pic[64 * 48 * 3], mask[64 * 48];
    FluxGenerateParams p;
    flux_generate_params_init(&p, NULL);
    g_assert_cmpfloat(p.strength, ==, 0.6);
    p.width = 48, p.height = 64, p.steps = 4;
    p.mask = mask, p.mask_width = 48, p.mask_height = 64;
    expect_invalid(NULL, &p, "mask was given without an init picture");
    p.init_image = pic, p.init_width = 48, p.init_height = 64;
    g_assert_true(flux_generate_params_validate(NULL, &p, NULL));
    p.mask_width = 47;
    expect_invalid(NULL, &p, "the mask is 47×64 pixels but the init picture is 48×64");
    p.mask = NULL;
    p.width = 50; /* floored to 48: still fine */
    g_assert_true(flux_generate_params_validate(NULL, &p, NULL));
    p.width = 64;
    expect_invalid(NULL, &p, "the init picture is 48×64 pixels but the output is 64×64");
    p.width = 48;
    const double bad[] = {0.0, -0.5, 1.5, NAN};
    for (gsize i = 0; i < G_N_ELEMENTS(bad); i++) {
        p.strength = bad[i];
        expect_invalid(NULL, &p, "out of range");
    }
    p.strength = 1e-20; /* 4 − 4e-20 = 4: t_start 4 */
    expect_invalid(NULL, &p, "runs no step");
    p.strength = 0.05; /* int(4 − 0.2) = 3: the last step runs */
    g_assert_true(flux_generate_params_validate(NULL, &p, NULL));

    g_autofree char *dir = fill_dir();
    FluxModel *fill = load_dir(dir);
    FluxGenerateParams q;
    flux_generate_params_init(&q, fill);
    q.width = 48, q.height = 64, q.steps = 2, q.max_sequence_length = 16;
    expect_invalid(fill, &q, "Fill model");
    q.init_image = pic, q.init_width = 48, q.init_height = 64;
    expect_invalid(fill, &q, "needs both an init picture and a mask");
    q.mask = mask, q.mask_width = 48, q.mask_height = 64;
    q.strength = 0.01; /* not used by Fill */
    g_assert_true(flux_generate_params_validate(fill, &q, NULL));
    /* flux_generate refuses too, leaving the output untouched */
    q.mask = NULL;
    guint8 *rgb = g_malloc0(48 * 64 * 3);
    GError *err = NULL;
    g_assert_false(flux_generate(fill, &q, rgb, &err));
    g_assert_error(err, FLUX_ERROR, FLUX_ERROR_ARGUMENT);
    g_clear_error(&err);
    for (int i = 0; i < 48 * 64 * 3; i++) g_assert_cmpint(rgb[i], ==, 0);
    g_free(rgb);
    flux_model_free(fill);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/edit/t-start", test_t_start);
    g_test_add_func("/edit/validate", test_validate);
    g_test_add_func("/edit/img2img-inpaint-golden", test_img2img_inpaint);
    g_test_add_func("/edit/fill-folder-golden", test_fill_folder);
    g_test_add_func("/edit/fill-single-file", test_fill_single_file);
    return g_test_run();
}
