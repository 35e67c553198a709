/* precision.c — see precision.h. */
#include "precision.h"

#include "cpu_features.h"
#include "flux.h"

#include <string.h>

gboolean ops_precision_fast_available(void)
{
    return cpu_has(CPU_AMX_BF16) || cpu_has(CPU_AVX512_BF16);
}

static gboolean parse_name(const char *name, OpsPrecision *p)
{
    if (strcmp(name, "float32") == 0)
        *p = OPS_PRECISION_FLOAT32;
    else if (strcmp(name, "fast") == 0)
        *p = OPS_PRECISION_FAST;
    else
        return FALSE;
    return TRUE;
}

OpsPrecision ops_precision_default(void)
{
    const char *env = g_getenv("FLUX_PRECISION");
    OpsPrecision p;
    if (env && parse_name(env, &p)) return p;
    return ops_precision_fast_available() ? OPS_PRECISION_FAST : OPS_PRECISION_FLOAT32;
}

gboolean ops_precision_parse(const char *name, OpsPrecision *p)
{
    if (!name || strcmp(name, "auto") == 0) {
        *p = ops_precision_default();
        return TRUE;
    }
    return parse_name(name, p);
}

const char *ops_precision_name(OpsPrecision p)
{
    return p == OPS_PRECISION_FAST ? "fast" : "float32";
}

/* -1: not set yet (the default on first use) */
static gint current = -1;

OpsPrecision ops_precision(void)
{
    gint v = g_atomic_int_get(&current);
    if (v < 0) {
        v = (gint)ops_precision_default();
        g_atomic_int_set(&current, v);
    }
    return (OpsPrecision)v;
}

void ops_precision_set(OpsPrecision p)
{
    g_atomic_int_set(&current, (gint)p);
}

gboolean flux_precision_check(const char *precision, GError **error)
{
    OpsPrecision p;
    if (ops_precision_parse(precision, &p)) return TRUE;
    g_set_error(error, FLUX_ERROR, FLUX_ERROR_ARGUMENT,
                "unknown precision '%s' (expected auto, float32 or fast)", precision);
    return FALSE;
}
