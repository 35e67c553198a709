/* tokenizer_unigram.h — the T5 tokenizer of FLUX.1 (`tokenizer_2/`): a SentencePiece unigram
 * model run exactly as transformers' T5TokenizerFast (the Rust `tokenizers` pipeline described
 * by tokenizer.json) runs it.
 *
 *   GError *err = NULL;
 *   UgmTokenizer *tok = ugm_load("/models/FLUX.1-dev/tokenizer_2", &err);
 *   int64_t ids[512];
 *   int n;
 *   if (!ugm_encode(tok, "a photo of a cat", ids, 512, &n, &err)) ...
 *   // ids = ▁ a ▁photo ▁of ▁ a ▁cat </s> 0 0 ...; n = 6 (tokens before </s>, untruncated)
 *   ugm_free(tok);
 *
 * Pipeline: special (added) tokens are cut out of the raw text first; every other stretch is
 * normalised (precompiled nmt_nfkc charsmap, right strip, runs of 2+ spaces → "▁"),
 * pre-tokenised (Metaspace: spaces → "▁", a "▁" prepended to the first stretch, split before
 * each "▁") and segmented by Viterbi over the piece scores; consecutive unknown characters
 * become one <unk>. The post-processor's EOS is appended.
 *
 * Files: tokenizer.json (preferred), else spiece.model plus tokenizer_config.json (for `legacy`
 * and the <extra_id_N> tokens); special_tokens_map.json names the pad token. Special ids are
 * read from the files. The tokenizer is immutable after loading (thread-safe to share).
 */
#pragma once

#include <glib.h>
#include <stdint.h>

typedef struct UgmTokenizer UgmTokenizer;

/* dir = the tokenizer_2/ folder. Returns NULL with `error` set (the message names the file).
 * Caller owns; ugm_free is NULL-safe. */
UgmTokenizer *ugm_load(const char *dir, GError **error);
void ugm_free(UgmTokenizer *tok);

/* FluxPipeline's T5 ids: ids[max_len] = tokens (truncated to max_len-1), EOS, pad id...
 * *n_tokens (may be NULL) receives the untruncated token count without EOS (for a truncation
 * warning). Fails with FLUX_ERROR_ARGUMENT for NULL or invalid UTF-8 text or max_len < 1. */
gboolean ugm_encode(const UgmTokenizer *tok, const char *text, int64_t *ids, int max_len,
                    int *n_tokens, GError **error);

/* Token ids as a caller-owned array (g_free) of *n entries, without EOS or padding — the
 * untruncated encoding, for tests and diagnostics. NULL with `error` set on bad input. */
int64_t *ugm_tokenize(const UgmTokenizer *tok, const char *text, int *n, GError **error);

/* Special ids read from the files. */
int64_t ugm_eos_id(const UgmTokenizer *tok);
int64_t ugm_pad_id(const UgmTokenizer *tok);
int64_t ugm_unk_id(const UgmTokenizer *tok);
/* Number of pieces in the model's vocabulary (32100 for FLUX.1, extra ids included). */
int ugm_vocab_size(const UgmTokenizer *tok);
