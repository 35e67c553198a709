/* tokenizer_unigram.c — see tokenizer_unigram.h. Follows the Rust `tokenizers` 0.20 pipeline
 * behind transformers' T5TokenizerFast (AddedVocabulary → normalizers::Sequence[Precompiled,
 * Strip, Replace] → pre_tokenizers::Metaspace → models::Unigram (encode_optimized, fuse_unk)
 * → TemplateProcessing), which for FLUX.1's tokenizer_2 is what the golden ids come from.
 *
 * Legend: byte offsets into UTF-8 strings are `size_t`; a "piece" is a vocabulary entry
 * (UTF-8 bytes, score = log-probability); a "pre-token" is a stretch between "▁" splits;
 * V = number of pieces (32100 for FLUX.1). The rooms around this file, the pipeline: the
 * Precompiled normaliser's table is charsmap.c (a darts-clone trie), grapheme clusters are
 * grapheme.c's, the vocabulary is unigram_pieces.c, the model's segmentation
 * unigram_viterbi.c; the files are read with config.c (JSON) and protobuf.c (spiece.model). */
#include "tokenizer_unigram.h"
#include "charsmap.h"
#include "config.h"
#include "grapheme.h"
#include "protobuf.h"
#include "unigram_pieces.h"
#include "unigram_viterbi.h"
#include "flux.h"

#include <string.h>

/* The Precompiled normaliser transforms a whole grapheme cluster only when it is shorter than
 * this many bytes (a quirk of tokenizers' spm_precompiled port, kept for exact ids). */
#define UGM_GRAPHEME_MAX_BYTES 6

/* Longest prompt accepted (bytes), far beyond the 512 tokens FLUX reads: bounds the Viterbi
 * table (16 bytes per normalised byte; NFKC can expand a character ~11×) and keeps offsets int. */
#define UGM_MAX_TEXT_BYTES (1024 * 1024)

typedef enum { UGM_PREPEND_ALWAYS, UGM_PREPEND_FIRST, UGM_PREPEND_NEVER } UgmPrepend;

/* A special token cut out of the raw text before normalisation. */
typedef struct {
    char *text;
    gsize len;
    int64_t id;
} UgmAdded;

struct UgmTokenizer {
    char *path; /* the file the model came from, for messages */

    UgmPieces pieces; /* [V] */
    int64_t unk_id, eos_id, pad_id;

    /* Normaliser. */
    gboolean has_charsmap;
    Charsmap cm;
    gboolean strip_left, strip_right;
    char *multi_space; /* replacement for runs of 2+ spaces, NULL when absent */

    /* Metaspace pre-tokeniser. */
    char *meta; /* "▁" */
    gsize meta_len;
    UgmPrepend prepend;
    gboolean split;

    UgmAdded *added;
    int n_added;
};

static void added_add(UgmTokenizer *t, const char *s, gsize n, int64_t id)
{
    t->added = g_renew(UgmAdded, t->added, t->n_added + 1);
    t->added[t->n_added++] = (UgmAdded){g_strndup(s, n), n, id};
}

/* ------------------------------------------------------------------------------------- */
/* Normaliser: Precompiled → Strip → Replace(" {2,}"). */

/* tokenizers' Precompiled::normalize: a cluster under 6 bytes is replaced as a whole by the
 * replacement of its shortest matching prefix (so "e\u0301\u0302" → "é", the second accent is
 * dropped, and "\r\n" → one space); otherwise each character is replaced on its own. */
static void norm_precompiled(const Charsmap *cm, const char *s, gsize n, GString *out)
{
    const char *end = s + n;
    while (s < end) {
        gsize g = grapheme_next(s, end);
        const char *rep;
        gsize rep_len;
        if (g < UGM_GRAPHEME_MAX_BYTES && charsmap_first_match(cm, s, g, &rep, &rep_len)) {
            g_string_append_len(out, rep, (gssize)rep_len);
        } else {
            for (const char *c = s; c < s + g; c = g_utf8_next_char(c)) {
                gsize cl = (gsize)(g_utf8_next_char(c) - c);
                if (charsmap_first_match(cm, c, cl, &rep, &rep_len))
                    g_string_append_len(out, rep, (gssize)rep_len);
                else
                    g_string_append_len(out, c, (gssize)cl);
            }
        }
        s += g;
    }
}

