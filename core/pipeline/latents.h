/* latents.h — the 2×2 patch packing of FLUX latents (FluxPipeline._pack_latents and
 * _unpack_latents), shared by the text-to-image run and the image-conditioned stages (edit.c).
 *
 * Packed [S = (h/2)(w/2), 4C]: token (r, c) holds channel c·4 + dy·2 + dx of the 2×2 patch at
 * latent (2r+dy, 2c+dx); h and w are even.
 */
#pragma once

#include <stddef.h>

/* x [C, h, w] → packed [S, 4C]. */
void pack_latents(float *packed, const float *x, int C, int h, int w);
/* packed [S, 4C] → x [C, h, w]. */
void unpack_latents(float *x, const float *packed, int C, int h, int w);
