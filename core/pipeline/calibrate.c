/* calibrate.c — a quick measure of this computer's arithmetic rate (flux.h:
 * flux_measure_gflops), for a first time estimate before any run has been timed. A dialog
 * that assumed a fixed 100 GFLOP/s promised "about 11 min" for a run of 2 h 11 min on a
 * 2-core machine; a measured rate is wrong by the share of non-matmul work, not by 12×. */
#include "flux.h"
#include "ops.h"
#include "safetensors.h"

/* One transformer linear of FLUX.1 (D = 3072) on 512 tokens, BF16 weights as the released
 * checkpoints have them: y [512, 3072] = x [512, 3072] · w [3072, 3072]ᵀ, 9.7 GFLOP. */
enum { CAL_M = 512, CAL_K = 3072, CAL_N = 3072 };

double flux_measure_gflops(void)
{
    guint16 *w = g_try_new(guint16, (gsize)CAL_N * CAL_K);
    float *x = g_try_new(float, (gsize)CAL_M *CAL_K);
    float *y = g_try_new(float, (gsize)CAL_M *CAL_N);
    double rate = 0.0;
    if (w && x && y) {
        for (gsize i = 0; i < (gsize)CAL_N * CAL_K; i++) w[i] = 0x3c00 + (guint16)(i % 64);
        for (gsize i = 0; i < (gsize)CAL_M * CAL_K; i++) x[i] = (float)(i % 17) * 0.01f;
        StTensor t = {.name = "calibration",
                      .dtype = ST_BF16,
                      .ndim = 2,
                      .shape = {CAL_N, CAL_K},
                      .numel = (int64_t)CAL_N * CAL_K,
                      .data = w,
                      .nbytes = (size_t)CAL_N * CAL_K * 2,
                      .file = "calibration"};
        ops_linear(y, x, &t, NULL, CAL_M, CAL_K, CAL_N); /* warm-up: threads, caches */
        gint64 t0 = g_get_monotonic_time(), dt = 0;
        int runs = 0;
        while (runs < 16 && (runs < 2 || dt < 250000)) { /* at least 2 runs, ~0.25 s */
            ops_linear(y, x, &t, NULL, CAL_M, CAL_K, CAL_N);
            runs++;
            dt = g_get_monotonic_time() - t0;
        }
        rate = 2.0 * CAL_M * CAL_K * CAL_N * runs / ((double)MAX(dt, 1) * 1e3);
    }
    g_free(w), g_free(x), g_free(y);
    return rate;
}
