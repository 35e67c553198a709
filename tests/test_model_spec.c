/* test_model_spec.c — a model as one string, PATH;vae=FILE;clip_l=FILE;t5=FILE
 * (flux_model_spec_parse / _format, flux_model_resolve, and flux_model_check /
 * flux_model_load_path taking it): the syntax with its edge cases, companions chosen by hand
 * checked for their part, and a render from chosen companions equal to the plain folder's,
 * while a changed chosen VAE changes the picture (so the chosen file is the one used). */
#include "flux.h"
#include "testutil.h"

#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

static void expect_parse(const char *text, const char *path, const char *vae, const char *clip_l,
                         const char *t5)
{
    FluxModelSpec s;
    GError *err = NULL;
    g_assert_true(flux_model_spec_parse(text, &s, &err));
    g_assert_no_error(err);
    g_assert_cmpstr(s.path, ==, path);
    g_assert_cmpstr(s.vae, ==, vae);
    g_assert_cmpstr(s.clip_l, ==, clip_l);
    g_assert_cmpstr(s.t5, ==, t5);
    flux_model_spec_clear(&s);
}

static void expect_bad(const char *text, const char *named)
{
    FluxModelSpec s;
    GError *err = NULL;
    g_assert_false(flux_model_spec_parse(text, &s, &err));
    g_assert_error(err, FLUX_ERROR, FLUX_ERROR_ARGUMENT);
    g_test_message("%s → %s", text, err->message);
    if (!strstr(err->message, named))
        g_test_fail_printf("“%s” does not name “%s”", err->message, named);
    g_error_free(err);
    flux_model_spec_clear(&s);
}

static void test_parse(void)
{
    /* a plain path, as every setting written before this syntax */
    expect_parse("/m/flux1-dev.gguf", "/m/flux1-dev.gguf", NULL, NULL, NULL);
    expect_parse("/m/unet/flux1-dev.gguf;vae=/m/vae/ae.safetensors;clip_l=/c/clip_l.safetensors;"
                 "t5=/c/t5xxl_fp16.safetensors",
                 "/m/unet/flux1-dev.gguf", "/m/vae/ae.safetensors", "/c/clip_l.safetensors",
                 "/c/t5xxl_fp16.safetensors");
    /* any order, any subset, blanks around parts dropped, an empty file = not chosen */
    expect_parse(" /m/x.gguf ; t5= /c/t5.gguf ;vae=", "/m/x.gguf", NULL, NULL, "/c/t5.gguf");
    /* relative files are read from the transformer's folder */
    expect_parse("/m/unet/x.safetensors;vae=../vae/ae.safetensors;clip_l=clip_l.safetensors",
                 "/m/unet/x.safetensors", "/m/unet/../vae/ae.safetensors",
                 "/m/unet/clip_l.safetensors", NULL);
    /* a ';' not followed by word= stays in the path or file */
    expect_parse("/m/a;b/x.gguf;vae=/v;1.safetensors", "/m/a;b/x.gguf", "/v;1.safetensors", NULL,
                 NULL);
    /* an existing path is taken whole, even when it reads like the syntax */
    g_autofree char *tmp = tu_temp_dir();
    g_autofree char *odd = g_build_filename(tmp, "FLUX;vae=odd", NULL);
    g_assert_cmpint(g_mkdir(odd, 0755), ==, 0);
    expect_parse(odd, odd, NULL, NULL, NULL);
    /* inside a folder PATH, relative files are read from inside it */
    g_autofree char *spec = g_strconcat(tmp, ";vae=vae/ae.safetensors", NULL);
    g_autofree char *inside = g_build_filename(tmp, "vae", "ae.safetensors", NULL);
    expect_parse(spec, tmp, inside, NULL, NULL);
    g_rmdir(odd);
    g_rmdir(tmp);

    expect_bad("/m/x.gguf;clip=/c/clip_l.safetensors", "clip=");
    expect_bad("/m/x.gguf;vae=/a;vae=/b", "vae=");
    expect_bad("", "names no model");
    expect_bad(";vae=/v/ae.safetensors", "names no model");
}

