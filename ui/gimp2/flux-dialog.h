/* flux-dialog.h — the FLUX Text to Image dialog (GTK 2, libgimpui). It edits one
 * FluxRenderParams (frontend/flux-params.h) and knows nothing else of the plug-in. */
#pragma once

#include "flux-params.h"
#include "flux-settings.h"

#include <glib.h>

G_BEGIN_DECLS

typedef struct {
    const char *title;      /* window title, translated */
    const char *role;       /* window role (the binary's name) */
    const char *help_id;    /* the procedure name */
    FluxSettings *settings; /* the rate for the estimate (flux-estimate.h); on OK the
                               dialog sets its precision (the caller saves it); borrowed */
    const char *mode;       /* working from a picture: what the run does ("Repaint the
                               selection", "Start from the current layer"), shown above
                               the prompt; or NULL */
    double *strength;       /* non-NULL: a Strength slider (0.05–1.0) editing *strength */
} FluxDialogOptions;

/* Shows the dialog (gimp_ui_init must have run) starting from `p`; on OK writes the values
 * back into `p` and returns TRUE. Cancel or closing the window returns FALSE. */
gboolean flux_dialog_run(FluxRenderParams *p, const FluxDialogOptions *opt);

G_END_DECLS
