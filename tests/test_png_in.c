/* test_png_in.c — the CLI's PNG reader for --init-image and --mask (cli/png_in.c) on PNGs of
 * every colour type written here with libpng's own writer: pixels as PIL's convert("RGB") /
 * convert("L") give them (Pillow's fixed-point luma, checked on colours where a truncating
 * 0.299/0.587/0.114 formula would land on the other side of the mask's 128 threshold), the
 * alpha rule, 16-bit, palettes with transparency, interlacing, and corrupt input. */
#include "../cli/png_in.h"
#include "flux.h"

#include <png.h>
#include <stdio.h>
#include <string.h>

typedef struct {
    int color_type, bit_depth, interlace;
    int w, h;
    const guint8 *samples; /* rows of w · channels · (bit_depth / 8) bytes */
    const png_color *palette;
    int n_palette;
    const guint8 *trns; /* palette alpha, n_palette entries */
} PngSpec;

static void grow_write(png_structp png, png_bytep data, png_size_t n)
{
    g_byte_array_append(png_get_io_ptr(png), data, (guint)n);
}

static void no_flush(png_structp png)
{
    (void)png;
}

static int channels_of(int color_type)
{
    switch (color_type) {
    case PNG_COLOR_TYPE_GRAY:
    case PNG_COLOR_TYPE_PALETTE:
        return 1;
    case PNG_COLOR_TYPE_GRAY_ALPHA:
        return 2;
    case PNG_COLOR_TYPE_RGB:
        return 3;
    default:
        return 4;
    }
}

