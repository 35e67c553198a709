/* test_tokenizer_bpe.c — the CLIP BPE tokenizer against golden clip_input_ids (FluxPipeline's
 * CLIPTokenizer ids without ftfy) for every prompt, the ftfy variant where it must agree,
 * truncation, hand-checked normalisation quirks, a synthetic vocabulary for the BPE merge
 * order and special tokens read from the files, the cache, and error paths. Ids are
 * integers: every comparison is exact. */
#include "flux.h"
#include "testutil.h"
#include "tokenizer_bpe.h"

#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <string.h>

#define GOLDEN  "tokenizers.safetensors"
#define MAX_LEN 77 /* tokenizer_config.json's model_max_length, FluxPipeline's CLIP length */

static const char *const prompts[] = {"plain",   "punct", "numbers",         "spaces", "accents",
                                      "chinese", "emoji", "mixed_case_html", "empty",  "long"};
#define N_PROMPTS G_N_ELEMENTS(prompts)

static const char *prompt_text(const char *p)
{
    return json_object_get_string_member(
        json_object_get_object_member(tu_golden_manifest(GOLDEN), "prompts"), p);
}

/* Untruncated text token count (without BOS/EOS) from the manifest, -1 when not given. */
static int prompt_len(const char *p)
{
    JsonObject *all = json_object_get_object_member(tu_golden_manifest(GOLDEN), "lengths");
    JsonObject *l = all ? json_object_get_object_member(all, p) : NULL;
    if (!l || !json_object_has_member(l, "clip_untruncated_len_incl_bos_eos")) return -1;
    return (int)json_object_get_int_member(l, "clip_untruncated_len_incl_bos_eos") - 2;
}

/* A golden [1, 77] int64 tensor, copied (the mapping promises no alignment). */
static void golden_ids(const char *prefix, const char *p, int64_t *ids)
{
    g_autofree char *name = g_strdup_printf("%s.%s", prefix, p);
    StTensor *t = tu_golden_tensor(GOLDEN, name);
    g_assert_cmpint(t->numel, ==, MAX_LEN);
    g_assert_cmpuint(t->nbytes, ==, MAX_LEN * sizeof(int64_t));
    memcpy(ids, t->data, MAX_LEN * sizeof(int64_t));
}

static BpeTokenizer *load_dir(const char *dir)
{
    GError *err = NULL;
    BpeTokenizer *tok = bpe_load(dir, &err);
    g_assert_no_error(err);
    g_assert_nonnull(tok);
    return tok;
}

static BpeTokenizer *load_ref(void)
{
    g_autofree char *dir = tu_model_path("tokenizer");
    return load_dir(dir);
}

/* TRUE when equal; else reports the first difference (when `report`). */
static gboolean same_ids(const char *what, const int64_t *got, const int64_t *ref, int n,
                         gboolean report)
{
    for (int i = 0; i < n; i++) {
        if (got[i] != ref[i]) {
            if (report)
                g_test_fail_printf("%s: id %d is %" G_GINT64_FORMAT ", expected %" G_GINT64_FORMAT,
                                   what, i, (gint64)got[i], (gint64)ref[i]);
            return FALSE;
        }
    }
    return TRUE;
}

static void encode_ok(BpeTokenizer *tok, const char *text, int64_t *ids, int max_len, int *n)
{
    GError *err = NULL;
    g_assert_true(bpe_encode(tok, text, ids, max_len, n, &err));
    g_assert_no_error(err);
}

/* ------------------------------------------------------------------------------------- */

/* All 10 prompts at FluxPipeline's 77, and the untruncated length for the warning. */
static void test_golden(void)
{
    gint64 t0 = g_get_monotonic_time();
    BpeTokenizer *tok = load_ref();
    g_test_message("vocab.json + merges.txt loaded in %.3f s",
                   (double)(g_get_monotonic_time() - t0) / 1e6);
    g_assert_cmpint(bpe_vocab_size(tok), ==, 49408);
    g_assert_cmpint(bpe_bos_id(tok), ==, 49406);
    g_assert_cmpint(bpe_eos_id(tok), ==, 49407);
    g_assert_cmpint(bpe_pad_id(tok), ==, 49407);
    for (guint k = 0; k < N_PROMPTS; k++) {
        int64_t ids[MAX_LEN], ref[MAX_LEN];
        int n = -1;
        encode_ok(tok, prompt_text(prompts[k]), ids, MAX_LEN, &n);
        golden_ids("clip_input_ids", prompts[k], ref);
        same_ids(prompts[k], ids, ref, MAX_LEN, TRUE);
        int want = prompt_len(prompts[k]);
        if (want >= 0) g_assert_cmpint(n, ==, want);
    }
    bpe_free(tok);
}

