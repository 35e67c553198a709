/* config_infer.c — see config_infer.h. The shapes are read from the diffusers/transformers
 * names the checkpoint readers give (checkpoint.h), so one rule serves BFL/LDM, ComfyUI and
 * GGUF files alike. */
#include "config_infer.h"
#include "error.h"

#include <string.h>

/* ------------------------------------------------------------------------------------- */
/* Reading shapes                                                                        */

static StTensor *need(StArchive *a, const char *file, const char *what, const char *name, int ndim,
                      GError **error)
{
    StTensor *t = st_archive_find(a, name);
    if (!t)
        error_set(error, FLUX_ERROR_MODEL, file, "this is not a %s file: it has no tensor %s", what,
                  name);
    else if (t->ndim != ndim) {
        error_set(error, FLUX_ERROR_MODEL, file, "tensor %s has %d dimensions, expected %d", name,
                  t->ndim, ndim);
        t = NULL;
    }
    return t;
}

/* How many consecutive N from 0 have a tensor named printf(fmt, N): a layer count. */
static int count_indexed(StArchive *a, const char *fmt)
{
    int n = 0;
    for (;; n++) {
        g_autofree char *name = g_strdup_printf(fmt, n);
        if (!st_archive_find(a, name)) return n;
    }
}

static gboolean has(StArchive *a, const char *name)
{
    return st_archive_find(a, name) != NULL;
}

/* CLIPTextModel: token_embedding [vocab, D], position_embedding [positions, D],
 * layers.0.mlp.fc1 [intermediate, D], one q_proj per layer. */
static gboolean clip_shapes(StArchive *a, const char *file, JsonObject *o, GError **error)
{
    const char *what = "CLIP text encoder";
    StTensor *tok = need(a, file, what, "text_model.embeddings.token_embedding.weight", 2, error);
    StTensor *pos =
        tok ? need(a, file, what, "text_model.embeddings.position_embedding.weight", 2, error)
            : NULL;
    StTensor *fc1 =
        pos ? need(a, file, what, "text_model.encoder.layers.0.mlp.fc1.weight", 2, error) : NULL;
    if (!fc1) return FALSE;
    json_object_set_int_member(o, "hidden_size", tok->shape[1]);
    json_object_set_int_member(o, "vocab_size", tok->shape[0]);
    json_object_set_int_member(o, "max_position_embeddings", pos->shape[0]);
    json_object_set_int_member(o, "intermediate_size", fc1->shape[0]);
    json_object_set_int_member(
        o, "num_hidden_layers",
        count_indexed(a, "text_model.encoder.layers.%d.self_attn.q_proj.weight"));
    return TRUE;
}

/* T5EncoderModel: shared [vocab, d_model], block 0's relative_attention_bias
 * [buckets, heads], q [heads·d_kv, d_model], wi_0 and wi_1 [d_ff, d_model] (gated, v1.1) or
 * one wi (ReLU, T5 1.0). */
static gboolean t5_shapes(StArchive *a, const char *file, JsonObject *o, GError **error)
{
    const char *what = "T5 encoder", *att = "encoder.block.0.layer.0.SelfAttention.";
    const char *emb = has(a, "shared.weight") ? "shared.weight" : "encoder.embed_tokens.weight";
    g_autofree char *bias_name = g_strconcat(att, "relative_attention_bias.weight", NULL);
    g_autofree char *q_name = g_strconcat(att, "q.weight", NULL);
    StTensor *e = need(a, file, what, emb, 2, error);
    StTensor *bias = e ? need(a, file, what, bias_name, 2, error) : NULL;
    StTensor *q = bias ? need(a, file, what, q_name, 2, error) : NULL;
    if (!q) return FALSE;
    gboolean gated = has(a, "encoder.block.0.layer.1.DenseReluDense.wi_0.weight");
    StTensor *wi = need(a, file, what,
                        gated ? "encoder.block.0.layer.1.DenseReluDense.wi_0.weight"
                              : "encoder.block.0.layer.1.DenseReluDense.wi.weight",
                        2, error);
    if (!wi) return FALSE;
    int64_t heads = bias->shape[1];
    if (heads < 1 || q->shape[0] % heads)
        return error_set(error, FLUX_ERROR_MODEL, file,
                         "%s has %lld rows, not a multiple of the %lld attention heads that "
                         "%s shows",
                         q_name, (long long)q->shape[0], (long long)heads, bias_name);
    json_object_set_int_member(o, "d_model", e->shape[1]);
    json_object_set_int_member(o, "vocab_size", e->shape[0]);
    json_object_set_int_member(o, "num_heads", heads);
    json_object_set_int_member(o, "relative_attention_num_buckets", bias->shape[0]);
    json_object_set_int_member(o, "d_kv", q->shape[0] / heads);
    json_object_set_int_member(o, "d_ff", wi->shape[0]);
    json_object_set_int_member(o, "num_layers",
                               count_indexed(a, "encoder.block.%d.layer.0.SelfAttention.q.weight"));
    /* the two kinds T5Config knows by feed_forward_proj; the GELU of v1.1 is the tanh one */
    json_object_set_boolean_member(o, "is_gated_act", gated);
    json_object_set_string_member(o, "feed_forward_proj", gated ? "gated-gelu" : "relu");
    json_object_set_string_member(o, "dense_act_fn", gated ? "gelu_pytorch_tanh" : "relu");
    return TRUE;
}

