/* safetensors.c — see safetensors.h. Validation follows the format's own rules
 * (huggingface/safetensors): header length within the file, JSON object, known dtype,
 * offsets inside the data section, byte size = numel × dtype size, no overlaps. */
#include "safetensors.h"
#include "config.h"
#include "convert.h"
#include "error.h"
#include "flux.h"
#include "shard_index.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <string.h>

/* A header larger than this is not a real checkpoint header (the 57-block FLUX
 * transformer's is ~100 KiB); refuse before allocating. */
#define ST_MAX_HEADER (100u * 1024u * 1024u)

struct StFile {
    char *path;
    GMappedFile *map;
    StTensor *tensors; /* sorted by data offset */
    gsize n_tensors;
    GHashTable *by_name;  /* name -> StTensor* */
    GHashTable *metadata; /* key -> value */
    GStringChunk *strings;
};

/* ------------------------------------------------------------------------------------- */
/* Header parsing                                                                        */

#define fail(error, path, ...) error_set(error, FLUX_ERROR_FORMAT, path, __VA_ARGS__)

/* A dimension or an offset: a non-negative integer (JSON integers may arrive as 3.0). */
static gboolean json_uint(JsonNode *n, int64_t *out)
{
    return cfg_node_integral(n, out) && *out >= 0;
}

static gboolean parse_entry(StFile *f, const char *name, JsonNode *node, size_t data_size,
                            StTensor *t, GError **error)
{
    if (!JSON_NODE_HOLDS_OBJECT(node))
        return fail(error, f->path, "tensor '%s': header entry is not an object", name);
    JsonObject *o = json_node_get_object(node);
    const char *dts = cfg_str_member(o, "dtype");
    JsonArray *sa = cfg_arr_member(o, "shape");
    JsonArray *oa = cfg_arr_member(o, "data_offsets");
    if (!dts) return fail(error, f->path, "tensor '%s': missing or invalid \"dtype\"", name);
    if (!sa) return fail(error, f->path, "tensor '%s': missing or invalid \"shape\"", name);
    if (!oa || json_array_get_length(oa) != 2)
        return fail(error, f->path, "tensor '%s': missing or invalid \"data_offsets\"", name);

    t->name = g_string_chunk_insert(f->strings, name);
    t->file = f->path;
    if (!st_dtype_from_name(dts, &t->dtype))
        return fail(error, f->path, "tensor '%s': unknown dtype \"%s\"", name, dts);

    guint nd = json_array_get_length(sa);
    if (nd > ST_MAX_DIMS)
        return fail(error, f->path, "tensor '%s': %u dimensions (at most %d supported)", name, nd,
                    ST_MAX_DIMS);
    t->ndim = (int)nd;
    /* numel is bounded by the data size, so an overflow can only come from a lie */
    uint64_t numel = 1;
    for (guint i = 0; i < nd; i++) {
        int64_t d;
        if (!json_uint(json_array_get_element(sa, i), &d))
            return fail(error, f->path, "tensor '%s': shape[%u] is not a non-negative integer",
                        name, i);
        t->shape[i] = d;
        if (d != 0 && numel > UINT64_MAX / (uint64_t)d)
            return fail(error, f->path, "tensor '%s': shape overflows", name);
        numel *= (uint64_t)d;
    }
    t->numel = (int64_t)numel;

    int64_t b, e;
    if (!json_uint(json_array_get_element(oa, 0), &b) ||
        !json_uint(json_array_get_element(oa, 1), &e))
        return fail(error, f->path, "tensor '%s': data_offsets are not non-negative integers",
                    name);
    if (b > e || (uint64_t)e > data_size)
        return fail(error, f->path,
                    "tensor '%s': data_offsets [%" G_GINT64_FORMAT ", %" G_GINT64_FORMAT
                    "] outside the data section of %zu bytes",
                    name, b, e, data_size);
    size_t es = st_dtype_size(t->dtype);
    if (numel > (uint64_t)(e - b) || numel * es != (uint64_t)(e - b))
        return fail(error, f->path,
                    "tensor '%s': %" G_GINT64_FORMAT " bytes for %" G_GUINT64_FORMAT
                    " elements of %s (expected %" G_GUINT64_FORMAT ")",
                    name, e - b, numel, dts, numel * es);
    t->nbytes = (size_t)(e - b);
    t->data = (const void *)(uintptr_t)b; /* an offset until the base is known */
    return TRUE;
}

