/* checkpoint.c — see checkpoint.h. Name translation of FLUX.1 component checkpoints into the
 * diffusers names, written from diffusers 0.32.2 (loaders/single_file_utils.py:
 * convert_flux_transformer_checkpoint_to_diffusers, convert_ldm_vae_checkpoint) and
 * ComfyUI-GGUF's llama.cpp T5 names.
 * Legend: D = inner dim (3072 for FLUX.1), M = MLP hidden (4·D), HD = head dim (128),
 * N = a block index, C = VAE channels. */
#include "convert.h"
#include "checkpoint.h"
#include "error.h"
#include "flux.h"
#include "gguf.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    StArchive *base; /* the file as read; owned by `out` */
    StArchive *out;  /* diffusers names */
    const char *prefix;
    CkptInfo *info;
    GError **error;
} Tr;

const int ckpt_flux1_rope_axes[3] = {16, 56, 56};

#define model_error(error, file, ...) error_set(error, FLUX_ERROR_MODEL, file, __VA_ARGS__)

/* ------------------------------------------------------------------------------------- */
/* Opening the source and FP8 scales                                                     */

static StArchive *open_source(const char *path, gboolean *gguf, const char *stem, GError **error)
{
    *gguf = FALSE;
    if (g_file_test(path, G_FILE_TEST_IS_DIR)) return st_archive_open_dir(path, stem, error);
    if (g_str_has_suffix(path, ".gguf") || gguf_is_gguf(path)) {
        *gguf = TRUE;
        return gguf_open(path, error);
    }
    return st_archive_open(path, error);
}

static gboolean has_suffix_scalar(const StTensor *t, const char *suffix)
{
    return g_str_has_suffix(t->name, suffix) && t->numel <= 1;
}

/* Scale tensors and markers of FP8 checkpoints, never given to the modules. */
static gboolean is_scale_tensor(const StTensor *t)
{
    return has_suffix_scalar(t, ".scale_weight") || has_suffix_scalar(t, ".weight_scale") ||
           has_suffix_scalar(t, ".scale_input") || has_suffix_scalar(t, ".input_scale") ||
           strcmp(t->name, "scaled_fp8") == 0 || g_str_has_suffix(t->name, ".scaled_fp8");
}

/* `<layer>.scale_weight` / `<layer>.weight_scale` (a float scalar) multiplies `<layer>.weight`. */
static gboolean apply_scales(StArchive *a, int *n_scaled, GError **error)
{
    for (gsize i = 0; i < st_archive_n_tensors(a); i++) {
        StTensor *s = st_archive_tensor(a, i);
        const char *suffix = has_suffix_scalar(s, ".scale_weight")   ? ".scale_weight"
                             : has_suffix_scalar(s, ".weight_scale") ? ".weight_scale"
                                                                     : NULL;
        if (!suffix) continue;
        g_autofree char *layer = g_strndup(s->name, strlen(s->name) - strlen(suffix));
        g_autofree char *wname = g_strconcat(layer, ".weight", NULL);
        StTensor *w = st_archive_find(a, wname);
        if (!w) continue;
        float v = 0.0f;
        if (s->numel != 1 || !st_dtype_is_float(s->dtype))
            return model_error(error, s->file, "tensor '%s' is not a float scalar", s->name);
        st_to_f32(&v, s, 0, 1);
        if (w->dtype != ST_F8_E4M3 && w->dtype != ST_F8_E5M2) {
            g_set_error(error, FLUX_ERROR, FLUX_ERROR_UNSUPPORTED,
                        "%s: tensor '%s' has a scale '%s' but dtype %s (scales are read for FP8 "
                        "weights only)",
                        w->file, wname, s->name, st_dtype_name(w->dtype));
            return FALSE;
        }
        if (!(v != 0.0f && v == v) || w->scale != 0.0f)
            return model_error(error, s->file, "tensor '%s': invalid or second scale %g for '%s'",
                               s->name, (double)v, wname);
        w->scale = v;
        (*n_scaled)++;
    }
    return TRUE;
}

/* ------------------------------------------------------------------------------------- */
/* Adding translated tensors                                                             */

static gboolean add_alias(Tr *tr, const char *name, const StTensor *t)
{
    return st_archive_add_view(tr->out, name, t, 0, t->ndim, t->shape, tr->error) != NULL;
}

