/*
 * transcribe.c — openai/whisper's transcription of a whole recording: the log-mel of the audio
 * with 30 s of padding, 30 s windows from `seek`, decoding with temperature fallback, the
 * no-speech skip, segments cut at pairs of timestamp tokens, seeking to the last timestamp,
 * the previous text as the next window's prompt (reset after high-temperature windows).
 * ref: openai/whisper transcribe.py transcribe (decode_with_fallback, the seek loop,
 * new_segment), decoding.py DecodingTask._get_initial_tokens.
 * Word-level timestamps (words.c) refine the segments and the seek, and with
 * hallucination_silence_threshold skip silences before likely hallucinations; clip_timestamps
 * limit the loop to clips; prefix continues every window (ref: decoding.py _get_initial_tokens).
 */
#include "hark.h"

#include "decode/decode.h"
#include "decode/quality.h"
#include "decode/words.h"
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
        .language = NULL,
        .translate = 0,
        .timestamps = 1,
        .temperature = 0.0f,
        .temperature_increment = 0.2f,
        .beam_size = 0,
        .patience = 1.0f,
        .length_penalty = -1.0f,
        .best_of = 5,
        .compression_ratio_threshold = 2.4f,
        .logprob_threshold = -1.0f,
        .no_speech_threshold = 0.6f,
        .condition_on_previous_text = 1,
        .initial_prompt = NULL,
        .max_initial_timestamp = 1.0f,
        .prefix = NULL,
        .word_timestamps = 0,
        .prepend_punctuations = NULL,
        .append_punctuations = NULL,
        .clip_timestamps = NULL,
        .n_clip_timestamps = 0,
        .hallucination_silence_threshold = NAN,
        .max_tokens = 0,
        .suppress_eot = 0,
        .seed = 0,
    };
}

void hark_results_clear(hark_results *r)
{
    for (int i = 0; i < r->n_segments; i++) {
        free(r->segments[i].text);
        free(r->segments[i].tokens);
        hark_words_free(r->segments[i].words, r->segments[i].n_words);
    }
    free(r->segments);
    memset(r, 0, sizeof(*r));
}

/* Appends a segment (text decoded from its tokens) to a list. */
static hark_status results_push(hark_results *r, const hark_segment *seg, const int32_t *tokens,
                                int n, const hark_tokenizer *tok)
{
    if (r->n_segments == r->cap_segments) {
        int cap = r->cap_segments ? 2 * r->cap_segments : 16;
        hark_segment *s = realloc(r->segments, (size_t)cap * sizeof(*s));
        if (!s)
            return hark_fail(HARK_ERR_NOMEM, "out of memory");
        r->segments = s;
        r->cap_segments = cap;
    }
    hark_segment g = *seg;
    g.words = NULL, g.n_words = 0;
    g.tokens = malloc((size_t)(n > 0 ? n : 1) * sizeof(int32_t));
    if (!g.tokens)
        return hark_fail(HARK_ERR_NOMEM, "out of memory");
    if (n > 0)
        memcpy(g.tokens, tokens, (size_t)n * sizeof(int32_t));
    g.n_tokens = n;
    hark_status st = hark_tokenizer_decode(tok, tokens, n, 1, &g.text);
    if (st != HARK_OK) {
        free(g.tokens);
        return st;
    }
    r->segments[r->n_segments++] = g;
    return HARK_OK;
}

/* Drops segments from index `from` on. */
static void results_truncate(hark_results *r, int from)
{
    for (int i = from; i < r->n_segments; i++) {
        free(r->segments[i].text);
        free(r->segments[i].tokens);
        hark_words_free(r->segments[i].words, r->segments[i].n_words);
    }
    if (from < r->n_segments)
        r->n_segments = from;
}

/* A growing token list (the previous text used as prompt). */
typedef struct toklist {
    int32_t *v;
    int n, cap;
} toklist;

static hark_status toklist_add(toklist *l, const int32_t *t, int n)
{
    if (l->n + n > l->cap) {
        int cap = l->cap ? l->cap : 256;
        while (cap < l->n + n)
            cap *= 2;
        int32_t *v = realloc(l->v, (size_t)cap * sizeof(int32_t));
        if (!v)
            return hark_fail(HARK_ERR_NOMEM, "out of memory");
        l->v = v;
        l->cap = cap;
    }
    if (n > 0)
        memcpy(l->v + l->n, t, (size_t)n * sizeof(int32_t));
    l->n += n;
    return HARK_OK;
}

