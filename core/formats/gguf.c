/* gguf.c — see gguf.h. Follows the GGUF specification (ggml docs/gguf.md) and the checks
 * of ggml's gguf.cpp reader: every length against the bytes left, alignment a power of two,
 * tensor offsets aligned and inside the data section, no overlaps. */
#include "gguf.h"
#include "error.h"
#include "flux.h"

#include <stdio.h>
#include <string.h>

#define GGUF_MAX_DIMS    4
#define GGUF_MAX_NESTING 8 /* arrays of arrays ...: no real file nests more than twice */

typedef struct {
    char *key;
    GgufType type, elem_type;
    uint64_t count;
    int64_t i; /* integer and bool values that fit */
    gboolean i_ok;
    double f;
    char *str;
} GgufKv;

struct GgufFile {
    char *path;
    GMappedFile *map;
    guint32 version, alignment;
    GPtrArray *kvs; /* GgufKv* in file order */
    GHashTable *by_key;
};

typedef struct {
    const uint8_t *base;
    size_t size, pos;
    const char *path;
    GError **error;
} Cursor;

#define fail(c, ...) error_set((c)->error, FLUX_ERROR_FORMAT, (c)->path, __VA_ARGS__)

static size_t left(const Cursor *c)
{
    return c->size - c->pos;
}

static gboolean need(Cursor *c, uint64_t n, const char *what)
{
    if (n > left(c))
        return fail(c,
                    "%s needs %" G_GUINT64_FORMAT " bytes at offset %zu, the file has %zu left "
                    "(truncated or corrupt)",
                    what, n, c->pos, left(c));
    return TRUE;
}

static gboolean rd_u32(Cursor *c, const char *what, uint32_t *v)
{
    if (!need(c, 4, what)) return FALSE;
    const uint8_t *p = c->base + c->pos;
    *v = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    c->pos += 4;
    return TRUE;
}

static gboolean rd_u64(Cursor *c, const char *what, uint64_t *v)
{
    uint32_t lo, hi;
    if (!need(c, 8, what) || !rd_u32(c, what, &lo) || !rd_u32(c, what, &hi)) return FALSE;
    *v = (uint64_t)hi << 32 | lo;
    return TRUE;
}

/* A GGUF string: u64 length + bytes (no terminator). Returns a pointer into the mapping. */
static gboolean rd_str(Cursor *c, const char *what, const char **s, uint64_t *len)
{
    if (!rd_u64(c, what, len) || !need(c, *len, what)) return FALSE;
    *s = (const char *)c->base + c->pos;
    c->pos += (size_t)*len;
    return TRUE;
}

static size_t scalar_size(GgufType t)
{
    switch (t) {
    case GGUF_TYPE_UINT8:
    case GGUF_TYPE_INT8:
    case GGUF_TYPE_BOOL:
        return 1;
    case GGUF_TYPE_UINT16:
    case GGUF_TYPE_INT16:
        return 2;
    case GGUF_TYPE_UINT32:
    case GGUF_TYPE_INT32:
    case GGUF_TYPE_FLOAT32:
        return 4;
    case GGUF_TYPE_UINT64:
    case GGUF_TYPE_INT64:
    case GGUF_TYPE_FLOAT64:
        return 8;
    default:
        return 0;
    }
}

static gboolean type_ok(uint32_t t)
{
    return t <= GGUF_TYPE_FLOAT64;
}

/* ------------------------------------------------------------------------------------- */
/* Metadata                                                                               */

/* Decodes a scalar at p into kv (integers that fit an int64, floats). */
static void scalar_value(GgufKv *kv, const uint8_t *p)
{
    uint64_t u = 0;
    size_t n = scalar_size(kv->type);
    for (size_t i = n; i-- > 0;) u = (u << 8) | p[i];
    kv->i_ok = TRUE;
    switch (kv->type) {
    case GGUF_TYPE_INT8:
        kv->i = (int8_t)u;
        break;
    case GGUF_TYPE_INT16:
        kv->i = (int16_t)u;
        break;
    case GGUF_TYPE_INT32:
        kv->i = (int32_t)u;
        break;
    case GGUF_TYPE_INT64:
        kv->i = (int64_t)u;
        break;
    case GGUF_TYPE_UINT64:
        kv->i_ok = u <= (uint64_t)INT64_MAX;
        kv->i = (int64_t)u;
        break;
    case GGUF_TYPE_FLOAT32: {
        uint32_t b = (uint32_t)u;
        float f;
        memcpy(&f, &b, 4);
        kv->f = f;
        kv->i_ok = FALSE;
        break;
    }
    case GGUF_TYPE_FLOAT64:
        memcpy(&kv->f, &u, 8);
        kv->i_ok = FALSE;
        break;
    default:
        kv->i = (int64_t)u;
        break; /* unsigned 8-32, bool */
    }
}

