/* conv.h — image ops of the VAE: 2-D convolution (im2col + sgemm; stride 1, or the encoder's
 * stride-2 downsampling), GroupNorm with optional SiLU, nearest ×2 upsampling.
 *
 * Layout: activations are contiguous float32 [C, H, W] (PyTorch NCHW with batch 1); conv
 * weights are checkpoint tensors [Co, Ci, k, k] (F32/F16/BF16, mapped) converted to float32 in
 * tiles of output channels as the GEMM consumes them.
 *
 * The convolution can apply two things to its input on the fly, so that the decoder never
 * materialises them at full size:
 *   - a per-channel affine map + SiLU (a GroupNorm reduced to per-channel scale/shift by
 *     conv_group_norm_coeffs), applied before the zero padding, as in norm → act → conv;
 *   - a nearest ×2 upsampling (Upsample2D: interpolate(scale_factor=2) → conv).
 *
 * Each fast op has a naive twin (`*_naive`): the reference the unit tests compare against.
 *
 * Legend: Ci/Co = input/output channels, H×W = input size, Ho×Wo = output size
 * (= H×W, or 2H×2W when upsampling), k = kernel size (1 or 3), G = groups, N = H·W.
 */
#pragma once

#include "dtype.h"
#include <stddef.h>

/* ---- convolution -------------------------------------------------------------------- */

typedef struct {
    int Ci, Co;   /* channels of x and y */
    int H, W;     /* size of x [Ci, H, W] */
    int k;        /* kernel 1 or 3; stride 1, zero padding k/2 (torch padding=1 for 3×3) */
    int upsample; /* nonzero: convolve nearest-×2(x); y is [Co, 2H, 2W] */
    int down;     /* nonzero (k = 3): Downsample2D, stride 2 after zero-padding x by one row at
                     the bottom and one column at the right (F.pad (0, 1, 0, 1), conv padding 0);
                     y is [Co, Ho, Wo] of conv_out_size (H/2 × W/2 for even sizes) */
    const float *pre_scale, *pre_shift; /* [Ci] or both NULL: input = x·scale[c] + shift[c] */
    int pre_silu;                       /* then SiLU (after the affine map, before padding) */
    int accumulate;                     /* y += conv(...) instead of y = conv(...) */
} ConvShape;

/* Output size of s: H×W, 2H×2W when upsampling, ⌊(H−2)/2⌋+1 × ⌊(W−2)/2⌋+1 (= H/2 × W/2 for
 * even sizes) when downsampling. */
void conv_out_size(const ConvShape *s, int *Ho, int *Wo);

/* y [Co, Ho, Wo] (=|+=) b[Co] + Σ w[Co, Ci, k, k] ⋆ pre(x) [Ci, H, W]  (torch.nn.Conv2d).
 * b may be NULL. y must not overlap x, except that y == x is allowed for a plain 1×1
 * convolution (no pre-map, no upsampling, no accumulate) with Co <= Ci: the result then occupies
 * the first Co·N floats of the buffer (used to turn a ResNet's input into its shortcut without
 * a second full-size buffer). */
void conv_2d(float *y, const float *x, const StTensor *w, const float *b, const ConvShape *s);
void conv_2d_naive(float *y, const float *x, const StTensor *w, const float *b, const ConvShape *s);

/* ---- normalisation ------------------------------------------------------------------ */

/* torch.nn.GroupNorm(G, C, eps) on x [C, N] (channels c·C/G .. (c+1)·C/G-1 form a group) as the
 * per-channel affine map it amounts to: scale[c] = g[c]·rstd(group), shift[c] = b[c] −
 * mean(group)·scale[c]. Statistics in double (two passes). g, b may be NULL (1 and 0). */
void conv_group_norm_coeffs(float *scale, float *shift, const float *x, int C, size_t N, int G,
                            const float *g, const float *b, float eps);

/* y [C, N] = GroupNorm(x) (then SiLU when `silu`). y may equal x. */
void conv_group_norm(float *y, const float *x, int C, size_t N, int G, const float *g,
                     const float *b, float eps, int silu);
void conv_group_norm_naive(float *y, const float *x, int C, size_t N, int G, const float *g,
                           const float *b, float eps, int silu);

/* ---- resampling --------------------------------------------------------------------- */

/* y [C, 2H, 2W] = x [C, H, W] repeated 2×2 (F.interpolate(scale_factor=2, mode="nearest")). */
void conv_upsample2x(float *y, const float *x, int C, int H, int W);
void conv_upsample2x_naive(float *y, const float *x, int C, int H, int W);
