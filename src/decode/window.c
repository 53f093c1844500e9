/*
 * window.c — one window's decoding: the prompt once, then greedy, best-of-N sampling or beam
 * search, each step one engine call over the live sequences (finished ones leave the batch).
 * ref: openai/whisper decoding.py DecodingTask (_get_initial_tokens, _main_loop, run),
 * GreedyDecoder, BeamSearchDecoder, MaximumLikelihoodRanker.
 */
#include "decode/decode.h"

#include "backend/backend.h"
#include "decode/quality.h"
#include "decode/sample.h"
#include "engine/state.h"
#include "model/model.h"
#include "text/tokenizer.h"
#include "util/util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void hark_window_result_free(hark_window_result *r)
{
    free(r->tokens);
    free(r->text);
    memset(r, 0, sizeof(*r));
}

hark_status hark_state_reserve(hark_state *s, int n_seqs)
{
    if (s->params.max_sequences >= n_seqs)
        return HARK_OK;
    hark_state_params p = s->params;
    p.max_sequences = n_seqs;
    void *ctx = NULL;
    hark_status st = s->backend->ctx_new(s->model, s->bw, &p, s->model->params.n_threads, &ctx);
    if (st != HARK_OK)
        return st;
    s->backend->ctx_free(s->ctx);
    s->ctx = ctx;
    s->params = p;
    return HARK_OK;
}

/* The decoding scratch of one window: n sequences of up to len sampled tokens. */
typedef struct seqs {
    int n, len;
    int32_t *tok;  /* [n][len] */
    int *count;    /* [n] */
    double *sum;   /* [n] */
    int *done;     /* [n] */
    float *logits; /* [n][V] */
    float *lp;     /* [n][V] log-probabilities (beam search) */
} seqs;

static void seqs_free(seqs *q)
{
    free(q->tok), free(q->count), free(q->sum), free(q->done), free(q->logits), free(q->lp);
}

static hark_status seqs_new(seqs *q, int n, int len, int V, int beam)
{
    memset(q, 0, sizeof(*q));
    q->n = n, q->len = len;
    q->tok = calloc((size_t)n * len, sizeof(int32_t));
    q->count = calloc((size_t)n, sizeof(int));
    q->sum = calloc((size_t)n, sizeof(double));
    q->done = calloc((size_t)n, sizeof(int));
    q->logits = malloc((size_t)n * V * sizeof(float));
    q->lp = beam ? malloc((size_t)n * V * sizeof(float)) : NULL;
    if (!q->tok || !q->count || !q->sum || !q->done || !q->logits || (beam && !q->lp)) {
        seqs_free(q);
        return hark_fail(HARK_ERR_NOMEM, "decode: out of memory");
    }
    return HARK_OK;
}

/* Prefills the prompt in slot 0, copies it to slots 1..n-1; logits of the last position go to
 * every row of q->logits, the no-speech probability comes from the sot position. */
static hark_status prefill(hark_state *s, const int32_t *prompt, int np, int sot_index, seqs *q,
                           double *no_speech_prob)
{
    hark_model *m = s->model;
    const int V = m->dims.n_vocab;
    hark_decode_entry e[448];
    for (int i = 0; i < np; i++)
        e[i] = (hark_decode_entry){ .seq = 0, .window = 0, .token = prompt[i], .pos = i,
                                    .want_logits = i == sot_index || i == np - 1 };
    float *rows = malloc((size_t)2 * V * sizeof(float));
    if (!rows)
        return hark_fail(HARK_ERR_NOMEM, "decode: out of memory");
    hark_status st = hark_decode(s, e, np, rows);
    if (st == HARK_OK) {
        *no_speech_prob = hark_no_speech_prob(rows, V, m->special.no_speech);
        const float *last = sot_index == np - 1 ? rows : rows + V;
        for (int i = 0; i < q->n; i++)
            memcpy(q->logits + (size_t)i * V, last, (size_t)V * sizeof(float));
    }
    free(rows);
    for (int i = 1; i < q->n && st == HARK_OK; i++)
        st = s->backend->kv_copy(s->ctx, 0, i, np);
    return st;
}

