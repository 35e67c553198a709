/* vae_blocks.h — the pieces the AutoencoderKL encoder and decoder share (diffusers 0.32.2
 * `ResnetBlock2D` and the mid-block `Attention`), float32 on [C, H, W] activations.
 *
 *   VaeResnet r;  vae_bind_resnet(archive, "decoder.mid_block.resnets.0.", Ci, Co, &r, &err);
 *   VaeAct a = {x, C, H, W};          // owns x
 *   vae_resnet(&r, G, &a, &err);      // a.x replaced, a.C = Co
 *
 *   resnet(x) = shortcut(x) + conv2(silu(norm2(conv1(silu(norm1(x))))))
 *       GroupNorm(G, eps 1e-6); shortcut = 1×1 conv when channels change, else identity.
 *   attention(x) = x + to_out(softmax(q kᵀ / sqrt(C)) v), q/k/v = to_q/k/v(group_norm(x)) over
 *       the N = H·W pixels as tokens: one head of dim C.
 *
 * Bound tensors point into the archive passed to the binders, which must outlive them.
 */
#pragma once

#include "safetensors.h"
#include "trace.h"
#include <glib.h>

#define VAE_EPS 1e-6f /* resnet_eps and the norms' eps are hard-wired in diffusers */

typedef struct {
    int Ci, Co;
    const StTensor *norm1_w, *norm1_b; /* [Ci] */
    const StTensor *conv1_w, *conv1_b; /* [Co, Ci, 3, 3], [Co] */
    const StTensor *norm2_w, *norm2_b; /* [Co] */
    const StTensor *conv2_w, *conv2_b; /* [Co, Co, 3, 3], [Co] */
    const StTensor *sc_w, *sc_b;       /* [Co, Ci, 1, 1], [Co]; NULL when Ci == Co */
} VaeResnet;

typedef struct {
    const StTensor *norm_w, *norm_b;                               /* [C] group_norm */
    const StTensor *q_w, *q_b, *k_w, *k_b, *v_w, *v_b, *o_w, *o_b; /* [C, C], [C] */
} VaeAttn;

/* The activation flowing through a VAE half: x [C, H, W], owned (g_free). */
typedef struct {
    float *x;
    int C, H, W;
} VaeAct;

/* `<prefix>norm1.weight` … (and conv_shortcut.* when Ci != Co), shapes checked. */
gboolean vae_bind_resnet(StArchive *a, const char *prefix, int Ci, int Co, VaeResnet *r,
                         GError **error);
/* `<prefix>group_norm.weight`, to_q/to_k/to_v/to_out.0 [C, C]. */
gboolean vae_bind_attn(StArchive *a, const char *prefix, int C, VaeAttn *at, GError **error);

/* g_try_new(float, n), or NULL with FLUX_ERROR_NO_MEMORY naming `what`. */
float *vae_alloc(size_t n, const char *what, GError **error);

/* a [Ci, H, W] → [Co, H, W] in place (a->x may be reallocated). G = norm_num_groups. */
gboolean vae_resnet(const VaeResnet *r, int G, VaeAct *a, GError **error);
/* a [C, H, W] += attention(a), rescale_output_factor 1. */
gboolean vae_attention(const VaeAttn *at, int G, VaeAct *a, GError **error);
/* resnet → attention (when `at` is not NULL) → resnet: UNetMidBlock2D. */
gboolean vae_mid_block(const VaeResnet mid[2], const VaeAttn *at, int G, VaeAct *a, GError **error);

/* trace [1, C, H, W] under `name` (no-op when trace is off). */
void vae_trace_act(const FluxTrace *trace, const VaeAct *a, const char *name);
