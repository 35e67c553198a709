/* flux.h — the public API of libflux: FLUX.1 text-to-image in C.
 *
 * The CLI (cli/flux-generate.c) and the GIMP plug-in are thin clients of this header.
 *
 *   GError *err = NULL;
 *   FluxModel *m = flux_model_load("/models/FLUX.1-schnell", &err);  // a diffusers folder
 *   if (!m) { g_printerr("%s\n", err->message); ... }
 *   FluxGenerateParams p;
 *   flux_generate_params_init(&p, m);                 // FluxPipeline's defaults for this model
 *   p.prompt = "a photo of a cat";
 *   p.width = p.height = 512;
 *   int w, h;
 *   flux_output_size(&p, &w, &h);                     // sizes are floored to multiples of 16
 *   guint8 *rgb = g_malloc((gsize)w * h * 3);          // caller allocates the pixels
 *   if (!flux_generate(m, &p, rgb, &err)) ...
 *   flux_model_free(m);
 *
 * Errors: every fallible call takes a GError** (domain FLUX_ERROR); messages name the file,
 * tensor or value and what was expected. The library never exits or prints on its own.
 * Threads: a FluxModel is immutable after loading; one flux_generate at a time per model.
 */
#pragma once

#include <glib.h>
#include <stdint.h>

G_BEGIN_DECLS

#define FLUX_ERROR (flux_error_quark())
GQuark flux_error_quark(void);

typedef enum {
    FLUX_ERROR_IO,          /* a file is missing or unreadable, an output cannot be written */
    FLUX_ERROR_FORMAT,      /* a file is malformed (header, JSON, offsets, dtype) */
    FLUX_ERROR_MODEL,       /* a model folder or tensor disagrees with its config */
    FLUX_ERROR_ARGUMENT,    /* an out-of-range argument (size, steps, guidance, ...) */
    FLUX_ERROR_CANCELLED,   /* the progress callback asked to stop */
    FLUX_ERROR_NO_MEMORY,   /* the request needs more memory than is available */
    FLUX_ERROR_UNSUPPORTED, /* a valid file using a feature this build does not have */
} FluxError;

/* Element types handed to trace hooks. */
typedef enum { FLUX_DTYPE_F32, FLUX_DTYPE_I64, FLUX_DTYPE_U8 } FluxDtype;

/* Largest width/height accepted (pixels). 4096² needs a 65,536-token image sequence. */
#define FLUX_MAX_SIZE  4096
#define FLUX_MAX_STEPS 1000
/* Image sizes are floored to multiples of FLUX_SIZE_STEP: the VAE scales by 8 and the
 * transformer takes 2×2 patches of the latents. flux_size_floor(size) is that floor (0 below
 * the step). */
#define FLUX_SIZE_STEP 16
int flux_size_floor(int size);
/* Denoising steps when none are asked for: 28 for dev-type models (guidance embedder), 4 for
 * schnell-type. */
#define FLUX_DEFAULT_STEPS_DEV     28
#define FLUX_DEFAULT_STEPS_SCHNELL 4
int flux_default_steps(gboolean uses_guidance);
#define FLUX_MAX_SEQUENCE_LENGTH 512

typedef struct FluxModel FluxModel;

/* Loads a diffusers-layout FLUX.1 folder (model_index.json, scheduler/, text_encoder/,
 * text_encoder_2/, tokenizer/, tokenizer_2/, transformer/, vae/). Weights are mapped, not
 * copied. Returns NULL with `error` set. Caller owns the model: flux_model_free (NULL-safe). */
FluxModel *flux_model_load(const char *dir, GError **error);
void flux_model_free(FluxModel *model);

