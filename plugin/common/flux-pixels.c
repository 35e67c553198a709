/* flux-pixels.c — a drawable's pixels in and out (see flux-pixels.h). */
#include "flux-pixels.h"

guint8 *flux_pixels_read(GeglBuffer *buf, int x, int y, int w, int h, const char *format, int bpp)
{
    guint8 *px = g_malloc0((gsize)w * h * bpp);
    gegl_buffer_get(buf, GEGL_RECTANGLE(x, y, w, h), 1.0, babl_format(format), px,
                    GEGL_AUTO_ROWSTRIDE, GEGL_ABYSS_NONE);
    g_object_unref(buf);
    return px;
}

void flux_pixels_write(GeglBuffer *buf, const FluxWorkerResult *res)
{
    gegl_buffer_set(buf, GEGL_RECTANGLE(0, 0, res->width, res->height), 0, babl_format("R'G'B' u8"),
                    res->rgb, GEGL_AUTO_ROWSTRIDE);
    g_object_unref(buf);
}
