/* flux_bench.c — CPU speed and memory of every FLUX.1 component at real sizes (issue 5).
 *
 * Runs on a model folder written by bench/make_model.py (real widths, any depth, random bf16
 * weights) and, in one run, times: one transformer step per image size, T5 encoding of 512
 * tokens, CLIP, VAE decodes and encodes. For each it prints seconds, the FLOPs counted from the
 * shapes (matrix products and attention; elementwise work is not counted), the achieved GFLOP/s and
 * the GFLOP/s of OpenBLAS's sgemm on a matching shape measured in the same run (so the ratio
 * holds on a noisy machine). Memory: peak RSS, and peak anonymous memory (what the process
 * allocated, i.e. without the mapped weight files) sampled every 5 ms, per phase and overall,
 * next to flux_estimate_memory's figure.
 *
 *   flux-bench MODEL_DIR [--sizes 256,512,1024] [--vae-sizes 512,1024] [--skip t5,clip,vae,dit]
 *              (--skip decoder: the VAE encoder alone)
 *              [--repeat N] [--transformer FILE]
 *   flux-bench --qdot-table 1,8,64,256,1024 [portable|avx2|avx512-vnni]
 *   flux-bench --bf16-table 64,512,1536
 *   flux-bench --peak
 *   flux-bench --int8-table 1280,4608 [TYPES] [PATHS]     (bench/int8_table.h)
 *
 * --transformer FILE benches the transformer from a weight file (GGUF, single-file
 * safetensors), loaded with the MODEL_DIR folder through flux_model_load_files as the CLI does
 * (issue 7). --qdot-table times ops_linear on Q8_0 weights at K = 3072, N = 3072 and 12288 for
 * the listed M: the int8 kernel (core/compute/quant_dot.c) against dequantised tiles + sgemm (GEMV
 * for M <= 8), which sets quant_dot.h's QDOT_MAX_M. --bf16-table times the hand-written bf16 GEMM
 * (core/compute/gemm_bf16.c, every path this CPU runs) against ops_linear's converted tiles + sgemm
 * on the same bf16 weights, for the listed M at (K, N) = (3072, 3072), (3072, 12288), (12288,
 * 3072).
 *
 * Dimension letters: D transformer width, F its MLP width, T_img = (S/16)² image tokens for an
 * S×S image, T_txt = 512 text tokens, T = T_img + T_txt.
 */
#include "clip.h"
#include "cpu_features.h"
#include "flux.h"
#include "gemm_bf16.h"
#include "int8_table.h"
#include "model.h"
#include "ops.h"
#include "pool.h"
#include "peak.h"
#include "precision.h"
#include "quant_dot.h"
#include "t5.h"
#include "transformer.h"
#include "vae.h"

#include <cblas.h>
#include <json-glib/json-glib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define T_TXT 512

/* ------------------------------------------------------------------------------------- */
/* Memory                                                                                */

typedef struct {
    GMutex lock;
    GThread *thread;
    gboolean stop;
    guint64 anon_peak, file_peak; /* KiB, since the last mem_phase_reset */
    guint64 anon_all;             /* KiB, whole run */
} MemSampler;

static MemSampler mem;

/* RssAnon, RssFile and VmHWM (KiB) of this process from /proc/self/status. */
static void read_status(guint64 *anon, guint64 *file, guint64 *hwm)
{
    *anon = *file = *hwm = 0;
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return;
    char line[256];
    while (fgets(line, sizeof line, f)) {
        unsigned long long v;
        if (sscanf(line, "RssAnon: %llu", &v) == 1) *anon = v;
        if (sscanf(line, "RssFile: %llu", &v) == 1) *file = v;
        if (sscanf(line, "VmHWM: %llu", &v) == 1) *hwm = v;
    }
    fclose(f);
}

static gpointer sampler(gpointer data)
{
    (void)data;
    for (;;) {
        guint64 a, f, h;
        read_status(&a, &f, &h);
        g_mutex_lock(&mem.lock);
        gboolean stop = mem.stop;
        if (a > mem.anon_peak) mem.anon_peak = a;
        if (f > mem.file_peak) mem.file_peak = f;
        if (a > mem.anon_all) mem.anon_all = a;
        g_mutex_unlock(&mem.lock);
        if (stop) return NULL;
        g_usleep(5000);
    }
}

static void mem_phase_reset(void)
{
    g_mutex_lock(&mem.lock);
    mem.anon_peak = mem.file_peak = 0;
    g_mutex_unlock(&mem.lock);
}

static void mem_phase_print(const char *what)
{
    guint64 a, f, h;
    read_status(&a, &f, &h);
    g_mutex_lock(&mem.lock);
    if (a > mem.anon_peak) mem.anon_peak = a;
    printf("    memory %-22s peak anon %8.1f MiB, peak file-backed %8.1f MiB\n", what,
           mem.anon_peak / 1024.0, mem.file_peak / 1024.0);
    g_mutex_unlock(&mem.lock);
    fflush(stdout);
}

/* ------------------------------------------------------------------------------------- */
/* Timing and the sgemm reference                                                        */

static double now(void)
{
    return g_get_monotonic_time() / 1e6;
}

/* CPU seconds of the whole process (every thread) */
static double cpu_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + t.tv_nsec * 1e-9;
}

/* GFLOP/s of cblas_sgemm C[M,N] = A[M,K]·B[N,K]ᵀ (the orientation ops_linear uses), best of
 * `reps` runs after one warm-up, with float32 operands allocated here. */
