/* test_safetensors.c — the reader's validation (every rule of the format), the shard index,
 * dtype conversion, and the writer's round trip. */
#include "flux.h"
#include "safetensors.h"
#include "testutil.h"

#include <math.h>
#include <string.h>

/* Builds a file: 8-byte length, `header`, then `data_len` bytes of data. */
static char *make_file(const char *header, size_t data_len)
{
    size_t hl = strlen(header);
    GByteArray *b = g_byte_array_new();
    for (int i = 0; i < 8; i++) {
        guint8 c = (guint8)((guint64)hl >> (8 * i));
        g_byte_array_append(b, &c, 1);
    }
    g_byte_array_append(b, (const guint8 *)header, (guint)hl);
    for (size_t i = 0; i < data_len; i++) {
        guint8 c = (guint8)i;
        g_byte_array_append(b, &c, 1);
    }
    char *p = tu_temp_file(".safetensors", b->data, b->len);
    g_byte_array_free(b, TRUE);
    return p;
}

/* Opens a crafted file and checks that it fails with a message containing `needle`. */
static void expect_error(const char *header, size_t data_len, const char *needle)
{
    g_autofree char *p = make_file(header, data_len);
    GError *err = NULL;
    StFile *f = st_file_open(p, &err);
    g_assert_null(f);
    g_assert_error(err, FLUX_ERROR, FLUX_ERROR_FORMAT);
    if (!strstr(err->message, needle) || !strstr(err->message, p))
        g_test_fail_printf("message '%s' lacks '%s' or the path", err->message, needle);
    g_error_free(err);
}

static void test_valid(void)
{
    g_autofree char *p =
        make_file("{\"__metadata__\":{\"format\":\"pt\"},"
                  "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]},"
                  "\"a\":{\"dtype\":\"BF16\",\"shape\":[2,2],\"data_offsets\":[0,8]}}",
                  16);
    GError *err = NULL;
    StFile *f = st_file_open(p, &err);
    g_assert_no_error(err);
    g_assert_cmpuint(st_file_n_tensors(f), ==, 2);
    /* file order = offset order */
    g_assert_cmpstr(st_file_tensor(f, 0)->name, ==, "a");
    StTensor *b = st_file_find(f, "b");
    g_assert_nonnull(b);
    g_assert_cmpint(b->dtype, ==, ST_F32);
    g_assert_cmpint(b->ndim, ==, 1);
    g_assert_cmpint(b->shape[0], ==, 2);
    g_assert_cmpuint(b->nbytes, ==, 8);
    g_assert_cmpstr(st_file_metadata(f, "format"), ==, "pt");
    g_assert_null(st_file_find(f, "c"));
    st_file_free(f);
}

static void test_scalar_and_empty(void)
{
    g_autofree char *p =
        make_file("{\"s\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]},"
                  "\"e\":{\"dtype\":\"F16\",\"shape\":[0,3],\"data_offsets\":[4,4]}}",
                  4);
    GError *err = NULL;
    StFile *f = st_file_open(p, &err);
    g_assert_no_error(err);
    g_assert_cmpint(st_file_find(f, "s")->numel, ==, 1);
    g_assert_cmpint(st_file_find(f, "e")->numel, ==, 0);
    st_file_free(f);
}

/* Regression (found by fuzz_safetensors): a header with no tensors is a valid, empty file. */
static void test_no_tensors(void)
{
    g_autofree char *p = make_file("{}", 0);
    GError *err = NULL;
    StFile *f = st_file_open(p, &err);
    g_assert_no_error(err);
    g_assert_cmpuint(st_file_n_tensors(f), ==, 0);
    st_file_free(f);
}

static void test_rejects(void)
{
    expect_error("{\"a\":{\"dtype\":\"F33\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
                 "unknown dtype");
    expect_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,12]}}", 8,
                 "outside the data section");
    expect_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8,
                 "expected 12");
    expect_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                 "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
                 12, "overlaps");
    expect_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", 8,
                 "outside the data section");
    expect_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8,
                 "non-negative");
    expect_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[2.5],\"data_offsets\":[0,8]}}", 8,
                 "non-negative");
    expect_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,4294967296],"
                 "\"data_offsets\":[0,8]}}",
                 8, "overflow");
    expect_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[2]}}", 8, "data_offsets");
    expect_error("{\"a\":{\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "dtype");
    expect_error("{\"a\":[1,2]}", 8, "not an object");
    expect_error("[1,2,3]", 8, "not a JSON object");
    expect_error("{\"a\": tru", 8, "not valid JSON");
    expect_error("{\"__metadata__\":3}", 0, "__metadata__");
}

