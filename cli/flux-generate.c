/* flux-generate — the command-line client of libflux: prompt in, PNG out.
 *
 *   flux-generate --model DIR --prompt TEXT [--width W] [--height H] [--steps N]
 *                 [--guidance G] [--seed S] [--max-sequence-length L] --output OUT.png
 *                 [--save-tensors FILE.safetensors] [--trace] [--quiet]
 *                 [--device auto|cpu|cuda] [--precision auto|float32|fast]
 *                 [--lora FILE[:STRENGTH]]...
 *                 [--preview-out PREVIEW.png [--preview-every N] [--preview projection|vae]]
 *                 [--init-image IN.png [--mask MASK.png] [--strength S]]
 *   flux-generate --model DIR --prompt TEXT --encode-only --save-tensors OUT.safetensors
 *   flux-generate --transformer flux1-schnell.safetensors --vae ae.safetensors
 *                 --clip-l clip_l.safetensors --t5 t5xxl_fp8_e4m3fn.safetensors
 *                 --tokenizers DIR --prompt TEXT --output OUT.png
 *   (--transformer/--vae/--clip-l/--t5 also override single components of --model DIR)
 *
 * Exit status: 0 success, 1 a run failed (the message names the file or value), 2 bad usage,
 * 130 interrupted. Outputs are written atomically and only when the run succeeds.
 */
#include "flux.h"
#include "init_image.h"
#include "png_out.h"
#include "preview_out.h"

#include <errno.h>
#include <float.h>
#include <locale.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *model, *prompt, *negative_prompt, *output, *save_tensors, *seed;
    char *device;                       /* --device: where the transformer runs (NULL: auto) */
    char *preview_out, *preview;        /* --preview-out FILE.png, --preview projection|vae */
    int preview_every;                  /* --preview-every N (0: not given) */
    char *precision;                    /* --precision: CPU arithmetic (NULL: auto) */
    char *init_image, *mask, *strength; /* --init-image, --mask, --strength (NULL: not given) */
    char *tokenizers, *transformer, *vae, *clip_l, *t5; /* component files (ComfyUI style) */
    int width, height, steps, max_seq;
    double guidance, true_cfg;
    gboolean encode_only, quiet, trace, verbose;
    char **lora_specs; /* --lora FILE[:STRENGTH], repeatable */
    FluxLora *loras;   /* parsed from lora_specs (paths owned) */
    int n_loras;
} Options;

typedef struct {
    const Options *opt;
    FluxTensorFile *tensors; /* --save-tensors */
    PreviewOut *preview;     /* --preview-out */
    gint64 t0;
} RunState;

/* --guidance not given (NaN is a value the user may type, and is refused by validation) */
#define GUIDANCE_UNSET (-DBL_MAX)

static volatile sig_atomic_t interrupted;

static void on_sigint(int sig)
{
    (void)sig;
    interrupted = 1;
}

/* ------------------------------------------------------------------------------------- */
/* Callbacks                                                                             */

static void on_trace(const char *name, FluxDtype dtype, int ndim, const int64_t *shape,
                     const void *data, void *user_data)
{
    RunState *rs = user_data;
    if (rs->opt->trace) {
        GString *s = g_string_new(NULL);
        for (int i = 0; i < ndim; i++)
            g_string_append_printf(s, "%s%" G_GINT64_FORMAT, i ? ", " : "", shape[i]);
        printf("%-32s [%s] %s\n", name, s->str,
               dtype == FLUX_DTYPE_F32   ? "f32"
               : dtype == FLUX_DTYPE_I64 ? "i64"
                                         : "u8");
        fflush(stdout);
        g_string_free(s, TRUE);
    }
    if (rs->tensors) flux_tensor_file_add(rs->tensors, name, dtype, ndim, shape, data);
}

static void on_warning(const char *message, void *user_data)
{
    (void)user_data;
    fprintf(stderr, "flux-generate: warning: %s\n", message);
}

