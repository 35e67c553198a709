/* flux-edit-entry3.h — plug-in-flux-edit, the GIMP 3 entry of FLUX working inside a picture
 * (flux-edit-entry3.c), created from flux-plugin.c's create_procedure. */
#pragma once

#include <libgimp/gimp.h>

#define PROC_EDIT "plug-in-flux-edit"

/* The procedure (Filters ▸ Render ▸ FLUX Repaint...) with its arguments and run function. */
GimpProcedure *flux_edit_entry3_create(GimpPlugIn *plug_in);
