/* model_check.c — a model checked before a run without reading its weights (flux.h:
 * flux_model_check): every part present, configs readable, and each weight file as long as
 * its header says. An interrupted download leaves a file shorter than its header's last
 * data_offsets; that is found here in a few milliseconds (the header is ~100 KB of a 24 GB
 * file), not at run time after the dialog accepted and remembered the model. Companions
 * chosen by hand (a model string, model_spec.c) are checked first, each for its part. A
 * transformer file and its companions get their configs from their tensor shapes as the
 * loader does (config_infer.h), so a file that needs a config beside it is refused here. */
#include "checkpoint.h"
#include "config.h"
#include "config_infer.h"
#include "defaults.h"
#include "flux.h"
#include "gguf.h"
#include "probe.h"
#include "shard_index.h"
#include "model_problem.h"

#include <fcntl.h>
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

/* A safetensors header larger than this is not one (the real ones are ~100 KB). */
#define MAX_HEADER_BYTES (100u << 20)

void model_problem_set(FluxModelProblem *pb, FluxModelProblemKind kind, FluxProblemPart part,
                       const char *path)
{
    if (!pb) return;
    flux_model_problem_clear(pb);
    pb->kind = kind;
    pb->part = part;
    pb->path = g_strdup(path);
}

void flux_model_problem_clear(FluxModelProblem *pb)
{
    if (!pb) return;
    g_free(pb->path);
    g_free(pb->looked);
    memset(pb, 0, sizeof *pb);
}

static gboolean truncated(FluxModelProblem *pb, FluxProblemPart part, const char *path,
                          guint64 want, guint64 have, GError **error)
{
    g_set_error(error, FLUX_ERROR, FLUX_ERROR_FORMAT,
                "%s: the file is incomplete (%" G_GUINT64_FORMAT
                " bytes, its header says %" G_GUINT64_FORMAT "); download it again",
                path, have, want);
    model_problem_set(pb, FLUX_MODEL_PROBLEM_TRUNCATED, part, path);
    if (pb) pb->expected_bytes = want, pb->actual_bytes = have;
    return FALSE;
}

static gboolean damaged(FluxModelProblem *pb, FluxProblemPart part, const char *path,
                        const char *why, GError **error)
{
    g_set_error(error, FLUX_ERROR, FLUX_ERROR_FORMAT, "%s: %s", path, why);
    model_problem_set(pb, FLUX_MODEL_PROBLEM_DAMAGED, part, path);
    return FALSE;
}

static gboolean missing(FluxModelProblem *pb, FluxProblemPart part, const char *path,
                        GError **error)
{
    g_set_error(error, FLUX_ERROR, FLUX_ERROR_IO, "%s is missing", path);
    model_problem_set(pb, FLUX_MODEL_PROBLEM_MISSING, part, path);
    if (pb) pb->looked = g_strdup(path);
    return FALSE;
}

/* The end of the last tensor's data, from the header's data_offsets; FALSE when the header
 * is not a JSON object of tensors. */
static gboolean header_data_end(const char *json, gsize len, guint64 *end)
{
    CfgJson *c = cfg_load_data("safetensors header", json, (gssize)len, NULL);
    if (!c) return FALSE;
    JsonObject *o = cfg_object(c);
    g_autoptr(GList) names = json_object_get_members(o);
    gboolean ok = TRUE;
    *end = 0;
    for (GList *l = names; ok && l; l = l->next) {
        if (strcmp(l->data, "__metadata__") == 0) continue;
        JsonArray *off = cfg_arr_member(cfg_obj_member(o, l->data), "data_offsets");
        int64_t e;
        ok = off && json_array_get_length(off) == 2 &&
             cfg_node_integral(json_array_get_element(off, 1), &e) && e >= 0;
        if (ok) *end = MAX(*end, (guint64)e);
    }
    cfg_free(c);
    return ok;
}

