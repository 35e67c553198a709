/* backend_cpu.c — the cpu backend table: host memory (one aligned arena per context), weights
 * read from the mapped tensors, and the ops of ops.h / ops_block.c behind each entry.
 *
 * Dimension letters: M rows, K inputs, N features, T tokens, NH heads, HD head dim.
 */
#include "backend_common.h"
#include "convert.h"
#include "flux.h"
#include "ops.h"
#include "pool.h"

#include <cblas.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------------------- */
/* cpu: contexts and memory                                                              */

static FluxBackendCtx *cpu_ctx_new(size_t arena_bytes, GError **error);

static void cpu_ctx_free(FluxBackendCtx *c)
{
    if (!c) return;
    free(c->arena);
    g_free(c);
}

static gboolean cpu_sync(FluxBackendCtx *c, GError **error)
{
    (void)c, (void)error;
    return TRUE;
}

static gboolean cpu_mem_info(guint64 *free_bytes, guint64 *total_bytes)
{
    *free_bytes = *total_bytes = 0; /* host memory: the pipeline checks it */
    return FALSE;
}

static float *cpu_alloc(FluxBackendCtx *c, size_t n, GError **error)
{
    size_t start =
        (c->arena_used + BACKEND_ARENA_ALIGN - 1) / BACKEND_ARENA_ALIGN * BACKEND_ARENA_ALIGN;
    if (n > (c->arena_size - MIN(start, c->arena_size)) / sizeof(float)) {
        g_set_error(error, FLUX_ERROR, FLUX_ERROR_NO_MEMORY,
                    "backend cpu: arena exhausted: %zu bytes requested, %zu of %zu used",
                    n * sizeof(float), c->arena_used, c->arena_size);
        return NULL;
    }
    c->arena_used = start + n * sizeof(float);
    return (float *)(c->arena + start);
}

static size_t cpu_mark(const FluxBackendCtx *c)
{
    return c->arena_used;
}

static void cpu_release(FluxBackendCtx *c, size_t mark)
{
    g_assert(mark <= c->arena_used);
    c->arena_used = mark;
}

static void cpu_upload(FluxBackendCtx *c, float *dst, const float *host, size_t n)
{
    (void)c;
    if (n) memcpy(dst, host, n * sizeof(float));
}

static gboolean cpu_download(FluxBackendCtx *c, float *host, const float *src, size_t n,
                             GError **error)
{
    (void)c, (void)error;
    if (n) memcpy(host, src, n * sizeof(float));
    return TRUE;
}

static FluxBackendWeight *cpu_weight_new(FluxBackendCtx *c, const StTensor *t, StDtype dt,
                                         GError **error)
{
    (void)c;
    if (!backend_check_weight(t, dt, error)) return NULL;
    FluxBackendWeight *w = g_new0(FluxBackendWeight, 1);
    w->t = t;
    return w;
}

static void cpu_weight_free(FluxBackendCtx *c, FluxBackendWeight *w)
{
    (void)c;
    g_free(w);
}

/* ------------------------------------------------------------------------------------- */
/* cpu: ops                                                                              */

static void cpu_linear(FluxBackendCtx *c, float *y, const float *x, const FluxBackendWeight *w,
                       const float *b, int M)
{
    (void)c;
    ops_linear(y, x, w->t, b, M, (int)w->t->shape[1], (int)w->t->shape[0]);
}

/* tmp = x·Aᵀ (ops_linear), then y += tmp·Bᵀ as one sgemm with beta 1 (B is float32). */
static void cpu_linear_lora(FluxBackendCtx *c, float *y, const float *x, const FluxBackendWeight *a,
                            const FluxBackendWeight *b, float *tmp, int M)
{
    (void)c;
    const int R = (int)a->t->shape[0], K = (int)a->t->shape[1], N = (int)b->t->shape[0];
    g_assert(b->t->dtype == ST_F32 && b->t->shape[1] == R);
    ops_linear(tmp, x, a->t, NULL, M, K, R);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, R, 1.0f, tmp, R, b->t->data, R, 1.0f,
                y, N);
}

static void cpu_layernorm(FluxBackendCtx *c, float *y, const float *x, const float *g,
                          const float *b, int M, int N, float eps)
{
    (void)c;
    ops_layernorm(y, x, g, b, M, N, eps);
}

