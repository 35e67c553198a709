/* vae.c — not written yet. */
