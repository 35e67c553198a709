/* conv.c — not written yet. */
