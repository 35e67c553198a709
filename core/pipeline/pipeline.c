/* pipeline.c — FluxPipeline.__call__ (diffusers 0.32.2), the top of the study note:
 *
 *   prompt ──→ [CLIP] ──→ pooled_embeds (D_clip,)
 *          ──→ [T5]   ──→ prompt_embeds (L, D_t5)
 *                               ↓
 *   noise ──→ [Transformer × N steps] ──→ latents ──→ [VAE Decode] ──→ image
 *
 * Legend: L = T5 sequence length (max_sequence_length), C = VAE latent channels (16),
 * h × w = latent size = 2⌊H/16⌋ × 2⌊W/16⌋, S = (h/2)(w/2) packed image tokens,
 * P = 4C = 64 packed channels, H × W = image size = 8h × 8w.
 */
#include "edit.h"
#include "latents.h"
#include "loras.h"
#include "model.h"
#include "error.h"
#include "preview.h"
#include "precision.h"
#include "rng.h"
#include "trace.h"

#include <math.h>
#include <string.h>

/* ------------------------------------------------------------------------------------- */
/* Parameters                                                                            */

void flux_generate_params_init(FluxGenerateParams *p, const FluxModel *model)
{
    memset(p, 0, sizeof *p);
    p->prompt = "";
    p->true_cfg_scale = 1.0f;
    p->width = p->height = 1024;
    p->steps = flux_default_steps(!model || flux_model_uses_guidance(model));
    p->guidance = model && flux_model_is_fill(model) ? 30.0f : 3.5f; /* FluxFillPipeline's */
    p->max_sequence_length = 512;
    p->strength = 0.6; /* FluxImg2ImgPipeline's and FluxInpaintPipeline's */
}

void flux_output_size(const FluxGenerateParams *p, int *width, int *height)
{
    *width = flux_size_floor(p->width);
    *height = flux_size_floor(p->height);
}

#define arg_error(error, ...) error_set(error, FLUX_ERROR_ARGUMENT, NULL, __VA_ARGS__)

/* Memory the system can give us now: FLUX_MEMORY_LIMIT (bytes) when set, else MemAvailable
 * from /proc/meminfo; 0 when unknown (then nothing is refused). */
static guint64 available_memory(void)
{
    const char *env = g_getenv("FLUX_MEMORY_LIMIT");
    if (env) return g_ascii_strtoull(env, NULL, 10);
    return model_meminfo_bytes("MemAvailable:");
}

static gboolean check_memory(const FluxModel *m, const FluxGenerateParams *p, GError **error)
{
    guint64 need = flux_estimate_memory(&m->info, p->width, p->height, p->max_sequence_length);
    guint64 have = available_memory();
    if (have && need > have) {
        g_set_error(error, FLUX_ERROR, FLUX_ERROR_NO_MEMORY,
                    "a %d×%d image needs about %.1f GiB of working memory besides the weights, "
                    "but only %.1f GiB is available",
                    flux_size_floor(p->width), flux_size_floor(p->height), need / 1073741824.0,
                    have / 1073741824.0);
        return FALSE;
    }
    return TRUE;
}

gboolean flux_generate_params_validate(const FluxModel *model, const FluxGenerateParams *p,
                                       GError **error)
{
    if (p->width < FLUX_SIZE_STEP || p->width > FLUX_MAX_SIZE)
        return arg_error(error, "width %d is out of range (%d..%d)", p->width, FLUX_SIZE_STEP,
                         FLUX_MAX_SIZE);
    if (p->height < FLUX_SIZE_STEP || p->height > FLUX_MAX_SIZE)
        return arg_error(error, "height %d is out of range (%d..%d)", p->height, FLUX_SIZE_STEP,
                         FLUX_MAX_SIZE);
    if (p->steps < 1 || p->steps > FLUX_MAX_STEPS)
        return arg_error(error, "steps %d is out of range (1..%d)", p->steps, FLUX_MAX_STEPS);
    if (!isfinite(p->guidance) || p->guidance < 0.0f || p->guidance > 100.0f)
        return arg_error(error, "guidance %g is out of range (0..100)", p->guidance);
    if (!isfinite(p->true_cfg_scale) || p->true_cfg_scale < 0.0f || p->true_cfg_scale > 100.0f)
        return arg_error(error, "true CFG scale %g is out of range (0..100)", p->true_cfg_scale);
    if (p->max_sequence_length < 1 || p->max_sequence_length > FLUX_MAX_SEQUENCE_LENGTH)
        return arg_error(error, "max sequence length %d is out of range (1..%d)",
                         p->max_sequence_length, FLUX_MAX_SEQUENCE_LENGTH);
    const char *texts[2] = {p->prompt, p->negative_prompt};
    for (int i = 0; i < 2; i++)
        if (texts[i] && !g_utf8_validate(texts[i], -1, NULL))
            return arg_error(error, "the %s is not valid UTF-8 text",
                             i ? "negative prompt" : "prompt");
    if (!flux_device_check(p->device, error)) return FALSE;
    if (!flux_precision_check(p->precision, error)) return FALSE;
    if (!edit_validate(model, p, error)) return FALSE; /* the picture and mask (edit.c) */
    return model ? check_memory(model, p, error) : TRUE;
}

