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

typedef struct {
    const char *name; /* appended to the prefix, e.g. "attn.to_q.weight" */
    size_t offset;    /* offsetof(struct, field); the field is `const StTensor *` */
    int ndim;
    int dims[4];
    unsigned flags;
} WtSpec;

/* Binds every entry of `spec` (n entries) with names `<prefix><spec.name>` into the struct at
 * `base`. Fails with a message naming the file, tensor, and expected vs found shape/dtype. */
gboolean wt_bind(StArchive *a, const char *prefix, const WtSpec *spec, gsize n, const int64_t *dims,
                 void *base, GError **error);

/* One tensor: `name`, `ndim` dims from `shape`. NULL on error (or when absent and
 * WT_OPTIONAL, with no error). */
StTensor *wt_get(StArchive *a, const char *name, int ndim, const int64_t *shape, unsigned flags,
                 GError **error);

/* Float32 view of a small bound tensor (requires WT_F32 at bind time). */
static inline const float *wt_f32(const StTensor *t)
{
    return t ? t->f32 : NULL;
}