/* Rust's char::is_whitespace (Unicode White_Space), which tokenizers' Strip uses. */
static gboolean ugm_is_white_space(gunichar c)
{
    return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
           c == 0x205F || c == 0x3000;
}

static void norm_strip(GString *s, gboolean left, gboolean right)
{
    if (right) {
        while (s->len > 0) {
            char *last = g_utf8_find_prev_char(s->str, s->str + s->len);
            if (!ugm_is_white_space(g_utf8_get_char(last))) break;
            g_string_truncate(s, (gsize)(last - s->str));
        }
    }
    if (left) {
        gsize k = 0;
        while (k < s->len && ugm_is_white_space(g_utf8_get_char(s->str + k)))
            k = (gsize)(g_utf8_next_char(s->str + k) - s->str);
        g_string_erase(s, 0, (gssize)k);
    }
}

/* Replace(Regex(" {2,}"), rep): each run of two or more ASCII spaces becomes `rep`. */
static void norm_multi_space(GString *s, const char *rep)
{
    GString *out = g_string_sized_new(s->len);
    for (gsize i = 0; i < s->len;) {
        gsize j = i;
        while (j < s->len && s->str[j] == ' ') j++;
        if (j - i >= 2) {
            g_string_append(out, rep);
            i = j;
        } else {
            g_string_append_c(out, s->str[i++]);
        }
    }
    g_string_assign(s, out->str);
    g_string_free(out, TRUE);
}

static void normalize(const UgmTokenizer *t, const char *s, gsize n, GString *out)
{
    g_string_truncate(out, 0);
    if (t->has_charsmap)
        norm_precompiled(&t->cm, s, n, out);
    else
        g_string_append_len(out, s, (gssize)n);
    norm_strip(out, t->strip_left, t->strip_right);
    if (t->multi_space) norm_multi_space(out, t->multi_space);
}

/* ------------------------------------------------------------------------------------- */
/* Metaspace pre-tokeniser + model over one normalised stretch. */

static void pre_tokenize_append(const UgmTokenizer *t, GString *norm, gboolean at_start,
                                UgmNode **best, gsize *best_cap, GArray *out)
{
    GString *m = g_string_sized_new(norm->len + 8);
    for (gsize i = 0; i < norm->len; i++) {
        if (norm->str[i] == ' ')
            g_string_append_len(m, t->meta, (gssize)t->meta_len);
        else
            g_string_append_c(m, norm->str[i]);
    }
    gboolean starts_meta = m->len >= t->meta_len && memcmp(m->str, t->meta, t->meta_len) == 0;
    if (m->len > 0 && !starts_meta &&
        (t->prepend == UGM_PREPEND_ALWAYS || (t->prepend == UGM_PREPEND_FIRST && at_start)))
        g_string_prepend_len(m, t->meta, (gssize)t->meta_len);
    if (m->len + 1 > *best_cap) {
        *best_cap = m->len + 1;
        *best = g_renew(UgmNode, *best, *best_cap);
    }
    /* Split before every "▁" (MergedWithNext): a "▁" joins the text after it, except that of
     * two consecutive ones the first stands alone. */
    gsize start = 0;
    for (gsize i = 0; i <= m->len; i++) {
        gboolean is_meta = t->split && i < m->len && m->len - i >= t->meta_len &&
                           memcmp(m->str + i, t->meta, t->meta_len) == 0;
        if (i == m->len || (is_meta && i > start)) {
            if (i > start)
                ugm_viterbi_append(&t->pieces, t->unk_id, m->str + start, (int)(i - start), *best,
                                   out);
            start = i;
        }
        if (is_meta) i += t->meta_len - 1;
    }
    g_string_free(m, TRUE);
}

