/* flux-loras.c — see flux-loras.h. */
#include "flux-loras.h"

#include "flux-intl.h"

#include <string.h>

gboolean flux_lora_list_parse(const char *text, FluxLora **loras, int *n, GError **error)
{
    *loras = NULL;
    *n = 0;
    if (!text) return TRUE;
    g_auto(GStrv) items = g_strsplit_set(text, ";\n", -1);
    guint max = g_strv_length(items);
    FluxLora *out = g_new0(FluxLora, MAX(max, 1));
    int count = 0;
    for (guint i = 0; i < max; i++) {
        char *item = g_strstrip(items[i]);
        if (!item[0]) continue;
        GError *err = NULL;
        if (!flux_lora_parse(item, &out[count], &err)) {
            g_set_error(error, FLUX_ERROR, FLUX_ERROR_ARGUMENT,
                        _("LoRA “%s”: expected a file, optionally with “:strength” (e.g. "
                          "style.safetensors:0.8), the strength between -100 and 100."),
                        item);
            g_error_free(err);
            flux_lora_list_free(out, count);
            return FALSE;
        }
        count++;
    }
    if (count == 0) {
        g_free(out);
        return TRUE;
    }
    *loras = out;
    *n = count;
    return TRUE;
}

void flux_lora_list_free(FluxLora *loras, int n)
{
    for (int i = 0; loras && i < n; i++) g_free((char *)loras[i].path);
    g_free(loras);
}

char *flux_lora_list_format(const FluxLora *loras, int n)
{
    GString *s = g_string_new(NULL);
    for (int i = 0; i < n; i++) {
        char num[G_ASCII_DTOSTR_BUF_SIZE];
        g_ascii_formatd(num, sizeof num, "%g", loras[i].multiplier);
        g_string_append_printf(s, "%s%s:%s", i ? ";" : "", loras[i].path, num);
    }
    return g_string_free(s, FALSE);
}
