/* lora_linear.c — see lora_linear.h. */
#include "lora_linear.h"

#include <string.h>

typedef struct {
    FluxBackendWeight *a, *b; /* [R, K], [N, R] */
    int R, K, N;
} LoraPair;

struct LoraLinear {
    const FluxBackend *be;
    FluxBackendCtx *bc; /* owns the weights and the scratch */
    StArchive *lora;    /* the tensors the cpu backend reads in place */
    LoraPair *pairs;    /* [n], a == NULL for layers without LoRA */
    guint n, count;
    float *tmp_r; /* [LORA_LINEAR_ROWS, max R]  x·Aᵀ */
    float *tmp_n; /* [LORA_LINEAR_ROWS, max N]  (x·Aᵀ)·Bᵀ */
};

void lora_linear_free(LoraLinear *ll)
{
    if (!ll) return;
    for (guint i = 0; ll->pairs && i < ll->n; i++) {
        ll->be->weight_free(ll->bc, ll->pairs[i].a);
        ll->be->weight_free(ll->bc, ll->pairs[i].b);
    }
    if (ll->bc) ll->be->ctx_free(ll->bc);
    st_archive_free(ll->lora);
    g_free(ll->pairs);
    g_free(ll);
}

/* The LoRA tensors of the layer whose base weight is `w`, or FALSE when it has none. */
static gboolean find_pair(StArchive *lora, const StTensor *w, StTensor **a, StTensor **b)
{
    if (!g_str_has_suffix(w->name, ".weight")) return FALSE;
    g_autofree char *layer = g_strndup(w->name, strlen(w->name) - strlen(".weight"));
    g_autofree char *na = g_strconcat(layer, ".lora_A", NULL);
    g_autofree char *nb = g_strconcat(layer, ".lora_B", NULL);
    *a = st_archive_find(lora, na);
    *b = st_archive_find(lora, nb);
    return *a && *b;
}

LoraLinear *lora_linear_new(const FluxBackend *be, StArchive *lora, const StTensor *const *weights,
                            guint n, StDtype dtype, GError **error)
{
    LoraLinear *ll = g_new0(LoraLinear, 1);
    ll->be = be;
    ll->lora = lora;
    ll->n = n;
    ll->pairs = g_new0(LoraPair, n);
    int max_r = 0, max_n = 0;
    StTensor **found = g_new0(StTensor *, 2 * (gsize)n);
    for (guint i = 0; i < n; i++) {
        if (!find_pair(lora, weights[i], &found[2 * i], &found[2 * i + 1])) continue;
        found[2 * i]->used = found[2 * i + 1]->used = TRUE;
        LoraPair *p = &ll->pairs[i];
        p->R = (int)found[2 * i]->shape[0];
        p->K = (int)found[2 * i]->shape[1];
        p->N = (int)found[2 * i + 1]->shape[0];
        max_r = MAX(max_r, p->R);
        max_n = MAX(max_n, p->N);
        ll->count++;
    }
    /* scratch + alignment slack of the two buffers */
    /* with linear_lora: tmp_r of LORA_LINEAR_ACC_ROWS rows and no tmp_n */
    gboolean acc = be->linear_lora != NULL;
    size_t rows_r = acc ? LORA_LINEAR_ACC_ROWS : LORA_LINEAR_ROWS;
    size_t n_r = rows_r * MAX(max_r, 1), n_n = acc ? 1 : (size_t)LORA_LINEAR_ROWS * MAX(max_n, 1);
    size_t scratch = (n_r + n_n) * sizeof(float) + 2 * 256;
    gboolean ok = (ll->bc = be->ctx_new(scratch, error)) != NULL;
    ok = ok && (ll->tmp_r = be->alloc(ll->bc, n_r, error));
    ok = ok && (ll->tmp_n = be->alloc(ll->bc, n_n, error));
    for (guint i = 0; ok && i < n; i++) {
        if (!found[2 * i]) continue;
        LoraPair *p = &ll->pairs[i];
        p->a = be->weight_new(ll->bc, found[2 * i], dtype, error);
        p->b = p->a ? be->weight_new(ll->bc, found[2 * i + 1], dtype, error) : NULL;
        ok = p->b != NULL;
    }
    g_free(found);
    if (ok && be->sync(ll->bc, error)) return ll;
    g_prefix_error(error, "LoRA on %s: ", be->name);
    lora_linear_free(ll);
    return NULL;
}

guint lora_linear_count(const LoraLinear *ll)
{
    return ll ? ll->count : 0;
}

void lora_linear_apply(const LoraLinear *ll, FluxBackendCtx *bc, guint i, float *y, const float *x,
                       int M)
{
    if (!ll || i >= ll->n || !ll->pairs[i].a) return;
    const LoraPair *p = &ll->pairs[i];
    if (ll->be->linear_lora) { /* accumulated in place: no [m, N] product, no add pass */
        for (int r0 = 0; r0 < M; r0 += LORA_LINEAR_ACC_ROWS) {
            int m = MIN(LORA_LINEAR_ACC_ROWS, M - r0);
            ll->be->linear_lora(bc, y + (size_t)r0 * p->N, x + (size_t)r0 * p->K, p->a, p->b,
                                ll->tmp_r, m);
        }
        return;
    }
    for (int r0 = 0; r0 < M; r0 += LORA_LINEAR_ROWS) {
        int m = MIN(LORA_LINEAR_ROWS, M - r0);
        ll->be->linear(bc, ll->tmp_r, x + (size_t)r0 * p->K, p->a, NULL, m); /* [m, R] */
        ll->be->linear(bc, ll->tmp_n, ll->tmp_r, p->b, NULL, m);             /* [m, N] */
        ll->be->add(bc, y + (size_t)r0 * p->N, ll->tmp_n, (size_t)m * p->N);
    }
}
