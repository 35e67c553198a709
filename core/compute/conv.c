/* conv.c — convolution, GroupNorm and nearest upsampling for the VAE decoder (see conv.h),
 * following torch.nn.Conv2d (stride 1, zero padding k/2), torch.nn.GroupNorm and
 * F.interpolate(scale_factor=2, mode="nearest") as diffusers 0.32.2 uses them.
 *
 * The 3×3 convolution is im2col + sgemm over bands of output rows: for a band of R rows the
 * column matrix col [Ci·k·k, R·Wo] holds, in row (ci, ky, kx), the input pixel each output pixel
 * sees through tap (ky, kx); then y[Co, band] += w[Co, Ci·k·k] · col. The band height keeps col
 * near CONV_COL_BYTES whatever the image size (a full im2col of a 1024² image with 128 channels
 * would take 4.5 GiB). Building col is the non-GEMM work, done in parallel over input channels;
 * each channel's source rows are pre-mapped (GroupNorm affine + SiLU) once per band, not once
 * per tap.
 *
 * Legend: Ci/Co = input/output channels, H×W = input size, Ho×Wo = output size, k = kernel,
 * K = Ci·k·k (GEMM depth), N = pixels, G = GroupNorm groups, R = rows per band.
 */
#include "convert.h"
#include "conv.h"

#include "ops.h"
#include "pool.h"

#include <cblas.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

/* Output channels of a weight converted to float32 at once (16 MiB covers FLUX's largest
 * conv, [512, 512, 3, 3] = 9.4 MiB, in one tile). */
#define CONV_WTILE_BYTES (16u << 20)
/* Size of one im2col band: large enough for an efficient GEMM (N = R·Wo columns). */
#define CONV_COL_BYTES (32u << 20)

static inline float conv_silu(float v)
{
    return v / (1.0f + expf(-v));
}

/* ------------------------------------------------------------------------------------- */
/* Weights and bias                                                                      */

static int conv_plain(const ConvShape *s)
{
    return s->k == 1 && !s->upsample && !s->down && !s->pre_scale && !s->pre_silu;
}

void conv_out_size(const ConvShape *s, int *Ho, int *Wo)
{
    if (s->down) { /* (H + 1 − 3) / 2 + 1, torch's floor for padded size H + 1 */
        *Ho = s->H >= 2 ? (s->H - 2) / 2 + 1 : 0;
        *Wo = s->W >= 2 ? (s->W - 2) / 2 + 1 : 0;
    } else {
        *Ho = s->upsample ? 2 * s->H : s->H;
        *Wo = s->upsample ? 2 * s->W : s->W;
    }
}

/* Rows co0 .. co0+n-1 of w viewed as [Co, K], as float32: straight from the mapping when it
 * already is aligned float32, else converted into buf [n, K]. */
static const float *conv_weight_rows(const StTensor *w, int co0, int n, size_t K, float *buf)
{
    if (w->dtype == ST_F32 && (uintptr_t)w->data % sizeof(float) == 0)
        return (const float *)w->data + (size_t)co0 * K;
    st_to_f32(buf, w, (int64_t)co0 * (int64_t)K, (int64_t)n * (int64_t)K);
    return buf;
}

typedef struct {
    float *y; /* [Co, N] */
    const float *b;
    size_t N;
    int accumulate;
} BiasJob;

/* y rows start at b[co] (or 0), or get b[co] added when accumulating: the GEMMs then all
 * accumulate (beta = 1). */
static void bias_worker(void *ctx, size_t begin, size_t end)
{
    const BiasJob *J = ctx;
    for (size_t co = begin; co < end; co++) {
        float *row = J->y + co * J->N, v = J->b ? J->b[co] : 0.0f;
        if (!J->accumulate)
            for (size_t i = 0; i < J->N; i++) row[i] = v;
        else if (J->b)
            for (size_t i = 0; i < J->N; i++) row[i] += v;
    }
}

/* ------------------------------------------------------------------------------------- */
/* im2col                                                                                */

typedef struct {
    const float *x; /* [Ci, H, W] */
    const ConvShape *s;
    int Ho, Wo;
    int r0, R;  /* the band: output rows r0 .. r0+R-1 */
    int s0, ns; /* source rows of x the band reads */
    float *col; /* [Ci·k·k, R·Wo] */
} ColJob;

