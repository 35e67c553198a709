/* flux-dialog3.c — the FLUX Text to Image dialog for GIMP 3 (see flux-dialog3.h).
 *
 *   Prompt         [multi-line text                              ]
 *                  Enter generates the picture; Shift+Enter starts a new line.
 *   Model folder   [folder chooser]
 *   or model file  [file chooser: a transformer file, ComfyUI style]
 *                  what flux_worker_probe_model says (or where to get a model, the first time)
 *   ▸ Model files  (an expander) VAE, CLIP-L, T5-XXL: the file each uses, a chooser to pick
 *                  another and Automatic to undo it, and where it comes from
 *                  (flux-model-files.h); the choices go into the model string of "model"
 *   Width, Height  spin buttons + "rounded down to multiples of 16: W × H"
 *   Steps          spin button (the model's default when the model type changes)
 *   Guidance       spin button, insensitive for schnell-type models
 *   Seed           spin button + "Random" toggle
 *   Precision      Automatic / Exact (float32) / Fast (flux-precision-choice.h), kept in
 *                  the settings file
 *   LoRAs          file + strength slider per LoRA, Add / Remove (flux-lora-list3.c), kept in
 *                  the config's "loras"
 *   Estimate       working memory and time (flux_estimate_memory / _flops)
 *
 * Working from a picture (FLUX Repaint, opt->mode): the mode line above the prompt, and in
 * place of Width and Height a Region size field (around a selection) or a Strength slider
 * (0.05–1, from the current layer).
 *
 * The prompt, sizes, steps and guidance are GimpProcedureDialog's own widgets bound to the
 * config; the model chooser, the seed pair and the texts are ours (frontend/flux-dialog-text).
 * Enter in any field activates OK; OK is insensitive while the model is not usable; an empty
 * prompt is asked about before the dialog closes.
 */
#include "flux-dialog3.h"

#include "flux-companion-rows.h"
#include "flux-dialog-text.h"
#include "flux-edit.h"
#include "flux-help.h"
#include "flux-intl.h"
#include "flux-lora-list3.h"
#include "flux-model-files.h"
#include "flux-precision-choice.h"
#include "flux-params.h"
#include "flux.h"

#include <gdk/gdkkeysyms.h>
#include <libgimp/gimpui.h>
#include <string.h>

typedef struct {
    const FluxDialog3Options *opt;
    GimpProcedureConfig *config;
    GtkWidget *dialog, *prompt, *model_label, *size_label, *steps, *guidance;
    GtkWidget *seed, *random, *estimate, *loras;
    GtkWidget *precision;    /* the precision combo box */
    FluxCompanionRows files; /* the Model files expander and its rows */
    GtkSizeGroup *labels;    /* one column for every field's label */
    gboolean model_ok;       /* flux_model_probe accepted the folder */
    int model_kind;          /* -1 unknown, 0 schnell-type, 1 dev-type */
    FluxModelInfo info;
} Dialog;

static int config_int(Dialog *d, const char *name)
{
    int v = 0;
    g_object_get(d->config, name, &v, NULL);
    return v;
}

/* The picture a run makes: the config's width × height, or the region worked from. */
static void picture_size(Dialog *d, int *w, int *h)
{
    const FluxDialog3Options *o = d->opt;
    if (!o->mode) {
        *w = config_int(d, "width"), *h = config_int(d, "height");
        return;
    }
    *w = o->picture_width / 16 * 16, *h = o->picture_height / 16 * 16;
    if (o->edit_size) {
        int size = config_int(d, "size");
        size = size ? size : 1024; /* the argument's 0 */
        *w = MIN(*w, size), *h = MIN(*h, size);
    }
}

static void update_texts(Dialog *d)
{
    int w, h;
    picture_size(d, &w, &h);
    if (d->size_label) {
        g_autofree char *size = flux_text_size_note(w, h);
        gtk_label_set_text(GTK_LABEL(d->size_label), size);
    }
    g_autofree char *est = flux_text_estimate(d->model_ok ? &d->info : NULL, w, h,
                                              config_int(d, "num-steps"), d->opt->settings);
    gtk_label_set_text(GTK_LABEL(d->estimate), est);
}

