/* test_transformer.c — FluxTransformer2DModel (core/models/transformer*.c) against the golden
 * forward passes of golden/transformer.safetensors, its debug intermediates through the trace hook,
 * a guidance-free variant, bf16 weights, each parameter declared once, and the loader's error
 * paths.
 *
 * Tolerance: max|diff| <= 1e-4 · max(1, max|ref|) (reference README §3: float32 vs float64
 * differ by <= 4e-7 relative on these outputs, so this leaves ~100× room for a different but
 * valid summation order, and is far below what any real bug gives with random weights).
 * Measured: 4e-6 … 7.5e-6 relative, nearly all of it from the float32 sinusoidal projection of
 * guidance·1000 (see timestep_proj in transformer.c: torch's exp/sin differ from libm by an ulp
 * there); with the golden temb injected the output agrees to 4.8e-7. */
#include "transformer.h"
#include "ops.h"
#include "probe.h"
#include "testutil.h"
#include "transformer_model.h"

#include <math.h>
#include <string.h>
#include <unistd.h>

#define GOLDEN "transformer.safetensors"
#define TOL    1e-4

/* ------------------------------------------------------------------------------------- */
/* Helpers                                                                               */

typedef struct {
    int B, T_img, T_txt;
    float *hidden, *encoder_hidden, *pooled, *timestep, *guidance, *img_ids, *txt_ids;
} Case;

static float *golden_f32(const char *cname, const char *what)
{
    g_autofree char *name = g_strdup_printf("%s.%s", cname, what);
    return tu_f32(tu_golden_tensor(GOLDEN, name));
}

static Case case_load(const char *cname)
{
    g_autofree char *hname = g_strdup_printf("%s.hidden_states", cname);
    g_autofree char *ename = g_strdup_printf("%s.encoder_hidden_states", cname);
    const StTensor *h = tu_golden_tensor(GOLDEN, hname), *e = tu_golden_tensor(GOLDEN, ename);
    Case k = {.B = (int)h->shape[0], .T_img = (int)h->shape[1], .T_txt = (int)e->shape[1]};
    k.hidden = tu_f32(h);
    k.encoder_hidden = tu_f32(e);
    k.pooled = golden_f32(cname, "pooled_projections");
    k.timestep = golden_f32(cname, "timestep");
    k.guidance = golden_f32(cname, "guidance");
    k.img_ids = golden_f32(cname, "img_ids");
    k.txt_ids = golden_f32(cname, "txt_ids");
    return k;
}

static void case_free(Case *k)
{
    g_free(k->hidden), g_free(k->encoder_hidden), g_free(k->pooled), g_free(k->timestep);
    g_free(k->guidance), g_free(k->img_ids), g_free(k->txt_ids);
}

static DitModel *load_ok(const char *dir)
{
    GError *err = NULL;
    DitModel *m = tu_dit_dir(dir, &err);
    g_assert_no_error(err);
    g_assert_nonnull(m);
    return m;
}

static DitModel *load_tiny(void)
{
    g_autofree char *dir = tu_model_path("transformer");
    return load_ok(dir);
}

/* Runs one forward; `guidance` overrides the case's (NULL allowed). Caller frees. */
static float *run(DitModel *m, const Case *k, const float *guidance, const FluxTrace *trace)
{
    GError *err = NULL;
    DitContext *c = dit_context_new(m, k->B, k->T_img, k->T_txt, &err);
    g_assert_no_error(err);
    float *out = g_new(float, (size_t)k->B * k->T_img * dit_config(m)->out_channels);
    gboolean ok = dit_forward(c, k->hidden, k->encoder_hidden, k->pooled, k->timestep, guidance,
                              k->img_ids, k->txt_ids, out, trace, &err);
    g_assert_no_error(err);
    g_assert_true(ok);
    dit_context_free(c);
    return out;
}

