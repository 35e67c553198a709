/* transformer.c — the FLUX denoiser's forward, following diffusers 0.32.2
 * FluxTransformer2DModel (models/transformers/transformer_flux.py) with its parts:
 * CombinedTimestep[Guidance]TextProjEmbeddings, FluxPosEmbed + apply_rotary_emb,
 * FluxTransformerBlock (double stream), FluxSingleTransformerBlock, FluxAttnProcessor2_0,
 * AdaLayerNormZero[Single], AdaLayerNormContinuous.
 *
 * Dimensions:
 *   B      batch
 *   T_txt  text tokens (T5 sequence), T_img image tokens (packed latents), T = T_txt + T_img
 *   D      inner dim = NH · HD (3072 for FLUX.1)
 *   NH     heads (24), HD head dim (128) = sum(axes_dims_rope) = (16 + 56 + 56)
 *   F      feed-forward hidden = 4·D (12288)
 *   C_in, C_out  latent channels (64); J joint_attention_dim (4096); P pooled_projection_dim (768)
 *
 * Layout: the two streams live in one buffer x [B, T, D]: for each sample the T_txt text rows,
 * then the T_img image rows. Double blocks work on the two row ranges with their own weights;
 * the concatenation before the single blocks is then free, and so is taking the image part.
 * Heads are interleaved in the feature dim ([T, NH·HD], head h at columns h·HD..), so splitting
 * and merging heads are views, as ops_attention expects.
 *
 * It reads top-down as the study note's listing: dit_forward (embeddings, RoPE, double blocks,
 * single blocks, norm_out, proj_out), then a double block, a single block, the attention. The
 * weights (each parameter declared once in transformer_model.h, loaded by
 * transformer_weights.c), their copies on a backend (transformer_binding.c) and the arena of
 * activations (transformer_arena.c) are in rooms of their own.
 */
#include "transformer.h"
#include "transformer_model.h"

#include <math.h>
#include <stdarg.h>
#include <string.h>

/* The parts, in the order they appear below: the forward, then what it calls. */
static gboolean check_inputs(const DitContext *c, const float *hidden, const float *encoder_hidden,
                             const float *pooled, const float *timestep, const float *guidance,
                             const float *img_ids, const float *txt_ids, const float *out,
                             GError **error);
static void time_text_embed(DitContext *c, const float *timestep, const float *guidance);
static void embed_mlp(DitContext *c, float *out, const float *x, const DitLinear *l1,
                      const DitLinear *l2);
static void upload_proj(DitContext *c, const float *s);
static void timestep_proj(float *out, const float *s, int B);
static void pos_embed(DitContext *c, const float *txt_ids, const float *img_ids);
static void double_block(DitContext *c, const DitDoubleBlock *blk, int index);
static void stream_update(DitContext *c, const DitStream *w, float *x, float *h, const float *attn,
                          const float *mod, int n);
static void feed_forward(DitContext *c, float *y, const float *x, const DitStream *w, int n);
static void single_block(DitContext *c, const DitSingleBlock *blk, int index);
static void attention(DitContext *c, const DitAttn *txt, const DitAttn *img, const float *n,
                      float *out, int ldo);
static void linear(const DitContext *c, float *y, const float *x, const DitLinear *l, int M);
static void modulate(const DitContext *c, float *y, const float *x, int n, const float *shift,
                     const float *scale);
static void gated_add(const DitContext *c, float *x, const float *y, const float *gate, int n);
static void G_GNUC_PRINTF(8, 9) trace_rows(const DitContext *c, const float *buf, int rows, int r0,
                                           int n, int w, int ndim, const char *fmt, ...);

/* ------------------------------------------------------------------------------------- */
/* The forward: FluxTransformer2DModel.forward                                           */

