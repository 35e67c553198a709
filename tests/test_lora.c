/* test_lora.c — LoRA files (core/formats/lora.c) applied at run time (core/models/
 * lora_linear.c) against diffusers 0.32.2, and their error paths.
 *
 * Golden: tests/lora/make_lora_case.py (numpy only) writes a real-width FLUX.1-dev
 * transformer (D 3072, 1 double + 1 single block, bf16), its Q8_0 GGUF (BFL names: fused qkv
 * and linear1), three random LoRAs (kohya F16 on fused layers, diffusers BF16 on split layers
 * with alpha, BFL F32 without alpha) and one forward's inputs into the build folder, once
 * (~1.6 GB, about a minute); tests/data/lora/reference.safetensors holds the forward outputs
 * [1, 16, 64] that tests/lora/make_lora_reference.py computed with diffusers (load_lora_weights'
 * conversions, PEFT run-time LoRA, set_adapters multipliers). CASES below mirrors that script's.
 * Tolerance 1e-4 relative (max|diff| / max(1, max|ref|)), the transformer golden tests' own:
 * float32 both sides on the same bf16-stored (or Q8_0-dequantized) weights. The LoRAs change
 * the outputs by 10-40 % of their range, so a wrong layer, scale or split fails by orders of
 * magnitude.
 *
 * The error paths run on the tiny reference model with LoRA files written here. */
#include "checkpoint.h"
#include "clip.h"
#include "config.h"
#include "backend.h"
#include "lora.h"
#include "lora_linear.h"
#include "quant_dot.h"
#include "testutil.h"
#include "transformer.h"

#include <math.h>
#include <string.h>

#define TOL 1e-4
/* Q8_0 base with ops_linear's int8 products (quant_dot.h: activations rounded to 8 bits for
 * linears of <= 64 rows, as llama.cpp does): docs/FORMATS.md's Q8_0 transformer tolerance.
 * With the kernel off (every linear on the dequantised weights) the Q8_0 cases meet TOL. */
#define TOL_INT8 2e-2

typedef struct {
    const char *name;
    const char *base; /* "folder" or "q8_0" */
    const char *lora[2];
    float mult[2];
} GoldenCase;

static const GoldenCase CASES[] = {
    {"base", "folder", {NULL}, {0}},
    {"kohya_1", "folder", {"kohya"}, {1.0f}},
    {"kohya_0.5", "folder", {"kohya"}, {0.5f}},
    {"diffusers_1", "folder", {"diffusers"}, {1.0f}},
    {"bfl_1", "folder", {"bfl"}, {1.0f}},
    {"stack", "folder", {"kohya", "diffusers"}, {0.5f, 1.0f}},
    {"q8_0_base", "q8_0", {NULL}, {0}},
    {"q8_0_diffusers_1", "q8_0", {"diffusers"}, {1.0f}},
};

/* ------------------------------------------------------------------------------------- */
/* Golden                                                                                */

/* The case folder, made once per build folder (a stamp marks it complete). */
static const char *case_dir(void)
{
    static char *dir;
    if (dir) return dir;
    const char *env = g_getenv("FLUX_LORA_CASE_DIR");
    dir = env ? g_strdup(env) : g_build_filename(g_get_tmp_dir(), "flux-lora-case", NULL);
    g_autofree char *stamp = g_build_filename(dir, "complete", NULL);
    if (g_file_test(stamp, G_FILE_TEST_EXISTS)) return dir;
    g_autofree char *src = g_path_get_dirname(__FILE__);
    g_autofree char *script = g_build_filename(src, "lora", "make_lora_case.py", NULL);
    const char *argv[] = {tu_python_with_numpy(), script, dir, "--gguf", NULL};
    gint status;
    g_autofree char *err = NULL;
    GError *e = NULL;
    g_test_message("writing the LoRA test model into %s (once)", dir);
    g_assert_true(g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_STDOUT_TO_DEV_NULL, NULL, NULL,
                               NULL, &err, &status, &e));
    g_assert_no_error(e);
    if (!g_spawn_check_wait_status(status, NULL)) g_error("make_lora_case.py failed:\n%s", err);
    g_assert_true(g_file_set_contents(stamp, "", 0, NULL));
    return dir;
}

