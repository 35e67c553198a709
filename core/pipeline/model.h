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
    /* Releasing the text encoders between runs (model_encoders_release): where they were
     * loaded from, to load them again, and their weight files, to drop from the page cache. */
    FluxModelFiles files;  /* deep copy of what flux_model_load_files was given */
    char **encoder_files;  /* NULL-terminated */
    guint64 encoder_bytes; /* CLIP + T5 weight file bytes */
};

/* model.c: how every component folder is read: <dir>/config.json and the weights
 * <dir>/<stem>.safetensors (or <stem>.safetensors.index.json with its shards), for the module's
 * one loader (clip_load, t5_load, vae_load, dit_load_from). Caller owns both (cfg_free,
 * st_archive_free, or the loader takes the archive); on failure both are NULL. */
gboolean model_folder_part(const char *dir, const char *stem, CfgJson **cfg, StArchive **archive,
                           GError **error);
/* model.c: a /proc/meminfo figure in bytes (`key` with its colon: "MemTotal:"), 0 when
 * unknown. */
guint64 model_meminfo_bytes(const char *key);
/* model.c: CLIP and T5 loaded (again, after model_encoders_release). FALSE with `error` when
 * the files changed on disk since the model was loaded and no longer load. */
gboolean model_encoders_acquire(FluxModel *m, GError **error);
/* model.c: after the prompts are encoded, free CLIP and T5 (unmapping their weights and
 * dropping those files from the page cache) when the whole model's weights do not fit in
 * physical memory, so that the transformer's pages are not evicted every step: FLUX.1's
 * 23.8 GB transformer + 9.5 GB T5-XXL on a 24 GB machine. FLUX_RELEASE_ENCODERS=always|never
 * overrides the rule ("auto": weights > 3/4 of MemTotal). Returns whether it released them. */
gboolean model_encoders_release(FluxModel *m);
