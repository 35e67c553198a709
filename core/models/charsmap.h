/* charsmap.h — sentencepiece's precompiled charsmap, the table behind the T5 tokenizer's
 * Precompiled normaliser (nmt_nfkc): a darts-clone double-array trie over UTF-8 byte strings
 * whose leaves hold offsets of NUL-terminated replacements.
 *
 * Blob layout (tokenizer.json's base64 "precompiled_charsmap", or field 2 of spiece.model's
 * NormalizerSpec): u32 little-endian trie size T in bytes, T/4 little-endian u32 units
 * (darts-clone: label in bits 0-7 and 31, leaf flag in bit 8, offset in bits 10-31 scaled by
 * bit 9), then the replacement strings.
 *
 *   Charsmap cm = {0};
 *   if (!charsmap_parse(&cm, blob, n, "tokenizer.json", &err)) ...
 *   if (charsmap_first_match(&cm, s, n, &rep, &rep_len)) ...   // "ﬁ" → "fi"
 *   charsmap_clear(&cm);
 */
#pragma once

#include <glib.h>

typedef struct {
    guint32 *units; /* the trie [n_units] */
    gsize n_units;
    char *norm; /* the replacements, NUL-separated, NUL-terminated at norm_len */
    gsize norm_len;
} Charsmap;

/* Copies and checks blob b[0..n) into *cm (whatever *cm held is freed first): the declared
 * trie must fit, and every replacement must be UTF-8. FALSE with `error` naming `path` (the
 * file the blob came from). Free with charsmap_clear, also after a failure. */
gboolean charsmap_parse(Charsmap *cm, const guint8 *b, gsize n, const char *path, GError **error);
void charsmap_clear(Charsmap *cm);

/* The shortest key that is a prefix of s[0..n) (darts' first common-prefix result): sets
 * *out and *out_len to its replacement (owned by cm). FALSE when no key matches. Positions
 * are bounds-checked so that a corrupt trie cannot read outside its array. */
gboolean charsmap_first_match(const Charsmap *cm, const char *s, gsize n, const char **out,
                              gsize *out_len);
