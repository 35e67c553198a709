/* t5.c — T5 v1.1 encoder, following transformers 4.46 `T5EncoderModel` (modeling_t5.py:
 * T5Stack with T5Block = T5LayerSelfAttention + T5LayerFF), float32 activations.
 *
 *   x = shared[ids]                                                     [L, D]
 *   bias = relative_attention_bias[bucket(j - i)]  (block 0's table, shared by all blocks)
 *   per block:  x += o(attn(q, k, v of rms_norm(x); scale 1, + bias))   (no mask: all L attend)
 *               x += wo(act(wi_0(rms_norm(x))) * wi_1(rms_norm(x)))      (gated; "wi" if not)
 *   out = final_layer_norm(x)
 *
 * T5 has no 1/sqrt(HD) in its attention (folded into the initialisation of q), no biases
 * anywhere, and an RMS norm without mean or bias (T5LayerNorm). The fp16 clamps of the
 * reference only act on fp16 activations, never here.
 *
 * Legend: L = tokens (512 for FLUX.1-dev), D = d_model (4096), NH = num_heads (64),
 * HD = d_kv (64), I = NH*HD inner attention width (4096; need not equal D), F = d_ff (10240),
 * V = vocab_size (32128), NB = relative_attention_num_buckets (32), N = num_layers (24).
 */
#include "convert.h"
#include "t5.h"

#include "config.h"
#include "flux.h"
#include "ops.h"
#include "weights.h"

#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

typedef enum { T5_ACT_RELU, T5_ACT_GELU, T5_ACT_GELU_TANH, T5_ACT_SILU } T5Act;

enum { DIM_D, DIM_I, DIM_F, DIM_V, DIM_NB, DIM_NH, N_DIMS };
enum { T5_GATED, T5_PLAIN }; /* WT_ONLY groups: the feed-forward kind of the config */
#define D_ WT_D(DIM_D)
#define I_ WT_D(DIM_I)
#define F_ WT_D(DIM_F)

/* Each parameter once (weights.h): name under "encoder.block.<i>.", shape. */
/* clang-format off */
#define T5_BLOCK(P, S)                                                                   \
    P(S, ln_attn, "layer.0.layer_norm.weight", WT_F32, D_)                               \
    P(S, q, "layer.0.SelfAttention.q.weight", 0, I_, D_)                                 \
    P(S, k, "layer.0.SelfAttention.k.weight", 0, I_, D_)                                 \
    P(S, v, "layer.0.SelfAttention.v.weight", 0, I_, D_)                                 \
    P(S, o, "layer.0.SelfAttention.o.weight", 0, D_, I_)                                 \
    P(S, ln_ff, "layer.1.layer_norm.weight", WT_F32, D_)                                 \
    /* gated FF (T5DenseGatedActDense) */                                               \
    P(S, wi_0, "layer.1.DenseReluDense.wi_0.weight", WT_ONLY(T5_GATED), F_, D_)          \
    P(S, wi_1, "layer.1.DenseReluDense.wi_1.weight", WT_ONLY(T5_GATED), F_, D_)          \
    /* plain FF (T5DenseActDense) */                                                    \
    P(S, wi, "layer.1.DenseReluDense.wi.weight", WT_ONLY(T5_PLAIN), F_, D_)              \
    P(S, wo, "layer.1.DenseReluDense.wo.weight", 0, D_, F_)
/* the relative bias: block 0's table only, shared by all blocks */
#define T5_TOP(P, S)                                                                     \
    P(S, rel_bias, "encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight", \
      WT_F32, WT_D(DIM_NB), WT_D(DIM_NH))                                                \
    P(S, fin, "encoder.final_layer_norm.weight", WT_F32, D_)
/* clang-format on */

typedef struct {
    T5_BLOCK(WT_FIELD, _)
} T5Block;

