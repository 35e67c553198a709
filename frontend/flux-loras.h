/* flux-loras.h — the LoRA list of the front-ends as one string, the form the dialogs remember
 * and the PDB takes (so that Script-Fu batches can pass it):
 *
 *   "style.safetensors:0.8;/loras/turbo.safetensors:1"
 *
 * items separated by ';' (or new lines), each "FILE[:STRENGTH]" as flux_lora_parse reads it
 * (strength 1 when left out; spaces around items are ignored; empty items are skipped, so ""
 * is no LoRA). A file name cannot contain ';'. GIMP-free, unit-tested in
 * tests/gimp/test_plugin_params.c. */
#pragma once

#include "flux.h"

#include <glib.h>

G_BEGIN_DECLS

/* Parses `text` into *loras (n items; NULL/0 for none). The message names the item and is
 * translated. Caller frees with flux_lora_list_free. */
gboolean flux_lora_list_parse(const char *text, FluxLora **loras, int *n, GError **error);
void flux_lora_list_free(FluxLora *loras, int n);

/* The string for n items: "FILE:STRENGTH;..." with the strength as %g ("0.8", "1").
 * Caller frees. */
char *flux_lora_list_format(const FluxLora *loras, int n);

G_END_DECLS
