/* tokenizer_bpe.c — not written yet. */
