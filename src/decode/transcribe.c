/*
 * transcribe.c — the transcription loop of this first engine: 30 s windows one after another,
 * greedy decoding with <|notimestamps|>, one segment per window.
 * The full openai/whisper semantics (timestamps, seeking on timestamp tokens, temperature
 * fallback, beam search, language detection) replace this loop in a later stage.
 * ref: openai/whisper decoding.py (GreedyDecoder, SuppressBlank, SuppressTokens; sample_len =
 * n_text_ctx // 2).
 */
#include "hark.h"

#include "engine/state.h"
#include "model/model.h"
#include "text/tokenizer.h"
#include "util/util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

hark_full_params hark_full_default_params(void)
{
    return (hark_full_params){
        .language = "en",
        .translate = 0,
        .max_tokens = 0, /* 0: n_text_ctx / 2 */
        .suppress_eot = 0,
    };
}

void hark_results_clear(hark_results *r)
{
    for (int i = 0; i < r->n_segments; i++) {
        free(r->segments[i].text);
        free(r->segments[i].tokens);
    }
    free(r->segments);
    memset(r, 0, sizeof(*r));
}

static hark_status results_push(hark_results *r, double t0, double t1, const int32_t *tokens,
                                int n, char *text)
{
    if (r->n_segments == r->cap_segments) {
        int cap = r->cap_segments ? 2 * r->cap_segments : 8;
        hark_segment *s = realloc(r->segments, (size_t)cap * sizeof(*s));
        if (!s)
            return hark_fail(HARK_ERR_NOMEM, "out of memory");
        r->segments = s;
        r->cap_segments = cap;
    }
    int32_t *copy = malloc((size_t)(n > 0 ? n : 1) * sizeof(*copy));
    if (!copy)
        return hark_fail(HARK_ERR_NOMEM, "out of memory");
    if (n > 0)
        memcpy(copy, tokens, (size_t)n * sizeof(*copy));
    r->segments[r->n_segments++] = (hark_segment){ .t0 = t0, .t1 = t1, .text = text,
                                                   .tokens = copy, .n_tokens = n };
    return HARK_OK;
}

/* Greedy choice with the rules of this stage: every special and timestamp token suppressed
 * except <|endoftext|>; blank and <|endoftext|> suppressed at the first sampled step
 * (ref: decoding.py SuppressBlank); <|endoftext|> never chosen in benchmark mode. */
static int greedy_pick(const float *logits, int n_vocab, const hark_special_tokens *sp, int first,
                       int allow_eot, int32_t blank)
{
    int best = -1;
    float best_v = -INFINITY;
    for (int t = 0; t < n_vocab; t++) {
        if (t > sp->eot || (t == sp->eot && (!allow_eot || first)) || (first && t == blank))
            continue;
        if (logits[t] > best_v) {
            best_v = logits[t];
            best = t;
        }
    }
    return best;
}

