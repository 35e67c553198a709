/* flux-edit-entry3.c — the GIMP 3 entry of FLUX working inside a picture, as the 2.10 entry's
 * plugin/gimp2/flux-edit-entry.c (same name, arguments, behaviour and return values):
 *
 *   plug-in-flux-edit   Filters ▸ Render ▸ FLUX Repaint...   → a new layer, and the seed used
 *
 *   with a selection     "Repaint the selection": the layer's pixels under the selection's box
 *                        plus context (frontend/flux-edit.c: flux_edit_region), the selection
 *                        inside the box as the mask (≥ 50 % selected = repaint); the result is a
 *                        new layer over the box with a layer mask from the selection, so a
 *                        feathered selection gives soft edges. A Fill model is used when the
 *                        model is one; any FLUX.1 model inpaints otherwise.
 *   without a selection  "Start from the current layer": img2img of the layer (its size floored
 *                        to 16) at `strength`; the result is a new layer at the layer's offsets.
 *
 * Arguments (Script-Fu v3 names): run-mode, image, drawables (the layer to work from: the
 * first; none: the selected layer), prompt, num-steps, guidance, seed, model, strength, size
 * (the smallest side of the region worked at around a selection, 16..4096; 0 = 1024). GIMP 3
 * keeps the last values (GimpProcedureConfig). Nothing touches the image before the picture is
 * complete, so an error, Stop in the preview window or GIMP killing the process on Cancel
 * leaves it as it was; inserting the layer and its mask is one undo step.
 */
#include "flux-edit-entry3.h"

#include "flux-dialog3.h"
#include "flux-edit.h"
#include "flux-gimp3-common.h"
#include "flux-intl.h"
#include "flux-params.h"
#include "flux-pixels.h"
#include "flux-progress.h"
#include "flux-settings.h"
#include "flux-watch.h"
#include "flux-worker.h"
#include "flux.h"

#include <libgimp/gimpui.h>
#include <string.h>

static GimpValueArray *run_edit(GimpProcedure *procedure, GimpRunMode run_mode, GimpImage *image,
                                GimpDrawable **drawables, GimpProcedureConfig *config,
                                gpointer run_data);

GimpProcedure *flux_edit_entry3_create(GimpPlugIn *plug_in)
{
    GimpProcedure *p = gimp_image_procedure_new(plug_in, PROC_EDIT, GIMP_PDB_PROC_TYPE_PLUGIN,
                                                run_edit, NULL, NULL);
    gimp_procedure_set_image_types(p, "RGB*, GRAY*");
    gimp_procedure_set_sensitivity_mask(p, GIMP_PROCEDURE_SENSITIVE_DRAWABLE |
                                               GIMP_PROCEDURE_SENSITIVE_NO_DRAWABLES);
    gimp_procedure_set_menu_label(p, _("FLUX _Repaint..."));
    gimp_procedure_add_menu_path(p, "<Image>/Filters/Render");
    gimp_procedure_set_documentation(
        p, _("Repaint the selection, or rework the current layer, with FLUX"), FLUX_EDIT_HELP,
        PROC_EDIT);
    gimp_procedure_set_attribution(p, "gimp-flux authors", "gimp-flux authors", "2026");
    gimp_procedure_add_string_argument(p, "prompt", _("_Prompt"),
                                       _("What the repainted part shows"), "", G_PARAM_READWRITE);
    gimp_procedure_add_int_argument(p, "num-steps", _("S_teps"),
                                    _("Denoising steps of the whole schedule"), 1, FLUX_MAX_STEPS,
                                    28, G_PARAM_READWRITE);
    gimp_procedure_add_double_argument(p, "guidance", _("G_uidance"),
                                       _("Guidance scale, dev-type models only (3.5, or 30 for "
                                         "FLUX.1 Fill)"),
                                       0.0, FLUX_GUIDANCE_MAX, 3.5, G_PARAM_READWRITE);
    gimp_procedure_add_int_argument(p, "seed", _("S_eed"), _("Random seed, or -1 for a random one"),
                                    -1, FLUX_SEED_MAX, -1, G_PARAM_READWRITE);
    gimp_procedure_add_string_argument(
        p, "model", _("_Model folder"),
        _("FLUX.1 model: a diffusers folder (a Fill model for Fill), or a transformer file with "
          "its companions; empty = the one chosen last in the dialog"),
        "", G_PARAM_READWRITE);
    /* 0 passes GIMP's range so that the library's message names it, as in the 2.10 entry */
    gimp_procedure_add_double_argument(
        p, "strength", _("Stre_ngth"),
        _("How much to change, above 0 up to 1 (1 = paint anew; not used by Fill models)"), 0.0,
        1.0, FLUX_EDIT_STRENGTH_DEFAULT, G_PARAM_READWRITE);
    gimp_procedure_add_int_argument(
        p, "size", _("Region si_ze"),
        _("With a selection: the smallest side of the region worked on, context included "
          "(16..4096; 0 = 1024)"),
        0, FLUX_MAX_SIZE, FLUX_EDIT_SIZE_DEFAULT, G_PARAM_READWRITE);
    /* not in the PDB signature: the dialog's seed and LoRA list, kept with the last values */
    gimp_procedure_add_int_aux_argument(p, "last-seed", _("Last seed"),
                                        _("The seed of the last run"), 0, FLUX_SEED_MAX, 0,
                                        G_PARAM_READWRITE);
    gimp_procedure_add_string_aux_argument(p, "loras", "LoRAs", "LoRA files with strengths", "",
                                           G_PARAM_READWRITE);
    gimp_procedure_add_layer_return_value(p, "layer", "Layer", "The new layer", FALSE,
                                          G_PARAM_READWRITE);
    gimp_procedure_add_int_return_value(p, "seed", "Seed", "The seed actually used", 0,
                                        FLUX_SEED_MAX, 0, G_PARAM_READWRITE);
    return p;
}

