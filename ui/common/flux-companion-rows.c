/* flux-companion-rows.c — the dialogs' "Model files" rows (see flux-companion-rows.h). */
#include "flux-companion-rows.h"

#include "flux-intl.h"

#include <libgimp/gimp.h>
#include <libgimp/gimpui.h>

GtkFileFilter *flux_weights_filter(const char *name)
{
    GtkFileFilter *filter = gtk_file_filter_new();
    gtk_file_filter_set_name(filter, name);
    gtk_file_filter_add_pattern(filter, "*.safetensors");
    gtk_file_filter_add_pattern(filter, "*.sft");
    gtk_file_filter_add_pattern(filter, "*.gguf");
    return filter;
}

static FluxCompanion companion_of(gpointer widget)
{
    return GPOINTER_TO_INT(g_object_get_data(G_OBJECT(widget), "flux-companion"));
}

static void on_file_set(GtkFileChooser *chooser, FluxCompanionRows *rows)
{
    g_autofree char *file = gtk_file_chooser_get_filename(chooser);
    if (file) rows->chosen(rows->data, companion_of(chooser), file);
}

static void on_automatic(GtkWidget *button, FluxCompanionRows *rows)
{
    rows->chosen(rows->data, companion_of(button), NULL);
}

/* The note under a row: italic, left-aligned. */
static GtkWidget *note_label(void)
{
    GtkWidget *note = gtk_label_new(NULL);
#if GTK_CHECK_VERSION(3, 0, 0)
    gtk_label_set_xalign(GTK_LABEL(note), 0.0);
#else
    gtk_misc_set_alignment(GTK_MISC(note), 0.0, 0.5);
#endif
    gimp_label_set_attributes(GTK_LABEL(note), PANGO_ATTR_STYLE, PANGO_STYLE_ITALIC, -1);
    return note;
}

void flux_companion_rows_init(FluxCompanionRows *rows, FluxCompanionChosen chosen, gpointer data)
{
    rows->chosen = chosen, rows->data = data;
    rows->expander = gtk_expander_new_with_mnemonic(_("Model f_iles"));
    for (int c = 0; c < FLUX_N_COMPANIONS; c++) {
        rows->chooser[c] =
            gtk_file_chooser_button_new(flux_companion_title(c), GTK_FILE_CHOOSER_ACTION_OPEN);
        gtk_file_chooser_add_filter(GTK_FILE_CHOOSER(rows->chooser[c]),
                                    flux_weights_filter(_("Weight files (.safetensors, .gguf)")));
        rows->automatic[c] = gtk_button_new_with_label(_("Automatic"));
        gtk_widget_set_tooltip_text(rows->automatic[c],
                                    _("Use the file found with the model again"));
        rows->note[c] = note_label();
        GtkWidget *tagged[] = {rows->chooser[c], rows->automatic[c]};
        for (guint i = 0; i < G_N_ELEMENTS(tagged); i++)
            g_object_set_data(G_OBJECT(tagged[i]), "flux-companion", GINT_TO_POINTER(c));
        g_signal_connect(rows->chooser[c], "file-set", G_CALLBACK(on_file_set), rows);
        g_signal_connect(rows->automatic[c], "clicked", G_CALLBACK(on_automatic), rows);
    }
}

void flux_companion_rows_show(FluxCompanionRows *rows, const char *model)
{
    FluxModelFilesView view;
    flux_model_files_view(model, &view);
    for (int c = 0; c < FLUX_N_COMPANIONS; c++) {
        GtkFileChooser *chooser = GTK_FILE_CHOOSER(rows->chooser[c]);
        if (view.file[c])
            gtk_file_chooser_set_filename(chooser, view.file[c]);
        else
            gtk_file_chooser_unselect_all(chooser);
        gtk_label_set_text(GTK_LABEL(rows->note[c]), view.note[c]);
        gtk_widget_set_sensitive(rows->automatic[c], view.chosen[c]);
    }
    if (view.missing) gtk_expander_set_expanded(GTK_EXPANDER(rows->expander), TRUE);
    flux_model_files_view_clear(&view);
}
