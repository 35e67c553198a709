/* weights.c — see weights.h. */
#include "weights.h"
#include "flux.h"

#include <string.h>

static void format_shape(GString *s, int ndim, const int64_t *shape)
{
    g_string_append_c(s, '[');
    for (int i = 0; i < ndim; i++)
        g_string_append_printf(s, "%s%" G_GINT64_FORMAT, i ? ", " : "", shape[i]);
    g_string_append_c(s, ']');
}

StTensor *wt_get(StArchive *a, const char *name, int ndim, const int64_t *shape, unsigned flags,
                 GError **error)
{
    StTensor *t = st_archive_find(a, name);
    if (!t) {
        if (!(flags & WT_OPTIONAL))
            g_set_error(error, FLUX_ERROR, FLUX_ERROR_MODEL, "%s: tensor '%s' is missing",
                        st_archive_path(a), name);
        return NULL;
    }
    /* any float or quantized type: ops convert rows of it to float32 as they need them */
    if (!st_dtype_is_float(t->dtype)) {
        g_set_error(error, FLUX_ERROR, FLUX_ERROR_MODEL,
                    "%s: tensor '%s' has dtype %s, expected a float or quantized type", t->file,
                    name, st_dtype_name(t->dtype));
        return NULL;
    }
    gboolean same = t->ndim == ndim;
    for (int i = 0; same && i < ndim; i++) same = t->shape[i] == shape[i];
    if (!same) {
        GString *s = g_string_new(NULL);
        g_string_append_printf(s, "%s: tensor '%s' has shape ", t->file, name);
        format_shape(s, t->ndim, t->shape);
        g_string_append(s, ", expected ");
        format_shape(s, ndim, shape);
        g_set_error_literal(error, FLUX_ERROR, FLUX_ERROR_MODEL, s->str);
        g_string_free(s, TRUE);
        return NULL;
    }
    t->used = TRUE;
    if (flags & WT_F32) st_archive_f32(a, t);
    return t;
}

gboolean wt_bind(StArchive *a, const char *prefix, const WtSpec *spec, gsize n, const int64_t *dims,
                 void *base, GError **error)
{
    for (gsize i = 0; i < n; i++) {
        const WtSpec *s = &spec[i];
        int64_t shape[4];
        for (int d = 0; d < s->ndim; d++)
            shape[d] = s->dims[d] >= 0 ? s->dims[d] : dims[-1 - s->dims[d]];
        g_autofree char *name = g_strconcat(prefix, s->name, NULL);
        GError *err = NULL;
        StTensor *t = wt_get(a, name, s->ndim, shape, s->flags, &err);
        if (err) {
            g_propagate_error(error, err);
            return FALSE;
        }
        memcpy((char *)base + s->offset, &t, sizeof t);
    }
    return TRUE;
}
