/* rng.h — torch-compatible CPU normal draws: `torch.randn(shape, generator=g)` after
 * `g = torch.Generator("cpu").manual_seed(seed)`, bit for bit.
 *
 * Follows PyTorch's CPUGeneratorImpl (std::mt19937 engine, cached second Box–Muller normal)
 * and aten/src/ATen/native/cpu/DistributionTemplates.h `normal_kernel` (scalar path below 16
 * elements, blocks of 16 otherwise). Two float kernels exist in torch and differ in the last
 * bit of some values: the AVX2 one (Cephes log/sincos with fused multiply-adds; what
 * FluxPipeline used on x86-64 and what produced the reference noise) and the generic one
 * (libm logf/cosf/sinf). The draw is always computed in scalar C, so it is the same on
 * every host.
 *
 * Usage (pipeline noise [1, 16, h, w], PyTorch order):
 *   FluxRng r;
 *   rng_seed(&r, seed);
 *   rng_randn(&r, noise, 16 * h * w);
 *
 * A FluxRng is plain data: copy it to fork a generator; no allocation, nothing to free.
 */
#pragma once

#include <glib.h>
#include <stddef.h>
#include <stdint.h>

#define RNG_MT_N 624

typedef struct {
    uint32_t mt[RNG_MT_N]; /* Mersenne Twister state */
    int idx;               /* next word of mt to temper; RNG_MT_N = regenerate first */
    int has_normal;        /* a cached second Box–Muller value is pending (scalar path) */
    double next_normal;    /* that value */
} FluxRng;

/* torch.Generator("cpu").manual_seed(seed): the engine uses seed & 0xffffffff; clears the
 * cached normal. */
void rng_seed(FluxRng *r, guint64 seed);

/* Next raw 32-bit engine output (std::mt19937::operator()). */
uint32_t rng_next_u32(FluxRng *r);

/* torch.randn(n) (contiguous float32) with torch's AVX2 kernel for n >= 16. */
void rng_randn(FluxRng *r, float *out, size_t n);
/* The same draw with torch's generic (non-vectorised) kernel for n >= 16. For n < 16 both
 * functions are identical (the scalar double path). */
void rng_randn_generic(FluxRng *r, float *out, size_t n);
