/* test_clip.c — the CLIP text encoder (core/models/clip.c) against the golden tensors of the tiny
 * model (golden/text_encoders.safetensors), layer by layer through the trace hook, its pooling
 * rule, bf16 weights, and the error paths. Token ids come from golden/tokenizers.safetensors
 * so that this test does not depend on the tokenizer. */
#include "clip.h"
#include "flux.h"
#include "testutil.h"

#include <json-glib/json-glib.h>
#include <math.h>
#include <string.h>
#include <unistd.h>

/* README §3: max|diff| <= 1e-4 · max(1, max|ref|); the measured float32 noise is ~3e-7. */
#define TOL 1e-4

static const char *const prompts[] = {"plain",   "spaces", "punct",           "numbers", "accents",
                                      "chinese", "emoji",  "mixed_case_html", "empty",   "long"};

static char *te_dir(void)
{
    return tu_model_path("text_encoder");
}

static ClipModel *load_ok(const char *dir)
{
    GError *err = NULL;
    ClipModel *m = tu_clip_dir(dir, &err);
    g_assert_no_error(err);
    g_assert_nonnull(m);
    return m;
}

/* ids [77] from tokenizers.safetensors (int64 data may be unaligned in the mapping). */
static int64_t *golden_ids(const char *name, int *n)
{
    StTensor *t = tu_golden_tensor("tokenizers.safetensors", name);
    g_assert_cmpint(t->dtype, ==, ST_I64);
    int64_t *ids = g_new(int64_t, t->numel);
    memcpy(ids, t->data, t->nbytes);
    *n = (int)t->numel;
    return ids;
}

static double encode_and_compare(const ClipModel *m, const char *ids_name, const char *ref_name,
                                 double tol)
{
    int n;
    g_autofree int64_t *ids = golden_ids(ids_name, &n);
    g_assert_cmpint(n, ==, clip_max_positions(m));
    g_autofree float *pooled = g_new(float, clip_hidden_size(m));
    GError *err = NULL;
    g_assert_true(clip_encode(m, ids, n, pooled, NULL, &err));
    g_assert_no_error(err);
    return tu_assert_close_t(ref_name, pooled,
                             tu_golden_tensor("text_encoders.safetensors", ref_name), tol);
}

/* ------------------------------------------------------------------------------------- */

static void test_pooled(void)
{
    g_autofree char *dir = te_dir();
    ClipModel *m = load_ok(dir);
    g_assert_cmpint(clip_hidden_size(m), ==, 32);
    double worst = 0;
    for (gsize i = 0; i < G_N_ELEMENTS(prompts); i++) {
        g_autofree char *ids = g_strdup_printf("clip_input_ids.%s", prompts[i]);
        g_autofree char *ref = g_strdup_printf("clip_pooled.%s", prompts[i]);
        worst = fmax(worst, encode_and_compare(m, ids, ref, TOL));
    }
    g_test_message("clip_pooled: worst relative max diff over %zu prompts %.3g",
                   G_N_ELEMENTS(prompts), worst);
    clip_free(m);
}

static void test_pooled_ftfy(void)
{
    g_autofree char *dir = te_dir();
    ClipModel *m = load_ok(dir);
    StFile *golden = tu_golden("text_encoders.safetensors");
    int found = 0;
    for (gsize i = 0; i < G_N_ELEMENTS(prompts); i++) {
        g_autofree char *ref = g_strdup_printf("clip_pooled_ftfy.%s", prompts[i]);
        if (!st_file_find(golden, ref)) continue; /* only where the ftfy ids differ */
        g_autofree char *ids = g_strdup_printf("clip_input_ids_ftfy.%s", prompts[i]);
        encode_and_compare(m, ids, ref, TOL);
        found++;
    }
    g_assert_cmpint(found, ==, 2); /* chinese, mixed_case_html */
    clip_free(m);
}

/* Trace hook: every emitted tensor is compared with its golden twin as it comes, so a
 * mismatch names the first layer that goes wrong. */
typedef struct {
    int n_seen;
    float *last; /* copy of clip.last_hidden_state */
} TraceCheck;

