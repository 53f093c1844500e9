/*
 * json.c — the OpenAI audio API's JSON responses, built with jansson.
 *
 * json:         {"text": ...}
 * verbose_json: {"task", "language", "duration", "text", "segments": [{"id", "seek", "start",
 *               "end", "text", "tokens", "temperature", "avg_logprob", "compression_ratio",
 *               "no_speech_prob"}], "words": [{"word", "start", "end"}] (only when some segment
 *               has word timings)}
 * ref: the OpenAI API reference, createTranscription response (json and verbose_json); the
 * segment fields are those of openai/whisper transcribe.py's segment dicts, and the optional
 * per-segment "words" with "probability" (hark_out_options.segment_words) is transcribe.py's
 * word_timestamps shape.
 *
 * Numbers: times are rounded to milliseconds; float32 fields are written with the fewest digits
 * that give back the same float (0.2f is 0.2, not 0.20000000298). Non-finite numbers are null.
 * Text: UTF-8 as is (not \u-escaped), with invalid sequences replaced by U+FFFD; key order as
 * listed; separators ", " and ": " like Python's json.dumps.
 */
#include "output/output_internal.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Significant digits of every real: enough for milliseconds below 10^7 s and for float32. */
#define JSON_DIGITS 10

typedef struct json_ctx {
    out_buf tmp; /* sanitizing scratch */
    bool failed; /* an allocation failed */
} json_ctx;

static json_t *check(json_ctx *c, json_t *v)
{
    if (!v)
        c->failed = true;
    return v;
}

static void set(json_ctx *c, json_t *obj, const char *key, json_t *v)
{
    if (!v || json_object_set_new(obj, key, v) != 0)
        c->failed = true;
}

static void append(json_ctx *c, json_t *arr, json_t *v)
{
    if (!v || json_array_append_new(arr, v) != 0)
        c->failed = true;
}

/* A JSON string of s[0..n) with invalid UTF-8 replaced. */
static json_t *jstrn(json_ctx *c, const char *s, size_t n)
{
    c->tmp.len = 0;
    out_put(&c->tmp, "", 0);
    out_put_utf8(&c->tmp, s, n);
    if (c->tmp.oom) {
        c->failed = true;
        return NULL;
    }
    return check(c, json_stringn(c->tmp.data, c->tmp.len));
}

static json_t *jstr(json_ctx *c, const char *s)
{
    return s ? jstrn(c, s, strlen(s)) : jstrn(c, "", 0);
}

/* A time in seconds, rounded to milliseconds. */
static json_t *jtime(json_ctx *c, double t)
{
    if (!isfinite(t))
        return check(c, json_null());
    return check(c, json_real(nearbyint(t * 1000.0) / 1000.0));
}

/* A float32 as the shortest decimal that reads back as the same float. */
static json_t *jf32(json_ctx *c, float f)
{
    if (!isfinite(f))
        return check(c, json_null());
    char s[32];
    for (int digits = 1; digits <= 9; digits++) {
        snprintf(s, sizeof s, "%.*g", digits, (double)f);
        if (strtof(s, NULL) == f)
            break;
    }
    return check(c, json_real(strtod(s, NULL)));
}

static json_t *jword(json_ctx *c, const hark_out_word *w, bool with_probability)
{
    json_t *o = check(c, json_object());
    if (!o)
        return NULL;
    set(c, o, "word", jstr(c, w->word));
    set(c, o, "start", jtime(c, w->start));
    set(c, o, "end", jtime(c, w->end));
    if (with_probability)
        set(c, o, "probability", jf32(c, w->probability));
    return o;
}

static json_t *jsegment(json_ctx *c, const hark_out_segment *s, const hark_out_options *opt)
{
    json_t *o = check(c, json_object());
    if (!o)
        return NULL;
    set(c, o, "id", check(c, json_integer(s->id)));
    set(c, o, "seek", check(c, json_integer(s->seek)));
    set(c, o, "start", jtime(c, s->start));
    set(c, o, "end", jtime(c, s->end));
    set(c, o, "text", jstr(c, s->text));
    json_t *tokens = check(c, json_array());
    for (int i = 0; tokens && i < s->n_tokens; i++)
        append(c, tokens, check(c, json_integer(s->tokens[i])));
    set(c, o, "tokens", tokens);
    set(c, o, "temperature", jf32(c, s->temperature));
    set(c, o, "avg_logprob", jf32(c, s->avg_logprob));
    set(c, o, "compression_ratio", jf32(c, s->compression_ratio));
    set(c, o, "no_speech_prob", jf32(c, s->no_speech_prob));
    if (opt->segment_words) {
        json_t *words = check(c, json_array());
        for (int i = 0; words && i < s->n_words; i++)
            append(c, words, jword(c, &s->words[i], true));
        set(c, o, "words", words);
    }
    return o;
}

/* The full text: r->text, or the segments' texts joined. */
static json_t *jfull_text(json_ctx *c, const hark_out_result *r)
{
    if (r->text)
        return jstr(c, r->text);
    out_buf joined = {0};
    out_put(&joined, "", 0);
    for (int i = 0; i < r->n_segments; i++)
        if (r->segments[i].text)
            out_puts(&joined, r->segments[i].text);
    json_t *v = joined.oom ? NULL : jstrn(c, joined.data, joined.len);
    if (!v)
        c->failed = true;
    free(joined.data);
    return v;
}

static json_t *build(json_ctx *c, const hark_out_result *r, bool verbose,
                     const hark_out_options *opt)
{
    json_t *root = check(c, json_object());
    if (!root)
        return NULL;
    if (!verbose) {
        set(c, root, "text", jfull_text(c, r));
        return root;
    }
    set(c, root, "task", jstr(c, r->task ? r->task : "transcribe"));
    set(c, root, "language", r->language ? jstr(c, r->language) : check(c, json_null()));
    set(c, root, "duration", jtime(c, r->duration));
    set(c, root, "text", jfull_text(c, r));

    json_t *segments = check(c, json_array());
    int n_words = 0;
    for (int i = 0; segments && i < r->n_segments; i++) {
        append(c, segments, jsegment(c, &r->segments[i], opt));
        n_words += r->segments[i].n_words > 0;
    }
    set(c, root, "segments", segments);

    if (n_words > 0) {
        json_t *words = check(c, json_array());
        for (int i = 0; words && i < r->n_segments; i++)
            for (int j = 0; j < r->segments[i].n_words; j++)
                append(c, words, jword(c, &r->segments[i].words[j], false));
        set(c, root, "words", words);
    }
    return root;
}

/* Appends the json (verbose false) or verbose_json rendering of r to b. Returns HARK_OK or
 * HARK_ERR_NOMEM. */
hark_status out_render_json(const hark_out_result *r, bool verbose, const hark_out_options *opt,
                            out_buf *b)
{
    json_ctx c = {0};
    hark_status st = HARK_OK;
    char *dump = NULL;
    json_t *root = build(&c, r, verbose, opt);
    if (!root || c.failed)
        goto out_nomem;

    size_t flags = JSON_REAL_PRECISION(JSON_DIGITS);
    size_t n = json_dumpb(root, NULL, 0, flags);
    if (n == 0 || !(dump = malloc(n)) || json_dumpb(root, dump, n, flags) != n)
        goto out_nomem;
    out_put(b, dump, n);
    goto out_free;

out_nomem:
    st = hark_fail(HARK_ERR_NOMEM, "hark_out_render: out of memory building JSON");
out_free:
    free(dump);
    json_decref(root);
    free(c.tmp.data);
    return st;
}
