/* edit.h — the image-conditioned stages of a run (img2img, inpainting, FLUX.1 Fill), the parts
 * of diffusers 0.32.2 FluxImg2ImgPipeline, FluxInpaintPipeline and FluxFillPipeline that
 * FluxPipeline does not have. pipeline.c calls them at four places:
 *
 *   edit_validate(model, p, &err)                  in flux_generate_params_validate
 *   edit_run_init(&e, m, p, C, h, w, N, &err)      kind, t_start, buffers
 *   edit_prepare_latents(&e, m, p, timesteps, sigmas, latents, trace, debug, &err)
 *                                                  replaces prepare_latents: encodes the picture
 *                                                  (and the masked picture), draws the noise in
 *                                                  the reference's order, latents_init
 *   in = edit_transformer_input(&e, latents)       each step: Fill's [latents | masked | mask]
 *   edit_after_step(&e, latents, i, sigmas)        each step: inpainting's blend
 *   edit_run_clear(&e)
 *
 * Legend: C = latent channels (16), h×w = latent size, S = (h/2)(w/2) tokens, P = 4C = 64,
 * H×W = picture size = 8h × 8w, M = 4·8·8 = 256 Fill mask channels, N = schedule steps.
 */
#pragma once

#include "model.h"
#include "rng.h"
#include "trace.h"

typedef enum { EDIT_NONE, EDIT_IMG2IMG, EDIT_INPAINT, EDIT_FILL } EditKind;

typedef struct {
    EditKind kind;
    int C, h, w, S, P, H, W, up;
    int t_start;           /* first schedule index that runs (0 for Fill and text-to-image) */
    float *image_latents;  /* [S, P] (img2img, inpaint): (posterior sample − shift)·scale */
    float *noise;          /* [S, P] (img2img, inpaint): the draw scale_noise mixes in */
    float *mask_latents;   /* inpaint [S, P] binary; Fill [S, M] */
    float *masked_latents; /* [S, P] latents of the picture with the mask's part zeroed */
    float *hidden;         /* Fill: [S, P + P + M] the transformer input */
} EditRun;

/* The kind of run p asks for on m (m may be NULL: then a mask means inpainting). */
EditKind edit_kind(const FluxModel *m, const FluxGenerateParams *p);

/* The picture arguments (see flux_generate_params_validate); m may be NULL. */
gboolean edit_validate(const FluxModel *m, const FluxGenerateParams *p, GError **error);

/* FluxImg2ImgPipeline.get_timesteps: t_start = int(N − min(N·strength, N)), in double as
 * Python computes it. */
int edit_t_start(int N, double strength);

/* Sets kind and t_start, allocates the buffers for latents C×h×w of a schedule of N steps.
 * FALSE with FLUX_ERROR_NO_MEMORY. e is cleared first; edit_run_clear frees. */
gboolean edit_run_init(EditRun *e, const FluxModel *m, const FluxGenerateParams *p, int C, int h,
                       int w, int N, GError **error);
void edit_run_clear(EditRun *e);

/* Draws with torch.Generator.manual_seed(p->seed) in the reference's order and writes the
 * packed start latents [S, P]. timesteps [N], sigmas [N + 1]: the full schedule. `debug` (may be
 * NULL) gets the encoder's module traces. */
gboolean edit_prepare_latents(EditRun *e, FluxModel *m, const FluxGenerateParams *p,
                              const float *timesteps, const float *sigmas, float *latents,
                              const FluxTrace *trace, const FluxTrace *debug, GError **error);

/* The transformer's hidden_states for this step: `latents` itself, or for Fill
 * cat(latents, masked_latents, mask) [S, P + P + M] (owned by e). */
const float *edit_transformer_input(EditRun *e, const float *latents);

/* Inpainting, after the scheduler step of run step i (schedule index t_start + i) of n_run:
 * latents = (1 − mask)·scale_noise(image_latents, sigma of the next step, noise) + mask·latents
 * (the original alone after the last step). No-op for other kinds. */
void edit_after_step(const EditRun *e, float *latents, int i, int n_run, const float *sigmas);

/* ---- pieces, exposed for the tests -------------------------------------------------- */

/* VaeImageProcessor.preprocess: RGB u8 [H, W, 3] → x [3, H, W] = u8 / 255 · 2 − 1. */
void edit_image_to_vae(const guint8 *rgb, int H, int W, float *x);
/* DiagonalGaussianDistribution.sample: out = mean + exp(0.5·logvar)·randn(rng), n values. */
void edit_posterior_sample(FluxRng *rng, const float *mean, const float *logvar, size_t n,
                           float *out);
/* FlowMatchEulerDiscreteScheduler.scale_noise: out = sigma·noise + (1 − sigma)·sample. */
void edit_scale_noise(float *out, const float *sample, const float *noise, size_t n, float sigma);
