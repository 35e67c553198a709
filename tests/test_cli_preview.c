/* test_cli_preview.c — flux-generate --preview-out: which step the PNG shows, both qualities
 * against the library and the final picture, no temporary file left, and bad options. */
#include "flux.h"
#include "safetensors.h"
#include "testutil.h"

#include <glib/gstdio.h>
#include <png.h>
#include <string.h>
#include <sys/wait.h>

/* Runs flux-generate on the tiny model (64×64, seed 3) with extra arguments; returns the
 * exit status and keeps stderr in *err_out when non-NULL. */
static int run_cli(const char *dir, const char *steps, char **err_out, const char *first, ...)
{
    g_autofree char *model = tu_model_path(NULL);
    g_autofree char *out = g_build_filename(dir, "out.png", NULL);
    g_autofree char *st = g_build_filename(dir, "out.safetensors", NULL);
    GPtrArray *argv = g_ptr_array_new();
    const char *fixed[] = {g_getenv("FLUX_GENERATE"),
                           "--model",
                           model,
                           "--prompt",
                           "a red fox",
                           "--width",
                           "64",
                           "--height",
                           "64",
                           "--seed",
                           "3",
                           "--steps",
                           steps,
                           "--max-sequence-length",
                           "32",
                           "--quiet",
                           "--output",
                           out,
                           "--save-tensors",
                           st};
    for (guint i = 0; i < G_N_ELEMENTS(fixed); i++) g_ptr_array_add(argv, (gpointer)fixed[i]);
    va_list ap;
    va_start(ap, first);
    for (const char *a = first; a; a = va_arg(ap, const char *)) g_ptr_array_add(argv, (gpointer)a);
    va_end(ap);
    g_ptr_array_add(argv, NULL);
    int wait = 0;
    char *err = NULL;
    g_assert_true(g_spawn_sync(NULL, (char **)argv->pdata, NULL, G_SPAWN_STDOUT_TO_DEV_NULL, NULL,
                               NULL, NULL, &err, &wait, NULL));
    g_ptr_array_free(argv, TRUE);
    g_test_message("stderr: %s", err);
    if (err_out)
        *err_out = err;
    else
        g_free(err);
    return WIFEXITED(wait) ? WEXITSTATUS(wait) : 128;
}

static void assert_no_temporaries(const char *dir)
{
    GDir *d = g_dir_open(dir, 0, NULL);
    for (const char *e; d && (e = g_dir_read_name(d));)
        if (strstr(e, ".part-")) g_test_fail_printf("temporary file %s left behind", e);
    if (d) g_dir_close(d);
}

static float *saved(StFile *f, const char *name)
{
    StTensor *t = st_file_find(f, name);
    g_assert_nonnull(t);
    return tu_f32(t);
}

/* 3 steps, every 2: the file holds the projection of x₀ after step 2 (index 1) =
 * latents after step 1 − σ₁·noise_pred₁, computed here from the run's own tensors. */