static void check_trace(const char *name, FluxDtype dtype, int ndim, const int64_t *shape,
                        const void *data, void *user_data)
{
    TraceCheck *tc = user_data;
    g_assert_cmpint(dtype, ==, FLUX_DTYPE_F32);
    g_assert_cmpint(ndim, ==, 3);
    g_autofree char *ref = NULL;
    if (g_str_has_prefix(name, "clip.hidden_states."))
        ref = g_strdup_printf("debug.clip_hidden_states.plain.%s",
                              name + strlen("clip.hidden_states."));
    else if (!strcmp(name, "clip.last_hidden_state"))
        ref = g_strdup("debug.clip_last_hidden_state.plain");
    g_assert_nonnull(ref);
    StTensor *t = tu_golden_tensor("text_encoders.safetensors", ref);
    for (int d = 0; d < 3; d++) g_assert_cmpint(shape[d], ==, t->shape[d]);
    tu_assert_close_t(name, data, t, TOL);
    if (!strcmp(name, "clip.last_hidden_state")) {
        g_free(tc->last);
        tc->last = g_memdup2(data, sizeof(float) * (gsize)t->numel);
    }
    tc->n_seen++;
}

static void test_trace_layers(void)
{
    g_autofree char *dir = te_dir();
    ClipModel *m = load_ok(dir);
    int n;
    g_autofree int64_t *ids = golden_ids("clip_input_ids.plain", &n);
    TraceCheck tc = {0};
    FluxTrace trace = {check_trace, &tc};
    float pooled[32];
    g_assert_true(clip_encode(m, ids, n, pooled, &trace, NULL));
    g_assert_cmpint(tc.n_seen, ==, 2 + 2); /* embeddings, 2 layers, last_hidden_state */
    /* "plain" has BOS + 5 tokens: the first EOS (the largest id) sits at index 6 */
    g_assert_cmpmem(pooled, sizeof pooled, tc.last + 6 * 32, sizeof pooled);
    g_free(tc.last);
    clip_free(m);
}

/* ------------------------------------------------------------------------------------- */
/* Model variants in temporary folders: a modified config beside the original weights.     */

/* Copies <src>/config.json with `key` set to `value` (NULL: unchanged) into a new temp dir and
 * links <src>/model.safetensors there (when `with_weights`). */
static char *variant_dir(const char *src, const char *key, JsonNode *value, gboolean with_weights)
{
    char *dir = tu_temp_dir();
    g_autofree char *cfg_in = g_build_filename(src, "config.json", NULL);
    g_autofree char *cfg_out = g_build_filename(dir, "config.json", NULL);
    JsonParser *p = json_parser_new();
    g_assert_true(json_parser_load_from_file(p, cfg_in, NULL));
    JsonNode *root = json_node_copy(json_parser_get_root(p));
    if (key) json_object_set_member(json_node_get_object(root), key, value);
    JsonGenerator *gen = json_generator_new();
    json_generator_set_root(gen, root);
    g_assert_true(json_generator_to_file(gen, cfg_out, NULL));
    g_object_unref(gen);
    json_node_unref(root);
    g_object_unref(p);
    if (with_weights) {
        g_autofree char *w_in = g_build_filename(src, "model.safetensors", NULL);
        g_autofree char *w_out = g_build_filename(dir, "model.safetensors", NULL);
        g_assert_cmpint(symlink(w_in, w_out), ==, 0);
    }
    return dir;
}

static JsonNode *int_node(gint64 v)
{
    JsonNode *n = json_node_new(JSON_NODE_VALUE);
    json_node_set_int(n, v);
    return n;
}

static JsonNode *string_node(const char *s)
{
    JsonNode *n = json_node_new(JSON_NODE_VALUE);
    json_node_set_string(n, s);
    return n;
}

static void expect_load_error(const char *dir, int code, const char *const *needles)
{
    GError *err = NULL;
    g_assert_null(tu_clip_dir(dir, &err));
    tu_expect_error(&err, code, needles);
}

