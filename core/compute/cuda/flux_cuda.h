/* flux_cuda.h — the CUDA kernels of the optional GPU backend, as a plain C API.
 *
 * Compiled by nvcc (core/compute/cuda/ *.cu), called from C: by core/compute/backend.c (the backend
 * table's CUDA entry, the one place that knows whether CUDA was built) and by bench/cuda_bench.c
 * (built only with CUDA). No GLib here: errors are messages kept in the context (the first
 * one wins, CUDA-style "sticky"), which backend.c turns into a GError.
 *
 * Execution model: every op is queued on the context's stream and returns at once; a launch
 * or cuBLAS failure is recorded and every later op is skipped until fcu_sync() reports it.
 * All tensor pointers are device memory (fcu_arena_alloc / fcu_malloc) unless named `host`.
 *
 * Activations are float32, contiguous, PyTorch order, as on the CPU (ops.h). Reduced precision
 * lives in two places only: weights (F32, F16 or BF16 on the device, FcuWeight) with the
 * activation rounded to the same type for the GEMM and float32 accumulation; and attention,
 * whose Q, K, V are packed to F16/BF16 [NH, T, HD] (RoPE applied on the way) for the
 * tensor-core flash kernel, again accumulating in float32.
 *
 * Dimension letters: M rows (tokens), K reduction, N output features, T tokens, NH heads,
 * HD head dim, D = NH·HD.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct FcuCtx FcuCtx;

/* Storage types of weights and packed attention operands. */
typedef enum { FCU_F32, FCU_F16, FCU_BF16 } FcuDtype;

/* What kind of failure an error message describes (backend.c maps it to a FluxError code). */
typedef enum {
    FCU_ERR_DEVICE,      /* the driver, a launch or a kernel failed */
    FCU_ERR_MEMORY,      /* a device allocation or the arena ran out */
    FCU_ERR_UNSUPPORTED, /* no GPU, or a shape the kernels do not handle */
} FcuErrKind;

/* ---- devices and contexts ---------------------------------------------------------- */

/* Number of usable CUDA devices: 0 when there is no driver, no device, or the runtime fails
 * (never an error: the caller falls back to the CPU). */
int fcu_device_count(void);

/* A context on device 0: a stream, a cuBLAS handle and an arena of `arena_bytes` device
 * bytes (0: no arena). NULL on failure with the reason in msg[msg_len] and *kind. Caller owns
 * (fcu_ctx_free, NULL-safe; waits for queued work first). */
FcuCtx *fcu_ctx_new(size_t arena_bytes, FcuErrKind *kind, char *msg, size_t msg_len);
void fcu_ctx_free(FcuCtx *c);
/* "NVIDIA H100 80GB HBM3 (sm_90, 79 GiB)" — owned by the context. */
const char *fcu_ctx_device(const FcuCtx *c);
/* Waits for the queued work. Returns 0, or -1 with fcu_error() set (the first failure since
 * the context was made or since fcu_clear_error). */
int fcu_sync(FcuCtx *c);
const char *fcu_error(const FcuCtx *c); /* NULL when none */
FcuErrKind fcu_error_kind(const FcuCtx *c);
/* Records a failure found by the caller (kept only if none is recorded yet). */
void fcu_set_error(FcuCtx *c, FcuErrKind kind, const char *msg);
void fcu_clear_error(FcuCtx *c);

/* ---- memory ------------------------------------------------------------------------- */

/* The arena: bump allocation from one block made at context creation, 256-byte aligned.
 * NULL (and the error set) when it is exhausted. A mark taken before a block's scratch and
 * released after it makes the scratch reusable (llm.c's one allocation per context). */
void *fcu_arena_alloc(FcuCtx *c, size_t bytes);
size_t fcu_arena_mark(const FcuCtx *c);
void fcu_arena_release(FcuCtx *c, size_t mark);
size_t fcu_arena_size(const FcuCtx *c);

/* Free and total bytes of device 0 now (cudaMemGetInfo): 0, or -1 when the runtime fails. */
int fcu_mem_info(size_t *free_bytes, size_t *total_bytes);

/* Plain device allocations (weights): NULL with the error set on failure. */
void *fcu_malloc(FcuCtx *c, size_t bytes);
void fcu_free(FcuCtx *c, void *p);

/* Copies; the download waits for the stream. Return 0 or -1 (error set). */
int fcu_upload(FcuCtx *c, void *dst, const void *host, size_t bytes);
int fcu_download(FcuCtx *c, void *host, const void *src, size_t bytes);
/* dst [n, ldd] columns 0..w-1 = src [n, lds] columns 0..w-1 (float32). */
void fcu_copy_columns(FcuCtx *c, float *dst, int ldd, const float *src, int lds, int w, int n);

