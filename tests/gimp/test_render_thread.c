/* test_render_thread.c — frontend/flux-render-thread.c (GIMP-free): a run on its own thread
 * hands phases, steps and live previews to the caller's main loop in order, the picture is
 * the golden one, and Stop ends the run after the current step with nothing delivered; a run
 * from a picture (flux_render_thread_start_edit) gives flux_worker_run_edit's pixels. */
#include "testutil.h"
#include "flux-render-thread.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    GMainLoop *loop;
    GThread *main_thread;
    FluxRenderThread *t;
    GString *log;
    int stop_at, previews, ticks;
    guint8 *first, *last; /* previews of the first and last step */
    int pw, ph;
} Watch;

static void on_phase(FluxWorkerPhase phase, void *user_data)
{
    Watch *w = user_data;
    g_assert_true(g_thread_self() == w->main_thread);
    g_string_append_printf(w->log, "phase%d ", phase);
}

static void on_step(int step, int total, double left, void *user_data)
{
    Watch *w = user_data;
    g_assert_true(g_thread_self() == w->main_thread);
    g_assert_cmpfloat(left, >=, 0.0);
    g_string_append_printf(w->log, "%d/%d ", step, total);
    if (step == w->stop_at) flux_render_thread_stop(w->t);
}

static void on_preview(int step, int total, const guint8 *rgb, int pw, int ph, void *user_data)
{
    Watch *w = user_data;
    g_assert_true(g_thread_self() == w->main_thread);
    g_string_append_printf(w->log, "p%d ", step);
    w->previews++;
    w->pw = pw, w->ph = ph;
    if (step == 1) w->first = g_memdup2(rgb, (gsize)pw * ph * 3);
    if (step == total) w->last = g_memdup2(rgb, (gsize)pw * ph * 3);
}

static void on_done(void *user_data)
{
    Watch *w = user_data;
    g_string_append(w->log, "done");
    g_main_loop_quit(w->loop);
}

static gboolean tick(gpointer user_data)
{
    ((Watch *)user_data)->ticks++;
    return G_SOURCE_CONTINUE;
}

static void cat_params(FluxRenderParams *p, const char *dir, int width, int height, int steps)
{
    flux_render_params_init(p);
    flux_render_params_set_prompt(p, "a photo of a cat");
    flux_render_params_set_model(p, dir);
    p->width = width;
    p->height = height;
    p->steps = steps;
    p->guidance = 3.5;
}

/* A run on the thread (from the picture `in` when non-NULL), the main loop turning meanwhile. */
static gboolean run_watched_from(Watch *w, int width, int height, int steps,
                                 const FluxEditInput *in, FluxWorkerResult *res, GError **error)
{
    g_autofree char *dir = tu_model_path(NULL);
    FluxRenderParams p;
    cat_params(&p, dir, width, height, steps);
    w->loop = g_main_loop_new(NULL, FALSE);
    w->main_thread = g_thread_self();
    w->log = g_string_new(NULL);
    FluxRenderThreadCallbacks cb = {.phase = on_phase,
                                    .step = on_step,
                                    .preview = on_preview,
                                    .done = on_done,
                                    .user_data = w,
                                    .preview_side = 48,
                                    .preview_quality = FLUX_PREVIEW_VAE};
    guint timer = g_timeout_add(5, tick, w); /* the loop keeps running during the run */
    w->t =
        in ? flux_render_thread_start_edit(&p, 0, in, &cb) : flux_render_thread_start(&p, 0, &cb);
    g_main_loop_run(w->loop);
    g_source_remove(timer);
    gboolean ok = flux_render_thread_finish(w->t, res, error);
    g_main_loop_unref(w->loop);
    g_test_message("events: %s; %d ticks of the main loop during the run", w->log->str, w->ticks);
    return ok;
}

static gboolean run_watched(Watch *w, int width, int height, int steps, FluxWorkerResult *res,
                            GError **error)
{
    return run_watched_from(w, width, height, steps, NULL, res, error);
}

/* The golden 64×64 picture of the tiny model (RGB). */
static guint8 *read_golden(void)
{
    g_autofree char *golden = tu_model_path("golden/pipeline_p64x64_s4.png");
    int w, h;
    guint8 *want = tu_read_png(golden, &w, &h);
    g_assert_cmpint(w, ==, 64);
    g_assert_cmpint(h, ==, 64);
    return want;
}

static void test_previews_in_order(void)
{
    Watch w = {0};
    FluxWorkerResult res;
    GError *err = NULL;
    g_assert_true(run_watched(&w, 64, 64, 4, &res, &err));
    g_assert_no_error(err);
    /* each step's preview comes before its step report, then decoding, then done */
    g_assert_cmpstr(w.log->str, ==, "phase0 phase1 phase2 p1 1/4 p2 2/4 p3 3/4 p4 4/4 phase3 done");
    g_assert_cmpint(w.pw, ==, 48);
    g_assert_cmpint(w.ph, ==, 48);
    g_assert_true(memcmp(w.first, w.last, 48 * 48 * 3) != 0); /* the picture forms */
    g_assert_cmpint(w.ticks, >, 0);

    g_autofree guint8 *want = read_golden();
    int worst = 0;
    for (int i = 0; i < 64 * 64 * 3; i++) worst = MAX(worst, abs(res.rgb[i] - want[i]));
    g_assert_cmpint(worst, <=, 1); /* the previews change nothing in the picture */
    g_free(res.rgb);
    g_free(w.first);
    g_free(w.last);
    g_string_free(w.log, TRUE);
}

