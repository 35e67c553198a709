/* transformer_config.h — the DiT's config.json (diffusers FluxTransformer2DModel.__init__'s
 * arguments), read once: by the loader (transformer_weights.c) and by the probe, which sizes a
 * run from the config alone (core/pipeline/probe.c). */
#pragma once

#include "config.h"

#include <glib.h>

/* Everything read from config.json (diffusers' defaults where a key is absent). */
typedef struct {
    int in_channels, out_channels, inner_dim, num_heads, head_dim, num_layers, num_single_layers,
        joint_attention_dim, pooled_projection_dim;
    gboolean guidance_embeds;
    int axes_dims_rope[3];
} DitConfig;

/* config.json → *cfg, with FluxTransformer2DModel.__init__'s defaults for absent keys; checks
 * what this implementation needs (patch_size 1, axes_dims_rope summing to the head dim). FALSE
 * with `error` naming the file and the key. */
gboolean dit_config_read(const CfgJson *json, DitConfig *cfg, GError **error);

/* F, the feed-forward width: int(D · mlp_ratio), mlp_ratio 4.0 in every FLUX.1 block. */
static inline int dit_mlp_dim(const DitConfig *cfg)
{
    return 4 * cfg->inner_dim;
}
