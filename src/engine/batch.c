/*
 * batch.c — the batch engine (hark_batch_*): in-flight batching without a second decoding loop.
 *
 * Every state of a batch runs the ordinary transcription code (decode/transcribe.c, window.c)
 * on its own thread. Its backend is a proxy: the proxy context owns window and sequence slots
 * of the batch's one real context, renames the state's slots to them, and hands each encode or
 * decode call to the engine thread, then sleeps until it is done. The engine thread takes all
 * calls pending at a moment (waiting up to max_wait_us for states still on the CPU) and runs
 * them as few backend calls as it can: one encode of all the windows, one decode of all the
 * entries that want logits, one argmax decode per token limit, split only at the backend's row
 * cap. Each call's results are scattered back. Entries of different sequences never interact in
 * a backend pass, so a state gets what it would get alone (the test: tests/test_batch.c).
 * A decode loop (hark_decode_steps: greedy and sampled windows) is one call that stays queued:
 * after each pass its step function runs on the engine's workers, beside the other requests'
 * steps, on the rows where they landed, and the entries it leaves are the next pass's. The
 * caller sleeps once a window instead of once a token (on the GPU the hand-off of 64 requests
 * cost 0.6 ms of a 7 ms step).
 * Rare calls (K/V copies and frees, alignment scores, encoder output) run on the caller's thread
 * under the engine lock. ref: Orca (Yu et al., OSDI 2022) for iteration-level scheduling.
 *
 * Locks: `mu` guards the queue, the slot pools and the counters; `eng` serialises use of the
 * real context (held by the engine thread for a round, by callers for the rare calls). `eng` is
 * never taken while holding `mu`.
 */
#include "hark.h"

#include "backend/backend.h"
#include "engine/state.h"
#include "engine/warmup.h"
#include "decode/sample.h"
#include "model/model.h"
#include "util/util.h"

#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef enum call_kind { CALL_ENCODE, CALL_ENCODE_PCM, CALL_DECODE, CALL_ARGMAX } call_kind;

/* One state's pending engine call. Inputs are the caller's (valid until done), with slots
 * already renamed; outputs go to the caller's buffers. */
typedef struct bcall {
    call_kind kind;
    const float *data; /* ENCODE: mel [n][n_mels][3000]; ENCODE_PCM: pcm [n][480000] */
    const int *slots;  /* [n] real window slots */
    int n;
    const hark_decode_entry *e; /* DECODE / ARGMAX: n entries, real slots */
    int limit;                  /* ARGMAX */
    float *logits;              /* DECODE: rows of the entries that want logits */
    int32_t *tokens;            /* ARGMAX */
    int n_want;
    /* DECODE as a loop (decode_steps): after each pass step() gets the rows and leaves the next
     * entries in ue (the state's slots, at most cap of them), which go back to the queue */
    hark_step_fn step;
    void *user;
    const hark_pick_mask *mask; /* picks instead of rows (hark_decode_steps) */
    hark_decode_entry *ue;
    int cap, again;
    const struct bproxy *x;
    hark_status st;
    char err[512];
    sem_t done; /* posted by the engine thread when the call has run */
    double t_sub; /* when it was queued (trace) */
    struct bcall *next;
} bcall;

struct hark_batch {
    hark_model *model;
    const hark_backend *rb; /* the real backend and its context */
    void *rctx;
    hark_backend be; /* the proxy table the batch's states use */
    int W, S, max_rows, max_wait_us;

    pthread_mutex_t mu, eng;
    pthread_cond_t cv_work, cv_slots;
    pthread_t thread;
    int thread_started, stop;
    bcall *head, *tail;
    int n_pending, n_live;
    int *free_w, n_free_w, *free_s, n_free_s;
    hark_batch_stats stats; /* under mu */
    hark_batch_stats rs;    /* the engine thread's counts of the round, added to stats after */
    FILE *trace;            /* HARK_BATCH_TRACE: one line a round (diagnosis) */
    double t_prev_end;      /* trace: when the last round ended */

    /* the engine thread's scratch */
    float *buf;
    size_t buf_cap;
    float *mel; /* log-mel of PCM windows when the backend has no encode_pcm */
    size_t mel_cap;
    float *lg; /* logits of a merged decode, in the backend's fastest host memory */
    size_t lg_cap;
    hark_decode_entry *ent;
    size_t ent_cap;
    int32_t *tok;
    size_t tok_cap;
    int *wslots;
    hark_pick *picks; /* [wanted rows] of a merged decode with picks */
    size_t picks_cap;
    uint8_t *pflag;
    size_t pflag_cap;
    hark_pick_mask *pmask;
    size_t pmask_cap;
    size_t *off; /* [calls][3]: a call's first row, first pick, first wanted row */
    size_t off_cap;
};

/* A state's context: its slots in the real context. */
typedef struct bproxy {
    hark_batch *b;
    int nw, ns;
    int *wmap, *smap;
} bproxy;

hark_batch_params hark_batch_default_params(void)
{
    hark_batch_params p = { .max_windows = 16, .max_sequences = 64, .max_wait_us = 500,
                            .kv_cache_free_mem_fraction = 0.5f, .cross_kv_bits = 16 };
    return p;
}