/* [sot_prev + prompt[-(n_ctx/2 - 1):]] + [sot, language, task] (+ notimestamps).
 * ref: decoding.py DecodingTask._get_initial_tokens. Returns the length; *sot_index set. */
static int build_prompt(const hark_model *m, const int32_t *prev, int n_prev, int lang,
                        const hark_full_params *p, int32_t *out, int *sot_index)
{
    const hark_special_tokens *sp = &m->special;
    int n = 0;
    if (n_prev > 0) {
        int keep = m->dims.n_text_ctx / 2 - 1;
        if (n_prev > keep) {
            prev += n_prev - keep;
            n_prev = keep;
        }
        out[n++] = sp->sot_prev;
        memcpy(out + n, prev, (size_t)n_prev * sizeof(int32_t));
        n += n_prev;
    }
    *sot_index = n;
    out[n++] = sp->sot;
    if (lang >= 0) {
        out[n++] = sp->lang_first + lang;
        out[n++] = p->translate ? sp->translate : sp->transcribe;
    }
    if (!p->timestamps)
        out[n++] = sp->no_timestamps;
    return n;
}

/* decode_with_fallback: temperatures t0, t0 + inc, ... until the result passes the
 * compression-ratio and log-probability checks (or silence excuses it). */
static hark_status decode_with_fallback(hark_state *s, const int32_t *prompt, int np, int sot_index,
                                        const hark_full_params *p, const hark_logit_rules *rules,
                                        double done, hark_window_result *out)
{
    double temps[16];
    int nt = hark_temperature_schedule(p->temperature, p->temperature_increment > 0
                                       ? p->temperature_increment : NAN, temps, 16);
    hark_quality_thresholds th = {
        .compression_ratio = p->compression_ratio_threshold > 0 ? p->compression_ratio_threshold : NAN,
        .logprob = p->logprob_threshold,
        .no_speech = p->no_speech_threshold,
    };
    hark_status st = HARK_OK;
    for (int i = 0; i < nt; i++) {
        if (i > 0)
            hark_window_result_free(out);
        st = hark_decode_window(s, prompt, np, sot_index, (float)temps[i], p, rules, done, out);
        if (st != HARK_OK)
            return st;
        hark_decode_quality q = { .compression_ratio = out->compression_ratio,
                                  .avg_logprob = out->avg_logprob,
                                  .no_speech_prob = out->no_speech_prob };
        if (!hark_needs_fallback(&q, &th))
            break;
    }
    return st;
}

static int is_ts(const hark_model *m, int32_t t) { return t >= m->special.timestamp_begin; }

/* Cuts one window's tokens into segments; *advance: how far to seek (mel frames).
 * ref: transcribe.py (consecutive timestamps, single_timestamp_ending, last_timestamp_pos). */
