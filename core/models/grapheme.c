/* grapheme.c — see grapheme.h. Grapheme clusters by UAX #29 rules GB3 to GB9b (GB11 and GB12
 * only join clusters of 6+ bytes, which the Precompiled normaliser of tokenizer_unigram.c
 * handles character by character anyway). */
#include "grapheme.h"

typedef enum {
    GB_OTHER,
    GB_CR,
    GB_LF,
    GB_CONTROL,
    GB_EXTEND, /* Extend, ZWJ and SpacingMark: never broken before */
    GB_PREPEND,
    GB_L,
    GB_V,
    GB_T,
    GB_LV,
    GB_LVT,
} GbClass;

static gboolean gb_is_prepend(gunichar c)
{
    return (c >= 0x0600 && c <= 0x0605) || c == 0x06DD || c == 0x070F || c == 0x0890 ||
           c == 0x0891 || c == 0x08E2 || c == 0x0D4E || c == 0x110BD || c == 0x110CD ||
           (c >= 0x111C2 && c <= 0x111C3);
}

/* Mc characters that UAX #29 excludes from SpacingMark (Myanmar, Tai Tham, ...): Other. */
static gboolean gb_is_mc_other(gunichar c)
{
    return c == 0x102B || c == 0x102C || c == 0x1038 || (c >= 0x1062 && c <= 0x1064) ||
           (c >= 0x1067 && c <= 0x106D) || c == 0x1083 || (c >= 0x1087 && c <= 0x108C) ||
           c == 0x108F || (c >= 0x109A && c <= 0x109C) || c == 0x1A61 || c == 0x1A63 ||
           c == 0x1A64 || c == 0xAA7B || c == 0xAA7D || c == 0x11720 || c == 0x11721;
}

static GbClass gb_hangul(gunichar c)
{
    if ((c >= 0x1100 && c <= 0x115F) || (c >= 0xA960 && c <= 0xA97C)) return GB_L;
    if ((c >= 0x1160 && c <= 0x11A7) || (c >= 0xD7B0 && c <= 0xD7C6)) return GB_V;
    if ((c >= 0x11A8 && c <= 0x11FF) || (c >= 0xD7CB && c <= 0xD7FB)) return GB_T;
    if (c >= 0xAC00 && c <= 0xD7A3) return (c - 0xAC00) % 28 == 0 ? GB_LV : GB_LVT;
    return GB_OTHER;
}

static GbClass gb_class(gunichar c)
{
    if (c == '\r') return GB_CR;
    if (c == '\n') return GB_LF;
    if (c == 0x200C || c == 0x200D || (c >= 0xFF9E && c <= 0xFF9F) ||
        (c >= 0x1F3FB && c <= 0x1F3FF) || (c >= 0xE0020 && c <= 0xE007F) || c == 0x0E33 ||
        c == 0x0EB3)
        return GB_EXTEND;
    if (gb_is_prepend(c)) return GB_PREPEND;
    switch (g_unichar_type(c)) {
    case G_UNICODE_CONTROL:
    case G_UNICODE_FORMAT:
    case G_UNICODE_LINE_SEPARATOR:
    case G_UNICODE_PARAGRAPH_SEPARATOR:
        return GB_CONTROL;
    case G_UNICODE_NON_SPACING_MARK:
    case G_UNICODE_ENCLOSING_MARK:
        return GB_EXTEND;
    case G_UNICODE_SPACING_MARK:
        return gb_is_mc_other(c) ? GB_OTHER : GB_EXTEND;
    default:
        return gb_hangul(c);
    }
}

static gboolean gb_break(GbClass a, GbClass b)
{
    if (a == GB_CR && b == GB_LF) return FALSE;
    if (a == GB_CR || a == GB_LF || a == GB_CONTROL) return TRUE;
    if (b == GB_CR || b == GB_LF || b == GB_CONTROL) return TRUE;
    if (a == GB_L && (b == GB_L || b == GB_V || b == GB_LV || b == GB_LVT)) return FALSE;
    if ((a == GB_LV || a == GB_V) && (b == GB_V || b == GB_T)) return FALSE;
    if ((a == GB_LVT || a == GB_T) && b == GB_T) return FALSE;
    if (b == GB_EXTEND) return FALSE;
    return a != GB_PREPEND;
}

/* Byte length of the grapheme cluster starting at s (s < end, valid UTF-8). */
gsize grapheme_next(const char *s, const char *end)
{
    const char *p = g_utf8_next_char(s);
    GbClass prev = gb_class(g_utf8_get_char(s));
    while (p < end) {
        GbClass cur = gb_class(g_utf8_get_char(p));
        if (gb_break(prev, cur)) break;
        prev = cur;
        p = g_utf8_next_char(p);
    }
    return (gsize)(p - s);
}
