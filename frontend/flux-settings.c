/* flux-settings.c — the key file of flux-settings.h. */
#include "flux-settings.h"

#include <math.h>

#define GROUP "flux"

void flux_settings_load(const char *path, FluxSettings *s)
{
    s->model = NULL;
    s->gflops_per_s = 0.0;
    s->rate_from_run = FALSE;
    s->precision = NULL;
    g_autoptr(GKeyFile) kf = g_key_file_new();
    if (!g_key_file_load_from_file(kf, path, G_KEY_FILE_NONE, NULL)) return;
    s->model = g_key_file_get_string(kf, GROUP, "model", NULL);
    if (s->model && !s->model[0]) g_clear_pointer(&s->model, g_free);
    double r = g_key_file_get_double(kf, GROUP, "gflops-per-s", NULL);
    s->gflops_per_s = isfinite(r) && r > 0.0 ? r : 0.0;
    g_autofree char *from = g_key_file_get_string(kf, GROUP, "gflops-from", NULL);
    s->rate_from_run = g_strcmp0(from, "run") == 0;
    g_autofree char *precision = g_key_file_get_string(kf, GROUP, "precision", NULL);
    flux_settings_set_precision(s, precision);
}

gboolean flux_settings_save(const char *path, const FluxSettings *s, GError **error)
{
    g_autoptr(GKeyFile) kf = g_key_file_new();
    g_key_file_load_from_file(kf, path, G_KEY_FILE_KEEP_COMMENTS, NULL);
    g_key_file_set_string(kf, GROUP, "model", s->model ? s->model : "");
    if (s->gflops_per_s > 0.0) {
        g_key_file_set_double(kf, GROUP, "gflops-per-s", s->gflops_per_s);
        g_key_file_set_string(kf, GROUP, "gflops-from", s->rate_from_run ? "run" : "test");
    }
    g_key_file_set_string(kf, GROUP, "precision", s->precision ? s->precision : "auto");
    return g_key_file_save_to_file(kf, path, error);
}

void flux_settings_clear(FluxSettings *s)
{
    g_clear_pointer(&s->model, g_free);
    g_clear_pointer(&s->precision, g_free);
}

void flux_settings_set_model(FluxSettings *s, const char *model)
{
    char *copy = model && model[0] ? g_strdup(model) : NULL;
    g_free(s->model);
    s->model = copy;
}

void flux_settings_set_precision(FluxSettings *s, const char *precision)
{
    gboolean known = g_strcmp0(precision, "float32") == 0 || g_strcmp0(precision, "fast") == 0;
    char *copy = known ? g_strdup(precision) : NULL;
    g_free(s->precision);
    s->precision = copy;
}
