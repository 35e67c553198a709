/* vae_blocks.c — ResnetBlock2D and the mid-block Attention shared by the AutoencoderKL
 * encoder (vae_encoder.c) and decoder (vae.c); see vae_blocks.h.
 *
 * Memory: GroupNorm + SiLU are applied by the convolutions as they read their input (conv.h),
 * the shortcut 1×1 conv overwrites the ResNet input in place and conv2 accumulates onto it, so a
 * ResNet holds its input [Ci, N] and conv1's output [Co, N] only; the attention needs
 * 4 · N · C floats beside its input.
 *
 * Legend: Ci/Co = input/output channels, N = H·W pixels, C = channels, G = norm_num_groups.
 */
#include "vae_blocks.h"

#include "conv.h"
#include "flux.h"
#include "ops.h"
#include "pool.h"
#include "weights.h"

#include <math.h>
#include <stddef.h>

enum { DIM_CI, DIM_CO, N_DIMS }; /* the WT_D(0), WT_D(1) of vae_blocks.h */
enum { SHORTCUT };               /* WT_ONLY(0) */

static const WtSpec vae_resnet_spec[] = {VAE_RESNET(WT_ROW, VaeResnet)};
/* under "<half>.mid_block.attentions.0." */
static const WtSpec vae_attn_spec[] = {VAE_ATTN(WT_ROW, VaeAttn)};

static const WtTable vae_blocks_table[] = {
    WT_TABLE(VaeResnet, vae_resnet_spec, Ci, N_DIMS),
    WT_TABLE_ALL(VaeAttn, vae_attn_spec, 1),
};

const WtTable *vae_blocks_tables(gsize *n)
{
    *n = G_N_ELEMENTS(vae_blocks_table);
    return vae_blocks_table;
}

gboolean vae_bind_resnet(StArchive *a, const char *prefix, int Ci, int Co, VaeResnet *r,
                         GError **error)
{
    const int64_t dims[N_DIMS] = {[DIM_CI] = Ci, [DIM_CO] = Co};
    r->Ci = Ci, r->Co = Co;
    /* ResnetBlock2D.use_in_shortcut = in_channels != out_channels */
    unsigned groups = Ci != Co ? WT_ONLY(SHORTCUT) : 0;
    return wt_bind_only(a, prefix, vae_resnet_spec, G_N_ELEMENTS(vae_resnet_spec), dims, groups, r,
                        error);
}

gboolean vae_bind_attn(StArchive *a, const char *prefix, int C, VaeAttn *at, GError **error)
{
    const int64_t dims[N_DIMS] = {[DIM_CI] = C, [DIM_CO] = C};
    return wt_bind(a, prefix, vae_attn_spec, G_N_ELEMENTS(vae_attn_spec), dims, at, error);
}

/* ------------------------------------------------------------------------------------- */
/* Forward                                                                               */

float *vae_alloc(size_t n, const char *what, GError **error)
{
    float *p = g_try_new(float, n);
    if (!p)
        g_set_error(error, FLUX_ERROR, FLUX_ERROR_NO_MEMORY, "VAE: cannot allocate %.1f MiB for %s",
                    (double)n * 4.0 / 1048576.0, what);
    return p;
}

void vae_trace_act(const FluxTrace *trace, const VaeAct *a, const char *name)
{
    if (!trace_on(trace)) return;
    const int64_t shape[4] = {1, a->C, a->H, a->W};
    trace_f32(trace, a->x, 4, shape, "%s", name);
}

/* A ResNet: x [Ci, N] → [Co, N]. Order matters for memory: conv1 needs all of x; then the
 * shortcut overwrites x in place (Co <= Ci for every FLUX-like decoder; otherwise a new buffer)
 * and conv2 accumulates onto it. */
