/* test_formats.c — whole generations from the checkpoint files artists have
 * (flux_model_load_files, flux-generate --transformer/--vae/--clip-l/--t5/--tokenizers),
 * compared with the same run from the diffusers folder of the reference tiny model.
 *
 * tests/convert_checkpoint.py writes the formats (see test_checkpoint.c, which checks them
 * tensor by tensor). Each run is the golden p64x64_s4 setting ("a photo of a cat", 64×64,
 * 4 steps, guidance 3.5, seed 0, 512 T5 tokens), with the tiny folder for the configs and
 * tokenizers and the converted file(s) for the weights. Acceptance on the output latents
 * [1, 16, 64], as tu_assert_close measures (max|got − ref| / max(1, max|ref|)):
 *   lossless files (F32 under original names, GGUF F32)  bit-identical latents and pixels
 *   lossy files (F16/BF16/FP8/GGML blocks)  a tolerance per format, set to about twice the
 *                                           difference measured here (docs/FORMATS.md)
 * The built-in configs (core/pipeline/defaults.h) are FLUX.1's real sizes, so without a folder the
 * tiny files can only show the errors: what is missing, and a shape mismatch named cleanly.
 * Skips (a TAP "1..0 # SKIP" plan) when python3 with numpy is missing. */
#include "checkpoint.h"
#include "defaults.h"
#include "flux.h"
#include "model.h"
#include "probe.h"
#include "testutil.h"

#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

/* ------------------------------------------------------------------------------------- */
/* The converted files                                                                   */

/* A schnell-type transformer: the original-names file without guidance_in.* (what
 * flux1-schnell.safetensors lacks compared with flux1-dev.safetensors). */
static char *schnell_file(void)
{
    static char *path;
    if (path) return path;
    g_autofree char *src = tu_converted("transformer_orig.safetensors");
    GError *err = NULL;
    StFile *f = st_file_open(src, &err);
    g_assert_no_error(err);
    StWriter *w = st_writer_new();
    int dropped = 0;
    for (gsize i = 0; i < st_file_n_tensors(f); i++) {
        const StTensor *t = st_file_tensor(f, i);
        if (g_str_has_prefix(t->name, "guidance_in.")) {
            dropped++;
            continue;
        }
        st_writer_add(w, t->name, t->dtype, t->ndim, t->shape, t->data);
    }
    g_assert_cmpint(dropped, ==, 4); /* in_layer, out_layer × weight, bias */
    path = tu_converted("transformer_schnell.safetensors");
    g_assert_true(st_writer_save(w, path, &err));
    g_assert_no_error(err);
    st_writer_free(w);
    st_file_free(f);
    return path;
}

/* ------------------------------------------------------------------------------------- */
/* One generation                                                                        */

#define SIDE  64
#define STEPS 4
#define N_LAT (16 * 64) /* output_latent [1, S = (64/16)², 64] */

typedef struct {
    float latent[N_LAT];
    float sigmas[STEPS + 1];
    guint8 rgb[SIDE * SIDE * 3];
} Run;

static void on_trace(const char *name, FluxDtype dtype, int ndim, const int64_t *shape,
                     const void *data, void *user_data)
{
    Run *r = user_data;
    (void)dtype, (void)ndim;
    if (!strcmp(name, "output_latent")) {
        g_assert_cmpint(shape[1] * shape[2], ==, N_LAT);
        memcpy(r->latent, data, sizeof r->latent);
    } else if (!strcmp(name, "sigmas")) {
        g_assert_cmpint(shape[0], ==, STEPS + 1);
        memcpy(r->sigmas, data, sizeof r->sigmas);
    }
}

/* The golden p64x64_s4 setting. */
static void run_model(FluxModel *m, Run *r)
{
    FluxGenerateParams p;
    flux_generate_params_init(&p, m);
    p.prompt = "a photo of a cat";
    p.width = p.height = SIDE;
    p.steps = STEPS;
    p.guidance = 3.5f;
    p.seed = 0;
    p.max_sequence_length = 512;
    p.trace = on_trace;
    p.user_data = r;
    GError *err = NULL;
    g_assert_true(flux_generate(m, &p, r->rgb, &err));
    g_assert_no_error(err);
}

static Run *generate(const FluxModelFiles *f)
{
    GError *err = NULL;
    FluxModel *m = flux_model_load_files(f, &err);
    g_assert_no_error(err);
    Run *r = g_new0(Run, 1);
    run_model(m, r);
    flux_model_free(m);
    return r;
}

