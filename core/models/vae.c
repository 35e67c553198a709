/* vae.c — the AutoencoderKL decoder, following diffusers 0.32.2 `AutoencoderKL._decode` and
 * `Decoder` (models/autoencoders/vae.py) with `UNetMidBlock2D`, `UpDecoderBlock2D`,
 * `ResnetBlock2D`, `Upsample2D` and the mid-block `Attention` (AttnProcessor2_0), float32.
 *
 *   z = post_quant_conv(z)                        (1×1, only when use_post_quant_conv; not FLUX)
 *   x = conv_in(z)                                [C_lat → Cb[n-1], 3×3]
 *   x = resnet(x); x = attention(x); x = resnet(x)   mid_block (attention when
 *                                                 mid_block_add_attention)
 *   for i in 0..n-1 (reversed channels: Co_i = Cb[n-1-i], Ci_i = Co_{i-1}, Ci_0 = Cb[n-1]):
 *       layers_per_block + 1 resnets (the first Ci_i → Co_i, the others Co_i → Co_i)
 *       i < n-1: x = conv3×3(nearest×2(x))        Upsample2D
 *   x = conv_out(silu(conv_norm_out(x)))          [Cb[0] → out_channels]
 *
 *   resnet(x) = shortcut(x) + conv2(silu(norm2(conv1(silu(norm1(x))))))
 *       GroupNorm(norm_num_groups, eps 1e-6); shortcut = 1×1 conv when channels change, else
 *       identity; output_scale_factor 1, no time embedding, dropout inactive.
 *   attention(x) = x + to_out(softmax(q kᵀ / sqrt(C)) v), q/k/v = to_q/k/v(group_norm(x)) over
 *       the N = h·w pixels as tokens: one head of dim C (attention_head_dim = Cb[n-1]).
 *
 * Memory: GroupNorm + SiLU and the ×2 upsampling are applied by the convolutions as they read
 * their input (conv.h), the shortcut 1×1 conv overwrites the ResNet input in place and conv2
 * accumulates onto it. A ResNet therefore holds its input [Ci, N] and conv1's output [Co, N]
 * only, an upsampler its input and its 4× output. For FLUX.1 (Cb = 128, 256, 512, 512) at
 * 1024² (latent 128²) the peak is in the last up block's first ResNet: input [256, 1024²]
 * (1 GiB) + conv1 output [128, 1024²] (512 MiB) = 1.5 GiB, i.e. (Cb[1] + Cb[0]) · H · W floats,
 * plus a 32 MiB im2col band; the upsampler before it needs [256, 512²] + [256, 1024²] = 1.25 GiB
 * and the mid-block attention 4 · h·w · Cb[n-1] floats (128 MiB) beside its input. Measured with
 * random FLUX.1-sized weights (bf16 file), 512²: 0.54 GB peak RSS, the touched weights included.
 *
 * Legend: n = len(block_out_channels), Cb[i] = block_out_channels[i], C_lat = latent_channels,
 * h×w = latent size, H×W = the current activation's size, N = H·W, G = norm_num_groups,
 * Ci/Co = input/output channels of a block.
 */
#include "vae.h"

#include "config.h"
#include "conv.h"
#include "error.h"
#include "flux.h"
#include "ops.h"
#include "vae_blocks.h"
#include "vae_encoder.h"
#include "weights.h"

#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#define VAE_MAX_BLOCKS 8

enum { DIM_LAT, DIM_TOP, DIM_BOT, DIM_OUT, DIM_UP, N_DIMS };
/* WT_ONLY groups of the model's own convs, bound before and after the blocks */
enum { POST_QUANT, STEM, TAIL };
#define LAT_ WT_D(DIM_LAT) /* C_lat */
#define TOP_ WT_D(DIM_TOP) /* Cb[n-1] */
#define BOT_ WT_D(DIM_BOT) /* Cb[0] */
#define UP_  WT_D(DIM_UP)  /* an up block's Co */

/* Each parameter once (weights.h). */
/* clang-format off */
/* under "decoder.up_blocks.<i>.upsamplers.0." */
#define VAE_UPSAMPLER(P, S)                                                            \
    P(S, up_w, "conv.weight", 0, UP_, UP_, 3, 3)                                       \
    P(S, up_b, "conv.bias", WT_F32, UP_)