static void on_preview(int step, const float *x0, int latent_h, int latent_w, void *user_data)
{
    RunState *rs = user_data;
    g_autofree char *problem = preview_out_step(rs->preview, step, x0, latent_h, latent_w);
    if (problem) fprintf(stderr, "flux-generate: warning: %s\n", problem);
}

static gboolean on_progress(int step, int total, double elapsed, void *user_data)
{
    RunState *rs = user_data;
    if (!rs->opt->quiet) {
        double per = elapsed / step;
        fprintf(stderr, "step %d/%d  %.2f s/step  ETA %.0f s\n", step, total, per,
                per * (total - step));
    }
    return !interrupted;
}

/* ------------------------------------------------------------------------------------- */
/* Options                                                                               */

/* Without --model every component must come from the command line. */
static gboolean check_files(const Options *o, GError **error)
{
    if (!o->transformer && !o->vae && !o->clip_l && !o->t5 && !o->tokenizers) {
        g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_FAILED,
                    "--model DIR (or --transformer, --vae, --clip-l, --t5 and --tokenizers) is "
                    "required");
        return FALSE;
    }
    static const char *const options[FLUX_N_PARTS] = {
        "--transformer FILE", "--vae FILE", "--clip-l FILE", "--t5 FILE", "--tokenizers DIR"};
    FluxModelFiles f = {.tokenizers = o->tokenizers,
                        .transformer = o->transformer,
                        .vae = o->vae,
                        .clip_l = o->clip_l,
                        .t5 = o->t5};
    g_autofree char *missing = flux_model_files_missing(&f, options);
    if (missing)
        g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_FAILED, "without --model, %s %s required",
                    missing, strchr(missing, ',') ? "are" : "is");
    return !missing;
}

static gboolean check_preview_options(const Options *o, GError **error)
{
    FluxPreviewQuality q;
    const char *lone = o->preview_every ? "--preview-every" : o->preview ? "--preview" : NULL;
    if (!o->preview_out && lone)
        g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_FAILED, "%s needs --preview-out FILE.png",
                    lone);
    else if (o->preview_every < 0 || (o->preview_out && o->preview_every > FLUX_MAX_STEPS))
        g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                    "--preview-every %d is out of range (1..%d)", o->preview_every, FLUX_MAX_STEPS);
    else if (o->preview && !preview_out_parse_quality(o->preview, &q, error))
        return FALSE;
    else if (o->preview_out && o->encode_only)
        g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_FAILED,
                    "--preview-out makes no sense with --encode-only");
    else
        return TRUE;
    return FALSE;
}

/* --lora FILE[:STRENGTH] ... → o->loras */
static gboolean parse_loras(Options *o, GError **error)
{
    guint n = o->lora_specs ? g_strv_length(o->lora_specs) : 0;
    o->loras = g_new0(FluxLora, MAX(n, 1));
    for (guint i = 0; i < n; i++) {
        if (!flux_lora_parse(o->lora_specs[i], &o->loras[i], error)) {
            g_prefix_error(error, "--lora: ");
            return FALSE;
        }
        o->n_loras++;
    }
    return TRUE;
}

/* --mask and --strength only mean something with --init-image. */
static gboolean check_edit_options(const Options *o, GError **error)
{
    const char *alone = o->mask ? "--mask" : o->strength ? "--strength" : NULL;
    if (alone && !o->init_image) {
        g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_FAILED,
                    "%s needs --init-image IN.png (the picture to work from)", alone);
        return FALSE;
    }
    if (o->init_image && o->encode_only) {
        g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_FAILED,
                    "--init-image cannot be used with --encode-only");
        return FALSE;
    }
    return TRUE;
}

