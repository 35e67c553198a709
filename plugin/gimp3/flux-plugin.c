/* flux-plugin.c — the GIMP 3 PDB entry of FLUX Text to Image (a GimpPlugIn subclass):
 *
 *   plug-in-flux-generate        Filters ▸ Render ▸ FLUX Text to Image...  → a new layer
 *   plug-in-flux-generate-image  File ▸ Create ▸ FLUX Text to Image...     → a new image
 *   plug-in-flux-edit            Filters ▸ Render ▸ FLUX Repaint...        → a new layer
 *                                (flux-edit-entry3.c, as the 2.10 entry's flux-edit-entry.c)
 *   plug-in-flux-generate-loras, plug-in-flux-generate-image-loras
 *                                the same with a trailing LoRA list argument ("a.safetensors:0.8;
 *                                b.safetensors"), as in the 2.10 entry, so that one Script-Fu
 *                                batch runs in both; the first two keep the list as an aux
 *                                argument (the dialog's, remembered with the last values)
 *
 * The arguments have the GIMP 2.10 entry's names and order (prompt, width, height, num-steps,
 * guidance, seed, model) and both return the new layer/image and the seed used. GIMP 3 keeps
 * the last values itself (GimpProcedureConfig, saved after an interactive run that succeeded);
 * the model folder also goes into flux-plugin.ini so that "" means "the one chosen last".
 * run() = config → FluxRenderParams → flux_worker_run with GIMP progress → the picture. The
 * dialog is ui/gimp3/, the render frontend/; nothing touches the image before the picture is
 * complete, so an error, or GIMP killing the process on Cancel, leaves it as it was.
 * Interactive runs render on a thread while the preview window (ui/gimp3/flux-preview-window3.c)
 * shows the picture forming (plugin/common/flux-watch.c, shared with the GIMP 2.10 entry); its
 * Stop ends the run with GIMP_PDB_CANCEL and the image untouched.
 */
#include "flux-dialog3.h"
#include "flux-edit-entry3.h"
#include "flux-estimate.h"
#include "flux-gimp3-common.h"
#include "flux-intl.h"
#include "flux-params.h"
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

typedef struct {
    GimpPlugIn parent_instance;
} FluxPlugIn;
typedef struct {
    GimpPlugInClass parent_class;
} FluxPlugInClass;

#define FLUX_TYPE_PLUG_IN (flux_plug_in_get_type())
GType flux_plug_in_get_type(void) G_GNUC_CONST;
G_DEFINE_TYPE(FluxPlugIn, flux_plug_in, GIMP_TYPE_PLUG_IN)
GIMP_MAIN(FLUX_TYPE_PLUG_IN)

/* ------------------------------------------------------------------------------------- */
/* Registration                                                                          */

static GimpValueArray *run_layer(GimpProcedure *procedure, GimpRunMode run_mode, GimpImage *image,
                                 GimpDrawable **drawables, GimpProcedureConfig *config,
                                 gpointer run_data);
static GimpValueArray *run_image(GimpProcedure *procedure, GimpProcedureConfig *config,
                                 gpointer run_data);

static GList *query_procedures(GimpPlugIn *plug_in)
{
    (void)plug_in;
    GList *l = g_list_append(g_list_append(NULL, g_strdup(PROC_LAYER)), g_strdup(PROC_IMAGE));
    l = g_list_append(g_list_append(l, g_strdup(PROC_LAYER_L)), g_strdup(PROC_IMAGE_L));
    return g_list_append(l, g_strdup(PROC_EDIT)); /* flux-edit-entry3.c */
}

/* One translation domain for the whole plug-in: the frontend/ messages are compiled with
 * GETTEXT_PACKAGE, so GIMP binds that domain to locale/ beside this binary. */
static gboolean set_i18n(GimpPlugIn *plug_in, const gchar *name, gchar **gettext_domain,
                         gchar **catalog_dir)
{
    (void)plug_in;
    (void)name;
    *gettext_domain = g_strdup(GETTEXT_PACKAGE);
    *catalog_dir = g_strdup("locale");
    return TRUE;
}

/* The render arguments, in the 2.10 order; ranges GIMP itself checks (its calling error names
 * the value and the argument), the rest is checked by flux_render_params_validate. */
