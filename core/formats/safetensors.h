/* safetensors.h — reading (mapped, validated) and writing safetensors files.
 *
 * Format: 8-byte little-endian header length N, N bytes of JSON
 * {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, "__metadata__": {..}},
 * then the raw little-endian data section; offsets are relative to its start.
 *
 * Files are mapped with GMappedFile and never copied: a tensor's `data` points into the
 * mapping, which lives as long as the StFile/StArchive that owns it.
 * A checkpoint split in shards is read through its `*.safetensors.index.json`
 * (shard_index.h) as one StArchive (archive.h: the set of named tensors every container is
 * presented as). The tensor types (StDtype, StTensor) are dtype.h's, their conversion to
 * float32 convert.h's.
 */
#pragma once

#include "archive.h"
#include "convert.h"
#include "dtype.h"

#include <glib.h>
#include <stdint.h>

typedef struct StFile StFile;

/* Maps and validates one file. Returns NULL with `error` set (message names the file and
 * the tensor). Caller owns the result; free with st_file_free (NULL-safe). */
StFile *st_file_open(const char *path, GError **error);
void st_file_free(StFile *f);
gsize st_file_n_tensors(const StFile *f);
/* Tensors in file order (sorted by data offset). Owned by the file. */
StTensor *st_file_tensor(StFile *f, gsize i);
/* NULL when absent. Owned by the file. */
StTensor *st_file_find(StFile *f, const char *name);
const char *st_file_path(const StFile *f);
/* Value of "__metadata__"[key], or NULL. Owned by the file. */
const char *st_file_metadata(const StFile *f, const char *key);

/* Opens `path`: a .safetensors file, or a `*.safetensors.index.json` whose shards lie beside
 * it. Caller owns the result (st_archive_free, NULL-safe). */
StArchive *st_archive_open(const char *path, GError **error);
/* Opens the weights of a diffusers component folder: `<dir>/<stem>.safetensors.index.json`
 * if present, else `<dir>/<stem>.safetensors` (stem: "model", "diffusion_pytorch_model"). */
StArchive *st_archive_open_dir(const char *dir, const char *stem, GError **error);

/* ------------------------------------------------------------------------------------- */
/* Writing (for --save-tensors and tests).                                                */

typedef struct StWriter StWriter;

StWriter *st_writer_new(void);
void st_writer_free(StWriter *w);
/* Copies `data` (numel × dtype size bytes). Names must be unique (asserted). */
void st_writer_add(StWriter *w, const char *name, StDtype dtype, int ndim, const int64_t *shape,
                   const void *data);
/* Writes atomically: a temporary file beside `path`, renamed into place. */
gboolean st_writer_save(StWriter *w, const char *path, GError **error);