/* A model from the files artists have: ComfyUI-style single files (flux1-dev.safetensors,
 * ae.safetensors, clip_l.safetensors, t5xxl_fp8_e4m3fn.safetensors, GGUF transformers/T5;
 * original or diffusers names, F32/F16/BF16/FP8/GGML-quantized), optionally with a diffusers
 * folder for configs and the remaining components. All strings are borrowed.
 *
 *   FluxModelFiles f = {.tokenizers = "/models/FLUX.1-schnell",   // tokenizer/, tokenizer_2/
 *                       .transformer = "flux1-schnell.safetensors", .vae = "ae.safetensors",
 *                       .clip_l = "clip_l.safetensors", .t5 = "t5xxl_fp8_e4m3fn.safetensors"};
 *   FluxModel *m = flux_model_load_files(&f, &err);
 *
 * Configs: a component read from a file takes the folder's <component>/config.json when a
 * folder is given, else a built-in FLUX.1 config (CLIP-L, T5-XXL v1.1, FLUX VAE). A
 * transformer file always takes the config its tensor shapes imply (the rope axes, which
 * shapes do not show, are FLUX.1's for head dim 128, else the folder's). The scheduler is the
 * folder's when its transformer is of the same kind (guidance embedder or not), else the
 * built-in FLUX.1-dev (guidance embedder) or FLUX.1-schnell one.
 * Without a folder, the four weight files and `tokenizers` are all required. */
typedef struct {
    const char *folder;     /* a diffusers folder: configs, tokenizers, and every weight not
                               given below; may be NULL */
    const char *tokenizers; /* a folder holding tokenizer/ and tokenizer_2/ (default: folder) */
    const char *transformer, *vae, *clip_l, *t5; /* weight files (.safetensors, .gguf,
                                                    .safetensors.index.json) overriding the
                                                    folder's */
} FluxModelFiles;

FluxModel *flux_model_load_files(const FluxModelFiles *files, GError **error);

/* The parts FluxModelFiles must name when it has no folder, in the order messages list them. */
typedef enum {
    FLUX_PART_TRANSFORMER,
    FLUX_PART_VAE,
    FLUX_PART_CLIP_L,
    FLUX_PART_T5,
    FLUX_PART_TOKENIZERS,
    FLUX_N_PARTS
} FluxModelPart;
/* NULL when `files` has a folder or names every part; else the missing parts joined as
 * "names[p], names[q]" with the caller's words for them (an option, a field). Caller frees.
 * flux_model_load_files makes the same check. */
char *flux_model_files_missing(const FluxModelFiles *files, const char *const names[FLUX_N_PARTS]);

/* TRUE for dev-type models (transformer has a guidance embedder), FALSE for schnell-type. */
gboolean flux_model_uses_guidance(const FluxModel *model);
/* TRUE for a FLUX.1 Fill model: its transformer takes 384 input channels (64 latent + 64
 * masked-picture latent + 256 mask), so every run needs init_image and mask. */
gboolean flux_model_is_fill(const FluxModel *model);
/* Number of checkpoint tensors no loader used (e.g. the VAE encoder); names via g_strfreev'd
 * array when `names` is non-NULL. */
gsize flux_model_unused_tensors(const FluxModel *model, char ***names);

/* What the configs of a model folder say, read without mapping any weights (fast enough
 * for a dialog). Fails like flux_model_load when the folder is not a FLUX.1 model. */
typedef struct {
    gboolean uses_guidance; /* dev-type (TRUE) or schnell-type */
    int default_steps;      /* 28 dev-type, 4 schnell-type */
    guint64 weight_bytes;   /* all weight files together */
    guint64 transformer_params;
    int inner_dim, num_heads, num_layers, num_single_layers, t5_d_model, vae_channels;
    /* the rest of the transformer's config, which sizes its working memory: head dim, latent
     * channels in (64; 384 for a Fill model) and out, the widths of the T5 and CLIP inputs */
    int head_dim, in_channels, out_channels, joint_attention_dim, pooled_projection_dim;
    int vae_mid_channels; /* the VAE mid-block's width, its single attention head's size */
} FluxModelInfo;

