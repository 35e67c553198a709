/* unigram_pieces.c — see unigram_pieces.h. */
#include "unigram_pieces.h"

#include <math.h>
#include <string.h>

void ugm_pieces_init(UgmPieces *p)
{
    memset(p, 0, sizeof *p);
    p->arena = g_string_sized_new(1 << 18);
}

void ugm_pieces_clear(UgmPieces *p)
{
    if (p->arena) g_string_free(p->arena, TRUE);
    g_free(p->off);
    g_free(p->len);
    g_free(p->score);
    g_free(p->slots);
    memset(p, 0, sizeof *p);
}

static guint32 piece_hash(const char *s, gsize n)
{
    guint32 h = 2166136261u; /* FNV-1a */
    for (gsize i = 0; i < n; i++) h = (h ^ (guint8)s[i]) * 16777619u;
    return h;
}

int ugm_pieces_lookup(const UgmPieces *p, const char *s, gsize n)
{
    guint32 mask = p->n_slots - 1;
    for (guint32 i = piece_hash(s, n) & mask;; i = (i + 1) & mask) {
        gint32 id = p->slots[i];
        if (id < 0) return -1;
        if (p->len[id] == n && memcmp(p->arena->str + p->off[id], s, n) == 0) return id;
    }
}

void ugm_pieces_index(UgmPieces *p)
{
    p->n_slots = 16;
    while (p->n_slots < 2u * (guint32)p->n) p->n_slots *= 2;
    p->slots = g_new(gint32, p->n_slots);
    memset(p->slots, 0xff, p->n_slots * sizeof(gint32));
    guint32 mask = p->n_slots - 1;
    double min_score = INFINITY;
    for (int id = 0; id < p->n; id++) {
        const char *s = p->arena->str + p->off[id];
        guint32 i = piece_hash(s, p->len[id]) & mask;
        while (p->slots[i] >= 0 &&
               !(p->len[p->slots[i]] == p->len[id] &&
                 memcmp(p->arena->str + p->off[p->slots[i]], s, p->len[id]) == 0))
            i = (i + 1) & mask;
        p->slots[i] = id;
        p->max_bytes = MAX(p->max_bytes, (int)p->len[id]);
        min_score = MIN(min_score, p->score[id]);
    }
    p->unk_score = min_score - UGM_UNK_PENALTY;
}

void ugm_pieces_add(UgmPieces *p, const char *s, gsize n, double score)
{
    if (p->n == p->cap) {
        p->cap = MAX(1024, 2 * p->cap);
        p->off = g_renew(guint32, p->off, p->cap);
        p->len = g_renew(guint32, p->len, p->cap);
        p->score = g_renew(double, p->score, p->cap);
    }
    int i = p->n++;
    p->off[i] = (guint32)p->arena->len;
    p->len[i] = (guint32)n;
    p->score[i] = score;
    g_string_append_len(p->arena, s, (gssize)n);
}

const char *ugm_pieces_text(const UgmPieces *p, int id, gsize *n)
{
    *n = p->len[id];
    return p->arena->str + p->off[id];
}
