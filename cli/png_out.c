/* png_out.c — writing 8-bit RGB PNGs with libpng, atomically: the pixels go to a temporary file
 * beside the target, which is renamed over it only once complete, so a failed run never
 * leaves a half-written or clobbered output. */
#include "png_out.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <png.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "flux.h"

struct PngOut {
    char *path, *tmp;
    FILE *fp;
};

PngOut *png_out_open(const char *path, GError **error)
{
    if (g_file_test(path, G_FILE_TEST_IS_DIR)) {
        g_set_error(error, FLUX_ERROR, FLUX_ERROR_IO, "%s: is a folder, not a file name", path);
        return NULL;
    }
    PngOut *o = g_new0(PngOut, 1);
    o->path = g_strdup(path);
    o->tmp = g_strdup_printf("%s.part-XXXXXX", path);
    int fd = g_mkstemp(o->tmp);
    if (fd < 0) {
        int e = errno;
        g_set_error(error, FLUX_ERROR, FLUX_ERROR_IO, "%s: cannot write (%s)", path, g_strerror(e));
        g_free(o->tmp);
        o->tmp = NULL;
        png_out_abort(o);
        return NULL;
    }
    o->fp = fdopen(fd, "wb");
    return o;
}

void png_out_abort(PngOut *o)
{
    if (!o) return;
    if (o->fp) fclose(o->fp);
    if (o->tmp) g_unlink(o->tmp);
    g_free(o->tmp);
    g_free(o->path);
    g_free(o);
}

/* libpng reports errors through longjmp; keep the jmp_buf use in this one function. */
static gboolean write_rows(FILE *fp, const guint8 *rgb, int w, int h)
{
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info) {
        png_destroy_write_struct(&png, NULL);
        return FALSE;
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        return FALSE;
    }
    png_init_io(png, fp);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, 8, PNG_COLOR_TYPE_RGB,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (int y = 0; y < h; y++) png_write_row(png, rgb + (size_t)y * w * 3);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    return TRUE;
}

gboolean png_out_commit(PngOut *o, const guint8 *rgb, int w, int h, GError **error)
{
    gboolean ok = write_rows(o->fp, rgb, w, h);
    ok = (fflush(o->fp) == 0) && ok;
    ok = (fsync(fileno(o->fp)) == 0) && ok;
    ok = (fclose(o->fp) == 0) && ok;
    o->fp = NULL;
    if (ok && g_chmod(o->tmp, 0644) == 0 && g_rename(o->tmp, o->path) == 0) {
        g_free(o->tmp);
        o->tmp = NULL;
    } else {
        int e = errno;
        g_set_error(error, FLUX_ERROR, FLUX_ERROR_IO, "%s: cannot write (%s)", o->path,
                    ok ? g_strerror(e) : "PNG encoding failed");
        ok = FALSE;
    }
    png_out_abort(o);
    return ok;
}