/* Rows [row0, row0 + n) of t (first dimension) as `name`. */
static gboolean add_rows(Tr *tr, const char *name, const StTensor *t, int64_t row0, int64_t n)
{
    int64_t shape[ST_MAX_DIMS];
    memcpy(shape, t->shape, sizeof shape);
    shape[0] = n;
    int64_t row_len = t->shape[0] ? t->numel / t->shape[0] : 0;
    return st_archive_add_view(tr->out, name, t, row0 * row_len, t->ndim, shape, tr->error) != NULL;
}

/* Splits t along its first dimension into parts of sizes[i] rows named `<stem><to[i]>.<param>`. */
static gboolean add_split(Tr *tr, const StTensor *t, const char *stem, const char *const *to,
                          const int64_t *sizes, int n, const char *param)
{
    int64_t total = 0;
    for (int i = 0; i < n; i++) total += sizes[i];
    if (t->ndim < 1 || t->shape[0] != total)
        return model_error(tr->error, t->file,
                           "tensor '%s' has %" G_GINT64_FORMAT " rows, expected %" G_GINT64_FORMAT
                           " (a fused %d-way projection)",
                           t->name, t->ndim ? t->shape[0] : 0, total, n);
    int64_t row = 0;
    for (int i = 0; i < n; i++) {
        g_autofree char *name = g_strconcat(stem, to[i], ".", param, NULL);
        if (!add_rows(tr, name, t, row, sizes[i])) return FALSE;
        row += sizes[i];
    }
    return TRUE;
}

/* The two halves of the first dimension exchanged, into an owned buffer of the same dtype
 * (whole rows, so a byte copy is exact for every dtype). */
static gboolean add_swapped(Tr *tr, const char *name, const StTensor *t)
{
    uint64_t half;
    if (t->ndim < 1 || t->shape[0] % 2 || !st_dtype_nbytes(t->dtype, (uint64_t)t->numel / 2, &half))
        return model_error(tr->error, t->file,
                           "tensor '%s' cannot be split into (shift, scale) halves", t->name);
    guint8 *buf = g_malloc(t->nbytes ? t->nbytes : 1);
    memcpy(buf, (const guint8 *)t->data + half, (size_t)half);
    memcpy(buf + half, t->data, (size_t)half);
    StTensor *o =
        st_archive_add_owned(tr->out, name, t->dtype, t->ndim, t->shape, buf, t->file, tr->error);
    if (o) o->scale = t->scale;
    return o != NULL;
}

/* ------------------------------------------------------------------------------------- */
/* FLUX transformer: BFL → diffusers                                                     */

typedef enum { OP_ALIAS, OP_QKV, OP_LINEAR1, OP_SWAP } Op;

typedef struct {
    const char *from; /* stem without the trailing .weight/.bias/.scale */
    Op op;
    const char *to[4];
} Rule;

/* double_blocks.N.<from> → transformer_blocks.N.<to> */
static const Rule double_rules[] = {
    {"img_mod.lin", OP_ALIAS, {"norm1.linear"}},
    {"txt_mod.lin", OP_ALIAS, {"norm1_context.linear"}},
    {"img_attn.qkv", OP_QKV, {"attn.to_q", "attn.to_k", "attn.to_v"}},
    {"txt_attn.qkv", OP_QKV, {"attn.add_q_proj", "attn.add_k_proj", "attn.add_v_proj"}},
    {"img_attn.norm.query_norm", OP_ALIAS, {"attn.norm_q"}},
    {"img_attn.norm.key_norm", OP_ALIAS, {"attn.norm_k"}},
    {"txt_attn.norm.query_norm", OP_ALIAS, {"attn.norm_added_q"}},
    {"txt_attn.norm.key_norm", OP_ALIAS, {"attn.norm_added_k"}},
    {"img_attn.proj", OP_ALIAS, {"attn.to_out.0"}},
    {"txt_attn.proj", OP_ALIAS, {"attn.to_add_out"}},
    {"img_mlp.0", OP_ALIAS, {"ff.net.0.proj"}},
    {"img_mlp.2", OP_ALIAS, {"ff.net.2"}},
    {"txt_mlp.0", OP_ALIAS, {"ff_context.net.0.proj"}},
    {"txt_mlp.2", OP_ALIAS, {"ff_context.net.2"}},
};

/* single_blocks.N.<from> → single_transformer_blocks.N.<to> */
static const Rule single_rules[] = {
    {"modulation.lin", OP_ALIAS, {"norm.linear"}},
    {"linear1", OP_LINEAR1, {"attn.to_q", "attn.to_k", "attn.to_v", "proj_mlp"}},
    {"linear2", OP_ALIAS, {"proj_out"}},
    {"norm.query_norm", OP_ALIAS, {"attn.norm_q"}},
    {"norm.key_norm", OP_ALIAS, {"attn.norm_k"}},
};