static double max_abs_diff(const float *a, const float *b, size_t n)
{
    double d = 0;
    for (size_t i = 0; i < n; i++) d = fmax(d, fabs((double)a[i] - b[i]));
    return d;
}

/* A model folder in a temporary directory: config.json from the arguments (the tiny model's
 * values otherwise) and the weights either symlinked or written by the caller. */
static char *model_dir(int heads, int head_dim, const char *axes, gboolean guidance, int patch,
                       gboolean link_weights)
{
    char *dir = tu_temp_dir();
    g_autofree char *json = g_strdup_printf(
        "{\"_class_name\": \"FluxTransformer2DModel\", \"attention_head_dim\": %d, "
        "\"axes_dims_rope\": %s, \"guidance_embeds\": %s, \"in_channels\": 64, "
        "\"joint_attention_dim\": 32, \"num_attention_heads\": %d, \"num_layers\": 2, "
        "\"num_single_layers\": 2, \"out_channels\": null, \"patch_size\": %d, "
        "\"pooled_projection_dim\": 32}",
        head_dim, axes, guidance ? "true" : "false", heads, patch);
    g_autofree char *cfg = g_build_filename(dir, "config.json", NULL);
    g_assert_true(g_file_set_contents(cfg, json, -1, NULL));
    if (link_weights) {
        g_autofree char *src = tu_model_path("transformer/diffusion_pytorch_model.safetensors");
        g_autofree char *dst = g_build_filename(dir, "diffusion_pytorch_model.safetensors", NULL);
        g_assert_cmpint(symlink(src, dst), ==, 0);
    }
    return dir;
}

static char *tiny_dir(gboolean guidance, gboolean link_weights)
{
    return model_dir(2, 16, "[4, 6, 6]", guidance, 1, link_weights);
}

typedef enum { W_COPY, W_BF16, W_BF16_AS_F32 } WeightMode;

/* Writes <dir>/diffusion_pytorch_model.safetensors from the tiny weights: converted per `mode`,
 * without tensor `drop`, and with tensors whose name contains `zero` set to 0. */
static void write_weights(const char *dir, WeightMode mode, const char *drop, const char *zero)
{
    g_autofree char *src = tu_model_path("transformer/diffusion_pytorch_model.safetensors");
    GError *err = NULL;
    StFile *f = st_file_open(src, &err);
    g_assert_no_error(err);
    StWriter *w = st_writer_new();
    for (gsize i = 0; i < st_file_n_tensors(f); i++) {
        const StTensor *t = st_file_tensor(f, i);
        if (drop && strcmp(t->name, drop) == 0) continue;
        g_autofree float *x = tu_f32(t);
        if (zero && strstr(t->name, zero)) memset(x, 0, sizeof(float) * t->numel);
        g_autofree guint16 *h = g_new(guint16, t->numel ? t->numel : 1);
        for (int64_t j = 0; j < t->numel; j++) h[j] = tu_bf16_rne(x[j]);
        if (mode == W_BF16_AS_F32)
            for (int64_t j = 0; j < t->numel; j++) {
                guint32 u = (guint32)h[j] << 16;
                memcpy(&x[j], &u, 4);
            }
        if (mode == W_BF16)
            st_writer_add(w, t->name, ST_BF16, t->ndim, t->shape, h);
        else
            st_writer_add(w, t->name, ST_F32, t->ndim, t->shape, x);
    }
    g_autofree char *dst = g_build_filename(dir, "diffusion_pytorch_model.safetensors", NULL);
    g_assert_true(st_writer_save(w, dst, &err));
    g_assert_no_error(err);
    st_writer_free(w);
    st_file_free(f);
}

/* ------------------------------------------------------------------------------------- */
/* Golden forward passes                                                                 */