gboolean dit_forward(DitContext *c, const float *hidden, const float *encoder_hidden,
                     const float *pooled, const float *timestep, const float *guidance,
                     const float *img_ids, const float *txt_ids, float *out, const FluxTrace *trace,
                     GError **error)
{
    g_return_val_if_fail(c != NULL, FALSE);
    if (!check_inputs(c, hidden, encoder_hidden, pooled, timestep, guidance, img_ids, txt_ids, out,
                      error))
        return FALSE;
    const DitModel *m = c->m;
    const DitConfig *cfg = &m->cfg;
    const FluxBackend *be = c->be;
    const int B = c->B, T = c->T, T_txt = c->T_txt, T_img = c->T_img, D = cfg->inner_dim;
    const size_t img_off = (size_t)T_txt * D;
    const size_t n_hid = (size_t)T_img * cfg->in_channels,
                 n_enc = (size_t)T_txt * cfg->joint_attention_dim,
                 n_out = (size_t)T_img * cfg->out_channels;
    c->trace = trace;

    /* 0. the inputs into the backend (a copy on the cpu) */
    be->upload(c->bc, c->in_hid, hidden, B * n_hid);
    be->upload(c->bc, c->in_enc, encoder_hidden, B * n_enc);
    be->upload(c->bc, c->in_pooled, pooled, (size_t)B * cfg->pooled_projection_dim);

    /* 1. embeddings into the joint stream x [B, T, D] (per sample: text rows, image rows) */
    for (int b = 0; b < B; b++) {
        float *x = c->x + (size_t)b * T * D;
        linear(c, x + img_off, c->in_hid + b * n_hid, &m->x_embedder, T_img); /* → [T_img, D] */
        linear(c, x, c->in_enc + b * n_enc, &m->context_embedder, T_txt);     /* → [T_txt, D] */
    }
    time_text_embed(c, timestep, guidance); /* temb [B, D] */
    trace_rows(c, c->x, T, T_txt, T_img, D, 3, "x_embedder");
    trace_rows(c, c->x, T, 0, T_txt, D, 3, "context_embedder");
    trace_rows(c, c->temb, 1, 0, 1, D, 2, "temb");

    /* 2. rotary position embedding: ids = [txt_ids; img_ids] [T, 3] → cos, sin [T, HD] */
    pos_embed(c, txt_ids, img_ids);
    int64_t rope_shape[2] = {T, cfg->head_dim};
    trace_f32(trace, c->h_cos, 2, rope_shape, "rope_cos");
    trace_f32(trace, c->h_sin, 2, rope_shape, "rope_sin");

    /* 3. double blocks × num_layers: x [B, T, D], text and image rows apart */
    const int n_blocks = cfg->num_layers + cfg->num_single_layers;
    for (int i = 0; i < cfg->num_layers; i++) {
        double_block(c, &m->dbl[i], i);
        if (c->block_done) c->block_done(i + 1, n_blocks, c->block_data);
    }

    /* 4. concat [txt; img] → [B, T, D]: nothing to do, x already holds them in that order */

    /* single blocks × num_single_layers: x [B, T, D] as one sequence */
    for (int i = 0; i < cfg->num_single_layers; i++) {
        single_block(c, &m->sgl[i], i);
        if (c->block_done) c->block_done(cfg->num_layers + i + 1, n_blocks, c->block_data);
    }

    /* 5. the image part: rows [T_txt, T) of each sample, [B, T_img, D] */

    /* 6. norm_out (AdaLayerNormContinuous: mod [B, 2D] = scale | shift, in that order), then
     *    proj_out [T_img, D] → out [T_img, C_out] per sample */
    linear(c, c->mod_img, c->temb_act, &m->norm_out, B);
    for (int b = 0; b < B; b++) {
        const float *scale = c->mod_img + (size_t)b * 2 * D, *shift = scale + D;
        size_t s = (size_t)b * T * D + img_off;
        modulate(c, c->n + s, c->x + s, T_img, shift, scale);
    }
    trace_rows(c, c->n, T, T_txt, T_img, D, 3, "norm_out");
    for (int b = 0; b < B; b++)
        linear(c, c->out + b * n_out, c->n + (size_t)b * T * D + img_off, &m->proj_out, T_img);
    c->trace = NULL;
    /* 7. the output back: waits for the queued work and reports its first failure */
    if (!be->download(c->bc, out, c->out, B * n_out, error)) {
        c->rope_ok = FALSE; /* a failed upload may have left the tables incomplete */
        g_prefix_error(error, "transformer: ");
        return FALSE;
    }
    return TRUE;
}

