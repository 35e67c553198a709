/* preview.c — live previews of a run (issue 16): the x₀ estimate the denoising loop hands to
 * FluxPreviewFunc, and two ways to turn latents into a picture.
 *
 *   projection: rgb[3] = bias + Σ_c F[c][·]·latent[c]  per latent pixel, then bilinear to the
 *               output size. 16·3 multiply-adds per latent pixel: ~0.1 ms at 512².
 *   VAE:        the model's decoder on the latents area-averaged down by r (a power of two)
 *               until the picture's longer side is ≤ FLUX_PREVIEW_VAE_MAX_SIDE. The decoder is
 *               convolutional, so a latent shrunk by r decodes to a picture shrunk by r (a
 *               little softer than the full decode shrunk) at 1/r² of the cost.
 *
 * Legend: C = 16 latent channels, h × w = latent size, packed latents [S = (h/2)(w/2), 4C]
 * (token (y/2, x/2), channel c·4 + (y%2)·2 + x%2), H × W = 8h × 8w picture size.
 */
#include "preview.h"

#include "model.h"

#include <math.h>
#include <string.h>

void preview_x0(float *x0, const float *latents, const float *velocity, size_t n, float sigma)
{
    for (size_t k = 0; k < n; k++) x0[k] = latents[k] - sigma * velocity[k];
}

/* ------------------------------------------------------------------------------------- */
/* Projection                                                                            */

/* FLUX.1's latent → RGB factors and bias as ComfyUI publishes them (comfy/latent_formats.py,
 * class Flux: latent_rgb_factors, latent_rgb_factors_bias; stable-diffusion.cpp uses the same
 * numbers). ComfyUI applies them to the sampler's x₀, which is in the model's space
 * (process_in: (z − shift)·scale), i.e. to the raw latents the transformer sees, *not* to
 * latents / scaling_factor + shift_factor that the VAE gets; the result is in [-1, 1] like the
 * VAE's output. Rows: latent channel; columns: R, G, B. */
static const float flux_rgb_factors[16][3] = {
    {-0.0346f, 0.0244f, 0.0681f},   {0.0034f, 0.0210f, 0.0687f},    {0.0275f, -0.0668f, -0.0433f},
    {-0.0174f, 0.0160f, 0.0617f},   {0.0859f, 0.0721f, 0.0329f},    {0.0004f, 0.0383f, 0.0115f},
    {0.0405f, 0.0861f, 0.0915f},    {-0.0236f, -0.0185f, -0.0259f}, {-0.0245f, 0.0250f, 0.1180f},
    {0.1008f, 0.0755f, -0.0421f},   {-0.0515f, 0.0201f, 0.0011f},   {0.0428f, -0.0012f, -0.0036f},
    {0.0817f, 0.0765f, 0.0749f},    {-0.1264f, -0.0522f, -0.1103f}, {-0.0280f, -0.0881f, -0.0499f},
    {-0.1262f, -0.0982f, -0.0778f},
};
static const float flux_rgb_bias[3] = {-0.0329f, -0.0718f, -0.0851f};

/* packed [S, 64] → planar out [3, h, w] in the VAE output's range [-1, 1] (unclamped). */
static void project(const float *packed, int h, int w, float *out)
{
    size_t hw = (size_t)h * w;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            const float *tok = packed + ((size_t)(y / 2) * (w / 2) + x / 2) * 64;
            int sub = (y % 2) * 2 + x % 2;
            float acc[3] = {flux_rgb_bias[0], flux_rgb_bias[1], flux_rgb_bias[2]};
            for (int c = 0; c < 16; c++) {
                float v = tok[c * 4 + sub];
                for (int k = 0; k < 3; k++) acc[k] += v * flux_rgb_factors[c][k];
            }
            for (int k = 0; k < 3; k++) out[k * hw + (size_t)y * w + x] = acc[k];
        }
}

/* ------------------------------------------------------------------------------------- */
/* Resampling                                                                            */

/* Source coordinate of destination index d (torch's bilinear, align_corners=False): pixel
 * centres line up, (d + ½)·src/dst − ½, clamped to the edge; equal sizes map 1:1. */
