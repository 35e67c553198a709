/* dtype.c — see dtype.h. */
#include "dtype.h"

#include <string.h>

/* Block types: a row of a GGML tensor is a whole number of blocks of `block` elements
 * stored in `bytes` bytes (ggml-common.h layouts; see quant.c). Plain types: block 1. */
static const struct {
    const char *name;
    size_t size;
    int block;
    size_t bytes;
} dtype_info[ST_N_DTYPES] = {
    [ST_F64] = {"F64", 8, 1, 8},         [ST_F32] = {"F32", 4, 1, 4},
    [ST_F16] = {"F16", 2, 1, 2},         [ST_BF16] = {"BF16", 2, 1, 2},
    [ST_I64] = {"I64", 8, 1, 8},         [ST_I32] = {"I32", 4, 1, 4},
    [ST_I16] = {"I16", 2, 1, 2},         [ST_I8] = {"I8", 1, 1, 1},
    [ST_U8] = {"U8", 1, 1, 1},           [ST_BOOL] = {"BOOL", 1, 1, 1},
    [ST_F8_E4M3] = {"F8_E4M3", 1, 1, 1}, [ST_F8_E5M2] = {"F8_E5M2", 1, 1, 1},
    [ST_Q8_0] = {"Q8_0", 0, 32, 34},     [ST_Q4_0] = {"Q4_0", 0, 32, 18},
    [ST_Q4_1] = {"Q4_1", 0, 32, 20},     [ST_Q5_0] = {"Q5_0", 0, 32, 22},
    [ST_Q5_1] = {"Q5_1", 0, 32, 24},     [ST_Q4_K] = {"Q4_K", 0, 256, 144},
    [ST_Q5_K] = {"Q5_K", 0, 256, 176},   [ST_Q6_K] = {"Q6_K", 0, 256, 210},
};

size_t st_dtype_size(StDtype dt)
{
    return (unsigned)dt < ST_N_DTYPES ? dtype_info[dt].size : 0;
}

gboolean st_dtype_block(StDtype dt, int *block_elems, size_t *block_bytes)
{
    if ((unsigned)dt >= ST_N_DTYPES) return FALSE;
    if (block_elems) *block_elems = dtype_info[dt].block;
    if (block_bytes) *block_bytes = dtype_info[dt].bytes;
    return TRUE;
}

gboolean st_dtype_nbytes(StDtype dt, uint64_t numel, uint64_t *nbytes)
{
    if ((unsigned)dt >= ST_N_DTYPES) return FALSE;
    uint64_t blocks = numel / (uint64_t)dtype_info[dt].block;
    if (blocks * (uint64_t)dtype_info[dt].block != numel) return FALSE;
    if (blocks > UINT64_MAX / dtype_info[dt].bytes) return FALSE;
    *nbytes = blocks * dtype_info[dt].bytes;
    return TRUE;
}

const char *st_dtype_name(StDtype dt)
{
    return (unsigned)dt < ST_N_DTYPES ? dtype_info[dt].name : "?";
}

gboolean st_dtype_is_float(StDtype dt)
{
    return dt == ST_F32 || dt == ST_F16 || dt == ST_BF16 || dt == ST_F64 || dt == ST_F8_E4M3 ||
           dt == ST_F8_E5M2 || (dt >= ST_Q8_0 && dt < ST_N_DTYPES);
}

/* Only the safetensors dtypes: the block types exist in GGUF files alone. */
gboolean st_dtype_from_name(const char *s, StDtype *out)
{
    for (int i = 0; i <= ST_F8_E5M2; i++)
        if (strcmp(s, dtype_info[i].name) == 0) {
            *out = (StDtype)i;
            return TRUE;
        }
    return FALSE;
}
