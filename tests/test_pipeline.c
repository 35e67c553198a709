/* test_pipeline.c — the public API around a run: parameters, validation, progress,
 * cancellation, preview, repeatability, schnell-type models, and an in-process golden run. */
#include "flux.h"
#include "model.h"
#include "testutil.h"

#include <glib/gstdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static void small_params(FluxGenerateParams *p, FluxModel *m)
{
    flux_generate_params_init(p, m);
    p->prompt = "a photo of a cat";
    p->width = 32;
    p->height = 48;
    p->steps = 3;
    p->max_sequence_length = 32;
    p->seed = 5;
}

static void test_defaults(void)
{
    FluxGenerateParams p;
    flux_generate_params_init(&p, NULL);
    /* FluxPipeline.__call__ defaults */
    g_assert_cmpint(p.width, ==, 1024);
    g_assert_cmpint(p.height, ==, 1024);
    g_assert_cmpint(p.steps, ==, 28);
    g_assert_cmpfloat(p.guidance, ==, 3.5f);
    g_assert_cmpint(p.max_sequence_length, ==, 512);
    int w, h;
    p.width = 72;
    p.height = 56;
    flux_output_size(&p, &w, &h);
    g_assert_cmpint(w, ==, 64);
    g_assert_cmpint(h, ==, 48);
}

static void expect_invalid(FluxGenerateParams *p, const char *needle)
{
    GError *err = NULL;
    g_assert_false(flux_generate_params_validate(NULL, p, &err));
    g_assert_error(err, FLUX_ERROR, FLUX_ERROR_ARGUMENT);
    if (!strstr(err->message, needle)) g_test_fail_printf("'%s' lacks '%s'", err->message, needle);
    g_error_free(err);
}

static void test_validate(void)
{
    FluxGenerateParams p;
    flux_generate_params_init(&p, NULL);
    g_assert_true(flux_generate_params_validate(NULL, &p, NULL));
    p.width = 8;
    expect_invalid(&p, "width 8");
    p.width = 8192;
    expect_invalid(&p, "width 8192");
    p.width = 64;
    p.steps = 0;
    expect_invalid(&p, "steps 0");
    p.steps = 4;
    p.guidance = NAN;
    expect_invalid(&p, "guidance nan");
    p.guidance = 3.5f;
    p.max_sequence_length = 0;
    expect_invalid(&p, "max sequence length 0");
    p.max_sequence_length = 512;
    p.prompt = "\xff\xfe";
    expect_invalid(&p, "UTF-8");
}

typedef struct {
    int calls, previews, cancel_at, last_step;
    double last_elapsed;
} Progress;

static gboolean on_progress(int step, int total, double elapsed, void *ud)
{
    Progress *pr = ud;
    pr->calls++;
    g_assert_cmpint(step, ==, pr->last_step + 1);
    g_assert_cmpint(total, ==, 3);
    g_assert_cmpfloat(elapsed, >=, pr->last_elapsed);
    pr->last_step = step;
    pr->last_elapsed = elapsed;
    return step != pr->cancel_at;
}

static void on_preview(int step, const float *latents, int lh, int lw, void *ud)
{
    Progress *pr = ud;
    pr->previews++;
    g_assert_cmpint(step, ==, pr->last_step + 1); /* before the progress of the same step */
    g_assert_cmpint(lh, ==, 6);
    g_assert_cmpint(lw, ==, 4);
    g_assert_true(isfinite(latents[0]));
}

static void test_progress_and_cancel(void)
{
    FluxModel *m = tu_tiny_model();
    FluxGenerateParams p;
    small_params(&p, m);
    Progress pr = {0};
    p.progress = on_progress;
    p.preview = on_preview;
    p.user_data = &pr;
    guint8 *rgb = g_malloc(32 * 48 * 3);
    GError *err = NULL;
    g_assert_true(flux_generate(m, &p, rgb, &err));
    g_assert_no_error(err);
    g_assert_cmpint(pr.calls, ==, 3);
    g_assert_cmpint(pr.previews, ==, 3);

    Progress stop = {.cancel_at = 2};
    p.user_data = &stop;
    g_assert_false(flux_generate(m, &p, rgb, &err));
    g_assert_error(err, FLUX_ERROR, FLUX_ERROR_CANCELLED);
    g_assert_cmpint(stop.calls, ==, 2); /* no step after the cancel */
    g_clear_error(&err);
    g_free(rgb);
    flux_model_free(m);
}

/* Block progress: 0 as a step begins, then one call per transformer block (per pass with
 * true CFG), the fraction rising strictly within the step to exactly 1 at its end, all before
 * that step's FluxProgressFunc. */
typedef struct {
    int calls, step, progress_step, last_total;
    double last_fraction;
} Blocks;

