/* preview_out.c — --preview-out FILE.png (see preview_out.h). */
#include "preview_out.h"

#include "png_out.h"

#include <string.h>

struct PreviewOut {
    char *path;
    FluxPreviewQuality quality;
    int every, w, h; /* the PNG's size */
    FluxModel *model;
    guint8 *rgb; /* [h, w, 3] */
    gboolean failed;
};

gboolean preview_out_parse_quality(const char *name, FluxPreviewQuality *quality, GError **error)
{
    if (!g_strcmp0(name, "projection"))
        *quality = FLUX_PREVIEW_PROJECTION;
    else if (!g_strcmp0(name, "vae"))
        *quality = FLUX_PREVIEW_VAE;
    else {
        g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                    "--preview %s: expected projection or vae", name ? name : "");
        return FALSE;
    }
    return TRUE;
}

PreviewOut *preview_out_new(const char *path, FluxPreviewQuality quality, int every,
                            FluxModel *model, int W, int H, GError **error)
{
    PngOut *probe = png_out_open(path, error); /* an unwritable folder fails now */
    if (!probe) return NULL;
    png_out_abort(probe);
    PreviewOut *p = g_new0(PreviewOut, 1);
    p->path = g_strdup(path);
    p->quality = quality;
    p->every = every;
    p->model = model;
    p->w = W;
    p->h = H;
    if (quality == FLUX_PREVIEW_VAE) {
        FluxPreviewPlan plan; /* the decode size depends on the picture size only */
        FluxModelInfo none = {0};
        flux_preview_plan(&none, quality, W, H, 1, 1, &plan);
        p->w = plan.decode_width;
        p->h = plan.decode_height;
    }
    p->rgb = g_malloc((gsize)p->w * p->h * 3);
    return p;
}

void preview_out_free(PreviewOut *p)
{
    if (!p) return;
    g_free(p->path);
    g_free(p->rgb);
    g_free(p);
}

char *preview_out_step(PreviewOut *p, int step, const float *x0, int latent_h, int latent_w)
{
    if (p->failed || step % p->every != 0) return NULL;
    GError *err = NULL;
    PngOut *png = NULL;
    gboolean ok = flux_preview_render(p->model, p->quality, x0, latent_h, latent_w, p->w, p->h,
                                      p->rgb, &err) &&
                  (png = png_out_open(p->path, &err)) != NULL &&
                  png_out_commit(png, p->rgb, p->w, p->h, &err);
    if (ok) return NULL;
    p->failed = TRUE;
    char *msg = g_strdup_printf("no more previews: %s", err->message);
    g_error_free(err);
    return msg;
}
