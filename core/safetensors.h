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
 */
#pragma once

#include <glib.h>
#include <stdint.h>

#define ST_MAX_DIMS 8

typedef enum {
    ST_F64,
    ST_F32,
    ST_F16,
    ST_BF16,
    ST_I64,
    ST_I32,
    ST_I16,
    ST_I8,
    ST_U8,
    ST_BOOL,
    ST_F8_E4M3,
    ST_F8_E5M2,
    ST_N_DTYPES
} StDtype;

typedef struct {
    const char *name; /* owned by the file */
    StDtype dtype;
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    int64_t numel;
    const void *data; /* into the mapping; no alignment is promised */
    size_t nbytes;
    const char *file; /* path of the file holding it, for messages */
    float *f32;       /* optional float32 copy (small tensors), owned by the archive */
    gboolean used;    /* bound by a loader (for the "unused tensors" report) */
} StTensor;

typedef struct StFile StFile;
typedef struct StArchive StArchive;

/* Size in bytes of one element; 0 for an invalid dtype. */
size_t st_dtype_size(StDtype dt);
/* "F32", "BF16", ... */
const char *st_dtype_name(StDtype dt);
gboolean st_dtype_is_float(StDtype dt);

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

/* Converts n elements of a float tensor starting at element `first` to float32. */
void st_to_f32(float *dst, const StTensor *t, int64_t first, int64_t n);

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