static DitModel *golden_model(const char *base)
{
    GError *err = NULL;
    DitModel *m;
    if (strcmp(base, "folder") == 0) {
        g_autofree char *d = g_build_filename(case_dir(), "base", "transformer", NULL);
        m = tu_dit_dir(d, &err);
    } else {
        g_autofree char *f = g_build_filename(case_dir(), "base_q8_0.gguf", NULL);
        CkptTransformerConfig tc;
        StArchive *a = ckpt_open_transformer(f, &tc, &err);
        g_assert_no_error(err);
        g_assert_true(ckpt_archive_info(a)->layout == CKPT_LAYOUT_ORIGINAL); /* fused qkv */
        g_autofree char *json = ckpt_transformer_config_json(&tc);
        CfgJson *cfg = cfg_load_data(f, json, -1, &err);
        g_assert_no_error(err);
        m = dit_load(cfg, a, &err);
        cfg_free(cfg);
    }
    g_assert_no_error(err);
    return m;
}

static float *input(StFile *in, const char *name)
{
    const StTensor *t = st_file_find(in, name);
    g_assert_nonnull(t);
    return tu_f32(t);
}

static void test_golden(gconstpointer data)
{
    const GoldenCase *k = data;
    if (!tu_python_with_numpy()) {
        g_test_skip("no python3 with numpy to write the test model");
        return;
    }
    GError *err = NULL;
    g_autofree char *src = g_path_get_dirname(__FILE__);
    g_autofree char *ref_path =
        g_build_filename(src, "data", "lora", "reference.safetensors", NULL);
    g_autofree char *in_path = g_build_filename(case_dir(), "inputs.safetensors", NULL);
    StFile *ref = st_file_open(ref_path, &err), *in = st_file_open(in_path, &err);
    g_assert_no_error(err);
    DitModel *m = golden_model(k->base);
    DitContext *c = dit_context_new(m, 1, 16, 8, &err);
    g_assert_no_error(err);

    FluxLora l[2];
    char *paths[2] = {NULL, NULL};
    int n = 0;
    for (; n < 2 && k->lora[n]; n++) {
        g_autofree char *file = g_strconcat(k->lora[n], ".safetensors", NULL);
        paths[n] = g_build_filename(case_dir(), "loras", file, NULL);
        l[n] = (FluxLora){paths[n], k->mult[n]};
    }
    if (n) {
        LoraReport rep = {0};
        StArchive *la = lora_load(l, n, dit_archive(m), NULL, NULL, &rep, &err);
        g_assert_no_error(err);
        g_assert_cmpuint(rep.unknown->len, ==, 0);
        g_assert_cmpint(rep.n_layers, >, 0);
        g_assert_true(dit_context_set_lora(c, la, &err));
        lora_report_clear(&rep);
    }
    float *hid = input(in, "hidden"), *enc = input(in, "encoder_hidden"),
          *pooled = input(in, "pooled"), *ts = input(in, "timestep"), *g = input(in, "guidance"),
          *img_ids = input(in, "img_ids"), *txt_ids = input(in, "txt_ids");
    float out[16 * 64];
    const StTensor *want = st_file_find(ref, k->name);
    g_assert_nonnull(want);
    gboolean q8 = strcmp(k->base, "q8_0") == 0;
    for (int pass = 0; pass < (q8 ? 2 : 1); pass++) {
        if (q8) quant_dot_set_path(pass == 0 ? QDOT_OFF : QDOT_AUTO);
        g_assert_true(dit_forward(c, hid, enc, pooled, ts, g, img_ids, txt_ids, out, NULL, &err));
        g_assert_no_error(err);
        double d = tu_assert_close_t(k->name, out, want, pass ? TOL_INT8 : TOL);
        g_test_message("%s%s: max relative difference %.2e", k->name,
                       q8 ? (pass ? " (int8 products)" : " (dequantised)") : "", d);
    }

    g_free(hid), g_free(enc), g_free(pooled), g_free(ts), g_free(g), g_free(img_ids);
    g_free(txt_ids), g_free(paths[0]), g_free(paths[1]);
    dit_context_free(c);
    dit_free(m);
    st_file_free(ref);
    st_file_free(in);
}

/* ------------------------------------------------------------------------------------- */
/* Parsing "FILE[:MULTIPLIER]"                                                           */

