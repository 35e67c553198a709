/* fuzz_png_in.c — the CLI's --init-image / --mask reading on arbitrary bytes: the PNG decoder
 * for both targets (picture, mask), then the whole load (picture and mask from the same file:
 * size checks and the crop to multiples of 16). */
#include "../../cli/init_image.h"
#include "../../cli/png_in.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    for (int t = 0; t < 2; t++) {
        PngPixels p;
        GError *err = NULL;
        if (png_in_decode(data, size, "fuzz.png", t ? PNG_IN_MASK : PNG_IN_RGB, &p, &err)) {
            /* touch every byte: ASan checks the size the decoder claims */
            volatile guint8 sum = 0;
            for (size_t i = 0; i < (size_t)p.w * p.h * p.channels; i++) sum += p.data[i];
            (void)sum;
            png_pixels_clear(&p);
        } else {
            g_error_free(err);
        }
    }
    g_autofree char *path = fuzz_file("in.png", data, size);
    InitImage in;
    GError *err = NULL;
    if (init_image_load(path, path, 0, 0, &in, &err)) {
        volatile guint8 sum =
            in.rgb[(size_t)in.w * in.h * 3 - 1] + in.mask[(size_t)in.w * in.h - 1];
        (void)sum;
        init_image_clear(&in);
    } else {
        g_error_free(err);
    }
    return 0;
}
