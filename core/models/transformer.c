/* transformer.c — the FLUX denoiser, following diffusers 0.32.2 FluxTransformer2DModel
 * (models/transformers/transformer_flux.py) with its parts: CombinedTimestep[Guidance]TextProj-
 * Embeddings, FluxPosEmbed + apply_rotary_emb, FluxTransformerBlock (double stream),
 * FluxSingleTransformerBlock, FluxAttnProcessor2_0, AdaLayerNormZero[Single],
 * AdaLayerNormContinuous.
 *
 * Dimensions:
 *   B      batch
 *   T_txt  text tokens (T5 sequence), T_img image tokens (packed latents), T = T_txt + T_img
 *   D      inner dim = NH · HD (3072 for FLUX.1)
 *   NH     heads (24), HD head dim (128) = sum(axes_dims_rope) = (16 + 56 + 56)
 *   F      feed-forward hidden = 4·D (12288)
 *   C_in, C_out  latent channels (64); J joint_attention_dim (4096); P pooled_projection_dim (768)
 *
 * Layout: the two streams live in one buffer x [B, T, D]: for each sample the T_txt text rows,
 * then the T_img image rows. Double blocks work on the two row ranges with their own weights;
 * the concatenation before the single blocks is then free, and so is taking the image part.
 * Heads are interleaved in the feature dim ([T, NH·HD], head h at columns h·HD..), so splitting
 * and merging heads are views, as ops_attention expects.
 */
#include "transformer.h"

#include "backend.h"
#include "checkpoint.h"
#include "config.h"
#include "lora_linear.h"
#include "weights.h"

#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

/* Timesteps(num_channels=256) in CombinedTimestep*Embeddings: fixed by the architecture. */
#define DIT_TIME_CHANNELS 256
#define DIT_ROPE_THETA    10000.0
#define DIT_NORM_EPS      1e-6f /* every LayerNorm and the QK RMSNorms */
/* Sizes accepted by dit_context_new (FLUX_MAX_SIZE 4096 gives 65,536 image tokens). */
#define DIT_MAX_BATCH 1024
#define DIT_MAX_T_IMG (1 << 20)
#define DIT_MAX_T_TXT (1 << 16)
/* Backends a model can be bound to at once (cpu and cuda). */
#define DIT_MAX_BACKENDS 4
/* Storage type of the weights on backends that copy them (cuda): the tensor cores' input type,
 * 2 bytes per parameter. The cpu backend reads the mapped tensors as they are. */
#define DIT_WEIGHT_DTYPE ST_BF16

/* ------------------------------------------------------------------------------------- */
/* Weights                                                                               */

/* A float32 vector parameter (a bias, a QK-norm scale): the tensor (read with wt_f32) and its
 * index into a backend binding's vectors (DitBound). */
typedef struct {
    const StTensor *t;
    int id;
} DitVec;

typedef struct {
    const StTensor *w; /* nn.Linear weight [out, in], mapped (F32/F16/BF16/FP8/GGML blocks) */
    DitVec b;          /* bias [out] */
    int id;            /* index into a binding's weights (DitBound) */
} DitLinear;

/* The projections of Attention in FluxAttnProcessor2_0 (to_q/k/v + norm_q/k, or the text
 * side's add_q/k/v_proj + norm_added_q/k). */
typedef struct {
    DitLinear to_q, to_k, to_v; /* [D, D] */
    DitVec norm_q, norm_k;      /* RMSNorm scales [HD] */
} DitAttn;

/* One stream of a double block. The image stream (norm1, attn.to_*, to_out.0, ff) and the
 * text stream (norm1_context, attn.add_*_proj, to_add_out, ff_context) have the same
 * structure under different names, so one struct and two spec tables describe them. */
typedef struct {
    DitLinear norm1; /* AdaLayerNormZero linear [6D, D] */
    DitAttn attn;
    DitLinear to_out;   /* [D, D] */
    DitLinear ff1, ff2; /* FeedForward net.0.proj [F, D], net.2 [D, F] */
} DitStream;

typedef struct {
    DitStream img, txt;
} DitDoubleBlock;

typedef struct {
    DitLinear norm;     /* AdaLayerNormZeroSingle linear [3D, D] */
    DitAttn attn;       /* no output projection: proj_out mixes attention and MLP */
    DitLinear proj_mlp; /* [F, D] */
    DitLinear proj_out; /* [D, D + F] */
} DitSingleBlock;

struct DitModel {
    DitConfig cfg;
    int mlp_dim; /* F = int(D · mlp_ratio 4.0) */
    StArchive *archive;
    DitLinear x_embedder;       /* [D, C_in] */
    DitLinear context_embedder; /* [D, J] */
    DitLinear time_1, time_2;   /* timestep_embedder linear_1 [D, 256], linear_2 [D, D] */
    DitLinear guid_1, guid_2;   /* guidance_embedder, same shapes (guidance_embeds only) */
    DitLinear text_1, text_2;   /* text_embedder linear_1 [D, P], linear_2 [D, D] */
    DitLinear norm_out;         /* AdaLayerNormContinuous linear [2D, D] */
    DitLinear proj_out;         /* [C_out, D] */
    DitDoubleBlock *dbl;        /* [num_layers] */
    DitSingleBlock *sgl;        /* [num_single_layers] */
    double *rope_omega;         /* [HD/2] FluxPosEmbed frequency of each rotated pair, float64 */
    /* every parameter once, in a fixed order: DitLinear.id and DitVec.id index these */
    GPtrArray *lins; /* DitLinear * */
    GPtrArray *vecs; /* DitVec * */
    /* the parameters on each backend used so far (made by the first context on it, kept until
     * dit_free), guarded by bind_lock */
    GMutex bind_lock;
    struct DitBound *bound[DIT_MAX_BACKENDS];
};

/* Spec dimensions, resolved from the config by bind_weights. */
enum { DIM_D, DIM_IN, DIM_OUT, DIM_J, DIM_P, DIM_HD, DIM_F, DIM_DF, DIM_6D, DIM_3D, DIM_2D, DIM_N };
#define S_D   WT_D(DIM_D)
#define S_IN  WT_D(DIM_IN)
#define S_OUT WT_D(DIM_OUT)
#define S_J   WT_D(DIM_J)
#define S_P   WT_D(DIM_P)
#define S_HD  WT_D(DIM_HD)
#define S_F   WT_D(DIM_F)
#define S_DF  WT_D(DIM_DF)
#define S_6D  WT_D(DIM_6D)
#define S_3D  WT_D(DIM_3D)
#define S_2D  WT_D(DIM_2D)

/* A spec entry per tensor: nn.Linear gives two (weight mapped, bias as float32). */
/* clang-format off */
#define LINEAR(S, name, field, n_out, n_in)                        \
    {name ".weight", offsetof(S, field.w), 2, {n_out, n_in}, 0},   \
    {name ".bias", offsetof(S, field.b.t), 1, {n_out}, WT_F32}
#define SCALE(S, name, field, n) {name ".weight", offsetof(S, field.t), 1, {n}, WT_F32}
/* clang-format on */

static const WtSpec top_spec[] = {
    LINEAR(DitModel, "x_embedder", x_embedder, S_D, S_IN),
    LINEAR(DitModel, "context_embedder", context_embedder, S_D, S_J),
    LINEAR(DitModel, "time_text_embed.timestep_embedder.linear_1", time_1, S_D, DIT_TIME_CHANNELS),
    LINEAR(DitModel, "time_text_embed.timestep_embedder.linear_2", time_2, S_D, S_D),
    LINEAR(DitModel, "time_text_embed.text_embedder.linear_1", text_1, S_D, S_P),
    LINEAR(DitModel, "time_text_embed.text_embedder.linear_2", text_2, S_D, S_D),
    LINEAR(DitModel, "norm_out.linear", norm_out, S_2D, S_D),
    LINEAR(DitModel, "proj_out", proj_out, S_OUT, S_D),
};