static void test_load_errors(void)
{
    g_autofree char *src = te_dir();
    g_autofree char *abs_src = g_canonicalize_filename(src, NULL);
    /* intermediate_size disagrees with mlp.fc1 [37, 32] */
    g_autofree char *d1 = variant_dir(abs_src, "intermediate_size", int_node(40), TRUE);
    expect_load_error(d1, FLUX_ERROR_MODEL,
                      (const char *const[]){"text_model.encoder.layers.0.mlp.fc1.weight",
                                            "[37, 32]", "expected [40, 32]", NULL});
    /* hidden_size disagrees with every [32, ...] tensor: the first bound one is named */
    g_autofree char *d2 = variant_dir(abs_src, "hidden_size", int_node(64), TRUE);
    expect_load_error(d2, FLUX_ERROR_MODEL,
                      (const char *const[]){"token_embedding.weight", "[49408, 32]",
                                            "expected [49408, 64]", NULL});
    /* 4 heads → 5: no tensor shape depends on NH, but 32 is not divisible by 5 */
    g_autofree char *d3 = variant_dir(abs_src, "num_attention_heads", int_node(5), TRUE);
    expect_load_error(d3, FLUX_ERROR_MODEL,
                      (const char *const[]){"num_attention_heads", "32", "5", NULL});
    g_autofree char *d4 = variant_dir(abs_src, "hidden_act", string_node("mish"), TRUE);
    expect_load_error(d4, FLUX_ERROR_UNSUPPORTED,
                      (const char *const[]){"hidden_act", "mish", NULL});
    g_autofree char *d5 = variant_dir(abs_src, "num_hidden_layers", int_node(3), TRUE);
    expect_load_error(d5, FLUX_ERROR_MODEL,
                      (const char *const[]){"text_model.encoder.layers.2.", "missing", NULL});
    /* a config without weights */
    g_autofree char *d6 = variant_dir(abs_src, NULL, NULL, FALSE);
    expect_load_error(d6, FLUX_ERROR_IO, (const char *const[]){"model.safetensors", NULL});
    /* no folder at all */
    expect_load_error("/nonexistent/text_encoder", FLUX_ERROR_IO,
                      (const char *const[]){"config.json", NULL});
}

static void expect_encode_error(const ClipModel *m, const int64_t *ids, int n, const char *needle)
{
    GError *err = NULL;
    float pooled[32];
    g_assert_false(clip_encode(m, ids, n, pooled, NULL, &err));
    tu_expect_error(&err, FLUX_ERROR_ARGUMENT, (const char *const[]){needle, NULL});
}

static void test_encode_errors(void)
{
    g_autofree char *dir = te_dir();
    ClipModel *m = load_ok(dir);
    int n;
    g_autofree int64_t *ids = golden_ids("clip_input_ids.plain", &n);
    ids[3] = 49408; /* vocab_size */
    expect_encode_error(m, ids, n, "49408");
    ids[3] = -1;
    expect_encode_error(m, ids, n, "-1");
    ids[3] = 320;
    expect_encode_error(m, ids, 0, "0 tokens");
    expect_encode_error(m, ids, 78, "78 tokens");
    clip_free(m);
}

/* ------------------------------------------------------------------------------------- */
/* Pooling rule (CLIPTextTransformer.forward)                                             */

static void capture_last(const char *name, FluxDtype dtype, int ndim, const int64_t *shape,
                         const void *data, void *user_data)
{
    (void)dtype, (void)ndim;
    if (strcmp(name, "clip.last_hidden_state")) return;
    memcpy(user_data, data, sizeof(float) * (size_t)(shape[1] * shape[2]));
}

/* Index of the row of last_hidden_state [n, 32] that `pooled` equals, or -1. */
static int pooled_row(const ClipModel *m, const int64_t *ids, int n)
{
    float pooled[32];
    g_autofree float *last = g_new(float, (size_t)n * 32);
    FluxTrace trace = {capture_last, last};
    g_assert_true(clip_encode(m, ids, n, pooled, &trace, NULL));
    for (int t = 0; t < n; t++)
        if (!memcmp(pooled, last + (size_t)t * 32, sizeof pooled)) return t;
    return -1;
}

