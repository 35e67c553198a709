/* backend_cuda.c — the cuda backend table (FLUX_HAVE_CUDA, meson -Dcuda): one-line forwarders
 * to the kernels of cuda/flux_cuda.h, their recorded failures turned into GErrors, weights
 * uploaded once. Without CUDA only the "not built" answers remain.
 *
 * Dimension letters: M rows, K inputs, N features, T tokens, NH heads, HD head dim.
 */
#include "backend_common.h"
#include "convert.h"
#include "flux.h"

#include <string.h>

/* ------------------------------------------------------------------------------------- */
/* cuda                                                                                  */

#ifdef FLUX_HAVE_CUDA

static FluxError error_code(FcuErrKind kind)
{
    return kind == FCU_ERR_MEMORY        ? FLUX_ERROR_NO_MEMORY
           : kind == FCU_ERR_UNSUPPORTED ? FLUX_ERROR_UNSUPPORTED
                                         : FLUX_ERROR_IO; /* the device failed */
}

/* Moves the kernels' recorded failure into `error`; always FALSE. */
static gboolean take_error(FluxBackendCtx *c, GError **error)
{
    const char *msg = fcu_error(c->gpu);
    g_set_error(error, FLUX_ERROR, error_code(fcu_error_kind(c->gpu)), "backend cuda: %s",
                msg ? msg : "unknown failure");
    fcu_clear_error(c->gpu);
    return FALSE;
}

static FcuDtype fcu_dtype(StDtype dt)
{
    return dt == ST_F32 ? FCU_F32 : dt == ST_F16 ? FCU_F16 : FCU_BF16;
}

static FluxBackendCtx *cuda_ctx_new(size_t arena_bytes, GError **error);

static void cuda_ctx_free(FluxBackendCtx *c)
{
    if (!c) return;
    fcu_ctx_free(c->gpu);
    g_free(c);
}

static gboolean cuda_sync(FluxBackendCtx *c, GError **error)
{
    return fcu_sync(c->gpu) == 0 ? TRUE : take_error(c, error);
}

static gboolean cuda_mem_info(guint64 *free_bytes, guint64 *total_bytes)
{
    size_t f = 0, t = 0;
    if (fcu_mem_info(&f, &t) != 0) {
        *free_bytes = *total_bytes = 0;
        return FALSE;
    }
    *free_bytes = f;
    *total_bytes = t;
    return TRUE;
}

static float *cuda_alloc(FluxBackendCtx *c, size_t n, GError **error)
{
    if (fcu_error(c->gpu)) { /* an earlier failure is reported first */
        take_error(c, error);
        return NULL;
    }
    float *p = n <= SIZE_MAX / sizeof(float) ? fcu_arena_alloc(c->gpu, n * sizeof(float)) : NULL;
    if (!p) take_error(c, error);
    return p;
}

static size_t cuda_mark(const FluxBackendCtx *c)
{
    return fcu_arena_mark(c->gpu);
}

static void cuda_release(FluxBackendCtx *c, size_t mark)
{
    g_assert(mark <= fcu_arena_mark(c->gpu));
    fcu_arena_release(c->gpu, mark);
}

static void cuda_upload(FluxBackendCtx *c, float *dst, const float *host, size_t n)
{
    if (n) fcu_upload(c->gpu, dst, host, n * sizeof(float));
}

static gboolean cuda_download(FluxBackendCtx *c, float *host, const float *src, size_t n,
                              GError **error)
{
    if (fcu_download(c->gpu, host, src, n * sizeof(float)) != 0) return take_error(c, error);
    return TRUE;
}

/* Device copy of t [N, K] as dt: the bytes as they are when the dtypes agree, else row
 * chunks converted to float32 on the host (st_to_f32 reads every float and block type) and
 * rounded to dt on the device. */
static gboolean upload_weight(FluxBackendCtx *c, void *dst, const StTensor *t, StDtype dt)
{
    const size_t K = (size_t)t->shape[1], N = (size_t)t->shape[0], es = st_dtype_size(dt);
    if (t->dtype == dt && t->scale == 0.0f)
        return fcu_upload(c->gpu, dst, t->data, N * K * es) == 0;
    const size_t rows = MAX((size_t)1, ((size_t)1 << 22) / K); /* ~16 MiB of float32 */
    float *host = g_new(float, rows *K);
    float *stage = fcu_malloc(c->gpu, rows * K * sizeof(float));
    for (size_t r0 = 0; stage && r0 < N; r0 += rows) {
        size_t nr = MIN(rows, N - r0);
        st_to_f32(host, t, (int64_t)(r0 * K), (int64_t)(nr * K));
        fcu_upload(c->gpu, stage, host, nr * K * sizeof(float));
        fcu_convert(c->gpu, (char *)dst + r0 * K * es, fcu_dtype(dt), stage, FCU_F32, nr * K);
    }
    gboolean ok = stage && fcu_sync(c->gpu) == 0;
    fcu_free(c->gpu, stage);
    g_free(host);
    return ok;
}

static FluxBackendWeight *cuda_weight_new(FluxBackendCtx *c, const StTensor *t, StDtype dt,
                                          GError **error)
{
    if (!backend_check_weight(t, dt, error)) return NULL;
    if (fcu_error(c->gpu)) {
        take_error(c, error);
        return NULL;
    }
    FluxBackendWeight *w = g_new0(FluxBackendWeight, 1);
    w->t = t;
    w->fw.dtype = fcu_dtype(dt);
    w->fw.N = (int)t->shape[0];
    w->fw.K = (int)t->shape[1];
    w->fw.data = fcu_malloc(c->gpu, (size_t)t->numel * st_dtype_size(dt));
    if (!w->fw.data || !upload_weight(c, w->fw.data, t, dt)) {
        take_error(c, error);
        g_prefix_error(error, "weight '%s': ", t->name);
        fcu_free(c->gpu, w->fw.data);
        g_free(w);
        return NULL;
    }
    return w;
}

