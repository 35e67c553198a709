/* probe.h — what a model folder holds, read from its configs and file sizes without loading
 * weights (flux_model_probe and the memory/FLOP estimates of flux.h are probe.c's too). */
#pragma once

#include "config.h"
#include "flux.h"

/* FluxModelInfo from the transformer, T5 and VAE configs (weight_bytes 0). */
gboolean probe_info_from_configs(const CfgJson *transformer, const CfgJson *t5, const CfgJson *vae,
                                 FluxModelInfo *info, GError **error);
/* total size of the *.safetensors files of a component folder. */
guint64 probe_folder_weight_bytes(const char *dir);
/* The transformer's working memory for one (width × height, max_seq) sample: its context's
 * arena, sized by the transformer's own layout table (dit_context_bytes), and each thread's
 * weight conversion tile (widest K: the MLP's 4D). 0 when the sizes are out of range. */
guint64 probe_transformer_bytes(const FluxModelInfo *info, int width, int height, int max_seq);

/* Test hook: how often this process has looked for a model on disk (flux_model_probe on a
 * folder, flux_model_locate for a file's companions), so a test can count the looks of one
 * render. probe_look() counts one (thread-safe). */
guint probe_looks(void);
void probe_look(void);
