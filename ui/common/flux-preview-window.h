/* flux-preview-window.h — the window that watches a run, declared once for both entries and
 * made twice: ui/gimp2/flux-preview-window.c in GTK 2, ui/gimp3/flux-preview-window3.c in GTK 3
 * (plugin/common/flux-watch.c drives either). The picture forming after
 * every step, "Step 3/28 — 41 s left" with a progress bar, a line on how often the real
 * decoder shows it, and Stop. It only displays; the plug-in drives it from the render
 * thread's callbacks (frontend/flux-render-thread.h). The setters are NULL-safe on `w`. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct FluxPreviewWindow FluxPreviewWindow;

/* A window for a pw × ph preview; `plan_text` (may be NULL) is shown under the picture.
 * Stop and closing the window call on_stop(user_data) once. Caller owns: _destroy. */
FluxPreviewWindow *flux_preview_window_new(const char *title, int pw, int ph, const char *plan_text,
                                           void (*on_stop)(void *), void *user_data);
/* rgb [ph, pw, 3] (copied), after `step`. */
void flux_preview_window_set_picture(FluxPreviewWindow *w, const guint8 *rgb, int pw, int ph);
void flux_preview_window_set_text(FluxPreviewWindow *w, const char *text);
void flux_preview_window_set_fraction(FluxPreviewWindow *w, double fraction);
void flux_preview_window_destroy(FluxPreviewWindow *w);

G_END_DECLS
