/* flux-watch.h — an interactive run watched in the preview window, for both GIMP entries: the
 * render on a thread (frontend/flux-render-thread.h) while GTK shows the picture forming in
 * the entry's window (ui/common/flux-preview-window.h), the progress going to GIMP and to the
 * window alike (frontend/flux-progress.h), and the window's Stop ending the run.
 *
 * flux-watch.c is compiled once into each entry, with that entry's ui/ folder on the include
 * path: gimp_progress_* and gtk_main have the same signatures in GIMP 2.10/GTK 2 and GIMP
 * 3/GTK 3, and ui/common/flux-preview-window.h declares the window both ui folders make. */
#pragma once

#include "flux-worker.h"

#include <glib.h>

G_BEGIN_DECLS

/* Renders `p` with `seed` (from the picture `in` when non-NULL, as flux_worker_run_edit; with
 * what the check before the run `found`, or NULL, as FluxWorkerCallbacks.found) in a preview
 * window titled `title`, running GTK's main loop until the run ends; GTK must be
 * initialised. As flux_worker_run: TRUE with `res` filled, or FALSE with `error` set,
 * FLUX_ERROR_CANCELLED after Stop. One run at a time per process. */
gboolean flux_watch_render(const FluxRenderParams *p, const FluxEditInput *in, gint32 seed,
                           const FluxModelFound *found, const char *title, FluxWorkerResult *res,
                           GError **error);

G_END_DECLS
