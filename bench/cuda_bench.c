/* cuda_bench.c — GPU benchmark of the CUDA backend at FLUX.1 dimensions (issue 8), built only
 * when meson finds CUDA. Run: build-cuda/bench/flux-cuda-bench [--tokens T] [--reps N]
 * (docs/CUDA.md). Exits 77 when no GPU is usable.
 *
 * Measures, in one run on one device:
 *   1. the flash-attention kernel alone (packed BF16 and F16 Q, K, V [NH, T, HD]):
 *      4·T²·HD·NH FLOP per call (two matrix products), as TFLOP/s;
 *   2. cuBLAS BF16 GEMMs (float32 accumulation) of the transformer's shapes, 2·M·N·K FLOP:
 *      the attention kernel's yardstick;
 *   3. one FluxSingleTransformerBlock through the backend table (backend.h) with random BF16
 *      weights: modulation, Q/K/V, QK RMSNorm, RoPE + attention, MLP, GELU, concat, proj_out,
 *      gated residual — the block transformer.c runs 38 times per step. A double block does
 *      the same 12·D² FLOP per token, so 57 × this is an estimate of one denoising step.
 *
 * Dimensions (FLUX.1): T = 4608 tokens (a 1024² image's 4096 + 512 text), D = 3072,
 * NH = 24, HD = 128, F = 12288 (MLP).
 */
#include "backend.h"
#include "cuda/flux_cuda.h"

#include <glib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define D_MODEL  3072
#define N_HEADS  24
#define HEAD_DIM 128
#define D_MLP    12288

static guint32 rng_state = 0x9e3779b9u;

/* uniform in [-a, a) (xorshift32) */
static float rnd(float a)
{
    rng_state ^= rng_state << 13, rng_state ^= rng_state >> 17, rng_state ^= rng_state << 5;
    return a * ((float)(rng_state >> 8) / 8388608.0f - 1.0f);
}

static void fill(float *x, size_t n, float a)
{
    for (size_t i = 0; i < n; i++) x[i] = rnd(a);
}

/* Device buffer of n values of dt, random in [-a, a) (made as float32, converted there). */
static void *device_random(FcuCtx *c, FcuDtype dt, size_t n, float a)
{
    float *host = g_new(float, n);
    fill(host, n, a);
    float *f32 = fcu_malloc(c, n * sizeof(float));
    void *dst = dt == FCU_F32 ? f32 : fcu_malloc(c, n * 2);
    if (f32 && dst) {
        fcu_upload(c, f32, host, n * sizeof(float));
        if (dst != f32) fcu_convert(c, dst, dt, f32, FCU_F32, n);
    }
    fcu_sync(c);
    if (dst != f32) fcu_free(c, f32);
    g_free(host);
    return dst;
}

static gboolean report_error(FcuCtx *c)
{
    if (!fcu_error(c)) return FALSE;
    fprintf(stderr, "flux-cuda-bench: %s\n", fcu_error(c));
    return TRUE;
}

/* ------------------------------------------------------------------------------------- */
/* 1. attention kernel, 2. GEMM                                                          */

static double bench_attention(FcuCtx *c, FcuDtype dt, int T, int reps, int portable)
{
    const size_t n = (size_t)N_HEADS * T * HEAD_DIM;
    void *q = device_random(c, dt, n, 2.0f), *k = device_random(c, dt, n, 2.0f),
         *v = device_random(c, dt, n, 1.0f);
    float *out = fcu_malloc(c, (size_t)T * D_MODEL * sizeof(float));
    const float scale = 1.0f / sqrtf((float)HEAD_DIM);
    double tflops = -1;
    if (!report_error(c)) {
        fcu_flash_attention(c, out, D_MODEL, q, k, v, T, T, N_HEADS, HEAD_DIM, scale, dt,
                            portable); /* warm-up */
        fcu_timer_start(c);
        for (int r = 0; r < reps; r++)
            fcu_flash_attention(c, out, D_MODEL, q, k, v, T, T, N_HEADS, HEAD_DIM, scale, dt,
                                portable);
        double ms = fcu_timer_stop(c) / reps;
        double flop = 4.0 * T * (double)T * HEAD_DIM * N_HEADS;
        if (!report_error(c)) {
            tflops = flop / (ms * 1e-3) / 1e12;
            printf("attention %-4s %-9s T=%d NH=%d HD=%d: %8.3f ms  %7.1f TFLOP/s\n",
                   dt == FCU_F16 ? "F16" : "BF16", portable ? "portable" : "default", T, N_HEADS,
                   HEAD_DIM, ms, tflops);
        }
    }
    fcu_free(c, q), fcu_free(c, k), fcu_free(c, v), fcu_free(c, out);
    return tflops;
}

