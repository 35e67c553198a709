/* transformer_config.c — see transformer_config.h. */
#include "transformer_config.h"

#include "checkpoint.h"
#include "flux.h"

/* axes_dims_rope: three even dims (one per ids column) summing to the head dim, because
 * FluxPosEmbed concatenates one rotary table per axis into a [T, HD] table. */
static gboolean read_axes(const CfgJson *j, DitConfig *cfg, GError **error)
{
    int64_t axes[3];
    gsize n;
    if (!cfg_int_array(j, "axes_dims_rope", 0, 4096, axes, 3, &n, error)) return FALSE;
    if (n == 0) { /* diffusers' default when absent or null */
        for (int a = 0; a < 3; a++) axes[a] = ckpt_flux1_rope_axes[a];
    } else if (n != 3) {
        g_set_error(error, FLUX_ERROR, FLUX_ERROR_MODEL,
                    "%s: \"axes_dims_rope\" has %zu elements, expected 3 (one per ids column)",
                    cfg_path(j), (size_t)n);
        return FALSE;
    }
    for (int a = 0; a < 3; a++) {
        if (axes[a] % 2) {
            g_set_error(error, FLUX_ERROR, FLUX_ERROR_MODEL,
                        "%s: \"axes_dims_rope\"[%d] is %" G_GINT64_FORMAT
                        ", expected an even number",
                        cfg_path(j), a, axes[a]);
            return FALSE;
        }
        cfg->axes_dims_rope[a] = (int)axes[a];
    }
    int64_t sum = axes[0] + axes[1] + axes[2];
    if (sum != cfg->head_dim) {
        g_set_error(error, FLUX_ERROR, FLUX_ERROR_MODEL,
                    "%s: \"axes_dims_rope\" (%d, %d, %d) sums to %" G_GINT64_FORMAT
                    ", expected attention_head_dim %d",
                    cfg_path(j), cfg->axes_dims_rope[0], cfg->axes_dims_rope[1],
                    cfg->axes_dims_rope[2], sum, cfg->head_dim);
        return FALSE;
    }
    return TRUE;
}

gboolean dit_config_read(const CfgJson *j, DitConfig *cfg, GError **error)
{
    const char *path = cfg_path(j);
    int64_t patch, in, out, layers, single, hd, nh, joint, pooled;
    gboolean ok = cfg_int_or(j, "patch_size", 1, 1, 64, &patch, error) &&
                  cfg_int_or(j, "in_channels", 64, 1, 65536, &in, error) &&
                  cfg_int_or(j, "out_channels", in, 1, 65536, &out, error) &&
                  cfg_int_or(j, "num_layers", 19, 0, 1024, &layers, error) &&
                  cfg_int_or(j, "num_single_layers", 38, 0, 1024, &single, error) &&
                  cfg_int_or(j, "attention_head_dim", 128, 2, 4096, &hd, error) &&
                  cfg_int_or(j, "num_attention_heads", 24, 1, 1024, &nh, error) &&
                  cfg_int_or(j, "joint_attention_dim", 4096, 1, 65536, &joint, error) &&
                  cfg_int_or(j, "pooled_projection_dim", 768, 1, 65536, &pooled, error) &&
                  cfg_bool_or(j, "guidance_embeds", FALSE, &cfg->guidance_embeds, error);
    if (ok && patch != 1) {
        g_set_error(error, FLUX_ERROR, FLUX_ERROR_UNSUPPORTED,
                    "%s: \"patch_size\" is %" G_GINT64_FORMAT ", only 1 is supported (FLUX.1)",
                    path, patch);
        ok = FALSE;
    }
    if (ok && nh * hd > 65536) {
        g_set_error(error, FLUX_ERROR, FLUX_ERROR_MODEL,
                    "%s: num_attention_heads %" G_GINT64_FORMAT
                    " × attention_head_dim %" G_GINT64_FORMAT " is %" G_GINT64_FORMAT
                    ", expected at most 65536",
                    path, nh, hd, nh * hd);
        ok = FALSE;
    }
    if (ok) {
        cfg->in_channels = (int)in;
        cfg->out_channels = (int)out;
        cfg->num_layers = (int)layers;
        cfg->num_single_layers = (int)single;
        cfg->head_dim = (int)hd;
        cfg->num_heads = (int)nh;
        cfg->inner_dim = (int)(nh * hd);
        cfg->joint_attention_dim = (int)joint;
        cfg->pooled_projection_dim = (int)pooled;
        ok = read_axes(j, cfg, error);
    }
    return ok;
}