/* [u64 header length][header JSON][data]: the file must reach the last tensor's end. */
static gboolean check_safetensors(const char *path, FluxProblemPart part, FluxModelProblem *pb,
                                  GError **error)
{
    int fd = g_open(path, O_RDONLY, 0);
    GStatBuf st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        if (fd >= 0) close(fd);
        return damaged(pb, part, path, "cannot be read", error);
    }
    guint64 size = (guint64)st.st_size;
    guint8 len8[8];
    if (size < 8 || read(fd, len8, 8) != 8) {
        close(fd);
        return truncated(pb, part, path, 8, size, error);
    }
    guint64 n = 0;
    for (int i = 7; i >= 0; i--) n = n << 8 | len8[i];
    if (n > MAX_HEADER_BYTES) {
        close(fd);
        return damaged(pb, part, path, "not a safetensors file", error);
    }
    if (8 + n > size) {
        close(fd);
        return truncated(pb, part, path, 8 + n, size, error);
    }
    g_autofree char *json = g_malloc(n + 1);
    gboolean got = read(fd, json, n) == (ssize_t)n;
    close(fd);
    json[got ? n : 0] = '\0';
    guint64 end;
    if (!got || !header_data_end(json, n, &end))
        return damaged(pb, part, path, "the safetensors header cannot be read", error);
    if (8 + n + end > size) return truncated(pb, part, path, 8 + n + end, size, error);
    return TRUE;
}

/* The shards an index lists, each beside it and checked. */
static gboolean check_index(const char *path, FluxProblemPart part, FluxModelProblem *pb,
                            GError **error)
{
    StShardIndex *ix = st_shard_index_load(path, error); /* the message names the index */
    if (!ix) {
        model_problem_set(pb, FLUX_MODEL_PROBLEM_DAMAGED, part, path);
        return FALSE;
    }
    gboolean ok = TRUE;
    for (guint i = 0; ok && i < st_shard_index_n_shards(ix); i++) {
        const char *p = st_shard_index_shard_path(ix, i);
        ok = g_file_test(p, G_FILE_TEST_IS_REGULAR) ? check_safetensors(p, part, pb, error)
                                                    : missing(pb, part, p, error);
    }
    st_shard_index_free(ix);
    return ok;
}

static gboolean check_weight_file(const char *path, FluxProblemPart part, FluxModelProblem *pb,
                                  GError **error)
{
    if (!g_file_test(path, G_FILE_TEST_IS_REGULAR)) return missing(pb, part, path, error);
    if (g_str_has_suffix(path, ".json")) return check_index(path, part, pb, error);
    if (gguf_is_gguf(path)) {
        GError *err = NULL;
        StArchive *a = gguf_open(path, &err);
        st_archive_free(a);
        if (a) return TRUE;
        g_autofree char *why =
            g_strdup_printf("cannot be read, perhaps an incomplete download (%s)", err->message);
        g_error_free(err);
        return damaged(pb, part, path, why, error);
    }
    return check_safetensors(path, part, pb, error);
}

static guint64 file_bytes(const char *path)
{
    GStatBuf st;
    return path && g_stat(path, &st) == 0 ? (guint64)st.st_size : 0;
}

/* ------------------------------------------------------------------------------------- */
/* A diffusers folder                                                                    */

static const struct {
    const char *sub, *stem;
    FluxProblemPart part;
} folder_parts[] = {
    {"transformer", "diffusion_pytorch_model", FLUX_MODEL_PART_TRANSFORMER},
    {"text_encoder_2", "model", FLUX_MODEL_PART_T5},
    {"text_encoder", "model", FLUX_MODEL_PART_CLIP_L},
    {"vae", "diffusion_pytorch_model", FLUX_MODEL_PART_VAE},
};

/* `chosen`: the part's weights come from a file chosen by hand (checked on its own); its
 * config.json is still the folder's. */
static gboolean check_component(const char *dir, guint i, gboolean chosen, FluxModelProblem *pb,
                                GError **error)
{
    FluxProblemPart part = folder_parts[i].part;
    g_autofree char *sub = g_build_filename(dir, folder_parts[i].sub, NULL);
    g_autofree char *cfg = g_build_filename(sub, "config.json", NULL);
    g_autofree char *stem = g_build_filename(sub, folder_parts[i].stem, NULL);
    g_autofree char *single = g_strconcat(stem, ".safetensors", NULL);
    g_autofree char *index = g_strconcat(stem, ".safetensors.index.json", NULL);
    if (!g_file_test(sub, G_FILE_TEST_IS_DIR)) return missing(pb, part, sub, error);
    if (!g_file_test(cfg, G_FILE_TEST_IS_REGULAR)) return missing(pb, part, cfg, error);
    if (chosen) return TRUE;
    return check_weight_file(g_file_test(index, G_FILE_TEST_EXISTS) ? index : single, part, pb,
                             error);
}