static void test_format(void)
{
    FluxModelSpec s = {.path = "/m/x.gguf", .t5 = "/c/t5.gguf", .vae = "/v/ae.safetensors"};
    g_autofree char *text = flux_model_spec_format(&s);
    g_assert_cmpstr(text, ==, "/m/x.gguf;vae=/v/ae.safetensors;t5=/c/t5.gguf");
    FluxModelSpec back;
    g_assert_true(flux_model_spec_parse(text, &back, NULL));
    g_assert_cmpstr(back.path, ==, s.path);
    g_assert_cmpstr(back.vae, ==, s.vae);
    g_assert_null(back.clip_l);
    g_assert_cmpstr(back.t5, ==, s.t5);
    flux_model_spec_clear(&back);
    FluxModelSpec plain = {.path = "/m/FLUX.1-dev"};
    g_autofree char *p = flux_model_spec_format(&plain);
    g_assert_cmpstr(p, ==, "/m/FLUX.1-dev");
}

/* A copy (not a link) of a tiny-model file under another name; `perturb`: every even data
 * byte's lowest bit flipped (the low mantissa bits of f32 and bf16 weights, ~1e-2 relative at
 * most), so the weights differ but stay finite. */
static char *copy_weights(const char *dir, const char *sub, const char *name, gboolean perturb)
{
    g_autofree char *src = tu_model_path(sub);
    g_autofree char *data = NULL;
    gsize len;
    g_assert_true(g_file_get_contents(src, &data, &len, NULL));
    if (perturb) {
        guint64 n = 0;
        for (int i = 7; i >= 0; i--) n = n << 8 | (guint8)data[i];
        for (gsize i = 8 + n; i < len; i += 2) data[i] ^= 1;
    }
    char *to = g_build_filename(dir, name, NULL);
    g_assert_true(g_file_set_contents(to, data, (gssize)len, NULL));
    return to;
}

static guint8 *render(const char *model, int *w, int *h)
{
    GError *err = NULL;
    FluxModel *m = flux_model_load_path(model, NULL, &err);
    g_assert_no_error(err);
    FluxGenerateParams p;
    flux_generate_params_init(&p, m);
    p.prompt = "a red apple";
    p.width = 32, p.height = 48, p.steps = 2, p.seed = 7, p.max_sequence_length = 32;
    flux_output_size(&p, w, h);
    guint8 *rgb = g_malloc((gsize)*w * *h * 3);
    g_assert_true(flux_generate(m, &p, rgb, &err));
    g_assert_no_error(err);
    flux_model_free(m);
    return rgb;
}

static void test_chosen_companions(void)
{
    g_autofree char *tiny = tu_model_path(NULL);
    g_autofree char *dir = tu_temp_dir();
    g_autofree char *vae =
        copy_weights(dir, "vae/diffusion_pytorch_model.safetensors", "my-ae.safetensors", FALSE);
    g_autofree char *clip =
        copy_weights(dir, "text_encoder/model.safetensors", "my-clip.safetensors", FALSE);
    g_autofree char *t5 =
        copy_weights(dir, "text_encoder_2/model.safetensors", "my-t5.safetensors", FALSE);
    FluxModelSpec s = {.path = tiny, .vae = vae, .clip_l = clip, .t5 = t5};
    g_autofree char *spec = flux_model_spec_format(&s);

    FluxModelInfo info, plain;
    FluxModelProblem pb = {0};
    GError *err = NULL;
    g_assert_true(flux_model_check(spec, NULL, &info, &pb, &err));
    g_assert_no_error(err);
    g_assert_true(flux_model_check(tiny, NULL, &plain, NULL, NULL));
    g_assert_cmpint(info.num_layers, ==, plain.num_layers);

    FluxModelFiles f;
    g_assert_true(flux_model_resolve(spec, NULL, &f, &pb, &err));
    g_assert_cmpstr(f.folder, ==, tiny);
    g_assert_null(f.transformer);
    g_assert_cmpstr(f.vae, ==, vae);
    g_assert_cmpstr(f.clip_l, ==, clip);
    g_assert_cmpstr(f.t5, ==, t5);
    flux_model_files_clear(&f);

    /* the same files under other names: the same picture, byte for byte */
    int w, h, w2, h2;
    g_autofree guint8 *want = render(tiny, &w, &h);
    g_autofree guint8 *got = render(spec, &w2, &h2);
    g_assert_cmpint(w2, ==, w);
    g_assert_cmpint(h2, ==, h);
    g_assert_cmpmem(got, (gsize)w * h * 3, want, (gsize)w * h * 3);

    /* a VAE chosen with other weights is the one decoding: the picture moves */
    g_autofree char *vae2 =
        copy_weights(dir, "vae/diffusion_pytorch_model.safetensors", "other-ae.safetensors", TRUE);
    FluxModelSpec s2 = {.path = tiny, .vae = vae2};
    g_autofree char *spec2 = flux_model_spec_format(&s2);
    g_autofree guint8 *moved = render(spec2, &w2, &h2);
    int worst = 0;
    for (gsize i = 0; i < (gsize)w * h * 3; i++) worst = MAX(worst, ABS(moved[i] - want[i]));
    g_test_message("another VAE file moves the picture by up to %d/255", worst);
    g_assert_cmpint(worst, >, 0);
    flux_model_problem_clear(&pb);
}

