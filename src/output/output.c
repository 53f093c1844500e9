/*
 * output.c — the entry point of the transcript writers (hark_out_render), the txt and tsv
 * writers, format names, and the text buffer and string helpers the other writers share.
 * The subtitle writers are in subtitles.c, the JSON ones in json.c.
 *
 * ref: openai/whisper utils.py WriteTXT (each segment's text stripped, one per line) and
 * WriteTSV (a "start\tend\ttext" header, then integer milliseconds and the stripped text with
 * tabs replaced by spaces).
 */
#include "output/output_internal.h"
#include "text/utf8.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---------------------------------------------------------------- buffer --------------------- */

static bool out_reserve(out_buf *b, size_t extra)
{
    if (b->oom)
        return false;
    if (extra > SIZE_MAX / 2 - b->len) {
        b->oom = true;
        return false;
    }
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return true;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap *= 2;
    char *p = realloc(b->data, cap);
    if (!p) {
        b->oom = true;
        return false;
    }
    b->data = p;
    b->cap = cap;
    return true;
}

/* Appends n bytes verbatim (see output_internal.h). */
void out_put(out_buf *b, const char *s, size_t n)
{
    if (!out_reserve(b, n))
        return;
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

/* Appends a NUL-terminated string verbatim. */
void out_puts(out_buf *b, const char *s)
{
    out_put(b, s, strlen(s));
}

/* Appends printf-style text. */
void out_printf(out_buf *b, const char *fmt, ...)
{
    char small[128];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->oom = true;
        return;
    }
    if ((size_t)n < sizeof small) {
        out_put(b, small, (size_t)n);
        return;
    }
    if (!out_reserve(b, (size_t)n))
        return;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

/* Appends s[0..n) with invalid UTF-8 replaced by U+FFFD. */
void out_put_utf8(out_buf *b, const char *s, size_t n)
{
    size_t ok = hark_utf8_valid_prefix((const uint8_t *)s, n);
    if (ok == n) {
        out_put(b, s, n);
        return;
    }
    out_put(b, s, ok);
    if (n - ok > SIZE_MAX / 4 || !out_reserve(b, 3 * (n - ok))) {
        b->oom = true;
        return;
    }
    b->len += hark_utf8_replace((const uint8_t *)s + ok, n - ok, b->data + b->len);
    b->data[b->len] = '\0';
}

/* ---------------------------------------------------------------- strings -------------------- */

/* The code point of the valid UTF-8 character at s[0..n) and its length in *len, or -1 (with
 * *len 1) for a byte that does not start a valid character. */
static long decode_char(const unsigned char *s, size_t n, int *len)
{
    enum hark_utf8_kind kind;
    int k = hark_utf8_scan(s, n, &kind);
    *len = k;
    if (kind != HARK_UTF8_CHAR)
        return -1;
    if (k == 1)
        return s[0];
    long cp = s[0] & (0x7F >> k);
    for (int i = 1; i < k; i++)
        cp = (cp << 6) | (s[i] & 0x3F);
    return cp;
}

/* Python's str.isspace() for one code point. */
static bool is_py_space(long cp)
{
    return (cp >= 0x09 && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x20) || cp == 0x85 ||
           cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 ||
           cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

/* Narrows [*s, *s + *n) like Python's str.strip(). */
void out_strip(const char **s, size_t *n)
{
    const unsigned char *p = (const unsigned char *)*s, *end = p + *n;
    while (p < end) {
        int k;
        long cp = decode_char(p, (size_t)(end - p), &k);
        if (cp < 0 || !is_py_space(cp))
            break;
        p += k;
    }
    while (end > p) {
        const unsigned char *q = end - 1;
        while (q > p && end - q < 4 && (*q & 0xC0) == 0x80)
            q--;
        int k;
        long cp = decode_char(q, (size_t)(end - q), &k);
        if (cp < 0 || q + k != end || !is_py_space(cp))
            break;
        end = q;
    }
    *s = (const char *)p;
    *n = (size_t)(end - p);
}

/* Number of code points in s[0..n); each invalid subpart counts as one. */
size_t out_cp_len(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t count = 0;
    while (n > 0) {
        enum hark_utf8_kind kind;
        int k = hark_utf8_scan(p, n, &kind);
        p += k;
        n -= (size_t)k;
        count++;
    }
    return count;
}

/* Milliseconds of a time, rounded half to even (Python's round()); negative, NaN and huge
 * values are clamped. */
long long out_ms(double seconds)
{
    if (!(seconds > 0))
        return 0;
    double ms = nearbyint(seconds * 1000.0);
    if (ms > 1e15)
        ms = 1e15;
    return (long long)ms;
}

/* ---------------------------------------------------------------- txt and tsv ---------------- */

static void render_txt(const hark_out_result *r, out_buf *b)
{
    for (int i = 0; i < r->n_segments; i++) {
        const char *t = r->segments[i].text ? r->segments[i].text : "";
        size_t n = strlen(t);
        out_strip(&t, &n);
        out_put_utf8(b, t, n);
        out_put(b, "\n", 1);
    }
}

static void render_tsv(const hark_out_result *r, out_buf *b)
{
    out_puts(b, "start\tend\ttext\n");
    for (int i = 0; i < r->n_segments; i++) {
        const hark_out_segment *s = &r->segments[i];
        const char *t = s->text ? s->text : "";
        size_t n = strlen(t);
        out_strip(&t, &n);
        out_printf(b, "%lld\t%lld\t", out_ms(s->start), out_ms(s->end));
        size_t at = b->len;
        out_put_utf8(b, t, n);
        if (b->oom)
            return;
        for (size_t j = at; j < b->len; j++)
            if (b->data[j] == '\t' || b->data[j] == '\n' || b->data[j] == '\r')
                b->data[j] = ' ';
        out_put(b, "\n", 1);
    }
}

/* ---------------------------------------------------------------- entry points --------------- */

static const struct {
    const char *name, *ext, *mime;
} format_info[] = {
    [HARK_OUT_TXT] = {"txt", "txt", "text/plain; charset=utf-8"},
    [HARK_OUT_SRT] = {"srt", "srt", "application/x-subrip"},
    [HARK_OUT_VTT] = {"vtt", "vtt", "text/vtt; charset=utf-8"},
    [HARK_OUT_TSV] = {"tsv", "tsv", "text/tab-separated-values; charset=utf-8"},
    [HARK_OUT_JSON] = {"json", "json", "application/json"},
    [HARK_OUT_VERBOSE_JSON] = {"verbose_json", "json", "application/json"},
};
#define N_FORMATS ((int)(sizeof format_info / sizeof format_info[0]))

/* All options unset. */
hark_out_options hark_out_default_options(void)
{
    hark_out_options o = {0};
    return o;
}

static hark_status check_result(const hark_out_result *r)
{
    if (r->n_segments < 0 || (r->n_segments > 0 && !r->segments))
        return hark_fail(HARK_ERR_INVALID_ARG, "hark_out_render: %d segments at %p",
                         r->n_segments, (const void *)r->segments);
    for (int i = 0; i < r->n_segments; i++) {
        const hark_out_segment *s = &r->segments[i];
        if (s->n_tokens < 0 || (s->n_tokens > 0 && !s->tokens) || s->n_words < 0 ||
            (s->n_words > 0 && !s->words))
            return hark_fail(HARK_ERR_INVALID_ARG,
                             "hark_out_render: segment %d: bad tokens (%d) or words (%d)", i,
                             s->n_tokens, s->n_words);
    }
    return HARK_OK;
}

/* Renders r in format f into a malloc'd buffer (see output.h). */
hark_status hark_out_render(const hark_out_result *r, hark_out_format f,
                            const hark_out_options *opt, char **text, size_t *len)
{
    if (text)
        *text = NULL;
    if (len)
        *len = 0;
    if (!r || !text || !len)
        return hark_fail(HARK_ERR_INVALID_ARG, "hark_out_render: NULL argument");
    if ((int)f < 0 || (int)f >= N_FORMATS)
        return hark_fail(HARK_ERR_INVALID_ARG, "hark_out_render: unknown format %d", (int)f);
    hark_status st = check_result(r);
    if (st != HARK_OK)
        return st;
    hark_out_options defaults = hark_out_default_options();
    if (!opt)
        opt = &defaults;

    out_buf b = {0};
    out_put(&b, "", 0); /* an empty result still gives an allocated "" */
    switch (f) {
    case HARK_OUT_TXT: render_txt(r, &b); break;
    case HARK_OUT_SRT: out_render_subtitles(r, true, opt, &b); break;
    case HARK_OUT_VTT: out_render_subtitles(r, false, opt, &b); break;
    case HARK_OUT_TSV: render_tsv(r, &b); break;
    case HARK_OUT_JSON: st = out_render_json(r, false, opt, &b); break;
    case HARK_OUT_VERBOSE_JSON: st = out_render_json(r, true, opt, &b); break;
    }
    if (st == HARK_OK && b.oom)
        st = hark_fail(HARK_ERR_NOMEM, "hark_out_render: out of memory writing %s",
                       format_info[f].name);
    if (st != HARK_OK) {
        free(b.data);
        return st;
    }
    *text = b.data;
    *len = b.len;
    return HARK_OK;
}

/* Parses a format name, case-insensitively. */
hark_status hark_out_format_parse(const char *name, hark_out_format *f)
{
    if (!name || !f)
        return hark_fail(HARK_ERR_INVALID_ARG, "hark_out_format_parse: NULL argument");
    for (int i = 0; i < N_FORMATS; i++) {
        if (strcasecmp(name, format_info[i].name) == 0) {
            *f = (hark_out_format)i;
            return HARK_OK;
        }
    }
    return hark_fail(HARK_ERR_INVALID_ARG,
                     "%s: unknown output format (txt, srt, vtt, tsv, json, verbose_json)", name);
}

/* The file extension of a format, or "". */
const char *hark_out_format_ext(hark_out_format f)
{
    return (int)f >= 0 && (int)f < N_FORMATS ? format_info[f].ext : "";
}

/* The MIME type of a format. */
const char *hark_out_format_mime(hark_out_format f)
{
    return (int)f >= 0 && (int)f < N_FORMATS ? format_info[f].mime : "application/octet-stream";
}