/* dst [n] = pre(src [n]) for channel c. */
static void conv_pre_row(float *dst, const float *src, int n, const ConvShape *s, int c)
{
    if (s->pre_scale) {
        float a = s->pre_scale[c], b = s->pre_shift[c];
        for (int i = 0; i < n; i++) dst[i] = src[i] * a + b;
    } else {
        memcpy(dst, src, sizeof(float) * (size_t)n);
    }
    if (s->pre_silu) ops_silu(dst, (size_t)n); /* vectorised exp: libm's expf was 5% */
}

/* d [Wo] = the (maybe ×2 upsampled) source row `src` shifted by `off` columns, zero outside. */
static void conv_fill_row(float *d, const float *src, int Wo, int off, int up)
{
    int lo = off < 0 ? -off : 0, hi = off > 0 ? Wo - off : Wo;
    if (hi < lo) hi = lo;
    for (int ox = 0; ox < lo; ox++) d[ox] = 0.0f;
    for (int ox = hi; ox < Wo; ox++) d[ox] = 0.0f;
    if (!up)
        memcpy(d + lo, src + lo + off, sizeof(float) * (size_t)(hi - lo));
    else
        for (int ox = lo; ox < hi; ox++) d[ox] = src[(ox + off) >> 1];
}

/* d [Wo] = src[2·ox + kx], zero past the right edge (the downsampler's padding column). */
static void conv_fill_row_down(float *d, const float *src, int Wo, int kx, int W)
{
    for (int ox = 0; ox < Wo; ox++) {
        int ix = 2 * ox + kx;
        d[ox] = ix < W ? src[ix] : 0.0f;
    }
}

static void col_worker(void *ctx, size_t begin, size_t end)
{
    const ColJob *J = ctx;
    const ConvShape *s = J->s;
    int k = s->k, pad = k / 2, W = s->W;
    size_t RW = (size_t)J->R * J->Wo;
    float *rows = g_new(float, (size_t)J->ns *W); /* pre-mapped source rows s0 .. s0+ns-1 */
    for (size_t c = begin; c < end; c++) {
        const float *xc = J->x + c * (size_t)s->H * W;
        for (int r = 0; r < J->ns; r++)
            conv_pre_row(rows + (size_t)r * W, xc + (size_t)(J->s0 + r) * W, W, s, (int)c);
        for (int ky = 0; ky < k; ky++)
            for (int kx = 0; kx < k; kx++) {
                float *dst = J->col + ((c * k + ky) * k + kx) * RW;
                for (int r = 0; r < J->R; r++) {
                    /* row of the (upsampled) input; stride 2 and no top padding when down */
                    int iy = s->down ? 2 * (J->r0 + r) + ky : J->r0 + r + ky - pad;
                    int rows_in = s->down ? s->H : J->Ho;
                    float *d = dst + (size_t)r * J->Wo;
                    if (iy < 0 || iy >= rows_in) {
                        memset(d, 0, sizeof(float) * (size_t)J->Wo);
                        continue;
                    }
                    int sy = s->upsample ? iy >> 1 : iy;
                    const float *src = rows + (size_t)(sy - J->s0) * W;
                    if (s->down)
                        conv_fill_row_down(d, src, J->Wo, kx, W);
                    else
                        conv_fill_row(d, src, J->Wo, kx - pad, s->upsample);
                }
            }
    }
    g_free(rows);
}

/* Fills J->col for output rows r0 .. r0+R-1. */
static void conv_im2col(ColJob *J, int r0, int R)
{
    int pad = J->s->k / 2, up = J->s->upsample;
    J->r0 = r0;
    J->R = R;
    if (J->s->down) { /* output row r reads input rows 2r .. 2r + 2 */
        int last = 2 * (r0 + R - 1) + 2;
        J->s0 = 2 * r0;
        J->ns = (last >= J->s->H ? J->s->H - 1 : last) - J->s0 + 1;
    } else {
        int first = r0 - pad < 0 ? 0 : r0 - pad;
        int last = r0 + R - 1 + pad >= J->Ho ? J->Ho - 1 : r0 + R - 1 + pad;
        J->s0 = up ? first >> 1 : first;
        J->ns = (up ? last >> 1 : last) - J->s0 + 1;
    }
    pool_parallel_for((size_t)J->s->Ci, col_worker, J);
}