/* See decode.h. */
hark_status hark_cancelled(const hark_full_params *p, double done)
{
    if (p->progress && p->progress(done, p->progress_user))
        return hark_fail(HARK_ERR_INVALID_ARG, "transcription cancelled");
    return HARK_OK;
}

/* The sampling loop's state between steps (run_sampling). */
typedef struct sampler {
    seqs *q;
    const hark_logit_rules *rules;
    const hark_full_params *p; /* its progress callback, asked every HARK_CANCEL_STEPS steps */
    double done;
    hark_rng rng;
    float t;
    int np, max_len, no_eot, V, eot, steps;
} sampler;

/* One step of greedy (t = 0) or sampling (t > 0): a token for every live sequence from its row
 * (rows come in entry order: the sequences not done before this step; the prefill gave every
 * sequence its own copy of the same row), or from its pick (greedy without timestamps: the pick
 * under the suppress mask is what the rules and the argmax would choose), then the entries of
 * the next pass. A hark_step_fn: for a batch state it runs in the engine, beside other requests'
 * steps. */
static hark_status sampler_step(void *user, float *rows, const hark_pick *picks,
                                hark_decode_entry *e, int *n)
{
    sampler *g = user;
    if (++g->steps % HARK_CANCEL_STEPS == 0)
        HARK_TRY(hark_cancelled(g->p, g->done));
    seqs *q = g->q;
    int live = 0, row = 0;
    for (int i = 0; i < q->n; i++) {
        if (q->done[i])
            continue;
        int32_t tok;
        if (picks) {
            const hark_pick *pk = &picks[row++];
            tok = pk->token;
            if (tok >= 0)
                q->sum[i] += (double)pk->logit - pk->lse;
        } else {
            float *lg = rows + (size_t)row++ * g->V;
            hark_rules_apply(g->rules, q->tok + (size_t)i * q->len, q->count[i], lg);
            if (g->no_eot)
                lg[g->eot] = -INFINITY;
            tok = hark_greedy_step(lg, g->V, g->t, &g->rng, -1, g->eot, &q->sum[i]);
        }
        if (tok < 0 || tok == g->eot) {
            q->done[i] = 1;
            continue;
        }
        q->tok[(size_t)i * q->len + q->count[i]++] = tok;
        if (q->count[i] >= g->max_len) {
            q->done[i] = 1;
            continue;
        }
        e[live++] = (hark_decode_entry){ .seq = i, .window = 0, .token = tok,
                                         .pos = g->np + q->count[i] - 1, .want_logits = 1 };
    }
    *n = live;
    return HARK_OK;
}

/* Greedy (t = 0) or sampling (t > 0) of q->n independent sequences: the first step on the
 * prefill's rows, the rest through hark_decode_steps; greedy without timestamps from picks
 * (after the first token the rules are the fixed suppress list, and end-of-text when it is
 * suppressed: ref: decoding.py SuppressBlank acts at the first sampled position only). */
static hark_status run_sampling(hark_state *s, int np, float t, const hark_full_params *p,
                                double done, int max_len, const hark_logit_rules *rules, seqs *q)
{
    hark_model *m = s->model;
    const uint64_t seed = p->seed;
    sampler g = { .q = q, .rules = rules, .p = p, .done = done, .t = t, .np = np,
                  .max_len = max_len, .no_eot = p->suppress_eot, .V = m->dims.n_vocab,
                  .eot = m->special.eot };
    hark_rng_seed(&g.rng, seed);
    hark_decode_entry e[64];
    int n = 0;
    hark_status st = sampler_step(&g, q->logits, NULL, e, &n);
    if (st != HARK_OK || n == 0)
        return st;
    if (t > 0.0f || rules->timestamps)
        return hark_decode_steps(s, e, n, q->logits, NULL, sampler_step, &g);
    int32_t *ids = malloc((size_t)(rules->n_suppress + 1) * sizeof(int32_t));
    if (!ids)
        return hark_fail(HARK_ERR_NOMEM, "decode: out of memory");
    memcpy(ids, rules->suppress, (size_t)rules->n_suppress * sizeof(int32_t));
    hark_pick_mask mask = { .ids = ids, .n = rules->n_suppress };
    if (g.no_eot)
        ids[mask.n++] = g.eot;
    st = hark_decode_steps(s, e, n, q->logits, &mask, sampler_step, &g);
    free(ids);
    return st;
}