static double sgemm_gflops(int M, int K, int N, int reps)
{
    float *a = g_new(float, (size_t)M *K), *b = g_new(float, (size_t)N *K);
    float *c = g_new(float, (size_t)M *N);
    for (size_t i = 0; i < (size_t)M * K; i++) a[i] = (float)((i * 7919) % 1000) / 1000.0f - 0.5f;
    for (size_t i = 0; i < (size_t)N * K; i++) b[i] = (float)((i * 104729) % 1000) / 1000.0f - 0.5f;
    double best = 1e30;
    for (int r = 0; r <= reps; r++) {
        double t0 = now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.0f, a, K, b, K, 0.0f, c, N);
        double t = now() - t0;
        if (r > 0 && t < best) best = t;
    }
    g_free(a), g_free(b), g_free(c);
    return 2.0 * M * K * N / best / 1e9;
}

/* The measured peak of the instruction fast multiplies with (print_cpu measures it), or 0. */
static double native_peak;
/* The same peak per CPU-second (peak_per_cpu_second): on a shared machine the fair yardstick
 * for a step's FLOPs per CPU-second. */
static double native_peak_cpu;
static const char *native_peak_name = "";

static void report(const char *what, double secs, double flops, double ref_gflops)
{
    double g = flops / secs / 1e9;
    printf("%-28s %9.3f s %10.1f GFLOP %8.1f GFLOP/s   sgemm %6.1f GFLOP/s   ratio %5.1f%%\n", what,
           secs, flops / 1e9, g, ref_gflops, 100.0 * g / ref_gflops);
    if (native_peak > 0 && ops_precision() == OPS_PRECISION_FAST)
        printf("%-28s %.1f%% of the measured %s peak (%.1f GFLOP/s)\n", "", 100.0 * g / native_peak,
               native_peak_name, native_peak);
    fflush(stdout);
}

static void fill(float *x, size_t n, guint32 seed)
{
    GRand *r = g_rand_new_with_seed(seed);
    for (size_t i = 0; i < n; i++) x[i] = (float)g_rand_double_range(r, -1.0, 1.0);
    g_rand_free(r);
}

/* ------------------------------------------------------------------------------------- */
/* Transformer                                                                           */

/* FLOPs of one FluxTransformer2DModel forward (batch 1): the linears (2·rows·in·out) and the
 * attention products (QKᵀ and PV: 2 · 2·T²·D per block). */
static double dit_flops(const DitConfig *c, int T_img, int T_txt)
{
    double D = c->inner_dim, F = 4.0 * D, T = T_img + T_txt, Ti = T_img, Tt = T_txt;
    double attn = 4.0 * T * T * D;
    double dbl = 2.0 * T * (4 * D * D + 2 * D * F) /* both streams: qkv, out, ff */
                 + 2.0 * 2 * 6 * D * D             /* AdaLayerNormZero ×2, one row */
                 + attn;
    double sgl = 2.0 * T * (3 * D * D + D * F + (D + F) * D) + 2.0 * 3 * D * D + attn;
    double emb = 2.0 * Ti * c->in_channels * D + 2.0 * Tt * c->joint_attention_dim * D +
                 2.0 * (3 * 256 * D + 3 * D * D + c->pooled_projection_dim * D) + 2.0 * 2 * D * D +
                 2.0 * Ti * D * c->out_channels;
    return c->num_layers * dbl + c->num_single_layers * sgl + emb;
}

/* The folder's transformer (model_folder_part, as flux_model_load_files reads it), or `file` with
 * the folder as flux_model_load_files takes them; *fm is the whole model then (freed by the
 * caller). */
static DitModel *load_dit(const char *dir, const char *file, FluxModel **fm, GError **err)
{
    *fm = NULL;
    if (!file) {
        g_autofree char *tdir = g_build_filename(dir, "transformer", NULL);
        CfgJson *c;
        StArchive *a;
        DitModel *m = model_folder_part(tdir, "diffusion_pytorch_model", &c, &a, err)
                          ? dit_load(c, a, err)
                          : NULL;
        cfg_free(c);
        return m;
    }
    const FluxModelFiles f = {.folder = dir, .transformer = file};
    *fm = flux_model_load_files(&f, err);
    return *fm ? (*fm)->dit : NULL;
}

