/* gemm_bf16.h — y = x · Wᵀ for bf16 W without converted tiles (issue 5).
 *
 * ops_linear multiplies bf16 weights by converting tiles of W rows to float32 in per-thread
 * scratch and calling single-threaded OpenBLAS sgemm on them. This is a hand-written
 * alternative that reads W as stored (2 bytes a weight) straight into registers:
 *
 *   AVX512-BF16  x rounded to bf16 once per call (round to nearest even), then vdpbf16ps on
 *                pairs of K: each product bf16·bf16 is exact in float32, summed in float32.
 *                The instruction treats denormal inputs as zero and flushes denormal results.
 *   AVX-512F     W widened to float32 in registers (zero-extend + shift by 16) and FMA'd
 *                against float32 x: the exact bf16 weights times the float32 x.
 *   portable C   the same sums as AVX-512F (16 partial sums; products rounded, no FMA), for
 *                other CPUs.
 *
 * The path is chosen at run time from the CPU (the fastest it runs).
 *
 * OPT-IN ONLY: ops_linear does not call this. Whether it should is decided by the measurement
 * in docs/PERFORMANCE.md ("What was done (issue 5)", the bf16 kernel table: flux-bench
 * --bf16-table).
 *
 * Legend: M rows of x, K input features, N output features (rows of W). */
#pragma once

#include "dtype.h"

typedef enum {
    GEMM_BF16_AUTO,       /* the fastest the CPU supports (the default) */
    GEMM_BF16_PORTABLE,   /* plain C */
    GEMM_BF16_AVX512F,    /* AVX-512F/BW/VL: weights widened in registers, FMA */
    GEMM_BF16_AVX512BF16, /* AVX512-BF16 (vdpbf16ps), x rounded to bf16 */
    GEMM_BF16_N_PATHS
} GemmBf16Path;

/* y[M,N] = x[M,K] · w[N,K]ᵀ (no bias) for w of dtype ST_BF16 (a per-tensor scale, if set,
 * multiplies the result). Split over N on the ops thread pool (pool_parallel_for). */
void gemm_bf16_linear(float *y, const float *x, const StTensor *w, int M, int K, int N);

/* dst[n] = src[n] rounded to bf16, to nearest even (NaN stays a quiet NaN): what the
 * AVX512-BF16 path does to x, for the tests' reference. */
void gemm_bf16_round(guint16 *dst, const float *src, size_t n);

/* For tests and benchmarks: forces a path (GEMM_BF16_AUTO restores detection). Returns FALSE,
 * and changes nothing, when this CPU or build cannot run it. Not thread-safe against running
 * gemm_bf16_linear calls. */
gboolean gemm_bf16_set_path(GemmBf16Path p);
/* The path gemm_bf16_linear uses now (never GEMM_BF16_AUTO), and a path's name. */
GemmBf16Path gemm_bf16_path(void);
const char *gemm_bf16_path_name(GemmBf16Path p);
