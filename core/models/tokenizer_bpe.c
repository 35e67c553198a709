/* tokenizer_bpe.c — see tokenizer_bpe.h. Follows transformers 4.46 `CLIPTokenizer` (slow,
 * tokenization_clip.py) without ftfy: PreTrainedTokenizer.tokenize (cut out added tokens) →
 * BasicTokenizer(strip_accents=False, do_split_on_punc=False) → the CLIP `regex` pattern
 * (compiled with IGNORECASE) → bytes_to_unicode → bpe() → vocab; then FluxPipeline's
 * `padding="max_length", truncation=True` framing with BOS/EOS.
 *
 * Legend: byte offsets into UTF-8 strings are `size_t`; a "segment" is raw text between added
 * tokens; a "word" is a whitespace-free stretch after BasicTokenizer; a "piece" is one match
 * of the CLIP pattern inside a word; a "symbol" is a BPE unit in the byte-level alphabet (the
 * last one of a piece ends in "</w>"); L = max_len (77 for FLUX.1).
 *
 * Unicode properties come from GLib (Unicode 15.0 in GLib 2.74). The reference pairs Python
 * 3.11's unicodedata (14.0) with the `regex` module's own tables, so code points assigned after
 * Unicode 14 can differ: Python drops them as unassigned (category Cn), GLib keeps them. */
#include "tokenizer_bpe.h"
#include "config.h"
#include "flux.h"

#include <string.h>

/* CLIPTokenizer reads merges.txt lines [1, 49152 - 256 - 2]: CLIP's 49152 BPE vocabulary less
 * the 256 byte symbols and the 2 specials. Line 0 (the "#version" header) is always skipped. */
#define BPE_MAX_MERGES (49152 - 256 - 2)
#define BPE_EOW        "</w>"
/* Words kept in the BPE cache before it is emptied (bounds the memory of a long session). */
#define BPE_CACHE_MAX 8192

/* The literal alternatives of the CLIP pattern: kept whole and looked up as they are, which
 * is what CLIPTokenizer's pre-seeded bpe() cache does for them. */
static const char *const pattern_literals[] = {"<|startoftext|>", "<|endoftext|>"};

/* An added token (tokenizer_config.json's added_tokens_decoder and the special tokens): cut
 * out of the raw text before any normalisation. Their lstrip/rstrip flags cannot change the
 * ids here because BasicTokenizer strips the neighbouring whitespace anyway. */
typedef struct {
    char *text;
    gsize len;
    int64_t id;
} BpeAdded;

struct BpeTokenizer {
    char *dir;             /* for messages */
    GHashTable *vocab;     /* token (owned) → id, GINT_TO_POINTER */
    GHashTable *ranks;     /* "first second" (owned) → merge rank + 1, GINT_TO_POINTER */
    char byte_sym[256][4]; /* bytes_to_unicode: byte → UTF-8 of its stand-in character */
    BpeAdded *added;
    int n_added;
    int64_t bos_id, eos_id, pad_id, unk_id;

    /* byte-level piece (owned) → ids (gint64[1 + n], [0] = n); guarded by cache_lock */
    GHashTable *cache;
    GMutex *cache_lock;
};

/* ------------------------------------------------------------------------------------- */
/* Reading the files.                                                                     */

/* vocab.json: {"token": id, ...}. */
static gboolean load_vocab(BpeTokenizer *tok, GError **error)
{
    g_autofree char *path = g_build_filename(tok->dir, "vocab.json", NULL);
    CfgJson *c = cfg_load(path, error);
    if (!c) return FALSE;
    JsonObjectIter it;
    const char *key;
    JsonNode *node;
    gboolean ok = TRUE;
    json_object_iter_init(&it, cfg_object(c));
    while (ok && json_object_iter_next(&it, &key, &node)) {
        int64_t id;
        if (!cfg_node_int(node, &id) || id < 0 || id > G_MAXINT32) {
            g_set_error(error, FLUX_ERROR, FLUX_ERROR_FORMAT,
                        "%s: entry \"%s\" has no integer id in [0, %d]", path, key, G_MAXINT32);
            ok = FALSE;
        } else {
            g_hash_table_insert(tok->vocab, g_strdup(key), GINT_TO_POINTER((int)id));
        }
    }
    if (ok && g_hash_table_size(tok->vocab) == 0) {
        g_set_error(error, FLUX_ERROR, FLUX_ERROR_FORMAT, "%s: the vocabulary is empty", path);
        ok = FALSE;
    }
    cfg_free(c);
    return ok;
}

