/* model.c — loading FLUX.1: a folder in the diffusers layout (FluxPipeline's
 * model_index.json, checked by flux_model_probe; one sub-folder per component), or
 * component files as artists have them (core/formats/checkpoint.h: original/ComfyUI names, FP8,
 * GGUF) with the folder's configs or the built-in FLUX.1 ones (core/pipeline/defaults.h); then
 * checking that the components fit together: T5 width = transformer joint_attention_dim,
 * CLIP width = pooled_projection_dim, 4 × VAE latent channels = transformer in_channels
 * (2×2 packing). */
#include "model.h"
#include "probe.h"

#include "checkpoint.h"
#include "config_infer.h"
#include "defaults.h"

#include <fcntl.h>
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

static gboolean mismatch(GError **error, const char *label, const char *what, int a, int b)
{
    g_set_error(error, FLUX_ERROR, FLUX_ERROR_MODEL, "%s: components do not fit: %s (%d vs %d)",
                label, what, a, b);
    return FALSE;
}

static gboolean check_fit(FluxModel *m, GError **error)
{
    const DitConfig *dc = dit_config(m->dit);
    if (dc->joint_attention_dim != t5_d_model(m->t5))
        return mismatch(error, m->label, "transformer joint_attention_dim vs T5 d_model",
                        dc->joint_attention_dim, t5_d_model(m->t5));
    if (dc->pooled_projection_dim != clip_hidden_size(m->clip))
        return mismatch(error, m->label, "transformer pooled_projection_dim vs CLIP hidden_size",
                        dc->pooled_projection_dim, clip_hidden_size(m->clip));
    int P = 4 * vae_latent_channels(m->vae), up = vae_upscale(m->vae);
    if (dc->out_channels != P)
        return mismatch(error, m->label, "transformer out_channels vs 4 × VAE latent_channels",
                        dc->out_channels, P);
    /* FLUX.1 Fill: latents + masked-picture latents + the up×up mask of each latent pixel */
    if (dc->in_channels != P && dc->in_channels != 2 * P + 4 * up * up)
        return mismatch(error, m->label,
                        "transformer in_channels vs 4 × VAE latent_channels (or, for a Fill "
                        "model, 8 × latent_channels + 4 × 8²)",
                        dc->in_channels, P);
    return TRUE;
}

gboolean flux_model_is_fill(const FluxModel *m)
{
    const DitConfig *dc = dit_config(m->dit);
    return dc->in_channels != dc->out_channels;
}

/* ------------------------------------------------------------------------------------- */
/* Where each component comes from                                                       */

typedef struct {
    const char *what;   /* "VAE", for messages */
    const char *sub;    /* its diffusers sub-folder */
    const char *stem;   /* its weights there: <stem>.safetensors or <stem>.safetensors.index.json */
    const char *file;   /* the weight file given, or NULL: the folder's */
    DefaultsConfig def; /* the built-in config when there is no folder */
    char *dir;          /* <folder>/<sub>, or NULL */
    CfgJson *cfg;       /* the config in use, parsed by the module's loader */
    StArchive *archive; /* the weights with diffusers names, until the module's loader takes them */
    guint64 bytes;      /* weight file bytes */
} Part;

static void part_clear(Part *p)
{
    g_free(p->dir);
    cfg_free(p->cfg);
    st_archive_free(p->archive);
}

static StArchive *part_take(Part *p)
{
    StArchive *a = p->archive;
    p->archive = NULL;
    return a;
}

/* Sizes of the distinct files an archive's tensors lie in (shards, a GGUF, ...). */
static guint64 archive_file_bytes(StArchive *a)
{
    GHashTable *seen = g_hash_table_new(g_str_hash, g_str_equal);
    guint64 total = 0;
    for (gsize i = 0; i < st_archive_n_tensors(a); i++) {
        const char *f = st_archive_tensor(a, i)->file;
        if (!f || !g_hash_table_add(seen, (gpointer)f)) continue;
        GStatBuf st;
        if (g_stat(f, &st) == 0) total += (guint64)st.st_size;
    }
    g_hash_table_destroy(seen);
    return total;
}

