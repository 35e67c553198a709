/* flux-precision-choice.h — the dialogs' Precision setting (flux.h:
 * FluxGenerateParams.precision): Automatic, Exact (float32) or Fast, kept in the settings file
 * (flux-settings.h) and given to every run (flux_worker_set_precision). GLib only. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define FLUX_N_PRECISIONS 3

/* Choice i's settings value: NULL (Automatic), "float32", "fast". */
const char *flux_precision_choice_value(int i);
/* Choice i's words for a combo box, translated; static. */
const char *flux_precision_choice_label(int i);
/* The choice of a settings value (unknown or NULL: Automatic, 0). */
int flux_precision_choice_index(const char *value);
/* The tooltip saying what the choices do, translated; static. */
const char *flux_precision_choice_tooltip(void);

G_END_DECLS