static gboolean parse_options(int *argc, char ***argv, Options *o, GError **error)
{
    o->width = o->height = G_MININT; /* not given: 1024, or the --init-image's size */
    o->steps = G_MININT;             /* the model's default */
    o->guidance = GUIDANCE_UNSET;    /* the model's default: 3.5, 30 for Fill */
    o->true_cfg = 1.0;
    o->max_seq = 512;
    GOptionEntry entries[] = {
        /* prompts are taken as raw bytes (no locale conversion) and checked for UTF-8 */
        {"model", 'm', 0, G_OPTION_ARG_FILENAME, &o->model,
         "FLUX.1 model folder (diffusers layout)", "DIR"},
        {"transformer", 0, 0, G_OPTION_ARG_FILENAME, &o->transformer,
         "Transformer weights (.safetensors, .gguf; original or diffusers names, FP8, GGUF)",
         "FILE"},
        {"vae", 0, 0, G_OPTION_ARG_FILENAME, &o->vae, "VAE weights (e.g. ae.safetensors)", "FILE"},
        {"clip-l", 0, 0, G_OPTION_ARG_FILENAME, &o->clip_l,
         "CLIP-L text encoder weights (e.g. clip_l.safetensors)", "FILE"},
        {"t5", 0, 0, G_OPTION_ARG_FILENAME, &o->t5, "T5-XXL encoder weights (.safetensors, .gguf)",
         "FILE"},
        {"tokenizers", 0, 0, G_OPTION_ARG_FILENAME, &o->tokenizers,
         "Folder holding tokenizer/ and tokenizer_2/ (default: --model)", "DIR"},
        {"prompt", 'p', 0, G_OPTION_ARG_FILENAME, &o->prompt, "Text prompt", "TEXT"},
        {"negative-prompt", 0, 0, G_OPTION_ARG_FILENAME, &o->negative_prompt,
         "Negative prompt (true CFG, with --true-cfg-scale > 1)", "TEXT"},
        {"true-cfg-scale", 0, 0, G_OPTION_ARG_DOUBLE, &o->true_cfg,
         "True classifier-free guidance scale (default 1 = off)", "S"},
        {"width", 'W', 0, G_OPTION_ARG_INT, &o->width,
         "Image width, floored to a multiple of 16 (default 1024, or the --init-image's)", "W"},
        {"height", 'H', 0, G_OPTION_ARG_INT, &o->height,
         "Image height, floored to a multiple of 16 (default 1024, or the --init-image's)", "H"},
        {"steps", 's', 0, G_OPTION_ARG_INT, &o->steps,
         "Denoising steps (default 28 for dev-type, 4 for schnell-type)", "N"},
        {"guidance", 'g', 0, G_OPTION_ARG_DOUBLE, &o->guidance,
         "Guidance scale, dev-type models (default 3.5; 30 for a Fill model)", "G"},
        {"seed", 0, 0, G_OPTION_ARG_STRING, &o->seed,
         "Random seed 0..2^64-1 (default: random, printed)", "S"},
        {"max-sequence-length", 0, 0, G_OPTION_ARG_INT, &o->max_seq,
         "T5 tokens, 1..512 (default 512)", "L"},
        {"output", 'o', 0, G_OPTION_ARG_FILENAME, &o->output, "Output PNG", "OUT.png"},
        {"save-tensors", 0, 0, G_OPTION_ARG_FILENAME, &o->save_tensors,
         "Save the run's named tensors", "FILE.safetensors"},
        {"encode-only", 0, 0, G_OPTION_ARG_NONE, &o->encode_only,
         "Only tokenize and encode the prompt (with --save-tensors)", NULL},
        {"trace", 0, 0, G_OPTION_ARG_NONE, &o->trace,
         "Print each stage of the run with its tensor shape (with the modules' inner stages unless "
         "--save-tensors is given)",
         NULL},
        {"device", 0, 0, G_OPTION_ARG_STRING, &o->device,
         "Where the transformer runs: auto (a CUDA GPU when usable, else the CPU), cpu or cuda "
         "(default auto)",
         "DEVICE"},
        {"preview-out", 0, 0, G_OPTION_ARG_FILENAME, &o->preview_out,
         "Write a preview of the picture forming to this PNG every N steps (replaced atomically)",
         "PREVIEW.png"},
        {"preview-every", 0, 0, G_OPTION_ARG_INT, &o->preview_every,
         "With --preview-out: every N steps (default 1)", "N"},
        {"preview", 0, 0, G_OPTION_ARG_STRING, &o->preview,
         "With --preview-out: projection (a colour sketch, about a millisecond; default) or vae "
         "(the real decoder at up to 512 pixels, seconds)",
         "QUALITY"},
        {"precision", 0, 0, G_OPTION_ARG_STRING, &o->precision,
         "CPU arithmetic: auto (fast where the CPU has native bf16 instructions), float32 (the "
         "reference's numbers) or fast (bf16 products, several times faster) (default auto)",
         "PRECISION"},
        {"init-image", 0, 0, G_OPTION_ARG_FILENAME, &o->init_image,
         "Start from this picture (PNG): image-to-image, or with --mask inpainting; the output "
         "has its size floored to multiples of 16",
         "IN.png"},
        {"mask", 0, 0, G_OPTION_ARG_FILENAME, &o->mask,
         "With --init-image: repaint only the white part of this PNG (grey, RGB or with alpha; "
         "same size as the picture); needed by FLUX.1 Fill models",
         "MASK.png"},
        {"strength", 0, 0, G_OPTION_ARG_STRING, &o->strength,
         "With --init-image: how much to change, above 0 up to 1 (default 0.6; not used by Fill "
         "models)",
         "S"},
        {"quiet", 'q', 0, G_OPTION_ARG_NONE, &o->quiet, "No progress lines", NULL},
        {"lora", 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &o->lora_specs,
         "A LoRA (.safetensors: kohya, diffusers or BFL names) and its strength (default 1); "
         "repeat to stack",
         "FILE[:STRENGTH]"},
        {"verbose", 'v', 0, G_OPTION_ARG_NONE, &o->verbose,
         "List checkpoint tensors the model does not use", NULL},
        {NULL, 0, 0, 0, NULL, NULL, NULL}};
    GOptionContext *ctx = g_option_context_new("- FLUX.1 text-to-image");
    g_option_context_add_main_entries(ctx, entries, NULL);
    gboolean ok = g_option_context_parse(ctx, argc, argv, error);
    g_option_context_free(ctx);
    if (!ok) return FALSE;
    if (*argc > 1) {
        g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_FAILED, "unexpected argument '%s'",
                    (*argv)[1]);
        return FALSE;
    }
    if (!o->model && !check_files(o, error)) return FALSE;
    if (!flux_device_check(o->device, error)) {
        if (o->device) g_prefix_error(error, "--device %s: ", o->device);
        return FALSE;
    }
    if (!flux_precision_check(o->precision, error)) {
        g_prefix_error(error, "--precision: ");
        return FALSE;
    }
    if (!o->encode_only && !o->output) {
        g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_FAILED, "--output OUT.png is required");
        return FALSE;
    }
    if (!check_preview_options(o, error)) return FALSE;
    if (!check_edit_options(o, error)) return FALSE;
    if (!parse_loras(o, error)) return FALSE;
    if (o->encode_only && !o->save_tensors && !o->trace) {
        g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_FAILED,
                    "--encode-only needs --save-tensors FILE or --trace");
        return FALSE;
    }
    return TRUE;
}

