/* defaults.c — see defaults.h. The values are the hyper-parameters published in the
 * FLUX.1-dev / FLUX.1-schnell repositories (text_encoder/, text_encoder_2/, vae/ and
 * scheduler/ configs); keys the loaders do not read are left out. */
#include "defaults.h"
#include "flux.h"

static const struct {
    const char *name, *json;
} defaults[] = {
    [DEFAULTS_CLIP_L] = {"built-in FLUX.1 CLIP-L text encoder config",
                         "{\"hidden_act\": \"quick_gelu\", \"hidden_size\": 768,"
                         " \"intermediate_size\": 3072, \"num_attention_heads\": 12,"
                         " \"num_hidden_layers\": 12, \"max_position_embeddings\": 77,"
                         " \"vocab_size\": 49408, \"layer_norm_eps\": 1e-05,"
                         " \"eos_token_id\": 2}"},
    [DEFAULTS_T5_XXL] = {"built-in FLUX.1 T5-XXL encoder config",
                         "{\"d_model\": 4096, \"d_kv\": 64, \"d_ff\": 10240, \"num_layers\": 24,"
                         " \"num_heads\": 64, \"vocab_size\": 32128,"
                         " \"relative_attention_num_buckets\": 32,"
                         " \"relative_attention_max_distance\": 128,"
                         " \"layer_norm_epsilon\": 1e-06, \"dense_act_fn\": \"gelu_pytorch_tanh\","
                         " \"is_gated_act\": true, \"feed_forward_proj\": \"gated-gelu\"}"},
    [DEFAULTS_VAE] = {"built-in FLUX.1 VAE config",
                      "{\"_class_name\": \"AutoencoderKL\", \"act_fn\": \"silu\","
                      " \"block_out_channels\": [128, 256, 512, 512], \"latent_channels\": 16,"
                      " \"layers_per_block\": 2, \"norm_num_groups\": 32, \"out_channels\": 3,"
                      " \"mid_block_add_attention\": true, \"use_post_quant_conv\": false,"
                      " \"scaling_factor\": 0.3611, \"shift_factor\": 0.1159,"
                      " \"up_block_types\": [\"UpDecoderBlock2D\", \"UpDecoderBlock2D\","
                      " \"UpDecoderBlock2D\", \"UpDecoderBlock2D\"]}"},
    [DEFAULTS_SCHEDULER_DEV] = {"built-in FLUX.1-dev scheduler config",
                                "{\"_class_name\": \"FlowMatchEulerDiscreteScheduler\","
                                " \"num_train_timesteps\": 1000, \"shift\": 3.0,"
                                " \"use_dynamic_shifting\": true, \"base_shift\": 0.5,"
                                " \"max_shift\": 1.15, \"base_image_seq_len\": 256,"
                                " \"max_image_seq_len\": 4096}"},
    [DEFAULTS_SCHEDULER_SCHNELL] = {"built-in FLUX.1-schnell scheduler config",
                                    "{\"_class_name\": \"FlowMatchEulerDiscreteScheduler\","
                                    " \"num_train_timesteps\": 1000, \"shift\": 1.0,"
                                    " \"use_dynamic_shifting\": false, \"base_shift\": 0.5,"
                                    " \"max_shift\": 1.15, \"base_image_seq_len\": 256,"
                                    " \"max_image_seq_len\": 4096}"},
};

const char *defaults_json(DefaultsConfig which)
{
    g_return_val_if_fail((guint)which < G_N_ELEMENTS(defaults), NULL);
    return defaults[which].json;
}

const char *defaults_name(DefaultsConfig which)
{
    g_return_val_if_fail((guint)which < G_N_ELEMENTS(defaults), NULL);
    return defaults[which].name;
}

CfgJson *defaults_config(DefaultsConfig which, GError **error)
{
    g_return_val_if_fail((guint)which < G_N_ELEMENTS(defaults), NULL);
    return cfg_load_data(defaults[which].name, defaults[which].json, -1, error);
}

/* ------------------------------------------------------------------------------------- */
/* The library's rules (flux.h)                                                          */

/* prepare_latents: height = 2 * (H // (vae_scale_factor * 2)), so the image is 16⌊H/16⌋. */
int flux_size_floor(int size)
{
    return size > 0 ? size / FLUX_SIZE_STEP * FLUX_SIZE_STEP : 0;
}

int flux_default_steps(gboolean uses_guidance)
{
    return uses_guidance ? FLUX_DEFAULT_STEPS_DEV : FLUX_DEFAULT_STEPS_SCHNELL;
}
