/*
 * timing.h — word-level timestamps as openai/whisper computes them: the cross-attention scores
 * of the model's alignment heads over the decoded text, normalised per frame, median-filtered,
 * averaged, aligned to audio frames by dynamic time warping; words cut at spaces (or at whole
 * characters for languages written without spaces), punctuation merged into its neighbours, and
 * the heuristics that clamp over-long words at sentence and segment boundaries.
 * ref: openai/whisper timing.py (median_filter, dtw_cpu, backtrace, find_alignment,
 * merge_punctuations, add_word_timestamps), tokenizer.py (split_to_word_tokens).
 */
#ifndef HARK_TIMING_H
#define HARK_TIMING_H

#include "hark.h"
#include "text/tokenizer.h"

#include <stdint.h>

/* openai/whisper transcribe()'s defaults. */
#define HARK_PREPEND_PUNCTUATIONS "\"'\u201c\u00bf([{-"
#define HARK_APPEND_PUNCTUATIONS "\"'.\u3002,\uff0c!\uff01?\uff1f:\uff1a\u201d)]}\u3001"

/* Median filter of odd width along each row of x[rows][n], in place, with reflected edges; rows
 * of n <= width / 2 are left as they are. ref: timing.py median_filter. */
hark_status hark_median_filter(float *x, int rows, int n, int width);

/* Dynamic time warping of cost[N][M] (float, accumulated in a float32 table as the reference
 * does): the monotonic path from (0, 0) to (N-1, M-1) as index pairs pi[k], pj[k]; the arrays
 * need N + M entries. Returns the path length, or a negative hark_status. NaN costs give the
 * reference's path too (its comparisons are false; the path may then run along index -1, which
 * the reference turns into a time of -0.02 s). ref: timing.py dtw_cpu, backtrace. */
int hark_dtw(const float *cost, int N, int M, int32_t *pi, int32_t *pj);

/* A word of the alignment: its text, its tokens, start and end (s) and mean token probability. */
typedef struct hark_word_timing {
    char *word;
    int32_t *tokens;
    int n_tokens;
    double start, end, probability;
} hark_word_timing;

void hark_word_timings_free(hark_word_timing *w, int n);

/* Splits tokens into words: at every token that decodes to whole UTF-8 characters, and, unless
 * no_spaces (zh, ja, th, lo, my, yue), joins pieces that neither start with a space nor are
 * punctuation nor special to the word before. ref: tokenizer.py split_to_word_tokens. */
hark_status hark_split_words(const hark_tokenizer *tok, const int32_t *tokens, int n, int32_t eot,
                             int no_spaces,
                             hark_word_timing **words, int *n_words);

/* Whether a language writes without spaces between words (ref: split_to_word_tokens). */
int hark_language_no_spaces(const char *code);

/* Merges prepended punctuation into the following word and appended punctuation into the
 * preceding one (emptied words keep their place with no text). ref: timing.py
 * merge_punctuations. */
hark_status hark_merge_punctuations(hark_word_timing *w, int n, const char *prepended,
                                    const char *appended);

/* The word timings from the alignment matrix[N][M] (N = text tokens + 1, normalised, filtered,
 * head-averaged; DTW runs on its negation), the text tokens, and each text token's
 * probability. M may be 0 (a window of one mel frame; matrix unused): every time is then
 * -0.02 s, as the reference's backtrace of an empty table gives. ref: timing.py find_alignment
 * (from the DTW on). */
hark_status hark_words_from_matrix(const hark_tokenizer *tok, const float *matrix, int N, int M,
                                   const int32_t *text, int n_text, const float *text_probs,
                                   int32_t eot, int no_spaces, hark_word_timing **words,
                                   int *n_words);

/* Softmax over each row, then per (head, frame) standardisation over the tokens, the median
 * filter, and the mean over heads: qk[heads][tokens][frames] -> out[tokens][frames].
 * ref: timing.py find_alignment. */
hark_status hark_alignment_matrix(float *qk, int heads, int tokens, int frames, int medfilt_width,
                                  float *out);

/* A word as the segments keep it. */
typedef struct hark_word {
    char *text;
    double t0, t1;
    float probability;
} hark_word;

/* What add_word_timestamps needs of a segment and writes back. */
typedef struct hark_timed_segment {
    double start, end;
    const int32_t *tokens;
    int n_tokens;
    hark_word *words;
    int n_words;
} hark_timed_segment;

/* The segment part of add_word_timestamps: clamps over-long words at sentence ends, merges
 * punctuation, gives each segment its words (times offset by time_offset, rounded to 10 ms) and
 * moves segment boundaries to the words; *last_speech is read and updated.
 * ref: timing.py add_word_timestamps (after find_alignment). */
hark_status hark_assign_words(hark_word_timing *al, int n_al, hark_timed_segment *segs, int n_segs,
                              int32_t eot, double time_offset, const char *prepended,
                              const char *appended, double *last_speech);

void hark_words_free(hark_word *w, int n);

#endif