/* Beam search of q->n beams; slots n..2n-1 are scratch for the KV gather. */
static hark_status run_beam(hark_state *s, int np, const hark_full_params *p, double done,
                            int max_len, const hark_logit_rules *rules, seqs *q, int32_t **best,
                            int *n_best, double *best_sum)
{
    hark_model *m = s->model;
    const int V = m->dims.n_vocab, B = q->n;
    hark_beam_search *b = NULL;
    hark_status st = hark_beam_new(B, p->patience, m->special.eot, max_len, &b);
    if (st != HARK_OK)
        return st;
    hark_beam_fork forks[64];
    hark_decode_entry e[64];
    for (int step = 0; step < max_len && st == HARK_OK; step++) {
        if ((step + 1) % HARK_CANCEL_STEPS == 0 && (st = hark_cancelled(p, done)) != HARK_OK)
            break;
        for (int i = 0; i < B; i++) {
            double sum;
            const int32_t *toks = hark_beam_tokens(b, i, &sum);
            float *lg = q->logits + (size_t)i * V;
            hark_rules_apply(rules, toks, hark_beam_length(b), lg);
            if (p->suppress_eot)
                lg[m->special.eot] = -INFINITY;
            hark_log_softmax(lg, V, q->lp + (size_t)i * V);
        }
        bool completed = false;
        st = hark_beam_step(b, q->lp, V, forks, &completed);
        if (st != HARK_OK || completed)
            break;
        /* slot i <- old slot forks[i].source, for all i at once: through the scratch slots */
        int n_pos = np + step;
        for (int i = 0; i < B && st == HARK_OK; i++)
            st = s->backend->kv_copy(s->ctx, forks[i].source, B + i, n_pos);
        for (int i = 0; i < B && st == HARK_OK; i++)
            st = s->backend->kv_copy(s->ctx, B + i, i, n_pos);
        for (int i = 0; i < B; i++)
            e[i] = (hark_decode_entry){ .seq = i, .window = 0, .token = forks[i].token,
                                        .pos = n_pos, .want_logits = 1 };
        if (st == HARK_OK)
            st = hark_decode(s, e, B, q->logits);
    }
    if (st == HARK_OK) {
        hark_beam_finalize(b);
        int nf = hark_beam_n_finished(b);
        double sums[64];
        int lens[64];
        for (int i = 0; i < nf && i < 64; i++)
            hark_beam_finished(b, i, &lens[i], &sums[i]);
        int k = hark_rank_sequences(sums, lens, nf < 64 ? nf : 64, p->length_penalty);
        int n = 0;
        double sum = 0;
        const int32_t *toks = hark_beam_finished(b, k, &n, &sum);
        *best = malloc((size_t)(n > 0 ? n : 1) * sizeof(int32_t));
        if (!*best)
            st = hark_fail(HARK_ERR_NOMEM, "decode: out of memory");
        else if (n > 0)
            memcpy(*best, toks, (size_t)n * sizeof(int32_t));
        *n_best = n;
        *best_sum = sum;
    }
    hark_beam_free(b);
    return st;
}

