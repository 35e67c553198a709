/* unigram_viterbi.h — the segmentation of a unigram model (tokenizers' Unigram
 * encode_optimized with fuse_unk): the highest-scoring split of a pre-token into pieces.
 *
 * best[e] = the best path over bytes [0, e): candidates from each character start in
 * increasing piece length, ties keep the first; a character that no single piece covers
 * gets <unk> at the pieces' unk_score; consecutive unknowns are fused into one token.
 *
 *   UgmNode *best = g_new(UgmNode, n + 1);   // scratch, n = the pre-token's bytes
 *   ugm_viterbi_append(&pieces, unk_id, s, n, best, ids);
 */
#pragma once

#include "unigram_pieces.h"

#include <glib.h>
#include <stdint.h>

/* One cell of the table: the best path ending here. */
typedef struct {
    double score;
    int start; /* where its last piece starts; -1: not reached yet */
    int id;    /* its last piece */
} UgmNode;

/* Appends to `out` (GArray of int64_t) the ids of the best split of UTF-8 s[0..n), n >= 1.
 * `best` is scratch of n + 1 nodes. `pieces` must be indexed (ugm_pieces_index). */
void ugm_viterbi_append(const UgmPieces *pieces, int64_t unk_id, const char *s, int n,
                        UgmNode *best, GArray *out);
