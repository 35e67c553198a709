/* test_model_check.c — finding and checking a model before a run (flux_model_locate,
 * flux_model_check, flux_model_load_path): the problems an artist meets (a path that does not
 * exist, a partial download, an interrupted download, a transformer file whose companions are
 * elsewhere) reported with the right kind, part, path and sizes; a ComfyUI models/ tree built
 * from the tiny reference's weight files found and accepted. */
#include "flux.h"
#include "testutil.h"

#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

/* <dst>/<name> → <src>/<name> for every entry of the tiny model except `skip` (may be NULL). */
static char *mirror_tiny(const char *skip)
{
    g_autofree char *src = tu_model_path(NULL);
    char *dst = tu_temp_dir();
    GDir *d = g_dir_open(src, 0, NULL);
    g_assert_nonnull(d);
    for (const char *n; (n = g_dir_read_name(d));) {
        if (skip && strcmp(n, skip) == 0) continue;
        g_autofree char *from = g_build_filename(src, n, NULL);
        g_autofree char *to = g_build_filename(dst, n, NULL);
        g_assert_cmpint(symlink(from, to), ==, 0);
    }
    g_dir_close(d);
    return dst;
}

static void link_file(const char *from_sub, const char *to)
{
    g_autofree char *from = tu_model_path(from_sub);
    g_autofree char *dir = g_path_get_dirname(to);
    g_assert_cmpint(g_mkdir_with_parents(dir, 0755), ==, 0);
    g_assert_cmpint(symlink(from, to), ==, 0);
}

static void expect_problem(const char *path, const char *tokenizers, FluxModelProblemKind kind,
                           FluxProblemPart part, const char *path_end, FluxModelProblem *pb)
{
    GError *err = NULL;
    g_assert_false(flux_model_check(path, tokenizers, NULL, pb, &err));
    g_assert_nonnull(err);
    g_test_message("%s → %s", path, err->message);
    g_assert_cmpint(pb->kind, ==, kind);
    g_assert_cmpint(pb->part, ==, part);
    g_assert_nonnull(pb->path);
    if (!g_str_has_suffix(pb->path, path_end))
        g_test_fail_printf("problem path %s does not end in %s", pb->path, path_end);
    g_error_free(err);
}

static void test_folder(void)
{
    g_autofree char *tiny = tu_model_path(NULL);
    FluxModelInfo info, probed;
    FluxModelProblem pb = {0};
    GError *err = NULL;
    g_assert_true(flux_model_check(tiny, NULL, &info, &pb, &err));
    g_assert_no_error(err);
    g_assert_cmpint(pb.kind, ==, FLUX_MODEL_PROBLEM_NONE);
    g_assert_true(flux_model_probe(tiny, &probed, NULL));
    g_assert_cmpmem(&info, sizeof info, &probed, sizeof probed);

    expect_problem("/nonexistent/FLUX.1-dev", NULL, FLUX_MODEL_PROBLEM_NOT_FOUND,
                   FLUX_MODEL_PART_NONE, "/nonexistent/FLUX.1-dev", &pb);
    g_autofree char *empty = tu_temp_dir();
    expect_problem(empty, NULL, FLUX_MODEL_PROBLEM_NOT_A_MODEL, FLUX_MODEL_PART_NONE, empty, &pb);

    /* a partial download: no transformer/ yet */
    g_autofree char *partial = mirror_tiny("transformer");
    expect_problem(partial, NULL, FLUX_MODEL_PROBLEM_MISSING, FLUX_MODEL_PART_TRANSFORMER,
                   "/transformer", &pb);
    /* no tokenizers in the folder: fine when a tokenizers folder is given */
    g_autofree char *no_tok = mirror_tiny("tokenizer_2");
    expect_problem(no_tok, NULL, FLUX_MODEL_PROBLEM_MISSING, FLUX_MODEL_PART_TOKENIZERS,
                   "/tokenizer", &pb);
    g_assert_true(flux_model_check(no_tok, tiny, NULL, &pb, NULL));
    FluxModel *m = flux_model_load_path(no_tok, tiny, &err);
    g_assert_no_error(err);
    g_assert_true(flux_model_uses_guidance(m) == probed.uses_guidance);
    flux_model_free(m);
    flux_model_problem_clear(&pb);
}