static void test_parse(void)
{
    static const struct {
        const char *spec, *path;
        float mult;
    } ok[] = {
        {"style.safetensors", "style.safetensors", 1.0f},
        {"style.safetensors:0.8", "style.safetensors", 0.8f},
        {"/a/b c/turbo.safetensors:-1", "/a/b c/turbo.safetensors", -1.0f},
        {"C:\\loras\\x.safetensors", "C:\\loras\\x.safetensors", 1.0f},
        {"C:\\loras\\x.safetensors:2", "C:\\loras\\x.safetensors", 2.0f},
        {"style:v2.safetensors", "style:v2.safetensors", 1.0f},
        {"x.safetensors:", "x.safetensors:", 1.0f},
    };
    for (gsize i = 0; i < G_N_ELEMENTS(ok); i++) {
        FluxLora l;
        GError *err = NULL;
        g_assert_true(flux_lora_parse(ok[i].spec, &l, &err));
        g_assert_no_error(err);
        g_assert_cmpstr(l.path, ==, ok[i].path);
        g_assert_cmpfloat(l.multiplier, ==, ok[i].mult);
        g_free((char *)l.path);
    }
    static const char *const bad[] = {":0.5", "", "x.safetensors:1e9", "x.safetensors:nan"};
    for (gsize i = 0; i < G_N_ELEMENTS(bad); i++) {
        FluxLora l;
        GError *err = NULL;
        g_assert_false(flux_lora_parse(bad[i], &l, &err));
        tu_expect_error(&err, FLUX_ERROR_ARGUMENT, (const char *const[]){"LoRA", NULL});
    }
}

/* ------------------------------------------------------------------------------------- */
/* Mapping and errors on the tiny model                                                  */

static DitModel *tiny(void)
{
    GError *err = NULL;
    g_autofree char *d = tu_model_path("transformer");
    DitModel *m = tu_dit_dir(d, &err);
    g_assert_no_error(err);
    return m;
}

/* A LoRA file with float32 tensors: name, rows, cols (cols 0: a scalar alpha = rows). */
typedef struct {
    const char *name;
    int rows, cols;
} Spec;

static char *write_lora(const Spec *specs, gsize n)
{
    StWriter *w = st_writer_new();
    for (gsize i = 0; i < n; i++) {
        if (specs[i].cols == 0) {
            float v = (float)specs[i].rows;
            st_writer_add(w, specs[i].name, ST_F32, 0, NULL, &v);
            continue;
        }
        gsize numel = (gsize)specs[i].rows * specs[i].cols;
        float *v = g_new(float, numel);
        tu_fill_random(v, numel, 17 + (guint32)i);
        int64_t shape[2] = {specs[i].rows, specs[i].cols};
        st_writer_add(w, specs[i].name, ST_F32, 2, shape, v);
        g_free(v);
    }
    char *dir = tu_temp_dir();
    char *path = g_build_filename(dir, "lora.safetensors", NULL);
    GError *err = NULL;
    g_assert_true(st_writer_save(w, path, &err));
    g_assert_no_error(err);
    st_writer_free(w);
    g_free(dir);
    return path;
}

static StArchive *load_one(DitModel *m, const char *path, float mult, LoraReport *rep, GError **err)
{
    FluxLora l = {path, mult};
    return lora_load(&l, 1, dit_archive(m), NULL, NULL, rep, err);
}

/* A fused kohya qkv LoRA splits into to_q/to_k/to_v: A shared, B by rows, s = α/r. The tiny
 * model's width D comes from its weights, so this also shows that the split sizes do. */