gboolean vae_resnet(const VaeResnet *r, int G, VaeAct *a, GError **error)
{
    size_t N = (size_t)a->H * a->W;
    int Cmax = MAX(r->Ci, r->Co);
    g_autofree float *coef = g_new(float, 2 * (size_t)Cmax);
    float *scale = coef, *shift = coef + Cmax;
    float *u = vae_alloc((size_t)r->Co * N, "a ResNet's conv1 output", error);
    if (!u) return FALSE;
    conv_group_norm_coeffs(scale, shift, a->x, r->Ci, N, G, wt_f32(r->norm1_w), wt_f32(r->norm1_b),
                           VAE_EPS);
    ConvShape s1 = {.Ci = r->Ci,
                    .Co = r->Co,
                    .H = a->H,
                    .W = a->W,
                    .k = 3,
                    .pre_scale = scale,
                    .pre_shift = shift,
                    .pre_silu = 1};
    conv_2d(u, a->x, r->conv1_w, wt_f32(r->conv1_b), &s1);
    if (r->sc_w) {
        ConvShape sc = {.Ci = r->Ci, .Co = r->Co, .H = a->H, .W = a->W, .k = 1};
        float *dst = a->x;
        if (r->Co > r->Ci && !(dst = vae_alloc((size_t)r->Co * N, "a ResNet shortcut", error))) {
            g_free(u);
            return FALSE;
        }
        conv_2d(dst, a->x, r->sc_w, wt_f32(r->sc_b), &sc);
        if (dst != a->x) {
            g_free(a->x);
            a->x = dst;
        } else if (r->Co < r->Ci) {
            float *shrunk = g_try_realloc(a->x, sizeof(float) * (size_t)r->Co * N);
            if (shrunk) a->x = shrunk; /* else keep the larger block */
        }
    }
    a->C = r->Co;
    conv_group_norm_coeffs(scale, shift, u, r->Co, N, G, wt_f32(r->norm2_w), wt_f32(r->norm2_b),
                           VAE_EPS);
    ConvShape s2 = {.Ci = r->Co,
                    .Co = r->Co,
                    .H = a->H,
                    .W = a->W,
                    .k = 3,
                    .pre_scale = scale,
                    .pre_shift = shift,
                    .pre_silu = 1,
                    .accumulate = 1};
    conv_2d(a->x, u, r->conv2_w, wt_f32(r->conv2_b), &s2);
    g_free(u);
    return TRUE;
}

typedef struct {
    float *tok; /* [N, C] tokens */
    float *img; /* [C, N] */
    const float *scale, *shift;
    int C;
    size_t N;
} TransJob;

/* tok[n, c] = img[c, n]·scale[c] + shift[c]: group_norm, then view(C, N).transpose. */
static void to_tokens_worker(void *ctx, size_t begin, size_t end)
{
    const TransJob *J = ctx;
    for (size_t n = begin; n < end; n++)
        for (int c = 0; c < J->C; c++)
            J->tok[n * J->C + c] = J->img[c * J->N + n] * J->scale[c] + J->shift[c];
}

/* img[c, n] += tok[n, c]: the residual connection. */
static void add_tokens_worker(void *ctx, size_t begin, size_t end)
{
    const TransJob *J = ctx;
    for (size_t c = begin; c < end; c++)
        for (size_t n = 0; n < J->N; n++) J->img[c * J->N + n] += J->tok[n * J->C + c];
}

/* Attention with residual, in place on x [C, N]; rescale_output_factor is 1. */
gboolean vae_attention(const VaeAttn *at, int G, VaeAct *a, GError **error)
{
    int C = a->C;
    size_t N = (size_t)a->H * a->W, NC = N * C;
    float *buf = vae_alloc(4 * NC, "the mid-block attention", error);
    if (!buf) return FALSE;
    float *h = buf, *q = buf + NC, *k = buf + 2 * NC, *v = buf + 3 * NC; /* each [N, C] */
    g_autofree float *coef = g_new(float, 2 * (size_t)C);
    conv_group_norm_coeffs(coef, coef + C, a->x, C, N, G, wt_f32(at->norm_w), wt_f32(at->norm_b),
                           VAE_EPS);
    TransJob J = {h, a->x, coef, coef + C, C, N};
    pool_parallel_for(N, to_tokens_worker, &J);
    ops_linear(q, h, at->q_w, wt_f32(at->q_b), (int)N, C, C);
    ops_linear(k, h, at->k_w, wt_f32(at->k_b), (int)N, C, C);
    ops_linear(v, h, at->v_w, wt_f32(at->v_b), (int)N, C, C);
    /* heads = C / attention_head_dim = 1, scale = dim_head^-0.5 */
    OpsAttnShape s = {.Tq = (int)N,
                      .Tk = (int)N,
                      .NH = 1,
                      .HD = C,
                      .ldq = C,
                      .ldk = C,
                      .ldv = C,
                      .ldo = C,
                      .scale = (float)(1.0 / sqrt((double)C))};
    ops_attention(h, q, k, v, &s);
    ops_linear(q, h, at->o_w, wt_f32(at->o_b), (int)N, C, C);
    J.tok = q;
    pool_parallel_for((size_t)C, add_tokens_worker, &J);
    g_free(buf);
    return TRUE;
}

gboolean vae_mid_block(const VaeResnet mid[2], const VaeAttn *at, int G, VaeAct *a, GError **error)
{
    return vae_resnet(&mid[0], G, a, error) && (!at || vae_attention(at, G, a, error)) &&
           vae_resnet(&mid[1], G, a, error);
}
