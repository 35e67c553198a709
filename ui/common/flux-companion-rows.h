/* flux-companion-rows.h — the "Model files" rows of both dialogs: per companion (VAE, CLIP-L,
 * T5-XXL) a file chooser, an Automatic button and a note saying where the file comes from.
 * Compiled into each GIMP entry against its own GTK (2 for GIMP 2.10, 3 for GIMP 3); each
 * dialog lays the widgets out itself (GtkTable or GtkGrid) and owns them once packed. */
#pragma once

#include "flux-model-files.h"

#include <gtk/gtk.h>

G_BEGIN_DECLS

/* A companion chosen by hand from its chooser, or set back to Automatic (file NULL). */
typedef void (*FluxCompanionChosen)(gpointer data, FluxCompanion c, const char *file);

typedef struct {
    GtkWidget *expander; /* "Model files", holding the rows */
    GtkWidget *chooser[FLUX_N_COMPANIONS], *automatic[FLUX_N_COMPANIONS];
    GtkWidget *note[FLUX_N_COMPANIONS];
    FluxCompanionChosen chosen;
    gpointer data;
} FluxCompanionRows;

/* Makes the expander and every row's widgets; `chosen(data, …)` is called when the artist
 * picks a file or presses Automatic. The rows stay valid as long as the dialog's widgets. */
void flux_companion_rows_init(FluxCompanionRows *rows, FluxCompanionChosen chosen, gpointer data);

/* Shows what `model` (a model string, flux-model-files.h) uses for each companion, and
 * opens the expander when one is missing. */
void flux_companion_rows_show(FluxCompanionRows *rows, const char *model);

/* The file filter of the dialogs' weight choosers (.safetensors, .sft, .gguf) named `name`. */
GtkFileFilter *flux_weights_filter(const char *name);

G_END_DECLS
