/*
 * output_internal.h — private helpers of the output module: a growable text buffer with a sticky
 * out-of-memory flag, Python-like strip, code-point length, and the per-format renderers.
 */
#ifndef HARK_OUTPUT_INTERNAL_H
#define HARK_OUTPUT_INTERNAL_H

#include "output/output.h"
#include "util/util.h"

#include <stdbool.h>
#include <stddef.h>

/* A growable NUL-terminated buffer. After a failed allocation every append is a no-op and
 * oom stays set, so writers check once at the end. */
typedef struct out_buf {
    char *data;
    size_t len, cap;
    bool oom;
} out_buf;

/* Appends n bytes verbatim. */
void out_put(out_buf *b, const char *s, size_t n);
/* Appends a NUL-terminated string verbatim. */
void out_puts(out_buf *b, const char *s);
/* Appends printf-style text. */
void out_printf(out_buf *b, const char *fmt, ...) HARK_PRINTF(2, 3);
/* Appends s[0..n) with invalid UTF-8 replaced by U+FFFD. */
void out_put_utf8(out_buf *b, const char *s, size_t n);

/* Narrows [*s, *s + *n) to drop leading and trailing whitespace as Python's str.strip() sees it
 * (ASCII whitespace, \x1c-\x1f, and the Unicode space separators). */
void out_strip(const char **s, size_t *n);
/* Number of code points in s[0..n) (each invalid byte counts as one, as after replacement). */
size_t out_cp_len(const char *s, size_t n);

/* Milliseconds of a time, rounded half to even like Python's round(seconds * 1000); negative
 * and non-finite times give 0. */
long long out_ms(double seconds);

/* Per-format renderers; each appends to b. opt is never NULL. */
void out_render_subtitles(const hark_out_result *r, bool srt, const hark_out_options *opt,
                          out_buf *b);
hark_status out_render_json(const hark_out_result *r, bool verbose, const hark_out_options *opt,
                            out_buf *b);

#endif
