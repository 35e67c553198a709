/* flux-edit-entry.c — the GIMP 2.10 PDB entry of FLUX working inside a picture:
 *
 *   plug-in-flux-edit   Filters ▸ Render ▸ FLUX Repaint...   → a new layer
 *
 *   with a selection     "Repaint the selection": the drawable's pixels under the selection's
 *                        box plus context (frontend/flux-edit.c: flux_edit_box), the selection
 *                        inside the box as the mask (≥ 50 % selected = repaint); the result is a
 *                        new layer over the box with a layer mask from the selection, so a
 *                        feathered selection gives soft edges. A Fill model is used when the
 *                        model folder is one; any FLUX.1 model inpaints otherwise.
 *   without a selection  "Start from the current layer": img2img of the layer (its size floored
 *                        to 16) at `strength`; the result is a new layer at the layer's offsets.
 *
 * Nothing touches the image before the picture is complete; inserting the layer and its mask
 * is one undo step. Interactive runs show the preview window (plugin/common/flux-watch.c),
 * whose Stop ends the run with GIMP_PDB_CANCEL. Arguments (Script-Fu): run-mode, image, drawable,
 * prompt, num-steps, guidance, seed, model, strength, size (the smallest box side to work at around
 * a selection, 16..4096; 0 = 1024).
 */
#include "flux-edit-entry.h"

#include "flux-dialog.h"
#include "flux-edit.h"
#include "flux-worker.h"
#include "flux-intl.h"
#include "flux-gimp-common.h"
#include "flux-pixels.h"
#include "flux-progress.h"
#include "flux-watch.h"
#include "flux.h"

#include <libgimp/gimpui.h>
#include <string.h>

#define LAST_VALS_KEY "plug-in-flux-edit"
#define N_ARGS        10

typedef struct {
    FluxRenderParams params;
    double strength;
    gint32 size;
} EditValues;

void flux_edit_entry_query(void)
{
    static const GimpParamDef args[] = {
        {GIMP_PDB_INT32, "run-mode",
         "The run mode { RUN-INTERACTIVE (0), RUN-NONINTERACTIVE (1), RUN-WITH-LAST-VALS (2) }"},
        {GIMP_PDB_IMAGE, "image", "Input image (RGB or grayscale)"},
        {GIMP_PDB_DRAWABLE, "drawable", "The layer to work from (-1: the active one)"},
        {GIMP_PDB_STRING, "prompt", "What the repainted part shows (UTF-8)"},
        {GIMP_PDB_INT32, "num-steps", "Denoising steps of the whole schedule (1..1000)"},
        {GIMP_PDB_FLOAT, "guidance",
         "Guidance scale, dev-type models only (0..100; 3.5, or 30 for FLUX.1 Fill)"},
        {GIMP_PDB_INT32, "seed", "Random seed (0..2147483647), or -1 for a random one"},
        {GIMP_PDB_STRING, "model",
         "FLUX.1 model folder (diffusers layout; a Fill model for Fill) or transformer file, "
         "optionally as PATH;vae=FILE;clip_l=FILE;t5=FILE; empty = the one chosen last in the "
         "dialog"},
        {GIMP_PDB_FLOAT, "strength",
         "How much to change, above 0 up to 1 (1 = paint anew; not used by Fill models)"},
        {GIMP_PDB_INT32, "size",
         "With a selection: the smallest side of the region worked on, context included "
         "(16..4096; 0 = 1024)"}};
    static const GimpParamDef rets[] = {{GIMP_PDB_LAYER, "layer", "The new layer"},
                                        {GIMP_PDB_INT32, "seed", "The seed actually used"}};
    gimp_install_procedure(
        PROC_EDIT, N_("Repaint the selection, or rework the current layer, with FLUX"),
        FLUX_EDIT_HELP, "gimp-flux authors", "gimp-flux authors", "2026", N_("FLUX _Repaint..."),
        "RGB*, GRAY*", GIMP_PLUGIN, G_N_ELEMENTS(args), G_N_ELEMENTS(rets), args, rets);
    gimp_plugin_menu_register(PROC_EDIT, "<Image>/Filters/Render");
}

