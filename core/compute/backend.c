/* backend.c — the backend registry: the cpu table (core/compute/ops.h on host memory) and, when
 * built with CUDA (FLUX_HAVE_CUDA, meson -Dcuda), the cuda table (core/compute/cuda/flux_cuda.h).
 * This is the one file that knows whether CUDA exists; see backend.h for the contract of each
 * entry.
 *
 * Dimension letters: M rows, K inputs, N features, T tokens, NH heads, HD head dim.
 */
#include "convert.h"
#include "backend.h"
#include "pool.h"

#include "cuda/flux_cuda.h"
#include "flux.h"

#include <stdlib.h>
#include <string.h>

#define ARENA_ALIGN 64

struct FluxBackendCtx {
    const FluxBackend *be;
    char description[200];
    /* cpu: host arena [arena, arena + arena_size), next free byte at arena_used */
    char *arena;
    size_t arena_size, arena_used;
    /* cuda: the kernels' context (stream, cuBLAS, device arena) */
    struct FcuCtx *gpu;
};

struct FluxBackendWeight {
    const StTensor *t; /* cpu: the mapped tensor */
    FcuWeight fw;      /* cuda: the device copy */
};

/* ------------------------------------------------------------------------------------- */
/* Checks shared by the backends                                                         */

static gboolean check_weight(const StTensor *t, StDtype dt, GError **error)
{
    if (dt != ST_F32 && dt != ST_F16 && dt != ST_BF16) {
        g_set_error(error, FLUX_ERROR, FLUX_ERROR_ARGUMENT,
                    "backend: weight '%s' requested as %s, expected F32, F16 or BF16", t->name,
                    st_dtype_name(dt));
        return FALSE;
    }
    if (t->ndim != 2 || !st_dtype_is_float(t->dtype) || t->shape[0] <= 0 || t->shape[1] <= 0 ||
        t->shape[0] > G_MAXINT || t->shape[1] > G_MAXINT) {
        g_set_error(error, FLUX_ERROR, FLUX_ERROR_MODEL,
                    "backend: weight '%s' (%s, %d dims) is not a float matrix [N, K]", t->name,
                    st_dtype_name(t->dtype), t->ndim);
        return FALSE;
    }
    return TRUE;
}

/* ------------------------------------------------------------------------------------- */
/* cpu: contexts and memory                                                              */

static FluxBackendCtx *cpu_ctx_new(size_t arena_bytes, GError **error);

static void cpu_ctx_free(FluxBackendCtx *c)
{
    if (!c) return;
    free(c->arena);
    g_free(c);
}

