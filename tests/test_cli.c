/* test_cli.c — flux-generate from the outside, as a user runs it: every golden prompt
 * through --encode-only, every golden pipeline run end to end (tensors and PNG), and bad
 * input giving one clear message, a non-zero status and no output file. */
#include "flux.h"
#include "safetensors.h"
#include "testutil.h"

#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <math.h>
#include <png.h>
#include <string.h>

/* ------------------------------------------------------------------------------------- */
/* Running the CLI                                                                       */

typedef struct {
    int status;
    char *out, *err;
} CliResult;

static void cli_result_clear(CliResult *r)
{
    g_free(r->out);
    g_free(r->err);
}

/* Runs flux-generate with a NULL-terminated argument list. */
static CliResult run_cli(const char *first, ...)
{
    GPtrArray *argv = g_ptr_array_new();
    const char *exe = g_getenv("FLUX_GENERATE");
    g_assert_nonnull(exe);
    g_ptr_array_add(argv, (gpointer)exe);
    va_list ap;
    va_start(ap, first);
    for (const char *a = first; a; a = va_arg(ap, const char *)) g_ptr_array_add(argv, (gpointer)a);
    va_end(ap);
    g_ptr_array_add(argv, NULL);
    CliResult r = {0};
    GError *err = NULL;
    int wait = 0;
    g_spawn_sync(NULL, (char **)argv->pdata, NULL, G_SPAWN_DEFAULT, NULL, NULL, &r.out, &r.err,
                 &wait, &err);
    g_assert_no_error(err);
    r.status = WIFEXITED(wait) ? WEXITSTATUS(wait) : 128 + WTERMSIG(wait);
    g_ptr_array_free(argv, TRUE);
    if (g_test_verbose()) g_test_message("status %d\nstderr: %s", r.status, r.err);
    return r;
}

/* ------------------------------------------------------------------------------------- */
/* Comparing outputs with the goldens                                                    */

/* Reference README: 1e-4 · max(1, max|ref|) for embeddings, latents and decoded images
 * (10–100× the measured float32 noise); ids, timesteps and sigmas exact; u8 within ±1. */
#define TOL 1e-4

static void compare_tensor(const char *what, const StTensor *got, const StTensor *ref)
{
    g_autofree char *label = g_strdup_printf("%s %s", what, ref->name);
    if (got->numel != ref->numel) {
        g_test_fail_printf("%s: %" G_GINT64_FORMAT " elements, expected %" G_GINT64_FORMAT, label,
                           got->numel, ref->numel);
        return;
    }
    if (ref->dtype == ST_I64) {
        if (got->dtype != ST_I64 || memcmp(got->data, ref->data, ref->nbytes) != 0)
            g_test_fail_printf("%s: ids differ", label);
    } else if (ref->dtype == ST_U8) {
        const guint8 *a = got->data, *b = ref->data;
        int worst = 0;
        for (int64_t i = 0; i < ref->numel; i++) worst = MAX(worst, abs((int)a[i] - (int)b[i]));
        if (worst > 1) g_test_fail_printf("%s: a pixel differs by %d", label, worst);
    } else {
        g_autofree float *g = tu_f32(got);
        gboolean exact = g_str_has_suffix(ref->name, "timesteps") ||
                         g_str_has_suffix(ref->name, "sigmas") ||
                         g_str_has_suffix(ref->name, "_ids");
        tu_assert_close_t(label, g, ref, exact ? 0.0 : TOL);
    }
}

/* Every tensor of `golden` that is not in `skip` must be in `out` and match. */
static void compare_files(const char *what, const char *out_path, StFile *golden,
                          const char *const *skip)
{
    GError *err = NULL;
    StFile *out = st_file_open(out_path, &err);
    g_assert_no_error(err);
    for (gsize i = 0; i < st_file_n_tensors(golden); i++) {
        StTensor *ref = st_file_tensor(golden, i);
        if (skip && g_strv_contains(skip, ref->name)) continue;
        StTensor *got = st_file_find(out, ref->name);
        if (!got) {
            g_test_fail_printf("%s: output has no '%s'", what, ref->name);
            continue;
        }
        compare_tensor(what, got, ref);
    }
    st_file_free(out);
}

static void compare_png(const char *got_path, const char *ref_path)
{
    int w1, h1, w2, h2;
    g_autofree guint8 *a = tu_read_png(got_path, &w1, &h1);
    g_autofree guint8 *b = tu_read_png(ref_path, &w2, &h2);
    g_assert_nonnull(a);
    g_assert_cmpint(w1, ==, w2);
    g_assert_cmpint(h1, ==, h2);
    int worst = 0;
    for (int i = 0; i < w1 * h1 * 3; i++) worst = MAX(worst, abs((int)a[i] - (int)b[i]));
    g_assert_cmpint(worst, <=, 1);
}

/* ------------------------------------------------------------------------------------- */
/* Tests                                                                                 */

static void test_encode_only(void)
{
    JsonObject *prompts =
        json_object_get_object_member(tu_golden_manifest("tokenizers.safetensors"), "prompts");
    g_autofree char *model = tu_model_path(NULL);
    g_autofree char *dir = tu_temp_dir();
    g_autofree char *out = g_build_filename(dir, "enc.safetensors", NULL);
    GList *names = json_object_get_members(prompts);
    for (GList *l = names; l; l = l->next) {
        const char *key = l->data, *text = json_object_get_string_member(prompts, key);
        CliResult r = run_cli("--model", model, "--prompt", text, "--encode-only", "--save-tensors",
                              out, NULL);
        g_assert_cmpint(r.status, ==, 0);
        cli_result_clear(&r);
        StFile *f = st_file_open(out, NULL);
        g_assert_nonnull(f);
        struct {
            const char *ours, *file, *fmt;
        } pairs[] = {{"clip_input_ids", "tokenizers.safetensors", "clip_input_ids.%s"},
                     {"t5_input_ids", "tokenizers.safetensors", "t5_input_ids.%s"},
                     {"pooled_prompt_embeds", "text_encoders.safetensors", "clip_pooled.%s"},
                     {"prompt_embeds", "text_encoders.safetensors", "t5_embeds.%s"}};
        for (guint i = 0; i < G_N_ELEMENTS(pairs); i++) {
            g_autofree char *gname = g_strdup_printf(pairs[i].fmt, key);
            StTensor *got = st_file_find(f, pairs[i].ours);
            g_assert_nonnull(got);
            compare_tensor(key, got, tu_golden_tensor(pairs[i].file, gname));
        }
        st_file_free(f);
    }
    g_list_free(names);
}

