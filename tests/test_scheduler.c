/* test_scheduler.c — FlowMatchEulerDiscreteScheduler: the golden schedules (bit-exact
 * timesteps and sigmas, exact mu), the Euler step, the schnell configuration, the optional
 * config features, and config/argument errors. */
#include "flux.h"
#include "scheduler.h"
#include "testutil.h"

#include <math.h>
#include <string.h>

#define SCHED_FILE "scheduler.safetensors"

static guint32 bits_of(float f)
{
    guint32 b;
    memcpy(&b, &f, sizeof b);
    return b;
}

/* Timesteps and sigmas must match bit for bit: the reference computes them with a handful
 * of float32/float64 operations that are reproduced one for one, so there is no
 * accumulated error that would justify an ulp tolerance. */
static void assert_bits(const char *what, const float *got, const float *want, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (bits_of(got[i]) != bits_of(want[i])) {
            g_test_fail_printf("%s[%zu]: got %.9g (0x%08x), want %.9g (0x%08x)", what, i, got[i],
                               bits_of(got[i]), want[i], bits_of(want[i]));
            return;
        }
    }
}

static void assert_bits_hex(const char *what, const float *got, const guint32 *want, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (bits_of(got[i]) != want[i]) {
            g_test_fail_printf("%s[%zu]: got %.9g (0x%08x), want 0x%08x", what, i, got[i],
                               bits_of(got[i]), want[i]);
            return;
        }
    }
}

static void load_tiny(SchedConfig *sc)
{
    g_autofree char *p = tu_model_path("scheduler/scheduler_config.json");
    GError *err = NULL;
    g_assert_true(sched_config_load(sc, p, &err));
    g_assert_no_error(err);
}

static void load_text(SchedConfig *sc, const char *json)
{
    g_autofree char *p = tu_temp_file(".json", json, strlen(json));
    GError *err = NULL;
    g_assert_true(sched_config_load(sc, p, &err));
    g_assert_no_error(err);
}

/* ---- golden ----------------------------------------------------------------------- */

/* golden/manifest.json files["scheduler.safetensors"].cases (mu as Python printed it). */
static const struct {
    int n, len;
    double mu;
} golden_cases[] = {
    {1, 16, 0.459375},
    {2, 16, 0.459375},
    {4, 16, 0.459375},
    {3, 15, 0.4592057291666667},
    {4, 64, 0.46749999999999997},
    {4, 256, 0.5},
    {8, 1024, 0.63},
    {20, 4096, 1.15},
    {28, 4096, 1.15},
    {50, 4096, 1.15},
    {28, 6000, 1.4722916666666666},
};

static void test_golden(void)
{
    SchedConfig sc;
    load_tiny(&sc);
    g_assert_true(sc.use_dynamic_shifting);
    g_assert_cmpfloat(sc.shift, ==, 3.0);
    for (size_t c = 0; c < G_N_ELEMENTS(golden_cases); c++) {
        int n = golden_cases[c].n, len = golden_cases[c].len;
        g_assert_cmpfloat(sched_mu(&sc, len), ==, golden_cases[c].mu);
        g_autofree char *tn = g_strdup_printf("s%d_seq%d.timesteps", n, len);
        g_autofree char *sn = g_strdup_printf("s%d_seq%d.sigmas", n, len);
        StTensor *tref = tu_golden_tensor(SCHED_FILE, tn);
        StTensor *sref = tu_golden_tensor(SCHED_FILE, sn);
        g_assert_cmpint(tref->numel, ==, n);
        g_assert_cmpint(sref->numel, ==, n + 1);
        g_autofree float *t = g_new(float, n);
        g_autofree float *s = g_new(float, n + 1);
        GError *err = NULL;
        g_assert_true(sched_set_timesteps(&sc, n, len, t, s, &err));
        g_assert_no_error(err);
        g_autofree float *tw = tu_f32(tref);
        g_autofree float *sw = tu_f32(sref);
        assert_bits(tn, t, tw, (size_t)n);
        assert_bits(sn, s, sw, (size_t)n + 1);
    }
}

/* The schedules the golden pipeline runs used (manifest `setting`: steps, image_seq_len,
 * mu), as pipe.scheduler held them after the run. */
