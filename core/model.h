/* model.h — the loaded model (internal view of FluxModel): every component of a FLUX.1
 * diffusers folder, bound and cross-checked. */
#pragma once

#include "clip.h"
#include "flux.h"
#include "scheduler.h"
#include "t5.h"
#include "tokenizer_bpe.h"
#include "tokenizer_unigram.h"
#include "transformer.h"
#include "vae.h"

struct FluxModel {
    char *label;            /* the folder, else the transformer file (for messages) */
    BpeTokenizer *clip_tok; /* tokenizer/ */
    UgmTokenizer *t5_tok;   /* tokenizer_2/ */
    ClipModel *clip;        /* text_encoder/ */
    T5Model *t5;            /* text_encoder_2/ */
    DitModel *dit;          /* transformer/ */
    VaeModel *vae;          /* vae/ */
    SchedConfig sched;      /* scheduler/ */
    FluxModelInfo info;     /* what the configs in use say (as flux_model_probe) */
};

/* probe.c: FluxModelInfo from the transformer, T5 and VAE configs (weight_bytes 0). */
gboolean probe_info_from_configs(const CfgJson *transformer, const CfgJson *t5, const CfgJson *vae,
                                 FluxModelInfo *info, GError **error);
/* probe.c: total size of the *.safetensors files of a component folder. */
guint64 probe_folder_weight_bytes(const char *dir);
