/* flux-dialog-text.c — the dialogs' explanatory texts (flux-dialog-text.h). */
#include "flux-dialog-text.h"

#include "flux-estimate.h"
#include "flux-help.h"
#include "flux-intl.h"
#include "flux-params.h"
#include "flux-worker.h"

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
    if (!dir || !dir[0]) return red(flux_help_first_run());
    GError *err = NULL;
    if (!flux_worker_probe_model(dir, info, &err)) {
        char *markup = red(err->message); /* one whole translated sentence */
        g_error_free(err);
        return markup;
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
                         const FluxSettings *settings)
{
    if (!info) return g_strdup(_("Estimate: choose a model first."));
    FluxSettings none = {0};
    return flux_estimate_text(info, width, height, steps, settings ? settings : &none);
}

char *flux_text_help(void)
{
    g_autofree char *usage = flux_help_usage();
    g_autofree char *getting = flux_help_getting_model(flux_help_ram_bytes());
    return g_strconcat(usage, "\n\n", getting, NULL);
}
