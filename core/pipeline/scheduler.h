/* scheduler.h — the flow-matching Euler sampler schedule of FLUX.1.
 *
 * Follows diffusers 0.32.2 FlowMatchEulerDiscreteScheduler as FluxPipeline drives it:
 * `retrieve_timesteps(scheduler, N, sigmas=np.linspace(1, 1/N, N), mu=calculate_shift(L, ...))`
 * then one `scheduler.step` per timestep. Every float32/float64 rounding of the reference
 * is reproduced, so timesteps and sigmas match bit for bit.
 *
 * Legend: N = number of inference steps, L = image sequence length (packed latent tokens,
 * (H/16)·(W/16)), mu = the resolution-dependent shift of dynamic shifting.
 *
 * Usage:
 *   SchedConfig sc;
 *   if (!sched_config_load(&sc, ".../scheduler/scheduler_config.json", &err)) ...
 *   float *t = g_new(float, N), *s = g_new(float, N + 1);
 *   if (!sched_set_timesteps(&sc, N, L, t, s, &err)) ...
 *   for (i = 0; i < N; i++) {
 *       ... transformer(latents, timestep = t[i] / 1000) → noise_pred
 *       sched_step(latents, noise_pred, n, s[i], s[i + 1]);
 *   }
 */
#pragma once

#include "config.h"

#include <glib.h>
#include <stddef.h>

/* How the shifted sigmas are respaced (config use_karras_sigmas / use_exponential_sigmas).
 * use_beta_sigmas needs scipy's beta quantile and is refused as unsupported. */
typedef enum {
    SCHED_SIGMAS_SHIFTED,
    SCHED_SIGMAS_KARRAS,
    SCHED_SIGMAS_EXPONENTIAL,
} SchedSigmaKind;

typedef struct {
    int num_train_timesteps;
    double shift; /* static shift (used when !use_dynamic_shifting) */
    gboolean use_dynamic_shifting;
    double base_shift, max_shift; /* mu at base_image_seq_len and max_image_seq_len */
    int base_image_seq_len, max_image_seq_len;
    gboolean invert_sigmas;
    double shift_terminal; /* 0: off (null and 0 are both "off" in diffusers) */
    SchedSigmaKind sigma_kind;
    double sigma_min, sigma_max; /* Karras/exponential bounds from the config; NAN: take
                                  * them from the shifted schedule (the usual case) */
} SchedConfig;

/* The class defaults of FlowMatchEulerDiscreteScheduler.__init__. */
void sched_config_default(SchedConfig *c);

/* Reads scheduler/scheduler_config.json: keys absent or null take the class defaults, every
 * value is range-checked. Errors: FLUX_ERROR_IO (missing file), FORMAT (bad JSON), MODEL
 * (bad value), UNSUPPORTED (another scheduler class, beta sigmas). */
gboolean sched_config_load(SchedConfig *c, const char *path, GError **error);
/* The same from a parsed config (e.g. a built-in default, core/pipeline/defaults.h). */
gboolean sched_config_from(SchedConfig *c, const CfgJson *cfg, GError **error);

/* calculate_shift of pipeline_flux.py (float64): the line through (base_image_seq_len,
 * base_shift) and (max_image_seq_len, max_shift) evaluated at image_seq_len. */
double sched_mu(const SchedConfig *c, int image_seq_len);

/* timesteps[N] (the scheduler's t, 0..num_train_timesteps) and sigmas[N+1] (the last is 0,
 * or 1 with invert_sigmas) for N = n_steps in [1, FLUX_MAX_STEPS]; image_seq_len (>= 1) only
 * matters with dynamic shifting. FLUX_ERROR_ARGUMENT for out-of-range arguments. */
gboolean sched_set_timesteps(const SchedConfig *c, int n_steps, int image_seq_len, float *timesteps,
                             float *sigmas, GError **error);

/* One Euler step in float32, as FlowMatchEulerDiscreteScheduler.step:
 * latents[n] += (sigma_next - sigma) · noise_pred[n]  (the difference is rounded first). */
void sched_step(float *latents, const float *noise_pred, size_t n, float sigma, float sigma_next);
