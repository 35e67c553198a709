/* flux-plugin.c — the GIMP 2.10 PDB entry of FLUX Text to Image:
 *
 *   plug-in-flux-generate        Filters ▸ Render ▸ FLUX Text to Image...  → a new layer
 *   plug-in-flux-generate-image  File ▸ Create ▸ FLUX Text to Image...     → a new image
 *   plug-in-flux-generate-loras, plug-in-flux-generate-image-loras
 *                                the same with a trailing LoRA list argument (GIMP 2.10's PDB
 *                                and Script-Fu want every argument, so the first two keep their
 *                                arguments and existing scripts keep working; no menu entries)
 *
 * run() = parameters (run mode: dialog / arguments / last values) → flux_worker_run with
 * GIMP progress → the picture as a layer (one undo step) or a new image. GIMP-specific code
 * stays here; the dialog is ui/gimp2/flux-dialog.c, the render frontend/flux-worker.c, and the two
 * share only FluxRenderParams. Nothing touches the image before the picture is complete, so
 * an error, or GIMP killing the process on Cancel, leaves it as it was.
 * Interactive runs render on a thread while the preview window (ui/gimp2/flux-preview-window.c)
 * shows the picture forming (plugin/common/flux-watch.c, shared with the GIMP 3 entry); its
 * Stop ends the run with GIMP_PDB_CANCEL and the image untouched. Other run modes render as before,
 * without a window.
 */
#include "plugin-config.h"

#include "flux-dialog.h"
#include "flux-edit-entry.h"
#include "flux-estimate.h"
#include "flux-intl.h"
#include "flux-params.h"
#include "flux-gimp-common.h"
#include "flux-progress.h"
#include "flux-settings.h"
#include "flux-watch.h"
#include "flux-worker.h"
#include "flux.h"

#include <libgimp/gimp.h>
#include <libgimp/gimpui.h>
#include <string.h>

#define PROC_LAYER     "plug-in-flux-generate"
#define PROC_IMAGE     "plug-in-flux-generate-image"
#define PROC_LAYER_L   "plug-in-flux-generate-loras"
#define PROC_IMAGE_L   "plug-in-flux-generate-image-loras"
#define PLUG_IN_BINARY "flux"
#define LAST_VALS_KEY  "plug-in-flux-generate" /* both procedures share the last values */

static void query(void);
static void run(const gchar *name, gint nparams, const GimpParam *param, gint *nreturn_vals,
                GimpParam **return_vals);

const GimpPlugInInfo PLUG_IN_INFO = {NULL, NULL, query, run};

static char *plugin_dir; /* where this binary is installed: translations are found from it */

/* ------------------------------------------------------------------------------------- */
/* Registration                                                                          */

static char *locale_dir(void)
{
    if (g_path_is_absolute(LOCALEDIR)) return g_strdup(LOCALEDIR);
    return g_build_filename(plugin_dir, LOCALEDIR, NULL);
}

/* The CLIP and T5 tokenizers installed beside the binary (data/tokenizers), for models that
 * come without them. */
static char *tokenizers_dir(void)
{
    return g_build_filename(plugin_dir, "tokenizers", NULL);
}

#define RENDER_ARGS                                                                                \
    {GIMP_PDB_STRING, "prompt", "What the picture shows (UTF-8)"},                                 \
        {GIMP_PDB_INT32, "width", "Width in pixels (16..4096, floored to a multiple of 16)"},      \
        {GIMP_PDB_INT32, "height", "Height in pixels (16..4096, floored to a multiple of 16)"},    \
        {GIMP_PDB_INT32, "num-steps",                                                              \
         "Denoising steps (1..1000; 4 for schnell, 28 for dev); 0 = the model's default"},         \
        {GIMP_PDB_FLOAT, "guidance", "Guidance scale, dev-type models only (0..100, e.g. 3.5)"},   \
        {GIMP_PDB_INT32, "seed", "Random seed (0..2147483647), or -1 for a random one"},           \
    {                                                                                              \
        GIMP_PDB_STRING, "model",                                                                  \
            "FLUX.1 model: a diffusers folder, or a transformer file (.safetensors, .gguf) with "  \
            "ae.safetensors, clip_l and t5xxl beside it or in ComfyUI's models/ folders; chosen "  \
            "files may follow as PATH;vae=FILE;clip_l=FILE;t5=FILE; empty = the one chosen last "  \
            "in the dialog"                                                                        \
    }

