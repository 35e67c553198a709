/* probe.c — what a model folder is, read from its JSON files alone (no weights mapped),
 * and the size of a run: working memory and arithmetic, for the CLI and the dialog to
 * refuse or warn before a long run.
 *
 * Legend: D = transformer inner dim (3072), S = image tokens, L = T5 tokens, T = S + L,
 * NB = double + single blocks (57). FLUX.1 at 1024²: S = 4096, T = 4608. */
#include "probe.h"
#include "ops.h"
#include "transformer.h"

#include <glib/gstdio.h>
#include <string.h>

/* model_index.json entries and the classes this implementation understands. */
static const struct {
    const char *key, *cls;
} components[] = {
    {"scheduler", "FlowMatchEulerDiscreteScheduler"},
    {"text_encoder", "CLIPTextModel"},
    {"text_encoder_2", "T5EncoderModel"},
    {"transformer", "FluxTransformer2DModel"},
    {"vae", "AutoencoderKL"},
};

static gboolean check_index(const char *dir, GError **error)
{
    g_autofree char *path = g_build_filename(dir, "model_index.json", NULL);
    if (!g_file_test(dir, G_FILE_TEST_IS_DIR)) {
        g_set_error(error, FLUX_ERROR, FLUX_ERROR_IO, "%s: not a folder", dir);
        return FALSE;
    }
    if (!g_file_test(path, G_FILE_TEST_EXISTS)) {
        g_set_error(error, FLUX_ERROR, FLUX_ERROR_MODEL,
                    "%s: not a FLUX model folder (no model_index.json)", dir);
        return FALSE;
    }
    CfgJson *c = cfg_load(path, error);
    if (!c) return FALSE;
    const char *name = NULL, *lib, *cls;
    gboolean ok = cfg_string_or(c, "_class_name", "", &name, error);
    if (ok && !g_str_has_prefix(name, "Flux")) {
        g_set_error(error, FLUX_ERROR, FLUX_ERROR_MODEL,
                    "%s: \"_class_name\" is \"%s\", not a FLUX.1 pipeline", path, name);
        ok = FALSE;
    }
    for (guint i = 0; ok && i < G_N_ELEMENTS(components); i++) {
        ok = cfg_pair(c, components[i].key, &lib, &cls, error);
        if (ok && strcmp(cls, components[i].cls) != 0) {
            g_set_error(error, FLUX_ERROR, FLUX_ERROR_MODEL, "%s: \"%s\" is %s, expected %s", path,
                        components[i].key, cls, components[i].cls);
            ok = FALSE;
        }
    }
    cfg_free(c);
    return ok;
}

/* Total size of the *.safetensors files of one component folder. */
guint64 probe_folder_weight_bytes(const char *dir)
{
    guint64 total = 0;
    GDir *d = g_dir_open(dir, 0, NULL);
    for (const char *e; d && (e = g_dir_read_name(d));) {
        if (!g_str_has_suffix(e, ".safetensors")) continue;
        g_autofree char *p = g_build_filename(dir, e, NULL);
        GStatBuf st;
        if (g_stat(p, &st) == 0) total += (guint64)st.st_size;
    }
    if (d) g_dir_close(d);
    return total;
}

/* The transformer's config.json read as its loader reads it (dit_config_read). */
static gboolean read_transformer(const CfgJson *c, FluxModelInfo *info, GError **error)
{
    DitConfig dc;
    if (!dit_config_read(c, &dc, error)) return FALSE;
    info->uses_guidance = dc.guidance_embeds;
    info->inner_dim = dc.inner_dim;
    info->num_heads = dc.num_heads;
    info->head_dim = dc.head_dim;
    info->num_layers = dc.num_layers;
    info->num_single_layers = dc.num_single_layers;
    info->in_channels = dc.in_channels;
    info->out_channels = dc.out_channels;
    info->joint_attention_dim = dc.joint_attention_dim;
    info->pooled_projection_dim = dc.pooled_projection_dim;
    info->transformer_params = dit_param_count(&dc);
    return TRUE;
}

static gboolean read_t5(const CfgJson *t5, FluxModelInfo *info, GError **error)
{
    int64_t d;
    if (!cfg_int(t5, "d_model", 1, 65536, &d, error)) return FALSE;
    info->t5_d_model = (int)d;
    return TRUE;
}

static gboolean read_vae(const CfgJson *vae, FluxModelInfo *info, GError **error)
{
    int64_t ch[8] = {0};
    gsize n = 0;
    if (!cfg_int_array(vae, "block_out_channels", 1, 4096, ch, 8, &n, error)) return FALSE;
    if (n == 0) {
        g_set_error(error, FLUX_ERROR, FLUX_ERROR_MODEL, "%s: \"block_out_channels\" is missing",
                    cfg_path(vae));
        return FALSE;
    }
    /* the widest full-resolution activation: the last up block (ch[0]) and the upsampler
     * of the one before it, which still has ch[1] channels */
    info->vae_channels = (int)(n > 1 ? MAX(ch[0], ch[1]) : ch[0]);
    info->vae_mid_channels = (int)ch[n - 1];
    return TRUE;
}

gboolean probe_info_from_configs(const CfgJson *transformer, const CfgJson *t5, const CfgJson *vae,
                                 FluxModelInfo *info, GError **error)
{
    memset(info, 0, sizeof *info);
    if (!read_transformer(transformer, info, error) || !read_t5(t5, info, error) ||
        !read_vae(vae, info, error))
        return FALSE;
    info->default_steps = flux_default_steps(info->uses_guidance);
    return TRUE;
}

