/* safetensors.h — reading (mapped, validated) and writing safetensors files.
 *
 * Format: 8-byte little-endian header length N, N bytes of JSON
 * {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, "__metadata__": {..}},
 * then the raw little-endian data section; offsets are relative to its start.
 *
 * Files are mapped with GMappedFile and never copied: a tensor's `data` points into the
 * mapping, which lives as long as the StFile/StArchive that owns it.
 * A checkpoint split in shards is read through its `*.safetensors.index.json`
 * ({"weight_map": {"tensor": "shard file"}}) as one StArchive.
 *
 * Other containers (GGUF, checkpoints with other tensor names) are presented as an StArchive
 * too: st_archive_new + st_archive_add (tensors described by their reader), and "virtual"
 * tensors: views (a row range of another tensor, or the same bytes under another shape: zero
 * copy) and owned buffers (for the few tensors that must be rearranged). See gguf.h and
 * checkpoint.h. The tensor types (StDtype, StTensor) are dtype.h's, their conversion to
 * float32 convert.h's.
 */
#pragma once

#include "convert.h"
#include "dtype.h"

#include <glib.h>
#include <stdint.h>

typedef struct StFile StFile;
typedef struct StArchive StArchive;

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
void st_archive_free(StArchive *a);
/* NULL when absent. Owned by the archive. */
StTensor *st_archive_find(StArchive *a, const char *name);
gsize st_archive_n_tensors(const StArchive *a);
StTensor *st_archive_tensor(StArchive *a, gsize i);
/* Path given to st_archive_open (file or index). Owned by the archive. */
const char *st_archive_path(const StArchive *a);
/* Number of tensors never marked used; fills `names` (if non-NULL) with a newly allocated
 * NULL-terminated array of their names (caller frees with g_strfreev). */
gsize st_archive_unused(const StArchive *a, char ***names);
/* Float32 copy of a float tensor, made once and owned by the archive (for biases, norms). */
const float *st_archive_f32(StArchive *a, StTensor *t);

/* Building archives from other containers ------------------------------------------------ */

/* An empty archive; `path` is used in messages. Caller owns (st_archive_free). */
StArchive *st_archive_new(const char *path);
/* Keeps `data` alive as long as the archive: `destroy(data)` runs at st_archive_free (after
 * the archive's own tensors are gone, latest attachment first). `key` (a static string)
 * finds it again with st_archive_attached. A base archive, a mapping, format metadata. */
void st_archive_attach(StArchive *a, const char *key, gpointer data, GDestroyNotify destroy);
/* The data attached under `key`, or NULL. */
gpointer st_archive_attached(const StArchive *a, const char *key);
/* Adds a tensor described by `desc`: name, dtype, ndim, shape, data, file and scale are
 * taken (name and file copied); numel and nbytes are computed. The bytes must stay valid
 * (attach what owns them). Fails on a duplicate name, a bad shape or a row (last dimension)
 * that is not a whole number of blocks. Returns the archive's tensor. */
StTensor *st_archive_add(StArchive *a, const StTensor *desc, GError **error);
/* Adds `name` as a zero-copy view of `src`: its elements [first, first + numel(shape)) under
 * the shape `shape` (a row range: first = row0 × row length; or a reshape: first = 0). The
 * range must lie in `src` and start and end on block boundaries. Dtype and scale are src's. */
StTensor *st_archive_add_view(StArchive *a, const char *name, const StTensor *src, int64_t first,
                              int ndim, const int64_t *shape, GError **error);
/* Adds `name` with data in a buffer that the archive takes over (`data`, g_malloc'ed, freed
 * with g_free) holding the raw bytes of `dtype` for `shape`. */
StTensor *st_archive_add_owned(StArchive *a, const char *name, StDtype dtype, int ndim,
                               const int64_t *shape, gpointer data, const char *file,
                               GError **error);

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
