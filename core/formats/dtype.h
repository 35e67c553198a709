/* dtype.h — the tensor types: element types (the safetensors dtypes and GGML's block types),
 * their sizes and names, and StTensor, the one description of a tensor that every reader
 * (safetensors.c, gguf.c, checkpoint.c) fills and every kernel reads.
 *
 * The lowest module of the core after flux.h: it includes nothing of the project, so that
 * the block decoders (quant.h), the conversions (convert.h), the file readers and the kernels
 * can all depend on it. */
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
    /* GGML block types (from GGUF files; never in a safetensors header): a row is a whole
     * number of blocks of st_dtype_block() elements. Dequantised by quant.c. */
    ST_Q8_0,
    ST_Q4_0,
    ST_Q4_1,
    ST_Q5_0,
    ST_Q5_1,
    ST_Q4_K,
    ST_Q5_K,
    ST_Q6_K,
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
    float scale;      /* per-tensor multiplier applied by st_to_f32 after conversion (FP8
                         "scaled" checkpoints); 0 means none. Never set on F32 tensors, whose
                         data ops_linear may read directly. */
} StTensor;

/* Size in bytes of one element; 0 for an invalid dtype and for block types. */
size_t st_dtype_size(StDtype dt);
/* Elements per block and bytes per block (1 and the element size for plain types); FALSE
 * for an invalid dtype. */
gboolean st_dtype_block(StDtype dt, int *block_elems, size_t *block_bytes);
/* Bytes taken by `numel` elements (`numel` a multiple of the block); FALSE when it is not,
 * or on overflow. */
gboolean st_dtype_nbytes(StDtype dt, uint64_t numel, uint64_t *nbytes);
/* "F32", "BF16", ... */
const char *st_dtype_name(StDtype dt);
gboolean st_dtype_is_float(StDtype dt);
/* The dtype named `s` in a safetensors header ("F32", "BF16", ...): only the plain types
 * (the block types exist in GGUF files alone, numbered there); FALSE when unknown. */
gboolean st_dtype_from_name(const char *s, StDtype *out);
