/* int8_blocks.h — GGML's weight blocks as small integers with a float scale and offset: the
 * weight side of the int8 GEMM (gemm_int8.h, issue 15).
 *
 * Every block type quant.c dequantises can be written, sub-block by sub-block of bk
 * consecutive elements of a row, as
 *
 *   w[k] = scale · q[k] + min          q[k] an integer in [-128, 127]
 *
 * with one float scale and one float min per sub-block (bk = 32, or 16 for Q6_K, whose
 * scales change every 16 elements):
 *
 *   type   q                     scale          min         (d, dmin, sc, m, as in quant.h)
 *   Q8_0   q                     d              0
 *   Q4_0   nibble − 8            d              0
 *   Q4_1   nibble                d              m
 *   Q5_0   5 bits − 16           d              0
 *   Q5_1   5 bits                d              m
 *   Q4_K   nibble                d·sc_s         −dmin·m_s    (sub-block s of 32)
 *   Q5_K   5 bits                d·sc_s         −dmin·m_s
 *   Q6_K   6 bits − 32           d·sc_s         0            (sub-block s of 16)
 *
 * scale and min are the float32 values quant.c computes (d·sc_s rounded once), so scale·q + min
 * equals quant.c's dequantised element up to the rounding of its last product/subtraction.
 *
 * Legend: blk = elements per block of the type (32 or 256), bk = elements per sub-block. */
#pragma once

#include "dtype.h"

/* TRUE for the block types above (every GGML type quant.c reads). */
gboolean int8_blocks_supported(StDtype dt);
/* bk: 16 for Q6_K, 32 for the others (the type must be supported). */
int int8_blocks_bk(StDtype dt);
/* TRUE when the type has a nonzero min (Q4_1, Q5_1, Q4_K, Q5_K). */
gboolean int8_blocks_has_min(StDtype dt);

/* Decodes `n_blocks` whole blocks of the type from `src` (blk elements each): q[n_blocks·blk],
 * scale and min [n_blocks·blk / bk] (min may be NULL for types without one). */
void int8_blocks_decode(StDtype dt, const guint8 *src, int n_blocks, gint8 *q, float *scale,
                        float *min);
