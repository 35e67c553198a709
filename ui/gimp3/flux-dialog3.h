/* flux-dialog3.h — the FLUX Text to Image dialog for GIMP 3 (GTK 3, a GimpProcedureDialog).
 * It edits the procedure's GimpProcedureConfig in place (so GIMP saves the last values) and
 * knows nothing else of the plug-in. */
#pragma once

#include "flux-settings.h"

#include <libgimp/gimp.h>

G_BEGIN_DECLS

typedef struct {
    const char *title;      /* window title, translated */
    FluxSettings *settings; /* the rate for the estimate (flux-estimate.h); on OK the
                               dialog sets its precision (the caller saves it); borrowed */
    /* Working from a picture (FLUX Repaint): what the run does ("Repaint the selection"),
     * shown above the prompt, or NULL for text to image. The config then has no width and
     * height: a Region size field edits its "size" when edit_size, a Strength slider its
     * "strength" when edit_strength, and the estimate is for a picture_width × picture_height
     * picture (with edit_size: at most size × size of it). */
    const char *mode;
    gboolean edit_size, edit_strength;
    int picture_width, picture_height;
} FluxDialog3Options;

/* Shows the dialog (gimp_ui_init must have run) for `config` of `procedure` (its arguments
 * prompt, width, height (or those of opt->mode), num-steps, guidance, seed, model and the aux
 * last-seed and loras). On OK the
 * config holds the chosen values, seed -1 when Random is on, and TRUE is returned; Cancel or
 * closing the window returns FALSE (the config may hold edited values, GIMP keeps none). */
gboolean flux_dialog3_run(GimpProcedure *procedure, GimpProcedureConfig *config,
                          const FluxDialog3Options *opt);

G_END_DECLS
