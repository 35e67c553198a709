/* t5.c — not written yet. */
