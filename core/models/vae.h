/* vae.h — FLUX.1's AutoencoderKL (diffusers 0.32.2, `vae/`): the decoder, and the encoder
 * (vae_encoder.c) when the file has one.
 *
 *   GError *err = NULL;
 *   VaeModel *vae = vae_load(cfg, archive, &err);      // vae/: config.json, weights
 *   // z: [C_lat, h, w] latents as the denoiser leaves them
 *   for (i...) z[i] = z[i] / vae_scaling_factor(vae) + vae_shift_factor(vae);
 *   int up = vae_upscale(vae);                          // 8 for FLUX.1
 *   float *dec = g_new(float, 3 * (gsize)h * up * w * up);
 *   if (!vae_decode(vae, z, h, w, dec, NULL, &err)) ...
 *   vae_to_rgb8(dec, h * up, w * up, rgb);             // rgb [H, W, 3]
 *   vae_free(vae);
 *
 *   // picture x [3, H, W] in [-1, 1] (u8 / 255 · 2 − 1), H and W multiples of 8
 *   vae_encode(vae, x, H, W, mean, logvar, NULL, &err); // [C_lat, H/8, W/8] each
 *
 * The encoder is bound when the file has `encoder.*` tensors (vae_has_encoder); the model is
 * immutable after loading; weights stay mapped.
 */
#pragma once

#include "config.h"
#include "safetensors.h"
#include "trace.h"
#include "weights.h"
#include <glib.h>

typedef struct VaeModel VaeModel;

/* The one loader: `cfg` (a config.json, parsed here once) and an archive with diffusers names (a
 * folder's diffusion_pytorch_model.safetensors or its index, or ckpt_open_vae's file; model.h
 * opens either), every decoder (and encoder) tensor checked against the config. Takes ownership
 * of `archive`, which is freed on failure too. Returns NULL with `error` set.
 * Caller owns: vae_free (NULL-safe). */
VaeModel *vae_load(const CfgJson *cfg, StArchive *archive, GError **error);
void vae_free(VaeModel *m);

int vae_latent_channels(const VaeModel *m); /* config latent_channels (16 for FLUX.1) */
int vae_out_channels(const VaeModel *m);    /* config out_channels (3) */
float vae_scaling_factor(const VaeModel *m);
float vae_shift_factor(const VaeModel *m); /* 0 when the config has none */
int vae_upscale(const VaeModel *m);        /* 2^(len(block_out_channels) - 1): 8 for FLUX.1 */

gboolean vae_has_encoder(const VaeModel *m);

/* The spec tables of the decoder's structs, for wt_table_check (tests). */
const WtTable *vae_tables(gsize *n);

/* Checkpoint tensors neither half bound (names: NULL-terminated, g_strfreev). */
gsize vae_unused_tensors(const VaeModel *m, char ***names);

/* latents [C_lat, h, w], already scaled (z / scaling_factor + shift_factor, what FluxPipeline
 * passes to vae.decode) → out [out_channels, h·up, w·up], the raw decoder output (unclamped).
 * Batch 1. trace (may be NULL) receives [1, C, H, W] tensors "decoder.conv_in",
 * "decoder.mid_block", "decoder.up_block.<i>", "decoder.conv_norm_out" (the GroupNorm output,
 * before SiLU). Fails with FLUX_ERROR_ARGUMENT when h·up or w·up is outside 1..FLUX_MAX_SIZE,
 * FLUX_ERROR_NO_MEMORY when a working buffer cannot be allocated. */
gboolean vae_decode(const VaeModel *m, const float *latents, int h, int w, float *out,
                    const FluxTrace *trace, GError **error);

/* AutoencoderKL.encode(x).latent_dist: image [in_channels, H, W] → mean, logvar
 * [C_lat, H/up, W/up] (logvar clamped to [-30, 20]; std = exp(0.5·logvar) is the caller's).
 * trace as vae_encoder_forward (vae_encoder.h). Fails with FLUX_ERROR_MODEL when the file has no
 * encoder, FLUX_ERROR_ARGUMENT when H or W is not a multiple of `up` in up..FLUX_MAX_SIZE. */
gboolean vae_encode(const VaeModel *m, const float *image, int H, int W, float *mean, float *logvar,
                    const FluxTrace *trace, GError **error);

/* VaeImageProcessor.postprocess: image = clamp(decoded / 2 + 0.5, 0, 1), NCHW → NHWC.
 * decoded [3, H, W] → rgb [H, W, 3] as numpy's (image * 255).round().astype(uint8)
 * (float32 multiply, round half to even; NaN → 0). */
void vae_to_rgb8(const float *decoded, int H, int W, guint8 *rgb);
/* Same, float [H, W, 3] in [0, 1] (the pipeline's output_type="np" image). */
void vae_to_rgbf(const float *decoded, int H, int W, float *rgb);
