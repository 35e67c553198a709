/* progress-spy.c — LD_PRELOAD shim for the GIMP tests: logs every gimp_progress_init,
 * gimp_progress_set_text and gimp_progress_update a plug-in makes, as
 *   PROGRESS-SPY <program> init|text|update <value>
 * on stderr (GIMP's log). When the file named by $FLUX_SPY_KILL_FILE exists and a progress
 * text starts with its contents (e.g. "Step 2/"), the process kills itself with SIGKILL, as
 * GIMP does to a plug-in whose progress is cancelled; with "pause Step 2/" it sleeps 3 s
 * there instead (time for a screenshot of the progress bar). Build:
 *   cc -shared -fPIC -O2 -o progress-spy.so progress-spy.c -ldl
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef int gboolean;

static void *real(const char *name)
{
    void *f = dlsym(RTLD_NEXT, name);
    if (!f) {
        fprintf(stderr, "PROGRESS-SPY cannot find %s\n", name);
        abort();
    }
    return f;
}

static void maybe_die(const char *text)
{
    const char *path = getenv("FLUX_SPY_KILL_FILE");
    FILE *f = path ? fopen(path, "r") : NULL;
    if (!f) return;
    char prefix[256] = "";
    if (fgets(prefix, sizeof prefix, f)) prefix[strcspn(prefix, "\r\n")] = '\0';
    fclose(f);
    int pause = strncmp(prefix, "pause ", 6) == 0;
    const char *p = pause ? prefix + 6 : prefix;
    if (!p[0] || strncmp(text, p, strlen(p)) != 0) return;
    fprintf(stderr, "PROGRESS-SPY %s %s at \"%s\"\n", program_invocation_short_name,
            pause ? "paused" : "killed", text);
    if (pause)
        sleep(3);
    else
        raise(SIGKILL);
}

gboolean gimp_progress_init(const char *message)
{
    static gboolean (*fn)(const char *);
    if (!fn) fn = (gboolean(*)(const char *))real("gimp_progress_init");
    fprintf(stderr, "PROGRESS-SPY %s init \"%s\"\n", program_invocation_short_name,
            message ? message : "");
    return fn(message);
}

gboolean gimp_progress_set_text(const char *message)
{
    static gboolean (*fn)(const char *);
    if (!fn) fn = (gboolean(*)(const char *))real("gimp_progress_set_text");
    fprintf(stderr, "PROGRESS-SPY %s text \"%s\"\n", program_invocation_short_name,
            message ? message : "");
    gboolean ok = fn(message);
    maybe_die(message ? message : "");
    return ok;
}

gboolean gimp_progress_update(double percentage)
{
    static gboolean (*fn)(double);
    if (!fn) fn = (gboolean(*)(double))real("gimp_progress_update");
    fprintf(stderr, "PROGRESS-SPY %s update %.4f\n", program_invocation_short_name, percentage);
    return fn(percentage);
}