/* Probes the folder: model line, guidance, default steps, OK. */
static void set_model(Dialog *d, const char *dir, gboolean initial)
{
    g_autofree char *markup = flux_text_model_markup(dir, &d->info, &d->model_ok);
    if (d->model_ok) {
        int kind = d->info.uses_guidance ? 1 : 0;
        if (!initial && kind != d->model_kind)
            g_object_set(d->config, "num-steps", d->info.default_steps, NULL);
        d->model_kind = kind;
    }
    gtk_label_set_markup(GTK_LABEL(d->model_label), markup);
    gtk_widget_set_sensitive(d->guidance, !d->model_ok || d->info.uses_guidance);
    gtk_dialog_set_response_sensitive(GTK_DIALOG(d->dialog), GTK_RESPONSE_OK, d->model_ok);
    flux_companion_rows_show(&d->files, dir);
    update_texts(d);
}

/* The config's model string changed to `model`: keep it and check it. */
static void change_model(Dialog *d, const char *model)
{
    g_autofree char *old = NULL;
    g_object_get(d->config, "model", &old, NULL);
    if (!g_strcmp0(model, old)) return;
    g_object_set(d->config, "model", model, NULL);
    set_model(d, model, FALSE);
}

static void on_model_changed(GtkFileChooser *chooser, Dialog *d)
{
    g_autofree char *dir = gtk_file_chooser_get_filename(chooser);
    g_autofree char *old = NULL;
    g_object_get(d->config, "model", &old, NULL);
    g_autofree char *now = flux_model_main_path(old);
    /* the button reports NULL while it is still loading the folder it was given */
    if (!dir || !g_strcmp0(dir, now)) return;
    g_autofree char *model = flux_model_with_path(old, dir);
    change_model(d, model);
}

/* A companion chosen by hand (from its chooser) or set back to Automatic (file NULL). */
static void set_companion(gpointer data, FluxCompanion c, const char *file)
{
    Dialog *d = data;
    g_autofree char *old = NULL;
    g_object_get(d->config, "model", &old, NULL);
    g_autofree char *model = flux_model_with_companion(old, c, file);
    change_model(d, model);
}

/* The prompt as typed, whitespace only counting as empty. */
static gboolean prompt_is_empty(Dialog *d)
{
    g_autofree char *prompt = NULL;
    g_object_get(d->config, "prompt", &prompt, NULL);
    return !prompt || g_strstrip(prompt)[0] == '\0';
}

/* TRUE when the artist wants to render the empty prompt anyway. */
static gboolean confirm_empty_prompt(Dialog *d)
{
    GtkWidget *msg =
        gtk_message_dialog_new(GTK_WINDOW(d->dialog), GTK_DIALOG_MODAL, GTK_MESSAGE_QUESTION,
                               GTK_BUTTONS_NONE, "%s", flux_help_empty_prompt_question());
    gtk_message_dialog_format_secondary_text(GTK_MESSAGE_DIALOG(msg), "%s",
                                             flux_help_empty_prompt_detail());
    gtk_dialog_add_buttons(GTK_DIALOG(msg), _("_Cancel"), GTK_RESPONSE_CANCEL,
                           flux_help_empty_prompt_button(), GTK_RESPONSE_OK, NULL);
    gtk_dialog_set_default_response(GTK_DIALOG(msg), GTK_RESPONSE_CANCEL);
    gboolean ok = gtk_dialog_run(GTK_DIALOG(msg)) == GTK_RESPONSE_OK;
    gtk_widget_destroy(msg);
    return ok;
}

static void on_config_notify(GObject *config, GParamSpec *pspec, Dialog *d)
{
    (void)config;
    (void)pspec;
    update_texts(d);
}

static void on_random_toggled(GtkToggleButton *b, Dialog *d)
{
    gtk_widget_set_sensitive(d->seed, !gtk_toggle_button_get_active(b));
}

/* Enter in the prompt generates (as in the other fields); Shift+Enter starts a new line. */
static gboolean on_prompt_key(GtkWidget *w, GdkEventKey *ev, Dialog *d)
{
    (void)w;
    gboolean enter = ev->keyval == GDK_KEY_Return || ev->keyval == GDK_KEY_KP_Enter ||
                     ev->keyval == GDK_KEY_ISO_Enter;
    if (!enter || (ev->state & (GDK_SHIFT_MASK | GDK_CONTROL_MASK))) return FALSE;
    if (d->model_ok) gtk_dialog_response(GTK_DIALOG(d->dialog), GTK_RESPONSE_OK);
    return TRUE;
}

