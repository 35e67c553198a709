/* gguf.h — reading GGUF files (llama.cpp / ggml's container, versions 2 and 3) as an StArchive.
 *
 * Layout (all little-endian): "GGUF", u32 version, u64 tensor count, u64 KV count; KV pairs
 * (string key, u32 type, value; strings are u64 length + bytes, arrays u32 element type +
 * u64 count + elements, possibly nested); tensor infos (string name, u32 n_dims <= 4,
 * u64 dims innermost first, u32 GGML type, u64 offset); padding to `general.alignment`
 * (default 32); the data section, each tensor at its offset (a multiple of the alignment).
 *
 * Every length and count is checked against the file before it is used; the file is mapped,
 * never copied. Dims are reversed to PyTorch order ([N, K] for a weight with rows of K), so
 * tensors look exactly like safetensors ones; block types (Q8_0 ...) must have rows of whole
 * blocks. Tensor names are kept as the file has them (FLUX GGUF files carry the original
 * Black Forest Labs names; checkpoint.h translates).
 *
 *   GError *err = NULL;
 *   StArchive *a = gguf_open("flux1-dev-Q8_0.gguf", &err);
 *   const GgufFile *g = gguf_archive_file(a);
 *   const char *arch = gguf_get_string(g, "general.architecture");   // "flux"
 *   st_archive_free(a);
 */
#pragma once

#include "archive.h"
#include <stdint.h>

typedef enum {
    GGUF_TYPE_UINT8 = 0,
    GGUF_TYPE_INT8 = 1,
    GGUF_TYPE_UINT16 = 2,
    GGUF_TYPE_INT16 = 3,
    GGUF_TYPE_UINT32 = 4,
    GGUF_TYPE_INT32 = 5,
    GGUF_TYPE_FLOAT32 = 6,
    GGUF_TYPE_BOOL = 7,
    GGUF_TYPE_STRING = 8,
    GGUF_TYPE_ARRAY = 9,
    GGUF_TYPE_UINT64 = 10,
    GGUF_TYPE_INT64 = 11,
    GGUF_TYPE_FLOAT64 = 12,
} GgufType;

typedef struct GgufFile GgufFile;

/* Opens a .gguf file as an archive of its tensors (FLUX_ERROR_FORMAT for a malformed file,
 * FLUX_ERROR_UNSUPPORTED for a tensor type this build cannot dequantise; the message names
 * the file and tensor). Caller owns (st_archive_free). */
StArchive *gguf_open(const char *path, GError **error);
/* TRUE when the file starts with the GGUF magic (cheap; no validation). */
gboolean gguf_is_gguf(const char *path);

/* The metadata of an archive made by gguf_open (NULL for any other archive). Owned by it. */
const GgufFile *gguf_archive_file(const StArchive *a);
guint32 gguf_version(const GgufFile *g);
guint32 gguf_alignment(const GgufFile *g);
gsize gguf_n_kv(const GgufFile *g);
const char *gguf_kv_key(const GgufFile *g, gsize i);
/* Type of `key`'s value; FALSE when absent. For arrays also the element type and count. */
gboolean gguf_kv_type(const GgufFile *g, const char *key, GgufType *type, GgufType *elem_type,
                      uint64_t *count);
/* A string value (NUL-terminated copy owned by g), or NULL when absent or not a string. */
const char *gguf_get_string(const GgufFile *g, const char *key);
/* Any integer (or bool) value that fits an int64; FALSE when absent or of another type. */
gboolean gguf_get_int(const GgufFile *g, const char *key, int64_t *out);
/* A FLOAT32 or FLOAT64 value. */
gboolean gguf_get_float(const GgufFile *g, const char *key, double *out);

/* The GGML type id of a dtype (F32 0, F16 1, Q4_0 2, ...), or -1. */
int gguf_ggml_type(StDtype dt);