static void test_pipeline_schedules(void)
{
    static const struct {
        const char *file;
        int n, len;
        double mu;
        float true_cfg; /* 0: no negative prompt */
    } runs[] = {
        {"pipeline_p64x64_s4.safetensors", 4, 16, 0.459375, 0},
        {"pipeline_p48x80_s3.safetensors", 3, 15, 0.4592057291666667, 0},
        {"pipeline_p56x72_s2_msl77.safetensors", 2, 12, 0.45869791666666665, 0},
        {"pipeline_p32x48_s2_truecfg.safetensors", 2, 6, 0.4576822916666667, 2.0f},
    };
    SchedConfig sc;
    load_tiny(&sc);
    for (size_t i = 0; i < G_N_ELEMENTS(runs); i++) {
        int n = runs[i].n;
        g_assert_cmpfloat(sched_mu(&sc, runs[i].len), ==, runs[i].mu);
        float t[4], s[5];
        g_assert_true(sched_set_timesteps(&sc, n, runs[i].len, t, s, NULL));
        StTensor *tref = tu_golden_tensor(runs[i].file, "timesteps");
        StTensor *sref = tu_golden_tensor(runs[i].file, "sigmas");
        g_assert_cmpint(tref->numel, ==, n);
        g_assert_cmpint(sref->numel, ==, n + 1);
        g_autofree float *tw = tu_f32(tref);
        g_autofree float *sw = tu_f32(sref);
        assert_bits(runs[i].file, t, tw, (size_t)n);
        assert_bits(runs[i].file, s, sw, (size_t)n + 1);
        /* and the denoising loop's updates: latents_init → step.<k>.latents, driven by the
         * recorded noise_pred of each step (true CFG combines it with the negative one as
         * neg + scale·(cond - neg) in float32 first) */
        StTensor *init = tu_golden_tensor(runs[i].file, "latents_init");
        g_autofree float *lat = tu_f32(init);
        for (int k = 0; k < n; k++) {
            g_autofree char *np = g_strdup_printf("step.%d.noise_pred", k);
            g_autofree char *ln = g_strdup_printf("step.%d.latents", k);
            g_autofree float *pred = tu_f32(tu_golden_tensor(runs[i].file, np));
            if (runs[i].true_cfg > 0) {
                g_autofree char *nn = g_strdup_printf("step.%d.neg_noise_pred", k);
                g_autofree float *neg = tu_f32(tu_golden_tensor(runs[i].file, nn));
                for (gint64 j = 0; j < init->numel; j++)
                    pred[j] = neg[j] + runs[i].true_cfg * (pred[j] - neg[j]);
            }
            sched_step(lat, pred, (size_t)init->numel, s[k], s[k + 1]);
            g_autofree float *want = tu_f32(tu_golden_tensor(runs[i].file, ln));
            g_autofree char *what = g_strdup_printf("%s %s", runs[i].file, ln);
            assert_bits(what, lat, want, (size_t)init->numel);
        }
    }
}

/* Four chained Euler steps on the s4_seq16 schedule; float32 like the reference, so the
 * results are compared bit for bit too. */
static void test_step(void)
{
    SchedConfig sc;
    load_tiny(&sc);
    float t[4], s[5];
    g_assert_true(sched_set_timesteps(&sc, 4, 16, t, s, NULL));
    StTensor *s0 = tu_golden_tensor(SCHED_FILE, "step.sample0");
    size_t n = (size_t)s0->numel;
    g_autofree float *lat = tu_f32(s0);
    for (int i = 0; i < 4; i++) {
        g_autofree char *mn = g_strdup_printf("step.model_output.%d", i);
        g_autofree char *pn = g_strdup_printf("step.prev_sample.%d", i);
        g_autofree float *mo = tu_f32(tu_golden_tensor(SCHED_FILE, mn));
        StTensor *pref = tu_golden_tensor(SCHED_FILE, pn);
        g_assert_cmpint(pref->numel, ==, (gint64)n);
        sched_step(lat, mo, n, s[i], s[i + 1]);
        g_autofree float *want = tu_f32(pref);
        assert_bits(pn, lat, want, n);
        double d = tu_assert_close_t(pn, lat, pref, 1e-6);
        g_test_message("%s: max rel diff %.3g", pn, d);
    }
}

/* ---- schnell and optional features -------------------------------------------------- */

/* Expected bits printed by diffusers 0.32.2 (torch 2.x, numpy 2.4) in /work/venv-ref:
 *   sch = FlowMatchEulerDiscreteScheduler.from_config(cfg)
 *   mu = calculate_shift(L, sch.config.base_image_seq_len, ...)
 *   retrieve_timesteps(sch, N, 'cpu', sigmas=np.linspace(1.0, 1/N, N), mu=mu)
 * and the float32 bit patterns of sch.timesteps / sch.sigmas. */
