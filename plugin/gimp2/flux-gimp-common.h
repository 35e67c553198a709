/* flux-gimp-common.h — what the GIMP 2.10 entries of the flux binary share (flux-plugin.c,
 * flux-edit-entry.c); flux-gimp-common.c. */
#pragma once

#include "flux-settings.h"
#include "flux-worker.h"

#include <libgimp/gimp.h>

/* <GIMP folder>/flux-plugin.ini (caller frees). */
char *flux_plugin_settings_path(void);
/* res->rgb into `drawable` at (0, 0), converted by babl to the layer's format. */
void flux_plugin_write_pixels(gint32 drawable, const FluxWorkerResult *res);
/* TRUE when a display can show a dialog (FALSE under gimp-console). */
gboolean flux_plugin_ui_available(void);
/* The settings file (model folder, measured speed) into s; flux_settings_clear frees. */
void flux_plugin_load_settings(FluxSettings *s);
/* Remembers the model folder in the settings file. */
void flux_plugin_remember_model(const char *model, FluxSettings *s);