/* An interrupted download: the transformer's weights cut 1000 bytes short. */
static void test_truncated(void)
{
    g_autofree char *dir = mirror_tiny("transformer");
    g_autofree char *tr = g_build_filename(dir, "transformer", NULL);
    g_assert_cmpint(g_mkdir(tr, 0755), ==, 0);
    g_autofree char *cfg_to = g_build_filename(tr, "config.json", NULL);
    link_file("transformer/config.json", cfg_to);
    g_autofree char *src = tu_model_path("transformer/diffusion_pytorch_model.safetensors");
    g_autofree char *data = NULL;
    gsize len;
    g_assert_true(g_file_get_contents(src, &data, &len, NULL));
    g_autofree char *cut = g_build_filename(tr, "diffusion_pytorch_model.safetensors", NULL);
    g_assert_true(g_file_set_contents(cut, data, (gssize)len - 1000, NULL));

    FluxModelProblem pb = {0};
    expect_problem(dir, NULL, FLUX_MODEL_PROBLEM_TRUNCATED, FLUX_MODEL_PART_TRANSFORMER,
                   "diffusion_pytorch_model.safetensors", &pb);
    g_assert_cmpuint(pb.expected_bytes, ==, len);
    g_assert_cmpuint(pb.actual_bytes, ==, len - 1000);

    /* cut inside the header: still "incomplete", the header's own length expected */
    g_assert_true(g_file_set_contents(cut, data, 20, NULL));
    expect_problem(dir, NULL, FLUX_MODEL_PROBLEM_TRUNCATED, FLUX_MODEL_PART_TRANSFORMER,
                   "diffusion_pytorch_model.safetensors", &pb);
    g_assert_cmpuint(pb.actual_bytes, ==, 20);
    g_assert_cmpuint(pb.expected_bytes, >, 20);
    /* not a safetensors file at all */
    g_assert_true(g_file_set_contents(cut, "<html>404 Not Found</html>", -1, NULL));
    expect_problem(dir, NULL, FLUX_MODEL_PROBLEM_DAMAGED, FLUX_MODEL_PART_TRANSFORMER,
                   "diffusion_pytorch_model.safetensors", &pb);
    flux_model_problem_clear(&pb);
}

/* models/unet, models/vae, models/clip, models/text_encoders as ComfyUI has them. */
static char *comfy_tree(gboolean with_vae)
{
    char *root = tu_temp_dir();
    const struct {
        const char *from, *to;
    } files[] = {
        {"transformer/diffusion_pytorch_model.safetensors", "unet/flux1-dev.safetensors"},
        {"vae/diffusion_pytorch_model.safetensors", "vae/ae.safetensors"},
        {"text_encoder/model.safetensors", "clip/clip_l.safetensors"},
        {"text_encoder_2/model.safetensors", "text_encoders/t5xxl_fp16.safetensors"},
        {"text_encoder_2/model.safetensors", "text_encoders/t5xxl_fp8_e4m3fn.safetensors"},
        /* what the tiny model's shapes do not show (docs/FORMATS.md, "Single files") */
        {"transformer/config.json", "unet/flux1-dev.json"},
        {"vae/config.json", "vae/ae.json"},
        {"text_encoder/config.json", "clip/clip_l.json"},
    };
    for (guint i = 0; i < G_N_ELEMENTS(files); i++) {
        if (!with_vae && g_str_has_prefix(files[i].to, "vae/")) continue;
        g_autofree char *to = g_build_filename(root, files[i].to, NULL);
        link_file(files[i].from, to);
    }
    return root;
}

