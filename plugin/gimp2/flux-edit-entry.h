/* flux-edit-entry.h — plug-in-flux-edit, the GIMP 2.10 entry of FLUX working inside a picture
 * (flux-edit-entry.c), called from flux-plugin.c's query() and run(). */
#pragma once

#include <libgimp/gimp.h>

#define PROC_EDIT "plug-in-flux-edit"

void flux_edit_entry_query(void);
/* run() for PROC_EDIT: fills values[0..2] (status, then layer and seed, or the error message
 * kept in *message, which the caller's next call frees). */
void flux_edit_entry_run(gint nparams, const GimpParam *param, GimpParam *values,
                         gint *nreturn_vals, char **message);
