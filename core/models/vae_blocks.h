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
#include "weights.h"
#include <glib.h>

#define VAE_EPS 1e-6f /* resnet_eps and the norms' eps are hard-wired in diffusers */

/* Each parameter once (weights.h); dims: WT_D(0) = Ci, WT_D(1) = Co (= C for the attention). */
/* clang-format off */
#define VAE_RESNET(P, S)                                                         \
    P(S, norm1_w, "norm1.weight", WT_F32, WT_D(0))                               \
    P(S, norm1_b, "norm1.bias", WT_F32, WT_D(0))                                 \
    P(S, conv1_w, "conv1.weight", 0, WT_D(1), WT_D(0), 3, 3)                     \
    P(S, conv1_b, "conv1.bias", WT_F32, WT_D(1))                                 \
    P(S, norm2_w, "norm2.weight", WT_F32, WT_D(1))                               \
    P(S, norm2_b, "norm2.bias", WT_F32, WT_D(1))                                 \
    P(S, conv2_w, "conv2.weight", 0, WT_D(1), WT_D(1), 3, 3)                     \
    P(S, conv2_b, "conv2.bias", WT_F32, WT_D(1))                                 \
    /* only when Ci != Co (ResnetBlock2D.use_in_shortcut) */                     \
    P(S, sc_w, "conv_shortcut.weight", WT_ONLY(0), WT_D(1), WT_D(0), 1, 1)       \
    P(S, sc_b, "conv_shortcut.bias", WT_ONLY(0) | WT_F32, WT_D(1))
#define VAE_ATTN(P, S)                                                           \
    P(S, norm_w, "group_norm.weight", WT_F32, WT_D(0))                           \
    P(S, norm_b, "group_norm.bias", WT_F32, WT_D(0))                             \
    P(S, q_w, "to_q.weight", 0, WT_D(0), WT_D(0))                                \
    P(S, q_b, "to_q.bias", WT_F32, WT_D(0))                                      \
    P(S, k_w, "to_k.weight", 0, WT_D(0), WT_D(0))                                \
    P(S, k_b, "to_k.bias", WT_F32, WT_D(0))                                      \
    P(S, v_w, "to_v.weight", 0, WT_D(0), WT_D(0))                                \
    P(S, v_b, "to_v.bias", WT_F32, WT_D(0))                                      \
    P(S, o_w, "to_out.0.weight", 0, WT_D(0), WT_D(0))                            \
    P(S, o_b, "to_out.0.bias", WT_F32, WT_D(0))
/* clang-format on */

typedef struct {
    VAE_RESNET(WT_FIELD, _) /* sc_*: NULL when Ci == Co */
    int Ci, Co;
} VaeResnet;

typedef struct {
    VAE_ATTN(WT_FIELD, _)
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

/* The spec tables of VaeResnet and VaeAttn, for wt_table_check (tests). */
const WtTable *vae_blocks_tables(gsize *n);

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
