/* init_image.h — --init-image and --mask of flux-generate: the picture and mask read, checked
 * against each other and the requested size, and cut to the output size.
 *
 *   InitImage in;
 *   if (!init_image_load("in.png", "mask.png", 0, 0, &in, &err)) ...   // size from the picture
 *   p.init_image = in.rgb; p.init_width = in.w; ...
 *   init_image_clear(&in);
 *
 * Size rule (README "Working from a picture"): the output is the picture's size floored to
 * multiples of 16; the pixels beyond (at most 15 columns at the right, 15 rows at the bottom)
 * are left out, so that output pixel (x, y) is picture pixel (x, y). An explicit --width or
 * --height must give that same size, else the run is refused (nothing is resized).
 */
#pragma once

#include <glib.h>

typedef struct {
    guint8 *rgb;  /* [h, w, 3] */
    guint8 *mask; /* [h, w] or NULL */
    int w, h;     /* the output size */
} InitImage;

/* width/height: the requested size, 0 when not given. FALSE with FLUX_ERROR_* naming the file:
 * unreadable or not a PNG, mask size ≠ picture size, picture smaller than 16×16, requested size
 * ≠ the picture's. */
gboolean init_image_load(const char *image, const char *mask, int width, int height, InitImage *out,
                         GError **error);
void init_image_clear(InitImage *in);