/* The added token starting at s with the longest text, or NULL (leftmost-longest match). */
static const UgmAdded *added_match(const UgmTokenizer *t, const char *s, gsize left)
{
    const UgmAdded *best = NULL;
    for (int k = 0; k < t->n_added; k++) {
        const UgmAdded *a = &t->added[k];
        if (a->len <= left && a->text[0] == s[0] && (!best || a->len > best->len) &&
            memcmp(a->text, s, a->len) == 0)
            best = a;
    }
    return best;
}

static void encode_append(const UgmTokenizer *t, const char *text, GArray *out)
{
    gsize n = strlen(text), seg = 0;
    GString *norm = g_string_new(NULL);
    UgmNode *best = NULL;
    gsize best_cap = 0;
    for (gsize i = 0; i <= n;) {
        const UgmAdded *a = i < n ? added_match(t, text + i, n - i) : NULL;
        if (i == n || a) {
            if (i > seg) {
                normalize(t, text + seg, i - seg, norm);
                pre_tokenize_append(t, norm, seg == 0, &best, &best_cap, out);
            }
            if (!a) break;
            g_array_append_val(out, a->id);
            i += a->len;
            seg = i;
        } else {
            i++;
        }
    }
    g_free(best);
    g_string_free(norm, TRUE);
}

static gboolean check_text(const char *text, GError **error)
{
    const char *bad = NULL;
    if (!text) {
        g_set_error(error, FLUX_ERROR, FLUX_ERROR_ARGUMENT, "T5 tokenizer: prompt is NULL");
        return FALSE;
    }
    gsize n = strlen(text);
    if (n > UGM_MAX_TEXT_BYTES) {
        g_set_error(error, FLUX_ERROR, FLUX_ERROR_ARGUMENT,
                    "T5 tokenizer: prompt of %zu bytes, expected at most %d", (size_t)n,
                    UGM_MAX_TEXT_BYTES);
        return FALSE;
    }
    if (!g_utf8_validate(text, (gssize)n, &bad)) {
        g_set_error(error, FLUX_ERROR, FLUX_ERROR_ARGUMENT,
                    "T5 tokenizer: prompt is not valid UTF-8 (byte 0x%02x at offset %zu)",
                    (guint8)*bad, (size_t)(bad - text));
        return FALSE;
    }
    return TRUE;
}

int64_t *ugm_tokenize(const UgmTokenizer *tok, const char *text, int *n, GError **error)
{
    g_return_val_if_fail(tok != NULL && n != NULL, NULL);
    if (!check_text(text, error)) return NULL;
    GArray *out = g_array_sized_new(FALSE, FALSE, sizeof(int64_t), 64); /* data never NULL */
    encode_append(tok, text, out);
    *n = (int)out->len;
    return (int64_t *)(void *)g_array_free(out, FALSE);
}

gboolean ugm_encode(const UgmTokenizer *tok, const char *text, int64_t *ids, int max_len,
                    int *n_tokens, GError **error)
{
    g_return_val_if_fail(tok != NULL && ids != NULL, FALSE);
    if (max_len < 1) {
        g_set_error(error, FLUX_ERROR, FLUX_ERROR_ARGUMENT,
                    "T5 tokenizer: max length %d, expected at least 1 (room for </s>)", max_len);
        return FALSE;
    }
    int n = 0;
    int64_t *tokens = ugm_tokenize(tok, text, &n, error);
    if (!tokens) return FALSE;
    int keep = MIN(n, max_len - 1);
    for (int i = 0; i < max_len; i++)
        ids[i] = i < keep ? tokens[i] : i == keep ? tok->eos_id : tok->pad_id;
    if (n_tokens) *n_tokens = n;
    g_free(tokens);
    return TRUE;
}

int64_t ugm_eos_id(const UgmTokenizer *tok)
{
    return tok->eos_id;
}
int64_t ugm_pad_id(const UgmTokenizer *tok)
{
    return tok->pad_id;
}
int64_t ugm_unk_id(const UgmTokenizer *tok)
{
    return tok->unk_id;
}
int ugm_vocab_size(const UgmTokenizer *tok)
{
    return tok->pieces.n;
}

