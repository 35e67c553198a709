/* gemm_bf16.h — y = x · Wᵀ with bf16 products and float32 sums: the `fast` linear (issue 15).
 *
 * Both operands are rounded to bf16 (round to nearest even): x per chunk of rows, W per panel
 * of 64 rows as it is packed (bf16 weights are copied as stored, straight from the mapped
 * file; any other dtype is converted exactly to float32 first, st_to_f32, then rounded). Each
 * product of two bf16 is exact in float32; the sums are float32:
 *
 *   y[m,n] = Σ_k bf16(x[m,k]) · bf16(w[n,k])       (order of the sums depends on the path)
 *
 * so against float32 math on the exact weights each product moves by at most 2·2⁻⁸ + 2⁻¹⁶
 * relative (two roundings of 2⁻⁸ each), the sum by at most that times Σ_k |x[m,k]·w[n,k]|.
 *
 * Paths, chosen at run time from the CPU (cpu_features.h):
 *   AMX-BF16     tdpbf16ps on 16×16 float32 tiles (2 x-tiles × 2 w-tiles per step of 32 k)
 *   AVX512-BF16  vdpbf16ps, 8 rows × 32 columns of float32 accumulators in registers
 *   portable C   the same packed operands and products, plain loops (the naive twin the tests
 *                compare with, and the path of CPUs without either)
 * AMX and AVX512-BF16 treat denormal inputs as zero and flush denormal results (Intel SDM).
 *
 * Blocking: x in chunks of rows (≤ GEMM_BF16_X_CHUNK_BYTES of bf16, shared by the threads);
 * the output columns split over the ops thread pool in panels of 256 weight rows; each thread
 * packs a panel 2048 values of k at a time into the pair-interleaved layout both instruction
 * sets read (for k pair p: 16 columns × 2 bf16 = 64 bytes), and accumulates a float32
 * [chunk rows, 256] block (16 × 16 tiles) written to y, bias added, in the panel's last k block.
 *
 * Legend: M rows of x, K input features, N output features (rows of W). */
#pragma once

#include "dtype.h"

typedef enum {
    GEMM_BF16_AUTO,       /* the fastest the CPU supports (the default) */
    GEMM_BF16_PORTABLE,   /* plain C */
    GEMM_BF16_AVX512BF16, /* AVX512-BF16 (vdpbf16ps) */
    GEMM_BF16_AMX,        /* AMX-BF16 tiles */
    GEMM_BF16_N_PATHS
} GemmBf16Path;

/* x rows rounded to bf16 at once (shared scratch of the calling thread, kept for its life). */
#define GEMM_BF16_X_CHUNK_BYTES (32u << 20)

/* y[M,N] = x[M,K] · w[N,K]ᵀ (no bias) for w of any dtype st_to_f32 reads (its per-tensor scale
 * included). Split over N on the ops thread pool (pool_parallel_for). */
void gemm_bf16_linear(float *y, const float *x, const StTensor *w, int M, int K, int N);
/* The same with y[m,n] = (x · Wᵀ)[m,n] + bias[n] (bias [N], or NULL): the same bits as adding
 * the bias afterwards, written in the one pass that moves each result to y. */
void gemm_bf16_linear_bias(float *y, const float *x, const StTensor *w, const float *bias, int M,
                           int K, int N);

/* c[M,N] = alpha · a[M,K] · Bᵀ (+ c when accumulate) on the calling thread only (for tiles of
 * work already split over the pool: attention), the same bf16 products and paths. B is
 * float32: [N, K] rows ldb apart (b_kn FALSE), or [K, N] rows ldb apart (b_kn TRUE, read
 * transposed). a rows lda apart, c rows ldc apart. */
void gemm_bf16_tile(float *c, int ldc, const float *a, int lda, const float *b, int ldb,
                    gboolean b_kn, int M, int K, int N, float alpha, gboolean accumulate);

/* gemm_bf16_tile in parts, for operands used in several products (attention: a head's K and V
 * against each of its query tiles, a query tile against each key tile): each operand rounded
 * and packed once into memory the caller owns (of the _bytes sizes), then multiplied. The
 * same bits as gemm_bf16_tile (which is these three calls). a: [M, K] rows lda apart; b as
 * in gemm_bf16_tile; the packed layouts depend on the path (gemm_bf16_set_path in between is
 * not allowed). */
size_t gemm_bf16_pack_a_bytes(int M, int K);
void gemm_bf16_pack_a(guint16 *dst, const float *a, int lda, int M, int K);
size_t gemm_bf16_pack_b_bytes(int N, int K);
void gemm_bf16_pack_b(guint16 *dst, const float *b, int ldb, gboolean b_kn, int N, int K);
/* c[M,N] = alpha · A · Bᵀ (+ c when accumulate) from operands packed with the same M, K, N. */
void gemm_bf16_tile_packed(float *c, int ldc, const guint16 *a, const guint16 *b, int M, int K,
                           int N, float alpha, gboolean accumulate);

/* Scratch gemm_bf16_linear keeps (the x chunk on the calling thread, the packed panel and
 * the output block on each pool thread) for a K-column problem: for memory estimates. */
size_t gemm_bf16_scratch_bytes(int K);

/* dst[n] = src[n] rounded to bf16, to nearest even (NaN stays a quiet NaN; overflow gives
 * ±inf): what every path does to its operands, for the tests' reference. */
void gemm_bf16_round(guint16 *dst, const float *src, size_t n);

/* For tests and benchmarks: forces a path (GEMM_BF16_AUTO restores detection). Returns FALSE,
 * and changes nothing, when this CPU or build cannot run it. Not thread-safe against running
 * gemm_bf16_linear calls. FLUX_CPU_DISABLE (cpu_features.h) hides paths from detection. */
gboolean gemm_bf16_set_path(GemmBf16Path p);
/* The path gemm_bf16_linear uses now (never GEMM_BF16_AUTO), and a path's name. */
GemmBf16Path gemm_bf16_path(void);
const char *gemm_bf16_path_name(GemmBf16Path p);
/* TRUE when the path now in use is a native one (not portable C): where `fast` uses it. */
gboolean gemm_bf16_native(void);