/* ------------------------------------------------------------------------------------- */
/* 1. Text encoding (FluxPipeline.encode_prompt)                                         */

typedef struct {
    int L;         /* T5 tokens */
    float *pooled; /* [1, D_clip] */
    float *embeds; /* [1, L, D_t5] */
} PromptEmbeds;

static void prompt_embeds_clear(PromptEmbeds *e)
{
    g_free(e->pooled);
    g_free(e->embeds);
    memset(e, 0, sizeof *e);
}

/* Tokenizes with both tokenizers, then CLIP → pooled [1, D_clip] and T5 → [1, L, D_t5].
 * `prefix` is "" or "negative_" for the trace names. */
/* FluxPipeline truncates silently; we say so, once per encoder. */
static void warn_truncation(const FluxGenerateParams *p, const char *what, const char *encoder,
                            int n, int limit)
{
    if (!p || !p->warning || n <= limit) return;
    g_autofree char *msg = g_strdup_printf(
        "the %s is %d %s tokens long; only the first %d are used", what, n, encoder, limit);
    p->warning(msg, p->user_data);
}

static gboolean encode_prompt(FluxModel *m, const FluxGenerateParams *p, const char *prompt, int L,
                              const char *prefix, PromptEmbeds *e, const StArchive *clip_lora,
                              const FluxTrace *trace, const FluxTrace *debug, GError **error)
{
    int n_clip = clip_max_positions(m->clip), d_clip = clip_hidden_size(m->clip);
    int d_t5 = t5_d_model(m->t5);
    g_autofree int64_t *clip_ids = g_new(int64_t, n_clip);
    g_autofree int64_t *t5_ids = g_new(int64_t, L);
    int n_clip_text = 0, n_t5_text = 0;
    if (!bpe_encode(m->clip_tok, prompt ? prompt : "", clip_ids, n_clip, &n_clip_text, error) ||
        !ugm_encode(m->t5_tok, prompt ? prompt : "", t5_ids, L, &n_t5_text, error))
        return FALSE;
    const char *what = *prefix ? "negative prompt" : "prompt";
    warn_truncation(p, what, "CLIP", n_clip_text, n_clip - 2); /* BOS and EOS take two */
    warn_truncation(p, what, "T5", n_t5_text, L - 1);          /* EOS takes one */
    int64_t s_clip[2] = {1, n_clip}, s_t5[2] = {1, L};
    trace_i64(trace, clip_ids, 2, s_clip, "%sclip_input_ids", prefix);
    trace_i64(trace, t5_ids, 2, s_t5, "%st5_input_ids", prefix);

    e->L = L;
    e->pooled = g_new(float, d_clip);
    e->embeds = g_try_new(float, (gsize)L *d_t5);
    if (!e->embeds) return arg_error(error, "out of memory for the T5 output [%d, %d]", L, d_t5);
    if (!clip_encode_lora(m->clip, clip_lora, clip_ids, n_clip, e->pooled, debug, error) ||
        !t5_encode(m->t5, t5_ids, L, e->embeds, debug, error))
        return FALSE;
    int64_t s_pool[2] = {1, d_clip}, s_emb[3] = {1, L, d_t5};
    trace_f32(trace, e->pooled, 2, s_pool, "%spooled_prompt_embeds", prefix);
    trace_f32(trace, e->embeds, 3, s_emb, "%sprompt_embeds", prefix);
    return TRUE;
}

