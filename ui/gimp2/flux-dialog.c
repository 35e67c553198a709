/* flux-dialog.c — the FLUX Text to Image dialog (see flux-dialog.h).
 *
 *   Prompt         [multi-line text                              ]
 *                  Enter generates the picture; Shift+Enter starts a new line.
 *   Model folder   [folder chooser]
 *   or model file  [file chooser: a transformer file, ComfyUI style]
 *                  what flux_worker_probe_model says about the choice (the first-run text
 *                  when nothing was ever chosen)
 *   ▸ Model files  (an expander) VAE, CLIP-L, T5-XXL: the file each uses, a chooser to pick
 *                  another and Automatic to undo it, and where it comes from
 *                  (flux-model-files.h); the choices go into the model string
 *   Width, Height  spin buttons + "rounded down to multiples of 16: W × H"
 *   Steps          spin button (the model's default when the model type changes)
 *   Guidance       spin button, insensitive for schnell-type models
 *   Seed           spin button + "Random" toggle
 *   Precision      Automatic / Exact (float32) / Fast (flux-precision-choice.h), kept in
 *                  the settings file
 *   LoRAs          file + strength slider per LoRA, Add / Remove (flux-lora-list.c)
 *   Estimate       working memory and time (flux_estimate_memory / _flops)
 *
 * Enter in any field activates OK; OK is insensitive while the model is not usable; an empty
 * prompt is asked about before the dialog closes.
 */
#include "flux-dialog.h"

#include "flux-companion-rows.h"
#include "flux-dialog-text.h"
#include "flux-help.h"
#include "flux-intl.h"
#include "flux-model-files.h"
#include "flux-precision-choice.h"
#include "flux-worker.h"
#include "flux-lora-list.h"
#include "flux.h"

#include <libgimp/gimp.h>
#include <gdk/gdkkeysyms.h>
#include <libgimp/gimpui.h>
#include <string.h>

typedef struct {
    const FluxDialogOptions *opt;
    GtkWidget *dialog, *prompt, *model_chooser, *model_file, *model_label;
    GtkWidget *width, *height, *size_label, *steps, *guidance, *seed, *random, *estimate;
    GtkWidget *loras;        /* flux-lora-list.h */
    GtkWidget *precision;    /* the precision combo box */
    FluxCompanionRows files; /* the Model files expander and its rows */
    char *model_dir;         /* the folder or transformer file currently chosen, with the
                                companions chosen by hand (a model string, flux-model-files.h) */
    gboolean model_ok;       /* flux_worker_probe_model accepted it */
    int model_kind;          /* -1 unknown, 0 schnell-type, 1 dev-type */
    GtkWidget *strength;     /* the img2img slider, or NULL */
    FluxModelInfo info;
} Dialog;

/* ------------------------------------------------------------------------------------- */
/* Live texts                                                                            */

static int spin_int(GtkWidget *spin)
{
    return gtk_spin_button_get_value_as_int(GTK_SPIN_BUTTON(spin));
}

static void update_size_and_estimate(Dialog *d)
{
    int w = spin_int(d->width), h = spin_int(d->height);
    g_autofree char *size = flux_text_size_note(w, h);
    gtk_label_set_text(GTK_LABEL(d->size_label), size);
    g_autofree char *text = flux_text_estimate(d->model_ok ? &d->info : NULL, w, h,
                                               spin_int(d->steps), d->opt->settings);
    gtk_label_set_text(GTK_LABEL(d->estimate), text);
}

/* Checks the folder or file and updates the model line, guidance, default steps and OK. */
static void set_model(Dialog *d, const char *dir, gboolean initial)
{
    g_free(d->model_dir);
    d->model_dir = g_strdup(dir ? dir : "");
    g_autofree char *markup = flux_text_model_markup(dir, &d->info, &d->model_ok);
    if (d->model_ok) {
        int kind = d->info.uses_guidance ? 1 : 0;
        if (!initial && kind != d->model_kind)
            gtk_spin_button_set_value(GTK_SPIN_BUTTON(d->steps), d->info.default_steps);
        d->model_kind = kind;
    }
    gtk_label_set_markup(GTK_LABEL(d->model_label), markup);
    gtk_widget_set_sensitive(d->guidance, !d->model_ok || d->info.uses_guidance);
    gtk_dialog_set_response_sensitive(GTK_DIALOG(d->dialog), GTK_RESPONSE_OK, d->model_ok);
    flux_companion_rows_show(&d->files, d->model_dir);
    update_size_and_estimate(d);
}

