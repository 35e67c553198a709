/* flux-estimate.h — the dialogs' time and memory estimate from a rate measured on this
 * computer and kept in the settings (flux-settings.h): a quick test before the first run
 * (flux_measure_gflops), then the denoising steps of every run long enough to mean something.
 * GLib only, shared by both GIMP entries. */
#pragma once

#include "flux-settings.h"
#include "flux.h"

#include <glib.h>

G_BEGIN_DECLS

/* A run's steps must take this long and do this much arithmetic for their rate to replace the
 * kept one: shorter runs are dominated by fixed costs and timer noise, and a small model's run
 * slowed down by something else (a paused process) would teach a rate thousands of times too
 * low. One FLUX.1 step at 256² is already ~7 TFLOP. */
#define FLUX_RATE_MIN_SECONDS 2.0
#define FLUX_RATE_MIN_FLOPS   1e11

/* Before the first run: measures the rate when the settings have none. TRUE when `s` changed
 * (the caller saves it). */
gboolean flux_estimate_calibrate(FluxSettings *s);
/* After a run: its denoising steps took `seconds` for `flops`. TRUE when `s` took the rate. */
gboolean flux_estimate_take_run(FluxSettings *s, double flops, double seconds);
/* Seconds a run of this size should take at the kept rate (0 when there is none). */
double flux_estimate_seconds(const FluxModelInfo *info, int width, int height, int steps,
                             const FluxSettings *s);
/* "Estimate: 1.2 GiB of working memory besides the 23.8 GB of model weights; about 4 min
 * (at 35 GFLOP/s, measured by the last run on this computer)." Caller frees. */
char *flux_estimate_text(const FluxModelInfo *info, int width, int height, int steps,
                         const FluxSettings *s);

G_END_DECLS