static void bench_dit(const char *dir, const char *file, const int *sizes, int n_sizes, int repeat)
{
    GError *err = NULL;
    double t0 = now();
    FluxModel *fm;
    DitModel *m = load_dit(dir, file, &fm, &err);
    if (!m) {
        fprintf(stderr, "transformer: %s\n", err->message);
        g_clear_error(&err);
        return;
    }
    const DitConfig *c = dit_config(m);
    printf("transformer%s%s: %d double + %d single blocks, D=%d, loaded (mapped) in %.2f s; "
           "Q8_0 linears with M <= %d: %s\n",
           file ? " from " : "", file ? file : "", c->num_layers, c->num_single_layers,
           c->inner_dim, now() - t0, QDOT_MAX_M, quant_dot_path_name(quant_dot_path()));
    for (int si = 0; si < n_sizes; si++) {
        int S = sizes[si], hw = S / 16, T_img = hw * hw, T = T_img + T_TXT;
        mem_phase_reset();
        DitContext *ctx = dit_context_new(m, 1, T_img, T_TXT, &err);
        if (!ctx) {
            fprintf(stderr, "transformer: %s\n", err->message);
            g_clear_error(&err);
            continue;
        }
        float *hid = g_new(float, (size_t)T_img * c->in_channels);
        float *enc = g_new(float, (size_t)T_TXT * c->joint_attention_dim);
        float *pooled = g_new(float, c->pooled_projection_dim);
        float *out = g_new(float, (size_t)T_img * c->out_channels);
        float *img_ids = g_new0(float, (size_t)T_img * 3), *txt_ids = g_new0(float, T_TXT * 3);
        fill(hid, (size_t)T_img * c->in_channels, 1);
        fill(enc, (size_t)T_TXT * c->joint_attention_dim, 2);
        fill(pooled, c->pooled_projection_dim, 3);
        for (int i = 0; i < T_img; i++) {
            img_ids[3 * i + 1] = (float)(i / hw);
            img_ids[3 * i + 2] = (float)(i % hw);
        }
        float ts = 0.75f, guid = 3.5f;
        double best = 1e30, best_cpu = 1e30;
        for (int r = 0; r < repeat; r++) {
            double t1 = now(), c1 = cpu_now();
            if (!dit_forward(ctx, hid, enc, pooled, &ts, &guid, img_ids, txt_ids, out, NULL,
                             &err)) {
                fprintf(stderr, "transformer: %s\n", err->message);
                g_clear_error(&err);
                break;
            }
            double t = now() - t1;
            if (t < best) best = t;
            best_cpu = MIN(best_cpu, cpu_now() - c1);
        }
        double fl = dit_flops(c, T_img, T_TXT);
        /* the matching shape: the feed-forward up-projection of this sequence length */
        double ref = sgemm_gflops(T, c->inner_dim, 4 * c->inner_dim, 2);
        g_autofree char *what = g_strdup_printf("transformer step %d²", S);
        report(what, best, fl, ref);
        int blocks = c->num_layers + c->num_single_layers;
        DitConfig full = *c;
        full.num_layers = 19;
        full.num_single_layers = 38;
        printf("    (T=%d; %.3f s per block on average; the full 19+38 model: ~%.1f s/step "
               "scaled by FLOPs)\n",
               T, best / blocks, best * dit_flops(&full, T_img, T_TXT) / fl);
        /* on a shared machine the wall time includes waiting for the cores; the process's
         * CPU time over the threads is what the step costs when it has them to itself */
        printf("    CPU time %.3f s (all threads; / %d threads = %.3f s)\n", best_cpu,
               pool_n_threads(), best_cpu / pool_n_threads());
        if (native_peak_cpu > 0 && ops_precision() == OPS_PRECISION_FAST)
            printf("    %.1f GFLOP per CPU-second: %.1f%% of the %s peak per CPU-second\n",
                   fl / best_cpu / 1e9, 100.0 * fl / best_cpu / 1e9 / native_peak_cpu,
                   native_peak_name);
        printf("    arena %.1f MiB (dit_context_bytes)\n",
               dit_context_bytes(dit_config(m), 1, T_img, T_TXT) / 1048576.0);
        mem_phase_print("transformer step");
        g_free(hid), g_free(enc), g_free(pooled), g_free(out), g_free(img_ids), g_free(txt_ids);
        dit_context_free(ctx);
    }
    if (fm)
        flux_model_free(fm);
    else
        dit_free(m);
}

/* ------------------------------------------------------------------------------------- */
/* Q8_0 linears: integer kernel against dequantising                                     */

/* Seconds of ops_linear (y = x·wᵀ), best of `reps` after one warm-up. */
static double time_linear(float *y, const float *x, const StTensor *w, int M, int K, int N,
                          int reps)
{
    double best = 1e30;
    for (int r = 0; r <= reps; r++) {
        double t0 = now();
        ops_linear(y, x, w, NULL, M, K, N);
        if (r > 0) best = MIN(best, now() - t0);
    }
    return best;
}

/* The table behind QDOT_MAX_M: K = 3072 (FLUX's width), N = 3072 (attention projections) and
 * 12288 (MLP up), random Q8_0 weights (the kernels' speed does not depend on the values). The
 * dequantising path is ops_linear's with the kernel off (quant_dot_set_path(QDOT_OFF)). */
static void bench_qdot(const int *Ms, int n_M)
{
    const QdotPath path = quant_dot_path();
    const int K = 3072, Ns[] = {3072, 12288};
    printf("Q8_0 linear y[M,N] = x[M,%d]·wᵀ, %d threads: dequantise+sgemm (GEMV for M <= 8) vs "
           "int8 kernel (%s; portable C for M <= 8)\n",
           K, pool_n_threads(), quant_dot_path_name(path));
    printf("%6s %6s %12s %12s %8s %12s %12s\n", "M", "N", "dequant s", "int8 s", "speedup",
           "int8 GMAC/s", "portable s");
    GRand *r = g_rand_new_with_seed(1);
    for (gsize ni = 0; ni < G_N_ELEMENTS(Ns); ni++) {
        int N = Ns[ni];
        size_t nbytes = (size_t)N * K / 32 * 34;
        guint8 *wq = g_malloc(nbytes);
        for (size_t i = 0; i < nbytes; i++) wq[i] = (guint8)g_rand_int(r);
        for (size_t b = 0; b < nbytes; b += 34) wq[b] = 0, wq[b + 1] = 0x20; /* d = 2^-7 */
        StTensor w = {.name = "w",
                      .dtype = ST_Q8_0,
                      .ndim = 2,
                      .shape = {N, K},
                      .numel = (int64_t)N * K,
                      .data = wq,
                      .nbytes = nbytes};
        for (int mi = 0; mi < n_M; mi++) {
            int M = Ms[mi], reps = M * (double)N * K > 4e9 ? 1 : 3;
            float *x = g_new(float, (size_t)M *K), *y = g_new(float, (size_t)M *N);
            fill(x, (size_t)M * K, 7);
            quant_dot_set_path(QDOT_OFF);
            double tf = time_linear(y, x, &w, M, K, N, reps);
            quant_dot_set_path(path);
            double ti = 1e30, tp = 0;
            for (int k = 0; k <= reps; k++) {
                double t0 = now();
                quant_dot_linear(y, x, &w, M, K, N);
                if (k > 0) ti = MIN(ti, now() - t0);
            }
            if (M <= 8) {
                quant_dot_set_path(QDOT_PORTABLE);
                double t0 = now();
                quant_dot_linear(y, x, &w, M, K, N);
                tp = now() - t0;
                quant_dot_set_path(path);
            }
            printf("%6d %6d %12.5f %12.5f %7.2fx %12.1f", M, N, tf, ti, tf / ti,
                   (double)M * N * K / ti / 1e9);
            if (tp > 0) printf(" %12.5f", tp);
            printf("\n");
            fflush(stdout);
            g_free(x), g_free(y);
        }
        g_free(wq);
    }
    g_rand_free(r);
}

