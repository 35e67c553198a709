/* test_single_files.c — a full render from the single files of a ComfyUI models/ tree
 * (tests/comfy_tree.py writes the tiny reference model so), and the configs read from tensor
 * shapes (core/pipeline/config_infer.h):
 *   - flux-generate from the four files equals the folder's render bit for bit (saved tensors
 *     and PNG): the files hold the same float32 numbers under other names, the fused BFL
 *     weights are row views of the same bytes, so every operation sees the same operands;
 *   - flux_model_locate finds the four files from the transformer alone;
 *   - T5's config from its shapes alone, through the llama.cpp GGUF names too;
 *   - files with FLUX.1's real shapes (sparse files: headers, no data on disk) get the
 *     built-in configs' values, a CLIP of FLUX.1's width but other depth keeps 12 heads;
 *   - a value no shape shows is refused naming the file and where to put its config; a
 *     config beside a file that disagrees with its shapes is refused. */
#include "checkpoint.h"
#include "config_infer.h"
#include "flux.h"
#include "testutil.h"

#include <fcntl.h>
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

/* ------------------------------------------------------------------------------------- */
/* The tiny tree                                                                         */

static const char *tree_root(void)
{
    static char *root;
    if (root) return root;
    const char *env = g_getenv("FLUX_COMFY_TREE");
    root = env ? g_strdup(env) : tu_temp_dir();
    g_autofree char *model = tu_model_path(NULL);
    tu_run_python_script("comfy_tree.py", model, root, NULL);
    return root;
}

static char *tree_file(const char *sub, const char *name)
{
    return g_build_filename(tree_root(), "models", sub, name, NULL);
}

typedef struct {
    int status;
    char *err;
} Run;

/* flux-generate with a NULL-terminated argument list. */
static Run cli(const char *first, ...)
{
    GPtrArray *argv = g_ptr_array_new();
    g_ptr_array_add(argv, (gpointer)g_getenv("FLUX_GENERATE"));
    g_assert_nonnull(argv->pdata[0]);
    va_list ap;
    va_start(ap, first);
    for (const char *a = first; a; a = va_arg(ap, const char *)) g_ptr_array_add(argv, (gpointer)a);
    va_end(ap);
    g_ptr_array_add(argv, NULL);
    Run r = {0};
    GError *e = NULL;
    g_assert_true(g_spawn_sync(NULL, (char **)argv->pdata, NULL, G_SPAWN_STDOUT_TO_DEV_NULL, NULL,
                               NULL, NULL, &r.err, &r.status, &e));
    g_assert_no_error(e);
    g_ptr_array_free(argv, TRUE);
    return r;
}

/* The p64x64_s4 golden's settings from files, then from the folder. */
static void test_render_equals_folder(void)
{
    g_autofree char *dir = tu_temp_dir(), *model = tu_model_path(NULL);
    g_autofree char *tr = tree_file("diffusion_models", "flux1-tiny-dev.safetensors");
    g_autofree char *vae = tree_file("vae", "ae.safetensors");
    g_autofree char *clip = tree_file("text_encoders", "clip_l.safetensors");
    g_autofree char *t5 = tree_file("text_encoders", "t5xxl_tiny_fp32.safetensors");
    g_autofree char *png_f = g_build_filename(dir, "files.png", NULL);
    g_autofree char *st_f = g_build_filename(dir, "files.safetensors", NULL);
    g_autofree char *png_d = g_build_filename(dir, "folder.png", NULL);
    g_autofree char *st_d = g_build_filename(dir, "folder.safetensors", NULL);
#define RUN_ARGS "-q", "-p", "a photo of a cat", "-W", "64", "-H", "64", "-s", "4", "--seed", "0"
    Run f = cli("--transformer", tr, "--vae", vae, "--clip-l", clip, "--t5", t5, "--tokenizers",
                model, RUN_ARGS, "-o", png_f, "--save-tensors", st_f, NULL);
    g_assert_cmpint(f.status, ==, 0);
    Run d = cli("-m", model, RUN_ARGS, "-o", png_d, "--save-tensors", st_d, NULL);
    g_assert_cmpint(d.status, ==, 0);
#undef RUN_ARGS
    g_assert_true(tu_same_file(st_f, st_d)); /* every named tensor of the run, latents included */
    g_assert_true(tu_same_file(png_f, png_d));
    /* and the folder's render is the diffusers golden (test_cli checks it within 1e-4) */
    StFile *ours = st_file_open(st_f, NULL);
    g_assert_nonnull(ours);
    StTensor *lat = st_file_find(ours, "output_latent");
    g_assert_nonnull(lat);
    g_autofree float *got = tu_f32(lat);
    tu_assert_close_t("output_latent from single files", got,
                      tu_golden_tensor("pipeline_p64x64_s4.safetensors", "output_latent"), 1e-4);
    st_file_free(ours);
    g_free(f.err), g_free(d.err);
}

