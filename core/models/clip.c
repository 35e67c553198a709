/* clip.c — CLIP text encoder, following transformers 4.46 `CLIPTextModel` (modeling_clip.py:
 * CLIPTextEmbeddings, CLIPEncoderLayer, CLIPTextTransformer), float32 activations.
 *
 *   x = token_embedding[ids] + position_embedding[0..n-1]            [n, D]
 *   per layer (pre-LN):  x += out_proj(causal_attn(layer_norm1(x)))
 *                        x += fc2(act(fc1(layer_norm2(x))))
 *   last = final_layer_norm(x);   pooled = last[pool_position(ids)]  [D]
 *
 * Legend: n = tokens (77 for FLUX), D = hidden_size (768), NH = num_attention_heads (12),
 * HD = D / NH (64), F = intermediate_size (3072), V = vocab_size (49408),
 * P = max_position_embeddings (77), N = num_hidden_layers (12).
 */
#include "convert.h"
#include "clip.h"

#include "config.h"
#include "flux.h"
#include "ops.h"
#include "weights.h"

#include <math.h>
#include <stddef.h>
#include <string.h>

typedef enum { CLIP_ACT_QUICK_GELU, CLIP_ACT_GELU, CLIP_ACT_GELU_TANH, CLIP_ACT_RELU } ClipAct;

/* Indices into the `dims` array handed to wt_bind. */
enum { DIM_D, DIM_F, DIM_V, DIM_P, N_DIMS };
#define D_ WT_D(DIM_D)
#define F_ WT_D(DIM_F)

/* Each parameter once (weights.h): name under "text_model.encoder.layers.<i>.", shape. */
/* clang-format off */
#define CLIP_LAYER(P, S)                                               \
    P(S, ln1_w, "layer_norm1.weight", WT_F32, D_)                      \
    P(S, ln1_b, "layer_norm1.bias", WT_F32, D_)                        \
    P(S, q_w, "self_attn.q_proj.weight", 0, D_, D_)                    \
    P(S, q_b, "self_attn.q_proj.bias", WT_F32, D_)                     \
    P(S, k_w, "self_attn.k_proj.weight", 0, D_, D_)                    \
    P(S, k_b, "self_attn.k_proj.bias", WT_F32, D_)                     \
    P(S, v_w, "self_attn.v_proj.weight", 0, D_, D_)                    \
    P(S, v_b, "self_attn.v_proj.bias", WT_F32, D_)                     \
    P(S, o_w, "self_attn.out_proj.weight", 0, D_, D_)                  \
    P(S, o_b, "self_attn.out_proj.bias", WT_F32, D_)                   \
    P(S, ln2_w, "layer_norm2.weight", WT_F32, D_)                      \
    P(S, ln2_b, "layer_norm2.bias", WT_F32, D_)                        \
    P(S, fc1_w, "mlp.fc1.weight", 0, F_, D_)                           \
    P(S, fc1_b, "mlp.fc1.bias", WT_F32, F_)                            \
    P(S, fc2_w, "mlp.fc2.weight", 0, D_, F_)                           \
    P(S, fc2_b, "mlp.fc2.bias", WT_F32, D_)
/* under "text_model." */
#define CLIP_TOP(P, S)                                                              \
    P(S, tok_emb, "embeddings.token_embedding.weight", 0, WT_D(DIM_V), D_)          \
    P(S, pos_emb, "embeddings.position_embedding.weight", 0, WT_D(DIM_P), D_)       \
    P(S, fin_w, "final_layer_norm.weight", WT_F32, D_)                              \
    P(S, fin_b, "final_layer_norm.bias", WT_F32, D_)
/* clang-format on */

typedef struct {
    CLIP_LAYER(WT_FIELD, _)
} ClipLayer;

struct ClipModel {
    CLIP_TOP(WT_FIELD, _)
    StArchive *archive; /* owns the mapped weights every StTensor above points into */
    int D, F, NH, HD, N, V, P;
    float eps;
    int64_t eos_token_id;
    ClipAct act;
    ClipLayer *layers; /* [N] */
};

static const WtSpec clip_layer_spec[] = {CLIP_LAYER(WT_ROW, ClipLayer)};
static const WtSpec clip_model_spec[] = {CLIP_TOP(WT_ROW, ClipModel)};
#undef D_
#undef F_

static const WtTable clip_table[] = {
    WT_TABLE_ALL(ClipLayer, clip_layer_spec, N_DIMS),
    WT_TABLE(ClipModel, clip_model_spec, archive, N_DIMS),
};

