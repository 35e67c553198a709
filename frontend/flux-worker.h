/* flux-worker.h — renders a FluxRenderParams with libflux (GLib only, no GIMP): loads the
 * model, runs the pipeline and reports progress through callbacks. The GIMP 2.10 entry
 * (flux-plugin.c) is one client; a GIMP 3 front-end can be another. */
#pragma once

#include "flux-params.h"
#include "flux.h"

#include <glib.h>

G_BEGIN_DECLS

typedef enum {
    FLUX_WORKER_LOADING,   /* mapping and checking the model folder */
    FLUX_WORKER_ENCODING,  /* CLIP and T5 */
    FLUX_WORKER_DENOISING, /* the transformer steps (then one step callback per step) */
    FLUX_WORKER_DECODING,  /* the VAE decoder */
} FluxWorkerPhase;

typedef struct {
    void (*phase)(FluxWorkerPhase phase, void *user_data);
    /* after denoising step `step` of `total` (from 1), with an estimate of the time left */
    void (*step)(int step, int total, double seconds_left, void *user_data);
    void *user_data;
    /* inside step `step` of `total` (from 1): fraction 0 as it begins, then after each
     * transformer block the share done (up to 1), with the time left of the whole denoising
     * (0 while unknown); may be NULL */
    void (*within_step)(int step, int total, double fraction, double seconds_left, void *user_data);
    /* Live previews (NULL: none), after each step and before `step`: the step's predicted
     * picture (x₀, not the noise), rgb [height, width, 3] with the longer side preview_side
     * (0: 256) and the picture's aspect, valid during the call. With preview_quality
     * FLUX_PREVIEW_VAE the steps of flux_preview_plan's `every` get the real decoder, the
     * others the projection. */
    void (*preview)(int step, int total, const guint8 *rgb, int width, int height, void *user_data);
    int preview_side;
    FluxPreviewQuality preview_quality;
    /* When non-NULL and set to 1 (g_atomic_int_set, from any thread), the run stops after the
     * current step and flux_worker_run fails with FLUX_ERROR_CANCELLED. */
    const gint *cancel;
    /* What the check before the run found (flux_worker_prepare; borrowed, for the run's
     * length), so that the run loads it without looking at the disk again; NULL, or found for
     * another model: the run looks itself. */
    const FluxModelFound *found;
} FluxWorkerCallbacks;

/* The preview picture's size for a width × height picture (longer side `side`, 0: 256). */
void flux_worker_preview_size(int width, int height, int side, int *pw, int *ph);

typedef struct {
    guint8 *rgb;         /* width*height*3 bytes, rows top to bottom; free with g_free */
    int width, height;   /* floored to multiples of 16 */
    double seconds;      /* wall time of the whole run, loading included */
    double flops;        /* flux_estimate_flops of the run */
    double gflops_per_s; /* the rate of the denoising steps (steps_flops / steps_seconds) */
    double steps_seconds, steps_flops; /* the denoising steps alone (flux_estimate_take_run) */
} FluxWorkerResult;

/* Where the tokenizers installed with the plug-in are (a folder holding tokenizer/ and
 * tokenizer_2/), for models that come without them (ComfyUI files). Copied; NULL: none. */
void flux_worker_set_tokenizers(const char *dir);
/* That folder, or NULL (borrowed). */
const char *flux_worker_tokenizers(void);
/* The CPU arithmetic of every run from now on (FluxGenerateParams.precision: "float32",
 * "fast"; NULL or "auto": the library's choice), the plug-in's remembered setting. Copied. */
void flux_worker_set_precision(const char *precision);

/* Checks a model folder or transformer file with flux_model_check (headers only, fast):
 * FALSE with one translated message (flux-model-problem.h) saying what is missing or broken
 * and what to do. `info` may be NULL. */
gboolean flux_worker_probe_model(const char *model, FluxModelInfo *info, GError **error);
/* The same, keeping what was found (flux_model_found_clear, also after a failure). */
gboolean flux_worker_find_model(const char *model, FluxModelFound *found, GError **error);
/* The checks before a run, looking at the model once: steps 0 becomes the model's default,
 * the parameters are validated (flux_render_params_validate), the model found. FALSE with the
 * first problem (the model's when steps is 0, else the parameters' first). `found`
 * (flux_model_found_clear, also after a failure) goes to FluxWorkerCallbacks.found. */
gboolean flux_worker_prepare(FluxRenderParams *p, FluxModelFound *found, GError **error);
/* The same, giving only the model type. The out-arguments may be NULL. */
gboolean flux_worker_check_model(const char *dir, gboolean *uses_guidance, int *default_steps,
                                 GError **error);

/* Steps 0 (a script asking for the model's default) → the model's default steps; other
 * values stay. FALSE with the model's message when steps is 0 and the model is unusable. */
gboolean flux_worker_resolve_steps(FluxRenderParams *p, GError **error);

/* Renders `p` with `seed`. Returns FALSE with `error` set (nothing allocated) on failure. */
gboolean flux_worker_run(const FluxRenderParams *p, gint32 seed, const FluxWorkerCallbacks *cb,
                         FluxWorkerResult *result, GError **error);

/* Working from a picture (flux-edit.h): the picture a run starts from (borrowed): RGB [height,
 * width, 3], rows top to bottom, and an optional mask [height, width] (255 = repaint); width and
 * height multiples of 16. */
typedef struct {
    const guint8 *rgb, *mask;
    int width, height;
    double strength; /* img2img / inpainting: 0 < s ≤ 1 (not used by Fill models) */
} FluxEditInput;

/* flux_worker_run from a picture: p's width and height are replaced by the picture's. */
gboolean flux_worker_run_edit(const FluxRenderParams *p, gint32 seed, const FluxEditInput *in,
                              const FluxWorkerCallbacks *cb, FluxWorkerResult *result,
                              GError **error);

G_END_DECLS
