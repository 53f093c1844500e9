/*
 * utf8.h — private UTF-8 helpers of the text module: validation and replacement of invalid
 * sequences by U+FFFD following Python's bytes.decode("utf-8", errors="replace").
 */
#ifndef HARK_UTF8_H
#define HARK_UTF8_H

#include <stddef.h>
#include <stdint.h>

/* What hark_utf8_scan found at the start of its input. */
enum hark_utf8_kind {
    HARK_UTF8_CHAR,    /* a complete, valid character */
    HARK_UTF8_INVALID, /* a maximal invalid subpart, to be replaced by one U+FFFD */
    HARK_UTF8_PARTIAL, /* a valid prefix of a character cut short by the end of the input */
};

/* Classifies the bytes at s[0..n) (n > 0) and returns how many of them form the first unit
 * (1..4), with its kind in *kind. */
int hark_utf8_scan(const uint8_t *s, size_t n, enum hark_utf8_kind *kind);

/* Returns the offset of the first byte that is not part of a valid character, or n when all
 * of s[0..n) is valid UTF-8. */
size_t hark_utf8_valid_prefix(const uint8_t *s, size_t n);

/* Writes s[0..n) to out with every invalid subpart (and an incomplete tail) replaced by U+FFFD,
 * like Python's errors="replace". out needs room for 3 * n bytes; no NUL is written. Returns the
 * number of bytes written. */
size_t hark_utf8_replace(const uint8_t *s, size_t n, char *out);

#endif
