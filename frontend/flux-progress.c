/* flux-progress.c — phase texts and bar fractions for the GIMP entries (flux-progress.h). */
#include "flux-progress.h"

#include "flux-intl.h"

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

static void on_step(int step, int total, double seconds_left, void *user_data)
{
    const FluxProgressSink *sink = user_data;
    g_autofree char *left = flux_format_duration(seconds_left);
    /* TRANSLATORS: step number, number of steps, the time left (e.g. "41 s") */
    g_autofree char *text = g_strdup_printf(_("Step %d/%d — %s left"), step, total, left);
    sink->set_text(text);
    sink->update(0.05 + 0.9 * step / total);
}

void flux_progress_callbacks(FluxWorkerCallbacks *cb, const FluxProgressSink *sink)
{
    /* the whole struct: callers declare it uninitialized, and it has more fields (previews) */
    *cb = (FluxWorkerCallbacks){.phase = on_phase, .step = on_step, .user_data = (void *)sink};
}