static void test_locate(void)
{
    g_autofree char *tr = tree_file("diffusion_models", "flux1-tiny-dev.safetensors");
    g_autofree char *model = tu_model_path(NULL);
    FluxModelFiles f;
    FluxModelProblem pb;
    GError *err = NULL;
    g_assert_true(flux_model_locate(tr, model, &f, &pb, &err));
    g_assert_no_error(err);
    g_assert_true(g_str_has_suffix(f.vae, "/models/vae/ae.safetensors"));
    g_assert_true(g_str_has_suffix(f.clip_l, "/models/text_encoders/clip_l.safetensors"));
    g_assert_true(g_str_has_suffix(f.t5, "/models/text_encoders/t5xxl_tiny_fp32.safetensors"));
    FluxModel *m = flux_model_load_files(&f, &err);
    g_assert_no_error(err);
    g_assert_true(flux_model_uses_guidance(m));
    g_assert_cmpuint(flux_model_unused_tensors(m, NULL), ==, 0);
    flux_model_free(m);
    flux_model_files_clear(&f);
}

/* ------------------------------------------------------------------------------------- */
/* Shapes → configs                                                                      */

typedef struct {
    const char *name;
    int ndim;
    int64_t shape[4];
} Shape;

/* A safetensors file of F16 tensors whose data section is a hole: real FLUX.1 sizes
 * (T5-XXL's 9.5 GB) cost no disk. */
static char *sparse_file(const char *dir, const char *file, const Shape *s, int n)
{
    GString *h = g_string_new("{");
    guint64 off = 0;
    for (int i = 0; i < n; i++) {
        guint64 bytes = 2;
        g_string_append_printf(h, "%s\"%s\":{\"dtype\":\"F16\",\"shape\":[", i ? "," : "",
                               s[i].name);
        for (int d = 0; d < s[i].ndim; d++) {
            g_string_append_printf(h, "%s%lld", d ? "," : "", (long long)s[i].shape[d]);
            bytes *= (guint64)s[i].shape[d];
        }
        g_string_append_printf(h, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)off,
                               (unsigned long long)(off + bytes));
        off += bytes;
    }
    g_string_append(h, "}");
    while (h->len % 8) g_string_append_c(h, ' ');
    char *path = g_build_filename(dir, file, NULL);
    int fd = g_open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    g_assert_cmpint(fd, >=, 0);
    guint64 len = GUINT64_TO_LE((guint64)h->len);
    g_assert_cmpint(write(fd, &len, 8), ==, 8);
    g_assert_cmpint(write(fd, h->str, h->len), ==, (gssize)h->len);
    g_assert_cmpint(ftruncate(fd, (off_t)(8 + h->len + off)), ==, 0);
    close(fd);
    g_string_free(h, TRUE);
    return path;
}

static CfgJson *infer(DefaultsConfig which, const char *path, GError **err)
{
    StArchive *a = st_archive_open(path, err);
    g_assert_nonnull(a);
    CfgJson *c = config_infer(which, a, path, err);
    st_archive_free(a);
    return c;
}

static int64_t int_of(const CfgJson *c, const char *key)
{
    int64_t v = -1;
    g_assert_true(cfg_int(c, key, 0, G_MAXINT64, &v, NULL));
    return v;
}