static void test_schnell(void)
{
    SchedConfig sc;
    g_autofree char *p = g_build_filename(tu_ref_dir(), "..", "flux1_files", "FLUX.1-schnell",
                                          "scheduler", "scheduler_config.json", NULL);
    if (!g_file_test(p, G_FILE_TEST_EXISTS)) {
        /* the same file's content, for checkouts without the real configs */
        load_text(&sc, "{\"_class_name\": \"FlowMatchEulerDiscreteScheduler\", "
                       "\"base_image_seq_len\": 256, \"base_shift\": 0.5, "
                       "\"max_image_seq_len\": 4096, \"max_shift\": 1.15, "
                       "\"num_train_timesteps\": 1000, \"shift\": 1.0, "
                       "\"use_dynamic_shifting\": false}");
    } else {
        GError *err = NULL;
        g_assert_true(sched_config_load(&sc, p, &err));
        g_assert_no_error(err);
    }
    g_assert_false(sc.use_dynamic_shifting);
    g_assert_cmpfloat(sc.shift, ==, 1.0);
    /* N = 4 (schnell's default), L = 4096: shift 1 leaves linspace(1, 1/4, 4) unchanged
     * and mu is not used. */
    float t[4], s[5];
    const guint32 t4[] = {0x447a0000, 0x443b8000, 0x43fa0000, 0x437a0000};
    const guint32 s4[] = {0x3f800000, 0x3f400000, 0x3f000000, 0x3e800000, 0x00000000};
    g_assert_true(sched_set_timesteps(&sc, 4, 4096, t, s, NULL));
    assert_bits_hex("schnell N=4 timesteps", t, t4, 4);
    assert_bits_hex("schnell N=4 sigmas", s, s4, 5);
    /* N = 3 (1000, 666.666687, 333.333344); the image length is ignored, even 0 */
    const guint32 t3[] = {0x447a0000, 0x4426aaab, 0x43a6aaab};
    const guint32 s3[] = {0x3f800000, 0x3f2aaaab, 0x3eaaaaab, 0x00000000};
    g_assert_true(sched_set_timesteps(&sc, 3, 0, t, s, NULL));
    assert_bits_hex("schnell N=3 timesteps", t, t3, 3);
    assert_bits_hex("schnell N=3 sigmas", s, s3, 4);
    /* N = 1 */
    g_assert_true(sched_set_timesteps(&sc, 1, 16, t, s, NULL));
    g_assert_cmpuint(bits_of(t[0]), ==, 0x447a0000);
    g_assert_cmpuint(bits_of(s[1]), ==, 0);
}

/* The FLUX.1-dev config with one key changed; bits from the same Python as above. */
#define DEV_CFG                                                                                    \
    "\"_class_name\": \"FlowMatchEulerDiscreteScheduler\", \"base_image_seq_len\": 256, "          \
    "\"base_shift\": 0.5, \"max_image_seq_len\": 4096, \"max_shift\": 1.15, "                      \
    "\"num_train_timesteps\": 1000"

typedef struct {
    const char *what;
    const char *json;
    int n, len;
    guint32 t[6], s[7];
} VariantCase;

