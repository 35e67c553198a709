/* lora.c — see lora.h. The name conversions follow diffusers 0.32.2
 * (loaders/lora_conversion_utils.py: _convert_kohya_flux_lora_to_diffusers) with the layer
 * table of checkpoint.c (ckpt_transformer_layer_targets), so that a LoRA lands on the same
 * diffusers layers as the base weights of the same name. */
#include "lora.h"
#include "checkpoint.h"

#include <math.h>
#include <string.h>

typedef enum { PART_A, PART_B, PART_ALPHA } Part;

/* "<layer><suffix>" → the layer and its part; FALSE for other tensors. */
static gboolean split_part(const char *name, char **layer, Part *part)
{
    static const struct {
        const char *suffix;
        Part part;
    } parts[] = {
        {".lora_down.weight", PART_A}, {".lora_A.weight", PART_A}, {".lora_up.weight", PART_B},
        {".lora_B.weight", PART_B},    {".alpha", PART_ALPHA},
    };
    for (gsize i = 0; i < G_N_ELEMENTS(parts); i++)
        if (g_str_has_suffix(name, parts[i].suffix) && strlen(name) > strlen(parts[i].suffix)) {
            *layer = g_strndup(name, strlen(name) - strlen(parts[i].suffix));
            *part = parts[i].part;
            return TRUE;
        }
    return FALSE;
}

static gboolean is_text_encoder(const char *layer)
{
    return g_str_has_prefix(layer, "lora_te") || g_str_has_prefix(layer, "text_encoder.") ||
           g_str_has_prefix(layer, "text_encoder_2.") || g_str_has_prefix(layer, "text_encoders.");
}

/* A layer of `base` (diffusers name) taking LoRAs: a 2-D weight. */
static const StTensor *base_weight(StArchive *base, const char *layer)
{
    g_autofree char *w = g_strconcat(layer, ".weight", NULL);
    const StTensor *t = st_archive_find(base, w);
    return t && t->ndim == 2 ? t : NULL;
}

/* The diffusers layers a LoRA layer name stands for, in the order of the rows of its B:
 * kohya "lora_unet_<BFL name with _>", BFL "diffusion_model.<BFL name>", diffusers
 * "transformer.<name>" (or any of these names without their prefix). NULL when `base` has no
 * such layer. */
static char **targets_of(StArchive *base, const char *layer, gboolean *swapped)
{
    static const char *const prefixes[] = {"lora_unet_",       "model.diffusion_model.",
                                           "diffusion_model.", "base_model.model.",
                                           "transformer.",     ""};
    *swapped = FALSE;
    for (gsize i = 0; i < G_N_ELEMENTS(prefixes); i++) {
        if (!g_str_has_prefix(layer, prefixes[i])) continue;
        const char *stem = layer + strlen(prefixes[i]);
        if (base_weight(base, stem)) {
            char **one = g_new0(char *, 2);
            one[0] = g_strdup(stem);
            return one;
        }
        char **t = ckpt_transformer_layer_targets(stem, swapped);
        gboolean all = t != NULL;
        for (int k = 0; all && t[k]; k++) all = base_weight(base, t[k]) != NULL;
        if (all) return t;
        g_strfreev(t);
    }
    return NULL;
}

/* The CLIP-L layer of a text-encoder LoRA layer: kohya "lora_te1_<name with _>" (or
 * "lora_te_"), diffusers "text_encoder.<name>", in `clip` (transformers names
 * "text_model.encoder.layers.0.self_attn.q_proj"). NULL when it has none. */
static char **clip_targets_of(StArchive *clip, const char *layer)
{
    static const char *const prefixes[] = {"lora_te1_", "lora_te_", "text_encoder."};
    for (gsize i = 0; clip && i < G_N_ELEMENTS(prefixes); i++) {
        if (!g_str_has_prefix(layer, prefixes[i])) continue;
        const char *stem = layer + strlen(prefixes[i]);
        for (gsize k = 0; k < st_archive_n_tensors(clip); k++) {
            const StTensor *t = st_archive_tensor(clip, k);
            if (t->ndim != 2 || !g_str_has_suffix(t->name, ".weight")) continue;
            g_autofree char *name = g_strndup(t->name, strlen(t->name) - strlen(".weight"));
            if (ckpt_same_name(stem, name)) {
                char **one = g_new0(char *, 2);
                one[0] = g_steal_pointer(&name);
                return one;
            }
        }
    }
    return NULL;
}

