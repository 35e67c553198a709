/* flux-gimp3-common.h — what the GIMP 3 procedures of the flux binary share (flux-plugin.c's
 * text-to-image procedures and flux-edit-entry3.c's repaint); flux-gimp3-common.c. */
#pragma once

#include "flux-settings.h"
#include "flux-worker.h"

#include <libgimp/gimp.h>

/* Sets `error` to FLUX_ERROR_ARGUMENT with `msg` (taken) and returns FALSE. */
gboolean flux_gimp3_fail(GError **error, char *msg);
/* <GIMP folder>/flux-plugin.ini (caller frees). */
char *flux_gimp3_settings_path(void);
/* Remembers `model` in s and saves s to `path` (a failure is only logged). */
void flux_gimp3_remember_model(const char *path, FluxSettings *s, const char *model);
/* Before a dialog: an empty "model" in `config` becomes the one remembered in s, and the first
 * time this computer's rate for the estimate is measured (and saved to `path`). */
void flux_gimp3_dialog_prepare(GimpProcedureConfig *config, FluxSettings *s, const char *path);
/* After OK: the config's "model" is remembered in s and saved to `path`. */
void flux_gimp3_dialog_done(GimpProcedureConfig *config, FluxSettings *s, const char *path);
/* TRUE when a display can show a dialog (FALSE under gimp-console, where GTK would abort). */
gboolean flux_gimp3_ui_available(void);
/* res->rgb into `drawable` at (0, 0) (flux-pixels.h). */
void flux_gimp3_write_pixels(GimpDrawable *drawable, const FluxWorkerResult *res);
/* The CLIP and T5 tokenizers installed beside this binary (data/tokenizers), for models that
 * come without them (flux_worker_set_tokenizers). */
void flux_gimp3_use_installed_tokenizers(void);
