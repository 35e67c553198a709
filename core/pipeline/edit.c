/* edit.c — img2img, inpainting and FLUX.1 Fill: the stages diffusers 0.32.2
 * FluxImg2ImgPipeline, FluxInpaintPipeline and FluxFillPipeline add to FluxPipeline (edit.h).
 *
 *   picture u8 [H, W, 3] ──→ x [3, H, W] in [-1, 1] ──→ [VAE encode] ──→ mean, logvar [C, h, w]
 *       ──→ sample = mean + exp(logvar/2)·randn ──→ (sample − shift)·scale ──→ packed [S, P]
 *
 *   img2img   image_latents = encode(picture)                     draw 1: posterior sample
 *             noise [C, h, w]                                      draw 2
 *             latents_init = σ[t_start]·noise + (1 − σ[t_start])·image_latents
 *             steps t_start .. N−1 of the full N-step schedule
 *   inpaint   as img2img, then masked_image_latents = encode(picture·(mask < ½))   draw 3
 *             (a 64-channel transformer never reads it; drawn to keep the generator's order)
 *             mask_latents = mask[8y, 8x] (nearest) repeated over C, packed [S, P]
 *             after step i: latents = (1 − m)·scale_noise(image_latents, σ[t_start+i+1], noise)
 *                                     + m·latents         (image_latents alone after the last)
 *   Fill      noise [C, h, w] = latents_init                       draw 1
 *             masked_image_latents = encode(picture·(1 − mask))    draw 2
 *             mask [S, M]: the 8×8 pixels under each latent pixel as 64 channels (ky·8 + kx),
 *             packed; every step the transformer sees cat(latents, masked, mask) [S, 384]
 *
 * The mask is binarized first: u8/255 ≥ 0.5, i.e. u8 ≥ 128 (VaeImageProcessor do_binarize).
 *
 * Legend: C = latent channels, h×w = latent size, H×W = picture size = up·h × up·w (up = 8),
 * S = (h/2)(w/2), P = 4C, M = 4·up², N = schedule steps, σ = the scheduler's sigmas [N + 1].
 */
#include "edit.h"

#include "error.h"
#include "latents.h"

#include <math.h>
#include <string.h>

#define edit_error(error, ...) error_set(error, FLUX_ERROR_ARGUMENT, NULL, __VA_ARGS__)

/* ------------------------------------------------------------------------------------- */
/* Validation                                                                            */

EditKind edit_kind(const FluxModel *m, const FluxGenerateParams *p)
{
    if (m && flux_model_is_fill(m)) return EDIT_FILL;
    if (!p->init_image) return EDIT_NONE;
    return p->mask ? EDIT_INPAINT : EDIT_IMG2IMG;
}

int edit_t_start(int N, double strength)
{
    double init = fmin((double)N * strength, (double)N);
    double t = fmax((double)N - init, 0.0);
    return (int)t; /* Python int(): truncation */
}

static gboolean edit_check_sizes(const FluxGenerateParams *p, GError **error)
{
    int W, H;
    flux_output_size(p, &W, &H);
    if (p->init_width != W || p->init_height != H)
        return edit_error(error,
                          "the init picture is %d×%d pixels but the output is %d×%d (width and "
                          "height floored to multiples of 16); they must be the same",
                          p->init_width, p->init_height, W, H);
    if (p->mask && (p->mask_width != p->init_width || p->mask_height != p->init_height))
        return edit_error(error, "the mask is %d×%d pixels but the init picture is %d×%d",
                          p->mask_width, p->mask_height, p->init_width, p->init_height);
    return TRUE;
}

