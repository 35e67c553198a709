/* flux-progress.h — the progress a GIMP entry shows during a render, GIMP-free: phase texts
 * ("Loading model", "Encoding prompt", "Step 3/28 — 41 s left", "Decoding") and the bar's
 * fraction, sent to three functions the entry supplies (gimp_progress_init / _set_text /
 * _update have the same signatures in GIMP 2.10 and 3). Both entries use this, so the two
 * front-ends show the same words at the same moments. */
#pragma once

#include "flux-worker.h"

#include <glib.h>

G_BEGIN_DECLS

typedef struct {
    gboolean (*init)(const char *text);
    gboolean (*set_text)(const char *text);
    gboolean (*update)(double fraction);
} FluxProgressSink;

/* Fills `cb` (all of it) so that the worker's phase, step and within-step callbacks drive
 * `sink` (borrowed: it must outlive the run). Fractions: loading and encoding 0–5 %, the steps
 * 5–95 % moving after every transformer block, decoding after. Texts: "Step 1/N" as soon as
 * step 1 begins, then "Step k/N — 41 s left", refreshed at most twice a second. */
void flux_progress_callbacks(FluxWorkerCallbacks *cb, const FluxProgressSink *sink);

G_END_DECLS
