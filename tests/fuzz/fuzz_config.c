/* fuzz_config.c — config.json reading on arbitrary bytes, through every getter the models
 * use, with the keys of the FLUX configs. */
#include "config.h"
#include "fuzz_common.h"

static const char *keys[] = {"num_attention_heads",
                             "attention_head_dim",
                             "axes_dims_rope",
                             "d_model",
                             "block_out_channels",
                             "guidance_embeds",
                             "shift",
                             "hidden_act",
                             "_class_name",
                             "vae",
                             "transformer",
                             "layer_norm_eps"};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    g_autofree char *p = fuzz_file("config.json", data, size);
    GError *err = NULL;
    CfgJson *c = cfg_load(p, &err);
    if (!c) {
        g_error_free(err);
        return 0;
    }
    for (guint i = 0; i < G_N_ELEMENTS(keys); i++) {
        int64_t v, arr[8];
        double d;
        gboolean b;
        const char *s, *s2;
        gsize n;
        g_clear_error(&err);
        cfg_int(c, keys[i], 0, 1 << 20, &v, &err);
        g_clear_error(&err);
        cfg_int_or(c, keys[i], 3, -5, 5, &v, &err);
        g_clear_error(&err);
        cfg_double_or(c, keys[i], 1.0, -1e9, 1e9, &d, &err);
        g_clear_error(&err);
        cfg_bool_or(c, keys[i], FALSE, &b, &err);
        g_clear_error(&err);
        cfg_string_or(c, keys[i], NULL, &s, &err);
        g_clear_error(&err);
        cfg_int_array(c, keys[i], 0, 4096, arr, 8, &n, &err);
        g_clear_error(&err);
        cfg_pair(c, keys[i], &s, &s2, &err);
        g_clear_error(&err);
    }
    cfg_free(c);
    return 0;
}