gboolean edit_validate(const FluxModel *m, const FluxGenerateParams *p, GError **error)
{
    EditKind kind = edit_kind(m, p);
    if (p->mask && !p->init_image)
        return edit_error(error, "a mask was given without an init picture to repaint");
    if (kind == EDIT_FILL && (!p->init_image || !p->mask))
        return edit_error(error, "this is a FLUX.1 Fill model: it repaints the masked part of a "
                                 "picture and needs both an init picture and a mask");
    if (kind == EDIT_NONE) return TRUE;
    if (!edit_check_sizes(p, error)) return FALSE;
    if (kind == EDIT_FILL) return TRUE; /* FluxFillPipeline runs the whole schedule */
    if (!isfinite(p->strength) || p->strength <= 0.0 || p->strength > 1.0)
        return edit_error(error, "strength %g is out of range (above 0, at most 1)", p->strength);
    int t0 = edit_t_start(p->steps, p->strength);
    if (p->steps - t0 < 1)
        return edit_error(error,
                          "strength %g with %d steps runs no step at all (the run starts at "
                          "step int(steps − steps × strength)); raise the strength",
                          p->strength, p->steps);
    return TRUE;
}

/* ------------------------------------------------------------------------------------- */
/* Buffers                                                                               */

gboolean edit_run_init(EditRun *e, const FluxModel *m, const FluxGenerateParams *p, int C, int h,
                       int w, int N, GError **error)
{
    memset(e, 0, sizeof *e);
    e->kind = edit_kind(m, p);
    if (e->kind == EDIT_NONE) return TRUE;
    e->up = vae_upscale(m->vae);
    e->C = C, e->h = h, e->w = w;
    e->S = (h / 2) * (w / 2), e->P = 4 * C;
    e->H = h * e->up, e->W = w * e->up;
    e->t_start = e->kind == EDIT_FILL ? 0 : edit_t_start(N, p->strength);
    size_t lat = (size_t)e->S * e->P, M = 4 * (size_t)e->up * e->up;
    e->image_latents = g_try_new(float, lat);
    e->noise = g_try_new(float, lat);
    e->masked_latents = g_try_new(float, lat);
    if (e->kind != EDIT_IMG2IMG)
        e->mask_latents = g_try_new(float, (size_t)e->S *(e->kind == EDIT_FILL ? M : (size_t)e->P));
    if (e->kind == EDIT_FILL) e->hidden = g_try_new(float, (size_t)e->S *(2 * e->P + M));
    if (!e->image_latents || !e->noise || !e->masked_latents ||
        (e->kind != EDIT_IMG2IMG && !e->mask_latents) || (e->kind == EDIT_FILL && !e->hidden)) {
        g_set_error(error, FLUX_ERROR, FLUX_ERROR_NO_MEMORY,
                    "not enough memory for the picture's latents (%d×%d)", e->W, e->H);
        return FALSE;
    }
    return TRUE;
}

void edit_run_clear(EditRun *e)
{
    g_free(e->image_latents);
    g_free(e->noise);
    g_free(e->mask_latents);
    g_free(e->masked_latents);
    g_free(e->hidden);
    memset(e, 0, sizeof *e);
}

/* ------------------------------------------------------------------------------------- */
/* Pieces                                                                                */

void edit_image_to_vae(const guint8 *rgb, int H, int W, float *x)
{
    size_t N = (size_t)H * W;
    for (size_t i = 0; i < N; i++)
        for (int c = 0; c < 3; c++) x[c * N + i] = 2.0f * ((float)rgb[i * 3 + c] / 255.0f) - 1.0f;
}

void edit_posterior_sample(FluxRng *rng, const float *mean, const float *logvar, size_t n,
                           float *out)
{
    rng_randn(rng, out, n);
    for (size_t i = 0; i < n; i++) {
        float std = expf(0.5f * logvar[i]);
        out[i] = mean[i] + std * out[i];
    }
}

void edit_scale_noise(float *out, const float *sample, const float *noise, size_t n, float sigma)
{
    float keep = 1.0f - sigma;
    for (size_t i = 0; i < n; i++) out[i] = sigma * noise[i] + keep * sample[i];
}

static inline gboolean mask_on(guint8 v)
{
    return v >= 128; /* v / 255 >= 0.5 in float32 */
}

/* ------------------------------------------------------------------------------------- */
/* Stages                                                                                */