/* ------------------------------------------------------------------------------------- */
/* Parameters                                                                            */

typedef struct {
    GimpProcedure *procedure;
    GimpProcedureConfig *config;
    GimpRunMode mode;
    GimpImage *image;
    GimpLayer *layer; /* the layer worked from */
    FluxRenderParams params;
    double strength;
    int size;
    FluxSettings settings;
    char *settings_path;
} Edit;

/* The first drawable when it is a layer of the image, else the image's selected layer. */
static GimpLayer *work_layer(GimpImage *image, GimpDrawable **drawables)
{
    if (drawables && drawables[0] && GIMP_IS_LAYER(drawables[0]) &&
        gimp_item_get_image(GIMP_ITEM(drawables[0])) == image)
        return GIMP_LAYER(drawables[0]);
    GimpLayer **sel = gimp_image_get_selected_layers(image);
    GimpLayer *layer = sel && sel[0] ? sel[0] : NULL;
    g_free(sel);
    return layer;
}

static gboolean has_selection(GimpImage *image)
{
    gboolean sel = FALSE;
    gint x1, y1, x2, y2;
    gimp_selection_bounds(image, &sel, &x1, &y1, &x2, &y2);
    return sel;
}

static gboolean values_from_config(Edit *e, GError **error)
{
    g_autofree char *prompt = NULL, *model = NULL, *loras = NULL;
    int seed, size;
    FluxRenderParams *p = &e->params;
    flux_render_params_init(p);
    g_object_get(e->config, "prompt", &prompt, "num-steps", &p->steps, "guidance", &p->guidance,
                 "seed", &seed, "model", &model, "strength", &e->strength, "size", &size, "loras",
                 &loras, NULL);
    if ((prompt && strlen(prompt) >= sizeof p->prompt) ||
        (model && strlen(model) >= sizeof p->model))
        return flux_gimp3_fail(error,
                               g_strdup(_("The prompt or the model folder's path is too long.")));
    if (!flux_render_params_set_loras(p, loras))
        return flux_gimp3_fail(error, g_strdup(_("The LoRA list is too long.")));
    flux_render_params_set_prompt(p, prompt);
    flux_render_params_set_model(p, model && model[0] ? model : e->settings.model);
    p->seed = seed;
    p->random_seed = seed == -1;
    /* the size fields are not used: the picture's size is */
    p->width = p->height = FLUX_EDIT_SIZE_DEFAULT;
    return flux_edit_resolve_size(size, &e->size, error);
}