/* ------------------------------------------------------------------------------------- */
/* The CPU: model, usable features, precision, measured peak per instruction               */

static void print_cpu(gboolean peaks)
{
    g_autofree char *cpu = cpu_features_describe();
    printf("CPU: %s; precision %s (bf16 GEMM path %s); %d op threads\n", cpu,
           ops_precision_name(ops_precision()), gemm_bf16_path_name(gemm_bf16_path()),
           pool_n_threads());
    if (!peaks) return;
    for (int k = 0; k < PEAK_N; k++) {
        double g = peak_gflops((PeakKind)k);
        /* the products fast runs on: AMX-BF16 when the path uses it, else vdpbf16ps */
        const PeakKind used = gemm_bf16_path() == GEMM_BF16_AMX ? PEAK_AMX_BF16 : PEAK_DPBF16_ZMM;
        if (k == (int)used && g > 0) native_peak = g, native_peak_name = peak_name(used);
        if (g > 0)
            printf("peak %-24s %9.1f G%s/s (all op threads)\n", peak_name((PeakKind)k), g,
                   peak_is_int((PeakKind)k) ? "OP" : "FLOP");
        if (k == (int)used && g > 0) {
            native_peak_cpu = peak_per_cpu_second(used);
            printf("peak %-24s %9.1f GFLOP per CPU-second\n", peak_name(used), native_peak_cpu);
        }
    }
    fflush(stdout);
}

/* ------------------------------------------------------------------------------------- */
/* bf16 linears: hand-written kernel against converted tiles + sgemm                     */

/* Seconds of gemm_bf16_linear on the current path, best of 2 (the first run included: the
 * kernel keeps no state to warm). */
static double time_gemm_bf16(float *y, const float *x, const StTensor *w, int M, int K, int N,
                             int reps)
{
    double best = 1e30;
    for (int r = 0; r < reps; r++) {
        double t0 = now();
        gemm_bf16_linear(y, x, w, M, K, N);
        best = MIN(best, now() - t0);
    }
    return best;
}

/* The table behind keeping gemm_bf16 opt-in: FLUX's linear shapes (attention projections,
 * MLP up, MLP down) with random bf16 weights. The portable path is timed only at M <= 64 (it
 * is the fallback for CPUs without AVX-512, not a contender). */
static void bench_bf16(const int *Ms, int n_M)
{
    const int shapes[][2] = {{3072, 3072}, {3072, 12288}, {12288, 3072}, {15360, 3072}};
    const GemmBf16Path paths[] = {GEMM_BF16_AMX, GEMM_BF16_AVX512BF16, GEMM_BF16_PORTABLE};
    const OpsPrecision saved = ops_precision();
    ops_precision_set(OPS_PRECISION_FLOAT32); /* the ops_linear column: tiles + sgemm */
    printf("bf16 linear y[M,N] = x[M,K]·wᵀ, %d threads: seconds (GFLOP/s); ops_linear: one "
           "warm-up + one timed run, gemm_bf16: best of 2\n",
           pool_n_threads());
    printf("%6s %6s %6s %20s", "M", "K", "N", "ops_linear (tiles)");
    for (gsize p = 0; p < G_N_ELEMENTS(paths); p++)
        if (gemm_bf16_set_path(paths[p])) printf(" %20s", gemm_bf16_path_name(paths[p]));
    printf("\n");
    for (gsize si = 0; si < G_N_ELEMENTS(shapes); si++) {
        const int K = shapes[si][0], N = shapes[si][1];
        guint16 *wb = g_new(guint16, (size_t)N * K);
        float *row = g_new(float, K);
        for (int n = 0; n < N; n++) {
            fill(row, (size_t)K, 11 + n);
            for (int k = 0; k < K; k++) { /* truncated: any bf16 values do */
                guint32 u;
                memcpy(&u, row + k, sizeof u);
                wb[(size_t)n * K + k] = (guint16)(u >> 16);
            }
        }
        g_free(row);
        StTensor w = {.name = "w",
                      .dtype = ST_BF16,
                      .ndim = 2,
                      .shape = {N, K},
                      .numel = (int64_t)N * K,
                      .data = wb,
                      .nbytes = (size_t)N * K * 2};
        for (int mi = 0; mi < n_M; mi++) {
            const int M = Ms[mi];
            const double flops = 2.0 * M * K * N;
            float *x = g_new(float, (size_t)M *K), *y = g_new(float, (size_t)M *N);
            fill(x, (size_t)M * K, 7);
            double t = time_linear(y, x, &w, M, K, N, 1);
            printf("%6d %6d %6d %9.4f (%7.1f)", M, K, N, t, flops / t / 1e9);
            for (gsize p = 0; p < G_N_ELEMENTS(paths); p++) {
                if (!gemm_bf16_set_path(paths[p])) continue;
                if (paths[p] == GEMM_BF16_PORTABLE && M > 64) {
                    printf(" %20s", "-");
                    continue;
                }
                t = time_gemm_bf16(y, x, &w, M, K, N, paths[p] == GEMM_BF16_PORTABLE ? 1 : 2);
                printf(" %9.4f (%7.1f)", t, flops / t / 1e9);
            }
            gemm_bf16_set_path(GEMM_BF16_AUTO);
            printf("\n");
            fflush(stdout);
            g_free(x), g_free(y);
        }
        g_free(wb);
    }
    ops_precision_set(saved);
}

