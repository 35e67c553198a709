/* test_tokenizer_unigram.c — the T5 unigram tokenizer against golden t5_input_ids (FluxPipeline's
 * T5TokenizerFast ids) for every prompt, truncation, the spiece.model fallback, a synthetic
 * model for Viterbi/unknown fusion, hand-checked normaliser quirks, and error paths. Ids are
 * integers: every comparison is exact. */
#include "flux.h"
#include "testutil.h"
#include "tokenizer_unigram.h"
#include "unigram_viterbi.h"

#include <json-glib/json-glib.h>
#include <string.h>

#define GOLDEN "tokenizers.safetensors"

static const char *const prompts[] = {"plain",   "punct", "numbers",         "spaces", "accents",
                                      "chinese", "emoji", "mixed_case_html", "empty",  "long"};
#define N_PROMPTS G_N_ELEMENTS(prompts)

static const char *prompt_text(const char *p)
{
    return json_object_get_string_member(
        json_object_get_object_member(tu_golden_manifest(GOLDEN), "prompts"), p);
}

/* Untruncated token count without EOS, from the manifest. */
static int prompt_len(const char *p)
{
    JsonObject *l = json_object_get_object_member(
        json_object_get_object_member(tu_golden_manifest(GOLDEN), "lengths"), p);
    return (int)json_object_get_int_member(l, "t5_untruncated_len_incl_eos") - 1;
}

static const int64_t *golden_ids(const char *p)
{
    g_autofree char *name = g_strdup_printf("t5_input_ids.%s", p);
    StTensor *t = tu_golden_tensor(GOLDEN, name);
    g_assert_cmpint(t->numel, ==, 512);
    g_assert_cmpuint(t->nbytes, ==, 512 * sizeof(int64_t));
    return t->data;
}

static UgmTokenizer *load_dir(const char *dir)
{
    GError *err = NULL;
    UgmTokenizer *tok = ugm_load(dir, &err);
    g_assert_no_error(err);
    g_assert_nonnull(tok);
    return tok;
}

static UgmTokenizer *load_ref(void)
{
    g_autofree char *dir = tu_model_path("tokenizer_2");
    return load_dir(dir);
}

static void assert_ids(const char *what, const int64_t *got, const int64_t *ref, int n)
{
    for (int i = 0; i < n; i++) {
        if (got[i] != ref[i]) {
            g_test_fail_printf("%s: id %d is %" G_GINT64_FORMAT ", expected %" G_GINT64_FORMAT,
                               what, i, (gint64)got[i], (gint64)ref[i]);
            return;
        }
    }
}

/* All 10 prompts at FluxPipeline's 512 (and the untruncated length for the warning). */
static void check_golden(UgmTokenizer *tok, const char *what)
{
    for (guint k = 0; k < N_PROMPTS; k++) {
        int64_t ids[512];
        int n = -1;
        GError *err = NULL;
        g_assert_true(ugm_encode(tok, prompt_text(prompts[k]), ids, 512, &n, &err));
        g_assert_no_error(err);
        g_autofree char *label = g_strdup_printf("%s %s", what, prompts[k]);
        assert_ids(label, ids, golden_ids(prompts[k]), 512);
        g_assert_cmpint(n, ==, prompt_len(prompts[k]));
    }
}

static void test_golden(void)
{
    gint64 t0 = g_get_monotonic_time();
    UgmTokenizer *tok = load_ref();
    g_test_message("tokenizer.json (32100 pieces) loaded in %.3f s",
                   (double)(g_get_monotonic_time() - t0) / 1e6);
    g_assert_cmpint(ugm_vocab_size(tok), ==, 32100);
    g_assert_cmpint(ugm_eos_id(tok), ==, 1);
    g_assert_cmpint(ugm_pad_id(tok), ==, 0);
    g_assert_cmpint(ugm_unk_id(tok), ==, 2);
    check_golden(tok, "tokenizer.json");
    ugm_free(tok);
}

