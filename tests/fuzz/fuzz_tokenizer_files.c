/* fuzz_tokenizer_files.c — hostile tokenizer files: the first byte picks the file (CLIP
 * vocab.json, CLIP merges.txt, T5 tokenizer.json, T5 spiece.model), the rest replaces it in a
 * copy of the reference tokenizers; loading must fail cleanly or give a tokenizer that works. */
#include "fuzz_common.h"
#include "tokenizer_bpe.h"
#include "tokenizer_unigram.h"

#include <unistd.h>

static const char *files[] = {"tokenizer/vocab.json", "tokenizer/merges.txt",
                              "tokenizer_2/tokenizer.json", "tokenizer_2/spiece.model"};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    const char *model = fuzz_model_copy();
    guint which = data[0] % G_N_ELEMENTS(files);
    g_autofree char *target = g_build_filename(model, files[which], NULL);
    g_autofree char *orig =
        g_build_filename(g_getenv("FLUX_REFERENCE_DIR"), "tiny-flux-dev", files[which], NULL);
    g_unlink(target);
    if (!g_file_set_contents(target, (const char *)data + 1, (gssize)size - 1, NULL)) abort();
    /* spiece.model is only read when tokenizer.json is absent */
    g_autofree char *tj = g_build_filename(model, "tokenizer_2", "tokenizer.json", NULL);
    if (which == 3) g_unlink(tj);

    g_autofree char *d1 = g_build_filename(model, "tokenizer", NULL);
    g_autofree char *d2 = g_build_filename(model, "tokenizer_2", NULL);
    GError *err = NULL;
    int64_t ids[77];
    if (which < 2) {
        BpeTokenizer *t = bpe_load(d1, &err);
        if (t && !bpe_encode(t, "a photo of a cat, 中文 🐶", ids, 77, NULL, &err))
            g_clear_error(&err);
        bpe_free(t);
    } else {
        UgmTokenizer *t = ugm_load(d2, &err);
        if (t && !ugm_encode(t, "a photo of a cat, 中文 🐶", ids, 77, NULL, &err))
            g_clear_error(&err);
        ugm_free(t);
    }
    g_clear_error(&err);
    g_unlink(target);
    if (symlink(orig, target) != 0) abort();
    if (which == 3) {
        g_autofree char *tjo = g_build_filename(g_getenv("FLUX_REFERENCE_DIR"), "tiny-flux-dev",
                                                "tokenizer_2", "tokenizer.json", NULL);
        if (symlink(tjo, tj) != 0) abort();
    }
    return 0;
}