/* The folder part a chosen companion replaces (folder_parts has no index for it). */
static gboolean part_chosen(FluxProblemPart part, const char *const given[MODEL_N_COMPANIONS])
{
    static const FluxProblemPart order[MODEL_N_COMPANIONS] = {
        FLUX_MODEL_PART_VAE, FLUX_MODEL_PART_CLIP_L, FLUX_MODEL_PART_T5};
    for (int i = 0; i < MODEL_N_COMPANIONS; i++)
        if (order[i] == part) return given[i] != NULL;
    return FALSE;
}

static gboolean check_folder(const char *dir, const char *tokenizers,
                             const char *const given[MODEL_N_COMPANIONS], FluxModelFound *found,
                             FluxModelProblem *pb, GError **error)
{
    g_autofree char *index = g_build_filename(dir, "model_index.json", NULL);
    if (!g_file_test(index, G_FILE_TEST_IS_REGULAR)) {
        g_set_error(error, FLUX_ERROR, FLUX_ERROR_MODEL,
                    "%s: not a FLUX.1 model folder (no model_index.json)", dir);
        model_problem_set(pb, FLUX_MODEL_PROBLEM_NOT_A_MODEL, FLUX_MODEL_PART_NONE, dir);
        return FALSE;
    }
    for (guint i = 0; i < G_N_ELEMENTS(folder_parts); i++)
        if (!check_component(dir, i, part_chosen(folder_parts[i].part, given), pb, error))
            return FALSE;
    g_autofree char *sched = g_build_filename(dir, "scheduler", "scheduler_config.json", NULL);
    if (!g_file_test(sched, G_FILE_TEST_IS_REGULAR))
        return missing(pb, FLUX_MODEL_PART_CONFIG, sched, error);
    if (!model_has_tokenizers(dir) && !(tokenizers && model_has_tokenizers(tokenizers))) {
        g_autofree char *tok = g_build_filename(dir, "tokenizer", NULL);
        return missing(pb, FLUX_MODEL_PART_TOKENIZERS, tok, error);
    }
    if (!flux_model_probe(dir, &found->info, error)) {
        model_problem_set(pb, FLUX_MODEL_PROBLEM_DAMAGED, FLUX_MODEL_PART_CONFIG, dir);
        return FALSE;
    }
    /* as flux_model_resolve: the given tokenizers only when the folder has none, and the
     * companions chosen by hand */
    FluxModelFiles *f = &found->files;
    f->folder = g_strdup(dir);
    if (!model_has_tokenizers(dir) && tokenizers) f->tokenizers = g_strdup(tokenizers);
    f->vae = g_strdup(given[0]), f->clip_l = g_strdup(given[1]), f->t5 = g_strdup(given[2]);
    return TRUE;
}

/* ------------------------------------------------------------------------------------- */
/* A transformer file and its companions                                                 */

/* A single file's config refused by config_infer.h (no config beside it for a value its
 * tensors cannot show, or one there that is another file's): the loader would stop on it. */
static gboolean needs_config(FluxModelProblem *pb, FluxProblemPart part, const char *file)
{
    model_problem_set(pb, FLUX_MODEL_PROBLEM_NEEDS_CONFIG, part, file);
    if (pb) pb->looked = config_infer_beside_path(file);
    return FALSE;
}

/* Whether `file` holds a FLUX.1 transformer's tensors (headers only); else NOT_A_MODEL. */
static gboolean transformer_opens(const char *file, FluxModelProblem *pb, GError **error)
{
    CkptTransformerConfig tc;
    StArchive *a = ckpt_open_transformer(file, &tc, error);
    gboolean opened = a != NULL;
    st_archive_free(a);
    if (!opened)
        model_problem_set(pb, FLUX_MODEL_PROBLEM_NOT_A_MODEL, FLUX_MODEL_PART_TRANSFORMER, file);
    return opened;
}

/* The transformer's config from its shapes; the rope axes, which no shape shows, as the
 * loader takes them (model.c rope_axes): FLUX.1's for head dim 128, else the config beside. */