static gint cmp_offset(gconstpointer a, gconstpointer b)
{
    const StTensor *x = a, *y = b;
    uintptr_t ox = (uintptr_t)x->data, oy = (uintptr_t)y->data;
    if (ox != oy) return ox < oy ? -1 : 1;
    return x->nbytes < y->nbytes ? -1 : x->nbytes > y->nbytes;
}

static gboolean parse_metadata(StFile *f, JsonNode *node, GError **error)
{
    if (!JSON_NODE_HOLDS_OBJECT(node))
        return fail(error, f->path, "\"__metadata__\" is not an object");
    JsonObject *o = json_node_get_object(node);
    GList *keys = json_object_get_members(o);
    for (GList *l = keys; l; l = l->next) {
        const char *v = cfg_str_member(o, l->data);
        if (v) g_hash_table_insert(f->metadata, g_strdup(l->data), g_strdup(v));
    }
    g_list_free(keys);
    return TRUE;
}

static gboolean parse_header(StFile *f, const char *json, size_t len, size_t data_size,
                             GError **error)
{
    if (!g_utf8_validate(json, (gssize)len, NULL))
        return fail(error, f->path, "header is not valid UTF-8");
    /* "<file>: header: not valid JSON: ..." / "...: not a JSON object" */
    g_autofree char *about = g_strdup_printf("%s: header", f->path);
    CfgJson *c = cfg_load_data(about, json, (gssize)len, error);
    if (!c) return FALSE;
    JsonObject *o = cfg_object(c);
    GList *names = json_object_get_members(o);
    f->tensors = g_new0(StTensor, json_object_get_size(o));
    gboolean ok = TRUE;
    for (GList *l = names; l && ok; l = l->next) {
        const char *name = l->data;
        JsonNode *n = json_object_get_member(o, name);
        if (strcmp(name, "__metadata__") == 0)
            ok = parse_metadata(f, n, error);
        else
            ok = parse_entry(f, name, n, data_size, &f->tensors[f->n_tensors++], error);
    }
    g_list_free(names);
    cfg_free(c);
    return ok;
}

/* Tensors sorted by offset must tile without overlap (gaps are allowed). */
static gboolean check_overlaps(StFile *f, GError **error)
{
    if (f->n_tensors < 2) return TRUE; /* also: a header of "{}" has no array to sort */
    qsort(f->tensors, f->n_tensors, sizeof(StTensor),
          (int (*)(const void *, const void *))cmp_offset);
    for (gsize i = 1; i < f->n_tensors; i++) {
        const StTensor *p = &f->tensors[i - 1], *t = &f->tensors[i];
        uintptr_t pend = (uintptr_t)p->data + p->nbytes;
        if (t->nbytes && p->nbytes && (uintptr_t)t->data < pend)
            return fail(error, f->path, "tensor '%s' overlaps tensor '%s' in the data section",
                        t->name, p->name);
    }
    return TRUE;
}

StFile *st_file_open(const char *path, GError **error)
{
    StFile *f = g_new0(StFile, 1);
    f->path = g_strdup(path);
    f->strings = g_string_chunk_new(4096);
    f->by_name = g_hash_table_new(g_str_hash, g_str_equal);
    f->metadata = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);

    GError *merr = NULL;
    f->map = g_mapped_file_new(path, FALSE, &merr);
    if (!f->map) {
        g_set_error(error, FLUX_ERROR, FLUX_ERROR_IO, "%s: cannot open (%s)", path, merr->message);
        g_error_free(merr);
        st_file_free(f);
        return NULL;
    }
    const guint8 *base = (const guint8 *)g_mapped_file_get_contents(f->map);
    size_t size = g_mapped_file_get_length(f->map);
    if (size < 8) {
        fail(error, path, "file is %zu bytes, too short for a safetensors header", size);
        st_file_free(f);
        return NULL;
    }
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | base[i];
    if (hlen > size - 8 || hlen > ST_MAX_HEADER || hlen < 2) {
        fail(error, path,
             "header length %" G_GUINT64_FORMAT " is invalid for a file of %zu bytes "
             "(truncated or not a safetensors file)",
             hlen, size);
        st_file_free(f);
        return NULL;
    }
    const guint8 *data = base + 8 + hlen;
    size_t data_size = size - 8 - hlen;
    if (!parse_header(f, (const char *)base + 8, hlen, data_size, error) ||
        !check_overlaps(f, error)) {
        st_file_free(f);
        return NULL;
    }
    for (gsize i = 0; i < f->n_tensors; i++) {
        StTensor *t = &f->tensors[i];
        t->data = data + (uintptr_t)t->data;
        g_hash_table_insert(f->by_name, (gpointer)t->name, t);
    }
    return f;
}

