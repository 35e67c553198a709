/* transformer_weights.c — the DiT's weights: the parameter lists of transformer_model.h
 * expanded into tables, and the loader that walks them over a checkpoint (diffusers names),
 * checking each tensor's presence, dtype and shape against the config, and numbering each
 * parameter for the backends (transformer_binding.c). */
#include "transformer.h"
#include "transformer_model.h"

#include "weights.h"

#include <math.h>
#include <stddef.h>

#define DIT_ROPE_THETA 10000.0

/* ------------------------------------------------------------------------------------- */
/* The tables: one row per parameter, from the lists                                     */

/* Shape letters, resolved from the config when the checkpoint is bound (dit_dims). */
enum {
    DIM_D,
    DIM_C_IN,
    DIM_C_OUT,
    DIM_J,
    DIM_P,
    DIM_HD,
    DIM_F,
    DIM_DF,
    DIM_D6,
    DIM_D3,
    DIM_D2,
    DIM_TIME,
    DIM_N
};

typedef struct {
    gboolean linear;     /* a DitLinear (weight [dims[0], dims[1]] + bias), else a DitVec */
    size_t offset;       /* of the DitLinear / DitVec in its struct */
    const char *name[2]; /* the checkpoint name after the block's prefix; [1]: text stream's */
    int dims[2];         /* DIM_* */
} DitParam;

/* clang-format off */
#define ROW_LIN(field, img, txt, out, in) {TRUE, offsetof(ROW_STRUCT, field), {img, txt}, {DIM_##out, DIM_##in}},
#define ROW_VEC(field, img, txt, n)       {FALSE, offsetof(ROW_STRUCT, field), {img, txt}, {DIM_##n, 0}},
/* the attention's rows inside a block's struct (its field is always `attn`) */
#define ROW_ATTN_LIN(field, ...) ROW_LIN(attn.field, __VA_ARGS__)
#define ROW_ATTN_VEC(field, ...) ROW_VEC(attn.field, __VA_ARGS__)
#define ROW_ATTN(field)          DIT_ATTN_PARAMS(ROW_ATTN_LIN, ROW_ATTN_VEC)

#define ROW_STRUCT DitModel
static const DitParam top_params[] = {DIT_TOP_PARAMS(ROW_LIN, ROW_VEC)};
static const DitParam guidance_params[] = {DIT_GUIDANCE_PARAMS(ROW_LIN, ROW_VEC)};
#undef ROW_STRUCT
#define ROW_STRUCT DitStream
static const DitParam stream_params[] = {DIT_STREAM_PARAMS(ROW_LIN, ROW_VEC, ROW_ATTN)};
#undef ROW_STRUCT
#define ROW_STRUCT DitSingleBlock
static const DitParam single_params[] = {DIT_SINGLE_PARAMS(ROW_LIN, ROW_VEC, ROW_ATTN)};
#undef ROW_STRUCT
/* clang-format on */

/* ------------------------------------------------------------------------------------- */
/* Loading                                                                               */

static void dit_dims(const DitConfig *cfg, int64_t dims[DIM_N])
{
    int64_t D = cfg->inner_dim, F = dit_mlp_dim(cfg);
    dims[DIM_D] = D;
    dims[DIM_C_IN] = cfg->in_channels;
    dims[DIM_C_OUT] = cfg->out_channels;
    dims[DIM_J] = cfg->joint_attention_dim;
    dims[DIM_P] = cfg->pooled_projection_dim;
    dims[DIM_HD] = cfg->head_dim;
    dims[DIM_F] = F;
    dims[DIM_DF] = D + F;
    dims[DIM_D6] = 6 * D;
    dims[DIM_D3] = 3 * D;
    dims[DIM_D2] = 2 * D;
    dims[DIM_TIME] = DIT_TIME_CHANNELS;
}

/* One tensor <prefix><name><suffix> of `ndim` dims, checked and marked used (float32 copy
 * with WT_F32). */
static const StTensor *bind_tensor(StArchive *a, const char *prefix, const char *name,
                                   const char *suffix, int ndim, const int64_t *shape,
                                   unsigned flags, GError **error)
{
    g_autofree char *full = g_strconcat(prefix, name, suffix, NULL);
    return wt_get(a, full, ndim, shape, flags, error);
}

static void number_vec(DitModel *m, DitVec *v)
{
    v->id = (int)m->vecs->len;
    g_ptr_array_add(m->vecs, v);
}

/* Binds the rows of `params` under `prefix` into the struct at `base`, with the image-stream
 * names (name 0) or the text stream's (name 1), and numbers each parameter in row order. */
static gboolean bind_params(DitModel *m, const DitParam *params, gsize n, const char *prefix,
                            int name, const int64_t *dims, void *base, GError **error)
{
    for (gsize i = 0; i < n; i++) {
        const DitParam *p = &params[i];
        int64_t shape[2] = {dims[p->dims[0]], dims[p->dims[1]]};
        if (!p->linear) {
            DitVec *v = (DitVec *)((char *)base + p->offset);
            v->t =
                bind_tensor(m->archive, prefix, p->name[name], ".weight", 1, shape, WT_F32, error);
            if (!v->t) return FALSE;
            number_vec(m, v);
            continue;
        }
        DitLinear *l = (DitLinear *)((char *)base + p->offset);
        l->w = bind_tensor(m->archive, prefix, p->name[name], ".weight", 2, shape, 0, error);
        if (l->w)
            l->b.t =
                bind_tensor(m->archive, prefix, p->name[name], ".bias", 1, shape, WT_F32, error);
        if (!l->w || !l->b.t) return FALSE;
        l->id = (int)m->lins->len;
        g_ptr_array_add(m->lins, l);
        number_vec(m, &l->b);
    }
    return TRUE;
}