static CfgJson *transformer_config(const char *file, FluxModelProblem *pb, GError **error)
{
    CkptTransformerConfig tc;
    StArchive *a = ckpt_open_transformer(file, &tc, error);
    gboolean opened = a != NULL;
    st_archive_free(a);
    if (!opened) {
        model_problem_set(pb, FLUX_MODEL_PROBLEM_NOT_A_MODEL, FLUX_MODEL_PART_TRANSFORMER, file);
        return NULL;
    }
    gboolean found = TRUE;
    if (tc.axes_dims_rope[0] + tc.axes_dims_rope[1] + tc.axes_dims_rope[2] == 0 &&
        (!config_infer_rope_axes(file, tc.attention_head_dim, tc.axes_dims_rope, &found, error) ||
         !found)) {
        if (!found)
            g_set_error(error, FLUX_ERROR, FLUX_ERROR_MODEL,
                        "%s: attention head dim %d is not FLUX.1's 128, so the rope axes are "
                        "unknown; put its config.json beside it",
                        file, tc.attention_head_dim);
        needs_config(pb, FLUX_MODEL_PART_TRANSFORMER, file);
        return NULL;
    }
    g_autofree char *json = ckpt_transformer_config_json(&tc);
    CfgJson *c = cfg_load_data(file, json, -1, error);
    if (!c) model_problem_set(pb, FLUX_MODEL_PROBLEM_DAMAGED, FLUX_MODEL_PART_CONFIG, file);
    return c;
}

/* The companions in FluxModelSpec's order (vae, clip_l, t5): part, reader, what it is. */
static const struct {
    FluxProblemPart part;
    StArchive *(*open)(const char *, GError **);
    DefaultsConfig config;
    const char *what;
    const char *anchor; /* a tensor every such file has, after the name mapping */
} companion[MODEL_N_COMPANIONS] = {
    {FLUX_MODEL_PART_VAE, ckpt_open_vae, DEFAULTS_VAE, "VAE", "decoder.conv_in.weight"},
    {FLUX_MODEL_PART_CLIP_L, ckpt_open_clip, DEFAULTS_CLIP_L, "CLIP-L text encoder",
     "text_model.final_layer_norm.weight"},
    {FLUX_MODEL_PART_T5, ckpt_open_t5, DEFAULTS_T5_XXL, "T5 text encoder",
     "encoder.final_layer_norm.weight"},
};

/* Companion `i`'s tensors (headers only), holding that part's anchor tensor; else NULL with
 * NOT_A_MODEL, so that picking clip_l.safetensors as the VAE is caught when it is chosen. */
static StArchive *open_companion(const char *path, int i, FluxModelProblem *pb, GError **error)
{
    GError *err = NULL;
    StArchive *a = companion[i].open(path, &err);
    if (a && st_archive_find(a, companion[i].anchor)) return a;
    st_archive_free(a);
    g_set_error(error, FLUX_ERROR, FLUX_ERROR_MODEL, "%s is not a %s (%s)", path, companion[i].what,
                err ? err->message : "its tensors are another model's");
    g_clear_error(&err);
    model_problem_set(pb, FLUX_MODEL_PROBLEM_NOT_A_MODEL, companion[i].part, path);
    return NULL;
}

/* Companion `i`'s config as the loader reads it without a folder (model.c part_open). */
static CfgJson *companion_config(const char *path, int i, FluxModelProblem *pb, GError **error)
{
    StArchive *a = open_companion(path, i, pb, error);
    if (!a) return NULL;
    CfgJson *c = config_infer(companion[i].config, a, path, error);
    st_archive_free(a);
    if (!c) needs_config(pb, companion[i].part, path);
    return c;
}

/* Every companion whole and its config read; then `info` from the transformer's, T5's and
 * the VAE's configs (FluxModelInfo has nothing of CLIP's). */
static gboolean check_companions(const FluxModelFiles *f, const CfgJson *tr,
                                 const char *const given[MODEL_N_COMPANIONS], FluxModelInfo *info,
                                 FluxModelProblem *pb, GError **error)
{
    const char *files[MODEL_N_COMPANIONS] = {f->vae, f->clip_l, f->t5};
    CfgJson *cfg[MODEL_N_COMPANIONS] = {NULL, NULL, NULL};
    gboolean ok = TRUE;
    for (int i = 0; ok && i < MODEL_N_COMPANIONS; i++)
        ok = (given[i] || check_weight_file(files[i], companion[i].part, pb, error)) &&
             (cfg[i] = companion_config(files[i], i, pb, error));
    if (ok && !probe_info_from_configs(tr, cfg[2], cfg[0], info, error)) {
        model_problem_set(pb, FLUX_MODEL_PROBLEM_DAMAGED, FLUX_MODEL_PART_CONFIG, f->transformer);
        ok = FALSE;
    }
    for (int i = 0; i < MODEL_N_COMPANIONS; i++) cfg_free(cfg[i]);
    return ok;
}