void st_file_free(StFile *f)
{
    if (!f) return;
    for (gsize i = 0; i < f->n_tensors; i++) g_free(f->tensors[i].f32);
    g_free(f->tensors);
    if (f->map) g_mapped_file_unref(f->map);
    g_hash_table_destroy(f->by_name);
    g_hash_table_destroy(f->metadata);
    g_string_chunk_free(f->strings);
    g_free(f->path);
    g_free(f);
}

gsize st_file_n_tensors(const StFile *f)
{
    return f->n_tensors;
}
StTensor *st_file_tensor(StFile *f, gsize i)
{
    return i < f->n_tensors ? &f->tensors[i] : NULL;
}
StTensor *st_file_find(StFile *f, const char *name)
{
    return g_hash_table_lookup(f->by_name, name);
}
const char *st_file_path(const StFile *f)
{
    return f->path;
}
const char *st_file_metadata(const StFile *f, const char *key)
{
    return g_hash_table_lookup(f->metadata, key);
}

/* ------------------------------------------------------------------------------------- */
/* Archives: one file, or the shards named by an index                                   */

/* The archive takes the file over: its tensors are added as they are, and the file is
 * freed with the archive. */
static gboolean archive_add_file(StArchive *a, StFile *f, GError **error)
{
    st_archive_attach(a, NULL, f, (GDestroyNotify)st_file_free);
    for (gsize i = 0; i < f->n_tensors; i++)
        if (!st_archive_add_borrowed(a, &f->tensors[i], error)) return FALSE;
    return TRUE;
}

/* The shards an index names, each opened once; every tensor it names must be in its shard. */
static gboolean open_index(StArchive *a, const char *path, GError **error)
{
    StShardIndex *ix = st_shard_index_load(path, error);
    gboolean ok = ix != NULL;
    for (guint i = 0; ok && i < st_shard_index_n_shards(ix); i++) {
        StFile *f = st_file_open(st_shard_index_shard_path(ix, i), error);
        ok = f && archive_add_file(a, f, error);
    }
    for (guint i = 0; ok && i < st_shard_index_n_tensors(ix); i++) {
        const char *shard, *name = st_shard_index_tensor(ix, i, &shard);
        StTensor *t = st_archive_find(a, name);
        if (!t || !g_str_has_suffix(t->file, shard))
            ok = fail(error, path, "tensor '%s' is not in its shard %s", name, shard);
    }
    st_shard_index_free(ix);
    return ok;
}

StArchive *st_archive_open(const char *path, GError **error)
{
    StArchive *a = st_archive_new(path);
    gboolean ok;
    if (g_str_has_suffix(path, ".json")) {
        ok = open_index(a, path, error);
    } else {
        StFile *f = st_file_open(path, error);
        ok = f && archive_add_file(a, f, error);
    }
    if (!ok) {
        st_archive_free(a);
        return NULL;
    }
    return a;
}

StArchive *st_archive_open_dir(const char *dir, const char *stem, GError **error)
{
    g_autofree char *idx = g_strdup_printf("%s/%s.safetensors.index.json", dir, stem);
    if (g_file_test(idx, G_FILE_TEST_EXISTS)) return st_archive_open(idx, error);
    g_autofree char *one = g_strdup_printf("%s/%s.safetensors", dir, stem);
    if (!g_file_test(one, G_FILE_TEST_EXISTS)) {
        g_set_error(error, FLUX_ERROR, FLUX_ERROR_IO,
                    "%s: no weights (neither %s.safetensors nor %s.safetensors.index.json)", dir,
                    stem, stem);
        return NULL;
    }
    return st_archive_open(one, error);
}

/* ------------------------------------------------------------------------------------- */
/* Writer                                                                                */

typedef struct {
    char *name;
    StDtype dtype;
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    GBytes *bytes;
} WEntry;

struct StWriter {
    GPtrArray *entries;
    GHashTable *names;
};

static void wentry_free(WEntry *e)
{
    g_free(e->name);
    g_bytes_unref(e->bytes);
    g_free(e);
}