static const Run *reference(void)
{
    static Run *ref;
    if (!ref) {
        g_autofree char *dir = tu_model_path(NULL);
        GError *err = NULL;
        FluxModel *m = flux_model_load(dir, &err);
        g_assert_no_error(err);
        ref = g_new0(Run, 1);
        run_model(m, ref);
        flux_model_free(m);
    }
    return ref;
}

/* ------------------------------------------------------------------------------------- */
/* Equivalence per format                                                                */

typedef struct {
    const char *name;
    const char *transformer, *vae, *clip_l, *t5; /* converted files; NULL: the folder's */
    double tol;                                  /* < 0: bit-identical latents and pixels */
} Case;

/* Tolerances: about twice the max relative latent difference measured with this setting
 * (listed in docs/FORMATS.md), rounded up. The tiny model's rows (32..160 wide) are no
 * multiple of 256, so its K-quant files hold the 32-block types llama.cpp falls back to
 * (Q4_K → Q5_0, Q5_K → Q5_1, Q6_K → Q8_0); the K-quant blocks are checked in test_quant. */
static const Case cases[] = {
    {"original-names-f32", "transformer_orig.safetensors", "vae_orig.safetensors",
     "clip_prefixed.safetensors", "t5_prefixed.safetensors", -1},
    {"gguf-f32", "transformer_F32.gguf", NULL, NULL, NULL, -1},
    {"gguf-diffusers-f32", "transformer_diffusers_F32.gguf", NULL, NULL, NULL, -1},
    {"all-in-one-bf16", "all_in_one.safetensors", "all_in_one.safetensors", NULL, NULL, 4e-3},
    {"fp8", "transformer_fp8.safetensors", NULL, NULL, NULL, 7e-2},
    {"fp8-scaled", "transformer_fp8_scaled.safetensors", NULL, NULL, NULL, 7e-2},
    {"gguf-f16", "transformer_F16.gguf", NULL, NULL, NULL, 5e-4},
    {"gguf-bf16", "transformer_BF16.gguf", NULL, NULL, NULL, 4e-3},
    {"gguf-q8_0", "transformer_Q8_0.gguf", NULL, NULL, NULL, 2e-2},
    {"gguf-q4_0", "transformer_Q4_0.gguf", NULL, NULL, NULL, 2.5e-1},
    {"gguf-q4_1", "transformer_Q4_1.gguf", NULL, NULL, NULL, 2e-1},
    {"gguf-q5_0", "transformer_Q5_0.gguf", NULL, NULL, NULL, 1.1e-1},
    {"gguf-q5_1", "transformer_Q5_1.gguf", NULL, NULL, NULL, 1.2e-1},
    {"gguf-q4_k", "transformer_Q4_K.gguf", NULL, NULL, NULL, 1.1e-1},
    {"gguf-q5_k", "transformer_Q5_K.gguf", NULL, NULL, NULL, 1.1e-1},
    {"gguf-q6_k", "transformer_Q6_K.gguf", NULL, NULL, NULL, 2e-2},
    {"t5-llama-gguf-q8_0", NULL, NULL, NULL, "t5_llama_Q8_0.gguf", 2.5e-3},
};

static void test_case(gconstpointer data)
{
    const Case *c = data;
    g_autofree char *dir = tu_model_path(NULL);
    g_autofree char *tr = c->transformer ? tu_converted(c->transformer) : NULL;
    g_autofree char *vae = c->vae ? tu_converted(c->vae) : NULL;
    g_autofree char *clip = c->clip_l ? tu_converted(c->clip_l) : NULL;
    g_autofree char *t5 = c->t5 ? tu_converted(c->t5) : NULL;
    const FluxModelFiles f = {
        .folder = dir, .transformer = tr, .vae = vae, .clip_l = clip, .t5 = t5};
    const Run *ref = reference();
    g_autofree Run *got = generate(&f);
    int px = 0;
    for (gsize i = 0; i < sizeof got->rgb; i++) px = MAX(px, abs(got->rgb[i] - ref->rgb[i]));
    if (c->tol < 0) {
        g_assert_cmpmem(got->latent, sizeof got->latent, ref->latent, sizeof ref->latent);
        g_assert_cmpmem(got->rgb, sizeof got->rgb, ref->rgb, sizeof ref->rgb);
        g_test_message("%s: latents and pixels bit-identical", c->name);
        return;
    }
    double d = tu_assert_close(c->name, got->latent, ref->latent, N_LAT, c->tol);
    g_test_message("%s: max relative latent diff %.3g (tolerance %.3g), max pixel diff %d", c->name,
                   d, c->tol, px);
}

