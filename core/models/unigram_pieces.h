/* unigram_pieces.h — the vocabulary of a unigram model (tokenizers' models::Unigram vocab):
 * V pieces, each a UTF-8 byte string with a score (its log-probability), found by bytes
 * through an open-addressing hash. When two pieces have the same bytes the later one wins,
 * as tokenizers' token_to_ids HashMap.
 *
 *   UgmPieces p;
 *   ugm_pieces_init(&p);
 *   ugm_pieces_add(&p, "\xe2\x96\x81cat", 6, -9.5); ...   // every piece, in id order
 *   ugm_pieces_index(&p);                                  // then look up
 *   int id = ugm_pieces_lookup(&p, s, n);                  // -1 when absent
 *   ugm_pieces_clear(&p);
 */
#pragma once

#include <glib.h>

/* tokenizers' Unigram: an unknown character costs (lowest piece score - 10). */
#define UGM_UNK_PENALTY 10.0

typedef struct {
    int n, cap;         /* V pieces; room for cap */
    GString *arena;     /* the bytes of every piece, back to back */
    guint32 *off, *len; /* piece i: arena->str + off[i], len[i] bytes */
    double *score;
    gint32 *slots; /* open addressing, -1 = empty; n_slots of them (a power of two) */
    guint32 n_slots;
    int max_bytes;    /* P, the longest piece in bytes (set by ugm_pieces_index) */
    double unk_score; /* lowest score - UGM_UNK_PENALTY (set by ugm_pieces_index) */
} UgmPieces;

void ugm_pieces_init(UgmPieces *p);
void ugm_pieces_clear(UgmPieces *p);
/* Appends a piece (id = the count so far). */
void ugm_pieces_add(UgmPieces *p, const char *s, gsize n, double score);
/* Builds the hash, max_bytes and unk_score once every piece is added. */
void ugm_pieces_index(UgmPieces *p);
/* Id of the piece with bytes s[0..n), -1 when none (after ugm_pieces_index). */
int ugm_pieces_lookup(const UgmPieces *p, const char *s, gsize n);
/* Bytes of piece `id` (len in *n), owned by p. */
const char *ugm_pieces_text(const UgmPieces *p, int id, gsize *n);