void ugm_free(UgmTokenizer *tok)
{
    if (!tok) return;
    g_free(tok->path);
    ugm_pieces_clear(&tok->pieces);
    charsmap_clear(&tok->cm);
    g_free(tok->multi_space);
    g_free(tok->meta);
    for (int i = 0; i < tok->n_added; i++) g_free(tok->added[i].text);
    g_free(tok->added);
    g_free(tok);
}

/* ------------------------------------------------------------------------------------- */
/* Loading tokenizer.json. */

static gboolean fmt_err(GError **error, const char *path, const char *what)
{
    g_set_error(error, FLUX_ERROR, FLUX_ERROR_FORMAT, "%s: %s", path, what);
    return FALSE;
}

static gboolean unsupported(GError **error, const char *path, const char *what, const char *v)
{
    g_set_error(error, FLUX_ERROR, FLUX_ERROR_UNSUPPORTED, "%s: unsupported %s \"%s\"", path, what,
                v ? v : "(none)");
    return FALSE;
}

static gboolean load_vocab(UgmTokenizer *t, JsonObject *model, const char *path, GError **error)
{
    JsonArray *vocab = cfg_arr_member(model, "vocab");
    if (!vocab || json_array_get_length(vocab) == 0)
        return fmt_err(error, path, "model.vocab is missing or empty");
    guint n = json_array_get_length(vocab);
    if (n > G_MAXINT32 / 2) return fmt_err(error, path, "model.vocab is too large");
    for (guint i = 0; i < n; i++) {
        JsonNode *e = json_array_get_element(vocab, i);
        JsonArray *pair = JSON_NODE_HOLDS_ARRAY(e) ? json_node_get_array(e) : NULL;
        const char *s = pair && json_array_get_length(pair) == 2
                            ? cfg_node_str(json_array_get_element(pair, 0))
                            : NULL;
        double score;
        if (!s || !cfg_node_number(json_array_get_element(pair, 1), &score)) {
            g_set_error(error, FLUX_ERROR, FLUX_ERROR_FORMAT,
                        "%s: model.vocab[%u] is not a [piece, score] pair", path, i);
            return FALSE;
        }
        ugm_pieces_add(&t->pieces, s, strlen(s), score);
    }
    return TRUE;
}

static gboolean load_model(UgmTokenizer *t, JsonObject *root, const char *path, GError **error)
{
    JsonObject *model = cfg_obj_member(root, "model");
    if (!model) return fmt_err(error, path, "no \"model\" object");
    const char *type = cfg_str_member(model, "type");
    if (type && strcmp(type, "Unigram") != 0) return unsupported(error, path, "model type", type);
    if (cfg_bool_member(model, "byte_fallback", FALSE))
        return unsupported(error, path, "model option", "byte_fallback");
    if (!load_vocab(t, model, path, error)) return FALSE;
    if (!cfg_int_member(model, "unk_id", &t->unk_id) || t->unk_id < 0 || t->unk_id >= t->pieces.n) {
        g_set_error(error, FLUX_ERROR, FLUX_ERROR_FORMAT,
                    "%s: model.unk_id missing or outside the vocabulary of %d pieces", path,
                    t->pieces.n);
        return FALSE;
    }
    return TRUE;
}

static gboolean load_added(UgmTokenizer *t, JsonObject *root, const char *path, GError **error)
{
    JsonArray *arr = cfg_arr_member(root, "added_tokens");
    guint n = arr ? json_array_get_length(arr) : 0;
    for (guint i = 0; i < n; i++) {
        JsonObject *o = cfg_arr_obj(arr, i);
        const char *content = cfg_str_member(o, "content");
        int64_t id;
        if (!content || !*content || !cfg_int_member(o, "id", &id) || id < 0) {
            g_set_error(error, FLUX_ERROR, FLUX_ERROR_FORMAT,
                        "%s: added_tokens[%u] lacks \"content\" or \"id\"", path, i);
            return FALSE;
        }
        /* These options change where a token matches; T5's special tokens use none of them. */
        if (cfg_bool_member(o, "normalized", FALSE) || cfg_bool_member(o, "lstrip", FALSE) ||
            cfg_bool_member(o, "rstrip", FALSE) || cfg_bool_member(o, "single_word", FALSE))
            return unsupported(error, path,
                               "added token options (normalized/lstrip/rstrip/"
                               "single_word) for",
                               content);
        added_add(t, content, strlen(content), id);
    }
    return TRUE;
}