static const WtSpec guidance_spec[] = {
    LINEAR(DitModel, "time_text_embed.guidance_embedder.linear_1", guid_1, S_D, DIT_TIME_CHANNELS),
    LINEAR(DitModel, "time_text_embed.guidance_embedder.linear_2", guid_2, S_D, S_D),
};

static const WtSpec img_stream_spec[] = {
    LINEAR(DitStream, "norm1.linear", norm1, S_6D, S_D),
    LINEAR(DitStream, "attn.to_q", attn.to_q, S_D, S_D),
    LINEAR(DitStream, "attn.to_k", attn.to_k, S_D, S_D),
    LINEAR(DitStream, "attn.to_v", attn.to_v, S_D, S_D),
    SCALE(DitStream, "attn.norm_q", attn.norm_q, S_HD),
    SCALE(DitStream, "attn.norm_k", attn.norm_k, S_HD),
    LINEAR(DitStream, "attn.to_out.0", to_out, S_D, S_D),
    LINEAR(DitStream, "ff.net.0.proj", ff1, S_F, S_D),
    LINEAR(DitStream, "ff.net.2", ff2, S_D, S_F),
};

static const WtSpec txt_stream_spec[] = {
    LINEAR(DitStream, "norm1_context.linear", norm1, S_6D, S_D),
    LINEAR(DitStream, "attn.add_q_proj", attn.to_q, S_D, S_D),
    LINEAR(DitStream, "attn.add_k_proj", attn.to_k, S_D, S_D),
    LINEAR(DitStream, "attn.add_v_proj", attn.to_v, S_D, S_D),
    SCALE(DitStream, "attn.norm_added_q", attn.norm_q, S_HD),
    SCALE(DitStream, "attn.norm_added_k", attn.norm_k, S_HD),
    LINEAR(DitStream, "attn.to_add_out", to_out, S_D, S_D),
    LINEAR(DitStream, "ff_context.net.0.proj", ff1, S_F, S_D),
    LINEAR(DitStream, "ff_context.net.2", ff2, S_D, S_F),
};

static const WtSpec single_spec[] = {
    LINEAR(DitSingleBlock, "norm.linear", norm, S_3D, S_D),
    LINEAR(DitSingleBlock, "attn.to_q", attn.to_q, S_D, S_D),
    LINEAR(DitSingleBlock, "attn.to_k", attn.to_k, S_D, S_D),
    LINEAR(DitSingleBlock, "attn.to_v", attn.to_v, S_D, S_D),
    SCALE(DitSingleBlock, "attn.norm_q", attn.norm_q, S_HD),
    SCALE(DitSingleBlock, "attn.norm_k", attn.norm_k, S_HD),
    LINEAR(DitSingleBlock, "proj_mlp", proj_mlp, S_F, S_D),
    LINEAR(DitSingleBlock, "proj_out", proj_out, S_D, S_DF),
};

/* ------------------------------------------------------------------------------------- */
/* Loading                                                                               */

/* axes_dims_rope: three even dims (one per ids column) summing to the head dim, because
 * FluxPosEmbed concatenates one rotary table per axis into a [T, HD] table. */
static gboolean read_axes(const CfgJson *j, DitConfig *cfg, GError **error)
{
    int64_t axes[3];
    gsize n;
    if (!cfg_int_array(j, "axes_dims_rope", 0, 4096, axes, 3, &n, error)) return FALSE;
    if (n == 0) { /* diffusers' default when absent or null */
        for (int a = 0; a < 3; a++) axes[a] = ckpt_flux1_rope_axes[a];
    } else if (n != 3) {
        g_set_error(error, FLUX_ERROR, FLUX_ERROR_MODEL,
                    "%s: \"axes_dims_rope\" has %zu elements, expected 3 (one per ids column)",
                    cfg_path(j), (size_t)n);
        return FALSE;
    }
    for (int a = 0; a < 3; a++) {
        if (axes[a] % 2) {
            g_set_error(error, FLUX_ERROR, FLUX_ERROR_MODEL,
                        "%s: \"axes_dims_rope\"[%d] is %" G_GINT64_FORMAT
                        ", expected an even number",
                        cfg_path(j), a, axes[a]);
            return FALSE;
        }
        cfg->axes_dims_rope[a] = (int)axes[a];
    }
    int64_t sum = axes[0] + axes[1] + axes[2];
    if (sum != cfg->head_dim) {
        g_set_error(error, FLUX_ERROR, FLUX_ERROR_MODEL,
                    "%s: \"axes_dims_rope\" (%d, %d, %d) sums to %" G_GINT64_FORMAT
                    ", expected attention_head_dim %d",
                    cfg_path(j), cfg->axes_dims_rope[0], cfg->axes_dims_rope[1],
                    cfg->axes_dims_rope[2], sum, cfg->head_dim);
        return FALSE;
    }
    return TRUE;
}

/* config.json → DitConfig, with FluxTransformer2DModel.__init__'s defaults for absent keys. */
static gboolean read_config(const CfgJson *j, DitConfig *cfg, GError **error)
{
    const char *path = cfg_path(j);
    int64_t patch, in, out, layers, single, hd, nh, joint, pooled;
    gboolean ok = cfg_int_or(j, "patch_size", 1, 1, 64, &patch, error) &&
                  cfg_int_or(j, "in_channels", 64, 1, 65536, &in, error) &&
                  cfg_int_or(j, "out_channels", in, 1, 65536, &out, error) &&
                  cfg_int_or(j, "num_layers", 19, 0, 1024, &layers, error) &&
                  cfg_int_or(j, "num_single_layers", 38, 0, 1024, &single, error) &&
                  cfg_int_or(j, "attention_head_dim", 128, 2, 4096, &hd, error) &&
                  cfg_int_or(j, "num_attention_heads", 24, 1, 1024, &nh, error) &&
                  cfg_int_or(j, "joint_attention_dim", 4096, 1, 65536, &joint, error) &&
                  cfg_int_or(j, "pooled_projection_dim", 768, 1, 65536, &pooled, error) &&
                  cfg_bool_or(j, "guidance_embeds", FALSE, &cfg->guidance_embeds, error);
    if (ok && patch != 1) {
        g_set_error(error, FLUX_ERROR, FLUX_ERROR_UNSUPPORTED,
                    "%s: \"patch_size\" is %" G_GINT64_FORMAT ", only 1 is supported (FLUX.1)",
                    path, patch);
        ok = FALSE;
    }
    if (ok && nh * hd > 65536) {
        g_set_error(error, FLUX_ERROR, FLUX_ERROR_MODEL,
                    "%s: num_attention_heads %" G_GINT64_FORMAT
                    " × attention_head_dim %" G_GINT64_FORMAT " is %" G_GINT64_FORMAT
                    ", expected at most 65536",
                    path, nh, hd, nh * hd);
        ok = FALSE;
    }
    if (ok) {
        cfg->in_channels = (int)in;
        cfg->out_channels = (int)out;
        cfg->num_layers = (int)layers;
        cfg->num_single_layers = (int)single;
        cfg->head_dim = (int)hd;
        cfg->num_heads = (int)nh;
        cfg->inner_dim = (int)(nh * hd);
        cfg->joint_attention_dim = (int)joint;
        cfg->pooled_projection_dim = (int)pooled;
        ok = read_axes(j, cfg, error);
    }
    return ok;
}

