/* flux-model-files.c — a model's files for the dialogs (flux-model-files.h). */
#include "flux-model-files.h"

#include "flux-intl.h"
#include "flux-worker.h"

#include <string.h>

const char *flux_companion_label(FluxCompanion c)
{
    const char *labels[FLUX_N_COMPANIONS] = {_("_VAE:"), _("C_LIP-L:"), _("T_5-XXL:")};
    return labels[c];
}

const char *flux_companion_title(FluxCompanion c)
{
    const char *titles[FLUX_N_COMPANIONS] = {_("Choose the VAE file (ae.safetensors)"),
                                             _("Choose the CLIP-L file (clip_l.safetensors)"),
                                             _("Choose the T5-XXL file (t5xxl_….safetensors or "
                                               ".gguf)")};
    return titles[c];
}

static char **spec_part(FluxModelSpec *s, FluxCompanion c)
{
    char **parts[FLUX_N_COMPANIONS] = {&s->vae, &s->clip_l, &s->t5};
    return parts[c];
}

static const char *files_part(const FluxModelFiles *f, FluxCompanion c)
{
    const char *parts[FLUX_N_COMPANIONS] = {f->vae, f->clip_l, f->t5};
    return parts[c];
}

/* A diffusers folder's own weights of companion `c` (one file or a shard index), for showing;
 * NULL when it has neither. */
static char *folder_part(const char *folder, FluxCompanion c)
{
    const char *const subs[FLUX_N_COMPANIONS][2] = {
        {"vae", "diffusion_pytorch_model"}, {"text_encoder", "model"}, {"text_encoder_2", "model"}};
    g_autofree char *stem = g_build_filename(folder, subs[c][0], subs[c][1], NULL);
    const char *const ext[] = {".safetensors", ".safetensors.index.json"};
    for (guint i = 0; i < G_N_ELEMENTS(ext); i++) {
        char *path = g_strconcat(stem, ext[i], NULL);
        if (g_file_test(path, G_FILE_TEST_IS_REGULAR)) return path;
        g_free(path);
    }
    return NULL;
}

/* A string that does not parse (a typo in a script) still shows its text as the path. */
static void parse(const char *model, FluxModelSpec *s)
{
    if (!flux_model_spec_parse(model, s, NULL)) {
        flux_model_spec_clear(s);
        s->path = g_strdup(model ? model : "");
    }
}

void flux_model_files_view(const char *model, FluxModelFilesView *v)
{
    memset(v, 0, sizeof *v);
    FluxModelSpec s = {0};
    FluxModelFiles f = {0};
    if (model && model[0]) {
        parse(model, &s);
        flux_model_resolve(model, flux_worker_tokenizers(), &f, NULL, NULL);
    }
    gboolean folder = s.path && g_file_test(s.path, G_FILE_TEST_IS_DIR);
    for (int c = 0; c < FLUX_N_COMPANIONS; c++) {
        const char *file = files_part(&f, c);
        v->chosen[c] = *spec_part(&s, c) != NULL;
        v->file[c] = file ? g_strdup(file) : folder ? folder_part(s.path, c) : NULL;
        if (v->chosen[c])
            v->note[c] = g_strdup(_("Chosen by you."));
        else if (file)
            v->note[c] = g_strdup(_("Found by itself."));
        else if (folder)
            v->note[c] = g_strdup(_("The model folder's own."));
        else if (s.path && s.path[0] && f.transformer)
            v->note[c] = g_strdup(_("Not found: choose it.")), v->missing = TRUE;
        else
            v->note[c] = g_strdup("");
    }
    flux_model_files_clear(&f);
    flux_model_spec_clear(&s);
}

void flux_model_files_view_clear(FluxModelFilesView *v)
{
    for (int c = 0; c < FLUX_N_COMPANIONS; c++) g_free(v->file[c]), g_free(v->note[c]);
    memset(v, 0, sizeof *v);
}

char *flux_model_main_path(const char *model)
{
    FluxModelSpec s = {0};
    parse(model, &s);
    char *path = g_steal_pointer(&s.path);
    flux_model_spec_clear(&s);
    return path ? path : g_strdup("");
}

char *flux_model_with_path(const char *model, const char *path)
{
    FluxModelSpec s = {0};
    if (model && model[0]) parse(model, &s);
    g_free(s.path);
    s.path = g_strdup(path ? path : "");
    char *out = flux_model_spec_format(&s);
    flux_model_spec_clear(&s);
    return out;
}

char *flux_model_with_companion(const char *model, FluxCompanion c, const char *file)
{
    FluxModelSpec s = {0};
    if (model && model[0]) parse(model, &s);
    char **part = spec_part(&s, c);
    g_free(*part);
    *part = file && file[0] ? g_strdup(file) : NULL;
    char *out = flux_model_spec_format(&s);
    flux_model_spec_clear(&s);
    return out;
}
