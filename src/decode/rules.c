/*
 * rules.c — openai/whisper's logit filters (SuppressBlank, SuppressTokens, ApplyTimestampRules)
 * and the non-speech token set. See rules.h for the contracts.
 * ref: openai/whisper decoding.py, tokenizer.py.
 */
#include "decode/rules.h"

#include "decode/sample.h"
#include "util/util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ref: openai/whisper tokenizer.py Tokenizer.non_speech_tokens (the symbol lists). */
static const char *const non_speech_symbols[] = {
    "\"", "#", "(", ")", "*", "+", "/", ":", ";", "<", "=", ">", "@", "[", "\\", "]", "^", "_",
    "`", "{", "|", "}", "~", "\xe3\x80\x8c" /* 「 */, "\xe3\x80\x8d" /* 」 */,
    "\xe3\x80\x8e" /* 『 */, "\xe3\x80\x8f" /* 』 */,
    "<<", ">>", "<<<", ">>>", "--", "---", "-(", "-[", "('", "(\"", "((", "))", "(((", ")))",
    "[[", "]]", "{{", "}}", "\xe2\x99\xaa\xe2\x99\xaa" /* ♪♪ */,
    "\xe2\x99\xaa\xe2\x99\xaa\xe2\x99\xaa" /* ♪♪♪ */,
};

/* U+2669..U+266F ♩♪♫♬♭♮♯: the first token is suppressed even when they take several. */
static const char *const non_speech_music[] = {
    "\xe2\x99\xa9", "\xe2\x99\xaa", "\xe2\x99\xab", "\xe2\x99\xac",
    "\xe2\x99\xad", "\xe2\x99\xae", "\xe2\x99\xaf",
};

#define N_SYMBOLS (sizeof(non_speech_symbols) / sizeof(non_speech_symbols[0]))
#define N_MUSIC (sizeof(non_speech_music) / sizeof(non_speech_music[0]))