/* --strength as Python reads a float literal (a double: the step count depends on it). */
static gboolean parse_strength(const char *s, double *strength, GError **error)
{
    if (!s) return TRUE;
    char *end = NULL;
    double v = g_ascii_strtod(s, &end);
    if (!*s || *end || !isfinite(v)) {
        g_set_error(error, FLUX_ERROR, FLUX_ERROR_ARGUMENT, "strength '%s' is not a number", s);
        return FALSE;
    }
    *strength = v;
    return TRUE;
}

static gboolean parse_seed(const char *s, guint64 *seed, GError **error)
{
    if (!s) {
        *seed = g_random_int();
        return TRUE;
    }
    GError *e = NULL;
    if (!g_ascii_string_to_unsigned(s, 10, 0, G_MAXUINT64, seed, &e)) {
        g_set_error(error, FLUX_ERROR, FLUX_ERROR_ARGUMENT,
                    "seed '%s' is not an integer in 0..18446744073709551615", s);
        g_error_free(e);
        return FALSE;
    }
    return TRUE;
}

/* ------------------------------------------------------------------------------------- */
/* Main                                                                                  */

static void report_unused(const FluxModel *m)
{
    char **names = NULL;
    gsize n = flux_model_unused_tensors(m, &names);
    fprintf(stderr, "%zu checkpoint tensors unused\n", (size_t)n);
    for (gsize i = 0; i < n; i++) fprintf(stderr, "  unused: %s\n", names[i]);
    g_strfreev(names);
}