/* dst[n] (dtype dst_t) = src[n] (dtype src_t), round to nearest even. */
void fcu_convert(FcuCtx *c, void *dst, FcuDtype dst_t, const void *src, FcuDtype src_t, size_t n);

/* ---- elementwise and normalisation (float32) ---------------------------------------- */

/* y [M, N] = LayerNorm(x) · g + b over N; g, b may be NULL. y may equal x. */
void fcu_layernorm(FcuCtx *c, float *y, const float *x, const float *g, const float *b, int M,
                   int N, float eps);
/* y [M, N] = x / sqrt(mean(x²) + eps) · g; g may be NULL. y may equal x. */
void fcu_rmsnorm(FcuCtx *c, float *y, const float *x, const float *g, int M, int N, float eps);
/* y [M, N] = LayerNorm(x) (no affine) · (1 + scale[N]) + shift[N] — AdaLN modulation. */
void fcu_modulate(FcuCtx *c, float *y, const float *x, const float *shift, const float *scale,
                  int M, int N, float eps);
/* x [M, N] += gate[N] · y [M, N] — the gated residual. */
void fcu_gated_add(FcuCtx *c, float *x, const float *y, const float *gate, int M, int N);
void fcu_add(FcuCtx *c, float *x, const float *y, size_t n); /* x += y */
void fcu_gelu_tanh(FcuCtx *c, float *x, size_t n);           /* in place */
void fcu_silu(FcuCtx *c, float *x, size_t n);                /* in place */
/* RoPE in place on x [T, ld], heads at columns h·HD: pairs (2i, 2i+1) of each head rotate by
 * cos/sin [T, HD] (repeat-interleaved, as FluxPosEmbed gives them). */
void fcu_rope(FcuCtx *c, float *x, int ld, const float *cos_t, const float *sin_t, int T, int NH,
              int HD);

/* ---- linear (cuBLAS) ---------------------------------------------------------------- */

typedef struct {
    void *data; /* [N, K] row-major, device */
    FcuDtype dtype;
    int N, K;
} FcuWeight;

/* y [M, N] = x [M, K] · Wᵀ + b[N] (b may be NULL). x is rounded to W's dtype (scratch from
 * the context), the GEMM accumulates in float32 (cublasGemmEx, CUBLAS_COMPUTE_32F: no TF32). */
void fcu_linear(FcuCtx *c, float *y, const float *x, const FcuWeight *w, const float *b, int M);

/* Raw GEMM for the benchmark: C [M, N] f32 = A [M, K] · B [N, K]ᵀ, A and B of `dt`. */
void fcu_gemm(FcuCtx *c, FcuDtype dt, float *C, const void *A, const void *B, int M, int N, int K);

/* ---- attention ---------------------------------------------------------------------- */

typedef struct {
    int Tq, Tk, NH, HD;
    int ldq, ldk, ldv, ldo; /* row strides (floats) of the float32 operands */
    float scale;
} FcuAttnShape;

/* out [Tq, ldo] (head h at columns h·HD) = softmax(scale · q_h k_hᵀ) v_h, from float32
 * q [Tq, ldq], k [Tk, ldk], v [Tk, ldv]. When cos_t/sin_t [T, HD] are given (Tq == Tk), RoPE
 * is applied to q and k while they are packed. `dt` (F16/BF16) is the packed type; F32
 * packs to BF16. HD: a multiple of 8 up to 128 (the tensor-core path: HD 128 on sm_80+). */
void fcu_attention(FcuCtx *c, float *out, const float *q, const float *k, const float *v,
                   const FcuAttnShape *s, const float *cos_t, const float *sin_t, FcuDtype dt);

/* The flash kernel alone on packed operands: q [NH, Tq, HD], k, v [NH, Tk, HD] of `dt`
 * (F16/BF16) → out [Tq, ldo] float32. `portable` forces the scalar kernel (tests). */
void fcu_flash_attention(FcuCtx *c, float *out, int ldo, const void *q, const void *k,
                         const void *v, int Tq, int Tk, int NH, int HD, float scale, FcuDtype dt,
                         int portable);
/* Packs x [T, ld] float32 (head h at columns h·HD) into dst [NH, T, HD] of `dt`, applying
 * RoPE when cos_t/sin_t are given. */
void fcu_pack_heads(FcuCtx *c, void *dst, FcuDtype dt, const float *x, int ld, int T, int NH,
                    int HD, const float *cos_t, const float *sin_t);

/* ---- timing (benchmarks) ------------------------------------------------------------ */

/* Milliseconds between two points of the stream: fcu_timer_start, then fcu_timer_stop
 * (which waits). Negative on error. */
void fcu_timer_start(FcuCtx *c);
double fcu_timer_stop(FcuCtx *c);

#ifdef __cplusplus
}
#endif
