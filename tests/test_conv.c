/* test_conv.c — the image ops of core/compute/conv.c against their naive twins on random data with
 * odd sizes: 1×1 and 3×3 convolutions with F32/F16/BF16 weights, the fused GroupNorm + SiLU input
 * map, the fused ×2 upsampling, the in-place 1×1, several im2col bands and weight tiles;
 * GroupNorm (with and without SiLU, affine or not, in place); nearest upsampling. */
#include "conv.h"
#include "testutil.h"

#include <math.h>
#include <string.h>

/* The naive ops accumulate in double; the fast ones in float32 through sgemm over K = Ci·k·k
 * terms of magnitude <= 1: the float32 rounding of such sums stays below ~1e-6 relative to
 * max|ref|; 1e-5 leaves a 10× margin while any indexing error gives O(1). */
#define TOL 1e-5

/* ------------------------------------------------------------------------------------- */
/* Weights in any float dtype                                                             */

/* float32 → IEEE half, round to nearest even; test data stays in the normal range or flushes
 * to zero (both sides read the same half values, so the conversion need not be perfect). */
static guint16 to_f16(float f)
{
    guint32 u;
    memcpy(&u, &f, 4);
    guint32 sign = (u >> 16) & 0x8000u;
    int e = (int)((u >> 23) & 0xff) - 127 + 15;
    guint32 mant = u & 0x7fffffu;
    if (e <= 0) return (guint16)sign;
    guint32 h = sign | ((guint32)e << 10) | (mant >> 13);
    guint32 rest = mant & 0x1fffu;
    if (rest > 0x1000u || (rest == 0x1000u && (h & 1u))) h++;
    return (guint16)h;
}

