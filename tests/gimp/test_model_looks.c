/* test_model_looks.c — one render looks at the model on disk once: the checks before the run
 * (flux_worker_prepare) find it, and the run (flux_worker_run with FluxWorkerCallbacks.found)
 * loads what was found. Counted by core/pipeline/probe.h's test hook (every flux_model_probe
 * of a folder and flux_model_locate of a file's companions), on the tiny reference model. */
#include "testutil.h"
#include "flux-params.h"
#include "flux-worker.h"
#include "flux.h"
#include "probe.h"

#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

/* A small render (32×32, 2 steps) of `model`, steps 0 so the model's default is asked for. */
static FluxRenderParams small_params(const char *model)
{
    FluxRenderParams p;
    flux_render_params_init(&p);
    flux_render_params_set_prompt(&p, "a photo of a cat");
    flux_render_params_set_model(&p, model);
    p.width = p.height = 32;
    p.steps = 0;
    p.guidance = 3.5;
    return p;
}

static void test_folder_render(void)
{
    g_autofree char *dir = tu_model_path(NULL);
    FluxRenderParams p = small_params(dir);
    FluxModelFound found;
    GError *err = NULL;
    guint before = probe_looks();
    g_assert_true(flux_worker_prepare(&p, &found, &err));
    g_assert_no_error(err);
    g_assert_cmpint(p.steps, ==, 28); /* tiny-flux-dev is dev-type: its default came along */
    g_assert_cmpuint(probe_looks() - before, ==, 1);
    p.steps = 2;

    FluxWorkerCallbacks cb = {.found = &found};
    FluxWorkerResult res;
    g_assert_true(flux_worker_run(&p, 0, &cb, &res, &err));
    g_assert_no_error(err);
    g_free(res.rgb);
    /* the render, checks included: one look (before: the checks, the run's own check, and
     * flux_model_load's probe of the folder, three) */
    g_assert_cmpuint(probe_looks() - before, ==, 1);
    g_assert_cmpfloat(res.flops, ==, flux_estimate_flops(&found.info, 32, 32, 512, 2));

    /* without what was found, the run looks once itself */
    before = probe_looks();
    g_assert_true(flux_worker_run(&p, 0, NULL, &res, &err));
    g_free(res.rgb);
    g_assert_cmpuint(probe_looks() - before, ==, 1);

    /* found for another model: not used, the run looks for its own */
    g_autofree char *copy = g_build_filename(g_get_tmp_dir(), "flux-looks-XXXXXX", NULL);
    g_assert_nonnull(g_mkdtemp(copy));
    g_autofree char *link = g_build_filename(copy, "model", NULL);
    g_assert_cmpint(symlink(dir, link), ==, 0);
    flux_render_params_set_model(&p, link);
    before = probe_looks();
    g_assert_true(flux_worker_run(&p, 0, &cb, &res, &err));
    g_free(res.rgb);
    g_assert_cmpuint(probe_looks() - before, ==, 1);
    g_unlink(link);
    g_rmdir(copy);
    flux_model_found_clear(&found);
}

/* Errors keep their order: with steps 0 the model's problem comes first, else the
 * parameters'; neither loads anything. */
static void test_prepare_errors(void)
{
    FluxRenderParams p = small_params("/nonexistent/flux");
    FluxModelFound found;
    GError *err = NULL;
    g_assert_false(flux_worker_prepare(&p, &found, &err));
    g_assert_error(err, FLUX_ERROR, FLUX_ERROR_IO);
    g_clear_error(&err);
    g_assert_null(found.files.folder);
    flux_model_found_clear(&found);

    p.steps = 2;
    p.width = 8; /* below the smallest size */
    g_assert_false(flux_worker_prepare(&p, &found, &err));
    g_assert_error(err, FLUX_ERROR, FLUX_ERROR_ARGUMENT);
    g_clear_error(&err);
    flux_model_found_clear(&found);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/model-looks/folder-render", test_folder_render);
    g_test_add_func("/model-looks/prepare-errors", test_prepare_errors);
    return g_test_run();
}
