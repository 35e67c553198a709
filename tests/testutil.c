/* testutil.c — see testutil.h. */
#include "testutil.h"

#include "model.h"

#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <math.h>
#include <png.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static GHashTable *golden_cache;
static GPtrArray *temp_paths;

const char *tu_ref_dir(void)
{
    const char *d = g_getenv("FLUX_REFERENCE_DIR");
    if (!d) d = "../shared/reference";
    return d;
}

char *tu_model_path(const char *sub)
{
    return sub ? g_build_filename(tu_ref_dir(), "tiny-flux-dev", sub, NULL)
               : g_build_filename(tu_ref_dir(), "tiny-flux-dev", NULL);
}

StFile *tu_golden(const char *file)
{
    if (!golden_cache) golden_cache = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    StFile *f = g_hash_table_lookup(golden_cache, file);
    if (f) return f;
    g_autofree char *p = g_build_filename(tu_ref_dir(), "tiny-flux-dev", "golden", file, NULL);
    GError *err = NULL;
    f = st_file_open(p, &err);
    g_assert_no_error(err);
    g_hash_table_insert(golden_cache, g_strdup(file), f);
    return f;
}

StTensor *tu_golden_tensor(const char *file, const char *name)
{
    StTensor *t = st_file_find(tu_golden(file), name);
    if (!t) g_error("golden %s has no tensor '%s'", file, name);
    return t;
}

float *tu_f32(const StTensor *t)
{
    float *x = g_new(float, t->numel ? t->numel : 1);
    st_to_f32(x, t, 0, t->numel);
    return x;
}

double tu_assert_close(const char *what, const float *got, const float *ref, size_t n, double tol)
{
    double maxref = 0, maxdiff = 0;
    size_t worst = 0;
    for (size_t i = 0; i < n; i++) maxref = fmax(maxref, fabs(ref[i]));
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - ref[i]);
        if (isnan(got[i]) != isnan(ref[i])) d = INFINITY;
        if (d > maxdiff || (isnan(d))) {
            maxdiff = isnan(d) ? INFINITY : d;
            worst = i;
        }
    }
    double rel = maxdiff / fmax(1.0, maxref);
    if (g_test_verbose() || !(rel <= tol)) {
        g_test_message("%s: %zu values, max|ref| %.4g, max diff %.3g at %zu (got %.7g ref %.7g), "
                       "relative %.3g (tolerance %.1g)",
                       what, n, maxref, maxdiff, worst, n ? got[worst] : 0.0, n ? ref[worst] : 0.0,
                       rel, tol);
        for (size_t i = 0; i < n && i < 6; i++)
            g_test_message("  [%zu] got %.7g ref %.7g", i, got[i], ref[i]);
    }
    if (!(rel <= tol)) {
        g_test_fail_printf("%s: relative max diff %.3g exceeds %.1g", what, rel, tol);
    }
    return rel;
}

double tu_assert_close_t(const char *what, const float *got, const StTensor *ref, double tol)
{
    g_autofree float *r = tu_f32(ref);
    return tu_assert_close(what, got, r, (size_t)ref->numel, tol);
}

static void cleanup_temps(void)
{
    if (!temp_paths) return;
    for (guint i = temp_paths->len; i-- > 0;) {
        const char *p = g_ptr_array_index(temp_paths, i);
        if (g_file_test(p, G_FILE_TEST_IS_DIR)) {
            g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", p);
            if (system(cmd) != 0) g_printerr("cannot remove %s\n", p);
        } else {
            g_unlink(p);
        }
    }
    g_ptr_array_free(temp_paths, TRUE);
    temp_paths = NULL;
}

static void remember_temp(const char *p)
{
    if (!temp_paths) {
        temp_paths = g_ptr_array_new_with_free_func(g_free);
        atexit(cleanup_temps);
    }
    g_ptr_array_add(temp_paths, g_strdup(p));
}

char *tu_temp_file(const char *suffix, const void *data, size_t len)
{
    g_autofree char *tmpl = g_strdup_printf("flux-test-XXXXXX%s", suffix ? suffix : "");
    char *path = NULL;
    GError *err = NULL;
    int fd = g_file_open_tmp(tmpl, &path, &err);
    g_assert_no_error(err);
    close(fd);
    g_file_set_contents(path, data, (gssize)len, &err);
    g_assert_no_error(err);
    remember_temp(path);
    return path;
}

