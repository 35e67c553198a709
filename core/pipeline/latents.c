/* latents.c — FluxPipeline._pack_latents / _unpack_latents (see latents.h). */
#include "latents.h"

/* [C, h, w] → [S = (h/2)(w/2), P = 4C]: token (r, c) holds channel c·4 + dy·2 + dx of the
 * 2×2 patch at latent (2r+dy, 2c+dx). */
void pack_latents(float *packed, const float *x, int C, int h, int w)
{
    int hw2 = w / 2;
    for (int r = 0; r < h / 2; r++)
        for (int c = 0; c < hw2; c++)
            for (int ch = 0; ch < C; ch++)
                for (int dy = 0; dy < 2; dy++)
                    for (int dx = 0; dx < 2; dx++)
                        packed[((size_t)r * hw2 + c) * 4 * C + ch * 4 + dy * 2 + dx] =
                            x[((size_t)ch * h + 2 * r + dy) * w + 2 * c + dx];
}

/* The inverse of pack_latents: [S, 4C] → [C, h, w]. */
void unpack_latents(float *x, const float *packed, int C, int h, int w)
{
    int hw2 = w / 2;
    for (int r = 0; r < h / 2; r++)
        for (int c = 0; c < hw2; c++)
            for (int ch = 0; ch < C; ch++)
                for (int dy = 0; dy < 2; dy++)
                    for (int dx = 0; dx < 2; dx++)
                        x[((size_t)ch * h + 2 * r + dy) * w + 2 * c + dx] =
                            packed[((size_t)r * hw2 + c) * 4 * C + ch * 4 + dy * 2 + dx];
}