static void bilinear_taps(int d, int dst, int src, int *i0, int *i1, float *t)
{
    float s = ((float)d + 0.5f) * (float)src / (float)dst - 0.5f;
    if (s < 0.0f) s = 0.0f;
    int i = (int)s;
    if (i > src - 1) i = src - 1;
    *i0 = i;
    *i1 = i + 1 < src ? i + 1 : i;
    *t = s - (float)i;
}

/* planar [3, sh, sw] → planar [3, dh, dw]. */
static void resample_bilinear(const float *src, int sh, int sw, float *dst, int dh, int dw)
{
    g_autofree int *x0 = g_new(int, dw), *x1 = g_new(int, dw);
    g_autofree float *tx = g_new(float, dw);
    for (int x = 0; x < dw; x++) bilinear_taps(x, dw, sw, &x0[x], &x1[x], &tx[x]);
    for (int k = 0; k < 3; k++)
        for (int y = 0; y < dh; y++) {
            int y0, y1;
            float ty;
            bilinear_taps(y, dh, sh, &y0, &y1, &ty);
            const float *r0 = src + ((size_t)k * sh + y0) * sw,
                        *r1 = src + ((size_t)k * sh + y1) * sw;
            float *o = dst + ((size_t)k * dh + y) * dw;
            for (int x = 0; x < dw; x++) {
                float top = r0[x0[x]] + tx[x] * (r0[x1[x]] - r0[x0[x]]);
                float bot = r1[x0[x]] + tx[x] * (r1[x1[x]] - r1[x0[x]]);
                o[x] = top + ty * (bot - top);
            }
        }
}

/* ------------------------------------------------------------------------------------- */
/* VAE decode at a reduced size                                                          */

/* The power-of-two latent reduction r that brings the picture's longer side (8·max(h, w)) to
 * at most FLUX_PREVIEW_VAE_MAX_SIDE, keeping at least one latent pixel each way. */
static int vae_reduction(int h, int w)
{
    int r = 1, side = 8 * MAX(h, w);
    while (side / r > FLUX_PREVIEW_VAE_MAX_SIDE && h / (2 * r) >= 1 && w / (2 * r) >= 1) r *= 2;
    return r;
}

/* packed [S, 4C] → z [C, h/r, w/r]: each reduced pixel the mean of its r × r latent pixels,
 * then z / scaling_factor + shift_factor (what the decoder takes). */
static void reduce_for_vae(const float *packed, int C, int h, int w, int r, float sc, float sh,
                           float *z)
{
    int hr = h / r, wr = w / r;
    float inv = 1.0f / (float)(r * r);
    for (int c = 0; c < C; c++)
        for (int y = 0; y < hr; y++)
            for (int x = 0; x < wr; x++) {
                float sum = 0.0f;
                for (int dy = 0; dy < r; dy++)
                    for (int dx = 0; dx < r; dx++) {
                        int ly = y * r + dy, lx = x * r + dx;
                        sum += packed[((size_t)(ly / 2) * (w / 2) + lx / 2) * 4 * C + c * 4 +
                                      (ly % 2) * 2 + lx % 2];
                    }
                z[((size_t)c * hr + y) * wr + x] = sum * inv / sc + sh;
            }
}

/* packed latents → decoded [3, 8h/r, 8w/r] (newly allocated), NULL with `error` set. */
static float *vae_preview(FluxModel *m, const float *packed, int h, int w, int *dh, int *dw,
                          GError **error)
{
    int r = vae_reduction(h, w), hr = h / r, wr = w / r, up = vae_upscale(m->vae);
    int C = vae_latent_channels(m->vae);
    g_autofree float *z = g_try_new(float, (size_t)C *hr *wr);
    float *dec = g_try_new(float, (size_t)3 * hr * up * wr * up);
    if (!z || !dec) {
        g_free(dec);
        g_set_error(error, FLUX_ERROR, FLUX_ERROR_NO_MEMORY,
                    "not enough memory for a %d×%d preview", wr * up, hr * up);
        return NULL;
    }
    reduce_for_vae(packed, C, h, w, r, vae_scaling_factor(m->vae), vae_shift_factor(m->vae), z);
    if (!vae_decode(m->vae, z, hr, wr, dec, NULL, error)) {
        g_free(dec);
        return NULL;
    }
    *dh = hr * up;
    *dw = wr * up;
    return dec;
}

