/* flux-params.h — the one contract between the dialogs (ui/gimp2, ui/gimp3) and the GIMP entries
 * (plugin/gimp2, plugin/gimp3).
 *
 * Like file-webp's WebPSaveParams: the dialog edits a FluxRenderParams, the PDB entry fills
 * one from its arguments, and the worker (flux-worker.h) renders one. Nothing here knows
 * GIMP or GTK, so a GIMP 3 front-end can reuse it unchanged.
 *
 * The struct is stored whole with gimp_set_data() (last values), hence fixed-size strings.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define FLUX_PROMPT_MAX     4096 /* bytes, UTF-8, NUL included */
#define FLUX_MODEL_PATH_MAX 4096
#define FLUX_SEED_MAX       G_MAXINT32
#define FLUX_GUIDANCE_MAX   100.0
#define FLUX_LORAS_MAX      4096 /* bytes of the LoRA list (flux-loras.h), NUL included */

typedef struct {
    char prompt[FLUX_PROMPT_MAX];
    gint32 width, height; /* pixels as asked; the result is floored to multiples of 16 */
    gint32 steps;         /* denoising steps, 1..FLUX_MAX_STEPS (0 from a script: the
                             model's default, see flux_worker_resolve_steps) */
    double guidance;      /* distilled guidance (dev-type models only), 0..100 */
    gint32 seed;          /* the seed of the last run, or the fixed seed when !random_seed */
    gboolean random_seed; /* draw a new seed for every run */
    char model[FLUX_MODEL_PATH_MAX]; /* a FLUX.1 folder (diffusers layout) or a transformer
                                        file whose companions lie as ComfyUI keeps them */
    char loras[FLUX_LORAS_MAX];      /* "style.safetensors:0.8;turbo.safetensors:1" (flux-loras.h);
                                        "" none */
} FluxRenderParams;

/* Defaults: empty prompt, 1024×1024, 28 steps, guidance 3.5, random seed, no model. */
void flux_render_params_init(FluxRenderParams *p);

/* Copies `text` into a fixed field, cut at a UTF-8 character boundary. */
void flux_render_params_set_prompt(FluxRenderParams *p, const char *text);
void flux_render_params_set_model(FluxRenderParams *p, const char *dir);
/* FALSE (nothing changed) when the list does not fit FLUX_LORAS_MAX. */
gboolean flux_render_params_set_loras(FluxRenderParams *p, const char *list);

/* Checks every value (not the model folder's contents); the message names the value and
 * its range and is translated. */
gboolean flux_render_params_validate(const FluxRenderParams *p, GError **error);

/* Floors a size as the pipeline does (0 when below 16). */
int flux_render_output_size(int size);

/* The seed for a run: a fresh random one when p->random_seed, otherwise p->seed. */
gint32 flux_render_params_pick_seed(const FluxRenderParams *p);

/* A layer name from the prompt: its first line, shortened to about 40 characters with "…";
 * "FLUX" when empty. Caller frees. */
char *flux_render_layer_name(const char *prompt);

/* The layer name after a run: flux_render_layer_name and the seed used, "a cat (seed 42)"
 * (translated), so that the seed can be read off the Layers dialog. Caller frees. */
char *flux_render_layer_name_seed(const char *prompt, gint32 seed);

/* "41 s", "4 min", "2 h 5 min" (translated). Caller frees. */
char *flux_format_duration(double seconds);

G_END_DECLS
