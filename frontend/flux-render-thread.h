/* flux-render-thread.h — flux_worker_run on a thread of its own, so that a front-end's main
 * loop (GTK) stays responsive during a run: steps, phases and live previews are handed to
 * the main loop of the thread that started the run, and Stop asks the run to end after the
 * current step. Shared by the GIMP 2.10 and GIMP 3 entries (GLib only, no GIMP, no GTK).
 *
 *   FluxRenderThread *t = flux_render_thread_start(&params, seed, &cb);
 *   gtk_main();                      // cb.done calls gtk_main_quit
 *   FluxWorkerResult res;
 *   if (!flux_render_thread_finish(t, &res, &err)) ...   // FLUX_ERROR_CANCELLED after Stop
 */
#pragma once

#include "flux-worker.h"

#include <glib.h>

G_BEGIN_DECLS

typedef struct FluxRenderThread FluxRenderThread;

/* Every callback runs in the thread-default main context of the thread that called
 * flux_render_thread_start, in the order the run made them; `done` comes last, once. */
typedef struct {
    void (*phase)(FluxWorkerPhase phase, void *user_data);
    void (*step)(int step, int total, double seconds_left, void *user_data);
    /* rgb [height, width, 3], valid during the call; see FluxWorkerCallbacks.preview */
    void (*preview)(int step, int total, const guint8 *rgb, int width, int height, void *user_data);
    void (*done)(void *user_data); /* the run has ended: call flux_render_thread_finish */
    /* see FluxWorkerCallbacks.within_step (progress inside a step); may be NULL */
    void (*within_step)(int step, int total, double fraction, double seconds_left, void *user_data);
    void *user_data;
    int preview_side;                   /* as FluxWorkerCallbacks */
    FluxPreviewQuality preview_quality; /* as FluxWorkerCallbacks */
    /* as FluxWorkerCallbacks.found; borrowed until flux_render_thread_finish */
    const FluxModelFound *found;
} FluxRenderThreadCallbacks;

/* Starts rendering `p` (copied) with `seed`; `cb` is copied. Never NULL. */
FluxRenderThread *flux_render_thread_start(const FluxRenderParams *p, gint32 seed,
                                           const FluxRenderThreadCallbacks *cb);

/* The same from a picture (flux_worker_run_edit): `in` and its pixels are copied. */
FluxRenderThread *flux_render_thread_start_edit(const FluxRenderParams *p, gint32 seed,
                                                const FluxEditInput *in,
                                                const FluxRenderThreadCallbacks *cb);

/* Asks the run to stop after the current step (any thread; idempotent). */
void flux_render_thread_stop(FluxRenderThread *t);

/* Waits for the run to end and frees `t`. As flux_worker_run: TRUE with `result` filled, or
 * FALSE with `error` (FLUX_ERROR_CANCELLED when stopped). Callbacks not yet dispatched are
 * dropped. */
gboolean flux_render_thread_finish(FluxRenderThread *t, FluxWorkerResult *result, GError **error);

G_END_DECLS