static void on_block(int step, int total, double fraction, void *ud)
{
    Blocks *b = ud;
    b->calls++;
    g_assert_cmpint(total, ==, 3);
    g_assert_cmpint(b->progress_step, ==, step - 1); /* inside the step, not after it */
    if (step != b->step) { /* a new step begins at 0; the previous one ended at exactly 1 */
        g_assert_cmpint(step, ==, b->step + 1);
        g_assert_true(b->step == 0 || b->last_fraction == 1.0);
        g_assert_cmpfloat(fraction, ==, 0.0);
        b->step = step;
        b->last_fraction = 0.0;
        return;
    }
    g_assert_cmpfloat(fraction, >, b->last_fraction);
    g_assert_cmpfloat(fraction, <=, 1.0);
    b->last_fraction = fraction;
}

static gboolean on_block_step(int step, int total, double elapsed, void *ud)
{
    (void)total, (void)elapsed;
    Blocks *b = ud;
    g_assert_cmpfloat(b->last_fraction, ==, 1.0);
    b->progress_step = step;
    return TRUE;
}

static void test_block_progress(void)
{
    FluxModel *m = tu_tiny_model();
    g_autofree char *dir = tu_model_path(NULL);
    FluxModelInfo info;
    g_assert_true(flux_model_probe(dir, &info, NULL));
    int blocks = info.num_layers + info.num_single_layers;
    g_assert_cmpint(blocks, >, 1);
    FluxGenerateParams p;
    small_params(&p, m);
    Blocks b = {0};
    p.block_progress = on_block;
    p.progress = on_block_step;
    p.user_data = &b;
    guint8 *rgb = g_malloc(32 * 48 * 3);
    GError *err = NULL;
    g_assert_true(flux_generate(m, &p, rgb, &err));
    g_assert_no_error(err);
    g_assert_cmpint(b.calls, ==, 3 * (blocks + 1));
    g_assert_cmpint(b.progress_step, ==, 3);

    /* true CFG: two transformer passes per step, the first ending at one half */
    Blocks cfg = {0};
    p.user_data = &cfg;
    p.negative_prompt = "blurry";
    p.true_cfg_scale = 2.0f;
    g_assert_true(flux_generate(m, &p, rgb, &err));
    g_assert_no_error(err);
    g_assert_cmpint(cfg.calls, ==, 3 * (2 * blocks + 1));
    g_free(rgb);
    flux_model_free(m);
}

static void test_repeatable(void)
{
    FluxModel *m = tu_tiny_model();
    FluxGenerateParams p;
    small_params(&p, m);
    size_t n = 32 * 48 * 3;
    guint8 *a = g_malloc(n), *b = g_malloc(n), *c = g_malloc(n);
    g_assert_true(flux_generate(m, &p, a, NULL));
    g_assert_true(flux_generate(m, &p, b, NULL));
    g_assert_cmpmem(a, n, b, n);
    p.seed = 6;
    g_assert_true(flux_generate(m, &p, c, NULL));
    g_assert_true(memcmp(a, c, n) != 0);
    /* seeds equal modulo 2^32 give the same noise (torch seeds mt19937 with the low word) */
    p.seed = 5 + (G_GUINT64_CONSTANT(1) << 32);
    g_assert_true(flux_generate(m, &p, c, NULL));
    g_assert_cmpmem(a, n, c, n);
    g_free(a), g_free(b), g_free(c);
    flux_model_free(m);
}

/* Text encoders released after encoding (as on a machine too small for all the weights) and
 * loaded again for the next prompt: the same pictures as with them kept, run after run. */
static void test_encoders_released(void)
{
    FluxGenerateParams p;
    size_t n = 32 * 48 * 3;
    guint8 *kept = g_malloc(n), *a = g_malloc(n), *b = g_malloc(n);
    g_setenv("FLUX_RELEASE_ENCODERS", "never", TRUE);
    FluxModel *m = tu_tiny_model();
    small_params(&p, m);
    g_assert_true(flux_generate(m, &p, kept, NULL));
    g_assert_nonnull(m->clip);
    g_assert_nonnull(m->t5);
    flux_model_free(m);

    g_setenv("FLUX_RELEASE_ENCODERS", "always", TRUE);
    m = tu_tiny_model();
    g_assert_true(flux_generate(m, &p, a, NULL));
    g_assert_null(m->clip);
    g_assert_null(m->t5);
    g_assert_true(flux_generate(m, &p, b, NULL));
    g_assert_null(m->t5);
    g_assert_cmpmem(kept, n, a, n);
    g_assert_cmpmem(kept, n, b, n);
    GError *err = NULL;
    g_assert_true(flux_encode_prompt(m, &p, &err));
    g_assert_no_error(err);
    g_assert_null(m->t5);
    g_unsetenv("FLUX_RELEASE_ENCODERS");
    g_free(kept), g_free(a), g_free(b);
    flux_model_free(m);
}

