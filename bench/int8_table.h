/* int8_table.h — flux-bench --int8-table: the int8 GEMM (core/compute/gemm_int8.c) at the
 * FLUX.1 transformer's linear shapes, per path and weight type, against the bf16 GEMM that
 * `fast` used for them before (gemm_bf16.c) and the instructions' measured peaks (peak.h).
 *
 *   flux-bench --int8-table 1280,4608 [Q8_0,Q4_0,Q4_K,Q5_K,Q6_K] [amx-int8,avx512-vnni,...]
 *
 * M = image + text tokens: 1280 = 1024 + 256 at 512², 4608 = 4096 + 512 at 1024²;
 * (K, N) = (3072, 3072) attention projections, (3072, 12288) MLP up, (12288, 3072) MLP down,
 * (15360, 3072) the single block's output projection. */
#pragma once

/* types, paths: comma-separated names (NULL: Q8_0,Q4_0,Q4_K and every native path). */
void bench_int8_table(const int *Ms, int n_M, const char *types, const char *paths);