#define VAE_TOP(P, S)                                                                  \
    /* only when use_post_quant_conv (not FLUX) */                                     \
    P(S, pq_w, "post_quant_conv.weight", WT_ONLY(POST_QUANT), LAT_, LAT_, 1, 1)        \
    P(S, pq_b, "post_quant_conv.bias", WT_ONLY(POST_QUANT) | WT_F32, LAT_)             \
    P(S, in_w, "decoder.conv_in.weight", WT_ONLY(STEM), TOP_, LAT_, 3, 3)              \
    P(S, in_b, "decoder.conv_in.bias", WT_ONLY(STEM) | WT_F32, TOP_)                   \
    P(S, nout_w, "decoder.conv_norm_out.weight", WT_ONLY(TAIL) | WT_F32, BOT_)         \
    P(S, nout_b, "decoder.conv_norm_out.bias", WT_ONLY(TAIL) | WT_F32, BOT_)           \
    P(S, out_w, "decoder.conv_out.weight", WT_ONLY(TAIL), WT_D(DIM_OUT), BOT_, 3, 3)   \
    P(S, out_b, "decoder.conv_out.bias", WT_ONLY(TAIL) | WT_F32, WT_D(DIM_OUT))
/* clang-format on */

typedef struct {
    VAE_UPSAMPLER(WT_FIELD, _) /* NULL for the last block */
    int Ci, Co;
    VaeResnet *resnets; /* [layers_per_block + 1] */
} VaeUpBlock;

struct VaeModel {
    VAE_TOP(WT_FIELD, _)
    StArchive *archive; /* owns the mapped weights every StTensor above points into */
    int n, ch[VAE_MAX_BLOCKS], layers, G, C_lat, C_out;
    gboolean mid_attn, post_quant;
    float scaling, shift;
    VaeResnet mid[2];
    VaeAttn attn;
    VaeUpBlock *up;  /* [n] */
    int C_in;        /* in_channels: the encoder's picture channels */
    gboolean quant;  /* use_quant_conv (encoder) */
    VaeEncoder *enc; /* NULL when the file has no encoder.* tensors */
};

static const WtSpec vae_upsampler_spec[] = {VAE_UPSAMPLER(WT_ROW, VaeUpBlock)};
static const WtSpec vae_top_spec[] = {VAE_TOP(WT_ROW, VaeModel)};
#undef LAT_
#undef TOP_
#undef BOT_
#undef UP_

static const WtTable vae_table[] = {
    WT_TABLE(VaeUpBlock, vae_upsampler_spec, Ci, N_DIMS),
    WT_TABLE(VaeModel, vae_top_spec, archive, N_DIMS),
};

const WtTable *vae_tables(gsize *n)
{
    *n = G_N_ELEMENTS(vae_table);
    return vae_table;
}

/* ------------------------------------------------------------------------------------- */
/* Configuration                                                                         */

#define vae_config_error(c, error, code, ...) error_set(error, code, cfg_path(c), __VA_ARGS__)

/* up_block_types, when given: n entries, all "UpDecoderBlock2D" (the only block the
 * AutoencoderKL decoder of FLUX.1 uses; AttnUpDecoderBlock2D would need weights we do not
 * bind). */
static gboolean vae_check_block_types(const CfgJson *c, int n, GError **error)
{
    const char *types[VAE_MAX_BLOCKS + 1];
    gsize got;
    if (!cfg_string_array(c, "up_block_types", types, G_N_ELEMENTS(types), &got, error))
        return FALSE;
    if (got == 0) return TRUE;
    if ((int)got != n)
        return vae_config_error(c, error, FLUX_ERROR_MODEL,
                                "\"up_block_types\" is not an array of %d names (one per "
                                "block_out_channels entry)",
                                n);
    for (int i = 0; i < n; i++) {
        const char *t = types[i];
        if (strcmp(t, "UpDecoderBlock2D"))
            return vae_config_error(c, error, FLUX_ERROR_UNSUPPORTED,
                                    "\"up_block_types\"[%d] is \"%s\", expected "
                                    "\"UpDecoderBlock2D\"",
                                    i, t);
    }
    return TRUE;
}

static gboolean vae_parse_channels(VaeModel *m, const CfgJson *c, GError **error)
{
    int64_t ch[VAE_MAX_BLOCKS], groups, layers;
    gsize n;
    if (!cfg_int_array(c, "block_out_channels", 1, 1 << 14, ch, VAE_MAX_BLOCKS, &n, error) ||
        !cfg_int_or(c, "layers_per_block", 1, 0, 64, &layers, error) ||
        !cfg_int_or(c, "norm_num_groups", 32, 1, 1 << 14, &groups, error))
        return FALSE;
    if (n == 0) ch[0] = 64, n = 1; /* AutoencoderKL's default (64,) */
    m->n = (int)n, m->layers = (int)layers, m->G = (int)groups;
    for (gsize i = 0; i < n; i++) {
        m->ch[i] = (int)ch[i];
        if (ch[i] % groups)
            return vae_config_error(c, error, FLUX_ERROR_MODEL,
                                    "\"norm_num_groups\" %d does not divide "
                                    "\"block_out_channels\"[%zu] = %d",
                                    m->G, (size_t)i, m->ch[i]);
    }
    return vae_check_block_types(c, m->n, error);
}

