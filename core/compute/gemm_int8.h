/* gemm_int8.h — y = x · Wᵀ for GGML-quantised W as integer products at any M: the `fast`
 * linear of quantised weights (issue 15).
 *
 * W is read as int8_blocks.h's integers q, one float scale and min per sub-block of bk
 * elements (32; 16 for Q6_K). x is quantised per sub-block as ggml's quantize_row_q8_0 does
 * (dx = max|x| / 127, xq = round(x / dx), dx kept in float32; gemm_int8_quantize_block) and,
 * for the types with a min, its exact float sum xs per sub-block is kept too. Per sub-block b
 * the product of the integers is exact in int32, and the float combination is
 *
 *   y[m,n] = 0;  for b = 0, 1, ..:  y = fma((float)S[m,n,b], dx[m,b]·scale[n,b], y)
 *                                   y = fma(xs[m,b], min[n,b], y)       (types with a min)
 *   S[m,n,b] = Σ_{j<bk} xq[m,bk·b+j] · q[n,bk·b+j]
 *
 * in this order on every path, so the paths give the same bits as the naive twin
 * (gemm_int8_naive). Against float32 math on quant.c's dequantised weights w the result moves
 * by the rounding of x to 8 bits, at most Σ_b dx[m,b]/2 · Σ_j |scale[n,b]·q[n,bk·b+j]|, plus
 * float32 rounding of the nb-term sum (tests/test_gemm_int8.c derives the whole bound).
 *
 * Paths, chosen at run time from the CPU (cpu_features.h; FLUX_CPU_DISABLE hides them):
 *   AMX-INT8     tdpbssd: per sub-block, 32 rows × 32 columns in four 16×16 int32 tiles, then
 *                the AVX-512 float combination
 *   AVX512-VNNI  vpdpbusd on zmm: 8 rows × 32 columns of int32 sums in registers
 *   AVX-VNNI     vpdpbusd on ymm (VEX; Alder Lake and later without AVX-512): 4 rows × 16
 *   AVX2         vpmaddubsw + vpmaddwd (|w| times x carrying w's sign): 4 rows × 16
 *   portable C   the same packed operands in plain loops
 * vpdpbusd multiplies unsigned by signed bytes: those paths store x + 128 and start each sum at
 * −128 · Σ_j q[n, j] (exact), which restores S.
 *
 * Blocking (as gemm_bf16.c): x in chunks of ≤ 1024 rows, quantised once per chunk into
 * 32-row blocks; the output columns split over the ops thread pool in panels of 128 weight
 * rows; a thread decodes its panel 512 values of k at a time into groups of 32 columns in the
 * layout AMX's B tiles and vpdpbusd both read (per sub-block: for k quad p, 16 columns × 4
 * bytes = 64 bytes, two such tiles, then the 32 scales, −128·Σq and mins), and each group (in
 * L1) runs against every 32-row x block of the chunk (from L2), into a float32 [rows, 128]
 * block copied to y at the end of the panel.
 *
 * Legend: M rows of x, K input features (a multiple of the type's block), N output features
 * (rows of W); bk = sub-block, nb = K / bk, b = sub-block index. */
#pragma once

#include "dtype.h"

typedef enum {
    GEMM_INT8_AUTO,     /* the fastest the CPU supports (the default) */
    GEMM_INT8_PORTABLE, /* plain C */
    GEMM_INT8_AVX2,     /* AVX2 vpmaddubsw */
    GEMM_INT8_AVX_VNNI, /* AVX-VNNI (ymm) */
    GEMM_INT8_VNNI,     /* AVX512-VNNI (zmm) */
    GEMM_INT8_AMX,      /* AMX-INT8 tiles */
    GEMM_INT8_N_PATHS
} GemmInt8Path;

/* TRUE when gemm_int8_linear takes w: a GGML block type (int8_blocks_supported) without a
 * per-tensor scale, 2-D [N, K]. */
gboolean gemm_int8_supports(const StTensor *w);

/* y[M,N] = x[M,K] · w[N,K]ᵀ (no bias) for a w gemm_int8_supports. Split over N on the ops
 * thread pool. */
void gemm_int8_linear(float *y, const float *x, const StTensor *w, int M, int K, int N);

/* The naive twin: the same arithmetic straight from the tensor, row by row (for the tests). */
void gemm_int8_naive(float *y, const float *x, const StTensor *w, int M, int K, int N);

/* Quantises bk values of x (one sub-block) to q[bk] and *d as above (bk = 32 gives
 * quant_dot_quantize_row's numbers). A block holding an infinity or NaN gets d = NaN. */
void gemm_int8_quantize_block(const float *x, int bk, gint8 *q, float *d);

/* Scratch gemm_int8_linear keeps (the x chunk on the calling thread, the packed panel and the
 * output block on each pool thread) for a K-column problem: for memory estimates. */
size_t gemm_int8_scratch_bytes(int K);

/* For tests and benchmarks: forces a path (GEMM_INT8_AUTO restores detection). FALSE, and
 * nothing changed, when this CPU or build cannot run it. Not thread-safe against running
 * gemm_int8_linear calls. */
gboolean gemm_int8_set_path(GemmInt8Path p);
/* The path gemm_int8_linear uses now (never GEMM_INT8_AUTO), and a path's name. */
GemmInt8Path gemm_int8_path(void);
const char *gemm_int8_path_name(GemmInt8Path p);
/* TRUE when the path in use is a native one (not portable C): where `fast` uses it. */
gboolean gemm_int8_native(void);