#define LORAS_ARG                                                                                  \
    {                                                                                              \
        GIMP_PDB_STRING, "loras",                                                                  \
            "LoRA files with strengths: \"style.safetensors:0.8;turbo.safetensors:1\" (strength "  \
            "1 when left out; \"\" none)"                                                          \
    }

static void query(void)
{
    static const GimpParamDef layer_args[] = {
        {GIMP_PDB_INT32, "run-mode",
         "The run mode { RUN-INTERACTIVE (0), RUN-NONINTERACTIVE (1), "
         "RUN-WITH-LAST-VALS (2) }"},
        {GIMP_PDB_IMAGE, "image", "Input image (RGB or grayscale)"},
        {GIMP_PDB_DRAWABLE, "drawable", "The new layer goes above this layer (-1: the active one)"},
        RENDER_ARGS};
    static const GimpParamDef layer_rets[] = {{GIMP_PDB_LAYER, "layer", "The new layer"},
                                              {GIMP_PDB_INT32, "seed", "The seed actually used"}};
    static const GimpParamDef image_args[] = {
        {GIMP_PDB_INT32, "run-mode",
         "The run mode { RUN-INTERACTIVE (0), RUN-NONINTERACTIVE (1), "
         "RUN-WITH-LAST-VALS (2) }"},
        RENDER_ARGS};
    static const GimpParamDef layer_args_l[] = {
        {GIMP_PDB_INT32, "run-mode",
         "The run mode { RUN-INTERACTIVE (0), RUN-NONINTERACTIVE (1), "
         "RUN-WITH-LAST-VALS (2) }"},
        {GIMP_PDB_IMAGE, "image", "Input image (RGB or grayscale)"},
        {GIMP_PDB_DRAWABLE, "drawable", "The new layer goes above this layer (-1: the active one)"},
        RENDER_ARGS,
        LORAS_ARG};
    static const GimpParamDef image_args_l[] = {
        {GIMP_PDB_INT32, "run-mode",
         "The run mode { RUN-INTERACTIVE (0), RUN-NONINTERACTIVE (1), "
         "RUN-WITH-LAST-VALS (2) }"},
        RENDER_ARGS,
        LORAS_ARG};
    static const GimpParamDef image_rets[] = {{GIMP_PDB_IMAGE, "image", "The new RGB image"},
                                              {GIMP_PDB_INT32, "seed", "The seed actually used"}};
    const char *help =
        "Renders a picture from a text prompt with a FLUX.1 model (dev- or schnell-type: a "
        "diffusers folder, or a transformer file with its companions as ComfyUI keeps them) on "
        "the CPU. The same prompt, size, steps, guidance and seed give the same pixels as the "
        "flux-generate command. Sizes are floored to multiples of 16. The new layer is named "
        "after the prompt and the seed used. An empty prompt is rendered as asked (the dialog "
        "asks first). Invalid arguments fail with a calling error whose message names the "
        "value.";
    g_autofree char *ldir = locale_dir();
    gimp_plugin_domain_register(GETTEXT_PACKAGE, ldir);

    gimp_install_procedure(PROC_LAYER, N_("Render a picture from a text prompt as a new layer"),
                           help, "gimp-flux authors", "gimp-flux authors", "2025",
                           N_("FLUX _Text to Image..."), "RGB*, GRAY*", GIMP_PLUGIN,
                           G_N_ELEMENTS(layer_args), G_N_ELEMENTS(layer_rets), layer_args,
                           layer_rets);
    gimp_plugin_menu_register(PROC_LAYER, "<Image>/Filters/Render");

    gimp_install_procedure(PROC_IMAGE, N_("Render a picture from a text prompt as a new image"),
                           help, "gimp-flux authors", "gimp-flux authors", "2025",
                           N_("FLUX _Text to Image..."), "", GIMP_PLUGIN, G_N_ELEMENTS(image_args),
                           G_N_ELEMENTS(image_rets), image_args, image_rets);
    gimp_plugin_menu_register(PROC_IMAGE, "<Image>/File/Create");

    gimp_install_procedure(
        PROC_LAYER_L, "Render a picture from a text prompt with LoRAs as a new layer", help,
        "gimp-flux authors", "gimp-flux authors", "2026", NULL, "RGB*, GRAY*", GIMP_PLUGIN,
        G_N_ELEMENTS(layer_args_l), G_N_ELEMENTS(layer_rets), layer_args_l, layer_rets);
    gimp_install_procedure(
        PROC_IMAGE_L, "Render a picture from a text prompt with LoRAs as a new image", help,
        "gimp-flux authors", "gimp-flux authors", "2026", NULL, "", GIMP_PLUGIN,
        G_N_ELEMENTS(image_args_l), G_N_ELEMENTS(image_rets), image_args_l, image_rets);
    flux_edit_entry_query();
}