static gboolean charsmap_from_b64(UgmTokenizer *t, const char *b64, const char *path,
                                  GError **error)
{
    gsize n = 0;
    guchar *b = g_base64_decode(b64, &n);
    gboolean ok = charsmap_parse(&t->cm, b, n, path, error);
    g_free(b);
    t->has_charsmap = ok;
    return ok;
}

/* One normaliser of the chain; `stage` enforces the order Precompiled, Strip, Replace. */
static gboolean load_normalizer_step(UgmTokenizer *t, JsonObject *o, int *stage, const char *path,
                                     GError **error)
{
    const char *type = cfg_str_member(o, "type");
    if (type && strcmp(type, "Precompiled") == 0 && *stage < 1) {
        *stage = 1;
        const char *b64 = cfg_str_member(o, "precompiled_charsmap");
        if (!b64) return fmt_err(error, path, "Precompiled normalizer without a charsmap");
        return charsmap_from_b64(t, b64, path, error);
    }
    if (type && strcmp(type, "Strip") == 0 && *stage < 2) {
        *stage = 2;
        t->strip_left = cfg_bool_member(o, "strip_left", FALSE);
        t->strip_right = cfg_bool_member(o, "strip_right", FALSE);
        return TRUE;
    }
    if (type && strcmp(type, "Replace") == 0 && *stage < 3) {
        *stage = 3;
        const char *re = cfg_str_member(cfg_obj_member(o, "pattern"), "Regex");
        const char *content = cfg_str_member(o, "content");
        if (!re || strcmp(re, " {2,}") != 0 || !content)
            return unsupported(error, path, "Replace normalizer pattern", re);
        t->multi_space = g_strdup(content);
        return TRUE;
    }
    return unsupported(error, path, "normalizer (or order)", type);
}

static gboolean load_normalizer(UgmTokenizer *t, JsonObject *root, const char *path, GError **error)
{
    JsonObject *n = cfg_obj_member(root, "normalizer");
    int stage = 0;
    if (!n) return TRUE; /* null: text goes to the pre-tokeniser unchanged */
    const char *type = cfg_str_member(n, "type");
    if (!type || strcmp(type, "Sequence") != 0)
        return load_normalizer_step(t, n, &stage, path, error);
    JsonArray *list = cfg_arr_member(n, "normalizers");
    guint len = list ? json_array_get_length(list) : 0;
    for (guint i = 0; i < len; i++) {
        JsonObject *step = cfg_arr_obj(list, i);
        if (!step) return fmt_err(error, path, "malformed normalizer");
        if (!load_normalizer_step(t, step, &stage, path, error)) return FALSE;
    }
    return TRUE;
}

static gboolean load_pre_tokenizer(UgmTokenizer *t, JsonObject *root, const char *path,
                                   GError **error)
{
    JsonObject *p = cfg_obj_member(root, "pre_tokenizer");
    const char *type = cfg_str_member(p, "type");
    JsonArray *list =
        type && strcmp(type, "Sequence") == 0 ? cfg_arr_member(p, "pretokenizers") : NULL;
    if (list && json_array_get_length(list) == 1 && cfg_arr_obj(list, 0)) {
        p = cfg_arr_obj(list, 0);
        type = cfg_str_member(p, "type");
    }
    if (!type || strcmp(type, "Metaspace") != 0)
        return unsupported(error, path, "pre_tokenizer", type);
    const char *rep = cfg_str_member(p, "replacement");
    if (!rep || g_utf8_strlen(rep, -1) != 1)
        return fmt_err(error, path, "Metaspace replacement must be one character");
    t->meta = g_strdup(rep);
    t->meta_len = strlen(rep);
    t->split = cfg_bool_member(p, "split", TRUE);
    const char *scheme = cfg_str_member(p, "prepend_scheme");
    if (!scheme) /* files older than prepend_scheme: add_prefix_space means "always" */
        t->prepend =
            cfg_bool_member(p, "add_prefix_space", TRUE) ? UGM_PREPEND_ALWAYS : UGM_PREPEND_NEVER;
    else if (strcmp(scheme, "always") == 0)
        t->prepend = UGM_PREPEND_ALWAYS;
    else if (strcmp(scheme, "first") == 0)
        t->prepend = UGM_PREPEND_FIRST;
    else if (strcmp(scheme, "never") == 0)
        t->prepend = UGM_PREPEND_NEVER;
    else
        return unsupported(error, path, "Metaspace prepend_scheme", scheme);
    return TRUE;
}