static const Rule top_rules[] = {
    {"img_in", OP_ALIAS, {"x_embedder"}},
    {"txt_in", OP_ALIAS, {"context_embedder"}},
    {"time_in.in_layer", OP_ALIAS, {"time_text_embed.timestep_embedder.linear_1"}},
    {"time_in.out_layer", OP_ALIAS, {"time_text_embed.timestep_embedder.linear_2"}},
    {"vector_in.in_layer", OP_ALIAS, {"time_text_embed.text_embedder.linear_1"}},
    {"vector_in.out_layer", OP_ALIAS, {"time_text_embed.text_embedder.linear_2"}},
    {"guidance_in.in_layer", OP_ALIAS, {"time_text_embed.guidance_embedder.linear_1"}},
    {"guidance_in.out_layer", OP_ALIAS, {"time_text_embed.guidance_embedder.linear_2"}},
    {"final_layer.linear", OP_ALIAS, {"proj_out"}},
    /* BFL's LastLayer splits its modulation as (shift, scale); diffusers' norm_out as
     * (scale, shift) */
    {"final_layer.adaLN_modulation.1", OP_SWAP, {"norm_out.linear"}},
};

static const Rule *find_rule(const Rule *rules, gsize n, const char *stem)
{
    for (gsize i = 0; i < n; i++)
        if (strcmp(rules[i].from, stem) == 0) return &rules[i];
    return NULL;
}

/* Applies `r` to t; `block` is the diffusers block prefix ("" or "transformer_blocks.3.").
 * The qk-norm ".scale" parameters become ".weight" (RMSNorm weight in diffusers). */
static gboolean apply_rule(Tr *tr, const Rule *r, const char *block, const char *param,
                           const StTensor *t, int64_t D)
{
    const char *p = strcmp(param, "scale") == 0 ? "weight" : param;
    g_autofree char *to0 = g_strconcat(block, r->to[0], ".", p, NULL);
    switch (r->op) {
    case OP_ALIAS:
        return add_alias(tr, to0, t);
    case OP_SWAP:
        return add_swapped(tr, to0, t);
    case OP_QKV: {
        int64_t sizes[3] = {D, D, D};
        return add_split(tr, t, block, r->to, sizes, 3, p);
    }
    case OP_LINEAR1: {
        int64_t M = t->ndim ? t->shape[0] - 3 * D : 0;
        if (M <= 0)
            return model_error(tr->error, t->file,
                               "tensor '%s' has %" G_GINT64_FORMAT
                               " rows, expected 3·%" G_GINT64_FORMAT " + the MLP width",
                               t->name, t->ndim ? t->shape[0] : 0, D);
        int64_t sizes[4] = {D, D, D, M};
        return add_split(tr, t, block, r->to, sizes, 4, p);
    }
    }
    return FALSE;
}

gboolean ckpt_same_name(const char *a, const char *b)
{
    for (; *a && *b; a++, b++)
        if (*a != *b && !(strchr("._", *a) && strchr("._", *b))) return FALSE;
    return *a == *b;
}

/* "<head><sep>N<sep><rest>" with sep '.' or '_' → N and rest. */
static gboolean layer_block(const char *stem, const char *head, long *index, const char **rest)
{
    size_t n = strlen(head);
    if (strncmp(stem, head, n) != 0 || !strchr("._", stem[n]) || !g_ascii_isdigit(stem[n + 1]))
        return FALSE;
    char *end;
    *index = strtol(stem + n + 1, &end, 10);
    if (!*end || !strchr("._", *end) || *index > 100000) return FALSE;
    *rest = end + 1;
    return TRUE;
}

