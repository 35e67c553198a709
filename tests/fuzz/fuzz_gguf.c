/* fuzz_gguf.c — the GGUF reader and the checkpoint name translation on arbitrary bytes: they
 * must reject or accept without crashing, and every accepted tensor must lie inside the file,
 * which the harness checks by converting every element through st_to_f32 (row by row, in
 * chunks of 256 = a whole number of blocks of every GGML type). */
#include "checkpoint.h"
#include "fuzz_common.h"
#include "gguf.h"

static void read_all(StArchive *a)
{
    float buf[256];
    for (gsize i = 0; i < st_archive_n_tensors(a); i++) {
        StTensor *t = st_archive_tensor(a, i);
        if (!st_dtype_is_float(t->dtype) || t->numel == 0) continue;
        int64_t row = t->ndim ? t->shape[t->ndim - 1] : 1;
        for (int64_t r0 = 0; r0 < t->numel; r0 += row)
            for (int64_t k = 0; k < row; k += 256)
                st_to_f32(buf, t, r0 + k, row - k < 256 ? row - k : 256);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    g_autofree char *p = fuzz_file("x.gguf", data, size);
    GError *err = NULL;
    StArchive *a = gguf_open(p, &err);
    if (!a) {
        g_error_free(err);
        return 0;
    }
    read_all(a);
    const GgufFile *g = gguf_archive_file(a);
    int64_t v;
    double f;
    for (gsize i = 0; i < gguf_n_kv(g); i++) {
        const char *k = gguf_kv_key(g, i);
        (void)gguf_get_string(g, k);
        (void)gguf_get_int(g, k, &v);
        (void)gguf_get_float(g, k, &f);
    }
    st_archive_free(a);
    /* the same bytes as a FLUX transformer checkpoint: name translation and config inference */
    CkptTransformerConfig cfg;
    a = ckpt_open_transformer(p, &cfg, &err);
    if (a) {
        read_all(a);
        st_archive_free(a);
    } else {
        g_error_free(err);
    }
    return 0;
}