const WtTable *clip_tables(gsize *n)
{
    *n = G_N_ELEMENTS(clip_table);
    return clip_table;
}

/* ------------------------------------------------------------------------------------- */
/* Loading                                                                               */

/* transformers' ACT2FN names that CLIP configs use; FLUX.1 (openai ViT-L/14) is quick_gelu. */
static gboolean clip_parse_act(const CfgJson *c, ClipAct *act, GError **error)
{
    const char *name;
    if (!cfg_string_or(c, "hidden_act", "quick_gelu", &name, error)) return FALSE;
    if (!strcmp(name, "quick_gelu"))
        *act = CLIP_ACT_QUICK_GELU;
    else if (!strcmp(name, "gelu"))
        *act = CLIP_ACT_GELU;
    else if (!strcmp(name, "gelu_new") || !strcmp(name, "gelu_pytorch_tanh"))
        *act = CLIP_ACT_GELU_TANH;
    else if (!strcmp(name, "relu"))
        *act = CLIP_ACT_RELU;
    else {
        g_set_error(error, FLUX_ERROR, FLUX_ERROR_UNSUPPORTED,
                    "%s: \"hidden_act\" is \"%s\", expected quick_gelu, gelu, gelu_new, "
                    "gelu_pytorch_tanh or relu",
                    cfg_path(c), name);
        return FALSE;
    }
    return TRUE;
}

/* Reads the hyper-parameters; defaults are CLIPTextConfig's. */
static gboolean clip_parse_config(ClipModel *m, const CfgJson *c, GError **error)
{
    int64_t D, F, NH, N, V, P, eos;
    double eps;
    if (!cfg_int(c, "hidden_size", 1, 1 << 16, &D, error) ||
        !cfg_int(c, "intermediate_size", 1, 1 << 20, &F, error) ||
        !cfg_int(c, "num_attention_heads", 1, 1 << 12, &NH, error) ||
        !cfg_int(c, "num_hidden_layers", 1, 1 << 10, &N, error) ||
        !cfg_int(c, "vocab_size", 1, G_MAXINT32, &V, error) ||
        !cfg_int_or(c, "max_position_embeddings", 77, 1, 1 << 16, &P, error) ||
        !cfg_double_or(c, "layer_norm_eps", 1e-5, 0.0, 1.0, &eps, error) ||
        !cfg_int_or(c, "eos_token_id", 49407, G_MININT32, G_MAXINT32, &eos, error) ||
        !clip_parse_act(c, &m->act, error))
        return FALSE;
    if (D % NH) {
        g_set_error(error, FLUX_ERROR, FLUX_ERROR_MODEL,
                    "%s: \"hidden_size\" %" G_GINT64_FORMAT " is not a multiple of "
                    "\"num_attention_heads\" %" G_GINT64_FORMAT,
                    cfg_path(c), D, NH);
        return FALSE;
    }
    m->D = (int)D, m->F = (int)F, m->NH = (int)NH, m->HD = (int)(D / NH), m->N = (int)N;
    m->V = (int)V, m->P = (int)P, m->eps = (float)eps, m->eos_token_id = eos;
    return TRUE;
}

static gboolean clip_bind(ClipModel *m, GError **error)
{
    const int64_t dims[N_DIMS] = {[DIM_D] = m->D, [DIM_F] = m->F, [DIM_V] = m->V, [DIM_P] = m->P};
    if (!wt_bind(m->archive, "text_model.", clip_model_spec, G_N_ELEMENTS(clip_model_spec), dims, m,
                 error))
        return FALSE;
    m->layers = g_new0(ClipLayer, m->N);
    for (int i = 0; i < m->N; i++) {
        g_autofree char *prefix = g_strdup_printf("text_model.encoder.layers.%d.", i);
        if (!wt_bind(m->archive, prefix, clip_layer_spec, G_N_ELEMENTS(clip_layer_spec), dims,
                     &m->layers[i], error))
            return FALSE;
    }
    /* Older checkpoints store the position_ids buffer (int64 arange); it is implied. */
    StTensor *pid = st_archive_find(m->archive, "text_model.embeddings.position_ids");
    if (pid) pid->used = TRUE;
    return TRUE;
}

ClipModel *clip_load(const CfgJson *cfg, StArchive *archive, GError **error)
{
    g_return_val_if_fail(cfg != NULL && archive != NULL, NULL);
    ClipModel *m = g_new0(ClipModel, 1);
    m->archive = archive; /* owned from here on, failure included */
    if (!clip_parse_config(m, cfg, error) || !clip_bind(m, error)) {
        clip_free(m);
        return NULL;
    }
    return m;
}

