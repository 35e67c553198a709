/* flux-help.h — the texts both GIMP entries show an artist, translated: how to use the dialog,
 * where a FLUX.1 model comes from and which one suits this computer (Help, and the first run
 * before any model was chosen), and the question before rendering an empty prompt. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* How the dialog works (a paragraph). Caller frees. */
char *flux_help_usage(void);
/* Where FLUX.1-schnell/-dev and their FP8 and GGUF variants come from, their sizes, dev's
 * non-commercial licence, the companion files, and which to pick for `ram_bytes` of memory
 * (0: unknown; the advice for every size is given). Caller frees. */
char *flux_help_getting_model(guint64 ram_bytes);
/* The first-run line under the model chooser when no model was ever chosen. Static. */
const char *flux_help_first_run(void);
/* Asked before rendering an empty prompt, and its button. Static. */
const char *flux_help_empty_prompt_question(void);
const char *flux_help_empty_prompt_detail(void);
const char *flux_help_empty_prompt_button(void);
/* This computer's memory (MemTotal), 0 when unknown. */
guint64 flux_help_ram_bytes(void);

G_END_DECLS