/* TemplateProcessing single = [$A, SpecialToken X]: EOS = special_tokens[X].ids[0]. */
static gboolean load_post_processor(UgmTokenizer *t, JsonObject *root, const char *path,
                                    GError **error)
{
    JsonObject *pp = cfg_obj_member(root, "post_processor");
    const char *type = cfg_str_member(pp, "type");
    if (!type || strcmp(type, "TemplateProcessing") != 0)
        return unsupported(error, path, "post_processor", type);
    JsonArray *single = cfg_arr_member(pp, "single");
    gboolean two = single && json_array_get_length(single) == 2;
    JsonObject *first = two ? cfg_obj_member(cfg_arr_obj(single, 0), "Sequence") : NULL;
    const char *tok =
        two ? cfg_str_member(cfg_obj_member(cfg_arr_obj(single, 1), "SpecialToken"), "id") : NULL;
    if (!first || !tok)
        return unsupported(error, path, "post_processor template (expected $A </s>)", NULL);
    JsonArray *ids =
        cfg_arr_member(cfg_obj_member(cfg_obj_member(pp, "special_tokens"), tok), "ids");
    JsonNode *id0 = ids && json_array_get_length(ids) == 1 ? json_array_get_element(ids, 0) : NULL;
    if (!cfg_node_int(id0, &t->eos_id)) {
        g_set_error(error, FLUX_ERROR, FLUX_ERROR_FORMAT,
                    "%s: post_processor.special_tokens[\"%s\"] has no single id", path, tok);
        return FALSE;
    }
    return TRUE;
}

static gboolean load_tokenizer_json(UgmTokenizer *t, const char *path, GError **error)
{
    CfgJson *c = cfg_load(path, error);
    if (!c) return FALSE;
    JsonObject *root = cfg_object(c);
    gboolean ok = load_model(t, root, path, error) && load_added(t, root, path, error) &&
                  load_normalizer(t, root, path, error) &&
                  load_pre_tokenizer(t, root, path, error) &&
                  load_post_processor(t, root, path, error);
    cfg_free(c);
    return ok;
}

/* ------------------------------------------------------------------------------------- */
/* Loading spiece.model (sentencepiece ModelProto), the fallback when tokenizer.json is absent.
 * Only the fields the fast converter (transformers' T5Converter) reads are decoded:
 *   ModelProto      1: pieces {1: piece, 2: score (float), 3: type}, 2: trainer_spec,
 *                   3: normalizer_spec
 *   TrainerSpec     40: unk_id, 42: eos_id, 43: pad_id
 *   NormalizerSpec  2: precompiled_charsmap, 3: add_dummy_prefix */

typedef struct {
    int64_t unk_id, eos_id, pad_id;
    gboolean add_dummy_prefix;
} SpSpecs;

static gboolean sp_piece(UgmTokenizer *t, PbReader r, int *type)
{
    guint32 f;
    guint64 v = 0;
    PbReader sub = {0};
    const char *s = NULL;
    gsize n = 0;
    float score = 0.0f;
    *type = 1; /* NORMAL */
    while (r.p < r.end) {
        sub = (PbReader){NULL, NULL};
        if (!pb_field(&r, &f, &sub, &v)) return FALSE;
        if (f == 1 && sub.p) {
            s = (const char *)sub.p;
            n = (gsize)(sub.end - sub.p);
        }
        if (f == 2) memcpy(&score, &v, 4);
        if (f == 3) *type = (int)v;
    }
    if (!s || !g_utf8_validate(s, (gssize)n, NULL)) return FALSE;
    ugm_pieces_add(&t->pieces, s, n, score);
    return TRUE;
}

