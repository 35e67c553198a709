/* model_spec.c — a model as one string, PATH[;vae=FILE][;clip_l=FILE][;t5=FILE] (flux.h:
 * flux_model_spec_parse), and the files such a string loads (flux_model_resolve).
 *
 * One string, because that is what a setting, a dialog's last values and a Script-Fu `model`
 * argument can hold; parsed here once, so every client reads it the same way. */
#include "flux.h"
#include "model_problem.h"

#include <string.h>

static const char *const part_keys[MODEL_N_COMPANIONS] = {"vae", "clip_l", "t5"};

static char **spec_field(FluxModelSpec *s, int i)
{
    char **fields[MODEL_N_COMPANIONS] = {&s->vae, &s->clip_l, &s->t5};
    return fields[i];
}

/* The length of `word` when `seg` starts with "word=" (letters, digits, '_', '-'), else 0. */
static gsize key_length(const char *seg)
{
    gsize n = 0;
    while (g_ascii_isalnum(seg[n]) || seg[n] == '_' || seg[n] == '-') n++;
    return n > 0 && seg[n] == '=' ? n : 0;
}

static int key_index(const char *seg, gsize n)
{
    for (int i = 0; i < MODEL_N_COMPANIONS; i++)
        if (strlen(part_keys[i]) == n && strncmp(seg, part_keys[i], n) == 0) return i;
    return -1;
}

/* A value as written, blanks around it dropped; NULL when nothing is left. */
static char *take_value(GString *v)
{
    g_autofree char *s = g_string_free(v, FALSE);
    g_strstrip(s);
    return s[0] ? g_steal_pointer(&s) : NULL;
}

/* A relative companion is read from the model's folder, not from wherever the program runs
 * (GIMP starts plug-ins in a folder the artist never sees). */
static void anchor_companions(FluxModelSpec *s)
{
    g_autofree char *base =
        g_file_test(s->path, G_FILE_TEST_IS_DIR) ? g_strdup(s->path) : g_path_get_dirname(s->path);
    for (int i = 0; i < MODEL_N_COMPANIONS; i++) {
        char **f = spec_field(s, i);
        if (*f && !g_path_is_absolute(*f)) {
            char *abs = g_build_filename(base, *f, NULL);
            g_free(*f);
            *f = abs;
        }
    }
}

static gboolean syntax_error(const char *text, const char *part, FluxModelProblem *pb,
                             GError **error, const char *why)
{
    g_set_error(error, FLUX_ERROR, FLUX_ERROR_ARGUMENT, "model “%s”: “%s” %s", text, part, why);
    model_problem_set(pb, FLUX_MODEL_PROBLEM_SYNTAX, FLUX_MODEL_PART_NONE, part);
    return FALSE;
}

gboolean model_spec_parse(const char *text, FluxModelSpec *s, FluxModelProblem *pb, GError **error)
{
    memset(s, 0, sizeof *s);
    if (!text) text = "";
    if (text[0] && g_file_test(text, G_FILE_TEST_EXISTS)) {
        s->path = g_strdup(text);
        return TRUE;
    }
    g_auto(GStrv) segs = g_strsplit(text, ";", -1);
    GString *value = g_string_new(segs[0] ? segs[0] : "");
    char **target = &s->path;
    gboolean named[MODEL_N_COMPANIONS] = {FALSE};
    for (int i = 1; segs[0] && segs[i]; i++) {
        const char *seg = segs[i] + strspn(segs[i], " \t");
        gsize n = key_length(seg);
        if (n == 0) { /* a ';' inside a path */
            g_string_append_c(value, ';');
            g_string_append(value, segs[i]);
            continue;
        }
        *target = take_value(value);
        int k = key_index(seg, n);
        if (k < 0) { /* `value` was taken above */
            g_autofree char *part = g_strndup(seg, n + 1);
            return syntax_error(text, part, pb, error,
                                "is not a part of a model (use vae=, clip_l= or t5=)");
        }
        if (named[k]) {
            g_autofree char *part = g_strndup(seg, n + 1);
            return syntax_error(text, part, pb, error, "is given twice");
        }
        named[k] = TRUE;
        target = spec_field(s, k);
        value = g_string_new(seg + n + 1);
    }
    *target = take_value(value);
    if (!s->path) return syntax_error(text, "", pb, error, "names no model folder or file");
    anchor_companions(s);
    return TRUE;
}

gboolean flux_model_spec_parse(const char *text, FluxModelSpec *spec, GError **error)
{
    g_return_val_if_fail(spec != NULL, FALSE);
    return model_spec_parse(text, spec, NULL, error);
}

char *flux_model_spec_format(const FluxModelSpec *spec)
{
    g_return_val_if_fail(spec != NULL, NULL);
    GString *out = g_string_new(spec->path ? spec->path : "");
    for (int i = 0; i < MODEL_N_COMPANIONS; i++) {
        const char *f = *spec_field((FluxModelSpec *)spec, i);
        if (f && f[0]) g_string_append_printf(out, ";%s=%s", part_keys[i], f);
    }
    return g_string_free(out, FALSE);
}

void flux_model_spec_clear(FluxModelSpec *spec)
{
    if (!spec) return;
    g_free(spec->path), g_free(spec->vae), g_free(spec->clip_l), g_free(spec->t5);
    memset(spec, 0, sizeof *spec);
}

void model_spec_companions(const FluxModelSpec *s, const char *out[MODEL_N_COMPANIONS])
{
    for (int i = 0; i < MODEL_N_COMPANIONS; i++) out[i] = *spec_field((FluxModelSpec *)s, i);
}

gboolean flux_model_resolve(const char *model, const char *tokenizers, FluxModelFiles *files,
                            FluxModelProblem *pb, GError **error)
{
    g_return_val_if_fail(files != NULL, FALSE);
    memset(files, 0, sizeof *files);
    if (pb) flux_model_problem_clear(pb);
    FluxModelSpec s;
    gboolean ok = model_spec_parse(model, &s, pb, error);
    const char *given[MODEL_N_COMPANIONS];
    model_spec_companions(&s, given);
    if (ok && g_file_test(s.path, G_FILE_TEST_IS_DIR)) {
        files->folder = g_strdup(s.path);
        if (!model_has_tokenizers(s.path) && tokenizers) files->tokenizers = g_strdup(tokenizers);
        files->vae = g_strdup(given[0]);
        files->clip_l = g_strdup(given[1]);
        files->t5 = g_strdup(given[2]);
    } else if (ok) {
        ok = model_locate_given(s.path, tokenizers, given, files, pb, error);
    }
    flux_model_spec_clear(&s);
    return ok;
}
