/* test_vae_encoder.c — AutoencoderKL.encode against the `vae_enc_*` goldens of
 * ../shared/reference/tiny-flux-dev/golden/edit/ (diffusers 0.32.2): the picture's
 * preprocessing, mean, logvar, std and the posterior sample with the shared generator; a file
 * without an encoder; bad sizes. */
#include "edit.h"
#include "flux.h"
#include "testutil.h"
#include "vae.h"

#include <math.h>
#include <string.h>

/* README §3: max|diff| <= 1e-4 · max(1, max|ref|). */
#define TOL  1e-4
#define EDIT "edit/edit.safetensors"

static VaeModel *load_vae(const char *dir)
{
    GError *err = NULL;
    VaeModel *m = tu_vae_dir(dir, &err);
    g_assert_no_error(err);
    g_assert_nonnull(m);
    return m;
}

static char *vae_dir(void)
{
    g_autofree char *rel = tu_model_path("vae");
    return g_canonicalize_filename(rel, NULL);
}

/* One vae_enc_<HxW> case: x, mean, logvar, std, sample_seed<s>. Returns the worst relative
 * difference. */
static double check_case(const VaeModel *m, const char *size, int H, int W, guint64 seed)
{
    g_autofree char *k_u8 = g_strdup_printf("vae_enc_%s.image_u8", size);
    g_autofree char *k_x = g_strdup_printf("vae_enc_%s.x", size);
    g_autofree char *k_mean = g_strdup_printf("vae_enc_%s.mean", size);
    g_autofree char *k_lv = g_strdup_printf("vae_enc_%s.logvar", size);
    g_autofree char *k_std = g_strdup_printf("vae_enc_%s.std", size);
    g_autofree char *k_s = g_strdup_printf("vae_enc_%s.sample_seed%" G_GUINT64_FORMAT, size, seed);
    const StTensor *u8 = tu_golden_tensor(EDIT, k_u8);
    g_assert_cmpint(u8->shape[0], ==, H);
    g_assert_cmpint(u8->shape[1], ==, W);
    size_t N = (size_t)H * W, n = (size_t)16 * (H / 8) * (W / 8);
    g_autofree float *x = g_new(float, 3 * N);
    edit_image_to_vae(u8->data, H, W, x);
    double worst = tu_assert_close_t("x = u8/255·2−1", x, tu_golden_tensor(EDIT, k_x), 0.0);

    g_autofree float *mean = g_new(float, n);
    g_autofree float *logvar = g_new(float, n);
    g_autofree float *std = g_new(float, n);
    g_autofree float *sample = g_new(float, n);
    GError *err = NULL;
    g_assert_true(vae_encode(m, x, H, W, mean, logvar, NULL, &err));
    g_assert_no_error(err);
    for (size_t i = 0; i < n; i++) std[i] = expf(0.5f * logvar[i]);
    worst = fmax(worst, tu_assert_close_t(k_mean, mean, tu_golden_tensor(EDIT, k_mean), TOL));
    worst = fmax(worst, tu_assert_close_t(k_lv, logvar, tu_golden_tensor(EDIT, k_lv), TOL));
    worst = fmax(worst, tu_assert_close_t(k_std, std, tu_golden_tensor(EDIT, k_std), TOL));
    FluxRng rng;
    rng_seed(&rng, seed);
    edit_posterior_sample(&rng, mean, logvar, n, sample);
    worst = fmax(worst, tu_assert_close_t(k_s, sample, tu_golden_tensor(EDIT, k_s), TOL));
    return worst;
}

static void test_golden(void)
{
    g_autofree char *dir = vae_dir();
    VaeModel *m = load_vae(dir);
    g_assert_true(vae_has_encoder(m));
    double a = check_case(m, "64x64", 64, 64, 5), b = check_case(m, "48x80", 48, 80, 6);
    g_test_message("worst relative max diff: 64x64 %.3g, 48x80 %.3g", a, b);
    vae_free(m);
}