static void show_help(const gchar *help_id, gpointer help_data)
{
    (void)help_id;
    (void)help_data;
    GtkWidget *msg = gtk_message_dialog_new(NULL, GTK_DIALOG_MODAL, GTK_MESSAGE_INFO,
                                            GTK_BUTTONS_CLOSE, "%s", _("FLUX Text to Image"));
    g_autofree char *text = flux_text_help();
    gtk_message_dialog_format_secondary_text(GTK_MESSAGE_DIALOG(msg), "%s", text);
    gtk_dialog_run(GTK_DIALOG(msg));
    gtk_widget_destroy(msg);
}

/* ------------------------------------------------------------------------------------- */
/* Construction                                                                          */

static GtkWidget *note_label(void)
{
    GtkWidget *label = gtk_label_new(NULL);
    gtk_label_set_line_wrap(GTK_LABEL(label), TRUE);
    gtk_label_set_max_width_chars(GTK_LABEL(label), 60);
    gtk_label_set_xalign(GTK_LABEL(label), 0.0);
    return label;
}

static GtkWidget *left_label(const char *mnemonic_text)
{
    GtkWidget *label = gtk_label_new_with_mnemonic(mnemonic_text);
    gtk_label_set_xalign(GTK_LABEL(label), 0.0);
    return label;
}

/* A GimpLabelSpin of the dialog for `prop`, whose Enter presses OK. */
static GtkWidget *spin_row(Dialog *d, const char *prop)
{
    GimpProcedureDialog *pd = GIMP_PROCEDURE_DIALOG(d->dialog);
    GtkWidget *w = gimp_procedure_dialog_get_widget(pd, prop, GIMP_TYPE_LABEL_SPIN);
    GtkWidget *spin = gimp_label_spin_get_spin_button(GIMP_LABEL_SPIN(w));
    gtk_entry_set_activates_default(GTK_ENTRY(spin), TRUE);
    gtk_size_group_add_widget(d->labels, gimp_labeled_get_label(GIMP_LABELED(w)));
    return w;
}

static void build_prompt(Dialog *d, GtkBox *box)
{
    GtkWidget *label = left_label(_("_Prompt:"));
    gtk_box_pack_start(box, label, FALSE, FALSE, 0);
    GtkWidget *scroll = gtk_scrolled_window_new(NULL, NULL);
    gtk_scrolled_window_set_policy(GTK_SCROLLED_WINDOW(scroll), GTK_POLICY_NEVER,
                                   GTK_POLICY_AUTOMATIC);
    gtk_scrolled_window_set_shadow_type(GTK_SCROLLED_WINDOW(scroll), GTK_SHADOW_IN);
    gtk_widget_set_size_request(scroll, 460, 80);
    d->prompt = gimp_procedure_dialog_get_widget(GIMP_PROCEDURE_DIALOG(d->dialog), "prompt",
                                                 GTK_TYPE_TEXT_VIEW);
    gtk_text_view_set_wrap_mode(GTK_TEXT_VIEW(d->prompt), GTK_WRAP_WORD_CHAR);
    gtk_text_view_set_accepts_tab(GTK_TEXT_VIEW(d->prompt), FALSE);
    g_signal_connect(d->prompt, "key-press-event", G_CALLBACK(on_prompt_key), d);
    gtk_container_add(GTK_CONTAINER(scroll), d->prompt);
    gtk_label_set_mnemonic_widget(GTK_LABEL(label), d->prompt);
    gtk_box_pack_start(box, scroll, TRUE, TRUE, 0);
    GtkWidget *hint = left_label(_("Enter generates the picture; Shift+Enter starts a new line."));
    gimp_label_set_attributes(GTK_LABEL(hint), PANGO_ATTR_STYLE, PANGO_STYLE_ITALIC, -1);
    gtk_box_pack_start(box, hint, FALSE, FALSE, 0);
}