static double bench_gemm(FcuCtx *c, const char *what, int M, int N, int K, int reps)
{
    void *a = device_random(c, FCU_BF16, (size_t)M * K, 1.0f);
    void *b = device_random(c, FCU_BF16, (size_t)N * K, 0.05f);
    float *y = fcu_malloc(c, (size_t)M * N * sizeof(float));
    double tflops = -1;
    if (!report_error(c)) {
        fcu_gemm(c, FCU_BF16, y, a, b, M, N, K); /* warm-up: cuBLAS picks its kernel */
        fcu_timer_start(c);
        for (int r = 0; r < reps; r++) fcu_gemm(c, FCU_BF16, y, a, b, M, N, K);
        double ms = fcu_timer_stop(c) / reps;
        if (!report_error(c)) {
            tflops = 2.0 * M * (double)N * K / (ms * 1e-3) / 1e12;
            printf("gemm BF16 %-22s [%d x %d] x [%d x %d]^T: %8.3f ms  %7.1f TFLOP/s\n", what, M, K,
                   N, K, ms, tflops);
        }
    }
    fcu_free(c, a), fcu_free(c, b), fcu_free(c, y);
    return tflops;
}

/* ------------------------------------------------------------------------------------- */
/* 3. one single block through the backend table                                         */

typedef struct {
    StTensor t;
    guint16 *data;
} HostWeight;

/* A random BF16 weight [N, K] (values ~ N(0, 1/K)-sized, so activations stay O(1)). */
static void host_weight(HostWeight *w, const char *name, int N, int K)
{
    size_t n = (size_t)N * K;
    w->data = g_new(guint16, n);
    float a = 1.7f / sqrtf((float)K);
    for (size_t i = 0; i < n; i++) {
        float f = rnd(a);
        guint32 u;
        memcpy(&u, &f, 4);
        w->data[i] = (guint16)(u >> 16);
    }
    w->t = (StTensor){.name = name,
                      .dtype = ST_BF16,
                      .ndim = 2,
                      .shape = {N, K},
                      .numel = (int64_t)n,
                      .data = w->data,
                      .nbytes = n * 2};
}

typedef struct {
    FluxBackendWeight *norm, *q, *k, *v, *mlp, *out; /* [3D, D] [D, D]×3 [F, D] [D, D + F] */
} Block;

/* Activations of one block, [T, ·] float32 in the backend's arena */
typedef struct {
    float *x, *n, *q, *k, *v, *cat, *mlp, *proj, *temb, *mod, *cos_t, *sin_t, *norm_w;
} Acts;

