/* flux-estimate.c — see flux-estimate.h. */
#include "flux-estimate.h"

#include "flux-intl.h"
#include "flux-params.h"

#include <math.h>

gboolean flux_estimate_calibrate(FluxSettings *s)
{
    if (s->gflops_per_s > 0.0) return FALSE;
    double rate = flux_measure_gflops();
    if (!(rate > 0.0) || !isfinite(rate)) return FALSE;
    s->gflops_per_s = rate;
    s->rate_from_run = FALSE;
    return TRUE;
}

gboolean flux_estimate_take_run(FluxSettings *s, double flops, double seconds)
{
    if (!(seconds >= FLUX_RATE_MIN_SECONDS) || !(flops >= FLUX_RATE_MIN_FLOPS) ||
        !isfinite(flops / seconds))
        return FALSE;
    s->gflops_per_s = flops / seconds / 1e9;
    s->rate_from_run = TRUE;
    return TRUE;
}

double flux_estimate_seconds(const FluxModelInfo *info, int width, int height, int steps,
                             const FluxSettings *s)
{
    if (!(s->gflops_per_s > 0.0)) return 0.0;
    double flops = flux_estimate_flops(info, width, height, FLUX_MAX_SEQUENCE_LENGTH, steps);
    return flops / (s->gflops_per_s * 1e9);
}

char *flux_estimate_text(const FluxModelInfo *info, int width, int height, int steps,
                         const FluxSettings *s)
{
    int w = flux_render_output_size(width), h = flux_render_output_size(height);
    guint64 mem = flux_estimate_memory(info, w, h, FLUX_MAX_SEQUENCE_LENGTH);
    g_autofree char *mem_s = g_format_size_full(mem, G_FORMAT_SIZE_IEC_UNITS);
    g_autofree char *weights_s = g_format_size(info->weight_bytes);
    double secs = flux_estimate_seconds(info, w, h, steps, s);
    if (secs <= 0.0)
        return g_strdup_printf(_("Estimate: %s of working memory besides the %s of model "
                                 "weights; the time is known after the first run."),
                               mem_s, weights_s);
    g_autofree char *time_s = flux_format_duration(MAX(1.0, secs));
    if (s->rate_from_run) /* TRANSLATORS: memory, weights, duration ("4 min"), rate */
        return g_strdup_printf(_("Estimate: %s of working memory besides the %s of model "
                                 "weights; about %s (at %.0f GFLOP/s, measured by the last run "
                                 "on this computer)."),
                               mem_s, weights_s, time_s, s->gflops_per_s);
    return g_strdup_printf(_("Estimate: %s of working memory besides the %s of model weights; "
                             "at least %s (at %.0f GFLOP/s, from a quick test on this "
                             "computer; the first run will tell)."),
                           mem_s, weights_s, time_s, s->gflops_per_s);
}
