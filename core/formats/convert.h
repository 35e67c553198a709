/* convert.h — any float tensor (F64/F32/F16/BF16/FP8/GGML blocks) to float32, as the GEMM
 * tiles, the biases and the norms consume it. Block types are decoded by quant.c. */
#pragma once

#include "dtype.h"

/* Converts n elements of a float tensor starting at element `first` to float32, then applies
 * t->scale when set. For block types `first` and `n` must be multiples of the block (a row
 * start and whole rows always are: rows are whole blocks). */
void st_to_f32(float *dst, const StTensor *t, int64_t first, int64_t n);
