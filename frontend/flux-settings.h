/* flux-settings.h — what the plug-in remembers across GIMP restarts, in a small key file
 * in the user's GIMP folder (gimp_set_data only lasts for one session):
 *
 *   [flux]
 *   model=/home/me/models/FLUX.1-schnell
 *   gflops-per-s=412.5
 *   gflops-from=run
 *   precision=fast
 *
 * GLib only; the caller passes the file's path. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define FLUX_SETTINGS_FILE "flux-plugin.ini" /* in gimp_directory() */

typedef struct {
    char *model;            /* the model last chosen in the dialog: a folder or transformer file,
                               or a model string naming companions chosen by hand
                               (flux_model_spec_parse), or NULL */
    double gflops_per_s;    /* this computer's rate (flux-estimate.h), or 0 */
    gboolean rate_from_run; /* measured by a run's steps (TRUE) or a quick test */
    char *precision;        /* CPU arithmetic (flux.h: FluxGenerateParams.precision):
                               "float32" or "fast"; NULL: automatic */
} FluxSettings;

/* Missing or unreadable file → empty settings (never fails). */
void flux_settings_load(const char *path, FluxSettings *s);
/* Writes atomically; FALSE with `error` set when the folder is not writable. */
gboolean flux_settings_save(const char *path, const FluxSettings *s, GError **error);
void flux_settings_clear(FluxSettings *s);
/* Replaces s->model with a copy of `model` (which may be s->model itself). */
void flux_settings_set_model(FluxSettings *s, const char *model);
/* Sets s->precision: "float32" or "fast" kept, anything else (NULL, "auto") automatic. */
void flux_settings_set_precision(FluxSettings *s, const char *precision);

G_END_DECLS