/* ---------------------------------------------------------------- the engine thread ---------- */

static hark_status grow(void **p, size_t *cap, size_t need, size_t size)
{
    if (*cap >= need)
        return HARK_OK;
    void *q = realloc(*p, need * size);
    if (!q)
        return hark_fail(HARK_ERR_NOMEM, "batch: out of memory (%zu bytes)", need * size);
    *p = q;
    *cap = need;
    return HARK_OK;
}

/* The logits buffer of at least n floats, from the backend's host allocator when it has one. */
static hark_status grow_logits(hark_batch *b, size_t n)
{
    if (b->lg_cap >= n)
        return HARK_OK;
    size_t cap = b->lg_cap ? b->lg_cap : n;
    while (cap < n)
        cap *= 2;
    float *p = b->rb->host_alloc ? b->rb->host_alloc(cap * sizeof(float))
                                 : malloc(cap * sizeof(float));
    if (!p)
        return hark_fail(HARK_ERR_NOMEM, "batch: out of memory (%zu logits)", cap);
    if (b->lg)
        b->rb->host_free ? b->rb->host_free(b->lg) : free(b->lg);
    b->lg = p;
    b->lg_cap = cap;
    return HARK_OK;
}

/* Marks calls [from, to) with st, and the calling thread's last error as their message. */
static void finish(bcall *from, bcall *to, hark_status st)
{
    for (bcall *c = from; c != to; c = c->next) {
        if (st == HARK_OK && c->st != HARK_OK)
            continue; /* a loop step's own error (loop_step) */
        c->st = st;
        if (st != HARK_OK) {
            c->again = 0;
            snprintf(c->err, sizeof(c->err), "%s", hark_last_error());
        }
    }
}

/* One backend encode of every call of `kind` in the list. */
static void run_encodes(hark_batch *b, bcall *list, call_kind kind)
{
    const size_t per = kind == CALL_ENCODE ? (size_t)b->model->dims.n_mels * HARK_N_FRAMES
                                           : (size_t)HARK_N_SAMPLES;
    int n = 0, calls = 0;
    for (bcall *c = list; c; c = c->next)
        if (c->kind == kind)
            n += c->n, calls++;
    if (calls == 0)
        return;
    hark_status st = grow((void **)&b->buf, &b->buf_cap, per * (size_t)n, sizeof(float));
    int k = 0;
    for (bcall *c = list; c && st == HARK_OK; c = c->next) {
        if (c->kind != kind)
            continue;
        memcpy(b->buf + per * (size_t)k, c->data, per * (size_t)c->n * sizeof(float));
        memcpy(b->wslots + k, c->slots, (size_t)c->n * sizeof(int));
        k += c->n;
    }
    if (st == HARK_OK && kind == CALL_ENCODE_PCM && !b->rb->encode_pcm) {
        /* the log-mel here, on the engine thread: the states' threads would otherwise run
         * OpenBLAS at once, whose threads then fight over the cores (measured: 16 concurrent
         * requests on 2 cores went from seconds to half a minute) */
        const size_t pm = (size_t)b->model->dims.n_mels * HARK_N_FRAMES;
        st = grow((void **)&b->mel, &b->mel_cap, pm * (size_t)n, sizeof(float));
        for (int i = 0; i < n && st == HARK_OK; i++)
            st = hark_log_mel(b->buf + per * (size_t)i, HARK_N_SAMPLES, b->model->dims.n_mels,
                              b->mel + pm * (size_t)i);
        if (st == HARK_OK)
            st = b->rb->encode(b->rctx, b->mel, n, b->wslots);
    } else if (st == HARK_OK) {
        st = kind == CALL_ENCODE ? b->rb->encode(b->rctx, b->buf, n, b->wslots)
                                 : b->rb->encode_pcm(b->rctx, b->buf, n, b->wslots);
    }
    for (bcall *c = list; c; c = c->next)
        if (c->kind == kind)
            finish(c, c->next, st);
    b->rs.encode_calls += (uint64_t)calls;
    b->rs.encode_batches++;
    b->rs.encode_windows += (uint64_t)n;
}

static hark_status map_entries_into(const struct bproxy *x, const hark_decode_entry *e, int n,
                                    hark_decode_entry *m, int *want);

/* A loop call's step on its rows (on an engine worker): the entries it leaves, in real slots,
 * become the call's next pass (again = 1), or the call is over. Its error stays with it. */
static void loop_step(bcall *c, float *rows, const hark_pick *picks)
{
    int n = c->n;
    c->again = 0;
    hark_status st = c->step(c->user, rows, picks, c->ue, &n);
    if (st == HARK_OK && (n < 0 || n > c->cap))
        st = hark_fail(HARK_ERR_INVALID_ARG, "batch: a decode step left %d entries (at most %d)",
                       n, c->cap);
    if (st == HARK_OK && n > 0)
        st = map_entries_into(c->x, c->ue, n, (hark_decode_entry *)c->e, &c->n_want);
    if (st != HARK_OK) {
        c->st = st;
        snprintf(c->err, sizeof(c->err), "%s", hark_last_error());
        return;
    }
    c->n = n;
    c->again = n > 0;
}