static void check_case(gconstpointer data)
{
    const char *cname = data;
    DitModel *m = load_tiny();
    g_assert_cmpuint(dit_unused_tensors(m, NULL), ==, 0);
    Case k = case_load(cname);
    float *out = run(m, &k, k.guidance, NULL);
    g_autofree char *oname = g_strdup_printf("%s.output", cname);
    g_autofree char *fname = g_strdup_printf("%s.output_f64", cname);
    const StTensor *ref = tu_golden_tensor(GOLDEN, oname);
    g_autofree float *r32 = tu_f32(ref);
    g_autofree float *r64 = tu_f32(tu_golden_tensor(GOLDEN, fname));
    double rel = tu_assert_close_t(oname, out, ref, TOL);
    g_test_message("%s [%d, %d, 64]: max|diff| vs float32 golden %.3g (relative %.3g), "
                   "vs float64 run %.3g",
                   cname, k.B, k.T_img, max_abs_diff(out, r32, ref->numel), rel,
                   max_abs_diff(out, r64, ref->numel));
    g_free(out);
    case_free(&k);
    dit_free(m);
}

/* ------------------------------------------------------------------------------------- */
/* Debug intermediates through the trace hook                                            */

typedef struct {
    GHashTable *seen;
    double worst;
} TraceCheck;

static void on_trace(const char *name, FluxDtype dtype, int ndim, const int64_t *shape,
                     const void *data, void *user_data)
{
    TraceCheck *tc = user_data;
    g_autofree char *gname = g_strdup_printf("tf_64x64.debug.%s", name);
    const StTensor *ref = st_file_find(tu_golden(GOLDEN), gname);
    if (!ref) {
        g_test_fail_printf("trace emitted '%s', which the golden file does not have", name);
        return;
    }
    g_assert_cmpint(dtype, ==, FLUX_DTYPE_F32);
    g_assert_cmpint(ndim, ==, ref->ndim);
    for (int i = 0; i < ndim; i++) g_assert_cmpint(shape[i], ==, ref->shape[i]);
    double rel = tu_assert_close_t(gname, data, ref, TOL);
    tc->worst = fmax(tc->worst, rel);
    g_assert_false(g_hash_table_contains(tc->seen, name));
    g_hash_table_add(tc->seen, g_strdup(name));
}

static void test_trace(void)
{
    DitModel *m = load_tiny();
    Case k = case_load("tf_64x64");
    TraceCheck tc = {g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL), 0};
    FluxTrace trace = {on_trace, &tc};
    g_free(run(m, &k, k.guidance, &trace));
    /* every debug tensor of the golden file was emitted */
    StFile *g = tu_golden(GOLDEN);
    const char *prefix = "tf_64x64.debug.";
    guint n = 0;
    for (gsize i = 0; i < st_file_n_tensors(g); i++) {
        const char *name = st_file_tensor(g, i)->name;
        if (!g_str_has_prefix(name, prefix)) continue;
        n++;
        if (!g_hash_table_contains(tc.seen, name + strlen(prefix)))
            g_test_fail_printf("trace never emitted '%s'", name + strlen(prefix));
    }
    g_assert_cmpuint(n, ==, g_hash_table_size(tc.seen));
    g_test_message("%u debug tensors, worst relative diff %.3g", n, tc.worst);
    g_hash_table_unref(tc.seen);
    case_free(&k);
    dit_free(m);
}

/* ------------------------------------------------------------------------------------- */
/* Without guidance embedder                                                             */

