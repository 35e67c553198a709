/* flux-preview-window3.c — the run's preview window in GTK 3 (see flux-preview-window.h); the
 * GTK 2 twin is ui/gimp2/flux-preview-window.c.
 *
 *   ┌ FLUX Text to Image — Preview ────────┐
 *   │ [ the picture forming, ≤ 320 px    ] │
 *   │ Step 3/28 — 41 s left                │
 *   │ [=======                           ] │
 *   │ The real decoder every 2 steps (…)   │
 *   │                              [Stop]  │
 *   └──────────────────────────────────────┘
 */
#include "flux-preview-window.h"

#include "flux-intl.h"

#include <gtk/gtk.h>

struct FluxPreviewWindow {
    GtkWidget *window, *image, *status, *bar, *stop;
    void (*on_stop)(void *);
    void *user_data;
    gboolean stopping;
};

static void stop(FluxPreviewWindow *w)
{
    if (w->stopping) return;
    w->stopping = TRUE;
    gtk_widget_set_sensitive(w->stop, FALSE);
    gtk_label_set_text(GTK_LABEL(w->status), _("Stopping after this step…"));
    w->on_stop(w->user_data);
}

static void on_stop_clicked(GtkButton *button, gpointer data)
{
    (void)button;
    stop(data);
}

/* Closing the window is Stop; the window itself stays until the run has ended. */
static gboolean on_delete(GtkWidget *widget, GdkEvent *event, gpointer data)
{
    (void)widget, (void)event;
    stop(data);
    return TRUE;
}

static GtkWidget *left_label(const char *text)
{
    GtkWidget *label = gtk_label_new(text);
    gtk_label_set_xalign(GTK_LABEL(label), 0.0f);
    gtk_label_set_line_wrap(GTK_LABEL(label), TRUE);
    gtk_label_set_max_width_chars(GTK_LABEL(label), 40); /* GTK 3 wraps only with a limit */
    return label;
}

FluxPreviewWindow *flux_preview_window_new(const char *title, int pw, int ph, const char *plan_text,
                                           void (*on_stop)(void *), void *user_data)
{
    FluxPreviewWindow *w = g_new0(FluxPreviewWindow, 1);
    w->on_stop = on_stop;
    w->user_data = user_data;
    w->window = gtk_window_new(GTK_WINDOW_TOPLEVEL);
    gtk_window_set_title(GTK_WINDOW(w->window), title);
    gtk_window_set_role(GTK_WINDOW(w->window), "flux-preview");
    gtk_window_set_resizable(GTK_WINDOW(w->window), FALSE);
    gtk_window_set_keep_above(GTK_WINDOW(w->window), TRUE);
    gtk_container_set_border_width(GTK_CONTAINER(w->window), 12);
    g_signal_connect(w->window, "delete-event", G_CALLBACK(on_delete), w);

    GtkWidget *box = gtk_box_new(GTK_ORIENTATION_VERTICAL, 6);
    gtk_container_add(GTK_CONTAINER(w->window), box);
    /* a grey placeholder of the preview's size until the first step */
    GdkPixbuf *blank = gdk_pixbuf_new(GDK_COLORSPACE_RGB, FALSE, 8, pw, ph);
    gdk_pixbuf_fill(blank, 0x808080ff);
    w->image = gtk_image_new_from_pixbuf(blank);
    g_object_unref(blank);
    gtk_box_pack_start(GTK_BOX(box), w->image, FALSE, FALSE, 0);
    w->status = left_label(_("Loading model"));
    gtk_box_pack_start(GTK_BOX(box), w->status, FALSE, FALSE, 0);
    w->bar = gtk_progress_bar_new();
    gtk_box_pack_start(GTK_BOX(box), w->bar, FALSE, FALSE, 0);
    if (plan_text) {
        GtkWidget *plan = left_label(plan_text);
        gtk_widget_set_size_request(plan, MAX(pw, 240), -1);
        gtk_box_pack_start(GTK_BOX(box), plan, FALSE, FALSE, 0);
    }
    GtkWidget *buttons = gtk_button_box_new(GTK_ORIENTATION_HORIZONTAL);
    gtk_button_box_set_layout(GTK_BUTTON_BOX(buttons), GTK_BUTTONBOX_END);
    w->stop = gtk_button_new_with_mnemonic(_("_Stop"));
    g_signal_connect(w->stop, "clicked", G_CALLBACK(on_stop_clicked), w);
    gtk_container_add(GTK_CONTAINER(buttons), w->stop);
    gtk_box_pack_start(GTK_BOX(box), buttons, FALSE, FALSE, 0);
    gtk_widget_show_all(w->window);
    return w;
}

static void free_pixels(guchar *pixels, gpointer data)
{
    (void)data;
    g_free(pixels);
}

void flux_preview_window_set_picture(FluxPreviewWindow *w, const guint8 *rgb, int pw, int ph)
{
    if (!w) return;
    guint8 *copy = g_memdup2(rgb, (gsize)pw * ph * 3);
    GdkPixbuf *pb = gdk_pixbuf_new_from_data(copy, GDK_COLORSPACE_RGB, FALSE, 8, pw, ph, pw * 3,
                                             free_pixels, NULL);
    gtk_image_set_from_pixbuf(GTK_IMAGE(w->image), pb);
    g_object_unref(pb);
}

void flux_preview_window_set_text(FluxPreviewWindow *w, const char *text)
{
    if (w && !w->stopping) gtk_label_set_text(GTK_LABEL(w->status), text);
}

void flux_preview_window_set_fraction(FluxPreviewWindow *w, double fraction)
{
    if (w) gtk_progress_bar_set_fraction(GTK_PROGRESS_BAR(w->bar), CLAMP(fraction, 0.0, 1.0));
}

void flux_preview_window_destroy(FluxPreviewWindow *w)
{
    if (!w) return;
    gtk_widget_destroy(w->window);
    g_free(w);
}