/* One backend decode of the merged entries of plain and loop calls, then each call's rows to
 * its buffer or each loop's step on its rows or picks, in parallel (64 rows of large-v3 are
 * 13 MB: picks computed where the logits are leave them there, decode_pick). */
static hark_status plain_decode(hark_batch *b, bcall **calls, int n_calls, int rows, int want)
{
    const size_t V = (size_t)b->model->dims.n_vocab;
    int any_pick = 0;
    for (int i = 0; i < n_calls; i++)
        any_pick |= calls[i]->mask != NULL;
    const int dev_pick = any_pick && b->rb->decode_pick;
    HARK_TRY(grow((void **)&b->off, &b->off_cap, (size_t)n_calls * 3, sizeof(size_t)));
    size_t r = 0, w = 0;
    for (int i = 0; i < n_calls; i++) { /* rows hold what is not picked on the device */
        b->off[3 * i] = r;
        b->off[3 * i + 2] = w;
        r += calls[i]->mask && dev_pick ? 0 : (size_t)calls[i]->n_want;
        w += (size_t)calls[i]->n_want;
    }
    HARK_TRY(grow_logits(b, (r ? r : 1) * V));
    HARK_TRY(grow((void **)&b->picks, &b->picks_cap, w ? w : 1, sizeof(hark_pick)));
    if (dev_pick) {
        HARK_TRY(grow((void **)&b->pflag, &b->pflag_cap, w ? w : 1, 1));
        HARK_TRY(grow((void **)&b->pmask, &b->pmask_cap, w ? w : 1, sizeof(hark_pick_mask)));
        for (int i = 0; i < n_calls; i++)
            for (int j = 0; j < calls[i]->n_want; j++) {
                size_t k = b->off[3 * i + 2] + (size_t)j;
                b->pflag[k] = calls[i]->mask != NULL;
                b->pmask[k] = calls[i]->mask ? *calls[i]->mask : (hark_pick_mask){ 0 };
            }
        HARK_TRY(b->rb->decode_pick(b->rctx, b->ent, rows, r ? b->lg : NULL, b->pflag, b->pmask,
                               b->picks));
    } else {
        HARK_TRY(b->rb->decode(b->rctx, b->ent, rows, want ? b->lg : NULL));
    }
#pragma omp parallel for schedule(dynamic, 1) if (n_calls > 4)
    for (int i = 0; i < n_calls; i++) {
        bcall *c = calls[i];
        float *lg = b->lg + b->off[3 * i] * V;
        hark_pick *pk = b->picks + b->off[3 * i + 2];
        for (int j = 0; c->mask && !dev_pick && j < c->n_want; j++)
            hark_pick_row(lg + (size_t)j * V, (int)V, c->mask, &pk[j]);
        if (c->step)
            loop_step(c, c->mask ? NULL : lg, c->mask ? pk : NULL);
        else if (c->n_want)
            memcpy(c->logits, lg, (size_t)c->n_want * V * sizeof(float));
    }
    return HARK_OK;
}

/* One backend decode over calls [from, to) of one kind (and limit), then their outputs. */
static hark_status decode_group(hark_batch *b, bcall **calls, int n_calls)
{
    int rows = 0, want = 0;
    for (int i = 0; i < n_calls; i++)
        rows += calls[i]->n, want += calls[i]->n_want;
    hark_status st = grow((void **)&b->ent, &b->ent_cap, (size_t)rows, sizeof(hark_decode_entry));
    if (st != HARK_OK)
        return st;
    int k = 0;
    for (int i = 0; i < n_calls; i++) {
        memcpy(b->ent + k, calls[i]->e, (size_t)calls[i]->n * sizeof(hark_decode_entry));
        k += calls[i]->n;
    }
    if (calls[0]->kind == CALL_ARGMAX) {
        HARK_TRY(grow((void **)&b->tok, &b->tok_cap, (size_t)(want ? want : 1), sizeof(int32_t)));
        HARK_TRY(b->rb->decode_argmax(b->rctx, b->ent, rows, calls[0]->limit, b->tok));
        int r = 0;
        for (int i = 0; i < n_calls; i++) {
            memcpy(calls[i]->tokens, b->tok + r, (size_t)calls[i]->n_want * sizeof(int32_t));
            r += calls[i]->n_want;
        }
    } else {
        HARK_TRY(plain_decode(b, calls, n_calls, rows, want));
    }
    return HARK_OK;
}

/* Runs the decode calls of one kind (and, for ARGMAX, one limit) in backend calls of at most
 * max_rows entries. A failed merged call is retried call by call (a decode only rewrites the
 * same cache positions), so that one state's error is not everyone's. */
static void run_decodes(hark_batch *b, bcall **calls, int n)
{
    int i = 0;
    while (i < n) {
        int j = i, rows = 0;
        while (j < n && (j == i || rows + calls[j]->n <= b->max_rows))
            rows += calls[j++]->n;
        hark_status st = decode_group(b, calls + i, j - i);
        if (st != HARK_OK && j - i > 1) {
            for (int k = i; k < j; k++) {
                hark_status sk = decode_group(b, calls + k, 1);
                finish(calls[k], calls[k]->next, sk);
            }
        } else {
            for (int k = i; k < j; k++)
                finish(calls[k], calls[k]->next, st);
        }
        b->rs.decode_batches++;
        if (j - i > b->rs.max_decode_calls)
            b->rs.max_decode_calls = j - i;
        b->rs.decode_rows += (uint64_t)rows;
        i = j;
    }
}