static gboolean check_file(const char *file, const char *tokenizers,
                           const char *const given[MODEL_N_COMPANIONS], FluxModelFound *found,
                           FluxModelProblem *pb, GError **error)
{
    FluxModelInfo *info = &found->info;
    FluxModelFiles *f = &found->files;
    CfgJson *tr = NULL;
    /* a transformer's tensors first (the VAE picked as the transformer is NOT_A_MODEL), then
     * the companions, then its config: a missing VAE is what an artist must hear about before
     * a config for the rope axes */
    gboolean ok = check_weight_file(file, FLUX_MODEL_PART_TRANSFORMER, pb, error) &&
                  transformer_opens(file, pb, error) &&
                  model_locate_given(file, tokenizers, given, f, pb, error) &&
                  (tr = transformer_config(file, pb, error)) &&
                  check_companions(f, tr, given, info, pb, error);
    info->weight_bytes =
        file_bytes(f->transformer) + file_bytes(f->vae) + file_bytes(f->clip_l) + file_bytes(f->t5);
    cfg_free(tr);
    return ok;
}

/* ------------------------------------------------------------------------------------- */
/* Companions chosen by hand                                                             */

/* A chosen file must be there, whole, and hold that part's tensors (by their names, from the
 * header: the VAE's encoder/decoder, CLIP's text_model, T5's encoder). */
static gboolean check_chosen(const char *path, int i, FluxModelProblem *pb, GError **error)
{
    if (!g_file_test(path, G_FILE_TEST_IS_REGULAR)) {
        g_set_error(error, FLUX_ERROR, FLUX_ERROR_IO, "%s (the %s chosen) does not exist", path,
                    companion[i].what);
        model_problem_set(pb, FLUX_MODEL_PROBLEM_NOT_FOUND, companion[i].part, path);
        return FALSE;
    }
    if (!check_weight_file(path, companion[i].part, pb, error)) return FALSE;
    StArchive *a = open_companion(path, i, pb, error);
    gboolean fits = a != NULL;
    st_archive_free(a);
    return fits;
}

void flux_model_found_clear(FluxModelFound *found)
{
    if (!found) return;
    g_free(found->path);
    flux_model_files_clear(&found->files);
    memset(found, 0, sizeof *found);
}

gboolean flux_model_check(const char *path, const char *tokenizers, FluxModelInfo *info,
                          FluxModelProblem *pb, GError **error)
{
    FluxModelFound found;
    gboolean ok = flux_model_find(path, tokenizers, &found, pb, error);
    if (info) *info = found.info;
    flux_model_found_clear(&found);
    return ok;
}

gboolean flux_model_find(const char *path, const char *tokenizers, FluxModelFound *found,
                         FluxModelProblem *pb, GError **error)
{
    g_return_val_if_fail(path != NULL && found != NULL, FALSE);
    memset(found, 0, sizeof *found);
    if (pb) flux_model_problem_clear(pb);
    if (!path[0]) {
        g_set_error(error, FLUX_ERROR, FLUX_ERROR_IO, "no model given");
        model_problem_set(pb, FLUX_MODEL_PROBLEM_NOT_FOUND, FLUX_MODEL_PART_NONE, path);
        return FALSE;
    }
    FluxModelSpec spec;
    if (!model_spec_parse(path, &spec, pb, error)) {
        flux_model_spec_clear(&spec);
        return FALSE;
    }
    const char *given[MODEL_N_COMPANIONS];
    model_spec_companions(&spec, given);
    found->path = g_strdup(path); /* the whole string: what a run is asked to load */
    gboolean ok = TRUE;
    if (!g_file_test(spec.path, G_FILE_TEST_EXISTS)) {
        g_set_error(error, FLUX_ERROR, FLUX_ERROR_IO, "%s does not exist", spec.path);
        model_problem_set(pb, FLUX_MODEL_PROBLEM_NOT_FOUND, FLUX_MODEL_PART_NONE, spec.path);
        ok = FALSE;
    }
    for (int i = 0; ok && i < MODEL_N_COMPANIONS; i++)
        ok = !given[i] || check_chosen(given[i], i, pb, error);
    if (ok && g_file_test(spec.path, G_FILE_TEST_IS_DIR))
        ok = check_folder(spec.path, tokenizers, given, found, pb, error);
    else if (ok)
        ok = check_file(spec.path, tokenizers, given, found, pb, error);
    flux_model_spec_clear(&spec);
    if (!ok) flux_model_files_clear(&found->files); /* nothing to load */
    return ok;
}
