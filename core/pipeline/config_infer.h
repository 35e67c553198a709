/* config_infer.h — a component's config read from its weight file's tensor shapes, for the
 * single files artists have (ComfyUI's clip_l.safetensors, t5xxl_fp16.safetensors,
 * ae.safetensors), which come without a config.json. As ComfyUI and stable-diffusion.cpp do,
 * the sizes (widths, layer counts, heads where a tensor shows them) come from the shapes; the
 * values no tensor shows come, in this order, from
 *   1. a config beside the file with its stem: clip_l.json beside clip_l.safetensors
 *      (a transformers/diffusers config.json; its sizes must agree with the shapes), else
 *   2. the built-in FLUX.1 config (defaults.h), when the shapes are exactly FLUX.1's, else
 *   3. nothing: the file is refused with a message naming it, the sizes that differ from
 *      FLUX.1's and the value that cannot be read, rather than a guess.
 *
 * What the shapes cannot show, per component (docs/FORMATS.md, "Single files"):
 *   CLIP:  num_attention_heads (q_proj is [D, D] for any head count), hidden_act,
 *          layer_norm_eps, eos_token_id
 *   T5:    nothing that matters: heads from relative_attention_bias [buckets, heads], d_kv
 *          from q [heads·d_kv, d_model]; the rest is fixed across the T5 v1.1 family FLUX uses
 *          (max distance 128, eps 1e-6; gated GELU when wi_0/wi_1 exist, ReLU for a single wi)
 *   VAE:   norm_num_groups (GroupNorm scales are [C] for any group count), and scaling/shift
 *          factors (the latent space's, i.e. the transformer's: FLUX.1's for 16 channels, as
 *          ComfyUI's latent_formats.Flux)
 *   transformer (ckpt_infer_transformer_config does its shapes): axes_dims_rope unless the
 *          head dim is FLUX.1's 128
 *
 *   CfgJson *c = config_infer(DEFAULTS_VAE, archive, "/m/vae/ae.safetensors", &err);
 *   VaeModel *v = vae_load_from(c, archive, &err);   cfg_free(c);
 */
#pragma once

#include "config.h"
#include "defaults.h"
#include "safetensors.h"

/* The config of `a` (the tensors of `file`, with diffusers names: ckpt_open_clip/_t5/_vae)
 * for `which` (DEFAULTS_CLIP_L, DEFAULTS_T5_XXL or DEFAULTS_VAE). Caller owns (cfg_free);
 * cfg_path() names the file and where the values came from. FLUX_ERROR_MODEL naming the file
 * when a needed tensor is missing, the beside-config disagrees with the shapes, or a value
 * cannot be decided. */
CfgJson *config_infer(DefaultsConfig which, StArchive *a, const char *file, GError **error);

/* Where the config beside `file` is looked for: its stem + ".json" in its folder
 * (clip_l.safetensors → clip_l.json; .safetensors.index.json, .sft and .gguf likewise).
 * Caller frees. */
char *config_infer_beside_path(const char *file);

/* The rope axes of a transformer file whose head dim is not FLUX.1's: "axes_dims_rope" of the
 * config beside it (`<stem>.json`). *found is FALSE (and TRUE returned) when there is no such
 * file; FALSE with `error` when it is unreadable or the axes are not 3 numbers adding up to
 * `head_dim`. */
gboolean config_infer_rope_axes(const char *file, int head_dim, int axes[3], gboolean *found,
                                GError **error);
