/* fcu_internal.cuh — what the .cu files of the CUDA backend share: the context, the sticky
 * error and the launch check, and conversions between float and the 16-bit types. */
#pragma once

#include "flux_cuda.h"

#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

struct FcuCtx {
    cudaStream_t stream;
    cublasHandle_t blas;
    char device[160];
    int cc_major;    /* compute capability (8: Ampere, 9: Hopper); picks the attention kernel */
    char error[512]; /* first failure; "" when none */
    FcuErrKind error_kind;
    /* arena: [base, base + size), next free byte at `used` */
    char *arena;
    size_t arena_size, arena_used;
    /* scratch for conversions (GEMM inputs, packed Q/K/V): grows, never shrinks */
    void *scratch;
    size_t scratch_size;
    cudaEvent_t t0, t1;
};

/* Records `fmt` as the context's error unless one is already there. */
void fcu_fail(FcuCtx *c, FcuErrKind kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Records a CUDA runtime failure; returns 0 when err is cudaSuccess. */
int fcu_check(FcuCtx *c, cudaError_t err, const char *what);
/* After a kernel launch: records a launch failure (bad configuration, no kernel image for
 * this GPU). */
int fcu_check_launch(FcuCtx *c, const char *kernel);
/* True when an earlier op failed: later ops are skipped, so the first error is reported. */
static inline bool fcu_failed(const FcuCtx *c)
{
    return c->error[0] != 0;
}
/* Scratch of at least `bytes`, 256-byte aligned; NULL (error set) on failure. Growing waits
 * for the stream (the old buffer may be in use), which happens on the first step only. */
void *fcu_scratch(FcuCtx *c, size_t bytes);
size_t fcu_dtype_size(FcuDtype dt);

/* Grid of `n` threads in blocks of `block`, capped (grid-stride loops cover the rest). */
static inline unsigned fcu_blocks(size_t n, unsigned block)
{
    size_t b = (n + block - 1) / block;
    return (unsigned)(b < 65535u * 16u ? (b ? b : 1) : 65535u * 16u);
}

/* ---- element conversions (device) -------------------------------------------------- */

template <typename T> __device__ __forceinline__ float fcu_to_f32(T v);
template <> __device__ __forceinline__ float fcu_to_f32<float>(float v)
{
    return v;
}
template <> __device__ __forceinline__ float fcu_to_f32<__half>(__half v)
{
    return __half2float(v);
}
template <> __device__ __forceinline__ float fcu_to_f32<__nv_bfloat16>(__nv_bfloat16 v)
{
    return __bfloat162float(v);
}

template <typename T> __device__ __forceinline__ T fcu_from_f32(float v);
template <> __device__ __forceinline__ float fcu_from_f32<float>(float v)
{
    return v;
}
template <> __device__ __forceinline__ __half fcu_from_f32<__half>(float v)
{
    return __float2half_rn(v);
}
template <> __device__ __forceinline__ __nv_bfloat16 fcu_from_f32<__nv_bfloat16>(float v)
{
    return __float2bfloat16_rn(v);
}

/* Two floats as one 32-bit register of two 16-bit values, `lo` in the low half (the element
 * with the smaller index, as the mma fragments and little-endian memory order have it). */
template <typename T> __device__ __forceinline__ uint32_t fcu_pack2(float lo, float hi);
template <> __device__ __forceinline__ uint32_t fcu_pack2<__half>(float lo, float hi)
{
    __half2 h = __floats2half2_rn(lo, hi);
    return *reinterpret_cast<uint32_t *>(&h);
}
template <> __device__ __forceinline__ uint32_t fcu_pack2<__nv_bfloat16>(float lo, float hi)
{
    __nv_bfloat162 h = __floats2bfloat162_rn(lo, hi);
    return *reinterpret_cast<uint32_t *>(&h);
}