static gboolean check_inputs(const DitContext *c, const float *hidden, const float *encoder_hidden,
                             const float *pooled, const float *timestep, const float *guidance,
                             const float *img_ids, const float *txt_ids, const float *out,
                             GError **error)
{
    const char *missing = !hidden           ? "hidden_states"
                          : !encoder_hidden ? "encoder_hidden_states"
                          : !pooled         ? "pooled_projections"
                          : !timestep       ? "timestep"
                          : !img_ids        ? "img_ids"
                          : !txt_ids        ? "txt_ids"
                          : !out            ? "output"
                          : (!guidance && c->m->cfg.guidance_embeds)
                              ? "guidance (the model has guidance_embeds)"
                              : NULL;
    if (missing) {
        g_set_error(error, FLUX_ERROR, FLUX_ERROR_ARGUMENT, "transformer: %s is NULL", missing);
        return FALSE;
    }
    for (int b = 0; b < c->B; b++) {
        gboolean bad_g = c->m->cfg.guidance_embeds && !isfinite(guidance[b]);
        if (!isfinite(timestep[b]) || bad_g) {
            g_set_error(error, FLUX_ERROR, FLUX_ERROR_ARGUMENT,
                        "transformer: %s[%d] is %g, expected a finite number",
                        bad_g ? "guidance" : "timestep", b, bad_g ? guidance[b] : timestep[b]);
            return FALSE;
        }
    }
    return TRUE;
}

/* ------------------------------------------------------------------------------------- */
/* Embeddings: time_text_embed, pos_embed                                                */

/* CombinedTimestepGuidanceTextProjEmbeddings (guidance_embeds) or CombinedTimestepTextProj-
 * Embeddings: temb [B, D] = (time_emb + guidance_emb) + text_emb, with pooled in in_pooled. */
static void time_text_embed(DitContext *c, const float *timestep, const float *guidance)
{
    const DitModel *m = c->m;
    const int D = m->cfg.inner_dim;
    size_t n = (size_t)c->B * D;
    upload_proj(c, timestep);
    embed_mlp(c, c->temb, c->tproj, &m->time_1, &m->time_2);
    if (m->cfg.guidance_embeds) {
        upload_proj(c, guidance); /* queued after the time embedder's reads of tproj */
        embed_mlp(c, c->emb_out, c->tproj, &m->guid_1, &m->guid_2);
        c->be->add(c->bc, c->temb, c->emb_out, n);
    }
    embed_mlp(c, c->emb_out, c->in_pooled, &m->text_1, &m->text_2);
    c->be->add(c->bc, c->temb, c->emb_out, n);
    /* every AdaLN of the model starts with SiLU(temb): once here instead of 2·19 + 38 + 1 times */
    c->be->copy_columns(c->bc, c->temb_act, D, c->temb, D, D, c->B);
    c->be->silu(c->bc, c->temb_act, n);
}

/* TimestepEmbedding and PixArtAlphaTextProjection(act "silu") share one shape:
 * out [B, D] = linear_2(SiLU(linear_1(x))), x [B, in]. */
static void embed_mlp(DitContext *c, float *out, const float *x, const DitLinear *l1,
                      const DitLinear *l2)
{
    linear(c, c->emb_hid, x, l1, c->B);
    c->be->silu(c->bc, c->emb_hid, (size_t)c->B * c->m->cfg.inner_dim);
    linear(c, out, c->emb_hid, l2, c->B);
}