gboolean model_folder_part(const char *dir, const char *stem, CfgJson **cfg, StArchive **archive,
                           GError **error)
{
    g_autofree char *path = g_build_filename(dir, "config.json", NULL);
    *archive = NULL;
    *cfg = cfg_load(path, error);
    if (*cfg && !(*archive = st_archive_open_dir(dir, stem, error))) g_clear_pointer(cfg, cfg_free);
    return *cfg != NULL;
}

/* The one way to a component's config and weights: the folder's <sub>/ (config.json and the
 * weights), or the file given (opened by `open`, with diffusers names) with the folder's config,
 * else the one its shapes give. The module's loader then parses the config, once, and binds. */
static gboolean part_open(const FluxModelFiles *f, Part *p,
                          StArchive *(*open)(const char *, GError **), GError **error)
{
    if (f->folder) p->dir = g_build_filename(f->folder, p->sub, NULL);
    if (!p->file) {
        p->bytes = probe_folder_weight_bytes(p->dir);
        return model_folder_part(p->dir, p->stem, &p->cfg, &p->archive, error);
    }
    if (f->folder) {
        g_autofree char *path = g_build_filename(p->dir, "config.json", NULL);
        if (!(p->cfg = cfg_load(path, error))) return FALSE;
    }
    p->archive = open(p->file, error);
    if (!p->archive) return FALSE;
    p->bytes = archive_file_bytes(p->archive);
    /* no folder: the config from the file's shapes (config_infer.h) */
    return p->cfg || (p->cfg = config_infer(p->def, p->archive, p->file, error));
}

/* After the module's loader: a file that does not fit a built-in config is most likely another
 * model size, so say so. */
static gboolean part_loaded(const Part *p, const void *model, GError **error)
{
    if (model) return TRUE;
    if (!p->dir && error && *error && (*error)->code == FLUX_ERROR_MODEL)
        g_prefix_error(error,
                       "the %s file does not fit the config read from its tensors: ", p->what);
    return FALSE;
}

static Part part_clip(const FluxModelFiles *f)
{
    return (Part){.what = "CLIP-L",
                  .sub = "text_encoder",
                  .stem = "model",
                  .file = f->clip_l,
                  .def = DEFAULTS_CLIP_L};
}

static Part part_t5(const FluxModelFiles *f)
{
    return (Part){.what = "T5",
                  .sub = "text_encoder_2",
                  .stem = "model",
                  .file = f->t5,
                  .def = DEFAULTS_T5_XXL};
}

/* CLIP and T5, each unless loaded: at the first load, and again after model_encoders_release. */
static gboolean load_encoders(FluxModel *m, const FluxModelFiles *f, Part *clip, Part *t5,
                              GError **error)
{
    return (m->clip ||
            (part_open(f, clip, ckpt_open_clip, error) &&
             part_loaded(clip, m->clip = clip_load(clip->cfg, part_take(clip), error), error))) &&
           (m->t5 || (part_open(f, t5, ckpt_open_t5, error) &&
                      part_loaded(t5, m->t5 = t5_load(t5->cfg, part_take(t5), error), error)));
}

static gboolean load_vae(FluxModel *m, const FluxModelFiles *f, Part *p, GError **error)
{
    return part_open(f, p, ckpt_open_vae, error) &&
           part_loaded(p, m->vae = vae_load(p->cfg, part_take(p), error), error);
}

/* Shapes do not show the rope axes: FLUX.1's (16, 56, 56) for head dim 128 (set by the
 * inference), else the folder config's, else the config beside the file's. */
static gboolean rope_axes(const FluxModelFiles *f, CkptTransformerConfig *tc, GError **error)
{
    if (tc->axes_dims_rope[0] + tc->axes_dims_rope[1] + tc->axes_dims_rope[2] > 0) return TRUE;
    gboolean beside = FALSE;
    if (!f->folder && !config_infer_rope_axes(f->transformer, tc->attention_head_dim,
                                              tc->axes_dims_rope, &beside, error))
        return FALSE;
    if (beside) return TRUE;
    if (!f->folder) {
        g_autofree char *want = config_infer_beside_path(f->transformer);
        g_set_error(error, FLUX_ERROR, FLUX_ERROR_MODEL,
                    "%s: attention head dim %d is not FLUX.1's 128, so the rope axes "
                    "(axes_dims_rope) are unknown; put its config.json beside it as %s",
                    f->transformer, tc->attention_head_dim, want);
        return FALSE;
    }
    g_autofree char *path = g_build_filename(f->folder, "transformer", "config.json", NULL);
    CfgJson *c = cfg_load(path, error);
    int64_t axes[3]; /* diffusers' default when the key is absent */
    for (int i = 0; i < 3; i++) axes[i] = ckpt_flux1_rope_axes[i];
    gsize n = 0;
    gboolean ok = c && cfg_int_array(c, "axes_dims_rope", 0, 4096, axes, 3, &n, error);
    if (ok && n != 0 && n != 3) {
        g_set_error(error, FLUX_ERROR, FLUX_ERROR_MODEL,
                    "%s: \"axes_dims_rope\" has %zu elements, expected 3", path, (size_t)n);
        ok = FALSE;
    }
    for (int i = 0; ok && i < 3; i++) tc->axes_dims_rope[i] = (int)axes[i];
    cfg_free(c);
    return ok;
}