static hark_status add_segments(hark_state *s, const hark_window_result *r, int seek,
                                int segment_size, hark_results *cur, int *advance,
                                int *single_timestamp_ending)
{
    hark_model *m = s->model;
    const int32_t *t = r->tokens;
    const int n = r->n_tokens, tb = m->special.timestamp_begin;
    const double prec = (double)HARK_CHUNK_SECONDS / m->dims.n_audio_ctx; /* 0.02 s */
    const double offset = (double)seek * HARK_HOP_LENGTH / HARK_SAMPLE_RATE;
    hark_segment base = { .seek = seek, .temperature = r->temperature,
                          .avg_logprob = (float)r->avg_logprob,
                          .compression_ratio = (float)r->compression_ratio,
                          .no_speech_prob = (float)r->no_speech_prob };
    int single_ending = n >= 2 && !is_ts(m, t[n - 2]) && is_ts(m, t[n - 1]);
    int n_cons = 0;
    *single_timestamp_ending = single_ending;
    for (int i = 1; i < n; i++)
        n_cons += is_ts(m, t[i - 1]) && is_ts(m, t[i]);
    hark_status st = HARK_OK;
    if (n_cons > 0) {
        /* the cuts: every i where t[i-1] and t[i] are both timestamps (and n when the window
         * ends on a single timestamp); a segment is t[last..cut), its closing timestamp
         * included; after the last pair the unfinished rest is left out */
        int last = 0;
        for (int i = 1; i <= n && st == HARK_OK; i++) {
            int cut = i < n ? (is_ts(m, t[i - 1]) && is_ts(m, t[i])) : single_ending;
            if (!cut)
                continue;
            const int32_t *sl = t + last;
            int len = i - last;
            hark_segment g = base;
            g.t0 = offset + (sl[0] - tb) * prec;
            g.t1 = offset + (sl[len - 1] - tb) * prec;
            st = results_push(cur, &g, sl, len, m->tok);
            last = i;
        }
        *advance = single_ending ? segment_size : (t[last - 1] - tb) * 2; /* input_stride */
        if (*advance < 1) /* a window ending on <|0.00|> would never move on */
            *advance = segment_size;
    } else {
        double duration = (double)segment_size * HARK_HOP_LENGTH / HARK_SAMPLE_RATE;
        int last_ts = -1;
        for (int i = 0; i < n; i++)
            if (is_ts(m, t[i]))
                last_ts = t[i];
        if (last_ts >= 0 && last_ts != tb)
            duration = (last_ts - tb) * prec;
        hark_segment g = base;
        g.t0 = offset;
        g.t1 = offset + duration;
        st = results_push(cur, &g, t, n, m->tok);
        *advance = segment_size;
    }
    return st;
}

/* Moves a window's segments into the results, clearing an instantaneous segment or one without
 * text; their tokens join the previous text (ref: transcribe.py, after add_word_timestamps). */
static hark_status commit_segments(hark_state *s, hark_results *cur, toklist *all,
                                   const hark_full_params *p)
{
    hark_results *r = &s->results;
    hark_status st = HARK_OK;
    if (r->n_segments + cur->n_segments > r->cap_segments) {
        int cap = r->cap_segments ? r->cap_segments : 16;
        while (cap < r->n_segments + cur->n_segments)
            cap *= 2;
        hark_segment *g = realloc(r->segments, (size_t)cap * sizeof(*g));
        if (!g) {
            results_truncate(cur, 0);
            return hark_fail(HARK_ERR_NOMEM, "out of memory");
        }
        r->segments = g;
        r->cap_segments = cap;
    }
    const int first = r->n_segments;
    for (int i = 0; i < cur->n_segments; i++) {
        hark_segment g = cur->segments[i];
        const char *c = g.text;
        while (*c == ' ' || *c == '\n' || *c == '\t')
            c++;
        if (g.t0 == g.t1 || *c == '\0') {
            g.text[0] = '\0';
            g.n_tokens = 0;
            hark_words_free(g.words, g.n_words);
            g.words = NULL, g.n_words = 0;
        }
        g.id = r->n_segments;
        r->segments[r->n_segments++] = g;
    }
    cur->n_segments = 0;
    for (int i = first; i < r->n_segments && st == HARK_OK; i++)
        st = toklist_add(all, r->segments[i].tokens, r->segments[i].n_tokens);
    for (int i = first; st == HARK_OK && p->new_segment && i < r->n_segments; i++)
        p->new_segment(s, i, p->new_segment_user);
    return st;
}

/* ref: utils.py get_end — the end of the last word, else of the last segment; 0 when there
 * is no segment (None). */
static int segments_end(const hark_results *cur, double *end)
{
    for (int i = cur->n_segments - 1; i >= 0; i--)
        if (cur->segments[i].n_words > 0) {
            *end = cur->segments[i].words[cur->segments[i].n_words - 1].t1;
            return 1;
        }
    if (cur->n_segments == 0)
        return 0;
    *end = cur->segments[cur->n_segments - 1].t1;
    return 1;
}

/* ref: transcribe.py word_anomaly_score / is_segment_anomaly. */
static double word_anomaly(const hark_word *w)
{
    double score = 0.0, d = w->t1 - w->t0;
    if (w->probability < 0.15f)
        score += 1.0;
    if (d < 0.133)
        score += (0.133 - d) * 15;
    if (d > 2.0)
        score += d - 2.0;
    return score;
}