gboolean flux_model_probe(const char *dir, FluxModelInfo *info, GError **error);
/* ---- Finding and checking a model before a run (core/pipeline/model_locate.c, model_check.c)
 *
 * What a dialog needs when an artist picks a model: a diffusers folder or one transformer file
 * (ComfyUI style, its companions found beside it), checked in a fraction of a second (configs
 * and weight-file headers only, no weights read), and when something is wrong a problem a
 * front-end can put in the artist's language: what is missing or broken, and where. */
typedef enum {
    FLUX_MODEL_PROBLEM_NONE,
    FLUX_MODEL_PROBLEM_NOT_FOUND,   /* the path does not exist */
    FLUX_MODEL_PROBLEM_NOT_A_MODEL, /* neither a FLUX.1 diffusers folder nor a transformer file */
    FLUX_MODEL_PROBLEM_MISSING,     /* a part is missing: a partial download, a companion file
                                       not found beside a transformer file */
    FLUX_MODEL_PROBLEM_TRUNCATED,   /* a weight file is shorter than its header says */
    FLUX_MODEL_PROBLEM_DAMAGED,     /* a weight or config file cannot be read */
    FLUX_MODEL_PROBLEM_SYNTAX,      /* the model string (flux_model_spec_parse) names an
                                       unknown part or one twice; `path` the part as written */
    /* a single file whose sizes are not FLUX.1's, so a value its tensors cannot show (CLIP's
     * heads, the VAE's groups, the rope axes) needs the config beside it: `path` the file,
     * `looked` that config's path; it is absent, or there and not this file's
     * (docs/FORMATS.md, "Single files") */
    FLUX_MODEL_PROBLEM_NEEDS_CONFIG,
} FluxModelProblemKind;

typedef enum {
    FLUX_MODEL_PART_NONE,
    FLUX_MODEL_PART_TRANSFORMER,
    FLUX_MODEL_PART_VAE,
    FLUX_MODEL_PART_CLIP_L,
    FLUX_MODEL_PART_T5,
    FLUX_MODEL_PART_TOKENIZERS,
    FLUX_MODEL_PART_CONFIG, /* model_index.json, a component's config.json, the scheduler */
} FluxProblemPart;          /* (FluxModelPart's parts, and none or a config file) */

typedef struct {
    FluxModelProblemKind kind;
    FluxProblemPart part;   /* which part, when the problem is in one */
    char *path;             /* the file or folder at fault (MISSING: the first place looked) */
    char *looked;           /* MISSING: every place looked, one per line; NEEDS_CONFIG: the
                               config beside the file; else NULL */
    guint64 expected_bytes; /* TRUNCATED: the size the header implies */
    guint64 actual_bytes;   /* TRUNCATED: the size on disk */
} FluxModelProblem;

/* Frees the strings of a problem and sets it to FLUX_MODEL_PROBLEM_NONE (NULL-safe). */
void flux_model_problem_clear(FluxModelProblem *problem);

/* The companions of a transformer file (flux1-dev.safetensors, flux1-schnell-Q4_K_S.gguf, ...)
 * as a ComfyUI models/ tree lays them out: when the file is in unet/, diffusion_models/ or
 * checkpoints/, the VAE in ../vae/ (ae.safetensors, or a *flux* / ae* file there), CLIP-L in
 * ../clip/ or ../text_encoders/ (clip_l*), T5 there too (t5xxl*, .safetensors or .gguf;
 * the first by name); any of them also beside the file. Tokenizers (tokenizer/ and
 * tokenizer_2/ folders) beside the file, in the models/ root, else in `tokenizers` (may be
 * NULL; e.g. the copy a front-end installs). On success `files` holds newly allocated strings
 * (flux_model_files_clear). Else FALSE, `problem` (may be NULL; clear it) saying which part was
 * not found and where it was looked for, and `error` the same in English. */
