/* backend.h — compute backends: one table of function pointers per backend (ggml's
 * ggml_backend_i), chosen once when a context is created. Model code calls through the table
 * and never tests which backend it has; `#ifdef FLUX_HAVE_CUDA` appears in backend.c only.
 *
 *   GError *err = NULL;
 *   const FluxBackend *be = flux_backend_get("auto", &err);  // CUDA if a GPU is usable, else CPU
 *   FluxBackendCtx *bc = be->ctx_new(arena_bytes, &err);     // caller owns: be->ctx_free
 *   float *x = be->alloc(bc, (size_t)T * D, &err);           // activations live in the backend
 *   FluxBackendWeight *w = be->weight_new(bc, tensor, ST_BF16, &err);
 *   be->upload(bc, x, host_x, (size_t)T * D);
 *   be->linear(bc, y, x, w, bias, T);                        // queued; no error return
 *   if (!be->download(bc, host_y, y, (size_t)T * N, &err))   // waits; reports the first failure
 *
 * Backends:
 *   cpu   core/compute/ops.h on host memory (OpenBLAS); weights are the mapped StTensors
 * themselves. cuda  core/compute/cuda/ kernels and cuBLAS on device memory; weights are uploaded
 * once in the requested dtype (BF16 for the transformer), activations stay float32 on the device.
 *
 * Memory: every pointer an op takes comes from be->alloc (the context's arena: host memory
 * for cpu, device memory for cuda), except the host side of upload/download. Sizes are in
 * floats. Ops are queued (cuda) or run at once (cpu); a failing op (launch error, shape the
 * kernels do not handle) is recorded, later ops are skipped, and the next sync or download
 * returns it as a GError. Shapes follow ops.h: activations row-major float32, PyTorch order.
 *
 * Dimension letters: M rows, K inputs, N features (outputs), T tokens, NH heads, HD head dim.
 */
#pragma once

#include "ops.h"
#include "dtype.h"

#include <glib.h>

G_BEGIN_DECLS

/* A backend's per-context state (stream, cuBLAS handle, arena). Opaque. */
typedef struct FluxBackendCtx FluxBackendCtx;
/* A weight matrix [N, K] in the backend's memory. Opaque. */
typedef struct FluxBackendWeight FluxBackendWeight;