/* Shorter max lengths keep the first max_len-1 tokens, then EOS, then pads. */
static void test_truncated(void)
{
    UgmTokenizer *tok = load_ref();
    static const int lens[] = {77, 8, 2, 1};
    for (guint k = 0; k < N_PROMPTS; k++) {
        const int64_t *ref = golden_ids(prompts[k]);
        int full = prompt_len(prompts[k]);
        for (guint j = 0; j < G_N_ELEMENTS(lens); j++) {
            int L = lens[j], keep = MIN(full, L - 1), n = -1;
            int64_t ids[77], want[77];
            for (int i = 0; i < L; i++) want[i] = i < keep ? ref[i] : i == keep ? 1 : 0;
            GError *err = NULL;
            g_assert_true(ugm_encode(tok, prompt_text(prompts[k]), ids, L, &n, &err));
            g_assert_no_error(err);
            g_autofree char *label = g_strdup_printf("%s at max_len %d", prompts[k], L);
            assert_ids(label, ids, want, L);
            g_assert_cmpint(n, ==, full); /* the count is untruncated */
        }
    }
    ugm_free(tok);
}

static void test_empty(void)
{
    UgmTokenizer *tok = load_ref();
    static const char *const blank[] = {"", "   ", "\t\n "};
    for (guint k = 0; k < G_N_ELEMENTS(blank); k++) {
        int64_t ids[16];
        int n = -1;
        g_assert_true(ugm_encode(tok, blank[k], ids, 16, &n, NULL));
        g_assert_cmpint(n, ==, 0);
        g_assert_cmpint(ids[0], ==, 1);
        for (int i = 1; i < 16; i++) g_assert_cmpint(ids[i], ==, 0);
    }
    ugm_free(tok);
}

/* Ids from transformers 4.46.3 / tokenizers 0.20.3 T5TokenizerFast(add_special_tokens=False)
 * on tokenizer_2: special tokens cut from the raw text (no "▁" after one), the grapheme quirk
 * of Precompiled (second accent dropped, CRLF → one space), NFKC compatibility forms, fused
 * unknowns, "▁" in the input read as a space. */
static void test_quirks(void)
{
    static const struct {
        const char *text;
        int n;
        int64_t ids[6];
    } cases[] = {
        {"</s>hello", 3, {1, 107, 7126}},
        {"hi </s> there", 3, {7102, 1, 132}},
        {"e\xcc\x81\xcc\x82x", 3, {3, 154, 226}},
        {"x\r\ny", 4, {3, 226, 3, 63}},
        {"\xef\xac\x81 \xe2\x91\xa0 \xef\xbc\xa1", 3, {361, 209, 71}},
        {"<extra_id_0>x<extra_id_10>", 3, {32099, 226, 32089}},
        {"\xf0\x9f\x98\x8e\xf0\x9f\x98\x8e \xf0\x9f\x98\x80", 4, {3, 2, 3, 2}},
        {"\xef\xbc\xa8\xef\xbd\x85\xef\xbd\x8c\xef\xbd\x8c\xef\xbd\x8f\xe3\x80\x80\xef\xbd\x97"
         "\xef\xbd\x8f\xef\xbd\x92\xef\xbd\x8c\xef\xbd\x84",
         2,
         {8774, 296}},
        {"  a  b  ", 4, {3, 9, 3, 115}},
        {"a\xe2\x96\x81\xe2\x96\x81\x62", 4, {3, 9, 3, 115}},
        {"\xe2\x80\x8b\xc2\xad", 2, {3, 575}},
    };
    UgmTokenizer *tok = load_ref();
    for (guint k = 0; k < G_N_ELEMENTS(cases); k++) {
        int n = -1;
        GError *err = NULL;
        g_autofree int64_t *ids = ugm_tokenize(tok, cases[k].text, &n, &err);
        g_assert_no_error(err);
        g_autofree char *label = g_strdup_printf("quirk %u", k);
        g_assert_cmpint(n, ==, cases[k].n);
        assert_ids(label, ids, cases[k].ids, n);
    }
    ugm_free(tok);
}

static void copy_file(const char *from_dir, const char *name, const char *to_dir)
{
    g_autofree char *src = g_build_filename(from_dir, name, NULL);
    g_autofree char *dst = g_build_filename(to_dir, name, NULL);
    g_autofree char *data = NULL;
    gsize n = 0;
    GError *err = NULL;
    g_assert_true(g_file_get_contents(src, &data, &n, &err));
    g_assert_true(g_file_set_contents(dst, data, (gssize)n, &err));
    g_assert_no_error(err);
}

