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

#define FLUX_EDIT_MARGIN           32   /* pixels of context around a selection, at least */
#define FLUX_EDIT_SIZE_DEFAULT     1024 /* the region's smallest side around a selection */
#define FLUX_EDIT_STRENGTH_DEFAULT 0.6
#define FLUX_EDIT_STRENGTH_MIN     0.05 /* the dialog's slider: 0.05–1 */

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

/* The `size` argument of plug-in-flux-edit: 0 → FLUX_EDIT_SIZE_DEFAULT, else 16..FLUX_MAX_SIZE;
 * FALSE with a message naming the value otherwise. */
gboolean flux_edit_resolve_size(int arg, int *size, GError **error);

/* The region a run works on, in image coordinates. With a selection (bounds [x1, x2) × [y1, y2)
 * in an img_w × img_h image): flux_edit_box with FLUX_EDIT_MARGIN and `size`. Without one: the
 * layer at (lx, ly), lw × lh, floored to multiples of 16. FALSE with a message for an image or
 * layer smaller than 16 × 16. */
gboolean flux_edit_region(gboolean selection, int img_w, int img_h, int x1, int y1, int x2, int y2,
                          int lx, int ly, int lw, int lh, int size, FluxEditBox *box,
                          GError **error);

/* The dialog's mode line, translated: "Repaint the selection" / "Start from the current layer". */
const char *flux_edit_mode_text(gboolean selection);

/* The procedure's help text for the PDB (untranslated, as GIMP's own). */
#define FLUX_EDIT_HELP                                                                             \
    "With a selection, repaints it (inpainting, or FLUX.1 Fill with a Fill model) from the "       \
    "pixels around it and adds the result as a new layer masked by the selection. Without "        \
    "one, reworks the current layer at the given strength (image-to-image) as a new layer. "       \
    "The image itself is never changed. Same pixels as flux-generate --init-image/--mask on "      \
    "the same crop."

G_END_DECLS
