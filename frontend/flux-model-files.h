/* flux-model-files.h — the files of a model as the dialogs' "Model files" expander shows them:
 * for each companion (VAE, CLIP-L, T5-XXL) the file a run would use and where it comes from
 * (chosen by hand, found beside the transformer, the model folder's own), and the model
 * string (flux.h: flux_model_spec_parse) edited one part at a time. GLib + libflux only, so
 * both dialogs say and do the same. */
#pragma once

#include "flux.h"

#include <glib.h>

G_BEGIN_DECLS

typedef enum {
    FLUX_COMPANION_VAE,
    FLUX_COMPANION_CLIP_L,
    FLUX_COMPANION_T5,
    FLUX_N_COMPANIONS
} FluxCompanion;

typedef struct {
    char *file[FLUX_N_COMPANIONS];      /* the file a run uses (a folder's own: its weights
                                           file, to show); NULL: none found */
    char *note[FLUX_N_COMPANIONS];      /* the line under its chooser, translated */
    gboolean chosen[FLUX_N_COMPANIONS]; /* named in the model string (Automatic undoes it) */
    gboolean missing;                   /* a companion was not found: open the expander */
} FluxModelFilesView;

/* The row's label with its mnemonic ("_VAE:"), translated; static. */
const char *flux_companion_label(FluxCompanion c);
/* The file chooser's title ("Choose the VAE file"), translated; static. */
const char *flux_companion_title(FluxCompanion c);

/* What `model` (a folder, a transformer file or a model string; NULL/"" none) uses, with the
 * worker's tokenizers (flux_worker_set_tokenizers). Reads no weights. */
void flux_model_files_view(const char *model, FluxModelFilesView *view);
void flux_model_files_view_clear(FluxModelFilesView *view);

/* The folder or transformer file of `model` (its PATH), "" for none. Caller frees. */
char *flux_model_main_path(const char *model);
/* `model` with its PATH replaced by `path`, the chosen companions kept. Caller frees. */
char *flux_model_with_path(const char *model, const char *path);
/* `model` with companion `c` chosen as `file` (NULL: Automatic again). Caller frees. */
char *flux_model_with_companion(const char *model, FluxCompanion c, const char *file);

G_END_DECLS