static void add_render_arguments(GimpProcedure *p)
{
    gimp_procedure_add_string_argument(p, "prompt", _("_Prompt"), _("What the picture shows"), "",
                                       G_PARAM_READWRITE);
    gimp_procedure_add_int_argument(p, "width", _("_Width"),
                                    _("Width in pixels (floored to a multiple of 16)"),
                                    FLUX_SIZE_STEP, FLUX_MAX_SIZE, 1024, G_PARAM_READWRITE);
    gimp_procedure_add_int_argument(p, "height", _("Hei_ght"),
                                    _("Height in pixels (floored to a multiple of 16)"),
                                    FLUX_SIZE_STEP, FLUX_MAX_SIZE, 1024, G_PARAM_READWRITE);
    gimp_procedure_add_int_argument(
        p, "num-steps", _("S_teps"),
        _("Denoising steps (4 for schnell, 28 for dev); 0 = the model's default"), 0,
        FLUX_MAX_STEPS, 28, G_PARAM_READWRITE);
    gimp_procedure_add_double_argument(p, "guidance", _("G_uidance"),
                                       _("Guidance scale, dev-type models only"), 0.0,
                                       FLUX_GUIDANCE_MAX, 3.5, G_PARAM_READWRITE);
    gimp_procedure_add_int_argument(p, "seed", _("S_eed"), _("Random seed, or -1 for a random one"),
                                    -1, FLUX_SEED_MAX, -1, G_PARAM_READWRITE);
    gimp_procedure_add_string_argument(
        p, "model", _("_Model folder"),
        _("FLUX.1 model: a diffusers folder, or a transformer file with its companions as "
          "ComfyUI keeps them; files chosen by hand may follow as "
          "PATH;vae=FILE;clip_l=FILE;t5=FILE; empty = the one chosen last in the dialog"),
        "", G_PARAM_READWRITE);
    /* not in the PDB signature: the seed the last random run drew, shown by the dialog */
    gimp_procedure_add_int_aux_argument(p, "last-seed", _("Last seed"),
                                        _("The seed of the last run"), 0, FLUX_SEED_MAX, 0,
                                        G_PARAM_READWRITE);
}

static GimpProcedure *create_procedure(GimpPlugIn *plug_in, const gchar *name)
{
    const char *help =
        "Renders a picture from a text prompt with a FLUX.1 model (dev- or schnell-type, in the "
        "diffusers folder layout) on the CPU. The same prompt, size, steps, guidance and seed "
        "give the same pixels as the flux-generate command. Sizes are floored to multiples of "
        "16. Invalid arguments fail with a calling error whose message names the value.";
    if (!strcmp(name, PROC_EDIT)) return flux_edit_entry3_create(plug_in);
    GimpProcedure *p;
    gboolean with_loras = !strcmp(name, PROC_LAYER_L) || !strcmp(name, PROC_IMAGE_L);
    if (!strcmp(name, PROC_LAYER_L)) {
        p = gimp_image_procedure_new(plug_in, name, GIMP_PDB_PROC_TYPE_PLUGIN, run_layer, NULL,
                                     NULL);
        gimp_procedure_set_image_types(p, "RGB*, GRAY*");
        gimp_procedure_set_documentation(
            p, "Render a picture from a text prompt with LoRAs as a new layer", help, name);
    } else if (!strcmp(name, PROC_IMAGE_L)) {
        p = gimp_procedure_new(plug_in, name, GIMP_PDB_PROC_TYPE_PLUGIN, run_image, NULL, NULL);
        gimp_procedure_set_documentation(
            p, "Render a picture from a text prompt with LoRAs as a new image", help, name);
        gimp_procedure_add_enum_argument(p, "run-mode", "Run mode", "The run mode",
                                         GIMP_TYPE_RUN_MODE, GIMP_RUN_INTERACTIVE,
                                         G_PARAM_READWRITE);
    } else if (!strcmp(name, PROC_LAYER)) {
        p = gimp_image_procedure_new(plug_in, name, GIMP_PDB_PROC_TYPE_PLUGIN, run_layer, NULL,
                                     NULL);
        gimp_procedure_set_image_types(p, "RGB*, GRAY*");
        gimp_procedure_set_sensitivity_mask(p, GIMP_PROCEDURE_SENSITIVE_DRAWABLE |
                                                   GIMP_PROCEDURE_SENSITIVE_DRAWABLES |
                                                   GIMP_PROCEDURE_SENSITIVE_NO_DRAWABLES);
        gimp_procedure_set_menu_label(p, _("FLUX _Text to Image..."));
        gimp_procedure_add_menu_path(p, "<Image>/Filters/Render");
        gimp_procedure_set_documentation(p, _("Render a picture from a text prompt as a new layer"),
                                         help, name);
    } else if (!strcmp(name, PROC_IMAGE)) {
        p = gimp_procedure_new(plug_in, name, GIMP_PDB_PROC_TYPE_PLUGIN, run_image, NULL, NULL);
        gimp_procedure_set_menu_label(p, _("FLUX _Text to Image..."));
        gimp_procedure_add_menu_path(p, "<Image>/File/Create");
        gimp_procedure_set_documentation(p, _("Render a picture from a text prompt as a new image"),
                                         help, name);
        gimp_procedure_add_enum_argument(p, "run-mode", "Run mode", "The run mode",
                                         GIMP_TYPE_RUN_MODE, GIMP_RUN_INTERACTIVE,
                                         G_PARAM_READWRITE);
    } else {
        return NULL;
    }
    gimp_procedure_set_attribution(p, "gimp-flux authors", "gimp-flux authors", "2025");
    add_render_arguments(p);
    const char *loras_blurb = "LoRA files with strengths: \"style.safetensors:0.8;"
                              "turbo.safetensors:1\" (strength 1 when left out; \"\" none)";
    if (with_loras)
        gimp_procedure_add_string_argument(p, "loras", "LoRAs", loras_blurb, "", G_PARAM_READWRITE);
    else /* the dialog's list, kept with the last values */
        gimp_procedure_add_string_aux_argument(p, "loras", "LoRAs", loras_blurb, "",
                                               G_PARAM_READWRITE);
    if (!strcmp(name, PROC_LAYER) || !strcmp(name, PROC_LAYER_L))
        gimp_procedure_add_layer_return_value(p, "layer", "Layer", "The new layer", FALSE,
                                              G_PARAM_READWRITE);
    else
        gimp_procedure_add_image_return_value(p, "image", "Image", "The new RGB image", FALSE,
                                              G_PARAM_READWRITE);
    gimp_procedure_add_int_return_value(p, "seed", "Seed", "The seed actually used", 0,
                                        FLUX_SEED_MAX, 0, G_PARAM_READWRITE);
    return p;
}