/* Splits a merges.txt line into its whitespace-separated fields (at most 3 counted). */
static int merge_fields(char *line, char **field)
{
    int n = 0;
    for (char *save = NULL, *f = strtok_r(line, " \t\r\v\f", &save); f;
         f = strtok_r(NULL, " \t\r\v\f", &save)) {
        if (n < 3) field[n] = f;
        n++;
    }
    return n;
}

/* merges.txt: a header line, then "first second" per line, rank = line index - 1. A later
 * duplicate of a pair takes over its rank (as the Python dict does). */
static gboolean load_merges(BpeTokenizer *tok, GError **error)
{
    g_autofree char *path = g_build_filename(tok->dir, "merges.txt", NULL);
    g_autofree char *data = NULL;
    gsize len = 0;
    GError *err = NULL;
    if (!g_file_get_contents(path, &data, &len, &err)) {
        g_set_error(error, FLUX_ERROR, FLUX_ERROR_IO, "%s: cannot read: %s", path, err->message);
        g_error_free(err);
        return FALSE;
    }
    const char *bad;
    if (!g_utf8_validate(data, (gssize)len, &bad)) {
        g_set_error(error, FLUX_ERROR, FLUX_ERROR_FORMAT,
                    "%s: not valid UTF-8 (byte 0x%02x at offset %" G_GSIZE_FORMAT ")", path,
                    (guint8)*bad, (gsize)(bad - data));
        return FALSE;
    }
    /* Lines split in place with memchr: g_strsplit searches with strstr, which is quadratic
     * over 48k lines under AddressSanitizer's interceptor. */
    char *text = g_strstrip(data), *end = text + strlen(text);
    g_autoptr(GPtrArray) lines = g_ptr_array_new();
    for (char *p = text;;) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        if (nl) *nl = '\0';
        g_ptr_array_add(lines, p);
        if (!nl) break;
        p = nl + 1;
    }
    GString *key = g_string_new(NULL);
    gboolean ok = TRUE;
    for (int i = 1; ok && i < (int)lines->len && i <= BPE_MAX_MERGES; i++) {
        char *field[3];
        int n = merge_fields(g_ptr_array_index(lines, i), field);
        if (n == 0) continue; /* a blank line: an empty tuple that never matches a pair */
        if (n != 2) {
            g_set_error(error, FLUX_ERROR, FLUX_ERROR_FORMAT,
                        "%s: line %d has %d symbols, expected 2 (\"first second\")", path, i + 1,
                        n);
            ok = FALSE;
            break;
        }
        g_string_printf(key, "%s %s", field[0], field[1]);
        g_hash_table_insert(tok->ranks, g_strdup(key->str), GINT_TO_POINTER(i));
    }
    g_string_free(key, TRUE);
    return ok;
}

/* A special token as tokenizer_config.json / special_tokens_map.json write it: a string or an
 * AddedToken object {"content": ...}. NULL when absent, null or malformed. */
static const char *special_text(JsonObject *obj, const char *name)
{
    const char *text = cfg_str_member(obj, name);
    return text ? text : cfg_str_member(cfg_obj_member(obj, name), "content");
}

static void add_token(BpeTokenizer *tok, const char *text, int64_t id)
{
    for (int i = 0; i < tok->n_added; i++)
        if (strcmp(tok->added[i].text, text) == 0) {
            tok->added[i].id = id;
            return;
        }
    tok->added = g_renew(BpeAdded, tok->added, tok->n_added + 1);
    tok->added[tok->n_added++] = (BpeAdded){g_strdup(text), strlen(text), id};
}

