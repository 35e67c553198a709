/* flux-lora-list3.c — see flux-lora-list3.h.
 *
 *   LoRAs   [style.safetensors ▾]  ────●──── 0.80  [Remove]
 *           [Add LoRA]
 */
#include "flux-lora-list3.h"

#include "flux-intl.h"
#include "flux-loras.h"

#define STRENGTH_MIN  -2.0 /* the slider's range; the PDB string takes -100..100 */
#define STRENGTH_MAX  3.0
#define STRENGTH_STEP 0.05
#define KEY_LIST      "flux-lora-list3-rows"

/* A row's GtkBox holds the chooser, the scale and the Remove button in that order. */
static void on_remove(GtkButton *button, GtkWidget *list_row)
{
    (void)button;
    gtk_widget_destroy(list_row);
}

static void add_row(GtkListBox *rows, const char *path, double strength)
{
    GtkWidget *box = gtk_box_new(GTK_ORIENTATION_HORIZONTAL, 6);
    GtkWidget *chooser =
        gtk_file_chooser_button_new(_("Choose a LoRA file"), GTK_FILE_CHOOSER_ACTION_OPEN);
    GtkFileFilter *filter = gtk_file_filter_new();
    gtk_file_filter_set_name(filter, _("LoRA files (*.safetensors)"));
    gtk_file_filter_add_pattern(filter, "*.safetensors");
    gtk_file_chooser_add_filter(GTK_FILE_CHOOSER(chooser), filter);
    if (path) gtk_file_chooser_set_filename(GTK_FILE_CHOOSER(chooser), path);
    GtkWidget *scale = gtk_scale_new_with_range(GTK_ORIENTATION_HORIZONTAL, STRENGTH_MIN,
                                                STRENGTH_MAX, STRENGTH_STEP);
    gtk_scale_set_digits(GTK_SCALE(scale), 2);
    gtk_scale_set_value_pos(GTK_SCALE(scale), GTK_POS_RIGHT);
    gtk_range_set_value(GTK_RANGE(scale), CLAMP(strength, STRENGTH_MIN, STRENGTH_MAX));
    gtk_widget_set_size_request(scale, 140, -1);
    gtk_widget_set_tooltip_text(scale, _("Strength: 1 as the LoRA was trained, 0 off, "
                                         "negative values push away from its style"));
    GtkWidget *remove = gtk_button_new_with_mnemonic(_("Remo_ve"));
    gtk_box_pack_start(GTK_BOX(box), chooser, TRUE, TRUE, 0);
    gtk_box_pack_start(GTK_BOX(box), scale, TRUE, TRUE, 0);
    gtk_box_pack_start(GTK_BOX(box), remove, FALSE, FALSE, 0);
    gtk_list_box_insert(rows, box, -1);
    GtkWidget *list_row = gtk_widget_get_parent(box); /* the GtkListBoxRow made for it */
    g_signal_connect(remove, "clicked", G_CALLBACK(on_remove), list_row);
    gtk_widget_show_all(list_row);
}

static void on_add(GtkButton *button, GtkListBox *rows)
{
    (void)button;
    add_row(rows, NULL, 1.0);
}

GtkWidget *flux_lora_list3_new(const char *list)
{
    GtkWidget *box = gtk_box_new(GTK_ORIENTATION_VERTICAL, 4);
    GtkWidget *rows = gtk_list_box_new();
    gtk_list_box_set_selection_mode(GTK_LIST_BOX(rows), GTK_SELECTION_NONE);
    g_object_set_data(G_OBJECT(box), KEY_LIST, rows);
    gtk_box_pack_start(GTK_BOX(box), rows, FALSE, FALSE, 0);
    FluxLora *loras;
    int n;
    if (flux_lora_list_parse(list, &loras, &n, NULL)) {
        for (int i = 0; i < n; i++) add_row(GTK_LIST_BOX(rows), loras[i].path, loras[i].multiplier);
        flux_lora_list_free(loras, n);
    }
    GtkWidget *add = gtk_button_new_with_mnemonic(_("Add _LoRA"));
    gtk_widget_set_tooltip_text(add, _("A LoRA file (.safetensors, from kohya/ComfyUI, "
                                       "diffusers or ai-toolkit) adds a style, a character or a "
                                       "speed-up to the model; several can be combined"));
    gtk_widget_set_halign(add, GTK_ALIGN_START);
    g_signal_connect(add, "clicked", G_CALLBACK(on_add), rows);
    gtk_box_pack_start(GTK_BOX(box), add, FALSE, FALSE, 0);
    return box;
}

char *flux_lora_list3_get_text(GtkWidget *widget)
{
    GtkWidget *rows = g_object_get_data(G_OBJECT(widget), KEY_LIST);
    GList *children = gtk_container_get_children(GTK_CONTAINER(rows));
    FluxLora *loras = g_new0(FluxLora, g_list_length(children) + 1);
    int n = 0;
    for (GList *c = children; c; c = c->next) {
        GtkWidget *box = gtk_bin_get_child(GTK_BIN(c->data));
        GList *parts = gtk_container_get_children(GTK_CONTAINER(box)); /* chooser, scale, remove */
        char *path = gtk_file_chooser_get_filename(GTK_FILE_CHOOSER(parts->data));
        if (path) {
            loras[n].path = path;
            loras[n].multiplier = (float)gtk_range_get_value(GTK_RANGE(parts->next->data));
            n++;
        }
        g_list_free(parts);
    }
    g_list_free(children);
    char *text = flux_lora_list_format(loras, n);
    flux_lora_list_free(loras, n);
    return text;
}