static gboolean bind_weights(DitModel *m, GError **error)
{
    const DitConfig *cfg = &m->cfg;
    int64_t dims[DIM_N];
    dit_dims(cfg, dims);
    m->lins = g_ptr_array_new();
    m->vecs = g_ptr_array_new();
    if (!bind_params(m, top_params, G_N_ELEMENTS(top_params), "", 0, dims, m, error)) return FALSE;
    /* schnell-type checkpoints have no guidance embedder; a dev checkpoint loaded with
     * guidance_embeds false leaves it in the "unused" report */
    if (cfg->guidance_embeds &&
        !bind_params(m, guidance_params, G_N_ELEMENTS(guidance_params), "", 0, dims, m, error))
        return FALSE;
    m->dbl = g_new0(DitDoubleBlock, cfg->num_layers);
    for (int i = 0; i < cfg->num_layers; i++) {
        g_autofree char *prefix = g_strdup_printf("transformer_blocks.%d.", i);
        if (!bind_params(m, stream_params, G_N_ELEMENTS(stream_params), prefix, 0, dims,
                         &m->dbl[i].img, error) ||
            !bind_params(m, stream_params, G_N_ELEMENTS(stream_params), prefix, 1, dims,
                         &m->dbl[i].txt, error))
            return FALSE;
    }
    m->sgl = g_new0(DitSingleBlock, cfg->num_single_layers);
    for (int i = 0; i < cfg->num_single_layers; i++) {
        g_autofree char *prefix = g_strdup_printf("single_transformer_blocks.%d.", i);
        if (!bind_params(m, single_params, G_N_ELEMENTS(single_params), prefix, 0, dims, &m->sgl[i],
                         error))
            return FALSE;
    }
    return TRUE;
}

static guint64 table_count(const DitParam *params, gsize n, const int64_t *dims)
{
    guint64 count = 0;
    for (gsize i = 0; i < n; i++) {
        guint64 out = (guint64)dims[params[i].dims[0]];
        count += params[i].linear ? out * (guint64)dims[params[i].dims[1]] + out : out;
    }
    return count;
}

guint64 dit_param_count(const DitConfig *cfg)
{
    int64_t dims[DIM_N];
    dit_dims(cfg, dims);
    guint64 top = table_count(top_params, G_N_ELEMENTS(top_params), dims);
    if (cfg->guidance_embeds)
        top += table_count(guidance_params, G_N_ELEMENTS(guidance_params), dims);
    return top +
           (guint64)cfg->num_layers * 2 *
               table_count(stream_params, G_N_ELEMENTS(stream_params), dims) +
           (guint64)cfg->num_single_layers *
               table_count(single_params, G_N_ELEMENTS(single_params), dims);
}

/* get_1d_rotary_pos_embed's frequencies, per axis a of d_a dims: ω_j = 1 / θ^(2j / d_a),
 * j < d_a/2, in float64 (FluxPosEmbed asks for float64 on CPU). Pairs are numbered across
 * the axes in concatenation order. */
static void rope_frequencies(DitModel *m)
{
    m->rope_omega = g_new(double, m->cfg.head_dim / 2);
    int p = 0;
    for (int a = 0; a < 3; a++) {
        int d = m->cfg.axes_dims_rope[a];
        for (int j = 0; j < d / 2; j++)
            m->rope_omega[p++] = 1.0 / pow(DIT_ROPE_THETA, (double)(2 * j) / d);
    }
}

DitModel *dit_load(const CfgJson *cfg, StArchive *archive, GError **error)
{
    g_return_val_if_fail(cfg != NULL && archive != NULL, NULL);
    DitModel *m = g_new0(DitModel, 1);
    g_mutex_init(&m->bind_lock);
    m->archive = archive; /* owned from here on, failure included */
    if (!dit_config_read(cfg, &m->cfg, error) || !bind_weights(m, error)) {
        dit_free(m);
        return NULL;
    }
    rope_frequencies(m);
    return m;
}

void dit_free(DitModel *m)
{
    if (!m) return;
    dit_bound_free_all(m);
    g_mutex_clear(&m->bind_lock);
    if (m->lins) g_ptr_array_free(m->lins, TRUE);
    if (m->vecs) g_ptr_array_free(m->vecs, TRUE);
    st_archive_free(m->archive);
    g_free(m->dbl);
    g_free(m->sgl);
    g_free(m->rope_omega);
    g_free(m);
}

const DitConfig *dit_config(const DitModel *m)
{
    return &m->cfg;
}

gsize dit_unused_tensors(const DitModel *m, char ***names)
{
    return st_archive_unused(m->archive, names);
}

StArchive *dit_archive(DitModel *m)
{
    return m->archive;
}
