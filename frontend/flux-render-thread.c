/* flux-render-thread.c — flux_worker_run on its own thread (see flux-render-thread.h).
 *
 * The worker thread turns every callback into an event (a copy of its arguments) and queues
 * it in the starting thread's main context as an idle source; the events are dispatched
 * there in order. Each event holds a reference on the shared state, so events
 * still queued when the caller has finished are dropped safely. */
#include "flux-render-thread.h"

#include <string.h>

typedef struct {
    gint refs;
    gint cancel;   /* FluxWorkerCallbacks.cancel */
    gint finished; /* flux_render_thread_finish has run: drop later events */
    GMainContext *ctx;
    FluxRenderThreadCallbacks cb;
} Shared;

struct FluxRenderThread {
    Shared *sh;
    GThread *thread;
    FluxRenderParams params;
    gint32 seed;
    gboolean has_edit; /* flux_render_thread_start_edit: a run from edit.rgb/mask (ours) */
    FluxEditInput edit;
    guint8 *edit_rgb, *edit_mask;
    gboolean ok;
    FluxWorkerResult result;
    GError *error;
};

typedef enum { EV_PHASE, EV_STEP, EV_WITHIN, EV_PREVIEW, EV_DONE } EventKind;

typedef struct {
    Shared *sh;
    EventKind kind;
    int a, b, w, h; /* phase or step, total; preview size */
    double seconds_left, fraction;
    guint8 *rgb;
} Event;

static void shared_unref(Shared *sh)
{
    if (!g_atomic_int_dec_and_test(&sh->refs)) return;
    g_main_context_unref(sh->ctx);
    g_free(sh);
}

static gboolean dispatch(gpointer data)
{
    Event *ev = data;
    const FluxRenderThreadCallbacks *cb = &ev->sh->cb;
    if (g_atomic_int_get(&ev->sh->finished)) return G_SOURCE_REMOVE;
    switch (ev->kind) {
    case EV_PHASE:
        if (cb->phase) cb->phase((FluxWorkerPhase)ev->a, cb->user_data);
        break;
    case EV_STEP:
        if (cb->step) cb->step(ev->a, ev->b, ev->seconds_left, cb->user_data);
        break;
    case EV_WITHIN:
        if (cb->within_step)
            cb->within_step(ev->a, ev->b, ev->fraction, ev->seconds_left, cb->user_data);
        break;
    case EV_PREVIEW:
        if (cb->preview) cb->preview(ev->a, ev->b, ev->rgb, ev->w, ev->h, cb->user_data);
        break;
    case EV_DONE:
        if (cb->done) cb->done(cb->user_data);
        break;
    }
    return G_SOURCE_REMOVE;
}

static void event_free(gpointer data)
{
    Event *ev = data;
    g_free(ev->rgb);
    shared_unref(ev->sh);
    g_free(ev);
}

static void post(Shared *sh, Event ev)
{
    Event *copy = g_memdup2(&ev, sizeof ev);
    copy->sh = sh;
    g_atomic_int_inc(&sh->refs);
    /* an idle source, not g_main_context_invoke: from the worker thread invoke may call
     * `dispatch` right there when it can acquire the (global default) context */
    GSource *src = g_idle_source_new();
    g_source_set_priority(src, G_PRIORITY_DEFAULT);
    g_source_set_callback(src, dispatch, copy, event_free);
    g_source_attach(src, sh->ctx);
    g_source_unref(src);
}

/* ------------------------------------------------------------------------------------- */
/* On the worker thread                                                                  */

static void on_phase(FluxWorkerPhase phase, void *user_data)
{
    post(user_data, (Event){.kind = EV_PHASE, .a = (int)phase});
}

static void on_step(int step, int total, double seconds_left, void *user_data)
{
    post(user_data, (Event){.kind = EV_STEP, .a = step, .b = total, .seconds_left = seconds_left});
}

static void on_within(int step, int total, double fraction, double seconds_left, void *user_data)
{
    post(user_data, (Event){.kind = EV_WITHIN,
                            .a = step,
                            .b = total,
                            .fraction = fraction,
                            .seconds_left = seconds_left});
}

static void on_preview(int step, int total, const guint8 *rgb, int w, int h, void *user_data)
{
    guint8 *copy = g_memdup2(rgb, (gsize)w * h * 3);
    post(user_data,
         (Event){.kind = EV_PREVIEW, .a = step, .b = total, .w = w, .h = h, .rgb = copy});
}

static gpointer thread_main(gpointer data)
{
    FluxRenderThread *t = data;
    Shared *sh = t->sh;
    FluxWorkerCallbacks wcb = {.phase = on_phase,
                               .step = on_step,
                               .user_data = sh,
                               .preview = sh->cb.preview ? on_preview : NULL,
                               .preview_side = sh->cb.preview_side,
                               .preview_quality = sh->cb.preview_quality,
                               .cancel = &sh->cancel,
                               .within_step = sh->cb.within_step ? on_within : NULL,
                               .found = sh->cb.found};
    t->ok = t->has_edit
                ? flux_worker_run_edit(&t->params, t->seed, &t->edit, &wcb, &t->result, &t->error)
                : flux_worker_run(&t->params, t->seed, &wcb, &t->result, &t->error);
    post(sh, (Event){.kind = EV_DONE});
    return NULL;
}

/* ------------------------------------------------------------------------------------- */
/* On the caller's thread                                                                */

static FluxRenderThread *thread_new(const FluxRenderParams *p, gint32 seed,
                                    const FluxRenderThreadCallbacks *cb)
{
    FluxRenderThread *t = g_new0(FluxRenderThread, 1);
    t->sh = g_new0(Shared, 1);
    t->sh->refs = 1;
    t->sh->ctx = g_main_context_ref_thread_default();
    t->sh->cb = *cb;
    t->params = *p;
    t->seed = seed;
    return t;
}

FluxRenderThread *flux_render_thread_start(const FluxRenderParams *p, gint32 seed,
                                           const FluxRenderThreadCallbacks *cb)
{
    FluxRenderThread *t = thread_new(p, seed, cb);
    t->thread = g_thread_new("flux-render", thread_main, t);
    return t;
}

FluxRenderThread *flux_render_thread_start_edit(const FluxRenderParams *p, gint32 seed,
                                                const FluxEditInput *in,
                                                const FluxRenderThreadCallbacks *cb)
{
    FluxRenderThread *t = thread_new(p, seed, cb);
    gsize n = (gsize)in->width * in->height;
    t->has_edit = TRUE;
    t->edit = *in;
    t->edit.rgb = t->edit_rgb = g_memdup2(in->rgb, n * 3);
    t->edit.mask = t->edit_mask = in->mask ? g_memdup2(in->mask, n) : NULL;
    t->thread = g_thread_new("flux-render", thread_main, t);
    return t;
}

void flux_render_thread_stop(FluxRenderThread *t)
{
    g_atomic_int_set(&t->sh->cancel, 1);
}

gboolean flux_render_thread_finish(FluxRenderThread *t, FluxWorkerResult *result, GError **error)
{
    g_thread_join(t->thread);
    g_atomic_int_set(&t->sh->finished, 1);
    gboolean ok = t->ok;
    if (ok)
        *result = t->result;
    else {
        memset(result, 0, sizeof *result);
        g_propagate_error(error, t->error);
    }
    shared_unref(t->sh);
    g_free(t->edit_rgb);
    g_free(t->edit_mask);
    g_free(t);
    return ok;
}