/* Defaults are AutoencoderKL.__init__'s (shift_factor None → no shift). */
static gboolean vae_parse_config(VaeModel *m, const CfgJson *c, GError **error)
{
    int64_t lat, out, in;
    double scaling, shift;
    const char *act;
    if (!vae_parse_channels(m, c, error) ||
        !cfg_int_or(c, "latent_channels", 4, 1, 1 << 12, &lat, error) ||
        !cfg_int_or(c, "out_channels", 3, 1, 1 << 12, &out, error) ||
        !cfg_double_or(c, "scaling_factor", 0.18215, 1e-6, 1e6, &scaling, error) ||
        !cfg_double_or(c, "shift_factor", 0.0, -1e6, 1e6, &shift, error) ||
        !cfg_bool_or(c, "mid_block_add_attention", TRUE, &m->mid_attn, error) ||
        !cfg_bool_or(c, "use_post_quant_conv", TRUE, &m->post_quant, error) ||
        !cfg_bool_or(c, "use_quant_conv", TRUE, &m->quant, error) ||
        !cfg_int_or(c, "in_channels", 3, 1, 1 << 12, &in, error) ||
        !cfg_string_or(c, "act_fn", "silu", &act, error))
        return FALSE;
    if (strcmp(act, "silu") && strcmp(act, "swish"))
        return vae_config_error(c, error, FLUX_ERROR_UNSUPPORTED,
                                "\"act_fn\" is \"%s\", expected \"silu\" or \"swish\"", act);
    m->C_lat = (int)lat, m->C_out = (int)out, m->C_in = (int)in;
    m->scaling = (float)scaling, m->shift = (float)shift;
    return TRUE;
}

/* ------------------------------------------------------------------------------------- */
/* Loading                                                                               */

static gboolean vae_bind_mid(VaeModel *m, GError **error)
{
    int C = m->ch[m->n - 1];
    for (int j = 0; j < 2; j++) {
        g_autofree char *prefix = g_strdup_printf("decoder.mid_block.resnets.%d.", j);
        if (!vae_bind_resnet(m->archive, prefix, C, C, &m->mid[j], error)) return FALSE;
    }
    return !m->mid_attn ||
           vae_bind_attn(m->archive, "decoder.mid_block.attentions.0.", C, &m->attn, error);
}

/* Decoder.__init__: up block i maps reversed(Cb)[i-1] (Cb[n-1] for i = 0) to reversed(Cb)[i]
 * and upsamples unless it is the last. */
static gboolean vae_bind_up(VaeModel *m, int i, GError **error)
{
    VaeUpBlock *u = &m->up[i];
    u->Co = m->ch[m->n - 1 - i];
    u->Ci = i == 0 ? m->ch[m->n - 1] : m->up[i - 1].Co;
    u->resnets = g_new0(VaeResnet, m->layers + 1);
    for (int j = 0; j <= m->layers; j++) {
        g_autofree char *prefix = g_strdup_printf("decoder.up_blocks.%d.resnets.%d.", i, j);
        if (!vae_bind_resnet(m->archive, prefix, j == 0 ? u->Ci : u->Co, u->Co, &u->resnets[j],
                             error))
            return FALSE;
    }
    if (i == m->n - 1) return TRUE;
    const int64_t dims[N_DIMS] = {[DIM_UP] = u->Co};
    g_autofree char *prefix = g_strdup_printf("decoder.up_blocks.%d.upsamplers.0.", i);
    return wt_bind(m->archive, prefix, vae_upsampler_spec, G_N_ELEMENTS(vae_upsampler_spec), dims,
                   u, error);
}

static gboolean vae_bind_top(VaeModel *m, unsigned groups, GError **error)
{
    const int64_t dims[N_DIMS] = {[DIM_LAT] = m->C_lat,
                                  [DIM_TOP] = m->ch[m->n - 1],
                                  [DIM_BOT] = m->ch[0],
                                  [DIM_OUT] = m->C_out};
    return wt_bind_only(m->archive, "", vae_top_spec, G_N_ELEMENTS(vae_top_spec), dims, groups, m,
                        error);
}