/* tokenizer_config.json's added_tokens_decoder: {"49406": {"content": "<|startoftext|>"}}. */
static gboolean load_added(BpeTokenizer *tok, CfgJson *cfg, GError **error)
{
    if (!cfg || !cfg_has(cfg, "added_tokens_decoder")) return TRUE;
    JsonObject *decoder = cfg_obj_member(cfg_object(cfg), "added_tokens_decoder");
    if (!decoder) {
        g_set_error(error, FLUX_ERROR, FLUX_ERROR_FORMAT,
                    "%s: added_tokens_decoder is not an object", cfg_path(cfg));
        return FALSE;
    }
    JsonObjectIter it;
    const char *key;
    JsonNode *member;
    json_object_iter_init(&it, decoder);
    while (json_object_iter_next(&it, &key, &member)) {
        char *end = NULL;
        gint64 id = g_ascii_strtoll(key, &end, 10);
        JsonObject *one = JSON_NODE_HOLDS_OBJECT(member) ? json_node_get_object(member) : NULL;
        const char *text = special_text(one, "content");
        if (!*key || *end || id < 0 || id > G_MAXINT32 || !text || !*text) {
            g_set_error(error, FLUX_ERROR, FLUX_ERROR_FORMAT,
                        "%s: added_tokens_decoder entry \"%s\" needs an integer id and a "
                        "non-empty \"content\"",
                        cfg_path(cfg), key);
            return FALSE;
        }
        add_token(tok, text, id);
    }
    return TRUE;
}

/* The id of a special token: an added token's id, else its vocab.json entry. */
static gboolean special_id(BpeTokenizer *tok, const char *role, const char *text, int64_t *id,
                           GError **error)
{
    for (int i = 0; i < tok->n_added; i++)
        if (strcmp(tok->added[i].text, text) == 0) {
            *id = tok->added[i].id;
            return TRUE;
        }
    gpointer value;
    if (!g_hash_table_lookup_extended(tok->vocab, text, NULL, &value)) {
        g_set_error(error, FLUX_ERROR, FLUX_ERROR_MODEL,
                    "%s: %s \"%s\" is neither in vocab.json nor in tokenizer_config.json's "
                    "added_tokens_decoder",
                    tok->dir, role, text);
        return FALSE;
    }
    *id = GPOINTER_TO_INT(value);
    add_token(tok, text, *id); /* special tokens are added tokens too */
    return TRUE;
}

/* BOS/EOS/PAD/UNK: CLIPTokenizer's defaults, overridden by tokenizer_config.json, overridden
 * by special_tokens_map.json (the order of from_pretrained). */
static gboolean load_specials(BpeTokenizer *tok, GError **error)
{
    g_autofree char *config_path = g_build_filename(tok->dir, "tokenizer_config.json", NULL);
    g_autofree char *map_path = g_build_filename(tok->dir, "special_tokens_map.json", NULL);
    CfgJson *cfg = NULL, *map = NULL;
    gboolean ok =
        cfg_load_optional(config_path, &cfg, error) && cfg_load_optional(map_path, &map, error);
    JsonObject *cfg_obj = cfg ? cfg_object(cfg) : NULL;
    JsonObject *map_obj = map ? cfg_object(map) : NULL;
    ok = ok && load_added(tok, cfg, error);

    static const char *const roles[] = {"bos_token", "eos_token", "pad_token", "unk_token"};
    static const char *const defaults[] = {"<|startoftext|>", "<|endoftext|>", "<|endoftext|>",
                                           "<|endoftext|>"};
    int64_t *ids[] = {&tok->bos_id, &tok->eos_id, &tok->pad_id, &tok->unk_id};
    for (int r = 0; ok && r < 4; r++) {
        const char *text = special_text(map_obj, roles[r]);
        if (!text) text = special_text(cfg_obj, roles[r]);
        if (!text || !*text) text = defaults[r];
        ok = special_id(tok, roles[r], text, ids[r], error);
    }
    cfg_free(cfg);
    cfg_free(map);
    return ok;
}

/* bytes_to_unicode: printable Latin-1 bytes stand for themselves; the others (controls,
 * space, 0x7f-0xa0, 0xad) get U+0100, U+0101, ... in byte order, so no symbol is whitespace. */
static void build_byte_table(char sym[256][4])
{
    int next = 0;
    for (int b = 0; b < 256; b++) {
        gboolean printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
        gunichar cp = printable ? (gunichar)b : (gunichar)(256 + next++);
        int n = g_unichar_to_utf8(cp, sym[b]);
        sym[b][n] = '\0';
    }
}

