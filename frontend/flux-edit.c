/* flux-edit.c — the repaint box of a selection and runs from a picture (flux-edit.h). */
#include "flux-edit.h"

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