static guint16 to_bf16(float f)
{
    guint32 u;
    memcpy(&u, &f, 4);
    return (guint16)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

/* A weight tensor [Co, Ci, k, k] of random values in `dtype`; data owned by the caller
 * (g_free(t->data)). */
static StTensor make_weight(StDtype dtype, int Co, int Ci, int k, guint32 seed)
{
    StTensor t = {.name = "test.weight", .dtype = dtype, .ndim = 4, .file = "(test)"};
    t.shape[0] = Co, t.shape[1] = Ci, t.shape[2] = k, t.shape[3] = k;
    t.numel = (int64_t)Co * Ci * k * k;
    float *f = g_new(float, t.numel);
    tu_fill_random(f, t.numel, seed);
    if (dtype == ST_F32) {
        t.data = f;
        t.nbytes = sizeof(float) * t.numel;
        return t;
    }
    guint16 *h = g_new(guint16, t.numel);
    for (int64_t i = 0; i < t.numel; i++) h[i] = dtype == ST_F16 ? to_f16(f[i]) : to_bf16(f[i]);
    g_free(f);
    t.data = h;
    t.nbytes = 2 * t.numel;
    return t;
}

/* ------------------------------------------------------------------------------------- */
/* Convolution                                                                           */

typedef struct {
    int Ci, Co, H, W, k, upsample, pre, silu, accumulate;
    StDtype dtype;
} ConvCase;

/* `down`: the stride-2 Downsample2D form (conv.h). */
static double conv_case_ex(const ConvCase *c, guint32 seed, int down)
{
    int Ho = c->upsample ? 2 * c->H : c->H, Wo = c->upsample ? 2 * c->W : c->W;
    if (down) Ho = (c->H - 2) / 2 + 1, Wo = (c->W - 2) / 2 + 1;
    size_t nx = (size_t)c->Ci * c->H * c->W, ny = (size_t)c->Co * Ho * Wo;
    StTensor w = make_weight(c->dtype, c->Co, c->Ci, c->k, seed);
    float *x = g_new(float, nx), *b = g_new(float, c->Co), *pre = g_new(float, 2 * c->Ci);
    float *y = g_new(float, ny), *ref = g_new(float, ny);
    tu_fill_random(x, nx, seed + 1);
    tu_fill_random(b, c->Co, seed + 2);
    tu_fill_random(pre, 2 * c->Ci, seed + 3);
    tu_fill_random(y, ny, seed + 4); /* what accumulate adds to */
    memcpy(ref, y, sizeof(float) * ny);
    ConvShape s = {.Ci = c->Ci,
                   .Co = c->Co,
                   .H = c->H,
                   .W = c->W,
                   .k = c->k,
                   .upsample = c->upsample,
                   .down = down,
                   .pre_scale = c->pre ? pre : NULL,
                   .pre_shift = c->pre ? pre + c->Ci : NULL,
                   .pre_silu = c->silu,
                   .accumulate = c->accumulate};
    conv_2d(y, x, &w, b, &s);
    conv_2d_naive(ref, x, &w, b, &s);
    g_autofree char *what =
        g_strdup_printf("conv %s Ci=%d Co=%d %dx%d k=%d up=%d down=%d pre=%d silu=%d acc=%d",
                        st_dtype_name(c->dtype), c->Ci, c->Co, c->H, c->W, c->k, c->upsample, down,
                        c->pre, c->silu, c->accumulate);
    double rel = tu_assert_close(what, y, ref, ny, TOL);
    g_free((void *)w.data);
    g_free(x);
    g_free(b);
    g_free(pre);
    g_free(y);
    g_free(ref);
    return rel;
}

static double conv_case(const ConvCase *c, guint32 seed)
{
    return conv_case_ex(c, seed, 0);
}

static void test_conv_small(void)
{
    static const ConvCase cases[] = {
        {3, 5, 7, 5, 3, 0, 0, 0, 0, ST_F32},  {3, 5, 7, 5, 1, 0, 0, 0, 0, ST_F32},
        {4, 6, 1, 1, 3, 0, 0, 0, 0, ST_F32},  {2, 3, 9, 1, 3, 0, 0, 0, 0, ST_F32},
        {2, 3, 1, 11, 3, 0, 0, 0, 0, ST_F32}, {5, 4, 6, 7, 3, 1, 0, 0, 0, ST_F32},
        {5, 4, 1, 1, 3, 1, 0, 0, 0, ST_F32},  {6, 7, 5, 9, 3, 0, 1, 1, 0, ST_F32},
        {6, 7, 5, 9, 3, 0, 0, 1, 0, ST_F32},  {6, 7, 5, 9, 3, 1, 1, 1, 1, ST_F32},
        {6, 7, 5, 9, 1, 0, 1, 1, 0, ST_F32},  {6, 7, 5, 9, 1, 0, 0, 0, 1, ST_F32},
        {6, 7, 5, 9, 1, 1, 0, 0, 0, ST_F32},  {7, 3, 8, 6, 3, 0, 1, 0, 1, ST_F16},
        {7, 3, 8, 6, 1, 0, 0, 0, 0, ST_F16},  {7, 3, 8, 6, 3, 1, 1, 1, 0, ST_BF16},
        {7, 3, 8, 6, 1, 0, 0, 0, 1, ST_BF16}, {16, 16, 13, 11, 3, 0, 1, 1, 0, ST_BF16},
    };
    double worst = 0;
    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++)
        worst = fmax(worst, conv_case(&cases[i], 100 + 10 * (guint32)i));
    g_test_message("%zu small cases: worst relative max diff %.3g", G_N_ELEMENTS(cases), worst);
}

/* 64 channels × 3×3 over 160×96 output pixels: K·Wo·4 B per row = 221 KiB, so the 32 MiB
 * im2col budget gives bands of 151 rows and the 160 rows take two bands (the second one
 * partial), with and without the fused upsampling. */
