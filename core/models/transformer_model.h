/* transformer_model.h — the DiT's parts as its files share them; private to
 * core/models/transformer*.c (the pipeline sees transformer.h):
 *
 *   transformer_config.c   config.json → DitConfig
 *   transformer_weights.c  every parameter, declared once below; loading the checkpoint
 *   transformer_binding.c  the parameters on a backend (cpu: the mapped tensors; cuda: BF16)
 *   transformer_arena.c    a context: one arena of activations, sized by its layout table
 *   transformer.c          the forward, top-down as the study note's listing
 *
 * Legend: D = NH · HD inner dim (3072), HD head dim (128), F = 4D feed-forward (12288),
 * C_in / C_out latent channels (64; C_in 384 for Fill), J joint_attention_dim (4096),
 * P pooled_projection_dim (768), T = T_txt + T_img tokens.
 *
 * This header does not include transformer.h (whose forward, transformer.c, includes this
 * one): it repeats the two handle typedefs instead, which C11 allows. */
#pragma once

#include "backend.h"
#include "lora_linear.h"
#include "safetensors.h"
#include "trace.h"
#include "transformer_config.h"

#include <glib.h>

typedef struct DitModel DitModel;
typedef struct DitContext DitContext;

/* Timesteps(num_channels=256) in CombinedTimestep*Embeddings: fixed by the architecture. */
#define DIT_TIME_CHANNELS 256
#define DIT_NORM_EPS      1e-6f /* every LayerNorm and the QK RMSNorms */
/* Backends a model can be bound to at once (cpu and cuda). */
#define DIT_MAX_BACKENDS 4
/* Storage type of the weights on backends that copy them (cuda): the tensor cores' input type,
 * 2 bytes per parameter. The cpu backend reads the mapped tensors as they are. */
#define DIT_WEIGHT_DTYPE ST_BF16

/* ------------------------------------------------------------------------------------- */
/* Parameters                                                                            */

/* A float32 vector parameter (a bias, a QK-norm scale): the tensor (read with wt_f32) and its
 * index into a backend binding's vectors (DitBound.v). */
typedef struct {
    const StTensor *t;
    int id;
} DitVec;

typedef struct {
    const StTensor *w; /* nn.Linear weight [out, in], mapped (F32/F16/BF16/FP8/GGML blocks) */
    DitVec b;          /* bias [out] */
    int id;            /* index into a backend binding's weights (DitBound.w) */
} DitLinear;

/* Every parameter, declared once. Each list names one struct's parameters in order, with
 * their checkpoint names (after the block's prefix) and shapes in the legend's letters:
 *   LIN(field, name, text-stream name, out, in)  nn.Linear: <name>.weight [out, in] + .bias [out]
 *   VEC(field, name, text-stream name, n)        a vector: <name>.weight [n] (RMSNorm scale)
 *   ATTN(field)                                  the attention's projections (DIT_ATTN_PARAMS)
 * A double block's image and text streams share one struct under two sets of names; the
 * other lists have no text-stream name (NULL). Each list is expanded once into its struct's
 * fields (below) and once into its table (transformer_weights.c), which the loader walks to
 * bind, check and number the parameters: the struct, the checkpoint spec and the parameter
 * list cannot disagree. */
/* clang-format off */
#define DIT_TOP_PARAMS(LIN, VEC)                                                        \
    LIN(x_embedder, "x_embedder", NULL, D, C_IN)                                        \
    LIN(context_embedder, "context_embedder", NULL, D, J)                               \
    LIN(time_1, "time_text_embed.timestep_embedder.linear_1", NULL, D, TIME)            \
    LIN(time_2, "time_text_embed.timestep_embedder.linear_2", NULL, D, D)               \
    LIN(text_1, "time_text_embed.text_embedder.linear_1", NULL, D, P)                   \
    LIN(text_2, "time_text_embed.text_embedder.linear_2", NULL, D, D)                   \
    LIN(norm_out, "norm_out.linear", NULL, D2, D) /* AdaLayerNormContinuous */          \
    LIN(proj_out, "proj_out", NULL, C_OUT, D)

/* guidance_embeds only (dev-type models) */
#define DIT_GUIDANCE_PARAMS(LIN, VEC)                                                   \
    LIN(guid_1, "time_text_embed.guidance_embedder.linear_1", NULL, D, TIME)            \
    LIN(guid_2, "time_text_embed.guidance_embedder.linear_2", NULL, D, D)

/* Attention in FluxAttnProcessor2_0: to_q/k/v + norm_q/k, the text side's add_*_proj +
 * norm_added_q/k */
#define DIT_ATTN_PARAMS(LIN, VEC)                                                       \
    LIN(to_q, "attn.to_q", "attn.add_q_proj", D, D)                                     \
    LIN(to_k, "attn.to_k", "attn.add_k_proj", D, D)                                     \
    LIN(to_v, "attn.to_v", "attn.add_v_proj", D, D)                                     \
    VEC(norm_q, "attn.norm_q", "attn.norm_added_q", HD)                                 \
    VEC(norm_k, "attn.norm_k", "attn.norm_added_k", HD)

