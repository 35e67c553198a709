/* flux-help.c — the texts of flux-help.h. Sizes: FLUX.1's transformer has 11.9 G parameters
 * (flux_model_probe on the released configs, see README "Getting a model"): 23.8 GB in BF16,
 * 11.9 GB in FP8, ~12.6 GB as GGUF Q8_0, ~6.7 GB as Q4_K_S; T5-XXL's encoder 4.76 G
 * parameters (9.5 GB FP16, 4.8 GB FP8); CLIP-L 0.25 GB; the VAE 0.34 GB (ae.safetensors). */
#include "flux-help.h"

#include "flux-intl.h"

#include <string.h>

char *flux_help_usage(void)
{
    return g_strdup(_("Describe the picture in the prompt, choose a FLUX.1 model (its folder, or "
                      "its transformer file) and press OK. The same prompt, size, steps, "
                      "guidance and seed always give the same picture; the seed used is in the "
                      "new layer's name. Schnell-type models need about 4 steps and ignore "
                      "guidance; dev-type models need about 28 steps. Rendering runs on the "
                      "CPU and can take a long time for large pictures; Cancel in the progress "
                      "bar stops it and leaves the image unchanged."));
}

const char *flux_help_first_run(void)
{
    return _("No model chosen yet. FLUX.1 models are not installed with the plug-in: download "
             "one first (Help says where from and which suits this computer), then choose its "
             "folder or its transformer file here.");
}

guint64 flux_help_ram_bytes(void)
{
    g_autofree char *text = NULL;
    if (!g_file_get_contents("/proc/meminfo", &text, NULL, NULL)) return 0;
    const char *line = strstr(text, "MemTotal:");
    return line ? g_ascii_strtoull(line + strlen("MemTotal:"), NULL, 10) * 1024 : 0;
}

/* Which variant for this much memory: the transformer's weights must stay in memory during the
 * steps (the text encoders are let go before them when memory is short). */
static const char *advice(guint64 ram)
{
    const guint64 GiB = 1024ull * 1024 * 1024;
    if (ram == 0) return NULL;
    if (ram >= 40 * GiB) return _("The full BF16 models fit.");
    if (ram >= 20 * GiB)
        return _("Take an FP8 or GGUF Q8_0 transformer with t5xxl_fp8_e4m3fn.safetensors.");
    return _("Take a GGUF Q4_K_S transformer with t5xxl_fp8_e4m3fn.safetensors; larger files "
             "would be read from disk at every step.");
}

char *flux_help_getting_model(guint64 ram_bytes)
{
    GString *s = g_string_new(NULL);
    g_string_append(
        s, _("Where to get a model: FLUX.1 [schnell] (Apache-2.0 licence, any use, 4 steps) "
             "and FLUX.1 [dev] (FLUX.1 [dev] Non-Commercial Licence: not for commercial use; "
             "you must accept it on Hugging Face and log in before downloading; better "
             "pictures, 28 steps) come from huggingface.co/black-forest-labs. Either the whole "
             "folder (diffusers layout, about 34 GB: transformer, text_encoder, text_encoder_2, "
             "tokenizer, tokenizer_2, vae, scheduler and model_index.json), or the single files "
             "artists use with ComfyUI."));
    g_string_append(s, "\n\n");
    g_string_append(
        s, _("Single files: the transformer flux1-schnell.safetensors or flux1-dev.safetensors "
             "(23.8 GB, BF16), an FP8 version (11.9 GB, e.g. Kijai/flux-fp8), or a GGUF "
             "version (city96/FLUX.1-schnell-gguf and city96/FLUX.1-dev-gguf: Q8_0 about 12.6 "
             "GB, Q4_K_S about 6.7 GB); plus ae.safetensors (the VAE, 0.34 GB, in the "
             "black-forest-labs repository), clip_l.safetensors (0.25 GB) and "
             "t5xxl_fp16.safetensors (9.5 GB) or t5xxl_fp8_e4m3fn.safetensors (4.8 GB) from "
             "comfyanonymous/flux_text_encoders. Keep them as ComfyUI does (models/unet, "
             "models/vae, models/clip) or all in one folder, and choose the transformer file: "
             "the others are found by themselves. The tokenizers come with the plug-in."));
    g_string_append(s, "\n\n");
    g_string_append(s, _("Memory: the transformer should fit in memory with a few GB to spare: "
                         "BF16 for 40 GB or more, FP8 or Q8_0 for 20 to 40 GB, Q4_K_S below "
                         "that."));
    const char *a = advice(ram_bytes);
    if (a) {
        g_autofree char *size = g_format_size_full(ram_bytes, G_FORMAT_SIZE_IEC_UNITS);
        g_string_append_c(s, ' ');
        /* TRANSLATORS: %1$s: memory size such as "23.4 GiB", %2$s: the advice */
        g_string_append_printf(s, _("This computer has %1$s. %2$s"), size, a);
    }
    return g_string_free(s, FALSE);
}

const char *flux_help_empty_prompt_question(void)
{
    return _("The prompt is empty. Render anyway?");
}

const char *flux_help_empty_prompt_detail(void)
{
    return _("Without a prompt FLUX draws whatever it likes. Type what the picture should show, "
             "or render anyway.");
}

const char *flux_help_empty_prompt_button(void)
{
    return _("_Render Anyway");
}