/* sinusoidal projection of s [B] into tproj [B, 256] (backend) */
static void upload_proj(DitContext *c, const float *s)
{
    timestep_proj(c->h_tproj, s, c->B);
    c->be->upload(c->bc, c->tproj, c->h_tproj, (size_t)c->B * DIT_TIME_CHANNELS);
}

/* Timesteps(256, flip_sin_to_cos=True, downscale_freq_shift=0) of s·1000 (FluxTransformer2D-
 * Model.forward scales sigma and guidance by 1000): out [B, 256] = [cos(a_j) | sin(a_j)],
 * a_j = s·1000·exp(-ln(10000)·j/128). Float32 step by step, as get_timestep_embedding.
 * The arguments reach guidance·1000 (3500 rad and more), where one ulp of a frequency moves
 * sin/cos by ~1e-4: torch's exp/sin (MKL VML or SLEEF, CPU-dependent) and libm differ at that
 * level, which is why temb, and through it every output, differs from the golden by ~1e-5
 * (5e-6 relative) while the rest of the model agrees to ~5e-7 given the same temb.
 * Computed on the host (B·256 values) and uploaded. */
static void timestep_proj(float *out, const float *s, int B)
{
    const int half = DIT_TIME_CHANNELS / 2;
    const float neg_log_period = (float)-log(10000.0);
    for (int b = 0; b < B; b++) {
        float t = s[b] * 1000.0f;
        float *o = out + (size_t)b * DIT_TIME_CHANNELS;
        for (int j = 0; j < half; j++) {
            float freq = expf(neg_log_period * (float)j / (float)half);
            float arg = t * freq;
            o[j] = (float)cos((double)arg);
            o[half + j] = (float)sin((double)arg);
        }
    }
}

/* FluxPosEmbed: ids = [txt_ids; img_ids] [T, 3] → rope_cos, rope_sin [T, HD]. Axis a gives
 * d_a/2 angles id[a]·ω_j (float64, then cast to float); each cos/sin is repeat-interleaved, so
 * columns 2p and 2p+1 hold pair p's value. Computed on the host and uploaded only when the
 * ids differ from the previous call's (they are the same at every step of a run). */
static void pos_embed(DitContext *c, const float *txt_ids, const float *img_ids)
{
    const DitConfig *cfg = &c->m->cfg;
    const int HD = cfg->head_dim;
    const size_t n_txt = (size_t)c->T_txt * 3, n_img = (size_t)c->T_img * 3;
    if (c->rope_ok && memcmp(c->h_ids, txt_ids, n_txt * sizeof(float)) == 0 &&
        memcmp(c->h_ids + n_txt, img_ids, n_img * sizeof(float)) == 0)
        return;
    memcpy(c->h_ids, txt_ids, n_txt * sizeof(float));
    memcpy(c->h_ids + n_txt, img_ids, n_img * sizeof(float));
    for (int t = 0; t < c->T; t++) {
        const float *id = c->h_ids + (size_t)t * 3;
        float *cr = c->h_cos + (size_t)t * HD, *sr = c->h_sin + (size_t)t * HD;
        int p = 0;
        for (int a = 0; a < 3; a++)
            for (int j = 0; j < cfg->axes_dims_rope[a] / 2; j++, p++) {
                double angle = (double)id[a] * c->m->rope_omega[p];
                cr[2 * p] = cr[2 * p + 1] = (float)cos(angle);
                sr[2 * p] = sr[2 * p + 1] = (float)sin(angle);
            }
    }
    c->be->upload(c->bc, c->rope_cos, c->h_cos, (size_t)c->T * HD);
    c->be->upload(c->bc, c->rope_sin, c->h_sin, (size_t)c->T * HD);
    c->rope_ok = TRUE;
}

/* ------------------------------------------------------------------------------------- */
/* Double-stream block (FluxTransformerBlock)                                            */

/* FluxTransformerBlock.forward (double stream) for every sample: text and image rows keep
 * their own weights but attend to each other. */