static void expect_problem(const char *spec, FluxModelProblemKind kind, FluxProblemPart part,
                           const char *path)
{
    FluxModelProblem pb = {0};
    GError *err = NULL;
    g_assert_false(flux_model_check(spec, NULL, NULL, &pb, &err));
    g_test_message("%s → %s", spec, err->message);
    g_assert_cmpint(pb.kind, ==, kind);
    g_assert_cmpint(pb.part, ==, part);
    g_assert_cmpstr(pb.path, ==, path);
    if (path[0] && !strstr(err->message, path))
        g_test_fail_printf("“%s” does not name %s", err->message, path);
    g_error_free(err);
    flux_model_problem_clear(&pb);
}

static void test_wrong_companions(void)
{
    g_autofree char *tiny = tu_model_path(NULL);
    g_autofree char *clip = tu_model_path("text_encoder/model.safetensors");
    g_autofree char *vae = tu_model_path("vae/diffusion_pytorch_model.safetensors");
    /* CLIP-L's weights chosen as the VAE, the VAE's as T5 */
    g_autofree char *a = g_strconcat(tiny, ";vae=", clip, NULL);
    expect_problem(a, FLUX_MODEL_PROBLEM_NOT_A_MODEL, FLUX_MODEL_PART_VAE, clip);
    g_autofree char *b = g_strconcat(tiny, ";t5=", vae, NULL);
    expect_problem(b, FLUX_MODEL_PROBLEM_NOT_A_MODEL, FLUX_MODEL_PART_T5, vae);
    /* a file that is not there */
    g_autofree char *c = g_strconcat(tiny, ";clip_l=/nonexistent/clip_l.safetensors", NULL);
    expect_problem(c, FLUX_MODEL_PROBLEM_NOT_FOUND, FLUX_MODEL_PART_CLIP_L,
                   "/nonexistent/clip_l.safetensors");
    /* a typo in a part's name */
    g_autofree char *d = g_strconcat(tiny, ";clip-l=", clip, NULL);
    expect_problem(d, FLUX_MODEL_PROBLEM_SYNTAX, FLUX_MODEL_PART_NONE, "clip-l=");
    /* loading says the same before any weight is used */
    GError *err = NULL;
    g_assert_null(flux_model_load_path(d, NULL, &err));
    g_assert_error(err, FLUX_ERROR, FLUX_ERROR_ARGUMENT);
    g_clear_error(&err);
}

/* A transformer file with no companions beside it: each one chosen makes it whole, and renders
 * the folder's picture (the configs from the tensor shapes, core/pipeline/config_infer.c). */
