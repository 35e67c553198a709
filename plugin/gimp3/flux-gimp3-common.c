/* flux-gimp3-common.c — what the GIMP 3 procedures of the flux binary share (see
 * flux-gimp3-common.h). */
#include "flux-gimp3-common.h"

#include "flux-estimate.h"
#include "flux-pixels.h"

#include <gtk/gtk.h>

gboolean flux_gimp3_fail(GError **error, char *msg)
{
    g_set_error_literal(error, FLUX_ERROR, FLUX_ERROR_ARGUMENT, msg);
    g_free(msg);
    return FALSE;
}

char *flux_gimp3_settings_path(void)
{
    return g_build_filename(gimp_directory(), FLUX_SETTINGS_FILE, NULL);
}

void flux_gimp3_remember_model(const char *path, FluxSettings *s, const char *model)
{
    flux_settings_set_model(s, model);
    GError *err = NULL;
    if (!flux_settings_save(path, s, &err)) {
        g_warning("%s", err->message);
        g_error_free(err);
    }
}

void flux_gimp3_dialog_prepare(GimpProcedureConfig *config, FluxSettings *s, const char *path)
{
    g_autofree char *model = NULL;
    g_object_get(config, "model", &model, NULL);
    if ((!model || !model[0]) && s->model) g_object_set(config, "model", s->model, NULL);
    if (flux_estimate_calibrate(s)) flux_settings_save(path, s, NULL);
}

void flux_gimp3_dialog_done(GimpProcedureConfig *config, FluxSettings *s, const char *path)
{
    g_autofree char *model = NULL;
    g_object_get(config, "model", &model, NULL);
    flux_gimp3_remember_model(path, s, model);
}

gboolean flux_gimp3_ui_available(void)
{
    const char *name = gimp_display_name();
    if (name && name[0]) g_setenv("DISPLAY", name, TRUE);
    return gtk_init_check(NULL, NULL);
}

void flux_gimp3_write_pixels(GimpDrawable *drawable, const FluxWorkerResult *res)
{
    flux_pixels_write(gimp_drawable_get_buffer(drawable), res);
}

void flux_gimp3_use_installed_tokenizers(void)
{
    g_autofree char *exe = g_file_read_link("/proc/self/exe", NULL);
    g_autofree char *dir = exe ? g_path_get_dirname(exe) : NULL;
    g_autofree char *tok = dir ? g_build_filename(dir, "tokenizers", NULL) : NULL;
    flux_worker_set_tokenizers(tok);
}
