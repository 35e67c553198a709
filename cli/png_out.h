/* png_out.h — atomic 8-bit RGB PNG output (libpng). */
#pragma once

#include <glib.h>

typedef struct PngOut PngOut;

/* Creates the temporary file beside `path` now, so an unwritable destination is reported
 * before a long run. Caller owns: png_out_commit or png_out_abort. */
PngOut *png_out_open(const char *path, GError **error);
/* Writes rgb [h, w, 3] and renames the file into place; frees `o` in every case. */
gboolean png_out_commit(PngOut *o, const guint8 *rgb, int w, int h, GError **error);
/* Removes the temporary file and frees `o` (NULL-safe). */
void png_out_abort(PngOut *o);