gboolean flux_encode_prompt(FluxModel *m, const FluxGenerateParams *p, GError **error)
{
    if (p->max_sequence_length < 1 || p->max_sequence_length > FLUX_MAX_SEQUENCE_LENGTH)
        return arg_error(error, "max sequence length %d is out of range (1..%d)",
                         p->max_sequence_length, FLUX_MAX_SEQUENCE_LENGTH);
    if (p->prompt && !g_utf8_validate(p->prompt, -1, NULL))
        return arg_error(error, "the prompt is not valid UTF-8 text");
    FluxTrace trace = {p->trace, p->user_data};
    PromptEmbeds e = {0};
    gboolean ok =
        model_encoders_acquire(m, error) &&
        encode_prompt(m, p, p->prompt, p->max_sequence_length, "", &e, NULL, &trace, NULL, error);
    model_encoders_release(m);
    prompt_embeds_clear(&e);
    return ok;
}

/* ------------------------------------------------------------------------------------- */
/* 2. Latents (prepare_latents, _pack_latents, _prepare_latent_image_ids)                */

/* img_ids [S, 3] = (0, row, col) of each packed token; text ids are all zero. */
static void prepare_image_ids(float *ids, int h2, int w2)
{
    for (int r = 0; r < h2; r++)
        for (int c = 0; c < w2; c++) {
            float *id = ids + ((size_t)r * w2 + c) * 3;
            id[0] = 0.0f;
            id[1] = (float)r;
            id[2] = (float)c;
        }
}

/* ------------------------------------------------------------------------------------- */
/* The run                                                                               */

typedef struct {
    int C, h, w, S, P, H, W, L, N;
    int t0;       /* first schedule index run: the schedule has t0 + N steps (edit.c) */
    EditRun edit; /* the picture's stages when working from one (edit.h) */
    PromptEmbeds pos, neg;
    gboolean true_cfg;
    float *text_ids;   /* [L, 3] zeros */
    float *img_ids;    /* [S, 3] */
    float *latents;    /* [1, S, P] */
    float *noise_pred; /* [1, S, P] */
    float *neg_pred;   /* [1, S, P] (true CFG) */
    float *x0;         /* [1, S, P] predicted clean latents (with a preview hook) */
    float *timesteps;  /* [t0 + N] */
    float *sigmas;     /* [t0 + N + 1] */
    float *vae_in;     /* [1, C, h, w] */
    float *decoded;    /* [1, 3, H, W] */
    DitContext *dit;
    StArchive *clip_lora; /* the LoRAs' CLIP-L layers (lora.h), or NULL */
} Run;

static void run_clear(Run *r)
{
    prompt_embeds_clear(&r->pos);
    prompt_embeds_clear(&r->neg);
    g_free(r->text_ids);
    g_free(r->img_ids);
    g_free(r->latents);
    g_free(r->noise_pred);
    g_free(r->neg_pred);
    g_free(r->x0);
    g_free(r->timesteps);
    g_free(r->sigmas);
    g_free(r->vae_in);
    g_free(r->decoded);
    dit_context_free(r->dit);
    edit_run_clear(&r->edit);
    st_archive_free(r->clip_lora);
}

/* Noise [1, C, h, w] = torch.randn(generator=manual_seed(seed)), packed to latents [1, S, P]. */
static void prepare_latents(Run *r, guint64 seed, const FluxTrace *trace)
{
    int64_t s_noise[4] = {1, r->C, r->h, r->w}, s_lat[3] = {1, r->S, r->P}, s_ids[2] = {r->S, 3};
    prepare_image_ids(r->img_ids, r->h / 2, r->w / 2);
    trace_f32(trace, r->img_ids, 2, s_ids, "latent_image_ids");
    if (r->edit.kind) return; /* from a picture, edit_prepare_latents draws */
    float *noise = g_new(float, (size_t)r->C * r->h * r->w);
    FluxRng rng;
    rng_seed(&rng, seed);
    rng_randn(&rng, noise, (size_t)r->C * r->h * r->w);
    pack_latents(r->latents, noise, r->C, r->h, r->w);
    trace_f32(trace, noise, 4, s_noise, "noise");
    trace_f32(trace, r->latents, 3, s_lat, "latents_init");
    g_free(noise);
}