/* ------------------------------------------------------------------------------------- */
/* Convolution                                                                           */

/* 1×1, no pre-map: y [Co, N] += w [Co, Ci] · x [Ci, N], one GEMM per weight tile. */
static void conv_1x1(float *y, const float *x, const StTensor *w, const ConvShape *s, float *wbuf,
                     int tile)
{
    size_t N = (size_t)s->H * s->W;
    for (int co0 = 0; co0 < s->Co; co0 += tile) {
        int n = s->Co - co0 < tile ? s->Co - co0 : tile;
        const float *wt = conv_weight_rows(w, co0, n, (size_t)s->Ci, wbuf);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, (int)N, s->Ci, 1.0f, wt, s->Ci, x,
                    (int)N, 1.0f, y + (size_t)co0 * N, (int)N);
    }
}

/* In place, Co <= Ci: bands of pixels go through a scratch [Co, nb]; once a band's result is
 * computed, its input columns are no longer needed and the result overwrites them (channel
 * co of the result at co·N, i.e. over input channel co). A 1×1 weight is Co·Ci floats
 * (1 MiB at most for FLUX), converted whole. */
static void conv_1x1_inplace(float *y, const StTensor *w, const float *b, const ConvShape *s)
{
    size_t N = (size_t)s->H * s->W;
    size_t nb = CONV_COL_BYTES / (sizeof(float) * (size_t)s->Co);
    if (nb < 64) nb = 64;
    if (nb > N) nb = N;
    float *wbuf = g_new(float, (size_t)s->Co * s->Ci);
    float *tmp = g_new(float, (size_t)s->Co *nb);
    const float *wm = conv_weight_rows(w, 0, s->Co, (size_t)s->Ci, wbuf);
    for (size_t p0 = 0; p0 < N; p0 += nb) {
        size_t n = N - p0 < nb ? N - p0 : nb;
        BiasJob bj = {tmp, b, n, 0};
        pool_parallel_for((size_t)s->Co, bias_worker, &bj);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, s->Co, (int)n, s->Ci, 1.0f, wm,
                    s->Ci, y + p0, (int)N, 1.0f, tmp, (int)n);
        for (int co = 0; co < s->Co; co++)
            memcpy(y + (size_t)co * N + p0, tmp + (size_t)co * n, sizeof(float) * n);
    }
    g_free(tmp);
    g_free(wbuf);
}

/* General case: weight tiles outer (each converted once), bands of output rows inner. */
static void conv_banded(float *y, const float *x, const StTensor *w, const ConvShape *s,
                        float *wbuf, int tile)
{
    int Ho, Wo;
    conv_out_size(s, &Ho, &Wo);
    size_t K = (size_t)s->Ci * s->k * s->k, No = (size_t)Ho * Wo;
    int R = (int)(CONV_COL_BYTES / (sizeof(float) * K * (size_t)Wo));
    if (R < 1) R = 1;
    if (R > Ho) R = Ho;
    ColJob J = {.x = x, .s = s, .Ho = Ho, .Wo = Wo, .col = g_new(float, K *(size_t)R *Wo)};
    for (int co0 = 0; co0 < s->Co; co0 += tile) {
        int n = s->Co - co0 < tile ? s->Co - co0 : tile;
        const float *wt = conv_weight_rows(w, co0, n, K, wbuf);
        for (int r0 = 0; r0 < Ho; r0 += R) {
            int nr = Ho - r0 < R ? Ho - r0 : R;
            conv_im2col(&J, r0, nr);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, nr * Wo, (int)K, 1.0f, wt,
                        (int)K, J.col, nr * Wo, 1.0f, y + (size_t)co0 * No + (size_t)r0 * Wo,
                        (int)No);
        }
    }
    g_free(J.col);
}

