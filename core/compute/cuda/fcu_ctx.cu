/* fcu_ctx.cu — CUDA contexts: device discovery, the stream and cuBLAS handle, the sticky
 * error, the device memory arena and scratch, copies, dtype conversion and timing. */
#include "fcu_internal.cuh"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FCU_ALIGN 256

/* ------------------------------------------------------------------------------------- */
/* Errors                                                                                */

void fcu_fail(FcuCtx *c, FcuErrKind kind, const char *fmt, ...)
{
    if (fcu_failed(c)) return;
    c->error_kind = kind;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->error, sizeof c->error, fmt, ap);
    va_end(ap);
    if (!c->error[0]) snprintf(c->error, sizeof c->error, "CUDA: unknown error");
}

int fcu_check(FcuCtx *c, cudaError_t err, const char *what)
{
    if (err == cudaSuccess) return 0;
    fcu_fail(c, err == cudaErrorMemoryAllocation ? FCU_ERR_MEMORY : FCU_ERR_DEVICE,
             "CUDA: %s failed: %s (%s)", what, cudaGetErrorString(err), cudaGetErrorName(err));
    return -1;
}

int fcu_check_launch(FcuCtx *c, const char *kernel)
{
    return fcu_check(c, cudaGetLastError(), kernel);
}

const char *fcu_error(const FcuCtx *c)
{
    return c->error[0] ? c->error : NULL;
}

FcuErrKind fcu_error_kind(const FcuCtx *c)
{
    return c->error_kind;
}

void fcu_set_error(FcuCtx *c, FcuErrKind kind, const char *msg)
{
    fcu_fail(c, kind, "%s", msg);
}

void fcu_clear_error(FcuCtx *c)
{
    c->error[0] = 0;
}

size_t fcu_dtype_size(FcuDtype dt)
{
    return dt == FCU_F32 ? 4 : 2;
}

/* ------------------------------------------------------------------------------------- */
/* Devices and contexts                                                                  */

int fcu_device_count(void)
{
    int n = 0;
    /* no driver (cudaErrorInsufficientDriver) or no device (cudaErrorNoDevice): 0 GPUs */
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
        cudaGetLastError(); /* clear the runtime's last error for later checks */
        return 0;
    }
    return n;
}

static void describe_device(FcuCtx *c)
{
    cudaDeviceProp p;
    if (cudaGetDeviceProperties(&p, 0) != cudaSuccess) {
        snprintf(c->device, sizeof c->device, "CUDA device 0");
        return;
    }
    c->cc_major = p.major;
    snprintf(c->device, sizeof c->device, "%.100s (sm_%d%d, %.0f GiB)", p.name, p.major, p.minor,
             (double)p.totalGlobalMem / (1024.0 * 1024.0 * 1024.0));
}

FcuCtx *fcu_ctx_new(size_t arena_bytes, FcuErrKind *kind, char *msg, size_t msg_len)
{
    FcuCtx *c = (FcuCtx *)calloc(1, sizeof *c);
    if (!c) {
        *kind = FCU_ERR_MEMORY;
        snprintf(msg, msg_len, "CUDA: out of host memory");
        return NULL;
    }
    int ok = fcu_device_count() > 0;
    if (!ok)
        fcu_fail(c, FCU_ERR_UNSUPPORTED, "CUDA: no usable GPU (cudaGetDeviceCount found none)");
    ok = ok && fcu_check(c, cudaSetDevice(0), "cudaSetDevice(0)") == 0;
    ok = ok && fcu_check(c, cudaStreamCreateWithFlags(&c->stream, cudaStreamNonBlocking),
                         "cudaStreamCreate") == 0;
    if (ok) {
        cublasStatus_t st = cublasCreate(&c->blas);
        if (st == CUBLAS_STATUS_SUCCESS) st = cublasSetStream(c->blas, c->stream);
        if (st != CUBLAS_STATUS_SUCCESS) {
            fcu_fail(c, FCU_ERR_DEVICE, "cuBLAS: cublasCreate failed: %s",
                     cublasGetStatusString(st));
            ok = 0;
        }
    }
    ok = ok && fcu_check(c, cudaEventCreate(&c->t0), "cudaEventCreate") == 0;
    ok = ok && fcu_check(c, cudaEventCreate(&c->t1), "cudaEventCreate") == 0;
    if (ok && arena_bytes) {
        cudaError_t e = cudaMalloc((void **)&c->arena, arena_bytes);
        if (e != cudaSuccess) {
            size_t free_b = 0, total_b = 0;
            cudaMemGetInfo(&free_b, &total_b);
            fcu_fail(c, FCU_ERR_MEMORY,
                     "CUDA: cannot allocate the %.1f MiB arena (%.1f MiB free of %.1f MiB): %s",
                     arena_bytes / 1048576.0, free_b / 1048576.0, total_b / 1048576.0,
                     cudaGetErrorString(e));
            ok = 0;
        }
        c->arena_size = ok ? arena_bytes : 0;
    }
    if (!ok) {
        *kind = c->error_kind;
        snprintf(msg, msg_len, "%s", c->error);
        fcu_ctx_free(c);
        return NULL;
    }
    describe_device(c);
    return c;
}