/* ------------------------------------------------------------------------------------- */
/* Text encoders                                                                         */

static JsonObject *read_config(const char *dir, const char *sub, JsonParser **p)
{
    g_autofree char *path = g_build_filename(dir, sub, "config.json", NULL);
    *p = json_parser_new();
    if (!json_parser_load_from_file(*p, path, NULL)) return NULL;
    return json_node_get_object(json_parser_get_root(*p));
}

static void bench_t5(const char *dir, int repeat)
{
    GError *err = NULL;
    g_autofree char *tdir = g_build_filename(dir, "text_encoder_2", NULL);
    JsonParser *p;
    JsonObject *o = read_config(dir, "text_encoder_2", &p);
    if (!o) {
        g_object_unref(p);
        return;
    }
    double D = json_object_get_int_member(o, "d_model"), F = json_object_get_int_member(o, "d_ff");
    double In = json_object_get_int_member(o, "num_heads") * json_object_get_int_member(o, "d_kv");
    int N = (int)json_object_get_int_member(o, "num_layers");
    g_object_unref(p);
    mem_phase_reset();
    CfgJson *wc;
    StArchive *wa;
    T5Model *m = model_folder_part(tdir, "model", &wc, &wa, &err) ? t5_load(wc, wa, &err) : NULL;
    cfg_free(wc);
    if (!m) {
        fprintf(stderr, "t5: %s\n", err->message);
        g_clear_error(&err);
        return;
    }
    int64_t ids[T_TXT];
    for (int i = 0; i < T_TXT; i++) ids[i] = (i * 37) % 32000;
    float *out = g_new(float, (size_t)T_TXT *(int)D);
    double best = 1e30;
    for (int r = 0; r < repeat; r++) {
        double t0 = now();
        if (!t5_encode(m, ids, T_TXT, out, NULL, &err)) {
            fprintf(stderr, "t5: %s\n", err->message);
            g_clear_error(&err);
            break;
        }
        best = MIN(best, now() - t0);
    }
    double L = T_TXT;
    double fl = N * (2.0 * L * (4 * D * In + 3 * D * F) + 4.0 * L * L * In);
    g_autofree char *what = g_strdup_printf("T5 encode %d tok (%d lay)", T_TXT, N);
    report(what, best, fl, sgemm_gflops(T_TXT, (int)D, (int)F, 2));
    if (N != 24) printf("    (the full 24-layer T5-XXL: ~%.1f s)\n", best * 24 / N);
    mem_phase_print("T5 encode");
    g_free(out);
    t5_free(m);
}

static void bench_clip(const char *dir, int repeat)
{
    GError *err = NULL;
    g_autofree char *cdir = g_build_filename(dir, "text_encoder", NULL);
    JsonParser *p;
    JsonObject *o = read_config(dir, "text_encoder", &p);
    if (!o) {
        g_object_unref(p);
        return;
    }
    double D = json_object_get_int_member(o, "hidden_size");
    double F = json_object_get_int_member(o, "intermediate_size");
    int N = (int)json_object_get_int_member(o, "num_hidden_layers");
    g_object_unref(p);
    CfgJson *wc;
    StArchive *wa;
    ClipModel *m =
        model_folder_part(cdir, "model", &wc, &wa, &err) ? clip_load(wc, wa, &err) : NULL;
    cfg_free(wc);
    if (!m) {
        fprintf(stderr, "clip: %s\n", err->message);
        g_clear_error(&err);
        return;
    }
    int64_t ids[77];
    for (int i = 0; i < 77; i++) ids[i] = i == 0 ? 49406 : i > 20 ? 49407 : 320 + i;
    float pooled[4096];
    double best = 1e30;
    for (int r = 0; r < repeat; r++) {
        double t0 = now();
        if (!clip_encode(m, ids, 77, pooled, NULL, &err)) {
            fprintf(stderr, "clip: %s\n", err->message);
            g_clear_error(&err);
            break;
        }
        best = MIN(best, now() - t0);
    }
    double L = 77, fl = N * (2.0 * L * (4 * D * D + 2 * D * F) + 4.0 * L * L * D);
    g_autofree char *what = g_strdup_printf("CLIP encode 77 tok (%d lay)", N);
    report(what, best, fl, sgemm_gflops(77, (int)D, (int)F, 5));
    clip_free(m);
}

/* ------------------------------------------------------------------------------------- */
/* VAE                                                                                   */

/* FLOPs of the AutoencoderKL decoder for latents h×w: every 3×3 / 1×1 convolution
 * (2·Cout·Cin·k²·pixels) and the mid-block attention (4 linears + 2·2·T²·C). */
static double vae_flops(const int *ch, int n_ch, int lpb, int c_lat, int h, int w)
{
    double fl = 0, px = (double)h * w;
#define CONV(ci, co, k, p) (2.0 * (double)(ci) * (co) * (k) * (k) * (p))
    int top = ch[n_ch - 1];
    fl += CONV(c_lat, top, 3, px);                        /* conv_in */
    fl += 2 * 2 * CONV(top, top, 3, px);                  /* mid resnets ×2 */
    fl += 2.0 * px * 4 * top * top + 4.0 * px * px * top; /* mid attention */
    int prev = top;
    for (int b = n_ch - 1; b >= 0; b--) {
        int out = ch[b];
        for (int r = 0; r <= lpb; r++) {
            int in = r == 0 ? prev : out;
            fl += CONV(in, out, 3, px) + CONV(out, out, 3, px);
            if (in != out) fl += CONV(in, out, 1, px);
        }
        prev = out;
        if (b > 0) {
            px *= 4;
            fl += CONV(out, out, 3, px); /* upsampler conv at the doubled size */
        }
    }
    fl += CONV(ch[0], 3, 3, px); /* conv_out */
#undef CONV
    return fl;
}

