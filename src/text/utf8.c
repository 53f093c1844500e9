/*
 * utf8.c — UTF-8 validation, replacement of invalid bytes by U+FFFD, and the incremental
 * assembler that streaming output uses (declared in tokenizer.h).
 *
 * Replacement follows Python's bytes.decode("utf-8", errors="replace"), which is the Unicode
 * "maximal subpart" practice: a lead byte followed by a valid but unfinished continuation is one
 * U+FFFD, and the byte that broke the sequence is examined again as a possible lead byte.
 * ref: openai/whisper tokenizer.py decode (tiktoken decode with errors="replace").
 */
#include "text/tokenizer.h"
#include "text/utf8.h"

#include <string.h>

static const char replacement[3] = {(char)0xEF, (char)0xBF, (char)0xBD}; /* U+FFFD */

/* Lead byte -> sequence length (0: never a lead byte) and the allowed range of the second byte
 * (the later continuation bytes are always 0x80..0xBF). */
static int lead_info(uint8_t b, uint8_t *lo, uint8_t *hi)
{
    *lo = 0x80;
    *hi = 0xBF;
    if (b < 0x80)
        return 1;
    if (b < 0xC2)
        return 0;
    if (b < 0xE0)
        return 2;
    if (b < 0xF0) {
        if (b == 0xE0)
            *lo = 0xA0; /* no overlong forms */
        if (b == 0xED)
            *hi = 0x9F; /* no surrogates */
        return 3;
    }
    if (b < 0xF5) {
        if (b == 0xF0)
            *lo = 0x90; /* no overlong forms */
        if (b == 0xF4)
            *hi = 0x8F; /* nothing past U+10FFFF */
        return 4;
    }
    return 0;
}

/* Classifies the first unit of s[0..n), n > 0: returns its length, its kind in *kind. */
int hark_utf8_scan(const uint8_t *s, size_t n, enum hark_utf8_kind *kind)
{
    uint8_t lo, hi;
    int need = lead_info(s[0], &lo, &hi);
    if (need == 0) {
        *kind = HARK_UTF8_INVALID;
        return 1;
    }
    for (int i = 1; i < need; i++) {
        if ((size_t)i >= n) {
            *kind = HARK_UTF8_PARTIAL;
            return i;
        }
        if (s[i] < lo || s[i] > hi) {
            *kind = HARK_UTF8_INVALID;
            return i;
        }
        lo = 0x80;
        hi = 0xBF;
    }
    *kind = HARK_UTF8_CHAR;
    return need;
}

/* Returns the offset of the first invalid byte, or n when s[0..n) is valid UTF-8. */
size_t hark_utf8_valid_prefix(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        enum hark_utf8_kind kind;
        int len = hark_utf8_scan(s + i, n - i, &kind);
        if (kind != HARK_UTF8_CHAR)
            return i;
        i += (size_t)len;
    }
    return n;
}

/* Copies s[0..n) to out (room for 3 * n) with each invalid subpart replaced by U+FFFD; returns
 * the bytes written (no NUL). */
size_t hark_utf8_replace(const uint8_t *s, size_t n, char *out)
{
    size_t i = 0, o = 0;
    while (i < n) {
        enum hark_utf8_kind kind;
        int len = hark_utf8_scan(s + i, n - i, &kind);
        if (kind == HARK_UTF8_CHAR) {
            memcpy(out + o, s + i, (size_t)len);
            o += (size_t)len;
        } else {
            memcpy(out + o, replacement, 3);
            o += 3;
        }
        i += (size_t)len;
    }
    return o;
}

/* ---------------------------------------------------------------- streaming assembly -------- */

/* Starts an empty stream (nothing pending). */
void hark_utf8_stream_init(hark_utf8_stream *s)
{
    memset(s, 0, sizeof(*s));
}

/* Appends bytes to out when they fit (keeping room for the NUL); a unit that does not fit is
 * dropped whole, so the output never ends inside a character. */
static void put(char *out, size_t cap, size_t *o, const void *bytes, size_t n)
{
    if (cap > 0 && *o + n < cap) {
        memcpy(out + *o, bytes, n);
        *o += n;
    }
}

/* Emits every unit of the pending bytes that is decided; with final, a partial tail too. */
static void resolve(hark_utf8_stream *s, int final, char *out, size_t cap, size_t *o)
{
    while (s->n_pending > 0) {
        enum hark_utf8_kind kind;
        int len = hark_utf8_scan(s->pending, (size_t)s->n_pending, &kind);
        if (kind == HARK_UTF8_PARTIAL && !final)
            return;
        if (kind == HARK_UTF8_CHAR)
            put(out, cap, o, s->pending, (size_t)len);
        else
            put(out, cap, o, replacement, 3);
        s->n_pending -= len;
        memmove(s->pending, s->pending + len, (size_t)s->n_pending);
    }
}

/* Feeds in[0..n): complete characters go to out (capacity cap, NUL-terminated), an unfinished
 * one waits in s. cap >= 3 * n + 13 always suffices; with less, the characters that do not fit
 * are dropped. Returns the bytes written, excluding the NUL. */
size_t hark_utf8_stream_feed(hark_utf8_stream *s, const char *in, size_t n, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        /* pending never holds more than 3 bytes here: a valid prefix of a character */
        s->pending[s->n_pending++] = (uint8_t)in[i];
        resolve(s, 0, out, cap, &o);
    }
    if (cap > 0)
        out[o] = '\0';
    return o;
}

/* Flushes the pending bytes (an unfinished character becomes U+FFFD) and resets the stream.
 * cap >= 13 always suffices. Returns the bytes written, excluding the NUL. */
size_t hark_utf8_stream_flush(hark_utf8_stream *s, char *out, size_t cap)
{
    size_t o = 0;
    resolve(s, 1, out, cap, &o);
    if (cap > 0)
        out[o] = '\0';
    return o;
}