static void test_encode_short_sequence(void)
{
    /* --max-sequence-length 77: the golden 512-token ids cut to 76 + EOS when longer */
    g_autofree char *model = tu_model_path(NULL);
    g_autofree char *dir = tu_temp_dir();
    g_autofree char *out = g_build_filename(dir, "enc.safetensors", NULL);
    CliResult r = run_cli("--model", model, "--prompt", "a photo of a cat", "--encode-only",
                          "--max-sequence-length", "77", "--save-tensors", out, NULL);
    g_assert_cmpint(r.status, ==, 0);
    cli_result_clear(&r);
    StFile *f = st_file_open(out, NULL);
    StTensor *ids = st_file_find(f, "t5_input_ids"), *emb = st_file_find(f, "prompt_embeds");
    g_assert_cmpint(ids->shape[1], ==, 77);
    g_assert_cmpint(emb->shape[1], ==, 77);
    StTensor *ref = tu_golden_tensor("tokenizers.safetensors", "t5_input_ids.plain");
    g_assert_cmpmem(ids->data, 77 * 8, ref->data, 77 * 8); /* short prompt: same prefix */
    st_file_free(f);
}

typedef struct {
    const char *name;
    const char *const *extra; /* extra CLI arguments */
} PipelineCase;

static void test_pipeline_case(gconstpointer data)
{
    const char *name = data;
    g_autofree char *file = g_strdup_printf("pipeline_%s.safetensors", name);
    JsonObject *set = json_object_get_object_member(tu_golden_manifest(file), "setting");
    g_autofree char *model = tu_model_path(NULL);
    g_autofree char *dir = tu_temp_dir();
    g_autofree char *png = g_build_filename(dir, "out.png", NULL);
    g_autofree char *st = g_build_filename(dir, "out.safetensors", NULL);
    g_autofree char *w =
        g_strdup_printf("%" G_GINT64_FORMAT, json_object_get_int_member(set, "width"));
    g_autofree char *h =
        g_strdup_printf("%" G_GINT64_FORMAT, json_object_get_int_member(set, "height"));
    g_autofree char *n = g_strdup_printf("%" G_GINT64_FORMAT,
                                         json_object_get_int_member(set, "num_inference_steps"));
    g_autofree char *g =
        g_strdup_printf("%.9g", json_object_get_double_member(set, "guidance_scale"));
    g_autofree char *s =
        g_strdup_printf("%" G_GINT64_FORMAT, json_object_get_int_member(set, "seed"));
    g_autofree char *l = g_strdup_printf("%" G_GINT64_FORMAT,
                                         json_object_get_int_member(set, "max_sequence_length"));
    const char *neg = json_object_has_member(set, "negative_prompt")
                          ? json_object_get_string_member(set, "negative_prompt")
                          : NULL;
    g_autofree char *cfg =
        json_object_has_member(set, "true_cfg_scale")
            ? g_strdup_printf("%.9g", json_object_get_double_member(set, "true_cfg_scale"))
            : NULL;
    CliResult r =
        run_cli("--model", model, "--prompt", json_object_get_string_member(set, "prompt_text"),
                "--width", w, "--height", h, "--steps", n, "--guidance", g, "--seed", s,
                "--max-sequence-length", l, "--output", png, "--save-tensors", st, "--quiet",
                neg ? "--negative-prompt" : NULL, neg, "--true-cfg-scale", cfg, NULL);
    if (r.status != 0) g_test_message("stderr: %s", r.err);
    g_assert_cmpint(r.status, ==, 0);
    cli_result_clear(&r);
    compare_files(name, st, tu_golden(file), NULL);
    g_autofree char *ref_png = g_strdup_printf(
        "%s/golden/%s", model, json_object_get_string_member(tu_golden_manifest(file), "png"));
    compare_png(png, ref_png);
}

/* ------------------------------------------------------------------------------------- */
/* Bad input                                                                             */

/* A run that must fail: non-zero status, one line on stderr containing `needle`, and no
 * file at `out` (or the file unchanged when it existed before). */
static void expect_failure(const char *needle, const char *out, const char *first, ...)
{
    GPtrArray *argv = g_ptr_array_new();
    g_ptr_array_add(argv, (gpointer)g_getenv("FLUX_GENERATE"));
    va_list ap;
    va_start(ap, first);
    for (const char *a = first; a; a = va_arg(ap, const char *)) g_ptr_array_add(argv, (gpointer)a);
    va_end(ap);
    g_ptr_array_add(argv, NULL);
    gchar *before = NULL;
    gsize before_len = 0;
    gboolean existed = out && g_file_get_contents(out, &before, &before_len, NULL);
    CliResult r = {0};
    int wait;
    g_assert_true(g_spawn_sync(NULL, (char **)argv->pdata, NULL, G_SPAWN_DEFAULT, NULL, NULL,
                               &r.out, &r.err, &wait, NULL));
    g_ptr_array_free(argv, TRUE);
    g_assert_true(WIFEXITED(wait));
    g_assert_cmpint(WEXITSTATUS(wait), !=, 0);
    if (!strstr(r.err, needle))
        g_test_fail_printf("stderr '%s' does not mention '%s'", r.err, needle);
    /* one line: the message */
    char *nl = strchr(r.err, '\n');
    if (!nl || nl[1] != '\0') g_test_fail_printf("stderr is not one line: '%s'", r.err);
    if (out) {
        gchar *after = NULL;
        gsize after_len = 0;
        gboolean exists = g_file_get_contents(out, &after, &after_len, NULL);
        g_assert_true(exists == existed);
        if (existed) g_assert_cmpmem(before, before_len, after, after_len);
        g_free(after);
        /* and no temporary file left beside it */
        g_autofree char *dir = g_path_get_dirname(out);
        GDir *d = g_dir_open(dir, 0, NULL);
        for (const char *e; d && (e = g_dir_read_name(d));)
            if (strstr(e, ".part-")) g_test_fail_printf("temporary file %s left behind", e);
        if (d) g_dir_close(d);
    }
    g_free(before);
    cli_result_clear(&r);
}

