/* trace.h — named intermediate tensors, for --save-tensors, --trace and the golden tests.
 *
 * Every stage that the reference dumps calls trace_f32() with the reference's name; with no
 * hook installed this costs one pointer test. */
#pragma once

#include "flux.h"

typedef struct {
    FluxTraceFunc fn;
    void *user_data;
} FluxTrace;

static inline gboolean trace_on(const FluxTrace *t)
{
    return t && t->fn;
}

/* Emits `data` (float32, `ndim` dims of `shape`) under a printf-formatted name. */
void trace_f32(const FluxTrace *t, const float *data, int ndim, const int64_t *shape,
               const char *fmt, ...) G_GNUC_PRINTF(5, 6);
void trace_i64(const FluxTrace *t, const int64_t *data, int ndim, const int64_t *shape,
               const char *fmt, ...) G_GNUC_PRINTF(5, 6);
