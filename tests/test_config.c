/* test_config.c — config.json getters: types, ranges, defaults, and messages that name the
 * file and key. */
#include "config.h"
#include "flux.h"
#include "testutil.h"

#include <string.h>

static CfgJson *load_text(const char *text)
{
    g_autofree char *p = tu_temp_file(".json", text, strlen(text));
    GError *err = NULL;
    CfgJson *c = cfg_load(p, &err);
    g_assert_no_error(err);
    return c;
}

static void test_getters(void)
{
    CfgJson *c = load_text("{\"a\": 3, \"f\": 2.5, \"i\": 4.0, \"b\": true, \"s\": \"x\", "
                           "\"n\": null, \"arr\": [4, 6, 6], \"pair\": [\"diffusers\", \"K\"]}");
    int64_t v;
    double d;
    gboolean b;
    const char *s, *s2;
    GError *err = NULL;
    g_assert_true(cfg_int(c, "a", 1, 10, &v, &err) && v == 3);
    g_assert_true(cfg_int(c, "i", 1, 10, &v, &err) && v == 4);       /* 4.0 is an integer */
    g_assert_true(cfg_int_or(c, "n", 7, 1, 10, &v, &err) && v == 7); /* null → default */
    g_assert_true(cfg_int_or(c, "missing", 8, 1, 10, &v, &err) && v == 8);
    g_assert_true(cfg_double(c, "f", 0, 10, &d, &err) && d == 2.5);
    g_assert_true(cfg_double(c, "a", 0, 10, &d, &err) && d == 3.0);
    g_assert_true(cfg_bool_or(c, "b", FALSE, &b, &err) && b);
    g_assert_true(cfg_string_or(c, "s", NULL, &s, &err) && strcmp(s, "x") == 0);
    int64_t arr[3];
    gsize n;
    g_assert_true(cfg_int_array(c, "arr", 1, 100, arr, 3, &n, &err) && n == 3 && arr[2] == 6);
    g_assert_true(cfg_int_array(c, "n", 1, 100, arr, 3, &n, &err) && n == 0);
    g_assert_true(cfg_pair(c, "pair", &s, &s2, &err) && strcmp(s2, "K") == 0);
    g_assert_no_error(err);
    g_assert_true(cfg_has(c, "a") && !cfg_has(c, "n") && !cfg_has(c, "zz"));
    cfg_free(c);
}

static void expect_fail(gboolean ok, GError **err, const char *needle)
{
    g_assert_false(ok);
    tu_expect_error(err, FLUX_ERROR_MODEL, (const char *const[]){needle, NULL});
}

static void test_errors(void)
{
    CfgJson *c = load_text("{\"a\": 3, \"f\": 2.5, \"s\": \"x\", \"arr\": [1, 2, 3, 4]}");
    int64_t v, arr[3];
    double d;
    gboolean b;
    gsize n;
    GError *err = NULL;
    expect_fail(cfg_int(c, "a", 4, 10, &v, &err), &err, "\"a\" is 3, expected 4..10");
    expect_fail(cfg_int(c, "f", 0, 10, &v, &err), &err, "not an integer");
    expect_fail(cfg_int(c, "s", 0, 10, &v, &err), &err, "not an integer");
    expect_fail(cfg_int(c, "zz", 0, 10, &v, &err), &err, "\"zz\" is missing");
    expect_fail(cfg_double(c, "f", 3, 4, &d, &err), &err, "expected 3..4");
    expect_fail(cfg_bool_or(c, "a", FALSE, &b, &err), &err, "true or false");
    expect_fail(cfg_int_array(c, "arr", 0, 9, arr, 3, &n, &err), &err, "4 elements");
    expect_fail(cfg_int_array(c, "a", 0, 9, arr, 3, &n, &err), &err, "not an array");
    cfg_free(c);
}

static void test_bad_files(void)
{
    GError *err = NULL;
    g_assert_null(cfg_load("/nonexistent/config.json", &err));
    g_assert_error(err, FLUX_ERROR, FLUX_ERROR_IO);
    g_assert_nonnull(strstr(err->message, "/nonexistent/config.json"));
    g_clear_error(&err);
    g_autofree char *p = tu_temp_file(".json", "{\"a\":", 5);
    g_assert_null(cfg_load(p, &err));
    g_assert_error(err, FLUX_ERROR, FLUX_ERROR_FORMAT);
    g_clear_error(&err);
    g_autofree char *p2 = tu_temp_file(".json", "[1]", 3);
    g_assert_null(cfg_load(p2, &err));
    g_assert_error(err, FLUX_ERROR, FLUX_ERROR_FORMAT);
    g_clear_error(&err);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/config/getters", test_getters);
    g_test_add_func("/config/errors", test_errors);
    g_test_add_func("/config/bad-files", test_bad_files);
    return g_test_run();
}