/* ------------------------------------------------------------------------------------- */
/* Variant, configs, info                                                                */

/* A schnell-type file under the dev folder loads as what it is: no guidance, the built-in
 * FLUX.1-schnell scheduler (static shift 1: sigmas linspace(1, 1/N, N) unshifted), 4 steps. */
static void test_schnell_variant(void)
{
    g_autofree char *dir = tu_model_path(NULL);
    const FluxModelFiles f = {.folder = dir, .transformer = schnell_file()};
    GError *err = NULL;
    FluxModel *m = flux_model_load_files(&f, &err);
    g_assert_no_error(err);
    g_assert_false(flux_model_uses_guidance(m));
    g_assert_false(m->info.uses_guidance);
    g_assert_cmpint(m->info.default_steps, ==, 4);
    g_assert_false(m->sched.use_dynamic_shifting);
    g_assert_cmpfloat(m->sched.shift, ==, 1.0);
    FluxGenerateParams p;
    flux_generate_params_init(&p, m);
    g_assert_cmpint(p.steps, ==, 4);
    Run *r = g_new0(Run, 1);
    run_model(m, r);
    const float want[STEPS + 1] = {1.0f, 0.75f, 0.5f, 0.25f, 0.0f};
    g_assert_cmpmem(r->sigmas, sizeof want, want, sizeof want);
    g_free(r);
    flux_model_free(m);

    /* the dev file under the dev folder keeps the folder's scheduler (dynamic shifting) */
    g_autofree char *dev = tu_converted("transformer_orig.safetensors");
    const FluxModelFiles fd = {.folder = dir, .transformer = dev};
    m = flux_model_load_files(&fd, &err);
    g_assert_no_error(err);
    g_assert_true(flux_model_uses_guidance(m));
    g_assert_true(m->sched.use_dynamic_shifting);
    g_assert_cmpint(m->info.default_steps, ==, 28);
    flux_model_free(m);
}

/* model->info from the configs in use equals flux_model_probe's for the folder; the weight
 * bytes are the files'. */
static void test_info(void)
{
    g_autofree char *dir = tu_model_path(NULL);
    FluxModelInfo probe;
    GError *err = NULL;
    g_assert_true(flux_model_probe(dir, &probe, &err));
    FluxModel *m = flux_model_load(dir, &err);
    g_assert_no_error(err);
    g_assert_cmpmem(&m->info, sizeof probe, &probe, sizeof probe);
    flux_model_free(m);

    g_autofree char *tr = tu_converted("transformer_Q8_0.gguf");
    g_autofree char *vae = tu_converted("vae_orig.safetensors");
    const FluxModelFiles f = {.folder = dir, .transformer = tr, .vae = vae};
    m = flux_model_load_files(&f, &err);
    g_assert_no_error(err);
    FluxModelInfo want = probe;
    g_autofree char *tr_dir = tu_model_path("transformer");
    g_autofree char *vae_dir = tu_model_path("vae");
    want.weight_bytes =
        probe.weight_bytes - probe_folder_weight_bytes(tr_dir) - probe_folder_weight_bytes(vae_dir);
    GStatBuf st;
    g_assert_cmpint(g_stat(tr, &st), ==, 0);
    want.weight_bytes += (guint64)st.st_size;
    g_assert_cmpint(g_stat(vae, &st), ==, 0);
    want.weight_bytes += (guint64)st.st_size;
    g_assert_cmpmem(&m->info, sizeof want, &want, sizeof want);
    flux_model_free(m);
}