/* <dir>/<sub>/config.json checked by `read`; FALSE with `error` set when either fails. */
static gboolean read_sub(const char *dir, const char *sub,
                         gboolean (*read)(const CfgJson *, FluxModelInfo *, GError **),
                         FluxModelInfo *info, GError **error)
{
    g_autofree char *path = g_build_filename(dir, sub, "config.json", NULL);
    CfgJson *c = cfg_load(path, error);
    gboolean ok = c && read(c, info, error);
    cfg_free(c);
    return ok;
}

static gint looks;

guint probe_looks(void)
{
    return (guint)g_atomic_int_get(&looks);
}

void probe_look(void)
{
    g_atomic_int_inc(&looks);
}

gboolean flux_model_probe(const char *dir, FluxModelInfo *info, GError **error)
{
    probe_look();
    memset(info, 0, sizeof *info);
    if (!check_index(dir, error) || !read_sub(dir, "transformer", read_transformer, info, error) ||
        !read_sub(dir, "text_encoder_2", read_t5, info, error) ||
        !read_sub(dir, "vae", read_vae, info, error))
        return FALSE;
    info->default_steps = flux_default_steps(info->uses_guidance);
    const char *subs[] = {"text_encoder", "text_encoder_2", "transformer", "vae"};
    for (guint i = 0; i < G_N_ELEMENTS(subs); i++) {
        g_autofree char *p = g_build_filename(dir, subs[i], NULL);
        info->weight_bytes += probe_folder_weight_bytes(p);
    }
    return TRUE;
}

/* ------------------------------------------------------------------------------------- */
/* Estimates                                                                             */

guint64 probe_transformer_bytes(const FluxModelInfo *info, int width, int height, int max_seq)
{
    const DitConfig dc = {.in_channels = info->in_channels,
                          .out_channels = info->out_channels,
                          .inner_dim = info->inner_dim,
                          .num_heads = info->num_heads,
                          .head_dim = info->head_dim,
                          .joint_attention_dim = info->joint_attention_dim,
                          .pooled_projection_dim = info->pooled_projection_dim};
    int S = (height / 16) * (width / 16);
    return dit_context_bytes(&dc, 1, S, max_seq) + ops_linear_scratch_bytes(dit_mlp_dim(&dc));
}

guint64 flux_estimate_memory(const FluxModelInfo *info, int width, int height, int max_seq)
{
    guint64 S = (guint64)(height / 16) * (guint64)(width / 16), L = (guint64)max_seq;
    guint64 f = sizeof(float);
    guint64 dit = probe_transformer_bytes(info, width, height, max_seq);
    /* T5: hidden, normed, q/k/v/attn (4·inner ≈ 4d), gated MLP (2·2.5d) */
    guint64 t5 = 12 * L * (guint64)info->t5_d_model * f + (8u << 20);
    /* VAE: the peak is the last up block's first ResNet, its input [C, px] and conv1 output
     * [C/2, px] (C = the upsampler's channels, 256 for FLUX: 1.5 GiB at 1024²), plus the
     * 32 MiB im2col band and 16 MiB weight tiles */
    guint64 px = (guint64)flux_size_floor(height) * (guint64)flux_size_floor(width);
    guint64 vae = 3 * (guint64)info->vae_channels / 2 * px * f + (48u << 20);
    /* attention's per-thread scratch lives as long as the threads, sized by its largest use:
     * the transformer's (S + L tokens, heads of head_dim) or the VAE mid-block's single head
     * over the latent pixels (px / 64 of vae_mid_channels; 34 MiB a thread at 1024² under fast) */
    guint64 att = MAX(ops_attention_scratch_bytes((int)(S + L), info->head_dim),
                      ops_attention_scratch_bytes((int)(px / 64), info->vae_mid_channels));
    guint64 peak = MAX(dit, MAX(t5, vae)) + att;
    /* latents, noise prediction, text embeddings and the output pixels live throughout */
    return peak + 4 * S * 64 * f + L * (guint64)info->t5_d_model * f + px * 3 * (1 + f);
}

double flux_estimate_flops(const FluxModelInfo *info, int width, int height, int max_seq, int steps)
{
    double S = (double)(height / 16) * (width / 16), L = max_seq, T = S + L;
    double D = info->inner_dim, NB = info->num_layers + info->num_single_layers;
    /* per token and block, both block kinds multiply 12 D² weights (qkv 3, out/MLP 9); the
     * attention adds Q·Kᵀ and P·V, 2·2·T·D per token */
    double step = NB * (2.0 * 12.0 * D * D * T + 4.0 * T * T * D);
    double d = info->t5_d_model;
    /* T5-XXL-like: 24 layers of 4 d² attention + 3·2.5 d² gated MLP per token */
    double t5 = 24.0 * 2.0 * (4.0 * d * d + 7.5 * d * d) * L;
    /* VAE decoder: FLUX's (C = 256 at full size) costs 9.9 TFLOP of convolutions and 0.6 of
     * mid-block attention at 1024² (counted with torch hooks): ~1.0e7 FLOP per output pixel,
     * scaling with C² */
    double px = (double)flux_size_floor(height) * flux_size_floor(width), c = info->vae_channels;
    double vae = 1.0e7 * (c / 256.0) * (c / 256.0) * px;
    return steps * step + t5 + vae;
}