static void double_block(DitContext *c, const DitDoubleBlock *blk, int index)
{
    const int D = c->m->cfg.inner_dim, T = c->T, T_txt = c->T_txt, T_img = c->T_img;
    const size_t img_off = (size_t)T_txt * D;
    /* norm1, norm1_context (AdaLayerNormZero): mod [B, 6D] per stream =
     * shift_msa | scale_msa | gate_msa | shift_mlp | scale_mlp | gate_mlp */
    linear(c, c->mod_img, c->temb_act, &blk->img.norm1, c->B);
    linear(c, c->mod_txt, c->temb_act, &blk->txt.norm1, c->B);
    for (int b = 0; b < c->B; b++) {
        const float *mi = c->mod_img + (size_t)b * 6 * D, *mt = c->mod_txt + (size_t)b * 6 * D;
        size_t s = (size_t)b * T * D;
        modulate(c, c->n + s + img_off, c->x + s + img_off, T_img, mi, mi + D); /* [T_img, D] */
        modulate(c, c->n + s, c->x + s, T_txt, mt, mt + D);                     /* [T_txt, D] */
    }
    trace_rows(c, c->n, T, T_txt, T_img, D, 3, "double_block.%d.norm1.norm_x", index);
    static const char *const returned[4] = {"gate_msa", "shift_mlp", "scale_mlp", "gate_mlp"};
    for (int k = 0; k < 4; k++) /* chunks 2..5 of mod [B, 6, D] */
        trace_rows(c, c->mod_img, 6, 2 + k, 1, D, 2, "double_block.%d.norm1.%s", index,
                   returned[k]);

    for (int b = 0; b < c->B; b++) {
        float *x = c->x + (size_t)b * T * D, *n = c->n + (size_t)b * T * D;
        /* joint attention over [txt; img]: attn [T, D] */
        attention(c, &blk->txt.attn, &blk->img.attn, n, c->attn, D);
        /* per stream: to_out / to_add_out, feed-forward, gated residuals */
        stream_update(c, &blk->img, x + img_off, n + img_off, c->attn + img_off,
                      c->mod_img + (size_t)b * 6 * D, T_img);
        stream_update(c, &blk->txt, x, n, c->attn, c->mod_txt + (size_t)b * 6 * D, T_txt);
    }
    trace_rows(c, c->x, T, 0, T_txt, D, 3, "double_block.%d.encoder_hidden_states", index);
    trace_rows(c, c->x, T, T_txt, T_img, D, 3, "double_block.%d.hidden_states", index);
}

/* The rest of FluxTransformerBlock.forward for one stream (n rows) of one sample, after the
 * joint attention:
 *   x += gate_msa · to_out(attn)
 *   x += gate_mlp · ff(norm2(x)·(1 + scale_mlp) + shift_mlp)
 * mod [6D] holds this stream's AdaLayerNormZero chunks; h [n, D] is free scratch (the rows of
 * norm1's output, consumed by the attention). */
static void stream_update(DitContext *c, const DitStream *w, float *x, float *h, const float *attn,
                          const float *mod, int n)
{
    const int D = c->m->cfg.inner_dim;
    const float *gate_msa = mod + 2 * D, *shift_mlp = mod + 3 * D, *scale_mlp = mod + 4 * D,
                *gate_mlp = mod + 5 * D;
    linear(c, c->proj, attn, &w->to_out, n); /* [n, D] */
    gated_add(c, x, c->proj, gate_msa, n);
    modulate(c, h, x, n, shift_mlp, scale_mlp);
    feed_forward(c, c->proj, h, w, n); /* [n, D] */
    gated_add(c, x, c->proj, gate_mlp, n);
}

/* FeedForward(activation_fn "gelu-approximate"): y [n, D] = net.2(GELU_tanh(net.0.proj(x))),
 * x [n, D], hidden mlp [n, F]. */
