/* tokenizer_unigram.c — not written yet. */
