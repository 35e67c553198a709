/* quant.h — dequantisation of the GGML block types found in GGUF files to float32.
 *
 * Layouts are those of ggml (ggml-common.h, ggml-quants.c dequantize_row_*), written here
 * from their description. All multi-byte fields are little-endian; d/dmin are IEEE half.
 *
 *   type  block  bytes  layout (in order)                        element value
 *   Q8_0    32    34    d, int8 q[32]                            d·q
 *   Q4_0    32    18    d, u8 qs[16]: lo nibble = x[j], hi = x[j+16]          d·(q−8)
 *   Q4_1    32    20    d, m, u8 qs[16] (as Q4_0)                 d·q + m
 *   Q5_0    32    22    d, u32 qh (bit j = 5th bit of x[j]), qs[16]           d·(q−16)
 *   Q5_1    32    24    d, m, u32 qh, qs[16]                      d·q + m
 *   Q4_K   256   144    d, dmin, u8 scales[12] (8 × 6-bit scale + 6-bit min), qs[128]
 *                       sub-block s of 32: (d·sc_s)·q − (dmin·m_s)
 *   Q5_K   256   176    d, dmin, scales[12], qh[32], qs[128]      as Q4_K with a 5th bit
 *   Q6_K   256   210    ql[128], qh[64], int8 scales[16], d       (d·sc_s)·(q−32), 16-element s
 *
 * Legend: a "block" is the unit of `block` consecutive elements of a row; rows are whole
 * blocks (checked when a tensor is added to an archive). */
#pragma once

#include "dtype.h"
#include <stdint.h>

/* Dequantises n elements (a multiple of the block of `dt`) from the blocks at `src`. Fast
 * path: one block at a time, as ggml's dequantize_row_* do. */
void quant_dequantize(StDtype dt, const void *src, float *dst, int64_t n);

/* Naive reference: element i decoded on its own from the layout (locates its block, bytes
 * and bits independently of the fast path). Same float operation order, so equal bit for bit. */
float quant_ref_element(StDtype dt, const void *src, int64_t i);
void quant_dequantize_ref(StDtype dt, const void *src, float *dst, int64_t n);

/* Q4_K/Q5_K: the 6-bit scale *sc and min *m of sub-block s (0..7) from the block's 12 packed
 * scale bytes. */
void quant_k_scale_min(const uint8_t *sc12, int s, int *sc, int *m);

/* IEEE half → float (exact). */
float quant_f16_to_f32(uint16_t h);