/* The encoder's stages reach the trace hook with their shapes. */
static void test_trace(void)
{
    g_autofree char *dir = vae_dir();
    VaeModel *m = load_vae(dir);
    GHashTable *seen = tu_capture_new();
    FluxTrace t = {tu_capture_trace, seen};
    g_autofree float *x = g_new0(float, 3 * 32 * 32);
    g_autofree float *mean = g_new(float, 16 * 4 * 4);
    g_autofree float *lv = g_new(float, 16 * 4 * 4);
    g_assert_true(vae_encode(m, x, 32, 32, mean, lv, &t, NULL));
    const char *names[] = {"encoder.conv_in", "encoder.down_block.0", "encoder.down_block.3",
                           "encoder.mid_block", "encoder.conv_out"};
    for (gsize i = 0; i < G_N_ELEMENTS(names); i++)
        g_assert_nonnull(g_hash_table_lookup(seen, names[i]));
    g_hash_table_destroy(seen);
    vae_free(m);
}

/* With the encoder bound, the tiny VAE file has no unused tensor left. */
static void test_all_bound(void)
{
    g_autofree char *dir = vae_dir();
    VaeModel *m = load_vae(dir);
    g_assert_cmpuint(vae_unused_tensors(m, NULL), ==, 0);
    vae_free(m);
}

/* Writes `src`'s weights without the encoder.* tensors to dir (python, like test_vae's
 * variants). */
static void test_no_encoder(void)
{
    const char *py = tu_python_with_numpy();
    if (!py) {
        g_test_skip("no python with numpy");
        return;
    }
    g_autofree char *src = vae_dir();
    g_autofree char *dir = tu_variant_dir(src, (TuCfgEdit[]){{NULL, NULL}}, NULL);
    g_autofree char *script = g_strdup_printf(
        "import json,struct,sys\n"
        "b=open(sys.argv[1],'rb').read();n=struct.unpack('<Q',b[:8])[0];h=json.loads(b[8:8+n])\n"
        "out={};data=b''\n"
        "for k,v in h.items():\n"
        "  if k=='__metadata__' or k.startswith('encoder.'): continue\n"
        "  s,e=v['data_offsets'];d=b[8+n+s:8+n+e]\n"
        "  out[k]=dict(v,data_offsets=[len(data),len(data)+len(d)]);data+=d\n"
        "j=json.dumps(out).encode();j+=b' '*(-len(j)%%8)\n"
        "open(sys.argv[2],'wb').write(struct.pack('<Q',len(j))+j+data)\n");
    g_autofree char *in = g_build_filename(src, "diffusion_pytorch_model.safetensors", NULL);
    g_autofree char *out = g_build_filename(dir, "diffusion_pytorch_model.safetensors", NULL);
    const char *argv[] = {py, "-c", script, in, out, NULL};
    int status = 0;
    GError *err = NULL;
    g_assert_true(g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, NULL, NULL,
                               &status, &err));
    g_assert_no_error(err);
    g_assert_true(g_spawn_check_wait_status(status, NULL));
    VaeModel *m = load_vae(dir);
    g_assert_false(vae_has_encoder(m));
    float x[3 * 16 * 16] = {0}, mean[16 * 4], lv[16 * 4];
    g_assert_false(vae_encode(m, x, 16, 16, mean, lv, NULL, &err));
    tu_expect_error(&err, FLUX_ERROR_MODEL, (const char *const[]){"no VAE encoder", NULL});
    vae_free(m);
}

static void test_bad_size(void)
{
    g_autofree char *dir = vae_dir();
    VaeModel *m = load_vae(dir);
    float x[3 * 16 * 20] = {0}, mean[64], lv[64];
    GError *err = NULL;
    g_assert_false(vae_encode(m, x, 16, 20, mean, lv, NULL, &err));
    tu_expect_error(&err, FLUX_ERROR_ARGUMENT, (const char *const[]){"20×16", "multiples", NULL});
    vae_free(m);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/vae-encoder/golden", test_golden);
    g_test_add_func("/vae-encoder/trace", test_trace);
    g_test_add_func("/vae-encoder/all-bound", test_all_bound);
    g_test_add_func("/vae-encoder/no-encoder", test_no_encoder);
    g_test_add_func("/vae-encoder/bad-size", test_bad_size);
    return g_test_run();
}
