/* test_gguf.c — the GGUF reader (core/formats/gguf.c) on files built here byte by byte: a valid
 * file (v2 and v3, every KV type, nested arrays, dims reversed to PyTorch order, alignment) and
 * hostile ones (bad magic, every truncation, offsets past the end or misaligned, overlaps,
 * huge counts and lengths, bad alignment, unknown types, too many dims, partial blocks). */
#include "flux.h"
#include "gguf.h"
#include "quant.h"
#include "testutil.h"

#include <glib/gstdio.h>
#include <string.h>

/* ------------------------------------------------------------------------------------- */
/* A small GGUF writer with knobs for breaking it                                        */

typedef struct {
    guint32 version;
    guint64 n_tensors_delta; /* added to the true count */
    guint64 n_kv_override;   /* 0: the true count */
    int align_type;          /* -1: no general.alignment KV; else its GGUF type */
    guint64 align_value;
    guint32 w_type; /* GGML type of "w" (0 = F32) */
    guint32 w_ndims;
    guint64 w_offset, q_offset;
    guint64 str_len_override; /* architecture string length lie, 0: none */
    guint64 arr_count_override;
    int nesting; /* extra nesting depth of test.nested */
    const char *q_name;
    guint64 q_row; /* row length of the Q8_0 tensor "q" (32) */
} Opts;

static Opts defaults(void)
{
    return (Opts){.version = 3,
                  .align_type = -1,
                  .w_ndims = 2,
                  .w_offset = 0,
                  .q_offset = 32,
                  .q_name = "q",
                  .q_row = 32};
}

static void u32(GByteArray *b, guint32 v)
{
    guint8 x[4] = {v, v >> 8, v >> 16, v >> 24};
    g_byte_array_append(b, x, 4);
}

static void u64(GByteArray *b, guint64 v)
{
    u32(b, (guint32)v);
    u32(b, (guint32)(v >> 32));
}

static void str(GByteArray *b, const char *s, guint64 len_lie)
{
    u64(b, len_lie ? len_lie : strlen(s));
    g_byte_array_append(b, (const guint8 *)s, (guint)strlen(s));
}

/* "w": F32 [2, 3] = 0..5 (GGUF dims 3, 2); "q": Q8_0 [1, 32] with d = 0.5, q = j - 16. */
static GByteArray *build(const Opts *o)
{
    GByteArray *b = g_byte_array_new();
    g_byte_array_append(b, (const guint8 *)"GGUF", 4);
    u32(b, o->version);
    u64(b, 2 + o->n_tensors_delta);
    guint64 n_kv = 7 + (o->align_type >= 0);
    u64(b, o->n_kv_override ? o->n_kv_override : n_kv);
    str(b, "general.architecture", 0), u32(b, GGUF_TYPE_STRING),
        str(b, "flux", o->str_len_override);
    str(b, "t.u8", 0), u32(b, GGUF_TYPE_UINT8), g_byte_array_append(b, (const guint8 *)"\x07", 1);
    str(b, "t.i32", 0), u32(b, GGUF_TYPE_INT32), u32(b, (guint32)-5);
    str(b, "t.f64", 0), u32(b, GGUF_TYPE_FLOAT64), u64(b, 0x4004000000000000ull); /* 2.5 */
    str(b, "t.u64", 0), u32(b, GGUF_TYPE_UINT64), u64(b, G_MAXUINT64);
    str(b, "t.strings", 0), u32(b, GGUF_TYPE_ARRAY), u32(b, GGUF_TYPE_STRING);
    u64(b, o->arr_count_override ? o->arr_count_override : 2), str(b, "ab", 0), str(b, "", 0);
    /* test.nested: [[1, 2], [3]] of u16, wrapped in `nesting` more single-element arrays */
    str(b, "test.nested", 0), u32(b, GGUF_TYPE_ARRAY);
    for (int i = 0; i < o->nesting; i++) u32(b, GGUF_TYPE_ARRAY), u64(b, 1);
    u32(b, GGUF_TYPE_ARRAY), u64(b, 2);
    u32(b, GGUF_TYPE_UINT16), u64(b, 2), g_byte_array_append(b, (const guint8 *)"\1\0\2\0", 4);
    u32(b, GGUF_TYPE_UINT16), u64(b, 1), g_byte_array_append(b, (const guint8 *)"\3\0", 2);
    if (o->align_type >= 0) {
        str(b, "general.alignment", 0), u32(b, (guint32)o->align_type);
        if (o->align_type == GGUF_TYPE_UINT64)
            u64(b, o->align_value);
        else
            u32(b, (guint32)o->align_value);
    }
    str(b, "w", 0), u32(b, o->w_ndims);
    for (guint32 i = 0; i < o->w_ndims; i++) u64(b, i == 0 ? 3 : i == 1 ? 2 : 1);
    u32(b, o->w_type), u64(b, o->w_offset);
    str(b, o->q_name, 0), u32(b, 2), u64(b, o->q_row), u64(b, 1), u32(b, 8), u64(b, o->q_offset);
    guint align = o->align_type == GGUF_TYPE_UINT32 && o->align_value ? (guint)o->align_value : 32;
    while (b->len % align) g_byte_array_append(b, (const guint8 *)"\0", 1);
    guint base = b->len;
    for (int i = 0; i < 6; i++) {
        float f = (float)i;
        g_byte_array_append(b, (const guint8 *)&f, 4);
    }
    guint64 qpos = o->q_offset >= 24 && o->q_offset < 4096 ? o->q_offset : 32;
    while (b->len < base + qpos) g_byte_array_append(b, (const guint8 *)"\0", 1);
    g_byte_array_append(b, (const guint8 *)"\x00\x38", 2); /* half 0.5 */
    for (int j = 0; j < 32; j++) {
        guint8 q = (guint8)(gint8)(j - 16);
        g_byte_array_append(b, &q, 1);
    }
    return b;
}