static void test_no_guidance(void)
{
    /* a dev checkpoint read with guidance_embeds false: the guidance embedder is left unused */
    g_autofree char *dir = tiny_dir(FALSE, TRUE);
    DitModel *m = load_ok(dir);
    g_assert_false(dit_config(m)->guidance_embeds);
    char **names = NULL;
    g_assert_cmpuint(dit_unused_tensors(m, &names), ==, 4);
    for (char **p = names; *p; p++)
        g_assert_true(g_str_has_prefix(*p, "time_text_embed.guidance_embedder."));
    g_strfreev(names);

    Case k = case_load("tf_64x64");
    float *out = run(m, &k, NULL, NULL); /* guidance may be NULL */
    const StTensor *ref = tu_golden_tensor(GOLDEN, "tf_64x64.output");
    g_autofree float *r = tu_f32(ref);
    for (int64_t i = 0; i < ref->numel; i++) g_assert_true(isfinite(out[i]));
    double d = max_abs_diff(out, r, ref->numel);
    g_assert_cmpfloat(d, >, 1e-2); /* the guidance term is gone */

    /* ...and a given guidance is ignored */
    float *out2 = run(m, &k, k.guidance, NULL);
    g_assert_cmpmem(out, sizeof(float) * ref->numel, out2, sizeof(float) * ref->numel);

    /* Exact cross-check: a guidance model whose guidance_embedder.linear_2 is all zeros adds
     * exactly 0 to temb, so it must give the guidance-free model's result bit for bit. */
    g_autofree char *zdir = tiny_dir(TRUE, FALSE);
    write_weights(zdir, W_COPY, NULL, "guidance_embedder.linear_2");
    DitModel *mz = load_ok(zdir);
    float *outz = run(mz, &k, k.guidance, NULL);
    tu_assert_close("zero guidance embedder vs no guidance embedder", outz, out, (size_t)ref->numel,
                    0.0);
    g_test_message("without guidance embedder: max|diff| to the guidance golden %.3g", d);
    g_free(out), g_free(out2), g_free(outz);
    case_free(&k);
    dit_free(m);
    dit_free(mz);
}

/* ------------------------------------------------------------------------------------- */
/* bf16 weights                                                                          */

static void test_bf16(void)
{
    g_autofree char *bdir = tiny_dir(TRUE, FALSE), *fdir = tiny_dir(TRUE, FALSE);
    write_weights(bdir, W_BF16, NULL, NULL);
    write_weights(fdir, W_BF16_AS_F32, NULL, NULL);
    DitModel *mb = load_ok(bdir), *mf = load_ok(fdir);
    Case k = case_load("tf_64x64");
    float *ob = run(mb, &k, k.guidance, NULL), *of = run(mf, &k, k.guidance, NULL);
    const StTensor *ref = tu_golden_tensor(GOLDEN, "tf_64x64.output");
    /* bf16 tiles converted by ops_linear = the same values stored as float32: only the GEMM
     * path differs (converted tile vs mapped matrix), so float32 rounding noise only */
    double same = tu_assert_close("bf16 vs bf16-rounded float32", ob, of, (size_t)ref->numel, 1e-5);
    /* against the float32 golden: bf16 keeps 8 significant bits (relative rounding 2^-9 ≈ 2e-3
     * per weight); through 4 blocks of random weights the output moves by ~1e-2 of its scale
     * (measured 4e-3 relative); 3e-2 leaves room and still catches a mis-read bf16 (which gives
     * O(1) errors). */
    double rel = tu_assert_close_t("bf16 weights vs float32 golden", ob, ref, 3e-2);
    g_test_message("bf16: vs bf16-as-float32 %.3g, vs float32 golden %.3g (relative)", same, rel);
    g_free(ob), g_free(of);
    case_free(&k);
    dit_free(mb);
    dit_free(mf);
}

/* ------------------------------------------------------------------------------------- */
/* Each parameter declared once                                                          */

static gboolean inside(const void *p, const void *base, size_t bytes)
{
    return (const char *)p >= (const char *)base && (const char *)p < (const char *)base + bytes;
}

/* transformer_model.h's lists give the structs' fields, the loader's tables and the numbering.
 * Here the numbering runs 0..n-1 in order, every checkpoint tensor is bound to exactly one
 * parameter under its own name, and the parameters fill the block structs exactly: a field
 * written by hand beside the lists, a row the loader skipped or bound twice, or a bias that is
 * not its weight's, fails. The counts are the diffusers module tree's, counted by hand: per
 * stream 7 linears (norm1, to_q/k/v, to_out, ff ×2) and 2 QK norms, per single block 6 linears
 * (norm, to_q/k/v, proj_mlp, proj_out) and 2 norms, 10 linears outside the blocks. */
