/* flux-gimp-common.c — what the GIMP 2.10 entries of the flux binary share (flux-plugin.c's
 * text-to-image procedures and flux-edit-entry.c's repaint): the settings file, the display
 * check, writing a picture into a drawable (flux-gimp-common.h). */
#include "flux-gimp-common.h"

#include "flux-pixels.h"
#include "plugin-config.h"

#include <libgimp/gimpui.h>

char *flux_plugin_settings_path(void)
{
    return g_build_filename(gimp_directory(), FLUX_SETTINGS_FILE, NULL);
}

void flux_plugin_load_settings(FluxSettings *s)
{
    g_autofree char *spath = flux_plugin_settings_path();
    flux_settings_load(spath, s);
}

void flux_plugin_remember_model(const char *model, FluxSettings *s)
{
    flux_settings_set_model(s, model);
    g_autofree char *path = flux_plugin_settings_path();
    GError *err = NULL;
    if (!flux_settings_save(path, s, &err)) {
        g_warning("%s", err->message);
        g_error_free(err);
    }
}

/* The dialog needs a display: under gimp-console there is none, and GTK would abort. */
gboolean flux_plugin_ui_available(void)
{
    const char *name = gimp_display_name();
    if (name && name[0]) g_setenv("DISPLAY", name, TRUE);
    int argc = 1;
    char *args[] = {"flux", NULL}, **argv = args; /* the binary's name */
    return gtk_init_check(&argc, &argv);
}

void flux_plugin_write_pixels(gint32 drawable, const FluxWorkerResult *res)
{
    gegl_init(NULL, NULL); /* only here: it loads every GEGL module, ~0.3 s */
    flux_pixels_write(gimp_drawable_get_buffer(drawable), res);
}
