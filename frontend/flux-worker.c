/* flux-worker.c — one render of a FluxRenderParams through libflux (see flux-worker.h). */
#include "flux-worker.h"

#include "flux-intl.h"
#include "flux.h"

#include <string.h>

gboolean flux_worker_check_model(const char *dir, gboolean *uses_guidance, int *default_steps,
                                 GError **error)
{
    FluxModelInfo info;
    GError *err = NULL;
    if (!dir || !dir[0]) {
        g_set_error_literal(error, FLUX_ERROR, FLUX_ERROR_ARGUMENT, _("No model folder chosen."));
        return FALSE;
    }
    if (!flux_model_probe(dir, &info, &err)) {
        g_set_error(error, err->domain, err->code, _("“%s” is not a FLUX.1 model folder: %s"), dir,
                    err->message);
        g_error_free(err);
        return FALSE;
    }
    if (uses_guidance) *uses_guidance = info.uses_guidance;
    if (default_steps) *default_steps = info.default_steps;
    return TRUE;
}

typedef struct {
    const FluxWorkerCallbacks *cb;
} RunState;

static void on_phase(FluxPhase phase, void *user_data)
{
    RunState *rs = user_data;
    FluxWorkerPhase map[] = {[FLUX_PHASE_ENCODING] = FLUX_WORKER_ENCODING,
                             [FLUX_PHASE_DENOISING] = FLUX_WORKER_DENOISING,
                             [FLUX_PHASE_DECODING] = FLUX_WORKER_DECODING};
    if (rs->cb && rs->cb->phase) rs->cb->phase(map[phase], rs->cb->user_data);
}

/* GIMP ends a cancelled plug-in by killing it, so this never asks the pipeline to stop. */
static gboolean on_progress(int step, int total, double elapsed_s, void *user_data)
{
    RunState *rs = user_data;
    double left = elapsed_s / step * (total - step);
    if (rs->cb && rs->cb->step) rs->cb->step(step, total, left, rs->cb->user_data);
    return TRUE;
}

gboolean flux_worker_run(const FluxRenderParams *p, gint32 seed, const FluxWorkerCallbacks *cb,
                         FluxWorkerResult *result, GError **error)
{
    memset(result, 0, sizeof *result);
    FluxModelInfo info;
    if (!flux_worker_check_model(p->model, NULL, NULL, error)) return FALSE;
    if (!flux_model_probe(p->model, &info, error)) return FALSE;

    gint64 t0 = g_get_monotonic_time();
    RunState rs = {.cb = cb};
    if (cb && cb->phase) cb->phase(FLUX_WORKER_LOADING, cb->user_data);
    FluxModel *model = flux_model_load(p->model, error);
    if (!model) return FALSE;

    FluxGenerateParams gp;
    flux_generate_params_init(&gp, model);
    gp.prompt = p->prompt;
    gp.width = p->width;
    gp.height = p->height;
    gp.steps = p->steps;
    gp.guidance = (float)p->guidance;
    gp.seed = (guint64)seed;
    gp.progress = on_progress;
    gp.phase = on_phase;
    gp.user_data = &rs;

    gboolean ok = flux_generate_params_validate(model, &gp, error);
    int w = 0, h = 0;
    flux_output_size(&gp, &w, &h);
    guint8 *rgb = ok ? g_try_malloc((gsize)w * (gsize)h * 3) : NULL;
    if (ok && !rgb) {
        g_set_error(error, FLUX_ERROR, FLUX_ERROR_NO_MEMORY,
                    _("Not enough memory for a %d × %d image."), w, h);
        ok = FALSE;
    }
    ok = ok && flux_generate(model, &gp, rgb, error);
    flux_model_free(model);
    if (!ok) {
        g_free(rgb);
        return FALSE;
    }
    result->rgb = rgb;
    result->width = w;
    result->height = h;
    result->seconds = (double)(g_get_monotonic_time() - t0) / G_USEC_PER_SEC;
    result->flops = flux_estimate_flops(&info, w, h, gp.max_sequence_length, gp.steps);
    result->gflops_per_s = result->seconds > 0 ? result->flops / result->seconds / 1e9 : 0.0;
    return TRUE;
}