static void test_comfy_tree(void)
{
    g_autofree char *tiny = tu_model_path(NULL);
    g_autofree char *root = comfy_tree(TRUE);
    g_autofree char *file = g_build_filename(root, "unet", "flux1-dev.safetensors", NULL);
    FluxModelFiles f;
    FluxModelProblem pb = {0};
    GError *err = NULL;
    g_assert_true(flux_model_locate(file, tiny, &f, &pb, &err));
    g_assert_no_error(err);
    g_autofree char *vae = g_build_filename(root, "vae", "ae.safetensors", NULL);
    g_autofree char *clip = g_build_filename(root, "clip", "clip_l.safetensors", NULL);
    /* the first T5 by name: fp16 before fp8 */
    g_autofree char *t5 = g_build_filename(root, "text_encoders", "t5xxl_fp16.safetensors", NULL);
    g_assert_cmpstr(f.transformer, ==, file);
    g_assert_cmpstr(f.vae, ==, vae);
    g_assert_cmpstr(f.clip_l, ==, clip);
    g_assert_cmpstr(f.t5, ==, t5);
    g_assert_cmpstr(f.tokenizers, ==, tiny);
    flux_model_files_clear(&f);

    /* the check reads the transformer's shapes: the tiny model's config, from the file */
    FluxModelInfo info, probed;
    g_assert_true(flux_model_check(file, tiny, &info, &pb, &err));
    g_assert_no_error(err);
    g_assert_true(flux_model_probe(tiny, &probed, NULL));
    g_assert_cmpint(info.uses_guidance, ==, probed.uses_guidance);
    g_assert_cmpint(info.num_layers, ==, probed.num_layers);
    g_assert_cmpint(info.num_single_layers, ==, probed.num_single_layers);
    g_assert_cmpint(info.inner_dim, ==, probed.inner_dim);
    g_assert_cmpint(info.default_steps, ==, probed.uses_guidance ? 28 : 4);
    g_assert_cmpuint(info.weight_bytes, >, 0);

    /* no tokenizers anywhere */
    expect_problem(file, NULL, FLUX_MODEL_PROBLEM_MISSING, FLUX_MODEL_PART_TOKENIZERS, "unet", &pb);
    /* the VAE picked as if it were the transformer */
    expect_problem(vae, tiny, FLUX_MODEL_PROBLEM_NOT_A_MODEL, FLUX_MODEL_PART_TRANSFORMER,
                   "ae.safetensors", &pb);
    flux_model_problem_clear(&pb);
}

/* The tiny ComfyUI tree of tests/comfy_tree.py: with the configs beside its files the check
 * passes and takes T5's and the VAE's sizes from their shapes (the tiny model's, not FLUX.1's
 * 4096 and 16); without one, or with one of another file, it names the file and the config
 * it needs, as loading it would. */
static void test_comfy_needs_config(void)
{
    if (!tu_python_with_numpy()) {
        g_test_skip("python3 with numpy not found (needed by tests/comfy_tree.py)");
        return;
    }
    g_autofree char *tiny = tu_model_path(NULL);
    g_autofree char *root = tu_temp_dir();
    tu_run_python_script("comfy_tree.py", tiny, root, NULL);
    g_autofree char *models = g_build_filename(root, "models", NULL);
    g_autofree char *tr =
        g_build_filename(models, "diffusion_models", "flux1-tiny-dev.safetensors", NULL);
    g_autofree char *clip = g_build_filename(models, "text_encoders", "clip_l.safetensors", NULL);
    g_autofree char *clip_cfg = g_build_filename(models, "text_encoders", "clip_l.json", NULL);
    g_autofree char *tr_cfg =
        g_build_filename(models, "diffusion_models", "flux1-tiny-dev.json", NULL);
    FluxModelInfo info, probed;
    FluxModelProblem pb = {0};
    GError *err = NULL;
    g_assert_true(flux_model_check(tr, tiny, &info, &pb, &err));
    g_assert_no_error(err);
    g_assert_true(flux_model_probe(tiny, &probed, NULL));
    g_test_message("T5 width %d, VAE latent channels %d (FLUX.1: 4096, 16)", info.t5_d_model,
                   info.vae_channels);
    g_assert_cmpint(info.t5_d_model, ==, probed.t5_d_model);
    g_assert_cmpint(info.vae_channels, ==, probed.vae_channels);
    g_assert_cmpint(info.t5_d_model, !=, 4096);

    /* CLIP's 4 heads show in no tensor: without clip_l.json the file is refused */
    g_autofree char *moved = g_strconcat(clip_cfg, ".away", NULL);
    g_assert_cmpint(g_rename(clip_cfg, moved), ==, 0);
    expect_problem(tr, tiny, FLUX_MODEL_PROBLEM_NEEDS_CONFIG, FLUX_MODEL_PART_CLIP_L,
                   "text_encoders/clip_l.safetensors", &pb);
    g_assert_cmpstr(pb.path, ==, clip);
    g_assert_cmpstr(pb.looked, ==, clip_cfg);
    /* the loader stops on the same file */
    FluxModel *m = flux_model_load_path(tr, tiny, &err);
    g_assert_null(m);
    g_assert_nonnull(err);
    g_assert_nonnull(strstr(err->message, "clip_l"));
    g_clear_error(&err);

    /* a config of another CLIP beside it (FLUX.1's width, not the file's 32): refused */
    g_assert_true(g_file_set_contents(clip_cfg, "{\"hidden_size\": 768}", -1, NULL));
    expect_problem(tr, tiny, FLUX_MODEL_PROBLEM_NEEDS_CONFIG, FLUX_MODEL_PART_CLIP_L,
                   "text_encoders/clip_l.safetensors", &pb);
    g_assert_cmpint(g_rename(moved, clip_cfg), ==, 0);

    /* the transformer's rope axes (head dim 16, not 128) likewise */
    g_autofree char *tr_moved = g_strconcat(tr_cfg, ".away", NULL);
    g_assert_cmpint(g_rename(tr_cfg, tr_moved), ==, 0);
    expect_problem(tr, tiny, FLUX_MODEL_PROBLEM_NEEDS_CONFIG, FLUX_MODEL_PART_TRANSFORMER,
                   "flux1-tiny-dev.safetensors", &pb);
    g_assert_cmpstr(pb.looked, ==, tr_cfg);
    g_assert_cmpint(g_rename(tr_moved, tr_cfg), ==, 0);
    g_assert_true(flux_model_check(tr, tiny, NULL, &pb, NULL));
    flux_model_problem_clear(&pb);
}