struct T5Model {
    T5_TOP(WT_FIELD, _)
    const StTensor *embed; /* [V, D] shared.weight (= encoder.embed_tokens.weight): tied, so
                              bound by t5_bind_embedding */
    StArchive *archive;    /* owns the mapped weights every StTensor above points into */
    int D, NH, HD, I, F, V, N, NB, max_distance;
    float eps;
    T5Act act;
    gboolean gated;
    T5Block *blocks; /* [N] */
};

static const WtSpec t5_block_spec[] = {T5_BLOCK(WT_ROW, T5Block)};
static const WtSpec t5_top_spec[] = {T5_TOP(WT_ROW, T5Model)};
#undef D_
#undef I_
#undef F_

static const WtTable t5_table[] = {
    WT_TABLE_ALL(T5Block, t5_block_spec, N_DIMS),
    WT_TABLE(T5Model, t5_top_spec, embed, N_DIMS),
};

const WtTable *t5_tables(gsize *n)
{
    *n = G_N_ELEMENTS(t5_table);
    return t5_table;
}

/* ------------------------------------------------------------------------------------- */
/* Configuration                                                                         */

/* transformers' ACT2FN names a T5 config can give (gelu_new and gelu_pytorch_tanh are the
 * same tanh approximation). */
static gboolean t5_act_from_name(const CfgJson *c, const char *key, const char *name, T5Act *act,
                                 GError **error)
{
    if (!strcmp(name, "relu"))
        *act = T5_ACT_RELU;
    else if (!strcmp(name, "gelu"))
        *act = T5_ACT_GELU;
    else if (!strcmp(name, "gelu_new") || !strcmp(name, "gelu_pytorch_tanh"))
        *act = T5_ACT_GELU_TANH;
    else if (!strcmp(name, "silu") || !strcmp(name, "swish"))
        *act = T5_ACT_SILU;
    else {
        g_set_error(error, FLUX_ERROR, FLUX_ERROR_UNSUPPORTED,
                    "%s: \"%s\" names activation \"%s\", expected relu, gelu, gelu_new, "
                    "gelu_pytorch_tanh, silu or swish",
                    cfg_path(c), key, name);
        return FALSE;
    }
    return TRUE;
}

/* T5Config derives the FF kind from feed_forward_proj ("relu", "gated-gelu", ...; default
 * "relu", and "gated-gelu" means gelu_new), but explicit "dense_act_fn" / "is_gated_act" keys
 * override it. FLUX.1's config has only the explicit keys (gelu_pytorch_tanh, gated): reading
 * feed_forward_proj alone would give a plain ReLU FF. */
static gboolean t5_parse_ff(T5Model *m, const CfgJson *c, GError **error)
{
    const char *proj, *act_name;
    if (!cfg_string_or(c, "feed_forward_proj", "relu", &proj, error)) return FALSE;
    g_auto(GStrv) parts = g_strsplit(proj, "-", -1);
    guint n = g_strv_length(parts);
    if (n < 1 || n > 2 || (n == 2 && strcmp(parts[0], "gated"))) {
        g_set_error(error, FLUX_ERROR, FLUX_ERROR_MODEL,
                    "%s: \"feed_forward_proj\" is \"%s\", expected \"ACT\" or \"gated-ACT\"",
                    cfg_path(c), proj);
        return FALSE;
    }
    const char *derived = !strcmp(proj, "gated-gelu") ? "gelu_new" : parts[n - 1];
    if (!cfg_string_or(c, "dense_act_fn", derived, &act_name, error) ||
        !cfg_bool_or(c, "is_gated_act", n == 2, &m->gated, error))
        return FALSE;
    const char *key = cfg_has(c, "dense_act_fn") ? "dense_act_fn" : "feed_forward_proj";
    return t5_act_from_name(c, key, act_name, &m->act, error);
}

