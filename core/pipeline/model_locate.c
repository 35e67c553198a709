/* model_locate.c — the companions of a transformer file, found the way a ComfyUI models/ tree
 * lays them out (flux.h: flux_model_locate), and loading a model from one path.
 *
 *   models/
 *     unet/ or diffusion_models/   flux1-dev.safetensors, flux1-schnell-Q4_K_S.gguf   ← chosen
 *     vae/                         ae.safetensors
 *     clip/ or text_encoders/      clip_l.safetensors, t5xxl_fp8_e4m3fn.safetensors
 *
 * Every place looked is recorded, so that a missing part can be reported with them. */
#include "flux.h"
#include "model_problem.h"
#include "probe.h"

#include <string.h>

/* ComfyUI folders that hold transformers: their parent is the models/ root. */
static const char *const transformer_dirs[] = {"unet", "diffusion_models", "checkpoints"};

static gboolean is_weight_name(const char *lower, gboolean gguf_ok)
{
    return g_str_has_suffix(lower, ".safetensors") || g_str_has_suffix(lower, ".sft") ||
           (gguf_ok && g_str_has_suffix(lower, ".gguf"));
}

typedef struct {
    FluxProblemPart part;
    const char *what;             /* for the English message */
    const char *const *exact;     /* names taken anywhere it looks */
    const char *const *prefixes;  /* names starting so (lower case), also anywhere */
    const char *const *root_subs; /* folders of the models/ root to look in */
    gboolean any_flux_in_root;    /* in those folders, also any *flux* weight file */
    gboolean gguf_ok;
} Companion;

static const char *const vae_exact[] = {"ae.safetensors", "ae.sft", NULL};
static const char *const vae_prefixes[] = {"flux_vae", "flux1_vae", "flux-vae", NULL};
static const char *const vae_subs[] = {"vae", NULL};
static const char *const clip_prefixes[] = {"clip_l", "clip-l", NULL};
static const char *const t5_prefixes[] = {"t5xxl", "t5_xxl", "t5-xxl", "t5-v1_1-xxl", NULL};
static const char *const encoder_subs[] = {"clip", "text_encoders", NULL};
static const char *const no_names[] = {NULL};

static const Companion companions[] = {
    {FLUX_MODEL_PART_VAE, "VAE", vae_exact, vae_prefixes, vae_subs, TRUE, FALSE},
    {FLUX_MODEL_PART_CLIP_L, "CLIP-L text encoder", no_names, clip_prefixes, encoder_subs, FALSE,
     FALSE},
    {FLUX_MODEL_PART_T5, "T5 text encoder", no_names, t5_prefixes, encoder_subs, FALSE, TRUE},
};

static gboolean name_matches(const Companion *c, const char *name, gboolean in_root_sub)
{
    g_autofree char *lower = g_ascii_strdown(name, -1);
    for (const char *const *e = c->exact; *e; e++)
        if (strcmp(lower, *e) == 0) return TRUE;
    if (!is_weight_name(lower, c->gguf_ok)) return FALSE;
    for (const char *const *p = c->prefixes; *p; p++)
        if (g_str_has_prefix(lower, *p)) return TRUE;
    return in_root_sub && c->any_flux_in_root &&
           (strstr(lower, "flux") != NULL || g_str_has_prefix(lower, "ae"));
}