/* With ftfy installed transformers skips BasicTokenizer; the manifest lists the prompts where
 * that changes the ids. Everywhere else the ftfy ids must equal ours. */
static void test_ftfy_variant(void)
{
    JsonArray *differs =
        json_object_get_array_member(tu_golden_manifest(GOLDEN), "ftfy_variant_differs_for");
    BpeTokenizer *tok = load_ref();
    for (guint k = 0; k < N_PROMPTS; k++) {
        gboolean listed = FALSE;
        for (guint j = 0; differs && j < json_array_get_length(differs); j++)
            listed |= strcmp(json_array_get_string_element(differs, j), prompts[k]) == 0;
        int64_t ids[MAX_LEN], ftfy[MAX_LEN];
        encode_ok(tok, prompt_text(prompts[k]), ids, MAX_LEN, NULL);
        golden_ids("clip_input_ids_ftfy", prompts[k], ftfy);
        gboolean same = same_ids(prompts[k], ids, ftfy, MAX_LEN, FALSE);
        if (same == listed)
            g_test_fail_printf("%s: ftfy ids %s ours, manifest says they %s", prompts[k],
                               same ? "equal" : "differ from", listed ? "differ" : "agree");
    }
    bpe_free(tok);
}

/* Shorter max lengths keep the first max_len-2 text tokens between BOS and EOS, then pads. */
static void test_truncated(void)
{
    BpeTokenizer *tok = load_ref();
    static const int lens[] = {MAX_LEN, 8, 3, 2};
    for (guint k = 0; k < N_PROMPTS; k++) {
        int64_t ref[MAX_LEN];
        golden_ids("clip_input_ids", prompts[k], ref);
        int full = -1;
        g_autofree int64_t *text = bpe_tokenize(tok, prompt_text(prompts[k]), &full, NULL);
        g_assert_nonnull(text);
        /* the golden row is BOS + the first 75 tokens */
        g_assert_true(same_ids(prompts[k], ref + 1, text, MIN(full, MAX_LEN - 2), TRUE));
        for (guint j = 0; j < G_N_ELEMENTS(lens); j++) {
            int L = lens[j], keep = MIN(full, L - 2), n = -1;
            int64_t ids[MAX_LEN], want[MAX_LEN];
            for (int i = 0; i < L; i++) want[i] = i == 0 ? 49406 : i <= keep ? text[i - 1] : 49407;
            encode_ok(tok, prompt_text(prompts[k]), ids, L, &n);
            g_autofree char *label = g_strdup_printf("%s at max_len %d", prompts[k], L);
            same_ids(label, ids, want, L, TRUE);
            g_assert_cmpint(n, ==, full); /* the count is untruncated */
        }
    }
    bpe_free(tok);
}

/* Nothing to tokenize: BOS, EOS, pads. */
static void test_empty(void)
{
    BpeTokenizer *tok = load_ref();
    static const char *const blank[] = {"", "   ", "\t\n\r ", "\x01\x7f\xef\xbf\xbd",
                                        "\xe2\x80\x8b\xc2\xa0\xe3\x80\x80"};
    for (guint k = 0; k < G_N_ELEMENTS(blank); k++) {
        int64_t ids[16];
        int n = -1;
        encode_ok(tok, blank[k], ids, 16, &n);
        g_assert_cmpint(n, ==, 0);
        g_assert_cmpint(ids[0], ==, 49406);
        for (int i = 1; i < 16; i++) g_assert_cmpint(ids[i], ==, 49407);
    }
    bpe_free(tok);
}