static gboolean sp_specs(UgmTokenizer *t, PbReader r, gboolean trainer, SpSpecs *sp,
                         const char *path, GError **error)
{
    guint32 f;
    guint64 v = 0;
    PbReader sub = {0};
    while (r.p < r.end) {
        sub = (PbReader){NULL, NULL};
        if (!pb_field(&r, &f, &sub, &v)) return fmt_err(error, path, "truncated protobuf");
        if (trainer && f == 40) sp->unk_id = (int32_t)v;
        if (trainer && f == 42) sp->eos_id = (int32_t)v;
        if (trainer && f == 43) sp->pad_id = (int32_t)v;
        if (!trainer && f == 3) sp->add_dummy_prefix = v != 0;
        if (!trainer && f == 2 && sub.end > sub.p) {
            if (!charsmap_parse(&t->cm, sub.p, (gsize)(sub.end - sub.p), path, error)) return FALSE;
            t->has_charsmap = TRUE;
        }
    }
    return TRUE;
}

static gboolean load_spiece(UgmTokenizer *t, const char *path, SpSpecs *sp, GError **error)
{
    GError *ferr = NULL;
    GMappedFile *map = g_mapped_file_new(path, FALSE, &ferr);
    if (!map) {
        g_set_error(error, FLUX_ERROR, FLUX_ERROR_IO, "%s: cannot read: %s", path, ferr->message);
        g_error_free(ferr);
        return FALSE;
    }
    const guint8 *b = (const guint8 *)g_mapped_file_get_contents(map);
    PbReader r = {b, b + g_mapped_file_get_length(map)}, sub = {0};
    *sp = (SpSpecs){0, 2, -1, TRUE}; /* sentencepiece's defaults */
    gboolean ok = TRUE;
    while (ok && r.p < r.end) {
        guint32 f;
        guint64 v;
        int type;
        sub = (PbReader){NULL, NULL};
        ok = pb_field(&r, &f, &sub, &v);
        if (ok && f == 1 && sub.p) {
            ok = sp_piece(t, sub, &type);
            if (ok && (type == 2 || type == 3)) { /* UNKNOWN, CONTROL: matched as specials */
                gsize len;
                const char *text = ugm_pieces_text(&t->pieces, t->pieces.n - 1, &len);
                added_add(t, text, len, t->pieces.n - 1);
            }
        }
        if (ok && (f == 2 || f == 3) && sub.p && !sp_specs(t, sub, f == 2, sp, path, error)) {
            g_mapped_file_unref(map);
            return FALSE;
        }
    }
    g_mapped_file_unref(map);
    if (!ok || t->pieces.n == 0) return fmt_err(error, path, "not a sentencepiece model");
    return TRUE;
}

/* tokenizer_config.json's added_tokens_decoder entries past the sentencepiece pieces (T5's
 * <extra_id_N>) join the vocabulary with score 0, as the fast converter adds them. */
static gboolean spiece_extras(UgmTokenizer *t, JsonObject *cfg, const char *path, GError **error)
{
    JsonObject *dec = cfg_obj_member(cfg, "added_tokens_decoder");
    for (int id = t->pieces.n; dec; id++) {
        char key[32];
        g_snprintf(key, sizeof key, "%d", id);
        const char *content = cfg_str_member(cfg_obj_member(dec, key), "content");
        if (!content) break;
        ugm_pieces_add(&t->pieces, content, strlen(content), 0.0);
        added_add(t, content, strlen(content), id);
    }
    if (dec && (int)json_object_get_size(dec) > t->pieces.n)
        return fmt_err(error, path,
                       "added_tokens_decoder ids are not contiguous after the "
                       "sentencepiece pieces");
    return TRUE;
}