/* ------------------------------------------------------------------------------------- */
/* Remembered values                                                                     */

/* Last values of this session, else defaults; the model folder from the settings file
 * (it survives restarts), and the model's default steps when nothing was remembered. */
static void load_last_values(FluxRenderParams *p, const FluxSettings *s)
{
    flux_render_params_init(p);
    gboolean have_last = gimp_get_data_size(LAST_VALS_KEY) == sizeof *p;
    if (have_last) gimp_get_data(LAST_VALS_KEY, p);
    p->prompt[sizeof p->prompt - 1] = p->model[sizeof p->model - 1] = '\0';
    if (s->model) flux_render_params_set_model(p, s->model);
    int steps;
    if (!have_last && flux_worker_check_model(p->model, NULL, &steps, NULL)) p->steps = steps;
}

/* ------------------------------------------------------------------------------------- */
/* Parameters per run mode                                                               */

typedef struct {
    GimpRunMode mode;
    gboolean new_image; /* PROC_IMAGE, PROC_IMAGE_L */
    gboolean loras_arg; /* PROC_*_L: a trailing LoRA list argument */
    gint32 image, drawable;
    FluxRenderParams params;
    FluxSettings settings;
    FluxModelFound found; /* what the check before the run found; the run loads it */
} Request;

static gboolean fail(GError **error, int code, char *msg)
{
    g_set_error_literal(error, FLUX_ERROR, code, msg);
    g_free(msg);
    return FALSE;
}

/* Arguments of a NONINTERACTIVE call; the layer procedure's come after image, drawable. */
static gboolean params_from_args(Request *r, gint nparams, const GimpParam *a, GError **error)
{
    int first = r->new_image ? 1 : 3, want = first + 7 + (r->loras_arg ? 1 : 0);
    if (nparams != want)
        return fail(
            error, FLUX_ERROR_ARGUMENT,
            g_strdup_printf(_("Wrong number of arguments: %d given, %d expected."), nparams, want));
    FluxRenderParams *p = &r->params;
    flux_render_params_init(p);
    const char *prompt = a[first].data.d_string, *model = a[first + 6].data.d_string;
    if (prompt && strlen(prompt) >= sizeof p->prompt)
        return fail(error, FLUX_ERROR_ARGUMENT,
                    g_strdup_printf(_("The prompt is too long (%zu bytes, at most %zu)."),
                                    strlen(prompt), sizeof p->prompt - 1));
    flux_render_params_set_prompt(p, prompt);
    p->width = a[first + 1].data.d_int32;
    p->height = a[first + 2].data.d_int32;
    p->steps = a[first + 3].data.d_int32;
    p->guidance = a[first + 4].data.d_float;
    p->seed = a[first + 5].data.d_int32;
    p->random_seed = p->seed == -1;
    if (model && strlen(model) >= sizeof p->model)
        return fail(error, FLUX_ERROR_ARGUMENT, g_strdup(_("The model's path is too long.")));
    flux_render_params_set_model(p, model && model[0] ? model : r->settings.model);
    if (r->loras_arg && !flux_render_params_set_loras(p, a[first + 7].data.d_string))
        return fail(error, FLUX_ERROR_ARGUMENT, g_strdup(_("The LoRA list is too long.")));
    return TRUE;
}