/* ------------------------------------------------------------------------------------- */
/* Public API                                                                            */

static gboolean preview_args_ok(FluxModel *m, FluxPreviewQuality q, const float *latents, int h,
                                int w, int out_w, int out_h, GError **error)
{
    const char *bad = NULL;
    if (q != FLUX_PREVIEW_PROJECTION && q != FLUX_PREVIEW_VAE)
        bad = "unknown preview quality";
    else if (q == FLUX_PREVIEW_VAE && !m)
        bad = "a VAE preview needs the model";
    else if (!latents || h < 2 || w < 2 || h % 2 || w % 2 || 8 * h > FLUX_MAX_SIZE ||
             8 * w > FLUX_MAX_SIZE)
        bad = "the latents are not a FLUX latent picture";
    else if (out_w < 1 || out_h < 1 || out_w > FLUX_MAX_SIZE || out_h > FLUX_MAX_SIZE)
        bad = "the preview size is out of range";
    else if (q == FLUX_PREVIEW_VAE && vae_latent_channels(m->vae) * 4 != 64)
        bad = "the model's VAE does not take 16 latent channels";
    if (!bad) return TRUE;
    g_set_error(error, FLUX_ERROR, FLUX_ERROR_ARGUMENT, "%s (latents %d×%d, preview %d×%d)", bad, w,
                h, out_w, out_h);
    return FALSE;
}

gboolean flux_preview_render(FluxModel *m, FluxPreviewQuality q, const float *latents, int h, int w,
                             int out_w, int out_h, guint8 *rgb, GError **error)
{
    g_return_val_if_fail(rgb != NULL, FALSE);
    if (!preview_args_ok(m, q, latents, h, w, out_w, out_h, error)) return FALSE;
    int sh = h, sw = w;
    float *src;
    if (q == FLUX_PREVIEW_VAE) {
        src = vae_preview(m, latents, h, w, &sh, &sw, error);
        if (!src) return FALSE;
    } else {
        src = g_try_new(float, (size_t)3 * h * w);
        if (src) project(latents, h, w, src);
    }
    float *out = (sh == out_h && sw == out_w) ? src : g_try_new(float, (size_t)3 * out_w * out_h);
    if (!src || !out) {
        g_free(src);
        g_set_error(error, FLUX_ERROR, FLUX_ERROR_NO_MEMORY,
                    "not enough memory for a %d×%d preview", out_w, out_h);
        return FALSE;
    }
    if (out != src) resample_bilinear(src, sh, sw, out, out_h, out_w);
    vae_to_rgb8(out, out_h, out_w, rgb); /* [-1, 1] → u8, as the final picture */
    if (out != src) g_free(out);
    g_free(src);
    return TRUE;
}

void flux_preview_plan(const FluxModelInfo *info, FluxPreviewQuality q, int width, int height,
                       int steps, int max_seq, FluxPreviewPlan *plan)
{
    memset(plan, 0, sizeof *plan);
    int h = 2 * (height / 16), w = 2 * (width / 16);
    if (steps < 1 || h < 2 || w < 2) return;
    plan->every = 1;
    if (q == FLUX_PREVIEW_VAE) { /* the size depends on the picture only */
        int r = vae_reduction(h, w);
        plan->decode_width = w / r * 8;
        plan->decode_height = h / r * 8;
    }
    double t5 = flux_estimate_flops(info, 0, 0, max_seq, 0);
    double run = flux_estimate_flops(info, width, height, max_seq, steps);
    double step = flux_estimate_flops(info, width, height, max_seq, 1) -
                  flux_estimate_flops(info, width, height, max_seq, 0);
    if (run <= 0 || step <= 0) return; /* no shapes given: no budget to plan with */
    if (q == FLUX_PREVIEW_VAE) {
        double one =
            flux_estimate_flops(info, plan->decode_width, plan->decode_height, max_seq, 0) - t5;
        /* the smallest N with one decode per N steps within 10% of those N steps */
        plan->every = MAX(1, (int)ceil(one / (0.1 * step)));
        plan->share = (steps / plan->every) * one / run;
    } else {
        /* 16·3 multiply-adds per latent pixel, ~10 operations per output pixel to resample */
        plan->share = steps * (2.0 * 48 * h * w + 10.0 * 64 * h * w) / run;
    }
}