/* Reads the hyper-parameters; defaults are T5Config's. */
static gboolean t5_parse_config(T5Model *m, const CfgJson *c, GError **error)
{
    int64_t D, HD, F, N, NH, V, NB, maxd;
    double eps;
    if (!cfg_int(c, "d_model", 1, 1 << 16, &D, error) ||
        !cfg_int(c, "d_kv", 1, 1 << 12, &HD, error) || !cfg_int(c, "d_ff", 1, 1 << 20, &F, error) ||
        !cfg_int(c, "num_layers", 1, 1 << 10, &N, error) ||
        !cfg_int(c, "num_heads", 1, 1 << 10, &NH, error) ||
        !cfg_int(c, "vocab_size", 1, G_MAXINT32, &V, error) ||
        /* bidirectional buckets: NB/2 per direction, half of them exact → NB >= 4 */
        !cfg_int_or(c, "relative_attention_num_buckets", 32, 4, 1 << 12, &NB, error) ||
        !cfg_int_or(c, "relative_attention_max_distance", 128, NB / 4 + 1, 1 << 20, &maxd, error) ||
        !cfg_double_or(c, "layer_norm_epsilon", 1e-6, 0.0, 1.0, &eps, error) ||
        !t5_parse_ff(m, c, error))
        return FALSE;
    if (NH * HD > 1 << 16) {
        g_set_error(error, FLUX_ERROR, FLUX_ERROR_MODEL,
                    "%s: \"num_heads\" × \"d_kv\" = %" G_GINT64_FORMAT ", expected at most 65536",
                    cfg_path(c), NH * HD);
        return FALSE;
    }
    m->D = (int)D, m->HD = (int)HD, m->F = (int)F, m->N = (int)N, m->NH = (int)NH;
    m->I = (int)(NH * HD), m->V = (int)V, m->NB = (int)NB, m->max_distance = (int)maxd;
    m->eps = (float)eps;
    return TRUE;
}

/* ------------------------------------------------------------------------------------- */
/* Loading                                                                               */

/* `encoder.embed_tokens` is tied to `shared`; checkpoints store either or both. */
static gboolean t5_bind_embedding(T5Model *m, GError **error)
{
    const int64_t shape[2] = {m->V, m->D};
    GError *err = NULL;
    m->embed = wt_get(m->archive, "shared.weight", 2, shape, WT_OPTIONAL, &err);
    if (err) {
        g_propagate_error(error, err);
        return FALSE;
    }
    StTensor *tied = wt_get(m->archive, "encoder.embed_tokens.weight", 2, shape, WT_OPTIONAL, &err);
    if (err) {
        g_propagate_error(error, err);
        return FALSE;
    }
    if (!m->embed) m->embed = tied;
    if (!m->embed)
        g_set_error(error, FLUX_ERROR, FLUX_ERROR_MODEL,
                    "%s: tensor 'shared.weight' (or 'encoder.embed_tokens.weight') is missing",
                    st_archive_path(m->archive));
    return m->embed != NULL;
}

static gboolean t5_bind(T5Model *m, GError **error)
{
    const int64_t dims[N_DIMS] = {[DIM_D] = m->D, [DIM_I] = m->I,   [DIM_F] = m->F,
                                  [DIM_V] = m->V, [DIM_NB] = m->NB, [DIM_NH] = m->NH};
    if (!t5_bind_embedding(m, error)) return FALSE;
    m->blocks = g_new0(T5Block, m->N);
    unsigned ff = WT_ONLY(m->gated ? T5_GATED : T5_PLAIN);
    for (int i = 0; i < m->N; i++) {
        g_autofree char *prefix = g_strdup_printf("encoder.block.%d.", i);
        if (!wt_bind_only(m->archive, prefix, t5_block_spec, G_N_ELEMENTS(t5_block_spec), dims, ff,
                          &m->blocks[i], error))
            return FALSE;
    }
    return wt_bind(m->archive, "", t5_top_spec, G_N_ELEMENTS(t5_top_spec), dims, m, error);
}

T5Model *t5_load(const CfgJson *cfg, StArchive *archive, GError **error)
{
    g_return_val_if_fail(cfg != NULL && archive != NULL, NULL);
    T5Model *m = g_new0(T5Model, 1);
    m->archive = archive; /* owned from here on, failure included */
    if (!t5_parse_config(m, cfg, error) || !t5_bind(m, error)) {
        t5_free(m);
        return NULL;
    }
    return m;
}