static void test_conv_bands(void)
{
    ConvCase a = {64, 5, 160, 96, 3, 0, 1, 1, 0, ST_F32};
    ConvCase b = {64, 5, 80, 48, 3, 1, 1, 1, 1, ST_BF16};
    g_test_message("two bands: %.3g, upsampled: %.3g", conv_case(&a, 7), conv_case(&b, 8));
}

/* Downsample2D (stride 2, padding (0, 1, 0, 1)): fast vs naive on even and odd sizes, with the
 * fused pre-map and across two bands; then, independently of both, for an even size the result
 * equals the stride-1, padding-1 convolution read at odd rows and columns (output (oy, ox) sees
 * input rows 2oy .. 2oy+2, i.e. the 3×3 window centred on (2oy+1, 2ox+1), whose last row or
 * column is the zero padding exactly when 2oy+2 = H). */
static void test_conv_down(void)
{
    static const ConvCase cases[] = {
        {3, 5, 8, 6, 3, 0, 0, 0, 0, ST_F32},     {3, 5, 7, 9, 3, 0, 0, 0, 0, ST_F32},
        {4, 6, 2, 2, 3, 0, 0, 0, 0, ST_F32},     {6, 7, 10, 12, 3, 0, 1, 1, 1, ST_BF16},
        {64, 5, 320, 96, 3, 0, 1, 1, 0, ST_F32},
    };
    double worst = 0;
    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++)
        worst = fmax(worst, conv_case_ex(&cases[i], 300 + 10 * (guint32)i, 1));

    int Ci = 5, Co = 4, H = 10, W = 14;
    StTensor w = make_weight(ST_F32, Co, Ci, 3, 77);
    g_autofree float *x = g_new(float, (size_t)Ci *H *W);
    g_autofree float *full = g_new(float, (size_t)Co *H *W);
    g_autofree float *y = g_new(float, (size_t)Co *(H / 2) * (W / 2));
    g_autofree float *ref = g_new(float, (size_t)Co *(H / 2) * (W / 2));
    tu_fill_random(x, (size_t)Ci * H * W, 78);
    ConvShape s1 = {.Ci = Ci, .Co = Co, .H = H, .W = W, .k = 3};
    conv_2d_naive(full, x, &w, NULL, &s1);
    for (int co = 0; co < Co; co++)
        for (int oy = 0; oy < H / 2; oy++)
            for (int ox = 0; ox < W / 2; ox++)
                ref[(co * (H / 2) + oy) * (W / 2) + ox] =
                    full[(co * H + 2 * oy + 1) * W + 2 * ox + 1];
    ConvShape s2 = {.Ci = Ci, .Co = Co, .H = H, .W = W, .k = 3, .down = 1};
    int Ho, Wo;
    conv_out_size(&s2, &Ho, &Wo);
    g_assert_cmpint(Ho, ==, H / 2);
    g_assert_cmpint(Wo, ==, W / 2);
    conv_2d(y, x, &w, NULL, &s2);
    double rel = tu_assert_close("down = odd samples of stride 1", y, ref,
                                 (size_t)Co * (H / 2) * (W / 2), TOL);
    g_free((void *)w.data);
    g_test_message("%zu cases vs naive: worst %.3g; vs stride-1 samples: %.3g", G_N_ELEMENTS(cases),
                   worst, rel);
}

/* K = 2048·9: the 16 MiB weight tile holds 227 output channels, so 240 take two tiles. */
static void test_conv_weight_tiles(void)
{
    ConvCase a = {2048, 240, 4, 3, 3, 0, 1, 0, 0, ST_BF16};
    ConvCase b = {2048, 240, 2, 3, 3, 0, 0, 0, 1, ST_F32};
    g_test_message("two weight tiles: %.3g, f32 accumulate: %.3g", conv_case(&a, 9),
                   conv_case(&b, 10));
}

/* The in-place 1×1 (y == x, Co < Ci) against the out-of-place one, with pixel bands:
 * 32 MiB / (1024·4 B) = 8192 pixels per band, 9000 pixels → two bands. */