static gboolean bind_weights(DitModel *m, GError **error)
{
    const DitConfig *cfg = &m->cfg;
    int64_t D = cfg->inner_dim, F = m->mlp_dim;
    int64_t dims[DIM_N] = {
        [DIM_D] = D,
        [DIM_IN] = cfg->in_channels,
        [DIM_OUT] = cfg->out_channels,
        [DIM_J] = cfg->joint_attention_dim,
        [DIM_P] = cfg->pooled_projection_dim,
        [DIM_HD] = cfg->head_dim,
        [DIM_F] = F,
        [DIM_DF] = D + F,
        [DIM_6D] = 6 * D,
        [DIM_3D] = 3 * D,
        [DIM_2D] = 2 * D,
    };
    StArchive *a = m->archive;
    if (!wt_bind(a, "", top_spec, G_N_ELEMENTS(top_spec), dims, m, error)) return FALSE;
    /* schnell-type checkpoints have no guidance embedder; a dev checkpoint loaded with
     * guidance_embeds false leaves it in the "unused" report */
    if (cfg->guidance_embeds &&
        !wt_bind(a, "", guidance_spec, G_N_ELEMENTS(guidance_spec), dims, m, error))
        return FALSE;
    m->dbl = g_new0(DitDoubleBlock, cfg->num_layers);
    for (int i = 0; i < cfg->num_layers; i++) {
        g_autofree char *prefix = g_strdup_printf("transformer_blocks.%d.", i);
        if (!wt_bind(a, prefix, img_stream_spec, G_N_ELEMENTS(img_stream_spec), dims,
                     &m->dbl[i].img, error) ||
            !wt_bind(a, prefix, txt_stream_spec, G_N_ELEMENTS(txt_stream_spec), dims,
                     &m->dbl[i].txt, error))
            return FALSE;
    }
    m->sgl = g_new0(DitSingleBlock, cfg->num_single_layers);
    for (int i = 0; i < cfg->num_single_layers; i++) {
        g_autofree char *prefix = g_strdup_printf("single_transformer_blocks.%d.", i);
        if (!wt_bind(a, prefix, single_spec, G_N_ELEMENTS(single_spec), dims, &m->sgl[i], error))
            return FALSE;
    }
    return TRUE;
}

/* Registers every parameter bound by bind_weights, giving each its index. */
static void add_vec(DitModel *m, DitVec *v)
{
    v->id = (int)m->vecs->len;
    g_ptr_array_add(m->vecs, v);
}

static void add_linear(DitModel *m, DitLinear *l)
{
    l->id = (int)m->lins->len;
    g_ptr_array_add(m->lins, l);
    add_vec(m, &l->b);
}

static void add_attn(DitModel *m, DitAttn *a)
{
    add_linear(m, &a->to_q), add_linear(m, &a->to_k), add_linear(m, &a->to_v);
    add_vec(m, &a->norm_q), add_vec(m, &a->norm_k);
}