static gboolean vae_bind(VaeModel *m, GError **error)
{
    unsigned stem = WT_ONLY(STEM) | (m->post_quant ? WT_ONLY(POST_QUANT) : 0);
    if (!vae_bind_top(m, stem, error) || !vae_bind_mid(m, error)) return FALSE;
    m->up = g_new0(VaeUpBlock, m->n);
    for (int i = 0; i < m->n; i++)
        if (!vae_bind_up(m, i, error)) return FALSE;
    if (!vae_bind_top(m, WT_ONLY(TAIL), error)) return FALSE;
    /* The encoder is bound when the file has one (decoder-only files load for text-to-image) */
    if (!st_archive_find(m->archive, "encoder.conv_in.weight")) return TRUE;
    VaeEncoderShape es = {m->n, m->ch, m->layers, m->G, m->C_in, m->C_lat, m->mid_attn, m->quant};
    m->enc = vae_encoder_bind(m->archive, &es, error);
    return m->enc != NULL;
}

VaeModel *vae_load(const CfgJson *cfg, StArchive *archive, GError **error)
{
    g_return_val_if_fail(cfg != NULL && archive != NULL, NULL);
    VaeModel *m = g_new0(VaeModel, 1);
    m->archive = archive; /* owned from here on, failure included */
    if (!vae_parse_config(m, cfg, error) || !vae_bind(m, error)) {
        vae_free(m);
        return NULL;
    }
    return m;
}

void vae_free(VaeModel *m)
{
    if (!m) return;
    for (int i = 0; m->up && i < m->n; i++) g_free(m->up[i].resnets);
    g_free(m->up);
    vae_encoder_free(m->enc);
    st_archive_free(m->archive);
    g_free(m);
}

int vae_latent_channels(const VaeModel *m)
{
    return m->C_lat;
}

int vae_out_channels(const VaeModel *m)
{
    return m->C_out;
}

float vae_scaling_factor(const VaeModel *m)
{
    return m->scaling;
}

float vae_shift_factor(const VaeModel *m)
{
    return m->shift;
}

int vae_upscale(const VaeModel *m)
{
    return 1 << (m->n - 1);
}

gboolean vae_has_encoder(const VaeModel *m)
{
    return m->enc != NULL;
}

gsize vae_unused_tensors(const VaeModel *m, char ***names)
{
    return st_archive_unused(m->archive, names);
}

/* ------------------------------------------------------------------------------------- */
/* Forward                                                                               */

/* Upsample2D: x [C, H, W] → conv3×3(nearest×2(x)) [C, 2H, 2W], the upsampling done by the
 * convolution's input gather. */
static gboolean vae_upsample(const VaeUpBlock *u, VaeAct *a, GError **error)
{
    float *y = vae_alloc((size_t)a->C * 4 * a->H * a->W, "an upsampler output", error);
    if (!y) return FALSE;
    ConvShape s = {.Ci = a->C, .Co = a->C, .H = a->H, .W = a->W, .k = 3, .upsample = 1};
    conv_2d(y, a->x, u->up_w, wt_f32(u->up_b), &s);
    g_free(a->x);
    a->x = y;
    a->H *= 2, a->W *= 2;
    return TRUE;
}

/* post_quant_conv (when configured) and conv_in: latents → a [Cb[n-1], h, w]. */
static gboolean vae_stem(const VaeModel *m, const float *latents, VaeAct *a, GError **error)
{
    size_t N = (size_t)a->H * a->W;
    g_autofree float *pq = NULL;
    if (m->post_quant) {
        if (!(pq = vae_alloc((size_t)m->C_lat * N, "post_quant_conv", error))) return FALSE;
        ConvShape s = {.Ci = m->C_lat, .Co = m->C_lat, .H = a->H, .W = a->W, .k = 1};
        conv_2d(pq, latents, m->pq_w, wt_f32(m->pq_b), &s);
        latents = pq;
    }
    a->C = m->ch[m->n - 1];
    if (!(a->x = vae_alloc((size_t)a->C * N, "conv_in", error))) return FALSE;
    ConvShape s = {.Ci = m->C_lat, .Co = a->C, .H = a->H, .W = a->W, .k = 3};
    conv_2d(a->x, latents, m->in_w, wt_f32(m->in_b), &s);
    return TRUE;
}