static void test_comfy_missing_vae(void)
{
    g_autofree char *tiny = tu_model_path(NULL);
    g_autofree char *root = comfy_tree(FALSE);
    g_autofree char *file = g_build_filename(root, "unet", "flux1-dev.safetensors", NULL);
    FluxModelProblem pb = {0};
    expect_problem(file, tiny, FLUX_MODEL_PROBLEM_MISSING, FLUX_MODEL_PART_VAE, "unet", &pb);
    /* it looked beside the file; there is no vae/ folder to look in */
    g_autofree char *unet = g_build_filename(root, "unet", NULL);
    g_assert_cmpstr(pb.looked, ==, unet);
    /* an empty vae/ folder is looked in too */
    g_autofree char *vdir = g_build_filename(root, "vae", NULL);
    g_assert_cmpint(g_mkdir(vdir, 0755), ==, 0);
    expect_problem(file, tiny, FLUX_MODEL_PROBLEM_MISSING, FLUX_MODEL_PART_VAE, "unet", &pb);
    g_autofree char *both = g_strconcat(unet, "\n", vdir, NULL);
    g_assert_cmpstr(pb.looked, ==, both);
    /* all in one folder: companions beside the file */
    g_autofree char *flat = tu_temp_dir();
    g_autofree char *t = g_build_filename(flat, "flux1-schnell.safetensors", NULL);
    g_autofree char *a = g_build_filename(flat, "ae.safetensors", NULL);
    g_autofree char *c = g_build_filename(flat, "clip_l.safetensors", NULL);
    g_autofree char *x = g_build_filename(flat, "t5xxl_fp8_e4m3fn.safetensors", NULL);
    link_file("transformer/diffusion_pytorch_model.safetensors", t);
    link_file("vae/diffusion_pytorch_model.safetensors", a);
    link_file("text_encoder/model.safetensors", c);
    link_file("text_encoder_2/model.safetensors", x);
    FluxModelFiles f;
    g_assert_true(flux_model_locate(t, tiny, &f, &pb, NULL));
    g_assert_cmpstr(f.vae, ==, a);
    g_assert_cmpstr(f.clip_l, ==, c);
    g_assert_cmpstr(f.t5, ==, x);
    flux_model_files_clear(&f);
    flux_model_problem_clear(&pb);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/model-check/folder", test_folder);
    g_test_add_func("/model-check/truncated", test_truncated);
    g_test_add_func("/model-check/comfy-tree", test_comfy_tree);
    g_test_add_func("/model-check/comfy-missing-vae", test_comfy_missing_vae);
    g_test_add_func("/model-check/comfy-needs-config", test_comfy_needs_config);
    return g_test_run();
}
