/* loras.c — see loras.h and flux.h (FluxLora). */
#include "loras.h"
#include "lora.h"
#include "clip.h"
#include "model.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Names quoted in a warning before "and N more". */
#define LORAS_WARN_NAMES 4

gboolean flux_lora_parse(const char *spec, FluxLora *lora, GError **error)
{
    g_return_val_if_fail(spec && lora, FALSE);
    const char *colon = strrchr(spec, ':');
    double mult = 1.0;
    size_t len = strlen(spec);
    if (colon && colon[1]) {
        char *end;
        errno = 0;
        double v = g_ascii_strtod(colon + 1, &end);
        if (*end == '\0' && errno == 0) { /* a number: the multiplier */
            mult = v;
            len = (size_t)(colon - spec);
        }
    }
    if (len == 0) {
        g_set_error(error, FLUX_ERROR, FLUX_ERROR_ARGUMENT,
                    "LoRA '%s': no file name (expected FILE or FILE:STRENGTH)", spec);
        return FALSE;
    }
    if (!(mult >= -100.0 && mult <= 100.0)) {
        g_set_error(error, FLUX_ERROR, FLUX_ERROR_ARGUMENT,
                    "LoRA '%s': strength %g is out of range (-100..100; 1 = as trained)", spec,
                    mult);
        return FALSE;
    }
    lora->path = g_strndup(spec, len);
    lora->multiplier = (float)mult;
    return TRUE;
}

gssize flux_lora_check(FluxModel *model, const char *path, char ***names, GError **error)
{
    g_return_val_if_fail(model && path, -1);
    FluxLora l = {path, 1.0f};
    LoraReport rep = {0};
    StArchive *clip = NULL;
    StArchive *a = lora_load(&l, 1, dit_archive(model->dit),
                             model->clip ? clip_archive(model->clip) : NULL, &clip, &rep, error);
    st_archive_free(clip);
    gssize n = a ? (gssize)rep.unknown->len : -1;
    if (a && names) {
        g_ptr_array_add(rep.unknown, NULL);
        *names = (char **)g_ptr_array_steal(rep.unknown, NULL);
    }
    st_archive_free(a);
    lora_report_clear(&rep);
    return n;
}

/* "style.safetensors: 3 tensors are not applied (...): a, b, c" */
static void warn_unknown(const FluxGenerateParams *p, const LoraReport *rep)
{
    if (!p->warning || !rep->unknown || rep->unknown->len == 0) return;
    GString *s = g_string_new(NULL);
    g_string_append_printf(s, "LoRA: %u tensors are not applied", rep->unknown->len);
    if (rep->n_text_encoder)
        g_string_append_printf(s,
                               " (%d for a text encoder this model does not have or LoRAs "
                               "do not change)",
                               rep->n_text_encoder);
    g_string_append(s, ":");
    for (guint i = 0; i < rep->unknown->len && i < LORAS_WARN_NAMES; i++)
        g_string_append_printf(s, "%s %s", i ? "," : "",
                               (const char *)g_ptr_array_index(rep->unknown, i));
    if (rep->unknown->len > LORAS_WARN_NAMES)
        g_string_append_printf(s, " and %u more", rep->unknown->len - LORAS_WARN_NAMES);
    p->warning(s->str, p->user_data);
    g_string_free(s, TRUE);
}

gboolean loras_attach(FluxModel *m, DitContext *dit, const FluxGenerateParams *p,
                      StArchive **clip_lora, GError **error)
{
    *clip_lora = NULL;
    if (!p->loras || p->n_loras <= 0) return TRUE;
    LoraReport rep = {0};
    StArchive *a = lora_load(p->loras, p->n_loras, dit_archive(m->dit),
                             m->clip ? clip_archive(m->clip) : NULL, clip_lora, &rep, error);
    gboolean ok = a && dit_context_set_lora(dit, a, error);
    if (ok) warn_unknown(p, &rep);
    lora_report_clear(&rep);
    return ok;
}