static void list_params(DitModel *m)
{
    m->lins = g_ptr_array_new();
    m->vecs = g_ptr_array_new();
    DitLinear *top[] = {&m->x_embedder, &m->context_embedder, &m->time_1,   &m->time_2,
                        &m->text_1,     &m->text_2,           &m->norm_out, &m->proj_out};
    for (gsize i = 0; i < G_N_ELEMENTS(top); i++) add_linear(m, top[i]);
    if (m->cfg.guidance_embeds) add_linear(m, &m->guid_1), add_linear(m, &m->guid_2);
    for (int i = 0; i < m->cfg.num_layers; i++) {
        DitStream *st[2] = {&m->dbl[i].img, &m->dbl[i].txt};
        for (int k = 0; k < 2; k++) {
            add_linear(m, &st[k]->norm1);
            add_attn(m, &st[k]->attn);
            add_linear(m, &st[k]->to_out), add_linear(m, &st[k]->ff1), add_linear(m, &st[k]->ff2);
        }
    }
    for (int i = 0; i < m->cfg.num_single_layers; i++) {
        DitSingleBlock *b = &m->sgl[i];
        add_linear(m, &b->norm);
        add_attn(m, &b->attn);
        add_linear(m, &b->proj_mlp), add_linear(m, &b->proj_out);
    }
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

DitModel *dit_load_from(const CfgJson *cfg, StArchive *archive, GError **error)
{
    g_return_val_if_fail(cfg != NULL && archive != NULL, NULL);
    DitModel *m = g_new0(DitModel, 1);
    g_mutex_init(&m->bind_lock);
    m->archive = archive; /* owned from here on, failure included */
    if (!read_config(cfg, &m->cfg, error)) goto fail;
    m->mlp_dim = 4 * m->cfg.inner_dim;
    if (!bind_weights(m, error)) goto fail;
    list_params(m);
    rope_frequencies(m);
    return m;
fail:
    dit_free(m);
    return NULL;
}

DitModel *dit_load(const char *dir, GError **error)
{
    g_autofree char *path = g_build_filename(dir, "config.json", NULL);
    CfgJson *cfg = cfg_load(path, error);
    if (!cfg) return NULL;
    /* a bad config is reported before a missing weight file */
    DitConfig check;
    StArchive *a = read_config(cfg, &check, error)
                       ? st_archive_open_dir(dir, "diffusion_pytorch_model", error)
                       : NULL;
    DitModel *m = a ? dit_load_from(cfg, a, error) : NULL;
    cfg_free(cfg);
    return m;
}

static void bound_free(DitModel *m, struct DitBound *wb);

void dit_free(DitModel *m)
{
    if (!m) return;
    for (int i = 0; i < DIT_MAX_BACKENDS; i++) bound_free(m, m->bound[i]);
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

/* ------------------------------------------------------------------------------------- */
/* The parameters on a backend                                                           */

/* Every nn.Linear weight as a backend weight (on cuda a BF16 copy uploaded once; on cpu the
 * mapped tensor itself) and every float32 vector (biases, QK-norm scales) in the backend's
 * memory, indexed by DitLinear.id and DitVec.id. */
typedef struct DitBound {
    const FluxBackend *be;
    FluxBackendCtx *bc;    /* owns the weights; its arena holds the vectors */
    FluxBackendWeight **w; /* [lins->len] */
    const float **v;       /* [vecs->len] */
} DitBound;

static void bound_free(DitModel *m, DitBound *wb)
{
    if (!wb) return;
    for (guint i = 0; wb->w && i < m->lins->len; i++) wb->be->weight_free(wb->bc, wb->w[i]);
    wb->be->ctx_free(wb->bc);
    g_free(wb->w);
    g_free(wb->v);
    g_free(wb);
}

/* Bytes the vectors take in a backend arena (each start aligned to 256 bytes). */
static guint64 vector_bytes(const DitModel *m)
{
    guint64 bytes = 0;
    for (guint i = 0; i < m->vecs->len; i++) {
        const DitVec *v = g_ptr_array_index(m->vecs, i);
        bytes += ((guint64)v->t->numel * sizeof(float) + 255) & ~(guint64)255;
    }
    return bytes;
}

guint64 dit_device_weight_bytes(const DitModel *m)
{
    guint64 bytes = vector_bytes(m);
    for (guint i = 0; i < m->lins->len; i++) {
        const DitLinear *l = g_ptr_array_index(m->lins, i);
        bytes += (guint64)l->w->numel * st_dtype_size(DIT_WEIGHT_DTYPE);
    }
    return bytes;
}

static DitBound *bound_new(DitModel *m, const FluxBackend *be, GError **error)
{
    DitBound *wb = g_new0(DitBound, 1);
    wb->be = be;
    wb->bc = be->ctx_new(vector_bytes(m), error);
    if (!wb->bc) {
        g_free(wb);
        return NULL;
    }
    wb->w = g_new0(FluxBackendWeight *, m->lins->len);
    wb->v = g_new0(const float *, m->vecs->len);
    gboolean ok = TRUE;
    for (guint i = 0; ok && i < m->vecs->len; i++) {
        const DitVec *v = g_ptr_array_index(m->vecs, i);
        float *p = be->alloc(wb->bc, (size_t)v->t->numel, error);
        if (p) be->upload(wb->bc, p, wt_f32(v->t), (size_t)v->t->numel);
        wb->v[i] = p;
        ok = p != NULL;
    }
    for (guint i = 0; ok && i < m->lins->len; i++) {
        const DitLinear *l = g_ptr_array_index(m->lins, i);
        wb->w[i] = be->weight_new(wb->bc, l->w, DIT_WEIGHT_DTYPE, error);
        ok = wb->w[i] != NULL;
    }
    if (ok && be->sync(wb->bc, error)) return wb;
    g_prefix_error(error, "transformer: weights on %s: ", be->name);
    bound_free(m, wb);
    return NULL;
}

/* The model's parameters on `be`, made on first use. */
static const DitBound *model_bound(DitModel *m, const FluxBackend *be, GError **error)
{
    g_mutex_lock(&m->bind_lock);
    int slot = -1;
    for (int i = 0; i < DIT_MAX_BACKENDS && slot < 0; i++)
        if (!m->bound[i] || m->bound[i]->be == be) slot = i;
    g_assert(slot >= 0); /* more backends than DIT_MAX_BACKENDS */
    if (!m->bound[slot]) m->bound[slot] = bound_new(m, be, error);
    const DitBound *wb = m->bound[slot];
    g_mutex_unlock(&m->bind_lock);
    return wb;
}

static gboolean model_is_bound(DitModel *m, const FluxBackend *be)
{
    g_mutex_lock(&m->bind_lock);
    gboolean found = FALSE;
    for (int i = 0; i < DIT_MAX_BACKENDS; i++)
        found = found || (m->bound[i] && m->bound[i]->be == be);
    g_mutex_unlock(&m->bind_lock);
    return found;
}

/* ------------------------------------------------------------------------------------- */
/* Context: one arena of activations in the backend, sized from (B, T_img, T_txt)          */

struct DitContext {
    DitModel *m;
    const FluxBackend *be;
    FluxBackendCtx *bc; /* the activations' arena */
    const DitBound *wb; /* the model's parameters on be */
    int B, T_img, T_txt, T;
    const FluxTrace *trace;  /* of the dit_forward running, else NULL */
    LoraLinear *lora;        /* LoRAs added to the linears (dit_context_set_lora), else NULL */
    DitBlockFunc block_done; /* after each block of a forward (dit_context_set_block_hook) */
    void *block_data;
    /* host side: what is computed on the CPU each step, before its upload */
    float *host;      /* one block holding the four below */
    float *h_tproj;   /* [B, 256] */
    float *h_cos;     /* [T, HD] */
    float *h_sin;     /* [T, HD] */
    float *h_ids;     /* [T, 3]  the ids rope_cos/sin were made from ([txt; img]) */
    gboolean rope_ok; /* rope_cos/sin hold h_ids' tables */
    /* backend memory, whole batch */
    float *in_hid;    /* [B, T_img, C_in]  the inputs, uploaded each step */
    float *in_enc;    /* [B, T_txt, J] */
    float *in_pooled; /* [B, P] */
    float *out;       /* [B, T_img, C_out] the output, downloaded each step */
    float *x;         /* [B, T, D]   the joint stream: text rows, then image rows, per sample */
    float *n;         /* [B, T, D]   LayerNorm(x)·(1 + scale) + shift: what a block works on */
    float *temb;      /* [B, D]      conditioning embedding */
    float *temb_act;  /* [B, D]      SiLU(temb): the input of every AdaLN linear */
    float *tproj;     /* [B, 256]    sinusoidal projection of timestep or guidance */
    float *emb_hid;   /* [B, D]      hidden layer of an embedder's MLP */
    float *emb_out;   /* [B, D]      one embedder's output, before it joins temb */
    float *mod_img;   /* [B, 6D]     AdaLN chunks: image stream, single blocks, norm_out */
    float *mod_txt;   /* [B, 6D]     AdaLN chunks: text stream */
    float *rope_cos;  /* [T, HD] */
    float *rope_sin;  /* [T, HD] */
    /* one sample at a time */
    float *q, *k, *v; /* [T, D] */
    float *attn;      /* [T, D]      double blocks: attention output, heads merged */
    float *mlp;       /* [T, F]      GELU(ff.net.0.proj(·)) or GELU(proj_mlp(·)) */
    float *cat;       /* [T, D + F]  single blocks: [attention | mlp] */
    float *proj;      /* [T, D]      a block's output projection, before its gate */
};

/* The size table: with `be`, assigns the buffers from the backend arena; returns the arena's
 * size in floats. Every buffer takes a multiple of 64 floats (256 bytes, the strictest arena
 * alignment), so the sum is what the allocations need. */
static guint64 context_layout(DitContext *c, GError **error)
{
    const DitConfig *cfg = &c->m->cfg;
    guint64 B = c->B, T = c->T, D = cfg->inner_dim, F = c->m->mlp_dim, HD = cfg->head_dim;
    struct {
        float **p;
        guint64 n;
    } slots[] = {
        {&c->in_hid, B * c->T_img * cfg->in_channels},
        {&c->in_enc, B * c->T_txt * cfg->joint_attention_dim},
        {&c->in_pooled, B * cfg->pooled_projection_dim},
        {&c->out, B * c->T_img * cfg->out_channels},
        {&c->x, B * T * D},
        {&c->n, B * T * D},
        {&c->temb, B * D},
        {&c->temb_act, B * D},
        {&c->tproj, B * DIT_TIME_CHANNELS},
        {&c->emb_hid, B * D},
        {&c->emb_out, B * D},
        {&c->mod_img, B * 6 * D},
        {&c->mod_txt, B * 6 * D},
        {&c->rope_cos, T * HD},
        {&c->rope_sin, T * HD},
        {&c->q, T * D},
        {&c->k, T * D},
        {&c->v, T * D},
        {&c->attn, T * D},
        {&c->mlp, T * F},
        {&c->cat, T * (D + F)},
        {&c->proj, T * D},
    };
    guint64 off = 0;
    for (gsize i = 0; i < G_N_ELEMENTS(slots); i++) {
        if (c->bc && !(*slots[i].p = c->be->alloc(c->bc, (size_t)slots[i].n, error))) return 0;
        off += (slots[i].n + 63) & ~(guint64)63;
    }
    return off;
}

static gboolean check_sizes(int B, int T_img, int T_txt, GError **error)
{
    const char *what = NULL;
    int v = 0, max = 0;
    if (B < 1 || B > DIT_MAX_BATCH)
        what = "batch size", v = B, max = DIT_MAX_BATCH;
    else if (T_img < 1 || T_img > DIT_MAX_T_IMG)
        what = "image tokens", v = T_img, max = DIT_MAX_T_IMG;
    else if (T_txt < 1 || T_txt > DIT_MAX_T_TXT)
        what = "text tokens", v = T_txt, max = DIT_MAX_T_TXT;
    if (!what) return TRUE;
    g_set_error(error, FLUX_ERROR, FLUX_ERROR_ARGUMENT, "transformer: %s is %d, expected 1..%d",
                what, v, max);
    return FALSE;
}

guint64 dit_context_bytes(const DitModel *m, int B, int T_img, int T_txt)
{
    if (!check_sizes(B, T_img, T_txt, NULL)) return 0;
    DitContext c = {.m = (DitModel *)m, .B = B, .T_img = T_img, .T_txt = T_txt, .T = T_img + T_txt};
    return context_layout(&c, NULL) * sizeof(float);
}

/* Device memory a context needs besides its arena: the cuda backend's scratch for GEMM inputs
 * rounded to BF16 (at most proj_out's cat [T, D + F]) or packed Q, K, V [3, T, D], and
 * cuBLAS's and the runtime's own (a margin). */
static guint64 device_extra_bytes(const DitContext *c)
{
    guint64 T = c->T, D = c->m->cfg.inner_dim, F = c->m->mlp_dim;
    return 2 * T * MAX(D + F, 3 * D) + 3 * 256 + ((guint64)256 << 20);
}

/* Refuses (FLUX_ERROR_NO_MEMORY) a backend with memory of its own that cannot hold the
 * weights (unless bound already), the arena and the scratch. Weights are not streamed per
 * block: the whole model must fit. */
static gboolean check_device_memory(DitContext *c, guint64 arena_bytes, GError **error)
{
    guint64 free_b, total_b;
    if (!c->be->mem_info(&free_b, &total_b)) return TRUE;
    guint64 weights = model_is_bound(c->m, c->be) ? 0 : dit_device_weight_bytes(c->m);
    guint64 act = arena_bytes + device_extra_bytes(c), need = weights + act;
    if (need <= free_b) return TRUE;
    const double GiB = 1024.0 * 1024.0 * 1024.0;
    g_set_error(error, FLUX_ERROR, FLUX_ERROR_NO_MEMORY,
                "transformer on %s: needs %.2f GiB of GPU memory (%.2f GiB of weights as BF16, "
                "%.2f GiB of activations for %d image and %d text tokens), but only %.2f GiB of "
                "%.2f GiB are free; weights are not streamed per block: use a smaller image, a "
                "GPU with more memory, or the cpu device",
                c->be->name, need / GiB, weights / GiB, act / GiB, c->T_img, c->T_txt, free_b / GiB,
                total_b / GiB);
    return FALSE;
}

/* The host staging block, the backend context and its arena, and the weights. */
static gboolean context_init(DitContext *c, guint64 arena_bytes, GError **error)
{
    const int HD = c->m->cfg.head_dim;
    size_t n_tproj = (size_t)c->B * DIT_TIME_CHANNELS, n_rope = (size_t)c->T * HD;
    c->host = g_try_new(float, n_tproj + 2 * n_rope + (size_t)c->T * 3);
    if (!c->host) {
        g_set_error(error, FLUX_ERROR, FLUX_ERROR_NO_MEMORY,
                    "transformer: cannot allocate the rotary tables for %d tokens", c->T);
        return FALSE;
    }
    c->h_tproj = c->host;
    c->h_cos = c->h_tproj + n_tproj;
    c->h_sin = c->h_cos + n_rope;
    c->h_ids = c->h_sin + n_rope;
    if (!(c->wb = model_bound(c->m, c->be, error))) return FALSE;
    if (arena_bytes > G_MAXSIZE || !(c->bc = c->be->ctx_new((size_t)arena_bytes, error)) ||
        !context_layout(c, error)) {
        if (error && !*error)
            g_set_error(error, FLUX_ERROR, FLUX_ERROR_NO_MEMORY, "%.1f MiB is too large",
                        arena_bytes / 1048576.0);
        g_prefix_error(error,
                       "transformer: activations for batch %d, %d image and %d text tokens: ", c->B,
                       c->T_img, c->T_txt);
        return FALSE;
    }
    return TRUE;
}

DitContext *dit_context_new_on(DitModel *m, const char *device, int B, int T_img, int T_txt,
                               GError **error)
{
    g_return_val_if_fail(m != NULL, NULL);
    if (!check_sizes(B, T_img, T_txt, error)) return NULL;
    gboolean automatic;
    const FluxBackend *be = flux_backend_resolve(device, &automatic, error);
    if (!be) return NULL;
    DitContext *c = g_new0(DitContext, 1);
    *c = (DitContext){.m = m, .be = be, .B = B, .T_img = T_img, .T_txt = T_txt, .T = T_img + T_txt};
    guint64 bytes = context_layout(c, NULL) * sizeof(float);
    GError *mem_err = NULL;
    if (!check_device_memory(c, bytes, &mem_err)) {
        if (!automatic) {
            g_propagate_error(error, mem_err);
            g_free(c);
            return NULL;
        }
        g_clear_error(&mem_err); /* "auto" chose a GPU too small for this model: the CPU */
        c->be = flux_backend_get("cpu", NULL);
    }
    if (!context_init(c, bytes, error)) {
        dit_context_free(c);
        return NULL;
    }
    return c;
}

DitContext *dit_context_new(DitModel *m, int B, int T_img, int T_txt, GError **error)
{
    return dit_context_new_on(m, "cpu", B, T_img, T_txt, error);
}

void dit_context_set_block_hook(DitContext *c, DitBlockFunc fn, void *user_data)
{
    c->block_done = fn;
    c->block_data = user_data;
}

void dit_context_free(DitContext *c)
{
    if (!c) return;
    lora_linear_free(c->lora);
    if (c->bc) c->be->ctx_free(c->bc);
    g_free(c->host);
    g_free(c);
}

gboolean dit_context_set_lora(DitContext *c, StArchive *lora, GError **error)
{
    lora_linear_free(c->lora);
    c->lora = NULL;
    if (!lora) return TRUE;
    GPtrArray *lins = c->m->lins;
    const StTensor **w = g_new(const StTensor *, lins->len);
    for (guint i = 0; i < lins->len; i++) w[i] = ((const DitLinear *)g_ptr_array_index(lins, i))->w;
    c->lora = lora_linear_new(c->be, lora, w, lins->len, DIT_WEIGHT_DTYPE, error);
    g_free(w);
    return c->lora != NULL;
}

StArchive *dit_archive(DitModel *m)
{
    return m->archive;
}

const char *dit_context_device(const DitContext *c)
{
    return c->be->describe(c->bc);
}

/* ------------------------------------------------------------------------------------- */
/* Small ops: the backend's, with the model's parameters                                 */

/* y [M, out] = x [M, in] · Wᵀ + b   (nn.Linear; in and out from the weight's shape) */
static void linear(const DitContext *c, float *y, const float *x, const DitLinear *l, int M)
{
    c->be->linear(c->bc, y, x, c->wb->w[l->id], c->wb->v[l->b.id], M);
    lora_linear_apply(c->lora, c->bc, (guint)l->id, y, x, M); /* + (x·Aᵀ)·Bᵀ with a LoRA */
}

/* y [n, D] = LayerNorm(x)·(1 + scale) + shift — the modulation of every AdaLN here
 * (LayerNorm eps 1e-6 without affine; scale, shift [D] from temb). y may equal x. */
static void modulate(const DitContext *c, float *y, const float *x, int n, const float *shift,
                     const float *scale)
{
    c->be->modulate(c->bc, y, x, shift, scale, n, c->m->cfg.inner_dim, DIT_NORM_EPS);
}

/* x [n, D] += gate [D] · y [n, D] — the gated residual of every block */
static void gated_add(const DitContext *c, float *x, const float *y, const float *gate, int n)
{
    c->be->gated_add(c->bc, x, y, gate, n, c->m->cfg.inner_dim);
}

/* ------------------------------------------------------------------------------------- */
/* Tracing (debug only: may allocate, waits for the backend)                             */

/* Emits rows [r0, r0 + n) of every sample of buf [B, rows, w] (backend memory) as [B, n, w]
 * (ndim 3) or, for n = 1, [B, w] (ndim 2). A failed download skips the trace: the error comes
 * back from the forward's own download. */
static void G_GNUC_PRINTF(8, 9) trace_rows(const DitContext *c, const float *buf, int rows, int r0,
                                           int n, int w, int ndim, const char *fmt, ...)
{
    if (!trace_on(c->trace)) return;
    size_t per = (size_t)n * w, stride = (size_t)rows * w;
    g_autofree float *tmp = g_new(float, (size_t)c->B *per);
    for (int b = 0; b < c->B; b++)
        if (!c->be->download(c->bc, tmp + b * per, buf + b * stride + (size_t)r0 * w, per, NULL))
            return;
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *name = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    int64_t shape3[3] = {c->B, n, w}, shape2[2] = {c->B, w};
    trace_f32(c->trace, tmp, ndim, ndim == 3 ? shape3 : shape2, "%s", name);
}

/* ------------------------------------------------------------------------------------- */
/* Embeddings                                                                            */

/* Timesteps(256, flip_sin_to_cos=True, downscale_freq_shift=0) of s·1000 (FluxTransformer2D-
 * Model.forward scales sigma and guidance by 1000): out [B, 256] = [cos(a_j) | sin(a_j)],
 * a_j = s·1000·exp(-ln(10000)·j/128). Float32 step by step, as get_timestep_embedding.
 * The arguments reach guidance·1000 (3500 rad and more), where one ulp of a frequency moves
 * sin/cos by ~1e-4: torch's exp/sin (MKL VML or SLEEF, CPU-dependent) and libm differ at that
 * level, which is why temb, and through it every output, differs from the golden by ~1e-5
 * (5e-6 relative) while the rest of the model agrees to ~5e-7 given the same temb.
 * Computed on the host (B·256 values) and uploaded. */
static void timestep_proj(float *out, const float *s, int B)
{
    const int half = DIT_TIME_CHANNELS / 2;
    const float neg_log_period = (float)-log(10000.0);
    for (int b = 0; b < B; b++) {
        float t = s[b] * 1000.0f;
        float *o = out + (size_t)b * DIT_TIME_CHANNELS;
        for (int j = 0; j < half; j++) {
            float freq = expf(neg_log_period * (float)j / (float)half);
            float arg = t * freq;
            o[j] = (float)cos((double)arg);
            o[half + j] = (float)sin((double)arg);
        }
    }
}

/* TimestepEmbedding and PixArtAlphaTextProjection(act "silu") share one shape:
 * out [B, D] = linear_2(SiLU(linear_1(x))), x [B, in]. */
static void embed_mlp(DitContext *c, float *out, const float *x, const DitLinear *l1,
                      const DitLinear *l2)
{
    linear(c, c->emb_hid, x, l1, c->B);
    c->be->silu(c->bc, c->emb_hid, (size_t)c->B * c->m->cfg.inner_dim);
    linear(c, out, c->emb_hid, l2, c->B);
}

/* sinusoidal projection of s [B] into tproj [B, 256] (backend) */
static void upload_proj(DitContext *c, const float *s)
{
    timestep_proj(c->h_tproj, s, c->B);
    c->be->upload(c->bc, c->tproj, c->h_tproj, (size_t)c->B * DIT_TIME_CHANNELS);
}

/* CombinedTimestepGuidanceTextProjEmbeddings (guidance_embeds) or CombinedTimestepTextProj-
 * Embeddings: temb [B, D] = (time_emb + guidance_emb) + text_emb, with pooled in in_pooled. */
static void time_text_embed(DitContext *c, const float *timestep, const float *guidance)
{
    const DitModel *m = c->m;
    const int D = m->cfg.inner_dim;
    size_t n = (size_t)c->B * D;
    upload_proj(c, timestep);
    embed_mlp(c, c->temb, c->tproj, &m->time_1, &m->time_2);
    if (m->cfg.guidance_embeds) {
        upload_proj(c, guidance); /* queued after the time embedder's reads of tproj */
        embed_mlp(c, c->emb_out, c->tproj, &m->guid_1, &m->guid_2);
        c->be->add(c->bc, c->temb, c->emb_out, n);
    }
    embed_mlp(c, c->emb_out, c->in_pooled, &m->text_1, &m->text_2);
    c->be->add(c->bc, c->temb, c->emb_out, n);
    /* every AdaLN of the model starts with SiLU(temb): once here instead of 2·19 + 38 + 1 times */
    c->be->copy_columns(c->bc, c->temb_act, D, c->temb, D, D, c->B);
    c->be->silu(c->bc, c->temb_act, n);
}

/* FluxPosEmbed: ids = [txt_ids; img_ids] [T, 3] → rope_cos, rope_sin [T, HD]. Axis a gives
 * d_a/2 angles id[a]·ω_j (float64, then cast to float); each cos/sin is repeat-interleaved, so
 * columns 2p and 2p+1 hold pair p's value. Computed on the host and uploaded only when the
 * ids differ from the previous call's (they are the same at every step of a run). */
static void pos_embed(DitContext *c, const float *txt_ids, const float *img_ids)
{
    const DitConfig *cfg = &c->m->cfg;
    const int HD = cfg->head_dim;
    const size_t n_txt = (size_t)c->T_txt * 3, n_img = (size_t)c->T_img * 3;
    if (c->rope_ok && memcmp(c->h_ids, txt_ids, n_txt * sizeof(float)) == 0 &&
        memcmp(c->h_ids + n_txt, img_ids, n_img * sizeof(float)) == 0)
        return;
    memcpy(c->h_ids, txt_ids, n_txt * sizeof(float));
    memcpy(c->h_ids + n_txt, img_ids, n_img * sizeof(float));
    for (int t = 0; t < c->T; t++) {
        const float *id = c->h_ids + (size_t)t * 3;
        float *cr = c->h_cos + (size_t)t * HD, *sr = c->h_sin + (size_t)t * HD;
        int p = 0;
        for (int a = 0; a < 3; a++)
            for (int j = 0; j < cfg->axes_dims_rope[a] / 2; j++, p++) {
                double angle = (double)id[a] * c->m->rope_omega[p];
                cr[2 * p] = cr[2 * p + 1] = (float)cos(angle);
                sr[2 * p] = sr[2 * p + 1] = (float)sin(angle);
            }
    }
    c->be->upload(c->bc, c->rope_cos, c->h_cos, (size_t)c->T * HD);
    c->be->upload(c->bc, c->rope_sin, c->h_sin, (size_t)c->T * HD);
    c->rope_ok = TRUE;
}

/* ------------------------------------------------------------------------------------- */
/* Attention                                                                             */

/* FluxAttnProcessor2_0 for one sample, self-attention over the joint sequence n [T, D].
 * Double blocks project the text rows with `txt` (add_q/k/v_proj, norm_added_q/k) and the
 * image rows with `img` (to_q/k/v, norm_q/k); single blocks pass txt = NULL and project every
 * row with `img`. Output: heads merged, out [T, ldo] columns 0..D-1 (the output projection,
 * if any, is the caller's). */
static void attention(DitContext *c, const DitAttn *txt, const DitAttn *img, const float *n,
                      float *out, int ldo)
{
    const DitConfig *cfg = &c->m->cfg;
    const int D = cfg->inner_dim, NH = cfg->num_heads, HD = cfg->head_dim, T = c->T;
    /* row ranges [r0, r0 + nr) and their weights: text then image, or everything */
    const int nseg = txt ? 2 : 1;
    const DitAttn *w[2] = {txt ? txt : img, img};
    const int r0[2] = {0, c->T_txt}, nr[2] = {txt ? c->T_txt : T, c->T_img};

    /* 1. Q, K, V projection: q, k, v [T, D] */
    for (int s = 0; s < nseg; s++) {
        size_t o = (size_t)r0[s] * D;
        linear(c, c->q + o, n + o, &w[s]->to_q, nr[s]);
        linear(c, c->k + o, n + o, &w[s]->to_k, nr[s]);
        linear(c, c->v + o, n + o, &w[s]->to_v, nr[s]);
    }
    /* 2. split heads: [T, D] is [T, NH, HD] with head h at columns h·HD.. — a view */
    /* 3. QK RMSNorm over HD of every (token, head): [T·NH, HD] rows */
    for (int s = 0; s < nseg; s++) {
        size_t o = (size_t)r0[s] * D;
        const float *gq = c->wb->v[w[s]->norm_q.id], *gk = c->wb->v[w[s]->norm_k.id];
        c->be->rmsnorm(c->bc, c->q + o, c->q + o, gq, nr[s] * NH, HD, DIT_NORM_EPS);
        c->be->rmsnorm(c->bc, c->k + o, c->k + o, gk, nr[s] * NH, HD, DIT_NORM_EPS);
    }
    /* 4. RoPE on q and k with rope_cos, rope_sin [T, HD] (apply_rotary_emb: each head's pairs
     *    (re, im) = (x[2i], x[2i+1]) become x·cos + rotated·sin with rotated = (-im, re)), and
     * 5. softmax(q kᵀ / √HD) v per head, flash style: no [T, T] matrix. One backend call: the
     *    cuda backend applies RoPE while packing Q and K to BF16 for its tensor-core kernel. */
    OpsAttnShape shape = {.Tq = T,
                          .Tk = T,
                          .NH = NH,
                          .HD = HD,
                          .ldq = D,
                          .ldk = D,
                          .ldv = D,
                          .ldo = ldo,
                          .scale = (float)(1.0 / sqrt((double)HD))};
    c->be->attention(c->bc, out, c->q, c->k, c->v, &shape, c->rope_cos, c->rope_sin, ST_BF16);
    /* 6. merge heads: out [T, NH·HD] is already in that layout */
}

/* ------------------------------------------------------------------------------------- */
/* Blocks                                                                                */

/* FeedForward(activation_fn "gelu-approximate"): y [n, D] = net.2(GELU_tanh(net.0.proj(x))),
 * x [n, D], hidden mlp [n, F]. */
static void feed_forward(DitContext *c, float *y, const float *x, const DitStream *w, int n)
{
    linear(c, c->mlp, x, &w->ff1, n);
    c->be->gelu_tanh(c->bc, c->mlp, (size_t)n * c->m->mlp_dim);
    linear(c, y, c->mlp, &w->ff2, n);
}

/* The rest of FluxTransformerBlock.forward for one stream (n rows) of one sample, after the
 * joint attention:
 *   x += gate_msa · to_out(attn)
 *   x += gate_mlp · ff(norm2(x)·(1 + scale_mlp) + shift_mlp)
 * mod [6D] holds this stream's AdaLayerNormZero chunks; h [n, D] is free scratch (the rows of
 * norm1's output, consumed by the attention). */
static void stream_update(DitContext *c, const DitStream *w, float *x, float *h, const float *attn,
                          const float *mod, int n)
{
    const int D = c->m->cfg.inner_dim;
    const float *gate_msa = mod + 2 * D, *shift_mlp = mod + 3 * D, *scale_mlp = mod + 4 * D,
                *gate_mlp = mod + 5 * D;
    linear(c, c->proj, attn, &w->to_out, n); /* [n, D] */
    gated_add(c, x, c->proj, gate_msa, n);
    modulate(c, h, x, n, shift_mlp, scale_mlp);
    feed_forward(c, c->proj, h, w, n); /* [n, D] */
    gated_add(c, x, c->proj, gate_mlp, n);
}

/* FluxTransformerBlock.forward (double stream) for every sample: text and image rows keep
 * their own weights but attend to each other. */
static void double_block(DitContext *c, const DitDoubleBlock *blk, int index)
{
    const int D = c->m->cfg.inner_dim, T = c->T, T_txt = c->T_txt, T_img = c->T_img;
    const size_t img_off = (size_t)T_txt * D;
    /* norm1, norm1_context (AdaLayerNormZero): mod [B, 6D] per stream =
     * shift_msa | scale_msa | gate_msa | shift_mlp | scale_mlp | gate_mlp */
    linear(c, c->mod_img, c->temb_act, &blk->img.norm1, c->B);
    linear(c, c->mod_txt, c->temb_act, &blk->txt.norm1, c->B);
    for (int b = 0; b < c->B; b++) {
        const float *mi = c->mod_img + (size_t)b * 6 * D, *mt = c->mod_txt + (size_t)b * 6 * D;
        size_t s = (size_t)b * T * D;
        modulate(c, c->n + s + img_off, c->x + s + img_off, T_img, mi, mi + D); /* [T_img, D] */
        modulate(c, c->n + s, c->x + s, T_txt, mt, mt + D);                     /* [T_txt, D] */
    }
    trace_rows(c, c->n, T, T_txt, T_img, D, 3, "double_block.%d.norm1.norm_x", index);
    static const char *const returned[4] = {"gate_msa", "shift_mlp", "scale_mlp", "gate_mlp"};
    for (int k = 0; k < 4; k++) /* chunks 2..5 of mod [B, 6, D] */
        trace_rows(c, c->mod_img, 6, 2 + k, 1, D, 2, "double_block.%d.norm1.%s", index,
                   returned[k]);

    for (int b = 0; b < c->B; b++) {
        float *x = c->x + (size_t)b * T * D, *n = c->n + (size_t)b * T * D;
        /* joint attention over [txt; img]: attn [T, D] */
        attention(c, &blk->txt.attn, &blk->img.attn, n, c->attn, D);
        /* per stream: to_out / to_add_out, feed-forward, gated residuals */
        stream_update(c, &blk->img, x + img_off, n + img_off, c->attn + img_off,
                      c->mod_img + (size_t)b * 6 * D, T_img);
        stream_update(c, &blk->txt, x, n, c->attn, c->mod_txt + (size_t)b * 6 * D, T_txt);
    }
    trace_rows(c, c->x, T, 0, T_txt, D, 3, "double_block.%d.encoder_hidden_states", index);
    trace_rows(c, c->x, T, T_txt, T_img, D, 3, "double_block.%d.hidden_states", index);
}

/* FluxSingleTransformerBlock.forward for every sample; x [T, D] is the joint [txt; img]
 * stream and also the residual (updated in place). */
static void single_block(DitContext *c, const DitSingleBlock *blk, int index)
{
    const int D = c->m->cfg.inner_dim, F = c->m->mlp_dim, T = c->T;
    /* AdaLayerNormZeroSingle: mod [B, 3D] = shift | scale | gate */
    linear(c, c->mod_img, c->temb_act, &blk->norm, c->B);
    for (int b = 0; b < c->B; b++) {
        float *x = c->x + (size_t)b * T * D, *n = c->n + (size_t)b * T * D;
        const float *mod = c->mod_img + (size_t)b * 3 * D;
        const float *shift = mod, *scale = mod + D, *gate = mod + 2 * D;
        /* 1. adaptive norm: n [T, D] */
        modulate(c, n, x, T, shift, scale);
        /* 2. attention and MLP side by side, both into cat [T, D + F] */
        attention(c, NULL, &blk->attn, n, c->cat, D + F); /* cat[:, :D] [T, D] */
        linear(c, c->mlp, n, &blk->proj_mlp, T);          /* [T, F] */
        c->be->gelu_tanh(c->bc, c->mlp, (size_t)T * F);
        /* 3. concat + projection: proj [T, D] */
        c->be->copy_columns(c->bc, c->cat + D, D + F, c->mlp, F, F, T); /* cat[:, D:] = mlp */
        linear(c, c->proj, c->cat, &blk->proj_out, T);
        /* 4. gate + residual */
        gated_add(c, x, c->proj, gate, T);
    }
    trace_rows(c, c->x, T, 0, T, D, 3, "single_block.%d", index);
}

/* ------------------------------------------------------------------------------------- */
/* Forward                                                                               */

static gboolean check_inputs(const DitContext *c, const float *hidden, const float *encoder_hidden,
                             const float *pooled, const float *timestep, const float *guidance,
                             const float *img_ids, const float *txt_ids, const float *out,
                             GError **error)
{
    const char *missing = !hidden           ? "hidden_states"
                          : !encoder_hidden ? "encoder_hidden_states"
                          : !pooled         ? "pooled_projections"
                          : !timestep       ? "timestep"
                          : !img_ids        ? "img_ids"
                          : !txt_ids        ? "txt_ids"
                          : !out            ? "output"
                          : (!guidance && c->m->cfg.guidance_embeds)
                              ? "guidance (the model has guidance_embeds)"
                              : NULL;
    if (missing) {
        g_set_error(error, FLUX_ERROR, FLUX_ERROR_ARGUMENT, "transformer: %s is NULL", missing);
        return FALSE;
    }
    for (int b = 0; b < c->B; b++) {
        gboolean bad_g = c->m->cfg.guidance_embeds && !isfinite(guidance[b]);
        if (!isfinite(timestep[b]) || bad_g) {
            g_set_error(error, FLUX_ERROR, FLUX_ERROR_ARGUMENT,
                        "transformer: %s[%d] is %g, expected a finite number",
                        bad_g ? "guidance" : "timestep", b, bad_g ? guidance[b] : timestep[b]);
            return FALSE;
        }
    }
    return TRUE;
}

gboolean dit_forward(DitContext *c, const float *hidden, const float *encoder_hidden,
                     const float *pooled, const float *timestep, const float *guidance,
                     const float *img_ids, const float *txt_ids, float *out, const FluxTrace *trace,
                     GError **error)
{
    g_return_val_if_fail(c != NULL, FALSE);
    if (!check_inputs(c, hidden, encoder_hidden, pooled, timestep, guidance, img_ids, txt_ids, out,
                      error))
        return FALSE;
    const DitModel *m = c->m;
    const DitConfig *cfg = &m->cfg;
    const FluxBackend *be = c->be;
    const int B = c->B, T = c->T, T_txt = c->T_txt, T_img = c->T_img, D = cfg->inner_dim;
    const size_t img_off = (size_t)T_txt * D;
    const size_t n_hid = (size_t)T_img * cfg->in_channels,
                 n_enc = (size_t)T_txt * cfg->joint_attention_dim,
                 n_out = (size_t)T_img * cfg->out_channels;
    c->trace = trace;

    /* 0. the inputs into the backend (a copy on the cpu) */
    be->upload(c->bc, c->in_hid, hidden, B * n_hid);
    be->upload(c->bc, c->in_enc, encoder_hidden, B * n_enc);
    be->upload(c->bc, c->in_pooled, pooled, (size_t)B * cfg->pooled_projection_dim);

    /* 1. embeddings into the joint stream x [B, T, D] (per sample: text rows, image rows) */
    for (int b = 0; b < B; b++) {
        float *x = c->x + (size_t)b * T * D;
        linear(c, x + img_off, c->in_hid + b * n_hid, &m->x_embedder, T_img); /* → [T_img, D] */
        linear(c, x, c->in_enc + b * n_enc, &m->context_embedder, T_txt);     /* → [T_txt, D] */
    }
    time_text_embed(c, timestep, guidance); /* temb [B, D] */
    trace_rows(c, c->x, T, T_txt, T_img, D, 3, "x_embedder");
    trace_rows(c, c->x, T, 0, T_txt, D, 3, "context_embedder");
    trace_rows(c, c->temb, 1, 0, 1, D, 2, "temb");

    /* 2. rotary position embedding: ids = [txt_ids; img_ids] [T, 3] → cos, sin [T, HD] */
    pos_embed(c, txt_ids, img_ids);
    int64_t rope_shape[2] = {T, cfg->head_dim};
    trace_f32(trace, c->h_cos, 2, rope_shape, "rope_cos");
    trace_f32(trace, c->h_sin, 2, rope_shape, "rope_sin");

    /* 3. double blocks × num_layers: x [B, T, D], text and image rows apart */
    const int n_blocks = cfg->num_layers + cfg->num_single_layers;
    for (int i = 0; i < cfg->num_layers; i++) {
        double_block(c, &m->dbl[i], i);
        if (c->block_done) c->block_done(i + 1, n_blocks, c->block_data);
    }

    /* 4. concat [txt; img] → [B, T, D]: nothing to do, x already holds them in that order */

    /* single blocks × num_single_layers: x [B, T, D] as one sequence */
    for (int i = 0; i < cfg->num_single_layers; i++) {
        single_block(c, &m->sgl[i], i);
        if (c->block_done) c->block_done(cfg->num_layers + i + 1, n_blocks, c->block_data);
    }

    /* 5. the image part: rows [T_txt, T) of each sample, [B, T_img, D] */

    /* 6. norm_out (AdaLayerNormContinuous: mod [B, 2D] = scale | shift, in that order), then
     *    proj_out [T_img, D] → out [T_img, C_out] per sample */
    linear(c, c->mod_img, c->temb_act, &m->norm_out, B);
    for (int b = 0; b < B; b++) {
        const float *scale = c->mod_img + (size_t)b * 2 * D, *shift = scale + D;
        size_t s = (size_t)b * T * D + img_off;
        modulate(c, c->n + s, c->x + s, T_img, shift, scale);
    }
    trace_rows(c, c->n, T, T_txt, T_img, D, 3, "norm_out");
    for (int b = 0; b < B; b++)
        linear(c, c->out + b * n_out, c->n + (size_t)b * T * D + img_off, &m->proj_out, T_img);
    c->trace = NULL;
    /* 7. the output back: waits for the queued work and reports its first failure */
    if (!be->download(c->bc, out, c->out, B * n_out, error)) {
        c->rope_ok = FALSE; /* a failed upload may have left the tables incomplete */
        g_prefix_error(error, "transformer: ");
        return FALSE;
    }
    return TRUE;
}