gboolean flux_model_locate(const char *transformer_file, const char *tokenizers,
                           FluxModelFiles *files, FluxModelProblem *problem, GError **error);
/* Frees the strings of a FluxModelFiles filled by flux_model_locate and zeroes it. */
void flux_model_files_clear(FluxModelFiles *files);

/* Checks a model without reading weights: `path` a diffusers folder (every component folder,
 * config and weight shard present; tokenizers from `tokenizers` when the folder has none) or a
 * transformer file (its companions as flux_model_locate), or a model string naming companions
 * (flux_model_spec_parse; each one chosen must exist and hold that part's tensor names, else
 * NOT_FOUND or NOT_A_MODEL with its part). Each weight file's header is read
 * and its size compared with where the header says the last tensor ends, so an interrupted
 * download is found here and not at run time. A transformer file's companions get their
 * configs from their tensor shapes as the loader does (NEEDS_CONFIG when a value none shows
 * has no config beside the file), and `info` their sizes. On success fills `info` (may be NULL) as
 * flux_model_probe. Else FALSE with `problem` (may be NULL; clear it) and `error`. */
gboolean flux_model_check(const char *path, const char *tokenizers, FluxModelInfo *info,
                          FluxModelProblem *problem, GError **error);

/* Loads what flux_model_check accepts: a folder (tokenizers from `tokenizers` when it has
 * none) or a transformer file with its companions; either may be a model string
 * (flux_model_spec_parse) naming companions chosen by hand. */
FluxModel *flux_model_load_path(const char *path, const char *tokenizers, GError **error);

/* ---- A model as one string (core/pipeline/model_spec.c)
 *
 * What a setting, a dialog or a script argument holds: the model's path, then the companion
 * files chosen by hand, if any:
 *
 *   PATH[;vae=FILE][;clip_l=FILE][;t5=FILE]
 *   /models/unet/flux1-dev-Q4_K_S.gguf;vae=/models/vae/ae.safetensors;t5=t5xxl_fp16.safetensors
 *
 * PATH is a diffusers folder or a transformer file. Each FILE replaces the part the folder
 * has or flux_model_locate would find; the parts not named are still found. A relative FILE
 * is taken from PATH's folder (from inside PATH when it is a folder). A string that names an
 * existing file or folder whole is that path alone, so plain paths (also ones holding ';')
 * keep working; a ';' not followed by a `word=` belongs to the path or file before it.
 * flux_model_check, flux_model_resolve and flux_model_load_path all take this string. */
typedef struct {
    char *path;              /* the folder or transformer file */
    char *vae, *clip_l, *t5; /* companions chosen by hand; NULL: the folder's or found */
} FluxModelSpec;

/* Splits `text` into `spec` (newly allocated strings: flux_model_spec_clear, also after a
 * failure). FALSE with FLUX_ERROR_ARGUMENT naming the part when a `word=` is not vae, clip_l
 * or t5, when a part is named twice, or when PATH is empty. An empty FILE counts as not named. */
gboolean flux_model_spec_parse(const char *text, FluxModelSpec *spec, GError **error);
/* The string of `spec` (parts in the order vae, clip_l, t5; NULL ones left out). Caller frees. */
char *flux_model_spec_format(const FluxModelSpec *spec);
void flux_model_spec_clear(FluxModelSpec *spec);

/* The files a model string loads: a folder → files->folder (and files->tokenizers when the
 * folder has none and `tokenizers` is given) with the chosen companions; a transformer file →
 * files->transformer and every companion, chosen or found (flux_model_locate). Reads no
 * weights. On failure `files` still holds what was found (clear it either way with
 * flux_model_files_clear), `problem` (may be NULL) says what is missing, `error` in English. */
gboolean flux_model_resolve(const char *model, const char *tokenizers, FluxModelFiles *files,
                            FluxModelProblem *problem, GError **error);

