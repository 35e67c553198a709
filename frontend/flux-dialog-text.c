/* flux-dialog-text.c — the dialogs' explanatory texts (flux-dialog-text.h). */
#include "flux-dialog-text.h"

#include "flux-intl.h"
#include "flux-params.h"

char *flux_text_size_note(int width, int height)
{
    return g_strdup_printf(
        _("Sizes are rounded down to multiples of 16: the picture will be %d × %d pixels."),
        flux_render_output_size(width), flux_render_output_size(height));
}

static char *red(const char *text)
{
    return g_markup_printf_escaped("<span foreground=\"#e03c3c\">%s</span>", text);
}

char *flux_text_model_markup(const char *dir, FluxModelInfo *info, gboolean *ok)
{
    *ok = FALSE;
    if (!dir || !dir[0])
        return red(_("Choose the folder of a FLUX.1 model (the one holding model_index.json)."));
    GError *err = NULL;
    if (!flux_model_probe(dir, info, &err)) {
        g_autofree char *msg =
            g_strdup_printf(_("This folder is not a FLUX.1 model: %s"), err->message);
        g_error_free(err);
        return red(msg);
    }
    *ok = TRUE;
    g_autofree char *size = g_format_size(info->weight_bytes);
    return g_markup_printf_escaped(info->uses_guidance
                                       ? _("FLUX.1 dev-type model (uses guidance), %s of weights.")
                                       : _("FLUX.1 schnell-type model (no guidance), %s of "
                                           "weights."),
                                   size);
}

char *flux_text_estimate(const FluxModelInfo *info, int width, int height, int steps,
                         double gflops_per_s)
{
    if (!info) return g_strdup(_("Estimate: choose a model folder first."));
    int w = flux_render_output_size(width), h = flux_render_output_size(height);
    guint64 mem = flux_estimate_memory(info, w, h, FLUX_MAX_SEQUENCE_LENGTH);
    double flops = flux_estimate_flops(info, w, h, FLUX_MAX_SEQUENCE_LENGTH, steps);
    gboolean measured = gflops_per_s > 0.0;
    double rate = measured ? gflops_per_s : FLUX_ASSUMED_GFLOPS;
    g_autofree char *mem_s = g_format_size_full(mem, G_FORMAT_SIZE_IEC_UNITS);
    g_autofree char *weights_s = g_format_size(info->weight_bytes);
    g_autofree char *time_s = flux_format_duration(MAX(1.0, flops / (rate * 1e9)));
    return g_strdup_printf(
        measured ? _("Estimate: %s of working memory besides the %s of model weights; about %s "
                     "at %.0f GFLOP/s (measured on this computer). Estimates only.")
                 : _("Estimate: %s of working memory besides the %s of model weights; about %s "
                     "at an assumed %.0f GFLOP/s. Estimates only."),
        mem_s, weights_s, time_s, rate);
}

char *flux_text_help(void)
{
    return g_strdup(
        _("Describe the picture in the prompt, choose the folder of a FLUX.1 model (the "
          "diffusers layout, with model_index.json) and press OK. The same prompt, size, "
          "steps, guidance and seed always give the same picture. Schnell-type models need "
          "about 4 steps and ignore guidance; dev-type models need about 28 steps. "
          "Rendering runs on the CPU and can take a long time for large pictures; Cancel in "
          "the progress bar stops it and leaves the image unchanged."));
}
