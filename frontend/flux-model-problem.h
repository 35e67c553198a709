/* flux-model-problem.h — what is wrong with a model, said to an artist in their language:
 * one whole translated sentence per FluxModelProblem (flux.h), with what to do about it.
 * GLib only, shared by both GIMP entries. */
#pragma once

#include "flux.h"

#include <glib.h>

G_BEGIN_DECLS

/* `model` is the folder or file the artist chose, or a model string naming companions
 * (flux_model_spec_parse); `pb` what flux_model_check found. Caller frees. */
char *flux_model_problem_message(const char *model, const FluxModelProblem *pb);

G_END_DECLS
