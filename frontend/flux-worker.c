/* flux-worker.c — one render of a FluxRenderParams through libflux (see flux-worker.h). */
#include "flux-worker.h"

#include "flux-intl.h"
#include "flux-model-problem.h"
#include "flux-loras.h"
#include "flux.h"

#include <string.h>

static char *tokenizers_dir;
static char *precision_choice;

void flux_worker_set_tokenizers(const char *dir)
{
    g_free(tokenizers_dir);
    tokenizers_dir = dir && dir[0] ? g_strdup(dir) : NULL;
}

const char *flux_worker_tokenizers(void)
{
    return tokenizers_dir;
}

void flux_worker_set_precision(const char *precision)
{
    g_free(precision_choice);
    precision_choice = precision && precision[0] ? g_strdup(precision) : NULL;
}

gboolean flux_worker_find_model(const char *model, FluxModelFound *found, GError **error)
{
    memset(found, 0, sizeof *found);
    if (!model || !model[0]) {
        g_set_error_literal(error, FLUX_ERROR, FLUX_ERROR_ARGUMENT, _("No model chosen."));
        return FALSE;
    }
    FluxModelProblem pb = {0};
    GError *err = NULL;
    if (!flux_model_find(model, tokenizers_dir, found, &pb, &err)) {
        g_autofree char *msg = flux_model_problem_message(model, &pb);
        g_set_error_literal(error, FLUX_ERROR, err->code, msg);
        g_debug("%s", err->message); /* the library's English, for a bug report */
        g_error_free(err);
        flux_model_problem_clear(&pb);
        flux_model_found_clear(found); /* a failed find may still hold the path asked for */
        return FALSE;
    }
    return TRUE;
}

gboolean flux_worker_probe_model(const char *model, FluxModelInfo *info, GError **error)
{
    FluxModelFound found;
    gboolean ok = flux_worker_find_model(model, &found, error);
    if (info) *info = found.info;
    flux_model_found_clear(&found);
    return ok;
}

gboolean flux_worker_check_model(const char *dir, gboolean *uses_guidance, int *default_steps,
                                 GError **error)
{
    FluxModelInfo info;
    if (!flux_worker_probe_model(dir, &info, error)) return FALSE;
    if (uses_guidance) *uses_guidance = info.uses_guidance;
    if (default_steps) *default_steps = info.default_steps;
    return TRUE;
}

gboolean flux_worker_resolve_steps(FluxRenderParams *p, GError **error)
{
    if (p->steps != 0) return TRUE;
    return flux_worker_check_model(p->model, NULL, &p->steps, error);
}

gboolean flux_worker_prepare(FluxRenderParams *p, FluxModelFound *found, GError **error)
{
    memset(found, 0, sizeof *found);
    /* the model's default steps are needed before the parameters can be checked */
    if (p->steps == 0) {
        if (!flux_worker_find_model(p->model, found, error)) return FALSE;
        p->steps = found->info.default_steps;
    }
    return flux_render_params_validate(p, error) &&
           (found->path || flux_worker_find_model(p->model, found, error));
}

typedef struct {
    const FluxWorkerCallbacks *cb;
    gint64 denoise_start, denoise_end; /* monotonic µs; 0 until the phase began */
    FluxModel *model;
    int total, pw, ph, vae_every; /* vae_every 0: projection only */
    guint8 *rgb;                  /* [ph, pw, 3] */
} RunState;

static double since_denoise(const RunState *rs)
{
    return (double)(g_get_monotonic_time() - rs->denoise_start) / G_USEC_PER_SEC;
}

static void on_phase(FluxPhase phase, void *user_data)
{
    RunState *rs = user_data;
    if (phase == FLUX_PHASE_DENOISING) rs->denoise_start = g_get_monotonic_time();
    if (phase == FLUX_PHASE_DECODING) rs->denoise_end = g_get_monotonic_time();
    FluxWorkerPhase map[] = {[FLUX_PHASE_ENCODING] = FLUX_WORKER_ENCODING,
                             [FLUX_PHASE_DENOISING] = FLUX_WORKER_DENOISING,
                             [FLUX_PHASE_DECODING] = FLUX_WORKER_DECODING};
    if (rs->cb && rs->cb->phase) rs->cb->phase(map[phase], rs->cb->user_data);
}

/* GIMP ends a plug-in whose progress bar is cancelled by killing it; the preview window's
 * Stop sets cb->cancel instead. */
static gboolean on_progress(int step, int total, double elapsed_s, void *user_data)
{
    RunState *rs = user_data;
    double left = elapsed_s / step * (total - step);
    if (rs->cb && rs->cb->step) rs->cb->step(step, total, left, rs->cb->user_data);
    return !(rs->cb && rs->cb->cancel && g_atomic_int_get(rs->cb->cancel));
}

void flux_worker_preview_size(int width, int height, int side, int *pw, int *ph)
{
    side = side > 0 ? side : 256;
    int big = MAX(MAX(width, height), 1);
    *pw = MAX(1, (int)((gint64)width * side / big));
    *ph = MAX(1, (int)((gint64)height * side / big));
}