static void test_pool_rule(void)
{
    g_autofree char *dir = te_dir();
    g_autofree char *abs_dir = g_canonicalize_filename(dir, NULL);
    ClipModel *m = load_ok(dir); /* eos_token_id 2: first position of the largest id */
    /* random rows must differ for the row search to be meaningful: distinct ids */
    int64_t ids[10] = {49406, 320, 1125, 539, 49407, 49407, 49000, 2, 5, 49407};
    g_assert_cmpint(pooled_row(m, ids, 10), ==, 4);
    int64_t no_eos[6] = {49406, 320, 1125, 539, 9000, 7};
    g_assert_cmpint(pooled_row(m, no_eos, 6), ==, 0); /* 49406 is the largest here */
    int64_t no_eos2[6] = {3, 320, 1125, 539, 9000, 7};
    g_assert_cmpint(pooled_row(m, no_eos2, 6), ==, 4);
    clip_free(m);

    /* any other eos_token_id: first position holding it, 0 when absent */
    g_autofree char *d = variant_dir(abs_dir, "eos_token_id", int_node(539), TRUE);
    m = load_ok(d);
    g_assert_cmpint(pooled_row(m, ids, 10), ==, 3);
    int64_t no_539[4] = {49406, 320, 1125, 49407};
    g_assert_cmpint(pooled_row(m, no_539, 4), ==, 0);
    clip_free(m);
}

/* n < 77 is what the reference accepts too (position_ids[:, :n]); with a causal mask the
 * first n rows of last_hidden_state do not depend on later tokens. */
static void test_short_sequence(void)
{
    g_autofree char *dir = te_dir();
    ClipModel *m = load_ok(dir);
    int n;
    g_autofree int64_t *ids = golden_ids("clip_input_ids.plain", &n);
    int s = 10;
    g_autofree float *last = g_new(float, (size_t)s * 32);
    FluxTrace trace = {capture_last, last};
    float pooled[32];
    g_assert_true(clip_encode(m, ids, s, pooled, &trace, NULL));
    StTensor *ref =
        tu_golden_tensor("text_encoders.safetensors", "debug.clip_last_hidden_state.plain");
    g_autofree float *r = tu_f32(ref);
    tu_assert_close("clip n=10 vs first rows of n=77", last, r, (size_t)s * 32, TOL);
    clip_free(m);
}

static void test_unused(void)
{
    g_autofree char *dir = te_dir();
    ClipModel *m = load_ok(dir);
    char **names = NULL;
    gsize n = clip_unused_tensors(m, &names);
    for (gsize i = 0; i < n; i++) g_test_message("unused: %s", names[i]);
    g_assert_cmpuint(n, ==, 0);
    g_strfreev(names);
    clip_free(NULL); /* NULL-safe */
    clip_free(m);
}

/* ------------------------------------------------------------------------------------- */
/* bf16 weights                                                                          */

/* Writes every float tensor of <src>/model.safetensors into <dst>/model.safetensors, either as
 * BF16 or as F32 holding the bf16-rounded values (the "upcast" twin). */
static void write_bf16_variant(const char *src, const char *dst, gboolean as_bf16)
{
    g_autofree char *in = g_build_filename(src, "model.safetensors", NULL);
    g_autofree char *out = g_build_filename(dst, "model.safetensors", NULL);
    StArchive *a = st_archive_open(in, NULL);
    g_assert_nonnull(a);
    StWriter *w = st_writer_new();
    for (gsize i = 0; i < st_archive_n_tensors(a); i++) {
        StTensor *t = st_archive_tensor(a, i);
        g_assert_cmpint(t->dtype, ==, ST_F32);
        float *f = g_new(float, t->numel);
        guint16 *h = g_new(guint16, t->numel);
        st_to_f32(f, t, 0, t->numel);
        for (int64_t k = 0; k < t->numel; k++) {
            h[k] = tu_bf16_rne(f[k]);
            guint32 u = (guint32)h[k] << 16;
            memcpy(&f[k], &u, 4);
        }
        st_writer_add(w, t->name, as_bf16 ? ST_BF16 : ST_F32, t->ndim, t->shape,
                      as_bf16 ? (const void *)h : (const void *)f);
        g_free(f);
        g_free(h);
    }
    g_assert_true(st_writer_save(w, out, NULL));
    st_writer_free(w);
    st_archive_free(a);
}

