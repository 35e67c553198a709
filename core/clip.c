/* clip.c — not written yet. */