/* Without tokenizer.json: spiece.model + tokenizer_config.json (legacy false, extra ids). */
static void test_spiece_fallback(void)
{
    g_autofree char *ref = tu_model_path("tokenizer_2");
    char *dir = tu_temp_dir();
    copy_file(ref, "spiece.model", dir);
    copy_file(ref, "tokenizer_config.json", dir);
    copy_file(ref, "special_tokens_map.json", dir);
    UgmTokenizer *tok = load_dir(dir);
    g_assert_cmpint(ugm_vocab_size(tok), ==, 32100);
    g_assert_cmpint(ugm_eos_id(tok), ==, 1);
    g_assert_cmpint(ugm_unk_id(tok), ==, 2);
    check_golden(tok, "spiece.model");
    ugm_free(tok);
    g_free(dir);
}

/* ------------------------------------------------------------------------------------- */
/* A synthetic tokenizer.json: Viterbi choice by score, unknown fusion, no normaliser. */

static const char synthetic_fmt[] =
    "{\"added_tokens\": [{\"id\": 1, \"content\": \"</s>\", \"special\": true}],"
    " \"normalizer\": %s,"
    " \"pre_tokenizer\": {\"type\": \"Metaspace\", \"replacement\": \"\\u2581\","
    "   \"prepend_scheme\": \"always\"},"
    " \"post_processor\": {\"type\": \"TemplateProcessing\","
    "   \"single\": [{\"Sequence\": {\"id\": \"A\"}}, {\"SpecialToken\": {\"id\": \"</s>\"}}],"
    "   \"special_tokens\": {\"</s>\": {\"id\": \"</s>\", \"ids\": [1]}}},"
    " \"model\": {\"type\": \"Unigram\", \"unk_id\": 2, %s}}";

static const char synthetic_vocab[] =
    "\"vocab\": [[\"<pad>\", 0.0], [\"</s>\", 0.0], [\"<unk>\", 0.0], [\"\\u2581\", -1.0],"
    " [\"a\", -2.0], [\"b\", -2.0], [\"ab\", -3.0], [\"\\u2581ab\", -3.5], [\"\\u2581a\", -4]]";

static char *synthetic_dir(const char *normalizer, const char *vocab)
{
    char *dir = tu_temp_dir();
    g_autofree char *json = g_strdup_printf(synthetic_fmt, normalizer, vocab);
    g_autofree char *path = g_build_filename(dir, "tokenizer.json", NULL);
    g_assert_true(g_file_set_contents(path, json, -1, NULL));
    g_autofree char *map = g_build_filename(dir, "special_tokens_map.json", NULL);
    g_assert_true(g_file_set_contents(map, "{\"pad_token\": \"<pad>\"}", -1, NULL));
    return dir;
}

static void test_synthetic(void)
{
    g_autofree char *dir = synthetic_dir("null", synthetic_vocab);
    UgmTokenizer *tok = load_dir(dir);
    static const struct {
        const char *text;
        int n;
        int64_t ids[6];
    } cases[] = {
        {"ab", 1, {7}},           /* ▁ab (-3.5) beats ▁ + ab (-4.0) and ▁a + b (-6.0) */
        {"xyz ab", 3, {3, 2, 7}}, /* x, y, z have no piece: one fused <unk> */
        {"bx", 3, {3, 5, 2}},
        {"x</s>ab", 4, {3, 2, 1, 7}}, /* "always": the stretch after </s> gets "▁" too */
        {"ba", 3, {3, 5, 4}},
    };
    for (guint k = 0; k < G_N_ELEMENTS(cases); k++) {
        int n = -1;
        g_autofree int64_t *ids = ugm_tokenize(tok, cases[k].text, &n, NULL);
        g_assert_nonnull(ids);
        g_autofree char *label = g_strdup_printf("synthetic '%s'", cases[k].text);
        g_assert_cmpint(n, ==, cases[k].n);
        assert_ids(label, ids, cases[k].ids, n);
    }
    ugm_free(tok);
}

/* ------------------------------------------------------------------------------------- */
/* Errors. */

static void expect_load_error(const char *dir, int code, const char *needle)
{
    GError *err = NULL;
    g_assert_null(ugm_load(dir, &err));
    tu_expect_error(&err, code, (const char *const[]){needle, NULL});
}

static char *dir_with(const char *name, const void *data, gssize n)
{
    char *dir = tu_temp_dir();
    g_autofree char *path = g_build_filename(dir, name, NULL);
    g_assert_true(g_file_set_contents(path, data, n, NULL));
    return dir;
}