/* A copy of the tiny model whose transformer config says guidance_embeds: false. */
static char *schnell_copy(void)
{
    g_autofree char *src = tu_model_path(NULL);
    char *dst = tu_temp_dir();
    g_autofree char *cmd = g_strdup_printf("cp -rs '%s/.' '%s/'", src, dst);
    g_assert_cmpint(system(cmd), ==, 0);
    g_autofree char *cfgp = g_build_filename(dst, "transformer", "config.json", NULL);
    gchar *cfg;
    g_assert_true(g_file_get_contents(cfgp, &cfg, NULL, NULL));
    char **parts = g_strsplit(cfg, "\"guidance_embeds\": true", 2);
    g_assert_cmpuint(g_strv_length(parts), ==, 2);
    g_autofree char *cfg2 = g_strjoinv("\"guidance_embeds\": false", parts);
    g_strfreev(parts);
    g_free(cfg);
    g_unlink(cfgp);
    g_assert_true(g_file_set_contents(cfgp, cfg2, -1, NULL));
    return dst;
}

static void test_schnell_type(void)
{
    g_autofree char *dir = schnell_copy();
    GError *err = NULL;
    FluxModel *m = flux_model_load(dir, &err);
    g_assert_no_error(err);
    g_assert_false(flux_model_uses_guidance(m));
    char **unused = NULL;
    flux_model_unused_tensors(m, &unused);
    gboolean guidance_unused = FALSE;
    for (char **u = unused; *u; u++) guidance_unused |= strstr(*u, "guidance_embedder") != NULL;
    g_assert_true(guidance_unused);
    g_strfreev(unused);
    FluxGenerateParams p;
    small_params(&p, m);
    flux_generate_params_init(&p, m);
    g_assert_cmpint(p.steps, ==, 4); /* schnell-type default */
    small_params(&p, m);
    size_t n = 32 * 48 * 3;
    guint8 *a = g_malloc(n), *b = g_malloc(n);
    g_assert_true(flux_generate(m, &p, a, NULL));
    p.guidance = 9.0f; /* ignored by schnell-type models */
    g_assert_true(flux_generate(m, &p, b, NULL));
    g_assert_cmpmem(a, n, b, n);
    g_free(a), g_free(b);
    flux_model_free(m);
}

static void test_golden_in_process(void)
{
    /* p64x64_s4 through the API: every float tensor of the golden run */
    FluxModel *m = tu_tiny_model();
    FluxGenerateParams p;
    flux_generate_params_init(&p, m);
    p.prompt = "a photo of a cat";
    p.width = p.height = 64;
    p.steps = 4;
    p.seed = 0;
    GHashTable *seen = tu_capture_new();
    p.trace = tu_capture_trace;
    p.user_data = seen;
    guint8 *rgb = g_malloc(64 * 64 * 3);
    GError *err = NULL;
    g_assert_true(flux_generate(m, &p, rgb, &err));
    g_assert_no_error(err);
    StFile *g = tu_golden("pipeline_p64x64_s4.safetensors");
    for (gsize i = 0; i < st_file_n_tensors(g); i++) {
        StTensor *ref = st_file_tensor(g, i);
        if (ref->dtype != ST_F32) continue;
        float *got = g_hash_table_lookup(seen, ref->name);
        if (!got) {
            g_test_fail_printf("no traced tensor '%s'", ref->name);
            continue;
        }
        tu_assert_close_t(ref->name, got, ref, 1e-4);
    }
    const StTensor *u8 = tu_golden_tensor("pipeline_p64x64_s4.safetensors", "image_u8");
    const guint8 *ref = u8->data;
    for (int i = 0; i < 64 * 64 * 3; i++) g_assert_cmpint(abs((int)rgb[i] - (int)ref[i]), <=, 1);
    g_hash_table_destroy(seen);
    g_free(rgb);
    flux_model_free(m);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/pipeline/defaults", test_defaults);
    g_test_add_func("/pipeline/validate", test_validate);
    g_test_add_func("/pipeline/progress-and-cancel", test_progress_and_cancel);
    g_test_add_func("/pipeline/block-progress", test_block_progress);
    g_test_add_func("/pipeline/repeatable", test_repeatable);
    g_test_add_func("/pipeline/encoders-released", test_encoders_released);
    g_test_add_func("/pipeline/schnell-type", test_schnell_type);
    g_test_add_func("/pipeline/golden-in-process", test_golden_in_process);
    return g_test_run();
}