/* FLOPs of the AutoencoderKL encoder for an H×W picture (px = H·W): conv_in at full size,
 * down blocks of layers_per_block ResNets each followed (but the last) by the stride-2 conv
 * that outputs a quarter of the pixels, the mid block at the latent size, conv_out to 2·C_lat. */
static double vae_enc_flops(const int *ch, int n_ch, int lpb, int c_lat, double px)
{
#define CONV(ci, co, k, p) (2.0 * (double)(ci) * (co) * (k) * (k) * (p))
    double fl = CONV(3, ch[0], 3, px); /* conv_in */
    int prev = ch[0];
    for (int b = 0; b < n_ch; b++) {
        int out = ch[b];
        for (int r = 0; r < lpb; r++) {
            int in = r == 0 ? prev : out;
            fl += CONV(in, out, 3, px) + CONV(out, out, 3, px);
            if (in != out) fl += CONV(in, out, 1, px);
        }
        prev = out;
        if (b < n_ch - 1) {
            px /= 4;
            fl += CONV(out, out, 3, px); /* downsampler: output pixels */
        }
    }
    int top = ch[n_ch - 1];
    fl += 2 * 2 * CONV(top, top, 3, px);                  /* mid resnets ×2 */
    fl += 2.0 * px * 4 * top * top + 4.0 * px * px * top; /* mid attention */
    fl += CONV(top, 2 * c_lat, 3, px);                    /* conv_out */
#undef CONV
    return fl;
}

/* The encoder on a random picture in [-1, 1], best of `repeat`. */
static void bench_vae_encode(const VaeModel *m, const int *ch, int n_ch, int lpb, int c_lat, int S,
                             int repeat)
{
    int h = S / vae_upscale(m);
    GError *err = NULL;
    mem_phase_reset();
    float *x = g_new(float, (size_t)3 * S * S), *mean = g_new(float, (size_t)c_lat *h *h);
    float *lv = g_new(float, (size_t)c_lat *h *h);
    fill(x, (size_t)3 * S * S, 6);
    double best = 1e30;
    for (int r = 0; r < repeat; r++) {
        double t0 = now();
        if (!vae_encode(m, x, S, S, mean, lv, NULL, &err)) {
            fprintf(stderr, "vae encoder: %s\n", err->message);
            g_clear_error(&err);
            break;
        }
        best = MIN(best, now() - t0);
    }
    g_autofree char *what = g_strdup_printf("VAE encode %d²", S);
    /* matching shape: a 3×3 convolution of the 256-channel stage as im2col GEMM */
    report(what, best, vae_enc_flops(ch, n_ch, lpb, c_lat, (double)S * S),
           sgemm_gflops(ch[1], ch[1] * 9, 4096, 2));
    mem_phase_print("VAE encode");
    g_free(x), g_free(mean), g_free(lv);
}

/* The decoder on random latents for an S×S picture, best of `repeat`. */
static void bench_vae_decode(const VaeModel *m, const int *ch, int n_ch, int lpb, int c_lat, int S,
                             int repeat)
{
    GError *err = NULL;
    int h = S / vae_upscale(m);
    mem_phase_reset();
    float *z = g_new(float, (size_t)c_lat *h *h), *dec = g_new(float, (size_t)3 * S * S);
    fill(z, (size_t)c_lat * h * h, 5);
    double best = 1e30;
    for (int r = 0; r < repeat; r++) {
        double t0 = now();
        if (!vae_decode(m, z, h, h, dec, NULL, &err)) {
            fprintf(stderr, "vae: %s\n", err->message);
            g_clear_error(&err);
            break;
        }
        best = MIN(best, now() - t0);
    }
    g_autofree char *what = g_strdup_printf("VAE decode %d²", S);
    /* matching shape: a 3×3 convolution of the 256-channel stage as im2col GEMM */
    report(what, best, vae_flops(ch, n_ch, lpb, c_lat, h, h),
           sgemm_gflops(ch[1], ch[1] * 9, 4096, 2));
    mem_phase_print("VAE decode");
    g_free(z), g_free(dec);
}

/* The VAE of a model folder, as flux_model_load_files reads it. */
static VaeModel *vae_from_dir(const char *vdir, GError **err)
{
    CfgJson *c;
    StArchive *a;
    VaeModel *m = model_folder_part(vdir, "diffusion_pytorch_model", &c, &a, err)
                      ? vae_load(c, a, err)
                      : NULL;
    cfg_free(c);
    return m;
}

/* Decodes (unless `decode` is FALSE) then encodes a picture of each size. */
static void bench_vae(const char *dir, const int *sizes, int n_sizes, int repeat, gboolean decode)
{
    GError *err = NULL;
    g_autofree char *vdir = g_build_filename(dir, "vae", NULL);
    JsonParser *p;
    JsonObject *o = read_config(dir, "vae", &p);
    if (!o) {
        g_object_unref(p);
        return;
    }
    JsonArray *a = json_object_get_array_member(o, "block_out_channels");
    int ch[8], n_ch = MIN((int)json_array_get_length(a), 8);
    for (int i = 0; i < n_ch; i++) ch[i] = (int)json_array_get_int_element(a, i);
    int lpb = (int)json_object_get_int_member(o, "layers_per_block");
    int c_lat = (int)json_object_get_int_member(o, "latent_channels");
    g_object_unref(p);
    VaeModel *m = vae_from_dir(vdir, &err);
    if (!m) {
        fprintf(stderr, "vae: %s\n", err->message);
        g_clear_error(&err);
        return;
    }
    for (int si = 0; si < n_sizes; si++) {
        if (decode) bench_vae_decode(m, ch, n_ch, lpb, c_lat, sizes[si], repeat);
        if (vae_has_encoder(m)) bench_vae_encode(m, ch, n_ch, lpb, c_lat, sizes[si], repeat);
    }
    vae_free(m);
}