static int cmp_id(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

/* Sorts ids[0..n) and drops duplicates; returns the new count. */
static int sort_unique(int32_t *ids, int n)
{
    if (n <= 0)
        return 0;
    qsort(ids, (size_t)n, sizeof(*ids), cmp_id);
    int m = 1;
    for (int i = 1; i < n; i++)
        if (ids[i] != ids[m - 1])
            ids[m++] = ids[i];
    return m;
}

/* Encodes text (optionally after one space) and returns its token count (*first its first id),
 * or a negative status. */
static int encode_first(const hark_tokenizer *tok, const char *text, bool space, int32_t *first)
{
    char buf[32];
    size_t len = strlen(text);
    if (len + 2 > sizeof(buf))
        return HARK_ERR_INVALID_ARG;
    buf[0] = ' ';
    memcpy(buf + 1, text, len + 1);
    const char *s = space ? buf : text;
    int32_t ids[16];
    int n = hark_tokenizer_encode(tok, s, strlen(s), ids, 16);
    if (n > 0)
        *first = ids[0];
    return n;
}

hark_status hark_non_speech_tokens(const hark_tokenizer *tok, int32_t **ids, int *n)
{
    if (!tok || !ids || !n)
        return hark_fail(HARK_ERR_INVALID_ARG, "hark_non_speech_tokens: bad arguments");
    *ids = NULL;
    *n = 0;
    int32_t *out = malloc((2 + 2 * (N_SYMBOLS + N_MUSIC)) * sizeof(*out));
    if (!out)
        return hark_fail(HARK_ERR_NOMEM, "hark_non_speech_tokens: out of memory");
    int m = 0;
    /* hyphens and single quotes stay allowed between words, not at a word's start */
    const char *const word_start[] = { "-", "'" };
    for (int i = 0; i < 2; i++) {
        int k = encode_first(tok, word_start[i], true, &out[m]);
        if (k < 1)
            goto fail;
        m++;
    }
    for (size_t i = 0; i < N_SYMBOLS + N_MUSIC; i++) {
        bool music = i >= N_SYMBOLS;
        const char *sym = music ? non_speech_music[i - N_SYMBOLS] : non_speech_symbols[i];
        for (int space = 0; space < 2; space++) {
            int k = encode_first(tok, sym, space, &out[m]);
            if (k < 1)
                goto fail;
            if (k == 1 || music)
                m++;
        }
    }
    *n = sort_unique(out, m);
    *ids = out;
    return HARK_OK;
fail:
    free(out);
    return hark_fail(HARK_ERR_TOKENIZER, "hark_non_speech_tokens: a symbol did not encode");
}

int hark_max_initial_timestamp_index(double seconds, int n_audio_ctx)
{
    if (!(seconds > 0) || n_audio_ctx <= 0)
        return -1;
    double precision = (double)HARK_CHUNK_SECONDS / n_audio_ctx;
    return (int)nearbyint(seconds / precision); /* half to even, as Python's round */
}

hark_rules_params hark_rules_default_params(void)
{
    static const int32_t default_suppress[1] = { -1 };
    return (hark_rules_params){
        .suppress_blank = true,
        .timestamps = true,
        .max_initial_timestamp = 1.0,
        .n_audio_ctx = 1500,
        .suppress_tokens = default_suppress,
        .n_suppress_tokens = 1,
    };
}

/* ref: openai/whisper decoding.py DecodingTask._get_suppress_tokens. */
static hark_status build_suppress(hark_logit_rules *r, const hark_tokenizer *tok,
                                  const hark_rules_params *p)
{
    int32_t *ns = NULL;
    int n_ns = 0;
    bool want_ns = false;
    for (int i = 0; i < p->n_suppress_tokens; i++) {
        int32_t t = p->suppress_tokens[i];
        if (t == -1)
            want_ns = true;
        else if (t < 0 || t >= r->n_vocab)
            return hark_fail(HARK_ERR_INVALID_ARG, "suppress_tokens: id %d outside the vocabulary",
                             (int)t);
    }
    if (want_ns) {
        hark_status st = hark_non_speech_tokens(tok, &ns, &n_ns);
        if (st != HARK_OK)
            return st;
    }
    int cap = p->n_suppress_tokens + n_ns + 6;
    r->suppress = malloc((size_t)cap * sizeof(*r->suppress));
    if (!r->suppress) {
        free(ns);
        return hark_fail(HARK_ERR_NOMEM, "suppress_tokens: out of memory");
    }
    int m = 0;
    for (int i = 0; i < p->n_suppress_tokens; i++)
        if (p->suppress_tokens[i] >= 0)
            r->suppress[m++] = p->suppress_tokens[i];
    for (int i = 0; i < n_ns; i++)
        r->suppress[m++] = ns[i];
    free(ns);
    const hark_special_tokens *sp = &r->sp;
    const int specials[6] = { sp->transcribe, sp->translate, sp->sot,
                              sp->sot_prev,   sp->sot_lm,    sp->no_speech };
    for (int i = 0; i < 6; i++)
        if (specials[i] >= 0 && specials[i] < r->n_vocab)
            r->suppress[m++] = specials[i];
    r->n_suppress = sort_unique(r->suppress, m);
    return HARK_OK;
}

hark_status hark_rules_init(hark_logit_rules *r, const hark_tokenizer *tok,
                            const hark_special_tokens *sp, int n_vocab,
                            const hark_rules_params *params)
{
    if (!r || !tok || !sp || n_vocab <= sp->timestamp_begin || sp->eot < 0)
        return hark_fail(HARK_ERR_INVALID_ARG, "hark_rules_init: bad arguments");
    hark_rules_params p = params ? *params : hark_rules_default_params();
    if (p.n_suppress_tokens < 0 || (p.n_suppress_tokens > 0 && !p.suppress_tokens))
        return hark_fail(HARK_ERR_INVALID_ARG, "hark_rules_init: bad suppress_tokens");
    memset(r, 0, sizeof(*r));
    r->sp = *sp;
    r->n_vocab = n_vocab;
    r->suppress_blank = p.suppress_blank;
    r->timestamps = p.timestamps;
    r->max_initial_timestamp_index = hark_max_initial_timestamp_index(p.max_initial_timestamp,
                                                                      p.n_audio_ctx);
    int n = hark_tokenizer_encode(tok, " ", 1, r->blank, 4);
    if (n < 0)
        return (hark_status)n;
    r->n_blank = n < 4 ? n : 4;
    if (p.n_suppress_tokens == 0) /* whisper's empty list: the filter is not built */
        return HARK_OK;
    return build_suppress(r, tok, &p);
}

void hark_rules_free(hark_logit_rules *r)
{
    if (!r)
        return;
    free(r->suppress);
    r->suppress = NULL;
    r->n_suppress = 0;
}

static void suppress_range(float *logits, int from, int to)
{
    for (int i = from; i < to; i++)
        logits[i] = -INFINITY;
}

void hark_timestamp_rules_apply(const hark_special_tokens *sp, int n_vocab,
                                int max_initial_timestamp_index, const int32_t *tokens,
                                int n_tokens, float *logits)
{
    const int tb = sp->timestamp_begin;
    if (sp->no_timestamps >= 0 && sp->no_timestamps < n_vocab)
        logits[sp->no_timestamps] = -INFINITY;

    /* timestamps come in pairs, except directly before eot */
    bool last_ts = n_tokens >= 1 && tokens[n_tokens - 1] >= tb;
    bool penult_ts = n_tokens < 2 || tokens[n_tokens - 2] >= tb;
    if (last_ts) {
        if (penult_ts)
            suppress_range(logits, tb, n_vocab); /* has to be text (or eot) */
        else
            suppress_range(logits, 0, sp->eot); /* has to be a timestamp or eot */
    }

    /* timestamps never decrease; a segment's opening timestamp is later than the last one */
    int32_t ts_last = -1;
    for (int i = n_tokens - 1; i >= 0; i--)
        if (tokens[i] >= tb) {
            ts_last = tokens[i];
            break;
        }
    if (ts_last >= 0) {
        int to = last_ts && !penult_ts ? ts_last : ts_last + 1;
        suppress_range(logits, tb, to < n_vocab ? to : n_vocab);
    }

    if (n_tokens == 0) {
        suppress_range(logits, 0, tb); /* the first token is a timestamp */
        if (max_initial_timestamp_index >= 0) {
            long last_allowed = (long)tb + max_initial_timestamp_index;
            if (last_allowed + 1 < n_vocab)
                suppress_range(logits, (int)last_allowed + 1, n_vocab);
        }
    }

    /* the timestamps' total probability against the most likely text token; both sides of
     * whisper's comparison carry the same log-normaliser, so it cancels */
    double ts_mass = hark_logsumexp(logits + tb, n_vocab - tb);
    float max_text = hark_max(logits, tb);
    if (ts_mass > (double)max_text)
        suppress_range(logits, 0, tb);
}

void hark_rules_apply(const hark_logit_rules *r, const int32_t *tokens, int n_tokens,
                      float *logits)
{
    /* ref: openai/whisper decoding.py SuppressBlank */
    if (r->suppress_blank && n_tokens == 0) {
        for (int i = 0; i < r->n_blank; i++)
            if (r->blank[i] >= 0 && r->blank[i] < r->n_vocab)
                logits[r->blank[i]] = -INFINITY;
        logits[r->sp.eot] = -INFINITY;
    }
    /* ref: openai/whisper decoding.py SuppressTokens */
    for (int i = 0; i < r->n_suppress; i++)
        logits[r->suppress[i]] = -INFINITY;
    /* ref: openai/whisper decoding.py ApplyTimestampRules */
    if (r->timestamps)
        hark_timestamp_rules_apply(&r->sp, r->n_vocab, r->max_initial_timestamp_index, tokens,
                                   n_tokens, logits);
}