/* Ids from transformers 4.46.3 CLIPTokenizer (slow, no ftfy) on the FLUX.1 tokenizer/,
 * tok(text, add_special_tokens=False).input_ids. */
static void test_quirks(void)
{
    static const struct {
        const char *text;
        int n;
        int64_t ids[17];
    } cases[] = {
        {"a photo of a cat", 5, {320, 1125, 539, 320, 2368}},
        /* added tokens are cut out of the raw text; a lower-cased one still matches the
         * pattern's literal; "!<" is one symbol run when the token was not cut out first */
        {"x<|endoftext|>y", 3, {343, 49407, 344}},
        {"!<|endoftext|>", 2, {256, 49407}},
        {"<|EndOfText|>", 1, {49407}},
        /* contractions after lower-casing; IGNORECASE folds ſ to s in "'s" */
        {"DON'T stop", 3, {847, 713, 1691}},
        {"it'\xc5\xbf", 4, {585, 6, 129, 379}},
        /* U+0345 matches no alternative of the pattern under IGNORECASE and is dropped */
        {"a\xcd\x85"
         "b",
         2,
         {320, 321}},
        /* İ → i + U+0307, final sigma, Roman numeral and circled letters lower-cased */
        {"\xc4\xb0stanbul \xce\x9f\xce\x94\xce\x9f\xce\xa3 \xce\xa3 a\xce\xa3.",
         17,
         {328, 16384, 11231, 138, 123, 138, 112, 138, 123, 139, 480, 139, 481, 64, 139, 480, 269}},
        {"\xe2\x85\xab \xe2\x93\x90\xe2\x92\xb7", 7, {158, 227, 375, 27400, 238, 27400, 495}},
        /* each CJK ideograph is a word of its own */
        {"\xe4\xb8\xad\xe5\x9b\xbd"
         "abc\xe4\xb8\xad",
         7,
         {19759, 511, 39027, 377, 5334, 19759, 511}},
        /* NFC: e + U+0301 and é give the same token */
        {"e\xcc\x81 \xc3\xa9", 2, {4166, 4166}},
        /* tab, ideographic and no-break spaces split words; controls, ZWSP and U+FFFD go */
        {"tab\there\xe3\x80\x80ok\xc2\xa0x", 4, {14724, 763, 2481, 343}},
        {"a\x01"
         "b\xe2\x80\x8b"
         "c\xef\xbf\xbd",
         1,
         {5334}},
    };
    BpeTokenizer *tok = load_ref();
    for (guint k = 0; k < G_N_ELEMENTS(cases); k++) {
        int n = -1;
        GError *err = NULL;
        g_autofree int64_t *ids = bpe_tokenize(tok, cases[k].text, &n, &err);
        g_assert_no_error(err);
        g_autofree char *label = g_strdup_printf("quirk %u", k);
        g_assert_cmpint(n, ==, cases[k].n);
        same_ids(label, ids, cases[k].ids, n, TRUE);
    }
    bpe_free(tok);
}

/* ------------------------------------------------------------------------------------- */
/* A synthetic tokenizer folder.                                                          */

static void write_file(const char *dir, const char *name, const char *text)
{
    g_autofree char *path = g_build_filename(dir, name, NULL);
    GError *err = NULL;
    g_assert_true(g_file_set_contents(path, text, -1, &err));
    g_assert_no_error(err);
}

static const char small_vocab[] =
    "{\"a\": 0, \"b\": 1, \"c\": 2, \"a</w>\": 3, \"b</w>\": 4, \"c</w>\": 5, \"ab\": 6,"
    " \"bc</w>\": 7, \"abc</w>\": 8, \"<s>\": 9, \"</s>\": 10, \"ab</w>\": 12}";
/* ranks: (b, c</w>) 1, (a, b) 2, (ab, c</w>) 3, (a, b</w>) 4 */
static const char small_merges[] = "#version: 0.2\nb c</w>\na b\nab c</w>\na b</w>\n";
static const char small_config[] =
    "{\"bos_token\": \"<s>\", \"eos_token\": {\"content\": \"</s>\"}, \"unk_token\": \"</s>\","
    " \"added_tokens_decoder\": {\"11\": {\"content\": \"<pad>\", \"special\": true}}}";