void conv_2d(float *y, const float *x, const StTensor *w, const float *b, const ConvShape *s)
{
    g_assert(s->k == 1 || s->k == 3);
    g_assert(!s->pre_scale == !s->pre_shift);
    g_assert(!s->down || (s->k == 3 && !s->upsample));
    size_t K = (size_t)s->Ci * s->k * s->k;
    g_assert(w->numel == (int64_t)s->Co * (int64_t)K);
    int Ho, Wo;
    conv_out_size(s, &Ho, &Wo);
    if (s->Co == 0 || Ho == 0 || Wo == 0) return;
    if (y == x) {
        g_assert(conv_plain(s) && !s->accumulate && s->Co <= s->Ci);
        conv_1x1_inplace(y, w, b, s);
        return;
    }
    size_t No = (size_t)Ho * Wo;
    BiasJob bj = {y, b, No, s->accumulate};
    pool_parallel_for((size_t)s->Co, bias_worker, &bj);
    int tile = (int)(CONV_WTILE_BYTES / (sizeof(float) * K));
    if (tile < 16) tile = 16;
    if (tile > s->Co) tile = s->Co;
    gboolean direct = w->dtype == ST_F32 && (uintptr_t)w->data % sizeof(float) == 0;
    float *wbuf = direct ? NULL : g_new(float, (size_t)tile *K);
    if (conv_plain(s))
        conv_1x1(y, x, w, s, wbuf, tile);
    else
        conv_banded(y, x, w, s, wbuf, tile);
    g_free(wbuf);
}

/* Direct 7-loop convolution in double, reading the (upsampled, pre-mapped) input by index. */
void conv_2d_naive(float *y, const float *x, const StTensor *w, const float *b, const ConvShape *s)
{
    int k = s->k, pad = k / 2, up = s->upsample, Ho, Wo;
    conv_out_size(s, &Ho, &Wo);
    size_t K = (size_t)s->Ci * k * k;
    g_assert(w->numel == (int64_t)s->Co * (int64_t)K);
    float *wf = g_new(float, w->numel > 0 ? w->numel : 1);
    st_to_f32(wf, w, 0, w->numel);
    for (int co = 0; co < s->Co; co++)
        for (int oy = 0; oy < Ho; oy++)
            for (int ox = 0; ox < Wo; ox++) {
                double acc = b ? b[co] : 0.0;
                for (int ci = 0; ci < s->Ci; ci++)
                    for (int ky = 0; ky < k; ky++)
                        for (int kx = 0; kx < k; kx++) {
                            int iy = oy + ky - pad, ix = ox + kx - pad;
                            if (s->down) {
                                iy = 2 * oy + ky, ix = 2 * ox + kx;
                                if (iy >= s->H || ix >= s->W) continue; /* padding */
                            } else if (iy < 0 || iy >= Ho || ix < 0 || ix >= Wo) {
                                continue;
                            }
                            if (up) iy /= 2, ix /= 2;
                            float v = x[((size_t)ci * s->H + iy) * s->W + ix];
                            if (s->pre_scale) v = v * s->pre_scale[ci] + s->pre_shift[ci];
                            if (s->pre_silu) v = conv_silu(v);
                            acc += (double)wf[(size_t)co * K + ((size_t)ci * k + ky) * k + kx] * v;
                        }
                float *o = &y[((size_t)co * Ho + oy) * Wo + ox];
                *o = s->accumulate ? *o + (float)acc : (float)acc;
            }
    g_free(wf);
}

/* ------------------------------------------------------------------------------------- */
/* GroupNorm                                                                             */

typedef struct {
    const float *x; /* [C, N] */
    size_t N;
    int cpg;            /* channels per group */
    const double *mean; /* [G] or NULL (first pass) */
    double *acc;        /* [C] per-channel Σx, then Σ(x − mean)² */
} StatJob;

static void stat_worker(void *ctx, size_t begin, size_t end)
{
    const StatJob *J = ctx;
    for (size_t c = begin; c < end; c++) {
        const float *xc = J->x + c * J->N;
        double a = 0;
        if (!J->mean) {
            for (size_t i = 0; i < J->N; i++) a += xc[i];
        } else {
            double m = J->mean[c / (size_t)J->cpg];
            for (size_t i = 0; i < J->N; i++) a += (xc[i] - m) * (xc[i] - m);
        }
        J->acc[c] = a;
    }
}

/* out[g] = Σ of acc over the channels of group g / (cpg·N). */
static void group_sums(double *out, const double *acc, int G, int cpg, size_t N)
{
    for (int g = 0; g < G; g++) {
        double s = 0;
        for (int c = g * cpg; c < (g + 1) * cpg; c++) s += acc[c];
        out[g] = s / ((double)cpg * (double)N);
    }
}