void t5_free(T5Model *m)
{
    if (!m) return;
    g_free(m->blocks);
    st_archive_free(m->archive);
    g_free(m);
}

int t5_d_model(const T5Model *m)
{
    return m->D;
}

gsize t5_unused_tensors(const T5Model *m, char ***names)
{
    return st_archive_unused(m->archive, names);
}

/* ------------------------------------------------------------------------------------- */
/* Relative position bias                                                                */

/* T5Attention._relative_position_bucket, bidirectional: rel = key - query. Half the buckets
 * per direction; distances below half/2 get their own bucket, larger ones share log-spaced
 * buckets up to max_distance. The log branch is evaluated in float32 in the same order as
 * the reference, because the truncation to an integer makes bucket edges sensitive to it. */
static int t5_bucket(int rel, int num_buckets, int max_distance)
{
    int half = num_buckets / 2, max_exact = half / 2;
    int bucket = rel > 0 ? half : 0;
    int n = abs(rel);
    if (n < max_exact) return bucket + n;
    float scale = (float)log((double)max_distance / (double)max_exact);
    float v = logf((float)n / (float)max_exact) / scale * (float)(half - max_exact);
    int large = max_exact + (int)v;
    return bucket + (large < half - 1 ? large : half - 1);
}

/* bias [NH, 2L-1]: bias[h, (j - i) + L - 1] = relative_attention_bias[bucket(j - i), h],
 * the layout ops_attention takes (no L×L matrix). */
static float *t5_position_bias(const T5Model *m, int L)
{
    int W = 2 * L - 1;
    const float *table = wt_f32(m->rel_bias); /* [NB, NH] */
    float *bias = g_new(float, (size_t)W * m->NH);
    for (int r = -(L - 1); r <= L - 1; r++) {
        int b = t5_bucket(r, m->NB, m->max_distance);
        for (int h = 0; h < m->NH; h++) bias[(size_t)h * W + r + L - 1] = table[b * m->NH + h];
    }
    return bias;
}

/* ------------------------------------------------------------------------------------- */
/* Forward                                                                               */

/* Scratch for one forward pass, reused by every block. */
typedef struct {
    float *h;         /* [L, D] normed input of a sub-block, then its output */
    float *q, *k, *v; /* [L, I] heads interleaved: head h at columns h*HD.. */
    float *a;         /* [L, I] attention output */
    float *f0, *f1;   /* [L, F] FF hidden (gate and linear halves) */
    float *bias;      /* [NH, 2L-1] */
} T5Scratch;

static void t5_activation(T5Act act, float *x, size_t n)
{
    switch (act) {
    case T5_ACT_RELU:
        for (size_t i = 0; i < n; i++) x[i] = x[i] > 0.0f ? x[i] : 0.0f;
        break;
    case T5_ACT_GELU:
        ops_gelu_erf(x, n);
        break;
    case T5_ACT_GELU_TANH:
        ops_gelu_tanh(x, n);
        break;
    case T5_ACT_SILU:
        ops_silu(x, n);
        break;
    }
}

/* x [L, D] += o(attention(rms_norm(x))), T5LayerSelfAttention. */
static void t5_attention_block(const T5Model *m, const T5Block *b, float *x, int L, T5Scratch *s)
{
    int D = m->D, I = m->I;
    ops_rmsnorm(s->h, x, wt_f32(b->ln_attn), L, D, m->eps);
    ops_linear(s->q, s->h, b->q, NULL, L, D, I);
    ops_linear(s->k, s->h, b->k, NULL, L, D, I);
    ops_linear(s->v, s->h, b->v, NULL, L, D, I);
    OpsAttnShape shape = {
        .Tq = L,
        .Tk = L,
        .NH = m->NH,
        .HD = m->HD,
        .ldq = I,
        .ldk = I,
        .ldv = I,
        .ldo = I,
        .scale = 1.0f, /* T5 does not scale scores */
        .rel_bias = s->bias,
        .causal = 0,
    };
    ops_attention(s->a, s->q, s->k, s->v, &shape);
    ops_linear(s->h, s->a, b->o, NULL, L, I, D);
    for (size_t i = 0; i < (size_t)L * D; i++) x[i] += s->h[i];
}