static int segment_anomaly(const hark_segment *g)
{
    /* ref: transcribe.py `punctuation`: the prepended then the appended marks */
    static const char punct[] = HARK_PREPEND_PUNCTUATIONS HARK_APPEND_PUNCTUATIONS;
    if (!g || g->n_words == 0)
        return 0;
    double score = 0.0;
    int n = 0;
    for (int i = 0; i < g->n_words && n < 8; i++) {
        if (strstr(punct, g->words[i].text)) /* Python's `in`: "" is in every string */
            continue;
        score += word_anomaly(&g->words[i]);
        n++;
    }
    return score >= 3 || score + 0.01 >= n;
}

static const hark_segment *next_words_segment(const hark_results *cur, int from)
{
    for (int i = from; i < cur->n_segments; i++)
        if (cur->segments[i].n_words > 0)
            return &cur->segments[i];
    return NULL;
}

/* hallucination_silence_threshold th: moves *seek past silences around segments whose words
 * look like a hallucination, and cuts the window's segments at such a segment. Returns 1 when
 * the whole window is to be dropped (the reference's `continue`).
 * ref: transcribe.py (if hallucination_silence_threshold is not None: ...). */
static int skip_hallucinations(hark_results *cur, float th, int single_ending, long previous_seek,
                               int segment_size, long content, double last_speech, long *seek)
{
    const double time_offset = previous_seek / 100.0; /* HOP_LENGTH / SAMPLE_RATE */
    const double window_end = (previous_seek + HARK_N_FRAMES) / 100.0;
    const double segment_duration = segment_size / 100.0;
    const double content_duration = content / 100.0;
    double end;
    if (!single_ending && segments_end(cur, &end) && end > time_offset)
        *seek = window_end - end > th ? (long)nearbyint(end * 100.0) : previous_seek + segment_size;
    /* a first segment that may be a hallucination: skip the silence before it */
    const hark_segment *first = next_words_segment(cur, 0);
    if (first && segment_anomaly(first)) {
        double gap = first->t0 - time_offset;
        if (gap > th) {
            *seek = previous_seek + (long)nearbyint(gap * 100.0);
            return 1;
        }
    }
    /* a hallucination between silences (or more hallucinations): cut the window there */
    double hal_last_end = last_speech;
    for (int i = 0; i < cur->n_segments; i++) {
        const hark_segment *g = &cur->segments[i];
        if (g->n_words == 0)
            continue;
        if (segment_anomaly(g)) {
            const hark_segment *next = next_words_segment(cur, i + 1);
            double hal_next_start = next ? next->words[0].t0 : time_offset + segment_duration;
            int silence_before = g->t0 - hal_last_end > th || g->t0 < th ||
                                 g->t0 - time_offset < 2.0;
            int silence_after = hal_next_start - g->t1 > th || segment_anomaly(next) ||
                                window_end - g->t1 < 2.0;
            if (silence_before && silence_after) {
                double from = time_offset + 1 > g->t0 ? time_offset + 1 : g->t0;
                *seek = (long)nearbyint(from * 100.0);
                if (content_duration - g->t1 < th)
                    *seek = content;
                results_truncate(cur, i);
                break;
            }
        }
        hal_last_end = g->t1;
    }
    return 0;
}

/* The word-timestamp part of one window: words, the seek they imply, and the hallucination
 * skip. *drop_window: the reference's `continue` (the window's segments are not kept).
 * ref: transcribe.py (if word_timestamps: ...). */
