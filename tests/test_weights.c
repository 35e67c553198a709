/* test_weights.c — the spec tables of core/formats/weights.h: every model's tables agree with
 * its structs (wt_table_check: one row per parameter field, none twice, none missing), the check
 * catches each kind of disagreement, and wt_bind_only binds a row group only when asked. */
#include "clip.h"
#include "flux.h"
#include "t5.h"
#include "testutil.h"
#include "vae.h"
#include "vae_blocks.h"
#include "vae_encoder.h"
#include "weights.h"

#include <stddef.h>
#include <string.h>

/* ------------------------------------------------------------------------------------- */
/* Every model's tables                                                                  */

static void check_all(const char *model, const WtTable *t, gsize n, gsize want)
{
    g_assert_cmpuint(n, ==, want);
    for (gsize i = 0; i < n; i++) {
        GError *err = NULL;
        if (!wt_table_check(&t[i], &err)) g_printerr("%s: %s\n", model, err->message);
        g_assert_no_error(err);
    }
}

static void test_models(void)
{
    gsize n;
    const WtTable *t = clip_tables(&n);
    check_all("clip", t, n, 2);
    g_assert_cmpuint(t[0].n, ==, 16); /* CLIPEncoderLayer: 2 norms, 4 + 2 linears, w + b */
    g_assert_cmpuint(t[1].n, ==, 4);
    t = t5_tables(&n);
    check_all("t5", t, n, 2);
    g_assert_cmpuint(t[0].n, ==, 10); /* norm, q k v o, norm, wi_0 wi_1 | wi, wo */
    t = vae_tables(&n);
    check_all("vae", t, n, 2);
    g_assert_cmpuint(t[1].n, ==, 8);
    t = vae_blocks_tables(&n);
    check_all("vae_blocks", t, n, 2);
    g_assert_cmpuint(t[0].n, ==, 10); /* ResnetBlock2D with its shortcut */
    g_assert_cmpuint(t[1].n, ==, 10);
    t = vae_encoder_tables(&n);
    check_all("vae_encoder", t, n, 2);
    g_assert_cmpuint(t[1].n, ==, 8);
}

/* ------------------------------------------------------------------------------------- */
/* What the check catches                                                                */

/* A struct as a model might hand-edit it: three parameters, then other state. */
typedef struct {
    const StTensor *a, *b, *c;
    int other;
} Three;

static void expect_bad(const WtSpec *spec, gsize n, gsize size, int n_dims, const char *needle)
{
    WtTable t = {"Three", spec, n, size, n_dims};
    GError *err = NULL;
    g_assert_false(wt_table_check(&t, &err));
    tu_expect_error(&err, FLUX_ERROR_MODEL, (const char *const[]){"Three", needle, NULL});
}

static void test_check_catches(void)
{
    const WtSpec good[] = {{"a.weight", offsetof(Three, a), 2, {WT_D(0), 4}, 0},
                           {"b.bias", offsetof(Three, b), 1, {WT_D(1)}, WT_F32},
                           {"c.weight", offsetof(Three, c), 1, {3}, 0}};
    WtTable ok = {"Three", good, 3, offsetof(Three, other), 2};
    GError *err = NULL;
    g_assert_true(wt_table_check(&ok, &err));
    g_assert_no_error(err);
    /* a field added to the struct without a row */
    expect_bad(good, 2, offsetof(Three, other), 2, "field 2 (byte 16) has no row");
    /* a field bound twice (a copied row whose field was not changed) */
    const WtSpec twice[] = {good[0], good[1], {"c.weight", offsetof(Three, b), 1, {3}, 0}};
    expect_bad(twice, 3, offsetof(Three, other), 2, "bound by an earlier row");
    /* a row past the parameters (into `other`) */
    const WtSpec past[] = {good[0], good[1], good[2], {"d", offsetof(Three, other), 1, {3}, 0}};
    expect_bad(past, 4, offsetof(Three, other), 2, "not one of the struct's leading");
    /* one checkpoint name for two fields */
    const WtSpec names[] = {good[0], good[1], {"a.weight", offsetof(Three, c), 1, {3}, 0}};
    expect_bad(names, 3, offsetof(Three, other), 2, "name is used by an earlier row");
    /* a dim index the binder's dims array does not have */
    const WtSpec dims[] = {good[0], {"b.bias", offsetof(Three, b), 1, {WT_D(2)}, 0}, good[2]};
    expect_bad(dims, 3, offsetof(Three, other), 2, "no WT_D of the table");
    const WtSpec nodim[] = {good[0], good[1], {"c.weight", offsetof(Three, c), 0, {0}, 0}};
    expect_bad(nodim, 3, offsetof(Three, other), 2, "no 1 to 4 dims");
}