static gboolean load_spiece_dir(UgmTokenizer *t, const char *dir, GError **error)
{
    SpSpecs sp;
    if (!load_spiece(t, t->path, &sp, error)) return FALSE;
    if (sp.unk_id < 0 || sp.unk_id >= t->pieces.n || sp.eos_id < 0 || sp.eos_id >= t->pieces.n)
        return fmt_err(error, t->path, "unk_id/eos_id outside the pieces");
    t->unk_id = sp.unk_id;
    t->eos_id = sp.eos_id;
    t->pad_id = sp.pad_id;
    t->strip_right = TRUE;
    t->multi_space = g_strdup("\xe2\x96\x81");
    t->meta = g_strdup("\xe2\x96\x81");
    t->meta_len = strlen(t->meta);
    t->split = TRUE;
    g_autofree char *cfg_path = g_build_filename(dir, "tokenizer_config.json", NULL);
    gboolean legacy = TRUE; /* transformers' default when the key is absent */
    CfgJson *c;
    gboolean ok = cfg_load_optional(cfg_path, &c, error);
    if (c) {
        JsonObject *cfg = cfg_object(c);
        legacy = cfg_bool_member(cfg, "legacy", TRUE);
        ok = spiece_extras(t, cfg, cfg_path, error);
        cfg_free(c);
    }
    t->prepend = !sp.add_dummy_prefix ? UGM_PREPEND_NEVER
                 : legacy             ? UGM_PREPEND_ALWAYS
                                      : UGM_PREPEND_FIRST;
    return ok;
}

/* ------------------------------------------------------------------------------------- */

/* special_tokens_map.json (else tokenizer_config.json) names the pad token; its id comes from
 * the added tokens or the vocabulary. Without either file, the model's own pad id (spiece)
 * stays. */
static gboolean load_pad(UgmTokenizer *t, const char *dir, GError **error)
{
    static const char *const files[] = {"special_tokens_map.json", "tokenizer_config.json"};
    for (int f = 0; f < 2; f++) {
        g_autofree char *path = g_build_filename(dir, files[f], NULL);
        CfgJson *c;
        if (!cfg_load_optional(path, &c, error)) return FALSE;
        if (!c) continue;
        JsonObject *root = cfg_object(c);
        const char *pad = cfg_str_member(root, "pad_token");
        if (!pad) pad = cfg_str_member(cfg_obj_member(root, "pad_token"), "content");
        int64_t id = -1;
        for (int k = 0; pad && k < t->n_added && id < 0; k++)
            if (strcmp(t->added[k].text, pad) == 0) id = t->added[k].id;
        if (pad && id < 0) id = ugm_pieces_lookup(&t->pieces, pad, strlen(pad));
        if (pad && id < 0)
            g_set_error(error, FLUX_ERROR, FLUX_ERROR_MODEL,
                        "%s: pad_token \"%s\" is not in the vocabulary", path, pad);
        cfg_free(c);
        if (pad && id < 0) return FALSE;
        if (pad) {
            t->pad_id = id;
            return TRUE;
        }
    }
    if (t->pad_id < 0)
        return fmt_err(error, dir, "no pad token (special_tokens_map.json or spiece.model)");
    return TRUE;
}

UgmTokenizer *ugm_load(const char *dir, GError **error)
{
    g_return_val_if_fail(dir != NULL, NULL);
    UgmTokenizer *t = g_new0(UgmTokenizer, 1);
    ugm_pieces_init(&t->pieces);
    t->pad_id = -1;
    char *json = g_build_filename(dir, "tokenizer.json", NULL);
    char *spm = g_build_filename(dir, "spiece.model", NULL);
    gboolean ok;
    if (g_file_test(json, G_FILE_TEST_EXISTS) || !g_file_test(spm, G_FILE_TEST_EXISTS)) {
        t->path = g_steal_pointer(&json); /* a missing tokenizer.json is reported by name */
        ok = load_tokenizer_json(t, t->path, error);
    } else {
        t->path = g_steal_pointer(&spm);
        ok = load_spiece_dir(t, dir, error);
    }
    g_free(json);
    g_free(spm);
    if (ok) ugm_pieces_index(&t->pieces);
    if (ok) ok = load_pad(t, dir, error);
    if (ok && (t->eos_id < 0 || t->pad_id < 0)) ok = fmt_err(error, t->path, "negative special id");
    if (!ok) {
        ugm_free(t);
        return NULL;
    }
    return t;
}
