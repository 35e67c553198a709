/* quant_dot.h — y = x · Wᵀ with W in GGML's Q8_0 blocks, as integer dot products (issue 7).
 *
 * Instead of dequantising W to float32 and calling sgemm, each row of x is quantised the way
 * ggml's quantize_row_q8_0 does (per block of 32: d = max|x| / 127, q = round(x / d), but d
 * kept in float32), and every block product is an exact int8 · int8 sum in int32, scaled by
 * the two blocks' d:
 *
 *   y[m,n] = Σ_b  (float)(Σ_{j<32} xq[m,32b+j] · wq[n,32b+j]) · (dx[m,b] · dw[n,b])
 *
 * summed over b = 0, 1, ... in this order in float32 (no FMA) by every code path, so the paths
 * give the same bits. The result differs from the float path by the rounding of x to 8 bits:
 * |Δy[m,n]| <= Σ_b dx[m,b]/2 · Σ_{j} |w[n,32b+j]| (plus float32 summation error).
 *
 * Paths, chosen at run time from the CPU: AVX-512 VNNI (vpdpbusd, 256-bit vectors), AVX-VNNI
 * (the same instruction VEX-encoded), AVX2
 * (vpmaddubsw + vpmaddwd) and portable C (the reference the tests compare the others against).
 *
 * Legend: M rows of x, K input features (a multiple of 32), N output features (rows of W);
 * b = block index along K, j = element inside a block. */
#pragma once

#include "dtype.h"

/* The largest M for which ops_linear takes this path for Q8_0 weights: above it OpenBLAS's
 * sgemm on dequantised tiles is faster on AVX-512 machines without VNNI (docs/PERFORMANCE.md
 * "Quantized transformer (issue 7)" has the measurement). */
#define QDOT_MAX_M 64

typedef enum {
    QDOT_AUTO,     /* the fastest the CPU supports (the default) */
    QDOT_PORTABLE, /* plain C */
    QDOT_AVX2,     /* AVX2 + F16C */
    QDOT_VNNI,     /* AVX-512 VNNI + VL (256-bit vectors) */
    QDOT_AVX_VNNI, /* AVX-VNNI (VEX vpdpbusd: Alder Lake and later without AVX-512) */
    QDOT_OFF,      /* quant_dot_supports says no: ops_linear dequantises (for comparisons);
                      a direct quant_dot_linear call runs the portable path */
} QdotPath;

/* TRUE when ops_linear should multiply by w here: Q8_0 without a per-tensor scale, and the
 * kernel not switched off (QDOT_OFF). */
gboolean quant_dot_supports(const StTensor *w);

/* y[M,N] = x[M,K] · w[N,K]ᵀ (no bias) for a Q8_0 w (quant_dot_supports). Split over N on
 * the ops thread pool. */
void quant_dot_linear(float *y, const float *x, const StTensor *w, int M, int K, int N);

/* Quantises one row of K floats (K a multiple of 32) to q[K] and d[K/32] as above. A block
 * holding an infinity or NaN gets d = NaN (the products then give NaN, as the float path would). */
void quant_dot_quantize_row(const float *x, int K, gint8 *q, float *d);

/* For tests and benchmarks: forces a path (QDOT_AUTO restores detection). Returns FALSE, and
 * changes nothing, when this CPU or build cannot run it. Not thread-safe against running
 * quant_dot_linear calls. */
gboolean quant_dot_set_path(QdotPath p);
/* The path quant_dot_linear uses now (never QDOT_AUTO), and its name. */
QdotPath quant_dot_path(void);
const char *quant_dot_path_name(QdotPath p);