/* x [3, H, W] → packed [S, P] = ((posterior sample) − shift)·scale (_encode_vae_image). */
static gboolean encode_picture(EditRun *e, FluxModel *m, const float *x, FluxRng *rng,
                               float *packed, const FluxTrace *debug, GError **error)
{
    size_t n = (size_t)e->C * e->h * e->w;
    float *buf = g_try_new(float, 3 * n);
    if (!buf)
        return g_set_error(error, FLUX_ERROR, FLUX_ERROR_NO_MEMORY,
                           "not enough memory to encode a %d×%d picture", e->W, e->H),
               FALSE;
    float *mean = buf, *logvar = buf + n, *z = buf + 2 * n;
    gboolean ok = vae_encode(m->vae, x, e->H, e->W, mean, logvar, debug, error);
    if (ok) {
        edit_posterior_sample(rng, mean, logvar, n, z);
        float sh = vae_shift_factor(m->vae), sc = vae_scaling_factor(m->vae);
        for (size_t i = 0; i < n; i++) z[i] = (z[i] - sh) * sc;
        pack_latents(packed, z, e->C, e->h, e->w);
    }
    g_free(buf);
    return ok;
}

/* x [3, H, W] · keep, keep = 1 where the binarized mask is 0 (both pipelines' masked_image). */
static void mask_picture(float *masked, const float *x, const guint8 *mask, size_t N)
{
    for (int c = 0; c < 3; c++)
        for (size_t i = 0; i < N; i++)
            masked[c * N + i] = x[c * N + i] * (mask_on(mask[i]) ? 0.0f : 1.0f);
}

/* Inpaint: F.interpolate(mask, (h, w)) nearest = mask[up·y, up·x], repeated over C, packed. */
static void inpaint_mask_latents(EditRun *e, const guint8 *mask)
{
    float *m = g_new(float, (size_t)e->C * e->h * e->w);
    size_t hw = (size_t)e->h * e->w;
    for (int y = 0; y < e->h; y++)
        for (int x = 0; x < e->w; x++) {
            float v = mask_on(mask[(size_t)y * e->up * e->W + (size_t)x * e->up]) ? 1.0f : 0.0f;
            for (int c = 0; c < e->C; c++) m[c * hw + (size_t)y * e->w + x] = v;
        }
    pack_latents(e->mask_latents, m, e->C, e->h, e->w);
    g_free(m);
}

/* Fill: mask.view(h, up, w, up).permute(up, up, h, w) → [up², h, w] (channel ky·up + kx), packed
 * to [S, 4·up²]. */
static void fill_mask_latents(EditRun *e, const guint8 *mask)
{
    int U = e->up * e->up;
    float *m = g_new(float, (size_t)U * e->h * e->w);
    size_t hw = (size_t)e->h * e->w;
    for (int y = 0; y < e->h; y++)
        for (int x = 0; x < e->w; x++)
            for (int ky = 0; ky < e->up; ky++)
                for (int kx = 0; kx < e->up; kx++) {
                    guint8 v = mask[(size_t)(y * e->up + ky) * e->W + (size_t)x * e->up + kx];
                    m[(size_t)(ky * e->up + kx) * hw + (size_t)y * e->w + x] =
                        mask_on(v) ? 1.0f : 0.0f;
                }
    pack_latents(e->mask_latents, m, U, e->h, e->w);
    g_free(m);
}

static void draw_noise(EditRun *e, FluxRng *rng)
{
    size_t n = (size_t)e->C * e->h * e->w;
    float *noise = g_new(float, n);
    rng_randn(rng, noise, n);
    pack_latents(e->noise, noise, e->C, e->h, e->w);
    g_free(noise);
}

static void trace_packed(const FluxTrace *t, const float *x, int S, int ch, const char *name)
{
    int64_t shape[3] = {1, S, ch};
    trace_f32(t, x, 3, shape, "%s", name);
}

/* The masked picture's latents (inpaint and Fill): encode(x·keep). */
static gboolean encode_masked(EditRun *e, FluxModel *m, const FluxGenerateParams *p, const float *x,
                              FluxRng *rng, const FluxTrace *debug, GError **error)
{
    size_t N = (size_t)e->H * e->W;
    float *masked = g_try_new(float, 3 * N);
    if (!masked)
        return g_set_error(error, FLUX_ERROR, FLUX_ERROR_NO_MEMORY,
                           "not enough memory for the masked %d×%d picture", e->W, e->H),
               FALSE;
    mask_picture(masked, x, p->mask, N);
    gboolean ok = encode_picture(e, m, masked, rng, e->masked_latents, debug, error);
    g_free(masked);
    return ok;
}

