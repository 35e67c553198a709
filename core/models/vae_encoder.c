/* vae_encoder.c — AutoencoderKL.encode of diffusers 0.32.2 (`Encoder` in
 * models/autoencoders/vae.py with `DownEncoderBlock2D`, `Downsample2D`, `UNetMidBlock2D`, then
 * `DiagonalGaussianDistribution`), float32, batch 1.
 *
 *   x = conv_in(x)                                 [C_in → Cb[0], 3×3]
 *   for i in 0..n-1 (Ci_i = Cb[i-1], Ci_0 = Cb[0], Co_i = Cb[i]):
 *       layers_per_block resnets (the first Ci_i → Co_i, the others Co_i → Co_i)
 *       i < n-1: x = conv3×3 stride 2 (F.pad(x, (0, 1, 0, 1)))     Downsample2D, padding 0
 *   x = resnet(x); x = attention(x); x = resnet(x)   mid_block (as the decoder's)
 *   moments = conv_out(silu(conv_norm_out(x)))     [Cb[n-1] → 2·C_lat]
 *   moments = quant_conv(moments)                  (1×1, only when use_quant_conv; not FLUX)
 *   mean, logvar = moments.chunk(2, dim=1); logvar = clamp(logvar, -30, 20)
 *
 * The sample (mean + exp(0.5·logvar)·randn) is the pipeline's: it needs the run's generator.
 *
 * Memory: as the decoder (vae_blocks.c), the peak is the first block's ResNets at full size:
 * input [Cb[0], H·W] + conv1 output [Cb[0], H·W]; for FLUX.1 (Cb[0] = 128) at 1024² that is
 * 1 GiB, plus a 32 MiB im2col band.
 *
 * Legend: n = len(block_out_channels), Cb[i] = block_out_channels[i], C_lat = latent_channels,
 * H×W = picture size, h×w = latent size (H/8 × W/8 for FLUX.1), G = norm_num_groups.
 */
#include "vae_encoder.h"

#include "conv.h"
#include "flux.h"
#include "vae_blocks.h"
#include "weights.h"

#include <math.h>
#include <stddef.h>

#define ENC_MAX_BLOCKS 8

enum { DIM_IN, DIM_BOT, DIM_TOP, DIM_MOM, DIM_DOWN, N_DIMS };
enum { STEM, TAIL, QUANT };  /* WT_ONLY groups, bound before and after the blocks */
#define BOT_  WT_D(DIM_BOT)  /* Cb[0] */
#define TOP_  WT_D(DIM_TOP)  /* Cb[n-1] */
#define MOM_  WT_D(DIM_MOM)  /* 2·C_lat: mean and logvar */
#define DOWN_ WT_D(DIM_DOWN) /* a down block's Co */

/* Each parameter once (weights.h). */
/* clang-format off */
/* under "encoder.down_blocks.<i>.downsamplers.0." */
#define ENC_DOWNSAMPLER(P, S)                                                          \
    P(S, down_w, "conv.weight", 0, DOWN_, DOWN_, 3, 3)                                 \
    P(S, down_b, "conv.bias", WT_F32, DOWN_)
#define ENC_TOP(P, S)                                                                  \
    P(S, in_w, "encoder.conv_in.weight", WT_ONLY(STEM), BOT_, WT_D(DIM_IN), 3, 3)      \
    P(S, in_b, "encoder.conv_in.bias", WT_ONLY(STEM) | WT_F32, BOT_)                   \
    P(S, nout_w, "encoder.conv_norm_out.weight", WT_ONLY(TAIL) | WT_F32, TOP_)         \
    P(S, nout_b, "encoder.conv_norm_out.bias", WT_ONLY(TAIL) | WT_F32, TOP_)           \
    P(S, out_w, "encoder.conv_out.weight", WT_ONLY(TAIL), MOM_, TOP_, 3, 3)            \
    P(S, out_b, "encoder.conv_out.bias", WT_ONLY(TAIL) | WT_F32, MOM_)                 \
    /* only when use_quant_conv (not FLUX) */                                          \
    P(S, q_w, "quant_conv.weight", WT_ONLY(QUANT), MOM_, MOM_, 1, 1)                   \
    P(S, q_b, "quant_conv.bias", WT_ONLY(QUANT) | WT_F32, MOM_)
/* clang-format on */

typedef struct {
    ENC_DOWNSAMPLER(WT_FIELD, _) /* NULL for the last block */
    int Ci, Co;
    VaeResnet *resnets; /* [layers_per_block] */
} EncDownBlock;

struct VaeEncoder {
    ENC_TOP(WT_FIELD, _)
    int n, ch[ENC_MAX_BLOCKS], layers, G, C_in, C_lat;
    gboolean attn, quant;
    EncDownBlock *down; /* [n] */
    VaeResnet mid[2];
    VaeAttn mid_attn;
};