static void single_block(const FluxBackend *be, FluxBackendCtx *bc, const Block *w, Acts *a, int T)
{
    const int D = D_MODEL, F = D_MLP;
    be->linear(bc, a->mod, a->temb, w->norm, NULL, 1); /* shift | scale | gate [3D] */
    be->modulate(bc, a->n, a->x, a->mod, a->mod + D, T, D, 1e-6f);
    be->linear(bc, a->q, a->n, w->q, NULL, T);
    be->linear(bc, a->k, a->n, w->k, NULL, T);
    be->linear(bc, a->v, a->n, w->v, NULL, T);
    be->rmsnorm(bc, a->q, a->q, a->norm_w, T * N_HEADS, HEAD_DIM, 1e-6f);
    be->rmsnorm(bc, a->k, a->k, a->norm_w, T * N_HEADS, HEAD_DIM, 1e-6f);
    OpsAttnShape s = {.Tq = T,
                      .Tk = T,
                      .NH = N_HEADS,
                      .HD = HEAD_DIM,
                      .ldq = D,
                      .ldk = D,
                      .ldv = D,
                      .ldo = D + F,
                      .scale = 1.0f / sqrtf((float)HEAD_DIM)};
    be->attention(bc, a->cat, a->q, a->k, a->v, &s, a->cos_t, a->sin_t, ST_BF16);
    be->linear(bc, a->mlp, a->n, w->mlp, NULL, T);
    be->gelu_tanh(bc, a->mlp, (size_t)T * F);
    be->copy_columns(bc, a->cat + D, D + F, a->mlp, F, F, T);
    be->linear(bc, a->proj, a->cat, w->out, NULL, T);
    be->gated_add(bc, a->x, a->proj, a->mod + 2 * D, T, D);
}

static float *put_random(const FluxBackend *be, FluxBackendCtx *bc, size_t n, float amp,
                         GError **error)
{
    float *p = be->alloc(bc, n, error);
    if (!p) return NULL;
    float *host = g_new(float, n);
    fill(host, n, amp);
    be->upload(bc, p, host, n);
    g_free(host);
    return p;
}

static gboolean bench_block(int T, int reps, GError **error)
{
    const int D = D_MODEL, F = D_MLP;
    const FluxBackend *be = flux_backend_get("cuda", error);
    if (!be) return FALSE;
    size_t floats = (size_t)T * (6 * (size_t)D + (D + F) + F) + 2 * (size_t)T * HEAD_DIM +
                    4 * (size_t)D + HEAD_DIM;
    FluxBackendCtx *bc = be->ctx_new(floats * sizeof(float) + (64u << 20), error);
    if (!bc) return FALSE;
    HostWeight hw[6];
    host_weight(&hw[0], "norm.linear.weight", 3 * D, D);
    host_weight(&hw[1], "attn.to_q.weight", D, D);
    host_weight(&hw[2], "attn.to_k.weight", D, D);
    host_weight(&hw[3], "attn.to_v.weight", D, D);
    host_weight(&hw[4], "proj_mlp.weight", F, D);
    host_weight(&hw[5], "proj_out.weight", D, D + F);
    FluxBackendWeight *bw[6] = {0};
    gboolean ok = TRUE;
    for (int i = 0; i < 6 && ok; i++)
        ok = (bw[i] = be->weight_new(bc, &hw[i].t, ST_BF16, error)) != NULL;
    Acts a = {0};
    float **fields[] = {&a.x, &a.n, &a.q, &a.k, &a.v, &a.cat, &a.mlp, &a.proj};
    size_t sizes[] = {(size_t)T * D, (size_t)T * D,       (size_t)T * D, (size_t)T * D,
                      (size_t)T * D, (size_t)T * (D + F), (size_t)T * F, (size_t)T * D};
    for (size_t i = 0; i < G_N_ELEMENTS(fields) && ok; i++)
        ok = (*fields[i] = put_random(be, bc, sizes[i], 1.0f, error)) != NULL;
    ok = ok && (a.temb = put_random(be, bc, D, 1.0f, error)) &&
         (a.mod = be->alloc(bc, 3 * D, error)) &&
         (a.cos_t = put_random(be, bc, (size_t)T * HEAD_DIM, 1.0f, error)) &&
         (a.sin_t = put_random(be, bc, (size_t)T * HEAD_DIM, 1.0f, error)) &&
         (a.norm_w = put_random(be, bc, HEAD_DIM, 1.0f, error));
    if (ok) {
        Block w = {bw[0], bw[1], bw[2], bw[3], bw[4], bw[5]};
        single_block(be, bc, &w, &a, T); /* warm-up */
        ok = be->sync(bc, error);
        gint64 t0 = g_get_monotonic_time();
        for (int r = 0; r < reps && ok; r++) single_block(be, bc, &w, &a, T);
        ok = ok && be->sync(bc, error);
        double ms = (g_get_monotonic_time() - t0) / 1e3 / reps;
        double flop = 2.0 * T * ((double)D * D * 3 + (double)F * D + (double)(D + F) * D) +
                      4.0 * T * (double)T * D;
        if (ok) {
            printf("single block (backend table, %s) T=%d: %8.3f ms  %7.1f TFLOP/s\n",
                   be->describe(bc), T, ms, flop / (ms * 1e-3) / 1e12);
            printf(
                "  estimate of one denoising step (19 double + 38 single blocks ~ 57 x): %.1f ms\n",
                57 * ms);
        }
    }
    for (int i = 0; i < 6; i++) {
        be->weight_free(bc, bw[i]);
        g_free(hw[i].data);
    }
    be->ctx_free(bc);
    return ok;
}