/* ------------------------------------------------------------------------------------- */
/* Gathering the pieces of every layer                                                   */

/* One LoRA's share of a diffusers layer: rows [row0, row0 + n) of its B. */
typedef struct {
    const float *a; /* [r, K], owned by Build.buffers */
    const float *b; /* [N_src, r] the whole B, owned by Build.buffers */
    int64_t r, row0, n, n_src;
    gboolean swapped; /* target row j is source row (j + n/2) % n */
    float s;
} Piece;

typedef struct Build {
    StArchive *base;
    GHashTable *pieces; /* diffusers layer → GArray of Piece */
    GPtrArray *order;   /* layers in the order first met (borrowed from `pieces`' keys) */
    GPtrArray *buffers; /* float arrays */
    LoraReport *report;
    struct Build *clip; /* the text encoder's layers, or NULL when they are not applied */
} Build;

static float *to_f32(Build *bd, const StTensor *t)
{
    float *f = g_new(float, t->numel);
    st_to_f32(f, t, 0, t->numel);
    g_ptr_array_add(bd->buffers, f);
    return f;
}

static void add_piece(Build *bd, const char *layer, const Piece *p)
{
    GArray *arr = g_hash_table_lookup(bd->pieces, layer);
    if (!arr) {
        char *key = g_strdup(layer);
        arr = g_array_new(FALSE, FALSE, sizeof(Piece));
        g_hash_table_insert(bd->pieces, key, arr);
        g_ptr_array_add(bd->order, key);
    }
    g_array_append_val(arr, *p);
}

static gboolean shape_error(GError **error, const StTensor *t, const char *what)
{
    g_set_error(error, FLUX_ERROR, FLUX_ERROR_MODEL,
                "%s: tensor '%s' has shape [%" G_GINT64_FORMAT ", %" G_GINT64_FORMAT
                "], which does not fit %s: is this a LoRA for another model?",
                t->file, t->name, t->shape[0], t->ndim > 1 ? t->shape[1] : 0, what);
    return FALSE;
}

/* One LoRA layer (A, B, optional alpha) onto its diffusers layers `targets`. */
static gboolean add_layer(Build *bd, char **targets, gboolean swapped, const StTensor *a,
                          const StTensor *b, const StTensor *alpha, float multiplier,
                          GError **error)
{
    if (a->ndim != 2 || b->ndim != 2 || b->shape[1] != a->shape[0] || a->shape[0] < 1)
        return shape_error(error, a->ndim != 2 ? a : b,
                           "a LoRA pair (down [rank, in], up [out, rank])");
    int64_t r = a->shape[0], rows = 0;
    for (int k = 0; targets[k]; k++) {
        const StTensor *w = base_weight(bd->base, targets[k]);
        rows += w->shape[0];
        if (w->shape[1] != a->shape[1]) {
            g_autofree char *what = g_strdup_printf("the model's layer '%s' [%" G_GINT64_FORMAT
                                                    ", %" G_GINT64_FORMAT "]",
                                                    targets[k], w->shape[0], w->shape[1]);
            return shape_error(error, a, what);
        }
    }
    if (rows != b->shape[0] || (swapped && rows % 2)) {
        g_autofree char *what =
            g_strdup_printf("the model's layer%s %s... (%" G_GINT64_FORMAT " outputs)",
                            targets[1] ? "s" : "", targets[0], rows);
        return shape_error(error, b, what);
    }
    float al = (float)r;
    if (alpha) {
        if (alpha->numel != 1) return shape_error(error, alpha, "an alpha (one number)");
        st_to_f32(&al, alpha, 0, 1);
    }
    Piece p = {.a = to_f32(bd, a),
               .b = to_f32(bd, b),
               .r = r,
               .n_src = rows,
               .swapped = swapped,
               .s = multiplier * al / (float)r};
    for (int k = 0; targets[k]; k++) {
        p.n = base_weight(bd->base, targets[k])->shape[0];
        add_piece(bd, targets[k], &p);
        p.row0 += p.n;
    }
    bd->report->n_layers++;
    return TRUE;
}

