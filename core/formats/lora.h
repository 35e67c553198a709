/* lora.h — LoRA files mapped onto the layers of a loaded FLUX transformer.
 *
 * A LoRA changes a linear layer W [N, K] into W + s·B·A, A [r, K] ("down"), B [N, r] ("up"),
 * s = multiplier × alpha / r (alpha = r when the file has none), as diffusers/PEFT compute it:
 * y = x·Wᵀ + s·((x·Aᵀ)·Bᵀ). The format is told by the tensor names, no flag:
 *   kohya / ComfyUI     lora_unet_double_blocks_0_img_attn_qkv.lora_down.weight, .lora_up.weight,
 *                       .alpha (the Black Forest Labs layer name with '_' for '.')
 *   diffusers / PEFT    transformer.transformer_blocks.0.attn.to_q.lora_A.weight, .lora_B.weight,
 *                       optional .alpha
 *   BFL / ai-toolkit    diffusion_model.double_blocks.0.img_attn.qkv.lora_A.weight, .lora_B.weight
 * in F32, F16 or BF16. The layers are those of the base archive (diffusers names, checkpoint.h):
 * a fused LoRA layer (BFL qkv [3D, ·], single-block linear1 [3D + F, ·]) is split by rows of B
 * into the diffusers layers its rows belong to (A shared), as diffusers'
 * _convert_kohya_flux_lora_to_diffusers does, whatever layout the base file had (checkpoint.h
 * turns every base into diffusers layers). CLIP-L LoRA layers (kohya lora_te1_*, diffusers
 * text_encoder.*) go onto the CLIP archive's layers (transformers names) when one is given.
 *
 * The result is an archive of float32 tensors, two per layer that any LoRA touches:
 *   "<layer>.lora_A" [R, K]   the A of every LoRA on the layer, stacked (R = Σ r)
 *   "<layer>.lora_B" [N, R]   their B side by side, each multiplied by its s
 * so that Σ s_i·B_i·(A_i·x) = B·(A·x): stacked LoRAs are one product pair of rank R.
 *
 *   FluxLora l[2] = {{"style.safetensors", 0.8f}, {"turbo.safetensors", 1.0f}};
 *   LoraReport rep = {0};
 *   StArchive *clip_la = NULL;
 *   StArchive *la = lora_load(l, 2, base_archive, clip_archive, &clip_la, &rep, &err);
 *   ... rep.unknown: "style.safetensors: lora_unet_foo.lora_down.weight" ...
 *   lora_report_clear(&rep);
 */
#pragma once

#include "flux.h"
#include "safetensors.h"

typedef struct {
    GPtrArray *unknown; /* "FILE: TENSOR" for tensors not applied (no FLUX transformer layer of
                           this model, or not a LoRA part); g_free'd strings, may be NULL */
    int n_text_encoder; /* of those, CLIP-L LoRA tensors (no CLIP archive given) */
    int n_layers;       /* layers changed (transformer and text encoder) */
} LoraReport;

/* Reads `n` LoRA files and maps them onto the layers of `base` (diffusers names, e.g. from
 * ckpt_open_transformer; only looked up) and, when `clip_base` and `clip_out` are given, the
 * text-encoder layers onto `clip_base` (CLIP-L, transformers names) into *clip_out (NULL when
 * no layer of it is changed; caller owns). NULL with `error` set: FLUX_ERROR_IO (missing,
 * unreadable), FLUX_ERROR_FORMAT (not safetensors, truncated, a LoRA part without its
 * partner, a non-float tensor), FLUX_ERROR_MODEL (shapes that do not fit the model's layer:
 * the message names the file, the tensor and both shapes), FLUX_ERROR_ARGUMENT (a multiplier
 * that is not finite); messages name the file. `report` (may be NULL) receives what was not
 * applied; clear it with lora_report_clear. Caller owns the archive (st_archive_free). */
StArchive *lora_load(const FluxLora *loras, int n, StArchive *base, StArchive *clip_base,
                     StArchive **clip_out, LoraReport *report, GError **error);
void lora_report_clear(LoraReport *report);
