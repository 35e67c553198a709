/* trace.c — see trace.h. */
#include "trace.h"

#include <stdarg.h>

static void emit(const FluxTrace *t, FluxDtype dt, const void *data, int ndim, const int64_t *shape,
                 const char *fmt, va_list ap)
{
    char *name = g_strdup_vprintf(fmt, ap);
    t->fn(name, dt, ndim, shape, data, t->user_data);
    g_free(name);
}

void trace_f32(const FluxTrace *t, const float *data, int ndim, const int64_t *shape,
               const char *fmt, ...)
{
    if (!trace_on(t)) return;
    va_list ap;
    va_start(ap, fmt);
    emit(t, FLUX_DTYPE_F32, data, ndim, shape, fmt, ap);
    va_end(ap);
}

void trace_i64(const FluxTrace *t, const int64_t *data, int ndim, const int64_t *shape,
               const char *fmt, ...)
{
    if (!trace_on(t)) return;
    va_list ap;
    va_start(ap, fmt);
    emit(t, FLUX_DTYPE_I64, data, ndim, shape, fmt, ap);
    va_end(ap);
}
