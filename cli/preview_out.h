/* preview_out.h — --preview-out: the run's preview picture written as a PNG every N steps,
 * each time atomically (a temporary file beside it, then a rename), so that another program
 * can watch the file and never reads half a picture. */
#pragma once

#include "flux.h"

#include <glib.h>

typedef struct PreviewOut PreviewOut;

/* `path` is checked writable now (before a long run). `quality` as flux_preview_render;
 * every >= 1. The picture is W × H for the projection, the plan's decode size for the VAE.
 * `model` is borrowed and must outlive the PreviewOut. Caller owns: preview_out_free. */
PreviewOut *preview_out_new(const char *path, FluxPreviewQuality quality, int every,
                            FluxModel *model, int W, int H, GError **error);
void preview_out_free(PreviewOut *p); /* NULL-safe */

/* A FluxPreviewFunc body: renders and writes on every `every`-th step. A failure to write is
 * returned once as a message (caller frees) and the following steps are skipped; the run
 * goes on. NULL when all is well. */
char *preview_out_step(PreviewOut *p, int step, const float *x0, int latent_h, int latent_w);

/* Parses "projection" or "vae". */
gboolean preview_out_parse_quality(const char *name, FluxPreviewQuality *quality, GError **error);
