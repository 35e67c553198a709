/* fuzz_tokenizer_prompt.c — both tokenizers on arbitrary bytes as a prompt: invalid UTF-8 must
 * be refused, anything else tokenized into ids inside the vocabulary, padded to the length. */
#include "fuzz_common.h"
#include "tokenizer_bpe.h"
#include "tokenizer_unigram.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static BpeTokenizer *bpe;
    static UgmTokenizer *ugm;
    if (!bpe) {
        g_autofree char *d1 =
            g_build_filename(g_getenv("FLUX_REFERENCE_DIR"), "tiny-flux-dev", "tokenizer", NULL);
        g_autofree char *d2 =
            g_build_filename(g_getenv("FLUX_REFERENCE_DIR"), "tiny-flux-dev", "tokenizer_2", NULL);
        bpe = bpe_load(d1, NULL);
        ugm = ugm_load(d2, NULL);
        if (!bpe || !ugm) abort();
    }
    g_autofree char *text = g_strndup((const char *)data, size);
    gboolean utf8 = g_utf8_validate(text, -1, NULL) && strlen(text) == size;
    int64_t ids[77];
    int n = 0;
    GError *err = NULL;
    gboolean ok = bpe_encode(bpe, text, ids, 77, &n, &err);
    if (ok != utf8 && strlen(text) == size) abort(); /* refused exactly when not UTF-8 */
    g_clear_error(&err);
    if (ok)
        for (int i = 0; i < 77; i++)
            if (ids[i] < 0 || ids[i] >= 49408) abort();
    int64_t t5[64];
    ok = ugm_encode(ugm, text, t5, 64, &n, &err);
    g_clear_error(&err);
    if (ok)
        for (int i = 0; i < 64; i++)
            if (t5[i] < 0 || t5[i] >= 32128) abort();
    return 0;
}