static void test_params_declared_once(void)
{
    DitModel *m = load_tiny();
    const DitConfig *cfg = dit_config(m);
    const int L = cfg->num_layers, S = cfg->num_single_layers;
    const size_t dbl_bytes = L * sizeof(DitDoubleBlock), sgl_bytes = S * sizeof(DitSingleBlock);
    GHashTable *seen = g_hash_table_new(NULL, NULL);
    size_t in_blocks = 0;
    for (guint i = 0; i < m->lins->len; i++) {
        const DitLinear *l = g_ptr_array_index(m->lins, i);
        g_assert_cmpint(l->id, ==, i);
        g_assert_true(g_ptr_array_index(m->vecs, l->b.id) == &l->b);
        g_assert_true(g_hash_table_add(seen, (gpointer)l->w));
        g_assert_true(g_hash_table_add(seen, (gpointer)l->b.t));
        g_assert_true(g_str_has_suffix(l->w->name, ".weight"));
        g_autofree char *stem = g_strndup(l->w->name, strlen(l->w->name) - strlen(".weight"));
        g_autofree char *bias = g_strconcat(stem, ".bias", NULL);
        g_assert_cmpstr(l->b.t->name, ==, bias);
        g_assert_cmpint(l->w->ndim, ==, 2);
        g_assert_cmpint(l->b.t->shape[0], ==, l->w->shape[0]);
        if (inside(l, m->dbl, dbl_bytes) || inside(l, m->sgl, sgl_bytes))
            in_blocks += sizeof(DitLinear);
    }
    guint n_norms = 0;
    for (guint i = 0; i < m->vecs->len; i++) {
        const DitVec *v = g_ptr_array_index(m->vecs, i);
        g_assert_cmpint(v->id, ==, i);
        if (g_str_has_suffix(v->t->name, ".bias")) continue; /* a linear's, counted above */
        n_norms++;
        g_assert_true(g_hash_table_add(seen, (gpointer)v->t));
        g_assert_cmpint(v->t->shape[0], ==, cfg->head_dim);
        if (inside(v, m->dbl, dbl_bytes) || inside(v, m->sgl, sgl_bytes))
            in_blocks += sizeof(DitVec);
    }
    g_assert_cmpuint(m->lins->len, ==, 10 + L * 2 * 7 + S * 6);
    g_assert_cmpuint(n_norms, ==, L * 2 * 2 + S * 2);
    g_assert_cmpuint(g_hash_table_size(seen), ==, st_archive_n_tensors(dit_archive(m)));
    g_assert_cmpuint(in_blocks, ==, dbl_bytes + sgl_bytes);
    guint64 numel = 0;
    for (gsize i = 0; i < st_archive_n_tensors(dit_archive(m)); i++)
        numel += (guint64)st_archive_tensor(dit_archive(m), i)->numel;
    g_assert_cmpuint(dit_param_count(cfg), ==, numel);
    g_test_message("%u linears, %u norms, %zu checkpoint tensors", m->lins->len, n_norms,
                   st_archive_n_tensors(dit_archive(m)));
    g_hash_table_unref(seen);
    dit_free(m);
}

/* The probe's memory figure for the transformer is its arena, from the transformer's own layout
 * table, plus the weight conversion tiles: for the tiny dev model and the tiny Fill model
 * (384 input channels), flux_model_probe's figure less the tiles equals the arena a context of
 * that size is made with, and a real context's buffers fit in it with less to spare than the
 * table's rounding: each of its 22 buffers takes a multiple of 256 bytes (cuda's alignment),
 * the cpu backend aligns them to 64. */
