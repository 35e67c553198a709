/* ops_block.c — the elementwise steps of a transformer block on the CPU (see ops.h): AdaLN
 * modulation, the gated residual add, the plain add, RoPE and the column copy, each split over
 * the pool threads; their naive twins are in ops_naive.c. The cpu backend (backend_cpu.c)
 * runs them; the cuda backend has its own (cuda/fcu_elementwise.cu).
 *
 * Dimension letters: M rows, N features, T tokens, NH heads, HD head dim.
 */
#include "ops.h"
#include "pool.h"

#include <string.h>

/* Elementwise work is split over the ops threads once it is big enough: waking the pool costs
 * ~10-20 µs, about what 64 K values of a cheap op take (as OPS_PAR_MIN in ops.c). At
 * FLUX.1 sizes a modulation touches 4608 × 3072 values, ~60 times per step. Every value is
 * computed by the same expression whatever the split, so results do not depend on it. */
#define BLOCK_PAR_MIN (1u << 16)

/* Hot loops in instruction-set variants picked by the loader (GCC ifunc), as in ops.c. With
 * -ffp-contract=off no variant fuses a multiply-add, so all give the same bits. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) &&                             \
    !defined(__SANITIZE_ADDRESS__)
#define BLOCK_SIMD __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define BLOCK_SIMD
#endif

/* A job over rows [begin, end) of [M, N] operands, or over elements when N is 0. */
typedef struct {
    float *y;
    const float *x, *a, *b; /* modulate: a = shift, b = scale; gated_add: a = gate; rope: a =
                               cos, b = sin */
    int N, ld, lds, NH, HD; /* ld, lds: row strides of y and x where they differ from N */
    float eps;
} BlockJob;

static void block_par(size_t n, size_t work, void (*fn)(void *, size_t, size_t), BlockJob *job)
{
    if (work < BLOCK_PAR_MIN)
        fn(job, 0, n);
    else
        pool_parallel_for(n, fn, job);
}

/* y[n] = y[n] · (1 + scale[n]) + shift[n] */
BLOCK_SIMD static void scale_shift(float *restrict y, const float *restrict scale,
                                   const float *restrict shift, int n)
{
    for (int d = 0; d < n; d++) y[d] = y[d] * (1.0f + scale[d]) + shift[d];
}

static void modulate_rows(void *ctx, size_t begin, size_t end)
{
    const BlockJob *j = ctx;
    float *y = j->y + begin * j->N;
    ops_layernorm(y, j->x + begin * j->N, NULL, NULL, (int)(end - begin), j->N, j->eps);
    for (size_t r = begin; r < end; r++, y += j->N) scale_shift(y, j->b, j->a, j->N);
}

void ops_modulate(float *y, const float *x, const float *shift, const float *scale, int M, int N,
                  float eps)
{
    BlockJob job = {.y = y, .x = x, .a = shift, .b = scale, .N = N, .eps = eps};
    block_par((size_t)M, (size_t)M * N, modulate_rows, &job);
}

/* x[n] += gate[n] · y[n] */
BLOCK_SIMD static void gated_row(float *restrict x, const float *restrict y,
                                 const float *restrict gate, int n)
{
    for (int d = 0; d < n; d++) x[d] += gate[d] * y[d];
}

static void gated_add_rows(void *ctx, size_t begin, size_t end)
{
    const BlockJob *j = ctx;
    for (size_t r = begin; r < end; r++) gated_row(j->y + r * j->N, j->x + r * j->N, j->a, j->N);
}

void ops_gated_add(float *x, const float *y, const float *gate, int M, int N)
{
    BlockJob job = {.y = x, .x = y, .a = gate, .N = N};
    block_par((size_t)M, (size_t)M * N, gated_add_rows, &job);
}

BLOCK_SIMD static void add_chunk(void *ctx, size_t begin, size_t end)
{
    const BlockJob *j = ctx;
    float *restrict x = j->y;
    const float *restrict y = j->x;
    for (size_t i = begin; i < end; i++) x[i] += y[i];
}

void ops_add(float *x, const float *y, size_t n)
{
    BlockJob job = {.y = x, .x = y};
    block_par(n, n, add_chunk, &job);
}

/* One head's pairs: (re, im) → (re·cos − im·sin, im·cos + re·sin), cos/sin repeat-interleaved.
 * The subtraction is written as the addition of −im·sin (the same bits): GCC 12 at -O3 turned
 * the sub/add pair into vfmaddsub231ps despite -ffp-contract=off, one rounding fewer than the
 * naive twin. */
BLOCK_SIMD static void rope_head(float *restrict p, const float *restrict cr,
                                 const float *restrict sr, int HD)
{
    for (int i = 0; i + 1 < HD; i += 2) {
        float re = p[i], im = p[i + 1];
        p[i] = re * cr[i] + -im * sr[i];
        p[i + 1] = im * cr[i + 1] + re * sr[i + 1];
    }
}

static void rope_rows(void *ctx, size_t begin, size_t end)
{
    const BlockJob *j = ctx;
    for (size_t t = begin; t < end; t++)
        for (int h = 0; h < j->NH; h++)
            rope_head(j->y + t * j->ld + (size_t)h * j->HD, j->a + t * j->HD, j->b + t * j->HD,
                      j->HD);
}

void ops_rope(float *x, int ld, const float *cos_t, const float *sin_t, int T, int NH, int HD)
{
    BlockJob job = {.y = x, .a = cos_t, .b = sin_t, .ld = ld, .NH = NH, .HD = HD};
    block_par((size_t)T, (size_t)T * NH * HD, rope_rows, &job);
}

static void copy_rows(void *ctx, size_t begin, size_t end)
{
    const BlockJob *j = ctx;
    for (size_t r = begin; r < end; r++)
        memcpy(j->y + r * j->ld, j->x + r * j->lds, sizeof(float) * (size_t)j->N);
}

void ops_copy_columns(float *dst, int ldd, const float *src, int lds, int w, int n)
{
    BlockJob job = {.y = dst, .x = src, .N = w, .ld = ldd, .lds = lds};
    block_par((size_t)n, (size_t)n * w, copy_rows, &job);
}