/* A private copy of the tiny model: symlinks to every file, so a test can replace one. */
static char *model_copy(void)
{
    g_autofree char *src = tu_model_path(NULL);
    char *dst = tu_temp_dir();
    g_autofree char *cmd = g_strdup_printf("cp -rs '%s/.' '%s/'", src, dst);
    g_assert_cmpint(system(cmd), ==, 0);
    return dst;
}

static void replace_file(const char *model, const char *rel, const void *data, gssize len)
{
    g_autofree char *p = g_build_filename(model, rel, NULL);
    g_unlink(p);
    g_assert_true(g_file_set_contents(p, data, len, NULL));
}

static void test_bad_arguments(void)
{
    g_autofree char *model = tu_model_path(NULL);
    g_autofree char *dir = tu_temp_dir();
    g_autofree char *out = g_build_filename(dir, "out.png", NULL);
    const char *m = model;
    expect_failure("width 0", out, "--model", m, "--prompt", "x", "--width", "0", "--output", out,
                   NULL);
    expect_failure("width -64", out, "--model", m, "--prompt", "x", "--width", "-64", "--output",
                   out, NULL);
    expect_failure("height 100000", out, "--model", m, "--prompt", "x", "--height", "100000",
                   "--output", out, NULL);
    expect_failure("steps 0", out, "--model", m, "--prompt", "x", "--steps", "0", "--output", out,
                   NULL);
    expect_failure("steps -3", out, "--model", m, "--prompt", "x", "--steps", "-3", "--output", out,
                   NULL);
    expect_failure("guidance nan", out, "--model", m, "--prompt", "x", "--guidance", "nan",
                   "--output", out, NULL);
    expect_failure("guidance inf", out, "--model", m, "--prompt", "x", "--guidance", "inf",
                   "--output", out, NULL);
    expect_failure("seed '-1'", out, "--model", m, "--prompt", "x", "--seed", "-1", "--output", out,
                   NULL);
    expect_failure("seed '18446744073709551616'", out, "--model", m, "--prompt", "x", "--seed",
                   "18446744073709551616", "--output", out, NULL);
    expect_failure("max sequence length 513", out, "--model", m, "--prompt", "x",
                   "--max-sequence-length", "513", "--output", out, NULL);
    expect_failure("not valid UTF-8", out, "--model", m, "--prompt", "caf\xe9", "--width", "32",
                   "--height", "32", "--steps", "1", "--output", out, NULL);
    expect_failure("--output", NULL, "--model", m, "--prompt", "x", NULL);
    expect_failure("--model", out, "--prompt", "x", "--output", out, NULL);
    expect_failure("unexpected argument", out, "--model", m, "stray", "--output", out, NULL);
}

static void test_bad_outputs(void)
{
    g_autofree char *model = tu_model_path(NULL);
    g_autofree char *dir = tu_temp_dir();
    g_autofree char *missing = g_build_filename(dir, "no-such-dir", "out.png", NULL);
    expect_failure("no-such-dir/out.png", NULL, "--model", model, "--prompt", "x", "--width", "32",
                   "--height", "32", "--steps", "1", "--output", missing, NULL);
    /* an existing output survives a failed run untouched */
    g_autofree char *out = g_build_filename(dir, "keep.png", NULL);
    g_assert_true(g_file_set_contents(out, "precious", -1, NULL));
    expect_failure("steps 0", out, "--model", model, "--prompt", "x", "--steps", "0", "--output",
                   out, NULL);
    g_autofree char *nomodel = g_build_filename(dir, "nothing", NULL);
    expect_failure("nothing", out, "--model", nomodel, "--prompt", "x", "--width", "32", "--height",
                   "32", "--steps", "1", "--output", out, NULL);
}

static void test_bad_models(void)
{
    g_autofree char *dir = tu_temp_dir();
    g_autofree char *out = g_build_filename(dir, "out.png", NULL);
    /* a folder that is not a model */
    expect_failure("model_index.json", out, "--model", dir, "--prompt", "x", "--width", "32",
                   "--height", "32", "--steps", "1", "--output", out, NULL);
    /* a model of another type */
    g_autofree char *other = model_copy();
    replace_file(other, "model_index.json",
                 "{\"_class_name\": \"StableDiffusionPipeline\", \"vae\": [\"diffusers\", "
                 "\"AutoencoderKL\"]}",
                 -1);
    expect_failure("not a FLUX.1 pipeline", out, "--model", other, "--prompt", "x", "--width", "32",
                   "--height", "32", "--steps", "1", "--output", out, NULL);
    /* a truncated transformer checkpoint */
    g_autofree char *trunc = model_copy();
    g_autofree char *src = tu_model_path("transformer/diffusion_pytorch_model.safetensors");
    gchar *bytes;
    gsize len;
    g_assert_true(g_file_get_contents(src, &bytes, &len, NULL));
    replace_file(trunc, "transformer/diffusion_pytorch_model.safetensors", bytes,
                 (gssize)(len / 2));
    g_free(bytes);
    expect_failure("diffusion_pytorch_model.safetensors", out, "--model", trunc, "--prompt", "x",
                   "--width", "32", "--height", "32", "--steps", "1", "--output", out, NULL);
    /* garbage in place of the VAE */
    g_autofree char *garbage = model_copy();
    replace_file(garbage, "vae/diffusion_pytorch_model.safetensors",
                 "\x10\x00\x00\x00\x00\x00\x00\x00not json at all!", 24);
    expect_failure("vae/diffusion_pytorch_model.safetensors", out, "--model", garbage, "--prompt",
                   "x", "--width", "32", "--height", "32", "--steps", "1", "--output", out, NULL);
    /* a config that disagrees with the tensors */
    g_autofree char *shape = model_copy();
    g_autofree char *cfgp = tu_model_path("transformer/config.json");
    gchar *cfg;
    g_assert_true(g_file_get_contents(cfgp, &cfg, NULL, NULL));
    g_auto(GStrv) parts = g_strsplit(cfg, "\"num_layers\": 2,", 2);
    g_autofree char *cfg2 = g_strjoinv("\"num_layers\": 3,", parts);
    g_free(cfg);
    replace_file(shape, "transformer/config.json", cfg2, -1);
    expect_failure("transformer_blocks.2", out, "--model", shape, "--prompt", "x", "--width", "32",
                   "--height", "32", "--steps", "1", "--output", out, NULL);
    /* missing tokenizer file */
    g_autofree char *notok = model_copy();
    g_autofree char *vocab = g_build_filename(notok, "tokenizer", "vocab.json", NULL);
    g_unlink(vocab);
    expect_failure("vocab.json", out, "--model", notok, "--prompt", "x", "--width", "32",
                   "--height", "32", "--steps", "1", "--output", out, NULL);
}

