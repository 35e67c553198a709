/* flux-dialog-text.h — the words both dialogs (ui/gimp2 in GTK 2, ui/gimp3 in GTK 3) show
 * beside their fields, made in one place so the two front-ends say the same thing in the
 * same translations. GLib + libflux only; every function returns a new translated string
 * (caller frees). */
#pragma once

#include "flux-settings.h"
#include "flux.h"

#include <glib.h>

G_BEGIN_DECLS

/* "Sizes are rounded down to multiples of 16: the picture will be W × H pixels." */
char *flux_text_size_note(int width, int height);

/* Checks `dir` (a model folder or transformer file, flux_worker_probe_model: headers only)
 * into `info` and describes it as Pango markup: the model type and weight size, or in red
 * what is missing or broken and what to do, or where to get a model when none was chosen
 * yet (flux-help.h). `*ok` says whether it can be used. */
char *flux_text_model_markup(const char *dir, FluxModelInfo *info, gboolean *ok);

/* Working memory and time of a run of this size (`info` NULL: "choose a model first") at
 * the rate kept in `settings` (flux-estimate.h; NULL: none yet). */
char *flux_text_estimate(const FluxModelInfo *info, int width, int height, int steps,
                         const FluxSettings *settings);

/* The Help window's text: how the dialog works, then where to get a model and which one suits
 * this computer's memory (flux-help.h). */
char *flux_text_help(void);

G_END_DECLS
