/* unigram_viterbi.c — see unigram_viterbi.h. Follows tokenizers 0.20
 * models/unigram/model.rs (encode_optimized, then the back-track with fuse_unk). */
#include "unigram_viterbi.h"

static void relax(UgmNode *node, double score, int start, int id)
{
    if (node->start < 0 || score > node->score) *node = (UgmNode){score, start, id};
}

/* Forward pass: best[e] for every character boundary e of s[0..n). */
static void viterbi_forward(const UgmPieces *p, int64_t unk_id, const char *s, int n, UgmNode *best)
{
    for (int i = 0; i <= n; i++) best[i].start = -1;
    best[0] = (UgmNode){0.0, 0, -1};
    for (int i = 0; i < n;) {
        int mblen = (int)(g_utf8_next_char(s + i) - (s + i));
        gboolean single = FALSE;
        for (int e = i + mblen; e <= n && e - i <= p->max_bytes;
             e = (int)(g_utf8_next_char(s + e) - s)) {
            int id = ugm_pieces_lookup(p, s + i, (gsize)(e - i));
            if (id >= 0) {
                relax(&best[e], best[i].score + p->score[id], i, id);
                single |= (e - i == mblen);
            }
            if (e == n) break;
        }
        if (!single) relax(&best[i + mblen], best[i].score + p->unk_score, i, (int)unk_id);
        i += mblen;
    }
}

void ugm_viterbi_append(const UgmPieces *p, int64_t unk_id, const char *s, int n, UgmNode *best,
                        GArray *out)
{
    viterbi_forward(p, unk_id, s, n, best);
    /* Back-track, fusing consecutive unknowns into one token (fuse_unk). */
    guint first = out->len;
    for (int e = n; e > 0;) {
        int s0 = best[e].start, id = best[e].id;
        if (id == unk_id) {
            while (s0 > 0 && best[s0].id == unk_id) s0 = best[s0].start;
            int fused = ugm_pieces_lookup(p, s + s0, (gsize)(e - s0)); /* as tokenizers' lookup */
            id = fused >= 0 ? fused : (int)unk_id;
        }
        int64_t v = id;
        g_array_append_val(out, v);
        e = s0;
    }
    int64_t *a = (int64_t *)(void *)out->data;
    for (guint i = first, j = out->len - 1; i < j; i++, j--) {
        int64_t x = a[i];
        a[i] = a[j];
        a[j] = x;
    }
}
