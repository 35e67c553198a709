/* grapheme.h — extended grapheme clusters (Unicode UAX #29), as the T5 tokenizer's
 * Precompiled normaliser walks its input: one cluster at a time, looked up whole when it is
 * short, else character by character. */
#pragma once

#include <glib.h>

/* Byte length of the grapheme cluster starting at s (s < end, valid UTF-8). */
gsize grapheme_next(const char *s, const char *end);
