/* flux-watch.c — an interactive run watched in the preview window (see flux-watch.h); one
 * file for both GIMP entries, compiled into each against its own ui/ folder. */
#include "flux-watch.h"

#include "flux-preview-plan.h"
#include "flux-preview-window.h"
#include "flux-progress.h"
#include "flux-render-thread.h"

#include <gtk/gtk.h>
#include <libgimp/gimp.h>

/* The progress goes to GIMP and to the window; a sink has no user data, and a plug-in
 * process makes one run at a time, so the window of the run is kept here. */
static FluxPreviewWindow *progress_window;

static gboolean window_progress_init(const char *text)
{
    flux_preview_window_set_text(progress_window, text);
    return gimp_progress_init(text);
}

static gboolean window_progress_text(const char *text)
{
    flux_preview_window_set_text(progress_window, text);
    return gimp_progress_set_text(text);
}

static gboolean window_progress_update(double fraction)
{
    flux_preview_window_set_fraction(progress_window, fraction);
    return gimp_progress_update(fraction);
}

typedef struct {
    FluxRenderThread *thread;
    FluxWorkerCallbacks progress; /* flux_progress_callbacks onto the sink above */
} Watch;

static void watch_phase(FluxWorkerPhase phase, void *user_data)
{
    Watch *w = user_data;
    w->progress.phase(phase, w->progress.user_data);
}

static void watch_step(int step, int total, double seconds_left, void *user_data)
{
    Watch *w = user_data;
    w->progress.step(step, total, seconds_left, w->progress.user_data);
}

static void watch_within(int step, int total, double fraction, double seconds_left, void *user_data)
{
    Watch *w = user_data;
    w->progress.within_step(step, total, fraction, seconds_left, w->progress.user_data);
}

static void watch_preview(int step, int total, const guint8 *rgb, int w, int h, void *user_data)
{
    (void)step, (void)total, (void)user_data;
    flux_preview_window_set_picture(progress_window, rgb, w, h);
}

static void watch_done(void *user_data)
{
    (void)user_data;
    gtk_main_quit();
}

static void watch_stop(void *user_data)
{
    flux_render_thread_stop(((Watch *)user_data)->thread);
}

gboolean flux_watch_render(const FluxRenderParams *p, const FluxEditInput *in, gint32 seed,
                           const FluxModelFound *found, const char *title, FluxWorkerResult *res,
                           GError **error)
{
    static const FluxProgressSink sink = {window_progress_init, window_progress_text,
                                          window_progress_update};
    /* a run from a picture has the picture's size, whatever p's width and height say */
    int width = in ? in->width : flux_render_output_size(p->width);
    int height = in ? in->height : flux_render_output_size(p->height);
    int pw, ph;
    flux_worker_preview_size(width, height, FLUX_PREVIEW_SIDE, &pw, &ph);
    FluxRenderParams sized = *p; /* the plan's cost depends on the size */
    sized.width = width, sized.height = height;
    g_autofree char *plan = found ? flux_preview_plan_text(&sized, &found->info) : NULL;
    Watch w = {0};
    flux_progress_callbacks(&w.progress, &sink);
    progress_window = flux_preview_window_new(title, pw, ph, plan, watch_stop, &w);
    FluxRenderThreadCallbacks cb = {.phase = watch_phase,
                                    .step = watch_step,
                                    .preview = watch_preview,
                                    .done = watch_done,
                                    .within_step = watch_within,
                                    .user_data = &w,
                                    .preview_side = FLUX_PREVIEW_SIDE,
                                    .preview_quality = FLUX_PREVIEW_VAE,
                                    .found = found};
    w.thread = in ? flux_render_thread_start_edit(p, seed, in, &cb)
                  : flux_render_thread_start(p, seed, &cb);
    gtk_main();
    gboolean ok = flux_render_thread_finish(w.thread, res, error);
    flux_preview_window_destroy(progress_window);
    progress_window = NULL;
    return ok;
}
