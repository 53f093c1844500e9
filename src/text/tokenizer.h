/*
 * tokenizer.h — tiktoken-style byte-level BPE for Whisper.
 * ref: openai/whisper tokenizer.py (get_encoding, special tokens), openai/tiktoken (rank-based
 * merging, the GPT-2 pre-split pattern).
 *
 * The rank file is the .tiktoken text format: one "base64(token bytes) rank" per line. Special
 * tokens follow the last rank in openai/whisper's order (endoftext, startoftranscript, languages,
 * translate, transcribe, startoflm, startofprev, nospeech, notimestamps, then 1501 timestamps
 * <|0.00|>..<|30.00|>).
 */
#ifndef HARK_TOKENIZER_H
#define HARK_TOKENIZER_H

#include "hark.h"

#include <stddef.h>
#include <stdint.h>

typedef struct hark_tokenizer hark_tokenizer;

/* Builds a tokenizer from .tiktoken text (ranks, size bytes, not NUL-terminated) and the model's
 * vocabulary size (51864, 51865 or 51866), which fixes the special-token layout.
 * Errors: HARK_ERR_FORMAT for a malformed rank file (naming the line), HARK_ERR_NOMEM. */
hark_status hark_tokenizer_new(const char *ranks, size_t size, int n_vocab, hark_tokenizer **out);
void hark_tokenizer_free(hark_tokenizer *tok);

/* Number of ids (ordinary + special). */
int hark_tokenizer_n_vocab(const hark_tokenizer *tok);
/* Number of ordinary (BPE) ranks: 50257 multilingual, 50256 gpt2. */
int hark_tokenizer_n_ranks(const hark_tokenizer *tok);

/* Encodes UTF-8 text without special tokens (special-token text is encoded as plain text, like
 * tiktoken's encode_ordinary). Returns the number of ids the text needs (writes at most max),
 * or a negative hark_status. */
int hark_tokenizer_encode(const hark_tokenizer *tok, const char *text, size_t len, int32_t *ids,
                          int max);

/* Bytes of one id; special ids give their text ("<|en|>", "<|1.24|>"). Returns length or a
 * negative status for an id out of range. */
int hark_tokenizer_token_bytes(const hark_tokenizer *tok, int32_t id, const char **bytes);

/* Looks up a special token by its text ("<|notimestamps|>"); -1 if none. */
int32_t hark_tokenizer_special_id(const hark_tokenizer *tok, const char *text);

/* Decodes ids to UTF-8 into a malloc'd NUL-terminated string. Invalid UTF-8 produced by partial
 * byte tokens is replaced by U+FFFD like Python's errors="replace". skip_special omits special
 * and timestamp ids. */
hark_status hark_tokenizer_decode(const hark_tokenizer *tok, const int32_t *ids, int n,
                                  int skip_special, char **text);

/* Incremental UTF-8 assembly for streaming: feed token bytes, get back only complete UTF-8
 * characters; incomplete trailing bytes wait for the next feed. */
typedef struct hark_utf8_stream {
    uint8_t pending[8];
    int n_pending;
} hark_utf8_stream;

void hark_utf8_stream_init(hark_utf8_stream *s);
/* Appends in[0..n) and writes complete characters to out (capacity cap, out is NUL-terminated);
 * returns bytes written (excluding NUL). A byte sequence that can never become valid is emitted
 * as U+FFFD. */
size_t hark_utf8_stream_feed(hark_utf8_stream *s, const char *in, size_t n, char *out, size_t cap);
/* Flushes what is pending (as U+FFFD if incomplete). */
size_t hark_utf8_stream_flush(hark_utf8_stream *s, char *out, size_t cap);

#endif