/* The transformer config inferred from a file's shapes binds like the folder's config. */
static void test_inferred_transformer(void)
{
    g_autofree char *tr = tu_converted("transformer_orig.safetensors");
    CkptTransformerConfig tc;
    GError *err = NULL;
    StArchive *a = ckpt_open_transformer(tr, &tc, &err);
    g_assert_no_error(err);
    g_assert_cmpint(tc.axes_dims_rope[0], ==, 0); /* head dim 16: not FLUX.1's, unknown */
    tc.axes_dims_rope[0] = 4, tc.axes_dims_rope[1] = 6, tc.axes_dims_rope[2] = 6;
    g_autofree char *json = ckpt_transformer_config_json(&tc);
    CfgJson *cfg = cfg_load_data("inferred", json, -1, &err);
    g_assert_no_error(err);
    DitModel *got = dit_load(cfg, a, &err);
    g_assert_no_error(err);
    g_autofree char *dir = tu_model_path("transformer");
    DitModel *want = tu_dit_dir(dir, &err);
    g_assert_no_error(err);
    g_assert_cmpmem(dit_config(got), sizeof(DitConfig), dit_config(want), sizeof(DitConfig));
    g_assert_cmpuint(dit_unused_tensors(got, NULL), ==, 0);
    dit_free(got), dit_free(want);
    cfg_free(cfg);

    /* a bad config still frees the archive it was given (ASan/LSan check the leak) */
    a = ckpt_open_transformer(tr, NULL, &err);
    g_assert_no_error(err);
    cfg = cfg_load_data("broken", "{\"patch_size\": 2}", -1, &err);
    g_assert_no_error(err);
    g_assert_null(dit_load(cfg, a, &err));
    g_assert_error(err, FLUX_ERROR, FLUX_ERROR_UNSUPPORTED);
    g_assert_nonnull(strstr(err->message, "broken: \"patch_size\""));
    g_clear_error(&err);
    cfg_free(cfg);
}

/* Every value of a built-in config is the published one (where the reference pack has the
 * FLUX.1 configs beside it), and each parses. */
static void compare_published(DefaultsConfig which, const char *published)
{
    GError *err = NULL;
    CfgJson *c = defaults_config(which, &err);
    g_assert_no_error(err);
    g_assert_cmpstr(cfg_path(c), ==, defaults_name(which));
    cfg_free(c);
    g_autofree char *path = g_build_filename(tu_ref_dir(), "..", "flux1_files", published, NULL);
    if (!g_file_test(path, G_FILE_TEST_EXISTS)) {
        g_test_message("%s not found: values not compared", path);
        return;
    }
    g_autoptr(JsonParser) pd = json_parser_new();
    g_autoptr(JsonParser) pp = json_parser_new();
    g_assert_true(json_parser_load_from_data(pd, defaults_json(which), -1, NULL));
    g_assert_true(json_parser_load_from_file(pp, path, NULL));
    JsonObject *d = json_node_get_object(json_parser_get_root(pd));
    JsonObject *p = json_node_get_object(json_parser_get_root(pp));
    GList *keys = json_object_get_members(d);
    int compared = 0;
    for (GList *k = keys; k; k = k->next) {
        JsonNode *want = json_object_get_member(p, k->data);
        if (!want) continue; /* a class default the published file leaves implicit */
        JsonNode *got = json_object_get_member(d, k->data);
        g_autofree char *a = json_to_string(got, FALSE), *b = json_to_string(want, FALSE);
        if (!json_node_equal(got, want))
            g_test_fail_printf("%s: %s is %s, published %s", defaults_name(which), (char *)k->data,
                               a, b);
        compared++;
    }
    g_list_free(keys);
    g_assert_cmpint(compared, >=, 6);
}

static void test_defaults(void)
{
    compare_published(DEFAULTS_CLIP_L, "FLUX.1-dev/text_encoder/config.json");
    compare_published(DEFAULTS_T5_XXL, "FLUX.1-dev/text_encoder_2/config.json");
    compare_published(DEFAULTS_VAE, "FLUX.1-dev/vae/config.json");
    compare_published(DEFAULTS_SCHEDULER_DEV, "FLUX.1-dev/scheduler/scheduler_config.json");
    compare_published(DEFAULTS_SCHEDULER_SCHNELL, "FLUX.1-schnell/scheduler/scheduler_config.json");
    SchedConfig dev, schnell;
    GError *err = NULL;
    CfgJson *c = defaults_config(DEFAULTS_SCHEDULER_DEV, &err);
    g_assert_true(sched_config_from(&dev, c, &err));
    cfg_free(c);
    c = defaults_config(DEFAULTS_SCHEDULER_SCHNELL, &err);
    g_assert_true(sched_config_from(&schnell, c, &err));
    cfg_free(c);
    g_assert_true(dev.use_dynamic_shifting);
    g_assert_cmpfloat(dev.base_shift, ==, 0.5);
    g_assert_cmpfloat(dev.max_shift, ==, 1.15);
    g_assert_cmpint(dev.base_image_seq_len, ==, 256);
    g_assert_cmpint(dev.max_image_seq_len, ==, 4096);
    g_assert_false(schnell.use_dynamic_shifting);
    g_assert_cmpfloat(schnell.shift, ==, 1.0);
}

