/* protobuf.c — see protobuf.h. Wire format: each field is a varint key (number << 3 | wire
 * type) then its value: 0 varint, 1 eight bytes, 2 varint length + bytes, 5 four bytes. */
#include "protobuf.h"

#include <string.h>

gboolean pb_varint(PbReader *r, guint64 *v)
{
    *v = 0;
    for (int shift = 0; shift < 64 && r->p < r->end; shift += 7) {
        guint8 b = *r->p++;
        *v |= (guint64)(b & 0x7f) << shift;
        if (!(b & 0x80)) return TRUE;
    }
    return FALSE;
}

gboolean pb_field(PbReader *r, guint32 *field, PbReader *sub, guint64 *v)
{
    guint64 key;
    if (!pb_varint(r, &key)) return FALSE;
    *field = (guint32)(key >> 3);
    switch (key & 7) {
    case 0:
        return pb_varint(r, v);
    case 1:
    case 5: {
        gsize w = (key & 7) == 1 ? 8 : 4;
        if ((gsize)(r->end - r->p) < w) return FALSE;
        *v = 0;
        memcpy(v, r->p, w); /* little-endian host assumed, as elsewhere in core */
        r->p += w;
        return TRUE;
    }
    case 2:
        if (!pb_varint(r, v) || *v > (guint64)(r->end - r->p)) return FALSE;
        *sub = (PbReader){r->p, r->p + *v};
        r->p += *v;
        return TRUE;
    default:
        return FALSE; /* groups are not used by sentencepiece */
    }
}
