/* protobuf.h — a reader of protocol-buffer messages over bytes in memory (the sentencepiece
 * spiece.model the T5 tokenizer falls back on): fields one at a time, no schema. */
#pragma once

#include <glib.h>

/* The bytes [p, end) still to read; a LEN field's payload is a reader of its own. */
typedef struct {
    const guint8 *p, *end;
} PbReader;

/* A base-128 varint; FALSE when the bytes end first or it runs past 64 bits. */
gboolean pb_varint(PbReader *r, guint64 *v);
/* Next field: its number; for LEN fields *sub spans the payload, for the others *v holds the
 * value (fixed-size ones little-endian). FALSE on truncated data or a group. */
gboolean pb_field(PbReader *r, guint32 *field, PbReader *sub, guint64 *v);