static void test_fused_split(void)
{
    DitModel *m = tiny();
    const StTensor *wq = st_archive_find(dit_archive(m), "transformer_blocks.0.attn.to_q.weight");
    int D = (int)wq->shape[0], r = 4;
    const Spec s[] = {{"lora_unet_double_blocks_0_img_attn_qkv.lora_down.weight", r, D},
                      {"lora_unet_double_blocks_0_img_attn_qkv.lora_up.weight", 3 * D, r},
                      {"lora_unet_double_blocks_0_img_attn_qkv.alpha", 2, 0},
                      {"lora_te1_text_model_encoder_layers_0_mlp_fc1.lora_down.weight", r, 8},
                      {"lora_te1_text_model_encoder_layers_0_mlp_fc1.lora_up.weight", 8, r},
                      {"lora_unet_double_blocks_0_img_attn_qkv.dora_scale", 1, D}};
    g_autofree char *path = write_lora(s, G_N_ELEMENTS(s));
    LoraReport rep = {0};
    GError *err = NULL;
    StArchive *a = load_one(m, path, 0.5f, &rep, &err);
    g_assert_no_error(err);
    g_assert_cmpint(rep.n_layers, ==, 1);
    g_assert_cmpuint(rep.unknown->len, ==, 3); /* two CLIP tensors and the DoRA scale */
    g_assert_cmpint(rep.n_text_encoder, ==, 2);
    StFile *f = st_file_open(path, &err);
    float *down = tu_f32(st_file_find(f, s[0].name)), *up = tu_f32(st_file_find(f, s[1].name));
    static const char *const parts[] = {"to_q", "to_k", "to_v"};
    for (int p = 0; p < 3; p++) {
        g_autofree char *na = g_strdup_printf("transformer_blocks.0.attn.%s.lora_A", parts[p]);
        g_autofree char *nb = g_strdup_printf("transformer_blocks.0.attn.%s.lora_B", parts[p]);
        const StTensor *ta = st_archive_find(a, na), *tb = st_archive_find(a, nb);
        g_assert_nonnull(ta);
        g_assert_nonnull(tb);
        g_assert_cmpint(ta->shape[0], ==, r);
        g_assert_cmpint(tb->shape[0], ==, D);
        g_assert_cmpfloat(((const float *)ta->data)[5], ==, down[5]);
        /* B row j of part p = 0.5 · (2 / 4) · up row p·D + j */
        const float *b = tb->data;
        for (int j = 0; j < D * r; j += 7)
            g_assert_cmpfloat_with_epsilon(b[j], 0.25f * up[p * D * r + j], 1e-7);
    }
    g_free(down), g_free(up);
    st_file_free(f);
    st_archive_free(a);
    lora_report_clear(&rep);
    dit_free(m);
}

/* Two LoRAs on one layer stack along the rank, each B scaled by its own s. */
static void test_stack(void)
{
    DitModel *m = tiny();
    const StTensor *w = st_archive_find(dit_archive(m), "proj_out.weight");
    int N = (int)w->shape[0], K = (int)w->shape[1];
    const Spec s1[] = {{"transformer.proj_out.lora_A.weight", 2, K},
                       {"transformer.proj_out.lora_B.weight", N, 2}};
    const Spec s2[] = {{"diffusion_model.final_layer.linear.lora_A.weight", 3, K},
                       {"diffusion_model.final_layer.linear.lora_B.weight", N, 3}};
    g_autofree char *p1 = write_lora(s1, 2);
    g_autofree char *p2 = write_lora(s2, 2);
    FluxLora l[2] = {{p1, 1.0f}, {p2, -2.0f}};
    GError *err = NULL;
    StArchive *a = lora_load(l, 2, dit_archive(m), NULL, NULL, NULL, &err);
    g_assert_no_error(err);
    const StTensor *tb = st_archive_find(a, "proj_out.lora_B");
    g_assert_cmpint(tb->shape[1], ==, 5);
    StFile *f2 = st_file_open(p2, &err);
    float *b2 = tu_f32(st_file_find(f2, s2[1].name));
    /* row 1, column 2 + 1: the second LoRA's column 1, × -2 · 3/3 */
    g_assert_cmpfloat(((const float *)tb->data)[5 + 3], ==, -2.0f * b2[3 + 1]);
    g_free(b2);
    st_file_free(f2);
    st_archive_free(a);
    dit_free(m);
}