/* ------------------------------------------------------------------------------------- */
/* Parameters                                                                            */

static void edit_values_init(EditValues *v)
{
    flux_render_params_init(&v->params);
    v->strength = FLUX_EDIT_STRENGTH_DEFAULT;
    v->size = FLUX_EDIT_SIZE_DEFAULT;
}

static gboolean fail(GError **error, char *msg)
{
    g_set_error_literal(error, FLUX_ERROR, FLUX_ERROR_ARGUMENT, msg);
    g_free(msg);
    return FALSE;
}

static gboolean values_from_args(EditValues *v, gint nparams, const GimpParam *a,
                                 const FluxSettings *s, GError **error)
{
    if (nparams != N_ARGS)
        return fail(error, g_strdup_printf(_("Wrong number of arguments: %d given, %d expected."),
                                           nparams, N_ARGS));
    edit_values_init(v);
    FluxRenderParams *p = &v->params;
    const char *prompt = a[3].data.d_string, *model = a[7].data.d_string;
    if ((prompt && strlen(prompt) >= sizeof p->prompt) ||
        (model && strlen(model) >= sizeof p->model))
        return fail(error, g_strdup(_("The prompt or the model folder's path is too long.")));
    flux_render_params_set_prompt(p, prompt);
    p->steps = a[4].data.d_int32;
    p->guidance = a[5].data.d_float;
    p->seed = a[6].data.d_int32;
    p->random_seed = p->seed == -1;
    flux_render_params_set_model(p, model && model[0] ? model : s->model);
    v->strength = a[8].data.d_float;
    return flux_edit_resolve_size(a[9].data.d_int32, &v->size, error);
}

static void load_last(EditValues *v, const FluxSettings *s)
{
    edit_values_init(v);
    if (gimp_get_data_size(LAST_VALS_KEY) == sizeof *v) gimp_get_data(LAST_VALS_KEY, v);
    v->params.prompt[sizeof v->params.prompt - 1] = v->params.model[sizeof v->params.model - 1] =
        '\0';
    if (s->model) flux_render_params_set_model(&v->params, s->model);
}

/* ------------------------------------------------------------------------------------- */
/* The picture and the mask                                                              */

typedef struct {
    gboolean selection; /* repaint the selection (else: the whole layer) */
    FluxEditBox box;    /* image coordinates of the region worked on */
    guint8 *rgb, *mask;
} Source;

static void source_clear(Source *s)
{
    g_free(s->rgb);
    g_free(s->mask);
}

/* The layer to work from: `drawable`, or the active layer. */
static gint32 work_layer(gint32 image, gint32 drawable)
{
    if (drawable != -1 && gimp_item_is_layer(drawable)) return drawable;
    return gimp_image_get_active_layer(image);
}

static gboolean read_source(gint32 image, gint32 layer, const EditValues *v, Source *src,
                            GError **error)
{
    gboolean sel;
    gint x1, y1, x2, y2, ox, oy;
    gimp_selection_bounds(image, &sel, &x1, &y1, &x2, &y2);
    gimp_drawable_offsets(layer, &ox, &oy);
    src->selection = sel;
    if (!flux_edit_region(sel, gimp_image_width(image), gimp_image_height(image), x1, y1, x2, y2,
                          ox, oy, gimp_drawable_width(layer), gimp_drawable_height(layer), v->size,
                          &src->box, error))
        return FALSE;
    gegl_init(NULL, NULL);
    const FluxEditBox *b = &src->box;
    src->rgb = flux_pixels_read(gimp_drawable_get_buffer(layer), b->x - ox, b->y - oy, b->width,
                                b->height, "R'G'B' u8", 3);
    if (sel)
        src->mask = flux_pixels_read(gimp_drawable_get_buffer(gimp_image_get_selection(image)),
                                     b->x, b->y, b->width, b->height, "Y u8", 1);
    return TRUE;
}