char **ckpt_transformer_layer_targets(const char *stem, gboolean *swapped)
{
    const Rule *rules = top_rules, *r = NULL;
    gsize n_rules = G_N_ELEMENTS(top_rules);
    const char *rest = stem;
    g_autofree char *block = g_strdup("");
    long i;
    if (layer_block(stem, "double_blocks", &i, &rest)) {
        rules = double_rules, n_rules = G_N_ELEMENTS(double_rules);
        g_free(block), block = g_strdup_printf("transformer_blocks.%ld.", i);
    } else if (layer_block(stem, "single_blocks", &i, &rest)) {
        rules = single_rules, n_rules = G_N_ELEMENTS(single_rules);
        g_free(block), block = g_strdup_printf("single_transformer_blocks.%ld.", i);
    }
    for (gsize k = 0; k < n_rules && !r; k++)
        if (ckpt_same_name(rest, rules[k].from)) r = &rules[k];
    if (!r) return NULL;
    int n = r->op == OP_QKV ? 3 : r->op == OP_LINEAR1 ? 4 : 1;
    char **out = g_new0(char *, n + 1);
    for (int k = 0; k < n; k++) out[k] = g_strconcat(block, r->to[k], NULL);
    *swapped = r->op == OP_SWAP;
    return out;
}

/* "double_blocks.12.img_attn.qkv.weight" → index 12, rest "img_attn.qkv.weight". */
static gboolean block_index(const char *name, const char *head, int *index, const char **rest)
{
    if (!g_str_has_prefix(name, head)) return FALSE;
    const char *p = name + strlen(head);
    char *end;
    long v = strtol(p, &end, 10);
    if (end == p || *end != '.' || v < 0 || v > 100000) return FALSE;
    *index = (int)v;
    *rest = end + 1;
    return TRUE;
}

static gboolean map_transformer(Tr *tr, const char *name, const StTensor *t, int64_t D)
{
    const char *dot = strrchr(name, '.');
    if (!dot) return add_alias(tr, name, t);
    const char *param = dot + 1;
    int n;
    const char *rest;
    const Rule *r = NULL;
    g_autofree char *block = NULL, *stem = NULL;
    /* "double_blocks.0.weight": no stem between the index and the parameter */
    gboolean in_block = (block_index(name, "double_blocks.", &n, &rest) ||
                         block_index(name, "single_blocks.", &n, &rest));
    if (in_block && dot <= rest) return add_alias(tr, name, t);
    if (block_index(name, "double_blocks.", &n, &rest)) {
        stem = g_strndup(rest, (gsize)(dot - rest));
        r = find_rule(double_rules, G_N_ELEMENTS(double_rules), stem);
        block = g_strdup_printf("transformer_blocks.%d.", n);
    } else if (block_index(name, "single_blocks.", &n, &rest)) {
        stem = g_strndup(rest, (gsize)(dot - rest));
        r = find_rule(single_rules, G_N_ELEMENTS(single_rules), stem);
        block = g_strdup_printf("single_transformer_blocks.%d.", n);
    } else {
        stem = g_strndup(name, (gsize)(dot - name));
        r = find_rule(top_rules, G_N_ELEMENTS(top_rules), stem);
        block = g_strdup("");
    }
    return r ? apply_rule(tr, r, block, param, t, D) : add_alias(tr, name, t);
}

/* ------------------------------------------------------------------------------------- */
/* VAE: LDM (ae.safetensors) → diffusers                                                 */

/* Resnet parameter names are shared except LDM's nin_shortcut (1×1 conv on the skip). */
static char *resnet_param(const char *p)
{
    return g_str_has_prefix(p, "nin_shortcut.") ? g_strconcat("conv_shortcut.", p + 13, NULL)
                                                : g_strdup(p);
}

/* The mid-block attention: LDM's 1×1 convs q/k/v/proj_out [C, C, 1, 1] are diffusers'
 * linear to_q/to_k/to_v/to_out.0 [C, C] (same bytes, reshaped); norm → group_norm. */
static gboolean map_vae_attn(Tr *tr, const char *out_prefix, const char *p, const StTensor *t)
{
    static const char *const pairs[][2] = {
        {"norm.", "group_norm."},   {"q.", "to_q."}, {"k.", "to_k."}, {"v.", "to_v."},
        {"proj_out.", "to_out.0."},
    };
    for (gsize i = 0; i < G_N_ELEMENTS(pairs); i++) {
        if (!g_str_has_prefix(p, pairs[i][0])) continue;
        g_autofree char *name = g_strconcat(out_prefix, pairs[i][1], p + strlen(pairs[i][0]), NULL);
        if (t->ndim > 2) {
            int64_t shape[2] = {t->shape[0], t->numel / (t->shape[0] ? t->shape[0] : 1)};
            return st_archive_add_view(tr->out, name, t, 0, 2, shape, tr->error) != NULL;
        }
        return add_alias(tr, name, t);
    }
    g_autofree char *name = g_strconcat(out_prefix, p, NULL);
    return add_alias(tr, name, t);
}

