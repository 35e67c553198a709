/* error.c — see error.h; FLUX_ERROR's quark. */
#include "error.h"

G_DEFINE_QUARK(flux - error - quark, flux_error)

gboolean error_set(GError **error, FluxError code, const char *about, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    if (about)
        g_set_error(error, FLUX_ERROR, code, "%s: %s", about, msg);
    else
        g_set_error_literal(error, FLUX_ERROR, code, msg);
    g_free(msg);
    return FALSE;
}
