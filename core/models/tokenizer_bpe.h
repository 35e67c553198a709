/* tokenizer_bpe.h — the CLIP tokenizer of FLUX.1 (`tokenizer/`): byte-level BPE run exactly as
 * transformers' slow CLIPTokenizer runs it when the optional `ftfy` package is NOT installed
 * (the behaviour of a plain `pip install diffusers transformers`).
 *
 *   GError *err = NULL;
 *   BpeTokenizer *tok = bpe_load("/models/FLUX.1-dev/tokenizer", &err);
 *   int64_t ids[77];
 *   int n;
 *   if (!bpe_encode(tok, "a photo of a cat", ids, 77, &n, &err)) ...
 *   // ids = 49406 320 1125 539 320 2368 49407 49407 ...; n = 5 (text tokens, untruncated)
 *   bpe_free(tok);
 *
 * Pipeline: the added/special tokens (<|startoftext|>, <|endoftext|>) are cut out of the raw
 * text first; every other stretch is cleaned as transformers' BasicTokenizer does (control
 * characters, U+FFFD and unassigned code points dropped, whitespace → space, a space around
 * each CJK ideograph, NFC, split on whitespace, each word lower-cased, accents kept), split by
 * the CLIP pattern (contractions, letter runs, single digits, runs of other symbols), mapped to
 * the byte-level alphabet and merged by BPE with the `</w>` end-of-word marker.
 *
 * Files: vocab.json and merges.txt (required); tokenizer_config.json and
 * special_tokens_map.json (optional) name the BOS/EOS/PAD/UNK tokens, whose ids come from the
 * files. The tokenizer is safe to share between threads (its BPE cache has a lock).
 */
#pragma once

#include <glib.h>
#include <stdint.h>

typedef struct BpeTokenizer BpeTokenizer;

/* dir = the tokenizer/ folder. Returns NULL with `error` set (the message names the file).
 * Caller owns; bpe_free is NULL-safe. */
BpeTokenizer *bpe_load(const char *dir, GError **error);
void bpe_free(BpeTokenizer *tok);

/* FluxPipeline's CLIP ids: ids[max_len] = BOS, text tokens (truncated to max_len-2), EOS,
 * pad... *n_text (may be NULL) receives the untruncated number of text tokens (for a
 * truncation warning). Fails with FLUX_ERROR_ARGUMENT for NULL or invalid UTF-8 text or
 * max_len < 2. */
gboolean bpe_encode(const BpeTokenizer *tok, const char *text, int64_t *ids, int max_len,
                    int *n_text, GError **error);

/* Text token ids as a caller-owned array (g_free) of *n entries, without BOS/EOS or padding:
 * the untruncated encoding, for tests and diagnostics. NULL with `error` set on bad input. */
int64_t *bpe_tokenize(const BpeTokenizer *tok, const char *text, int *n, GError **error);

/* Special ids read from the files. */
int64_t bpe_bos_id(const BpeTokenizer *tok);
int64_t bpe_eos_id(const BpeTokenizer *tok);
int64_t bpe_pad_id(const BpeTokenizer *tok);
/* Entries of vocab.json (49408 for FLUX.1). */
int bpe_vocab_size(const BpeTokenizer *tok);