/* openai/clip-vit-large-patch14's text tower, as clip_l.safetensors holds it. */
static char *clip_file(const char *dir, const char *name, int width, int layers)
{
    Shape s[40];
    int n = 0;
    s[n++] = (Shape){"text_model.embeddings.token_embedding.weight", 2, {49408, width}};
    s[n++] = (Shape){"text_model.embeddings.position_embedding.weight", 2, {77, width}};
    s[n++] = (Shape){"text_model.encoder.layers.0.mlp.fc1.weight", 2, {4 * width, width}};
    static char names[32][64];
    for (int i = 0; i < layers; i++) {
        g_snprintf(names[i], sizeof names[i],
                   "text_model.encoder.layers.%d.self_attn.q_proj.weight", i);
        s[n++] = (Shape){names[i], 2, {width, width}};
    }
    return sparse_file(dir, name, s, n);
}

static void test_flux1_shapes(void)
{
    g_autofree char *dir = tu_temp_dir();
    GError *err = NULL;

    g_autofree char *clip = clip_file(dir, "clip_l.safetensors", 768, 12);
    CfgJson *c = infer(DEFAULTS_CLIP_L, clip, &err);
    g_assert_no_error(err);
    g_assert_cmpint(int_of(c, "hidden_size"), ==, 768);
    g_assert_cmpint(int_of(c, "num_hidden_layers"), ==, 12);
    g_assert_cmpint(int_of(c, "intermediate_size"), ==, 3072);
    g_assert_cmpint(int_of(c, "num_attention_heads"), ==, 12); /* the built-in's: width 768 */
    g_assert_cmpint(int_of(c, "eos_token_id"), ==, 2);
    g_assert_nonnull(strstr(cfg_path(c), "built-in FLUX.1 CLIP-L"));
    cfg_free(c);
    /* FLUX.1's width, fewer layers: the heads go with the width, the depth shows */
    g_autofree char *clip6 = clip_file(dir, "clip_l_6.safetensors", 768, 6);
    c = infer(DEFAULTS_CLIP_L, clip6, &err);
    g_assert_no_error(err);
    g_assert_cmpint(int_of(c, "num_hidden_layers"), ==, 6);
    g_assert_cmpint(int_of(c, "num_attention_heads"), ==, 12);
    cfg_free(c);
    /* another width: the heads cannot be known */
    g_autofree char *clip1k = clip_file(dir, "clip_g.safetensors", 1024, 2);
    g_assert_null(infer(DEFAULTS_CLIP_L, clip1k, &err));
    tu_expect_error(&err, FLUX_ERROR_MODEL,
                    (const char *const[]){clip1k, "hidden_size 1024", "FLUX.1's is 768",
                                          "number of attention heads", "clip_g.json", NULL});

    /* google/t5-v1_1-xxl's encoder (t5xxl_fp16.safetensors): 64 heads from the bias */
    Shape t5[30];
    int n = 0;
    t5[n++] = (Shape){"shared.weight", 2, {32128, 4096}};
    t5[n++] = (Shape){
        "encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight", 2, {32, 64}};
    t5[n++] = (Shape){"encoder.block.0.layer.1.DenseReluDense.wi_0.weight", 2, {10240, 4096}};
    t5[n++] = (Shape){"encoder.block.0.layer.1.DenseReluDense.wi_1.weight", 2, {10240, 4096}};
    static char q[24][64];
    for (int i = 0; i < 24; i++) {
        g_snprintf(q[i], sizeof q[i], "encoder.block.%d.layer.0.SelfAttention.q.weight", i);
        t5[n++] = (Shape){q[i], 2, {4096, 4096}};
    }
    g_autofree char *t5f = sparse_file(dir, "t5xxl_fp16.safetensors", t5, n);
    c = infer(DEFAULTS_T5_XXL, t5f, &err);
    g_assert_no_error(err);
    g_assert_cmpint(int_of(c, "num_heads"), ==, 64);
    g_assert_cmpint(int_of(c, "d_kv"), ==, 64);
    g_assert_cmpint(int_of(c, "d_ff"), ==, 10240);
    g_assert_cmpint(int_of(c, "num_layers"), ==, 24);
    g_assert_cmpint(int_of(c, "relative_attention_max_distance"), ==, 128);
    const char *act = NULL;
    g_assert_true(cfg_string_or(c, "dense_act_fn", "", &act, NULL));
    g_assert_cmpstr(act, ==, "gelu_pytorch_tanh");
    cfg_free(c);

    /* FLUX.1's ae.safetensors (diffusers names: ckpt_open_vae's view of the LDM names) */
    static const int ch[4] = {128, 256, 512, 512};
    static char v[16][64];
    Shape vs[20];
    n = 0;
    vs[n++] = (Shape){"decoder.conv_in.weight", 4, {512, 16, 3, 3}};
    vs[n++] = (Shape){"decoder.conv_out.weight", 4, {3, 128, 3, 3}};
    vs[n++] = (Shape){"decoder.mid_block.attentions.0.to_q.weight", 2, {512, 512}};
    for (int k = 0; k < 4; k++) {
        g_snprintf(v[k], sizeof v[k], "decoder.up_blocks.%d.resnets.0.conv2.weight", k);
        vs[n++] = (Shape){v[k], 4, {ch[3 - k], ch[3 - k], 3, 3}};
    }
    for (int r = 0; r < 3; r++) {
        g_snprintf(v[8 + r], sizeof v[8 + r], "decoder.up_blocks.0.resnets.%d.conv1.weight", r);
        vs[n++] = (Shape){v[8 + r], 4, {512, 512, 3, 3}};
    }
    g_autofree char *ae = sparse_file(dir, "ae.safetensors", vs, n);
    c = infer(DEFAULTS_VAE, ae, &err);
    g_assert_no_error(err);
    int64_t got[4];
    gsize len = 0;
    g_assert_true(cfg_int_array(c, "block_out_channels", 1, 4096, got, 4, &len, NULL));
    g_assert_cmpuint(len, ==, 4);
    for (int k = 0; k < 4; k++) g_assert_cmpint(got[k], ==, ch[k]);
    g_assert_cmpint(int_of(c, "layers_per_block"), ==, 2);
    g_assert_cmpint(int_of(c, "norm_num_groups"), ==, 32);
    g_assert_cmpint(int_of(c, "latent_channels"), ==, 16);
    double scaling = 0;
    g_assert_true(cfg_double(c, "scaling_factor", 0, 10, &scaling, NULL));
    g_assert_cmpfloat(scaling, ==, 0.3611);
    cfg_free(c);
}