static gint cmp_paths(gconstpointer a, gconstpointer b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The first matching file of `dir` by name (sorted, so the choice does not depend on the
 * file system's order), or NULL. */
static char *find_in(const Companion *c, const char *dir, const char *self, gboolean in_root_sub)
{
    GDir *d = g_dir_open(dir, 0, NULL);
    if (!d) return NULL;
    GPtrArray *hits = g_ptr_array_new_with_free_func(g_free);
    for (const char *n; (n = g_dir_read_name(d));) {
        g_autofree char *path = g_build_filename(dir, n, NULL);
        if (strcmp(path, self) != 0 && name_matches(c, n, in_root_sub) &&
            g_file_test(path, G_FILE_TEST_IS_REGULAR))
            g_ptr_array_add(hits, g_steal_pointer(&path));
    }
    g_dir_close(d);
    g_ptr_array_sort(hits, cmp_paths);
    char *first = hits->len ? g_strdup(g_ptr_array_index(hits, 0)) : NULL;
    g_ptr_array_free(hits, TRUE);
    return first;
}

/* The models/ root when `file` is in one of its transformer folders, else NULL. */
static char *models_root(const char *file)
{
    g_autofree char *dir = g_path_get_dirname(file);
    g_autofree char *base = g_path_get_basename(dir);
    for (guint i = 0; i < G_N_ELEMENTS(transformer_dirs); i++)
        if (g_ascii_strcasecmp(base, transformer_dirs[i]) == 0) return g_path_get_dirname(dir);
    return NULL;
}

static gboolean missing(FluxModelProblem *pb, FluxProblemPart part, const char *what,
                        const char *file, GPtrArray *looked, GError **error)
{
    g_ptr_array_add(looked, NULL);
    g_autofree char *lines = g_strjoinv("\n", (char **)looked->pdata);
    g_autofree char *list = g_strjoinv(", ", (char **)looked->pdata);
    g_set_error(error, FLUX_ERROR, FLUX_ERROR_IO, "%s: no %s found (looked in %s)", file, what,
                list);
    model_problem_set(pb, FLUX_MODEL_PROBLEM_MISSING, part, g_ptr_array_index(looked, 0));
    if (pb) pb->looked = g_steal_pointer(&lines);
    return FALSE;
}

static char *locate_companion(const Companion *c, const char *file, const char *root,
                              GPtrArray *looked)
{
    g_autofree char *dir = g_path_get_dirname(file);
    g_ptr_array_add(looked, g_strdup(dir));
    char *hit = find_in(c, dir, file, FALSE);
    for (const char *const *sub = c->root_subs; !hit && root && *sub; sub++) {
        g_autofree char *d = g_build_filename(root, *sub, NULL);
        if (!g_file_test(d, G_FILE_TEST_IS_DIR)) continue;
        hit = find_in(c, d, file, TRUE);
        g_ptr_array_add(looked, g_steal_pointer(&d));
    }
    return hit;
}

gboolean model_has_tokenizers(const char *dir)
{
    g_autofree char *a = g_build_filename(dir, "tokenizer", NULL);
    g_autofree char *b = g_build_filename(dir, "tokenizer_2", NULL);
    return g_file_test(a, G_FILE_TEST_IS_DIR) && g_file_test(b, G_FILE_TEST_IS_DIR);
}

static char *locate_tokenizers(const char *file, const char *root, const char *fallback,
                               GPtrArray *looked)
{
    const char *dirs[3] = {NULL, root, fallback};
    g_autofree char *dir = g_path_get_dirname(file);
    dirs[0] = dir;
    for (guint i = 0; i < G_N_ELEMENTS(dirs); i++) {
        if (!dirs[i]) continue;
        g_ptr_array_add(looked, g_strdup(dirs[i]));
        if (model_has_tokenizers(dirs[i])) return g_strdup(dirs[i]);
    }
    return NULL;
}

gboolean model_locate_given(const char *file, const char *tokenizers,
                            const char *const given[MODEL_N_COMPANIONS], FluxModelFiles *files,
                            FluxModelProblem *pb, GError **error)
{
    probe_look();
    memset(files, 0, sizeof *files);
    if (!g_file_test(file, G_FILE_TEST_IS_REGULAR)) {
        g_set_error(error, FLUX_ERROR, FLUX_ERROR_IO, "%s: no such file", file);
        model_problem_set(pb, FLUX_MODEL_PROBLEM_NOT_FOUND, FLUX_MODEL_PART_TRANSFORMER, file);
        return FALSE;
    }
    files->transformer = g_strdup(file);
    g_autofree char *root = models_root(file);
    const char **found[MODEL_N_COMPANIONS] = {&files->vae, &files->clip_l, &files->t5};
    gboolean ok = TRUE;
    /* every part is looked for even after one is missing, so that a dialog can show them */
    for (guint i = 0; i < G_N_ELEMENTS(companions); i++) {
        if (given && given[i]) {
            *found[i] = g_strdup(given[i]);
            continue;
        }
        GPtrArray *looked = g_ptr_array_new_with_free_func(g_free);
        *found[i] = locate_companion(&companions[i], file, root, looked);
        if (!*found[i] && ok)
            ok = missing(pb, companions[i].part, companions[i].what, file, looked, error);
        g_ptr_array_free(looked, TRUE);
    }
    GPtrArray *looked = g_ptr_array_new_with_free_func(g_free);
    files->tokenizers = locate_tokenizers(file, root, tokenizers, looked);
    if (!files->tokenizers && ok)
        ok = missing(pb, FLUX_MODEL_PART_TOKENIZERS, "tokenizers (tokenizer/ and tokenizer_2/)",
                     file, looked, error);
    g_ptr_array_free(looked, TRUE);
    return ok;
}

gboolean flux_model_locate(const char *file, const char *tokenizers, FluxModelFiles *files,
                           FluxModelProblem *pb, GError **error)
{
    g_return_val_if_fail(file != NULL && files != NULL, FALSE);
    if (model_locate_given(file, tokenizers, NULL, files, pb, error)) return TRUE;
    flux_model_files_clear(files);
    return FALSE;
}

void flux_model_files_clear(FluxModelFiles *f)
{
    if (!f) return;
    g_free((char *)f->folder), g_free((char *)f->tokenizers), g_free((char *)f->transformer);
    g_free((char *)f->vae), g_free((char *)f->clip_l), g_free((char *)f->t5);
    memset(f, 0, sizeof *f);
}

FluxModel *flux_model_load_path(const char *path, const char *tokenizers, GError **error)
{
    g_return_val_if_fail(path != NULL, NULL);
    FluxModelFiles f;
    FluxModel *m = flux_model_resolve(path, tokenizers, &f, NULL, error)
                       ? flux_model_load_files(&f, error)
                       : NULL;
    flux_model_files_clear(&f);
    return m;
}
