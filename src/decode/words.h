/*
 * words.h — word-level timestamps of one window's segments (words.c), on top of timing.h.
 */
#ifndef HARK_WORDS_H
#define HARK_WORDS_H

#include "decode/timing.h"

/* Aligns the text tokens of segs (window slot 0 holds the window's encoding, num_frames its mel
 * frames of audio) and gives each segment its words, moving segment boundaries as the reference
 * does. sot_seq: <|startoftranscript|> (language, task). Uses sequence slot 0.
 * ref: openai/whisper timing.py add_word_timestamps. */
hark_status hark_add_word_timestamps(hark_state *s, hark_timed_segment *segs, int n_segs,
                                     const int32_t *sot_seq, int n_sot, int num_frames,
                                     int no_spaces, double time_offset, const char *prepended,
                                     const char *appended, double *last_speech);

#endif
