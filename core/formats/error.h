/* error.h — setting a FLUX_ERROR (flux.h) from the core: one printf-style helper instead of a
 * vprintf → GError wrapper per file. Below every layer that reports errors (formats, models,
 * pipeline); compute reports through its callers. */
#pragma once

#include "flux.h"

/* Sets `error` (when non-NULL) to FLUX_ERROR/`code` with the message "<about>: <fmt...>", or
 * just "<fmt...>" when `about` is NULL (`about`: the file, folder or value it is about).
 * Returns FALSE, for `return error_set(...)`. */
gboolean error_set(GError **error, FluxError code, const char *about, const char *fmt, ...)
    G_GNUC_PRINTF(4, 5);
