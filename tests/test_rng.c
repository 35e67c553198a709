/* test_rng.c — torch-compatible randn: every draw of golden/rng.safetensors bit for bit,
 * with the AVX2 kernel (rng.*) and the generic kernel (rng_noavx.*), including draws that
 * share one generator across calls, plus the engine itself. */
#include "rng.h"
#include "testutil.h"

#include <math.h>
#include <string.h>

#define RNG_FILE "rng.safetensors"

/* The cases of golden/manifest.json files["rng.safetensors"].cases: one generator per
 * case, seeded once, then one randn call per size (in elements). */
typedef struct {
    guint64 seed;
    int n_calls;
    size_t numel[4];
} RngCase;

static const RngCase cases[] = {
    {0, 1, {1 * 16 * 8 * 8}},
    {42, 1, {1 * 16 * 6 * 10}},
    {1234, 1, {1 * 16 * 7 * 9}},
    {0, 1, {1}},
    {0, 1, {5}},
    {0, 1, {15}},
    {0, 1, {16}},
    {0, 1, {17}},
    {0, 1, {31}},
    {0, 1, {33}},
    {7, 1, {1 * 3 * 5 * 7}},
    {7, 4, {10, 20, 3, 16}},
    {11, 4, {3, 16, 1, 2}},
    {G_GUINT64_CONSTANT(4294967338), 1, {1 * 16 * 6 * 10}}, /* 2^32 + 42 */
    {123456789, 1, {2 * 16 * 4 * 6}},
    {99, 1, {1 * 16 * 32 * 32}},
};

static guint32 bits_of(float f)
{
    guint32 b;
    memcpy(&b, &f, sizeof b);
    return b;
}

/* Bit-exact comparison; reports the first mismatch and how many differ. */
static void assert_bits(const char *what, const float *got, const StTensor *ref)
{
    g_assert_cmpint(ref->dtype, ==, ST_F32);
    g_assert_cmpint(ref->numel, >, 0);
    g_autofree float *want = tu_f32(ref);
    size_t n = (size_t)ref->numel, bad = 0, first = 0;
    for (size_t i = 0; i < n; i++) {
        if (bits_of(got[i]) != bits_of(want[i])) {
            if (bad++ == 0) first = i;
        }
    }
    if (bad) {
        g_test_fail_printf("%s: %zu of %zu values differ; first at [%zu]: got %.9g (0x%08x), "
                           "want %.9g (0x%08x)",
                           what, bad, n, first, got[first], bits_of(got[first]), want[first],
                           bits_of(want[first]));
    }
}

static void run_cases(const char *prefix, void (*randn)(FluxRng *, float *, size_t))
{
    int checked = 0;
    for (size_t c = 0; c < G_N_ELEMENTS(cases); c++) {
        FluxRng r;
        rng_seed(&r, cases[c].seed);
        for (int k = 0; k < cases[c].n_calls; k++) {
            g_autofree char *name = g_strdup_printf("%s.%zu.%d", prefix, c, k);
            StTensor *ref = tu_golden_tensor(RNG_FILE, name);
            size_t n = cases[c].numel[k];
            g_assert_cmpint(ref->numel, ==, (gint64)n);
            g_autofree float *got = g_new(float, n);
            randn(&r, got, n);
            assert_bits(name, got, ref);
            checked++;
        }
    }
    /* Every tensor of this kernel in the golden file is covered by the table above. */
    StFile *f = tu_golden(RNG_FILE);
    g_autofree char *dot = g_strconcat(prefix, ".", NULL);
    int in_file = 0;
    for (gsize i = 0; i < st_file_n_tensors(f); i++)
        in_file += g_str_has_prefix(st_file_tensor(f, i)->name, dot);
    g_assert_cmpint(checked, ==, in_file);
}

static void test_avx2_golden(void)
{
    run_cases("rng", rng_randn);
}

static void test_generic_golden(void)
{
    run_cases("rng_noavx", rng_randn_generic);
}

/* The noise of each golden pipeline run ([1, 16, h, w] from prepare_latents) is one
 * AVX2-kernel draw on a freshly seeded generator (manifest `setting`: seed, latent_hw). */