void fcu_ctx_free(FcuCtx *c)
{
    if (!c) return;
    if (c->stream) cudaStreamSynchronize(c->stream);
    cudaFree(c->arena);
    cudaFree(c->scratch);
    if (c->t0) cudaEventDestroy(c->t0);
    if (c->t1) cudaEventDestroy(c->t1);
    if (c->blas) cublasDestroy(c->blas);
    if (c->stream) cudaStreamDestroy(c->stream);
    free(c);
}

const char *fcu_ctx_device(const FcuCtx *c)
{
    return c->device;
}

int fcu_sync(FcuCtx *c)
{
    if (!fcu_failed(c)) fcu_check(c, cudaStreamSynchronize(c->stream), "kernel execution");
    return fcu_failed(c) ? -1 : 0;
}

/* ------------------------------------------------------------------------------------- */
/* Memory                                                                                */

void *fcu_arena_alloc(FcuCtx *c, size_t bytes)
{
    size_t start = (c->arena_used + FCU_ALIGN - 1) / FCU_ALIGN * FCU_ALIGN;
    if (bytes > c->arena_size || start > c->arena_size - bytes) {
        fcu_fail(c, FCU_ERR_MEMORY, "CUDA: arena exhausted: %zu bytes requested, %zu of %zu used",
                 bytes, c->arena_used, c->arena_size);
        return NULL;
    }
    c->arena_used = start + bytes;
    return c->arena + start;
}

size_t fcu_arena_mark(const FcuCtx *c)
{
    return c->arena_used;
}

void fcu_arena_release(FcuCtx *c, size_t mark)
{
    if (mark <= c->arena_used) c->arena_used = mark;
}

size_t fcu_arena_size(const FcuCtx *c)
{
    return c->arena_size;
}

int fcu_mem_info(size_t *free_bytes, size_t *total_bytes)
{
    *free_bytes = *total_bytes = 0;
    if (fcu_device_count() == 0) return -1;
    if (cudaMemGetInfo(free_bytes, total_bytes) != cudaSuccess) {
        cudaGetLastError(); /* not sticky: leave no error for later checks */
        return -1;
    }
    return 0;
}

void *fcu_malloc(FcuCtx *c, size_t bytes)
{
    void *p = NULL;
    cudaError_t e = cudaMalloc(&p, bytes ? bytes : 1);
    if (e != cudaSuccess) {
        fcu_fail(c, FCU_ERR_MEMORY, "CUDA: cudaMalloc of %.1f MiB failed: %s", bytes / 1048576.0,
                 cudaGetErrorString(e));
        return NULL;
    }
    return p;
}

void fcu_free(FcuCtx *c, void *p)
{
    (void)c;
    cudaFree(p);
}