static const VariantCase variants[] = {
    {"static shift 3.0",
     "{" DEV_CFG ", \"shift\": 3.0, \"use_dynamic_shifting\": false}",
     5,
     0,
     {0x447a0000, 0x4466c4ed, 0x444c8ba3, 0x4426aaab, 0x43d64926},
     {0x3f800000, 0x3f6c4ec6, 0x3f51745d, 0x3f2aaaab, 0x3edb6db8, 0}},
    {"static integer shift 3",
     "{" DEV_CFG ", \"shift\": 3, \"use_dynamic_shifting\": false}",
     5,
     0,
     {0x447a0000, 0x4466c4ed, 0x444c8ba3, 0x4426aaab, 0x43d64926},
     {0x3f800000, 0x3f6c4ec6, 0x3f51745d, 0x3f2aaaab, 0x3edb6db8, 0}},
    {"shift_terminal 0.1",
     "{" DEV_CFG ", \"shift\": 3.0, \"use_dynamic_shifting\": true, \"shift_terminal\": 0.1}",
     5,
     1024,
     {0x447a0000, 0x445326da, 0x44235ec1, 0x43ce58bb, 0x42c80003},
     {0x3f800000, 0x3f58382b, 0x3f274a80, 0x3ed34c86, 0x3dccccd0, 0}},
    {"karras",
     "{" DEV_CFG ", \"use_dynamic_shifting\": true, \"use_karras_sigmas\": true}",
     6,
     1024,
     {0x447a0000, 0x444470b5, 0x4419087a, 0x43ec3e1e, 0x43b48b08, 0x4388806c},
     {0x3f800000, 0x3f4927a3, 0x3f1cb4b6, 0x3ef1e998, 0x3eb8e04a, 0x3e8bc717, 0}},
    {"karras with sigma_min/max",
     "{" DEV_CFG ", \"use_dynamic_shifting\": true, \"use_karras_sigmas\": true, "
     "\"sigma_min\": 0.01, \"sigma_max\": 0.9}",
     6,
     1024,
     {0x44610000, 0x43e005bf, 0x434e767d, 0x42acc45d, 0x41ff6641, 0x41200000},
     {0x3f666666, 0x3ee56624, 0x3e536aff, 0x3db0e9d8, 0x3d02c3b7, 0x3c23d70a, 0}},
    {"exponential",
     "{" DEV_CFG ", \"use_dynamic_shifting\": true, \"use_exponential_sigmas\": true}",
     6,
     1024,
     {0x447a0000, 0x4440d45d, 0x4414bba2, 0x43e570dc, 0x43b0f8cf, 0x4388806c},
     {0x3f800000, 0x3f45751c, 0x3f184d73, 0x3eeaf28b, 0x3eb53820, 0x3e8bc717, 0}},
    {"invert_sigmas",
     "{" DEV_CFG ", \"use_dynamic_shifting\": true, \"invert_sigmas\": true}",
     4,
     256,
     {0x00000000, 0x43282cfa, 0x43bcc534, 0x442155ae},
     {0x00000000, 0x3e2c3640, 0x3ec14d02, 0x3f2534ec, 0x3f800000}},
};

static void test_variants(void)
{
    for (size_t v = 0; v < G_N_ELEMENTS(variants); v++) {
        const VariantCase *vc = &variants[v];
        SchedConfig sc;
        load_text(&sc, vc->json);
        float t[6], s[7];
        GError *err = NULL;
        g_assert_true(sched_set_timesteps(&sc, vc->n, vc->len, t, s, &err));
        g_assert_no_error(err);
        g_autofree char *tw = g_strdup_printf("%s timesteps", vc->what);
        g_autofree char *sw = g_strdup_printf("%s sigmas", vc->what);
        assert_bits_hex(tw, t, vc->t, (size_t)vc->n);
        assert_bits_hex(sw, s, vc->s, (size_t)vc->n + 1);
    }
}

/* An empty object takes the class defaults (static shift 1.0). */
static void test_defaults(void)
{
    SchedConfig sc;
    load_text(&sc, "{\"base_shift\": null}");
    g_assert_cmpint(sc.num_train_timesteps, ==, 1000);
    g_assert_cmpfloat(sc.shift, ==, 1.0);
    g_assert_false(sc.use_dynamic_shifting);
    g_assert_cmpfloat(sc.base_shift, ==, 0.5);
    g_assert_cmpfloat(sc.max_shift, ==, 1.15);
    g_assert_cmpint(sc.base_image_seq_len, ==, 256);
    g_assert_cmpint(sc.max_image_seq_len, ==, 4096);
    g_assert_cmpint(sc.sigma_kind, ==, SCHED_SIGMAS_SHIFTED);
    g_assert_true(isnan(sc.sigma_min) && isnan(sc.sigma_max));
    /* calculate_shift's end points */
    g_assert_cmpfloat(fabs(sched_mu(&sc, 256) - 0.5), <, 1e-15);
    g_assert_cmpfloat(fabs(sched_mu(&sc, 4096) - 1.15), <, 1e-15);
}

/* ---- errors --------------------------------------------------------------------------- */

static void expect_load_error(const char *json, int code, const char *needle)
{
    g_autofree char *p = tu_temp_file(".json", json, strlen(json));
    SchedConfig sc;
    GError *err = NULL;
    g_assert_false(sched_config_load(&sc, p, &err));
    g_assert_error(err, FLUX_ERROR, code);
    if (!strstr(err->message, needle) || !strstr(err->message, p))
        g_test_fail_printf("'%s' does not name '%s' and the file", err->message, needle);
    g_error_free(err);
}

