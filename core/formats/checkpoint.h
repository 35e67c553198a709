/* checkpoint.h — component weights from the checkpoint files artists have, presented as an
 * StArchive with the diffusers/transformers tensor names that the model modules bind.
 *
 * Each ckpt_open_* takes a file (.safetensors, .safetensors.index.json, .gguf) or a diffusers
 * component folder, detects the naming and returns an archive whose tensors carry diffusers
 * names. Translation is zero-copy: a fused weight (FLUX's qkv [3·D, D], single-block
 * linear1 [3·D + M, D]) becomes row views; only FLUX's final adaLN modulation is copied,
 * because its (shift, scale) halves are swapped relative to diffusers (AdaLayerNormContinuous
 * takes (scale, shift)). Tensors the translation does not know keep their name, so the
 * modules' "unused tensors" report shows them. FP8 "scaled" checkpoints: the per-tensor scale
 * (`<layer>.scale_weight`, ComfyUI's scaled_fp8 files, or `<layer>.weight_scale`) is set as
 * StTensor.scale of `<layer>.weight` and applied by st_to_f32; scale tensors, `scaled_fp8`
 * and input scales are not exposed.
 *
 * Layouts recognised (the mapping follows diffusers 0.32.2 convert_flux_transformer_
 * checkpoint_to_diffusers and convert_ldm_vae_checkpoint, and ComfyUI-GGUF's T5 names):
 *   transformer: diffusers names, or Black Forest Labs names (flux1-dev.safetensors,
 *                city96's GGUF), optionally under "model.diffusion_model." / "diffusion_model."
 *   vae:         diffusers names, or LDM names (ae.safetensors), optionally under
 *                "first_stage_model." / "vae."
 *   clip:        transformers names "text_model.*", optionally under
 *                "text_encoders.clip_l.transformer.", "cond_stage_model.transformer.",
 *                "conditioner.embedders.0.transformer.", "transformer."
 *   t5:          transformers names "encoder.*" + "shared.weight" (or only
 *                "encoder.embed_tokens.weight"), optionally under
 *                "text_encoders.t5xxl.transformer."; or llama.cpp names (enc.blk.N.attn_q ...)
 *
 *   CkptTransformerConfig cfg;
 *   StArchive *a = ckpt_open_transformer("flux1-dev-Q8_0.gguf", &cfg, &err);
 *   char *json = ckpt_transformer_config_json(&cfg);   // a diffusers config.json
 */
#pragma once

#include "safetensors.h"

typedef enum {
    CKPT_LAYOUT_DIFFUSERS, /* names already as the modules want them */
    CKPT_LAYOUT_ORIGINAL,  /* BFL / LDM names, translated */
    CKPT_LAYOUT_LLAMA_CPP, /* llama.cpp GGUF names (T5), translated */
} CkptLayout;

/* FLUX.1's rope axes (index, row, column: 16 + 56 + 56 = head dim 128), also diffusers'
 * FluxTransformer2DModel default for "axes_dims_rope". Shapes do not show them. */
extern const int ckpt_flux1_rope_axes[3];

typedef struct {
    CkptLayout layout;
    const char *prefix; /* the prefix stripped ("" when none); static string */
    gboolean gguf;      /* read from a GGUF file */
    int n_scaled;       /* FP8 weights that carry a per-tensor scale */
} CkptInfo;

/* FluxTransformer2DModel hyper-parameters inferred from tensor shapes. */
typedef struct {
    int num_layers;            /* double-stream blocks: transformer_blocks.N */
    int num_single_layers;     /* single_transformer_blocks.N */
    int inner_dim;             /* D = x_embedder.weight rows */
    int attention_head_dim;    /* HD = attn.norm_q.weight length (128 for FLUX.1) */
    int num_attention_heads;   /* D / HD */
    int in_channels;           /* x_embedder.weight columns (64; 384 Fill, 128 Depth) */
    int out_channels;          /* proj_out.weight rows */
    int joint_attention_dim;   /* context_embedder.weight columns (T5 width, 4096) */
    int pooled_projection_dim; /* time_text_embed.text_embedder.linear_1 columns (768) */
    int mlp_hidden_dim;        /* ff.net.0.proj rows (4·D) */
    gboolean guidance_embeds;  /* guidance embedder present: a "dev"-type (distilled) model */
    int axes_dims_rope[3];     /* (16, 56, 56) when HD = 128; zeros otherwise (not in shapes) */
} CkptTransformerConfig;

/* The component archives. `cfg` (nullable) receives the inferred transformer config with
 * head dim from the file (ckpt_infer_transformer_config with head_dim 0). Caller owns the
 * archive (st_archive_free). Errors: FLUX_ERROR_IO / _FORMAT from the readers,
 * FLUX_ERROR_MODEL when a fused tensor has the wrong shape or no known layout is found. */
StArchive *ckpt_open_transformer(const char *path, CkptTransformerConfig *cfg, GError **error);
StArchive *ckpt_open_vae(const char *path, GError **error);
StArchive *ckpt_open_clip(const char *path, GError **error);
StArchive *ckpt_open_t5(const char *path, GError **error);
/* What ckpt_open_* found (NULL for other archives). Owned by the archive. */
const CkptInfo *ckpt_archive_info(const StArchive *a);

/* The diffusers layers of a Black Forest Labs transformer layer `stem`
 * ("double_blocks.3.img_attn.qkv"; kohya's spelling with '_' for every '.' too:
 * "double_blocks_3_img_attn_qkv"), in the order of their rows in the BFL weight: one name, or 3
 * (qkv: to_q, to_k, to_v) or 4 (single-block linear1: to_q, to_k, to_v, proj_mlp), e.g.
 * "transformer_blocks.3.attn.to_q". *swapped is TRUE when the two halves of the rows are exchanged
 * (final_layer.adaLN_modulation.1 → norm_out.linear). NULL when `stem` is no FLUX layer. Caller
 * frees (g_strfreev). For LoRA files (lora.h). */
char **ckpt_transformer_layer_targets(const char *stem, gboolean *swapped);
/* a == b where '.' and '_' count as the same character (kohya writes layer names with '_'). */
gboolean ckpt_same_name(const char *a, const char *b);
/* Infers the transformer config from an archive with diffusers names. head_dim > 0 forces the
 * head dim; 0 takes it from the qk-norm scale length (attn.norm_q.weight), else 128 (FLUX.1). */
gboolean ckpt_infer_transformer_config(StArchive *a, int head_dim, CkptTransformerConfig *cfg,
                                       GError **error);
/* A diffusers config.json for `cfg` (caller frees). axes_dims_rope must be set (sum = HD). */
char *ckpt_transformer_config_json(const CkptTransformerConfig *cfg);