/* A safetensors file from a header and `data_len` bytes of data. */
static GBytes *crafted(const char *header, size_t data_len)
{
    size_t hl = strlen(header);
    GByteArray *b = g_byte_array_sized_new((guint)(8 + hl + data_len));
    for (int i = 0; i < 8; i++) {
        guint8 c = (guint8)((guint64)hl >> (8 * i));
        g_byte_array_append(b, &c, 1);
    }
    g_byte_array_append(b, (const guint8 *)header, (guint)hl);
    guint8 zero = 0;
    for (size_t i = 0; i < data_len; i++) g_byte_array_append(b, &zero, 1);
    return g_byte_array_free_to_bytes(b);
}

/* Replaces `rel` in a fresh model copy with `bytes` and expects a failure naming `needle`. */
static void expect_bad_file(const char *rel, GBytes *bytes, const char *needle)
{
    g_autofree char *model = model_copy();
    gsize len;
    const void *data = g_bytes_get_data(bytes, &len);
    replace_file(model, rel, data, (gssize)len);
    g_bytes_unref(bytes);
    g_autofree char *out = g_build_filename(model, "out.png", NULL);
    expect_failure(needle, out, "--model", model, "--prompt", "x", "--width", "32", "--height",
                   "32", "--steps", "1", "--output", out, NULL);
}