static hark_status transcribe_window(hark_state *s, const float *pcm, size_t n, double t0,
                                     const hark_full_params *p, int32_t *tokens, int max_tokens)
{
    hark_model *m = s->model;
    const hark_special_tokens *sp = &m->special;
    hark_status st = hark_log_mel(pcm, n, m->dims.n_mels, s->mel);
    if (st != HARK_OK)
        return st;
    st = hark_encode(s, s->mel, 1);
    if (st != HARK_OK)
        return st;

    int lang = hark_language_index(p->language && strcmp(p->language, "auto") != 0 ? p->language : "en");
    if (lang < 0)
        return hark_fail(HARK_ERR_INVALID_ARG, "unknown language '%s'", p->language);
    if (lang >= sp->n_languages || !hark_model_is_multilingual(m))
        lang = -1; /* English-only models take no language token */

    hark_decode_entry prompt[4];
    int np = 0;
    prompt[np++] = (hark_decode_entry){ .token = sp->sot };
    if (lang >= 0) {
        prompt[np++] = (hark_decode_entry){ .token = sp->lang_first + lang };
        prompt[np++] = (hark_decode_entry){ .token = p->translate ? sp->translate : sp->transcribe };
    }
    prompt[np++] = (hark_decode_entry){ .token = sp->no_timestamps };
    for (int i = 0; i < np; i++) {
        prompt[i].pos = i;
        prompt[i].want_logits = i == np - 1;
    }
    st = hark_decode(s, prompt, np, s->logits);
    if (st != HARK_OK)
        return st;

    int32_t blank = -1;
    int32_t space[2];
    if (hark_tokenizer_encode(m->tok, " ", 1, space, 2) == 1)
        blank = space[0];
    int n_out = 0;
    int limit = max_tokens;
    if (np + limit > m->dims.n_text_ctx)
        limit = m->dims.n_text_ctx - np;
    for (int step = 0; step < limit; step++) {
        int tok = greedy_pick(s->logits, m->dims.n_vocab, sp, step == 0, !p->suppress_eot, blank);
        if (tok < 0 || tok == sp->eot)
            break;
        tokens[n_out++] = tok;
        if (step + 1 == limit)
            break;
        hark_decode_entry e = { .token = tok, .pos = np + step, .want_logits = 1 };
        st = hark_decode(s, &e, 1, s->logits);
        if (st != HARK_OK)
            return st;
    }
    char *text = NULL;
    st = hark_tokenizer_decode(m->tok, tokens, n_out, 1, &text);
    if (st != HARK_OK)
        return st;
    double dur = (double)(n < HARK_N_SAMPLES ? n : HARK_N_SAMPLES) / HARK_SAMPLE_RATE;
    st = results_push(&s->results, t0, t0 + dur, tokens, n_out, text);
    if (st != HARK_OK)
        free(text);
    return st;
}

hark_status hark_transcribe(hark_state *state, const float *pcm, size_t n_samples,
                            const hark_full_params *params)
{
    if (!state || (!pcm && n_samples))
        return hark_fail(HARK_ERR_INVALID_ARG, "hark_transcribe: bad arguments");
    hark_full_params p = params ? *params : hark_full_default_params();
    hark_model *m = state->model;
    hark_results_clear(&state->results);
    for (size_t i = 0; i < n_samples; i++)
        if (!isfinite(pcm[i]))
            return hark_fail(HARK_ERR_AUDIO, "sample %zu is not a finite number", i);
    if (n_samples == 0)
        return hark_fail(HARK_ERR_AUDIO, "no audio samples to transcribe");

    size_t mel_n = (size_t)m->dims.n_mels * HARK_N_FRAMES;
    if (!state->mel)
        state->mel = malloc(mel_n * sizeof(float));
    if (!state->logits)
        state->logits = malloc((size_t)m->dims.n_vocab * sizeof(float));
    int max_tokens = p.max_tokens > 0 ? p.max_tokens : m->dims.n_text_ctx / 2;
    int32_t *tokens = malloc((size_t)m->dims.n_text_ctx * sizeof(int32_t));
    if (!state->mel || !state->logits || !tokens) {
        free(tokens);
        return hark_fail(HARK_ERR_NOMEM, "out of memory");
    }
    hark_status st = HARK_OK;
    for (size_t off = 0; off < n_samples && st == HARK_OK; off += HARK_N_SAMPLES)
        st = transcribe_window(state, pcm + off, n_samples - off, (double)off / HARK_SAMPLE_RATE,
                               &p, tokens, max_tokens);
    free(tokens);
    return st;
}

int hark_n_segments(const hark_state *state) { return state ? state->results.n_segments : 0; }

static const hark_segment *segment_at(const hark_state *s, int i)
{
    return s && i >= 0 && i < s->results.n_segments ? &s->results.segments[i] : NULL;
}

const char *hark_segment_text(const hark_state *state, int i)
{
    const hark_segment *g = segment_at(state, i);
    return g ? g->text : NULL;
}

double hark_segment_t0(const hark_state *state, int i)
{
    const hark_segment *g = segment_at(state, i);
    return g ? g->t0 : 0.0;
}

double hark_segment_t1(const hark_state *state, int i)
{
    const hark_segment *g = segment_at(state, i);
    return g ? g->t1 : 0.0;
}

int hark_segment_tokens(const hark_state *state, int i, const int32_t **tokens)
{
    const hark_segment *g = segment_at(state, i);
    if (!g || !tokens)
        return hark_fail(HARK_ERR_INVALID_ARG, "hark_segment_tokens: no segment %d", i);
    *tokens = g->tokens;
    return g->n_tokens;
}