static void flux_plug_in_class_init(FluxPlugInClass *klass)
{
    GimpPlugInClass *c = GIMP_PLUG_IN_CLASS(klass);
    c->query_procedures = query_procedures;
    c->create_procedure = create_procedure;
    c->set_i18n = set_i18n;
}

static void flux_plug_in_init(FluxPlugIn *self)
{
    (void)self;
}

/* ------------------------------------------------------------------------------------- */
/* Parameters                                                                            */

typedef struct {
    GimpProcedure *procedure;
    GimpProcedureConfig *config;
    GimpRunMode mode;
    GimpImage *image;       /* NULL for the image procedure */
    GimpDrawable *drawable; /* the new layer goes above it; may be NULL */
    FluxRenderParams params;
    FluxSettings settings;
    char *settings_path;
    FluxModelFound found; /* what the check before the run found; the run loads it */
} Request;

/* The config's values (arguments, or last values merged in by libgimp) → r->params. */
static gboolean params_from_config(Request *r, GError **error)
{
    g_autofree char *prompt = NULL, *model = NULL, *loras = NULL;
    int seed;
    FluxRenderParams *p = &r->params;
    flux_render_params_init(p);
    g_object_get(r->config, "prompt", &prompt, "width", &p->width, "height", &p->height,
                 "num-steps", &p->steps, "guidance", &p->guidance, "seed", &seed, "model", &model,
                 "loras", &loras, NULL);
    if (!flux_render_params_set_loras(p, loras))
        return flux_gimp3_fail(error, g_strdup(_("The LoRA list is too long.")));
    if (prompt && strlen(prompt) >= sizeof p->prompt)
        return flux_gimp3_fail(
            error, g_strdup_printf(_("The prompt is too long (%zu bytes, at most %zu)."),
                                   strlen(prompt), sizeof p->prompt - 1));
    if (model && strlen(model) >= sizeof p->model)
        return flux_gimp3_fail(error, g_strdup(_("The model's path is too long.")));
    flux_render_params_set_prompt(p, prompt);
    flux_render_params_set_model(p, model && model[0] ? model : r->settings.model);
    p->seed = seed;
    p->random_seed = seed == -1;
    return TRUE;
}