/* AutoencoderKL's decoder: conv_in [C_top, latent, 3, 3], conv_out [out, C_0, 3, 3]; up block k
 * has block_out_channels[n-1-k] (resnets.0.conv2 [C, C, 3, 3]) and layers_per_block + 1
 * resnets; the attention, quant convs and encoder show by being there. */
static gboolean vae_shapes(StArchive *a, const char *file, JsonObject *o, GError **error)
{
    const char *what = "VAE";
    StTensor *in = need(a, file, what, "decoder.conv_in.weight", 4, error);
    StTensor *out = in ? need(a, file, what, "decoder.conv_out.weight", 4, error) : NULL;
    if (!out) return FALSE;
    int n = count_indexed(a, "decoder.up_blocks.%d.resnets.0.conv2.weight");
    if (n < 1 || n > 8)
        return error_set(error, FLUX_ERROR_MODEL, file,
                         "this VAE's decoder has %d up blocks (decoder.up_blocks.N), expected 1 "
                         "to 8",
                         n);
    JsonArray *ch = json_array_new(), *types = json_array_new();
    for (int i = 0; i < n; i++) {
        g_autofree char *name =
            g_strdup_printf("decoder.up_blocks.%d.resnets.0.conv2.weight", n - 1 - i);
        json_array_add_int_element(ch, st_archive_find(a, name)->shape[0]);
        json_array_add_string_element(types, "UpDecoderBlock2D");
    }
    json_object_set_array_member(o, "block_out_channels", ch);
    json_object_set_array_member(o, "up_block_types", types);
    json_object_set_int_member(o, "latent_channels", in->shape[1]);
    json_object_set_int_member(o, "out_channels", out->shape[0]);
    json_object_set_int_member(o, "layers_per_block",
                               count_indexed(a, "decoder.up_blocks.0.resnets.%d.conv1.weight") - 1);
    json_object_set_boolean_member(o, "mid_block_add_attention",
                                   has(a, "decoder.mid_block.attentions.0.to_q.weight"));
    json_object_set_boolean_member(o, "use_post_quant_conv", has(a, "post_quant_conv.weight"));
    json_object_set_boolean_member(o, "use_quant_conv", has(a, "quant_conv.weight"));
    StTensor *enc = st_archive_find(a, "encoder.conv_in.weight");
    if (enc && enc->ndim == 4) json_object_set_int_member(o, "in_channels", enc->shape[1]);
    return TRUE;
}

/* ------------------------------------------------------------------------------------- */
/* What the shapes cannot show                                                           */

/* A value no tensor shows, taken from the built-in FLUX.1 config only when the sizes it goes
 * with are FLUX.1's: CLIP-L's 12 heads belong to its width 768 (head width 64); the VAE's 32
 * GroupNorm groups to its channels (128, 256, 512, 512); FLUX.1's latent scaling and shift to
 * its 16 latent channels. T5 has none: every size shows. */
typedef struct {
    const char *key, *depends_on, *in_words;
} Hidden;

static const Hidden clip_hidden[] = {
    {"num_attention_heads", "hidden_size", "number of attention heads"},
    {NULL, NULL, NULL},
};
static const Hidden vae_hidden[] = {
    {"norm_num_groups", "block_out_channels", "number of GroupNorm groups"},
    {"scaling_factor", "latent_channels", "latent scaling factor"},
    {"shift_factor", "latent_channels", "latent shift factor"},
    {NULL, NULL, NULL},
};
static const Hidden no_hidden[] = {{NULL, NULL, NULL}};

static char *node_text(JsonNode *n)
{
    return n ? json_to_string(n, FALSE) : g_strdup("absent");
}

char *config_infer_beside_path(const char *file)
{
    static const char *const exts[] = {".safetensors.index.json", ".safetensors", ".sft", ".gguf",
                                       NULL};
    g_autofree char *lower = g_ascii_strdown(file, -1);
    gsize len = strlen(file);
    for (const char *const *e = exts; *e; e++)
        if (g_str_has_suffix(lower, *e)) {
            len -= strlen(*e);
            break;
        }
    g_autofree char *stem = g_strndup(file, len);
    return g_strconcat(stem, ".json", NULL);
}

/* The beside-config's sizes must be the file's: a config meant for another file is an error,
 * not a silent override. */
