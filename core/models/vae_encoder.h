/* vae_encoder.h — the encoder half of FLUX.1's AutoencoderKL (diffusers 0.32.2
 * `AutoencoderKL.encode` → `DiagonalGaussianDistribution`), used by vae.c.
 *
 *   VaeEncoderShape s = {n, ch, layers, G, 3, C_lat, mid_attn, quant};
 *   VaeEncoder *e = vae_encoder_bind(archive, &s, &err);   // archive must outlive e
 *   vae_encoder_forward(e, x, H, W, mean, logvar, trace, &err);
 *   vae_encoder_free(e);
 *
 * The public entry is vae_encode (vae.h); this header is the model layer's own.
 */
#pragma once

#include "safetensors.h"
#include "trace.h"
#include "weights.h"
#include <glib.h>

typedef struct VaeEncoder VaeEncoder;

typedef struct {
    int n;          /* len(block_out_channels) */
    const int *ch;  /* block_out_channels [n] */
    int layers;     /* layers_per_block: ResNets per down block */
    int G;          /* norm_num_groups */
    int C_in;       /* in_channels (3) */
    int C_lat;      /* latent_channels (16 for FLUX.1); conv_out gives 2·C_lat (double_z) */
    gboolean attn;  /* mid_block_add_attention */
    gboolean quant; /* use_quant_conv: a 1×1 [2C_lat, 2C_lat] conv after conv_out */
} VaeEncoderShape;

/* Binds `encoder.*` (and `quant_conv.*` when s->quant) of `a`, shapes checked against s.
 * NULL with `error` set. Caller owns: vae_encoder_free (NULL-safe). */
VaeEncoder *vae_encoder_bind(StArchive *a, const VaeEncoderShape *s, GError **error);
void vae_encoder_free(VaeEncoder *e);
/* The spec tables of the encoder's structs, for wt_table_check (tests). */
const WtTable *vae_encoder_tables(gsize *n);

/* Output size of an H×W picture: each of the n−1 downsamplers maps S to ⌊(S−2)/2⌋+1. */
void vae_encoder_out_size(const VaeEncoder *e, int H, int W, int *h, int *w);

/* x [C_in, H, W] (pixels in [-1, 1]) → mean, logvar [C_lat, h, w], logvar clamped to
 * [-30, 20] as DiagonalGaussianDistribution does. trace (may be NULL) receives [1, C, H, W]
 * tensors "encoder.conv_in", "encoder.down_block.<i>", "encoder.mid_block", "encoder.conv_out".
 * Fails with FLUX_ERROR_NO_MEMORY when a working buffer cannot be allocated. */
gboolean vae_encoder_forward(const VaeEncoder *e, const float *x, int H, int W, float *mean,
                             float *logvar, const FluxTrace *trace, GError **error);