/* ------------------------------------------------------------------------------------- */
/* Output                                                                                */

/* The result as a layer over the box, above `layer`; with the selection as its mask. One undo
 * step. */
static gint32 add_result(gint32 image, gint32 layer, const Source *src, const FluxWorkerResult *res,
                         const char *prompt, GError **error)
{
    g_autofree char *name = flux_render_layer_name(prompt);
    GimpImageType type =
        gimp_image_base_type(image) == GIMP_GRAY ? GIMP_GRAYA_IMAGE : GIMP_RGBA_IMAGE;
    gint32 out =
        gimp_layer_new(image, name, res->width, res->height, type, 100.0, GIMP_LAYER_MODE_NORMAL);
    if (out == -1) {
        fail(error, g_strdup(_("GIMP could not create the layer.")));
        return -1;
    }
    flux_plugin_write_pixels(out, res);
    gimp_image_undo_group_start(image);
    gboolean ok = gimp_image_insert_layer(image, out, gimp_item_get_parent(layer),
                                          gimp_image_get_item_position(image, layer)) &&
                  gimp_layer_set_offsets(out, src->box.x, src->box.y);
    if (ok && src->selection) {
        gint32 mask = gimp_layer_create_mask(out, GIMP_ADD_MASK_SELECTION);
        ok = mask != -1 && gimp_layer_add_mask(out, mask);
    }
    gimp_image_undo_group_end(image);
    if (!ok) {
        fail(error, g_strdup(_("GIMP could not insert the layer.")));
        return -1;
    }
    return out;
}

/* Renders from the region (in the preview window when `watched`) and delivers; -1 with `error`
 * set (FLUX_ERROR_CANCELLED after Stop). `found`: what the check before the run found (the run
 * loads it without looking again). */
static gint32 render(gint32 image, gint32 layer, EditValues *v, const FluxModelFound *found,
                     gint32 seed, gboolean watched, GError **error)
{
    Source src = {0};
    if (!read_source(image, layer, v, &src, error)) return -1;
    static const FluxProgressSink sink = {gimp_progress_init, gimp_progress_set_text,
                                          gimp_progress_update};
    FluxWorkerCallbacks cb;
    flux_progress_callbacks(&cb, &sink);
    cb.found = found;
    FluxEditInput in = {src.rgb, src.mask, src.box.width, src.box.height, v->strength};
    FluxWorkerResult res;
    gint32 id = -1;
    gboolean ok = watched ? flux_watch_render(&v->params, &in, seed, found,
                                              _("FLUX Repaint — Preview"), &res, error)
                          : flux_worker_run_edit(&v->params, seed, &in, &cb, &res, error);
    if (ok) {
        id = add_result(image, layer, &src, &res, v->params.prompt, error);
        g_free(res.rgb);
    }
    gimp_progress_end();
    source_clear(&src);
    return id;
}

/* ------------------------------------------------------------------------------------- */
/* run()                                                                                 */

static gboolean from_dialog(gint32 image, EditValues *v, FluxSettings *s, GError **error)
{
    load_last(v, s);
    if (!flux_plugin_ui_available())
        return fail(error, g_strdup(_("FLUX Repaint needs a display for its dialog; call it with "
                                      "RUN-NONINTERACTIVE or RUN-WITH-LAST-VALS instead.")));
    gimp_ui_init("flux", FALSE);
    gboolean sel = FALSE;
    gint x1, y1, x2, y2;
    gimp_selection_bounds(image, &sel, &x1, &y1, &x2, &y2);
    FluxDialogOptions opt = {.title = _("FLUX Repaint"),
                             .role = "flux",
                             .help_id = PROC_EDIT,
                             .settings = s,
                             .mode = flux_edit_mode_text(sel),
                             .strength = sel ? NULL : &v->strength};
    /* the size fields say how large a region to work at around a selection */
    v->params.width = v->params.height = v->size;
    if (!flux_dialog_run(&v->params, &opt)) return FALSE;
    v->size = MAX(v->params.width, v->params.height);
    flux_plugin_remember_model(v->params.model, s);
    return TRUE;
}