static gboolean check_beside(const CfgJson *beside, JsonObject *shapes, const char *file,
                             GError **error)
{
    JsonObject *b = cfg_object(beside);
    g_autoptr(GList) keys = json_object_get_members(shapes);
    for (GList *k = keys; k; k = k->next) {
        JsonNode *want = json_object_get_member(shapes, k->data);
        JsonNode *got = json_object_get_member(b, k->data);
        if (!got || JSON_NODE_HOLDS_NULL(got) || json_node_equal(got, want)) continue;
        g_autofree char *w = node_text(want), *g = node_text(got);
        return error_set(error, FLUX_ERROR_MODEL, cfg_path(beside),
                         "\"%s\" is %s, but the tensors of %s say %s: this config belongs to "
                         "another file",
                         (const char *)k->data, g, file, w);
    }
    return TRUE;
}

/* Every hidden value's sizes are the built-in's, or the file is refused naming the first. */
static gboolean check_hidden(const Hidden *hidden, JsonObject *builtin, JsonObject *shapes,
                             const char *file, const char *what, const char *beside, GError **error)
{
    for (const Hidden *h = hidden; h->key; h++) {
        JsonNode *ours = json_object_get_member(shapes, h->depends_on);
        JsonNode *flux = json_object_get_member(builtin, h->depends_on);
        if (ours && flux && json_node_equal(ours, flux)) continue;
        g_autofree char *o = node_text(ours), *f = node_text(flux);
        return error_set(error, FLUX_ERROR_MODEL, file,
                         "this %s is not FLUX.1's size (%s %s, FLUX.1's is %s), and its %s "
                         "cannot be read from its tensors: put its config.json beside it as %s",
                         what, h->depends_on, o, f, h->in_words, beside);
    }
    return TRUE;
}

/* base's members, then the shapes' over them, as a config named `name`. */
static CfgJson *merged(JsonObject *base, JsonObject *shapes, const char *name, GError **error)
{
    g_autoptr(JsonNode) root = json_node_new(JSON_NODE_OBJECT);
    JsonObject *o = json_object_new();
    g_autoptr(GList) keys = json_object_get_members(base);
    for (GList *k = keys; k; k = k->next)
        json_object_set_member(o, k->data, json_node_copy(json_object_get_member(base, k->data)));
    g_autoptr(GList) skeys = json_object_get_members(shapes);
    for (GList *k = skeys; k; k = k->next)
        json_object_set_member(o, k->data, json_node_copy(json_object_get_member(shapes, k->data)));
    json_node_take_object(root, o);
    g_autofree char *text = json_to_string(root, FALSE);
    return cfg_load_data(name, text, -1, error);
}

CfgJson *config_infer(DefaultsConfig which, StArchive *a, const char *file, GError **error)
{
    g_return_val_if_fail(a != NULL && file != NULL, NULL);
    gboolean (*shapes_of)(StArchive *, const char *, JsonObject *, GError **);
    const Hidden *hidden;
    const char *what;
    switch (which) {
    case DEFAULTS_CLIP_L:
        shapes_of = clip_shapes, hidden = clip_hidden, what = "CLIP-L";
        break;
    case DEFAULTS_T5_XXL:
        shapes_of = t5_shapes, hidden = no_hidden, what = "T5";
        break;
    case DEFAULTS_VAE:
        shapes_of = vae_shapes, hidden = vae_hidden, what = "VAE";
        break;
    default:
        g_return_val_if_reached(NULL);
    }
    g_autoptr(JsonObject) shapes = json_object_new();
    if (!shapes_of(a, file, shapes, error)) return NULL;

    g_autofree char *beside_file = config_infer_beside_path(file);
    CfgJson *base = NULL, *out = NULL;
    g_autofree char *name = NULL;
    if (g_file_test(beside_file, G_FILE_TEST_IS_REGULAR)) {
        base = cfg_load(beside_file, error);
        if (base && check_beside(base, shapes, file, error))
            name =
                g_strdup_printf("%s (sizes from its tensors, the rest from %s)", file, beside_file);
    } else {
        base = defaults_config(which, error);
        if (base && check_hidden(hidden, cfg_object(base), shapes, file, what, beside_file, error))
            name = g_strdup_printf("%s (sizes from its tensors, the rest from the %s)", file,
                                   defaults_name(which));
    }
    if (name) out = merged(cfg_object(base), shapes, name, error);
    cfg_free(base);
    return out;
}

gboolean config_infer_rope_axes(const char *file, int head_dim, int axes[3], gboolean *found,
                                GError **error)
{
    g_autofree char *path = config_infer_beside_path(file);
    *found = g_file_test(path, G_FILE_TEST_IS_REGULAR);
    if (!*found) return TRUE;
    CfgJson *c = cfg_load(path, error);
    int64_t v[3] = {0, 0, 0};
    gsize n = 0;
    gboolean ok = c && cfg_int_array(c, "axes_dims_rope", 1, 4096, v, 3, &n, error);
    if (ok && (n != 3 || v[0] + v[1] + v[2] != head_dim))
        ok = error_set(error, FLUX_ERROR_MODEL, path,
                       "\"axes_dims_rope\" must be 3 numbers adding up to the attention head dim "
                       "%d of %s",
                       head_dim, file);
    for (int i = 0; ok && i < 3; i++) axes[i] = (int)v[i];
    cfg_free(c);
    return ok;
}