static void test_conv_inplace(void)
{
    int Ci = 1030, Co = 1024, H = 100, W = 90;
    size_t N = (size_t)H * W;
    StTensor w = make_weight(ST_F16, Co, Ci, 1, 11);
    float *x = g_new(float, (size_t)Ci *N), *ref = g_new(float, (size_t)Co *N);
    float *b = g_new(float, Co);
    tu_fill_random(x, (size_t)Ci * N, 12);
    tu_fill_random(b, Co, 13);
    ConvShape s = {.Ci = Ci, .Co = Co, .H = H, .W = W, .k = 1};
    conv_2d(ref, x, &w, b, &s);
    conv_2d(x, x, &w, b, &s);
    tu_assert_close("in-place 1x1", x, ref, (size_t)Co * N, 1e-6);
    /* and one small case against the naive reference, a single band */
    ConvShape s2 = {.Ci = 6, .Co = 4, .H = 5, .W = 3, .k = 1};
    float y[4 * 15], x2[6 * 15];
    tu_fill_random(x2, 6 * 15, 14);
    StTensor w2 = make_weight(ST_F32, 4, 6, 1, 15);
    conv_2d_naive(y, x2, &w2, b, &s2);
    conv_2d(x2, x2, &w2, b, &s2);
    tu_assert_close("in-place 1x1 small", x2, y, 4 * 15, TOL);
    g_free((void *)w.data);
    g_free((void *)w2.data);
    g_free(x);
    g_free(ref);
    g_free(b);
}

/* The fused forms equal the explicit chains: conv(upsample(x)) and conv(silu(groupnorm(x))). */
static void test_conv_fusions(void)
{
    int C = 8, Co = 5, H = 7, W = 9, G = 4;
    size_t N = (size_t)H * W;
    StTensor w = make_weight(ST_F32, Co, C, 3, 21);
    float x[8 * 63], xu[8 * 4 * 63], xn[8 * 63], g[8], bb[8], sc[8], sh[8];
    float y1[5 * 4 * 63], y2[5 * 4 * 63];
    tu_fill_random(x, C * N, 22);
    tu_fill_random(g, C, 23);
    tu_fill_random(bb, C, 24);
    conv_upsample2x(xu, x, C, H, W);
    ConvShape up = {.Ci = C, .Co = Co, .H = H, .W = W, .k = 3, .upsample = 1};
    ConvShape on_xu = {.Ci = C, .Co = Co, .H = 2 * H, .W = 2 * W, .k = 3};
    conv_2d(y1, x, &w, NULL, &up);
    conv_2d(y2, xu, &w, NULL, &on_xu);
    tu_assert_close("fused upsample", y1, y2, (size_t)Co * 4 * N, TOL);

    conv_group_norm(xn, x, C, N, G, g, bb, 1e-6f, 1);
    conv_group_norm_coeffs(sc, sh, x, C, N, G, g, bb, 1e-6f);
    ConvShape pre = {
        .Ci = C, .Co = Co, .H = H, .W = W, .k = 3, .pre_scale = sc, .pre_shift = sh, .pre_silu = 1};
    ConvShape plain = {.Ci = C, .Co = Co, .H = H, .W = W, .k = 3};
    conv_2d(y1, x, &w, NULL, &pre);
    conv_2d(y2, xn, &w, NULL, &plain);
    tu_assert_close("fused group norm + silu", y1, y2, (size_t)Co * N, TOL);
    g_free((void *)w.data);
}

/* ------------------------------------------------------------------------------------- */
/* GroupNorm and upsampling                                                              */

