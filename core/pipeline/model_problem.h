/* model_problem.h — what model_locate.c and model_check.c share: filling a FluxModelProblem
 * (flux.h) and the tokenizers test. */
#pragma once

#include "flux.h"

/* Clears `pb` (NULL-safe) and sets its kind, part and a copy of `path`. */
void model_problem_set(FluxModelProblem *pb, FluxModelProblemKind kind, FluxProblemPart part,
                       const char *path);
/* model_locate.c: `dir` holds tokenizer/ and tokenizer_2/ folders. */
gboolean model_has_tokenizers(const char *dir);