/* A transformer file carries its config in its shapes (a dev checkpoint under a schnell
 * folder, or the reverse, loads as what it is); the folder's is used for its own weights. */
static gboolean load_transformer(FluxModel *m, const FluxModelFiles *f, Part *p, GError **error)
{
    if (!p->file)
        return part_open(f, p, NULL, error) && (m->dit = dit_load(p->cfg, part_take(p), error));
    CkptTransformerConfig tc;
    p->archive = ckpt_open_transformer(p->file, &tc, error);
    if (!p->archive || !rope_axes(f, &tc, error)) return FALSE;
    p->bytes = archive_file_bytes(p->archive);
    g_autofree char *json = ckpt_transformer_config_json(&tc);
    g_autofree char *name = g_strdup_printf("%s (config from the tensor shapes)", p->file);
    p->cfg = cfg_load_data(name, json, -1, error);
    return p->cfg && (m->dit = dit_load(p->cfg, part_take(p), error));
}

/* The folder's scheduler belongs to the folder's transformer kind; a transformer file of the
 * other kind gets the built-in scheduler of its own (FLUX.1-dev: guidance embedder). */
static gboolean load_scheduler(FluxModel *m, const FluxModelFiles *f, gboolean folder_dev,
                               GError **error)
{
    gboolean dev = dit_config(m->dit)->guidance_embeds;
    if (f->folder && folder_dev == dev) {
        g_autofree char *path =
            g_build_filename(f->folder, "scheduler", "scheduler_config.json", NULL);
        return sched_config_load(&m->sched, path, error);
    }
    CfgJson *c = defaults_config(dev ? DEFAULTS_SCHEDULER_DEV : DEFAULTS_SCHEDULER_SCHNELL, error);
    gboolean ok = c && sched_config_from(&m->sched, c, error);
    cfg_free(c);
    return ok;
}

static gboolean load_tokenizers(FluxModel *m, const char *dir, GError **error)
{
    g_autofree char *tok = g_build_filename(dir, "tokenizer", NULL);
    g_autofree char *tok2 = g_build_filename(dir, "tokenizer_2", NULL);
    return (m->clip_tok = bpe_load(tok, error)) && (m->t5_tok = ugm_load(tok2, error));
}

char *flux_model_files_missing(const FluxModelFiles *f, const char *const names[FLUX_N_PARTS])
{
    if (f->folder) return NULL;
    const char *given[FLUX_N_PARTS] = {[FLUX_PART_TRANSFORMER] = f->transformer,
                                       [FLUX_PART_VAE] = f->vae,
                                       [FLUX_PART_CLIP_L] = f->clip_l,
                                       [FLUX_PART_T5] = f->t5,
                                       [FLUX_PART_TOKENIZERS] = f->tokenizers};
    GString *missing = g_string_new(NULL);
    for (int i = 0; i < FLUX_N_PARTS; i++)
        if (!given[i]) g_string_append_printf(missing, "%s%s", missing->len ? ", " : "", names[i]);
    return g_string_free(missing, missing->len == 0);
}

/* Without a folder nothing can be taken from it: every part must be named. */
static gboolean check_files(const FluxModelFiles *f, GError **error)
{
    static const char *const names[FLUX_N_PARTS] = {"the transformer file", "the VAE file",
                                                    "the CLIP-L file", "the T5 file",
                                                    "the tokenizers folder"};
    g_autofree char *missing = flux_model_files_missing(f, names);
    if (missing)
        g_set_error(error, FLUX_ERROR, FLUX_ERROR_ARGUMENT,
                    "no model folder given, so every component must be: missing %s", missing);
    return !missing;
}