/* FALSE with no error: the user cancelled. The dialog edits the config in place. */
static gboolean run_dialog(Request *r, GError **error)
{
    if (!flux_gimp3_ui_available())
        return flux_gimp3_fail(
            error, g_strdup(_("FLUX Text to Image needs a display for its dialog; call it "
                              "with RUN-NONINTERACTIVE or RUN-WITH-LAST-VALS instead.")));
    gimp_ui_init(PLUG_IN_BINARY);
    /* the model chosen last; the first time, this computer's rate for the estimate */
    flux_gimp3_dialog_prepare(r->config, &r->settings, r->settings_path);
    if (r->image) {
        /* the layer fills the selection, else the image, unless the artist asks otherwise */
        gboolean sel;
        gint x1, y1, x2, y2;
        if (!gimp_selection_bounds(r->image, &sel, &x1, &y1, &x2, &y2) || !sel) {
            x1 = y1 = 0;
            x2 = gimp_image_get_width(r->image), y2 = gimp_image_get_height(r->image);
        }
        g_object_set(r->config, "width", CLAMP(x2 - x1, FLUX_SIZE_STEP, FLUX_MAX_SIZE), "height",
                     CLAMP(y2 - y1, FLUX_SIZE_STEP, FLUX_MAX_SIZE), NULL);
    }
    FluxDialog3Options opt = {.title = _("FLUX Text to Image"), .settings = &r->settings};
    if (!flux_dialog3_run(r->procedure, r->config, &opt)) return FALSE;
    flux_gimp3_dialog_done(r->config, &r->settings, r->settings_path);
    return TRUE;
}

static gboolean check_image(const Request *r, GError **error)
{
    if (r->image && gimp_image_get_base_type(r->image) == GIMP_INDEXED)
        return flux_gimp3_fail(
            error, g_strdup(_("FLUX Text to Image works on RGB and grayscale images. "
                              "Convert this indexed image with Image ▸ Mode ▸ RGB first.")));
    return TRUE;
}

/* ------------------------------------------------------------------------------------- */
/* Output                                                                                */

/* The picture as a layer above the drawable (or the selected layer), at the selection's corner;
 * it is filled before it is inserted, and inserting and moving it is one undo step. */
static GimpLayer *add_layer(const Request *r, const FluxWorkerResult *res, gint32 seed,
                            GError **error)
{
    GimpImage *image = r->image;
    g_autofree char *name = flux_render_layer_name_seed(r->params.prompt, seed);
    GimpImageType type =
        gimp_image_get_base_type(image) == GIMP_GRAY ? GIMP_GRAY_IMAGE : GIMP_RGB_IMAGE;
    GimpLayer *layer =
        gimp_layer_new(image, name, res->width, res->height, type, 100.0, GIMP_LAYER_MODE_NORMAL);
    if (!layer) {
        flux_gimp3_fail(error, g_strdup(_("GIMP could not create the layer.")));
        return NULL;
    }
    flux_gimp3_write_pixels(GIMP_DRAWABLE(layer), res);

    GimpLayer *parent = NULL;
    int position = -1;
    if (r->drawable && gimp_item_is_layer(GIMP_ITEM(r->drawable))) {
        parent = GIMP_LAYER(gimp_item_get_parent(GIMP_ITEM(r->drawable)));
        position = gimp_image_get_item_position(image, GIMP_ITEM(r->drawable));
    }
    gboolean sel;
    gint x1 = 0, y1 = 0, x2, y2;
    if (!gimp_selection_bounds(image, &sel, &x1, &y1, &x2, &y2) || !sel) x1 = y1 = 0;

    gimp_image_undo_group_start(image);
    gboolean ok = gimp_image_insert_layer(image, layer, parent, position) &&
                  gimp_layer_set_offsets(layer, x1, y1);
    gimp_image_undo_group_end(image);
    if (!ok) {
        flux_gimp3_fail(error, g_strdup(_("GIMP could not insert the layer.")));
        return NULL;
    }
    return layer;
}

