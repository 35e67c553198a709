/* flux-params.c — defaults, checks and small helpers around FluxRenderParams (GLib only). */
#include "flux-params.h"

#include "flux-intl.h"
#include "flux-loras.h"
#include "flux.h"

#include <libintl.h>
#include <math.h>
#include <string.h>

void flux_intl_init(const char *locale_dir)
{
    bindtextdomain(GETTEXT_PACKAGE, locale_dir);
    bind_textdomain_codeset(GETTEXT_PACKAGE, "UTF-8");
}

void flux_render_params_init(FluxRenderParams *p)
{
    memset(p, 0, sizeof *p);
    p->width = p->height = 1024;
    p->steps = 28;
    p->guidance = 3.5;
    p->random_seed = TRUE;
}

/* Copies at most size-1 bytes, backing up to a character boundary so the field stays
 * valid UTF-8 when the input was. */
static void copy_utf8(char *dst, gsize size, const char *src)
{
    if (!src) src = "";
    gsize n = strlen(src);
    if (n >= size) {
        n = size - 1;
        while (n > 0 && (src[n] & 0xC0) == 0x80) n--;
    }
    memcpy(dst, src, n);
    dst[n] = '\0';
}

void flux_render_params_set_prompt(FluxRenderParams *p, const char *text)
{
    copy_utf8(p->prompt, sizeof p->prompt, text);
}

void flux_render_params_set_model(FluxRenderParams *p, const char *dir)
{
    copy_utf8(p->model, sizeof p->model, dir);
}

gboolean flux_render_params_set_loras(FluxRenderParams *p, const char *list)
{
    if (list && strlen(list) >= sizeof p->loras) return FALSE;
    g_strlcpy(p->loras, list ? list : "", sizeof p->loras);
    return TRUE;
}

static gboolean bad(GError **error, char *msg)
{
    g_set_error_literal(error, FLUX_ERROR, FLUX_ERROR_ARGUMENT, msg);
    g_free(msg);
    return FALSE;
}

gboolean flux_render_params_validate(const FluxRenderParams *p, GError **error)
{
    if (!g_utf8_validate(p->prompt, -1, NULL))
        return bad(error, g_strdup(_("The prompt is not valid UTF-8 text.")));
    if (p->width < FLUX_SIZE_STEP || p->width > FLUX_MAX_SIZE)
        return bad(error, g_strdup_printf(_("Width %d is out of range (%d to %d pixels)."),
                                          p->width, FLUX_SIZE_STEP, FLUX_MAX_SIZE));
    if (p->height < FLUX_SIZE_STEP || p->height > FLUX_MAX_SIZE)
        return bad(error, g_strdup_printf(_("Height %d is out of range (%d to %d pixels)."),
                                          p->height, FLUX_SIZE_STEP, FLUX_MAX_SIZE));
    if (p->steps < 1 || p->steps > FLUX_MAX_STEPS)
        return bad(error, g_strdup_printf(_("Number of steps %d is out of range (1 to %d)."),
                                          p->steps, FLUX_MAX_STEPS));
    if (!isfinite(p->guidance) || p->guidance < 0.0 || p->guidance > FLUX_GUIDANCE_MAX)
        return bad(error, g_strdup_printf(_("Guidance %g is out of range (0 to %g)."), p->guidance,
                                          FLUX_GUIDANCE_MAX));
    if (!p->random_seed && p->seed < 0)
        return bad(error, g_strdup_printf(_("Seed %d is out of range (-1 for random, or 0 to "
                                            "%d)."),
                                          p->seed, FLUX_SEED_MAX));
    if (p->model[0] == '\0')
        return bad(error, g_strdup(_("No model given, and none has been chosen in the dialog "
                                     "yet.")));
    FluxLora *loras;
    int n;
    if (!flux_lora_list_parse(p->loras, &loras, &n, error)) return FALSE;
    flux_lora_list_free(loras, n);
    return TRUE;
}

int flux_render_output_size(int size)
{
    return size >= FLUX_SIZE_STEP ? size / FLUX_SIZE_STEP * FLUX_SIZE_STEP : 0;
}

gint32 flux_render_params_pick_seed(const FluxRenderParams *p)
{
    return p->random_seed ? g_random_int_range(0, FLUX_SEED_MAX) : p->seed;
}

char *flux_render_layer_name(const char *prompt)
{
    enum { MAX_CHARS = 40 };
    g_autofree char *line = g_strndup(prompt ? prompt : "", strcspn(prompt ? prompt : "", "\r\n"));
    g_strstrip(line);
    if (!line[0] || !g_utf8_validate(line, -1, NULL)) return g_strdup("FLUX");
    if (g_utf8_strlen(line, -1) <= MAX_CHARS) return g_strdup(line);
    const char *end = g_utf8_offset_to_pointer(line, MAX_CHARS - 1);
    g_autofree char *head = g_strndup(line, (gsize)(end - line));
    return g_strconcat(g_strchomp(head), "…", NULL);
}

char *flux_render_layer_name_seed(const char *prompt, gint32 seed)
{
    g_autofree char *name = flux_render_layer_name(prompt);
    /* TRANSLATORS: a layer name: the prompt's first words, then the seed */
    return g_strdup_printf(_("%s (seed %d)"), name, (int)seed);
}

char *flux_format_duration(double s)
{
    if (!isfinite(s) || s < 0) s = 0;
    if (s < 90.0) return g_strdup_printf(_("%d s"), (int)lround(s));
    double min = s / 60.0;
    if (min < 90.0) return g_strdup_printf(_("%d min"), (int)lround(min));
    int total = (int)lround(min), h = total / 60;
    return g_strdup_printf(_("%d h %d min"), h, total - h * 60);
}
