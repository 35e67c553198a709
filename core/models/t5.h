/* t5.h — the T5 v1.1 text encoder of FLUX.1 (transformers T5EncoderModel, `text_encoder_2/`).
 *
 *   GError *err = NULL;
 *   T5Model *t5 = t5_load(cfg, archive, &err);        // text_encoder_2/: config.json, weights
 *   float *embeds = g_new(float, (gsize)L * t5_d_model(t5));
 *   t5_encode(t5, ids, L, embeds, NULL, &err);   // ids from the unigram tokenizer, padded to L
 *   t5_free(t5);
 *
 * No attention mask: every position (padding included) attends to every other, as FluxPipeline
 * calls T5. The model is immutable after loading; weights stay mapped (F32/F16/BF16), so
 * T5-XXL in bf16 costs its 9.5 GB of page cache plus per-layer scratch.
 */
#pragma once

#include "config.h"
#include "safetensors.h"
#include "trace.h"
#include "weights.h"
#include <glib.h>
#include <stdint.h>

typedef struct T5Model T5Model;

/* The one loader: `cfg` (a config.json, parsed here once) and an archive with transformers names
 * (a folder's model.safetensors or model.safetensors.index.json with its shards, or
 * ckpt_open_t5's file; model.h opens either), every tensor checked against the config. Takes
 * ownership of `archive`, which is freed on failure too. Returns NULL with `error` set.
 * Caller owns: t5_free (NULL-safe). */
T5Model *t5_load(const CfgJson *cfg, StArchive *archive, GError **error);
void t5_free(T5Model *m);

int t5_d_model(const T5Model *m); /* D: config d_model (4096 for T5-XXL) */

/* Longest sequence t5_encode accepts (FLUX passes at most 512; the model itself has no limit). */
#define T5_MAX_LENGTH 4096

/* ids [L] (1 <= L <= T5_MAX_LENGTH) → out [L, D] (last_hidden_state).
 * trace (may be NULL) receives "t5.hidden_states.<i>" [1,L,D]: 0 = token embeddings,
 * i = 1..N-1 after block i-1, N = after final_layer_norm (transformers' hidden_states).
 * Fails (FLUX_ERROR_ARGUMENT) for L out of range or an id outside the vocabulary. */
gboolean t5_encode(const T5Model *m, const int64_t *ids, int L, float *out, const FluxTrace *trace,
                   GError **error);

/* The spec tables of the model's structs, for wt_table_check (tests). */
const WtTable *t5_tables(gsize *n);

/* Checkpoint tensors the model did not bind (names: NULL-terminated, g_strfreev). */
gsize t5_unused_tensors(const T5Model *m, char ***names);