static void test_errors(void)
{
    DitModel *m = tiny();
    const StTensor *wq = st_archive_find(dit_archive(m), "transformer_blocks.0.attn.to_q.weight");
    int D = (int)wq->shape[0];
    GError *err = NULL;

    g_assert_null(load_one(m, "/nonexistent/style.safetensors", 1.0f, NULL, &err));
    tu_expect_error(&err, FLUX_ERROR_IO, (const char *const[]){"style.safetensors", NULL});

    /* wrong width: a LoRA for a model of another size names the tensor and the layer */
    const Spec wide[] = {{"transformer.transformer_blocks.0.attn.to_q.lora_A.weight", 4, D + 1},
                         {"transformer.transformer_blocks.0.attn.to_q.lora_B.weight", D, 4}};
    g_autofree char *pw = write_lora(wide, 2);
    g_assert_null(load_one(m, pw, 1.0f, NULL, &err));
    tu_expect_error(
        &err, FLUX_ERROR_MODEL,
        (const char *const[]){"to_q.lora_A.weight", "attn.to_q", "another model", NULL});

    /* a fused qkv whose B has the wrong rows */
    const Spec rows[] = {{"lora_unet_single_blocks_0_linear1.lora_down.weight", 4, D},
                         {"lora_unet_single_blocks_0_linear1.lora_up.weight", 3 * D, 4}};
    g_autofree char *pr = write_lora(rows, 2);
    g_assert_null(load_one(m, pr, 1.0f, NULL, &err));
    tu_expect_error(&err, FLUX_ERROR_MODEL, (const char *const[]){"linear1.lora_up.weight", NULL});

    /* half a pair */
    const Spec half[] = {{"transformer.proj_out.lora_A.weight", 4, D}};
    g_autofree char *ph = write_lora(half, 1);
    g_assert_null(load_one(m, ph, 1.0f, NULL, &err));
    tu_expect_error(&err, FLUX_ERROR_FORMAT, (const char *const[]){"proj_out.lora_A", NULL});

    /* nothing for this model (an SD LoRA, or CLIP only) */
    const Spec sd[] = {{"lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight", 4, 8},
                       {"lora_unet_down_blocks_0_attentions_0_proj_in.lora_up.weight", 8, 4}};
    g_autofree char *ps = write_lora(sd, 2);
    g_assert_null(load_one(m, ps, 1.0f, NULL, &err));
    tu_expect_error(&err, FLUX_ERROR_MODEL, (const char *const[]){"another model", NULL});
    const Spec te[] = {{"lora_te1_text_model_encoder_layers_0_mlp_fc1.lora_down.weight", 4, 8},
                       {"lora_te1_text_model_encoder_layers_0_mlp_fc1.lora_up.weight", 8, 4}};
    g_autofree char *pt = write_lora(te, 2);
    g_assert_null(load_one(m, pt, 1.0f, NULL, &err));
    tu_expect_error(&err, FLUX_ERROR_MODEL, (const char *const[]){"text encoder", NULL});

    /* truncated: the header promises more bytes than the file has */
    gchar *bytes;
    gsize len;
    g_assert_true(g_file_get_contents(pw, &bytes, &len, NULL));
    g_autofree char *pcut = tu_temp_file(".safetensors", bytes, len / 2);
    g_free(bytes);
    g_assert_null(load_one(m, pcut, 1.0f, NULL, &err));
    tu_expect_error(&err, FLUX_ERROR_FORMAT, (const char *const[]){pcut, NULL});

    g_assert_null(load_one(m, pr, NAN, NULL, &err));
    tu_expect_error(&err, FLUX_ERROR_ARGUMENT, (const char *const[]){"strength", NULL});
    dit_free(m);
}

/* lora_linear_apply against float64 loops, on the cpu backend with its linear_lora and on a
 * copy of it without (the path other backends take: two linears and an add), M across the
 * chunk sizes. */
static void test_lora_linear(gconstpointer data)
{
    gboolean generic = GPOINTER_TO_INT(data);
    FluxBackend be = *flux_backend_get("cpu", NULL);
    if (generic) be.linear_lora = NULL;
    const int M = LORA_LINEAR_ROWS + 37, K = 48, N = 40, R = 6;
    float *a = g_new(float, R *K), *b = g_new(float, N *R), *w = g_new0(float, N *K);
    tu_fill_random(a, (size_t)R * K, 1);
    tu_fill_random(b, (size_t)N * R, 2);
    StArchive *lora = st_archive_new("test");
    int64_t sa[2] = {R, K}, sb[2] = {N, R}, sw[2] = {N, K};
    GError *err = NULL;
    st_archive_add_owned(lora, "blk.lin.lora_A", ST_F32, 2, sa, g_memdup2(a, sizeof(float) * R * K),
                         "test", &err);
    st_archive_add_owned(lora, "blk.lin.lora_B", ST_F32, 2, sb, g_memdup2(b, sizeof(float) * N * R),
                         "test", &err);
    StArchive *base = st_archive_new("base");
    const StTensor *wt =
        st_archive_add_owned(base, "blk.lin.weight", ST_F32, 2, sw, w, "base", &err);
    const StTensor *layers[2] = {wt, wt};
    g_assert_no_error(err);
    /* layer 0 has the LoRA; layer 1 points at a weight of another name in a real model */
    LoraLinear *ll = lora_linear_new(&be, lora, layers, 1, ST_F32, &err);
    g_assert_no_error(err);
    g_assert_cmpuint(lora_linear_count(ll), ==, 1);
    FluxBackendCtx *c = be.ctx_new((size_t)M * (K + N) * sizeof(float) + 1024, &err);
    float *x = be.alloc(c, (size_t)M * K, &err), *y = be.alloc(c, (size_t)M * N, &err);
    g_assert_no_error(err);
    float *hx = g_new(float, M *K), *hy = g_new(float, M *N), *want = g_new(float, M *N);
    tu_fill_random(hx, (size_t)M * K, 3);
    tu_fill_random(hy, (size_t)M * N, 4);
    for (int m = 0; m < M; m++)
        for (int n = 0; n < N; n++) {
            double acc = hy[m * N + n];
            for (int r = 0; r < R; r++) {
                double t = 0;
                for (int k = 0; k < K; k++) t += (double)hx[m * K + k] * a[r * K + k];
                acc += t * b[n * R + r];
            }
            want[m * N + n] = (float)acc;
        }
    be.upload(c, x, hx, (size_t)M * K);
    be.upload(c, y, hy, (size_t)M * N);
    lora_linear_apply(ll, c, 0, y, x, M);
    lora_linear_apply(ll, c, 1, y, x, M); /* out of range: nothing */
    g_assert_true(be.download(c, hy, y, (size_t)M * N, &err));
    tu_assert_close(generic ? "two linears + add" : "linear_lora", hy, want, (size_t)M * N, 1e-5);
    be.ctx_free(c);
    lora_linear_free(ll);
    st_archive_free(base);
    g_free(a), g_free(b), g_free(hx), g_free(hy), g_free(want);
}