static hark_status window_words(hark_state *s, hark_results *cur, const hark_full_params *p,
                                int lang, int single_ending, long previous_seek, int segment_size,
                                long content, long *seek, double *last_speech, int *drop_window)
{
    hark_model *m = s->model;
    const hark_special_tokens *sp = &m->special;
    *drop_window = 0;
    const double time_offset = previous_seek / 100.0; /* HOP_LENGTH / SAMPLE_RATE */
    int32_t sot_seq[3];
    int n_sot = 0;
    sot_seq[n_sot++] = sp->sot;
    if (lang >= 0) {
        sot_seq[n_sot++] = sp->lang_first + lang;
        sot_seq[n_sot++] = p->translate ? sp->translate : sp->transcribe;
    }
    hark_timed_segment *ts = calloc((size_t)(cur->n_segments + 1), sizeof(*ts));
    if (!ts)
        return hark_fail(HARK_ERR_NOMEM, "out of memory");
    for (int i = 0; i < cur->n_segments; i++)
        ts[i] = (hark_timed_segment){ .start = cur->segments[i].t0, .end = cur->segments[i].t1,
                                      .tokens = cur->segments[i].tokens,
                                      .n_tokens = cur->segments[i].n_tokens };
    const char *code = lang >= 0 ? hark_language_code(lang) : "en";
    /* ref: add_word_timestamps takes last_speech_timestamp by value: the loop's own changes
     * only after the window is kept */
    double speech = *last_speech;
    hark_status st = hark_add_word_timestamps(
        s, ts, cur->n_segments, sot_seq, n_sot, segment_size, hark_language_no_spaces(code),
        time_offset, p->prepend_punctuations ? p->prepend_punctuations : HARK_PREPEND_PUNCTUATIONS,
        p->append_punctuations ? p->append_punctuations : HARK_APPEND_PUNCTUATIONS, &speech);
    for (int i = 0; i < cur->n_segments; i++) {
        hark_segment *g = &cur->segments[i];
        g->t0 = ts[i].start, g->t1 = ts[i].end;
        g->words = ts[i].words, g->n_words = ts[i].n_words;
    }
    free(ts);
    if (st != HARK_OK)
        return st;

    double end;
    if (!single_ending && segments_end(cur, &end) && end > time_offset)
        *seek = (long)nearbyint(end * 100.0);
    if (!isnan(p->hallucination_silence_threshold) &&
        skip_hallucinations(cur, p->hallucination_silence_threshold, single_ending, previous_seek,
                            segment_size, content, *last_speech, seek)) {
        *drop_window = 1;
        return HARK_OK;
    }
    if (segments_end(cur, &end))
        *last_speech = end;
    return HARK_OK;
}

/* encode(" " + text.strip()) (ref: transcribe.py initial_prompt, decoding.py prefix). */
static hark_status encode_text(const hark_model *m, const char *text, int32_t **ids, int *n)
{
    *ids = NULL, *n = 0;
    while (*text == ' ')
        text++;
    size_t len = strlen(text);
    while (len > 0 && text[len - 1] == ' ')
        len--;
    char *t = malloc(len + 2);
    if (!t)
        return hark_fail(HARK_ERR_NOMEM, "out of memory");
    t[0] = ' ';
    memcpy(t + 1, text, len);
    t[len + 1] = '\0';
    hark_status st = HARK_OK;
    int need = hark_tokenizer_encode(m->tok, t, len + 1, NULL, 0);
    if (need < 0) {
        st = (hark_status)need;
    } else if (need > 0) {
        *ids = malloc((size_t)need * sizeof(int32_t));
        if (!*ids)
            st = hark_fail(HARK_ERR_NOMEM, "out of memory");
        else if (hark_tokenizer_encode(m->tok, t, len + 1, *ids, need) != need)
            st = hark_fail(HARK_ERR_TOKENIZER, "text could not be encoded");
        else
            *n = need;
    }
    free(t);
    if (st != HARK_OK) {
        free(*ids);
        *ids = NULL;
    }
    return st;
}

static hark_status resolve_language(hark_state *s, const float *pcm, size_t n,
                                    const hark_full_params *p, int *lang)
{
    hark_model *m = s->model;
    *lang = -1;
    if (!hark_model_is_multilingual(m))
        return HARK_OK; /* English-only models take no language token */
    if (p->language && strcmp(p->language, "auto") != 0) {
        *lang = hark_language_index(p->language);
        if (*lang < 0 || *lang >= m->special.n_languages)
            return hark_fail(HARK_ERR_INVALID_ARG, "unknown language '%s'", p->language);
        return HARK_OK;
    }
    return hark_detect_language(s, pcm, n, NULL, lang);
}