static const WtSpec enc_down_spec[] = {ENC_DOWNSAMPLER(WT_ROW, EncDownBlock)};
static const WtSpec enc_top_spec[] = {ENC_TOP(WT_ROW, VaeEncoder)};
#undef BOT_
#undef TOP_
#undef MOM_
#undef DOWN_

static const WtTable enc_table[] = {
    WT_TABLE(EncDownBlock, enc_down_spec, Ci, N_DIMS),
    WT_TABLE(VaeEncoder, enc_top_spec, n, N_DIMS),
};

const WtTable *vae_encoder_tables(gsize *n)
{
    *n = G_N_ELEMENTS(enc_table);
    return enc_table;
}

/* ------------------------------------------------------------------------------------- */
/* Binding                                                                               */

/* Encoder.__init__: down block i maps Cb[i-1] (Cb[0] for i = 0) to Cb[i] and halves the size
 * unless it is the last. */
static gboolean enc_bind_down(VaeEncoder *e, StArchive *a, int i, GError **error)
{
    EncDownBlock *d = &e->down[i];
    d->Ci = i == 0 ? e->ch[0] : e->ch[i - 1];
    d->Co = e->ch[i];
    d->resnets = g_new0(VaeResnet, e->layers);
    for (int j = 0; j < e->layers; j++) {
        g_autofree char *prefix = g_strdup_printf("encoder.down_blocks.%d.resnets.%d.", i, j);
        if (!vae_bind_resnet(a, prefix, j == 0 ? d->Ci : d->Co, d->Co, &d->resnets[j], error))
            return FALSE;
    }
    if (i == e->n - 1) return TRUE;
    const int64_t dims[N_DIMS] = {[DIM_DOWN] = d->Co};
    g_autofree char *prefix = g_strdup_printf("encoder.down_blocks.%d.downsamplers.0.", i);
    return wt_bind(a, prefix, enc_down_spec, G_N_ELEMENTS(enc_down_spec), dims, d, error);
}

static gboolean enc_bind_top(VaeEncoder *e, StArchive *a, unsigned groups, GError **error)
{
    const int64_t dims[N_DIMS] = {[DIM_IN] = e->C_in,
                                  [DIM_BOT] = e->ch[0],
                                  [DIM_TOP] = e->ch[e->n - 1],
                                  [DIM_MOM] = 2 * e->C_lat};
    return wt_bind_only(a, "", enc_top_spec, G_N_ELEMENTS(enc_top_spec), dims, groups, e, error);
}

static gboolean enc_bind(VaeEncoder *e, StArchive *a, GError **error)
{
    int top = e->ch[e->n - 1];
    if (!enc_bind_top(e, a, WT_ONLY(STEM), error)) return FALSE;
    e->down = g_new0(EncDownBlock, e->n);
    for (int i = 0; i < e->n; i++)
        if (!enc_bind_down(e, a, i, error)) return FALSE;
    for (int j = 0; j < 2; j++) {
        g_autofree char *prefix = g_strdup_printf("encoder.mid_block.resnets.%d.", j);
        if (!vae_bind_resnet(a, prefix, top, top, &e->mid[j], error)) return FALSE;
    }
    if (e->attn && !vae_bind_attn(a, "encoder.mid_block.attentions.0.", top, &e->mid_attn, error))
        return FALSE;
    return enc_bind_top(e, a, WT_ONLY(TAIL) | (e->quant ? WT_ONLY(QUANT) : 0), error);
}

VaeEncoder *vae_encoder_bind(StArchive *a, const VaeEncoderShape *s, GError **error)
{
    g_return_val_if_fail(a && s && s->n >= 1 && s->n <= ENC_MAX_BLOCKS, NULL);
    VaeEncoder *e = g_new0(VaeEncoder, 1);
    e->n = s->n, e->layers = s->layers, e->G = s->G;
    e->C_in = s->C_in, e->C_lat = s->C_lat, e->attn = s->attn, e->quant = s->quant;
    for (int i = 0; i < s->n; i++) e->ch[i] = s->ch[i];
    if (!enc_bind(e, a, error)) {
        vae_encoder_free(e);
        return NULL;
    }
    return e;
}

void vae_encoder_free(VaeEncoder *e)
{
    if (!e) return;
    for (int i = 0; e->down && i < e->n; i++) g_free(e->down[i].resnets);
    g_free(e->down);
    g_free(e);
}

void vae_encoder_out_size(const VaeEncoder *e, int H, int W, int *h, int *w)
{
    for (int i = 0; i < e->n - 1; i++) {
        H = H >= 2 ? (H - 2) / 2 + 1 : 0;
        W = W >= 2 ? (W - 2) / 2 + 1 : 0;
    }
    *h = H, *w = W;
}

/* ------------------------------------------------------------------------------------- */
/* Forward                                                                               */