/* FALSE with no error: the user cancelled. */
static gboolean params_from_dialog(Request *r, GError **error)
{
    FluxRenderParams *p = &r->params;
    load_last_values(p, &r->settings);
    if (!r->new_image) {
        /* the layer fills the selection, else the image, unless the artist asks otherwise */
        gboolean sel;
        gint x1, y1, x2, y2;
        if (!gimp_selection_bounds(r->image, &sel, &x1, &y1, &x2, &y2) || !sel) {
            x1 = y1 = 0;
            x2 = gimp_image_width(r->image), y2 = gimp_image_height(r->image);
        }
        p->width = CLAMP(x2 - x1, FLUX_SIZE_STEP, FLUX_MAX_SIZE);
        p->height = CLAMP(y2 - y1, FLUX_SIZE_STEP, FLUX_MAX_SIZE);
    }
    if (!flux_plugin_ui_available())
        return fail(error, FLUX_ERROR_ARGUMENT,
                    g_strdup(_("FLUX Text to Image needs a display for its dialog; call it with "
                               "RUN-NONINTERACTIVE or RUN-WITH-LAST-VALS instead.")));
    gimp_ui_init(PLUG_IN_BINARY, FALSE);
    /* the first time: this computer's rate for the estimate, before any run has been timed */
    if (flux_estimate_calibrate(&r->settings))
        flux_plugin_remember_model(r->settings.model, &r->settings);
    FluxDialogOptions opt = {.title = _("FLUX Text to Image"),
                             .role = PLUG_IN_BINARY,
                             .help_id = r->new_image ? PROC_IMAGE : PROC_LAYER,
                             .settings = &r->settings};
    if (!flux_dialog_run(p, &opt)) return FALSE;
    flux_plugin_remember_model(p->model, &r->settings);
    return TRUE;
}

/* Image, drawable and mode checks for the layer procedure. */
static gboolean check_target(const Request *r, GError **error)
{
    if (r->new_image) return TRUE;
    if (!gimp_image_is_valid(r->image))
        return fail(error, FLUX_ERROR_ARGUMENT,
                    g_strdup_printf(_("Image %d does not exist."), r->image));
    if (r->drawable != -1 &&
        (!gimp_item_is_valid(r->drawable) || gimp_item_get_image(r->drawable) != r->image))
        return fail(
            error, FLUX_ERROR_ARGUMENT,
            g_strdup_printf(_("Drawable %d does not belong to image %d."), r->drawable, r->image));
    if (gimp_image_base_type(r->image) == GIMP_INDEXED)
        return fail(error, FLUX_ERROR_ARGUMENT,
                    g_strdup(_("FLUX Text to Image works on RGB and grayscale images. Convert "
                               "this indexed image with Image ▸ Mode ▸ RGB first.")));
    return TRUE;
}

/* ------------------------------------------------------------------------------------- */
/* Output                                                                                */

/* The picture as a layer above `drawable` (or the active layer), at the selection's corner;
 * inserting and moving it is one undo step. */