/* ------------------------------------------------------------------------------------- */
/* Without a folder                                                                      */

static void expect_load_error(const FluxModelFiles *f, FluxError code, const char *const *needles)
{
    GError *err = NULL;
    g_assert_null(flux_model_load_files(f, &err));
    g_assert_error(err, FLUX_ERROR, (gint)code);
    for (const char *const *n = needles; *n; n++)
        if (!strstr(err->message, *n)) g_test_fail_printf("'%s' lacks '%s'", err->message, *n);
    g_error_free(err);
}

static void test_no_folder(void)
{
    g_autofree char *tok = tu_model_path(NULL);
    g_autofree char *tr = tu_converted("transformer_orig.safetensors");
    g_autofree char *vae = tu_converted("vae_orig.safetensors");
    g_autofree char *clip = tu_converted("clip_prefixed.safetensors");
    g_autofree char *t5 = tu_converted("t5_prefixed.safetensors");
    const FluxModelFiles only_tr = {.transformer = tr};
    expect_load_error(&only_tr, FLUX_ERROR_ARGUMENT,
                      (const char *const[]){"no model folder", "the tokenizers folder",
                                            "the VAE file", "the CLIP-L file", "the T5 file",
                                            NULL});
    const FluxModelFiles no_t5 = {.tokenizers = tok, .transformer = tr, .vae = vae, .clip_l = clip};
    expect_load_error(&no_t5, FLUX_ERROR_ARGUMENT,
                      (const char *const[]){"missing the T5 file", NULL});
    const FluxModelFiles none = {0};
    expect_load_error(&none, FLUX_ERROR_ARGUMENT,
                      (const char *const[]){"the transformer file", NULL});

    /* the tiny VAE's config from its shapes (config_infer.h): its channels are not FLUX.1's,
     * so the GroupNorm groups no shape shows are not taken from the built-in config */
    const FluxModelFiles all = {
        .tokenizers = tok, .transformer = tr, .vae = vae, .clip_l = clip, .t5 = t5};
    expect_load_error(&all, FLUX_ERROR_MODEL,
                      (const char *const[]){vae, "block_out_channels [8,16,16,16]",
                                            "FLUX.1's is [128,256,512,512]",
                                            "number of GroupNorm groups", "vae_orig.json", NULL});
    /* the same at the module level, without the hint */
    GError *err = NULL;
    CfgJson *c = defaults_config(DEFAULTS_CLIP_L, &err);
    StArchive *a = ckpt_open_clip(clip, &err);
    g_assert_no_error(err);
    g_assert_null(clip_load(c, a, &err));
    g_assert_error(err, FLUX_ERROR, FLUX_ERROR_MODEL);
    g_assert_nonnull(strstr(err->message, "has shape [49408, 32], expected [49408, 768]"));
    g_clear_error(&err);
    cfg_free(c);

    /* a folder without tokenizers (configs only, as /work/shared/flux1_files has them) */
    g_autofree char *empty = tu_temp_dir();
    const FluxModelFiles bad_tok = {
        .tokenizers = empty, .transformer = tr, .vae = vae, .clip_l = clip, .t5 = t5};
    expect_load_error(&bad_tok, FLUX_ERROR_IO, (const char *const[]){"tokenizer", NULL});
}

/* ------------------------------------------------------------------------------------- */
/* flux-generate                                                                         */

typedef struct {
    int status;
    char *err;
} Cli;

static Cli cli(const char *const *args)
{
    GPtrArray *argv = g_ptr_array_new();
    g_ptr_array_add(argv, (gpointer)g_getenv("FLUX_GENERATE"));
    for (const char *const *a = args; *a; a++) g_ptr_array_add(argv, (gpointer)*a);
    g_ptr_array_add(argv, NULL);
    Cli r = {0};
    int wait = 0;
    GError *e = NULL;
    g_assert_true(g_spawn_sync(NULL, (char **)argv->pdata, NULL, G_SPAWN_STDOUT_TO_DEV_NULL, NULL,
                               NULL, NULL, &r.err, &wait, &e));
    g_assert_no_error(e);
    g_ptr_array_free(argv, TRUE);
    g_assert_true(WIFEXITED(wait));
    r.status = WEXITSTATUS(wait);
    return r;
}