StWriter *st_writer_new(void)
{
    StWriter *w = g_new0(StWriter, 1);
    w->entries = g_ptr_array_new_with_free_func((GDestroyNotify)wentry_free);
    w->names = g_hash_table_new(g_str_hash, g_str_equal);
    return w;
}

void st_writer_free(StWriter *w)
{
    if (!w) return;
    g_hash_table_destroy(w->names);
    g_ptr_array_free(w->entries, TRUE);
    g_free(w);
}

void st_writer_add(StWriter *w, const char *name, StDtype dtype, int ndim, const int64_t *shape,
                   const void *data)
{
    g_assert(ndim >= 0 && ndim <= ST_MAX_DIMS);
    g_assert(!g_hash_table_contains(w->names, name));
    WEntry *e = g_new0(WEntry, 1);
    e->name = g_strdup(name);
    e->dtype = dtype;
    e->ndim = ndim;
    size_t n = 1;
    for (int i = 0; i < ndim; i++) {
        e->shape[i] = shape[i];
        n *= (size_t)shape[i];
    }
    e->bytes = g_bytes_new(data, n * st_dtype_size(dtype));
    g_ptr_array_add(w->entries, e);
    g_hash_table_add(w->names, e->name);
}

static char *writer_header(StWriter *w)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "__metadata__");
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "format");
    json_builder_add_string_value(b, "pt");
    json_builder_end_object(b);
    size_t off = 0;
    for (guint i = 0; i < w->entries->len; i++) {
        WEntry *e = g_ptr_array_index(w->entries, i);
        json_builder_set_member_name(b, e->name);
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "dtype");
        json_builder_add_string_value(b, st_dtype_name(e->dtype));
        json_builder_set_member_name(b, "shape");
        json_builder_begin_array(b);
        for (int d = 0; d < e->ndim; d++) json_builder_add_int_value(b, e->shape[d]);
        json_builder_end_array(b);
        json_builder_set_member_name(b, "data_offsets");
        json_builder_begin_array(b);
        json_builder_add_int_value(b, (gint64)off);
        off += g_bytes_get_size(e->bytes);
        json_builder_add_int_value(b, (gint64)off);
        json_builder_end_array(b);
        json_builder_end_object(b);
    }
    json_builder_end_object(b);
    g_autoptr(JsonGenerator) gen = json_generator_new();
    JsonNode *root = json_builder_get_root(b);
    json_generator_set_root(gen, root);
    char *s = json_generator_to_data(gen, NULL);
    json_node_unref(root);
    return s;
}

gboolean st_writer_save(StWriter *w, const char *path, GError **error)
{
    g_autofree char *json = writer_header(w);
    size_t hlen = strlen(json);
    size_t padded = (hlen + 7) & ~(size_t)7; /* keeps the data section 8-byte aligned */
    GString *head = g_string_sized_new(8 + padded);
    for (int i = 0; i < 8; i++) g_string_append_c(head, (char)((uint64_t)padded >> (8 * i)));
    g_string_append(head, json);
    while (head->len < 8 + padded) g_string_append_c(head, ' ');

    g_autofree char *tmp = g_strdup_printf("%s.tmp-XXXXXX", path);
    int fd = g_mkstemp(tmp);
    if (fd < 0) {
        int e = errno;
        g_set_error(error, FLUX_ERROR, FLUX_ERROR_IO, "%s: cannot create (%s)", path,
                    g_strerror(e));
        g_string_free(head, TRUE);
        return FALSE;
    }
    FILE *fp = fdopen(fd, "wb");
    gboolean ok = fwrite(head->str, 1, head->len, fp) == head->len;
    for (guint i = 0; ok && i < w->entries->len; i++) {
        WEntry *e = g_ptr_array_index(w->entries, i);
        size_t n;
        const void *d = g_bytes_get_data(e->bytes, &n);
        ok = n == 0 || fwrite(d, 1, n, fp) == n;
    }
    ok = (fclose(fp) == 0) && ok;
    g_string_free(head, TRUE);
    if (!ok || g_rename(tmp, path) != 0) {
        int e = errno;
        g_unlink(tmp);
        g_set_error(error, FLUX_ERROR, FLUX_ERROR_IO, "%s: cannot write (%s)", path, g_strerror(e));
        return FALSE;
    }
    return TRUE;
}