typedef struct {
    const StTensor *t[3]; /* by Part */
} Parts;

static void report_unknown(Build *bd, const StTensor *t, const char *layer)
{
    if (layer && is_text_encoder(layer)) bd->report->n_text_encoder++;
    g_ptr_array_add(bd->report->unknown, g_strdup_printf("%s: %s", t->file, t->name));
}

static gboolean pair_error(GError **error, const StTensor *t, const char *missing)
{
    g_set_error(error, FLUX_ERROR, FLUX_ERROR_FORMAT,
                "%s: tensor '%s' has no %s partner: the file is incomplete", t->file, t->name,
                missing);
    return FALSE;
}

static gboolean check_dtype(const StTensor *t, GError **error)
{
    if (st_dtype_is_float(t->dtype)) return TRUE;
    g_set_error(error, FLUX_ERROR, FLUX_ERROR_FORMAT,
                "%s: tensor '%s' has dtype %s, expected F32, F16 or BF16", t->file, t->name,
                st_dtype_name(t->dtype));
    return FALSE;
}

/* Every layer of one file; counts the tensors applied in *n_applied. */
static gboolean add_file(Build *bd, StFile *f, float multiplier, int *n_applied, GError **error)
{
    g_autoptr(GHashTable) layers = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    g_autoptr(GPtrArray) order = g_ptr_array_new();
    for (gsize i = 0; i < st_file_n_tensors(f); i++) {
        StTensor *t = st_file_tensor(f, i);
        char *layer;
        Part part;
        if (!split_part(t->name, &layer, &part)) {
            report_unknown(bd, t, t->name);
            continue;
        }
        if (!check_dtype(t, error)) {
            g_free(layer);
            return FALSE;
        }
        Parts *ps = g_hash_table_lookup(layers, layer);
        if (!ps) {
            ps = g_new0(Parts, 1);
            g_hash_table_insert(layers, layer, ps);
            g_ptr_array_add(order, layer);
        } else {
            g_free(layer);
        }
        ps->t[part] = t;
    }
    for (guint i = 0; i < order->len; i++) {
        const char *layer = g_ptr_array_index(order, i);
        const Parts *ps = g_hash_table_lookup(layers, layer);
        const StTensor *a = ps->t[PART_A], *b = ps->t[PART_B], *alpha = ps->t[PART_ALPHA];
        if (a && !b) return pair_error(error, a, "lora_up / lora_B");
        if (b && !a) return pair_error(error, b, "lora_down / lora_A");
        gboolean swapped = FALSE, te = is_text_encoder(layer);
        Build *to = te ? bd->clip : bd;
        char **targets = !a || !to ? NULL
                         : te      ? clip_targets_of(to->base, layer)
                                   : targets_of(bd->base, layer, &swapped);
        if (!targets) {
            for (int p = 0; p < 3; p++)
                if (ps->t[p]) report_unknown(bd, ps->t[p], layer);
            continue;
        }
        gboolean ok = add_layer(to, targets, swapped, a, b, alpha, multiplier, error);
        g_strfreev(targets);
        if (!ok) return FALSE;
        *n_applied += 2 + (alpha != NULL);
    }
    return TRUE;
}

/* ------------------------------------------------------------------------------------- */
/* The stacked tensors                                                                   */

/* "<layer>.lora_A" [R, K] and "<layer>.lora_B" [N, R] from the layer's pieces. */
static gboolean add_stacked(Build *bd, StArchive *out, const char *layer, GArray *arr,
                            GError **error)
{
    const StTensor *w = base_weight(bd->base, layer);
    int64_t N = w->shape[0], K = w->shape[1], R = 0;
    for (guint i = 0; i < arr->len; i++) R += g_array_index(arr, Piece, i).r;
    float *A = g_new(float, R *K), *B = g_new(float, N *R);
    int64_t col = 0;
    for (guint i = 0; i < arr->len; i++) {
        const Piece *p = &g_array_index(arr, Piece, i);
        memcpy(A + col * K, p->a, (size_t)(p->r * K) * sizeof(float));
        for (int64_t j = 0; j < N; j++) {
            int64_t src = p->row0 + j;
            if (p->swapped) src = (src + p->n_src / 2) % p->n_src;
            for (int64_t c = 0; c < p->r; c++) B[j * R + col + c] = p->s * p->b[src * p->r + c];
        }
        col += p->r;
    }
    g_autofree char *na = g_strconcat(layer, ".lora_A", NULL);
    g_autofree char *nb = g_strconcat(layer, ".lora_B", NULL);
    int64_t sa[2] = {R, K}, sb[2] = {N, R};
    if (!st_archive_add_owned(out, na, ST_F32, 2, sa, A, "LoRA", error)) {
        g_free(B);
        return FALSE;
    }
    return st_archive_add_owned(out, nb, ST_F32, 2, sb, B, "LoRA", error) != NULL;
}

