/* pool.h — the CPU threads every kernel splits its work over: one persistent pool, one job at
 * a time (a job started while another runs, or from inside a chunk, runs on its caller).
 * Below the kernels (ops.c, quant_dot.c, gemm_bf16.c, conv.c, backend.c) and above nothing. */
#pragma once

#include <stddef.h>

/* Number of worker threads the ops use (default: the CPU count; FLUX_THREADS overrides). */
int pool_n_threads(void);
/* Runs fn(ctx, begin, end) over [0, n) split into contiguous chunks, one per thread. */
void pool_parallel_for(size_t n, void (*fn)(void *ctx, size_t begin, size_t end), void *ctx);