/* ------------------------------------------------------------------------------------- */
/* Text encoders released between runs                                                  */

static void files_copy(FluxModelFiles *dst, const FluxModelFiles *src)
{
    dst->folder = g_strdup(src->folder);
    dst->tokenizers = g_strdup(src->tokenizers);
    dst->transformer = g_strdup(src->transformer);
    dst->vae = g_strdup(src->vae);
    dst->clip_l = g_strdup(src->clip_l);
    dst->t5 = g_strdup(src->t5);
}

static void files_clear(FluxModelFiles *f)
{
    g_free((char *)f->folder), g_free((char *)f->tokenizers), g_free((char *)f->transformer);
    g_free((char *)f->vae), g_free((char *)f->clip_l), g_free((char *)f->t5);
    memset(f, 0, sizeof *f);
}

/* The weight files of a part: the file given, else the folder's *.safetensors shards. */
static void add_part_files(GPtrArray *out, const Part *p)
{
    if (p->file) {
        g_ptr_array_add(out, g_strdup(p->file));
        return;
    }
    GDir *d = p->dir ? g_dir_open(p->dir, 0, NULL) : NULL;
    for (const char *n; d && (n = g_dir_read_name(d));)
        if (g_str_has_suffix(n, ".safetensors"))
            g_ptr_array_add(out, g_build_filename(p->dir, n, NULL));
    if (d) g_dir_close(d);
}

static void remember_sources(FluxModel *m, const FluxModelFiles *f, const Part *clip,
                             const Part *t5)
{
    files_copy(&m->files, f);
    GPtrArray *files = g_ptr_array_new();
    add_part_files(files, clip);
    add_part_files(files, t5);
    g_ptr_array_add(files, NULL);
    m->encoder_files = (char **)g_ptr_array_free(files, FALSE);
}

gboolean model_encoders_acquire(FluxModel *m, GError **error)
{
    if (m->clip && m->t5) return TRUE;
    Part clip = part_clip(&m->files), t5 = part_t5(&m->files);
    /* the files may have changed on disk since the first load: check the fit again */
    gboolean ok = load_encoders(m, &m->files, &clip, &t5, error) && check_fit(m, error);
    part_clear(&clip), part_clear(&t5);
    if (!ok) {
        clip_free(m->clip), t5_free(m->t5);
        m->clip = NULL, m->t5 = NULL;
    }
    return ok;
}

guint64 model_meminfo_bytes(const char *key)
{
    g_autofree char *text = NULL;
    if (!g_file_get_contents("/proc/meminfo", &text, NULL, NULL)) return 0;
    const char *line = strstr(text, key);
    return line ? g_ascii_strtoull(line + strlen(key), NULL, 10) * 1024 : 0;
}

static gboolean should_release(const FluxModel *m)
{
    const char *mode = g_getenv("FLUX_RELEASE_ENCODERS");
    if (mode && strcmp(mode, "always") == 0) return TRUE;
    if (mode && strcmp(mode, "never") == 0) return FALSE;
    guint64 total = model_meminfo_bytes("MemTotal:");
    return total && m->info.weight_bytes > total / 4 * 3;
}

/* Unmapping alone leaves the pages cached; the transformer's cyclic pass over its weights
 * evicts them anyway, so telling the kernel now keeps its pages from being the victims. */
static void drop_from_page_cache(char **files)
{
    for (char **f = files; f && *f; f++) {
        int fd = g_open(*f, O_RDONLY, 0);
        if (fd < 0) continue;
        (void)posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
        close(fd);
    }
}

gboolean model_encoders_release(FluxModel *m)
{
    if (!m->clip || !m->t5 || !should_release(m)) return FALSE;
    clip_free(m->clip);
    t5_free(m->t5);
    m->clip = NULL;
    m->t5 = NULL;
    drop_from_page_cache(m->encoder_files);
    return TRUE;
}

/* ------------------------------------------------------------------------------------- */
/* Public                                                                                */

/* `folder_info`: what flux_model_probe says of f->folder when the caller has probed it already
 * (flux_model_find), else NULL: probe it here. */