/* What flux_model_find found: a render looks at the disk once, then loads from this. */
typedef struct {
    char *path;           /* the folder or file asked for */
    FluxModelFiles files; /* what to load: the folder (and tokenizers), or the file's parts */
    FluxModelInfo info;   /* as flux_model_check's */
} FluxModelFound;

/* flux_model_check keeping what it found. On success `found` holds newly allocated strings
 * (flux_model_found_clear, NULL-safe, also after a failure). */
gboolean flux_model_find(const char *path, const char *tokenizers, FluxModelFound *found,
                         FluxModelProblem *problem, GError **error);
/* Loads what flux_model_find found, without looking for the parts or probing the folder again. */
FluxModel *flux_model_load_found(const FluxModelFound *found, GError **error);
void flux_model_found_clear(FluxModelFound *found);

/* Working memory in bytes that a run of this size needs besides the mapped weights. */
guint64 flux_estimate_memory(const FluxModelInfo *info, int width, int height, int max_seq);
/* Arithmetic of a run (transformer steps, T5, VAE), in floating-point operations. */
double flux_estimate_flops(const FluxModelInfo *info, int width, int height, int max_seq,
                           int steps);

/* This computer's rate for the transformer's arithmetic in GFLOP/s, measured in ~0.3 s on one
 * FLUX.1-sized BF16 linear as the cpu backend runs it; 0 when the buffers (30 MB) cannot be
 * had. An upper bound for a run (attention and the rest are slower): a first estimate until
 * a run has been timed. */
double flux_measure_gflops(void);

/* Called with every named intermediate tensor of a run (see README "Tensor names").
 * `data` is only valid during the call. */
typedef void (*FluxTraceFunc)(const char *name, FluxDtype dtype, int ndim, const int64_t *shape,
                              const void *data, void *user_data);

/* A .safetensors file of named tensors, filled from a FluxTraceFunc (--save-tensors):
 * flux_tensor_file_add copies `data`; names must be unique. flux_tensor_file_save writes
 * atomically (a temporary file beside `path`, renamed into place). Caller owns the file
 * (flux_tensor_file_free, NULL-safe). */
typedef struct FluxTensorFile FluxTensorFile;
FluxTensorFile *flux_tensor_file_new(void);
void flux_tensor_file_add(FluxTensorFile *file, const char *name, FluxDtype dtype, int ndim,
                          const int64_t *shape, const void *data);
gboolean flux_tensor_file_save(FluxTensorFile *file, const char *path, GError **error);
void flux_tensor_file_free(FluxTensorFile *file);

/* Called once per finished denoising step (step counts from 1). Return FALSE to cancel:
 * flux_generate then fails with FLUX_ERROR_CANCELLED before the next step starts. */
typedef gboolean (*FluxProgressFunc)(int step, int total, double elapsed_s, void *user_data);

/* Called as each denoising step begins (fraction 0) and inside it after each transformer
 * block (57 for FLUX.1; twice as many with true CFG), for a progress bar that moves within a
 * step on a slow CPU: `step` (from 1) of `total` is `fraction` done, rising to exactly 1 after
 * the last block. FluxProgressFunc still follows each step's last block. */
typedef void (*FluxBlockProgressFunc)(int step, int total, double fraction, void *user_data);

/* Phases of a run, reported as each begins (for a progress text). */
typedef enum {
    FLUX_PHASE_ENCODING,  /* tokenizing, CLIP and T5 */
    FLUX_PHASE_DENOISING, /* the transformer steps (then FluxProgressFunc per step) */
    FLUX_PHASE_DECODING,  /* the VAE decoder */
} FluxPhase;
typedef void (*FluxPhaseFunc)(FluxPhase phase, void *user_data);

/* Called with a human-readable warning that does not stop the run (e.g. a prompt truncated
 * to the encoders' limits). */
typedef void (*FluxWarningFunc)(const char *message, void *user_data);

