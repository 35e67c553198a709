/* flux-edit.c — the repaint box of a selection and runs from a picture (flux-edit.h). */
#include "flux-edit.h"

#include "flux-intl.h"
#include "flux.h"

static int round_up16(int v)
{
    return (v + 15) / 16 * 16;
}

/* One axis: [lo, hi) in [0, size) → start, length. */
static void edit_axis(int size, int lo, int hi, int margin, int want, int *start, int *len)
{
    int cap = size / 16 * 16;
    int n = round_up16(MAX((hi - lo) + 2 * margin, want));
    n = MIN(n, cap);
    int s = (lo + hi) / 2 - n / 2;
    *start = CLAMP(s, 0, size - n);
    *len = n;
}

gboolean flux_edit_box(int img_w, int img_h, int x1, int y1, int x2, int y2, int margin, int want_w,
                       int want_h, FluxEditBox *box)
{
    if (img_w < 16 || img_h < 16 || x2 <= x1 || y2 <= y1) return FALSE;
    edit_axis(img_w, x1, x2, margin, want_w, &box->x, &box->width);
    edit_axis(img_h, y1, y2, margin, want_h, &box->y, &box->height);
    return TRUE;
}

gboolean flux_edit_resolve_size(int arg, int *size, GError **error)
{
    *size = arg ? arg : FLUX_EDIT_SIZE_DEFAULT;
    if (*size >= 16 && *size <= FLUX_MAX_SIZE) return TRUE;
    g_set_error(error, FLUX_ERROR, FLUX_ERROR_ARGUMENT,
                _("Size %d is out of range (16..%d, or 0)."), arg, FLUX_MAX_SIZE);
    return FALSE;
}

gboolean flux_edit_region(gboolean selection, int img_w, int img_h, int x1, int y1, int x2, int y2,
                          int lx, int ly, int lw, int lh, int size, FluxEditBox *box,
                          GError **error)
{
    if (selection) {
        if (flux_edit_box(img_w, img_h, x1, y1, x2, y2, FLUX_EDIT_MARGIN, size, size, box))
            return TRUE;
        g_set_error_literal(error, FLUX_ERROR, FLUX_ERROR_ARGUMENT,
                            _("The image is smaller than 16 × 16 pixels."));
        return FALSE;
    }
    *box = (FluxEditBox){lx, ly, lw / 16 * 16, lh / 16 * 16};
    if (box->width >= 16 && box->height >= 16) return TRUE;
    g_set_error_literal(error, FLUX_ERROR, FLUX_ERROR_ARGUMENT,
                        _("The layer is smaller than 16 × 16 pixels."));
    return FALSE;
}

const char *flux_edit_mode_text(gboolean selection)
{
    return selection ? _("Repaint the selection") : _("Start from the current layer");
}