/* ------------------------------------------------------------------------------------- */
/* The X-macro and the groups                                                            */

enum { G_ONE, G_TWO };
/* clang-format off */
#define PAIR(P, S)                                                 \
    P(S, w, "lin.weight", 0, WT_D(0), 3)                           \
    P(S, x, "one.weight", WT_ONLY(G_ONE), WT_D(0))                 \
    P(S, y, "two.weight", WT_ONLY(G_TWO) | WT_F32, 3, 1, 1, 1)
/* clang-format on */
typedef struct {
    PAIR(WT_FIELD, _)
} Pair;
static const WtSpec pair_spec[] = {PAIR(WT_ROW, Pair)};

static void test_xmacro_and_groups(void)
{
    /* the rows the X-macro writes: names, offsets, dims counted from the list */
    g_assert_cmpuint(G_N_ELEMENTS(pair_spec), ==, 3);
    g_assert_cmpstr(pair_spec[2].name, ==, "two.weight");
    g_assert_cmpuint(pair_spec[1].offset, ==, offsetof(Pair, x));
    g_assert_cmpint(pair_spec[0].ndim, ==, 2);
    g_assert_cmpint(pair_spec[0].dims[0], ==, WT_D(0));
    g_assert_cmpint(pair_spec[0].dims[1], ==, 3);
    g_assert_cmpint(pair_spec[2].ndim, ==, 4);
    g_assert_cmpuint(pair_spec[2].flags, ==, WT_ONLY(G_TWO) | WT_F32);
    WtTable t = WT_TABLE_ALL(Pair, pair_spec, 1);
    GError *err = NULL;
    g_assert_true(wt_table_check(&t, &err));

    /* bind from a small archive holding lin and one, not two */
    StArchive *a = st_archive_new("mem");
    g_assert_nonnull(st_archive_add_owned(a, "p.lin.weight", ST_F32, 2, (const int64_t[]){2, 3},
                                          g_new0(float, 6), "mem", &err));
    g_assert_nonnull(st_archive_add_owned(a, "p.one.weight", ST_F32, 1, (const int64_t[]){2},
                                          g_new0(float, 2), "mem", &err));
    const int64_t dims[1] = {2};
    Pair p = {0};
    g_assert_true(wt_bind_only(a, "p.", pair_spec, 3, dims, WT_ONLY(G_ONE), &p, &err));
    g_assert_no_error(err);
    g_assert_nonnull(p.w);
    g_assert_cmpstr(p.x->name, ==, "p.one.weight");
    g_assert_null(p.y); /* group two not asked for */
    /* asking for group two names its missing tensor */
    memset(&p, 0, sizeof p);
    g_assert_false(wt_bind_only(a, "p.", pair_spec, 3, dims, WT_ONLY(G_TWO), &p, &err));
    tu_expect_error(&err, FLUX_ERROR_MODEL,
                    (const char *const[]){"'p.two.weight' is missing", NULL});
    /* wt_bind binds every group */
    g_assert_false(wt_bind(a, "p.", pair_spec, 3, dims, &p, &err));
    tu_expect_error(&err, FLUX_ERROR_MODEL, (const char *const[]){"p.two.weight", NULL});
    st_archive_free(a);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/weights/models-tables-agree", test_models);
    g_test_add_func("/weights/check-catches", test_check_catches);
    g_test_add_func("/weights/xmacro-and-groups", test_xmacro_and_groups);
    return g_test_run();
}
