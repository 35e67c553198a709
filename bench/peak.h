/* peak.h — the CPU's measured peak for the instructions the kernels use (issue 15): each
 * microbenchmark runs independent chains of one instruction on every op thread, operands in
 * registers (AMX: in tiles), so that the figure is what the execution units give, for the
 * "% of the native peak" ratios of flux-bench. */
#pragma once

#include <glib.h>

typedef enum {
    PEAK_FMA_F32,    /* vfmadd231ps zmm: 32 flop */
    PEAK_DPBF16_ZMM, /* vdpbf16ps zmm: 64 flop */
    PEAK_AMX_BF16,   /* tdpbf16ps 16×16×32: 16384 flop */
    PEAK_VNNI_ZMM,   /* vpdpbusd zmm: 128 int ops */
    PEAK_AMX_INT8,   /* tdpbssd 16×16×64: 32768 int ops */
    PEAK_VNNI_YMM,   /* vpdpbusd ymm (AVX-VNNI, VEX): 64 int ops */
    PEAK_AVX2_INT8,  /* vpmaddubsw + vpmaddwd + vpaddd ymm (32 byte products): 64 int ops */
    PEAK_N
} PeakKind;

/* Name of the instruction, and the GFLOP/s (GOP/s for the int8 ones) of all op threads
 * running it; a negative value when this CPU cannot. */
const char *peak_name(PeakKind k);
double peak_gflops(PeakKind k);
/* The same per CPU-second of the process (all op threads' CPU time): a shared machine's
 * other processes do not lower it. */
double peak_per_cpu_second(PeakKind k);
/* TRUE for the kinds counted in integer operations (GOP, not GFLOP). */
gboolean peak_is_int(PeakKind k);

/* Memory bandwidth of all op threads, STREAM's way (arrays of 64 MiB each, far above the
 * caches): copy b = a counts 8 bytes per element, triad a = b + s·c 12 (reads + writes, the
 * write-allocate read not counted). GB/s by wall time (cpu FALSE) or per CPU-second. */
void peak_bandwidth(gboolean cpu, double *copy_gbs, double *triad_gbs);
