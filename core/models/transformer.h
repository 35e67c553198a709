/* transformer.h — the FLUX denoiser: diffusers FluxTransformer2DModel (transformer/ folder).
 *
 *   DitModel *m = dit_load(cfg, archive, &err);     // transformer/: config.json, weights mapped
 *   DitContext *c = dit_context_new_on(m, "auto", 1, T_img, T_txt, &err); // activations, once
 *   for (each step)
 *       dit_forward(c, latents, prompt_embeds, pooled, &sigma, &guidance, img_ids, txt_ids,
 *                   noise_pred, NULL, &err);
 *   dit_context_free(c);
 *   dit_free(m);
 *
 * The model (immutable after loading, except for the weights it binds to each backend used)
 * is split from the run state (a context per backend, batch size and sequence lengths), so
 * several contexts may share one model, one forward at a time each.
 *
 * Dimensions: B batch, T_img image tokens, T_txt text tokens, D = num_attention_heads ·
 * attention_head_dim (3072 for FLUX.1), in/out channels 64, joint_attention_dim 4096,
 * pooled_projection_dim 768.
 */
#pragma once

#include "config.h"
#include "safetensors.h"
#include "trace.h"
#include "transformer_config.h"

#include <glib.h>

typedef struct DitModel DitModel;

/* The one loader: `cfg` (a config.json, parsed here once) and an archive with diffusers names
 * (a folder's diffusion_pytorch_model.safetensors or its index, or ckpt_open_transformer's
 * file; model.c opens either), every tensor's presence, dtype and shape checked against the
 * config. Takes ownership of `archive`, which is freed on failure too. NULL with `error` set.
 * Caller owns the model: dit_free (NULL-safe). */
DitModel *dit_load(const CfgJson *cfg, StArchive *archive, GError **error);
void dit_free(DitModel *m);
const DitConfig *dit_config(const DitModel *m);
/* Checkpoint tensors the model does not use (e.g. a guidance embedder when guidance_embeds is
 * false); names as a g_strfreev'd array when `names` is non-NULL. */
gsize dit_unused_tensors(const DitModel *m, char ***names);

/* Run state for one (B, T_img, T_txt) on a compute backend (core/compute/backend.h): the
 * activations, allocated once as one arena in the backend's memory and reused by every step
 * (nothing is allocated in dit_forward), so that on cuda they stay on the GPU for the whole forward
 * and only the inputs and the output cross per step. `device` is a flux_backend_get name: "cpu",
 * "cuda", or "auto"/NULL. The model's weights are bound to the backend by the first context made on
 * it and stay bound until dit_free (cuda: uploaded once as BF16, 2 bytes per parameter; cpu: the
 * mapped tensors as they are). A GPU without room for the weights, the arena and the kernels'
 * scratch is refused with FLUX_ERROR_NO_MEMORY naming the sizes (weights are not streamed per
 * block), except under "auto", which then uses the cpu. NULL + FLUX_ERROR_ARGUMENT for out-of-range
 * sizes or an unknown device, FLUX_ERROR_UNSUPPORTED for a device this build or machine lacks,
 * FLUX_ERROR_NO_MEMORY when the arena or the weights do not fit. Caller owns: dit_context_free
 * (NULL-safe). The context keeps a pointer to `m`, which must outlive it; contexts are made from
 * one thread at a time per model. */
typedef struct DitContext DitContext;
DitContext *dit_context_new_on(DitModel *m, const char *device, int B, int T_img, int T_txt,
                               GError **error);
/* The same on the cpu backend. */
DitContext *dit_context_new(DitModel *m, int B, int T_img, int T_txt, GError **error);
void dit_context_free(DitContext *c);
/* LoRAs for the context's forwards: `lora` (lora.h: "<layer>.lora_A"/".lora_B" float32
 * tensors) is added to the matching linears at run time, y = x·Wᵀ + b + (x·Aᵀ)·Bᵀ, the model
 * unchanged. Takes ownership of `lora` (freed on failure too); NULL removes the LoRAs. FALSE
 * with `error` when the backend cannot hold them. */
gboolean dit_context_set_lora(DitContext *c, StArchive *lora, GError **error);
/* The model's weights with diffusers names (what LoRA layers are matched against). Owned by m. */
StArchive *dit_archive(DitModel *m);
/* Called by dit_forward after each of its `total` blocks (double, then single; done from 1),
 * for a progress bar that moves within a step. On a queueing backend (cuda) the call marks
 * when the block was queued, not finished. NULL `fn` removes the hook. */
typedef void (*DitBlockFunc)(int done, int total, void *user_data);
void dit_context_set_block_hook(DitContext *c, DitBlockFunc fn, void *user_data);
/* The backend a context runs on, e.g. "cpu (16 threads)" or "cuda: NVIDIA H100 ..."; owned by c. */
const char *dit_context_device(const DitContext *c);
/* Bytes the arena of dit_context_new(m, B, T_img, T_txt) takes for a model of config `cfg` (0
 * when the sizes are out of range), from the same layout table that assigns the arena: a caller
 * can refuse a size before starting, and the probe sizes a run from config.json alone. */
guint64 dit_context_bytes(const DitConfig *cfg, int B, int T_img, int T_txt);
/* Parameters of a model of config `cfg` (weights, biases, norm scales), counted from the
 * parameter lists the loader binds. */
guint64 dit_param_count(const DitConfig *cfg);
/* Bytes the weights take on a backend that copies them (cuda): BF16 matrices and float32
 * vectors. */
guint64 dit_device_weight_bytes(const DitModel *m);

/* One forward pass of FluxTransformer2DModel on the context's backend:
 *   hidden [B, T_img, in_channels]            packed latents
 *   encoder_hidden [B, T_txt, joint_dim]      T5 embeddings
 *   pooled [B, pooled_dim]                    CLIP pooled embedding
 *   timestep [B]                              sigma = t/1000, as FluxPipeline passes it
 *   guidance [B]                              guidance scale; may be NULL when !guidance_embeds
 *                                             (then ignored)
 *   img_ids [T_img, 3], txt_ids [T_txt, 3]   rope positions (float, as diffusers)
 *   → out [B, T_img, out_channels]            (caller-allocated)
 * `trace` (may be NULL) receives the intermediates under the names of the golden debug tensors
 * (x_embedder, temb, rope_cos, double_block.<i>.hidden_states, single_block.<i>, norm_out ...);
 * tracing downloads each of them (debug only). A failure of the backend (a kernel, a launch)
 * is reported here, by the download of the output. */
gboolean dit_forward(DitContext *c, const float *hidden, const float *encoder_hidden,
                     const float *pooled, const float *timestep, const float *guidance,
                     const float *img_ids, const float *txt_ids, float *out, const FluxTrace *trace,
                     GError **error);
