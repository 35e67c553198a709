/* flux-progress.c — phase texts and bar fractions for the GIMP entries (flux-progress.h).
 *
 * The bar moves inside each step, after every transformer block (a FLUX.1 step is minutes on
 * a CPU), and the text names the step from its first moment: "Encoding prompt" must not stay
 * up while step 1 runs. The step text (with the time left) is refreshed at most twice a second;
 * a plug-in runs one render at a time, so that clock is the one static here. */
#include "flux-progress.h"

#include "flux-intl.h"

static gint64 last_text; /* when the step text was last set (monotonic µs) */

/* the bar: loading and encoding 0–5 %, the steps 5–95 %, decoding the rest */
static double steps_fraction(int step, int total, double within)
{
    return 0.05 + 0.9 * (step - 1 + within) / total;
}

static void step_text(const FluxProgressSink *sink, int step, int total, double seconds_left)
{
    g_autofree char *left = flux_format_duration(seconds_left);
    /* TRANSLATORS: step number, number of steps, the time left (e.g. "41 s") */
    g_autofree char *text = g_strdup_printf(_("Step %d/%d — %s left"), step, total, left);
    sink->set_text(text);
    last_text = g_get_monotonic_time();
}

static void on_phase(FluxWorkerPhase phase, void *user_data)
{
    const FluxProgressSink *sink = user_data;
    switch (phase) {
    case FLUX_WORKER_LOADING:
        sink->init(_("Loading model"));
        break;
    case FLUX_WORKER_ENCODING:
        sink->set_text(_("Encoding prompt"));
        sink->update(0.02);
        break;
    case FLUX_WORKER_DENOISING:
        sink->update(0.05);
        break;
    case FLUX_WORKER_DECODING:
        sink->set_text(_("Decoding"));
        sink->update(0.96);
        break;
    }
}

/* After step `step`: the next one is running. */
static void on_step(int step, int total, double seconds_left, void *user_data)
{
    const FluxProgressSink *sink = user_data;
    if (step < total) step_text(sink, step + 1, total, seconds_left);
    sink->update(steps_fraction(step, total, 1.0));
}

/* Inside a step: fraction 0 as it begins, then after each transformer block. */
static void on_within_step(int step, int total, double fraction, double seconds_left,
                           void *user_data)
{
    const FluxProgressSink *sink = user_data;
    if (fraction <= 0.0) {
        if (step == 1) { /* no time known yet */
            g_autofree char *text = g_strdup_printf(_("Step %d/%d"), step, total);
            sink->set_text(text);
            last_text = g_get_monotonic_time();
        }
        return;
    }
    if (fraction >= 1.0) return; /* on_step follows */
    if (g_get_monotonic_time() - last_text >= G_USEC_PER_SEC / 2)
        step_text(sink, step, total, seconds_left);
    sink->update(steps_fraction(step, total, fraction));
}

void flux_progress_callbacks(FluxWorkerCallbacks *cb, const FluxProgressSink *sink)
{
    /* the whole struct: callers declare it uninitialized, and it has more fields (previews) */
    *cb = (FluxWorkerCallbacks){.phase = on_phase,
                                .step = on_step,
                                .within_step = on_within_step,
                                .user_data = (void *)sink};
}
