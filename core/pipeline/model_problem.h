/* model_problem.h — what model_locate.c and model_check.c share: filling a FluxModelProblem
 * (flux.h) and the tokenizers test. */
#pragma once

#include "flux.h"

/* Clears `pb` (NULL-safe) and sets its kind, part and a copy of `path`. */
void model_problem_set(FluxModelProblem *pb, FluxModelProblemKind kind, FluxProblemPart part,
                       const char *path);
/* model_locate.c: `dir` holds tokenizer/ and tokenizer_2/ folders. */
gboolean model_has_tokenizers(const char *dir);

/* The companions a model string can name, in FluxModelSpec's order (vae, clip_l, t5). */
#define MODEL_N_COMPANIONS 3
/* model_spec.c: flux_model_spec_parse with a SYNTAX problem for the part at fault. */
gboolean model_spec_parse(const char *text, FluxModelSpec *spec, FluxModelProblem *pb,
                          GError **error);
/* model_spec.c: the spec's companions (borrowed; NULL when not named) in that order. */
void model_spec_companions(const FluxModelSpec *spec, const char *out[MODEL_N_COMPANIONS]);
/* model_locate.c: flux_model_locate, taking the companions `given` (NULL entries: found) as
 * chosen; on failure `files` keeps what was found (flux_model_files_clear either way). */
gboolean model_locate_given(const char *file, const char *tokenizers,
                            const char *const given[MODEL_N_COMPANIONS], FluxModelFiles *files,
                            FluxModelProblem *pb, GError **error);