/* The tiny T5 as ComfyUI-GGUF's llama.cpp names (Q8_0) and as a prefixed safetensors with only
 * encoder.embed_tokens: the same config as text_encoder_2/config.json, with no file beside. */
static void test_t5_any_layout(void)
{
    const char *files[] = {"t5_llama_Q8_0.gguf", "t5_prefixed.safetensors"};
    for (gsize i = 0; i < G_N_ELEMENTS(files); i++) {
        g_autofree char *path = tu_converted(files[i]);
        GError *err = NULL;
        StArchive *a = ckpt_open_t5(path, &err);
        g_assert_no_error(err);
        CfgJson *c = config_infer(DEFAULTS_T5_XXL, a, path, &err);
        g_assert_no_error(err);
        static const struct {
            const char *key;
            int64_t want;
        } want[] = {{"d_model", 32},
                    {"d_kv", 8},
                    {"num_heads", 4},
                    {"d_ff", 37},
                    {"num_layers", 2},
                    {"vocab_size", 32128},
                    {"relative_attention_num_buckets", 32}};
        for (gsize k = 0; k < G_N_ELEMENTS(want); k++)
            g_assert_cmpint(int_of(c, want[k].key), ==, want[k].want);
        cfg_free(c);
        st_archive_free(a);
    }
}

