/* preview.h — the library side of live previews (internal; the public part is in flux.h:
 * FluxPreviewFunc, FluxPreviewQuality, flux_preview_plan, flux_preview_render). */
#pragma once

#include <stddef.h>

/* The flow-matching estimate of the clean latents at a step (packed [1, S, 64], n = 64·S):
 * the model predicts the velocity v = noise − x₀ and x_σ = x₀ + σ·v, so
 *   x0[k] = latents[k] − sigma · velocity[k]
 * with `latents` and `sigma` those before the step. At the last step (σ_next = 0) this is the
 * Euler step itself, so the last x₀ equals the final latents. */
void preview_x0(float *x0, const float *latents, const float *velocity, size_t n, float sigma);