typedef struct FluxBackend {
    const char *name; /* "cpu", "cuda" */

    /* ---- contexts ---- */
    /* A context with an arena of `arena_bytes` (0: none). Caller owns (ctx_free, NULL-safe,
     * which waits for queued work and frees the arena; weights must be freed before). */
    FluxBackendCtx *(*ctx_new)(size_t arena_bytes, GError **error);
    void (*ctx_free)(FluxBackendCtx *c);
    /* "cpu (16 threads)", "cuda: NVIDIA H100 80GB HBM3 (sm_90, 79 GiB)"; owned by c. */
    const char *(*describe)(const FluxBackendCtx *c);
    /* Waits for the queued work; FALSE with the first recorded failure (then cleared). */
    gboolean (*sync)(FluxBackendCtx *c, GError **error);
    /* Free and total bytes of the backend's memory now: FALSE when the backend has no memory
     * of its own (cpu: host memory, which the pipeline checks). */
    gboolean (*mem_info)(guint64 *free_bytes, guint64 *total_bytes);

    /* ---- memory ---- */
    /* n floats from the arena (aligned to 64 bytes or more); NULL with FLUX_ERROR_NO_MEMORY. */
    float *(*alloc)(FluxBackendCtx *c, size_t n, GError **error);
    /* Arena position: scratch allocated after a mark is given back by release(mark). */
    size_t (*mark)(const FluxBackendCtx *c);
    void (*release)(FluxBackendCtx *c, size_t mark);
    /* dst[n] (backend) = host[n]; host may be reused when it returns. */
    void (*upload)(FluxBackendCtx *c, float *dst, const float *host, size_t n);
    /* host[n] = src[n] (backend), after all queued work; FALSE on an earlier failure. */
    gboolean (*download)(FluxBackendCtx *c, float *host, const float *src, size_t n,
                         GError **error);

    /* ---- weights ---- */
    /* w [N, K] (any float dtype st_to_f32 reads) for `linear`, stored as `dtype` (F32, F16 or
     * BF16; the cpu backend keeps the mapped tensor, which must outlive the handle). Caller
     * owns: weight_free(c, w), NULL-safe. */
    FluxBackendWeight *(*weight_new)(FluxBackendCtx *c, const StTensor *w, StDtype dtype,
                                     GError **error);
    void (*weight_free)(FluxBackendCtx *c, FluxBackendWeight *w);

    /* ---- ops (operands from alloc) ---- */
    /* y [M, N] = x [M, K] · Wᵀ + b[N] (torch.nn.Linear; K, N from the weight); b may be NULL. */
    void (*linear)(FluxBackendCtx *c, float *y, const float *x, const FluxBackendWeight *w,
                   const float *b, int M);
    /* y [M, N] = LayerNorm(x [M, N]) · g + b; g, b may be NULL. y may equal x. */
    void (*layernorm)(FluxBackendCtx *c, float *y, const float *x, const float *g, const float *b,
                      int M, int N, float eps);
    /* y [M, N] = x / sqrt(mean(x²) + eps) · g; g may be NULL. y may equal x. */
    void (*rmsnorm)(FluxBackendCtx *c, float *y, const float *x, const float *g, int M, int N,
                    float eps);
    /* y [M, N] = LayerNorm(x) (no affine) · (1 + scale[N]) + shift[N] (AdaLN). y may equal x. */
    void (*modulate)(FluxBackendCtx *c, float *y, const float *x, const float *shift,
                     const float *scale, int M, int N, float eps);
    /* x [M, N] += gate[N] · y [M, N] (the gated residual). */
    void (*gated_add)(FluxBackendCtx *c, float *x, const float *y, const float *gate, int M, int N);
    void (*add)(FluxBackendCtx *c, float *x, const float *y, size_t n); /* x += y */
    void (*gelu_tanh)(FluxBackendCtx *c, float *x, size_t n);           /* in place */
    void (*silu)(FluxBackendCtx *c, float *x, size_t n);                /* in place */
    /* RoPE in place on x [T, ld] (head h at columns h·HD): pair (2i, 2i+1) of each head →
     * (re·cos − im·sin, im·cos + re·sin) with cos/sin [T, HD] (FluxPosEmbed's layout). */
    void (*rope)(FluxBackendCtx *c, float *x, int ld, const float *cos_t, const float *sin_t, int T,
                 int NH, int HD);
    /* dst [n, ldd] columns 0..w-1 = src [n, lds] columns 0..w-1 (the single block's concat). */
    void (*copy_columns)(FluxBackendCtx *c, float *dst, int ldd, const float *src, int lds, int w,
                         int n);
    /* ops_attention (OpsAttnShape, heads interleaved in the feature dim), with RoPE applied to
     * q and k first when cos_t/sin_t [T, HD] are given (then Tq == Tk, and q and k may be
     * overwritten). `dtype` (F16, BF16; F32 means BF16) is what cuda packs Q, K, V to for
     * its tensor-core kernel (float32 accumulation); cpu computes in float32. rel_bias and
     * causal are cpu-only (cuda records FLUX_ERROR_UNSUPPORTED). */
    void (*attention)(FluxBackendCtx *c, float *out, float *q, float *k, const float *v,
                      const OpsAttnShape *s, const float *cos_t, const float *sin_t, StDtype dtype);
    /* Optional (NULL: callers take two linears and an add): a LoRA's products accumulated in
     * place, y [M, N] += (x [M, K] · Aᵀ) · Bᵀ with a [R, K] and b [N, R] made from F32 tensors
     * and tmp [M, R] from alloc: no [M, N] temporary and no second pass over y. */
    void (*linear_lora)(FluxBackendCtx *c, float *y, const float *x, const FluxBackendWeight *a,
                        const FluxBackendWeight *b, float *tmp, int M);
} FluxBackend;

/* The backend called `name`: "cpu", "cuda", or "auto" (NULL too): the FLUX_DEVICE environment
 * variable's backend when it is set (to "cpu" or "cuda"), else cuda when this build has it and
 * a GPU is usable (cudaGetDeviceCount > 0 at run time), else cpu. "cuda" without CUDA support
 * or without a GPU fails with FLUX_ERROR_UNSUPPORTED saying which; an unknown name with
 * FLUX_ERROR_ARGUMENT. The table is static: never freed. */
const FluxBackend *flux_backend_get(const char *name, GError **error);
/* flux_backend_get, the FLUX_DEVICE variable read once, and `automatic` (nullable) set to
 * whether the choice was the library's own (as flux_backend_is_auto says). */
const FluxBackend *flux_backend_resolve(const char *name, gboolean *automatic, GError **error);
/* Whether flux_backend_get(name) chooses by itself ("auto" or NULL with FLUX_DEVICE unset or
 * "auto"), so that a caller may fall back to the cpu when the chosen GPU is too small. */
gboolean flux_backend_is_auto(const char *name);

/* The tables (static, never freed): backend_cpu.c's, and backend_cuda.c's or NULL when this
 * build has no CUDA. The registry (flux_backend_get) is the way to choose one. */
extern const FluxBackend backend_cpu;
const FluxBackend *backend_cuda(void);

/* Whether this build includes the CUDA backend (meson -Dcuda). */
gboolean flux_backend_cuda_built(void);
/* Usable CUDA devices now: 0 without CUDA support, driver or GPU. */
int flux_backend_cuda_devices(void);

G_END_DECLS