/* ▸ Model files: per companion a label, a file chooser, Automatic, and a note below. */
static void build_files(Dialog *d, GtkBox *box)
{
    FluxCompanionRows *rows = &d->files;
    flux_companion_rows_init(rows, set_companion, d);
    GtkWidget *grid = gtk_grid_new();
    gtk_grid_set_row_spacing(GTK_GRID(grid), 2);
    gtk_grid_set_column_spacing(GTK_GRID(grid), 6);
    for (int c = 0; c < FLUX_N_COMPANIONS; c++) {
        GtkWidget *label = left_label(flux_companion_label(c));
        gtk_widget_set_hexpand(rows->chooser[c], TRUE);
        gtk_label_set_mnemonic_widget(GTK_LABEL(label), rows->chooser[c]);
        gtk_grid_attach(GTK_GRID(grid), label, 0, 2 * c, 1, 1);
        gtk_grid_attach(GTK_GRID(grid), rows->chooser[c], 1, 2 * c, 1, 1);
        gtk_grid_attach(GTK_GRID(grid), rows->automatic[c], 2, 2 * c, 1, 1);
        gtk_grid_attach(GTK_GRID(grid), rows->note[c], 1, 2 * c + 1, 2, 1);
    }
    gtk_container_add(GTK_CONTAINER(rows->expander), grid);
    gtk_box_pack_start(box, rows->expander, FALSE, FALSE, 0);
}

static void build_precision(Dialog *d, GtkBox *box)
{
    GtkWidget *row = gtk_box_new(GTK_ORIENTATION_HORIZONTAL, 6);
    GtkWidget *label = left_label(_("Precisio_n:"));
    d->precision = gtk_combo_box_text_new();
    for (int i = 0; i < FLUX_N_PRECISIONS; i++)
        gtk_combo_box_text_append_text(GTK_COMBO_BOX_TEXT(d->precision),
                                       flux_precision_choice_label(i));
    gtk_combo_box_set_active(GTK_COMBO_BOX(d->precision),
                             flux_precision_choice_index(d->opt->settings->precision));
    gtk_widget_set_tooltip_text(d->precision, flux_precision_choice_tooltip());
    gtk_label_set_mnemonic_widget(GTK_LABEL(label), d->precision);
    gtk_size_group_add_widget(d->labels, label);
    gtk_box_pack_start(GTK_BOX(row), label, FALSE, FALSE, 0);
    gtk_box_pack_start(GTK_BOX(row), d->precision, FALSE, FALSE, 0);
    gtk_box_pack_start(box, row, FALSE, FALSE, 0);
}

static void build_model(Dialog *d, GtkBox *box, const char *model)
{
    GtkWidget *row = gtk_box_new(GTK_ORIENTATION_HORIZONTAL, 6);
    GtkWidget *label = left_label(_("_Model folder:"));
    GtkWidget *chooser = gtk_file_chooser_button_new(_("Choose the FLUX.1 model folder"),
                                                     GTK_FILE_CHOOSER_ACTION_SELECT_FOLDER);
    g_autofree char *path = flux_model_main_path(model);
    gboolean is_file = path[0] && g_file_test(path, G_FILE_TEST_IS_REGULAR);
    if (path[0] && !is_file) gtk_file_chooser_set_filename(GTK_FILE_CHOOSER(chooser), path);
    gtk_label_set_mnemonic_widget(GTK_LABEL(label), chooser);
    gtk_size_group_add_widget(d->labels, label);
    gtk_box_pack_start(GTK_BOX(row), label, FALSE, FALSE, 0);
    gtk_box_pack_start(GTK_BOX(row), chooser, TRUE, TRUE, 0);
    gtk_box_pack_start(box, row, FALSE, FALSE, 0);
    /* ComfyUI-style single files: the transformer; its companions are found beside it */
    GtkWidget *frow = gtk_box_new(GTK_ORIENTATION_HORIZONTAL, 6);
    GtkWidget *flabel = left_label(_("or model _file:"));
    GtkWidget *file = gtk_file_chooser_button_new(_("Choose the FLUX.1 transformer file"),
                                                  GTK_FILE_CHOOSER_ACTION_OPEN);
    gtk_file_chooser_add_filter(
        GTK_FILE_CHOOSER(file),
        flux_weights_filter(_("FLUX.1 transformer files (.safetensors, .gguf)")));
    if (is_file) gtk_file_chooser_set_filename(GTK_FILE_CHOOSER(file), path);
    gtk_label_set_mnemonic_widget(GTK_LABEL(flabel), file);
    gtk_size_group_add_widget(d->labels, flabel);
    gtk_box_pack_start(GTK_BOX(frow), flabel, FALSE, FALSE, 0);
    gtk_box_pack_start(GTK_BOX(frow), file, TRUE, TRUE, 0);
    gtk_box_pack_start(box, frow, FALSE, FALSE, 0);
    g_signal_connect(file, "file-set", G_CALLBACK(on_model_changed), d);
    d->model_label = note_label();
    gtk_box_pack_start(box, d->model_label, FALSE, FALSE, 0);
    build_files(d, box);
    g_signal_connect(chooser, "selection-changed", G_CALLBACK(on_model_changed), d);
}

