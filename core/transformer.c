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

#include "config.h"
#include "ops.h"
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

/* ------------------------------------------------------------------------------------- */
/* Weights                                                                               */

typedef struct {
    const StTensor *w; /* nn.Linear weight [out, in], mapped (F32/F16/BF16) */
    const StTensor *b; /* bias [out], float32 copy via wt_f32 */
} DitLinear;

/* The projections of Attention in FluxAttnProcessor2_0 (to_q/k/v + norm_q/k, or the text
 * side's add_q/k/v_proj + norm_added_q/k). */
typedef struct {
    DitLinear to_q, to_k, to_v;      /* [D, D] */
    const StTensor *norm_q, *norm_k; /* RMSNorm scales [HD] */
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
    {name ".bias", offsetof(S, field.b), 1, {n_out}, WT_F32}
#define SCALE(S, name, field, n) {name ".weight", offsetof(S, field), 1, {n}, WT_F32}
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
    if (n == 0) { /* diffusers' default (16, 56, 56) when absent or null */
        axes[0] = 16;
        axes[1] = 56;
        axes[2] = 56;
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
    m->archive = archive; /* owned from here on, failure included */
    if (!read_config(cfg, &m->cfg, error)) goto fail;
    m->mlp_dim = 4 * m->cfg.inner_dim;
    if (!bind_weights(m, error)) goto fail;
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

void dit_free(DitModel *m)
{
    if (!m) return;
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
/* Context: one arena of scratch, sized from (B, T_img, T_txt)                            */

struct DitContext {
    const DitModel *m;
    int B, T_img, T_txt, T;
    const FluxTrace *trace; /* of the dit_forward running, else NULL */
    float *arena;
    /* whole batch */
    float *x;        /* [B, T, D]   the joint stream: text rows, then image rows, per sample */
    float *n;        /* [B, T, D]   LayerNorm(x)·(1 + scale) + shift: what a block works on */
    float *temb;     /* [B, D]      conditioning embedding */
    float *temb_act; /* [B, D]      SiLU(temb): the input of every AdaLN linear */
    float *tproj;    /* [B, 256]    sinusoidal projection of timestep or guidance */
    float *emb_hid;  /* [B, D]      hidden layer of an embedder's MLP */
    float *emb_out;  /* [B, D]      one embedder's output, before it joins temb */
    float *mod_img;  /* [B, 6D]     AdaLN chunks: image stream, single blocks, norm_out */
    float *mod_txt;  /* [B, 6D]     AdaLN chunks: text stream */
    float *rope_cos; /* [T, HD] */
    float *rope_sin; /* [T, HD] */
    /* one sample at a time */
    float *q, *k, *v; /* [T, D] */
    float *attn;      /* [T, D]      double blocks: attention output, heads merged */
    float *mlp;       /* [T, F]      GELU(ff.net.0.proj(·)) or GELU(proj_mlp(·)) */
    float *cat;       /* [T, D + F]  single blocks: [attention | mlp] */
    float *proj;      /* [T, D]      a block's output projection, before its gate */
};

/* The size table: assigns the buffers inside `base` (when non-NULL) and returns the number of
 * floats; buffer offsets are multiples of 16 floats (64 bytes). */
static guint64 context_layout(DitContext *c, float *base)
{
    const DitConfig *cfg = &c->m->cfg;
    guint64 B = c->B, T = c->T, D = cfg->inner_dim, F = c->m->mlp_dim, HD = cfg->head_dim;
    struct {
        float **p;
        guint64 n;
    } slots[] = {
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
        if (base) *slots[i].p = base + off;
        off += (slots[i].n + 15) & ~(guint64)15;
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
    DitContext c = {.m = m, .B = B, .T_img = T_img, .T_txt = T_txt, .T = T_img + T_txt};
    return context_layout(&c, NULL) * sizeof(float);
}

DitContext *dit_context_new(const DitModel *m, int B, int T_img, int T_txt, GError **error)
{
    if (!check_sizes(B, T_img, T_txt, error)) return NULL;
    DitContext *c = g_new0(DitContext, 1);
    *c = (DitContext){.m = m, .B = B, .T_img = T_img, .T_txt = T_txt, .T = T_img + T_txt};
    guint64 bytes = context_layout(c, NULL) * sizeof(float);
    c->arena = bytes <= G_MAXSIZE ? g_try_malloc((gsize)bytes) : NULL;
    if (!c->arena) {
        g_set_error(error, FLUX_ERROR, FLUX_ERROR_NO_MEMORY,
                    "transformer: cannot allocate %.1f MiB of scratch for batch %d, %d image "
                    "and %d text tokens",
                    bytes / 1048576.0, B, T_img, T_txt);
        g_free(c);
        return NULL;
    }
    context_layout(c, c->arena);
    return c;
}

void dit_context_free(DitContext *c)
{
    if (!c) return;
    g_free(c->arena);
    g_free(c);
}

/* ------------------------------------------------------------------------------------- */
/* Small ops                                                                             */

/* y [M, out] = x [M, in] · Wᵀ + b   (nn.Linear; in and out from the weight's shape) */
static void linear(float *y, const float *x, const DitLinear *l, int M)
{
    ops_linear(y, x, l->w, wt_f32(l->b), M, (int)l->w->shape[1], (int)l->w->shape[0]);
}

/* x [n] += y [n] */
static void add(float *x, const float *y, size_t n)
{
    for (size_t i = 0; i < n; i++) x[i] += y[i];
}

/* Elementwise work over [n, D] rows is split over the ops threads once it is big enough
 * (at FLUX.1 sizes a modulation touches 4608 × 3072 values, ~60 times per step). */
#define DIT_PAR_MIN (1u << 16)

typedef struct {
    float *y;
    const float *x, *a, *b; /* modulate: a = shift, b = scale; gated_add: a = gate */
    int D;
} DitRowJob;

static void par_rows(size_t n, size_t width, void (*fn)(void *, size_t, size_t), DitRowJob *job)
{
    if (n * width < DIT_PAR_MIN)
        fn(job, 0, n);
    else
        ops_parallel_for(n, fn, job);
}

static void modulate_rows(void *ctx, size_t begin, size_t end)
{
    const DitRowJob *j = ctx;
    const int D = j->D;
    float *y = j->y + begin * D;
    ops_layernorm(y, j->x + begin * D, NULL, NULL, (int)(end - begin), D, DIT_NORM_EPS);
    for (size_t r = begin; r < end; r++, y += D)
        for (int d = 0; d < D; d++) y[d] = y[d] * (1.0f + j->b[d]) + j->a[d];
}

/* y [n, D] = LayerNorm(x)·(1 + scale) + shift — the modulation of every AdaLN here
 * (LayerNorm eps 1e-6 without affine; scale, shift [D] from temb). y may equal x. */
static void modulate(float *y, const float *x, int n, int D, const float *shift, const float *scale)
{
    DitRowJob job = {.y = y, .x = x, .a = shift, .b = scale, .D = D};
    par_rows((size_t)n, (size_t)D, modulate_rows, &job);
}

static void gated_add_rows(void *ctx, size_t begin, size_t end)
{
    const DitRowJob *j = ctx;
    const int D = j->D;
    for (size_t r = begin; r < end; r++) {
        float *xr = j->y + r * D;
        const float *yr = j->x + r * D;
        for (int d = 0; d < D; d++) xr[d] += j->a[d] * yr[d];
    }
}

/* x [n, D] += gate [D] · y [n, D] — the gated residual of every block */
static void gated_add(float *x, const float *y, const float *gate, int n, int D)
{
    DitRowJob job = {.y = x, .x = y, .a = gate, .D = D};
    par_rows((size_t)n, (size_t)D, gated_add_rows, &job);
}

static void gelu_chunk(void *ctx, size_t begin, size_t end)
{
    ops_gelu_tanh((float *)ctx + begin, end - begin);
}

/* GELU(approximate="tanh") in place. T × F values per block make it the largest elementwise
 * op of the model. */
static void gelu(float *x, size_t n)
{
    if (n < DIT_PAR_MIN)
        ops_gelu_tanh(x, n);
    else
        ops_parallel_for(n, gelu_chunk, x);
}

/* dst [n, ldd] columns 0..w-1 = src [n, w] */
static void copy_columns(float *dst, int ldd, const float *src, int w, int n)
{
    for (int r = 0; r < n; r++)
        memcpy(dst + (size_t)r * ldd, src + (size_t)r * w, sizeof(float) * (size_t)w);
}

/* ------------------------------------------------------------------------------------- */
/* Tracing (debug only: may allocate)                                                    */

/* Emits rows [r0, r0 + n) of every sample of buf [B, rows, w] as [B, n, w] (ndim 3) or, for
 * n = 1, [B, w] (ndim 2). Copies when those rows are not contiguous (B > 1, partial range). */
static void G_GNUC_PRINTF(8, 9) trace_rows(const DitContext *c, const float *buf, int rows, int r0,
                                           int n, int w, int ndim, const char *fmt, ...)
{
    if (!trace_on(c->trace)) return;
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *name = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    size_t per = (size_t)n * w, stride = (size_t)rows * w;
    const float *data = buf + (size_t)r0 * w;
    g_autofree float *tmp = NULL;
    if (c->B > 1 && per != stride) {
        tmp = g_new(float, (size_t)c->B *per);
        for (int b = 0; b < c->B; b++)
            memcpy(tmp + b * per, data + b * stride, sizeof(float) * per);
        data = tmp;
    }
    int64_t shape3[3] = {c->B, n, w}, shape2[2] = {c->B, w};
    trace_f32(c->trace, data, ndim, ndim == 3 ? shape3 : shape2, "%s", name);
}

/* ------------------------------------------------------------------------------------- */
/* Embeddings                                                                            */

/* Timesteps(256, flip_sin_to_cos=True, downscale_freq_shift=0) of s·1000 (FluxTransformer2D-
 * Model.forward scales sigma and guidance by 1000): out [B, 256] = [cos(a_j) | sin(a_j)],
 * a_j = s·1000·exp(-ln(10000)·j/128). Float32 step by step, as get_timestep_embedding.
 * The arguments reach guidance·1000 (3500 rad and more), where one ulp of a frequency moves
 * sin/cos by ~1e-4: torch's exp/sin (MKL VML or SLEEF, CPU-dependent) and libm differ at that
 * level, which is why temb, and through it every output, differs from the golden by ~1e-5
 * (5e-6 relative) while the rest of the model agrees to ~5e-7 given the same temb. */
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
    linear(c->emb_hid, x, l1, c->B);
    ops_silu(c->emb_hid, (size_t)c->B * c->m->cfg.inner_dim);
    linear(out, c->emb_hid, l2, c->B);
}

/* CombinedTimestepGuidanceTextProjEmbeddings (guidance_embeds) or CombinedTimestepTextProj-
 * Embeddings: temb [B, D] = (time_emb + guidance_emb) + text_emb. */
static void time_text_embed(DitContext *c, const float *timestep, const float *guidance,
                            const float *pooled)
{
    const DitModel *m = c->m;
    size_t n = (size_t)c->B * m->cfg.inner_dim;
    timestep_proj(c->tproj, timestep, c->B);
    embed_mlp(c, c->temb, c->tproj, &m->time_1, &m->time_2);
    if (m->cfg.guidance_embeds) {
        timestep_proj(c->tproj, guidance, c->B);
        embed_mlp(c, c->emb_out, c->tproj, &m->guid_1, &m->guid_2);
        add(c->temb, c->emb_out, n);
    }
    embed_mlp(c, c->emb_out, pooled, &m->text_1, &m->text_2);
    add(c->temb, c->emb_out, n);
    /* every AdaLN of the model starts with SiLU(temb): once here instead of 2·19 + 38 + 1 times */
    memcpy(c->temb_act, c->temb, sizeof(float) * n);
    ops_silu(c->temb_act, n);
}

/* FluxPosEmbed: ids = [txt_ids; img_ids] [T, 3] → rope_cos, rope_sin [T, HD]. Axis a gives
 * d_a/2 angles id[a]·ω_j (float64, then cast to float); each cos/sin is repeat-interleaved, so
 * columns 2p and 2p+1 hold pair p's value. */
static void pos_embed(DitContext *c, const float *txt_ids, const float *img_ids)
{
    const DitConfig *cfg = &c->m->cfg;
    const int HD = cfg->head_dim;
    for (int t = 0; t < c->T; t++) {
        const float *id =
            t < c->T_txt ? txt_ids + (size_t)t * 3 : img_ids + (size_t)(t - c->T_txt) * 3;
        float *cr = c->rope_cos + (size_t)t * HD, *sr = c->rope_sin + (size_t)t * HD;
        int p = 0;
        for (int a = 0; a < 3; a++)
            for (int j = 0; j < cfg->axes_dims_rope[a] / 2; j++, p++) {
                double angle = (double)id[a] * c->m->rope_omega[p];
                cr[2 * p] = cr[2 * p + 1] = (float)cos(angle);
                sr[2 * p] = sr[2 * p + 1] = (float)sin(angle);
            }
    }
}

/* apply_rotary_emb(use_real, unbind_dim -1) on x [T, NH·HD] in place: each head's pairs
 * (re, im) = (x[2i], x[2i+1]) become x·cos + rotated·sin with rotated = (-im, re). */
static void apply_rope(float *x, const float *cos_t, const float *sin_t, int T, int NH, int HD)
{
    for (int t = 0; t < T; t++) {
        const float *cr = cos_t + (size_t)t * HD, *sr = sin_t + (size_t)t * HD;
        for (int h = 0; h < NH; h++) {
            float *p = x + ((size_t)t * NH + h) * HD;
            for (int i = 0; i < HD; i += 2) {
                float re = p[i], im = p[i + 1];
                p[i] = re * cr[i] - im * sr[i];
                p[i + 1] = im * cr[i + 1] + re * sr[i + 1];
            }
        }
    }
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
        linear(c->q + o, n + o, &w[s]->to_q, nr[s]);
        linear(c->k + o, n + o, &w[s]->to_k, nr[s]);
        linear(c->v + o, n + o, &w[s]->to_v, nr[s]);
    }
    /* 2. split heads: [T, D] is [T, NH, HD] with head h at columns h·HD.. — a view */
    /* 3. QK RMSNorm over HD of every (token, head): [T·NH, HD] rows */
    for (int s = 0; s < nseg; s++) {
        size_t o = (size_t)r0[s] * D;
        ops_rmsnorm(c->q + o, c->q + o, wt_f32(w[s]->norm_q), nr[s] * NH, HD, DIT_NORM_EPS);
        ops_rmsnorm(c->k + o, c->k + o, wt_f32(w[s]->norm_k), nr[s] * NH, HD, DIT_NORM_EPS);
    }
    /* 4. RoPE on q and k with rope_cos, rope_sin [T, HD] */
    apply_rope(c->q, c->rope_cos, c->rope_sin, T, NH, HD);
    apply_rope(c->k, c->rope_cos, c->rope_sin, T, NH, HD);
    /* 5. softmax(q kᵀ / √HD) v per head, flash style: no [T, T] matrix */
    OpsAttnShape shape = {.Tq = T,
                          .Tk = T,
                          .NH = NH,
                          .HD = HD,
                          .ldq = D,
                          .ldk = D,
                          .ldv = D,
                          .ldo = ldo,
                          .scale = (float)(1.0 / sqrt((double)HD))};
    ops_attention(out, c->q, c->k, c->v, &shape);
    /* 6. merge heads: out [T, NH·HD] is already in that layout */
}

/* ------------------------------------------------------------------------------------- */
/* Blocks                                                                                */

/* FeedForward(activation_fn "gelu-approximate"): y [n, D] = net.2(GELU_tanh(net.0.proj(x))),
 * x [n, D], hidden mlp [n, F]. */
static void feed_forward(DitContext *c, float *y, const float *x, const DitStream *w, int n)
{
    linear(c->mlp, x, &w->ff1, n);
    gelu(c->mlp, (size_t)n * c->m->mlp_dim);
    linear(y, c->mlp, &w->ff2, n);
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
    linear(c->proj, attn, &w->to_out, n); /* [n, D] */
    gated_add(x, c->proj, gate_msa, n, D);
    modulate(h, x, n, D, shift_mlp, scale_mlp);
    feed_forward(c, c->proj, h, w, n); /* [n, D] */
    gated_add(x, c->proj, gate_mlp, n, D);
}

/* FluxTransformerBlock.forward (double stream) for every sample: text and image rows keep
 * their own weights but attend to each other. */
static void double_block(DitContext *c, const DitDoubleBlock *blk, int index)
{
    const int D = c->m->cfg.inner_dim, T = c->T, T_txt = c->T_txt, T_img = c->T_img;
    const size_t img_off = (size_t)T_txt * D;
    /* norm1, norm1_context (AdaLayerNormZero): mod [B, 6D] per stream =
     * shift_msa | scale_msa | gate_msa | shift_mlp | scale_mlp | gate_mlp */
    linear(c->mod_img, c->temb_act, &blk->img.norm1, c->B);
    linear(c->mod_txt, c->temb_act, &blk->txt.norm1, c->B);
    for (int b = 0; b < c->B; b++) {
        const float *mi = c->mod_img + (size_t)b * 6 * D, *mt = c->mod_txt + (size_t)b * 6 * D;
        size_t s = (size_t)b * T * D;
        modulate(c->n + s + img_off, c->x + s + img_off, T_img, D, mi, mi + D); /* [T_img, D] */
        modulate(c->n + s, c->x + s, T_txt, D, mt, mt + D);                     /* [T_txt, D] */
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
    linear(c->mod_img, c->temb_act, &blk->norm, c->B);
    for (int b = 0; b < c->B; b++) {
        float *x = c->x + (size_t)b * T * D, *n = c->n + (size_t)b * T * D;
        const float *mod = c->mod_img + (size_t)b * 3 * D;
        const float *shift = mod, *scale = mod + D, *gate = mod + 2 * D;
        /* 1. adaptive norm: n [T, D] */
        modulate(n, x, T, D, shift, scale);
        /* 2. attention and MLP side by side, both into cat [T, D + F] */
        attention(c, NULL, &blk->attn, n, c->cat, D + F); /* cat[:, :D] [T, D] */
        linear(c->mlp, n, &blk->proj_mlp, T);             /* [T, F] */
        gelu(c->mlp, (size_t)T * F);
        /* 3. concat + projection: proj [T, D] */
        copy_columns(c->cat + D, D + F, c->mlp, F, T); /* cat[:, D:] = mlp */
        linear(c->proj, c->cat, &blk->proj_out, T);
        /* 4. gate + residual */
        gated_add(x, c->proj, gate, T, D);
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
    const int B = c->B, T = c->T, T_txt = c->T_txt, T_img = c->T_img, D = cfg->inner_dim;
    const size_t img_off = (size_t)T_txt * D;
    c->trace = trace;

    /* 1. embeddings into the joint stream x [B, T, D] (per sample: text rows, image rows) */
    for (int b = 0; b < B; b++) {
        float *x = c->x + (size_t)b * T * D;
        const float *hid = hidden + (size_t)b * T_img * cfg->in_channels;
        const float *enc = encoder_hidden + (size_t)b * T_txt * cfg->joint_attention_dim;
        linear(x + img_off, hid, &m->x_embedder, T_img); /* [T_img, C_in] → [T_img, D] */
        linear(x, enc, &m->context_embedder, T_txt);     /* [T_txt, J] → [T_txt, D] */
    }
    time_text_embed(c, timestep, guidance, pooled); /* temb [B, D] */
    trace_rows(c, c->x, T, T_txt, T_img, D, 3, "x_embedder");
    trace_rows(c, c->x, T, 0, T_txt, D, 3, "context_embedder");
    trace_rows(c, c->temb, 1, 0, 1, D, 2, "temb");

    /* 2. rotary position embedding: ids = [txt_ids; img_ids] [T, 3] → cos, sin [T, HD] */
    pos_embed(c, txt_ids, img_ids);
    int64_t rope_shape[2] = {T, cfg->head_dim};
    trace_f32(trace, c->rope_cos, 2, rope_shape, "rope_cos");
    trace_f32(trace, c->rope_sin, 2, rope_shape, "rope_sin");

    /* 3. double blocks × num_layers: x [B, T, D], text and image rows apart */
    for (int i = 0; i < cfg->num_layers; i++) double_block(c, &m->dbl[i], i);

    /* 4. concat [txt; img] → [B, T, D]: nothing to do, x already holds them in that order */

    /* single blocks × num_single_layers: x [B, T, D] as one sequence */
    for (int i = 0; i < cfg->num_single_layers; i++) single_block(c, &m->sgl[i], i);

    /* 5. the image part: rows [T_txt, T) of each sample, [B, T_img, D] */

    /* 6. norm_out (AdaLayerNormContinuous: mod [B, 2D] = scale | shift, in that order), then
     *    proj_out [T_img, D] → out [T_img, C_out] per sample */
    linear(c->mod_img, c->temb_act, &m->norm_out, B);
    for (int b = 0; b < B; b++) {
        const float *scale = c->mod_img + (size_t)b * 2 * D, *shift = scale + D;
        size_t s = (size_t)b * T * D + img_off;
        modulate(c->n + s, c->x + s, T_img, D, shift, scale);
    }
    trace_rows(c, c->n, T, T_txt, T_img, D, 3, "norm_out");
    for (int b = 0; b < B; b++)
        linear(out + (size_t)b * T_img * cfg->out_channels, c->n + (size_t)b * T * D + img_off,
               &m->proj_out, T_img);
    c->trace = NULL;
    return TRUE;
}
