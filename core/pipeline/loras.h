/* loras.h — the LoRAs of a run (FluxGenerateParams.loras) onto the transformer context, and
 * the public LoRA helpers of flux.h (flux_lora_parse, flux_lora_check). */
#pragma once

#include "flux.h"
#include "transformer.h"

/* Reads params->loras, maps them onto the model's transformer and CLIP-L (lora.h), attaches
 * the transformer's to `dit` (dit_context_set_lora) and returns CLIP's in *clip_lora (for
 * clip_encode_lora; NULL when none; caller owns). The encoders must be loaded
 * (model_encoders_acquire). Tensors left out are reported through params->warning: how many
 * and the first names. TRUE without LoRAs. */
gboolean loras_attach(FluxModel *m, DitContext *dit, const FluxGenerateParams *params,
                      StArchive **clip_lora, GError **error);
