/* flux-lora-list.h — the dialog's LoRA list (GTK 2; ui/gimp3/flux-lora-list3.h is GTK 3's): one row
 * per LoRA with its file, a strength slider and a Remove button, and an "Add LoRA" button. It reads
 * and writes the list string of frontend/flux-loras.h
 * ("style.safetensors:0.8;turbo.safetensors:1"), which the plug-in remembers with the other values.
 */
#pragma once

#include <gtk/gtk.h>

G_BEGIN_DECLS

/* The widget, filled from `list` (items that do not parse are dropped). */
GtkWidget *flux_lora_list_new(const char *list);
/* The list now: rows without a chosen file are left out. Caller frees. */
char *flux_lora_list_get_text(GtkWidget *widget);

G_END_DECLS