static void run_round(hark_batch *b, bcall *list)
{
    run_encodes(b, list, CALL_ENCODE);
    run_encodes(b, list, CALL_ENCODE_PCM);
    int n = 0;
    for (bcall *c = list; c; c = c->next)
        n += c->kind == CALL_DECODE || c->kind == CALL_ARGMAX;
    if (n == 0)
        return;
    bcall **calls = malloc((size_t)n * sizeof(*calls)), **group = NULL;
    if (calls)
        group = malloc((size_t)n * sizeof(*group));
    if (!calls || !group) {
        hark_fail(HARK_ERR_NOMEM, "batch: out of memory");
        for (bcall *c = list; c; c = c->next)
            if (c->kind == CALL_DECODE || c->kind == CALL_ARGMAX)
                finish(c, c->next, HARK_ERR_NOMEM);
        free(calls);
        return;
    }
    int k = 0;
    for (bcall *c = list; c; c = c->next)
        if (c->kind == CALL_DECODE || c->kind == CALL_ARGMAX)
            calls[k++] = c;
    /* groups: the plain decodes, then the argmax decodes of each limit, in arrival order */
    for (int i = 0; i < n; i++) {
        if (!calls[i])
            continue;
        int g = 0;
        const bcall *first = calls[i];
        for (int j = i; j < n; j++) {
            if (calls[j] && calls[j]->kind == first->kind &&
                (first->kind == CALL_DECODE || calls[j]->limit == first->limit)) {
                group[g++] = calls[j];
                calls[j] = NULL;
            }
        }
        b->rs.decode_calls += (uint64_t)g;
        run_decodes(b, group, g);
    }
    free(calls);
    free(group);
}

static int all_pending(const hark_batch *b) { return b->n_pending >= b->n_live; }

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* One trace line: the round's calls, how long after the last round they came (the states'
 * host work), how long the round waited and ran. */
static void trace_round(hark_batch *b, const bcall *list, int live, int pending, int timed_out,
                        double t_take, double t_end)
{
    double first = 1e9, last = 0;
    int enc = 0, dec = 0, rows = 0;
    for (const bcall *c = list; c; c = c->next) {
        double a = c->t_sub - b->t_prev_end;
        first = a < first ? a : first;
        last = a > last ? a : last;
        if (c->kind == CALL_ENCODE || c->kind == CALL_ENCODE_PCM)
            enc += c->n;
        else
            dec++, rows += c->n;
    }
    fprintf(b->trace, "round live %d calls %d timed_out %d arrive_ms %.3f..%.3f take_ms %.3f "
            "run_ms %.3f windows %d decodes %d rows %d\n", live, pending, timed_out,
            first * 1e3, last * 1e3, (t_take - b->t_prev_end) * 1e3, (t_end - t_take) * 1e3,
            enc, dec, rows);
}

static void *engine_main(void *arg)
{
    hark_batch *b = arg;
    pthread_mutex_lock(&b->mu);
    for (;;) {
        while (!b->stop && b->n_pending == 0)
            pthread_cond_wait(&b->cv_work, &b->mu);
        if (b->n_pending == 0)
            break; /* stopping, nothing left */
        int timed_out = 0;
        if (!all_pending(b) && b->max_wait_us > 0) {
            struct timespec dl;
            clock_gettime(CLOCK_REALTIME, &dl);
            long ns = dl.tv_nsec + (long)b->max_wait_us * 1000L;
            dl.tv_sec += ns / 1000000000L;
            dl.tv_nsec = ns % 1000000000L;
            while (!b->stop && !all_pending(b))
                if (pthread_cond_timedwait(&b->cv_work, &b->mu, &dl) == ETIMEDOUT) {
                    timed_out = !all_pending(b);
                    break;
                }
        }
        /* how full the rounds are, for diagnosis (metrics) */
        int bucket = 0;
        while (bucket < 7 && (2 << bucket) <= b->n_pending)
            bucket++;
        b->stats.rounds_by_calls[bucket]++;
        b->stats.rounds_timed_out += (uint64_t)timed_out;
        bcall *list = b->head;
        int live = b->n_live, pending = b->n_pending;
        b->head = b->tail = NULL;
        b->n_pending = 0;
        b->stats.rounds++;
        pthread_mutex_unlock(&b->mu);

        double t_take = b->trace ? now_s() : 0;
        pthread_mutex_lock(&b->eng);
        memset(&b->rs, 0, sizeof(b->rs));
        run_round(b, list);
        pthread_mutex_unlock(&b->eng);

        pthread_mutex_lock(&b->mu);
        if (b->trace) {
            double t_end = now_s();
            trace_round(b, list, live, pending, timed_out, t_take, t_end);
            b->t_prev_end = t_end;
        }
        b->stats.decode_calls += b->rs.decode_calls;
        b->stats.decode_batches += b->rs.decode_batches;
        b->stats.decode_rows += b->rs.decode_rows;
        b->stats.encode_calls += b->rs.encode_calls;
        b->stats.encode_batches += b->rs.encode_batches;
        b->stats.encode_windows += b->rs.encode_windows;
        if (b->rs.max_decode_calls > b->stats.max_decode_calls)
            b->stats.max_decode_calls = b->rs.max_decode_calls;
        /* loops that go on are queued again, first; the rest are done */
        bcall *done = NULL, **dt = &done, *ag_first = NULL, *ag_last = NULL;
        int n_again = 0;
        double t_again = b->trace ? now_s() : 0;
        for (bcall *c = list, *nx; c; c = nx) {
            nx = c->next;
            c->next = NULL;
            if (c->again && c->st == HARK_OK) {
                c->t_sub = t_again;
                if (ag_last)
                    ag_last->next = c;
                else
                    ag_first = c;
                ag_last = c;
                n_again++;
            } else {
                *dt = c;
                dt = &c->next;
            }
        }
        if (ag_first) {
            ag_last->next = b->head;
            if (!b->head)
                b->tail = ag_last;
            b->head = ag_first;
            b->n_pending += n_again;
        }
        pthread_mutex_unlock(&b->mu);
        /* each caller wakes on its own semaphore: a broadcast on one condition variable made 64
         * callers take the queue's mutex one after another on the way out (~0.4 ms a round on
         * the GPU, measured with HARK_BATCH_TRACE). A posted call belongs to its caller again. */
        for (bcall *c = done, *nx; c; c = nx) {
            nx = c->next;
            sem_post(&c->done);
        }
        pthread_mutex_lock(&b->mu);
    }
    pthread_mutex_unlock(&b->mu);
    return NULL;
}