static void build_seed(Dialog *d, GtkBox *box)
{
    GtkWidget *row = gtk_box_new(GTK_ORIENTATION_HORIZONTAL, 6);
    GtkWidget *label = left_label(_("S_eed:"));
    d->seed = gimp_prop_spin_button_new(G_OBJECT(d->config), "last-seed", 1, 100, 0);
    gtk_entry_set_activates_default(GTK_ENTRY(d->seed), TRUE);
    gtk_label_set_mnemonic_widget(GTK_LABEL(label), d->seed);
    gtk_size_group_add_widget(d->labels, label);
    d->random = gtk_check_button_new_with_mnemonic(_("R_andom"));
    gboolean random = config_int(d, "seed") == -1;
    if (!random) g_object_set(d->config, "last-seed", config_int(d, "seed"), NULL);
    gtk_toggle_button_set_active(GTK_TOGGLE_BUTTON(d->random), random);
    gtk_widget_set_sensitive(d->seed, !random);
    g_signal_connect(d->random, "toggled", G_CALLBACK(on_random_toggled), d);
    gtk_box_pack_start(GTK_BOX(row), label, FALSE, FALSE, 0);
    gtk_box_pack_start(GTK_BOX(row), d->seed, FALSE, FALSE, 0);
    gtk_box_pack_start(GTK_BOX(row), d->random, FALSE, FALSE, 0);
    gtk_box_pack_start(box, row, FALSE, FALSE, 0);
}

static void build_loras(Dialog *d, GtkBox *box)
{
    GtkWidget *row = gtk_box_new(GTK_ORIENTATION_HORIZONTAL, 6);
    GtkWidget *label = left_label(_("LoRAs:"));
    gtk_widget_set_valign(label, GTK_ALIGN_START);
    gtk_size_group_add_widget(d->labels, label);
    g_autofree char *list = NULL;
    g_object_get(d->config, "loras", &list, NULL);
    d->loras = flux_lora_list3_new(list);
    gtk_box_pack_start(GTK_BOX(row), label, FALSE, FALSE, 0);
    gtk_box_pack_start(GTK_BOX(row), d->loras, TRUE, TRUE, 0);
    gtk_box_pack_start(box, row, FALSE, FALSE, 0);
}

/* Working from a picture: the mode line and the field of the mode. */
static void build_edit(Dialog *d, GtkBox *box)
{
    GtkWidget *mode = left_label(d->opt->mode);
    gimp_label_set_attributes(GTK_LABEL(mode), PANGO_ATTR_WEIGHT, PANGO_WEIGHT_BOLD, -1);
    gtk_box_pack_start(box, mode, FALSE, FALSE, 0);
    gtk_box_reorder_child(box, mode, 0);
}

static GtkWidget *strength_row(Dialog *d)
{
    GimpProcedureDialog *pd = GIMP_PROCEDURE_DIALOG(d->dialog);
    GtkWidget *w = gimp_procedure_dialog_get_widget(pd, "strength", GIMP_TYPE_SCALE_ENTRY);
    double v = 0;
    g_object_get(d->config, "strength", &v, NULL);
    if (v < FLUX_EDIT_STRENGTH_MIN)
        g_object_set(d->config, "strength", FLUX_EDIT_STRENGTH_MIN, NULL);
    gimp_label_spin_set_increments(GIMP_LABEL_SPIN(w), 0.05, 0.1);
    gimp_label_spin_set_digits(GIMP_LABEL_SPIN(w), 2);
    gimp_scale_entry_set_bounds(GIMP_SCALE_ENTRY(w), FLUX_EDIT_STRENGTH_MIN, 1.0, TRUE);
    GtkWidget *spin = gimp_label_spin_get_spin_button(GIMP_LABEL_SPIN(w));
    gtk_entry_set_activates_default(GTK_ENTRY(spin), TRUE);
    gtk_size_group_add_widget(d->labels, gimp_labeled_get_label(GIMP_LABELED(w)));
    gtk_widget_set_tooltip_text(w, _("How much to change the layer: low keeps its shapes and "
                                     "colours, 1 paints anew"));
    return w;
}

