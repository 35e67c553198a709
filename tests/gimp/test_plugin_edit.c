/* test_plugin_edit.c — the GIMP-free half of "repaint the selection" / "start from the layer"
 * (frontend/flux-edit.c): the repaint box of a selection, and a run from a picture through the
 * front-end's worker against the diffusers golden (inpainting case inp_64x64_s4_str1_rect). */
#include "flux-edit.h"
#include "flux-worker.h"
#include "flux.h"

#include <png.h>
#include <stdlib.h>
#include <string.h>

static void expect_box(int iw, int ih, int x1, int y1, int x2, int y2, int margin, int ww, int wh,
                       int bx, int by, int bw, int bh)
{
    FluxEditBox b;
    g_assert_true(flux_edit_box(iw, ih, x1, y1, x2, y2, margin, ww, wh, &b));
    g_test_message("image %dx%d sel [%d,%d)x[%d,%d) → box %dx%d at (%d,%d)", iw, ih, x1, x2, y1, y2,
                   b.width, b.height, b.x, b.y);
    g_assert_cmpint(b.x, ==, bx);
    g_assert_cmpint(b.y, ==, by);
    g_assert_cmpint(b.width, ==, bw);
    g_assert_cmpint(b.height, ==, bh);
}

static void test_box(void)
{
    /* a 10×10 selection in the middle of 1000×800: 10 + 2·32 = 74 → 80, grown to the asked
     * 512×256, centred on (505, 405) */
    expect_box(1000, 800, 500, 400, 510, 410, 32, 512, 256, 505 - 256, 405 - 128, 512, 256);
    /* near the top-left corner: shifted inside the image */
    expect_box(1000, 800, 0, 0, 10, 10, 32, 512, 256, 0, 0, 512, 256);
    /* near the bottom-right corner */
    expect_box(1000, 800, 990, 790, 1000, 800, 32, 64, 64, 1000 - 80, 800 - 80, 80, 80);
    /* the image is smaller than asked: the image floored to 16, centred on the selection as
     * far as the image allows */
    expect_box(100, 70, 40, 30, 50, 40, 32, 1024, 1024, 0, 3, 96, 64);
    /* a selection wider than the image's floored width: as wide as possible, centred */
    expect_box(250, 250, 0, 100, 250, 120, 8, 16, 16, 5, 110 - 24, 240, 48);
    FluxEditBox b;
    g_assert_false(flux_edit_box(15, 100, 0, 0, 5, 5, 0, 16, 16, &b));
    g_assert_false(flux_edit_box(100, 100, 5, 5, 5, 9, 0, 16, 16, &b));
    /* every box is inside the image, a multiple of 16, and holds the selection when it fits */
    for (int i = 0; i < 2000; i++) {
        int iw = g_test_rand_int_range(16, 700), ih = g_test_rand_int_range(16, 700);
        int x1 = g_test_rand_int_range(0, iw), y1 = g_test_rand_int_range(0, ih);
        int x2 = g_test_rand_int_range(x1 + 1, iw + 1), y2 = g_test_rand_int_range(y1 + 1, ih + 1);
        int m = g_test_rand_int_range(0, 64), ww = g_test_rand_int_range(16, 1100);
        g_assert_true(flux_edit_box(iw, ih, x1, y1, x2, y2, m, ww, ww, &b));
        g_assert_cmpint(b.width % 16, ==, 0);
        g_assert_cmpint(b.height % 16, ==, 0);
        g_assert_cmpint(b.width, >=, 16);
        g_assert_true(b.x >= 0 && b.y >= 0 && b.x + b.width <= iw && b.y + b.height <= ih);
        if (x2 - x1 + 2 * m <= iw / 16 * 16) g_assert_true(b.x <= x1 && b.x + b.width >= x2);
        if (y2 - y1 + 2 * m <= ih / 16 * 16) g_assert_true(b.y <= y1 && b.y + b.height >= y2);
    }
}

static guint8 *read_png(const char *path, png_uint_32 format, int *w, int *h)
{
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    g_assert_true(png_image_begin_read_from_file(&img, path));
    img.format = format;
    guint8 *px = g_malloc(PNG_IMAGE_SIZE(img));
    g_assert_true(png_image_finish_read(&img, NULL, px, 0, NULL));
    *w = (int)img.width, *h = (int)img.height;
    return px;
}

/* The worker from a picture and mask gives the golden inpainting result (±1). */
static void test_worker_golden(void)
{
    const char *ref = g_getenv("FLUX_REFERENCE_DIR");
    g_assert_nonnull(ref);
    g_autofree char *model = g_build_filename(ref, "tiny-flux-dev", NULL);
    g_autofree char *dir = g_build_filename(model, "golden", "edit", NULL);
    g_autofree char *pi = g_build_filename(dir, "inp_64x64_s4_str1_rect.init.png", NULL);
    g_autofree char *pm = g_build_filename(dir, "inp_64x64_s4_str1_rect.mask.png", NULL);
    g_autofree char *po = g_build_filename(dir, "inp_64x64_s4_str1_rect.out.png", NULL);
    int w, h;
    g_autofree guint8 *rgb = read_png(pi, PNG_FORMAT_RGB, &w, &h);
    g_autofree guint8 *mask = read_png(pm, PNG_FORMAT_GRAY, &w, &h);
    g_autofree guint8 *out = read_png(po, PNG_FORMAT_RGB, &w, &h);
    FluxRenderParams p;
    flux_render_params_init(&p);
    flux_render_params_set_prompt(&p, "a photo of a cat");
    flux_render_params_set_model(&p, model);
    p.steps = 4, p.guidance = 3.5;
    p.width = p.height = 1024; /* replaced by the picture's size */
    FluxEditInput in = {rgb, mask, w, h, 1.0};
    FluxWorkerResult res;
    GError *err = NULL;
    g_assert_true(flux_worker_run_edit(&p, 3, &in, NULL, &res, &err));
    g_assert_no_error(err);
    g_assert_cmpint(res.width, ==, 64);
    g_assert_cmpint(res.height, ==, 64);
    int worst = 0;
    for (int i = 0; i < 64 * 64 * 3; i++) worst = MAX(worst, abs((int)res.rgb[i] - (int)out[i]));
    g_test_message("max |diff| against the golden: %d", worst);
    g_assert_cmpint(worst, <=, 1);
    g_free(res.rgb);
    /* a bad strength is refused with the library's message, nothing returned */
    in.strength = 0.0;
    g_assert_false(flux_worker_run_edit(&p, 3, &in, NULL, &res, &err));
    g_assert_error(err, FLUX_ERROR, FLUX_ERROR_ARGUMENT);
    g_assert_nonnull(strstr(err->message, "strength"));
    g_assert_null(res.rgb);
    g_clear_error(&err);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/plugin/edit/box", test_box);
    g_test_add_func("/plugin/edit/worker-golden", test_worker_golden);
    return g_test_run();
}
