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
    return wt_bind_only(a, prefix, spec, n, dims, WT_GROUPS, base, error);
}

gboolean wt_bind_only(StArchive *a, const char *prefix, const WtSpec *spec, gsize n,
                      const int64_t *dims, unsigned groups, void *base, GError **error)
{
    for (gsize i = 0; i < n; i++) {
        const WtSpec *s = &spec[i];
        if ((s->flags & WT_GROUPS) && !(s->flags & groups)) continue;
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

gboolean wt_table_check(const WtTable *t, GError **error)
{
    const gsize slot = sizeof(const StTensor *);
    gsize n_slots = t->params_size / slot;
    g_autofree gboolean *seen = g_new0(gboolean, n_slots + 1);
    for (gsize i = 0; i < t->n; i++) {
        const WtSpec *s = &t->spec[i];
        gsize k = s->offset / slot;
        const char *why = NULL;
        if (s->offset % slot || k >= n_slots)
            why = "its field is not one of the struct's leading parameter fields";
        else if (seen[k])
            why = "its field is bound by an earlier row too";
        else if (s->ndim < 1 || s->ndim > 4)
            why = "it has no 1 to 4 dims";
        for (int d = 0; !why && d < s->ndim; d++)
            if (s->dims[d] < 0 && -1 - s->dims[d] >= t->n_dims)
                why = "a dim is no WT_D of the table";
        for (gsize j = 0; !why && j < i; j++)
            if (!strcmp(t->spec[j].name, s->name)) why = "its name is used by an earlier row too";
        if (why) {
            g_set_error(error, FLUX_ERROR, FLUX_ERROR_MODEL, "%s: row %zu \"%s\": %s", t->what,
                        (size_t)i, s->name, why);
            return FALSE;
        }
        seen[k] = TRUE;
    }
    for (gsize k = 0; k < n_slots; k++)
        if (!seen[k]) {
            g_set_error(error, FLUX_ERROR, FLUX_ERROR_MODEL,
                        "%s: parameter field %zu (byte %zu) has no row in the spec table", t->what,
                        (size_t)k, (size_t)(k * slot));
            return FALSE;
        }
    if (t->params_size % slot) {
        g_set_error(error, FLUX_ERROR, FLUX_ERROR_MODEL,
                    "%s: the parameter fields end inside a pointer (%zu bytes)", t->what,
                    (size_t)t->params_size);
        return FALSE;
    }
    return TRUE;
}