static gboolean vae_up_block(const VaeModel *m, const VaeUpBlock *u, VaeAct *a, GError **error)
{
    for (int j = 0; j <= m->layers; j++)
        if (!vae_resnet(&u->resnets[j], m->G, a, error)) return FALSE;
    return !u->up_w || vae_upsample(u, a, error);
}

/* conv_norm_out in place (traced before the SiLU, as the reference's module output), then
 * SiLU inside conv_out's input gather. */
static void vae_head(const VaeModel *m, VaeAct *a, float *out, const FluxTrace *trace)
{
    conv_group_norm(a->x, a->x, a->C, (size_t)a->H * a->W, m->G, wt_f32(m->nout_w),
                    wt_f32(m->nout_b), VAE_EPS, 0);
    vae_trace_act(trace, a, "decoder.conv_norm_out");
    ConvShape s = {.Ci = a->C, .Co = m->C_out, .H = a->H, .W = a->W, .k = 3, .pre_silu = 1};
    conv_2d(out, a->x, m->out_w, wt_f32(m->out_b), &s);
}

gboolean vae_decode(const VaeModel *m, const float *latents, int h, int w, float *out,
                    const FluxTrace *trace, GError **error)
{
    int up = vae_upscale(m);
    if (h < 1 || w < 1 || h > FLUX_MAX_SIZE / up || w > FLUX_MAX_SIZE / up) {
        g_set_error(error, FLUX_ERROR, FLUX_ERROR_ARGUMENT,
                    "VAE decoder: latent size %d×%d, expected 1..%d per side (images up to %d "
                    "pixels)",
                    h, w, FLUX_MAX_SIZE / up, FLUX_MAX_SIZE);
        return FALSE;
    }
    VaeAct a = {NULL, 0, h, w};
    gboolean ok = vae_stem(m, latents, &a, error);
    if (ok) vae_trace_act(trace, &a, "decoder.conv_in");
    ok = ok && vae_mid_block(m->mid, m->mid_attn ? &m->attn : NULL, m->G, &a, error);
    if (ok) vae_trace_act(trace, &a, "decoder.mid_block");
    for (int i = 0; ok && i < m->n; i++) {
        ok = vae_up_block(m, &m->up[i], &a, error);
        if (!ok) break;
        g_autofree char *name = g_strdup_printf("decoder.up_block.%d", i);
        vae_trace_act(trace, &a, name);
    }
    if (ok) vae_head(m, &a, out, trace);
    g_free(a.x);
    return ok;
}

gboolean vae_encode(const VaeModel *m, const float *image, int H, int W, float *mean, float *logvar,
                    const FluxTrace *trace, GError **error)
{
    int down = vae_upscale(m);
    if (!m->enc) {
        g_set_error(error, FLUX_ERROR, FLUX_ERROR_MODEL,
                    "%s has no VAE encoder weights (encoder.*): it can only turn latents into "
                    "pictures, not pictures into latents",
                    st_archive_path(m->archive));
        return FALSE;
    }
    if (H < down || W < down || H > FLUX_MAX_SIZE || W > FLUX_MAX_SIZE || H % down || W % down) {
        g_set_error(error, FLUX_ERROR, FLUX_ERROR_ARGUMENT,
                    "VAE encoder: picture size %d×%d, expected multiples of %d up to %d", W, H,
                    down, FLUX_MAX_SIZE);
        return FALSE;
    }
    return vae_encoder_forward(m->enc, image, H, W, mean, logvar, trace, error);
}

/* ------------------------------------------------------------------------------------- */
/* Post-processing                                                                       */

/* clamp(d / 2 + 0.5, 0, 1) in float32 as torch; NaN stays NaN (torch.clamp keeps it). */
static inline float vae_unit(float d)
{
    float v = d / 2.0f + 0.5f;
    return v < 0.0f ? 0.0f : v > 1.0f ? 1.0f : v;
}

void vae_to_rgbf(const float *decoded, int H, int W, float *rgb)
{
    size_t N = (size_t)H * W;
    for (size_t p = 0; p < N; p++)
        for (int c = 0; c < 3; c++) rgb[p * 3 + c] = vae_unit(decoded[c * N + p]);
}

void vae_to_rgb8(const float *decoded, int H, int W, guint8 *rgb)
{
    size_t N = (size_t)H * W;
    for (size_t p = 0; p < N; p++)
        for (int c = 0; c < 3; c++) {
            float s = vae_unit(decoded[c * N + p]) * 255.0f;  /* float32, as numpy */
            rgb[p * 3 + c] = isnan(s) ? 0 : (guint8)rintf(s); /* np.round: half to even */
        }
}