/* One transformer evaluation on the given prompt embeddings → out [1, S, P]. */
static gboolean predict(Run *r, const PromptEmbeds *e, float ts, const float *guidance, float *out,
                        const FluxTrace *debug, GError **error)
{
    const float *hidden = edit_transformer_input(&r->edit, r->latents); /* Fill: + picture */
    return dit_forward(r->dit, hidden, e->embeds, e->pooled, &ts, guidance, r->img_ids, r->text_ids,
                       out, debug, error);
}

/* Block progress: which step and which transformer pass (true CFG runs two) is running. */
typedef struct {
    const FluxGenerateParams *p;
    int step, steps, pass, passes;
} BlockProgress;

static void on_block(int done, int total, void *user_data)
{
    const BlockProgress *bp = user_data;
    double fraction = (bp->pass * (double)total + done) / ((double)bp->passes * total);
    bp->p->block_progress(bp->step, bp->steps, fraction, bp->p->user_data);
}

/* 4. The denoising loop: noise_pred = Transformer(latents, t/1000, ...); Euler step. */
static gboolean denoise_loop(FluxModel *m, Run *r, const FluxGenerateParams *p,
                             const FluxTrace *trace, const FluxTrace *debug, BlockProgress *bp,
                             GError **error)
{
    gboolean use_guidance = flux_model_uses_guidance(m);
    float guidance = p->guidance;
    size_t n = (size_t)r->S * r->P;
    int64_t s1[1] = {1}, s_lat[3] = {1, r->S, r->P};
    gint64 t0 = g_get_monotonic_time();
    for (int i = 0; i < r->N; i++) {
        int k = r->t0 + i; /* schedule index: img2img starts later (strength) */
        float t = r->timesteps[k], ts = t / 1000.0f;
        bp->step = i + 1, bp->pass = 0;
        if (p->block_progress) p->block_progress(i + 1, r->N, 0.0, p->user_data);
        trace_f32(trace, &t, 1, s1, "step.%d.t", i);
        trace_f32(trace, &ts, 1, s1, "step.%d.transformer_timestep", i);
        if (use_guidance) trace_f32(trace, &guidance, 1, s1, "step.%d.transformer_guidance", i);
        if (i == 1) debug = NULL; /* module stages are the same at every step: trace the first */
        if (!predict(r, &r->pos, ts, use_guidance ? &guidance : NULL, r->noise_pred, debug, error))
            return FALSE;
        /* the reference records the conditional prediction, before true CFG combines */
        trace_f32(trace, r->noise_pred, 3, s_lat, "step.%d.noise_pred", i);
        if (r->true_cfg) {
            bp->pass = 1;
            if (!predict(r, &r->neg, ts, use_guidance ? &guidance : NULL, r->neg_pred, debug,
                         error))
                return FALSE;
            trace_f32(trace, r->neg_pred, 3, s_lat, "step.%d.neg_noise_pred", i);
            /* noise_pred = neg + scale · (pos − neg), in float32 before the Euler step */
            for (size_t k = 0; k < n; k++)
                r->noise_pred[k] =
                    r->neg_pred[k] + p->true_cfg_scale * (r->noise_pred[k] - r->neg_pred[k]);
        }
        if (r->x0) preview_x0(r->x0, r->latents, r->noise_pred, n, r->sigmas[k]);
        sched_step(r->latents, r->noise_pred, n, r->sigmas[k], r->sigmas[k + 1]);
        edit_after_step(&r->edit, r->latents, i, r->N, r->sigmas); /* inpainting's blend */
        trace_f32(trace, r->latents, 3, s_lat, "step.%d.latents", i);
        if (r->x0) p->preview(i + 1, r->x0, r->h, r->w, p->user_data);
        double elapsed = (double)(g_get_monotonic_time() - t0) / G_USEC_PER_SEC;
        if (p->progress && !p->progress(i + 1, r->N, elapsed, p->user_data)) {
            g_set_error(error, FLUX_ERROR, FLUX_ERROR_CANCELLED, "cancelled after step %d of %d",
                        i + 1, r->N);
            return FALSE;
        }
    }
    trace_f32(trace, r->latents, 3, s_lat, "output_latent");
    return TRUE;
}