/* FALSE with no error: the user cancelled. The dialog edits the config in place. */
static gboolean run_dialog(Edit *e, GError **error)
{
    if (!flux_gimp3_ui_available())
        return flux_gimp3_fail(
            error, g_strdup(_("FLUX Repaint needs a display for its dialog; call it with "
                              "RUN-NONINTERACTIVE or RUN-WITH-LAST-VALS instead.")));
    gimp_ui_init("flux");
    flux_gimp3_dialog_prepare(e->config, &e->settings, e->settings_path);
    gboolean sel = has_selection(e->image);
    FluxDialog3Options opt = {
        .title = _("FLUX Repaint"),
        .settings = &e->settings,
        .mode = flux_edit_mode_text(sel),
        .edit_size = sel,
        .edit_strength = !sel,
        /* the estimate's picture: the layer (floored to 16), or at most the image around a
           selection */
        .picture_width =
            sel ? gimp_image_get_width(e->image) : gimp_drawable_get_width(GIMP_DRAWABLE(e->layer)),
        .picture_height = sel ? gimp_image_get_height(e->image)
                              : gimp_drawable_get_height(GIMP_DRAWABLE(e->layer)),
    };
    if (!flux_dialog3_run(e->procedure, e->config, &opt)) return FALSE;
    flux_gimp3_dialog_done(e->config, &e->settings, e->settings_path);
    return TRUE;
}

/* ------------------------------------------------------------------------------------- */
/* The picture and the mask                                                              */

typedef struct {
    gboolean selection; /* repaint the selection (else: the whole layer) */
    FluxEditBox box;    /* image coordinates of the region worked on */
    guint8 *rgb, *mask;
} Source;

static gboolean read_source(const Edit *e, Source *src, GError **error)
{
    gboolean sel = FALSE;
    gint x1, y1, x2, y2, ox, oy;
    gimp_selection_bounds(e->image, &sel, &x1, &y1, &x2, &y2);
    GimpDrawable *d = GIMP_DRAWABLE(e->layer);
    gimp_drawable_get_offsets(d, &ox, &oy);
    src->selection = sel;
    if (!flux_edit_region(sel, gimp_image_get_width(e->image), gimp_image_get_height(e->image), x1,
                          y1, x2, y2, ox, oy, gimp_drawable_get_width(d),
                          gimp_drawable_get_height(d), e->size, &src->box, error))
        return FALSE;
    const FluxEditBox *b = &src->box;
    src->rgb = flux_pixels_read(gimp_drawable_get_buffer(d), b->x - ox, b->y - oy, b->width,
                                b->height, "R'G'B' u8", 3);
    if (sel)
        src->mask = flux_pixels_read(
            gimp_drawable_get_buffer(GIMP_DRAWABLE(gimp_image_get_selection(e->image))), b->x, b->y,
            b->width, b->height, "Y u8", 1);
    return TRUE;
}

/* ------------------------------------------------------------------------------------- */
/* Output                                                                                */

/* The result as a layer over the box, above the layer worked from, with the selection as its
 * mask; filled before it is inserted, and inserting it is one undo step. */
static GimpLayer *add_result(const Edit *e, const Source *src, const FluxWorkerResult *res,
                             GError **error)
{
    g_autofree char *name = flux_render_layer_name(e->params.prompt);
    GimpImageType type =
        gimp_image_get_base_type(e->image) == GIMP_GRAY ? GIMP_GRAYA_IMAGE : GIMP_RGBA_IMAGE;
    GimpLayer *out = gimp_layer_new(e->image, name, res->width, res->height, type, 100.0,
                                    GIMP_LAYER_MODE_NORMAL);
    if (!out) {
        flux_gimp3_fail(error, g_strdup(_("GIMP could not create the layer.")));
        return NULL;
    }
    flux_gimp3_write_pixels(GIMP_DRAWABLE(out), res);
    GimpItem *parent = gimp_item_get_parent(GIMP_ITEM(e->layer));
    gimp_image_undo_group_start(e->image);
    gboolean ok =
        gimp_image_insert_layer(e->image, out, parent ? GIMP_LAYER(parent) : NULL,
                                gimp_image_get_item_position(e->image, GIMP_ITEM(e->layer))) &&
        gimp_layer_set_offsets(out, src->box.x, src->box.y);
    if (ok && src->selection) {
        GimpLayerMask *mask = gimp_layer_create_mask(out, GIMP_ADD_MASK_SELECTION);
        ok = mask && gimp_layer_add_mask(out, mask);
    }
    gimp_image_undo_group_end(e->image);
    if (!ok) {
        flux_gimp3_fail(error, g_strdup(_("GIMP could not insert the layer.")));
        return NULL;
    }
    return out;
}