static gboolean map_vae(Tr *tr, const char *name, const StTensor *t, int n_up)
{
    const char *part = g_str_has_prefix(name, "encoder.")   ? "encoder."
                       : g_str_has_prefix(name, "decoder.") ? "decoder."
                                                            : NULL;
    if (!part) return add_alias(tr, name, t);
    const char *r = name + 8;
    int i, j;
    const char *rest, *rest2;
    g_autofree char *out = NULL;
    if (g_str_has_prefix(r, "norm_out.")) {
        out = g_strconcat(part, "conv_norm_out.", r + 9, NULL);
    } else if (block_index(r, "down.", &i, &rest) && block_index(rest, "block.", &j, &rest2)) {
        g_autofree char *p = resnet_param(rest2);
        out = g_strdup_printf("%sdown_blocks.%d.resnets.%d.%s", part, i, j, p);
    } else if (block_index(r, "down.", &i, &rest) && g_str_has_prefix(rest, "downsample.")) {
        out = g_strdup_printf("%sdown_blocks.%d.downsamplers.0.%s", part, i, rest + 11);
    } else if (block_index(r, "up.", &i, &rest) && i < n_up &&
               block_index(rest, "block.", &j, &rest2)) {
        /* LDM numbers the decoder's up path from the lowest resolution upwards reversed */
        g_autofree char *p = resnet_param(rest2);
        out = g_strdup_printf("%sup_blocks.%d.resnets.%d.%s", part, n_up - 1 - i, j, p);
    } else if (block_index(r, "up.", &i, &rest) && i < n_up &&
               g_str_has_prefix(rest, "upsample.")) {
        out = g_strdup_printf("%sup_blocks.%d.upsamplers.0.%s", part, n_up - 1 - i, rest + 9);
    } else if (g_str_has_prefix(r, "mid.block_1.") || g_str_has_prefix(r, "mid.block_2.")) {
        g_autofree char *p = resnet_param(r + 12);
        out = g_strdup_printf("%smid_block.resnets.%d.%s", part, r[10] - '1', p);
    } else if (g_str_has_prefix(r, "mid.attn_1.")) {
        g_autofree char *op = g_strconcat(part, "mid_block.attentions.0.", NULL);
        return map_vae_attn(tr, op, r + 11, t);
    } else {
        out = g_strdup(name); /* conv_in, conv_out and anything unknown */
    }
    return add_alias(tr, out, t);
}

/* Number of decoder up blocks: 1 + the largest N of decoder.up.N. */
static int vae_n_up(StArchive *a, const char *prefix)
{
    int n = 0;
    g_autofree char *head = g_strconcat(prefix, "decoder.up.", NULL);
    for (gsize k = 0; k < st_archive_n_tensors(a); k++) {
        int i;
        const char *rest;
        if (block_index(st_archive_tensor(a, k)->name, head, &i, &rest) && i + 1 > n) n = i + 1;
    }
    return n;
}

/* ------------------------------------------------------------------------------------- */
/* T5: llama.cpp GGUF names → transformers                                               */

static gboolean map_t5_llama(Tr *tr, const char *name, const StTensor *t)
{
    static const char *const pairs[][2] = {
        {"attn_q", "layer.0.SelfAttention.q"},
        {"attn_k", "layer.0.SelfAttention.k"},
        {"attn_v", "layer.0.SelfAttention.v"},
        {"attn_o", "layer.0.SelfAttention.o"},
        {"attn_rel_b", "layer.0.SelfAttention.relative_attention_bias"},
        {"attn_norm", "layer.0.layer_norm"},
        {"ffn_gate", "layer.1.DenseReluDense.wi_0"},
        {"ffn_up", "layer.1.DenseReluDense.wi_1"},
        {"ffn_down", "layer.1.DenseReluDense.wo"},
        {"ffn_norm", "layer.1.layer_norm"},
    };
    if (strcmp(name, "token_embd.weight") == 0) return add_alias(tr, "shared.weight", t);
    if (strcmp(name, "enc.output_norm.weight") == 0)
        return add_alias(tr, "encoder.final_layer_norm.weight", t);
    int n;
    const char *rest;
    const char *dot = strrchr(name, '.');
    if (dot && block_index(name, "enc.blk.", &n, &rest) && dot > rest) {
        g_autofree char *stem = g_strndup(rest, (gsize)(dot - rest));
        for (gsize i = 0; i < G_N_ELEMENTS(pairs); i++)
            if (strcmp(stem, pairs[i][0]) == 0) {
                g_autofree char *out =
                    g_strdup_printf("encoder.block.%d.%s%s", n, pairs[i][1], dot);
                return add_alias(tr, out, t);
            }
    }
    return add_alias(tr, name, t);
}