static void test_bf16(void)
{
    g_autofree char *src = te_dir();
    g_autofree char *abs_src = g_canonicalize_filename(src, NULL);
    g_autofree char *d16 = variant_dir(abs_src, NULL, NULL, FALSE);
    g_autofree char *d32 = variant_dir(abs_src, NULL, NULL, FALSE);
    write_bf16_variant(abs_src, d16, TRUE);
    write_bf16_variant(abs_src, d32, FALSE);
    ClipModel *m16 = load_ok(d16), *m32 = load_ok(d32);
    double worst = 0;
    for (gsize i = 0; i < G_N_ELEMENTS(prompts); i++) {
        g_autofree char *name = g_strdup_printf("clip_input_ids.%s", prompts[i]);
        g_autofree char *ref = g_strdup_printf("clip_pooled.%s", prompts[i]);
        int n;
        g_autofree int64_t *ids = golden_ids(name, &n);
        float p16[32], p32[32];
        g_assert_true(clip_encode(m16, ids, n, p16, NULL, NULL));
        g_assert_true(clip_encode(m32, ids, n, p32, NULL, NULL));
        /* bf16 tiles are converted exactly to float32 before the same GEMM: the mapped bf16
         * model and its float32 upcast twin agree to float32 rounding */
        tu_assert_close("bf16 vs upcast f32", p16, p32, 32, 1e-6);
        /* against the float32 golden: bf16 keeps 8 mantissa bits (relative rounding 2^-9 ≈
         * 2e-3 per weight); measured 6.3e-3 relative (worst prompt) after 2 layers with these
         * random weights, so 5e-2 catches a wrong conversion (truncation, byte order, a
         * swapped tensor) while leaving room for rounding */
        double d =
            tu_assert_close_t(ref, p16, tu_golden_tensor("text_encoders.safetensors", ref), 5e-2);
        worst = fmax(worst, d);
    }
    g_test_message("bf16 CLIP vs float32 golden: worst relative max diff %.3g", worst);
    clip_free(m16);
    clip_free(m32);
}

/* hidden_act "gelu" (exact erf GELU) instead of quick_gelu. Reference: transformers 4.46.3,
 * CLIPTextModel(CLIPTextConfig(**config, hidden_act="gelu")) with the tiny weights,
 * pooler_output of clip_input_ids.plain (computed once with /work/venv-ref; no golden file
 * covers it). */
static void test_gelu_variant(void)
{
    static const float ref[32] = {
        -0.75636989f, 0.98823178f,  -0.34685549f, 0.81030363f,  -0.19536568f, 0.71276623f,
        -1.075858f,   -1.2784899f,  -0.85485178f, -0.9079631f,  1.4007995f,   -0.58151853f,
        0.99664891f,  -1.6367267f,  0.73278427f,  0.062679343f, -1.1610358f,  1.7355515f,
        0.61518413f,  0.94386721f,  1.1604061f,   -0.45999667f, 1.6644229f,   -0.082976297f,
        0.98248702f,  -0.15341695f, -0.43430161f, -1.0752336f,  -0.57804084f, 0.99960536f,
        -0.66980815f, -1.0038532f};
    g_autofree char *src = te_dir();
    g_autofree char *abs_src = g_canonicalize_filename(src, NULL);
    g_autofree char *d = variant_dir(abs_src, "hidden_act", string_node("gelu"), TRUE);
    ClipModel *m = load_ok(d);
    int n;
    g_autofree int64_t *ids = golden_ids("clip_input_ids.plain", &n);
    float pooled[32];
    g_assert_true(clip_encode(m, ids, n, pooled, NULL, NULL));
    tu_assert_close("clip hidden_act=gelu", pooled, ref, 32, TOL);
    clip_free(m);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/clip/golden-pooled", test_pooled);
    g_test_add_func("/clip/golden-pooled-ftfy", test_pooled_ftfy);
    g_test_add_func("/clip/golden-layers-traced", test_trace_layers);
    g_test_add_func("/clip/pool-rule", test_pool_rule);
    g_test_add_func("/clip/short-sequence", test_short_sequence);
    g_test_add_func("/clip/gelu-variant", test_gelu_variant);
    g_test_add_func("/clip/no-unused-tensors", test_unused);
    g_test_add_func("/clip/load-errors", test_load_errors);
    g_test_add_func("/clip/encode-errors", test_encode_errors);
    g_test_add_func("/clip/bf16-weights", test_bf16);
    return g_test_run();
}