static void test_projection_every(void)
{
    g_autofree char *dir = tu_temp_dir();
    g_autofree char *prev = g_build_filename(dir, "preview.png", NULL);
    g_assert_cmpint(run_cli(dir, "3", NULL, "--preview-out", prev, "--preview-every", "2", NULL),
                    ==, 0);
    g_autofree char *stp = g_build_filename(dir, "out.safetensors", NULL);
    GError *err = NULL;
    StFile *f = st_file_open(stp, &err);
    g_assert_no_error(err);
    g_autofree float *sig = saved(f, "sigmas");
    g_autofree float *lat = saved(f, "step.0.latents");
    g_autofree float *v = saved(f, "step.1.noise_pred");
    size_t n = 16 * 64; /* [S = 4·4, 64] */
    for (size_t k = 0; k < n; k++) lat[k] -= sig[1] * v[k];
    st_file_free(f);
    guint8 want[64 * 64 * 3];
    g_assert_true(
        flux_preview_render(NULL, FLUX_PREVIEW_PROJECTION, lat, 8, 8, 64, 64, want, &err));
    g_assert_no_error(err);
    int w = 0, h = 0;
    g_autofree guint8 *got = tu_read_png(prev, &w, &h);
    g_assert_cmpint(w, ==, 64);
    g_assert_cmpint(h, ==, 64);
    int worst = 0; /* float rounding of x₀ recomputed here vs in the run: ±1 at most */
    for (size_t k = 0; k < sizeof want; k++) worst = MAX(worst, abs((int)got[k] - (int)want[k]));
    g_assert_cmpint(worst, <=, 1);
    /* and it is not the final picture's projection (step 3 was not written) */
    f = st_file_open(stp, &err);
    g_autofree float *fin = saved(f, "output_latent");
    st_file_free(f);
    guint8 last[64 * 64 * 3];
    g_assert_true(
        flux_preview_render(NULL, FLUX_PREVIEW_PROJECTION, fin, 8, 8, 64, 64, last, &err));
    g_assert_true(memcmp(last, got, sizeof last) != 0);
    assert_no_temporaries(dir);
}

/* VAE quality on the last step: x₀ is the final latents, so the preview is the picture. */
static void test_vae_last(void)
{
    g_autofree char *dir = tu_temp_dir();
    g_autofree char *prev = g_build_filename(dir, "preview.png", NULL);
    g_autofree char *out = g_build_filename(dir, "out.png", NULL);
    g_assert_cmpint(run_cli(dir, "4", NULL, "--preview-out", prev, "--preview-every", "2",
                            "--preview", "vae", NULL),
                    ==, 0);
    int w1, h1, w2, h2;
    g_autofree guint8 *a = tu_read_png(prev, &w1, &h1);
    g_autofree guint8 *b = tu_read_png(out, &w2, &h2);
    g_assert_cmpint(w1, ==, w2);
    g_assert_cmpint(h1, ==, h2);
    g_assert_cmpmem(a, (gsize)w1 * h1 * 3, b, (gsize)w2 * h2 * 3);
    assert_no_temporaries(dir);
}

static void expect_usage_error(const char *needle, const char *first, ...)
{
    g_autofree char *dir = tu_temp_dir();
    g_autofree char *prev = g_build_filename(dir, "preview.png", NULL);
    const char *args[4] = {first, NULL, NULL, NULL};
    va_list ap;
    va_start(ap, first);
    for (int i = 1; i < 4 && args[i - 1]; i++) args[i] = va_arg(ap, const char *);
    va_end(ap);
    char *err = NULL;
    int status = run_cli(dir, "1", &err, args[0], args[1], args[2], args[3], NULL);
    g_assert_cmpint(status, !=, 0);
    if (!strstr(err, needle)) g_test_fail_printf("stderr '%s' does not mention '%s'", err, needle);
    g_free(err);
    g_autofree char *out = g_build_filename(dir, "out.png", NULL);
    g_assert_false(g_file_test(out, G_FILE_TEST_EXISTS));
    g_assert_false(g_file_test(prev, G_FILE_TEST_EXISTS));
    assert_no_temporaries(dir);
}

static void test_bad_options(void)
{
    expect_usage_error("--preview-every needs --preview-out", "--preview-every", "2", NULL);
    expect_usage_error("--preview needs --preview-out", "--preview", "vae", NULL);
    expect_usage_error("--preview bogus: expected projection or vae", "--preview-out", "x.png",
                       "--preview", "bogus");
    expect_usage_error("--preview-every -1 is out of range", "--preview-out", "x.png",
                       "--preview-every", "-1");
    expect_usage_error("no-such-dir/p.png", "--preview-out", "/no-such-dir/p.png", NULL);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/cli-preview/projection-every", test_projection_every);
    g_test_add_func("/cli-preview/vae-last-step", test_vae_last);
    g_test_add_func("/cli-preview/bad-options", test_bad_options);
    return g_test_run();
}