/* Called after each step (from 1) with x₀, the step's prediction of the clean packed latents
 * [1, S, 64] (S = (latent_h/2)·(latent_w/2)): x₀ = latents − σ_i·velocity, with the latents
 * and σ_i of before step i and the transformer's (true-CFG-combined) velocity. So the first
 * steps already show the composition, not noise; at the last step x₀ is the final latents.
 * Read-only, valid during the call. Render it with flux_preview_render (same thread, same
 * model: allowed during flux_generate). */
typedef void (*FluxPreviewFunc)(int step, const float *x0, int latent_h, int latent_w,
                                void *user_data);

/* How a preview turns latents into a picture (core/pipeline/preview.c). */
typedef enum {
    FLUX_PREVIEW_PROJECTION, /* a fixed linear map of the 16 latent channels to RGB (the FLUX
                                factors ComfyUI publishes), upscaled bilinearly: about a
                                millisecond per step, colours and composition only */
    FLUX_PREVIEW_VAE,        /* the model's own VAE decoder on the latents shrunk so that the
                                longer side is at most FLUX_PREVIEW_VAE_MAX_SIDE pixels: the
                                real picture, seconds per preview, so every few steps */
    /* room for a tiny trained decoder (TAEF1) once its weights can be had */
} FluxPreviewQuality;

#define FLUX_PREVIEW_VAE_MAX_SIDE 512

/* How often a preview of this quality fits the budget (previews at most ~10% of the run, in
 * flux_estimate_flops arithmetic), for a dialog to say. The decode size depends on width and
 * height only; with `info` all zero (shapes unknown) every is 1 and share 0. */
typedef struct {
    int every;                       /* render after every N-th step (1: each step) */
    int decode_width, decode_height; /* size the VAE decodes at (VAE quality; else 0) */
    double share;                    /* the previews' estimated share of the whole run, 0..1 */
} FluxPreviewPlan;

void flux_preview_plan(const FluxModelInfo *info, FluxPreviewQuality quality, int width, int height,
                       int steps, int max_seq, FluxPreviewPlan *plan);

/* Renders packed latents [1, S, 64] of latent_h × latent_w (as FluxPreviewFunc gives them) to
 * an out_w × out_h RGB picture, 3 bytes a pixel, rows top to bottom, caller-allocated.
 * PROJECTION needs no model (`model` may be NULL); VAE decodes with the model's VAE at the
 * plan's decode size (the full 8·latent size when that is small enough), then resamples.
 * FALSE with FLUX_ERROR_ARGUMENT for a bad size or quality, FLUX_ERROR_NO_MEMORY. */
gboolean flux_preview_render(FluxModel *model, FluxPreviewQuality quality, const float *latents,
                             int latent_h, int latent_w, int out_w, int out_h, guint8 *rgb,
                             GError **error);

/* A LoRA: a small file of low-rank changes to the transformer's layers (a style, a character,
 * a few-step "turbo"), read as kohya/ComfyUI (lora_unet_*), diffusers/PEFT (transformer.*) or
 * BFL/ai-toolkit (diffusion_model.*) .safetensors in F32/F16/BF16 — the names tell which.
 * Applied at run time inside every linear layer it changes, y = x·Wᵀ + s·((x·Aᵀ)·Bᵀ) with
 * s = multiplier × alpha / rank (diffusers' rule; alpha = rank when the file has none), so the
 * base weights (mapped bf16, FP8 or GGUF blocks) are never copied and LoRAs stack. CLIP-L
 * layers in the file (lora_te1_*, text_encoder.*) change the CLIP text encoder the same way;
 * FluxGenerateParams.warning names the tensors left out (T5 layers, layers the model lacks). */
typedef struct {
    const char *path; /* the .safetensors file; borrowed */
    float multiplier; /* strength: 1 as trained, 0.5 half, 0 off, negative inverts */
} FluxLora;