static void group_norm_case(int C, int H, int W, int G, int affine, int silu, float offset,
                            double tol)
{
    size_t N = (size_t)H * W, n = (size_t)C * N;
    float *x = g_new(float, n), *y = g_new(float, n), *ref = g_new(float, n);
    float *g = g_new(float, C), *b = g_new(float, C);
    tu_fill_random(x, n, (guint32)(C * 7 + G));
    for (size_t i = 0; i < n; i++) x[i] = x[i] * 3.0f + offset;
    tu_fill_random(g, C, 31);
    tu_fill_random(b, C, 32);
    conv_group_norm(y, x, C, N, G, affine ? g : NULL, affine ? b : NULL, 1e-6f, silu);
    conv_group_norm_naive(ref, x, C, N, G, affine ? g : NULL, affine ? b : NULL, 1e-6f, silu);
    g_autofree char *what = g_strdup_printf("group norm C=%d %dx%d G=%d affine=%d silu=%d +%g", C,
                                            H, W, G, affine, silu, offset);
    tu_assert_close(what, y, ref, n, tol);
    conv_group_norm(x, x, C, N, G, affine ? g : NULL, affine ? b : NULL, 1e-6f, silu);
    g_assert_cmpmem(x, n * sizeof(float), y, n * sizeof(float)); /* in place: same result */
    g_free(x);
    g_free(y);
    g_free(ref);
    g_free(g);
    g_free(b);
}

static void test_group_norm(void)
{
    /* The fast op uses torch's CPU form y = x·scale + shift (scale = g·rstd, shift = b −
     * mean·scale), which loses ~|mean|·rstd ulps against the naive (x − mean)·rstd·g + b. */
    group_norm_case(12, 5, 7, 4, 1, 0, 0.0f, 2e-6);
    group_norm_case(12, 5, 7, 4, 1, 1, 0.0f, 2e-6);
    group_norm_case(12, 5, 7, 4, 0, 0, 0.0f, 2e-6);
    group_norm_case(9, 3, 11, 1, 1, 1, 0.0f, 2e-6);
    group_norm_case(64, 33, 17, 32, 1, 1, 20.0f, 1e-5); /* |mean|/std ≈ 10 */
    /* one value per group: var 0, rstd = 1/sqrt(eps) = 1000, so x·scale carries 1000× the
     * rounding of x (torch does the same); the exact result is b */
    group_norm_case(12, 1, 1, 12, 1, 1, 0.0f, 1e-3);
}

static void test_upsample(void)
{
    static const int sizes[][3] = {{3, 5, 7}, {1, 1, 1}, {2, 1, 9}, {4, 8, 3}};
    for (gsize i = 0; i < G_N_ELEMENTS(sizes); i++) {
        int C = sizes[i][0], H = sizes[i][1], W = sizes[i][2];
        size_t n = (size_t)C * H * W;
        float *x = g_new(float, n), *y = g_new(float, 4 * n), *ref = g_new(float, 4 * n);
        tu_fill_random(x, n, 40 + (guint32)i);
        conv_upsample2x(y, x, C, H, W);
        conv_upsample2x_naive(ref, x, C, H, W);
        g_assert_cmpmem(y, 4 * n * sizeof(float), ref, 4 * n * sizeof(float));
        /* spot check the definition: y[c, Y, X] = x[c, Y/2, X/2] */
        g_assert_cmpfloat(y[(size_t)(C - 1) * 4 * H * W + (2 * H - 1) * 2 * W + 2 * W - 1], ==,
                          x[n - 1]);
        g_free(x);
        g_free(y);
        g_free(ref);
    }
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/conv/small-shapes", test_conv_small);
    g_test_add_func("/conv/bands", test_conv_bands);
    g_test_add_func("/conv/weight-tiles", test_conv_weight_tiles);
    g_test_add_func("/conv/in-place-1x1", test_conv_inplace);
    g_test_add_func("/conv/fusions", test_conv_fusions);
    g_test_add_func("/conv/group-norm", test_group_norm);
    g_test_add_func("/conv/upsample", test_upsample);
    g_test_add_func("/conv/down", test_conv_down);
    return g_test_run();
}