static void test_file_with_chosen(void)
{
    g_autofree char *tiny = tu_model_path(NULL);
    g_autofree char *dir = tu_temp_dir();
    g_autofree char *tr = g_build_filename(dir, "flux1-dev.safetensors", NULL);
    g_autofree char *from = tu_model_path("transformer/diffusion_pytorch_model.safetensors");
    g_assert_cmpint(symlink(from, tr), ==, 0);
    /* the tiny sizes need their configs beside the files (docs/FORMATS.md, "Single files");
     * in a folder of their own, where the companions are not looked for */
    g_autofree char *chosen = g_build_filename(dir, "chosen", NULL);
    g_assert_cmpint(g_mkdir(chosen, 0755), ==, 0);
    const char *chosen_links[][2] = {
        {"transformer/config.json", "flux1-dev.json"},
        {"vae/diffusion_pytorch_model.safetensors", "chosen/my-vae.safetensors"},
        {"vae/config.json", "chosen/my-vae.json"},
        {"text_encoder/model.safetensors", "chosen/my-clip.safetensors"},
        {"text_encoder/config.json", "chosen/my-clip.json"}};
    for (guint i = 0; i < G_N_ELEMENTS(chosen_links); i++) {
        g_autofree char *src = tu_model_path(chosen_links[i][0]);
        g_autofree char *to = g_build_filename(dir, chosen_links[i][1], NULL);
        g_assert_cmpint(symlink(src, to), ==, 0);
    }
    g_autofree char *vae = g_build_filename(chosen, "my-vae.safetensors", NULL);
    g_autofree char *clip = g_build_filename(chosen, "my-clip.safetensors", NULL);
    g_autofree char *t5 = tu_model_path("text_encoder_2/model.safetensors");

    /* nothing beside it: the VAE is missing, and resolve still reports what it had */
    FluxModelFiles f;
    FluxModelProblem pb = {0};
    g_assert_false(flux_model_resolve(tr, tiny, &f, &pb, NULL));
    g_assert_cmpint(pb.kind, ==, FLUX_MODEL_PROBLEM_MISSING);
    g_assert_cmpint(pb.part, ==, FLUX_MODEL_PART_VAE);
    g_assert_cmpstr(f.transformer, ==, tr);
    g_assert_null(f.vae);
    g_assert_cmpstr(f.tokenizers, ==, tiny);
    flux_model_files_clear(&f);

    /* the VAE chosen: CLIP-L is the next one missing */
    FluxModelSpec s = {.path = tr, .vae = vae};
    g_autofree char *one = flux_model_spec_format(&s);
    g_assert_false(flux_model_check(one, tiny, NULL, &pb, NULL));
    g_assert_cmpint(pb.kind, ==, FLUX_MODEL_PROBLEM_MISSING);
    g_assert_cmpint(pb.part, ==, FLUX_MODEL_PART_CLIP_L);

    s.clip_l = clip, s.t5 = t5;
    g_autofree char *all = flux_model_spec_format(&s);
    FluxModelInfo info;
    GError *err = NULL;
    g_assert_true(flux_model_check(all, tiny, &info, &pb, &err));
    g_assert_no_error(err);
    g_assert_true(flux_model_resolve(all, tiny, &f, &pb, &err));
    g_assert_cmpstr(f.transformer, ==, tr);
    g_assert_cmpstr(f.vae, ==, vae);
    g_assert_cmpstr(f.clip_l, ==, clip);
    g_assert_cmpstr(f.t5, ==, t5);
    g_assert_cmpstr(f.tokenizers, ==, tiny);
    g_assert_null(f.folder);
    flux_model_files_clear(&f);
    flux_model_problem_clear(&pb);

    /* the four files alone, each with the config.json values no shape of this tiny model
     * shows beside it as <name>.json (docs/FORMATS.md), the tokenizers beside the
     * transformer (its flux1-dev.json is there from above): the folder's picture */
    const char *const links[][2] = {{"tokenizer", "tokenizer"},
                                    {"tokenizer_2", "tokenizer_2"},
                                    {"vae/diffusion_pytorch_model.safetensors", "ae.safetensors"},
                                    {"vae/config.json", "ae.json"},
                                    {"text_encoder/model.safetensors", "clip_l.safetensors"},
                                    {"text_encoder/config.json", "clip_l.json"}};
    g_autofree char *other = tu_temp_dir();
    for (guint i = 0; i < G_N_ELEMENTS(links); i++) {
        g_autofree char *src = tu_model_path(links[i][0]);
        g_autofree char *dst = g_build_filename(i < 2 ? dir : other, links[i][1], NULL);
        g_assert_cmpint(symlink(src, dst), ==, 0);
    }
    FluxModelSpec alone = {.path = tr, .t5 = t5};
    alone.vae = g_build_filename(other, "ae.safetensors", NULL);
    alone.clip_l = g_build_filename(other, "clip_l.safetensors", NULL);
    g_autofree char *files = flux_model_spec_format(&alone);
    g_free(alone.vae), g_free(alone.clip_l);
    int w, h, w2, h2;
    g_autofree guint8 *want = render(tiny, &w, &h);
    g_autofree guint8 *got = render(files, &w2, &h2);
    g_assert_cmpint(w2 * h2, ==, w * h);
    g_assert_cmpmem(got, (gsize)w * h * 3, want, (gsize)w * h * 3);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/model-spec/parse", test_parse);
    g_test_add_func("/model-spec/format", test_format);
    g_test_add_func("/model-spec/chosen-companions", test_chosen_companions);
    g_test_add_func("/model-spec/wrong-companions", test_wrong_companions);
    g_test_add_func("/model-spec/file-with-chosen", test_file_with_chosen);
    return g_test_run();
}