static void test_load_errors(void)
{
    g_autofree char *missing = g_build_filename(g_get_tmp_dir(), "no-such-tokenizer-dir", NULL);
    expect_load_error(missing, FLUX_ERROR_IO, "tokenizer.json");

    g_autofree char *bad_json = dir_with("tokenizer.json", "{\"model\": [1, 2", -1);
    expect_load_error(bad_json, FLUX_ERROR_FORMAT, "tokenizer.json");

    g_autofree char *no_vocab = synthetic_dir("null", "\"vocab\": []");
    expect_load_error(no_vocab, FLUX_ERROR_FORMAT, "vocab");

    g_autofree char *bad_pair = synthetic_dir("null", "\"vocab\": [[\"a\", \"x\"], [\"b\"], [3]]");
    expect_load_error(bad_pair, FLUX_ERROR_FORMAT, "model.vocab[0]");

    /* A charsmap whose header declares more trie bytes than there are. */
    g_autofree char *bad_cm = synthetic_dir(
        "{\"type\": \"Precompiled\", \"precompiled_charsmap\": \"/wAAAAAAAAA=\"}", synthetic_vocab);
    expect_load_error(bad_cm, FLUX_ERROR_FORMAT, "charsmap");

    g_autofree char *bad_norm = synthetic_dir(
        "{\"type\": \"Replace\", \"pattern\": {\"Regex\": \"x+\"}, \"content\": \"y\"}",
        synthetic_vocab);
    expect_load_error(bad_norm, FLUX_ERROR_UNSUPPORTED, "x+");

    /* A spiece.model cut in the middle of a piece. */
    g_autofree char *ref = tu_model_path("tokenizer_2");
    g_autofree char *spm_path = g_build_filename(ref, "spiece.model", NULL);
    g_autofree char *spm = NULL;
    gsize n = 0;
    g_assert_true(g_file_get_contents(spm_path, &spm, &n, NULL));
    g_autofree char *cut = dir_with("spiece.model", spm, 1001);
    expect_load_error(cut, FLUX_ERROR_FORMAT, "spiece.model");
    g_autofree char *garbage = dir_with("spiece.model", "\xff\xff\xff", 3);
    expect_load_error(garbage, FLUX_ERROR_FORMAT, "spiece.model");
}

/* A charsmap trie of random units must not read outside its arrays (ASan checks). */
static void test_random_charsmap(void)
{
    guint8 blob[4 + 64 * 4 + 16];
    guint32 trie_bytes = 64 * 4;
    memcpy(blob, &trie_bytes, 4);
    guint32 x = 12345;
    for (gsize i = 4; i < sizeof blob; i++) {
        x ^= x << 13, x ^= x >> 17, x ^= x << 5;
        blob[i] = (guint8)x;
    }
    /* replacements must be UTF-8 (checked at load): ASCII words separated by NULs */
    for (gsize i = 4 + trie_bytes; i < sizeof blob; i++) blob[i] = i % 4 ? 'a' + i % 26 : 0;
    g_autofree char *b64 = g_base64_encode(blob, sizeof blob);
    g_autofree char *norm =
        g_strdup_printf("{\"type\": \"Precompiled\", \"precompiled_charsmap\": \"%s\"}", b64);
    g_autofree char *dir = synthetic_dir(norm, synthetic_vocab);
    UgmTokenizer *tok = load_dir(dir);
    int n = -1;
    g_autofree int64_t *ids = ugm_tokenize(tok, "ab \xc3\xa9\xcc\x81 \xe4\xb8\xad\x01", &n, NULL);
    g_assert_nonnull(ids);
    ugm_free(tok);
}

static void test_encode_errors(void)
{
    UgmTokenizer *tok = load_ref();
    int64_t ids[8];
    GError *err = NULL;
    g_assert_false(ugm_encode(tok, "caf\xc3 au lait", ids, 8, NULL, &err));
    g_assert_error(err, FLUX_ERROR, FLUX_ERROR_ARGUMENT);
    g_assert_nonnull(strstr(err->message, "UTF-8"));
    g_clear_error(&err);
    g_assert_false(ugm_encode(tok, "\xed\xa0\x80", ids, 8, NULL, &err)); /* a surrogate */
    g_assert_error(err, FLUX_ERROR, FLUX_ERROR_ARGUMENT);
    g_clear_error(&err);
    g_assert_false(ugm_encode(tok, NULL, ids, 8, NULL, &err));
    g_assert_error(err, FLUX_ERROR, FLUX_ERROR_ARGUMENT);
    g_clear_error(&err);
    g_autofree char *huge = g_strnfill(2 * 1024 * 1024, 'a'); /* over the 1 MiB limit */
    g_assert_false(ugm_encode(tok, huge, ids, 8, NULL, &err));
    g_assert_error(err, FLUX_ERROR, FLUX_ERROR_ARGUMENT);
    g_clear_error(&err);
    g_assert_false(ugm_encode(tok, "a cat", ids, 0, NULL, &err));
    g_assert_error(err, FLUX_ERROR, FLUX_ERROR_ARGUMENT);
    g_clear_error(&err);
    ugm_free(tok);
    ugm_free(NULL);
}