void flux_edit_entry_run(gint nparams, const GimpParam *param, GimpParam *values,
                         gint *nreturn_vals, char **message)
{
    GimpRunMode mode = param[0].data.d_int32;
    gint32 image = nparams > 1 ? param[1].data.d_image : -1;
    gint32 drawable = nparams > 2 ? param[2].data.d_drawable : -1;
    FluxSettings s;
    flux_plugin_load_settings(&s);
    EditValues v;
    GError *err = NULL;
    gboolean ok = TRUE;
    if (!gimp_image_is_valid(image))
        ok = fail(&err, g_strdup_printf(_("Image %d does not exist."), image));
    gint32 layer = ok ? work_layer(image, drawable) : -1;
    if (ok && (layer == -1 || gimp_item_get_image(layer) != image))
        ok = fail(&err,
                  g_strdup_printf(_("Drawable %d is not a layer of image %d."), drawable, image));
    if (ok && gimp_image_base_type(image) == GIMP_INDEXED)
        ok = fail(&err, g_strdup(_("FLUX works on RGB and grayscale images. Convert this indexed "
                                   "image with Image ▸ Mode ▸ RGB first.")));
    gboolean cancelled = FALSE;
    if (ok && mode == GIMP_RUN_NONINTERACTIVE) ok = values_from_args(&v, nparams, param, &s, &err);
    if (ok && mode == GIMP_RUN_WITH_LAST_VALS) load_last(&v, &s);
    if (ok && mode == GIMP_RUN_INTERACTIVE) {
        ok = from_dialog(image, &v, &s, &err);
        cancelled = !ok && !err;
    }
    /* the size fields are not used: the picture's size is */
    if (ok) v.params.width = v.params.height = 1024;
    FluxModelFound found = {0};
    ok = ok && flux_render_params_validate(&v.params, &err) &&
         flux_worker_find_model(v.params.model, &found, &err);
    gint32 seed = ok ? flux_render_params_pick_seed(&v.params) : 0, id = -1;
    flux_worker_set_precision(s.precision); /* as the dialog last set it */
    if (ok) id = render(image, layer, &v, &found, seed, mode == GIMP_RUN_INTERACTIVE, &err);
    flux_model_found_clear(&found);
    if (id == -1 && g_error_matches(err, FLUX_ERROR, FLUX_ERROR_CANCELLED)) {
        cancelled = TRUE; /* Stop in the preview window: nothing was touched */
        g_clear_error(&err);
    }
    gboolean ran = ok; /* a failure from here on is the run's, not the caller's */

    values[0].type = GIMP_PDB_STATUS;
    *nreturn_vals = 1;
    if (id != -1) {
        v.params.seed = seed;
        gimp_set_data(LAST_VALS_KEY, &v, sizeof v);
        values[0].data.d_status = GIMP_PDB_SUCCESS;
        values[1].type = GIMP_PDB_LAYER;
        values[1].data.d_layer = id;
        values[2].type = GIMP_PDB_INT32;
        values[2].data.d_int32 = seed;
        *nreturn_vals = 3;
        if (mode != GIMP_RUN_NONINTERACTIVE) gimp_displays_flush();
    } else if (cancelled) {
        values[0].data.d_status = GIMP_PDB_CANCEL;
    } else {
        values[0].data.d_status = mode == GIMP_RUN_NONINTERACTIVE && !ran
                                      ? GIMP_PDB_CALLING_ERROR
                                      : GIMP_PDB_EXECUTION_ERROR;
        g_free(*message);
        *message = g_strdup(err ? err->message : "");
        values[1].type = GIMP_PDB_STRING;
        values[1].data.d_string = *message;
        *nreturn_vals = 2;
    }
    g_clear_error(&err);
    flux_settings_clear(&s);
}