/* Queues c and sleeps until the engine thread has run it; re-raises its error here. */
static hark_status submit(hark_batch *b, bcall *c)
{
    c->next = NULL;
    c->t_sub = b->trace ? now_s() : 0;
    if (sem_init(&c->done, 0, 0) != 0)
        return hark_fail(HARK_ERR_NOMEM, "batch: sem_init failed");
    pthread_mutex_lock(&b->mu);
    if (b->stop) {
        pthread_mutex_unlock(&b->mu);
        sem_destroy(&c->done);
        return hark_fail(HARK_ERR_INVALID_ARG, "batch: the engine is stopping");
    }
    if (b->tail)
        b->tail->next = c;
    else
        b->head = c;
    b->tail = c;
    b->n_pending++;
    pthread_cond_signal(&b->cv_work);
    pthread_mutex_unlock(&b->mu);
    while (sem_wait(&c->done) != 0 && errno == EINTR)
        ;
    sem_destroy(&c->done);
    if (c->st != HARK_OK)
        return hark_fail(c->st, "%s", c->err);
    return HARK_OK;
}

/* ---------------------------------------------------------------- the proxy backend ---------- */

static hark_status proxy_new(const hark_model *model, const void *bw, const hark_state_params *p,
                             int n_threads, void **ctx)
{
    (void)model, (void)n_threads;
    hark_batch *b = (hark_batch *)bw;
    if (p->max_windows > b->W || p->max_sequences > b->S)
        return hark_fail(HARK_ERR_CAPACITY, "batch: a state of %d windows / %d sequences, but the "
                         "batch holds %d / %d", p->max_windows, p->max_sequences, b->W, b->S);
    bproxy *x = calloc(1, sizeof(*x));
    if (x) {
        x->wmap = malloc((size_t)p->max_windows * sizeof(int));
        x->smap = malloc((size_t)p->max_sequences * sizeof(int));
    }
    if (!x || !x->wmap || !x->smap) {
        if (x)
            free(x->wmap), free(x->smap);
        free(x);
        return hark_fail(HARK_ERR_NOMEM, "batch: out of memory");
    }
    x->b = b;
    x->nw = p->max_windows;
    x->ns = p->max_sequences;
    pthread_mutex_lock(&b->mu);
    while (!b->stop && (b->n_free_w < x->nw || b->n_free_s < x->ns))
        pthread_cond_wait(&b->cv_slots, &b->mu);
    if (b->stop) {
        pthread_mutex_unlock(&b->mu);
        free(x->wmap), free(x->smap), free(x);
        return hark_fail(HARK_ERR_INVALID_ARG, "batch: the engine is stopping");
    }
    for (int i = 0; i < x->nw; i++)
        x->wmap[i] = b->free_w[--b->n_free_w];
    for (int i = 0; i < x->ns; i++)
        x->smap[i] = b->free_s[--b->n_free_s];
    b->n_live++;
    b->stats.states = b->n_live;
    pthread_mutex_unlock(&b->mu);
    *ctx = x;
    return HARK_OK;
}