/* Skips over an array's elements, checking every length. */
static gboolean skip_array(Cursor *c, const char *key, uint32_t et, uint64_t count, int depth)
{
    if (!type_ok(et)) return fail(c, "key '%s': array of unknown type %u", key, et);
    size_t es = scalar_size((GgufType)et);
    if (es) {
        if (count > left(c) / es)
            return fail(c,
                        "key '%s': array of %" G_GUINT64_FORMAT " elements of %zu bytes "
                        "overruns the file",
                        key, count, es);
        c->pos += (size_t)(count * es);
        return TRUE;
    }
    if (et == GGUF_TYPE_STRING) {
        if (count > left(c) / 8)
            return fail(c, "key '%s': array of %" G_GUINT64_FORMAT " strings overruns the file",
                        key, count);
        for (uint64_t i = 0; i < count; i++) {
            const char *s;
            uint64_t len;
            if (!rd_str(c, key, &s, &len)) return FALSE;
        }
        return TRUE;
    }
    /* nested arrays: each at least a type and a count */
    if (depth >= GGUF_MAX_NESTING)
        return fail(c, "key '%s': arrays nested deeper than %d", key, GGUF_MAX_NESTING);
    if (count > left(c) / 12)
        return fail(c, "key '%s': array of %" G_GUINT64_FORMAT " arrays overruns the file", key,
                    count);
    for (uint64_t i = 0; i < count; i++) {
        uint32_t et2;
        uint64_t n2;
        if (!rd_u32(c, key, &et2) || !rd_u64(c, key, &n2) ||
            !skip_array(c, key, et2, n2, depth + 1))
            return FALSE;
    }
    return TRUE;
}

static void kv_free(GgufKv *kv)
{
    g_free(kv->key);
    g_free(kv->str);
    g_free(kv);
}

static gboolean read_kv(Cursor *c, GgufFile *g, uint64_t index)
{
    const char *ks;
    uint64_t klen;
    uint32_t type;
    if (!rd_str(c, "metadata key", &ks, &klen)) return FALSE;
    if (memchr(ks, 0, (size_t)klen))
        return fail(c, "metadata key %" G_GUINT64_FORMAT " contains a NUL byte", index);
    GgufKv *kv = g_new0(GgufKv, 1);
    kv->key = g_strndup(ks, (gsize)klen);
    g_ptr_array_add(g->kvs, kv);
    if (g_hash_table_contains(g->by_key, kv->key))
        return fail(c, "metadata key '%s' appears twice", kv->key);
    g_hash_table_insert(g->by_key, kv->key, kv);
    if (!rd_u32(c, kv->key, &type)) return FALSE;
    if (!type_ok(type)) return fail(c, "metadata key '%s' has unknown type %u", kv->key, type);
    kv->type = (GgufType)type;
    if (type == GGUF_TYPE_STRING) {
        const char *s;
        uint64_t len;
        if (!rd_str(c, kv->key, &s, &len)) return FALSE;
        kv->str = g_strndup(s, (gsize)len); /* stops at an embedded NUL */
        return TRUE;
    }
    if (type == GGUF_TYPE_ARRAY) {
        uint32_t et;
        if (!rd_u32(c, kv->key, &et) || !rd_u64(c, kv->key, &kv->count)) return FALSE;
        kv->elem_type = (GgufType)et;
        return skip_array(c, kv->key, et, kv->count, 1);
    }
    size_t n = scalar_size(kv->type);
    if (!need(c, n, kv->key)) return FALSE;
    scalar_value(kv, c->base + c->pos);
    c->pos += n;
    return TRUE;
}

static void gguf_file_free(GgufFile *g)
{
    if (!g) return;
    if (g->map) g_mapped_file_unref(g->map);
    g_ptr_array_free(g->kvs, TRUE);
    g_hash_table_destroy(g->by_key);
    g_free(g->path);
    g_free(g);
}

