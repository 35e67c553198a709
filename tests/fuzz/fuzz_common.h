/* fuzz_common.h — shared by the libFuzzer harnesses: a scratch folder in tmpfs and a way to
 * put the fuzzer's bytes into a file there (the parsers read files, as users give them). */
#pragma once

#include <glib.h>
#include <glib/gstdio.h>
#include <stdint.h>
#include <stdlib.h>

static inline const char *fuzz_dir(void)
{
    static char *dir;
    if (!dir) {
        const char *base =
            g_file_test("/dev/shm", G_FILE_TEST_IS_DIR) ? "/dev/shm" : g_get_tmp_dir();
        g_autofree char *tmpl = g_build_filename(base, "flux-fuzz-XXXXXX", NULL);
        dir = g_mkdtemp(g_strdup(tmpl));
        if (!dir) abort();
    }
    return dir;
}

/* Writes data to <fuzz_dir>/<name> and returns the path (owned by the caller). */
static inline char *fuzz_file(const char *name, const uint8_t *data, size_t size)
{
    char *p = g_build_filename(fuzz_dir(), name, NULL);
    g_unlink(p); /* replace symlinks too */
    if (!g_file_set_contents(p, (const char *)data, (gssize)size, NULL)) abort();
    return p;
}

/* A copy of the reference tiny model made of symlinks, so one file can be replaced. */
static inline const char *fuzz_model_copy(void)
{
    static char *dst;
    if (!dst) {
        const char *ref = g_getenv("FLUX_REFERENCE_DIR");
        if (!ref) abort();
        dst = g_build_filename(fuzz_dir(), "model", NULL);
        g_autofree char *cmd =
            g_strdup_printf("mkdir -p '%s' && cp -rs '%s/tiny-flux-dev/.' '%s/'", dst, ref, dst);
        if (system(cmd) != 0) abort();
    }
    return dst;
}