static void proxy_free(void *ctx)
{
    bproxy *x = ctx;
    hark_batch *b = x->b;
    if (b->rb->kv_free) { /* the sequences' cache blocks go back to the pool */
        pthread_mutex_lock(&b->eng);
        for (int i = 0; i < x->ns; i++)
            b->rb->kv_free(b->rctx, x->smap[i]);
        pthread_mutex_unlock(&b->eng);
    }
    pthread_mutex_lock(&b->mu);
    for (int i = 0; i < x->nw; i++)
        b->free_w[b->n_free_w++] = x->wmap[i];
    for (int i = 0; i < x->ns; i++)
        b->free_s[b->n_free_s++] = x->smap[i];
    b->n_live--;
    b->stats.states = b->n_live;
    pthread_cond_broadcast(&b->cv_slots);
    pthread_cond_signal(&b->cv_work); /* a round may be waiting for this state */
    pthread_mutex_unlock(&b->mu);
    free(x->wmap), free(x->smap), free(x);
}

static hark_status map_slots(const bproxy *x, const int *slots, int n, int *out)
{
    for (int i = 0; i < n; i++) {
        if (slots[i] < 0 || slots[i] >= x->nw)
            return hark_fail(HARK_ERR_INVALID_ARG, "batch: window slot %d of a state with %d",
                             slots[i], x->nw);
        out[i] = x->wmap[slots[i]];
    }
    return HARK_OK;
}

/* e with real slots into m; *want counts the entries that want logits. */
static hark_status map_entries_into(const bproxy *x, const hark_decode_entry *e, int n,
                                    hark_decode_entry *m, int *want)
{
    *want = 0;
    for (int i = 0; i < n; i++) {
        if (e[i].seq < 0 || e[i].seq >= x->ns || e[i].window < 0 || e[i].window >= x->nw)
            return hark_fail(HARK_ERR_INVALID_ARG, "batch: entry %d: sequence %d / window %d of a "
                             "state with %d / %d", i, e[i].seq, e[i].window, x->ns, x->nw);
        m[i] = e[i];
        m[i].seq = x->smap[e[i].seq];
        m[i].window = x->wmap[e[i].window];
        *want += e[i].want_logits != 0;
    }
    return HARK_OK;
}

/* A copy of the entries with real slots (the caller frees *out); *want counts logits rows. */
static hark_status map_entries(const bproxy *x, const hark_decode_entry *e, int n,
                               hark_decode_entry **out, int *want)
{
    if (n < 1)
        return hark_fail(HARK_ERR_INVALID_ARG, "batch: a decode of %d entries", n);
    hark_decode_entry *m = malloc((size_t)n * sizeof(*m));
    if (!m)
        return hark_fail(HARK_ERR_NOMEM, "batch: out of memory");
    hark_status st = map_entries_into(x, e, n, m, want);
    if (st != HARK_OK) {
        free(m);
        return st;
    }
    *out = m;
    return HARK_OK;
}

static hark_status proxy_encode_kind(void *ctx, const float *data, int n, const int *slots,
                                     call_kind kind)
{
    bproxy *x = ctx;
    if (n < 1 || n > x->nw)
        return hark_fail(HARK_ERR_CAPACITY, "batch: %d windows for a state of %d", n, x->nw);
    int *real = malloc((size_t)n * sizeof(int));
    if (!real)
        return hark_fail(HARK_ERR_NOMEM, "batch: out of memory");
    hark_status st = map_slots(x, slots, n, real);
    if (st == HARK_OK) {
        bcall c = { .kind = kind, .data = data, .slots = real, .n = n };
        st = submit(x->b, &c);
    }
    free(real);
    return st;
}

static hark_status proxy_encode(void *ctx, const float *mel, int n, const int *slots)
{
    return proxy_encode_kind(ctx, mel, n, slots, CALL_ENCODE);
}

static hark_status proxy_encode_pcm(void *ctx, const float *pcm, int n, const int *slots)
{
    return proxy_encode_kind(ctx, pcm, n, slots, CALL_ENCODE_PCM);
}

static hark_status proxy_decode(void *ctx, const hark_decode_entry *e, int n, float *logits)
{
    bproxy *x = ctx;
    hark_decode_entry *m = NULL;
    int want = 0;
    HARK_TRY(map_entries(x, e, n, &m, &want));
    bcall c = { .kind = CALL_DECODE, .e = m, .n = n, .logits = logits, .n_want = want };
    hark_status st = want && !logits ? hark_fail(HARK_ERR_INVALID_ARG, "batch: no logits buffer")
                                     : submit(x->b, &c);
    free(m);
    return st;
}

/* The loop runs in the engine: the call stays queued, pass after pass, until its step leaves no
 * entries; the caller sleeps once for the whole loop. */
static hark_status proxy_decode_steps(void *ctx, hark_decode_entry *e, int n,
                                      const hark_pick_mask *mask, hark_step_fn step, void *user)
{
    bproxy *x = ctx;
    hark_decode_entry *m = NULL;
    int want = 0;
    HARK_TRY(map_entries(x, e, n, &m, &want));
    bcall c = { .kind = CALL_DECODE, .e = m, .n = n, .n_want = want, .step = step,
                .user = user, .mask = mask, .ue = e, .cap = n, .x = x };
    hark_status st = submit(x->b, &c);
    free(m);
    return st;
}

