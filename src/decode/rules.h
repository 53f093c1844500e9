/*
 * rules.h — openai/whisper's logit filters over one row of logits: SuppressBlank, SuppressTokens
 * and ApplyTimestampRules, plus the non-speech token set they use.
 * ref: openai/whisper decoding.py (SuppressBlank, SuppressTokens, ApplyTimestampRules,
 * DecodingTask._get_suppress_tokens), tokenizer.py (Tokenizer.non_speech_tokens).
 *
 * What it is not: the decode loop. The caller keeps the tokens sampled so far and calls
 * hark_rules_apply on each row of logits before choosing the next token. A suppressed logit is
 * set to -INFINITY. Nothing here allocates after hark_rules_init.
 */
#ifndef HARK_DECODE_RULES_H
#define HARK_DECODE_RULES_H

#include "hark.h"
#include "text/tokenizer.h"

#include <stdbool.h>
#include <stdint.h>

/* Which filters to build (ref: decoding.py DecodingOptions defaults). */
typedef struct hark_rules_params {
    bool suppress_blank;    /* SuppressBlank (default true) */
    bool timestamps;        /* ApplyTimestampRules, i.e. not without_timestamps (default true) */
    /* Options.max_initial_timestamp in seconds (default 1.0); <= 0 means None (no limit). */
    double max_initial_timestamp;
    int n_audio_ctx;        /* sets the timestamp precision 30 s / n_audio_ctx (1500: 0.02 s) */
    /* Options.suppress_tokens as ids; an entry -1 stands for the non-speech set. n = 0 is
     * whisper's empty list: then no SuppressTokens filter at all (not even the specials).
     * The default is the one-entry list {-1}. */
    const int32_t *suppress_tokens;
    int n_suppress_tokens;
} hark_rules_params;

/* The filters of one decode, built once by hark_rules_init. */
typedef struct hark_logit_rules {
    hark_special_tokens sp;
    int n_vocab;
    bool suppress_blank;
    bool timestamps;
    int max_initial_timestamp_index; /* -1: None */
    int32_t blank[4];                /* encode(" ") */
    int n_blank;
    int32_t *suppress; /* sorted, unique; owned */
    int n_suppress;
} hark_logit_rules;

hark_rules_params hark_rules_default_params(void);

/* ref: openai/whisper tokenizer.py Tokenizer.non_speech_tokens.
 * Computes the non-speech set of tok: the first token of " -" and " '", and for each of
 * whisper's symbols the encodings of the symbol and of " " + symbol when they are one token
 * (for the musical symbols U+2669..U+266F the first token always). On success *ids is a
 * malloc'd sorted list without duplicates (free with free) of *n ids.
 * Errors: HARK_ERR_INVALID_ARG, HARK_ERR_NOMEM, or the tokenizer's error. */
hark_status hark_non_speech_tokens(const hark_tokenizer *tok, int32_t **ids, int *n);

/* ref: openai/whisper decoding.py DecodingTask.__init__ (the max_initial_timestamp_index).
 * round(seconds / (30 / n_audio_ctx)) with Python's half-to-even rounding, or -1 (None) when
 * seconds <= 0. */
int hark_max_initial_timestamp_index(double seconds, int n_audio_ctx);

/* Builds the filters for a model's vocabulary: sp and n_vocab from the model, tok for the
 * blank and non-speech tokens, p NULL for the defaults. The suppress list is
 * _get_suppress_tokens: the given ids (-1 expanded to the non-speech set) plus transcribe,
 * translate, sot, sot_prev, sot_lm and no_speech, sorted and unique; ids outside the vocabulary
 * are an error. Free with hark_rules_free.
 * Errors: HARK_ERR_INVALID_ARG (bad arguments or ids), HARK_ERR_NOMEM. */
hark_status hark_rules_init(hark_logit_rules *r, const hark_tokenizer *tok,
                            const hark_special_tokens *sp, int n_vocab,
                            const hark_rules_params *p);
void hark_rules_free(hark_logit_rules *r);

/* Applies the filters, in whisper's order (SuppressBlank, SuppressTokens, ApplyTimestampRules),
 * to logits[n_vocab] in place. tokens[0..n_tokens) are the ids sampled so far after the prompt
 * (n_tokens 0 is the first sampled position, whisper's tokens.shape[1] == sample_begin). */
void hark_rules_apply(const hark_logit_rules *r, const int32_t *tokens, int n_tokens,
                      float *logits);

/* ref: openai/whisper decoding.py ApplyTimestampRules.apply.
 * The timestamp rules alone, on logits[n_vocab] (used by hark_rules_apply):
 * <|notimestamps|> suppressed; after a lone timestamp only timestamps or eot, after a pair of
 * timestamps (or one at the start) no timestamp; timestamps never decrease, and the one that
 * opens a segment is later than the last one; at the first position only timestamps up to
 * max_initial_timestamp_index (-1: any); when the probability mass of the timestamps exceeds
 * the most likely text token, all text is suppressed. */
void hark_timestamp_rules_apply(const hark_special_tokens *sp, int n_vocab,
                                int max_initial_timestamp_index, const int32_t *tokens,
                                int n_tokens, float *logits);

#endif
