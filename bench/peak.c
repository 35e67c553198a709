/* peak.c — see peak.h. Chains of 12 independent accumulators (enough to cover the latency of
 * 4-5 cycles on two ports); AMX: four accumulator tiles fed by two A and two B tiles. */
#include "peak.h"

#include "cpu_features.h"
#include "pool.h"

#include <glib.h>
#include <string.h>
#include <time.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define PK_X86 1
#endif

#define ITERS 2000000 /* per thread: ~10-50 ms */

static volatile float sink;

#ifdef PK_X86
__attribute__((target("avx512f"))) static void run_fma(void)
{
    __m512 a[12], x = _mm512_set1_ps(1.0000001f), y = _mm512_set1_ps(0.9999999f);
    for (int i = 0; i < 12; i++) a[i] = _mm512_set1_ps((float)i);
    for (int it = 0; it < ITERS; it++)
#pragma GCC unroll 12
        for (int i = 0; i < 12; i++) a[i] = _mm512_fmadd_ps(a[i], x, y);
    for (int i = 1; i < 12; i++) a[0] = _mm512_add_ps(a[0], a[i]);
    sink = _mm512_reduce_add_ps(a[0]);
}

__attribute__((target("avx512f,avx512bf16"))) static void run_dpbf16(void)
{
    __m512 a[12];
    __m512bh x = (__m512bh)_mm512_set1_epi16(0x3f80), y = (__m512bh)_mm512_set1_epi16(0x3c00);
    for (int i = 0; i < 12; i++) a[i] = _mm512_set1_ps((float)i);
    for (int it = 0; it < ITERS; it++)
#pragma GCC unroll 12
        for (int i = 0; i < 12; i++) a[i] = _mm512_dpbf16_ps(a[i], x, y);
    for (int i = 1; i < 12; i++) a[0] = _mm512_add_ps(a[0], a[i]);
    sink = _mm512_reduce_add_ps(a[0]);
}

__attribute__((target("avx512f,avx512vnni"))) static void run_vnni(void)
{
    __m512i a[12], x = _mm512_set1_epi8(1), y = _mm512_set1_epi8(2);
    for (int i = 0; i < 12; i++) a[i] = _mm512_set1_epi32(i);
    for (int it = 0; it < ITERS; it++)
#pragma GCC unroll 12
        for (int i = 0; i < 12; i++) a[i] = _mm512_dpbusd_epi32(a[i], x, y);
    for (int i = 1; i < 12; i++) a[0] = _mm512_add_epi32(a[0], a[i]);
    sink = (float)_mm512_reduce_add_epi32(a[0]);
}

typedef struct {
    guint8 palette, start_row, reserved[14];
    guint16 colsb[16];
    guint8 rows[16];
} PeakTileConfig;

static const PeakTileConfig tcfg = {
    .palette = 1,
    .colsb = {64, 64, 64, 64, 64, 64, 64, 64},
    .rows = {16, 16, 16, 16, 16, 16, 16, 16},
};

/* Tiles 0-3 zeroed accumulators, 4-7 operands (zeros: the units do not skip them). */
__attribute__((target("amx-tile"))) static void tiles_begin(void)
{
    static const guint8 zeros[1024] = {0};
    _tile_loadconfig(&tcfg);
    _tile_zero(0);
    _tile_zero(1);
    _tile_zero(2);
    _tile_zero(3);
    _tile_loadd(4, zeros, 64);
    _tile_loadd(5, zeros, 64);
    _tile_loadd(6, zeros, 64);
    _tile_loadd(7, zeros, 64);
}

__attribute__((target("amx-tile"))) static void tiles_end(void)
{
    float out[256];
    _tile_stored(0, out, 64);
    _tile_release();
    sink = out[0];
}

__attribute__((target("amx-tile,amx-bf16"))) static void run_amx_bf16(void)
{
    tiles_begin();
    for (int it = 0; it < ITERS / 16; it++) {
        _tile_dpbf16ps(0, 4, 6);
        _tile_dpbf16ps(1, 4, 7);
        _tile_dpbf16ps(2, 5, 6);
        _tile_dpbf16ps(3, 5, 7);
    }
    tiles_end();
}

__attribute__((target("amx-tile,amx-int8"))) static void run_amx_int8(void)
{
    tiles_begin();
    for (int it = 0; it < ITERS / 16; it++) {
        _tile_dpbssd(0, 4, 6);
        _tile_dpbssd(1, 4, 7);
        _tile_dpbssd(2, 5, 6);
        _tile_dpbssd(3, 5, 7);
    }
    tiles_end();
}
#endif

typedef struct {
    PeakKind k;
} PeakJob;

static void peak_worker(void *ctx, size_t begin, size_t end)
{
    const PeakJob *j = ctx;
    for (size_t i = begin; i < end; i++) {
#ifdef PK_X86
        switch (j->k) {
        case PEAK_FMA_F32:
            run_fma();
            break;
        case PEAK_DPBF16_ZMM:
            run_dpbf16();
            break;
        case PEAK_VNNI_ZMM:
            run_vnni();
            break;
        case PEAK_AMX_BF16:
            run_amx_bf16();
            break;
        case PEAK_AMX_INT8:
            run_amx_int8();
            break;
        default:
            break;
        }
#else
        (void)j;
#endif
    }
}

const char *peak_name(PeakKind k)
{
    static const char *names[PEAK_N] = {"vfmadd231ps zmm (f32)", "vdpbf16ps zmm",
                                        "tdpbf16ps (AMX-BF16)", "vpdpbusd zmm (int8)",
                                        "tdpbssd (AMX-INT8)"};
    return (unsigned)k < PEAK_N ? names[k] : "?";
}

static gboolean runs(PeakKind k)
{
    switch (k) {
    case PEAK_FMA_F32:
        return cpu_has(CPU_AVX512);
    case PEAK_DPBF16_ZMM:
        return cpu_has(CPU_AVX512_BF16);
    case PEAK_VNNI_ZMM:
        return cpu_has(CPU_AVX512_VNNI);
    case PEAK_AMX_BF16:
        return cpu_has(CPU_AMX_BF16);
    case PEAK_AMX_INT8:
        return cpu_has(CPU_AMX_INT8);
    default:
        return FALSE;
    }
}

/* Best of 3 runs on every op thread: by wall time (cpu FALSE) or by the process's CPU time
 * (cpu TRUE: per CPU-second, what a thread gets when it runs; on a shared machine the wall
 * figure also counts the time other processes held the cores). */
static double peak_measure(PeakKind k, gboolean cpu)
{
    static const double per_iter[PEAK_N] = {12.0 * 32, 12.0 * 64, 4.0 * 16384 / 16, 12.0 * 128,
                                            4.0 * 32768 / 16};
    if (!runs(k)) return -1.0;
    const int nt = pool_n_threads();
    PeakJob j = {k};
    double best = 0.0;
    for (int rep = 0; rep < 3; rep++) {
        struct timespec c0, c1;
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c0);
        gint64 t0 = g_get_monotonic_time();
        pool_parallel_for((size_t)nt, peak_worker, &j);
        double s = (g_get_monotonic_time() - t0) / 1e6;
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c1);
        if (cpu) s = (double)(c1.tv_sec - c0.tv_sec) + (c1.tv_nsec - c0.tv_nsec) * 1e-9;
        best = MAX(best, nt * per_iter[k] * ITERS / s / 1e9);
    }
    return best;
}

double peak_gflops(PeakKind k)
{
    return peak_measure(k, FALSE);
}

double peak_per_cpu_second(PeakKind k)
{
    return peak_measure(k, TRUE);
}
