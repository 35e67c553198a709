/* png_in.c — PNG decoding for --init-image and --mask (png_in.h). libpng expands every colour
 * type to 8-bit grey / grey+alpha / RGB / RGBA rows; one pass then converts those to the target.
 * Corrupt input is reported through libpng's longjmp, kept inside decode_rows. */
#include "png_in.h"

#include "flux.h"

#include <png.h>
#include <string.h>

typedef struct {
    const guint8 *p;
    size_t left;
} MemSrc;

static void mem_read(png_structp png, png_bytep dst, png_size_t n)
{
    MemSrc *s = png_get_io_ptr(png);
    if (n > s->left) png_error(png, "truncated file");
    memcpy(dst, s->p, n);
    s->p += n, s->left -= n;
}

typedef struct {
    char reason[128];
    gboolean too_large; /* a side over the user limit (libpng warns, then fails the IHDR) */
    guint8 *rows;       /* [h, w, n] */
    int w, h, n;
} Decoded;

/* libpng's warnings (bad CRC in an ancillary chunk, ...) are not worth a message, except the
 * one saying why an IHDR is refused. */
static void quiet_warning(png_structp png, png_const_charp msg)
{
    Decoded *d = png_get_error_ptr(png);
    if (strstr(msg, "exceeds user limit")) d->too_large = TRUE;
}

static void on_error(png_structp png, png_const_charp msg)
{
    Decoded *d = png_get_error_ptr(png);
    g_strlcpy(d->reason, msg, sizeof d->reason);
    png_longjmp(png, 1);
}

/* Every colour type → 8-bit samples, 1 (grey), 2 (grey + alpha), 3 (RGB) or 4 (RGBA). */
static gboolean decode_rows(const guint8 *bytes, size_t len, Decoded *d)
{
    MemSrc src = {bytes, len};
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, d, on_error, quiet_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    png_bytep *volatile row_ptrs = NULL;
    if (!info) {
        png_destroy_read_struct(&png, NULL, NULL);
        g_strlcpy(d->reason, "out of memory", sizeof d->reason);
        return FALSE;
    }
    if (setjmp(png_jmpbuf(png))) {
        g_free(row_ptrs);
        g_free(d->rows);
        d->rows = NULL;
        png_destroy_read_struct(&png, &info, NULL);
        return FALSE;
    }
    png_set_read_fn(png, &src, mem_read);
    png_set_user_limits(png, PNG_IN_MAX_SIDE, PNG_IN_MAX_SIDE);
    png_read_info(png, info);
    png_set_expand(png); /* palette → RGB, grey < 8 bits → 8, tRNS → alpha */
    png_set_strip_16(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    d->w = (int)png_get_image_width(png, info);
    d->h = (int)png_get_image_height(png, info);
    d->n = png_get_channels(png, info);
    if (png_get_rowbytes(png, info) != (size_t)d->w * d->n) png_error(png, "unexpected row size");
    d->rows = g_try_malloc((size_t)d->w * d->h * d->n);
    row_ptrs = g_try_new(png_bytep, d->h);
    if (!d->rows || !row_ptrs) png_error(png, "out of memory");
    for (int y = 0; y < d->h; y++) row_ptrs[y] = d->rows + (size_t)y * d->w * d->n;
    png_read_image(png, row_ptrs);
    png_read_end(png, NULL);
    g_free(row_ptrs);
    png_destroy_read_struct(&png, &info, NULL);
    return TRUE;
}

/* The decoded samples → RGB [h, w, 3] or mask [h, w] (see png_in.h). */
static void convert(const Decoded *d, PngInTarget target, guint8 *out)
{
    size_t N = (size_t)d->w * d->h;
    for (size_t i = 0; i < N; i++) {
        const guint8 *s = d->rows + i * d->n;
        gboolean colour = d->n >= 3, alpha = d->n == 2 || d->n == 4;
        guint8 r = s[0], g = colour ? s[1] : s[0], b = colour ? s[2] : s[0];
        if (target == PNG_IN_RGB) {
            out[i * 3] = r, out[i * 3 + 1] = g, out[i * 3 + 2] = b;
            continue;
        }
        guint32 l = colour ? png_in_luma(r, g, b) : r;
        if (alpha) l = (l * s[d->n - 1] + 127) / 255;
        out[i] = (guint8)l;
    }
}

gboolean png_in_decode(const guint8 *bytes, size_t len, const char *label, PngInTarget target,
                       PngPixels *out, GError **error)
{
    memset(out, 0, sizeof *out);
    if (len < 8 || png_sig_cmp(bytes, 0, 8)) {
        g_set_error(error, FLUX_ERROR, FLUX_ERROR_FORMAT, "%s: not a PNG file", label);
        return FALSE;
    }
    Decoded d = {{0}, FALSE, NULL, 0, 0, 0};
    if (!decode_rows(bytes, len, &d)) {
        if (d.too_large)
            g_set_error(error, FLUX_ERROR, FLUX_ERROR_ARGUMENT,
                        "%s: the picture is larger than %d pixels per side", label,
                        PNG_IN_MAX_SIDE);
        else
            g_set_error(error, FLUX_ERROR, FLUX_ERROR_FORMAT, "%s: not a readable PNG (%s)", label,
                        d.reason);
        return FALSE;
    }
    out->channels = target == PNG_IN_RGB ? 3 : 1;
    out->w = d.w, out->h = d.h;
    out->data = g_try_malloc((size_t)d.w * d.h * out->channels + 1);
    if (!out->data) {
        g_free(d.rows);
        g_set_error(error, FLUX_ERROR, FLUX_ERROR_NO_MEMORY, "%s: no memory for %d×%d pixels",
                    label, d.w, d.h);
        return FALSE;
    }
    convert(&d, target, out->data);
    g_free(d.rows);
    return TRUE;
}

gboolean png_in_load(const char *path, PngInTarget target, PngPixels *out, GError **error)
{
    g_autofree char *bytes = NULL;
    gsize len = 0;
    GError *e = NULL;
    memset(out, 0, sizeof *out);
    if (!g_file_get_contents(path, &bytes, &len, &e)) {
        g_set_error(error, FLUX_ERROR, FLUX_ERROR_IO, "%s", e->message);
        g_error_free(e);
        return FALSE;
    }
    return png_in_decode((const guint8 *)bytes, len, path, target, out, error);
}

void png_pixels_clear(PngPixels *p)
{
    g_free(p->data);
    memset(p, 0, sizeof *p);
}
