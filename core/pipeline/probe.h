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