BpeTokenizer *bpe_load(const char *dir, GError **error)
{
    if (!dir) {
        g_set_error(error, FLUX_ERROR, FLUX_ERROR_ARGUMENT, "bpe_load: no tokenizer folder given");
        return NULL;
    }
    BpeTokenizer *tok = g_new0(BpeTokenizer, 1);
    tok->dir = g_strdup(dir);
    tok->vocab = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    tok->ranks = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    tok->cache = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    tok->cache_lock = g_new0(GMutex, 1);
    g_mutex_init(tok->cache_lock);
    build_byte_table(tok->byte_sym);
    if (!load_vocab(tok, error) || !load_merges(tok, error) || !load_specials(tok, error)) {
        bpe_free(tok);
        return NULL;
    }
    return tok;
}

void bpe_free(BpeTokenizer *tok)
{
    if (!tok) return;
    g_hash_table_destroy(tok->vocab);
    g_hash_table_destroy(tok->ranks);
    g_hash_table_destroy(tok->cache);
    g_mutex_clear(tok->cache_lock);
    g_free(tok->cache_lock);
    for (int i = 0; i < tok->n_added; i++) g_free(tok->added[i].text);
    g_free(tok->added);
    g_free(tok->dir);
    g_free(tok);
}

int64_t bpe_bos_id(const BpeTokenizer *tok)
{
    return tok->bos_id;
}
int64_t bpe_eos_id(const BpeTokenizer *tok)
{
    return tok->eos_id;
}
int64_t bpe_pad_id(const BpeTokenizer *tok)
{
    return tok->pad_id;
}
int bpe_vocab_size(const BpeTokenizer *tok)
{
    return (int)g_hash_table_size(tok->vocab);
}

/* ------------------------------------------------------------------------------------- */
/* BasicTokenizer: cleaning, CJK spacing, lower-casing.                                   */

/* unicodedata category "C*" (Cc, Cf, Cs, Co, Cn). */
static gboolean is_other_category(gunichar c)
{
    switch (g_unichar_type(c)) {
    case G_UNICODE_CONTROL:
    case G_UNICODE_FORMAT:
    case G_UNICODE_UNASSIGNED:
    case G_UNICODE_PRIVATE_USE:
    case G_UNICODE_SURROGATE:
        return TRUE;
    default:
        return FALSE;
    }
}