static void feed_forward(DitContext *c, float *y, const float *x, const DitStream *w, int n)
{
    linear(c, c->mlp, x, &w->ff1, n);
    c->be->gelu_tanh(c->bc, c->mlp, (size_t)n * dit_mlp_dim(&c->m->cfg));
    linear(c, y, c->mlp, &w->ff2, n);
}

/* ------------------------------------------------------------------------------------- */
/* Single-stream block (FluxSingleTransformerBlock)                                      */

/* FluxSingleTransformerBlock.forward for every sample; x [T, D] is the joint [txt; img]
 * stream and also the residual (updated in place). */
static void single_block(DitContext *c, const DitSingleBlock *blk, int index)
{
    const int D = c->m->cfg.inner_dim, F = dit_mlp_dim(&c->m->cfg), T = c->T;
    /* AdaLayerNormZeroSingle: mod [B, 3D] = shift | scale | gate */
    linear(c, c->mod_img, c->temb_act, &blk->norm, c->B);
    for (int b = 0; b < c->B; b++) {
        float *x = c->x + (size_t)b * T * D, *n = c->n + (size_t)b * T * D;
        const float *mod = c->mod_img + (size_t)b * 3 * D;
        const float *shift = mod, *scale = mod + D, *gate = mod + 2 * D;
        /* 1. adaptive norm: n [T, D] */
        modulate(c, n, x, T, shift, scale);
        /* 2. attention and MLP side by side, both into cat [T, D + F] */
        attention(c, NULL, &blk->attn, n, c->cat, D + F); /* cat[:, :D] [T, D] */
        linear(c, c->mlp, n, &blk->proj_mlp, T);          /* [T, F] */
        c->be->gelu_tanh(c->bc, c->mlp, (size_t)T * F);
        /* 3. concat + projection: proj [T, D] */
        c->be->copy_columns(c->bc, c->cat + D, D + F, c->mlp, F, F, T); /* cat[:, D:] = mlp */
        linear(c, c->proj, c->cat, &blk->proj_out, T);
        /* 4. gate + residual */
        gated_add(c, x, c->proj, gate, T);
    }
    trace_rows(c, c->x, T, 0, T, D, 3, "single_block.%d", index);
}

/* ------------------------------------------------------------------------------------- */
/* Attention (FluxAttnProcessor2_0)                                                      */

/* FluxAttnProcessor2_0 for one sample, self-attention over the joint sequence n [T, D].
 * Double blocks project the text rows with `txt` (add_q/k/v_proj, norm_added_q/k) and the
 * image rows with `img` (to_q/k/v, norm_q/k); single blocks pass txt = NULL and project every
 * row with `img`. Output: heads merged, out [T, ldo] columns 0..D-1 (the output projection,
 * if any, is the caller's). */
