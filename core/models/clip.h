/* clip.h — the CLIP text encoder of FLUX.1 (transformers CLIPTextModel, `text_encoder/`).
 *
 *   GError *err = NULL;
 *   ClipModel *clip = clip_load(cfg, archive, &err);   // text_encoder/: config.json, weights
 *   float *pooled = g_new(float, clip_hidden_size(clip));
 *   // ids [77] from the BPE tokenizer
 *   clip_encode(clip, ids, clip_max_positions(clip), pooled, NULL, &err);
 *   clip_free(clip);
 *
 * FLUX uses only the pooled output (no text projection). The model is immutable after loading;
 * weights stay mapped (F32/F16/BF16) inside the model.
 */
#pragma once

#include "config.h"
#include "safetensors.h"
#include "trace.h"
#include "weights.h"
#include <glib.h>
#include <stdint.h>

typedef struct ClipModel ClipModel;

/* The one loader: `cfg` (a config.json, parsed here once) and an archive with transformers names
 * (a folder's model.safetensors or its index, or ckpt_open_clip's file; model.h opens either),
 * every tensor checked against the config. Takes ownership of `archive`, which is freed on
 * failure too. Returns NULL with `error` set. Caller owns: clip_free (NULL-safe). */
ClipModel *clip_load(const CfgJson *cfg, StArchive *archive, GError **error);
void clip_free(ClipModel *m);

int clip_hidden_size(const ClipModel *m);   /* D: config hidden_size (768 for FLUX.1) */
int clip_max_positions(const ClipModel *m); /* config max_position_embeddings (77) */

/* ids [n] (1 <= n <= max positions; FluxPipeline always passes 77) → pooled [D].
 * trace (may be NULL) receives "clip.hidden_states.<i>" [1,n,D] (i = 0: embeddings, i >= 1:
 * after layer i-1, before the final norm) and "clip.last_hidden_state" [1,n,D].
 * Fails (FLUX_ERROR_ARGUMENT) for n out of range or an id outside the vocabulary. */
gboolean clip_encode(const ClipModel *m, const int64_t *ids, int n, float *pooled,
                     const FluxTrace *trace, GError **error);
/* The same with a LoRA (lora.h: "<layer>.lora_A" [R, K], "<layer>.lora_B" [N, R] float32,
 * layers named as the checkpoint's "text_model.encoder.layers.<i>.self_attn.q_proj"): each
 * linear adds (x·Aᵀ)·Bᵀ. `lora` may be NULL. */
gboolean clip_encode_lora(const ClipModel *m, const StArchive *lora, const int64_t *ids, int n,
                          float *pooled, const FluxTrace *trace, GError **error);
/* The model's weights (what LoRA layers are matched against). Owned by m. */
StArchive *clip_archive(ClipModel *m);

/* The spec tables of the model's structs, for wt_table_check (tests). */
const WtTable *clip_tables(gsize *n);

/* Checkpoint tensors the model did not bind; names (if non-NULL) gets a NULL-terminated array
 * the caller frees with g_strfreev. */
gsize clip_unused_tensors(const ClipModel *m, char ***names);