char *tu_temp_dir(void)
{
    GError *err = NULL;
    char *d = g_dir_make_tmp("flux-test-XXXXXX", &err);
    g_assert_no_error(err);
    remember_temp(d);
    return d;
}

void tu_fill_random(float *x, size_t n, guint32 seed)
{
    guint32 s = seed ? seed : 1;
    for (size_t i = 0; i < n; i++) {
        s ^= s << 13;
        s ^= s >> 17;
        s ^= s << 5;
        x[i] = (float)((s >> 8) * (1.0 / 8388608.0) - 1.0);
    }
}

const char *tu_python_with_numpy(void)
{
    static char *found;
    static gboolean tried;
    if (tried) return found;
    tried = TRUE;
    g_autofree char *on_path = g_find_program_in_path("python3");
    const char *cands[] = {g_getenv("FLUX_PYTHON"), on_path, "/usr/bin/python3"};
    for (gsize i = 0; i < G_N_ELEMENTS(cands); i++) {
        if (!cands[i]) continue;
        const char *argv[] = {cands[i], "-c", "import numpy", NULL};
        gint status = -1;
        if (g_spawn_sync(NULL, (char **)argv, NULL,
                         G_SPAWN_STDOUT_TO_DEV_NULL | G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL, NULL,
                         NULL, &status, NULL) &&
            g_spawn_check_wait_status(status, NULL))
            return found = g_strdup(cands[i]);
    }
    return NULL;
}

/* meson runs the tests from the build root; the scripts lie beside this file. */
void tu_run_python_script(const char *script, ...)
{
    g_autofree char *src = g_path_get_dirname(__FILE__);
    g_autofree char *path = g_build_filename(src, script, NULL);
    GPtrArray *argv = g_ptr_array_new();
    g_ptr_array_add(argv, (gpointer)tu_python_with_numpy());
    g_ptr_array_add(argv, path);
    va_list ap;
    va_start(ap, script);
    for (const char *a; (a = va_arg(ap, const char *));) g_ptr_array_add(argv, (gpointer)a);
    va_end(ap);
    g_ptr_array_add(argv, NULL);
    gint status;
    g_autofree char *err = NULL;
    GError *e = NULL;
    g_assert_true(g_spawn_sync(NULL, (char **)argv->pdata, NULL, G_SPAWN_STDOUT_TO_DEV_NULL, NULL,
                               NULL, NULL, &err, &status, &e));
    g_assert_no_error(e);
    g_ptr_array_free(argv, TRUE);
    if (!g_spawn_check_wait_status(status, NULL)) g_error("%s failed:\n%s", script, err);
}

char *tu_converted(const char *file)
{
    static char *dir;
    if (!dir) {
        dir = tu_temp_dir();
        g_autofree char *model = tu_model_path(NULL);
        tu_run_python_script("convert_checkpoint.py", model, dir, NULL);
    }
    return g_build_filename(dir, file, NULL);
}

gboolean tu_same_file(const char *a, const char *b)
{
    g_autofree char *x = NULL, *y = NULL;
    gsize nx, ny;
    g_assert_true(g_file_get_contents(a, &x, &nx, NULL));
    g_assert_true(g_file_get_contents(b, &y, &ny, NULL));
    return nx == ny && memcmp(x, y, nx) == 0;
}

