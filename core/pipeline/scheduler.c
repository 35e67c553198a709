/* scheduler.c — FlowMatchEulerDiscreteScheduler (diffusers 0.32.2) as FluxPipeline uses it.
 *
 * Follows diffusers: pipeline_flux.py (calculate_shift, the sigmas it passes to
 * retrieve_timesteps) and scheduling_flow_match_euler_discrete.py (set_timesteps, time_shift,
 * stretch_shift_to_terminal, _convert_to_karras/_exponential, step).
 *
 * Legend: N = inference steps, L = image sequence length, mu = dynamic shift.
 *
 * Precision, as in the reference (numpy >= 2, NEP 50: a Python float meeting a float32
 * array is rounded to float32 and the operation stays float32):
 *   linspace(1, 1/N, N)            float64, then .astype(float32)
 *   time_shift / static shift      float32 element-wise (exp(mu), shift-1 rounded to float32)
 *   shift_terminal stretch         float32
 *   Karras / exponential respacing float64 from the float32 schedule, rounded to float32
 *   timesteps = sigmas · 1000      float32
 * The arithmetic must not be contracted into FMAs (C11 ISO mode is -ffp-contract=off; the
 * pragmas keep it so under other modes).
 */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

#include "scheduler.h"
#include "config.h"
#include "flux.h"

#include <math.h>
#include <string.h>

#define SCHED_CLASS       "FlowMatchEulerDiscreteScheduler"
#define SCHED_MAX_SEQ_LEN (1 << 24)

/* ---------------------------------------------------------------------------------- */
/* Configuration                                                                       */

void sched_config_default(SchedConfig *c)
{
    c->num_train_timesteps = 1000;
    c->shift = 1.0;
    c->use_dynamic_shifting = FALSE;
    c->base_shift = 0.5;
    c->max_shift = 1.15;
    c->base_image_seq_len = 256;
    c->max_image_seq_len = 4096;
    c->invert_sigmas = FALSE;
    c->shift_terminal = 0.0;
    c->sigma_kind = SCHED_SIGMAS_SHIFTED;
    c->sigma_min = NAN;
    c->sigma_max = NAN;
}

static gboolean load_class(const CfgJson *j, GError **error)
{
    const char *cls;
    if (!cfg_string_or(j, "_class_name", SCHED_CLASS, &cls, error)) return FALSE;
    if (strcmp(cls, SCHED_CLASS) != 0) {
        g_set_error(error, FLUX_ERROR, FLUX_ERROR_UNSUPPORTED,
                    "%s: scheduler class \"%s\" is not supported, expected \"%s\"", cfg_path(j),
                    cls, SCHED_CLASS);
        return FALSE;
    }
    return TRUE;
}

static gboolean load_numbers(const CfgJson *j, SchedConfig *c, GError **error)
{
    int64_t ntt, base_len, max_len;
    if (!cfg_int_or(j, "num_train_timesteps", c->num_train_timesteps, 1, 1000000, &ntt, error) ||
        !cfg_double_or(j, "shift", c->shift, 1e-3, 1e3, &c->shift, error) ||
        !cfg_bool_or(j, "use_dynamic_shifting", c->use_dynamic_shifting, &c->use_dynamic_shifting,
                     error) ||
        !cfg_double_or(j, "base_shift", c->base_shift, -10.0, 10.0, &c->base_shift, error) ||
        !cfg_double_or(j, "max_shift", c->max_shift, -10.0, 10.0, &c->max_shift, error) ||
        !cfg_int_or(j, "base_image_seq_len", c->base_image_seq_len, 1, SCHED_MAX_SEQ_LEN, &base_len,
                    error) ||
        !cfg_int_or(j, "max_image_seq_len", c->max_image_seq_len, 1, SCHED_MAX_SEQ_LEN, &max_len,
                    error) ||
        !cfg_bool_or(j, "invert_sigmas", c->invert_sigmas, &c->invert_sigmas, error) ||
        !cfg_double_or(j, "shift_terminal", 0.0, 0.0, 0.999, &c->shift_terminal, error))
        return FALSE;
    c->num_train_timesteps = (int)ntt;
    c->base_image_seq_len = (int)base_len;
    c->max_image_seq_len = (int)max_len;
    if (c->use_dynamic_shifting && base_len == max_len) {
        g_set_error(error, FLUX_ERROR, FLUX_ERROR_MODEL,
                    "%s: \"base_image_seq_len\" and \"max_image_seq_len\" are both %d, "
                    "expected different values for dynamic shifting",
                    cfg_path(j), (int)base_len);
        return FALSE;
    }
    return TRUE;
}

