/* init_image.c — reading and sizing --init-image / --mask (init_image.h). */
#include "init_image.h"

#include "flux.h"
#include "png_in.h"

#include <string.h>

/* The top-left w×h of src [sh, sw, n] (rows shorter: a copy row by row). */
static guint8 *crop(const PngPixels *src, int w, int h)
{
    size_t row = (size_t)w * src->channels;
    guint8 *out = g_malloc(row * h + 1);
    for (int y = 0; y < h; y++)
        memcpy(out + y * row, src->data + (size_t)y * src->w * src->channels, row);
    return out;
}

static gboolean size_error(GError **error, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
static gboolean size_error(GError **error, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_set_error_literal(error, FLUX_ERROR, FLUX_ERROR_ARGUMENT, msg);
    return FALSE;
}

static gboolean check_sizes(const char *image, const PngPixels *pic, const char *mask,
                            const PngPixels *m, int width, int height, GError **error)
{
    if (m->data && (m->w != pic->w || m->h != pic->h))
        return size_error(error, "the mask %s is %d×%d pixels but the picture %s is %d×%d", mask,
                          m->w, m->h, image, pic->w, pic->h);
    int w = flux_size_floor(pic->w), h = flux_size_floor(pic->h);
    if (w < FLUX_SIZE_STEP || h < FLUX_SIZE_STEP)
        return size_error(error, "%s is %d×%d pixels; pictures need at least 16×16", image, pic->w,
                          pic->h);
    if ((width && flux_size_floor(width) != w) || (height && flux_size_floor(height) != h))
        return size_error(error,
                          "%s is %d×%d pixels, which gives a %d×%d output, but %d×%d was asked "
                          "for; leave out --width/--height or resize the picture (flux-generate "
                          "does not resize)",
                          image, pic->w, pic->h, w, h, width ? flux_size_floor(width) : w,
                          height ? flux_size_floor(height) : h);
    return TRUE;
}

gboolean init_image_load(const char *image, const char *mask, int width, int height, InitImage *out,
                         GError **error)
{
    memset(out, 0, sizeof *out);
    PngPixels pic = {0}, m = {0};
    gboolean ok = png_in_load(image, PNG_IN_RGB, &pic, error) &&
                  (!mask || png_in_load(mask, PNG_IN_MASK, &m, error)) &&
                  check_sizes(image, &pic, mask, &m, width, height, error);
    if (ok) {
        out->w = flux_size_floor(pic.w), out->h = flux_size_floor(pic.h);
        out->rgb = crop(&pic, out->w, out->h);
        out->mask = m.data ? crop(&m, out->w, out->h) : NULL;
    }
    png_pixels_clear(&pic);
    png_pixels_clear(&m);
    return ok;
}

void init_image_clear(InitImage *in)
{
    g_free(in->rgb);
    g_free(in->mask);
    memset(in, 0, sizeof *in);
}