static void expect_cli(const char *const *args, int status, const char *needle)
{
    Cli r = cli(args);
    if (r.status != status || !strstr(r.err, needle))
        g_test_fail_printf("status %d (expected %d), stderr '%s' (expected '%s')", r.status, status,
                           r.err, needle);
    char *nl = strchr(r.err, '\n');
    if (status && (!nl || nl[1])) g_test_fail_printf("stderr is not one line: '%s'", r.err);
    g_free(r.err);
}

static void test_cli(void)
{
    if (!g_getenv("FLUX_GENERATE")) {
        g_test_skip("FLUX_GENERATE is not set");
        return;
    }
    g_autofree char *model = tu_model_path(NULL);
    g_autofree char *tr = tu_converted("transformer_Q8_0.gguf");
    g_autofree char *tr32 = tu_converted("transformer_orig.safetensors");
    g_autofree char *vae = tu_converted("vae_orig.safetensors");
    g_autofree char *clip = tu_converted("clip_prefixed.safetensors");
    g_autofree char *t5 = tu_converted("t5_prefixed.safetensors");
    g_autofree char *out = tu_converted("cli.png");
    g_autofree char *ref = tu_converted("cli_ref.png");
#define RUN                                                                                        \
    "--prompt", "a photo of a cat", "--width", "32", "--height", "32", "--steps", "2", "--seed",   \
        "1", "--max-sequence-length", "16", "--quiet"
    /* the lossless files with the folder give the folder's image, byte for byte */
    expect_cli((const char *const[]){"--model", model, RUN, "-o", ref, NULL}, 0, "");
    expect_cli((const char *const[]){"--model", model, "--transformer", tr32, "--vae", vae,
                                     "--clip-l", clip, "--t5", t5, RUN, "-o", out, NULL},
               0, "");
    gchar *a, *b;
    gsize na, nb;
    g_assert_true(g_file_get_contents(ref, &a, &na, NULL));
    g_assert_true(g_file_get_contents(out, &b, &nb, NULL));
    g_assert_cmpmem(a, na, b, nb);
    g_free(a), g_free(b);
    /* a quantized transformer alone, and a tokenizers folder given apart */
    expect_cli((const char *const[]){"--model", model, "--transformer", tr, "--tokenizers", model,
                                     RUN, "-o", out, NULL},
               0, "");
    /* no --model: everything is needed, and the tiny VAE's groups cannot be read */
    expect_cli((const char *const[]){"--transformer", tr, RUN, "-o", out, NULL}, 2,
               "without --model, --vae FILE, --clip-l FILE, --t5 FILE, --tokenizers DIR are "
               "required");
    expect_cli((const char *const[]){"--transformer", tr, "--vae", vae, "--clip-l", clip,
                                     "--tokenizers", model, RUN, "-o", out, NULL},
               2, "without --model, --t5 FILE is required");
    expect_cli((const char *const[]){RUN, "-o", out, NULL}, 2, "--model DIR");
    expect_cli((const char *const[]){"--transformer", tr, "--vae", vae, "--clip-l", clip, "--t5",
                                     t5, "--tokenizers", model, RUN, "-o", out, NULL},
               1, "its number of GroupNorm groups cannot be read from its tensors");
    expect_cli((const char *const[]){"--model", model, "--transformer", vae, RUN, "-o", out, NULL},
               1, vae);
#undef RUN
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    if (!tu_python_with_numpy()) {
        /* a TAP skip plan: meson's TAP protocol reports SKIP for it, but ERROR for exit 77 */
        printf(
            "1..0 # SKIP python3 with numpy not found (needed by tests/convert_checkpoint.py)\n");
        return 0;
    }
    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *path = g_strdup_printf("/formats/generate/%s", cases[i].name);
        g_test_add_data_func(path, &cases[i], test_case);
    }
    g_test_add_func("/formats/schnell-variant", test_schnell_variant);
    g_test_add_func("/formats/info", test_info);
    g_test_add_func("/formats/inferred-transformer-config", test_inferred_transformer);
    g_test_add_func("/formats/builtin-configs", test_defaults);
    g_test_add_func("/formats/no-folder", test_no_folder);
    g_test_add_func("/formats/cli", test_cli);
    return g_test_run();
}