/* use_karras_sigmas / use_exponential_sigmas / use_beta_sigmas (at most one), and the
 * optional sigma_min / sigma_max the respacing reads from the config. */
static gboolean load_sigma_kind(const CfgJson *j, SchedConfig *c, GError **error)
{
    gboolean karras, expo, beta;
    if (!cfg_bool_or(j, "use_karras_sigmas", FALSE, &karras, error) ||
        !cfg_bool_or(j, "use_exponential_sigmas", FALSE, &expo, error) ||
        !cfg_bool_or(j, "use_beta_sigmas", FALSE, &beta, error) ||
        !cfg_double_or(j, "sigma_min", NAN, 1e-10, 1e4, &c->sigma_min, error) ||
        !cfg_double_or(j, "sigma_max", NAN, 1e-10, 1e4, &c->sigma_max, error))
        return FALSE;
    if (karras + expo + beta > 1) {
        g_set_error(error, FLUX_ERROR, FLUX_ERROR_MODEL,
                    "%s: only one of \"use_karras_sigmas\", \"use_exponential_sigmas\", "
                    "\"use_beta_sigmas\" may be true",
                    cfg_path(j));
        return FALSE;
    }
    if (beta) {
        g_set_error(error, FLUX_ERROR, FLUX_ERROR_UNSUPPORTED,
                    "%s: \"use_beta_sigmas\" is not supported", cfg_path(j));
        return FALSE;
    }
    c->sigma_kind = karras ? SCHED_SIGMAS_KARRAS
                    : expo ? SCHED_SIGMAS_EXPONENTIAL
                           : SCHED_SIGMAS_SHIFTED;
    return TRUE;
}

gboolean sched_config_from(SchedConfig *c, const CfgJson *j, GError **error)
{
    sched_config_default(c);
    return load_class(j, error) && load_numbers(j, c, error) && load_sigma_kind(j, c, error);
}

gboolean sched_config_load(SchedConfig *c, const char *path, GError **error)
{
    sched_config_default(c);
    CfgJson *j = cfg_load(path, error);
    if (!j) return FALSE;
    gboolean ok = sched_config_from(c, j, error);
    cfg_free(j);
    return ok;
}

/* ---------------------------------------------------------------------------------- */
/* Schedule                                                                            */

double sched_mu(const SchedConfig *c, int image_seq_len)
{
    double m =
        (c->max_shift - c->base_shift) / (double)(c->max_image_seq_len - c->base_image_seq_len);
    double b = c->base_shift - m * c->base_image_seq_len;
    return image_seq_len * m + b;
}

/* Element i of np.linspace(start, stop, n) (float64): i·step + start, the last one exactly
 * stop; a zero step (denormal range) divides first. n = 1 gives start. */
static double linspace_at(double start, double stop, int n, int i)
{
    if (n <= 1) return 0.0 * (stop - start) + start;
    if (i == n - 1) return stop;
    double delta = stop - start;
    double step = delta / (n - 1);
    double y = step == 0.0 ? (double)i / (n - 1) * delta : (double)i * step;
    return y + start;
}

/* time_shift(mu, 1, t) = e^mu / (e^mu + (1/t - 1)), float32 with e^mu rounded once. */
static void shift_dynamic(float *s, int n, double mu)
{
    float e = (float)exp(mu);
    for (int i = 0; i < n; i++) s[i] = e / (e + (1.0f / s[i] - 1.0f));
}

/* shift·t / (1 + (shift - 1)·t), float32. */
static void shift_static(float *s, int n, double shift)
{
    float a = (float)shift, b = (float)(shift - 1.0);
    for (int i = 0; i < n; i++) s[i] = a * s[i] / (1.0f + b * s[i]);
}

/* stretch_shift_to_terminal: rescale 1 - t so that the last sigma becomes shift_terminal. */
static void stretch_to_terminal(float *s, int n, double shift_terminal)
{
    float scale = (1.0f - s[n - 1]) / (float)(1.0 - shift_terminal);
    for (int i = 0; i < n; i++) s[i] = 1.0f - (1.0f - s[i]) / scale;
}