void clip_free(ClipModel *m)
{
    if (!m) return;
    g_free(m->layers);
    st_archive_free(m->archive);
    g_free(m);
}

int clip_hidden_size(const ClipModel *m)
{
    return m->D;
}
int clip_max_positions(const ClipModel *m)
{
    return m->P;
}

gsize clip_unused_tensors(const ClipModel *m, char ***names)
{
    return st_archive_unused(m->archive, names);
}

/* ------------------------------------------------------------------------------------- */
/* Forward                                                                               */

/* Scratch for one forward pass, reused by every layer. */
typedef struct {
    const StArchive *lora; /* "<layer>.lora_A" [R, K] / ".lora_B" [N, R] (lora.h), or NULL */
    float *h;              /* [n, D] normed input of a sub-block */
    float *q, *k, *v;      /* [n, D] heads interleaved: head h at columns h*HD.. */
    float *a;              /* [n, D] attention output */
    float *f;              /* [n, F] MLP hidden */
} ClipScratch;

static void clip_activation(ClipAct act, float *x, size_t n)
{
    switch (act) {
    case CLIP_ACT_QUICK_GELU:
        ops_quick_gelu(x, n);
        break;
    case CLIP_ACT_GELU:
        ops_gelu_erf(x, n);
        break;
    case CLIP_ACT_GELU_TANH:
        ops_gelu_tanh(x, n);
        break;
    case CLIP_ACT_RELU:
        for (size_t i = 0; i < n; i++) x[i] = x[i] > 0.0f ? x[i] : 0.0f;
        break;
    }
}

/* x [n, D] = token_embedding[ids] + position_embedding[0..n-1]; rows converted one at a time
 * so that a bf16 [V, D] table is never expanded. tmp [D]. */
static void clip_embed(const ClipModel *m, const int64_t *ids, int n, float *x, float *tmp)
{
    int D = m->D;
    for (int t = 0; t < n; t++) {
        float *row = x + (size_t)t * D;
        st_to_f32(row, m->tok_emb, ids[t] * D, D);
        st_to_f32(tmp, m->pos_emb, (int64_t)t * D, D);
        for (int d = 0; d < D; d++) row[d] += tmp[d];
    }
}

/* y [n, N] = x [n, K] · Wᵀ + b, + (x·Aᵀ)·Bᵀ when a LoRA changes the layer (found by the
 * weight's name; CLIP is small: plain loops for the [n, R] · [R, N] product). */
static void clip_linear(const ClipScratch *s, float *y, const float *x, const StTensor *w,
                        const StTensor *b, int n, int K, int N)
{
    ops_linear(y, x, w, wt_f32(b), n, K, N);
    if (!s->lora || !g_str_has_suffix(w->name, ".weight")) return;
    g_autofree char *layer = g_strndup(w->name, strlen(w->name) - strlen(".weight"));
    g_autofree char *na = g_strconcat(layer, ".lora_A", NULL);
    g_autofree char *nb = g_strconcat(layer, ".lora_B", NULL);
    StArchive *la = (StArchive *)s->lora; /* lookups only */
    const StTensor *A = st_archive_find(la, na), *B = st_archive_find(la, nb);
    if (!A || !B) return;
    const int R = (int)A->shape[0];
    const float *bd = B->data;
    float *t = g_new(float, (size_t)n *R);
    ops_linear(t, x, A, NULL, n, K, R); /* [n, R] */
    for (int m = 0; m < n; m++)
        for (int o = 0; o < N; o++) {
            float acc = 0.0f;
            for (int r = 0; r < R; r++) acc += t[(size_t)m * R + r] * bd[(size_t)o * R + r];
            y[(size_t)m * N + o] += acc;
        }
    g_free(t);
}

/* x [n, D] += out_proj(causal self-attention(layer_norm1(x))), CLIPAttention. */
static void clip_attention_block(const ClipModel *m, const ClipLayer *l, float *x, int n,
                                 ClipScratch *s)
{
    int D = m->D;
    ops_layernorm(s->h, x, wt_f32(l->ln1_w), wt_f32(l->ln1_b), n, D, m->eps);
    clip_linear(s, s->q, s->h, l->q_w, l->q_b, n, D, D);
    clip_linear(s, s->k, s->h, l->k_w, l->k_b, n, D, D);
    clip_linear(s, s->v, s->h, l->v_w, l->v_b, n, D, D);
    OpsAttnShape shape = {
        .Tq = n,
        .Tk = n,
        .NH = m->NH,
        .HD = m->HD,
        .ldq = D,
        .ldk = D,
        .ldv = D,
        .ldo = D,
        .scale = (float)(1.0 / sqrt((double)m->HD)), /* head_dim ** -0.5 */
        .rel_bias = NULL,
        .causal = 1, /* CLIP's text model always applies its causal mask */
    };
    ops_attention(s->a, s->q, s->k, s->v, &shape);
    clip_linear(s, s->h, s->a, l->o_w, l->o_b, n, D, D);
    for (size_t i = 0; i < (size_t)n * D; i++) x[i] += s->h[i];
}