static hark_status proxy_decode_argmax(void *ctx, const hark_decode_entry *e, int n, int limit,
                                       int32_t *tokens)
{
    bproxy *x = ctx;
    hark_decode_entry *m = NULL;
    int want = 0;
    HARK_TRY(map_entries(x, e, n, &m, &want));
    bcall c = { .kind = CALL_ARGMAX, .e = m, .n = n, .limit = limit, .tokens = tokens,
                .n_want = want };
    hark_status st = submit(x->b, &c);
    free(m);
    return st;
}

/* The rare calls: on the caller's thread, under the engine lock. */

static hark_status proxy_encoder_output(void *ctx, int slot, float *out)
{
    bproxy *x = ctx;
    int real = -1;
    HARK_TRY(map_slots(x, &slot, 1, &real));
    pthread_mutex_lock(&x->b->eng);
    hark_status st = x->b->rb->encoder_output(x->b->rctx, real, out);
    pthread_mutex_unlock(&x->b->eng);
    return st;
}

static hark_status map_seq(const bproxy *x, int seq, int *out)
{
    if (seq < 0 || seq >= x->ns)
        return hark_fail(HARK_ERR_INVALID_ARG, "batch: sequence slot %d of a state with %d", seq,
                         x->ns);
    *out = x->smap[seq];
    return HARK_OK;
}

static hark_status proxy_kv_copy(void *ctx, int src, int dst, int n_pos)
{
    bproxy *x = ctx;
    int s = -1, d = -1;
    HARK_TRY(map_seq(x, src, &s));
    HARK_TRY(map_seq(x, dst, &d));
    pthread_mutex_lock(&x->b->eng);
    hark_status st = x->b->rb->kv_copy(x->b->rctx, s, d, n_pos);
    pthread_mutex_unlock(&x->b->eng);
    return st;
}

static hark_status proxy_kv_free(void *ctx, int seq)
{
    bproxy *x = ctx;
    int s = -1;
    HARK_TRY(map_seq(x, seq, &s));
    pthread_mutex_lock(&x->b->eng);
    hark_status st = x->b->rb->kv_free(x->b->rctx, s);
    pthread_mutex_unlock(&x->b->eng);
    return st;
}

static hark_status proxy_cross_qk(void *ctx, const hark_decode_entry *e, int n, float *logits,
                                  const int32_t *heads, int n_heads, int n_frames, float *qk)
{
    bproxy *x = ctx;
    hark_decode_entry *m = NULL;
    int want = 0;
    HARK_TRY(map_entries(x, e, n, &m, &want));
    pthread_mutex_lock(&x->b->eng);
    hark_status st = x->b->rb->decode_cross_qk(x->b->rctx, m, n, logits, heads, n_heads, n_frames,
                                               qk);
    pthread_mutex_unlock(&x->b->eng);
    free(m);
    return st;
}

static void proxy_stats(void *ctx, hark_stats *out)
{
    bproxy *x = ctx;
    pthread_mutex_lock(&x->b->eng);
    x->b->rb->stats(x->b->rctx, out);
    pthread_mutex_unlock(&x->b->eng);
}

/* ---------------------------------------------------------------- public API ----------------- */

hark_status hark_batch_new(hark_model *model, const hark_batch_params *params, hark_batch **out)
{
    if (!out)
        return hark_fail(HARK_ERR_INVALID_ARG, "hark_batch_new: out is NULL");
    *out = NULL;
    if (!model)
        return hark_fail(HARK_ERR_INVALID_ARG, "hark_batch_new: model is NULL");
    hark_batch_params p = params ? *params : hark_batch_default_params();
    if (p.max_wait_us < 0 || p.max_wait_us > 1000000)
        return hark_fail(HARK_ERR_INVALID_ARG, "hark_batch_new: max_wait_us %d out of range",
                         p.max_wait_us);
    hark_state_params sp = hark_state_default_params();
    sp.max_windows = p.max_windows;
    sp.max_sequences = p.max_sequences;
    sp.kv_cache_free_mem_fraction = p.kv_cache_free_mem_fraction;
    sp.cross_kv_bits = p.cross_kv_bits;
    hark_status st = hark_state_params_check("hark_batch_new", &sp);
    if (st != HARK_OK)
        return st;
    hark_batch *b = calloc(1, sizeof(*b));
    if (!b)
        return hark_fail(HARK_ERR_NOMEM, "hark_batch_new: out of memory");
    b->model = model;
    b->rb = model->backend;
    b->W = p.max_windows;
    b->S = p.max_sequences;
    b->max_rows = 4 * p.max_sequences + model->dims.n_text_ctx; /* both backends' row cap */
    b->max_wait_us = p.max_wait_us;
    st = b->rb->ctx_new(model, model->backend_weights, &sp, model->params.n_threads, &b->rctx);
    if (st != HARK_OK) {
        free(b);
        return st;
    }
    b->free_w = malloc((size_t)b->W * sizeof(int));
    b->free_s = malloc((size_t)b->S * sizeof(int));
    b->wslots = malloc((size_t)b->W * sizeof(int));
    if (!b->free_w || !b->free_s || !b->wslots) {
        hark_batch_free(b);
        return hark_fail(HARK_ERR_NOMEM, "hark_batch_new: out of memory");
    }
    for (int i = 0; i < b->W; i++) /* handed out from the end: slot 0 first */
        b->free_w[b->n_free_w++] = b->W - 1 - i;
    for (int i = 0; i < b->S; i++)
        b->free_s[b->n_free_s++] = b->S - 1 - i;
    b->be = (hark_backend){
        .name = b->rb->name,
        .ctx_new = proxy_new,
        .ctx_free = proxy_free,
        .encode = proxy_encode,
        .encoder_output = proxy_encoder_output,
        .decode = proxy_decode,
        .decode_steps = proxy_decode_steps,
        .kv_copy = proxy_kv_copy,
        .kv_free = b->rb->kv_free ? proxy_kv_free : NULL,
        .encode_pcm = proxy_encode_pcm, /* the engine computes the log-mel when the backend
                                            cannot (run_encodes) */
        .decode_argmax = b->rb->decode_argmax ? proxy_decode_argmax : NULL,
        .decode_cross_qk = b->rb->decode_cross_qk ? proxy_cross_qk : NULL,
        .stats = b->rb->stats ? proxy_stats : NULL,
    };
    pthread_mutex_init(&b->mu, NULL);
    pthread_mutex_init(&b->eng, NULL);
    pthread_cond_init(&b->cv_work, NULL);
    pthread_cond_init(&b->cv_slots, NULL);
    const char *tr = getenv("HARK_BATCH_TRACE"); /* a file, or "-" for stderr */
    if (tr && *tr)
        b->trace = strcmp(tr, "-") ? fopen(tr, "w") : stderr;
    b->t_prev_end = now_s();
    if (pthread_create(&b->thread, NULL, engine_main, b) != 0) {
        hark_batch_free(b);
        return hark_fail(HARK_ERR_NOMEM, "hark_batch_new: cannot start the engine thread");
    }
    b->thread_started = 1;
    *out = b;
    return HARK_OK;
}