static char *small_dir(void)
{
    char *dir = tu_temp_dir();
    write_file(dir, "vocab.json", small_vocab);
    write_file(dir, "merges.txt", small_merges);
    write_file(dir, "tokenizer_config.json", small_config);
    write_file(dir, "special_tokens_map.json", "{\"pad_token\": \"<pad>\"}");
    return dir;
}

/* The lowest rank merges first (abc → a bc</w>, never ab c</w>), every occurrence left to
 * right (abab → ab ab</w>), unknown symbols become the unk id, special ids come from
 * tokenizer_config.json / special_tokens_map.json and added tokens are cut out. */
static void test_synthetic(void)
{
    g_autofree char *dir = small_dir();
    BpeTokenizer *tok = load_dir(dir);
    g_assert_cmpint(bpe_bos_id(tok), ==, 9);
    g_assert_cmpint(bpe_eos_id(tok), ==, 10);
    g_assert_cmpint(bpe_pad_id(tok), ==, 11);
    g_assert_cmpint(bpe_vocab_size(tok), ==, 12);
    int64_t ids[10];
    int n = -1;
    encode_ok(tok, "ABC abab z<pad>c", ids, 10, &n);
    /* BOS, a bc</w>, ab ab</w>, unk, <pad>, c</w>, EOS, pad */
    static const int64_t want[10] = {9, 0, 7, 6, 12, 10, 11, 5, 10, 11};
    same_ids("synthetic", ids, want, 10, TRUE);
    g_assert_cmpint(n, ==, 7);
    bpe_free(tok);
}

/* More distinct words than the cache holds, from several threads: same ids as one by one. */
typedef struct {
    BpeTokenizer *tok;
    char **words;
    int n_words;
    int64_t *ids; /* [n_words × 4] */
} CacheJob;

static gpointer cache_worker(gpointer data)
{
    CacheJob *job = data;
    for (int i = 0; i < job->n_words; i++) {
        int64_t ids[4];
        g_assert_true(bpe_encode(job->tok, job->words[i], ids, 4, NULL, NULL));
        if (memcmp(ids, job->ids + 4 * i, sizeof ids) != 0) return GINT_TO_POINTER(1);
    }
    return NULL;
}

static void test_cache(void)
{
    enum { N = 10000 };
    BpeTokenizer *tok = load_ref();
    CacheJob job = {tok, g_new0(char *, N + 1), N, g_new(int64_t, 4 * N)};
    for (int i = 0; i < N; i++) {
        job.words[i] = g_strdup_printf("%c%c%c", 'a' + i % 26, 'a' + i / 26 % 26, 'a' + i / 676);
        encode_ok(tok, job.words[i], job.ids + 4 * i, 4, NULL);
    }
    GThread *threads[4];
    for (int t = 0; t < 4; t++) threads[t] = g_thread_new("bpe", cache_worker, &job);
    for (int t = 0; t < 4; t++) g_assert_null(g_thread_join(threads[t]));
    g_strfreev(job.words);
    g_free(job.ids);
    bpe_free(tok);
}

/* ------------------------------------------------------------------------------------- */
/* Errors.                                                                                */

static void expect_load_error(const char *dir, int code, const char *needle)
{
    GError *err = NULL;
    BpeTokenizer *tok = bpe_load(dir, &err);
    g_assert_null(tok);
    g_assert_error(err, FLUX_ERROR, code);
    if (!strstr(err->message, needle))
        g_test_fail_printf("message \"%s\" does not name \"%s\"", err->message, needle);
    g_error_free(err);
}