/* x [n, D] += fc2(act(fc1(layer_norm2(x)))), CLIPMLP. */
static void clip_mlp_block(const ClipModel *m, const ClipLayer *l, float *x, int n, ClipScratch *s)
{
    int D = m->D, F = m->F;
    ops_layernorm(s->h, x, wt_f32(l->ln2_w), wt_f32(l->ln2_b), n, D, m->eps);
    clip_linear(s, s->f, s->h, l->fc1_w, l->fc1_b, n, D, F);
    clip_activation(m->act, s->f, (size_t)n * F);
    clip_linear(s, s->h, s->f, l->fc2_w, l->fc2_b, n, F, D);
    for (size_t i = 0; i < (size_t)n * D; i++) x[i] += s->h[i];
}

/* CLIPTextTransformer's pooling rule. Configs with eos_token_id == 2 (openai's, kept by FLUX)
 * predate transformers PR #24773 and take the first position of the largest id (EOS 49407 is
 * the largest id the tokenizer emits); others take the first position holding eos_token_id,
 * or 0 when there is none (argmax of an all-zero mask). */
static int clip_pool_position(const ClipModel *m, const int64_t *ids, int n)
{
    int best = 0;
    if (m->eos_token_id == 2) {
        for (int t = 1; t < n; t++)
            if (ids[t] > ids[best]) best = t;
        return best;
    }
    for (int t = 0; t < n; t++)
        if (ids[t] == m->eos_token_id) return t;
    return 0;
}

static gboolean clip_check_ids(const ClipModel *m, const int64_t *ids, int n, GError **error)
{
    if (n < 1 || n > m->P) {
        g_set_error(error, FLUX_ERROR, FLUX_ERROR_ARGUMENT,
                    "CLIP: %d tokens, expected 1..%d (max_position_embeddings)", n, m->P);
        return FALSE;
    }
    for (int t = 0; t < n; t++)
        if (ids[t] < 0 || ids[t] >= m->V) {
            g_set_error(error, FLUX_ERROR, FLUX_ERROR_ARGUMENT,
                        "CLIP: token id %" G_GINT64_FORMAT " at position %d is outside the "
                        "vocabulary (0..%d)",
                        ids[t], t, m->V - 1);
            return FALSE;
        }
    return TRUE;
}

gboolean clip_encode(const ClipModel *m, const int64_t *ids, int n, float *pooled,
                     const FluxTrace *trace, GError **error)
{
    return clip_encode_lora(m, NULL, ids, n, pooled, trace, error);
}

StArchive *clip_archive(ClipModel *m)
{
    return m->archive;
}

gboolean clip_encode_lora(const ClipModel *m, const StArchive *lora, const int64_t *ids, int n,
                          float *pooled, const FluxTrace *trace, GError **error)
{
    if (!clip_check_ids(m, ids, n, error)) return FALSE;
    size_t nD = (size_t)n * m->D;
    float *x = g_new(float, nD); /* [n, D] residual stream */
    float *buf = g_new(float, 5 * nD + (size_t)n * m->F);
    ClipScratch s = {lora, buf, buf + nD, buf + 2 * nD, buf + 3 * nD, buf + 4 * nD, buf + 5 * nD};
    const int64_t shape[3] = {1, n, m->D};

    clip_embed(m, ids, n, x, s.h);
    trace_f32(trace, x, 3, shape, "clip.hidden_states.0");
    for (int i = 0; i < m->N; i++) {
        clip_attention_block(m, &m->layers[i], x, n, &s);
        clip_mlp_block(m, &m->layers[i], x, n, &s);
        trace_f32(trace, x, 3, shape, "clip.hidden_states.%d", i + 1);
    }
    ops_layernorm(x, x, wt_f32(m->fin_w), wt_f32(m->fin_b), n, m->D, m->eps);
    trace_f32(trace, x, 3, shape, "clip.last_hidden_state");
    memcpy(pooled, x + (size_t)clip_pool_position(m, ids, n) * m->D, sizeof(float) * m->D);
    g_free(buf);
    g_free(x);
    return TRUE;
}