static void cpu_rmsnorm(FluxBackendCtx *c, float *y, const float *x, const float *g, int M, int N,
                        float eps)
{
    (void)c;
    ops_rmsnorm(y, x, g, M, N, eps);
}

/* ops_gelu_tanh and ops_silu split themselves over the threads above the same threshold. */
static void cpu_gelu_tanh(FluxBackendCtx *c, float *x, size_t n)
{
    (void)c;
    ops_gelu_tanh(x, n);
}

static void cpu_silu(FluxBackendCtx *c, float *x, size_t n)
{
    (void)c;
    ops_silu(x, n);
}

static void cpu_modulate(FluxBackendCtx *c, float *y, const float *x, const float *shift,
                         const float *scale, int M, int N, float eps)
{
    (void)c;
    ops_modulate(y, x, shift, scale, M, N, eps);
}

static void cpu_gated_add(FluxBackendCtx *c, float *x, const float *y, const float *gate, int M,
                          int N)
{
    (void)c;
    ops_gated_add(x, y, gate, M, N);
}

static void cpu_add(FluxBackendCtx *c, float *x, const float *y, size_t n)
{
    (void)c;
    ops_add(x, y, n);
}

static void cpu_rope(FluxBackendCtx *c, float *x, int ld, const float *cos_t, const float *sin_t,
                     int T, int NH, int HD)
{
    (void)c;
    ops_rope(x, ld, cos_t, sin_t, T, NH, HD);
}

static void cpu_copy_columns(FluxBackendCtx *c, float *dst, int ldd, const float *src, int lds,
                             int w, int n)
{
    (void)c;
    ops_copy_columns(dst, ldd, src, lds, w, n);
}

static void cpu_attention(FluxBackendCtx *c, float *out, float *q, float *k, const float *v,
                          const OpsAttnShape *s, const float *cos_t, const float *sin_t,
                          StDtype dtype)
{
    (void)dtype; /* float32 throughout */
    if (cos_t && sin_t) {
        g_assert(s->Tq == s->Tk);
        cpu_rope(c, q, s->ldq, cos_t, sin_t, s->Tq, s->NH, s->HD);
        cpu_rope(c, k, s->ldk, cos_t, sin_t, s->Tk, s->NH, s->HD);
    }
    ops_attention(out, q, k, v, s);
}

const FluxBackend backend_cpu = {
    .name = "cpu",
    .ctx_new = cpu_ctx_new,
    .ctx_free = cpu_ctx_free,
    .describe = backend_ctx_describe,
    .sync = cpu_sync,
    .mem_info = cpu_mem_info,
    .alloc = cpu_alloc,
    .mark = cpu_mark,
    .release = cpu_release,
    .upload = cpu_upload,
    .download = cpu_download,
    .weight_new = cpu_weight_new,
    .weight_free = cpu_weight_free,
    .linear = cpu_linear,
    .layernorm = cpu_layernorm,
    .rmsnorm = cpu_rmsnorm,
    .modulate = cpu_modulate,
    .gated_add = cpu_gated_add,
    .add = cpu_add,
    .gelu_tanh = cpu_gelu_tanh,
    .silu = cpu_silu,
    .rope = cpu_rope,
    .copy_columns = cpu_copy_columns,
    .attention = cpu_attention,
    .linear_lora = cpu_linear_lora,
};

static FluxBackendCtx *cpu_ctx_new(size_t arena_bytes, GError **error)
{
    FluxBackendCtx *c = g_new0(FluxBackendCtx, 1);
    c->be = &backend_cpu;
    g_snprintf(c->description, sizeof c->description, "cpu (%d threads)", pool_n_threads());
    if (arena_bytes) {
        void *p = NULL;
        int err = posix_memalign(&p, BACKEND_ARENA_ALIGN, arena_bytes);
        if (err) {
            g_set_error(error, FLUX_ERROR, FLUX_ERROR_NO_MEMORY,
                        "backend cpu: cannot allocate the %.1f MiB arena: %s",
                        arena_bytes / 1048576.0, g_strerror(err));
            g_free(c);
            return NULL;
        }
        c->arena = p;
        c->arena_size = arena_bytes;
    }
    return c;
}