/* Renders from the region and delivers; NULL with `error` set (FLUX_ERROR_CANCELLED on Stop). */
static GimpLayer *render(Edit *e, gint32 seed, GError **error)
{
    Source src = {0};
    if (!read_source(e, &src, error)) return NULL;
    static const FluxProgressSink sink = {gimp_progress_init, gimp_progress_set_text,
                                          gimp_progress_update};
    FluxWorkerCallbacks cb;
    flux_progress_callbacks(&cb, &sink);
    FluxEditInput in = {src.rgb, src.mask, src.box.width, src.box.height, e->strength};
    FluxWorkerResult res;
    flux_worker_set_precision(e->settings.precision); /* as the dialog last set it */
    gboolean ok = e->mode == GIMP_RUN_INTERACTIVE
                      ? flux_watch_render(&e->params, &in, seed, NULL, _("FLUX Repaint — Preview"),
                                          &res, error)
                      : flux_worker_run_edit(&e->params, seed, &in, &cb, &res, error);
    GimpLayer *out = NULL;
    if (ok) {
        out = add_result(e, &src, &res, error);
        g_free(res.rgb);
    }
    gimp_progress_end();
    g_free(src.rgb);
    g_free(src.mask);
    return out;
}

/* ------------------------------------------------------------------------------------- */
/* run()                                                                                 */

static GimpValueArray *run_edit(GimpProcedure *procedure, GimpRunMode run_mode, GimpImage *image,
                                GimpDrawable **drawables, GimpProcedureConfig *config,
                                gpointer run_data)
{
    (void)run_data;
    Edit e = {.procedure = procedure, .config = config, .mode = run_mode, .image = image};
    flux_gimp3_use_installed_tokenizers();
    e.settings_path = flux_gimp3_settings_path();
    flux_settings_load(e.settings_path, &e.settings);

    GError *err = NULL;
    gboolean ok = TRUE, cancelled = FALSE;
    e.layer = work_layer(image, drawables);
    if (!e.layer)
        ok = flux_gimp3_fail(&err,
                             g_strdup(_("FLUX Repaint works from a layer: select one in the Layers "
                                        "dialog.")));
    if (ok && gimp_image_get_base_type(image) == GIMP_INDEXED)
        ok = flux_gimp3_fail(
            &err, g_strdup(_("FLUX works on RGB and grayscale images. Convert this indexed "
                             "image with Image ▸ Mode ▸ RGB first.")));
    if (ok && run_mode == GIMP_RUN_INTERACTIVE) {
        ok = run_dialog(&e, &err);
        cancelled = !ok && !err;
    }
    ok = ok && values_from_config(&e, &err) && flux_render_params_validate(&e.params, &err) &&
         flux_worker_check_model(e.params.model, NULL, NULL, &err);
    gint32 seed = ok ? flux_render_params_pick_seed(&e.params) : 0;
    gboolean ran = ok; /* a failure from here on is the run's, not the caller's */
    GimpLayer *out = ok ? render(&e, seed, &err) : NULL;
    if (!out && g_error_matches(err, FLUX_ERROR, FLUX_ERROR_CANCELLED)) {
        cancelled = TRUE; /* Stop in the preview window: nothing was touched */
        g_clear_error(&err);
    }
    flux_settings_clear(&e.settings);
    g_free(e.settings_path);

    if (!out) {
        GimpPDBStatusType status = cancelled ? GIMP_PDB_CANCEL
                                   : run_mode == GIMP_RUN_NONINTERACTIVE && !ran
                                       ? GIMP_PDB_CALLING_ERROR
                                       : GIMP_PDB_EXECUTION_ERROR;
        return gimp_procedure_new_return_values(procedure, status, err); /* takes `err` */
    }
    g_object_set(config, "last-seed", seed, NULL); /* saved with the last values */
    if (run_mode != GIMP_RUN_NONINTERACTIVE) gimp_displays_flush();
    GimpValueArray *ret = gimp_procedure_new_return_values(procedure, GIMP_PDB_SUCCESS, NULL);
    GIMP_VALUES_SET_LAYER(ret, 1, out);
    GIMP_VALUES_SET_INT(ret, 2, seed);
    return ret;
}