gboolean edit_prepare_latents(EditRun *e, FluxModel *m, const FluxGenerateParams *p,
                              const float *timesteps, const float *sigmas, float *latents,
                              const FluxTrace *trace, const FluxTrace *debug, GError **error)
{
    size_t N = (size_t)e->H * e->W, lat = (size_t)e->S * e->P;
    float *x = g_try_new(float, 3 * N);
    if (!x)
        return g_set_error(error, FLUX_ERROR, FLUX_ERROR_NO_MEMORY,
                           "not enough memory for a %d×%d picture", e->W, e->H),
               FALSE;
    edit_image_to_vae(p->init_image, e->H, e->W, x);
    int64_t s_x[4] = {1, 3, e->H, e->W};
    trace_f32(trace, x, 4, s_x, "vae_encoder_input");
    FluxRng rng;
    rng_seed(&rng, p->seed);
    gboolean ok = TRUE;
    if (e->kind == EDIT_FILL) {
        draw_noise(e, &rng);
        memcpy(latents, e->noise, sizeof(float) * lat);
        ok = encode_masked(e, m, p, x, &rng, debug, error);
        if (ok) fill_mask_latents(e, p->mask);
    } else {
        int64_t s1[1] = {1};
        trace_f32(trace, &timesteps[e->t_start], 1, s1, "latent_timestep");
        ok = encode_picture(e, m, x, &rng, e->image_latents, debug, error);
        if (ok) {
            trace_packed(trace, e->image_latents, e->S, e->P, "image_latents");
            draw_noise(e, &rng);
            edit_scale_noise(latents, e->image_latents, e->noise, lat, sigmas[e->t_start]);
        }
        if (ok && e->kind == EDIT_INPAINT) {
            ok = encode_masked(e, m, p, x, &rng, debug, error);
            if (ok) inpaint_mask_latents(e, p->mask);
        }
    }
    g_free(x);
    if (!ok) return FALSE;
    trace_packed(trace, e->noise, e->S, e->P, "noise");
    trace_packed(trace, latents, e->S, e->P, "latents_init");
    if (e->kind != EDIT_IMG2IMG) {
        int M = e->kind == EDIT_FILL ? 4 * e->up * e->up : e->P;
        trace_packed(trace, e->mask_latents, e->S, M, "mask_latents");
        trace_packed(trace, e->masked_latents, e->S, e->P, "masked_image_latents");
    }
    return TRUE;
}

const float *edit_transformer_input(EditRun *e, const float *latents)
{
    if (e->kind != EDIT_FILL) return latents;
    size_t M = 4 * (size_t)e->up * e->up, row = 2 * (size_t)e->P + M;
    for (int s = 0; s < e->S; s++) {
        float *d = e->hidden + (size_t)s * row;
        memcpy(d, latents + (size_t)s * e->P, sizeof(float) * e->P);
        memcpy(d + e->P, e->masked_latents + (size_t)s * e->P, sizeof(float) * e->P);
        memcpy(d + 2 * e->P, e->mask_latents + (size_t)s * M, sizeof(float) * M);
    }
    return e->hidden;
}

void edit_after_step(const EditRun *e, float *latents, int i, int n_run, const float *sigmas)
{
    if (e->kind != EDIT_INPAINT) return;
    size_t lat = (size_t)e->S * e->P;
    float *proper = g_new(float, lat);
    if (i < n_run - 1)
        edit_scale_noise(proper, e->image_latents, e->noise, lat, sigmas[e->t_start + i + 1]);
    else
        memcpy(proper, e->image_latents, sizeof(float) * lat);
    for (size_t k = 0; k < lat; k++) {
        float mk = e->mask_latents[k];
        latents[k] = (1.0f - mk) * proper[k] + mk * latents[k];
    }
    g_free(proper);
}