static gint32 add_layer(const Request *r, const FluxWorkerResult *res, gint32 seed, GError **error)
{
    gint32 image = r->image;
    g_autofree char *name = flux_render_layer_name_seed(r->params.prompt, seed);
    GimpImageType type =
        gimp_image_base_type(image) == GIMP_GRAY ? GIMP_GRAY_IMAGE : GIMP_RGB_IMAGE;
    gint32 layer =
        gimp_layer_new(image, name, res->width, res->height, type, 100.0, GIMP_LAYER_MODE_NORMAL);
    if (layer == -1) {
        fail(error, FLUX_ERROR_ARGUMENT, g_strdup(_("GIMP could not create the layer.")));
        return -1;
    }
    flux_plugin_write_pixels(layer, res);

    gint32 parent = 0;
    int position = -1;
    if (r->drawable != -1 && gimp_item_is_layer(r->drawable)) {
        parent = gimp_item_get_parent(r->drawable);
        position = gimp_image_get_item_position(image, r->drawable);
    }
    gboolean sel;
    gint x1 = 0, y1 = 0, x2, y2;
    if (!gimp_selection_bounds(image, &sel, &x1, &y1, &x2, &y2) || !sel) x1 = y1 = 0;

    gimp_image_undo_group_start(image);
    gboolean ok = gimp_image_insert_layer(image, layer, parent, position) &&
                  gimp_layer_set_offsets(layer, x1, y1);
    gimp_image_undo_group_end(image);
    if (!ok) {
        fail(error, FLUX_ERROR_ARGUMENT, g_strdup(_("GIMP could not insert the layer.")));
        return -1;
    }
    return layer;
}

/* A new RGB 8-bit image holding the picture as its only layer, with a clean undo history. */
static gint32 new_image(const Request *r, const FluxWorkerResult *res, gint32 seed)
{
    gint32 image = gimp_image_new(res->width, res->height, GIMP_RGB);
    gimp_image_undo_disable(image);
    g_autofree char *name = flux_render_layer_name_seed(r->params.prompt, seed);
    gint32 layer = gimp_layer_new(image, name, res->width, res->height, GIMP_RGB_IMAGE, 100.0,
                                  GIMP_LAYER_MODE_NORMAL);
    flux_plugin_write_pixels(layer, res);
    gimp_image_insert_layer(image, layer, 0, 0);
    gimp_image_undo_enable(image);
    if (r->mode == GIMP_RUN_INTERACTIVE) gimp_display_new(image);
    return image;
}

/* ------------------------------------------------------------------------------------- */
/* run()                                                                                 */

static gboolean get_params(Request *r, gint nparams, const GimpParam *param, GError **error)
{
    switch (r->mode) {
    case GIMP_RUN_INTERACTIVE:
        if (!check_target(r, error)) return FALSE;
        return params_from_dialog(r, error);
    case GIMP_RUN_NONINTERACTIVE:
        if (!params_from_args(r, nparams, param, error)) return FALSE;
        break;
    case GIMP_RUN_WITH_LAST_VALS:
        load_last_values(&r->params, &r->settings);
        break;
    }
    return check_target(r, error);
}

/* Renders and delivers; returns the new layer or image, -1 with `error` set. */
static gint32 render(Request *r, gint32 seed, GError **error)
{
    static const FluxProgressSink sink = {gimp_progress_init, gimp_progress_set_text,
                                          gimp_progress_update};
    FluxWorkerCallbacks cb;
    flux_progress_callbacks(&cb, &sink);
    cb.found = &r->found;
    FluxWorkerResult res;
    flux_worker_set_precision(r->settings.precision); /* as the dialog last set it */
    gboolean ok = r->mode == GIMP_RUN_INTERACTIVE
                      ? flux_watch_render(&r->params, NULL, seed, &r->found,
                                          _("FLUX Text to Image — Preview"), &res, error)
                      : flux_worker_run(&r->params, seed, &cb, &res, error);
    if (!ok) {
        gimp_progress_end();
        return -1;
    }
    gint32 id = r->new_image ? new_image(r, &res, seed) : add_layer(r, &res, seed, error);
    gimp_progress_end();
    /* the steps' rate on this computer, for the next estimate (long enough runs only) */
    if (id != -1 && flux_estimate_take_run(&r->settings, res.steps_flops, res.steps_seconds))
        flux_plugin_remember_model(r->settings.model, &r->settings);
    g_free(res.rgb);
    return id;
}