static void test_hostile_files(void)
{
    const char *te = "text_encoder/model.safetensors";
    expect_bad_file(te, g_bytes_new("", 0), "too short");
    expect_bad_file(te,
                    crafted("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 0),
                    "outside the data section");
    guint8 big[16] = {0, 0, 0, 0, 1, 0, 0, 0, '{', '}'};
    expect_bad_file(te, g_bytes_new(big, 10), "header length");
    expect_bad_file(te,
                    crafted("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                            "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
                            12),
                    "overlaps");
    expect_bad_file(te,
                    crafted("{\"a\":{\"dtype\":\"Q9\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8),
                    "unknown dtype");
    /* a weight stored as integers */
    expect_bad_file("vae/diffusion_pytorch_model.safetensors",
                    crafted("{\"decoder.conv_in.weight\":{\"dtype\":\"I64\",\"shape\":[1],"
                            "\"data_offsets\":[0,8]}}",
                            8),
                    "decoder.conv_in.weight");
    /* a sharded checkpoint whose second shard is missing */
    expect_bad_file(
        "transformer/diffusion_pytorch_model.safetensors.index.json",
        g_bytes_new_static("{\"weight_map\": {\"x_embedder.weight\": "
                           "\"diffusion_pytorch_model-00002-of-00002.safetensors\"}}",
                           strlen("{\"weight_map\": {\"x_embedder.weight\": "
                                  "\"diffusion_pytorch_model-00002-of-00002.safetensors\"}}")),
        "diffusion_pytorch_model-00002-of-00002.safetensors");
    expect_bad_file("tokenizer_2/tokenizer.json", g_bytes_new_static("{\"model\": [", 11),
                    "tokenizer.json");
    expect_bad_file("tokenizer/merges.txt", g_bytes_new_static("\xff\xfe\x00garbage", 10),
                    "merges.txt");
    expect_bad_file("model_index.json", g_bytes_new_static("{not json", 9), "model_index.json");
    expect_bad_file("scheduler/scheduler_config.json",
                    g_bytes_new_static("{\"shift\": \"big\"}", 17), "scheduler_config.json");
    expect_bad_file("vae/config.json", g_bytes_new_static("{\"block_out_channels\": [-8]}", 28),
                    "vae/config.json");
}

static void test_more_bad_arguments(void)
{
    g_autofree char *model = tu_model_path(NULL);
    g_autofree char *dir = tu_temp_dir();
    g_autofree char *out = g_build_filename(dir, "out.png", NULL);
    const char *m = model;
    expect_failure("abc", out, "--model", m, "--width", "abc", "--output", out, NULL);
    expect_failure("steps 100000", out, "--model", m, "--steps", "100000", "--output", out, NULL);
    expect_failure("true CFG scale nan", out, "--model", m, "--negative-prompt", "x",
                   "--true-cfg-scale", "nan", "--output", out, NULL);
    expect_failure("guidance -1", out, "--model", m, "--guidance", "-1", "--output", out, NULL);
    expect_failure("/proc/nope/out.png", NULL, "--model", m, "--width", "32", "--height", "32",
                   "--output", "/proc/nope/out.png", NULL);
    expect_failure("is a folder", NULL, "--model", m, "--width", "32", "--height", "32", "--output",
                   dir, NULL);
    expect_failure("--encode-only", NULL, "--model", m, "--encode-only", NULL);
}

static void test_memory_refusal(void)
{
    /* the estimate is compared with what the machine has; FLUX_MEMORY_LIMIT stands in for it */
    g_autofree char *model = tu_model_path(NULL);
    g_autofree char *dir = tu_temp_dir();
    g_autofree char *out = g_build_filename(dir, "out.png", NULL);
    g_setenv("FLUX_MEMORY_LIMIT", "1000000", TRUE);
    expect_failure("GiB of working memory", out, "--model", model, "--width", "512", "--height",
                   "512", "--steps", "1", "--output", out, NULL);
    g_unsetenv("FLUX_MEMORY_LIMIT");
}

static void test_edge_prompts(void)
{
    /* valid edge inputs work as in the reference: empty, whitespace-only, and too long
     * (truncated, with a warning saying so) */
    g_autofree char *model = tu_model_path(NULL);
    g_autofree char *dir = tu_temp_dir();
    g_autofree char *out = g_build_filename(dir, "e.png", NULL);
    GString *lng = g_string_new(NULL);
    for (int i = 0; i < 100; i++) g_string_append(lng, "a red fox in the snow ");
    const char *prompts[] = {"", "   \t\n  ", lng->str};
    for (guint i = 0; i < G_N_ELEMENTS(prompts); i++) {
        CliResult r = run_cli("--model", model, "--prompt", prompts[i], "--width", "32", "--height",
                              "32", "--steps", "1", "--max-sequence-length", "32", "--output", out,
                              "--quiet", NULL);
        g_assert_cmpint(r.status, ==, 0);
        g_assert_true(g_file_test(out, G_FILE_TEST_EXISTS));
        gboolean warned = strstr(r.err, "only the first 75 are used") &&
                          strstr(r.err, "only the first 31 are used");
        g_assert_true(warned == (i == 2));
        cli_result_clear(&r);
        g_unlink(out);
    }
    g_string_free(lng, TRUE);
}

static void test_trace_and_defaults(void)
{
    /* --trace lists the pipeline stages with their real shapes; no seed → one is printed */
    g_autofree char *model = tu_model_path(NULL);
    g_autofree char *dir = tu_temp_dir();
    g_autofree char *out = g_build_filename(dir, "t.png", NULL);
    CliResult r =
        run_cli("--model", model, "--prompt", "a cat", "--width", "48", "--height", "32", "--steps",
                "2", "--max-sequence-length", "16", "--output", out, "--trace", NULL);
    g_assert_cmpint(r.status, ==, 0);
    g_assert_nonnull(strstr(r.out, "prompt_embeds"));
    g_assert_nonnull(strstr(r.out, "[1, 16, 32]"));    /* prompt_embeds [1, L, D_t5] */
    g_assert_nonnull(strstr(r.out, "[1, 6, 64]"));     /* packed latents [1, S, P] */
    g_assert_nonnull(strstr(r.out, "[1, 3, 32, 48]")); /* vae_decoded */
    g_assert_nonnull(strstr(r.err, "seed "));
    g_assert_nonnull(strstr(r.err, "step 2/2"));
    int w, h;
    g_autofree guint8 *px = tu_read_png(out, &w, &h);
    g_assert_nonnull(px);
    g_assert_cmpint(w, ==, 48);
    g_assert_cmpint(h, ==, 32);
    cli_result_clear(&r);
}

/* ------------------------------------------------------------------------------------- */
/* --lora                                                                                */

/* A LoRA file on the tiny model (D = 32): float32 pairs with values from tu_fill_random,
 * `seed` per pair, so that two files can hold the same pair under other names. */
typedef struct {
    const char *down, *up; /* tensor names; down [r, in], up [out, r] */
    int r, in, out;
    guint32 seed;
    gboolean split_up; /* write only rows [row0, row0 + out) of a [total, r] up */
    int row0, total;
} LoraPair;

static char *lora_file(const char *dir, const char *name, const LoraPair *pairs, int n)
{
    StWriter *w = st_writer_new();
    for (int i = 0; i < n; i++) {
        const LoraPair *p = &pairs[i];
        float *a = g_new(float, p->r * p->in);
        int total = p->split_up ? p->total : p->out;
        float *b = g_new(float, total * p->r);
        tu_fill_random(a, (size_t)p->r * p->in, p->seed);
        tu_fill_random(b, (size_t)total * p->r, p->seed + 1000);
        int64_t sa[2] = {p->r, p->in}, sb[2] = {p->out, p->r};
        st_writer_add(w, p->down, ST_F32, 2, sa, a);
        st_writer_add(w, p->up, ST_F32, 2, sb, b + (p->split_up ? (size_t)p->row0 * p->r : 0));
        g_free(a), g_free(b);
    }
    char *path = g_build_filename(dir, name, NULL);
    g_assert_true(st_writer_save(w, path, NULL));
    st_writer_free(w);
    return path;
}

static gboolean same_file(const char *a, const char *b)
{
    g_autofree gchar *x = NULL, *y = NULL;
    gsize nx, ny;
    g_assert_true(g_file_get_contents(a, &x, &nx, NULL));
    g_assert_true(g_file_get_contents(b, &y, &ny, NULL));
    return nx == ny && memcmp(x, y, nx) == 0;
}

static char *run_png(const char *dir, const char *name, const char *lora1, const char *lora2)
{
    g_autofree char *model = tu_model_path(NULL);
    char *out = g_build_filename(dir, name, NULL);
    CliResult r = run_cli("--model", model, "--prompt", "a cat", "--width", "32", "--height", "32",
                          "--steps", "2", "--seed", "3", "--quiet", "--output", out,
                          lora1 ? "--lora" : NULL, lora1, lora2 ? "--lora" : NULL, lora2, NULL);
    g_assert_cmpint(r.status, ==, 0);
    cli_result_clear(&r);
    return out;
}

/* The same LoRA as kohya's fused qkv and as diffusers' to_q/to_k/to_v gives the same picture;
 * strength 0 gives the picture without LoRA; strength 1 changes it; bad files fail cleanly. */
static void test_lora(void)
{
    const int D = 32, r = 4;
    g_autofree char *dir = tu_temp_dir();
    const LoraPair fused[] = {{"lora_unet_double_blocks_1_img_attn_qkv.lora_down.weight",
                               "lora_unet_double_blocks_1_img_attn_qkv.lora_up.weight", r, D, 3 * D,
                               5, FALSE, 0, 0}};
    LoraPair split[3];
    static const char *const qkv[] = {"to_q", "to_k", "to_v"};
    char *names[6];
    for (int k = 0; k < 3; k++) {
        names[2 * k] =
            g_strdup_printf("transformer.transformer_blocks.1.attn.%s.lora_A.weight", qkv[k]);
        names[2 * k + 1] =
            g_strdup_printf("transformer.transformer_blocks.1.attn.%s.lora_B.weight", qkv[k]);
        split[k] = (LoraPair){names[2 * k], names[2 * k + 1], r, D, D, 5, TRUE, k * D, 3 * D};
    }
    g_autofree char *p_fused = lora_file(dir, "fused.safetensors", fused, 1);
    g_autofree char *p_split = lora_file(dir, "split.safetensors", split, 3);
    for (int k = 0; k < 6; k++) g_free(names[k]);
    g_autofree char *spec0 = g_strconcat(p_fused, ":0", NULL);
    g_autofree char *spec_half = g_strconcat(p_split, ":0.5", NULL);
    g_autofree char *spec_half2 = g_strconcat(p_fused, ":0.5", NULL);

    g_autofree char *base = run_png(dir, "base.png", NULL, NULL);
    g_autofree char *zero = run_png(dir, "zero.png", spec0, NULL);
    g_autofree char *f1 = run_png(dir, "fused.png", p_fused, NULL);
    g_autofree char *s1 = run_png(dir, "split.png", p_split, NULL);
    g_autofree char *halves = run_png(dir, "halves.png", spec_half, spec_half2);
    g_assert_true(same_file(base, zero));
    g_assert_false(same_file(base, f1));
    g_assert_true(same_file(f1, s1));
    g_assert_true(same_file(f1, halves)); /* 0.5 + 0.5 stacked = 1 */

    g_autofree char *model = tu_model_path(NULL);
    g_autofree char *out = g_build_filename(dir, "bad.png", NULL);
#define RUN_LORA(spec)                                                                             \
    "--model", model, "--prompt", "x", "--width", "32", "--height", "32", "--steps", "1",          \
        "--quiet", "--output", out, "--lora", spec, NULL
    expect_failure("missing.safetensors", out, RUN_LORA("/nonexistent/missing.safetensors"));
    expect_failure("--lora", out, RUN_LORA(":0.5"));
    expect_failure("strength", out, RUN_LORA("x.safetensors:1000"));
    /* truncated */
    g_autofree gchar *bytes = NULL;
    gsize len;
    g_assert_true(g_file_get_contents(p_fused, &bytes, &len, NULL));
    g_autofree char *p_cut = g_build_filename(dir, "cut.safetensors", NULL);
    g_assert_true(g_file_set_contents(p_cut, bytes, (gssize)len - 64, NULL));
    expect_failure("cut.safetensors", out, RUN_LORA(p_cut));
    /* shapes of another model: the tensor is named */
    const LoraPair wide[] = {{"lora_unet_double_blocks_1_img_attn_qkv.lora_down.weight",
                              "lora_unet_double_blocks_1_img_attn_qkv.lora_up.weight", r, 3072,
                              3 * 3072, 5, FALSE, 0, 0}};
    g_autofree char *p_wide = lora_file(dir, "wide.safetensors", wide, 1);
    expect_failure("lora_unet_double_blocks_1_img_attn_qkv.lora_down.weight", out,
                   RUN_LORA(p_wide));
    /* nothing this model has: refused; some unknown keys among known ones: a warning */
    const LoraPair sd[] = {{"lora_unet_mid_block_attentions_0_proj_in.lora_down.weight",
                            "lora_unet_mid_block_attentions_0_proj_in.lora_up.weight", r, D, D, 5,
                            FALSE, 0, 0}};
    g_autofree char *p_sd = lora_file(dir, "sd15.safetensors", sd, 1);
    expect_failure("another model", out, RUN_LORA(p_sd));
    const LoraPair mixed[] = {fused[0], sd[0]};
    g_autofree char *p_mixed = lora_file(dir, "mixed.safetensors", mixed, 2);
    CliResult res = run_cli(RUN_LORA(p_mixed));
    g_assert_cmpint(res.status, ==, 0);
    g_assert_nonnull(strstr(res.err, "lora_unet_mid_block_attentions_0_proj_in.lora_down.weight"));
    cli_result_clear(&res);
    res = run_cli("--verbose", RUN_LORA(p_mixed));
    g_assert_cmpint(res.status, ==, 0);
    g_assert_nonnull(strstr(res.err, "mixed.safetensors: 2 tensors not applied"));
    cli_result_clear(&res);
#undef RUN_LORA
}

/* ------------------------------------------------------------------------------------- */
/* Working from a picture: --init-image, --mask, --strength                              */

static JsonObject *edit_manifest(void)
{
    static JsonParser *parser;
    if (!parser) {
        g_autofree char *path = tu_model_path("golden/edit/manifest.json");
        parser = json_parser_new();
        g_assert_true(json_parser_load_from_file(parser, path, NULL));
    }
    return json_node_get_object(json_parser_get_root(parser));
}

static char *edit_png(const char *name, const char *what)
{
    g_autofree char *rel = g_strdup_printf("golden/edit/%s.%s.png", name, what);
    return tu_model_path(rel);
}

/* Every tensor of the golden case `name` (prefix "<name>.") but the inputs must be in `out`. */
static void compare_edit_tensors(const char *name, const char *out_path)
{
    GError *err = NULL;
    StFile *out = st_file_open(out_path, &err);
    g_assert_no_error(err);
    StFile *g = tu_golden("edit/edit.safetensors");
    g_autofree char *prefix = g_strdup_printf("%s.", name);
    int n = 0;
    for (gsize i = 0; i < st_file_n_tensors(g); i++) {
        StTensor *ref = st_file_tensor(g, i);
        if (!g_str_has_prefix(ref->name, prefix)) continue;
        const char *key = ref->name + strlen(prefix);
        if (!strcmp(key, "init_image_u8") || !strcmp(key, "mask_u8")) continue;
        StTensor *got = st_file_find(out, key);
        if (!got) {
            g_test_fail_printf("%s: output has no '%s'", name, key);
            continue;
        }
        compare_tensor(name, got, ref);
        n++;
    }
    g_test_message("%s: %d tensors compared", name, n);
    st_file_free(out);
}

/* A golden edit case through the CLI, size from the picture (no --width/--height); Fill cases
 * leave out --guidance to check the Fill default of 30. `mask` overrides the golden mask. */
static void run_edit_case(const char *name, const char *mask, const char *out_png)
{
    JsonObject *c = json_object_get_object_member(
        json_object_get_object_member(edit_manifest(), "cases"), name);
    JsonObject *call = json_object_get_object_member(c, "call");
    gboolean fill = !strcmp(json_object_get_string_member(c, "kind"), "fill");
    const char *pkey = json_object_get_string_member(call, "prompt");
    g_autofree char *pname = g_strndup(pkey + 9, strlen(pkey) - 11); /* PROMPTS['x'] */
    const char *prompt = json_object_get_string_member(
        json_object_get_object_member(edit_manifest(), "prompts"), pname);
    g_autofree char *model =
        fill ? g_build_filename(tu_ref_dir(), "tiny-flux-fill-dev", NULL) : tu_model_path(NULL);
    g_autofree char *dir = tu_temp_dir();
    g_autofree char *st = g_build_filename(dir, "out.safetensors", NULL);
    g_autofree char *init = edit_png(name, "init");
    g_autofree char *golden_mask =
        json_object_has_member(call, "mask_image") ? edit_png(name, "mask") : NULL;
    if (!mask) mask = golden_mask;
    g_autofree char *n = g_strdup_printf("%" G_GINT64_FORMAT,
                                         json_object_get_int_member(call, "num_inference_steps"));
    g_autofree char *g =
        g_strdup_printf("%.9g", json_object_get_double_member(call, "guidance_scale"));
    g_autofree char *seed =
        g_strdup_printf("%" G_GINT64_FORMAT, json_object_get_int_member(c, "seed"));
    g_autofree char *l = g_strdup_printf("%" G_GINT64_FORMAT,
                                         json_object_get_int_member(call, "max_sequence_length"));
    g_autofree char *strength =
        json_object_has_member(call, "strength")
            ? g_strdup_printf("%.17g", json_object_get_double_member(call, "strength"))
            : NULL;
    const char *args[16];
    int k = 0;
    if (mask) args[k++] = "--mask", args[k++] = mask;
    if (strength) args[k++] = "--strength", args[k++] = strength;
    if (!fill) args[k++] = "--guidance", args[k++] = g;
    args[k] = NULL;
    CliResult r =
        run_cli("--model", model, "--prompt", prompt, "--init-image", init, "--steps", n, "--seed",
                seed, "--max-sequence-length", l, "--output", out_png, "--save-tensors", st,
                "--quiet", args[0], args[1], args[2], args[3], args[4], args[5], NULL);
    if (r.status != 0) g_test_message("stderr: %s", r.err);
    g_assert_cmpint(r.status, ==, 0);
    cli_result_clear(&r);
    compare_edit_tensors(name, st);
    g_autofree char *ref = edit_png(name, "out");
    compare_png(out_png, ref);
}

static void test_edit_case(gconstpointer data)
{
    g_autofree char *dir = tu_temp_dir();
    g_autofree char *png = g_build_filename(dir, "out.png", NULL);
    run_edit_case(data, NULL, png);
}

static void write_png_file(const char *path, const guint8 *px, int w, int h, png_uint_32 format)
{
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    img.width = (png_uint_32)w, img.height = (png_uint_32)h, img.format = format;
    g_assert_true(png_image_write_to_file(&img, path, 0, px, 0, NULL));
}

/* The same mask as RGB (repaint = (0, 218, 0), Pillow luma 128; keep = (0, 217, 0), luma 127:
 * a truncating 0.299/0.587/0.114 formula would call both 127) and as RGBA (white everywhere,
 * transparent = keep) gives the grey mask's result exactly. */
static void test_edit_mask_formats(void)
{
    const char *name = "inp_64x64_s4_str1_rect";
    g_autofree char *dir = tu_temp_dir();
    g_autofree char *grey_png = g_build_filename(dir, "grey.png", NULL);
    run_edit_case(name, NULL, grey_png);
    g_autofree char *gm = edit_png(name, "mask");
    int w, h;
    g_autofree guint8 *m = tu_read_png(gm, &w, &h); /* as RGB: grey replicated */
    guint8 *rgb = g_malloc((size_t)w * h * 3), *rgba = g_malloc((size_t)w * h * 4);
    for (int i = 0; i < w * h; i++) {
        gboolean on = m[i * 3] >= 128;
        rgb[i * 3] = 0, rgb[i * 3 + 1] = on ? 218 : 217, rgb[i * 3 + 2] = 0;
        rgba[i * 4] = rgba[i * 4 + 1] = rgba[i * 4 + 2] = 255, rgba[i * 4 + 3] = on ? 255 : 0;
    }
    const struct {
        const char *file;
        guint8 *px;
        png_uint_32 format;
    } v[] = {{"rgb_mask.png", rgb, PNG_FORMAT_RGB}, {"rgba_mask.png", rgba, PNG_FORMAT_RGBA}};
    for (gsize i = 0; i < G_N_ELEMENTS(v); i++) {
        g_autofree char *mp = g_build_filename(dir, v[i].file, NULL);
        g_autofree char *out = g_build_filename(dir, "out.png", NULL);
        write_png_file(mp, v[i].px, w, h, v[i].format);
        run_edit_case(name, mp, out);
        g_autofree char *a = NULL, *b = NULL;
        gsize la, lb;
        g_assert_true(g_file_get_contents(grey_png, &a, &la, NULL));
        g_assert_true(g_file_get_contents(out, &b, &lb, NULL));
        g_assert_cmpmem(a, la, b, lb);
    }
    g_free(rgb), g_free(rgba);
}

/* A 70×53 picture gives a 64×48 output: the same as running on its top-left 64×48 (the
 * columns and rows beyond are left out, nothing is resized); an explicit matching
 * --width/--height is accepted. */
static void test_edit_size_floor(void)
{
    g_autofree char *model = tu_model_path(NULL);
    g_autofree char *dir = tu_temp_dir();
    enum { W = 70, H = 53 };
    guint8 *big = g_malloc(W * H * 3), *small = g_malloc(64 * 48 * 3);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W * 3; x++) big[y * W * 3 + x] = (guint8)(x * 3 + y * 5);
    for (int y = 0; y < 48; y++) memcpy(small + y * 64 * 3, big + y * W * 3, 64 * 3);
    g_autofree char *pb = g_build_filename(dir, "big.png", NULL);
    g_autofree char *ps = g_build_filename(dir, "small.png", NULL);
    write_png_file(pb, big, W, H, PNG_FORMAT_RGB);
    write_png_file(ps, small, 64, 48, PNG_FORMAT_RGB);
    g_free(big), g_free(small);
    const char *ins[] = {pb, ps, pb};
    g_auto(GStrv) outs = g_new0(char *, 4); /* NULL-terminated: all three freed */
    for (int i = 0; i < 3; i++) {
        outs[i] = g_strdup_printf("%s/out%d.png", dir, i);
        CliResult r =
            run_cli("--model", model, "--prompt", "x", "--init-image", ins[i], "--steps", "2",
                    "--strength", "0.5", "--max-sequence-length", "8", "--seed", "3", "--output",
                    outs[i], "--quiet", i == 2 ? "--width" : NULL, "66", "--height", "50", NULL);
        g_assert_cmpint(r.status, ==, 0);
        cli_result_clear(&r);
    }
    int w, h;
    g_autofree guint8 *a = tu_read_png(outs[0], &w, &h);
    g_assert_cmpint(w, ==, 64);
    g_assert_cmpint(h, ==, 48);
    for (int i = 1; i < 3; i++) {
        g_autofree guint8 *b = tu_read_png(outs[i], &w, &h);
        g_assert_cmpmem(a, 64 * 48 * 3, b, 64 * 48 * 3);
    }
}

/* Every bad picture argument: one clear line, non-zero status, no output. */
static void test_edit_bad_input(void)
{
    g_autofree char *model = tu_model_path(NULL);
    g_autofree char *fill = g_build_filename(tu_ref_dir(), "tiny-flux-fill-dev", NULL);
    g_autofree char *dir = tu_temp_dir();
    g_autofree char *out = g_build_filename(dir, "out.png", NULL);
    g_autofree char *init = edit_png("inp_64x64_s4_str1_rect", "init");
    g_autofree char *mask = edit_png("inp_64x64_s4_str1_rect", "mask");
    g_autofree char *other = edit_png("inp_80x48_s4_str07_soft", "mask");
    g_autofree char *missing = g_build_filename(dir, "nope.png", NULL);
    g_autofree char *text = g_build_filename(dir, "text.png", NULL);
    g_assert_true(g_file_set_contents(text, "not a picture", -1, NULL));
    g_autofree char *cut = g_build_filename(dir, "cut.png", NULL);
    g_autofree char *bytes = NULL;
    gsize len;
    g_assert_true(g_file_get_contents(init, &bytes, &len, NULL));
    g_assert_true(g_file_set_contents(cut, bytes, (gssize)len / 2, NULL));
    g_autofree char *tiny = g_build_filename(dir, "tiny.png", NULL);
    guint8 px[15 * 40 * 3] = {0};
    write_png_file(tiny, px, 40, 15, PNG_FORMAT_RGB);

#define EDIT_FAIL(needle, ...)                                                                     \
    expect_failure(needle, out, "--model", model, "--prompt", "x", "--steps", "2",                 \
                   "--max-sequence-length", "8", "--output", out, __VA_ARGS__, NULL)
    EDIT_FAIL("--mask needs --init-image", "--mask", mask);
    EDIT_FAIL("--strength needs --init-image", "--strength", "0.5");
    EDIT_FAIL("strength 'half' is not a number", "--init-image", init, "--strength", "half");
    EDIT_FAIL("strength 0 is out of range", "--init-image", init, "--strength", "0");
    EDIT_FAIL("strength 1.5 is out of range", "--init-image", init, "--strength", "1.5");
    EDIT_FAIL("strength -0.25 is out of range", "--init-image", init, "--strength", "-0.25");
    EDIT_FAIL("runs no step", "--init-image", init, "--strength", "1e-30");
    EDIT_FAIL("nope.png", "--init-image", missing);
    EDIT_FAIL("text.png: not a PNG file", "--init-image", text);
    EDIT_FAIL("text.png: not a PNG file", "--init-image", init, "--mask", text);
    EDIT_FAIL("cut.png: not a readable PNG", "--init-image", cut);
    EDIT_FAIL("is 48×80 pixels but the picture", "--init-image", init, "--mask", other);
    EDIT_FAIL("pictures need at least 16×16", "--init-image", tiny);
    EDIT_FAIL("but 32×64 was asked for", "--init-image", init, "--width", "32");
    EDIT_FAIL("width 0 is out of range", "--init-image", init, "--width", "0");
    EDIT_FAIL("--init-image cannot be used with --encode-only", "--init-image", init,
              "--encode-only");
#undef EDIT_FAIL
    expect_failure("needs both an init picture and a mask", out, "--model", fill, "--prompt", "x",
                   "--steps", "2", "--max-sequence-length", "8", "--output", out, "--init-image",
                   init, NULL);
    expect_failure("needs both an init picture and a mask", out, "--model", fill, "--prompt", "x",
                   "--steps", "2", "--max-sequence-length", "8", "--output", out, NULL);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/cli/encode-only", test_encode_only);
    g_test_add_func("/cli/encode-short-sequence", test_encode_short_sequence);
    static const char *cases[] = {"p64x64_s4", "p48x80_s3", "p56x72_s2_msl77", "p32x48_s2_truecfg"};
    for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *path = g_strdup_printf("/cli/pipeline/%s", cases[i]);
        g_test_add_data_func(path, cases[i], test_pipeline_case);
    }
    g_test_add_func("/cli/trace-and-defaults", test_trace_and_defaults);
    g_test_add_func("/cli/bad-arguments", test_bad_arguments);
    g_test_add_func("/cli/bad-outputs", test_bad_outputs);
    g_test_add_func("/cli/bad-models", test_bad_models);
    g_test_add_func("/cli/hostile-files", test_hostile_files);
    g_test_add_func("/cli/more-bad-arguments", test_more_bad_arguments);
    g_test_add_func("/cli/memory-refusal", test_memory_refusal);
    g_test_add_func("/cli/edge-prompts", test_edge_prompts);
    g_test_add_func("/cli/lora", test_lora);
    const char *edit_cases[] = {"i2i_64x64_s4_str06",      "i2i_48x80_s5_str085",
                                "i2i_32x32_s3_str1",       "inp_64x64_s4_str1_rect",
                                "inp_80x48_s4_str07_soft", "fill_64x64_s3_ellipse",
                                "fill_48x64_s2_rect"};
    for (gsize i = 0; i < G_N_ELEMENTS(edit_cases); i++) {
        g_autofree char *path = g_strdup_printf("/cli/edit/%s", edit_cases[i]);
        g_test_add_data_func(path, edit_cases[i], test_edit_case);
    }
    g_test_add_func("/cli/edit-mask-formats", test_edit_mask_formats);
    g_test_add_func("/cli/edit-size-floor", test_edit_size_floor);
    g_test_add_func("/cli/edit-bad-input", test_edit_bad_input);
    return g_test_run();
}