/* A PNG in memory (caller frees with g_byte_array_unref). */
static GByteArray *write_png(const PngSpec *s)
{
    GByteArray *out = g_byte_array_new();
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    g_assert_nonnull(info);
    g_assert_cmpint(setjmp(png_jmpbuf(png)), ==, 0);
    png_set_write_fn(png, out, grow_write, no_flush);
    png_set_IHDR(png, info, (png_uint_32)s->w, (png_uint_32)s->h, s->bit_depth, s->color_type,
                 s->interlace, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    if (s->palette) png_set_PLTE(png, info, s->palette, s->n_palette);
    if (s->trns) png_set_tRNS(png, info, s->trns, s->n_palette, NULL);
    png_write_info(png, info);
    size_t row = (size_t)s->w * channels_of(s->color_type) * (s->bit_depth / 8);
    png_bytep *rows = g_new(png_bytep, s->h);
    for (int y = 0; y < s->h; y++) rows[y] = (png_bytep)s->samples + y * row;
    png_write_image(png, rows);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    g_free(rows);
    return out;
}

static PngPixels decode_ok(GByteArray *b, PngInTarget t)
{
    PngPixels p;
    GError *err = NULL;
    g_assert_true(png_in_decode(b->data, b->len, "test.png", t, &p, &err));
    g_assert_no_error(err);
    return p;
}

/* Pillow's L24 on colours where it and a truncated (299, 587, 114)/1000 disagree about ≥ 128
 * (found by enumeration: (0, 218, 0) is 128 vs 127), plus grey levels that must stay as they
 * are (the weights sum to 65536). */
static void test_luma(void)
{
    g_assert_cmpint(png_in_luma(0, 218, 0), ==, 128);
    g_assert_cmpint(png_in_luma(0, 217, 0), ==, 127);
    g_assert_cmpint(png_in_luma(255, 0, 0), ==, 76);
    g_assert_cmpint(png_in_luma(0, 0, 255), ==, 29);
    for (int v = 0; v < 256; v++) g_assert_cmpint(png_in_luma(v, v, v), ==, v);
}

static void test_rgb_and_mask(void)
{
    /* 2×1 RGB: (0, 218, 0), (10, 20, 30) */
    const guint8 rgb[] = {0, 218, 0, 10, 20, 30};
    PngSpec s = {PNG_COLOR_TYPE_RGB, 8, PNG_INTERLACE_NONE, 2, 1, rgb, NULL, 0, NULL};
    GByteArray *b = write_png(&s);
    PngPixels p = decode_ok(b, PNG_IN_RGB);
    g_assert_cmpint(p.channels, ==, 3);
    g_assert_cmpmem(p.data, 6, rgb, 6);
    png_pixels_clear(&p);
    p = decode_ok(b, PNG_IN_MASK);
    g_assert_cmpint(p.channels, ==, 1);
    g_assert_cmpint(p.data[0], ==, 128);
    g_assert_cmpint(p.data[1], ==, png_in_luma(10, 20, 30));
    png_pixels_clear(&p);
    g_byte_array_unref(b);

    /* grey → RGB replicated; RGBA → alpha dropped for the picture, L·A/255 for the mask */
    const guint8 grey[] = {7, 200};
    PngSpec g = {PNG_COLOR_TYPE_GRAY, 8, PNG_INTERLACE_NONE, 2, 1, grey, NULL, 0, NULL};
    b = write_png(&g);
    p = decode_ok(b, PNG_IN_RGB);
    const guint8 want[] = {7, 7, 7, 200, 200, 200};
    g_assert_cmpmem(p.data, 6, want, 6);
    png_pixels_clear(&p);
    g_byte_array_unref(b);

    const guint8 rgba[] = {255, 255, 255, 0, 255, 255, 255, 128, 200, 100, 50, 255};
    PngSpec a = {PNG_COLOR_TYPE_RGB_ALPHA, 8, PNG_INTERLACE_NONE, 3, 1, rgba, NULL, 0, NULL};
    b = write_png(&a);
    p = decode_ok(b, PNG_IN_RGB);
    const guint8 want_rgb[] = {255, 255, 255, 255, 255, 255, 200, 100, 50};
    g_assert_cmpmem(p.data, 9, want_rgb, 9);
    png_pixels_clear(&p);
    p = decode_ok(b, PNG_IN_MASK);
    g_assert_cmpint(p.data[0], ==, 0);                         /* transparent: keep */
    g_assert_cmpint(p.data[1], ==, (255 * 128 + 127) / 255);   /* 128: repaint */
    g_assert_cmpint(p.data[2], ==, png_in_luma(200, 100, 50)); /* opaque: its grey */
    png_pixels_clear(&p);
    g_byte_array_unref(b);

    const guint8 ga[] = {255, 127, 90, 255};
    PngSpec gas = {PNG_COLOR_TYPE_GRAY_ALPHA, 8, PNG_INTERLACE_NONE, 2, 1, ga, NULL, 0, NULL};
    b = write_png(&gas);
    p = decode_ok(b, PNG_IN_MASK);
    g_assert_cmpint(p.data[0], ==, 127); /* 255 · 127 / 255: below the threshold */
    g_assert_cmpint(p.data[1], ==, 90);
    png_pixels_clear(&p);
    g_byte_array_unref(b);
}

/* Palette with tRNS, 1-bit grey, 16-bit RGB (high byte), Adam7 interlacing. */
static void test_other_layouts(void)
{
    const png_color pal[] = {{10, 20, 30}, {255, 255, 255}};
    const guint8 trns[] = {255, 0};
    const guint8 idx[] = {0, 1, 1, 0};
    PngSpec s = {PNG_COLOR_TYPE_PALETTE, 8, PNG_INTERLACE_NONE, 4, 1, idx, pal, 2, trns};
    GByteArray *b = write_png(&s);
    PngPixels p = decode_ok(b, PNG_IN_RGB);
    const guint8 want[] = {10, 20, 30, 255, 255, 255, 255, 255, 255, 10, 20, 30};
    g_assert_cmpmem(p.data, 12, want, 12);
    png_pixels_clear(&p);
    p = decode_ok(b, PNG_IN_MASK); /* white but transparent: keep */
    g_assert_cmpint(p.data[1], ==, 0);
    g_assert_cmpint(p.data[0], ==, png_in_luma(10, 20, 30));
    png_pixels_clear(&p);
    g_byte_array_unref(b);

    const guint8 bits[] = {0xA0}; /* 1-bit grey: 1, 0, 1, 0 */
    PngSpec one = {PNG_COLOR_TYPE_GRAY, 1, PNG_INTERLACE_NONE, 4, 1, bits, NULL, 0, NULL};
    /* bit_depth 1: the writer's row is 1 byte; write_png's row arithmetic gives 0, so rows
     * point at the same byte, which is what a 1-row image needs */
    b = write_png(&one);
    p = decode_ok(b, PNG_IN_MASK);
    const guint8 want1[] = {255, 0, 255, 0};
    g_assert_cmpmem(p.data, 4, want1, 4);
    png_pixels_clear(&p);
    g_byte_array_unref(b);

    const guint8 rgb16[] = {0x12, 0x34, 0xAB, 0xCD, 0xFF, 0x00};
    PngSpec d = {PNG_COLOR_TYPE_RGB, 16, PNG_INTERLACE_NONE, 1, 1, rgb16, NULL, 0, NULL};
    b = write_png(&d);
    p = decode_ok(b, PNG_IN_RGB);
    const guint8 want16[] = {0x12, 0xAB, 0xFF};
    g_assert_cmpmem(p.data, 3, want16, 3);
    png_pixels_clear(&p);
    g_byte_array_unref(b);

    enum { W = 13, H = 11 };
    guint8 px[W * H * 3];
    for (int i = 0; i < W * H * 3; i++) px[i] = (guint8)(i * 7);
    PngSpec il = {PNG_COLOR_TYPE_RGB, 8, PNG_INTERLACE_ADAM7, W, H, px, NULL, 0, NULL};
    b = write_png(&il);
    p = decode_ok(b, PNG_IN_RGB);
    g_assert_cmpint(p.w, ==, W);
    g_assert_cmpint(p.h, ==, H);
    g_assert_cmpmem(p.data, sizeof px, px, sizeof px);
    png_pixels_clear(&p);
    g_byte_array_unref(b);
}

static void expect_bad(const guint8 *bytes, size_t len, int code, const char *needle)
{
    PngPixels p;
    GError *err = NULL;
    g_assert_false(png_in_decode(bytes, len, "bad.png", PNG_IN_MASK, &p, &err));
    g_assert_error(err, FLUX_ERROR, code);
    g_test_message("%s", err->message);
    if (!strstr(err->message, needle)) g_test_fail_printf("'%s' lacks '%s'", err->message, needle);
    g_assert_true(strstr(err->message, "bad.png") != NULL);
    g_assert_null(p.data);
    g_error_free(err);
}

static void test_bad(void)
{
    expect_bad((const guint8 *)"GIF89a...", 9, FLUX_ERROR_FORMAT, "not a PNG");
    expect_bad((const guint8 *)"", 0, FLUX_ERROR_FORMAT, "not a PNG");
    guint8 px[64 * 64 * 3];
    for (size_t i = 0; i < sizeof px; i++) px[i] = (guint8)(i * 13);
    PngSpec s = {PNG_COLOR_TYPE_RGB, 8, PNG_INTERLACE_NONE, 64, 64, px, NULL, 0, NULL};
    GByteArray *b = write_png(&s);
    for (guint cut = 8; cut < b->len; cut += b->len / 7)
        expect_bad(b->data, cut, FLUX_ERROR_FORMAT, "not a readable PNG");
    guint8 *flip = g_memdup2(b->data, b->len);
    flip[b->len / 2] ^= 0x55; /* inside the compressed data: CRC or zlib error */
    expect_bad(flip, b->len, FLUX_ERROR_FORMAT, "not a readable PNG");
    g_free(flip);
    g_byte_array_unref(b);

    static guint8 wide[PNG_IN_MAX_SIDE + 1];
    PngSpec big = {
        PNG_COLOR_TYPE_GRAY, 8, PNG_INTERLACE_NONE, PNG_IN_MAX_SIDE + 1, 1, wide, NULL, 0, NULL};
    b = write_png(&big);
    expect_bad(b->data, b->len, FLUX_ERROR_ARGUMENT, "larger than");
    g_byte_array_unref(b);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/png-in/luma", test_luma);
    g_test_add_func("/png-in/rgb-and-mask", test_rgb_and_mask);
    g_test_add_func("/png-in/other-layouts", test_other_layouts);
    g_test_add_func("/png-in/bad", test_bad);
    return g_test_run();
}
