/*
 * output.h — transcript writers: txt, srt, vtt, tsv, and the OpenAI API's json and verbose_json.
 *
 * What it is: a pure formatting module. It takes a self-contained description of a transcription
 * result (segments, optional word timings) and renders one format into a malloc'd UTF-8 buffer.
 * The CLI writes that buffer to a file; the server sends it as a response body.
 * What it is not: it runs no model and opens no file, and it knows nothing of hark_state, so that
 * tools and the server can fill the input model from whatever they hold.
 *
 * ref: openai/whisper utils.py (WriteTXT, WriteVTT, WriteSRT, WriteTSV, SubtitlesWriter
 * iterate_result, format_timestamp) for the file formats; the OpenAI audio API's
 * response_format "json" and "verbose_json" for the JSON shapes.
 *
 * Deviations from the reference, each to keep the files valid for other parsers:
 *   - invalid UTF-8 in any text becomes U+FFFD (Python's errors="replace");
 *   - srt/vtt skip cues whose text is empty after stripping (a cue with no text ends at its
 *     timing line for most parsers, so the reference's empty cue is dropped or misread anyway),
 *     and collapse blank lines inside cue text into single line breaks;
 *   - "-->" becomes "->" in word-timed cues too, not only in segment cues;
 *   - tsv replaces line breaks in text by spaces as well as tabs;
 *   - negative or non-finite times are written as 0 in srt/vtt/tsv (the reference asserts);
 *     non-finite numbers in JSON are null (Python would write the invalid NaN).
 *
 * Thread-safety: every function is reentrant; nothing is global.
 */
#ifndef HARK_OUTPUT_H
#define HARK_OUTPUT_H

#include "hark.h"

#include <stddef.h>
#include <stdint.h>

/* One word with its timing (seconds from the start of the audio). word is UTF-8 and keeps its
 * leading space as Whisper's tokens give it (" Hello"). */
typedef struct hark_out_word {
    double start, end;
    const char *word;
    float probability;
} hark_out_word;

/* One segment, with the fields of openai/whisper transcribe()'s segment dicts. text is the raw
 * decoded text (usually with a leading space); tokens are its text token ids. words may be NULL
 * (n_words 0) when word timings were not computed. */
typedef struct hark_out_segment {
    int id;
    int seek;
    double start, end;
    const char *text;
    const int32_t *tokens;
    int n_tokens;
    float temperature, avg_logprob, compression_ratio, no_speech_prob;
    const hark_out_word *words;
    int n_words;
} hark_out_segment;

/* A whole result. task: "transcribe" or "translate" (NULL: "transcribe"). language: as the API
 * should show it (OpenAI's API writes the full name, "english"); NULL writes null. duration: of
 * the audio in seconds. text: the full text; NULL joins the segments' texts. */
typedef struct hark_out_result {
    const char *task;
    const char *language;
    double duration;
    const char *text;
    const hark_out_segment *segments;
    int n_segments;
} hark_out_result;

typedef enum hark_out_format {
    HARK_OUT_TXT,
    HARK_OUT_SRT,
    HARK_OUT_VTT,
    HARK_OUT_TSV,
    HARK_OUT_JSON,
    HARK_OUT_VERBOSE_JSON,
} hark_out_format;

/* Options of the subtitle writers (ref: openai/whisper utils.py SubtitlesWriter iterate_result
 * and the CLI's --max_line_width, --max_line_count, --max_words_per_line, --highlight_words).
 * They apply to srt and vtt, and only when the segments carry word timings; 0 means unset.
 * With both max_line_width and max_line_count set, cues are re-flowed across segments;
 * otherwise each segment keeps its own cue(s), and max_line_width alone wraps lines. */
typedef struct hark_out_options {
    int max_line_width;     /* characters (code points) per line */
    int max_line_count;     /* lines per cue */
    int max_words_per_line; /* words per line */
    int highlight_words;    /* one cue per word, the current word underlined (<u>..</u>) */
    int segment_words;      /* verbose_json: also list each segment's words with their
                               probability inside the segment (openai/whisper CLI's shape) */
} hark_out_options;

/* All options unset. */
hark_out_options hark_out_default_options(void);

/* Renders r in format f. opt may be NULL (defaults). On success *text is a malloc'd,
 * NUL-terminated UTF-8 buffer owned by the caller (free with free() or hark_free) and *len its
 * length without the NUL. On failure *text is NULL and the status is HARK_ERR_INVALID_ARG (a NULL
 * argument, an unknown format, a negative count, a NULL array with a positive count) or
 * HARK_ERR_NOMEM. A NULL segment text or word is taken as "". */
hark_status hark_out_render(const hark_out_result *r, hark_out_format f,
                            const hark_out_options *opt, char **text, size_t *len);

/* Parses a format name: "txt", "srt", "vtt", "tsv", "json", "verbose_json" (case-insensitive).
 * HARK_ERR_INVALID_ARG for anything else. (The OpenAI API's "text" is the full text plus a line
 * break, not txt's one line per segment: a server renders it from hark_out_result.text.) */
hark_status hark_out_format_parse(const char *name, hark_out_format *f);

/* The file extension of a format without the dot ("srt"; "json" for both JSON formats), or ""
 * for an unknown value. */
const char *hark_out_format_ext(hark_out_format f);

/* The MIME type a server should send for a format ("application/x-subrip",
 * "text/vtt; charset=utf-8", ...), or "application/octet-stream" for an unknown value. */
const char *hark_out_format_mime(hark_out_format f);

#endif