/* ------------------------------------------------------------------------------------- */
/* Live previews (issue 16): their cost against a FLUX.1 step                            */

/* Best seconds of one flux_preview_render of random packed latents (picture S², latent
 * S/8), rendered at ow × oh. */
static double time_preview(FluxModel *m, FluxPreviewQuality q, int S, int ow, int oh, int reps)
{
    int h = S / 8;
    size_t n = (size_t)h * h * 16;
    float *lat = g_new(float, n);
    guint8 *rgb = g_malloc((size_t)ow * oh * 3);
    fill(lat, n, 7);
    double best = 1e30;
    GError *err = NULL;
    for (int r = 0; r <= reps; r++) { /* the first is a warm-up */
        double t0 = now();
        if (!flux_preview_render(m, q, lat, h, h, ow, oh, rgb, &err)) {
            fprintf(stderr, "preview: %s\n", err->message);
            g_clear_error(&err);
            break;
        }
        if (r > 0) best = MIN(best, now() - t0);
    }
    g_free(lat), g_free(rgb);
    return best;
}

/* The projection at the picture's size and at the GIMP window's 320 px, the VAE preview at
 * flux_preview_plan's size (when `dir` has a vae/), against one step of the full FLUX.1-dev
 * transformer: measured by bench_dit in a full-depth model folder is not available here, so
 * the step is estimated as flux_estimate_flops at this run's sgemm rate for the step's
 * shape (the transformer runs at 67–85% of it: docs/PERFORMANCE.md), i.e. a lower bound on
 * the step's time and an upper bound on the previews' share. */
static void bench_preview(const char *dir, const int *sizes, int n_sizes, int repeat)
{
    const FluxModelInfo dev = {.uses_guidance = TRUE,
                               .inner_dim = 3072,
                               .num_heads = 24,
                               .num_layers = 19,
                               .num_single_layers = 38,
                               .t5_d_model = 4096,
                               .vae_channels = 256};
    GError *err = NULL;
    g_autofree char *vdir = dir ? g_build_filename(dir, "vae", NULL) : NULL;
    VaeModel *vae = vdir ? vae_from_dir(vdir, &err) : NULL;
    if (dir && !vae) {
        fprintf(stderr, "vae: %s (VAE previews skipped)\n", err->message);
        g_clear_error(&err);
    }
    FluxModel fake = {.vae = vae}; /* flux_preview_render needs only the VAE */
    for (int si = 0; si < n_sizes; si++) {
        int S = sizes[si], T = (S / 16) * (S / 16) + T_TXT;
        double step_fl =
            flux_estimate_flops(&dev, S, S, T_TXT, 1) - flux_estimate_flops(&dev, S, S, T_TXT, 0);
        double rate = sgemm_gflops(T, 3072, 12288, 2) * 1e9;
        double step = step_fl / rate;
        printf(
            "FLUX.1-dev step %d² (T=%d): %.0f GFLOP, ≥ %.1f s at this run's sgemm %.1f GFLOP/s\n",
            S, T, step_fl / 1e9, step, rate / 1e9);
        int pw = 320 * S / S; /* square: 320 × 320 */
        double proj = time_preview(NULL, FLUX_PREVIEW_PROJECTION, S, S, S, MAX(repeat, 5));
        double proj_w = time_preview(NULL, FLUX_PREVIEW_PROJECTION, S, pw, pw, MAX(repeat, 5));
        printf("  projection preview at %d²: %8.3f ms = %.4f%% of a step; at %d² (the GIMP "
               "window): %.3f ms = %.4f%%\n",
               S, proj * 1e3, 100 * proj / step, pw, proj_w * 1e3, 100 * proj_w / step);
        if (!vae) continue;
        FluxPreviewPlan plan;
        flux_preview_plan(&dev, FLUX_PREVIEW_VAE, S, S, 28, T_TXT, &plan);
        double v = time_preview(&fake, FLUX_PREVIEW_VAE, S, plan.decode_width, plan.decode_height,
                                1); /* tens of seconds each: one after the warm-up */
        int every = MAX(1, (int)ceil(v / (0.1 * step)));
        printf("  VAE preview at %d×%d: %.2f s = %.1f%% of a step; the plan (FLOPs) says every "
               "%d step(s), %.1f%% of a 28-step run; by this run's times every %d step(s)\n",
               plan.decode_width, plan.decode_height, v, 100 * v / step, plan.every,
               100 * plan.share, every);
        fflush(stdout);
    }
    vae_free(vae);
}

/* ------------------------------------------------------------------------------------- */
/* Main                                                                                  */

