/* fuzz_safetensors.c — the safetensors header parser and validator on arbitrary bytes:
 * it must reject or accept without crashing, and every accepted tensor must lie inside the
 * file, which the harness checks by reading every byte through st_to_f32. */
#include "fuzz_common.h"
#include "safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    g_autofree char *p = fuzz_file("x.safetensors", data, size);
    GError *err = NULL;
    StFile *f = st_file_open(p, &err);
    if (!f) {
        g_error_free(err);
        return 0;
    }
    float buf[256];
    for (gsize i = 0; i < st_file_n_tensors(f); i++) {
        StTensor *t = st_file_tensor(f, i);
        if (!st_dtype_is_float(t->dtype)) continue;
        for (int64_t k = 0; k < t->numel; k += 256)
            st_to_f32(buf, t, k, t->numel - k < 256 ? t->numel - k : 256);
        (void)st_file_find(f, t->name);
    }
    st_file_free(f);
    return 0;
}
