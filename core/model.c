/* model.c — loading a FLUX.1 folder in the diffusers layout (FluxPipeline's
 * model_index.json, checked by flux_model_probe; one sub-folder per component) and
 * checking that the components fit
 * together: T5 width = transformer joint_attention_dim, CLIP width = pooled_projection_dim,
 * 4 × VAE latent channels = transformer in_channels (2×2 packing). */
#include "model.h"

static gboolean mismatch(GError **error, const char *dir, const char *what, int a, int b)
{
    g_set_error(error, FLUX_ERROR, FLUX_ERROR_MODEL, "%s: components do not fit: %s (%d vs %d)",
                dir, what, a, b);
    return FALSE;
}

static gboolean check_fit(FluxModel *m, GError **error)
{
    const DitConfig *dc = dit_config(m->dit);
    if (dc->joint_attention_dim != t5_d_model(m->t5))
        return mismatch(error, m->dir, "transformer joint_attention_dim vs T5 d_model",
                        dc->joint_attention_dim, t5_d_model(m->t5));
    if (dc->pooled_projection_dim != clip_hidden_size(m->clip))
        return mismatch(error, m->dir, "transformer pooled_projection_dim vs CLIP hidden_size",
                        dc->pooled_projection_dim, clip_hidden_size(m->clip));
    if (dc->in_channels != 4 * vae_latent_channels(m->vae) || dc->out_channels != dc->in_channels)
        return mismatch(error, m->dir, "transformer in_channels vs 4 × VAE latent_channels",
                        dc->in_channels, 4 * vae_latent_channels(m->vae));
    return TRUE;
}

FluxModel *flux_model_load(const char *dir, GError **error)
{
    g_return_val_if_fail(dir != NULL, NULL);
    FluxModelInfo info;
    if (!flux_model_probe(dir, &info, error)) return NULL;
    FluxModel *m = g_new0(FluxModel, 1);
    m->info = info;
    m->dir = g_strdup(dir);
    g_autofree char *tok = g_build_filename(dir, "tokenizer", NULL);
    g_autofree char *tok2 = g_build_filename(dir, "tokenizer_2", NULL);
    g_autofree char *te = g_build_filename(dir, "text_encoder", NULL);
    g_autofree char *te2 = g_build_filename(dir, "text_encoder_2", NULL);
    g_autofree char *tr = g_build_filename(dir, "transformer", NULL);
    g_autofree char *vae = g_build_filename(dir, "vae", NULL);
    g_autofree char *sch = g_build_filename(dir, "scheduler", "scheduler_config.json", NULL);
    gboolean ok = sched_config_load(&m->sched, sch, error) &&
                  (m->clip_tok = bpe_load(tok, error)) && (m->t5_tok = ugm_load(tok2, error)) &&
                  (m->clip = clip_load(te, error)) && (m->t5 = t5_load(te2, error)) &&
                  (m->dit = dit_load(tr, error)) && (m->vae = vae_load(vae, error)) &&
                  check_fit(m, error);
    if (!ok) {
        flux_model_free(m);
        return NULL;
    }
    return m;
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
    g_free(m->dir);
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
    clip_unused_tensors(m->clip, &n);
    append_prefixed(out, "text_encoder", n);
    t5_unused_tensors(m->t5, &n);
    append_prefixed(out, "text_encoder_2", n);
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