static GtkWidget *dialog_new(GimpProcedure *procedure, GimpProcedureConfig *config,
                             const char *title)
{
    /* gimp_procedure_dialog_new() with our Help (GIMP's manual has no page for us) */
    return g_object_new(GIMP_TYPE_PROCEDURE_DIALOG, "procedure", procedure, "config", config,
                        "title", title, "role", "flux", "help-func", show_help, "help-id",
                        gimp_procedure_get_name(procedure), NULL);
}

gboolean flux_dialog3_run(GimpProcedure *procedure, GimpProcedureConfig *config,
                          const FluxDialog3Options *opt)
{
    Dialog d = {.opt = opt,
                .config = config,
                .model_kind = -1,
                .labels = gtk_size_group_new(GTK_SIZE_GROUP_HORIZONTAL)};
    d.dialog = dialog_new(procedure, config, opt->title);
    gtk_dialog_set_default_response(GTK_DIALOG(d.dialog), GTK_RESPONSE_OK);

    GtkWidget *vbox = gtk_box_new(GTK_ORIENTATION_VERTICAL, 6);
    gtk_container_set_border_width(GTK_CONTAINER(vbox), 12);
    gtk_box_pack_start(GTK_BOX(gtk_dialog_get_content_area(GTK_DIALOG(d.dialog))), vbox, TRUE, TRUE,
                       0);
    GtkBox *box = GTK_BOX(vbox);
    build_prompt(&d, box);
    g_autofree char *model = NULL;
    g_object_get(config, "model", &model, NULL);
    build_model(&d, box, model);
    if (!opt->mode) {
        gtk_box_pack_start(box, spin_row(&d, "width"), FALSE, FALSE, 0);
        gtk_box_pack_start(box, spin_row(&d, "height"), FALSE, FALSE, 0);
        d.size_label = note_label();
        gtk_box_pack_start(box, d.size_label, FALSE, FALSE, 0);
    } else {
        build_edit(&d, box);
        if (opt->edit_size) gtk_box_pack_start(box, spin_row(&d, "size"), FALSE, FALSE, 0);
        if (opt->edit_strength) gtk_box_pack_start(box, strength_row(&d), FALSE, FALSE, 0);
    }
    d.steps = spin_row(&d, "num-steps");
    gtk_box_pack_start(box, d.steps, FALSE, FALSE, 0);
    d.guidance = spin_row(&d, "guidance");
    gtk_box_pack_start(box, d.guidance, FALSE, FALSE, 0);
    build_seed(&d, box);
    build_precision(&d, box);
    build_loras(&d, box);
    d.estimate = note_label();
    gtk_box_pack_start(box, d.estimate, FALSE, FALSE, 0);

    set_model(&d, model, TRUE);
    gulong id = g_signal_connect(config, "notify", G_CALLBACK(on_config_notify), &d);
    gtk_widget_show_all(d.dialog);
    gtk_widget_grab_focus(d.prompt);

    gboolean ok;
    do ok = gimp_procedure_dialog_run(GIMP_PROCEDURE_DIALOG(d.dialog)) && d.model_ok;
    while (ok && prompt_is_empty(&d) && !confirm_empty_prompt(&d));
    g_signal_handler_disconnect(config, id);
    if (ok) {
        gboolean random = gtk_toggle_button_get_active(GTK_TOGGLE_BUTTON(d.random));
        g_object_set(config, "seed", random ? -1 : config_int(&d, "last-seed"), NULL);
        g_autofree char *loras = flux_lora_list3_get_text(d.loras);
        if (strlen(loras) < FLUX_LORAS_MAX) g_object_set(config, "loras", loras, NULL);
        flux_settings_set_precision(
            opt->settings,
            flux_precision_choice_value(gtk_combo_box_get_active(GTK_COMBO_BOX(d.precision))));
    }
    gtk_widget_destroy(d.dialog);
    g_object_unref(d.labels);
    return ok;
}
