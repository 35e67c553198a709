/* archive.c — see archive.h. */
#include "archive.h"
#include "error.h"

#include <string.h>

#define fail(error, path, ...) error_set(error, FLUX_ERROR_FORMAT, path, __VA_ARGS__)

typedef struct {
    const char *key;
    gpointer data;
    GDestroyNotify destroy;
} StAttachment;

struct StArchive {
    char *path;
    GPtrArray *order; /* StTensor*, in the order added */
    GHashTable *by_name;
    GPtrArray *added;    /* StTensor* made by st_archive_add*, owned */
    GPtrArray *buffers;  /* data of st_archive_add_owned tensors */
    GStringChunk *names; /* names and file paths of added tensors */
    GArray *attachments; /* StAttachment */
};

StArchive *st_archive_new(const char *path)
{
    StArchive *a = g_new0(StArchive, 1);
    a->path = g_strdup(path);
    a->order = g_ptr_array_new();
    a->by_name = g_hash_table_new(g_str_hash, g_str_equal);
    a->added = g_ptr_array_new();
    a->buffers = g_ptr_array_new_with_free_func(g_free);
    a->names = g_string_chunk_new(4096);
    a->attachments = g_array_new(FALSE, FALSE, sizeof(StAttachment));
    return a;
}

void st_archive_free(StArchive *a)
{
    if (!a) return;
    for (guint i = 0; i < a->added->len; i++) {
        StTensor *t = g_ptr_array_index(a->added, i);
        g_free(t->f32);
        g_free(t);
    }
    g_ptr_array_free(a->added, TRUE);
    g_ptr_array_free(a->buffers, TRUE);
    g_ptr_array_free(a->order, TRUE);
    g_hash_table_destroy(a->by_name);
    g_string_chunk_free(a->names);
    for (guint i = a->attachments->len; i-- > 0;) {
        StAttachment *at = &g_array_index(a->attachments, StAttachment, i);
        if (at->destroy) at->destroy(at->data);
    }
    g_array_free(a->attachments, TRUE);
    g_free(a->path);
    g_free(a);
}

/* ------------------------------------------------------------------------------------- */
/* Filling an archive                                                                    */

void st_archive_attach(StArchive *a, const char *key, gpointer data, GDestroyNotify destroy)
{
    StAttachment at = {key, data, destroy};
    g_array_append_val(a->attachments, at);
}

gpointer st_archive_attached(const StArchive *a, const char *key)
{
    for (guint i = a->attachments->len; i-- > 0;) {
        const StAttachment *at = &g_array_index(a->attachments, StAttachment, i);
        if (at->key && strcmp(at->key, key) == 0) return at->data;
    }
    return NULL;
}

gboolean st_archive_add_borrowed(StArchive *a, StTensor *t, GError **error)
{
    StTensor *prev = g_hash_table_lookup(a->by_name, t->name);
    if (prev) return fail(error, t->file, "tensor '%s' is also in %s", t->name, prev->file);
    g_hash_table_insert(a->by_name, (gpointer)t->name, t);
    g_ptr_array_add(a->order, t);
    return TRUE;
}

static void format_dims(GString *s, int ndim, const int64_t *shape)
{
    g_string_append_c(s, '[');
    for (int i = 0; i < ndim; i++)
        g_string_append_printf(s, "%s%" G_GINT64_FORMAT, i ? ", " : "", shape[i]);
    g_string_append_c(s, ']');
}

/* numel of a shape; FALSE on a negative dimension or overflow. A row (last dimension) must
 * be whole blocks, so that st_to_f32 can start at any row. */
static gboolean shape_numel(const char *file, const char *name, StDtype dt, int ndim,
                            const int64_t *shape, uint64_t *numel, GError **error)
{
    g_autoptr(GString) s = g_string_new(NULL);
    format_dims(s, ndim >= 0 && ndim <= ST_MAX_DIMS ? ndim : 0, shape);
    if ((unsigned)dt >= ST_N_DTYPES)
        return fail(error, file, "tensor '%s': invalid dtype %d", name, (int)dt);
    if (ndim < 0 || ndim > ST_MAX_DIMS)
        return fail(error, file, "tensor '%s': %d dimensions (at most %d supported)", name, ndim,
                    ST_MAX_DIMS);
    uint64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0) return fail(error, file, "tensor '%s': shape %s", name, s->str);
        if (shape[i] != 0 && n > (uint64_t)INT64_MAX / (uint64_t)shape[i])
            return fail(error, file, "tensor '%s': shape %s overflows", name, s->str);
        n *= (uint64_t)shape[i];
    }
    int blk;
    st_dtype_block(dt, &blk, NULL);
    int64_t row = ndim ? shape[ndim - 1] : 1;
    if (blk > 1 && row % blk != 0)
        return fail(error, file,
                    "tensor '%s': shape %s: a row of %" G_GINT64_FORMAT
                    " elements is not a whole number of %s blocks of %d",
                    name, s->str, row, st_dtype_name(dt), blk);
    *numel = n;
    return TRUE;
}

