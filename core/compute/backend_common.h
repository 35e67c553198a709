/* backend_common.h — what the cpu and cuda tables share (backend_cpu.c, backend_cuda.c): the
 * context and weight handles behind backend.h's opaque types, and the checks every backend
 * makes. Internal to those files; the registry (backend.c) needs none of it. */
#pragma once

#include "backend.h"
#include "cuda/flux_cuda.h"

#define BACKEND_ARENA_ALIGN 64

struct FluxBackendCtx {
    const FluxBackend *be;
    char description[200];
    /* cpu: host arena [arena, arena + arena_size), next free byte at arena_used */
    char *arena;
    size_t arena_size, arena_used;
    /* cuda: the kernels' context (stream, cuBLAS, device arena) */
    struct FcuCtx *gpu;
};

struct FluxBackendWeight {
    const StTensor *t; /* cpu: the mapped tensor */
    FcuWeight fw;      /* cuda: the device copy */
};

/* FALSE with `error` unless t is a float matrix [N, K] requested as F32, F16 or BF16. */
gboolean backend_check_weight(const StTensor *t, StDtype dt, GError **error);
/* The context's description (its `describe` entry). */
const char *backend_ctx_describe(const FluxBackendCtx *c);
