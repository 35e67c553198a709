/* png_in.h — reading the pictures flux-generate works from (--init-image, --mask), libpng.
 *
 *   PngPixels pic;
 *   if (!png_in_load(path, PNG_IN_RGB, &pic, &err)) ...   // pic.data [h, w, 3]
 *   png_pixels_clear(&pic);
 *
 * Any PNG is accepted: grey, grey + alpha, RGB, RGBA, palette (with tRNS), 1–16 bits, interlaced.
 * 16-bit samples are reduced to their high byte. The two targets follow PIL, which is what the
 * reference pipelines read pictures with:
 *   PNG_IN_RGB   the picture: Image.convert("RGB"): grey replicated, alpha dropped (not composed)
 *   PNG_IN_MASK  the mask: Image.convert("L"): RGB → (R·19595 + G·38470 + B·7471 + 32768) >> 16
 *                (Pillow's ITU-R 601-2 luma in 16-bit fixed point); then, where PIL would ignore
 *                it, the alpha channel (or tRNS transparency) multiplies the grey value:
 *                L·A/255 rounded to nearest, so a transparent pixel always means "keep".
 */
#pragma once

#include <glib.h>
#include <stddef.h>

typedef enum { PNG_IN_RGB, PNG_IN_MASK } PngInTarget;

typedef struct {
    guint8 *data; /* [h, w, channels], rows top to bottom; owned */
    int w, h, channels;
} PngPixels;

/* Largest side accepted: the output limit plus what flooring to 16 drops. */
#define PNG_IN_MAX_SIDE (4096 + 15)

/* Decodes `len` bytes; `label` names the source in messages (the file name). FALSE with
 * FLUX_ERROR_FORMAT (not a PNG, corrupt) or FLUX_ERROR_ARGUMENT (too large, empty). */
gboolean png_in_decode(const guint8 *bytes, size_t len, const char *label, PngInTarget target,
                       PngPixels *out, GError **error);
/* Reads and decodes a file (FLUX_ERROR_IO when it cannot be read). */
gboolean png_in_load(const char *path, PngInTarget target, PngPixels *out, GError **error);
void png_pixels_clear(PngPixels *p);

/* Pillow's RGB → L. */
static inline guint8 png_in_luma(guint8 r, guint8 g, guint8 b)
{
    return (guint8)(((guint32)r * 19595u + (guint32)g * 38470u + (guint32)b * 7471u + 0x8000u) >>
                    16);
}