static int parse_sizes(const char *s, int *out, int max)
{
    g_auto(GStrv) parts = g_strsplit(s, ",", -1);
    int n = 0;
    for (int i = 0; parts[i] && n < max; i++)
        if (atoi(parts[i]) > 0) out[n++] = atoi(parts[i]);
    return n;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr,
                "usage: %s MODEL_DIR [--sizes 256,512,1024] [--vae-sizes 512,1024] "
                "[--skip dit,t5,clip,vae] [--repeat N] [--transformer FILE]\n"
                "       %s --qdot-table 1,8,64,256,1024 [KERNEL PATH]\n"
                "       %s --bf16-table 64,512,1536\n"
                "       %s --int8-table 1280,4608 [Q8_0,Q4_0,Q4_K] [amx-int8,avx512-vnni]\n"
                "       %s --peak\n"
                "       %s --preview-table 512,1024 [DIR_WITH_VAE]\n",
                argv[0], argv[0], argv[0], argv[0], argv[0], argv[0]);
        return 2;
    }
    if (!strcmp(argv[1], "--qdot-table") && argc > 2) {
        int Ms[16], n_M = parse_sizes(argv[2], Ms, 16);
        for (int p = QDOT_PORTABLE; argc > 3 && p < QDOT_OFF; p++)
            if (!strcmp(argv[3], quant_dot_path_name(p)) && !quant_dot_set_path(p)) {
                fprintf(stderr, "path %s does not run on this CPU\n", argv[3]);
                return 1;
            }
        bench_qdot(Ms, n_M);
        return 0;
    }
    if (!strcmp(argv[1], "--peak")) {
        print_cpu(TRUE);
        /* every instruction and the memory per CPU-second too: the yardsticks of a shared
         * machine (docs/PERFORMANCE.md, "What limits the step") */
        for (int k = 0; k < PEAK_N; k++) {
            double c = peak_per_cpu_second((PeakKind)k);
            if (c > 0)
                printf("peak %-24s %9.1f G%s per CPU-second\n", peak_name((PeakKind)k), c,
                       peak_is_int((PeakKind)k) ? "OP" : "FLOP");
        }
        double cp, tr, cpc, trc;
        peak_bandwidth(FALSE, &cp, &tr);
        peak_bandwidth(TRUE, &cpc, &trc);
        printf("memory bandwidth (STREAM, 64 MiB arrays, all op threads): copy %.1f GB/s, triad "
               "%.1f GB/s; per CPU-second: copy %.1f GB, triad %.1f GB\n",
               cp, tr, cpc, trc);
        return 0;
    }
    if (!strcmp(argv[1], "--preview-table") && argc > 2) {
        int Ss[8], n_S = parse_sizes(argv[2], Ss, 8);
        bench_preview(argc > 3 ? argv[3] : NULL, Ss, n_S, 3);
        return 0;
    }
    if (!strcmp(argv[1], "--int8-table") && argc > 2) {
        int Ms[16], n_M = parse_sizes(argv[2], Ms, 16);
        bench_int8_table(Ms, n_M, argc > 3 ? argv[3] : NULL, argc > 4 ? argv[4] : NULL);
        return 0;
    }
    if (!strcmp(argv[1], "--bf16-table") && argc > 2) {
        int Ms[16], n_M = parse_sizes(argv[2], Ms, 16);
        print_cpu(TRUE);
        bench_bf16(Ms, n_M);
        return 0;
    }
    const char *dir = g_getenv("FLUX_BENCH_MODEL") ? g_getenv("FLUX_BENCH_MODEL") : argv[1];
    int sizes[8] = {256, 512, 1024}, n_sizes = 3, vsizes[8] = {512, 1024}, n_vsizes = 2;
    const char *skip = "", *transformer = NULL;
    int repeat = 1;
    for (int i = 2; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--sizes"))
            n_sizes = parse_sizes(argv[i + 1], sizes, 8);
        else if (!strcmp(argv[i], "--vae-sizes"))
            n_vsizes = parse_sizes(argv[i + 1], vsizes, 8);
        else if (!strcmp(argv[i], "--skip"))
            skip = argv[i + 1];
        else if (!strcmp(argv[i], "--repeat"))
            repeat = MAX(1, atoi(argv[i + 1]));
        else if (!strcmp(argv[i], "--transformer"))
            transformer = argv[i + 1];
    }
    g_mutex_init(&mem.lock);
    mem.thread = g_thread_new("mem", sampler, NULL);
    const char *ct = g_getenv("OPENBLAS_CORETYPE");
    printf("OpenBLAS %s, core %s, %d BLAS threads, %d op threads (OPENBLAS_CORETYPE=%s)\n",
           openblas_get_config(), openblas_get_corename(), openblas_get_num_threads(),
           pool_n_threads(), ct ? ct : "unset");
    print_cpu(TRUE);
    FluxModelInfo info;
    GError *err = NULL;
    if (flux_model_probe(dir, &info, &err)) {
        for (int i = 0; i < n_sizes; i++)
            printf("flux_estimate_memory(%d², 512) = %.1f MiB\n", sizes[i],
                   flux_estimate_memory(&info, sizes[i], sizes[i], T_TXT) / 1048576.0);
    } else {
        printf("flux_model_probe: %s\n", err->message);
        g_clear_error(&err);
    }
    if (!strstr(skip, "clip")) bench_clip(dir, MAX(repeat, 3));
    if (!strstr(skip, "t5")) bench_t5(dir, repeat);
    if (!strstr(skip, "dit")) bench_dit(dir, transformer, sizes, n_sizes, repeat);
    if (!strstr(skip, "vae")) bench_vae(dir, vsizes, n_vsizes, repeat, !strstr(skip, "decoder"));
    g_mutex_lock(&mem.lock);
    mem.stop = TRUE;
    g_mutex_unlock(&mem.lock);
    g_thread_join(mem.thread);
    guint64 a, f, h;
    read_status(&a, &f, &h);
    printf("peak RSS (VmHWM) %.1f MiB, peak anonymous %.1f MiB (sampled every 5 ms)\n", h / 1024.0,
           mem.anon_all / 1024.0);
    return 0;
}