/* x [L, D] += wo(act(wi_0(h)) * wi_1(h)) or wo(act(wi(h))), h = rms_norm(x), T5LayerFF. */
static void t5_ff_block(const T5Model *m, const T5Block *b, float *x, int L, T5Scratch *s)
{
    int D = m->D, F = m->F;
    size_t nf = (size_t)L * F;
    ops_rmsnorm(s->h, x, wt_f32(b->ln_ff), L, D, m->eps);
    ops_linear(s->f0, s->h, m->gated ? b->wi_0 : b->wi, NULL, L, D, F);
    t5_activation(m->act, s->f0, nf);
    if (m->gated) {
        ops_linear(s->f1, s->h, b->wi_1, NULL, L, D, F);
        for (size_t i = 0; i < nf; i++) s->f0[i] *= s->f1[i];
    }
    ops_linear(s->h, s->f0, b->wo, NULL, L, F, D);
    for (size_t i = 0; i < (size_t)L * D; i++) x[i] += s->h[i];
}

static gboolean t5_check_ids(const T5Model *m, const int64_t *ids, int L, GError **error)
{
    if (L < 1 || L > T5_MAX_LENGTH) {
        g_set_error(error, FLUX_ERROR, FLUX_ERROR_ARGUMENT, "T5: %d tokens, expected 1..%d", L,
                    T5_MAX_LENGTH);
        return FALSE;
    }
    for (int t = 0; t < L; t++)
        if (ids[t] < 0 || ids[t] >= m->V) {
            g_set_error(error, FLUX_ERROR, FLUX_ERROR_ARGUMENT,
                        "T5: token id %" G_GINT64_FORMAT " at position %d is outside the "
                        "vocabulary (0..%d)",
                        ids[t], t, m->V - 1);
            return FALSE;
        }
    return TRUE;
}

gboolean t5_encode(const T5Model *m, const int64_t *ids, int L, float *out, const FluxTrace *trace,
                   GError **error)
{
    if (!t5_check_ids(m, ids, L, error)) return FALSE;
    size_t nD = (size_t)L * m->D, nI = (size_t)L * m->I, nF = (size_t)L * m->F;
    float *buf = g_new(float, nD + 4 * nI + 2 * nF);
    T5Scratch s = {buf,
                   buf + nD,
                   buf + nD + nI,
                   buf + nD + 2 * nI,
                   buf + nD + 3 * nI,
                   buf + nD + 4 * nI,
                   buf + nD + 4 * nI + nF,
                   t5_position_bias(m, L)};
    const int64_t shape[3] = {1, L, m->D};

    /* out doubles as the residual stream x [L, D]; rows converted one at a time so that a
     * bf16 [V, D] table is never expanded */
    for (int t = 0; t < L; t++) st_to_f32(out + (size_t)t * m->D, m->embed, ids[t] * m->D, m->D);
    trace_f32(trace, out, 3, shape, "t5.hidden_states.0");
    for (int i = 0; i < m->N; i++) {
        t5_attention_block(m, &m->blocks[i], out, L, &s);
        t5_ff_block(m, &m->blocks[i], out, L, &s);
        /* transformers' hidden_states hold the input of every block, then the final norm */
        if (i + 1 < m->N) trace_f32(trace, out, 3, shape, "t5.hidden_states.%d", i + 1);
    }
    ops_rmsnorm(out, out, wt_f32(m->fin), L, m->D, m->eps);
    trace_f32(trace, out, 3, shape, "t5.hidden_states.%d", m->N);
    g_free(s.bias);
    g_free(buf);
    return TRUE;
}