void hark_batch_free(hark_batch *b)
{
    if (!b)
        return;
    if (b->thread_started) {
        pthread_mutex_lock(&b->mu);
        b->stop = 1;
        pthread_cond_broadcast(&b->cv_work);
        pthread_cond_broadcast(&b->cv_slots);
        pthread_mutex_unlock(&b->mu);
        pthread_join(b->thread, NULL);
        pthread_mutex_destroy(&b->mu);
        pthread_mutex_destroy(&b->eng);
        pthread_cond_destroy(&b->cv_work);
        pthread_cond_destroy(&b->cv_slots);
    }
    if (b->rctx)
        b->rb->ctx_free(b->rctx);
    free(b->free_w), free(b->free_s), free(b->wslots);
    if (b->lg)
        b->rb->host_free ? b->rb->host_free(b->lg) : free(b->lg);
    free(b->buf), free(b->mel), free(b->ent), free(b->tok);
    free(b->picks), free(b->pflag), free(b->pmask), free(b->off);
    if (b->trace && b->trace != stderr)
        fclose(b->trace);
    free(b);
}

hark_status hark_batch_warmup(hark_batch *batch)
{
    if (!batch)
        return hark_fail(HARK_ERR_INVALID_ARG, "hark_batch_warmup: batch is NULL");
    pthread_mutex_lock(&batch->mu);
    int live = batch->n_live;
    pthread_mutex_unlock(&batch->mu);
    if (live > 0)
        return hark_fail(HARK_ERR_INVALID_ARG, "hark_batch_warmup: %d states live", live);
    pthread_mutex_lock(&batch->eng);
    hark_status st = hark_engine_warmup(batch->model, batch->rb, batch->rctx, batch->W, batch->S,
                                        batch->max_rows);
    pthread_mutex_unlock(&batch->eng);
    return st;
}

hark_status hark_batch_state_new(hark_batch *batch, const hark_state_params *params,
                                 hark_state **out)
{
    if (!batch)
        return hark_fail(HARK_ERR_INVALID_ARG, "hark_batch_state_new: batch is NULL");
    hark_status st = hark_state_new_on(batch->model, params, &batch->be, batch, out);
    if (st == HARK_OK)
        (*out)->host_single_thread = 1;
    return st;
}

hark_status hark_batch_get_stats(hark_batch *batch, hark_batch_stats *out)
{
    if (!batch || !out)
        return hark_fail(HARK_ERR_INVALID_ARG, "hark_batch_get_stats: bad arguments");
    pthread_mutex_lock(&batch->mu);
    *out = batch->stats;
    out->free_windows = batch->n_free_w;
    out->free_sequences = batch->n_free_s;
    pthread_mutex_unlock(&batch->mu);
    return HARK_OK;
}

hark_status hark_batch_device_stats(hark_batch *batch, hark_stats *out)
{
    if (!batch || !out)
        return hark_fail(HARK_ERR_INVALID_ARG, "hark_batch_device_stats: bad arguments");
    memset(out, 0, sizeof(*out));
    if (!batch->rb->stats) { /* the CPU: the mapped weights */
        out->weights_bytes = batch->model->map.size;
        out->device = "cpu";
        return HARK_OK;
    }
    pthread_mutex_lock(&batch->eng);
    batch->rb->stats(batch->rctx, out);
    pthread_mutex_unlock(&batch->eng);
    return HARK_OK;
}
