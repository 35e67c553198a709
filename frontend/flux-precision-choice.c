/* flux-precision-choice.c — the Precision setting's choices (flux-precision-choice.h). */
#include "flux-precision-choice.h"

#include "flux-intl.h"

static const char *const values[FLUX_N_PRECISIONS] = {NULL, "float32", "fast"};

const char *flux_precision_choice_value(int i)
{
    return i > 0 && i < FLUX_N_PRECISIONS ? values[i] : NULL;
}

const char *flux_precision_choice_label(int i)
{
    switch (i) {
    case 1:
        return _("Exact (float32)");
    case 2:
        return _("Fast");
    default:
        return _("Automatic");
    }
}

int flux_precision_choice_index(const char *value)
{
    for (int i = 1; i < FLUX_N_PRECISIONS; i++)
        if (g_strcmp0(value, values[i]) == 0) return i;
    return 0;
}

const char *flux_precision_choice_tooltip(void)
{
    return _("How the processor computes. Fast uses its quick low-precision instructions where "
             "it has them (several times faster; the picture differs by a few shades). Exact "
             "computes in float32, as the reference. Automatic takes Fast where the processor "
             "has such instructions.");
}