/* --verbose: the tensors of each LoRA that the model does not take. */
static gboolean report_loras(const Options *o, FluxModel *m, GError **error)
{
    for (int i = 0; i < o->n_loras; i++) {
        char **names = NULL;
        gssize n = flux_lora_check(m, o->loras[i].path, &names, error);
        if (n < 0) return FALSE;
        fprintf(stderr, "%s: %zd tensors not applied\n", o->loras[i].path, n);
        for (gssize k = 0; k < n; k++) fprintf(stderr, "  not applied: %s\n", names[k]);
        g_strfreev(names);
    }
    return TRUE;
}

static gboolean run(const Options *o, GError **error)
{
    FluxGenerateParams p;
    flux_generate_params_init(&p, NULL);
    p.prompt = o->prompt ? o->prompt : "";
    p.negative_prompt = o->negative_prompt;
    p.true_cfg_scale = (float)o->true_cfg;
    p.width = o->width == G_MININT ? 1024 : o->width;
    p.height = o->height == G_MININT ? 1024 : o->height;
    p.guidance = o->guidance == GUIDANCE_UNSET ? 3.5f : (float)o->guidance;
    p.max_sequence_length = o->max_seq;
    p.device = o->device;
    p.precision = o->precision;
    p.loras = o->loras;
    p.n_loras = o->n_loras;
    if (!parse_seed(o->seed, &p.seed, error) || !parse_strength(o->strength, &p.strength, error))
        return FALSE;
    InitImage in = {0};
    if (o->init_image) {
        /* an explicit size is checked as given before the picture's size replaces it */
        if (!flux_generate_params_validate(NULL, &p, error)) return FALSE;
        if (!init_image_load(o->init_image, o->mask, o->width == G_MININT ? 0 : o->width,
                             o->height == G_MININT ? 0 : o->height, &in, error))
            return FALSE;
        p.width = in.w, p.height = in.h;
        p.init_image = in.rgb, p.init_width = in.w, p.init_height = in.h;
        p.mask = in.mask, p.mask_width = in.w, p.mask_height = in.h;
    }

    RunState rs = {o, o->save_tensors ? flux_tensor_file_new() : NULL, NULL, 0};
    p.trace = (o->trace || o->save_tensors) ? on_trace : NULL;
    p.trace_modules = o->trace && !o->save_tensors;
    p.progress = on_progress;
    p.warning = on_warning;
    p.user_data = &rs;

    /* Check the arguments that need no model first, and claim the output early. */
    PngOut *png = NULL;
    int w, h;
    flux_output_size(&p, &w, &h);
    gboolean ok = TRUE;
    if (!o->encode_only) {
        p.steps = o->steps == G_MININT ? flux_default_steps(TRUE) : o->steps;
        ok = flux_generate_params_validate(NULL, &p, error);
        ok = ok && (png = png_out_open(o->output, error)) != NULL;
    }
    const FluxModelFiles files = {.folder = o->model,
                                  .tokenizers = o->tokenizers,
                                  .transformer = o->transformer,
                                  .vae = o->vae,
                                  .clip_l = o->clip_l,
                                  .t5 = o->t5};
    FluxModel *m = ok ? flux_model_load_files(&files, error) : NULL;
    ok = m != NULL;
    if (ok && o->verbose) report_unused(m);
    if (ok && o->verbose) ok = report_loras(o, m, error);
    if (ok && o->encode_only) {
        ok = flux_encode_prompt(m, &p, error);
    } else if (ok) {
        if (o->steps == G_MININT) p.steps = flux_default_steps(flux_model_uses_guidance(m));
        if (o->guidance == GUIDANCE_UNSET && flux_model_is_fill(m))
            p.guidance = 30.0f;                           /* Fill's default */
        ok = flux_generate_params_validate(m, &p, error); /* with the model: memory too */
    }
    if (ok && o->preview_out) {
        FluxPreviewQuality q = FLUX_PREVIEW_PROJECTION;
        if (o->preview) preview_out_parse_quality(o->preview, &q, NULL);
        rs.preview = preview_out_new(o->preview_out, q, o->preview_every ? o->preview_every : 1, m,
                                     w, h, error);
        ok = rs.preview != NULL;
        p.preview = ok ? on_preview : NULL;
    }
    if (ok && !o->encode_only) {
        if (!o->quiet)
            fprintf(stderr, "seed %" G_GUINT64_FORMAT ", %d×%d, %d steps\n", p.seed, w, h, p.steps);
        guint8 *rgb = g_try_malloc((gsize)w * h * 3);
        if (!rgb) {
            g_set_error(error, FLUX_ERROR, FLUX_ERROR_NO_MEMORY, "no memory for a %d×%d image", w,
                        h);
            ok = FALSE;
        }
        ok = ok && flux_generate(m, &p, rgb, error);
        ok = ok && png_out_commit(png, rgb, w, h, error);
        if (ok) png = NULL;
        g_free(rgb);
    }
    png_out_abort(png);
    if (ok && rs.tensors) ok = flux_tensor_file_save(rs.tensors, o->save_tensors, error);
    flux_tensor_file_free(rs.tensors);
    preview_out_free(rs.preview);
    flux_model_free(m);
    init_image_clear(&in);
    return ok;
}

