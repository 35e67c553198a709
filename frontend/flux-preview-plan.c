/* flux-preview-plan.c — the preview window's sentence on its previews (flux-preview-plan.h). */
#include "flux-preview-plan.h"

#include "flux-intl.h"
#include "flux.h"

char *flux_preview_plan_text(const FluxRenderParams *p, const FluxModelInfo *info)
{
    FluxPreviewPlan plan;
    int w = flux_render_output_size(p->width), h = flux_render_output_size(p->height);
    flux_preview_plan(info, FLUX_PREVIEW_VAE, w, h, p->steps, FLUX_MAX_SEQUENCE_LENGTH, &plan);
    if (plan.every > p->steps)
        return g_strdup(_("The preview is a colour sketch of each step; the real decoder would "
                          "cost too much here."));
    /* TRANSLATORS: every N steps, the decoded size W × H, the share of the run in percent */
    return g_strdup_printf(_("The real decoder shows the picture every %d steps (%d × %d, about "
                             "%.0f%% of the run); the steps between show a colour sketch."),
                           plan.every, plan.decode_width, plan.decode_height, 100.0 * plan.share);
}