static void cuda_weight_free(FluxBackendCtx *c, FluxBackendWeight *w)
{
    if (!w) return;
    fcu_free(c->gpu, w->fw.data);
    g_free(w);
}

static void cuda_linear(FluxBackendCtx *c, float *y, const float *x, const FluxBackendWeight *w,
                        const float *b, int M)
{
    fcu_linear(c->gpu, y, x, &w->fw, b, M);
}

static void cuda_layernorm(FluxBackendCtx *c, float *y, const float *x, const float *g,
                           const float *b, int M, int N, float eps)
{
    fcu_layernorm(c->gpu, y, x, g, b, M, N, eps);
}

static void cuda_rmsnorm(FluxBackendCtx *c, float *y, const float *x, const float *g, int M, int N,
                         float eps)
{
    fcu_rmsnorm(c->gpu, y, x, g, M, N, eps);
}

static void cuda_modulate(FluxBackendCtx *c, float *y, const float *x, const float *shift,
                          const float *scale, int M, int N, float eps)
{
    fcu_modulate(c->gpu, y, x, shift, scale, M, N, eps);
}

static void cuda_gated_add(FluxBackendCtx *c, float *x, const float *y, const float *gate, int M,
                           int N)
{
    fcu_gated_add(c->gpu, x, y, gate, M, N);
}

static void cuda_add(FluxBackendCtx *c, float *x, const float *y, size_t n)
{
    fcu_add(c->gpu, x, y, n);
}

static void cuda_gelu_tanh(FluxBackendCtx *c, float *x, size_t n)
{
    fcu_gelu_tanh(c->gpu, x, n);
}

static void cuda_silu(FluxBackendCtx *c, float *x, size_t n)
{
    fcu_silu(c->gpu, x, n);
}

static void cuda_rope(FluxBackendCtx *c, float *x, int ld, const float *cos_t, const float *sin_t,
                      int T, int NH, int HD)
{
    fcu_rope(c->gpu, x, ld, cos_t, sin_t, T, NH, HD);
}

static void cuda_copy_columns(FluxBackendCtx *c, float *dst, int ldd, const float *src, int lds,
                              int w, int n)
{
    fcu_copy_columns(c->gpu, dst, ldd, src, lds, w, n);
}

static void cuda_attention(FluxBackendCtx *c, float *out, float *q, float *k, const float *v,
                           const OpsAttnShape *s, const float *cos_t, const float *sin_t,
                           StDtype dtype)
{
    if (s->rel_bias || s->causal) {
        /* recorded like a kernel failure: reported by the next sync */
        fcu_set_error(c->gpu, FCU_ERR_UNSUPPORTED,
                      "attention with a relative position bias or a causal mask is cpu-only");
        return;
    }
    FcuAttnShape fs = {.Tq = s->Tq,
                       .Tk = s->Tk,
                       .NH = s->NH,
                       .HD = s->HD,
                       .ldq = s->ldq,
                       .ldk = s->ldk,
                       .ldv = s->ldv,
                       .ldo = s->ldo,
                       .scale = s->scale};
    fcu_attention(c->gpu, out, q, k, v, &fs, cos_t, sin_t, fcu_dtype(dtype));
}

static const FluxBackend cuda_backend = {
    .name = "cuda",
    .ctx_new = cuda_ctx_new,
    .ctx_free = cuda_ctx_free,
    .describe = backend_ctx_describe,
    .sync = cuda_sync,
    .mem_info = cuda_mem_info,
    .alloc = cuda_alloc,
    .mark = cuda_mark,
    .release = cuda_release,
    .upload = cuda_upload,
    .download = cuda_download,
    .weight_new = cuda_weight_new,
    .weight_free = cuda_weight_free,
    .linear = cuda_linear,
    .layernorm = cuda_layernorm,
    .rmsnorm = cuda_rmsnorm,
    .modulate = cuda_modulate,
    .gated_add = cuda_gated_add,
    .add = cuda_add,
    .gelu_tanh = cuda_gelu_tanh,
    .silu = cuda_silu,
    .rope = cuda_rope,
    .copy_columns = cuda_copy_columns,
    .attention = cuda_attention,
};

static FluxBackendCtx *cuda_ctx_new(size_t arena_bytes, GError **error)
{
    char msg[512];
    FcuErrKind kind = FCU_ERR_DEVICE;
    struct FcuCtx *gpu = fcu_ctx_new(arena_bytes, &kind, msg, sizeof msg);
    if (!gpu) {
        g_set_error(error, FLUX_ERROR, error_code(kind), "backend cuda: %s", msg);
        return NULL;
    }
    FluxBackendCtx *c = g_new0(FluxBackendCtx, 1);
    c->be = &cuda_backend;
    c->gpu = gpu;
    g_snprintf(c->description, sizeof c->description, "cuda: %s", fcu_ctx_device(gpu));
    return c;
}

#endif /* FLUX_HAVE_CUDA */

gboolean flux_backend_cuda_built(void)
{
#ifdef FLUX_HAVE_CUDA
    return TRUE;
#else
    return FALSE;
#endif
}

int flux_backend_cuda_devices(void)
{
#ifdef FLUX_HAVE_CUDA
    return fcu_device_count();
#else
    return 0;
#endif
}

const FluxBackend *backend_cuda(void)
{
#ifdef FLUX_HAVE_CUDA
    return &cuda_backend;
#else
    return NULL;
#endif
}