/* _convert_to_karras (rho 7) and _convert_to_exponential: float64 respacing between the
 * schedule's (or the config's) sigma_max and sigma_min. */
static void respace(const SchedConfig *c, float *s, int n)
{
    double smin = isnan(c->sigma_min) ? (double)s[n - 1] : c->sigma_min;
    double smax = isnan(c->sigma_max) ? (double)s[0] : c->sigma_max;
    if (c->sigma_kind == SCHED_SIGMAS_KARRAS) {
        const double rho = 7.0;
        double min_inv = pow(smin, 1.0 / rho), max_inv = pow(smax, 1.0 / rho);
        for (int i = 0; i < n; i++) {
            double ramp = linspace_at(0.0, 1.0, n, i);
            s[i] = (float)pow(max_inv + ramp * (min_inv - max_inv), rho);
        }
    } else {
        double lmax = log(smax), lmin = log(smin);
        for (int i = 0; i < n; i++) s[i] = (float)exp(linspace_at(lmax, lmin, n, i));
    }
}

static gboolean check_args(const SchedConfig *c, int n_steps, int image_seq_len, GError **error)
{
    if (n_steps < 1 || n_steps > FLUX_MAX_STEPS) {
        g_set_error(error, FLUX_ERROR, FLUX_ERROR_ARGUMENT,
                    "number of steps %d is out of range, expected 1..%d", n_steps, FLUX_MAX_STEPS);
        return FALSE;
    }
    if (c->use_dynamic_shifting && (image_seq_len < 1 || image_seq_len > SCHED_MAX_SEQ_LEN)) {
        g_set_error(error, FLUX_ERROR, FLUX_ERROR_ARGUMENT,
                    "image sequence length %d is out of range, expected 1..%d", image_seq_len,
                    SCHED_MAX_SEQ_LEN);
        return FALSE;
    }
    if (c->use_dynamic_shifting && !isfinite((float)exp(sched_mu(c, image_seq_len)))) {
        g_set_error(error, FLUX_ERROR, FLUX_ERROR_ARGUMENT,
                    "image sequence length %d gives shift mu = %g, too large for float32",
                    image_seq_len, sched_mu(c, image_seq_len));
        return FALSE;
    }
    return TRUE;
}

gboolean sched_set_timesteps(const SchedConfig *c, int n_steps, int image_seq_len, float *timesteps,
                             float *sigmas, GError **error)
{
    if (!check_args(c, n_steps, image_seq_len, error)) return FALSE;
    int n = n_steps;
    /* FluxPipeline: sigmas = np.linspace(1.0, 1/N, N); set_timesteps: .astype(float32) */
    for (int i = 0; i < n; i++) sigmas[i] = (float)linspace_at(1.0, 1.0 / n, n, i);
    if (c->use_dynamic_shifting)
        shift_dynamic(sigmas, n, sched_mu(c, image_seq_len));
    else
        shift_static(sigmas, n, c->shift);
    if (c->shift_terminal != 0.0) stretch_to_terminal(sigmas, n, c->shift_terminal);
    if (c->sigma_kind != SCHED_SIGMAS_SHIFTED) respace(c, sigmas, n);
    if (c->invert_sigmas)
        for (int i = 0; i < n; i++) sigmas[i] = 1.0f - sigmas[i];
    const float ntt = (float)c->num_train_timesteps;
    for (int i = 0; i < n; i++) {
        if (!isfinite(sigmas[i])) {
            g_set_error(error, FLUX_ERROR, FLUX_ERROR_ARGUMENT,
                        "sigma %d of the %d-step schedule is not finite", i, n);
            return FALSE;
        }
        timesteps[i] = sigmas[i] * ntt;
    }
    sigmas[n] = c->invert_sigmas ? 1.0f : 0.0f;
    return TRUE;
}

/* ---------------------------------------------------------------------------------- */
/* Step                                                                                */

void sched_step(float *latents, const float *noise_pred, size_t n, float sigma, float sigma_next)
{
    const float dt = sigma_next - sigma;
    for (size_t i = 0; i < n; i++) latents[i] = latents[i] + dt * noise_pred[i];
}