/* ------------------------------------------------------------------------------------- */
/* The common driver                                                                     */

typedef enum { COMP_TRANSFORMER, COMP_VAE, COMP_CLIP, COMP_T5 } Component;

/* Prefixes under which all-in-one checkpoints store a component, and a tensor that tells
 * whether the component's names start right after it (any layout). */
static const char *const transformer_prefixes[] = {"model.diffusion_model.", "diffusion_model."};
static const char *const vae_prefixes[] = {"first_stage_model.", "vae."};
static const char *const clip_prefixes[] = {"text_encoders.clip_l.transformer.",
                                            "cond_stage_model.transformer.",
                                            "conditioner.embedders.0.transformer.", "transformer."};
static const char *const t5_prefixes[] = {"text_encoders.t5xxl.transformer."};

static gboolean has(StArchive *a, const char *prefix, const char *name)
{
    g_autofree char *full = g_strconcat(prefix, name, NULL);
    return st_archive_find(a, full) != NULL;
}

static gboolean any_prefix(StArchive *a, const char *prefix)
{
    for (gsize i = 0; i < st_archive_n_tensors(a); i++)
        if (g_str_has_prefix(st_archive_tensor(a, i)->name, prefix)) return TRUE;
    return FALSE;
}

static const char *find_prefix(StArchive *a, Component c)
{
    const char *const *list;
    gsize n;
    switch (c) {
    case COMP_TRANSFORMER:
        list = transformer_prefixes;
        n = G_N_ELEMENTS(transformer_prefixes);
        break;
    case COMP_VAE:
        list = vae_prefixes;
        n = G_N_ELEMENTS(vae_prefixes);
        break;
    case COMP_CLIP:
        list = clip_prefixes;
        n = G_N_ELEMENTS(clip_prefixes);
        break;
    default:
        list = t5_prefixes;
        n = G_N_ELEMENTS(t5_prefixes);
        break;
    }
    for (gsize i = 0; i < n; i++)
        if (any_prefix(a, list[i])) return list[i];
    return "";
}

static CkptLayout detect(StArchive *a, Component c, const char *p)
{
    switch (c) {
    case COMP_TRANSFORMER:
        return has(a, p, "img_in.weight") || has(a, p, "double_blocks.0.img_attn.qkv.weight") ||
                       has(a, p, "single_blocks.0.linear1.weight")
                   ? CKPT_LAYOUT_ORIGINAL
                   : CKPT_LAYOUT_DIFFUSERS;
    case COMP_VAE:
        return has(a, p, "decoder.mid.block_1.conv1.weight") ||
                       has(a, p, "decoder.up.0.block.0.conv1.weight") ||
                       has(a, p, "encoder.down.0.block.0.conv1.weight")
                   ? CKPT_LAYOUT_ORIGINAL
                   : CKPT_LAYOUT_DIFFUSERS;
    case COMP_T5:
        return has(a, p, "token_embd.weight") || has(a, p, "enc.output_norm.weight")
                   ? CKPT_LAYOUT_LLAMA_CPP
                   : CKPT_LAYOUT_DIFFUSERS;
    default:
        return CKPT_LAYOUT_DIFFUSERS;
    }
}

static gboolean translate(Tr *tr, Component c)
{
    StArchive *a = tr->base;
    gsize plen = strlen(tr->prefix);
    int64_t D = 0;
    int n_up = 0;
    if (c == COMP_TRANSFORMER && tr->info->layout == CKPT_LAYOUT_ORIGINAL) {
        g_autofree char *n = g_strconcat(tr->prefix, "img_in.weight", NULL);
        StTensor *x = st_archive_find(a, n);
        if (!x || x->ndim != 2)
            return model_error(tr->error, st_archive_path(a),
                               "tensor '%s' (the image input projection [D, C]) is missing or "
                               "not 2-D; cannot split the fused projections",
                               n);
        D = x->shape[0];
    }
    if (c == COMP_VAE) n_up = vae_n_up(a, tr->prefix);
    gboolean t5_shared = c == COMP_T5 && has(a, tr->prefix, "shared.weight");
    for (gsize i = 0; i < st_archive_n_tensors(a); i++) {
        const StTensor *t = st_archive_tensor(a, i);
        if ((plen && !g_str_has_prefix(t->name, tr->prefix)) || is_scale_tensor(t)) continue;
        const char *name = t->name + plen;
        gboolean ok;
        if (tr->info->layout == CKPT_LAYOUT_DIFFUSERS) {
            /* T5 files without "shared.weight" store the tied embedding as embed_tokens */
            if (c == COMP_T5 && !t5_shared && strcmp(name, "encoder.embed_tokens.weight") == 0)
                name = "shared.weight";
            ok = add_alias(tr, name, t);
        } else if (c == COMP_TRANSFORMER) {
            ok = map_transformer(tr, name, t, D);
        } else if (c == COMP_VAE) {
            ok = map_vae(tr, name, t, n_up);
        } else {
            ok = map_t5_llama(tr, name, t);
        }
        if (!ok) return FALSE;
    }
    return TRUE;
}

