/* loras.h — the LoRAs of a run (FluxGenerateParams.loras) onto the transformer context, and
 * the public LoRA helpers of flux.h (flux_lora_parse, flux_lora_check). */
#pragma once

#include "flux.h"
#include "transformer.h"

/* Reads params->loras, maps them onto the model's transformer (lora.h) and attaches them to
 * `dit` (dit_context_set_lora). Tensors left out are reported through params->warning: per
 * file, how many and the first names. TRUE without LoRAs. */
gboolean loras_attach(FluxModel *m, DitContext *dit, const FluxGenerateParams *params,
                      GError **error);