/* A failed preview only costs the picture of that step: the run goes on. */
static void on_preview(int step, const float *x0, int latent_h, int latent_w, void *user_data)
{
    RunState *rs = user_data;
    if (rs->cb && rs->cb->cancel && g_atomic_int_get(rs->cb->cancel)) return;
    gboolean vae = rs->vae_every > 0 && step % rs->vae_every == 0;
    FluxPreviewQuality q = vae ? FLUX_PREVIEW_VAE : FLUX_PREVIEW_PROJECTION;
    GError *err = NULL;
    if (flux_preview_render(rs->model, q, x0, latent_h, latent_w, rs->pw, rs->ph, rs->rgb, &err))
        rs->cb->preview(step, rs->total, rs->rgb, rs->pw, rs->ph, rs->cb->user_data);
    else
        g_clear_error(&err);
}

/* Previews as cb asks: the picture's buffer and which steps get the real decoder. */
static void setup_previews(RunState *rs, FluxGenerateParams *gp, const FluxModelInfo *info)
{
    const FluxWorkerCallbacks *cb = rs->cb;
    if (!cb || !cb->preview) return;
    int w, h;
    flux_output_size(gp, &w, &h);
    flux_worker_preview_size(w, h, cb->preview_side, &rs->pw, &rs->ph);
    rs->rgb = g_try_malloc((gsize)rs->pw * rs->ph * 3);
    if (!rs->rgb) return;
    rs->total = gp->steps;
    if (cb->preview_quality == FLUX_PREVIEW_VAE) {
        FluxPreviewPlan plan;
        flux_preview_plan(info, FLUX_PREVIEW_VAE, w, h, gp->steps, gp->max_sequence_length, &plan);
        rs->vae_every = plan.every;
    }
    gp->preview = on_preview;
}

/* The time left from the share of all steps done so far, blocks included. */
static void on_block(int step, int total, double fraction, void *user_data)
{
    RunState *rs = user_data;
    double done = (step - 1 + fraction) / total, elapsed = since_denoise(rs);
    double left = done > 0.0 ? elapsed / done * (1.0 - done) : 0.0;
    rs->cb->within_step(step, total, fraction, left, rs->cb->user_data);
}

/* `in` (may be NULL): the picture to start from (flux-edit.h). */
static gboolean worker_run(const FluxRenderParams *p, gint32 seed, const FluxEditInput *in,
                           const FluxWorkerCallbacks *cb, FluxWorkerResult *result, GError **error)
{
    memset(result, 0, sizeof *result);
    /* what the check before the run found (flux_worker_prepare), else one look here */
    FluxModelFound own = {0};
    const FluxModelFound *found = cb ? cb->found : NULL;
    if (!found || g_strcmp0(found->path, p->model)) {
        if (!flux_worker_find_model(p->model, &own, error)) return FALSE;
        found = &own;
    }
    const FluxModelInfo info = found->info;

    gint64 t0 = g_get_monotonic_time();
    RunState rs = {.cb = cb};
    if (cb && cb->phase) cb->phase(FLUX_WORKER_LOADING, cb->user_data);
    FluxModel *model = flux_model_load_found(found, error);
    flux_model_found_clear(&own);
    if (!model) return FALSE;

    FluxGenerateParams gp;
    flux_generate_params_init(&gp, model);
    gp.prompt = p->prompt;
    gp.width = p->width;
    gp.height = p->height;
    gp.steps = p->steps;
    gp.guidance = (float)p->guidance;
    gp.seed = (guint64)seed;
    gp.precision = precision_choice;
    gp.progress = on_progress;
    gp.phase = on_phase;
    if (cb && cb->within_step) gp.block_progress = on_block;
    gp.user_data = &rs;
    if (in) {
        gp.width = gp.init_width = gp.mask_width = in->width;
        gp.height = gp.init_height = gp.mask_height = in->height;
        gp.init_image = in->rgb;
        gp.mask = in->mask;
        gp.strength = in->strength;
    }
    rs.model = model;
    setup_previews(&rs, &gp, &info);
    FluxLora *loras = NULL;
    int n_loras = 0;

    gboolean ok = flux_lora_list_parse(p->loras, &loras, &n_loras, error);
    gp.loras = loras;
    gp.n_loras = n_loras;
    ok = ok && flux_generate_params_validate(model, &gp, error);
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
    g_free(rs.rgb);
    flux_lora_list_free(loras, n_loras);
    if (!ok) {
        g_free(rgb);
        return FALSE;
    }
    result->rgb = rgb;
    result->width = w;
    result->height = h;
    result->seconds = (double)(g_get_monotonic_time() - t0) / G_USEC_PER_SEC;
    result->flops = flux_estimate_flops(&info, w, h, gp.max_sequence_length, gp.steps);
    result->steps_flops =
        result->flops - flux_estimate_flops(&info, w, h, gp.max_sequence_length, 0);
    result->steps_seconds = (double)(rs.denoise_end - rs.denoise_start) / G_USEC_PER_SEC;
    result->gflops_per_s =
        result->steps_seconds > 0 ? result->steps_flops / result->steps_seconds / 1e9 : 0.0;
    return TRUE;
}

gboolean flux_worker_run(const FluxRenderParams *p, gint32 seed, const FluxWorkerCallbacks *cb,
                         FluxWorkerResult *result, GError **error)
{
    return worker_run(p, seed, NULL, cb, result, error);
}

gboolean flux_worker_run_edit(const FluxRenderParams *p, gint32 seed, const FluxEditInput *in,
                              const FluxWorkerCallbacks *cb, FluxWorkerResult *result,
                              GError **error)
{
    return worker_run(p, seed, in, cb, result, error);
}