static char *write_tmp(GByteArray *b)
{
    char *p = tu_temp_file(".gguf", b->data, b->len);
    g_byte_array_unref(b);
    return p;
}

/* Opens a file built from `o`; expects failure with `code`, and `needle` in the message. */
static void expect_fail(const Opts *o, int code, const char *needle)
{
    g_autofree char *p = write_tmp(build(o));
    GError *err = NULL;
    StArchive *a = gguf_open(p, &err);
    g_assert_null(a);
    g_assert_error(err, FLUX_ERROR, code);
    if (!strstr(err->message, needle)) g_error("message '%s' lacks '%s'", err->message, needle);
    g_assert_nonnull(strstr(err->message, p)); /* names the file */
    g_error_free(err);
}

/* ------------------------------------------------------------------------------------- */

static void check_valid(const Opts *o)
{
    g_autofree char *p = write_tmp(build(o));
    GError *err = NULL;
    StArchive *a = gguf_open(p, &err);
    g_assert_no_error(err);
    g_assert_cmpuint(st_archive_n_tensors(a), ==, 2);
    StTensor *w = st_archive_find(a, "w");
    g_assert_cmpint(w->dtype, ==, ST_F32);
    g_assert_cmpint(w->ndim, ==, 2);
    g_assert_cmpint(w->shape[0], ==, 2); /* GGUF dims (3, 2) → PyTorch [2, 3] */
    g_assert_cmpint(w->shape[1], ==, 3);
    float v[6];
    st_to_f32(v, w, 0, 6);
    for (int i = 0; i < 6; i++) g_assert_cmpfloat(v[i], ==, (float)i);
    StTensor *q = st_archive_find(a, "q");
    g_assert_cmpint(q->dtype, ==, ST_Q8_0);
    g_assert_cmpint(q->nbytes, ==, 34);
    float y[32];
    st_to_f32(y, q, 0, 32);
    for (int j = 0; j < 32; j++) g_assert_cmpfloat(y[j], ==, 0.5f * (float)(j - 16));

    const GgufFile *g = gguf_archive_file(a);
    g_assert_cmpuint(gguf_version(g), ==, o->version);
    g_assert_cmpstr(gguf_get_string(g, "general.architecture"), ==, "flux");
    int64_t i;
    double f;
    g_assert_true(gguf_get_int(g, "t.u8", &i) && i == 7);
    g_assert_true(gguf_get_int(g, "t.i32", &i) && i == -5);
    g_assert_false(gguf_get_int(g, "t.u64", &i)); /* does not fit an int64 */
    g_assert_true(gguf_get_float(g, "t.f64", &f) && f == 2.5);
    GgufType t, et;
    guint64 n;
    g_assert_true(gguf_kv_type(g, "t.strings", &t, &et, &n));
    g_assert_cmpint(t, ==, GGUF_TYPE_ARRAY);
    g_assert_cmpint(et, ==, GGUF_TYPE_STRING);
    g_assert_cmpuint(n, ==, 2);
    g_assert_null(gguf_get_string(g, "t.u8"));
    g_assert_false(gguf_kv_type(g, "absent", NULL, NULL, NULL));
    g_assert_cmpstr(gguf_kv_key(g, 0), ==, "general.architecture");
    st_archive_free(a);
}

