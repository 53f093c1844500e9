/*
 * decode.h — decoding one 30 s window (openai/whisper decoding.py DecodingTask.run): the prompt,
 * greedy / best-of-N sampling / beam search over the engine's sequence slots, the logit rules,
 * and the result's statistics. Used by the transcription loop (transcribe.c) and the tests.
 */
#ifndef HARK_DECODE_H
#define HARK_DECODE_H

#include "hark.h"
#include "decode/rules.h"

typedef struct hark_window_result {
    int32_t *tokens; /* sampled tokens, without the final <|endoftext|>; malloc'd */
    int n_tokens;
    double sum_logprob, avg_logprob, compression_ratio, no_speech_prob;
    float temperature;
    char *text; /* text of the tokens (timestamps skipped, other special tokens as their text,
                   as openai/whisper decodes a result); malloc'd */
} hark_window_result;

void hark_window_result_free(hark_window_result *r);

/* Decodes the window already encoded in window slot 0 of the state, after `prompt` (np tokens;
 * sot_index is where <|startoftranscript|> is in it, for the no-speech probability), at
 * temperature t: greedy (t = 0, beam_size <= 1), beam search (t = 0, beam_size > 1) or the best
 * of best_of samples (t > 0). Uses sequence slots 0 .. max(best_of, 2 beam_size) - 1; the state
 * must have that many before the window is encoded (hark_state_reserve; hark_transcribe does
 * it), else HARK_ERR_CAPACITY. Every HARK_CANCEL_STEPS decoder steps p->progress (when set) is
 * asked, with `done` (the fraction of the audio before this window), whether to go on; a stop
 * ends the decode with hark_cancelled()'s status. */
hark_status hark_decode_window(hark_state *s, const int32_t *prompt, int np, int sot_index,
                               float t, const hark_full_params *p, const hark_logit_rules *rules,
                               double done, hark_window_result *out);

#define HARK_CANCEL_STEPS 16

/* HARK_OK, or when p->progress (if set) returns non-zero for `done`, the error of a cancelled
 * transcription. */
hark_status hark_cancelled(const hark_full_params *p, double done);

/* Makes sure the state's engine context has at least n_seqs sequence slots (recreating it if
 * needed; cached encodings are lost). */
hark_status hark_state_reserve(hark_state *s, int n_seqs);

#endif