/* A copy of the tiny tree without one beside-config, or with a wrong one. */
static char *tree_copy(void)
{
    char *root = tu_temp_dir();
    const char *subs[] = {"diffusion_models", "vae", "text_encoders"};
    for (int i = 0; i < 3; i++) {
        g_autofree char *from = g_build_filename(tree_root(), "models", subs[i], NULL);
        g_autofree char *to = g_build_filename(root, "models", subs[i], NULL);
        g_assert_cmpint(g_mkdir_with_parents(to, 0755), ==, 0);
        GDir *d = g_dir_open(from, 0, NULL);
        for (const char *n; (n = g_dir_read_name(d));) {
            g_autofree char *a = g_build_filename(from, n, NULL),
                            *b = g_build_filename(to, n, NULL);
            if (g_str_has_suffix(n, ".json")) {
                g_autofree char *text = NULL;
                g_assert_true(g_file_get_contents(a, &text, NULL, NULL));
                g_assert_true(g_file_set_contents(b, text, -1, NULL));
            } else {
                g_assert_cmpint(symlink(a, b), ==, 0);
            }
        }
        g_dir_close(d);
    }
    return root;
}

static FluxModel *load_tree(const char *root, GError **err)
{
    g_autofree char *tr =
        g_build_filename(root, "models", "diffusion_models", "flux1-tiny-dev.safetensors", NULL);
    g_autofree char *model = tu_model_path(NULL);
    FluxModelFiles f;
    g_assert_true(flux_model_locate(tr, model, &f, NULL, NULL));
    FluxModel *m = flux_model_load_files(&f, err);
    flux_model_files_clear(&f);
    return m;
}

static void test_refusals(void)
{
    GError *err = NULL;
    struct {
        const char *sub, *json, *content; /* content NULL: removed */
        const char *needles[4];
    } cases[] = {
        {"text_encoders",
         "clip_l.json",
         NULL,
         {"clip_l.safetensors", "number of attention heads", "clip_l.json", NULL}},
        {"vae", "ae.json", NULL, {"ae.safetensors", "number of GroupNorm groups", "ae.json", NULL}},
        {"diffusion_models",
         "flux1-tiny-dev.json",
         NULL,
         {"head dim 16", "rope axes", "flux1-tiny-dev.json", NULL}},
        {"text_encoders",
         "clip_l.json",
         "{\"hidden_size\": 64, \"num_attention_heads\": 4, \"intermediate_size\": 37,"
         " \"num_hidden_layers\": 2, \"vocab_size\": 49408}",
         {"\"hidden_size\" is 64", "say 32", "belongs to another file", NULL}},
        {"diffusion_models",
         "flux1-tiny-dev.json",
         "{\"axes_dims_rope\": [4, 4, 4]}",
         {"axes_dims_rope", "adding up to the attention head dim 16", NULL}},
    };
    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *root = tree_copy();
        g_autofree char *json = g_build_filename(root, "models", cases[i].sub, cases[i].json, NULL);
        if (cases[i].content)
            g_assert_true(g_file_set_contents(json, cases[i].content, -1, NULL));
        else
            g_assert_cmpint(g_unlink(json), ==, 0);
        g_assert_null(load_tree(root, &err));
        tu_expect_error(&err, FLUX_ERROR_MODEL, cases[i].needles);
    }
    /* the untouched copy loads: the refusals above come from the one change each */
    g_autofree char *root = tree_copy();
    FluxModel *m = load_tree(root, &err);
    g_assert_no_error(err);
    flux_model_free(m);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    if (!tu_python_with_numpy()) {
        printf("1..0 # SKIP python3 with numpy not found (needed by tests/comfy_tree.py)\n");
        return 0;
    }
    g_test_add_func("/single-files/render-equals-folder", test_render_equals_folder);
    g_test_add_func("/single-files/locate-and-load", test_locate);
    g_test_add_func("/single-files/flux1-shapes", test_flux1_shapes);
    g_test_add_func("/single-files/t5-any-layout", test_t5_any_layout);
    g_test_add_func("/single-files/refusals", test_refusals);
    return g_test_run();
}