/* The events a run stopped after step `m` of `total` makes: every step up to m with its
 * preview, then perhaps the step during which Stop arrived (reported, never previewed, since
 * it ends the run), then no decoding: `done`. */
static char *stopped_events(int m, gboolean one_more, int total)
{
    GString *s = g_string_new("phase0 phase1 phase2 ");
    for (int i = 1; i <= m; i++) g_string_append_printf(s, "p%d %d/%d ", i, i, total);
    if (one_more) g_string_append_printf(s, "%d/%d ", m + 1, total);
    g_string_append(s, "done");
    return g_string_free(s, FALSE);
}

static void test_stop(void)
{
    /* Stop is asked from the main loop when step 2's report arrives, while the worker goes on;
     * many steps, so that a loaded machine's scheduler cannot let the worker finish them all
     * before the main loop runs (with 4 steps it sometimes did) */
    enum { STEPS = 24 };
    Watch w = {.stop_at = 2};
    FluxWorkerResult res;
    GError *err = NULL;
    g_assert_false(run_watched(&w, 64, 64, STEPS, &res, &err));
    g_assert_error(err, FLUX_ERROR, FLUX_ERROR_CANCELLED);
    g_clear_error(&err);
    g_assert_null(res.rgb);
    /* the run ended after some step m >= 2 (the worker may have been ahead of the main loop),
     * before the last: steps in order, no preview of the stopped step, no decoding */
    gboolean matched = FALSE;
    for (int m = 2; m < STEPS && !matched; m++)
        for (int more = 0; more <= 1 && !matched; more++) {
            if (m + more >= STEPS) continue;
            g_autofree char *want = stopped_events(m, more, STEPS);
            matched = strcmp(w.log->str, want) == 0;
        }
    if (!matched)
        g_test_fail_printf("events '%s' are not those of a run stopped after step 2", w.log->str);
    g_free(w.first);
    g_string_free(w.log, TRUE);
}

/* Inpainting the golden cat's left half at strength 0.75 on the thread: the same bytes as
 * flux_worker_run_edit on the caller's thread, and the picture and mask are the thread's own
 * copies (the caller's are overwritten as soon as the run has started). */
static void test_edit_on_thread(void)
{
    g_autofree char *dir = tu_model_path(NULL);
    g_autofree guint8 *rgb = read_golden();
    guint8 mask[64 * 64];
    for (int i = 0; i < 64 * 64; i++) mask[i] = i % 64 < 32 ? 255 : 0;
    FluxEditInput in = {rgb, mask, 64, 64, 0.75};
    FluxRenderParams p;
    cat_params(&p, dir, 64, 64, 4);
    FluxWorkerResult direct;
    GError *err = NULL;
    g_assert_true(flux_worker_run_edit(&p, 0, &in, NULL, &direct, &err));
    g_assert_no_error(err);

    Watch w = {0};
    g_autofree guint8 *rgb2 = g_memdup2(rgb, 64 * 64 * 3);
    guint8 mask2[64 * 64];
    memcpy(mask2, mask, sizeof mask);
    FluxEditInput in2 = {rgb2, mask2, 64, 64, 0.75};
    FluxRenderParams p2;
    cat_params(&p2, dir, 16, 16, 4); /* the picture's size wins over the params' */
    w.loop = g_main_loop_new(NULL, FALSE);
    w.main_thread = g_thread_self();
    w.log = g_string_new(NULL);
    FluxRenderThreadCallbacks cb = {
        .phase = on_phase, .step = on_step, .done = on_done, .user_data = &w};
    w.t = flux_render_thread_start_edit(&p2, 0, &in2, &cb);
    memset(rgb2, 0, 64 * 64 * 3);
    memset(mask2, 0, sizeof mask2);
    g_main_loop_run(w.loop);
    FluxWorkerResult res;
    g_assert_true(flux_render_thread_finish(w.t, &res, &err));
    g_assert_no_error(err);
    g_main_loop_unref(w.loop);
    g_test_message("events: %s", w.log->str);
    /* strength 0.75 of 4 steps: the schedule's last 3 run */
    g_assert_cmpstr(w.log->str, ==, "phase0 phase1 phase2 1/3 2/3 3/3 phase3 done");
    g_assert_cmpint(res.width, ==, 64);
    g_assert_cmpint(res.height, ==, 64);
    g_assert_cmpmem(res.rgb, 64 * 64 * 3, direct.rgb, 64 * 64 * 3);
    g_assert_true(memcmp(res.rgb, rgb, 64 * 64 * 3) != 0); /* it did repaint */
    g_free(res.rgb);
    g_free(direct.rgb);
    g_string_free(w.log, TRUE);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/render-thread/previews-in-order", test_previews_in_order);
    g_test_add_func("/render-thread/stop", test_stop);
    g_test_add_func("/render-thread/edit", test_edit_on_thread);
    return g_test_run();
}
