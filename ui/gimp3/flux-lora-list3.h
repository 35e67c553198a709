/* flux-lora-list3.h — the GIMP 3 dialog's LoRA list (GTK 3; ui/gimp2/flux-lora-list.h is the
 * 2.10 dialog's): a GtkListBox with one row per LoRA (file chooser, strength slider, Remove)
 * and an "Add LoRA" button. It reads and writes the list string of frontend/flux-loras.h
 * ("style.safetensors:0.8;turbo.safetensors:1"), kept in the procedure config's "loras". */
#pragma once

#include <gtk/gtk.h>

G_BEGIN_DECLS

/* The widget, filled from `list` (items that do not parse are dropped). */
GtkWidget *flux_lora_list3_new(const char *list);
/* The list now: rows without a chosen file are left out. Caller frees. */
char *flux_lora_list3_get_text(GtkWidget *widget);

G_END_DECLS
