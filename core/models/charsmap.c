/* charsmap.c — see charsmap.h. Follows sentencepiece's normalizer.cc (the darts-clone
 * DoubleArray's commonPrefixSearch, first result) as tokenizers' spm_precompiled ports it. */
#include "charsmap.h"
#include "flux.h"

#include <string.h>

void charsmap_clear(Charsmap *cm)
{
    g_free(cm->units);
    g_free(cm->norm);
    memset(cm, 0, sizeof *cm);
}

gboolean charsmap_parse(Charsmap *cm, const guint8 *b, gsize n, const char *path, GError **error)
{
    charsmap_clear(cm);
    guint32 trie_bytes = 0; /* the blob may sit at any alignment inside spiece.model */
    if (n >= 4) memcpy(&trie_bytes, b, 4);
    trie_bytes = GUINT32_FROM_LE(trie_bytes);
    if (n < 4 || trie_bytes % 4 != 0 || trie_bytes > n - 4 || trie_bytes == 0) {
        g_set_error(error, FLUX_ERROR, FLUX_ERROR_FORMAT,
                    "%s: precompiled charsmap of %zu bytes declares a trie of %u bytes", path,
                    (size_t)n, trie_bytes);
        return FALSE;
    }
    cm->n_units = trie_bytes / 4;
    cm->units = g_new(guint32, cm->n_units);
    for (gsize i = 0; i < cm->n_units; i++) {
        guint32 u;
        memcpy(&u, b + 4 + 4 * i, 4);
        cm->units[i] = GUINT32_FROM_LE(u);
    }
    cm->norm_len = n - 4 - trie_bytes;
    cm->norm = g_malloc(cm->norm_len + 1);
    memcpy(cm->norm, b + 4 + trie_bytes, cm->norm_len);
    cm->norm[cm->norm_len] = '\0';
    /* Replacements are NUL-separated UTF-8 strings (tokenizers rejects anything else). */
    for (gsize i = 0; i < cm->norm_len; i += strlen(cm->norm + i) + 1) {
        if (!g_utf8_validate(cm->norm + i, -1, NULL)) {
            g_set_error(error, FLUX_ERROR, FLUX_ERROR_FORMAT,
                        "%s: precompiled charsmap replacement at offset %zu is not UTF-8", path,
                        (size_t)i);
            return FALSE;
        }
    }
    return TRUE;
}

/* A unit's offset to its children: bits 10-31, shifted left 8 more when bit 9 is set. */
static inline guint32 unit_offset(guint32 u)
{
    return (u >> 10) << ((u & (1u << 9)) >> 6);
}

gboolean charsmap_first_match(const Charsmap *cm, const char *s, gsize n, const char **out,
                              gsize *out_len)
{
    gsize pos = unit_offset(cm->units[0]);
    for (gsize i = 0; i < n; i++) {
        guint8 c = (guint8)s[i];
        pos ^= c;
        if (pos >= cm->n_units) return FALSE;
        guint32 u = cm->units[pos];
        if ((u & ((1u << 31) | 0xffu)) != c) return FALSE;
        pos ^= unit_offset(u);
        if (pos >= cm->n_units) return FALSE;
        if ((u >> 8) & 1u) {
            gsize v = cm->units[pos] & 0x7fffffffu;
            /* must start a character, so the replacement is valid UTF-8 */
            if (v > cm->norm_len || (cm->norm[v] & 0xc0) == 0x80) return FALSE;
            *out = cm->norm + v;
            *out_len = strlen(*out); /* norm is NUL-terminated at norm_len */
            return TRUE;
        }
    }
    return FALSE;
}
