/* flux-preview-plan.h — what a GIMP entry's preview window says about its previews, and the
 * size it shows them at, shared by the GIMP 2.10 and GIMP 3 entries (GLib only). */
#pragma once

#include "flux-params.h"
#include "flux.h"

#include <glib.h>

G_BEGIN_DECLS

#define FLUX_PREVIEW_SIDE 320 /* the preview's longer side in the window, pixels */

/* A translated sentence on how often the real decoder shows the picture and what share of
 * the run that costs (flux_preview_plan for FLUX_PREVIEW_VAE), for the model `info` describes
 * (what the check before the run found: flux_worker_prepare). Caller frees. */
char *flux_preview_plan_text(const FluxRenderParams *p, const FluxModelInfo *info);

G_END_DECLS