typedef struct {
    const char *prompt;          /* UTF-8; NULL means "" */
    const char *negative_prompt; /* true CFG when non-NULL and true_cfg_scale > 1 */
    float true_cfg_scale;        /* 1.0 = off */
    int width, height;           /* pixels; floored to multiples of 16 (as the reference) */
    int steps;                   /* denoising steps */
    float guidance;              /* distilled guidance scale (dev-type models only) */
    guint64 seed;                /* torch.Generator("cpu").manual_seed(seed) equivalent */
    int max_sequence_length;     /* T5 tokens, 1..512 */
    FluxProgressFunc progress;
    FluxBlockProgressFunc block_progress; /* may be NULL */
    FluxPreviewFunc preview;
    FluxTraceFunc trace;
    FluxPhaseFunc phase;
    FluxWarningFunc warning;
    gboolean trace_modules; /* also trace inside CLIP, T5, the first transformer step and the
                               VAE ("transformer.x_embedder", ...) */
    void *user_data;        /* passed to every callback */
    const char *device;     /* where the transformer runs: "auto" (or NULL, the default),
                               "cpu" or "cuda"; see flux_device_check. Borrowed. */
    const char *precision;  /* CPU arithmetic: "auto" (or NULL, the default), "float32" or
                               "fast"; see flux_precision_check. Borrowed. */
    /* LoRAs for this run (NULL/0: none), in the generate parameters rather than the load
     * ones because they cost nothing to switch: the files are small and read per run, the
     * model stays unchanged and shared, so a front-end keeping a model loaded can change
     * styles between runs. A file that cannot be read or does not fit the model fails the
     * run before any step (FLUX_ERROR_IO/FORMAT/MODEL naming the file and tensor). Borrowed. */
    const FluxLora *loras;
    int n_loras;

    /* Working from a picture (diffusers FluxImg2ImgPipeline / FluxInpaintPipeline /
     * FluxFillPipeline; all borrowed, NULL = text-to-image):
     *   init_image only            img2img: the picture, re-noised to `strength`, is denoised
     *   init_image + mask          inpainting: only the mask's white part is repainted (any
     *                              FLUX.1 model; the rest is put back after every step)
     *   init_image + mask, Fill    a FLUX.1 Fill model (flux_model_is_fill): the masked picture
     *                              and the mask condition every step; strength is not used
     * The picture must be exactly the output size (flux_output_size); nothing is resized. */
    const guint8 *init_image;    /* RGB [init_height, init_width, 3], rows top to bottom */
    int init_width, init_height; /* its size in pixels */
    const guint8 *mask;          /* grey [mask_height, mask_width], 255 = repaint; values ≥ 128
                                    count as repaint, below as keep (the reference binarizes at
                                    0.5); the same size as init_image */
    int mask_width, mask_height;
    double strength; /* img2img/inpainting: share of the schedule that runs, 0 < s ≤ 1 (1 = start
                        from pure noise; the picture still sets what is kept outside a mask);
                        the run takes steps − int(steps − steps·strength) steps, which must be
                        at least 1. Default 0.6 (diffusers'). A double, so that the step count
                        matches Python's float arithmetic exactly. */
} FluxGenerateParams;

/* Compute devices for the transformer (the text encoders and the VAE run on the CPU):
 *   "cpu"   every step on the CPU, float32 (the reference's numbers to ~1e-5)
 *   "cuda"  every step on the first CUDA GPU: the weights are uploaded once per model as BF16
 *           (2 bytes per parameter: 23.8 GB for FLUX.1, refused with FLUX_ERROR_NO_MEMORY
 *           when the GPU has less free memory), activations stay on the GPU in float32 and
 *           only the step's inputs (latents, prompt embeddings) and output cross; results
 *           differ from the cpu's by BF16 rounding (up to ~1e-2 relative)
 *   "auto"  (NULL too) the FLUX_DEVICE environment variable when set, else "cuda" when this
 *           build has it and a GPU is usable, else "cpu"; an "auto" GPU without enough free
 *           memory for the model falls back to the CPU.
 * TRUE when `device` can be used in this build on this machine; else FALSE with
 * FLUX_ERROR_ARGUMENT (an unknown name) or FLUX_ERROR_UNSUPPORTED (this build has no CUDA, or
 * no usable GPU), the message saying which. */