static gboolean denoise(FluxModel *m, Run *r, const FluxGenerateParams *p, const FluxTrace *trace,
                        const FluxTrace *debug, GError **error)
{
    BlockProgress bp = {p, 0, r->N, 0, r->true_cfg ? 2 : 1};
    if (p->block_progress) dit_context_set_block_hook(r->dit, on_block, &bp);
    gboolean ok = denoise_loop(m, r, p, trace, debug, &bp, error);
    dit_context_set_block_hook(r->dit, NULL, NULL);
    return ok;
}

/* 5. Decode: unpack, z / scaling + shift, VAE decoder, [-1, 1] → 8-bit RGB. */
static gboolean decode(FluxModel *m, Run *r, guint8 *rgb, const FluxTrace *trace,
                       const FluxTrace *debug, GError **error)
{
    unpack_latents(r->vae_in, r->latents, r->C, r->h, r->w);
    float sc = vae_scaling_factor(m->vae), sh = vae_shift_factor(m->vae);
    for (size_t k = 0; k < (size_t)r->C * r->h * r->w; k++) r->vae_in[k] = r->vae_in[k] / sc + sh;
    int64_t s_in[4] = {1, r->C, r->h, r->w}, s_out[4] = {1, 3, r->H, r->W};
    trace_f32(trace, r->vae_in, 4, s_in, "vae_input");
    if (!vae_decode(m->vae, r->vae_in, r->h, r->w, r->decoded, debug, error)) return FALSE;
    trace_f32(trace, r->decoded, 4, s_out, "vae_decoded");
    if (trace_on(trace)) {
        float *img = g_new(float, (size_t)r->H * r->W * 3);
        int64_t s_img[4] = {1, r->H, r->W, 3};
        vae_to_rgbf(r->decoded, r->H, r->W, img);
        trace_f32(trace, img, 4, s_img, "image");
        g_free(img);
    }
    vae_to_rgb8(r->decoded, r->H, r->W, rgb);
    return TRUE;
}

/* Every buffer of the run, sized from (W, H, L, N) before anything runs. */
static gboolean run_alloc(FluxModel *m, Run *r, const FluxGenerateParams *p, GError **error)
{
    r->C = vae_latent_channels(m->vae);
    r->h = 2 * (p->height / 16);
    r->w = 2 * (p->width / 16);
    r->S = (r->h / 2) * (r->w / 2);
    r->P = 4 * r->C;
    r->H = r->h * vae_upscale(m->vae);
    r->W = r->w * vae_upscale(m->vae);
    r->L = p->max_sequence_length;
    if (!edit_run_init(&r->edit, m, p, r->C, r->h, r->w, p->steps, error)) return FALSE;
    r->t0 = r->edit.t_start;
    r->N = p->steps - r->t0;
    r->true_cfg = p->negative_prompt && p->true_cfg_scale > 1.0f;
    size_t lat = (size_t)r->S * r->P;
    r->text_ids = g_try_new0(float, (size_t)r->L * 3);
    r->img_ids = g_try_new(float, (size_t)r->S * 3);
    r->latents = g_try_new(float, lat);
    r->noise_pred = g_try_new(float, lat);
    r->neg_pred = r->true_cfg ? g_try_new(float, lat) : NULL;
    r->x0 = p->preview ? g_try_new(float, lat) : NULL;
    r->timesteps = g_try_new(float, p->steps);
    r->sigmas = g_try_new(float, p->steps + 1);
    r->vae_in = g_try_new(float, (size_t)r->C * r->h * r->w);
    r->decoded = g_try_new(float, (size_t)3 * r->H * r->W);
    if (!r->text_ids || !r->img_ids || !r->latents || !r->noise_pred ||
        (r->true_cfg && !r->neg_pred) || (p->preview && !r->x0) || !r->timesteps || !r->sigmas ||
        !r->vae_in || !r->decoded) {
        g_set_error(error, FLUX_ERROR, FLUX_ERROR_NO_MEMORY, "not enough memory for a %d×%d image",
                    r->W, r->H);
        return FALSE;
    }
    r->dit = dit_context_new_on(m->dit, p->device, 1, r->S, r->L, error);
    return r->dit != NULL;
}

/* Module-level traces (trace_modules) go to the same hook with the module's name in front. */
typedef struct {
    const FluxGenerateParams *p;
    const char *prefix;
} ModuleTrace;

