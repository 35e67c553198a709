/* cpu_features.h — which instructions this CPU and operating system let us run.
 *
 * One selector for every kernel that has several instruction-set paths (gemm_bf16.c,
 * quant_dot.c, ...): each asks cpu_has() at run time and keeps a portable fallback, so one
 * binary runs on any x86-64 (or other) CPU and uses what it finds. The answer combines the
 * CPU's cpuid bits with the operating system's consent (XCR0 for the AVX/AVX-512 register
 * state; for AMX, Linux's per-process permission, requested here once with arch_prctl).
 *
 * FLUX_CPU_DISABLE (environment, read once): a comma-separated list of feature names
 * (cpu_feature_name) to treat as absent, e.g. "amx-bf16,avx512-bf16", to run and time the
 * paths below the best one. */
#pragma once

#include <glib.h>

typedef enum {
    CPU_AVX2,        /* AVX2 + FMA + F16C */
    CPU_AVX512,      /* AVX-512 F + BW + VL + DQ */
    CPU_AVX512_VNNI, /* vpdpbusd on 512/256-bit vectors (with CPU_AVX512) */
    CPU_AVX512_BF16, /* vdpbf16ps, vcvtne2ps2bf16 (with CPU_AVX512) */
    CPU_AVX_VNNI,    /* VEX-encoded vpdpbusd (Alder Lake and later, no AVX-512 needed) */
    CPU_AMX_BF16,    /* AMX tiles + tdpbf16ps, and the OS granted the tile state */
    CPU_AMX_INT8,    /* AMX tiles + tdpbssd/tdpbusd, and the OS granted the tile state */
    CPU_N_FEATURES
} CpuFeature;

/* TRUE when this process may run instructions of feature f (thread-safe, computed once). */
gboolean cpu_has(CpuFeature f);
/* "avx2", "avx512", "avx512-vnni", "avx512-bf16", "avx-vnni", "amx-bf16", "amx-int8". */
const char *cpu_feature_name(CpuFeature f);
/* The usable features as one space-separated string, and the CPU's brand string, for
 * benchmark output. Caller frees. */
char *cpu_features_describe(void);

/* ---- a kernel's choice of path ------------------------------------------------------- */

/* Bit of feature f in a CpuPath's `needs` mask; CPU_NOT_BUILT marks a path compiled out of
 * this build (it never runs). */
#define CPU_BIT(f)    (1u << (f))
#define CPU_NOT_BUILT (1u << 31)

/* A kernel lists its instruction-set paths in its path enum's order, index 0 being "auto";
 * detection takes the path of highest rank that this CPU runs (rank 0: only when forced).
 *
 *   static const CpuPath paths[] = {{"auto", 0, 0}, {"portable", 0, 1},
 *                                   {"avx2", CPU_BIT(CPU_AVX2), 2}};
 *   static CpuPathChoice choice = CPU_PATH_CHOICE(paths);
 *   ... switch (cpu_path_current(&choice)) ... */
typedef struct {
    const char *name; /* for tests, benchmarks and messages */
    guint needs;      /* CPU_BIT mask of the features it runs on (0: anywhere) */
    int rank;         /* detection prefers higher; 0: never detected ("auto", forced-only) */
} CpuPath;

/* The table and its state (detected once, forced by tests): static storage, made with
 * CPU_PATH_CHOICE. */
typedef struct {
    const CpuPath *paths;
    int n_paths;
    gsize detected; /* 1 + the detected path; 0 before the first use */
    gint forced;    /* 0: auto */
} CpuPathChoice;

#define CPU_PATH_CHOICE(table)                                                                     \
    {                                                                                              \
        (table), (int)G_N_ELEMENTS(table), 0, 0                                                    \
    }

/* TRUE when path p (not 0, "auto") exists and this CPU and build run it. */
gboolean cpu_path_runs(const CpuPathChoice *c, int p);
/* The path in use (never 0): the forced one, else the detected one. */
int cpu_path_current(CpuPathChoice *c);
/* Forces path p (0 restores detection); FALSE, changing nothing, when it cannot run here.
 * Not thread-safe against the kernel running meanwhile. */
gboolean cpu_path_force(CpuPathChoice *c, int p);
/* The table's name for p, "?" out of range. */
const char *cpu_path_name(const CpuPathChoice *c, int p);