/* BasicTokenizer._is_chinese_char: the CJK Unified/Compatibility Ideographs blocks. */
static gboolean is_cjk(gunichar c)
{
    return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) ||
           (c >= 0x20000 && c <= 0x2A6DF) || (c >= 0x2A700 && c <= 0x2B73F) ||
           (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B820 && c <= 0x2CEAF) ||
           (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

/* _clean_text then _tokenize_chinese_chars, then NFC: NUL, U+FFFD and "C*" characters other
 * than \t \n \r go; \t \n \r and space separators become a space; each CJK ideograph is
 * surrounded by spaces. Returns a new NFC string. */
static char *basic_clean(const char *s, size_t len)
{
    GString *out = g_string_sized_new(len + 8);
    for (const char *p = s; p < s + len; p = g_utf8_next_char(p)) {
        gunichar c = g_utf8_get_char(p);
        gboolean ws = c == ' ' || c == '\t' || c == '\n' || c == '\r' ||
                      g_unichar_type(c) == G_UNICODE_SPACE_SEPARATOR;
        if (ws) {
            g_string_append_c(out, ' ');
        } else if (c == 0 || c == 0xFFFD || is_other_category(c)) {
            continue;
        } else if (is_cjk(c)) {
            g_string_append_c(out, ' ');
            g_string_append_unichar(out, c);
            g_string_append_c(out, ' ');
        } else {
            g_string_append_unichar(out, c);
        }
    }
    char *nfc = g_utf8_normalize(out->str, (gssize)out->len, G_NORMALIZE_NFC);
    g_string_free(out, TRUE);
    return nfc ? nfc : g_strdup("");
}

/* Unicode's Case_Ignorable: Mn Me Cf Lm Sk and the Word_Break MidLetter / MidNumLet /
 * Single_Quote characters. */
static gboolean is_case_ignorable(gunichar c)
{
    static const gunichar mid[] = {0x27,   0x2E,   0x3A,   0xB7,   0x387,  0x55F,
                                   0x5F4,  0x2018, 0x2019, 0x2024, 0x2027, 0xFE13,
                                   0xFE52, 0xFE55, 0xFF07, 0xFF0E, 0xFF1A};
    switch (g_unichar_type(c)) {
    case G_UNICODE_NON_SPACING_MARK:
    case G_UNICODE_ENCLOSING_MARK:
    case G_UNICODE_FORMAT:
    case G_UNICODE_MODIFIER_LETTER:
    case G_UNICODE_MODIFIER_SYMBOL:
        return TRUE;
    default:
        break;
    }
    for (size_t i = 0; i < G_N_ELEMENTS(mid); i++)
        if (c == mid[i]) return TRUE;
    return FALSE;
}

/* Unicode's Cased: Lu Ll Lt plus Other_Lowercase/Other_Uppercase (those that are not also
 * case-ignorable): ª º, Roman numerals, circled and squared Latin letters. */
static gboolean is_cased(gunichar c)
{
    GUnicodeType t = g_unichar_type(c);
    return t == G_UNICODE_UPPERCASE_LETTER || t == G_UNICODE_LOWERCASE_LETTER ||
           t == G_UNICODE_TITLECASE_LETTER || c == 0xAA || c == 0xBA ||
           (c >= 0x2160 && c <= 0x217F) || (c >= 0x24B6 && c <= 0x24E9) ||
           (c >= 0x1F130 && c <= 0x1F149) || (c >= 0x1F150 && c <= 0x1F169) ||
           (c >= 0x1F170 && c <= 0x1F189);
}

/* Simple lower-case mapping as Python has it: g_unichar_tolower maps letters only, while
 * Unicode also lower-cases Roman numerals Ⅰ..Ⅿ (Nl) and circled letters Ⓐ..Ⓩ (So). */
static gunichar lower_char(gunichar c)
{
    if (c >= 0x2160 && c <= 0x216F) return c + 0x10;
    if (c >= 0x24B6 && c <= 0x24CF) return c + 0x1A;
    return g_unichar_tolower(c);
}

/* Python's Final_Sigma test for the Σ at `pos` in word [w, end): a cased letter before it and
 * none after it, skipping case-ignorable characters on both sides. */
static gboolean is_final_sigma(const char *w, const char *end, const char *pos)
{
    const char *q = pos;
    gunichar c = 0;
    gboolean before = FALSE;
    while (q > w) {
        q = g_utf8_prev_char(q);
        c = g_utf8_get_char(q);
        if (!is_case_ignorable(c)) {
            before = is_cased(c);
            break;
        }
    }
    if (!before) return FALSE;
    for (q = g_utf8_next_char(pos); q < end; q = g_utf8_next_char(q)) {
        c = g_utf8_get_char(q);
        if (!is_case_ignorable(c)) return !is_cased(c);
    }
    return TRUE;
}

/* Python's str.lower() of word [w, w + len): full lower-case mapping, locale-independent
 * (g_utf8_strdown would follow a Turkish or Lithuanian locale). The only unconditional
 * multi-character mapping is İ → i + U+0307; Σ depends on its context. */
static void lower_word(const char *w, size_t len, GString *out)
{
    g_string_truncate(out, 0);
    for (const char *p = w; p < w + len; p = g_utf8_next_char(p)) {
        gunichar c = g_utf8_get_char(p);
        if (c == 0x130) {
            g_string_append(out, "i\xcc\x87");
        } else if (c == 0x3A3) {
            g_string_append_unichar(out, is_final_sigma(w, w + len, p) ? 0x3C2 : 0x3C3);
        } else {
            g_string_append_unichar(out, lower_char(c));
        }
    }
}

/* ------------------------------------------------------------------------------------- */
/* The CLIP pattern and BPE.                                                              */

static gboolean is_letter(gunichar c) /* \p{L} */
{
    switch (g_unichar_type(c)) {
    case G_UNICODE_UPPERCASE_LETTER:
    case G_UNICODE_LOWERCASE_LETTER:
    case G_UNICODE_TITLECASE_LETTER:
    case G_UNICODE_MODIFIER_LETTER:
    case G_UNICODE_OTHER_LETTER:
        return TRUE;
    default:
        return FALSE;
    }
}

static gboolean is_number(gunichar c) /* \p{N} */
{
    switch (g_unichar_type(c)) {
    case G_UNICODE_DECIMAL_NUMBER:
    case G_UNICODE_LETTER_NUMBER:
    case G_UNICODE_OTHER_NUMBER:
        return TRUE;
    default:
        return FALSE;
    }
}

/* [^\s\p{L}\p{N}] as the `regex` module matches it under IGNORECASE: a negated class also
 * rejects a character whose case variant is in it, while [\p{L}] does not accept one. The
 * only such character is U+0345 COMBINING GREEK YPOGEGRAMMENI (upper case: Ι), which thus
 * matches no alternative and is dropped (checked over all code points against the `regex` module
 * 2026.11.19). */
static gboolean is_symbol(gunichar c)
{
    return !is_letter(c) && !is_number(c) && !g_unichar_isspace(c) && c != 0x345;
}

/* Length of the match of the lower-case ASCII `pat` at the start of [s, s + n), 0 when none.
 * IGNORECASE folds ſ (U+017F) to s, the only non-ASCII character folding to a letter of the
 * pattern's literals and contractions. */
static size_t match_folded(const char *s, size_t n, const char *pat)
{
    size_t i = 0;
    for (; *pat; pat++) {
        if (i < n && s[i] == *pat)
            i++;
        else if (*pat == 's' && i + 1 < n && memcmp(s + i, "\xc5\xbf", 2) == 0)
            i += 2;
        else
            return 0;
    }
    return i;
}

/* Length of the CLIP-pattern match at the start of [s, s + n), 0 when no alternative matches
 * (the character is then skipped). */
static size_t pattern_match(const char *s, size_t n)
{
    static const char *const fixed[] = {
        "<|startoftext|>", "<|endoftext|>", "'s", "'t", "'re", "'ve", "'m", "'ll", "'d"};
    for (size_t i = 0; i < G_N_ELEMENTS(fixed); i++) {
        size_t m = match_folded(s, n, fixed[i]);
        if (m) return m;
    }
    const char *end = s + n, *p = s;
    gunichar c = g_utf8_get_char(s);
    if (is_letter(c)) { /* [\p{L}]+ */
        while (p < end && is_letter(g_utf8_get_char(p))) p = g_utf8_next_char(p);
    } else if (is_number(c)) { /* [\p{N}]: one character */
        p = g_utf8_next_char(p);
    } else if (is_symbol(c)) { /* [^\s\p{L}\p{N}]+ */
        while (p < end && is_symbol(g_utf8_get_char(p))) p = g_utf8_next_char(p);
    }
    return (size_t)(p - s);
}

/* Rank of merging symbols a and b, 0 when they do not merge. `key` is scratch. */
static int merge_rank(const BpeTokenizer *tok, const char *a, const char *b, GString *key)
{
    g_string_assign(key, a);
    g_string_append_c(key, ' ');
    g_string_append(key, b);
    return GPOINTER_TO_INT(g_hash_table_lookup(tok->ranks, key->str));
}

/* bpe(): repeatedly merges every occurrence (left to right) of the adjacent pair with the
 * lowest rank until no pair merges. `sym` holds owned strings and is rewritten in place. */
static void bpe_merge(const BpeTokenizer *tok, GPtrArray *sym)
{
    GString *key = g_string_new(NULL);
    while (sym->len > 1) {
        int best = 0;
        guint at = 0;
        for (guint i = 0; i + 1 < sym->len; i++) {
            int r = merge_rank(tok, sym->pdata[i], sym->pdata[i + 1], key);
            if (r > 0 && (best == 0 || r < best)) best = r, at = i;
        }
        if (best == 0) break;
        g_autofree char *first = g_strdup(sym->pdata[at]);
        g_autofree char *second = g_strdup(sym->pdata[at + 1]);
        guint out = 0;
        for (guint i = 0; i < sym->len; out++) {
            if (i + 1 < sym->len && strcmp(sym->pdata[i], first) == 0 &&
                strcmp(sym->pdata[i + 1], second) == 0) {
                char *joined = g_strconcat(first, second, NULL);
                g_free(sym->pdata[i]);
                g_free(sym->pdata[i + 1]);
                sym->pdata[out] = joined;
                i += 2;
            } else {
                sym->pdata[out] = sym->pdata[i];
                i++;
            }
        }
        g_ptr_array_set_size(sym, out); /* the tail entries were moved, not freed */
    }
    g_string_free(key, TRUE);
}

/* Vocabulary id of a token; the unknown token's id when absent (as _convert_token_to_id). */
static int64_t vocab_id(const BpeTokenizer *tok, const char *token)
{
    gpointer value;
    if (g_hash_table_lookup_extended(tok->vocab, token, NULL, &value))
        return GPOINTER_TO_INT(value);
    return tok->unk_id;
}

/* Ids of one byte-level piece `bl` (gint64[1 + n], [0] = n; caller frees). */
static gint64 *bpe_piece(const BpeTokenizer *tok, const char *bl)
{
    GPtrArray *sym = g_ptr_array_new(); /* no free func: bpe_merge moves entries */
    for (const char *p = bl; *p; p = g_utf8_next_char(p)) {
        const char *next = g_utf8_next_char(p);
        int len = (int)(next - p);
        /* the last symbol carries the end-of-word marker */
        g_ptr_array_add(sym, g_strdup_printf("%.*s%s", len, p, *next ? "" : BPE_EOW));
    }
    bpe_merge(tok, sym);
    gint64 *ids = g_new(gint64, 1 + sym->len);
    ids[0] = sym->len;
    for (guint i = 0; i < sym->len; i++) {
        ids[1 + i] = vocab_id(tok, sym->pdata[i]);
        g_free(sym->pdata[i]);
    }
    g_ptr_array_free(sym, TRUE);
    return ids;
}

/* Appends the ids of the piece [s, s + n) (raw UTF-8) through the cache. */
static void encode_piece(const BpeTokenizer *tok, const char *s, size_t n, GArray *out)
{
    GString *bl = g_string_sized_new(2 * n);
    for (size_t i = 0; i < n; i++) g_string_append(bl, tok->byte_sym[(guint8)s[i]]);
    g_mutex_lock(tok->cache_lock);
    const gint64 *ids = g_hash_table_lookup(tok->cache, bl->str);
    if (!ids) {
        gint64 *fresh = bpe_piece(tok, bl->str);
        if (g_hash_table_size(tok->cache) >= BPE_CACHE_MAX) g_hash_table_remove_all(tok->cache);
        g_hash_table_insert(tok->cache, g_string_free(bl, FALSE), fresh);
        bl = NULL;
        ids = fresh;
    }
    g_array_append_vals(out, ids + 1, (guint)ids[0]);
    g_mutex_unlock(tok->cache_lock);
    if (bl) g_string_free(bl, TRUE);
}

/* Whether a piece is one of the pattern's literals: CLIPTokenizer's bpe() cache is pre-seeded
 * with them, so they are looked up whole (a "<|ſtartoftext|>" match goes through BPE). */
static gboolean is_literal(const char *s, size_t n)
{
    for (size_t i = 0; i < G_N_ELEMENTS(pattern_literals); i++)
        if (strlen(pattern_literals[i]) == n && memcmp(s, pattern_literals[i], n) == 0) return TRUE;
    return FALSE;
}

/* The CLIP pattern over one lower-cased word, each piece through BPE. */
static void encode_word(const BpeTokenizer *tok, const char *w, size_t n, GArray *out)
{
    size_t i = 0;
    while (i < n) {
        size_t m = pattern_match(w + i, n - i);
        if (m == 0) {
            i = (size_t)(g_utf8_next_char(w + i) - w);
        } else if (is_literal(w + i, m)) {
            g_autofree char *text = g_strndup(w + i, m);
            gint64 id = vocab_id(tok, text);
            g_array_append_val(out, id);
            i += m;
        } else {
            encode_piece(tok, w + i, m, out);
            i += m;
        }
    }
}

/* A stretch of raw text between added tokens: BasicTokenizer, then each word. */
static void encode_segment(const BpeTokenizer *tok, const char *s, size_t n, GArray *out)
{
    if (n == 0) return;
    g_autofree char *clean = basic_clean(s, n);
    GString *lower = g_string_new(NULL);
    const char *p = clean;
    while (*p) {
        while (*p && g_unichar_isspace(g_utf8_get_char(p))) p = g_utf8_next_char(p);
        const char *w = p;
        while (*p && !g_unichar_isspace(g_utf8_get_char(p))) p = g_utf8_next_char(p);
        if (p == w) break;
        lower_word(w, (size_t)(p - w), lower);
        encode_word(tok, lower->str, lower->len, out);
    }
    g_string_free(lower, TRUE);
}

/* The longest added token starting at `p`, or NULL. */
static const BpeAdded *added_at(const BpeTokenizer *tok, const char *p)
{
    const BpeAdded *best = NULL;
    for (int i = 0; i < tok->n_added; i++) {
        const BpeAdded *a = &tok->added[i];
        if ((!best || a->len > best->len) && strncmp(p, a->text, a->len) == 0) best = a;
    }
    return best;
}

/* Untruncated text ids of valid UTF-8 `text`: added tokens are cut out first (leftmost,
 * longest), the stretches between them tokenized on their own. */
static void encode_text(const BpeTokenizer *tok, const char *text, GArray *out)
{
    const char *seg = text, *p = text;
    while (*p) {
        const BpeAdded *a = added_at(tok, p);
        if (!a) {
            p++;
            continue;
        }
        encode_segment(tok, seg, (size_t)(p - seg), out);
        gint64 id = a->id;
        g_array_append_val(out, id);
        p += a->len;
        seg = p;
    }
    encode_segment(tok, seg, (size_t)(p - seg), out);
}

static gboolean check_text(const char *text, GError **error)
{
    if (!text) {
        g_set_error(error, FLUX_ERROR, FLUX_ERROR_ARGUMENT, "CLIP tokenizer: no prompt given");
        return FALSE;
    }
    const char *bad;
    if (!g_utf8_validate(text, -1, &bad)) {
        g_set_error(error, FLUX_ERROR, FLUX_ERROR_ARGUMENT,
                    "CLIP tokenizer: the prompt is not valid UTF-8 (byte 0x%02x at offset "
                    "%" G_GSIZE_FORMAT ")",
                    (guint8)*bad, (gsize)(bad - text));
        return FALSE;
    }
    return TRUE;
}

int64_t *bpe_tokenize(const BpeTokenizer *tok, const char *text, int *n, GError **error)
{
    g_return_val_if_fail(tok != NULL && n != NULL, NULL);
    if (!check_text(text, error)) return NULL;
    /* reserved space: an empty result must still be a non-NULL array */
    GArray *out = g_array_sized_new(FALSE, FALSE, sizeof(gint64), 16);
    encode_text(tok, text, out);
    *n = (int)out->len;
    return (int64_t *)g_array_free(out, FALSE);
}

gboolean bpe_encode(const BpeTokenizer *tok, const char *text, int64_t *ids, int max_len,
                    int *n_text, GError **error)
{
    g_return_val_if_fail(tok != NULL && ids != NULL, FALSE);
    if (max_len < 2) {
        g_set_error(error, FLUX_ERROR, FLUX_ERROR_ARGUMENT,
                    "CLIP tokenizer: max_len %d leaves no room for BOS and EOS (need >= 2)",
                    max_len);
        return FALSE;
    }
    int n = 0;
    g_autofree int64_t *text_ids = bpe_tokenize(tok, text, &n, error);
    if (!text_ids) return FALSE;
    int keep = MIN(n, max_len - 2); /* truncation=True drops tokens from the end */
    ids[0] = tok->bos_id;
    memcpy(ids + 1, text_ids, (size_t)keep * sizeof(int64_t));
    ids[1 + keep] = tok->eos_id;
    for (int i = 2 + keep; i < max_len; i++) ids[i] = tok->pad_id;
    if (n_text) *n_text = n;
    return TRUE;
}