static void test_bad_lengths(void)
{
    GError *err = NULL;
    /* shorter than the 8-byte length */
    g_autofree char *p1 = tu_temp_file(".safetensors", "abc", 3);
    g_assert_null(st_file_open(p1, &err));
    g_assert_error(err, FLUX_ERROR, FLUX_ERROR_FORMAT);
    g_assert_nonnull(strstr(err->message, "too short"));
    g_clear_error(&err);
    /* header length beyond the end of the file */
    guint8 buf[16] = {0xff, 0xff, 0, 0, 0, 0, 0, 0, '{', '}'};
    g_autofree char *p2 = tu_temp_file(".safetensors", buf, 10);
    g_assert_null(st_file_open(p2, &err));
    g_assert_nonnull(strstr(err->message, "header length"));
    g_clear_error(&err);
    /* a real file truncated in its data section */
    g_autofree char *good =
        make_file("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 16);
    gchar *contents;
    gsize len;
    g_assert_true(g_file_get_contents(good, &contents, &len, NULL));
    g_autofree char *p3 = tu_temp_file(".safetensors", contents, len - 5);
    g_free(contents);
    g_assert_null(st_file_open(p3, &err));
    g_assert_nonnull(strstr(err->message, "'a'"));
    g_clear_error(&err);
    /* missing file: an I/O error naming it */
    g_assert_null(st_file_open("/nonexistent/x.safetensors", &err));
    g_assert_error(err, FLUX_ERROR, FLUX_ERROR_IO);
    g_assert_nonnull(strstr(err->message, "/nonexistent/x.safetensors"));
    g_clear_error(&err);
}

static void test_conversion(void)
{
    /* bf16 0x3fc0 = 1.5, f16 0x3e00 = 1.5, f16 subnormal 0x0001 = 2^-24, f16 0xfc00 = -inf,
     * e4m3 0x38 = 1.0, 0x7e = 448 */
    guint16 bf[2] = {0x3fc0, 0xc000};
    guint16 hf[4] = {0x3e00, 0x0001, 0xfc00, 0x7bff};
    guint8 f8[3] = {0x38, 0x7e, 0x81};
    StTensor t = {0};
    float out[4];
    t.dtype = ST_BF16;
    t.numel = 2;
    t.data = bf;
    st_to_f32(out, &t, 0, 2);
    g_assert_cmpfloat(out[0], ==, 1.5f);
    g_assert_cmpfloat(out[1], ==, -2.0f);
    t.dtype = ST_F16;
    t.numel = 4;
    t.data = hf;
    st_to_f32(out, &t, 0, 4);
    g_assert_cmpfloat(out[0], ==, 1.5f);
    g_assert_cmpfloat(out[1], ==, ldexpf(1.0f, -24));
    g_assert_true(isinf(out[2]) && out[2] < 0);
    g_assert_cmpfloat(out[3], ==, 65504.0f);
    t.dtype = ST_F8_E4M3;
    t.numel = 3;
    t.data = f8;
    st_to_f32(out, &t, 0, 3);
    g_assert_cmpfloat(out[0], ==, 1.0f);
    g_assert_cmpfloat(out[1], ==, 448.0f);
    g_assert_cmpfloat(out[2], ==, -ldexpf(1.0f, -9));
}

static void test_writer_roundtrip(void)
{
    g_autofree char *dir = tu_temp_dir();
    g_autofree char *path = g_build_filename(dir, "out.safetensors", NULL);
    float x[6] = {1, 2, 3, 4, 5, 6};
    gint64 ids[3] = {49406, -1, 7};
    int64_t s1[2] = {2, 3}, s2[1] = {3};
    StWriter *w = st_writer_new();
    st_writer_add(w, "x", ST_F32, 2, s1, x);
    st_writer_add(w, "ids", ST_I64, 1, s2, ids);
    GError *err = NULL;
    g_assert_true(st_writer_save(w, path, &err));
    st_writer_free(w);
    StFile *f = st_file_open(path, &err);
    g_assert_no_error(err);
    StTensor *tx = st_file_find(f, "x"), *ti = st_file_find(f, "ids");
    g_assert_cmpint(tx->shape[1], ==, 3);
    g_assert_cmpmem(tx->data, tx->nbytes, x, sizeof x);
    g_assert_cmpmem(ti->data, ti->nbytes, ids, sizeof ids);
    g_assert_cmpuint(((uintptr_t)tx->data - (uintptr_t)ti->data) % 4, ==, 0);
    st_file_free(f);
    /* a directory that does not exist: error, nothing written */
    g_autofree char *bad = g_build_filename(dir, "no", "such", "out.safetensors", NULL);
    w = st_writer_new();
    g_assert_false(st_writer_save(w, bad, &err));
    g_assert_error(err, FLUX_ERROR, FLUX_ERROR_IO);
    g_clear_error(&err);
    st_writer_free(w);
}

static void write_shard(const char *dir, const char *name, const char *tensor, float v)
{
    g_autofree char *p = g_build_filename(dir, name, NULL);
    int64_t s[1] = {1};
    StWriter *w = st_writer_new();
    st_writer_add(w, tensor, ST_F32, 1, s, &v);
    GError *err = NULL;
    g_assert_true(st_writer_save(w, p, &err));
    st_writer_free(w);
}

static void write_text(const char *dir, const char *name, const char *text)
{
    g_autofree char *p = g_build_filename(dir, name, NULL);
    g_assert_true(g_file_set_contents(p, text, -1, NULL));
}

static void test_sharded(void)
{
    g_autofree char *dir = tu_temp_dir();
    write_shard(dir, "m-1.safetensors", "a", 1.0f);
    write_shard(dir, "m-2.safetensors", "b", 2.0f);
    write_text(
        dir, "model.safetensors.index.json",
        "{\"metadata\":{},\"weight_map\":{\"a\":\"m-1.safetensors\",\"b\":\"m-2.safetensors\"}}");
    GError *err = NULL;
    StArchive *a = st_archive_open_dir(dir, "model", &err);
    g_assert_no_error(err);
    g_assert_cmpuint(st_archive_n_tensors(a), ==, 2);
    StTensor *b = st_archive_find(a, "b");
    g_assert_true(g_str_has_suffix(b->file, "m-2.safetensors"));
    g_assert_cmpfloat(st_archive_f32(a, b)[0], ==, 2.0f);
    char **unused = NULL;
    st_archive_find(a, "a")->used = TRUE;
    g_assert_cmpuint(st_archive_unused(a, &unused), ==, 1);
    g_assert_cmpstr(unused[0], ==, "b");
    g_strfreev(unused);
    st_archive_free(a);

    /* a shard that is missing */
    write_text(dir, "model.safetensors.index.json",
               "{\"weight_map\":{\"a\":\"m-1.safetensors\",\"c\":\"m-3.safetensors\"}}");
    g_assert_null(st_archive_open_dir(dir, "model", &err));
    g_assert_error(err, FLUX_ERROR, FLUX_ERROR_IO);
    g_assert_nonnull(strstr(err->message, "m-3.safetensors"));
    g_clear_error(&err);
    /* a tensor the index places in a shard that lacks it */
    write_text(dir, "model.safetensors.index.json",
               "{\"weight_map\":{\"a\":\"m-1.safetensors\",\"z\":\"m-2.safetensors\"}}");
    g_assert_null(st_archive_open_dir(dir, "model", &err));
    g_assert_nonnull(strstr(err->message, "'z'"));
    g_clear_error(&err);
    /* a shard path that escapes the folder */
    write_text(dir, "model.safetensors.index.json",
               "{\"weight_map\":{\"a\":\"../m-1.safetensors\"}}");
    g_assert_null(st_archive_open_dir(dir, "model", &err));
    g_assert_nonnull(strstr(err->message, "invalid shard"));
    g_clear_error(&err);
    /* the same tensor in two shards */
    write_shard(dir, "m-2.safetensors", "a", 2.0f);
    write_text(dir, "model.safetensors.index.json",
               "{\"weight_map\":{\"a\":\"m-1.safetensors\",\"x\":\"m-2.safetensors\"}}");
    g_assert_null(st_archive_open_dir(dir, "model", &err));
    g_assert_nonnull(strstr(err->message, "also in"));
    g_clear_error(&err);
    /* not JSON */
    write_text(dir, "model.safetensors.index.json", "{oops");
    g_assert_null(st_archive_open_dir(dir, "model", &err));
    g_assert_error(err, FLUX_ERROR, FLUX_ERROR_FORMAT);
    g_clear_error(&err);
    /* no weights at all */
    g_autofree char *empty = tu_temp_dir();
    g_assert_null(st_archive_open_dir(empty, "model", &err));
    g_assert_error(err, FLUX_ERROR, FLUX_ERROR_IO);
    g_clear_error(&err);
}

static void test_reference_files(void)
{
    /* every golden file and every model weight file of the pack passes validation */
    const char *files[] = {"rng.safetensors", "tokenizers.safetensors", "transformer.safetensors",
                           "vae.safetensors", "pipeline_p64x64_s4.safetensors"};
    for (guint i = 0; i < G_N_ELEMENTS(files); i++)
        g_assert_cmpuint(st_file_n_tensors(tu_golden(files[i])), >, 0);
    g_autofree char *dit = tu_model_path("transformer");
    GError *err = NULL;
    StArchive *a = st_archive_open_dir(dit, "diffusion_pytorch_model", &err);
    g_assert_no_error(err);
    StTensor *t = st_archive_find(a, "x_embedder.weight");
    g_assert_nonnull(t);
    g_assert_cmpint(t->dtype, ==, ST_F32);
    g_assert_cmpint(t->shape[1], ==, 64);
    st_archive_free(a);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/safetensors/valid", test_valid);
    g_test_add_func("/safetensors/scalar-and-empty", test_scalar_and_empty);
    g_test_add_func("/safetensors/no-tensors", test_no_tensors);
    g_test_add_func("/safetensors/rejects-bad-headers", test_rejects);
    g_test_add_func("/safetensors/rejects-bad-lengths", test_bad_lengths);
    g_test_add_func("/safetensors/dtype-conversion", test_conversion);
    g_test_add_func("/safetensors/writer-roundtrip", test_writer_roundtrip);
    g_test_add_func("/safetensors/sharded-index", test_sharded);
    g_test_add_func("/safetensors/reference-files", test_reference_files);
    return g_test_run();
}