static gboolean read_alignment(Cursor *c, GgufFile *g)
{
    GgufKv *kv = g_hash_table_lookup(g->by_key, "general.alignment");
    g->alignment = 32;
    if (!kv) return TRUE;
    if (kv->type != GGUF_TYPE_UINT32)
        return fail(c, "general.alignment has type %d, expected UINT32", (int)kv->type);
    if (kv->i == 0 || (kv->i & (kv->i - 1)) != 0)
        return fail(c, "general.alignment is %" G_GINT64_FORMAT ", not a power of two", kv->i);
    g->alignment = (guint32)kv->i;
    return TRUE;
}

/* ------------------------------------------------------------------------------------- */
/* Tensors                                                                               */

static const struct {
    int ggml;
    StDtype dt;
} type_map[] = {
    {0, ST_F32},  {1, ST_F16},   {2, ST_Q4_0},  {3, ST_Q4_1},  {6, ST_Q5_0}, {7, ST_Q5_1},
    {8, ST_Q8_0}, {12, ST_Q4_K}, {13, ST_Q5_K}, {14, ST_Q6_K}, {24, ST_I8},  {25, ST_I16},
    {26, ST_I32}, {27, ST_I64},  {28, ST_F64},  {30, ST_BF16},
};

/* ggml names of the types we do not read, for the message. */
static const char *ggml_type_name(uint32_t t)
{
    static const char *names[] = {
        [9] = "Q8_1",    [10] = "Q2_K",    [11] = "Q3_K",  [15] = "Q8_K",   [16] = "IQ2_XXS",
        [17] = "IQ2_XS", [18] = "IQ3_XXS", [19] = "IQ1_S", [20] = "IQ4_NL", [21] = "IQ3_S",
        [22] = "IQ2_S",  [23] = "IQ4_XS",  [29] = "IQ1_M", [34] = "TQ1_0",  [35] = "TQ2_0",
    };
    return t < G_N_ELEMENTS(names) && names[t] ? names[t] : "unknown";
}

int gguf_ggml_type(StDtype dt)
{
    for (gsize i = 0; i < G_N_ELEMENTS(type_map); i++)
        if (type_map[i].dt == dt) return type_map[i].ggml;
    return -1;
}

typedef struct {
    StTensor desc;
    uint64_t offset, nbytes;
} TInfo;

static gboolean read_tensor_info(Cursor *c, TInfo *ti, GStringChunk *names, uint64_t index)
{
    const char *s;
    uint64_t len;
    uint32_t nd, type;
    if (!rd_str(c, "tensor name", &s, &len)) return FALSE;
    if (len == 0 || memchr(s, 0, (size_t)len))
        return fail(c, "tensor %" G_GUINT64_FORMAT " has an empty name or a NUL byte in it", index);
    const char *name = g_string_chunk_insert_len(names, s, (gssize)len);
    ti->desc.name = name;
    if (!rd_u32(c, name, &nd)) return FALSE;
    if (nd < 1 || nd > GGUF_MAX_DIMS)
        return fail(c, "tensor '%s' has %u dimensions (1 to %d allowed)", name, nd, GGUF_MAX_DIMS);
    ti->desc.ndim = (int)nd;
    uint64_t numel = 1;
    for (uint32_t i = 0; i < nd; i++) {
        uint64_t d;
        if (!rd_u64(c, name, &d)) return FALSE;
        if (d > (uint64_t)INT64_MAX || (d && numel > (uint64_t)INT64_MAX / d))
            return fail(c, "tensor '%s': dimension %u (%" G_GUINT64_FORMAT ") overflows", name, i,
                        d);
        numel *= d;
        ti->desc.shape[nd - 1 - i] = (int64_t)d; /* innermost first → PyTorch order */
    }
    if (!rd_u32(c, name, &type) || !rd_u64(c, name, &ti->offset)) return FALSE;
    gsize k = 0;
    while (k < G_N_ELEMENTS(type_map) && type_map[k].ggml != (int)type) k++;
    if (k == G_N_ELEMENTS(type_map)) {
        g_set_error(c->error, FLUX_ERROR, FLUX_ERROR_UNSUPPORTED,
                    "%s: tensor '%s' has GGML type %u (%s), which this build cannot read "
                    "(supported: F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K)",
                    c->path, name, type, ggml_type_name(type));
        return FALSE;
    }
    ti->desc.dtype = type_map[k].dt;
    int blk;
    st_dtype_block(ti->desc.dtype, &blk, NULL);
    if (ti->desc.shape[nd - 1] % blk != 0)
        return fail(c,
                    "tensor '%s': rows of %" G_GINT64_FORMAT " elements are not whole %s "
                    "blocks of %d",
                    name, ti->desc.shape[nd - 1], st_dtype_name(ti->desc.dtype), blk);
    if (!st_dtype_nbytes(ti->desc.dtype, numel, &ti->nbytes))
        return fail(c, "tensor '%s': byte size overflows", name);
    return TRUE;
}