static StTensor *archive_insert(StArchive *a, StTensor *t, GError **error)
{
    StTensor *prev = g_hash_table_lookup(a->by_name, t->name);
    if (prev) {
        fail(error, a->path, "tensor '%s' is present twice (also in %s)", t->name, prev->file);
        g_free(t);
        return NULL;
    }
    g_ptr_array_add(a->added, t);
    g_hash_table_insert(a->by_name, (gpointer)t->name, t);
    g_ptr_array_add(a->order, t);
    return t;
}

StTensor *st_archive_add(StArchive *a, const StTensor *desc, GError **error)
{
    const char *file = desc->file ? desc->file : a->path;
    uint64_t numel, nbytes;
    if (!shape_numel(file, desc->name, desc->dtype, desc->ndim, desc->shape, &numel, error))
        return NULL;
    if (!st_dtype_nbytes(desc->dtype, numel, &nbytes) || nbytes > SIZE_MAX) {
        fail(error, file, "tensor '%s': byte size overflows", desc->name);
        return NULL;
    }
    StTensor *t = g_new0(StTensor, 1);
    t->name = g_string_chunk_insert_const(a->names, desc->name);
    t->file = g_string_chunk_insert_const(a->names, file);
    t->dtype = desc->dtype;
    t->ndim = desc->ndim;
    memcpy(t->shape, desc->shape, sizeof t->shape);
    t->numel = (int64_t)numel;
    t->nbytes = (size_t)nbytes;
    t->data = desc->data;
    t->scale = desc->scale;
    return archive_insert(a, t, error);
}

StTensor *st_archive_add_view(StArchive *a, const char *name, const StTensor *src, int64_t first,
                              int ndim, const int64_t *shape, GError **error)
{
    uint64_t numel, skip;
    if (!shape_numel(src->file, name, src->dtype, ndim, shape, &numel, error)) return NULL;
    if (first < 0 || first > src->numel || numel > (uint64_t)(src->numel - first) ||
        !st_dtype_nbytes(src->dtype, (uint64_t)first, &skip)) {
        g_autoptr(GString) s = g_string_new(NULL);
        format_dims(s, ndim, shape);
        fail(error, src->file,
             "tensor '%s': a view %s from element %" G_GINT64_FORMAT
             " does not fit tensor '%s' of %" G_GINT64_FORMAT " elements in %s blocks",
             name, s->str, first, src->name, src->numel, st_dtype_name(src->dtype));
        return NULL;
    }
    StTensor desc = *src;
    desc.name = name;
    desc.ndim = ndim;
    memset(desc.shape, 0, sizeof desc.shape);
    memcpy(desc.shape, shape, (size_t)ndim * sizeof *shape);
    desc.data = (const guint8 *)src->data + skip;
    return st_archive_add(a, &desc, error);
}

StTensor *st_archive_add_owned(StArchive *a, const char *name, StDtype dtype, int ndim,
                               const int64_t *shape, gpointer data, const char *file,
                               GError **error)
{
    g_ptr_array_add(a->buffers, data); /* owned from here on, even on failure */
    StTensor desc = {.name = name, .dtype = dtype, .ndim = ndim, .data = data, .file = file};
    if (ndim >= 0 && ndim <= ST_MAX_DIMS) memcpy(desc.shape, shape, (size_t)ndim * sizeof *shape);
    return st_archive_add(a, &desc, error);
}

StTensor *st_archive_find(StArchive *a, const char *name)
{
    return g_hash_table_lookup(a->by_name, name);
}
gsize st_archive_n_tensors(const StArchive *a)
{
    return a->order->len;
}
StTensor *st_archive_tensor(StArchive *a, gsize i)
{
    return i < a->order->len ? g_ptr_array_index(a->order, i) : NULL;
}
const char *st_archive_path(const StArchive *a)
{
    return a->path;
}

gsize st_archive_unused(const StArchive *a, char ***names)
{
    GPtrArray *out = g_ptr_array_new();
    for (guint i = 0; i < a->order->len; i++) {
        const StTensor *t = g_ptr_array_index(a->order, i);
        if (!t->used) g_ptr_array_add(out, g_strdup(t->name));
    }
    gsize n = out->len;
    g_ptr_array_add(out, NULL);
    if (names)
        *names = (char **)g_ptr_array_free(out, FALSE);
    else
        g_strfreev((char **)g_ptr_array_free(out, FALSE));
    return n;
}

const float *st_archive_f32(StArchive *a, StTensor *t)
{
    (void)a; /* the copy lives in the tensor, freed with its file */
    if (!t->f32) {
        t->f32 = g_new(float, t->numel ? t->numel : 1);
        st_to_f32(t->f32, t, 0, t->numel);
    }
    return t->f32;
}