/* A new RGB 8-bit image holding the picture as its only layer, with a clean undo history. */
static GimpImage *new_image(const Request *r, const FluxWorkerResult *res, gint32 seed)
{
    GimpImage *image = gimp_image_new(res->width, res->height, GIMP_RGB);
    gimp_image_undo_disable(image);
    g_autofree char *name = flux_render_layer_name_seed(r->params.prompt, seed);
    GimpLayer *layer = gimp_layer_new(image, name, res->width, res->height, GIMP_RGB_IMAGE, 100.0,
                                      GIMP_LAYER_MODE_NORMAL);
    flux_gimp3_write_pixels(GIMP_DRAWABLE(layer), res);
    gimp_image_insert_layer(image, layer, NULL, 0);
    gimp_image_undo_enable(image);
    if (r->mode == GIMP_RUN_INTERACTIVE) gimp_display_new(image);
    return image;
}

/* ------------------------------------------------------------------------------------- */
/* run()                                                                                 */

/* Renders and delivers; returns the new layer or image, NULL with `error` set. */
static GObject *render(Request *r, gint32 seed, GError **error)
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
        return NULL;
    }
    GObject *out =
        r->image ? G_OBJECT(add_layer(r, &res, seed, error)) : G_OBJECT(new_image(r, &res, seed));
    gimp_progress_end();
    /* the steps' rate on this computer, for the next estimate (long enough runs only) */
    if (out && flux_estimate_take_run(&r->settings, res.steps_flops, res.steps_seconds))
        flux_settings_save(r->settings_path, &r->settings, NULL);
    g_free(res.rgb);
    return out;
}

static GimpValueArray *run(Request *r)
{
    flux_gimp3_use_installed_tokenizers();
    r->settings_path = flux_gimp3_settings_path();
    flux_settings_load(r->settings_path, &r->settings);

    GError *err = NULL;
    GimpPDBStatusType status = GIMP_PDB_SUCCESS;
    gboolean args = r->mode == GIMP_RUN_NONINTERACTIVE;
    GObject *out = NULL;
    gint32 seed = 0;
    if (!check_image(r, &err)) {
        status = args ? GIMP_PDB_CALLING_ERROR : GIMP_PDB_EXECUTION_ERROR;
    } else if (r->mode == GIMP_RUN_INTERACTIVE && !run_dialog(r, &err)) {
        status = err ? GIMP_PDB_EXECUTION_ERROR : GIMP_PDB_CANCEL;
    } else if (!params_from_config(r, &err) || !flux_worker_prepare(&r->params, &r->found, &err)) {
        status = args ? GIMP_PDB_CALLING_ERROR : GIMP_PDB_EXECUTION_ERROR;
    } else {
        seed = flux_render_params_pick_seed(&r->params);
        out = render(r, seed, &err);
        if (!out) status = GIMP_PDB_EXECUTION_ERROR;
        if (g_error_matches(err, FLUX_ERROR, FLUX_ERROR_CANCELLED)) {
            status = GIMP_PDB_CANCEL; /* Stop in the preview window: nothing was touched */
            g_clear_error(&err);
        }
    }
    flux_settings_clear(&r->settings);
    g_free(r->settings_path);
    flux_model_found_clear(&r->found);

    if (status != GIMP_PDB_SUCCESS) {
        GimpValueArray *ret = gimp_procedure_new_return_values(r->procedure, status, err);
        return ret; /* takes `err` */
    }
    g_object_set(r->config, "last-seed", seed, NULL); /* saved with the last values */
    GimpValueArray *ret = gimp_procedure_new_return_values(r->procedure, status, NULL);
    if (r->image)
        GIMP_VALUES_SET_LAYER(ret, 1, GIMP_LAYER(out));
    else
        GIMP_VALUES_SET_IMAGE(ret, 1, GIMP_IMAGE(out));
    GIMP_VALUES_SET_INT(ret, 2, seed);
    return ret;
}

static GimpValueArray *run_layer(GimpProcedure *procedure, GimpRunMode run_mode, GimpImage *image,
                                 GimpDrawable **drawables, GimpProcedureConfig *config,
                                 gpointer run_data)
{
    (void)run_data;
    Request r = {.procedure = procedure,
                 .config = config,
                 .mode = run_mode,
                 .image = image,
                 .drawable = drawables && drawables[0] && !drawables[1] ? drawables[0] : NULL};
    return run(&r);
}

static GimpValueArray *run_image(GimpProcedure *procedure, GimpProcedureConfig *config,
                                 gpointer run_data)
{
    (void)run_data;
    GimpRunMode mode;
    g_object_get(config, "run-mode", &mode, NULL);
    Request r = {.procedure = procedure, .config = config, .mode = mode};
    return run(&r);
}