static void test_arena_size_probed(void)
{
    static const char *const models[] = {"tiny-flux-dev", "tiny-flux-fill-dev"};
    const int W = 80, H = 48, L = 77, S = (H / 16) * (W / 16);
    for (gsize i = 0; i < G_N_ELEMENTS(models); i++) {
        g_autofree char *dir = g_build_filename(tu_ref_dir(), models[i], NULL);
        g_autofree char *tdir = g_build_filename(dir, "transformer", NULL);
        FluxModelInfo info;
        GError *err = NULL;
        g_assert_true(flux_model_probe(dir, &info, &err));
        g_assert_no_error(err);
        DitModel *m = load_ok(tdir);
        guint64 tiles = ops_linear_scratch_bytes(4 * info.inner_dim);
        guint64 probed = probe_transformer_bytes(&info, W, H, L) - tiles;
        g_assert_cmpuint(probed, ==, dit_context_bytes(dit_config(m), 1, S, L));
        g_assert_cmpuint(info.transformer_params, ==, dit_param_count(dit_config(m)));
        DitContext *c = dit_context_new(m, 1, S, L, &err);
        g_assert_no_error(err);
        guint64 used = c->be->mark(c->bc);
        g_assert_cmpuint(used, <=, probed);
        g_assert_cmpuint(probed - used, <, 22 * 256);
        g_test_message("%s: in_channels %d, arena %" G_GUINT64_FORMAT " bytes, %" G_GUINT64_FORMAT
                       " used",
                       models[i], info.in_channels, probed, used);
        dit_context_free(c);
        dit_free(m);
    }
}

/* ------------------------------------------------------------------------------------- */
/* Errors                                                                                */

static void expect_load_error(const char *dir, int code, const char *const *parts)
{
    GError *err = NULL;
    g_assert_null(tu_dit_dir(dir, &err));
    tu_expect_error(&err, code, parts);
}

static void test_shape_mismatch(void)
{
    /* 3 heads × 16 = 48 ≠ 32: the first tensor with D in its shape reports it */
    g_autofree char *d1 = model_dir(3, 16, "[4, 6, 6]", TRUE, 1, TRUE);
    expect_load_error(d1, FLUX_ERROR_MODEL,
                      (const char *const[]){"'x_embedder.weight'", "[32, 64]", "expected [48, 64]",
                                            "diffusion_pytorch_model.safetensors", NULL});
    /* 4 heads × 8 = 32 keeps D, but the QK norms are [head_dim] */
    g_autofree char *d2 = model_dir(4, 8, "[4, 2, 2]", TRUE, 1, TRUE);
    expect_load_error(d2, FLUX_ERROR_MODEL,
                      (const char *const[]){"'transformer_blocks.0.attn.norm_q.weight'",
                                            "shape [16]", "expected [8]", NULL});
}

static void test_missing_tensor(void)
{
    g_autofree char *dir = tiny_dir(TRUE, FALSE);
    write_weights(dir, W_COPY, "single_transformer_blocks.1.proj_out.bias", NULL);
    expect_load_error(
        dir, FLUX_ERROR_MODEL,
        (const char *const[]){"'single_transformer_blocks.1.proj_out.bias'", "missing", NULL});
    /* a guidance model needs its guidance embedder */
    g_autofree char *gdir = tiny_dir(TRUE, FALSE);
    write_weights(gdir, W_COPY, "time_text_embed.guidance_embedder.linear_1.weight", NULL);
    expect_load_error(gdir, FLUX_ERROR_MODEL,
                      (const char *const[]){"guidance_embedder.linear_1.weight", "missing", NULL});
}

