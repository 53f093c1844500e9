/*
 * quality.h — the checks openai/whisper runs on a decoded window: gzip compression ratio,
 * average log-probability, the temperature-fallback decision and the no-speech skip, plus the
 * temperature schedule.
 * ref: openai/whisper utils.py compression_ratio, decoding.py DecodingTask.run (avg_logprob),
 * transcribe.py (decode_with_fallback, the no-speech check, the temperature arguments).
 *
 * A threshold of NAN stands for whisper's None: every comparison with it is false, which is
 * exactly what the reference's "threshold is not None and ..." guards give.
 */
#ifndef HARK_DECODE_QUALITY_H
#define HARK_DECODE_QUALITY_H

#include "hark.h"

#include <stdbool.h>
#include <stddef.h>

/* transcribe()'s defaults: 2.4, -1.0, 0.6. */
typedef struct hark_quality_thresholds {
    double compression_ratio; /* fall back above this (too repetitive) */
    double logprob;           /* fall back below this average log-probability */
    double no_speech;         /* silence above this no-speech probability (with a low logprob) */
} hark_quality_thresholds;

/* What one decode produced, as whisper's DecodingResult fields. */
typedef struct hark_decode_quality {
    double compression_ratio;
    double avg_logprob;
    double no_speech_prob;
} hark_decode_quality;

hark_quality_thresholds hark_quality_default_thresholds(void);

/* ref: openai/whisper utils.py compression_ratio.
 * len(text) / len(zlib.compress(text)) over the UTF-8 bytes text[0..len), with zlib's default
 * level (Python's level -1, which is 6), default window and memory level, into *ratio (0 for
 * empty text, whose stream is 8 bytes). Errors: HARK_ERR_INVALID_ARG, HARK_ERR_NOMEM (zlib's
 * state). */
hark_status hark_compression_ratio(const char *text, size_t len, double *ratio);

/* ref: openai/whisper decoding.py DecodingTask._main_loop (probs_at_sot).
 * softmax(logits)[no_speech] of the raw (unfiltered) logits[n_vocab] predicted at the position
 * of <|startoftranscript|> in the prompt (not the prompt's last position when a previous-text
 * prompt or language and task tokens follow it). 0 for an id out of range. */
double hark_no_speech_prob(const float *logits, int n_vocab, int no_speech);

/* ref: openai/whisper decoding.py DecodingTask.run: sum_logprob / (n_tokens + 1), where
 * n_tokens counts the sampled tokens without eot (the +1 is the eot). */
double hark_avg_logprob(double sum_logprob, int n_tokens);

/* ref: openai/whisper transcribe.py decode_with_fallback.
 * True when the decode should be retried at the next temperature: compression ratio above its
 * threshold or average log-probability below its threshold, unless the window is silence
 * (no-speech probability above its threshold and log-probability below its threshold). */
bool hark_needs_fallback(const hark_decode_quality *q, const hark_quality_thresholds *t);

/* ref: openai/whisper transcribe.py (the "no voice activity check").
 * True when the window is skipped as silence: no-speech probability above its threshold,
 * unless the average log-probability is above the logprob threshold. */
bool hark_should_skip_window(const hark_decode_quality *q, const hark_quality_thresholds *t);

/* ref: openai/whisper transcribe.py cli (np.arange(temperature, 1.0 + 1e-6, increment)).
 * Writes start, start + increment, start + 2 * increment, ... up to 1.0 inclusive (at most max
 * values) to out and returns how many there are; an increment <= 0 or NAN (None) gives just
 * start, and so does a start above 1.0 (where numpy's range would be empty and whisper would fail).
 * Start 0 and increment 0.2 give 0, 0.2, 0.4, 0.6, 0.8, 1.0 (as start + i * increment, the
 * values numpy gives: the fourth is 0.6000000000000001). Returns the full count even
 * when it exceeds max (call with max 0 to size). */
int hark_temperature_schedule(double start, double increment, double *out, int max);

#endif