static void options_clear(Options *o)
{
    g_free(o->model), g_free(o->prompt), g_free(o->negative_prompt), g_free(o->output);
    g_free(o->save_tensors), g_free(o->seed), g_free(o->device), g_free(o->precision);
    g_free(o->preview_out), g_free(o->preview);
    g_free(o->init_image), g_free(o->mask), g_free(o->strength);
    for (int i = 0; i < o->n_loras; i++) g_free((char *)o->loras[i].path);
    g_free(o->loras), g_strfreev(o->lora_specs);
    g_free(o->tokenizers), g_free(o->transformer), g_free(o->vae), g_free(o->clip_l), g_free(o->t5);
}

int main(int argc, char **argv)
{
    setlocale(LC_ALL, "");
    Options o = {0};
    GError *err = NULL;
    if (!parse_options(&argc, &argv, &o, &err)) {
        fprintf(stderr, "flux-generate: %s (see --help)\n", err->message);
        g_error_free(err);
        options_clear(&o); /* what was parsed before the error */
        return 2;
    }
    signal(SIGINT, on_sigint);
    int status = 0;
    if (!run(&o, &err)) {
        fprintf(stderr, "flux-generate: %s\n", err->message);
        status = g_error_matches(err, FLUX_ERROR, FLUX_ERROR_CANCELLED) ? 130 : 1;
        g_error_free(err);
    }
    options_clear(&o);
    return status;
}