/* CLIP-L LoRA layers (kohya lora_te1_*, diffusers text_encoder.*) on the tiny CLIP against
 * diffusers' load_lora_into_text_encoder (tests/lora/make_clip_lora_reference.py). */
static void test_clip(void)
{
    GError *err = NULL;
    g_autofree char *src = g_path_get_dirname(__FILE__);
    g_autofree char *data = g_build_filename(src, "data", "lora", NULL);
    g_autofree char *ref_path = g_build_filename(data, "clip_reference.safetensors", NULL);
    StFile *ref = st_file_open(ref_path, &err);
    g_assert_no_error(err);
    g_autofree char *te_dir = tu_model_path("text_encoder");
    ClipModel *clip = tu_clip_dir(te_dir, &err);
    g_assert_no_error(err);
    DitModel *m = tiny();
    const StTensor *tid = st_file_find(ref, "ids");
    int64_t ids[77];
    memcpy(ids, tid->data, sizeof ids);
    static const struct {
        const char *name, *file;
        float mult;
    } cases[] = {{"none", NULL, 0},
                 {"kohya_1", "clip_kohya.safetensors", 1.0f},
                 {"diffusers_0.5", "clip_diffusers.safetensors", 0.5f}};
    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        StArchive *tl = NULL, *cl = NULL;
        if (cases[i].file) {
            g_autofree char *path = g_build_filename(data, cases[i].file, NULL);
            FluxLora l = {path, cases[i].mult};
            LoraReport rep = {0};
            tl = lora_load(&l, 1, dit_archive(m), clip_archive(clip), &cl, &rep, &err);
            g_assert_no_error(err);
            g_assert_nonnull(cl);
            g_assert_cmpuint(rep.unknown->len, ==, 0);
            lora_report_clear(&rep);
        }
        float pooled[32];
        g_assert_true(clip_encode_lora(clip, cl, ids, 77, pooled, NULL, &err));
        g_assert_no_error(err);
        g_autofree char *name = g_strconcat("pooled.", cases[i].name, NULL);
        double d = tu_assert_close_t(name, pooled, st_file_find(ref, name), TOL);
        g_test_message("CLIP %s: max relative difference %.2e", cases[i].name, d);
        st_archive_free(tl);
        st_archive_free(cl);
    }
    dit_free(m);
    clip_free(clip);
    st_file_free(ref);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/lora/parse", test_parse);
    g_test_add_func("/lora/fused-split", test_fused_split);
    g_test_add_func("/lora/stack", test_stack);
    g_test_add_func("/lora/errors", test_errors);
    g_test_add_func("/lora/clip", test_clip);
    g_test_add_data_func("/lora/linear/accumulated", GINT_TO_POINTER(0), test_lora_linear);
    g_test_add_data_func("/lora/linear/generic", GINT_TO_POINTER(1), test_lora_linear);
    for (gsize i = 0; i < G_N_ELEMENTS(CASES); i++) {
        g_autofree char *path = g_strdup_printf("/lora/golden/%s", CASES[i].name);
        g_test_add_data_func(path, &CASES[i], test_golden);
    }
    return g_test_run();
}
