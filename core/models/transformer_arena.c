/* transformer_arena.c — a DiT context: the run state for one (B, T_img, T_txt) on a backend.
 * Its activations are one arena in the backend's memory, sized by one layout table before
 * anything runs and reused by every step (nothing is allocated in dit_forward); the same table
 * answers dit_context_bytes, so a caller can refuse a size before starting. */
#include "transformer.h"
#include "transformer_model.h"

/* Sizes accepted by dit_context_new (FLUX_MAX_SIZE 4096 gives 65,536 image tokens). */
#define DIT_MAX_BATCH 1024
#define DIT_MAX_T_IMG (1 << 20)
#define DIT_MAX_T_TXT (1 << 16)

/* The size table of c's arena for a model of config `cfg` and c's (B, T_img, T_txt): returns
 * its size in floats and, when c has its backend context (c->bc), assigns c's buffers from it.
 * Every buffer takes a multiple of 64 floats (256 bytes, the strictest arena alignment), so
 * the sum is what the allocations need. */
static guint64 context_layout(const DitConfig *cfg, DitContext *c, GError **error)
{
    guint64 B = c->B, T = c->T, D = cfg->inner_dim, F = (guint64)dit_mlp_dim(cfg),
            HD = cfg->head_dim;
    struct {
        float **p;
        guint64 n;
    } slots[] = {
        {&c->in_hid, B * c->T_img * cfg->in_channels},
        {&c->in_enc, B * c->T_txt * cfg->joint_attention_dim},
        {&c->in_pooled, B * cfg->pooled_projection_dim},
        {&c->out, B * c->T_img * cfg->out_channels},
        {&c->x, B * T * D},
        {&c->n, B * T * D},
        {&c->temb, B * D},
        {&c->temb_act, B * D},
        {&c->tproj, B * DIT_TIME_CHANNELS},
        {&c->emb_hid, B * D},
        {&c->emb_out, B * D},
        {&c->mod_img, B * 6 * D},
        {&c->mod_txt, B * 6 * D},
        {&c->rope_cos, T * HD},
        {&c->rope_sin, T * HD},
        {&c->q, T * D},
        {&c->k, T * D},
        {&c->v, T * D},
        {&c->attn, T * D},
        {&c->mlp, T * F},
        {&c->cat, T * (D + F)},
        {&c->proj, T * D},
    };
    guint64 off = 0;
    for (gsize i = 0; i < G_N_ELEMENTS(slots); i++) {
        if (c->bc && !(*slots[i].p = c->be->alloc(c->bc, (size_t)slots[i].n, error))) return 0;
        off += (slots[i].n + 63) & ~(guint64)63;
    }
    return off;
}

static gboolean check_sizes(int B, int T_img, int T_txt, GError **error)
{
    const char *what = NULL;
    int v = 0, max = 0;
    if (B < 1 || B > DIT_MAX_BATCH)
        what = "batch size", v = B, max = DIT_MAX_BATCH;
    else if (T_img < 1 || T_img > DIT_MAX_T_IMG)
        what = "image tokens", v = T_img, max = DIT_MAX_T_IMG;
    else if (T_txt < 1 || T_txt > DIT_MAX_T_TXT)
        what = "text tokens", v = T_txt, max = DIT_MAX_T_TXT;
    if (!what) return TRUE;
    g_set_error(error, FLUX_ERROR, FLUX_ERROR_ARGUMENT, "transformer: %s is %d, expected 1..%d",
                what, v, max);
    return FALSE;
}

guint64 dit_context_bytes(const DitConfig *cfg, int B, int T_img, int T_txt)
{
    if (!check_sizes(B, T_img, T_txt, NULL)) return 0;
    DitContext c = {.B = B, .T_img = T_img, .T_txt = T_txt, .T = T_img + T_txt};
    return context_layout(cfg, &c, NULL) * sizeof(float);
}

/* Device memory a context needs besides its arena: the cuda backend's scratch for GEMM inputs
 * rounded to BF16 (at most proj_out's cat [T, D + F]) or packed Q, K, V [3, T, D], and
 * cuBLAS's and the runtime's own (a margin). */
static guint64 device_extra_bytes(const DitContext *c)
{
    guint64 T = c->T, D = c->m->cfg.inner_dim, F = (guint64)dit_mlp_dim(&c->m->cfg);
    return 2 * T * MAX(D + F, 3 * D) + 3 * 256 + ((guint64)256 << 20);
}

/* Refuses (FLUX_ERROR_NO_MEMORY) a backend with memory of its own that cannot hold the
 * weights (unless bound already), the arena and the scratch. Weights are not streamed per
 * block: the whole model must fit. */