static void test_valid(void)
{
    Opts o = defaults();
    check_valid(&o);
    o.version = 2;
    check_valid(&o);
    o = defaults();
    o.align_type = GGUF_TYPE_UINT32, o.align_value = 64, o.q_offset = 64;
    check_valid(&o);
    o.nesting = 3;
    check_valid(&o);
}

static void test_bad_magic_version(void)
{
    GByteArray *b = build(&(Opts){
        .version = 3, .align_type = -1, .w_ndims = 2, .q_offset = 32, .q_name = "q", .q_row = 32});
    b->data[0] = 'X';
    g_autofree char *p = write_tmp(b);
    GError *err = NULL;
    g_assert_null(gguf_open(p, &err));
    g_assert_error(err, FLUX_ERROR, FLUX_ERROR_FORMAT);
    g_assert_nonnull(strstr(err->message, "magic"));
    g_clear_error(&err);
    Opts o = defaults();
    o.version = 1;
    expect_fail(&o, FLUX_ERROR_FORMAT, "version 1");
    o.version = 4;
    expect_fail(&o, FLUX_ERROR_FORMAT, "version 4");
    g_assert_null(gguf_open("/nonexistent/x.gguf", &err));
    g_assert_error(err, FLUX_ERROR, FLUX_ERROR_IO);
    g_clear_error(&err);
}

/* Every proper prefix of a valid file must be refused cleanly (the data runs to the end). */
static void test_truncated(void)
{
    Opts o = defaults();
    GByteArray *b = build(&o);
    for (guint len = 0; len < b->len; len++) {
        g_autofree char *p = tu_temp_file(".gguf", b->data, len);
        GError *err = NULL;
        StArchive *a = gguf_open(p, &err);
        if (a) g_error("a file cut to %u of %u bytes was accepted", len, b->len);
        g_assert_error(err, FLUX_ERROR, FLUX_ERROR_FORMAT);
        g_error_free(err);
        g_unlink(p);
    }
    g_byte_array_unref(b);
}

static void test_offsets(void)
{
    Opts o = defaults();
    o.q_offset = 1u << 20;
    expect_fail(&o, FLUX_ERROR_FORMAT, "outside the data section");
    o = defaults();
    o.q_offset = G_MAXUINT64 - 31; /* aligned, and offset + size overflows */
    expect_fail(&o, FLUX_ERROR_FORMAT, "outside the data section");
    o = defaults();
    o.q_offset = 8;
    expect_fail(&o, FLUX_ERROR_FORMAT, "not a multiple of the alignment");
    o = defaults();
    o.q_offset = 0; /* on top of w */
    expect_fail(&o, FLUX_ERROR_FORMAT, "overlaps");
    o = defaults();
    o.q_name = "w";
    expect_fail(&o, FLUX_ERROR_FORMAT, "twice");
}