/* What the seek loop carries from window to window. */
typedef struct tr_run {
    hark_state *s;
    hark_model *m;
    const hark_full_params *p;
    int lang;
    hark_logit_rules rules;
    int have_rules;
    float *mel;       /* [n_mels][n_frames]: the log-mel of the audio and 30 s of padding */
    size_t n_frames;
    long content;     /* mel frames of audio */
    float *win;       /* [n_mels][3000]: the window being decoded */
    int32_t *prompt;  /* [n_text_ctx] */
    int32_t *prefix;  /* the prefix's tokens, n_prefix of them */
    int n_prefix;
    toklist all;      /* the initial prompt's tokens, then every kept segment's */
    int n_initial, prompt_reset;
    double last_speech;
} tr_run;

static void run_free(tr_run *t)
{
    if (t->have_rules)
        hark_rules_free(&t->rules);
    free(t->mel), free(t->win), free(t->prompt), free(t->prefix), free(t->all.v);
}

/* The log-mel, the buffers, the initial prompt and the prefix (ref: transcribe.py transcribe's
 * set-up, decoding.py _get_initial_tokens for the prefix's length). */
static hark_status run_prepare(tr_run *t, const float *pcm, size_t n_samples)
{
    hark_model *m = t->m;
    const hark_full_params *p = t->p;
    hark_rules_params rp = hark_rules_default_params();
    rp.timestamps = p->timestamps != 0;
    rp.max_initial_timestamp = p->max_initial_timestamp;
    rp.n_audio_ctx = m->dims.n_audio_ctx;
    hark_status st = hark_rules_init(&t->rules, m->tok, &m->special, m->dims.n_vocab, &rp);
    if (st != HARK_OK)
        return st;
    t->have_rules = 1;
    const size_t M = (size_t)m->dims.n_mels;
    t->prompt = malloc((size_t)m->dims.n_text_ctx * sizeof(int32_t));
    t->win = malloc(M * HARK_N_FRAMES * sizeof(float));
    if (!t->prompt || !t->win)
        return hark_fail(HARK_ERR_NOMEM, "out of memory");
    hark_state_host_threads(t->s);
    st = hark_log_mel_full(pcm, n_samples, HARK_N_SAMPLES, (int)M, &t->mel, &t->n_frames);
    if (st != HARK_OK)
        return st;
    t->content = (long)t->n_frames - HARK_N_FRAMES;
    if (p->initial_prompt && *p->initial_prompt) {
        int32_t *ids = NULL;
        int n_ids = 0;
        if ((st = encode_text(m, p->initial_prompt, &ids, &n_ids)) == HARK_OK)
            st = toklist_add(&t->all, ids, n_ids);
        free(ids);
        if (st != HARK_OK)
            return st;
    }
    t->n_initial = t->all.n;
    if (p->prefix && *p->prefix &&
        (st = encode_text(m, p->prefix, &t->prefix, &t->n_prefix)) != HARK_OK)
        return st;
    /* at most n_ctx / 2 - sample_len prefix tokens (all of them when that is 0, as the
     * reference's [-0:] slice) */
    int sample_len = p->max_tokens > 0 ? p->max_tokens : m->dims.n_text_ctx / 2;
    int max_prefix = m->dims.n_text_ctx / 2 - sample_len;
    if (max_prefix > 0 && t->n_prefix > max_prefix) {
        memmove(t->prefix, t->prefix + t->n_prefix - max_prefix,
                (size_t)max_prefix * sizeof(int32_t));
        t->n_prefix = max_prefix;
    }
    return HARK_OK;
}

/* ref: transcribe.py clip_timestamps — pairs of seek points (mel frames), the last end
 * defaulting to the end of the audio; *clips is malloc'd with 2 * *n_clips entries. */
static hark_status clip_points(const hark_full_params *p, long content, long **clips, int *n_clips)
{
    int n = p->n_clip_timestamps > 0 && p->clip_timestamps ? p->n_clip_timestamps : 0;
    long *c = malloc((size_t)(n + 2) * sizeof(long));
    if (!c)
        return hark_fail(HARK_ERR_NOMEM, "out of memory");
    for (int i = 0; i < n; i++) {
        if (!isfinite(p->clip_timestamps[i]) || p->clip_timestamps[i] < 0) {
            free(c);
            return hark_fail(HARK_ERR_INVALID_ARG, "clip timestamp %d is not a time", i);
        }
        /* round(ts * FRAMES_PER_SECOND), clamped to the audio before it becomes an integer */
        double v = nearbyint(p->clip_timestamps[i] * 100.0);
        c[i] = v < (double)content ? (long)v : content;
    }
    if (n == 0)
        c[n++] = 0;
    if (n % 2)
        c[n++] = content;
    *clips = c;
    *n_clips = n / 2;
    return HARK_OK;
}

