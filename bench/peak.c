/* peak.c — see peak.h. Chains of 12 independent accumulators (enough to cover the latency of
 * 4-5 cycles on two ports); AMX: four accumulator tiles fed by two A and two B tiles.
 *
 * vdpbf16ps zmm gives half vfmadd231ps's flops on this Sapphire Rapids class CPU: checked in
 * session 5 with hand-written asm loops of 1-24 independent accumulators against a dependent
 * imul chain for the clock (docs/PERFORMANCE.md, "What limits the step"): one vdpbf16ps per
 * ~2.1 cycles from 4 accumulators on (latency ~8 cycles), the FMA two per cycle; the loop
 * below (12 accumulators, 64 flop per instruction) measures that rate, not a defect. */
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

/* AVX-VNNI's VEX vpdpbusd on ymm (Alder Lake and later without AVX-512). */
__attribute__((target("avx2,avxvnni"))) static void run_vnni_ymm(void)
{
    __m256i a[12], x = _mm256_set1_epi8(1), y = _mm256_set1_epi8(2);
    for (int i = 0; i < 12; i++) a[i] = _mm256_set1_epi32(i);
    for (int it = 0; it < ITERS; it++)
#pragma GCC unroll 12
        for (int i = 0; i < 12; i++) a[i] = _mm256_dpbusd_avx_epi32(a[i], x, y);
    for (int i = 1; i < 12; i++) a[0] = _mm256_add_epi32(a[0], a[i]);
    sink = (float)_mm256_extract_epi32(a[0], 0);
}

/* AVX2 without VNNI: 32 byte products into int32 take vpmaddubsw (u8·s8 pairs to int16),
 * vpmaddwd by ones (pairs to int32) and vpaddd, as gemm_int8's AVX2 path does; 4 chains with
 * their own y (so the compiler cannot share the products), x made opaque every iteration (so
 * they are not hoisted). 3 vector ALU uops per 32 products: ~1 chain step per cycle. */
__attribute__((target("avx2"))) static void run_avx2_i8(void)
{
    __m256i a[4], y[4], x = _mm256_set1_epi8(1);
    const __m256i ones = _mm256_set1_epi16(1);
    for (int i = 0; i < 4; i++) a[i] = _mm256_set1_epi32(i), y[i] = _mm256_set1_epi8((char)(i + 1));
    for (int it = 0; it < ITERS * 3; it++) {
        __asm__("" : "+x"(x));
#pragma GCC unroll 4
        for (int i = 0; i < 4; i++)
            a[i] = _mm256_add_epi32(a[i], _mm256_madd_epi16(_mm256_maddubs_epi16(x, y[i]), ones));
    }
    for (int i = 1; i < 4; i++) a[0] = _mm256_add_epi32(a[0], a[i]);
    sink = (float)_mm256_extract_epi32(a[0], 0);
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
        case PEAK_VNNI_YMM:
            run_vnni_ymm();
            break;
        case PEAK_AVX2_INT8:
            run_avx2_i8();
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
    static const char *names[PEAK_N] = {"vfmadd231ps zmm (f32)",  "vdpbf16ps zmm",
                                        "tdpbf16ps (AMX-BF16)",   "vpdpbusd zmm (int8)",
                                        "tdpbssd (AMX-INT8)",     "vpdpbusd ymm (AVX-VNNI)",
                                        "vpmaddubsw+vpmaddwd ymm"};
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
    case PEAK_VNNI_YMM:
        return cpu_has(CPU_AVX_VNNI);
    case PEAK_AVX2_INT8:
        return cpu_has(CPU_AVX2);
    default:
        return FALSE;
    }
}

/* Best of 3 runs on every op thread: by wall time (cpu FALSE) or by the process's CPU time
 * (cpu TRUE: per CPU-second, what a thread gets when it runs; on a shared machine the wall
 * figure also counts the time other processes held the cores). */
static double peak_measure(PeakKind k, gboolean cpu)
{
    static const double per_iter[PEAK_N] = {12.0 * 32,   12.0 * 64,        4.0 * 16384 / 16,
                                            12.0 * 128,  4.0 * 32768 / 16, 12.0 * 64,
                                            3 * 4.0 * 64};
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

gboolean peak_is_int(PeakKind k)
{
    return k == PEAK_VNNI_ZMM || k == PEAK_AMX_INT8 || k == PEAK_VNNI_YMM || k == PEAK_AVX2_INT8;
}

/* ------------------------------------------------------------------------------------- */
/* Memory bandwidth (STREAM copy and triad)                                               */

#define BW_N ((size_t)16 << 20) /* floats per array: 64 MiB */

typedef struct {
    float *a, *b, *c;
    gboolean triad;
} BwJob;

static void bw_worker(void *ctx, size_t begin, size_t end)
{
    const BwJob *j = ctx;
    const size_t n = end - begin;
    float *restrict a = j->a + begin, *restrict b = j->b + begin;
    const float *restrict c = j->c + begin;
    if (j->triad)
        for (size_t i = 0; i < n; i++) a[i] = b[i] + 3.0f * c[i];
    else
        for (size_t i = 0; i < n; i++) b[i] = a[i];
}

/* Best of 5 per kernel; the arrays touched once before (page faults are not bandwidth). */
void peak_bandwidth(gboolean cpu, double *copy_gbs, double *triad_gbs)
{
    BwJob j = {g_new(float, BW_N), g_new(float, BW_N), g_new(float, BW_N), FALSE};
    for (size_t i = 0; i < BW_N; i++) j.a[i] = 1.0f, j.b[i] = 2.0f, j.c[i] = 0.5f;
    for (int t = 0; t < 2; t++) {
        j.triad = t == 1;
        double best = 0.0;
        for (int rep = 0; rep < 5; rep++) {
            struct timespec c0, c1;
            clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c0);
            gint64 t0 = g_get_monotonic_time();
            pool_parallel_for(BW_N, bw_worker, &j);
            double s = (g_get_monotonic_time() - t0) / 1e6;
            clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c1);
            if (cpu) s = (double)(c1.tv_sec - c0.tv_sec) + (c1.tv_nsec - c0.tv_nsec) * 1e-9;
            best = MAX(best, (t ? 12.0 : 8.0) * BW_N / s / 1e9);
        }
        *(t ? triad_gbs : copy_gbs) = best;
    }
    sink = j.a[7] + j.b[11];
    g_free(j.a), g_free(j.b), g_free(j.c);
}
