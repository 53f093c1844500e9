/* transcribe_output.h — private to `hark transcribe`: what it prints, its progress bar, and the files
 * it writes (txt, srt, vtt, tsv, json, verbose_json) from a finished hark_state. */
#ifndef HARK_TRANSCRIBE_OUTPUT_H
#define HARK_TRANSCRIBE_OUTPUT_H

#include "hark.h"
#include "output/output.h"

#include <stdio.h>

/* Bit of a format in a format set: 1u << HARK_OUT_TXT, ... */
#define TR_FORMAT_BIT(f) (1u << (unsigned)(f))
#define TR_FORMAT_ALL                                                                              \
    (TR_FORMAT_BIT(HARK_OUT_TXT) | TR_FORMAT_BIT(HARK_OUT_SRT) | TR_FORMAT_BIT(HARK_OUT_VTT) |     \
     TR_FORMAT_BIT(HARK_OUT_TSV) | TR_FORMAT_BIT(HARK_OUT_JSON) |                                  \
     TR_FORMAT_BIT(HARK_OUT_VERBOSE_JSON))

/* Parses --output-format: a format name or "all". Returns the format set, or 0 when unknown. */
unsigned tr_parse_formats(const char *name);

/* Writes the English name of a language code in title case ("en" -> "English", "ht" ->
 * "Haitian Creole") into buf; an unknown code is copied as is. Returns buf. */
const char *tr_language_title(const char *code, char *buf, size_t cap);

/* Prints every segment of the last transcription as openai/whisper's verbose mode does:
 * "[00:00.000 --> 00:04.000]  text" (the second space is the text's own), one line each. */
void tr_print_segments(const hark_state *state, FILE *f);
/* Prints segment i the same way (a hark_segment_fn: user is the FILE). */
void tr_print_segment(const hark_state *state, int i, void *user);

/* The last transcription of state as src/output's result (language by its English name, as
 * the OpenAI API shows it); the segment and word arrays are owned by the tr_result. */
typedef struct tr_result {
    hark_out_result r;
    hark_out_segment *segs;
    hark_out_word *words;
} tr_result;
/* Returns 0, or -1 when out of memory. */
int tr_result_build(const hark_state *state, int translate, double duration, tr_result *out);
void tr_result_free(tr_result *r);

/* Writes the last transcription of state in each format of `formats` to
 * <output_dir>/<base>.<ext>, where base is input_path's file name without its extension
 * ("stdin" for "-") and ext is the format's ("verbose.json" for verbose_json, which would
 * otherwise share json's name). Creates output_dir (and its parents) when missing. duration is
 * the audio's length in seconds. On a failure prints a message naming the file to stderr, goes
 * on with the other formats, and returns 1; returns 0 when every file was written. */
int tr_write_outputs(const hark_state *state, const char *input_path, const char *output_dir,
                     unsigned formats, const hark_out_options *opt, int translate, double duration);

/* A progress bar on stderr for hark_full_params.progress: "38%|#####   | 30.0/77.0 s", redrawn at
 * most every 0.2 s. Set duration (seconds of audio) and zero the rest before use. */
typedef struct tr_progress {
    int shown;
    double duration, t_last;
} tr_progress;

/* A hark_progress_fn: user is a tr_progress. Never cancels. */
int tr_progress_draw(double done, void *user);
/* Erases the bar's line if one was drawn. */
void tr_progress_clear(tr_progress *b);

#endif