static void test_huge_counts(void)
{
    Opts o = defaults();
    o.n_tensors_delta = G_MAXUINT64 / 2;
    expect_fail(&o, FLUX_ERROR_FORMAT, "tensors cannot fit");
    o = defaults();
    o.n_kv_override = G_MAXUINT64;
    expect_fail(&o, FLUX_ERROR_FORMAT, "metadata pairs cannot fit");
    o = defaults();
    o.n_tensors_delta = 1; /* one more tensor info than the file has */
    expect_fail(&o, FLUX_ERROR_FORMAT, "");
    o = defaults();
    o.str_len_override = G_MAXUINT64;
    expect_fail(&o, FLUX_ERROR_FORMAT, "truncated or corrupt");
    o = defaults();
    o.arr_count_override = G_MAXUINT64 / 4;
    expect_fail(&o, FLUX_ERROR_FORMAT, "overruns the file");
    o = defaults();
    o.nesting = 20;
    expect_fail(&o, FLUX_ERROR_FORMAT, "nested deeper");
}

static void test_alignment(void)
{
    Opts o = defaults();
    o.align_type = GGUF_TYPE_UINT32, o.align_value = 0;
    expect_fail(&o, FLUX_ERROR_FORMAT, "not a power of two");
    o.align_value = 48;
    expect_fail(&o, FLUX_ERROR_FORMAT, "not a power of two");
    o.align_type = GGUF_TYPE_UINT64, o.align_value = 32;
    expect_fail(&o, FLUX_ERROR_FORMAT, "expected UINT32");
}

static void test_types_dims(void)
{
    Opts o = defaults();
    o.w_type = 10; /* Q2_K: valid GGML, not read by this build */
    expect_fail(&o, FLUX_ERROR_UNSUPPORTED, "tensor 'w' has GGML type 10 (Q2_K)");
    o.w_type = 999;
    expect_fail(&o, FLUX_ERROR_UNSUPPORTED, "tensor 'w' has GGML type 999");
    o = defaults();
    o.w_ndims = 5;
    expect_fail(&o, FLUX_ERROR_FORMAT, "5 dimensions");
    o.w_ndims = 0;
    expect_fail(&o, FLUX_ERROR_FORMAT, "0 dimensions");
    o = defaults();
    o.q_row = 16; /* half a Q8_0 block per row */
    expect_fail(&o, FLUX_ERROR_FORMAT, "not whole Q8_0 blocks");
}

/* Archive views on GGUF tensors: a row range of a block type starts on a block. */
static void test_views(void)
{
    Opts o = defaults();
    g_autofree char *p = write_tmp(build(&o));
    StArchive *a = gguf_open(p, NULL);
    StTensor *w = st_archive_find(a, "w"), *q = st_archive_find(a, "q");
    GError *err = NULL;
    int64_t row[2] = {1, 3};
    StTensor *v = st_archive_add_view(a, "w.row1", w, 3, 2, row, &err);
    g_assert_no_error(err);
    float x[3];
    st_to_f32(x, v, 0, 3);
    g_assert_cmpfloat(x[0], ==, 3.0f);
    int64_t half[2] = {1, 16};
    g_assert_null(st_archive_add_view(a, "q.half", q, 0, 2, half, &err));
    g_assert_error(err, FLUX_ERROR, FLUX_ERROR_FORMAT);
    g_clear_error(&err);
    int64_t two[2] = {2, 32};
    g_assert_null(st_archive_add_view(a, "q.two", q, 0, 2, two, &err)); /* past its end */
    g_assert_error(err, FLUX_ERROR, FLUX_ERROR_FORMAT);
    g_clear_error(&err);
    st_archive_free(a);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/gguf/valid", test_valid);
    g_test_add_func("/gguf/rejects-bad-magic-and-version", test_bad_magic_version);
    g_test_add_func("/gguf/rejects-every-truncation", test_truncated);
    g_test_add_func("/gguf/rejects-bad-offsets", test_offsets);
    g_test_add_func("/gguf/rejects-huge-counts", test_huge_counts);
    g_test_add_func("/gguf/rejects-bad-alignment", test_alignment);
    g_test_add_func("/gguf/rejects-bad-types-and-dims", test_types_dims);
    g_test_add_func("/gguf/views", test_views);
    return g_test_run();
}
