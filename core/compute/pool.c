/* pool.c — see pool.h. */
#include "pool.h"

#include <glib.h>
#include <stdlib.h>

int pool_n_threads(void)
{
    static gsize n = 0;
    if (g_once_init_enter(&n)) {
        int v = (int)g_get_num_processors();
        const char *env = g_getenv("FLUX_THREADS");
        if (env && atoi(env) > 0) v = atoi(env);
        g_once_init_leave(&n, (gsize)(v < 1 ? 1 : v > 64 ? 64 : v));
    }
    return (int)n;
}

/* Workers sleep on `go` until `generation` changes; worker i (1..n-1) runs chunk i of the job,
 * the caller runs chunk 0, and the last worker to finish signals `done`. One job at a time:
 * `submit` is held by the thread that runs one; a job started while another runs (from another
 * thread, or nested inside a chunk) runs serially on its caller. */
typedef struct {
    GMutex lock, submit;
    GCond go, done;
    int n_workers;
    guint64 generation;
    void (*fn)(void *, size_t, size_t);
    void *ctx;
    size_t n;
    int n_chunks, pending;
} OpsPool;

static OpsPool pool;
static _Thread_local int in_chunk; /* this thread is running a chunk of a job */

static void run_chunk(void (*fn)(void *, size_t, size_t), void *ctx, size_t n, int i, int nc)
{
    in_chunk = 1;
    fn(ctx, n * (size_t)i / (size_t)nc, n * (size_t)(i + 1) / (size_t)nc);
    in_chunk = 0;
}

static gpointer pool_worker(gpointer data)
{
    const int index = GPOINTER_TO_INT(data);
    guint64 seen = 0;
    g_mutex_lock(&pool.lock);
    for (;;) {
        while (pool.generation == seen) g_cond_wait(&pool.go, &pool.lock);
        seen = pool.generation;
        if (index >= pool.n_chunks) continue;
        void (*fn)(void *, size_t, size_t) = pool.fn;
        void *ctx = pool.ctx;
        size_t n = pool.n;
        int nc = pool.n_chunks;
        g_mutex_unlock(&pool.lock);
        run_chunk(fn, ctx, n, index, nc);
        g_mutex_lock(&pool.lock);
        if (--pool.pending == 0) g_cond_signal(&pool.done);
    }
    return NULL;
}

/* Starts the workers once; they live as long as the process (idle ones sleep on a condition
 * variable, so they cost nothing while OpenBLAS's own threads run a GEMM). */
static void pool_start(void)
{
    static gsize started = 0;
    if (g_once_init_enter(&started)) {
        pool.n_workers = pool_n_threads() - 1;
        for (int i = 1; i <= pool.n_workers; i++)
            g_thread_unref(g_thread_new("flux-op", pool_worker, GINT_TO_POINTER(i)));
        g_once_init_leave(&started, 1);
    }
}

void pool_parallel_for(size_t n, void (*fn)(void *ctx, size_t begin, size_t end), void *ctx)
{
    int nc = pool_n_threads();
    if ((size_t)nc > n) nc = (int)n;
    if (nc <= 1 || in_chunk || !g_mutex_trylock(&pool.submit)) {
        if (n) fn(ctx, 0, n);
        return;
    }
    pool_start();
    g_mutex_lock(&pool.lock);
    pool.fn = fn;
    pool.ctx = ctx;
    pool.n = n;
    pool.n_chunks = nc;
    pool.pending = nc - 1;
    pool.generation++;
    g_cond_broadcast(&pool.go);
    g_mutex_unlock(&pool.lock);
    run_chunk(fn, ctx, n, 0, nc);
    g_mutex_lock(&pool.lock);
    while (pool.pending > 0) g_cond_wait(&pool.done, &pool.lock);
    g_mutex_unlock(&pool.lock);
    g_mutex_unlock(&pool.submit);
}