/* The window's prompt: the previous text (or, with carry_initial_prompt, the initial prompt
 * then the recent text that fits), the sot sequence, then the prefix. */
static hark_status window_prompt(tr_run *t, int *np, int *sot_index)
{
    const hark_model *m = t->m;
    const toklist *all = &t->all;
    const int n_initial = t->n_initial;
    if (t->p->carry_initial_prompt && n_initial > 0) {
        /* ref: transcribe.py carry_initial_prompt */
        int room = m->dims.n_text_ctx / 2 - 1 - n_initial;
        int from = n_initial > t->prompt_reset ? n_initial : t->prompt_reset;
        int take = all->n - from;
        if (take > room)
            take = room > 0 ? room : 0;
        int32_t *carry = malloc((size_t)(n_initial + take + 1) * sizeof(int32_t));
        if (!carry)
            return hark_fail(HARK_ERR_NOMEM, "out of memory");
        memcpy(carry, all->v, (size_t)n_initial * sizeof(int32_t));
        memcpy(carry + n_initial, all->v + all->n - take, (size_t)take * sizeof(int32_t));
        *np = build_prompt(m, carry, n_initial + take, t->lang, t->p, t->prompt, sot_index);
        free(carry);
    } else {
        *np = build_prompt(m, all->v + t->prompt_reset, all->n - t->prompt_reset, t->lang, t->p,
                           t->prompt, sot_index);
    }
    if (t->n_prefix > 0 && *np + t->n_prefix < m->dims.n_text_ctx) {
        memcpy(t->prompt + *np, t->prefix, (size_t)t->n_prefix * sizeof(int32_t));
        *np += t->n_prefix;
    }
    return HARK_OK;
}

/* One window at *seek of segment_size mel frames: encode, decode with fallback, skip it as
 * silence or cut it into segments (with their words), keep them, and move *seek on.
 * ref: transcribe.py, the body of the seek loop. */
