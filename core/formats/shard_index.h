/* shard_index.h — a checkpoint split in shards: its `*.safetensors.index.json`,
 * {"metadata": {...}, "weight_map": {"tensor name": "shard file name", ...}}, read once here
 * for the loader (safetensors.h: st_archive_open) and for the check before a run
 * (model_check.c).
 *
 *   StShardIndex *ix = st_shard_index_load(".../diffusion_pytorch_model.safetensors.index.json",
 *                                          &err);
 *   for (guint i = 0; i < st_shard_index_n_shards(ix); i++)
 *       open(st_shard_index_shard_path(ix, i));   // each shard once, beside the index
 *   st_shard_index_free(ix);
 */
#pragma once

#include <glib.h>

typedef struct StShardIndex StShardIndex;

/* Reads the index at `path` (through config.h, as every JSON file): "weight_map" must be an
 * object whose values are plain file names (no folder, not "." or ".."). NULL with `error`
 * set naming the file (and the tensor whose shard name is wrong). Caller owns the result
 * (st_shard_index_free, NULL-safe). */
StShardIndex *st_shard_index_load(const char *path, GError **error);
void st_shard_index_free(StShardIndex *ix);

/* The shard files, each once, in the order the index first names them, as paths beside the
 * index. Owned by the index. */
guint st_shard_index_n_shards(const StShardIndex *ix);
const char *st_shard_index_shard_path(const StShardIndex *ix, guint i);
/* The tensors in the index's order: name (returned) and its shard's file name as written
 * (*shard). Owned by the index. */
guint st_shard_index_n_tensors(const StShardIndex *ix);
const char *st_shard_index_tensor(const StShardIndex *ix, guint i, const char **shard);
