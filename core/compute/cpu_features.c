/* cpu_features.c — see cpu_features.h. The bits are those of the Intel SDM's CPUID leaf 7
 * and XGETBV descriptions; the AMX permission request is Linux's (arch_prctl
 * ARCH_REQ_XCOMP_PERM for XFEATURE_XTILEDATA, Documentation/arch/x86/xstate.rst). */
#include "cpu_features.h"

#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#define CPUF_X86 1
#include <cpuid.h>
#endif
#if defined(CPUF_X86) && defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#define ARCH_REQ_XCOMP_PERM 0x1023
#define XFEATURE_XTILEDATA  18
#endif

static const char *const names[CPU_N_FEATURES] = {
    "avx2", "avx512", "avx512-vnni", "avx512-bf16", "avx-vnni", "amx-bf16", "amx-int8",
};

const char *cpu_feature_name(CpuFeature f)
{
    return (unsigned)f < CPU_N_FEATURES ? names[f] : "?";
}

#ifdef CPUF_X86
static guint64 xgetbv0(void)
{
    guint32 lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return (guint64)hi << 32 | lo;
}

/* Linux refuses AMX instructions (SIGILL) until the process asks for the tile data state. */
static gboolean amx_permitted(void)
{
#ifdef ARCH_REQ_XCOMP_PERM
    return syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) == 0;
#else
    return FALSE;
#endif
}

static guint32 detect(void)
{
    guint32 a, b, c, d, f = 0;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    const gboolean osxsave = (c >> 27) & 1, fma = (c >> 12) & 1, f16c = (c >> 29) & 1;
    const guint64 xcr0 = osxsave ? xgetbv0() : 0;
    const gboolean ymm = (xcr0 & 0x6) == 0x6, zmm = ymm && (xcr0 & 0xe0) == 0xe0;
    const gboolean tiles_os = (xcr0 & 0x60000) == 0x60000; /* XTILECFG + XTILEDATA */
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return 0;
    const guint32 b7 = b, c7 = c, d7 = d;
    guint32 a71 = 0;
    if (a >= 1 && __get_cpuid_count(7, 1, &a, &b, &c, &d)) a71 = a;
    if (ymm && fma && f16c && (b7 >> 5 & 1)) f |= 1u << CPU_AVX2;
    /* F (16), DQ (17), BW (30), VL (31) */
    if (zmm && (f & 1u << CPU_AVX2) && (b7 & 0xc0030000u) == 0xc0030000u) f |= 1u << CPU_AVX512;
    if ((f & 1u << CPU_AVX512) && (c7 >> 11 & 1)) f |= 1u << CPU_AVX512_VNNI;
    if ((f & 1u << CPU_AVX512) && (a71 >> 5 & 1)) f |= 1u << CPU_AVX512_BF16;
    if ((f & 1u << CPU_AVX2) && (a71 >> 4 & 1)) f |= 1u << CPU_AVX_VNNI;
    /* AMX-BF16 (22), AMX-TILE (24), AMX-INT8 (25); the kernels also use AVX-512 around them */
    const gboolean tile = (d7 >> 24 & 1) && tiles_os && (f & 1u << CPU_AVX512);
    if (tile && ((d7 >> 22 & 1) || (d7 >> 25 & 1)) && amx_permitted()) {
        if (d7 >> 22 & 1) f |= 1u << CPU_AMX_BF16;
        if (d7 >> 25 & 1) f |= 1u << CPU_AMX_INT8;
    }
    return f;
}
#else
static guint32 detect(void)
{
    return 0;
}
#endif

/* FLUX_CPU_DISABLE's names removed from the detected set. */
static guint32 apply_disable(guint32 f)
{
    const char *env = g_getenv("FLUX_CPU_DISABLE");
    if (!env) return f;
    char **list = g_strsplit(env, ",", -1);
    for (char **s = list; *s; s++)
        for (int i = 0; i < CPU_N_FEATURES; i++)
            if (strcmp(g_strstrip(*s), names[i]) == 0) f &= ~(1u << i);
    g_strfreev(list);
    return f;
}

static guint32 features(void)
{
    static gsize once;
    if (g_once_init_enter(&once))
        g_once_init_leave(&once, (gsize)apply_disable(detect()) | 1u << 31);
    return (guint32)once & ~(1u << 31);
}

gboolean cpu_has(CpuFeature f)
{
    return (unsigned)f < CPU_N_FEATURES && (features() >> f & 1);
}

char *cpu_features_describe(void)
{
    GString *s = g_string_new(NULL);
#ifdef CPUF_X86
    guint32 brand[12] = {0}, a, b, c, d;
    if (__get_cpuid(0x80000000, &a, &b, &c, &d) && a >= 0x80000004)
        for (guint32 i = 0; i < 3; i++)
            __get_cpuid(0x80000002 + i, &brand[4 * i], &brand[4 * i + 1], &brand[4 * i + 2],
                        &brand[4 * i + 3]);
    char name[49] = {0};
    memcpy(name, brand, 48);
    g_string_append(s, g_strstrip(name));
#endif
    g_string_append(s, s->len ? "; " : "");
    g_string_append(s, "features:");
    for (int i = 0; i < CPU_N_FEATURES; i++)
        if (cpu_has((CpuFeature)i)) g_string_append_printf(s, " %s", names[i]);
    return g_string_free(s, FALSE);
}

/* ------------------------------------------------------------------------------------- */
/* A kernel's choice of path                                                             */

gboolean cpu_path_runs(const CpuPathChoice *c, int p)
{
    if (p <= 0 || p >= c->n_paths) return FALSE;
    guint needs = c->paths[p].needs;
    if (needs & CPU_NOT_BUILT) return FALSE;
    for (int f = 0; f < CPU_N_FEATURES; f++)
        if ((needs & CPU_BIT(f)) && !cpu_has((CpuFeature)f)) return FALSE;
    return TRUE;
}

int cpu_path_current(CpuPathChoice *c)
{
    if (g_once_init_enter(&c->detected)) {
        int best = 0;
        for (int p = 1; p < c->n_paths; p++)
            if (c->paths[p].rank > (best ? c->paths[best].rank : 0) && cpu_path_runs(c, p))
                best = p;
        g_assert(best > 0); /* every kernel has a portable path */
        g_once_init_leave(&c->detected, (gsize)best + 1);
    }
    int f = g_atomic_int_get(&c->forced);
    return f ? f : (int)c->detected - 1;
}

gboolean cpu_path_force(CpuPathChoice *c, int p)
{
    if (p != 0 && !cpu_path_runs(c, p)) return FALSE;
    g_atomic_int_set(&c->forced, p);
    return TRUE;
}

const char *cpu_path_name(const CpuPathChoice *c, int p)
{
    return p >= 0 && p < c->n_paths ? c->paths[p].name : "?";
}