static hark_status run_window(tr_run *t, long *seek, int segment_size)
{
    const hark_full_params *p = t->p;
    const size_t M = (size_t)t->m->dims.n_mels;
    /* ref: transcribe.py — mel[:, seek:seek + segment_size], then pad_or_trim (zeros) */
    for (size_t r = 0; r < M; r++) {
        memcpy(t->win + r * HARK_N_FRAMES, t->mel + r * t->n_frames + *seek,
               (size_t)segment_size * sizeof(float));
        memset(t->win + r * HARK_N_FRAMES + segment_size, 0,
               (size_t)(HARK_N_FRAMES - segment_size) * sizeof(float));
    }
    hark_status st = hark_encode(t->s, t->win, 1);
    int np = 0, sot_index = 0;
    if (st == HARK_OK)
        st = window_prompt(t, &np, &sot_index);
    hark_window_result r;
    if (st != HARK_OK ||
        (st = decode_with_fallback(t->s, t->prompt, np, sot_index, p, &t->rules,
                                   (double)*seek / (double)t->content, &r)) != HARK_OK)
        return st;
    /* ref: transcribe.py — no speech: skip the window */
    int skip = !isnan(p->no_speech_threshold) && r.no_speech_prob > p->no_speech_threshold &&
               !(!isnan(p->logprob_threshold) && r.avg_logprob > p->logprob_threshold);
    if (skip) {
        *seek += segment_size;
        hark_window_result_free(&r);
        return HARK_OK;
    }
    const long previous_seek = *seek;
    int advance = segment_size, single_ending = 0, drop = 0;
    hark_results cur = { 0 };
    st = add_segments(t->s, &r, (int)*seek, segment_size, &cur, &advance, &single_ending);
    *seek += advance;
    if (st == HARK_OK && p->word_timestamps)
        st = window_words(t->s, &cur, p, t->lang, single_ending, previous_seek, segment_size,
                          t->content, seek, &t->last_speech, &drop);
    /* drop: the reference's `continue` (nothing kept, no prompt reset) */
    if (st == HARK_OK && !drop)
        st = commit_segments(t->s, &cur, &t->all, p);
    results_truncate(&cur, 0);
    free(cur.segments);
    if (st == HARK_OK && !drop && (!p->condition_on_previous_text || r.temperature > 0.5f))
        t->prompt_reset = t->all.n;
    hark_window_result_free(&r);
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
    state->language = -1;
    for (size_t i = 0; i < n_samples; i++)
        if (!isfinite(pcm[i]))
            return hark_fail(HARK_ERR_AUDIO, "sample %zu is not a finite number", i);
    if (n_samples == 0)
        return hark_fail(HARK_ERR_AUDIO, "no audio samples to transcribe");
    if (p.suppress_eot && p.max_tokens <= 0)
        p.max_tokens = m->dims.n_text_ctx / 2;

    /* every decoder this call may use needs its sequence slots before a window is encoded:
     * beam search 2 x beam_size (beams and the fork scratch), sampling best_of */
    int slots = p.beam_size > 1 ? 2 * p.beam_size : 1;
    if (p.best_of > slots && (p.temperature > 0.0f || p.temperature_increment > 0.0f))
        slots = p.best_of;
    hark_status st = hark_state_reserve(state, slots);
    if (st != HARK_OK)
        return st;
    int lang;
    if ((st = resolve_language(state, pcm, n_samples, &p, &lang)) != HARK_OK)
        return st;
    state->language = lang;

    tr_run t = { .s = state, .m = m, .p = &p, .lang = lang };
    long *clips = NULL;
    int n_clips = 0;
    if ((st = run_prepare(&t, pcm, n_samples)) != HARK_OK ||
        (st = clip_points(&p, t.content, &clips, &n_clips)) != HARK_OK)
        goto out;
    int clip = 0;
    long seek = clips[0];
    while (clip < n_clips) {
        const long clip_start = clips[2 * clip], clip_end = clips[2 * clip + 1];
        if (seek < clip_start)
            seek = clip_start;
        if (seek >= clip_end) {
            if (++clip < n_clips)
                seek = clips[2 * clip];
            continue;
        }
        long size = HARK_N_FRAMES;
        if (t.content - seek < size)
            size = t.content - seek;
        if (clip_end - seek < size)
            size = clip_end - seek;
        if ((st = run_window(&t, &seek, (int)size)) != HARK_OK)
            break;
        const long done = seek < t.content ? seek : t.content;
        if ((st = hark_cancelled(&p, (double)done / (double)t.content)) != HARK_OK)
            break;
    }
out:
    free(clips);
    run_free(&t);
    return st;
}

const char *hark_result_language(const hark_state *state)
{
    return state && state->language >= 0 ? hark_language_code(state->language) : "en";
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

int hark_segment_n_words(const hark_state *state, int i)
{
    const hark_segment *g = segment_at(state, i);
    return g ? g->n_words : 0;
}

hark_status hark_segment_get_word(const hark_state *state, int i, int j, hark_word_info *out)
{
    const hark_segment *g = segment_at(state, i);
    if (!g || !out || j < 0 || j >= g->n_words)
        return hark_fail(HARK_ERR_INVALID_ARG, "hark_segment_get_word: no word %d of segment %d",
                         j, i);
    *out = (hark_word_info){ .text = g->words[j].text, .t0 = g->words[j].t0,
                             .t1 = g->words[j].t1, .probability = g->words[j].probability };
    return HARK_OK;
}

hark_status hark_segment_get_info(const hark_state *state, int i, hark_segment_info *out)
{
    const hark_segment *g = segment_at(state, i);
    if (!g || !out)
        return hark_fail(HARK_ERR_INVALID_ARG, "hark_segment_get_info: no segment %d", i);
    *out = (hark_segment_info){ .id = g->id, .seek = g->seek, .temperature = g->temperature,
                                .avg_logprob = g->avg_logprob,
                                .compression_ratio = g->compression_ratio,
                                .no_speech_prob = g->no_speech_prob };
    return HARK_OK;
}
