/* fuzz_index.c — the sharded checkpoint index (*.safetensors.index.json) on arbitrary bytes,
 * beside two valid shards, so that names which do resolve reach the cross-checks. */
#include "fuzz_common.h"
#include "safetensors.h"

static void write_shard(const char *name, const char *tensor)
{
    g_autofree char *p = g_build_filename(fuzz_dir(), name, NULL);
    if (g_file_test(p, G_FILE_TEST_EXISTS)) return;
    float v = 1.0f;
    int64_t s[1] = {1};
    StWriter *w = st_writer_new();
    st_writer_add(w, tensor, ST_F32, 1, s, &v);
    if (!st_writer_save(w, p, NULL)) abort();
    st_writer_free(w);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    write_shard("a.safetensors", "a");
    write_shard("b.safetensors", "b");
    g_autofree char *p = fuzz_file("model.safetensors.index.json", data, size);
    GError *err = NULL;
    StArchive *a = st_archive_open(p, &err);
    if (!a) {
        g_error_free(err);
        return 0;
    }
    for (gsize i = 0; i < st_archive_n_tensors(a); i++) st_archive_f32(a, st_archive_tensor(a, i));
    st_archive_unused(a, NULL);
    st_archive_free(a);
    return 0;
}