static const char *ctx_describe(const FluxBackendCtx *c)
{
    return c->description;
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
    size_t start = (c->arena_used + ARENA_ALIGN - 1) / ARENA_ALIGN * ARENA_ALIGN;
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
    if (!check_weight(t, dt, error)) return NULL;
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

/* Elementwise work is split over the ops threads once it is big enough: waking the pool costs
 * ~10-20 µs, about what 64 K values of a cheap op take (ops.c uses the same threshold). At
 * FLUX.1 sizes a modulation touches 4608 × 3072 values, ~60 times per step. Every value is
 * computed by the same expression whatever the split, so results do not depend on it. */
#define CPU_PAR_MIN (1u << 16)

/* Hot loops in instruction-set variants picked by the loader (GCC ifunc), as in ops.c. With
 * -ffp-contract=off no variant fuses a multiply-add, so all give the same bits. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) &&                             \
    !defined(__SANITIZE_ADDRESS__)
#define CPU_SIMD __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define CPU_SIMD
#endif

/* A job over rows [begin, end) of [M, N] operands, or over elements when N is 0. */
typedef struct {
    float *y;
    const float *x, *a, *b; /* modulate: a = shift, b = scale; gated_add: a = gate; rope: a =
                               cos, b = sin */
    int N, ld, lds, NH, HD; /* ld, lds: row strides of y and x where they differ from N */
    float eps;
} CpuJob;

static void cpu_par(size_t n, size_t work, void (*fn)(void *, size_t, size_t), CpuJob *job)
{
    if (work < CPU_PAR_MIN)
        fn(job, 0, n);
    else
        pool_parallel_for(n, fn, job);
}

/* y[n] = y[n] · (1 + scale[n]) + shift[n] */
CPU_SIMD static void scale_shift(float *restrict y, const float *restrict scale,
                                 const float *restrict shift, int n)
{
    for (int d = 0; d < n; d++) y[d] = y[d] * (1.0f + scale[d]) + shift[d];
}

static void modulate_rows(void *ctx, size_t begin, size_t end)
{
    const CpuJob *j = ctx;
    float *y = j->y + begin * j->N;
    ops_layernorm(y, j->x + begin * j->N, NULL, NULL, (int)(end - begin), j->N, j->eps);
    for (size_t r = begin; r < end; r++, y += j->N) scale_shift(y, j->b, j->a, j->N);
}

static void cpu_modulate(FluxBackendCtx *c, float *y, const float *x, const float *shift,
                         const float *scale, int M, int N, float eps)
{
    (void)c;
    CpuJob job = {.y = y, .x = x, .a = shift, .b = scale, .N = N, .eps = eps};
    cpu_par((size_t)M, (size_t)M * N, modulate_rows, &job);
}

/* x[n] += gate[n] · y[n] */
CPU_SIMD static void gated_row(float *restrict x, const float *restrict y,
                               const float *restrict gate, int n)
{
    for (int d = 0; d < n; d++) x[d] += gate[d] * y[d];
}

static void gated_add_rows(void *ctx, size_t begin, size_t end)
{
    const CpuJob *j = ctx;
    for (size_t r = begin; r < end; r++) gated_row(j->y + r * j->N, j->x + r * j->N, j->a, j->N);
}

static void cpu_gated_add(FluxBackendCtx *c, float *x, const float *y, const float *gate, int M,
                          int N)
{
    (void)c;
    CpuJob job = {.y = x, .x = y, .a = gate, .N = N};
    cpu_par((size_t)M, (size_t)M * N, gated_add_rows, &job);
}

CPU_SIMD static void add_chunk(void *ctx, size_t begin, size_t end)
{
    const CpuJob *j = ctx;
    float *restrict x = j->y;
    const float *restrict y = j->x;
    for (size_t i = begin; i < end; i++) x[i] += y[i];
}

static void cpu_add(FluxBackendCtx *c, float *x, const float *y, size_t n)
{
    (void)c;
    CpuJob job = {.y = x, .x = y};
    cpu_par(n, n, add_chunk, &job);
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

/* One head's pairs: (re, im) → (re·cos − im·sin, im·cos + re·sin), cos/sin repeat-interleaved */
CPU_SIMD static void rope_head(float *restrict p, const float *restrict cr,
                               const float *restrict sr, int HD)
{
    for (int i = 0; i + 1 < HD; i += 2) {
        float re = p[i], im = p[i + 1];
        p[i] = re * cr[i] - im * sr[i];
        p[i + 1] = im * cr[i + 1] + re * sr[i + 1];
    }
}

static void rope_rows(void *ctx, size_t begin, size_t end)
{
    const CpuJob *j = ctx;
    for (size_t t = begin; t < end; t++)
        for (int h = 0; h < j->NH; h++)
            rope_head(j->y + t * j->ld + (size_t)h * j->HD, j->a + t * j->HD, j->b + t * j->HD,
                      j->HD);
}

static void cpu_rope(FluxBackendCtx *c, float *x, int ld, const float *cos_t, const float *sin_t,
                     int T, int NH, int HD)
{
    (void)c;
    CpuJob job = {.y = x, .a = cos_t, .b = sin_t, .ld = ld, .NH = NH, .HD = HD};
    cpu_par((size_t)T, (size_t)T * NH * HD, rope_rows, &job);
}

static void copy_rows(void *ctx, size_t begin, size_t end)
{
    const CpuJob *j = ctx;
    for (size_t r = begin; r < end; r++)
        memcpy(j->y + r * j->ld, j->x + r * j->lds, sizeof(float) * (size_t)j->N);
}

static void cpu_copy_columns(FluxBackendCtx *c, float *dst, int ldd, const float *src, int lds,
                             int w, int n)
{
    (void)c;
    CpuJob job = {.y = dst, .x = src, .N = w, .ld = ldd, .lds = lds};
    cpu_par((size_t)n, (size_t)n * w, copy_rows, &job);
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

static const FluxBackend cpu_backend = {
    .name = "cpu",
    .ctx_new = cpu_ctx_new,
    .ctx_free = cpu_ctx_free,
    .describe = ctx_describe,
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
};

static FluxBackendCtx *cpu_ctx_new(size_t arena_bytes, GError **error)
{
    FluxBackendCtx *c = g_new0(FluxBackendCtx, 1);
    c->be = &cpu_backend;
    g_snprintf(c->description, sizeof c->description, "cpu (%d threads)", pool_n_threads());
    if (arena_bytes) {
        void *p = NULL;
        int err = posix_memalign(&p, ARENA_ALIGN, arena_bytes);
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
    if (!check_weight(t, dt, error)) return NULL;
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
    .describe = ctx_describe,
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

/* ------------------------------------------------------------------------------------- */
/* Registry                                                                              */

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

static const FluxBackend *cuda_table(void)
{
#ifdef FLUX_HAVE_CUDA
    return &cuda_backend;
#else
    return NULL;
#endif
}

/* FLUX_DEVICE when it names a backend other than "auto", else NULL */
static const char *device_from_env(void)
{
    const char *env = g_getenv("FLUX_DEVICE");
    return env && *env && strcmp(env, "auto") != 0 ? env : NULL;
}

/* "cpu" or "cuda" (usable here), else NULL with `error` set. */
static const FluxBackend *backend_named(const char *name, GError **error)
{
    if (strcmp(name, "cpu") == 0) return &cpu_backend;
    if (strcmp(name, "cuda") == 0) {
        if (!flux_backend_cuda_built()) {
            g_set_error(error, FLUX_ERROR, FLUX_ERROR_UNSUPPORTED,
                        "backend 'cuda': this build has no CUDA support (configure with "
                        "'meson setup -Dcuda=enabled' where nvcc and cuBLAS are installed)");
            return NULL;
        }
        if (flux_backend_cuda_devices() == 0) {
            g_set_error(error, FLUX_ERROR, FLUX_ERROR_UNSUPPORTED,
                        "backend 'cuda': no usable GPU (cudaGetDeviceCount found no device; "
                        "is the NVIDIA driver loaded?)");
            return NULL;
        }
        return cuda_table();
    }
    g_set_error(error, FLUX_ERROR, FLUX_ERROR_ARGUMENT,
                "unknown backend '%s', expected 'auto', 'cpu' or 'cuda'", name);
    return NULL;
}

const FluxBackend *flux_backend_resolve(const char *name, gboolean *automatic, GError **error)
{
    gboolean auto_name = !name || strcmp(name, "auto") == 0;
    const char *env = auto_name ? device_from_env() : NULL;
    if (automatic) *automatic = auto_name && !env;
    if (!auto_name) return backend_named(name, error);
    if (!env) return flux_backend_cuda_devices() > 0 ? cuda_table() : &cpu_backend;
    const FluxBackend *be = backend_named(env, error);
    if (!be) g_prefix_error(error, "FLUX_DEVICE: ");
    return be;
}

gboolean flux_backend_is_auto(const char *name)
{
    return (!name || strcmp(name, "auto") == 0) && !device_from_env();
}

const FluxBackend *flux_backend_get(const char *name, GError **error)
{
    return flux_backend_resolve(name, NULL, error);
}

/* ------------------------------------------------------------------------------------- */
/* Public (flux.h)                                                                       */

gboolean flux_device_check(const char *device, GError **error)
{
    return flux_backend_get(device, error) != NULL;
}