static gboolean check_device_memory(DitContext *c, guint64 arena_bytes, GError **error)
{
    guint64 free_b, total_b;
    if (!c->be->mem_info(&free_b, &total_b)) return TRUE;
    guint64 weights = dit_bound_exists(c->m, c->be) ? 0 : dit_device_weight_bytes(c->m);
    guint64 act = arena_bytes + device_extra_bytes(c), need = weights + act;
    if (need <= free_b) return TRUE;
    const double GiB = 1024.0 * 1024.0 * 1024.0;
    g_set_error(error, FLUX_ERROR, FLUX_ERROR_NO_MEMORY,
                "transformer on %s: needs %.2f GiB of GPU memory (%.2f GiB of weights as BF16, "
                "%.2f GiB of activations for %d image and %d text tokens), but only %.2f GiB of "
                "%.2f GiB are free; weights are not streamed per block: use a smaller image, a "
                "GPU with more memory, or the cpu device",
                c->be->name, need / GiB, weights / GiB, act / GiB, c->T_img, c->T_txt, free_b / GiB,
                total_b / GiB);
    return FALSE;
}

/* The host staging block, the backend context and its arena, and the weights. */
static gboolean context_init(DitContext *c, guint64 arena_bytes, GError **error)
{
    const int HD = c->m->cfg.head_dim;
    size_t n_tproj = (size_t)c->B * DIT_TIME_CHANNELS, n_rope = (size_t)c->T * HD;
    c->host = g_try_new(float, n_tproj + 2 * n_rope + (size_t)c->T * 3);
    if (!c->host) {
        g_set_error(error, FLUX_ERROR, FLUX_ERROR_NO_MEMORY,
                    "transformer: cannot allocate the rotary tables for %d tokens", c->T);
        return FALSE;
    }
    c->h_tproj = c->host;
    c->h_cos = c->h_tproj + n_tproj;
    c->h_sin = c->h_cos + n_rope;
    c->h_ids = c->h_sin + n_rope;
    if (!(c->wb = dit_bound_get(c->m, c->be, error))) return FALSE;
    if (arena_bytes > G_MAXSIZE || !(c->bc = c->be->ctx_new((size_t)arena_bytes, error)) ||
        !context_layout(&c->m->cfg, c, error)) {
        if (error && !*error)
            g_set_error(error, FLUX_ERROR, FLUX_ERROR_NO_MEMORY, "%.1f MiB is too large",
                        arena_bytes / 1048576.0);
        g_prefix_error(error,
                       "transformer: activations for batch %d, %d image and %d text tokens: ", c->B,
                       c->T_img, c->T_txt);
        return FALSE;
    }
    return TRUE;
}

DitContext *dit_context_new_on(DitModel *m, const char *device, int B, int T_img, int T_txt,
                               GError **error)
{
    g_return_val_if_fail(m != NULL, NULL);
    if (!check_sizes(B, T_img, T_txt, error)) return NULL;
    gboolean automatic;
    const FluxBackend *be = flux_backend_resolve(device, &automatic, error);
    if (!be) return NULL;
    DitContext *c = g_new0(DitContext, 1);
    *c = (DitContext){.m = m, .be = be, .B = B, .T_img = T_img, .T_txt = T_txt, .T = T_img + T_txt};
    guint64 bytes = context_layout(&m->cfg, c, NULL) * sizeof(float);
    GError *mem_err = NULL;
    if (!check_device_memory(c, bytes, &mem_err)) {
        if (!automatic) {
            g_propagate_error(error, mem_err);
            g_free(c);
            return NULL;
        }
        g_clear_error(&mem_err); /* "auto" chose a GPU too small for this model: the CPU */
        c->be = flux_backend_get("cpu", NULL);
    }
    if (!context_init(c, bytes, error)) {
        dit_context_free(c);
        return NULL;
    }
    return c;
}

DitContext *dit_context_new(DitModel *m, int B, int T_img, int T_txt, GError **error)
{
    return dit_context_new_on(m, "cpu", B, T_img, T_txt, error);
}

void dit_context_set_block_hook(DitContext *c, DitBlockFunc fn, void *user_data)
{
    c->block_done = fn;
    c->block_data = user_data;
}

void dit_context_free(DitContext *c)
{
    if (!c) return;
    lora_linear_free(c->lora);
    if (c->bc) c->be->ctx_free(c->bc);
    g_free(c->host);
    g_free(c);
}

const char *dit_context_device(const DitContext *c)
{
    return c->be->describe(c->bc);
}