static void module_trace(const char *name, FluxDtype dt, int ndim, const int64_t *shape,
                         const void *data, void *user_data)
{
    const ModuleTrace *mt = user_data;
    g_autofree char *full = g_strconcat(mt->prefix, name, NULL);
    mt->p->trace(full, dt, ndim, shape, data, mt->p->user_data);
}

gboolean flux_generate(FluxModel *m, const FluxGenerateParams *p, guint8 *rgb, GError **error)
{
    g_return_val_if_fail(m && p && rgb, FALSE);
    if (!flux_generate_params_validate(m, p, error)) return FALSE;
    FluxTrace trace = {p->trace, p->user_data}, *debug = NULL;
    /* CLIP and T5 name their stages "clip.*", "t5.*"; the transformer and VAE get a prefix */
    ModuleTrace mt_enc = {p, ""}, mt_dit = {p, "transformer."}, mt_vae = {p, "vae."};
    FluxTrace dbg_enc = {module_trace, &mt_enc}, dbg_dit = {module_trace, &mt_dit},
              dbg_vae = {module_trace, &mt_vae};
    if (p->trace && p->trace_modules) debug = &dbg_enc;
    const OpsPrecision saved_precision = ops_precision(); /* (the ops' mode is process-wide) */
    OpsPrecision precision = saved_precision;
    ops_precision_parse(p->precision, &precision); /* (validated above) */
    ops_precision_set(precision);
    Run r = {0};
    gboolean ok = run_alloc(m, &r, p, error);
    if (ok && p->phase) p->phase(FLUX_PHASE_ENCODING, p->user_data);

    /* 1. text encoding: pooled [1, D_clip], prompt_embeds [1, L, D_t5], text_ids [L, 3] */
    ok = ok && model_encoders_acquire(m, error);
    ok = ok && loras_attach(m, r.dit, p, &r.clip_lora, error); /* before any encoding or step */
    ok = ok && encode_prompt(m, p, p->prompt, r.L, "", &r.pos, r.clip_lora, &trace, debug, error);
    ok = ok && (!r.true_cfg || encode_prompt(m, p, p->negative_prompt, r.L, "negative_", &r.neg,
                                             r.clip_lora, &trace, debug, error));
    model_encoders_release(m); /* only when the weights do not all fit in memory */
    int64_t s_tid[2] = {r.L, 3};
    if (ok) trace_f32(&trace, r.text_ids, 2, s_tid, "text_ids");

    /* 2. timesteps [N] and sigmas [N+1], shifted by mu(S) for dev-type schedulers; from a
     * picture, the run takes the last N − t0 of them (strength) */
    int n_all = r.t0 + r.N;
    ok = ok && sched_set_timesteps(&m->sched, n_all, r.S, r.timesteps, r.sigmas, error);
    int64_t s_t[1] = {r.N}, s_s[1] = {n_all + 1};
    if (ok) {
        trace_f32(&trace, r.timesteps + r.t0, 1, s_t, "timesteps");
        trace_f32(&trace, r.sigmas, 1, s_s, "sigmas");
    }

    /* 3. latents: noise [1, C, h, w] → packed [1, S, P]; img_ids [S, 3]; from a picture
     * (edit.c): VAE encode, noise, mask → latents_init = scale_noise(picture, noise) */
    if (ok) prepare_latents(&r, p->seed, &trace);
    ok =
        ok && (!r.edit.kind || edit_prepare_latents(&r.edit, m, p, r.timesteps, r.sigmas, r.latents,
                                                    &trace, debug ? &dbg_vae : NULL, error));

    /* 4. denoising loop: N × (transformer → Euler step) */
    if (ok && p->phase) p->phase(FLUX_PHASE_DENOISING, p->user_data);
    ok = ok && denoise(m, &r, p, &trace, debug ? &dbg_dit : NULL, error);

    /* 5. decode: unpack → scale/shift → VAE → RGB [H, W, 3] */
    if (ok && p->phase) p->phase(FLUX_PHASE_DECODING, p->user_data);
    ok = ok && decode(m, &r, rgb, &trace, debug ? &dbg_vae : NULL, error);
    if (ok) {
        int64_t s_u8[3] = {r.H, r.W, 3};
        if (trace_on(&trace)) p->trace("image_u8", FLUX_DTYPE_U8, 3, s_u8, rgb, p->user_data);
    }
    run_clear(&r);
    ops_precision_set(saved_precision);
    return ok;
}