static StArchive *open_component(const char *path, Component c, const char *stem, GError **error)
{
    gboolean gguf;
    StArchive *base = open_source(path, &gguf, stem, error);
    if (!base) return NULL;
    CkptInfo *info = g_new0(CkptInfo, 1);
    info->gguf = gguf;
    Tr tr = {base, st_archive_new(st_archive_path(base)), NULL, info, error};
    /* the base (mappings, GGUF metadata) lives as long as the translated archive */
    st_archive_attach(tr.out, "ckpt-base", base, (GDestroyNotify)st_archive_free);
    st_archive_attach(tr.out, "ckpt", info, g_free);
    if (gguf) st_archive_attach(tr.out, "gguf", (gpointer)gguf_archive_file(base), NULL);
    tr.prefix = info->prefix = find_prefix(base, c);
    info->layout = detect(base, c, tr.prefix);
    if (!apply_scales(base, &info->n_scaled, error) || !translate(&tr, c)) {
        st_archive_free(tr.out);
        return NULL;
    }
    return tr.out;
}

const CkptInfo *ckpt_archive_info(const StArchive *a)
{
    return st_archive_attached(a, "ckpt");
}

StArchive *ckpt_open_transformer(const char *path, CkptTransformerConfig *cfg, GError **error)
{
    StArchive *a = open_component(path, COMP_TRANSFORMER, "diffusion_pytorch_model", error);
    if (a && cfg && !ckpt_infer_transformer_config(a, 0, cfg, error)) {
        st_archive_free(a);
        return NULL;
    }
    return a;
}

StArchive *ckpt_open_vae(const char *path, GError **error)
{
    return open_component(path, COMP_VAE, "diffusion_pytorch_model", error);
}

/* CLIP and T5 must show their anchor tensor after the prefix, else the file is something else. */
static StArchive *open_text(const char *path, Component c, const char *anchor, GError **error)
{
    StArchive *a = open_component(path, c, "model", error);
    if (a && !st_archive_find(a, anchor)) {
        model_error(error, path, "no %s weights found (tensor '%s' is missing%s%s)",
                    c == COMP_CLIP ? "CLIP text model" : "T5 encoder", anchor,
                    *ckpt_archive_info(a)->prefix ? " under prefix " : "",
                    ckpt_archive_info(a)->prefix);
        st_archive_free(a);
        return NULL;
    }
    return a;
}

StArchive *ckpt_open_clip(const char *path, GError **error)
{
    return open_text(path, COMP_CLIP, "text_model.final_layer_norm.weight", error);
}

StArchive *ckpt_open_t5(const char *path, GError **error)
{
    return open_text(path, COMP_T5, "encoder.final_layer_norm.weight", error);
}

/* ------------------------------------------------------------------------------------- */
/* Transformer hyper-parameters from shapes                                              */

static StTensor *need_2d(StArchive *a, const char *name, GError **error)
{
    StTensor *t = st_archive_find(a, name);
    if (!t || t->ndim != 2) {
        model_error(error, st_archive_path(a), "tensor '%s' is %s, expected a matrix", name,
                    t ? "not 2-D" : "missing");
        return NULL;
    }
    return t;
}

/* Blocks numbered 0..n-1 without gaps: n = count of `<head>N.<probe>` present. */
static int count_blocks(StArchive *a, const char *head, const char *probe)
{
    int n = 0;
    for (;; n++) {
        g_autofree char *name = g_strdup_printf("%s%d.%s", head, n, probe);
        if (!st_archive_find(a, name)) return n;
    }
}

