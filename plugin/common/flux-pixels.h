/* flux-pixels.h — pixels between a GIMP drawable's buffer and the bytes libflux takes, for both
 * GIMP entries (compiled into each, as flux-watch.c: GEGL is the same under libgimp 2.10 and 3).
 * The buffer is gimp_drawable_get_buffer's, and these functions take it (unref it). */
#pragma once

#include "flux-worker.h"

#include <gegl.h>

G_BEGIN_DECLS

/* The w × h rectangle at (x, y) of `buf` in babl `format` (bpp bytes a pixel), outside the
 * buffer transparent/zero. Caller frees. */
guint8 *flux_pixels_read(GeglBuffer *buf, int x, int y, int w, int h, const char *format, int bpp);
/* res->rgb into `buf` at (0, 0); babl converts the sRGB bytes to the drawable's precision and
 * mode (float linear, gray). Unreffing the buffer flushes the tiles to GIMP. */
void flux_pixels_write(GeglBuffer *buf, const FluxWorkerResult *res);

G_END_DECLS
