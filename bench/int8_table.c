/* int8_table.c — see int8_table.h. Each GEMM is timed once after a warm-up run (wall and the
 * process's CPU seconds: on a shared machine the CPU time is what the kernel costs), its
 * integer operations (2·M·K·N) divided by both. The peaks are measured before and after the
 * table, by wall time and per CPU-second (peak.h), so a loaded machine shows in them too. */
#include "int8_table.h"

#include "cpu_features.h"
#include "gemm_bf16.h"
#include "gemm_int8.h"
#include "peak.h"
#include "pool.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

static double wall_now(void)
{
    return g_get_monotonic_time() / 1e6;
}

static double cpu_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + t.tv_nsec * 1e-9;
}

/* Random blocks of type dt for an [N, K] weight, the float fields set to 2^-7 (the kernels'
 * speed does not depend on the values). */
static guint8 *random_weight(StDtype dt, int N, int K, StTensor *w)
{
    int blk;
    size_t bytes;
    st_dtype_block(dt, &blk, &bytes);
    const size_t n = (size_t)N * K / blk * bytes;
    guint8 *data = g_malloc(n);
    GRand *r = g_rand_new_with_seed(3);
    for (size_t i = 0; i < n; i += 4) {
        guint32 v = g_rand_int(r);
        memcpy(data + i, &v, MIN(4, n - i));
    }
    g_rand_free(r);
    const size_t half_at = dt == ST_Q6_K ? 208 : 0; /* d (and dmin after it, K-quants) */
    for (size_t b = 0; b < n; b += bytes) {
        data[b + half_at] = 0, data[b + half_at + 1] = 0x20;
        if (dt == ST_Q4_1 || dt == ST_Q5_1 || dt == ST_Q4_K || dt == ST_Q5_K)
            data[b + 2] = 0, data[b + 3] = 0x20;
    }
    *w = (StTensor){.name = "w",
                    .dtype = dt,
                    .ndim = 2,
                    .shape = {N, K},
                    .numel = (int64_t)N * K,
                    .data = data,
                    .nbytes = n};
    return data;
}

static gboolean listed(const char *list, const char *name)
{
    g_auto(GStrv) parts = g_strsplit(list, ",", -1);
    for (int i = 0; parts[i]; i++)
        if (!g_ascii_strcasecmp(parts[i], name)) return TRUE;
    return FALSE;
}

typedef struct {
    double wall, cpu;
} Timing;

/* One warm-up and one timed run of gemm_int8_linear (bf16: gemm_bf16_linear). */
static Timing time_once(gboolean bf16, float *y, const float *x, const StTensor *w, int M, int K,
                        int N)
{
    Timing t = {0, 0};
    for (int r = 0; r < 2; r++) {
        const double w0 = wall_now(), c0 = cpu_now();
        if (bf16)
            gemm_bf16_linear(y, x, w, M, K, N);
        else
            gemm_int8_linear(y, x, w, M, K, N);
        t = (Timing){wall_now() - w0, cpu_now() - c0};
    }
    return t;
}

static void print_peaks(void)
{
    for (int k = 0; k < PEAK_N; k++) {
        const double g = peak_gflops((PeakKind)k), c = peak_per_cpu_second((PeakKind)k);
        if (g > 0)
            printf("peak %-24s %9.1f G%s/s (all op threads, wall), %9.1f per CPU-second\n",
                   peak_name((PeakKind)k), g, peak_is_int((PeakKind)k) ? "OP" : "FLOP", c);
    }
    fflush(stdout);
}

void bench_int8_table(const int *Ms, int n_M, const char *types, const char *paths)
{
    static const int shapes[][2] = {{3072, 3072}, {3072, 12288}, {12288, 3072}, {15360, 3072}};
    static const StDtype all_types[] = {ST_Q8_0, ST_Q4_0, ST_Q4_1, ST_Q5_0,
                                        ST_Q5_1, ST_Q4_K, ST_Q5_K, ST_Q6_K};
    static const GemmInt8Path all_paths[] = {GEMM_INT8_AMX, GEMM_INT8_VNNI, GEMM_INT8_AVX_VNNI,
                                             GEMM_INT8_AVX2};
    g_autofree char *cpu = cpu_features_describe();
    printf("CPU: %s; %d op threads\n", cpu, pool_n_threads());
    print_peaks();
    printf("y[M,N] = x[M,K]·wᵀ: seconds wall / CPU (GOP/s by wall, GOP per CPU-second); "
           "gemm_bf16 = the bf16 GEMM (%s) on the same weights\n",
           gemm_bf16_path_name(gemm_bf16_path()));
    printf("%-5s %5s %6s %6s %-12s %9s %9s %9s %9s\n", "type", "M", "K", "N", "path", "wall s",
           "CPU s", "GOP/s", "GOP/CPU-s");
    for (gsize t = 0; t < G_N_ELEMENTS(all_types); t++) {
        const StDtype dt = all_types[t];
        if (!listed(types ? types : "Q8_0,Q4_0,Q4_K", st_dtype_name(dt))) continue;
        for (gsize s = 0; s < G_N_ELEMENTS(shapes); s++) {
            const int K = shapes[s][0], N = shapes[s][1];
            StTensor w;
            guint8 *data = random_weight(dt, N, K, &w);
            for (int mi = 0; mi < n_M; mi++) {
                const int M = Ms[mi];
                const double ops = 2.0 * M * K * N;
                float *x = g_new(float, (size_t)M *K), *y = g_new(float, (size_t)M *N);
                GRand *r = g_rand_new_with_seed(7);
                for (size_t i = 0; i < (size_t)M * K; i++)
                    x[i] = (float)g_rand_double_range(r, -1, 1);
                g_rand_free(r);
                for (int p = -1; p < (int)G_N_ELEMENTS(all_paths); p++) {
                    const gboolean bf16 = p < 0;
                    const char *name = bf16 ? "gemm_bf16" : gemm_int8_path_name(all_paths[p]);
                    if (!bf16 &&
                        (!gemm_int8_set_path(all_paths[p]) || (paths && !listed(paths, name))))
                        continue;
                    if (bf16 && paths && !listed(paths, name)) continue;
                    const Timing tm = time_once(bf16, y, x, &w, M, K, N);
                    printf("%-5s %5d %6d %6d %-12s %9.3f %9.3f %9.1f %9.1f\n", st_dtype_name(dt), M,
                           K, N, name, tm.wall, tm.cpu, ops / tm.wall / 1e9, ops / tm.cpu / 1e9);
                    fflush(stdout);
                }
                gemm_int8_set_path(GEMM_INT8_AUTO);
                g_free(x), g_free(y);
            }
            g_free(data);
        }
    }
    print_peaks();
}