guint16 tu_bf16_rne(float f)
{
    guint32 u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (guint16)((u >> 16) | 0x40); /* quiet NaN */
    return (guint16)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

char *tu_variant_dir(const char *src, const TuCfgEdit *edits, const char *weights)
{
    char *dir = tu_temp_dir();
    g_autofree char *cfg_in = g_build_filename(src, "config.json", NULL);
    g_autofree char *cfg_out = g_build_filename(dir, "config.json", NULL);
    JsonParser *p = json_parser_new();
    g_assert_true(json_parser_load_from_file(p, cfg_in, NULL));
    JsonNode *root = json_node_copy(json_parser_get_root(p));
    JsonObject *o = json_node_get_object(root);
    for (const TuCfgEdit *e = edits; e && e->key; e++) {
        if (e->value)
            json_object_set_member(o, e->key, e->value);
        else if (json_object_has_member(o, e->key))
            json_object_remove_member(o, e->key);
    }
    JsonGenerator *gen = json_generator_new();
    json_generator_set_root(gen, root);
    g_assert_true(json_generator_to_file(gen, cfg_out, NULL));
    g_object_unref(gen);
    json_node_unref(root);
    g_object_unref(p);
    if (weights) {
        g_autofree char *w_in = g_build_filename(src, weights, NULL);
        g_autofree char *w_out = g_build_filename(dir, weights, NULL);
        g_assert_cmpint(symlink(w_in, w_out), ==, 0);
    }
    return dir;
}

GHashTable *tu_capture_new(void)
{
    return g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
}

void tu_capture_trace(const char *name, FluxDtype dt, int ndim, const int64_t *shape,
                      const void *data, void *user_data)
{
    size_t n = 1;
    for (int i = 0; i < ndim; i++) n *= (size_t)shape[i];
    if (dt == FLUX_DTYPE_F32)
        g_hash_table_insert(user_data, g_strdup(name), g_memdup2(data, n * sizeof(float)));
}

void tu_expect_error(GError **err, int code, const char *const *needles)
{
    g_assert_error(*err, FLUX_ERROR, code);
    g_test_message("expected error: %s", (*err)->message);
    for (const char *const *n = needles; *n; n++)
        if (!strstr((*err)->message, *n))
            g_test_fail_printf("'%s' does not mention '%s'", (*err)->message, *n);
    g_clear_error(err);
}

JsonObject *tu_golden_manifest(const char *file)
{
    static JsonParser *parser;
    if (!parser) {
        g_autofree char *path = tu_model_path("golden/manifest.json");
        GError *err = NULL;
        parser = json_parser_new();
        json_parser_load_from_file(parser, path, &err);
        g_assert_no_error(err);
    }
    JsonObject *files =
        json_object_get_object_member(json_node_get_object(json_parser_get_root(parser)), "files");
    JsonObject *entry = files ? json_object_get_object_member(files, file) : NULL;
    if (!entry) g_error("golden/manifest.json has no entry for %s", file);
    return entry;
}

FluxModel *tu_tiny_model(void)
{
    g_autofree char *dir = tu_model_path(NULL);
    GError *err = NULL;
    FluxModel *m = flux_model_load(dir, &err);
    g_assert_no_error(err);
    return m;
}

guint8 *tu_read_png(const char *path, int *w, int *h)
{
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_file(&img, path)) {
        g_test_fail_printf("%s: %s", path, img.message);
        return NULL;
    }
    img.format = PNG_FORMAT_RGB;
    guint8 *px = g_malloc(PNG_IMAGE_SIZE(img));
    g_assert_true(png_image_finish_read(&img, NULL, px, 0, NULL));
    *w = (int)img.width;
    *h = (int)img.height;
    return px;
}

ClipModel *tu_clip_dir(const char *dir, GError **error)
{
    CfgJson *c;
    StArchive *a;
    ClipModel *m = model_folder_part(dir, "model", &c, &a, error) ? clip_load(c, a, error) : NULL;
    cfg_free(c);
    return m;
}

T5Model *tu_t5_dir(const char *dir, GError **error)
{
    CfgJson *c;
    StArchive *a;
    T5Model *m = model_folder_part(dir, "model", &c, &a, error) ? t5_load(c, a, error) : NULL;
    cfg_free(c);
    return m;
}

VaeModel *tu_vae_dir(const char *dir, GError **error)
{
    CfgJson *c;
    StArchive *a;
    VaeModel *m = model_folder_part(dir, "diffusion_pytorch_model", &c, &a, error)
                      ? vae_load(c, a, error)
                      : NULL;
    cfg_free(c);
    return m;
}

DitModel *tu_dit_dir(const char *dir, GError **error)
{
    CfgJson *c;
    StArchive *a;
    DitModel *m = model_folder_part(dir, "diffusion_pytorch_model", &c, &a, error)
                      ? dit_load(c, a, error)
                      : NULL;
    cfg_free(c);
    return m;
}