/* ------------------------------------------------------------------------------------- */
/* Signals                                                                               */

static void on_model_changed(GtkFileChooser *chooser, Dialog *d)
{
    g_autofree char *dir = gtk_file_chooser_get_filename(chooser);
    g_autofree char *now = flux_model_main_path(d->model_dir);
    /* the button reports NULL while it is still loading the folder it was given */
    if (!dir || g_strcmp0(dir, now) == 0) return;
    g_autofree char *model = flux_model_with_path(d->model_dir, dir);
    set_model(d, model, FALSE);
}

/* A companion chosen by hand (from its chooser) or set back to Automatic (file NULL). */
static void set_companion(gpointer data, FluxCompanion c, const char *file)
{
    Dialog *d = data;
    g_autofree char *model = flux_model_with_companion(d->model_dir, c, file);
    if (g_strcmp0(model, d->model_dir) != 0) set_model(d, model, FALSE);
}

/* The prompt as typed, whitespace only counting as empty. */
static gboolean prompt_is_empty(Dialog *d)
{
    GtkTextBuffer *buf = gtk_text_view_get_buffer(GTK_TEXT_VIEW(d->prompt));
    GtkTextIter a, b;
    gtk_text_buffer_get_bounds(buf, &a, &b);
    g_autofree char *text = gtk_text_buffer_get_text(buf, &a, &b, FALSE);
    return g_strstrip(text)[0] == '\0';
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

static void on_value_changed(GtkWidget *w, Dialog *d)
{
    (void)w;
    update_size_and_estimate(d);
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
    GtkWidget *parent = help_data;
    GtkWidget *msg =
        gtk_message_dialog_new(GTK_IS_WINDOW(parent) ? GTK_WINDOW(parent) : NULL, GTK_DIALOG_MODAL,
                               GTK_MESSAGE_INFO, GTK_BUTTONS_CLOSE, "%s", _("FLUX Text to Image"));
    g_autofree char *text = flux_text_help();
    gtk_message_dialog_format_secondary_text(GTK_MESSAGE_DIALOG(msg), "%s", text);
    gtk_dialog_run(GTK_DIALOG(msg));
    gtk_widget_destroy(msg);
}

/* ------------------------------------------------------------------------------------- */
/* Construction                                                                          */

static GtkWidget *spin_new(double lo, double hi, double step, int digits, double value)
{
    GtkWidget *spin = gtk_spin_button_new_with_range(lo, hi, step);
    gtk_spin_button_set_digits(GTK_SPIN_BUTTON(spin), (guint)digits);
    gtk_spin_button_set_value(GTK_SPIN_BUTTON(spin), value);
    gtk_entry_set_activates_default(GTK_ENTRY(spin), TRUE);
    return spin;
}

static GtkWidget *wrapped_label(void)
{
    GtkWidget *label = gtk_label_new(NULL);
    gtk_label_set_line_wrap(GTK_LABEL(label), TRUE);
    gtk_misc_set_alignment(GTK_MISC(label), 0.0, 0.5);
    gtk_widget_set_size_request(label, 440, -1);
    return label;
}

static GtkWidget *build_prompt(Dialog *d, const FluxRenderParams *p)
{
    GtkWidget *box = gtk_vbox_new(FALSE, 4);
    GtkWidget *label = gtk_label_new_with_mnemonic(_("_Prompt:"));
    gtk_misc_set_alignment(GTK_MISC(label), 0.0, 0.5);
    gtk_box_pack_start(GTK_BOX(box), label, FALSE, FALSE, 0);

    GtkWidget *scroll = gtk_scrolled_window_new(NULL, NULL);
    gtk_scrolled_window_set_policy(GTK_SCROLLED_WINDOW(scroll), GTK_POLICY_NEVER,
                                   GTK_POLICY_AUTOMATIC);
    gtk_scrolled_window_set_shadow_type(GTK_SCROLLED_WINDOW(scroll), GTK_SHADOW_IN);
    gtk_widget_set_size_request(scroll, -1, 80);
    d->prompt = gtk_text_view_new();
    gtk_text_view_set_wrap_mode(GTK_TEXT_VIEW(d->prompt), GTK_WRAP_WORD_CHAR);
    gtk_text_view_set_accepts_tab(GTK_TEXT_VIEW(d->prompt), FALSE);
    gtk_text_buffer_set_text(gtk_text_view_get_buffer(GTK_TEXT_VIEW(d->prompt)), p->prompt, -1);
    g_signal_connect(d->prompt, "key-press-event", G_CALLBACK(on_prompt_key), d);
    gtk_container_add(GTK_CONTAINER(scroll), d->prompt);
    gtk_label_set_mnemonic_widget(GTK_LABEL(label), d->prompt);
    gtk_box_pack_start(GTK_BOX(box), scroll, TRUE, TRUE, 0);

    GtkWidget *hint =
        gtk_label_new(_("Enter generates the picture; Shift+Enter starts a new line."));
    gtk_misc_set_alignment(GTK_MISC(hint), 0.0, 0.5);
    gimp_label_set_attributes(GTK_LABEL(hint), PANGO_ATTR_STYLE, PANGO_STYLE_ITALIC, -1);
    gtk_box_pack_start(GTK_BOX(box), hint, FALSE, FALSE, 0);
    return box;
}

/* ▸ Model files: per companion a label, a file chooser, Automatic, and a note below. */
static GtkWidget *build_files(Dialog *d)
{
    FluxCompanionRows *rows = &d->files;
    flux_companion_rows_init(rows, set_companion, d);
    GtkWidget *table = gtk_table_new(2 * FLUX_N_COMPANIONS, 3, FALSE);
    gtk_table_set_row_spacings(GTK_TABLE(table), 2);
    gtk_table_set_col_spacings(GTK_TABLE(table), 6);
    for (int c = 0; c < FLUX_N_COMPANIONS; c++) {
        gimp_table_attach_aligned(GTK_TABLE(table), 0, 2 * c, flux_companion_label(c), 0.0, 0.5,
                                  rows->chooser[c], 1, FALSE);
        gtk_table_attach(GTK_TABLE(table), rows->automatic[c], 2, 3, 2 * c, 2 * c + 1, GTK_FILL,
                         GTK_FILL, 0, 0);
        gtk_table_attach(GTK_TABLE(table), rows->note[c], 1, 3, 2 * c + 1, 2 * c + 2, GTK_FILL,
                         GTK_FILL, 0, 0);
    }
    gtk_container_add(GTK_CONTAINER(rows->expander), table);
    return rows->expander;
}

static GtkWidget *build_precision(Dialog *d)
{
    d->precision = gtk_combo_box_text_new();
    for (int i = 0; i < FLUX_N_PRECISIONS; i++)
        gtk_combo_box_text_append_text(GTK_COMBO_BOX_TEXT(d->precision),
                                       flux_precision_choice_label(i));
    gtk_combo_box_set_active(GTK_COMBO_BOX(d->precision),
                             flux_precision_choice_index(d->opt->settings->precision));
    gtk_widget_set_tooltip_text(d->precision, flux_precision_choice_tooltip());
    return d->precision;
}

static GtkWidget *build_table(Dialog *d, const FluxRenderParams *p)
{
    GtkWidget *table = gtk_table_new(10, 2, FALSE);
    gtk_table_set_row_spacings(GTK_TABLE(table), 6);
    gtk_table_set_col_spacings(GTK_TABLE(table), 6);
    int row = 0;

    g_autofree char *path = flux_model_main_path(p->model);
    gboolean is_file = path[0] && g_file_test(path, G_FILE_TEST_IS_REGULAR);
    d->model_chooser = gtk_file_chooser_button_new(_("Choose the FLUX.1 model folder"),
                                                   GTK_FILE_CHOOSER_ACTION_SELECT_FOLDER);
    if (path[0] && !is_file)
        gtk_file_chooser_set_filename(GTK_FILE_CHOOSER(d->model_chooser), path);
    gimp_table_attach_aligned(GTK_TABLE(table), 0, row++, _("_Model folder:"), 0.0, 0.5,
                              d->model_chooser, 1, FALSE);
    /* ComfyUI-style single files: the transformer; its companions are found beside it */
    d->model_file = gtk_file_chooser_button_new(_("Choose the FLUX.1 transformer file"),
                                                GTK_FILE_CHOOSER_ACTION_OPEN);
    gtk_file_chooser_add_filter(
        GTK_FILE_CHOOSER(d->model_file),
        flux_weights_filter(_("FLUX.1 transformer files (.safetensors, .gguf)")));
    if (is_file) gtk_file_chooser_set_filename(GTK_FILE_CHOOSER(d->model_file), path);
    gimp_table_attach_aligned(GTK_TABLE(table), 0, row++, _("or model _file:"), 0.0, 0.5,
                              d->model_file, 1, FALSE);
    d->model_label = wrapped_label();
    gtk_table_attach(GTK_TABLE(table), d->model_label, 1, 2, row, row + 1, GTK_FILL, GTK_FILL, 0,
                     0);
    row++;
    gtk_table_attach(GTK_TABLE(table), build_files(d), 1, 2, row, row + 1, GTK_FILL, GTK_FILL, 0,
                     0);
    row++;

    d->width = spin_new(FLUX_SIZE_STEP, FLUX_MAX_SIZE, FLUX_SIZE_STEP, 0, p->width);
    gimp_table_attach_aligned(GTK_TABLE(table), 0, row++, _("_Width:"), 0.0, 0.5, d->width, 1,
                              TRUE);
    d->height = spin_new(FLUX_SIZE_STEP, FLUX_MAX_SIZE, FLUX_SIZE_STEP, 0, p->height);
    gimp_table_attach_aligned(GTK_TABLE(table), 0, row++, _("Hei_ght:"), 0.0, 0.5, d->height, 1,
                              TRUE);
    d->size_label = wrapped_label();
    gtk_table_attach(GTK_TABLE(table), d->size_label, 1, 2, row, row + 1, GTK_FILL, GTK_FILL, 0, 0);
    row++;

    d->steps = spin_new(1, FLUX_MAX_STEPS, 1, 0, p->steps);
    gimp_table_attach_aligned(GTK_TABLE(table), 0, row++, _("_Steps:"), 0.0, 0.5, d->steps, 1,
                              TRUE);
    d->guidance = spin_new(0.0, FLUX_GUIDANCE_MAX, 0.5, 1, p->guidance);
    gimp_table_attach_aligned(GTK_TABLE(table), 0, row++, _("G_uidance:"), 0.0, 0.5, d->guidance, 1,
                              TRUE);

    GtkWidget *seed_box = gtk_hbox_new(FALSE, 6);
    d->seed = spin_new(0, FLUX_SEED_MAX, 1, 0, MAX(p->seed, 0));
    gtk_box_pack_start(GTK_BOX(seed_box), d->seed, FALSE, FALSE, 0);
    d->random = gtk_check_button_new_with_mnemonic(_("_Random"));
    gtk_toggle_button_set_active(GTK_TOGGLE_BUTTON(d->random), p->random_seed);
    gtk_widget_set_sensitive(d->seed, !p->random_seed);
    gtk_box_pack_start(GTK_BOX(seed_box), d->random, FALSE, FALSE, 0);
    gimp_table_attach_aligned(GTK_TABLE(table), 0, row++, _("S_eed:"), 0.0, 0.5, seed_box, 1, TRUE);

    gimp_table_attach_aligned(GTK_TABLE(table), 0, row++, _("Precisio_n:"), 0.0, 0.5,
                              build_precision(d), 1, TRUE);

    d->loras = flux_lora_list_new(p->loras);
    gimp_table_attach_aligned(GTK_TABLE(table), 0, row++, _("LoRAs:"), 0.0, 0.0, d->loras, 1,
                              FALSE);

    d->estimate = wrapped_label();
    gtk_table_attach(GTK_TABLE(table), d->estimate, 0, 2, row, row + 1, GTK_FILL, GTK_FILL, 0, 0);

    g_signal_connect(d->model_chooser, "selection-changed", G_CALLBACK(on_model_changed), d);
    g_signal_connect(d->model_file, "file-set", G_CALLBACK(on_model_changed), d);
    GtkWidget *spins[] = {d->width, d->height, d->steps};
    for (guint i = 0; i < G_N_ELEMENTS(spins); i++)
        g_signal_connect(spins[i], "value-changed", G_CALLBACK(on_value_changed), d);
    g_signal_connect(d->random, "toggled", G_CALLBACK(on_random_toggled), d);
    return table;
}

static void read_back(Dialog *d, FluxRenderParams *p)
{
    GtkWidget *spins[] = {d->width, d->height, d->steps, d->guidance, d->seed};
    for (guint i = 0; i < G_N_ELEMENTS(spins); i++)
        gtk_spin_button_update(GTK_SPIN_BUTTON(spins[i])); /* text typed but not yet parsed */

    GtkTextBuffer *buf = gtk_text_view_get_buffer(GTK_TEXT_VIEW(d->prompt));
    GtkTextIter a, b;
    gtk_text_buffer_get_bounds(buf, &a, &b);
    g_autofree char *text = gtk_text_buffer_get_text(buf, &a, &b, FALSE);
    flux_render_params_set_prompt(p, text);
    flux_render_params_set_model(p, d->model_dir);
    p->width = spin_int(d->width);
    p->height = spin_int(d->height);
    p->steps = spin_int(d->steps);
    p->guidance = gtk_spin_button_get_value(GTK_SPIN_BUTTON(d->guidance));
    p->seed = spin_int(d->seed);
    p->random_seed = gtk_toggle_button_get_active(GTK_TOGGLE_BUTTON(d->random));
    g_autofree char *loras = flux_lora_list_get_text(d->loras);
    flux_render_params_set_loras(p, loras); /* a list too long for the field is dropped */
}

/* Working from a picture: the mode line and, when asked, the strength slider. */
static void build_edit(Dialog *d, GtkWidget *vbox)
{
    if (d->opt->mode) {
        GtkWidget *mode = gtk_label_new(d->opt->mode);
        gtk_misc_set_alignment(GTK_MISC(mode), 0.0, 0.5);
        gimp_label_set_attributes(GTK_LABEL(mode), PANGO_ATTR_WEIGHT, PANGO_WEIGHT_BOLD, -1);
        gtk_box_pack_start(GTK_BOX(vbox), mode, FALSE, FALSE, 0);
    }
    if (!d->opt->strength) return;
    GtkWidget *row = gtk_hbox_new(FALSE, 6);
    GtkWidget *label = gtk_label_new_with_mnemonic(_("S_trength:"));
    d->strength = gtk_hscale_new_with_range(0.05, 1.0, 0.05);
    gtk_scale_set_digits(GTK_SCALE(d->strength), 2);
    gtk_range_set_value(GTK_RANGE(d->strength), CLAMP(*d->opt->strength, 0.05, 1.0));
    gtk_label_set_mnemonic_widget(GTK_LABEL(label), d->strength);
    gtk_box_pack_start(GTK_BOX(row), label, FALSE, FALSE, 0);
    gtk_box_pack_start(GTK_BOX(row), d->strength, TRUE, TRUE, 0);
    gtk_widget_set_tooltip_text(d->strength, _("How much to change the layer: low keeps its "
                                               "shapes and colours, 1 paints anew"));
    gtk_box_pack_start(GTK_BOX(vbox), row, FALSE, FALSE, 0);
}

gboolean flux_dialog_run(FluxRenderParams *p, const FluxDialogOptions *opt)
{
    Dialog d = {.opt = opt, .model_kind = -1};
    d.dialog = gimp_dialog_new(opt->title, opt->role, NULL, 0, show_help, opt->help_id,
                               _("_Cancel"), GTK_RESPONSE_CANCEL, _("_OK"), GTK_RESPONSE_OK, NULL);
    gtk_dialog_set_alternative_button_order(GTK_DIALOG(d.dialog), GTK_RESPONSE_OK,
                                            GTK_RESPONSE_CANCEL, -1);
    gtk_dialog_set_default_response(GTK_DIALOG(d.dialog), GTK_RESPONSE_OK);
    gimp_window_set_transient(GTK_WINDOW(d.dialog));

    GtkWidget *vbox = gtk_vbox_new(FALSE, 12);
    gtk_container_set_border_width(GTK_CONTAINER(vbox), 12);
    gtk_box_pack_start(GTK_BOX(gtk_dialog_get_content_area(GTK_DIALOG(d.dialog))), vbox, TRUE, TRUE,
                       0);
    build_edit(&d, vbox);
    gtk_box_pack_start(GTK_BOX(vbox), build_prompt(&d, p), TRUE, TRUE, 0);
    gtk_box_pack_start(GTK_BOX(vbox), build_table(&d, p), FALSE, FALSE, 0);
    set_model(&d, p->model, TRUE);
    gtk_widget_show_all(d.dialog);
    gtk_widget_grab_focus(d.prompt);

    gboolean ok;
    do ok = gimp_dialog_run(GIMP_DIALOG(d.dialog)) == GTK_RESPONSE_OK && d.model_ok;
    while (ok && prompt_is_empty(&d) && !confirm_empty_prompt(&d));
    if (ok) read_back(&d, p);
    if (ok && d.strength) *opt->strength = gtk_range_get_value(GTK_RANGE(d.strength));
    if (ok)
        flux_settings_set_precision(
            opt->settings,
            flux_precision_choice_value(gtk_combo_box_get_active(GTK_COMBO_BOX(d.precision))));
    gtk_widget_destroy(d.dialog);
    g_free(d.model_dir);
    return ok;
}