static void test_bad_files(void)
{
    expect_load_error("/nonexistent-flux-tokenizer", FLUX_ERROR_IO, "vocab.json");
    expect_load_error(NULL, FLUX_ERROR_ARGUMENT, "folder");

    g_autofree char *dir = small_dir();
    g_autofree char *vocab = g_build_filename(dir, "vocab.json", NULL);
    g_assert_cmpint(g_remove(vocab), ==, 0);
    expect_load_error(dir, FLUX_ERROR_IO, "vocab.json");
    write_file(dir, "vocab.json", "{\"a\": 0, ");
    expect_load_error(dir, FLUX_ERROR_FORMAT, "vocab.json");
    write_file(dir, "vocab.json", "[1, 2]");
    expect_load_error(dir, FLUX_ERROR_FORMAT, "vocab.json");
    write_file(dir, "vocab.json", "{\"a\": \"zero\"}");
    expect_load_error(dir, FLUX_ERROR_FORMAT, "\"a\"");
    write_file(dir, "vocab.json", "{\"a\": -3}");
    expect_load_error(dir, FLUX_ERROR_FORMAT, "vocab.json");
    write_file(dir, "vocab.json", small_vocab);

    g_autofree char *merges = g_build_filename(dir, "merges.txt", NULL);
    g_assert_cmpint(g_remove(merges), ==, 0);
    expect_load_error(dir, FLUX_ERROR_IO, "merges.txt");
    write_file(dir, "merges.txt", "#version: 0.2\na b\na b c\n");
    expect_load_error(dir, FLUX_ERROR_FORMAT, "merges.txt: line 3");
    write_file(dir, "merges.txt", "#version: 0.2\na \xff\n");
    expect_load_error(dir, FLUX_ERROR_FORMAT, "merges.txt");
    write_file(dir, "merges.txt", small_merges);

    write_file(dir, "tokenizer_config.json", "{\"bos_token\": ");
    expect_load_error(dir, FLUX_ERROR_FORMAT, "tokenizer_config.json");
    write_file(dir, "tokenizer_config.json", "{\"bos_token\": \"<start>\"}");
    expect_load_error(dir, FLUX_ERROR_MODEL, "<start>");
    write_file(dir, "tokenizer_config.json", "{\"added_tokens_decoder\": {\"x\": {}}}");
    expect_load_error(dir, FLUX_ERROR_FORMAT, "added_tokens_decoder");
    write_file(dir, "tokenizer_config.json", small_config);
    BpeTokenizer *tok = load_dir(dir);
    bpe_free(tok);
    bpe_free(NULL);
}

static void test_bad_input(void)
{
    BpeTokenizer *tok = load_ref();
    int64_t ids[MAX_LEN];
    GError *err = NULL;
    g_assert_false(bpe_encode(tok, "caf\xc3 au lait", ids, MAX_LEN, NULL, &err));
    g_assert_error(err, FLUX_ERROR, FLUX_ERROR_ARGUMENT);
    g_assert_nonnull(strstr(err->message, "UTF-8"));
    g_assert_nonnull(strstr(err->message, "offset 3"));
    g_clear_error(&err);
    g_assert_false(bpe_encode(tok, NULL, ids, MAX_LEN, NULL, &err));
    g_assert_error(err, FLUX_ERROR, FLUX_ERROR_ARGUMENT);
    g_clear_error(&err);
    g_assert_false(bpe_encode(tok, "a cat", ids, 1, NULL, &err));
    g_assert_error(err, FLUX_ERROR, FLUX_ERROR_ARGUMENT);
    g_clear_error(&err);
    int n = -1;
    g_assert_null(bpe_tokenize(tok, "\xed\xa0\x80", &n, &err)); /* a UTF-16 surrogate */
    g_assert_error(err, FLUX_ERROR, FLUX_ERROR_ARGUMENT);
    g_clear_error(&err);
    bpe_free(tok);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/tokenizer_bpe/golden", test_golden);
    g_test_add_func("/tokenizer_bpe/ftfy-variant", test_ftfy_variant);
    g_test_add_func("/tokenizer_bpe/truncated", test_truncated);
    g_test_add_func("/tokenizer_bpe/empty", test_empty);
    g_test_add_func("/tokenizer_bpe/quirks", test_quirks);
    g_test_add_func("/tokenizer_bpe/synthetic", test_synthetic);
    g_test_add_func("/tokenizer_bpe/cache", test_cache);
    g_test_add_func("/tokenizer_bpe/bad-files", test_bad_files);
    g_test_add_func("/tokenizer_bpe/bad-input", test_bad_input);
    return g_test_run();
}