void *fcu_scratch(FcuCtx *c, size_t bytes)
{
    if (bytes <= c->scratch_size) return c->scratch;
    if (fcu_check(c, cudaStreamSynchronize(c->stream), "scratch resize") != 0) return NULL;
    cudaFree(c->scratch);
    c->scratch = NULL;
    c->scratch_size = 0;
    size_t size = (bytes + FCU_ALIGN - 1) / FCU_ALIGN * FCU_ALIGN;
    c->scratch = fcu_malloc(c, size);
    if (c->scratch) c->scratch_size = size;
    return c->scratch;
}

int fcu_upload(FcuCtx *c, void *dst, const void *host, size_t bytes)
{
    if (fcu_failed(c)) return -1;
    return fcu_check(c, cudaMemcpyAsync(dst, host, bytes, cudaMemcpyHostToDevice, c->stream),
                     "upload");
}

int fcu_download(FcuCtx *c, void *host, const void *src, size_t bytes)
{
    if (fcu_failed(c)) return -1;
    if (fcu_check(c, cudaMemcpyAsync(host, src, bytes, cudaMemcpyDeviceToHost, c->stream),
                  "download") != 0)
        return -1;
    return fcu_sync(c);
}

void fcu_copy_columns(FcuCtx *c, float *dst, int ldd, const float *src, int lds, int w, int n)
{
    if (fcu_failed(c) || n <= 0 || w <= 0) return;
    fcu_check(c,
              cudaMemcpy2DAsync(dst, sizeof(float) * (size_t)ldd, src, sizeof(float) * (size_t)lds,
                                sizeof(float) * (size_t)w, (size_t)n, cudaMemcpyDeviceToDevice,
                                c->stream),
              "copy_columns");
}

/* ------------------------------------------------------------------------------------- */
/* Conversion                                                                            */

template <typename D, typename S>
__global__ void convert_kernel(D *__restrict__ dst, const S *__restrict__ src, size_t n)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        dst[i] = fcu_from_f32<D>(fcu_to_f32<S>(src[i]));
}

template <typename D, typename S>
static void launch_convert(FcuCtx *c, void *dst, const void *src, size_t n)
{
    convert_kernel<D, S><<<fcu_blocks(n, 256), 256, 0, c->stream>>>((D *)dst, (const S *)src, n);
    fcu_check_launch(c, "convert");
}

template <typename D>
static void convert_to(FcuCtx *c, void *dst, const void *src, FcuDtype st, size_t n)
{
    switch (st) {
    case FCU_F32:
        launch_convert<D, float>(c, dst, src, n);
        break;
    case FCU_F16:
        launch_convert<D, __half>(c, dst, src, n);
        break;
    case FCU_BF16:
        launch_convert<D, __nv_bfloat16>(c, dst, src, n);
        break;
    }
}

void fcu_convert(FcuCtx *c, void *dst, FcuDtype dst_t, const void *src, FcuDtype src_t, size_t n)
{
    if (fcu_failed(c) || n == 0) return;
    switch (dst_t) {
    case FCU_F32:
        convert_to<float>(c, dst, src, src_t, n);
        break;
    case FCU_F16:
        convert_to<__half>(c, dst, src, src_t, n);
        break;
    case FCU_BF16:
        convert_to<__nv_bfloat16>(c, dst, src, src_t, n);
        break;
    }
}

/* ------------------------------------------------------------------------------------- */
/* Timing                                                                                */

void fcu_timer_start(FcuCtx *c)
{
    if (!fcu_failed(c)) fcu_check(c, cudaEventRecord(c->t0, c->stream), "cudaEventRecord");
}

double fcu_timer_stop(FcuCtx *c)
{
    float ms = -1.0f;
    if (fcu_failed(c)) return -1.0;
    if (fcu_check(c, cudaEventRecord(c->t1, c->stream), "cudaEventRecord") != 0 ||
        fcu_check(c, cudaEventSynchronize(c->t1), "cudaEventSynchronize") != 0 ||
        fcu_check(c, cudaEventElapsedTime(&ms, c->t0, c->t1), "cudaEventElapsedTime") != 0)
        return -1.0;
    return ms;
}