void conv_group_norm_coeffs(float *scale, float *shift, const float *x, int C, size_t N, int G,
                            const float *g, const float *b, float eps)
{
    g_assert(G > 0 && C % G == 0 && N > 0);
    int cpg = C / G;
    double *acc = g_new(double, C), *mean = g_new(double, G), *var = g_new(double, G);
    StatJob J = {x, N, cpg, NULL, acc};
    pool_parallel_for((size_t)C, stat_worker, &J);
    group_sums(mean, acc, G, cpg, N);
    J.mean = mean;
    pool_parallel_for((size_t)C, stat_worker, &J);
    group_sums(var, acc, G, cpg, N);
    for (int c = 0; c < C; c++) {
        double rstd = 1.0 / sqrt(var[c / cpg] + eps);
        double sc = (g ? g[c] : 1.0) * rstd;
        scale[c] = (float)sc;
        shift[c] = (float)((b ? b[c] : 0.0) - mean[c / cpg] * sc);
    }
    g_free(acc);
    g_free(mean);
    g_free(var);
}

typedef struct {
    float *y;
    const float *x;
    size_t N;
    const float *scale, *shift;
    int silu;
} AffineJob;

static void affine_worker(void *ctx, size_t begin, size_t end)
{
    const AffineJob *J = ctx;
    for (size_t c = begin; c < end; c++) {
        const float *xc = J->x + c * J->N;
        float *yc = J->y + c * J->N, a = J->scale[c], b = J->shift[c];
        for (size_t i = 0; i < J->N; i++) yc[i] = xc[i] * a + b;
        if (J->silu) ops_silu(yc, J->N);
    }
}

void conv_group_norm(float *y, const float *x, int C, size_t N, int G, const float *g,
                     const float *b, float eps, int silu)
{
    float *scale = g_new(float, 2 * (size_t)C), *shift = scale + C;
    conv_group_norm_coeffs(scale, shift, x, C, N, G, g, b, eps);
    AffineJob J = {y, x, N, scale, shift, silu};
    pool_parallel_for((size_t)C, affine_worker, &J);
    g_free(scale);
}

void conv_group_norm_naive(float *y, const float *x, int C, size_t N, int G, const float *g,
                           const float *b, float eps, int silu)
{
    int cpg = C / G;
    for (int grp = 0; grp < G; grp++) {
        const float *xg = x + (size_t)grp * cpg * N;
        size_t n = (size_t)cpg * N;
        double mean = 0, var = 0;
        for (size_t i = 0; i < n; i++) mean += xg[i];
        mean /= (double)n;
        for (size_t i = 0; i < n; i++) var += (xg[i] - mean) * (xg[i] - mean);
        var /= (double)n;
        double rstd = 1.0 / sqrt(var + eps);
        for (int c = grp * cpg; c < (grp + 1) * cpg; c++)
            for (size_t i = 0; i < N; i++) {
                double v =
                    (x[(size_t)c * N + i] - mean) * rstd * (g ? g[c] : 1.0) + (b ? b[c] : 0.0);
                if (silu) v = v / (1.0 + exp(-v));
                y[(size_t)c * N + i] = (float)v;
            }
    }
}

/* ------------------------------------------------------------------------------------- */
/* Upsampling                                                                            */

typedef struct {
    float *y;
    const float *x;
    int W;
} UpJob;

/* One input row (of all C·H) → two output rows. */
static void up_worker(void *ctx, size_t begin, size_t end)
{
    const UpJob *J = ctx;
    size_t W = (size_t)J->W;
    for (size_t r = begin; r < end; r++) {
        const float *src = J->x + r * W;
        float *d = J->y + r * 4 * W;
        for (size_t i = 0; i < W; i++) d[2 * i] = d[2 * i + 1] = src[i];
        memcpy(d + 2 * W, d, sizeof(float) * 2 * W);
    }
}

void conv_upsample2x(float *y, const float *x, int C, int H, int W)
{
    UpJob J = {y, x, W};
    pool_parallel_for((size_t)C * H, up_worker, &J);
}

void conv_upsample2x_naive(float *y, const float *x, int C, int H, int W)
{
    for (int c = 0; c < C; c++)
        for (int oy = 0; oy < 2 * H; oy++)
            for (int ox = 0; ox < 2 * W; ox++)
                y[((size_t)c * 2 * H + oy) * 2 * W + ox] = x[((size_t)c * H + oy / 2) * W + ox / 2];
}