/* conv_in: x [C_in, H, W] → a [Cb[0], H, W]. */
static gboolean enc_stem(const VaeEncoder *e, const float *x, VaeAct *a, GError **error)
{
    a->C = e->ch[0];
    if (!(a->x = vae_alloc((size_t)a->C * a->H * a->W, "conv_in", error))) return FALSE;
    ConvShape s = {.Ci = e->C_in, .Co = a->C, .H = a->H, .W = a->W, .k = 3};
    conv_2d(a->x, x, e->in_w, wt_f32(e->in_b), &s);
    return TRUE;
}

/* Downsample2D: a [C, H, W] → conv3×3 stride 2 of the (0, 1, 0, 1)-padded input [C, H/2, W/2]. */
static gboolean enc_downsample(const EncDownBlock *d, VaeAct *a, GError **error)
{
    ConvShape s = {.Ci = a->C, .Co = a->C, .H = a->H, .W = a->W, .k = 3, .down = 1};
    int Ho, Wo;
    conv_out_size(&s, &Ho, &Wo);
    float *y = vae_alloc((size_t)a->C * Ho * Wo, "a downsampler output", error);
    if (!y) return FALSE;
    conv_2d(y, a->x, d->down_w, wt_f32(d->down_b), &s);
    g_free(a->x);
    a->x = y;
    a->H = Ho, a->W = Wo;
    return TRUE;
}

static gboolean enc_down_block(const VaeEncoder *e, const EncDownBlock *d, VaeAct *a,
                               GError **error)
{
    for (int j = 0; j < e->layers; j++)
        if (!vae_resnet(&d->resnets[j], e->G, a, error)) return FALSE;
    return !d->down_w || enc_downsample(d, a, error);
}

/* conv_out(silu(conv_norm_out(a))) [2·C_lat, h, w], the norm and SiLU applied by the
 * convolution's input gather; then quant_conv when configured. */
static gboolean enc_head(const VaeEncoder *e, const VaeAct *a, float *moments, GError **error)
{
    size_t N = (size_t)a->H * a->W;
    g_autofree float *coef = g_new(float, 2 * (size_t)a->C);
    conv_group_norm_coeffs(coef, coef + a->C, a->x, a->C, N, e->G, wt_f32(e->nout_w),
                           wt_f32(e->nout_b), VAE_EPS);
    ConvShape s = {.Ci = a->C,
                   .Co = 2 * e->C_lat,
                   .H = a->H,
                   .W = a->W,
                   .k = 3,
                   .pre_scale = coef,
                   .pre_shift = coef + a->C,
                   .pre_silu = 1};
    conv_2d(moments, a->x, e->out_w, wt_f32(e->out_b), &s);
    if (!e->quant) return TRUE;
    /* 1×1 in place: Co = Ci, no pre-map (conv.h allows y == x for this form) */
    ConvShape q = {.Ci = 2 * e->C_lat, .Co = 2 * e->C_lat, .H = a->H, .W = a->W, .k = 1};
    conv_2d(moments, moments, e->q_w, wt_f32(e->q_b), &q);
    (void)error;
    return TRUE;
}

/* DiagonalGaussianDistribution: mean = moments[:C_lat], logvar = clamp(moments[C_lat:]). */
static void enc_split_moments(const float *moments, int C_lat, size_t N, float *mean, float *logvar)
{
    for (size_t i = 0; i < (size_t)C_lat * N; i++) {
        float lv = moments[(size_t)C_lat * N + i];
        mean[i] = moments[i];
        logvar[i] = lv < -30.0f ? -30.0f : lv > 20.0f ? 20.0f : lv; /* NaN stays NaN */
    }
}

gboolean vae_encoder_forward(const VaeEncoder *e, const float *x, int H, int W, float *mean,
                             float *logvar, const FluxTrace *trace, GError **error)
{
    VaeAct a = {NULL, 0, H, W};
    gboolean ok = enc_stem(e, x, &a, error);
    if (ok) vae_trace_act(trace, &a, "encoder.conv_in");
    for (int i = 0; ok && i < e->n; i++) {
        ok = enc_down_block(e, &e->down[i], &a, error);
        if (!ok) break;
        g_autofree char *name = g_strdup_printf("encoder.down_block.%d", i);
        vae_trace_act(trace, &a, name);
    }
    ok = ok && vae_mid_block(e->mid, e->attn ? &e->mid_attn : NULL, e->G, &a, error);
    if (ok) vae_trace_act(trace, &a, "encoder.mid_block");
    size_t N = (size_t)a.H * a.W;
    float *moments = ok ? vae_alloc(2 * (size_t)e->C_lat * N, "the encoder output", error) : NULL;
    ok = moments && enc_head(e, &a, moments, error);
    if (ok) {
        VaeAct m = {moments, 2 * e->C_lat, a.H, a.W};
        vae_trace_act(trace, &m, "encoder.conv_out");
        enc_split_moments(moments, e->C_lat, N, mean, logvar);
    }
    g_free(moments);
    g_free(a.x);
    return ok;
}