static void run(const gchar *name, gint nparams, const GimpParam *param, gint *nreturn_vals,
                GimpParam **return_vals)
{
    static GimpParam values[3];
    static char *message;
    *return_vals = values;
    *nreturn_vals = 1;
    values[0].type = GIMP_PDB_STATUS;

    g_autofree char *ldir = locale_dir();
    flux_intl_init(ldir);
    g_autofree char *tdir = tokenizers_dir();
    flux_worker_set_tokenizers(tdir);
    if (!strcmp(name, PROC_EDIT)) {
        flux_edit_entry_run(nparams, param, values, nreturn_vals, &message);
        return;
    }

    Request r = {.mode = param[0].data.d_int32,
                 .new_image = !strcmp(name, PROC_IMAGE) || !strcmp(name, PROC_IMAGE_L),
                 .loras_arg = !strcmp(name, PROC_LAYER_L) || !strcmp(name, PROC_IMAGE_L)};
    r.image = !r.new_image && nparams > 1 ? param[1].data.d_image : -1;
    r.drawable = !r.new_image && nparams > 2 ? param[2].data.d_drawable : -1;
    g_autofree char *spath = flux_plugin_settings_path();
    flux_settings_load(spath, &r.settings);

    GError *err = NULL;
    GimpPDBStatusType status = GIMP_PDB_SUCCESS;
    gint32 id = -1, seed = 0;
    if (!get_params(&r, nparams, param, &err)) {
        status = err ? GIMP_PDB_CALLING_ERROR : GIMP_PDB_CANCEL;
        if (err && r.mode != GIMP_RUN_NONINTERACTIVE) status = GIMP_PDB_EXECUTION_ERROR;
    } else if (!flux_worker_prepare(&r.params, &r.found, &err)) {
        status =
            r.mode == GIMP_RUN_NONINTERACTIVE ? GIMP_PDB_CALLING_ERROR : GIMP_PDB_EXECUTION_ERROR;
    } else {
        seed = flux_render_params_pick_seed(&r.params);
        id = render(&r, seed, &err);
        if (id == -1) status = GIMP_PDB_EXECUTION_ERROR;
        if (g_error_matches(err, FLUX_ERROR, FLUX_ERROR_CANCELLED)) {
            status = GIMP_PDB_CANCEL; /* Stop in the preview window: nothing was touched */
            g_clear_error(&err);
        }
    }

    values[0].data.d_status = status;
    if (status == GIMP_PDB_SUCCESS) {
        r.params.seed = seed;
        gimp_set_data(LAST_VALS_KEY, &r.params, sizeof r.params);
        *nreturn_vals = 3;
        values[1].type = r.new_image ? GIMP_PDB_IMAGE : GIMP_PDB_LAYER;
        if (r.new_image)
            values[1].data.d_image = id;
        else
            values[1].data.d_layer = id;
        values[2].type = GIMP_PDB_INT32;
        values[2].data.d_int32 = seed;
        if (r.mode != GIMP_RUN_NONINTERACTIVE) gimp_displays_flush();
    } else if (err) {
        g_free(message);
        message = g_strdup(err->message);
        *nreturn_vals = 2;
        values[1].type = GIMP_PDB_STRING;
        values[1].data.d_string = message;
        g_error_free(err);
    }
    flux_settings_clear(&r.settings);
    flux_model_found_clear(&r.found);
}

int main(int argc, char *argv[])
{
    plugin_dir = g_path_get_dirname(argv[0]);
    return gimp_main(&PLUG_IN_INFO, argc, argv);
}