/* ------------------------------------------------------------------------------------- */

int main(int argc, char **argv)
{
    int T = 4608, reps = 20;
    gboolean portable = FALSE;
    GOptionEntry entries[] = {
        {"tokens", 't', 0, G_OPTION_ARG_INT, &T, "Sequence length (default 4608: 1024² + 512)",
         "T"},
        {"reps", 'r', 0, G_OPTION_ARG_INT, &reps, "Timed repetitions (default 20)", "N"},
        {"portable", 0, 0, G_OPTION_ARG_NONE, &portable,
         "Also time the portable attention kernel (slow)", NULL},
        {NULL, 0, 0, 0, NULL, NULL, NULL}};
    GError *err = NULL;
    GOptionContext *oc = g_option_context_new("- CUDA backend benchmark at FLUX.1 sizes");
    g_option_context_add_main_entries(oc, entries, NULL);
    gboolean parsed = g_option_context_parse(oc, &argc, &argv, &err);
    g_option_context_free(oc);
    if (!parsed || T < 1 || T > 65536 || reps < 1) {
        fprintf(stderr, "flux-cuda-bench: %s\n", err ? err->message : "bad --tokens or --reps");
        g_clear_error(&err);
        return 2;
    }
    if (fcu_device_count() == 0) {
        printf("flux-cuda-bench: no usable CUDA GPU: skipped\n");
        return 77;
    }
    FcuErrKind kind;
    char msg[512];
    FcuCtx *c = fcu_ctx_new(0, &kind, msg, sizeof msg);
    if (!c) {
        fprintf(stderr, "flux-cuda-bench: %s\n", msg);
        return 1;
    }
    printf("device: %s\n", fcu_ctx_device(c));
    double att = bench_attention(c, FCU_BF16, T, reps, 0);
    bench_attention(c, FCU_F16, T, reps, 0);
    if (portable) bench_attention(c, FCU_BF16, T, 1, 1);
    double gemm = bench_gemm(c, "to_q (T x D x D)", T, D_MODEL, D_MODEL, reps);
    bench_gemm(c, "proj_mlp (T x D x F)", T, D_MLP, D_MODEL, reps);
    bench_gemm(c, "proj_out (T x (D+F) x D)", T, D_MODEL, D_MODEL + D_MLP, reps);
    if (att > 0 && gemm > 0)
        printf("attention BF16 / cuBLAS BF16 GEMM (T x D x D): %.2f\n", att / gemm);
    fcu_ctx_free(c);
    if (!bench_block(T, reps, &err)) {
        fprintf(stderr, "flux-cuda-bench: single block: %s\n", err->message);
        g_clear_error(&err);
        return 1;
    }
    return att > 0 && gemm > 0 ? 0 : 1;
}
