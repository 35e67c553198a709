/* transformer_binding.c — the DiT's parameters on a compute backend: bound by the first
 * context made on a backend, kept until dit_free, shared by every context on it. On cuda the
 * weights are uploaded once as BF16 (DIT_WEIGHT_DTYPE); on cpu the mapped tensors are used
 * as they are. The float32 vectors (biases, QK-norm scales) go to the backend's memory on
 * both. LoRAs (dit_context_set_lora) are added on top, per context, the binding unchanged. */
#include "transformer.h"
#include "transformer_model.h"

#include "weights.h"

static void bound_free(DitModel *m, DitBound *wb)
{
    if (!wb) return;
    for (guint i = 0; wb->w && i < m->lins->len; i++) wb->be->weight_free(wb->bc, wb->w[i]);
    wb->be->ctx_free(wb->bc);
    g_free(wb->w);
    g_free(wb->v);
    g_free(wb);
}

void dit_bound_free_all(DitModel *m)
{
    for (int i = 0; i < DIT_MAX_BACKENDS; i++) bound_free(m, m->bound[i]);
}

/* Bytes the vectors take in a backend arena (each start aligned to 256 bytes). */
static guint64 vector_bytes(const DitModel *m)
{
    guint64 bytes = 0;
    for (guint i = 0; i < m->vecs->len; i++) {
        const DitVec *v = g_ptr_array_index(m->vecs, i);
        bytes += ((guint64)v->t->numel * sizeof(float) + 255) & ~(guint64)255;
    }
    return bytes;
}

guint64 dit_device_weight_bytes(const DitModel *m)
{
    guint64 bytes = vector_bytes(m);
    for (guint i = 0; i < m->lins->len; i++) {
        const DitLinear *l = g_ptr_array_index(m->lins, i);
        bytes += (guint64)l->w->numel * st_dtype_size(DIT_WEIGHT_DTYPE);
    }
    return bytes;
}

static DitBound *bound_new(DitModel *m, const FluxBackend *be, GError **error)
{
    DitBound *wb = g_new0(DitBound, 1);
    wb->be = be;
    wb->bc = be->ctx_new(vector_bytes(m), error);
    if (!wb->bc) {
        g_free(wb);
        return NULL;
    }
    wb->w = g_new0(FluxBackendWeight *, m->lins->len);
    wb->v = g_new0(const float *, m->vecs->len);
    gboolean ok = TRUE;
    for (guint i = 0; ok && i < m->vecs->len; i++) {
        const DitVec *v = g_ptr_array_index(m->vecs, i);
        float *p = be->alloc(wb->bc, (size_t)v->t->numel, error);
        if (p) be->upload(wb->bc, p, wt_f32(v->t), (size_t)v->t->numel);
        wb->v[i] = p;
        ok = p != NULL;
    }
    for (guint i = 0; ok && i < m->lins->len; i++) {
        const DitLinear *l = g_ptr_array_index(m->lins, i);
        wb->w[i] = be->weight_new(wb->bc, l->w, DIT_WEIGHT_DTYPE, error);
        ok = wb->w[i] != NULL;
    }
    if (ok && be->sync(wb->bc, error)) return wb;
    g_prefix_error(error, "transformer: weights on %s: ", be->name);
    bound_free(m, wb);
    return NULL;
}

const DitBound *dit_bound_get(DitModel *m, const FluxBackend *be, GError **error)
{
    g_mutex_lock(&m->bind_lock);
    int slot = -1;
    for (int i = 0; i < DIT_MAX_BACKENDS && slot < 0; i++)
        if (!m->bound[i] || m->bound[i]->be == be) slot = i;
    g_assert(slot >= 0); /* more backends than DIT_MAX_BACKENDS */
    if (!m->bound[slot]) m->bound[slot] = bound_new(m, be, error);
    const DitBound *wb = m->bound[slot];
    g_mutex_unlock(&m->bind_lock);
    return wb;
}

gboolean dit_bound_exists(DitModel *m, const FluxBackend *be)
{
    g_mutex_lock(&m->bind_lock);
    gboolean found = FALSE;
    for (int i = 0; i < DIT_MAX_BACKENDS; i++)
        found = found || (m->bound[i] && m->bound[i]->be == be);
    g_mutex_unlock(&m->bind_lock);
    return found;
}

gboolean dit_context_set_lora(DitContext *c, StArchive *lora, GError **error)
{
    lora_linear_free(c->lora);
    c->lora = NULL;
    if (!lora) return TRUE;
    GPtrArray *lins = c->m->lins;
    const StTensor **w = g_new(const StTensor *, lins->len);
    for (guint i = 0; i < lins->len; i++) w[i] = ((const DitLinear *)g_ptr_array_index(lins, i))->w;
    c->lora = lora_linear_new(c->be, lora, w, lins->len, DIT_WEIGHT_DTYPE, error);
    g_free(w);
    return c->lora != NULL;
}