/* One stream of FluxTransformerBlock: image (norm1, attn.to_*, to_out.0, ff) or text
 * (norm1_context, attn.add_*, to_add_out, ff_context) */
#define DIT_STREAM_PARAMS(LIN, VEC, ATTN)                                               \
    LIN(norm1, "norm1.linear", "norm1_context.linear", D6, D) /* AdaLayerNormZero */    \
    ATTN(attn)                                                                          \
    LIN(to_out, "attn.to_out.0", "attn.to_add_out", D, D)                               \
    LIN(ff1, "ff.net.0.proj", "ff_context.net.0.proj", F, D)                            \
    LIN(ff2, "ff.net.2", "ff_context.net.2", D, F)

/* FluxSingleTransformerBlock: no output projection in the attention, proj_out mixes the
 * attention and the MLP */
#define DIT_SINGLE_PARAMS(LIN, VEC, ATTN)                                               \
    LIN(norm, "norm.linear", NULL, D3, D) /* AdaLayerNormZeroSingle */                  \
    ATTN(attn)                                                                          \
    LIN(proj_mlp, "proj_mlp", NULL, F, D)                                               \
    LIN(proj_out, "proj_out", NULL, D, DF)

#define DIT_LIN_FIELD(field, ...) DitLinear field;
#define DIT_VEC_FIELD(field, ...) DitVec field;
#define DIT_ATTN_FIELD(field)     DitAttn field;

typedef struct { DIT_ATTN_PARAMS(DIT_LIN_FIELD, DIT_VEC_FIELD) } DitAttn;
typedef struct { DIT_STREAM_PARAMS(DIT_LIN_FIELD, DIT_VEC_FIELD, DIT_ATTN_FIELD) } DitStream;
typedef struct { DIT_SINGLE_PARAMS(DIT_LIN_FIELD, DIT_VEC_FIELD, DIT_ATTN_FIELD) } DitSingleBlock;
/* clang-format on */

typedef struct {
    DitStream img, txt;
} DitDoubleBlock;

struct DitModel {
    DitConfig cfg;
    StArchive *archive;
    DIT_TOP_PARAMS(DIT_LIN_FIELD, DIT_VEC_FIELD)
    DIT_GUIDANCE_PARAMS(DIT_LIN_FIELD, DIT_VEC_FIELD)
    DitDoubleBlock *dbl; /* [num_layers] */
    DitSingleBlock *sgl; /* [num_single_layers] */
    double *rope_omega;  /* [HD/2] FluxPosEmbed frequency of each rotated pair, float64 */
    /* every parameter once, in the lists' order: DitLinear.id and DitVec.id index these */
    GPtrArray *lins; /* DitLinear * */
    GPtrArray *vecs; /* DitVec * (the biases included) */
    /* the parameters on each backend used so far (made by the first context on it, kept until
     * dit_free), guarded by bind_lock */
    GMutex bind_lock;
    struct DitBound *bound[DIT_MAX_BACKENDS];
};

/* ------------------------------------------------------------------------------------- */
/* The parameters on a backend (transformer_binding.c)                                   */

/* Every nn.Linear weight as a backend weight (on cuda a BF16 copy uploaded once; on cpu the
 * mapped tensor itself) and every float32 vector (biases, QK-norm scales) in the backend's
 * memory, indexed by DitLinear.id and DitVec.id. */
typedef struct DitBound {
    const FluxBackend *be;
    FluxBackendCtx *bc;    /* owns the weights; its arena holds the vectors */
    FluxBackendWeight **w; /* [lins->len] */
    const float **v;       /* [vecs->len] */
} DitBound;

/* The model's parameters on `be`, made on first use; owned by m. NULL with `error` set. */
const DitBound *dit_bound_get(DitModel *m, const FluxBackend *be, GError **error);
/* TRUE when the parameters are on `be` already. */
gboolean dit_bound_exists(DitModel *m, const FluxBackend *be);
/* Frees every backend's parameters (dit_free). */
void dit_bound_free_all(DitModel *m);

/* ------------------------------------------------------------------------------------- */
/* A context and its arena (transformer_arena.c)                                         */

struct DitContext {
    DitModel *m;
    const FluxBackend *be;
    FluxBackendCtx *bc; /* the activations' arena */
    const DitBound *wb; /* the model's parameters on be */
    int B, T_img, T_txt, T;
    const FluxTrace *trace; /* of the dit_forward running, else NULL */
    LoraLinear *lora;       /* LoRAs added to the linears (dit_context_set_lora), else NULL */
    /* after each block of a forward (dit_context_set_block_hook: a DitBlockFunc) */
    void (*block_done)(int done, int total, void *user_data);
    void *block_data;
    /* host side: what is computed on the CPU each step, before its upload */
    float *host;      /* one block holding the four below */
    float *h_tproj;   /* [B, 256] */
    float *h_cos;     /* [T, HD] */
    float *h_sin;     /* [T, HD] */
    float *h_ids;     /* [T, 3]  the ids rope_cos/sin were made from ([txt; img]) */
    gboolean rope_ok; /* rope_cos/sin hold h_ids' tables */
    /* backend memory, whole batch (the arena; its layout table is in transformer_arena.c) */
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