/* The vocabulary and the Viterbi search on their own (unigram_pieces.c, unigram_viterbi.c),
 * with scores chosen so that every expected split is the unique best by hand:
 * "ab" = -2.5 beats a + b = -3; an unknown costs min score - 10 = -13. */
static void split(const UgmPieces *p, const char *s, const int64_t *want, guint n_want)
{
    int n = (int)strlen(s);
    UgmNode *best = g_new(UgmNode, n + 1);
    GArray *ids = g_array_new(FALSE, FALSE, sizeof(int64_t));
    ugm_viterbi_append(p, 0, s, n, best, ids);
    g_assert_cmpmem(ids->data, ids->len * sizeof(int64_t), want, n_want * sizeof(int64_t));
    g_array_free(ids, TRUE);
    g_free(best);
}

static void pieces(UgmPieces *p, const char *const *text, const double *score, int n)
{
    ugm_pieces_init(p);
    for (int i = 0; i < n; i++) ugm_pieces_add(p, text[i], strlen(text[i]), score[i]);
    ugm_pieces_index(p);
}

static void test_viterbi(void)
{
    static const char *const text[] = {"<unk>", "a", "b", "ab", "c"};
    static const double score[] = {0.0, -1.0, -2.0, -2.5, -3.0};
    UgmPieces p;
    pieces(&p, text, score, 5);
    g_assert_cmpint(p.max_bytes, ==, 5);
    g_assert_cmpfloat(p.unk_score, ==, -13.0);
    g_assert_cmpint(ugm_pieces_lookup(&p, "ab", 2), ==, 3);
    g_assert_cmpint(ugm_pieces_lookup(&p, "ba", 2), ==, -1);
    split(&p, "ab", (const int64_t[]){3}, 1);
    split(&p, "abc", (const int64_t[]){3, 4}, 2);
    split(&p, "ba", (const int64_t[]){2, 1}, 2);
    /* x and y are unknown: one fused <unk> (fuse_unk), then "ab" */
    split(&p, "xyab", (const int64_t[]){0, 3}, 2);
    /* a multi-byte unknown character is one unit: é then "c" */
    split(&p,
          "\xc3\xa9"
          "c",
          (const int64_t[]){0, 4}, 2);
    ugm_pieces_clear(&p);

    /* a later piece with the same bytes takes the lookup (as tokenizers' HashMap): "a" now
     * scores -0.1, so a + b = -2.1 beats "ab" = -2.5 */
    static const char *const text2[] = {"<unk>", "a", "b", "ab", "a"};
    static const double score2[] = {0.0, -1.0, -2.0, -2.5, -0.1};
    pieces(&p, text2, score2, 5);
    g_assert_cmpint(ugm_pieces_lookup(&p, "a", 1), ==, 4);
    split(&p, "ab", (const int64_t[]){4, 2}, 2);
    ugm_pieces_clear(&p);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/tokenizer_unigram/golden", test_golden);
    g_test_add_func("/tokenizer_unigram/truncated", test_truncated);
    g_test_add_func("/tokenizer_unigram/empty", test_empty);
    g_test_add_func("/tokenizer_unigram/quirks", test_quirks);
    g_test_add_func("/tokenizer_unigram/spiece-fallback", test_spiece_fallback);
    g_test_add_func("/tokenizer_unigram/synthetic", test_synthetic);
    g_test_add_func("/tokenizer_unigram/viterbi", test_viterbi);
    g_test_add_func("/tokenizer_unigram/random-charsmap", test_random_charsmap);
    g_test_add_func("/tokenizer_unigram/load-errors", test_load_errors);
    g_test_add_func("/tokenizer_unigram/encode-errors", test_encode_errors);
    return g_test_run();
}