static gint cmp_offset(gconstpointer a, gconstpointer b)
{
    const TInfo *x = *(TInfo *const *)a, *y = *(TInfo *const *)b;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/* Offsets aligned, inside the data section, no two tensors sharing bytes. */
static gboolean check_placement(Cursor *c, TInfo *ti, uint64_t n, uint64_t data_size, guint32 align)
{
    g_autoptr(GPtrArray) sorted = g_ptr_array_sized_new((guint)n);
    for (uint64_t i = 0; i < n; i++) {
        TInfo *t = &ti[i];
        if (t->offset % align)
            return fail(c,
                        "tensor '%s': offset %" G_GUINT64_FORMAT " is not a multiple of the "
                        "alignment %u",
                        t->desc.name, t->offset, align);
        if (t->offset > data_size || t->nbytes > data_size - t->offset)
            return fail(c,
                        "tensor '%s': bytes [%" G_GUINT64_FORMAT ", +%" G_GUINT64_FORMAT
                        ") outside the data section of %" G_GUINT64_FORMAT " bytes",
                        t->desc.name, t->offset, t->nbytes, data_size);
        g_ptr_array_add(sorted, t);
    }
    g_ptr_array_sort(sorted, cmp_offset);
    for (guint i = 1; i < sorted->len; i++) {
        const TInfo *p = g_ptr_array_index(sorted, i - 1), *t = g_ptr_array_index(sorted, i);
        if (p->nbytes && t->nbytes && t->offset < p->offset + p->nbytes)
            return fail(c, "tensor '%s' overlaps tensor '%s' in the data section", t->desc.name,
                        p->desc.name);
    }
    return TRUE;
}

static gboolean read_header(Cursor *c, GgufFile *g, uint64_t *n_tensors)
{
    uint32_t magic;
    uint64_t n_kv;
    if (c->size < 4 || memcmp(c->base, "GGUF", 4) != 0)
        return fail(c, "not a GGUF file (bad magic)");
    if (!rd_u32(c, "magic", &magic) || !rd_u32(c, "version", &g->version)) return FALSE;
    if (g->version != 2 && g->version != 3)
        return fail(c, "GGUF version %u (2 and 3 are supported)", g->version);
    if (!rd_u64(c, "tensor count", n_tensors) || !rd_u64(c, "metadata count", &n_kv)) return FALSE;
    /* a KV pair takes at least 13 bytes, a tensor info 24: refuse counts the file cannot hold */
    if (n_kv > left(c) / 13)
        return fail(c, "%" G_GUINT64_FORMAT " metadata pairs cannot fit in %zu bytes", n_kv,
                    left(c));
    for (uint64_t i = 0; i < n_kv; i++)
        if (!read_kv(c, g, i)) return FALSE;
    if (*n_tensors > left(c) / 24)
        return fail(c, "%" G_GUINT64_FORMAT " tensors cannot fit in %zu bytes", *n_tensors,
                    left(c));
    return read_alignment(c, g);
}

static gboolean read_tensors(Cursor *c, GgufFile *g, uint64_t n, StArchive *a)
{
    GStringChunk *names = g_string_chunk_new(4096);
    TInfo *ti = g_new0(TInfo, n ? n : 1);
    gboolean ok = TRUE;
    for (uint64_t i = 0; ok && i < n; i++) ok = read_tensor_info(c, &ti[i], names, i);
    uint64_t data_start = ((uint64_t)c->pos + g->alignment - 1) / g->alignment * g->alignment;
    if (ok && n && data_start > c->size)
        ok = fail(c,
                  "the data section would start at %" G_GUINT64_FORMAT
                  ", past the end of the file (%zu bytes)",
                  data_start, c->size);
    uint64_t data_size = data_start <= c->size ? c->size - data_start : 0;
    ok = ok && check_placement(c, ti, n, data_size, g->alignment);
    for (uint64_t i = 0; ok && i < n; i++) {
        ti[i].desc.data = c->base + data_start + ti[i].offset;
        ti[i].desc.file = c->path;
        ok = st_archive_add(a, &ti[i].desc, c->error) != NULL;
    }
    g_free(ti);
    g_string_chunk_free(names); /* st_archive_add copied the names */
    return ok;
}

StArchive *gguf_open(const char *path, GError **error)
{
    GError *merr = NULL;
    GMappedFile *map = g_mapped_file_new(path, FALSE, &merr);
    if (!map) {
        g_set_error(error, FLUX_ERROR, FLUX_ERROR_IO, "%s: cannot open (%s)", path, merr->message);
        g_error_free(merr);
        return NULL;
    }
    GgufFile *g = g_new0(GgufFile, 1);
    g->path = g_strdup(path);
    g->map = map;
    g->kvs = g_ptr_array_new_with_free_func((GDestroyNotify)kv_free);
    g->by_key = g_hash_table_new(g_str_hash, g_str_equal);
    StArchive *a = st_archive_new(path);
    st_archive_attach(a, "gguf", g, (GDestroyNotify)gguf_file_free);

    Cursor c = {(const uint8_t *)g_mapped_file_get_contents(map), g_mapped_file_get_length(map), 0,
                path, error};
    uint64_t n_tensors = 0;
    if (!read_header(&c, g, &n_tensors) || !read_tensors(&c, g, n_tensors, a)) {
        st_archive_free(a);
        return NULL;
    }
    return a;
}

gboolean gguf_is_gguf(const char *path)
{
    char magic[4] = {0};
    FILE *f = fopen(path, "rb");
    if (!f) return FALSE;
    gboolean ok = fread(magic, 1, 4, f) == 4 && memcmp(magic, "GGUF", 4) == 0;
    fclose(f);
    return ok;
}

/* ------------------------------------------------------------------------------------- */
/* Metadata getters                                                                      */

const GgufFile *gguf_archive_file(const StArchive *a)
{
    return st_archive_attached(a, "gguf");
}
guint32 gguf_version(const GgufFile *g)
{
    return g->version;
}
guint32 gguf_alignment(const GgufFile *g)
{
    return g->alignment;
}
gsize gguf_n_kv(const GgufFile *g)
{
    return g->kvs->len;
}
const char *gguf_kv_key(const GgufFile *g, gsize i)
{
    return i < g->kvs->len ? ((GgufKv *)g_ptr_array_index(g->kvs, i))->key : NULL;
}

gboolean gguf_kv_type(const GgufFile *g, const char *key, GgufType *type, GgufType *elem_type,
                      uint64_t *count)
{
    const GgufKv *kv = g_hash_table_lookup(g->by_key, key);
    if (!kv) return FALSE;
    if (type) *type = kv->type;
    if (elem_type) *elem_type = kv->elem_type;
    if (count) *count = kv->count;
    return TRUE;
}

const char *gguf_get_string(const GgufFile *g, const char *key)
{
    const GgufKv *kv = g_hash_table_lookup(g->by_key, key);
    return kv && kv->type == GGUF_TYPE_STRING ? kv->str : NULL;
}

gboolean gguf_get_int(const GgufFile *g, const char *key, int64_t *out)
{
    const GgufKv *kv = g_hash_table_lookup(g->by_key, key);
    if (!kv || kv->type == GGUF_TYPE_STRING || kv->type == GGUF_TYPE_ARRAY || !kv->i_ok)
        return FALSE;
    *out = kv->i;
    return TRUE;
}

gboolean gguf_get_float(const GgufFile *g, const char *key, double *out)
{
    const GgufKv *kv = g_hash_table_lookup(g->by_key, key);
    if (!kv || (kv->type != GGUF_TYPE_FLOAT32 && kv->type != GGUF_TYPE_FLOAT64)) return FALSE;
    *out = kv->f;
    return TRUE;
}