static void attention(DitContext *c, const DitAttn *txt, const DitAttn *img, const float *n,
                      float *out, int ldo)
{
    const DitConfig *cfg = &c->m->cfg;
    const int D = cfg->inner_dim, NH = cfg->num_heads, HD = cfg->head_dim, T = c->T;
    /* row ranges [r0, r0 + nr) and their weights: text then image, or everything */
    const int nseg = txt ? 2 : 1;
    const DitAttn *w[2] = {txt ? txt : img, img};
    const int r0[2] = {0, c->T_txt}, nr[2] = {txt ? c->T_txt : T, c->T_img};

    /* 1. Q, K, V projection: q, k, v [T, D] */
    for (int s = 0; s < nseg; s++) {
        size_t o = (size_t)r0[s] * D;
        linear(c, c->q + o, n + o, &w[s]->to_q, nr[s]);
        linear(c, c->k + o, n + o, &w[s]->to_k, nr[s]);
        linear(c, c->v + o, n + o, &w[s]->to_v, nr[s]);
    }
    /* 2. split heads: [T, D] is [T, NH, HD] with head h at columns h·HD.. — a view */
    /* 3. QK RMSNorm over HD of every (token, head): [T·NH, HD] rows */
    for (int s = 0; s < nseg; s++) {
        size_t o = (size_t)r0[s] * D;
        const float *gq = c->wb->v[w[s]->norm_q.id], *gk = c->wb->v[w[s]->norm_k.id];
        c->be->rmsnorm(c->bc, c->q + o, c->q + o, gq, nr[s] * NH, HD, DIT_NORM_EPS);
        c->be->rmsnorm(c->bc, c->k + o, c->k + o, gk, nr[s] * NH, HD, DIT_NORM_EPS);
    }
    /* 4. RoPE on q and k with rope_cos, rope_sin [T, HD] (apply_rotary_emb: each head's pairs
     *    (re, im) = (x[2i], x[2i+1]) become x·cos + rotated·sin with rotated = (-im, re)), and
     * 5. softmax(q kᵀ / √HD) v per head, flash style: no [T, T] matrix. One backend call: the
     *    cuda backend applies RoPE while packing Q and K to BF16 for its tensor-core kernel. */
    OpsAttnShape shape = {.Tq = T,
                          .Tk = T,
                          .NH = NH,
                          .HD = HD,
                          .ldq = D,
                          .ldk = D,
                          .ldv = D,
                          .ldo = ldo,
                          .scale = (float)(1.0 / sqrt((double)HD))};
    c->be->attention(c->bc, out, c->q, c->k, c->v, &shape, c->rope_cos, c->rope_sin, ST_BF16);
    /* 6. merge heads: out [T, NH·HD] is already in that layout */
}

/* ------------------------------------------------------------------------------------- */
/* Small ops: the backend's, with the model's parameters                                 */

/* y [M, out] = x [M, in] · Wᵀ + b   (nn.Linear; in and out from the weight's shape) */
static void linear(const DitContext *c, float *y, const float *x, const DitLinear *l, int M)
{
    c->be->linear(c->bc, y, x, c->wb->w[l->id], c->wb->v[l->b.id], M);
    lora_linear_apply(c->lora, c->bc, (guint)l->id, y, x, M); /* + (x·Aᵀ)·Bᵀ with a LoRA */
}

/* y [n, D] = LayerNorm(x)·(1 + scale) + shift — the modulation of every AdaLN here
 * (LayerNorm eps 1e-6 without affine; scale, shift [D] from temb). y may equal x. */
static void modulate(const DitContext *c, float *y, const float *x, int n, const float *shift,
                     const float *scale)
{
    c->be->modulate(c->bc, y, x, shift, scale, n, c->m->cfg.inner_dim, DIT_NORM_EPS);
}

/* x [n, D] += gate [D] · y [n, D] — the gated residual of every block */
static void gated_add(const DitContext *c, float *x, const float *y, const float *gate, int n)
{
    c->be->gated_add(c->bc, x, y, gate, n, c->m->cfg.inner_dim);
}

/* ------------------------------------------------------------------------------------- */
/* Tracing (debug only: may allocate, waits for the backend)                             */

/* Emits rows [r0, r0 + n) of every sample of buf [B, rows, w] (backend memory) as [B, n, w]
 * (ndim 3) or, for n = 1, [B, w] (ndim 2). A failed download skips the trace: the error comes
 * back from the forward's own download. */
static void G_GNUC_PRINTF(8, 9) trace_rows(const DitContext *c, const float *buf, int rows, int r0,
                                           int n, int w, int ndim, const char *fmt, ...)
{
    if (!trace_on(c->trace)) return;
    size_t per = (size_t)n * w, stride = (size_t)rows * w;
    g_autofree float *tmp = g_new(float, (size_t)c->B *per);
    for (int b = 0; b < c->B; b++)
        if (!c->be->download(c->bc, tmp + b * per, buf + b * stride + (size_t)r0 * w, per, NULL))
            return;
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *name = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    int64_t shape3[3] = {c->B, n, w}, shape2[2] = {c->B, w};
    trace_f32(c->trace, tmp, ndim, ndim == 3 ? shape3 : shape2, "%s", name);
}