hark_status hark_decode_window(hark_state *s, const int32_t *prompt, int np, int sot_index,
                               float t, const hark_full_params *p, const hark_logit_rules *rules,
                               double done, hark_window_result *out)
{
    memset(out, 0, sizeof(*out));
    hark_model *m = s->model;
    const int V = m->dims.n_vocab;
    int beam = t <= 0.0f && p->beam_size > 1;
    int n = beam ? p->beam_size : (t > 0.0f ? (p->best_of > 0 ? p->best_of : 1) : 1);
    if (n > 32)
        return hark_fail(HARK_ERR_INVALID_ARG, "decode: beam_size / best_of %d (at most 32)", n);
    int max_len = p->max_tokens > 0 ? p->max_tokens : m->dims.n_text_ctx / 2;
    if (np + max_len > m->dims.n_text_ctx)
        max_len = m->dims.n_text_ctx - np;
    if (max_len < 1)
        return hark_fail(HARK_ERR_CAPACITY, "decode: a prompt of %d tokens leaves no room", np);
    /* the slots must exist before the window was encoded: growing the context here would drop
     * the encoding (hark_transcribe reserves them up front) */
    if (s->params.max_sequences < (beam ? 2 * n : n))
        return hark_fail(HARK_ERR_CAPACITY, "decode: %d sequence slots needed, the state has %d "
                         "(hark_state_reserve before encoding)", beam ? 2 * n : n,
                         s->params.max_sequences);
    hark_status st;
    seqs q;
    if ((st = seqs_new(&q, n, max_len, V, beam)) != HARK_OK)
        return st;
    double no_speech = 0;
    st = prefill(s, prompt, np, sot_index, &q, &no_speech);
    int32_t *best = NULL;
    int n_best = 0;
    double best_sum = 0;
    if (st == HARK_OK && beam) {
        st = run_beam(s, np, p, done, max_len, rules, &q, &best, &n_best, &best_sum);
    } else if (st == HARK_OK) {
        st = run_sampling(s, np, t, p, done, max_len, rules, &q);
        if (st == HARK_OK) {
            int k = hark_rank_sequences(q.sum, q.count, n, p->length_penalty);
            n_best = q.count[k];
            best_sum = q.sum[k];
            best = malloc((size_t)(n_best > 0 ? n_best : 1) * sizeof(int32_t));
            if (!best)
                st = hark_fail(HARK_ERR_NOMEM, "decode: out of memory");
            else if (n_best > 0)
                memcpy(best, q.tok + (size_t)k * q.len, (size_t)n_best * sizeof(int32_t));
        }
    }
    seqs_free(&q);
    if (st != HARK_OK) {
        free(best);
        return st;
    }
    out->tokens = best;
    out->n_tokens = n_best;
    out->sum_logprob = best_sum;
    out->avg_logprob = hark_avg_logprob(best_sum, n_best);
    out->no_speech_prob = no_speech;
    out->temperature = t;
    /* ref: decoding.py DecodingTask.run — tokenizer.decode (timestamps dropped, other special
     * tokens kept as their text), .strip(), then the compression ratio */
    int32_t *plain = malloc((size_t)(n_best + 1) * sizeof(int32_t));
    int n_plain = 0;
    if (!plain) {
        hark_window_result_free(out);
        return hark_fail(HARK_ERR_NOMEM, "decode: out of memory");
    }
    for (int i = 0; i < n_best; i++)
        if (best[i] < m->special.timestamp_begin)
            plain[n_plain++] = best[i];
    st = hark_tokenizer_decode(m->tok, plain, n_plain, 0, &out->text);
    free(plain);
    if (st == HARK_OK) {
        const char *b = out->text, *e = out->text + strlen(out->text);
        while (b < e && (*b == ' ' || (*b >= '\t' && *b <= '\r')))
            b++;
        while (e > b && (e[-1] == ' ' || (e[-1] >= '\t' && e[-1] <= '\r')))
            e--;
        st = hark_compression_ratio(b, (size_t)(e - b), &out->compression_ratio);
    }
    if (st != HARK_OK)
        hark_window_result_free(out);
    return st;
}