static void test_bad_config(void)
{
    g_autofree char *d1 = model_dir(2, 16, "[4, 6, 4]", TRUE, 1, TRUE);
    expect_load_error(d1, FLUX_ERROR_MODEL,
                      (const char *const[]){"config.json", "axes_dims_rope", "(4, 6, 4)",
                                            "sums to 14", "attention_head_dim 16", NULL});
    g_autofree char *d2 = model_dir(2, 16, "[8, 8]", TRUE, 1, TRUE);
    expect_load_error(d2, FLUX_ERROR_MODEL,
                      (const char *const[]){"axes_dims_rope", "2 elements", "expected 3", NULL});
    g_autofree char *d3 = model_dir(2, 16, "[5, 5, 6]", TRUE, 1, TRUE);
    expect_load_error(d3, FLUX_ERROR_MODEL, (const char *const[]){"axes_dims_rope", "even", NULL});
    g_autofree char *d4 = model_dir(2, 16, "[4, 6, 6]", TRUE, 2, TRUE);
    expect_load_error(d4, FLUX_ERROR_UNSUPPORTED, (const char *const[]){"patch_size", NULL});
    /* absent axes_dims_rope means diffusers' (16, 56, 56), which does not fit head dim 16 */
    g_autofree char *d5 = model_dir(2, 16, "null", TRUE, 1, TRUE);
    expect_load_error(d5, FLUX_ERROR_MODEL, (const char *const[]){"(16, 56, 56)", NULL});
    g_autofree char *empty = tu_temp_dir();
    expect_load_error(empty, FLUX_ERROR_IO, (const char *const[]){"config.json", NULL});
}

static void test_bad_arguments(void)
{
    DitModel *m = load_tiny();
    GError *err = NULL;
    g_assert_null(dit_context_new(m, 0, 16, 512, &err));
    g_assert_error(err, FLUX_ERROR, FLUX_ERROR_ARGUMENT);
    g_clear_error(&err);
    g_assert_null(dit_context_new(m, 1, 16, 0, &err));
    g_assert_error(err, FLUX_ERROR, FLUX_ERROR_ARGUMENT);
    g_clear_error(&err);
    g_assert_cmpuint(dit_context_bytes(dit_config(m), 0, 16, 16), ==, 0);
    g_assert_cmpuint(dit_context_bytes(dit_config(m), 1, 16, 512), >, 528 * 32 * 4);

    Case k = case_load("tf_64x64");
    DitContext *c = dit_context_new(m, k.B, k.T_img, k.T_txt, &err);
    g_assert_no_error(err);
    float out[16 * 64];
    /* this model embeds guidance: it must be given */
    g_assert_false(dit_forward(c, k.hidden, k.encoder_hidden, k.pooled, k.timestep, NULL, k.img_ids,
                               k.txt_ids, out, NULL, &err));
    g_assert_error(err, FLUX_ERROR, FLUX_ERROR_ARGUMENT);
    g_assert_nonnull(strstr(err->message, "guidance"));
    g_clear_error(&err);
    float nan_t = NAN;
    g_assert_false(dit_forward(c, k.hidden, k.encoder_hidden, k.pooled, &nan_t, k.guidance,
                               k.img_ids, k.txt_ids, out, NULL, &err));
    g_assert_error(err, FLUX_ERROR, FLUX_ERROR_ARGUMENT);
    g_assert_nonnull(strstr(err->message, "timestep"));
    g_clear_error(&err);
    dit_context_free(c);
    dit_context_free(NULL);
    dit_free(NULL);
    case_free(&k);
    dit_free(m);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    static const char *const cases[] = {"tf_64x64", "tf_48x80", "tf_b2_32x32", "tf_256x192"};
    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *path = g_strdup_printf("/transformer/golden/%s", cases[i]);
        g_test_add_data_func(path, cases[i], check_case);
    }
    g_test_add_func("/transformer/trace", test_trace);
    g_test_add_func("/transformer/no-guidance", test_no_guidance);
    g_test_add_func("/transformer/bf16", test_bf16);
    g_test_add_func("/transformer/params-declared-once", test_params_declared_once);
    g_test_add_func("/transformer/arena-size-probed", test_arena_size_probed);
    g_test_add_func("/transformer/error/shape-mismatch", test_shape_mismatch);
    g_test_add_func("/transformer/error/missing-tensor", test_missing_tensor);
    g_test_add_func("/transformer/error/config", test_bad_config);
    g_test_add_func("/transformer/error/arguments", test_bad_arguments);
    return g_test_run();
}