static FluxModel *model_load(const FluxModelFiles *f, const FluxModelInfo *folder_info,
                             GError **error)
{
    FluxModelInfo probed = {0};
    if (!check_files(f, error)) return NULL;
    if (f->folder && !folder_info) {
        if (!flux_model_probe(f->folder, &probed, error)) return NULL;
        folder_info = &probed;
    }
    FluxModel *m = g_new0(FluxModel, 1);
    m->label = g_strdup(f->folder ? f->folder : f->transformer);
    Part clip = part_clip(f), t5 = part_t5(f);
    Part tr = {.what = "transformer",
               .sub = "transformer",
               .stem = "diffusion_pytorch_model",
               .file = f->transformer};
    Part vae = {.what = "VAE",
                .sub = "vae",
                .stem = "diffusion_pytorch_model",
                .file = f->vae,
                .def = DEFAULTS_VAE};
    /* the VAE first: its config is the one a single file most often lacks (ae.safetensors) */
    gboolean ok = load_tokenizers(m, f->tokenizers ? f->tokenizers : f->folder, error) &&
                  load_vae(m, f, &vae, error) && load_encoders(m, f, &clip, &t5, error) &&
                  load_transformer(m, f, &tr, error) &&
                  load_scheduler(m, f, folder_info && folder_info->uses_guidance, error) &&
                  check_fit(m, error) &&
                  probe_info_from_configs(tr.cfg, t5.cfg, vae.cfg, &m->info, error);
    m->info.weight_bytes = clip.bytes + t5.bytes + tr.bytes + vae.bytes;
    m->encoder_bytes = clip.bytes + t5.bytes;
    if (ok) remember_sources(m, f, &clip, &t5);
    part_clear(&clip), part_clear(&t5), part_clear(&tr), part_clear(&vae);
    if (!ok) {
        flux_model_free(m);
        return NULL;
    }
    return m;
}

FluxModel *flux_model_load_files(const FluxModelFiles *f, GError **error)
{
    g_return_val_if_fail(f != NULL, NULL);
    return model_load(f, NULL, error);
}

FluxModel *flux_model_load_found(const FluxModelFound *found, GError **error)
{
    g_return_val_if_fail(found != NULL, NULL);
    /* a folder's info is flux_model_probe's; a file's comes from its shapes */
    return model_load(&found->files, found->files.folder ? &found->info : NULL, error);
}

FluxModel *flux_model_load(const char *dir, GError **error)
{
    g_return_val_if_fail(dir != NULL, NULL);
    const FluxModelFiles files = {.folder = dir};
    return flux_model_load_files(&files, error);
}

void flux_model_free(FluxModel *m)
{
    if (!m) return;
    bpe_free(m->clip_tok);
    ugm_free(m->t5_tok);
    clip_free(m->clip);
    t5_free(m->t5);
    dit_free(m->dit);
    vae_free(m->vae);
    g_free(m->label);
    files_clear(&m->files);
    g_strfreev(m->encoder_files);
    g_free(m);
}

gboolean flux_model_uses_guidance(const FluxModel *m)
{
    return dit_config(m->dit)->guidance_embeds;
}

static void append_prefixed(GPtrArray *out, const char *component, char **names)
{
    for (char **n = names; n && *n; n++)
        g_ptr_array_add(out, g_strdup_printf("%s/%s", component, *n));
    g_strfreev(names);
}

gsize flux_model_unused_tensors(const FluxModel *m, char ***names)
{
    GPtrArray *out = g_ptr_array_new();
    char **n;
    if (m->clip) { /* (none to report while released) */
        clip_unused_tensors(m->clip, &n);
        append_prefixed(out, "text_encoder", n);
    }
    if (m->t5) {
        t5_unused_tensors(m->t5, &n);
        append_prefixed(out, "text_encoder_2", n);
    }
    dit_unused_tensors(m->dit, &n);
    append_prefixed(out, "transformer", n);
    vae_unused_tensors(m->vae, &n);
    append_prefixed(out, "vae", n);
    gsize count = out->len;
    g_ptr_array_add(out, NULL);
    char **arr = (char **)g_ptr_array_free(out, FALSE);
    if (names)
        *names = arr;
    else
        g_strfreev(arr);
    return count;
}