static void test_pipeline_noise(void)
{
    static const struct {
        const char *file;
        guint64 seed;
        int h, w;
    } runs[] = {
        {"pipeline_p64x64_s4.safetensors", 0, 8, 8},
        {"pipeline_p48x80_s3.safetensors", 42, 6, 10},
        {"pipeline_p56x72_s2_msl77.safetensors", 1234, 6, 8},
        {"pipeline_p32x48_s2_truecfg.safetensors", 7, 4, 6},
    };
    for (size_t i = 0; i < G_N_ELEMENTS(runs); i++) {
        StTensor *ref = tu_golden_tensor(runs[i].file, "noise");
        size_t n = (size_t)16 * runs[i].h * runs[i].w;
        g_assert_cmpint(ref->numel, ==, (gint64)n);
        g_autofree float *got = g_new(float, n);
        FluxRng r;
        rng_seed(&r, runs[i].seed);
        rng_randn(&r, got, n);
        assert_bits(runs[i].file, got, ref);
    }
}

/* std::mt19937 seeded with the default 5489 gives 3499211612 first and 4123659995 as the
 * 10000th output (C++11 [rand.predef]). */
static void test_engine(void)
{
    FluxRng r;
    rng_seed(&r, 5489);
    g_assert_cmpuint(rng_next_u32(&r), ==, 3499211612u);
    for (int i = 1; i < 9999; i++) rng_next_u32(&r);
    g_assert_cmpuint(rng_next_u32(&r), ==, 4123659995u);
    /* seed ≥ 2^32 uses the low word only */
    FluxRng a, b;
    rng_seed(&a, G_GUINT64_CONSTANT(0x100000000) + 5489);
    rng_seed(&b, 5489);
    g_assert_cmpmem(a.mt, sizeof a.mt, b.mt, sizeof b.mt);
}

/* The scalar path caches its second normal across calls; reseeding clears the cache and
 * a vectorised draw neither uses nor clears it. */
static void test_cache(void)
{
    FluxRng r;
    float one[1], two[2], blk[16], again[2];
    rng_seed(&r, 3);
    rng_randn(&r, two, 2); /* both halves of one Box–Muller pair */
    rng_seed(&r, 3);
    rng_randn(&r, one, 1);
    g_assert_true(r.has_normal);
    rng_randn(&r, blk, 16); /* the cache survives a block draw */
    g_assert_true(r.has_normal);
    rng_randn(&r, one, 1); /* ... and is what the next scalar draw returns */
    g_assert_cmpuint(bits_of(one[0]), ==, bits_of(two[1]));
    rng_seed(&r, 3);
    g_assert_false(r.has_normal);
    rng_randn(&r, again, 2);
    g_assert_cmpmem(again, sizeof again, two, sizeof two);
    rng_randn(&r, NULL, 0); /* empty draw: no-op */
}

/* Both kernels agree closely and the draws look normal. Away from zero they differ by a
 * few ulp; near a zero of cos/sin the relative error grows, so compare absolutely: the
 * difference is bounded by a few ulp of the radius (≤ ~5.6), i.e. ≤ 4e-6. */
static void test_kernels_agree(void)
{
    enum { N = 1 << 16 };
    float *a = g_new(float, N), *b = g_new(float, N);
    FluxRng r1, r2;
    rng_seed(&r1, 2024);
    rng_seed(&r2, 2024);
    rng_randn(&r1, a, N);
    rng_randn_generic(&r2, b, N);
    double sum = 0, sum2 = 0;
    double max_diff = 0;
    for (int i = 0; i < N; i++) {
        max_diff = MAX(max_diff, fabs((double)a[i] - b[i]));
        sum += a[i];
        sum2 += (double)a[i] * a[i];
    }
    g_test_message("max |AVX2 - generic| over %d draws: %.3g", N, max_diff);
    g_assert_cmpfloat(max_diff, <=, 4e-6);
    g_assert_cmpfloat(fabs(sum / N), <, 0.02);
    g_assert_cmpfloat(fabs(sum2 / N - 1.0), <, 0.03);
    g_free(a);
    g_free(b);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/rng/engine-mt19937", test_engine);
    g_test_add_func("/rng/avx2-golden-bit-exact", test_avx2_golden);
    g_test_add_func("/rng/generic-golden-bit-exact", test_generic_golden);
    g_test_add_func("/rng/pipeline-noise", test_pipeline_noise);
    g_test_add_func("/rng/scalar-cache", test_cache);
    g_test_add_func("/rng/kernels-agree", test_kernels_agree);
    return g_test_run();
}
