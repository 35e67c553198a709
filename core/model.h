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
    char *dir;
    BpeTokenizer *clip_tok; /* tokenizer/ */
    UgmTokenizer *t5_tok;   /* tokenizer_2/ */
    ClipModel *clip;        /* text_encoder/ */
    T5Model *t5;            /* text_encoder_2/ */
    DitModel *dit;          /* transformer/ */
    VaeModel *vae;          /* vae/ */
    SchedConfig sched;      /* scheduler/ */
    FluxModelInfo info;     /* what the configs say (flux_model_probe) */
};
