/* flux-dialog-text.h — the words both dialogs (ui/gimp2 in GTK 2, ui/gimp3 in GTK 3) show
 * beside their fields, made in one place so the two front-ends say the same thing in the
 * same translations. GLib + libflux only; every function returns a new translated string
 * (caller frees). */
#pragma once

#include "flux.h"

#include <glib.h>

G_BEGIN_DECLS

#define FLUX_ASSUMED_GFLOPS 100.0 /* CPU rate assumed for the time estimate until measured */

/* "Sizes are rounded down to multiples of 16: the picture will be W × H pixels." */
char *flux_text_size_note(int width, int height);

/* Probes `dir` into `info` and describes it as Pango markup: the model type and weight size,
 * or (in red) what to choose / why the folder is not a model. `*ok` says whether it is one. */
char *flux_text_model_markup(const char *dir, FluxModelInfo *info, gboolean *ok);

/* Working memory and time of a run of this size (`info` NULL: "choose a model first");
 * `gflops_per_s` is the rate measured on this computer, 0 when there is none yet. */
char *flux_text_estimate(const FluxModelInfo *info, int width, int height, int steps,
                         double gflops_per_s);

/* The Help window's text. */
char *flux_text_help(void);

G_END_DECLS