static void free_array(gpointer p)
{
    g_array_free(p, TRUE);
}

static void build_init(Build *bd, StArchive *base, LoraReport *report)
{
    *bd = (Build){.base = base,
                  .pieces = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, free_array),
                  .order = g_ptr_array_new(),
                  .buffers = g_ptr_array_new_with_free_func(g_free),
                  .report = report};
}

static void build_clear(Build *bd)
{
    g_ptr_array_free(bd->buffers, TRUE);
    g_ptr_array_free(bd->order, TRUE);
    g_hash_table_destroy(bd->pieces);
}

/* The stacked tensors of every layer of `bd` into a new archive (NULL with `error`). */
static StArchive *build_finish(Build *bd, GError **error)
{
    StArchive *out = st_archive_new("LoRA");
    for (guint i = 0; i < bd->order->len; i++) {
        const char *layer = g_ptr_array_index(bd->order, i);
        if (!add_stacked(bd, out, layer, g_hash_table_lookup(bd->pieces, layer), error)) {
            st_archive_free(out);
            return NULL;
        }
    }
    return out;
}

StArchive *lora_load(const FluxLora *loras, int n, StArchive *base, StArchive *clip_base,
                     StArchive **clip_out, LoraReport *report, GError **error)
{
    g_return_val_if_fail(base != NULL && (loras || n == 0), NULL);
    LoraReport own = {0};
    if (!report) report = &own;
    if (!report->unknown) report->unknown = g_ptr_array_new_with_free_func(g_free);
    Build bd, bd_clip;
    build_init(&bd, base, report);
    build_init(&bd_clip, clip_base, report);
    bd.clip = clip_base && clip_out ? &bd_clip : NULL;
    if (clip_out) *clip_out = NULL;
    GPtrArray *files = g_ptr_array_new_with_free_func((GDestroyNotify)st_file_free);
    gboolean ok = TRUE;
    for (int i = 0; ok && i < n; i++) {
        if (!loras[i].path || !isfinite(loras[i].multiplier)) {
            g_set_error(error, FLUX_ERROR, FLUX_ERROR_ARGUMENT, "LoRA %d: %s", i + 1,
                        loras[i].path ? "the strength is not a finite number" : "no file given");
            ok = FALSE;
            break;
        }
        StFile *f = st_file_open(loras[i].path, error);
        ok = f != NULL;
        if (!ok) break;
        g_ptr_array_add(files, f);
        int applied = 0;
        ok = add_file(&bd, f, loras[i].multiplier, &applied, error);
        if (ok && applied == 0) {
            g_set_error(error, FLUX_ERROR, FLUX_ERROR_MODEL,
                        "%s: none of its %zu tensors is a LoRA layer of this FLUX.1 model%s",
                        loras[i].path, (size_t)st_file_n_tensors(f),
                        report->n_text_encoder ? " (it only changes a text encoder, which is "
                                                 "not supported here)"
                                               : ": is it a LoRA for another model?");
            ok = FALSE;
        }
    }
    StArchive *out = ok ? build_finish(&bd, error) : NULL;
    if (out && bd.clip && bd_clip.order->len && !(*clip_out = build_finish(&bd_clip, error)))
        g_clear_pointer(&out, st_archive_free);
    build_clear(&bd);
    build_clear(&bd_clip);
    g_ptr_array_free(files, TRUE);
    lora_report_clear(&own);
    return out;
}

void lora_report_clear(LoraReport *report)
{
    if (!report) return;
    if (report->unknown) g_ptr_array_free(report->unknown, TRUE);
    memset(report, 0, sizeof *report);
}
