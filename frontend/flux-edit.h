/* flux-edit.h — working inside a picture from the GIMP entries (GLib only, no GIMP): which
 * region of the image to repaint for a selection, and the picture/mask a run starts from.
 *
 *   with a selection     flux_edit_box() → the box to cut out (selection + context, multiples
 *                        of 16, inside the image); the box's pixels and the selection inside it
 *                        as the mask; the result goes back as a layer over the box with the
 *                        selection as its layer mask
 *   without a selection  the layer's pixels (its size floored to 16) at a strength
 * (the run itself: flux_worker_run_edit, flux-worker.h)
 *
 * Unlike diffusers' padding_mask_crop, the box is never resized: a small selection is given
 * more context (the box grows to the requested size when the image allows) instead of being
 * magnified, so every output pixel lands exactly on the pixel it replaces.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define FLUX_EDIT_MARGIN 32 /* pixels of context around a selection, at least */

typedef struct {
    int x, y, width, height;
} FluxEditBox;

/* The box for a selection whose bounds are [x1, x2) × [y1, y2) in an img_w × img_h image:
 * grown by `margin` on each side, then to at least want_w × want_h, then up to multiples of
 * 16, centred on the selection and shifted inside the image; never larger than the image
 * floored to 16 (then part of a huge selection stays outside). FALSE when the image is
 * smaller than 16 × 16 or the selection is empty. */
gboolean flux_edit_box(int img_w, int img_h, int x1, int y1, int x2, int y2, int margin, int want_w,
                       int want_h, FluxEditBox *box);

G_END_DECLS
