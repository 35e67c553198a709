/* weights.h — binding checkpoint tensors to model structs through spec tables.
 *
 * A module describes its weights as a table: tensor name (after a prefix), the struct field
 * that receives the `const StTensor *`, and the expected shape in terms of config dimensions.
 * wt_bind() walks the table, checks presence, float dtype and shape, and marks each tensor
 * used so that the loader can report what the checkpoint holds beyond the model. */
#pragma once

#include "safetensors.h"
#include <stddef.h>

/* A spec dimension: a literal >= 0, or WT_D(k): the k-th value of the `dims` array. */
#define WT_D(k) (-1 - (k))

enum {
    WT_OPTIONAL = 1 << 0, /* absent → field set to NULL */
    WT_F32 = 1 << 1,      /* also make a float32 copy (t->f32): biases, norm scales */
};
/* A row bound only when the caller asks for group k (wt_bind_only): the parts a config turns on
 * or off (T5's gated or plain feed-forward, the VAE's shortcut and quant convs). */
#define WT_ONLY(k) (1u << (8 + (k)))
#define WT_GROUPS  (~0u << 8)

typedef struct {
    const char *name; /* appended to the prefix, e.g. "attn.to_q.weight" */
    size_t offset;    /* offsetof(struct, field); the field is `const StTensor *` */
    int ndim;
    int dims[4];
    unsigned flags;
} WtSpec;

/* ------------------------------------------------------------------------------------- */
/* Each parameter declared once                                                          */
/* A model lists a struct's parameters once, as an X-macro of rows
 *     P(S, field, "checkpoint.name", flags, dim, dim, ...)        (1 to 4 dims)
 * and gets both the struct's fields and its spec table from that one list:
 *     #define CLIP_LAYER(P, S) P(S, q_w, "self_attn.q_proj.weight", 0, WT_D(DIM_D), WT_D(DIM_D))
 * ... typedef struct { CLIP_LAYER(WT_FIELD, _) } ClipLayer; static const WtSpec clip_layer_spec[] =
 * {CLIP_LAYER(WT_ROW, ClipLayer)}; The parameters come first in their struct, so that
 * wt_table_check (run by the tests) can prove that the rows tile them: one row per field, none
 * twice, none left out. */
#define WT_FIELD(S, field, name, flags, ...) const StTensor *field;
#define WT_ROW(S, field, name, flags, ...)                                                         \
    {name, offsetof(S, field), WT_NDIM(__VA_ARGS__), {__VA_ARGS__}, flags},
#define WT_NDIM(...)                 WT_NDIM_(__VA_ARGS__, 4, 3, 2, 1, 0)
#define WT_NDIM_(a, b, c, d, n, ...) n

/* A spec table with what wt_table_check needs to know about its struct. */
typedef struct {
    const char *what;   /* for messages: "ClipLayer" */
    const WtSpec *spec; /* the rows */
    gsize n;
    gsize params_size; /* bytes of the struct's leading parameter fields */
    int n_dims;        /* WT_D(k) must have k < n_dims */
} WtTable;
/* `S`'s table whose parameters end where member `next` begins (or, with WT_TABLE_ALL, at the
 * struct's end). */
#define WT_TABLE(S, spec, next, n_dims)                                                            \
    {                                                                                              \
#S, spec, G_N_ELEMENTS(spec), offsetof(S, next), n_dims                                    \
    }
#define WT_TABLE_ALL(S, spec, n_dims)                                                              \
    {                                                                                              \
#S, spec, G_N_ELEMENTS(spec), sizeof(S), n_dims                                            \
    }

/* The rows tile [0, params_size) with one `const StTensor *` each (no field twice, none
 * missing), names are distinct, 1..4 dims, each WT_D within n_dims. FALSE with a message
 * naming the table and row otherwise. */
gboolean wt_table_check(const WtTable *t, GError **error);

/* Binds every entry of `spec` (n entries) with names `<prefix><spec.name>` into the struct at
 * `base`. Fails with a message naming the file, tensor, and expected vs found shape/dtype. */
gboolean wt_bind(StArchive *a, const char *prefix, const WtSpec *spec, gsize n, const int64_t *dims,
                 void *base, GError **error);

/* The same, skipping rows of a WT_ONLY group not in `groups` (WT_ONLY(k) | ...). */
gboolean wt_bind_only(StArchive *a, const char *prefix, const WtSpec *spec, gsize n,
                      const int64_t *dims, unsigned groups, void *base, GError **error);

/* One tensor: `name`, `ndim` dims from `shape`. NULL on error (or when absent and
 * WT_OPTIONAL, with no error). */
StTensor *wt_get(StArchive *a, const char *name, int ndim, const int64_t *shape, unsigned flags,
                 GError **error);

/* Float32 view of a small bound tensor (requires WT_F32 at bind time). */
static inline const float *wt_f32(const StTensor *t)
{
    return t ? t->f32 : NULL;
}
