/* defaults.h — built-in configs for components that come as a single weight file with no
 * config.json beside it (ComfyUI-style files: clip_l.safetensors, t5xxl_fp16.safetensors,
 * ae.safetensors), as the published FLUX.1 repositories configure them.
 *
 *   CfgJson *c = defaults_config(DEFAULTS_VAE, &err);
 *   cfg_free(c);
 *
 * The transformer has none: its hyper-parameters are inferred from the tensor shapes
 * (ckpt_infer_transformer_config). These are real FLUX.1 sizes. A single file's config is read
 * from its shapes (config_infer.h), which takes from these only what no shape shows.
 */
#pragma once

#include "config.h"

typedef enum {
    DEFAULTS_CLIP_L,            /* openai/clip-vit-large-patch14 text model (text_encoder/) */
    DEFAULTS_T5_XXL,            /* google/t5-v1_1-xxl encoder (text_encoder_2/) */
    DEFAULTS_VAE,               /* FLUX.1's AutoencoderKL, 16 latent channels (vae/) */
    DEFAULTS_SCHEDULER_DEV,     /* FLUX.1-dev: dynamic shifting, mu from 0.5 to 1.15 */
    DEFAULTS_SCHEDULER_SCHNELL, /* FLUX.1-schnell: static shift 1, no dynamic shifting */
} DefaultsConfig;

/* The config as JSON text (static). */
const char *defaults_json(DefaultsConfig which);
/* Its name in messages: "built-in FLUX.1 VAE config", ... (static). */
const char *defaults_name(DefaultsConfig which);
/* Parsed; caller owns (cfg_free). cfg_path() gives defaults_name(). */
CfgJson *defaults_config(DefaultsConfig which, GError **error);
