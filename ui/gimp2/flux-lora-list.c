/* flux-lora-list.c — see flux-lora-list.h.
 *
 *   LoRAs   [style.safetensors ▾]  ────●──── 0.80  [Remove]
 *           [turbo.safetensors ▾]  ──────●── 1.00  [Remove]
 *           [Add LoRA]
 */
#include "flux-lora-list.h"

#include "flux-intl.h"
#include "flux-loras.h"

#include <libgimp/gimp.h>
#include <libgimp/gimpui.h>

#define STRENGTH_MIN  -2.0 /* the slider's range; the PDB string takes -100..100 */
#define STRENGTH_MAX  3.0
#define STRENGTH_STEP 0.05

typedef struct {
    GtkWidget *rows; /* vbox of row hboxes */
} LoraList;

/* Row children, found through object data on the row. */
#define ROW_CHOOSER "flux-lora-chooser"
#define ROW_SCALE   "flux-lora-scale"

static void on_remove(GtkButton *button, GtkWidget *row)
{
    (void)button;
    gtk_widget_destroy(row);
}

static void add_row(LoraList *l, const char *path, double strength)
{
    GtkWidget *row = gtk_hbox_new(FALSE, 6);
    GtkWidget *chooser =
        gtk_file_chooser_button_new(_("Choose a LoRA file"), GTK_FILE_CHOOSER_ACTION_OPEN);
    GtkFileFilter *filter = gtk_file_filter_new();
    gtk_file_filter_set_name(filter, _("LoRA files (*.safetensors)"));
    gtk_file_filter_add_pattern(filter, "*.safetensors");
    gtk_file_chooser_add_filter(GTK_FILE_CHOOSER(chooser), filter);
    if (path) gtk_file_chooser_set_filename(GTK_FILE_CHOOSER(chooser), path);
    gtk_widget_set_size_request(chooser, 200, -1);
    GtkWidget *scale = gtk_hscale_new_with_range(STRENGTH_MIN, STRENGTH_MAX, STRENGTH_STEP);
    gtk_scale_set_digits(GTK_SCALE(scale), 2);
    gtk_scale_set_value_pos(GTK_SCALE(scale), GTK_POS_RIGHT);
    gtk_range_set_value(GTK_RANGE(scale), CLAMP(strength, STRENGTH_MIN, STRENGTH_MAX));
    gtk_widget_set_tooltip_text(scale, _("Strength: 1 as the LoRA was trained, 0 off, "
                                         "negative values push away from its style"));
    gtk_widget_set_size_request(scale, 140, -1);
    GtkWidget *remove = gtk_button_new_with_mnemonic(_("Remo_ve"));
    g_signal_connect(remove, "clicked", G_CALLBACK(on_remove), row);
    gtk_box_pack_start(GTK_BOX(row), chooser, TRUE, TRUE, 0);
    gtk_box_pack_start(GTK_BOX(row), scale, TRUE, TRUE, 0);
    gtk_box_pack_start(GTK_BOX(row), remove, FALSE, FALSE, 0);
    g_object_set_data(G_OBJECT(row), ROW_CHOOSER, chooser);
    g_object_set_data(G_OBJECT(row), ROW_SCALE, scale);
    gtk_box_pack_start(GTK_BOX(l->rows), row, FALSE, FALSE, 0);
    gtk_widget_show_all(row);
}

static void on_add(GtkButton *button, LoraList *l)
{
    (void)button;
    add_row(l, NULL, 1.0);
}

GtkWidget *flux_lora_list_new(const char *list)
{
    LoraList *l = g_new0(LoraList, 1);
    GtkWidget *box = gtk_vbox_new(FALSE, 4);
    g_object_set_data_full(G_OBJECT(box), "flux-lora-list", l, g_free);
    l->rows = gtk_vbox_new(FALSE, 4);
    gtk_box_pack_start(GTK_BOX(box), l->rows, FALSE, FALSE, 0);
    FluxLora *loras;
    int n;
    if (flux_lora_list_parse(list, &loras, &n, NULL)) {
        for (int i = 0; i < n; i++) add_row(l, loras[i].path, loras[i].multiplier);
        flux_lora_list_free(loras, n);
    }
    GtkWidget *add = gtk_button_new_with_mnemonic(_("Add _LoRA"));
    gtk_widget_set_tooltip_text(add, _("A LoRA file (.safetensors, from kohya/ComfyUI, "
                                       "diffusers or ai-toolkit) adds a style, a character or a "
                                       "speed-up to the model; several can be combined"));
    g_signal_connect(add, "clicked", G_CALLBACK(on_add), l);
    GtkWidget *add_box = gtk_hbox_new(FALSE, 0);
    gtk_box_pack_start(GTK_BOX(add_box), add, FALSE, FALSE, 0);
    gtk_box_pack_start(GTK_BOX(box), add_box, FALSE, FALSE, 0);
    return box;
}

char *flux_lora_list_get_text(GtkWidget *widget)
{
    LoraList *l = g_object_get_data(G_OBJECT(widget), "flux-lora-list");
    GList *rows = gtk_container_get_children(GTK_CONTAINER(l->rows));
    guint len = g_list_length(rows);
    FluxLora *loras = g_new0(FluxLora, MAX(len, 1));
    int n = 0;
    for (GList *r = rows; r; r = r->next) {
        GtkWidget *chooser = g_object_get_data(G_OBJECT(r->data), ROW_CHOOSER);
        GtkWidget *scale = g_object_get_data(G_OBJECT(r->data), ROW_SCALE);
        char *path = gtk_file_chooser_get_filename(GTK_FILE_CHOOSER(chooser));
        if (!path) continue;
        loras[n].path = path;
        loras[n].multiplier = (float)gtk_range_get_value(GTK_RANGE(scale));
        n++;
    }
    g_list_free(rows);
    char *text = flux_lora_list_format(loras, n);
    flux_lora_list_free(loras, n);
    return text;
}
