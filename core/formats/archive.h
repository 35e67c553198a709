/* archive.h — a set of named tensors, whatever container they come from: one safetensors
 * file, the shards of an index (safetensors.h: st_archive_open), a GGUF file (gguf.h), a
 * single-file checkpoint renamed to diffusers names (checkpoint.h). A model's loader finds
 * its weights here by name and never asks which format they came in.
 *
 * A reader fills an archive with st_archive_add (a tensor it describes) or
 * st_archive_add_borrowed (one from its own table), and keeps what owns the bytes alive with
 * st_archive_attach. "Virtual" tensors: views (a row range of another tensor, or the same
 * bytes under another shape: zero copy) and owned buffers (for the few tensors that must be
 * rearranged). Each tensor carries a `used` mark, so that a loader can report what a
 * checkpoint holds beyond the model (st_archive_unused). The tensor type (StTensor, StDtype)
 * is dtype.h's, its conversion to float32 convert.h's.
 *
 *   StArchive *a = st_archive_new("model.gguf");
 *   st_archive_attach(a, "mapping", map, (GDestroyNotify)g_mapped_file_unref);
 *   st_archive_add(a, &(StTensor){.name = "x.weight", .dtype = ST_Q8_0, ...}, &err);
 *   StTensor *t = st_archive_find(a, "x.weight");
 *   st_archive_free(a);
 */
#pragma once

#include "convert.h"
#include "dtype.h"

#include <glib.h>
#include <stdint.h>

typedef struct StArchive StArchive;

/* An empty archive; `path` is used in messages. Caller owns (st_archive_free, NULL-safe). */
StArchive *st_archive_new(const char *path);
void st_archive_free(StArchive *a);
/* Path given at creation (the file or index). Owned by the archive. */
const char *st_archive_path(const StArchive *a);

/* NULL when absent. Owned by the archive. */
StTensor *st_archive_find(StArchive *a, const char *name);
gsize st_archive_n_tensors(const StArchive *a);
/* Tensors in the order they were added. */
StTensor *st_archive_tensor(StArchive *a, gsize i);
/* Number of tensors never marked used; fills `names` (if non-NULL) with a newly allocated
 * NULL-terminated array of their names (caller frees with g_strfreev). */
gsize st_archive_unused(const StArchive *a, char ***names);
/* Float32 copy of a float tensor, made once and owned by the archive (for biases, norms). */
const float *st_archive_f32(StArchive *a, StTensor *t);

/* Keeps `data` alive as long as the archive: `destroy(data)` runs at st_archive_free (after
 * the archive's own tensors are gone, latest attachment first). `key` (a static string, or
 * NULL) finds it again with st_archive_attached. A base archive, a mapping, a file reader,
 * format metadata. */
void st_archive_attach(StArchive *a, const char *key, gpointer data, GDestroyNotify destroy);
/* The data attached under `key`, or NULL. */
gpointer st_archive_attached(const StArchive *a, const char *key);

/* Adds a tensor of a reader's own table as it is (no copy): `t` and its bytes stay owned by
 * the reader, which must outlive the archive (attach it). Fails on a name already present
 * (the message names t->file and the other file). */
gboolean st_archive_add_borrowed(StArchive *a, StTensor *t, GError **error);
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