static void test_config_errors(void)
{
    SchedConfig sc;
    GError *err = NULL;
    g_assert_false(sched_config_load(&sc, "/nonexistent/scheduler_config.json", &err));
    g_assert_error(err, FLUX_ERROR, FLUX_ERROR_IO);
    g_assert_nonnull(strstr(err->message, "/nonexistent/scheduler_config.json"));
    g_clear_error(&err);

    expect_load_error("{\"shift\": ", FLUX_ERROR_FORMAT, "");
    expect_load_error("{\"shift\": -1.0}", FLUX_ERROR_MODEL, "shift");
    expect_load_error("{\"shift\": \"3\"}", FLUX_ERROR_MODEL, "shift");
    expect_load_error("{\"num_train_timesteps\": 0}", FLUX_ERROR_MODEL, "num_train_timesteps");
    expect_load_error("{\"num_train_timesteps\": 1.5}", FLUX_ERROR_MODEL, "num_train_timesteps");
    expect_load_error("{\"use_dynamic_shifting\": \"yes\"}", FLUX_ERROR_MODEL,
                      "use_dynamic_shifting");
    expect_load_error("{\"max_shift\": 1e9}", FLUX_ERROR_MODEL, "max_shift");
    expect_load_error("{\"base_image_seq_len\": -4}", FLUX_ERROR_MODEL, "base_image_seq_len");
    expect_load_error("{\"shift_terminal\": 1.0}", FLUX_ERROR_MODEL, "shift_terminal");
    expect_load_error("{\"use_dynamic_shifting\": true, \"base_image_seq_len\": 512, "
                      "\"max_image_seq_len\": 512}",
                      FLUX_ERROR_MODEL, "max_image_seq_len");
    expect_load_error("{\"use_karras_sigmas\": true, \"use_exponential_sigmas\": true}",
                      FLUX_ERROR_MODEL, "only one");
    expect_load_error("{\"use_beta_sigmas\": true}", FLUX_ERROR_UNSUPPORTED, "use_beta_sigmas");
    expect_load_error("{\"_class_name\": \"EulerDiscreteScheduler\"}", FLUX_ERROR_UNSUPPORTED,
                      "EulerDiscreteScheduler");
    expect_load_error("[1, 2]", FLUX_ERROR_FORMAT, "");
}

static void test_argument_errors(void)
{
    SchedConfig sc;
    load_tiny(&sc);
    float t[4], s[5];
    GError *err = NULL;
    g_assert_false(sched_set_timesteps(&sc, 0, 16, t, s, &err));
    g_assert_error(err, FLUX_ERROR, FLUX_ERROR_ARGUMENT);
    g_assert_nonnull(strstr(err->message, "0"));
    g_clear_error(&err);
    g_assert_false(sched_set_timesteps(&sc, FLUX_MAX_STEPS + 1, 16, t, s, &err));
    g_assert_error(err, FLUX_ERROR, FLUX_ERROR_ARGUMENT);
    g_clear_error(&err);
    g_assert_false(sched_set_timesteps(&sc, 4, 0, t, s, &err));
    g_assert_error(err, FLUX_ERROR, FLUX_ERROR_ARGUMENT);
    g_assert_nonnull(strstr(err->message, "sequence length 0"));
    g_clear_error(&err);
    /* a steep shift line: mu = 1e1 at L=2, so exp(mu) overflows float32 at large L */
    load_text(&sc, "{\"use_dynamic_shifting\": true, \"base_shift\": 0, \"max_shift\": 10, "
                   "\"base_image_seq_len\": 1, \"max_image_seq_len\": 2}");
    g_assert_false(sched_set_timesteps(&sc, 4, 100, t, s, &err));
    g_assert_error(err, FLUX_ERROR, FLUX_ERROR_ARGUMENT);
    g_assert_nonnull(strstr(err->message, "mu"));
    g_clear_error(&err);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/scheduler/golden-bit-exact", test_golden);
    g_test_add_func("/scheduler/pipeline-schedules", test_pipeline_schedules);
    g_test_add_func("/scheduler/euler-step", test_step);
    g_test_add_func("/scheduler/schnell", test_schnell);
    g_test_add_func("/scheduler/config-variants", test_variants);
    g_test_add_func("/scheduler/defaults", test_defaults);
    g_test_add_func("/scheduler/config-errors", test_config_errors);
    g_test_add_func("/scheduler/argument-errors", test_argument_errors);
    return g_test_run();
}