gboolean flux_device_check(const char *device, GError **error);

/* CPU arithmetic of a run (every linear on the CPU; the CUDA device has its own, BF16):
 *   "float32"  float32 products on exactly converted weights: the reference's numbers (~1e-5)
 *   "fast"     bf16 products with float32 sums on the CPU's native instructions (AMX-BF16,
 *              AVX512-BF16; int8 for Q8_0 linears of few rows): several times faster where
 *              the CPU has them; a picture moves by a few levels of 255 (docs/PERFORMANCE.md)
 *   "auto"     (NULL too) the FLUX_PRECISION environment variable when set, else "fast" when
 *              this CPU has a native path, else "float32" (the same code as "fast" there).
 * TRUE when `precision` is one of these; else FALSE with FLUX_ERROR_ARGUMENT naming it. */
gboolean flux_precision_check(const char *precision, GError **error);

/* FluxPipeline's defaults: 1024×1024, 28 steps (4 for schnell-type when model is given),
 * guidance 3.5 (30 for a Fill model, as FluxFillPipeline), max sequence length 512, seed 0,
 * no callbacks, no picture, strength 0.6. `model` may be NULL. */
void flux_generate_params_init(FluxGenerateParams *params, const FluxModel *model);

/* Size of the produced image: width and height floored to multiples of 16. */
void flux_output_size(const FluxGenerateParams *params, int *width, int *height);

/* Checks every argument against the limits; the message names the value (for a picture: a mask
 * without a picture, a picture or mask of another size than the output, strength outside
 * (0, 1] or so low that no step runs, a Fill model without picture and mask). With a model, also
 * refuses (FLUX_ERROR_NO_MEMORY) a size whose working memory exceeds what the system has
 * available (MemAvailable, or the FLUX_MEMORY_LIMIT environment variable in bytes). */
gboolean flux_generate_params_validate(const FluxModel *model, const FluxGenerateParams *params,
                                       GError **error);

/* Runs the pipeline and writes the image into `rgb` (caller-allocated, w*h*3 bytes, rows top
 * to bottom, w/h from flux_output_size). On failure `rgb` may hold partial data. */
gboolean flux_generate(FluxModel *model, const FluxGenerateParams *params, guint8 *rgb,
                       GError **error);

/* Parses "FILE[:MULTIPLIER]" (the CLI's --lora and one item of the plug-ins' list): the
 * multiplier is what follows the last ':' when that is a number (default 1.0), so
 * "C:\\loras\\style.safetensors" and "style:v2.safetensors" keep their colons. Fills
 * lora->path (newly allocated: g_free) and lora->multiplier; FALSE with FLUX_ERROR_ARGUMENT
 * for an empty file name or a multiplier outside -100..100. */
gboolean flux_lora_parse(const char *spec, FluxLora *lora, GError **error);

/* Tensors of a LoRA file that would not be applied to `model`'s transformer (text-encoder
 * layers, layers this model lacks, other tensors), as "FILE: TENSOR" in a g_strfreev'd array
 * when `names` is non-NULL; -1 with `error` set when the file cannot be used at all (see
 * FluxGenerateParams.loras). For a dialog's check of a chosen file and the CLI's --verbose. */
gssize flux_lora_check(FluxModel *model, const char *path, char ***names, GError **error);

/* Text encoding only: emits clip_input_ids [1,77], t5_input_ids [1,L] (I64),
 * pooled_prompt_embeds [1,D_clip] and prompt_embeds [1,L,D_t5] (F32) through params->trace. */
gboolean flux_encode_prompt(FluxModel *model, const FluxGenerateParams *params, GError **error);

G_END_DECLS