gboolean ckpt_infer_transformer_config(StArchive *a, int head_dim, CkptTransformerConfig *cfg,
                                       GError **error)
{
    memset(cfg, 0, sizeof *cfg);
    StTensor *x = need_2d(a, "x_embedder.weight", error);
    StTensor *ctx = x ? need_2d(a, "context_embedder.weight", error) : NULL;
    StTensor *pool =
        ctx ? need_2d(a, "time_text_embed.text_embedder.linear_1.weight", error) : NULL;
    StTensor *out = pool ? need_2d(a, "proj_out.weight", error) : NULL;
    if (!out) return FALSE;
    cfg->inner_dim = (int)x->shape[0];
    cfg->in_channels = (int)x->shape[1];
    cfg->joint_attention_dim = (int)ctx->shape[1];
    cfg->pooled_projection_dim = (int)pool->shape[1];
    cfg->out_channels = (int)out->shape[0];
    cfg->num_layers = count_blocks(a, "transformer_blocks.", "attn.to_q.weight");
    cfg->num_single_layers = count_blocks(a, "single_transformer_blocks.", "attn.to_q.weight");
    cfg->guidance_embeds =
        st_archive_find(a, "time_text_embed.guidance_embedder.linear_1.weight") != NULL;
    StTensor *ff =
        st_archive_find(a, cfg->num_layers ? "transformer_blocks.0.ff.net.0.proj.weight"
                                           : "single_transformer_blocks.0.proj_mlp.weight");
    cfg->mlp_hidden_dim = ff ? (int)ff->shape[0] : 4 * cfg->inner_dim;
    if (head_dim <= 0) {
        StTensor *nq =
            st_archive_find(a, cfg->num_layers ? "transformer_blocks.0.attn.norm_q.weight"
                                               : "single_transformer_blocks.0.attn.norm_q.weight");
        head_dim = nq && nq->ndim == 1 ? (int)MIN(nq->shape[0], (int64_t)INT_MAX) : 128;
    }
    /* A zero-length norm_q (seen by fuzz_gguf) would divide by zero below. */
    if (head_dim <= 0)
        return model_error(error, st_archive_path(a), "attention head dim %d is not positive",
                           head_dim);
    if (cfg->inner_dim <= 0 || cfg->inner_dim % head_dim != 0)
        return model_error(error, st_archive_path(a),
                           "inner dim %d (x_embedder.weight rows) is not a multiple of the head "
                           "dim %d",
                           cfg->inner_dim, head_dim);
    cfg->attention_head_dim = head_dim;
    cfg->num_attention_heads = cfg->inner_dim / head_dim;
    if (head_dim == 128) /* FLUX.1's rope */
        memcpy(cfg->axes_dims_rope, ckpt_flux1_rope_axes, sizeof cfg->axes_dims_rope);
    if (cfg->num_layers + cfg->num_single_layers == 0)
        return model_error(error, st_archive_path(a), "no transformer blocks found");
    return TRUE;
}

char *ckpt_transformer_config_json(const CkptTransformerConfig *cfg)
{
    GString *s = g_string_new("{\n  \"_class_name\": \"FluxTransformer2DModel\",\n");
    g_string_append_printf(s, "  \"attention_head_dim\": %d,\n", cfg->attention_head_dim);
    g_string_append_printf(s, "  \"axes_dims_rope\": [%d, %d, %d],\n", cfg->axes_dims_rope[0],
                           cfg->axes_dims_rope[1], cfg->axes_dims_rope[2]);
    g_string_append_printf(s, "  \"guidance_embeds\": %s,\n",
                           cfg->guidance_embeds ? "true" : "false");
    g_string_append_printf(s, "  \"in_channels\": %d,\n", cfg->in_channels);
    g_string_append_printf(s, "  \"joint_attention_dim\": %d,\n", cfg->joint_attention_dim);
    g_string_append_printf(s, "  \"num_attention_heads\": %d,\n", cfg->num_attention_heads);
    g_string_append_printf(s, "  \"num_layers\": %d,\n", cfg->num_layers);
    g_string_append_printf(s, "  \"num_single_layers\": %d,\n", cfg->num_single_layers);
    if (cfg->out_channels == cfg->in_channels)
        g_string_append(s, "  \"out_channels\": null,\n");
    else
        g_string_append_printf(s, "  \"out_channels\": %d,\n", cfg->out_channels);
    g_string_append(s, "  \"patch_size\": 1,\n");
    g_string_append_printf(s, "  \"pooled_projection_dim\": %d\n}\n", cfg->pooled_projection_dim);
    return g_string_free(s, FALSE);
}
