/*
 * serve_job.c — one transcription of hark serve as a job: its run on a batch state (the engine
 * merges the steps of all requests), cancellation at the request's deadline or when its client
 * is gone, several jobs at once for a multi-row request, the server-sent event stream of an
 * OpenAI `stream=true` request, and the response helpers the protocol files share.
 */
#define _POSIX_C_SOURCE 200809L
#include "serve_job.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

/* ---------------------------------------------------------------- one transcription --------- */


/* hark_full_params.progress: stop at the deadline, or when the client has gone away. */
static int stream_cancelled(sv_stream *s);

static int job_check(double done, void *user)
{
    (void)done;
    sv_job *j = user;
    if (j->stream && stream_cancelled(j->stream)) {
        j->cancelled = 2;
        return 1;
    }
    if (j->rq->deadline > 0 && sv_now() > j->rq->deadline) {
        j->cancelled = 1;
        return 1;
    }
    if (j->rq->gone && j->rq->gone(j->rq->gone_user)) {
        j->cancelled = 2;
        return 1;
    }
    if (j->rq->client_fd >= 0) {
        char c;
        ssize_t r = recv(j->rq->client_fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
        if (r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
            j->cancelled = 2;
            return 1;
        }
    }
    return 0;
}

/* The segments' texts joined, without the leading and trailing white space. */
static char *joined_text(const hark_state *s)
{
    size_t len = 0;
    int n = hark_n_segments(s);
    for (int i = 0; i < n; i++)
        len += strlen(hark_segment_text(s, i));
    char *t = malloc(len + 1), *o = t;
    if (!t)
        return NULL;
    for (int i = 0; i < n; i++) {
        const char *x = hark_segment_text(s, i);
        size_t k = strlen(x);
        memcpy(o, x, k);
        o += k;
    }
    *o = 0;
    char *b = t;
    while (*b == ' ' || *b == '\n' || *b == '\t')
        b++;
    size_t k = strlen(b);
    while (k > 0 && (b[k - 1] == ' ' || b[k - 1] == '\n' || b[k - 1] == '\t'))
        k--;
    memmove(t, b, k);
    t[k] = 0;
    return t;
}

static void job_run_inner(sv_job *j);

void *job_run(void *arg)
{
    job_run_inner(arg);
    return NULL;
}

static void job_run_inner(sv_job *j)
{
    hark_state_params sp = hark_state_default_params();
    sp.max_sequences = j->sv->seqs_per_state;
    hark_state *s = NULL;
    j->p.progress = job_check;
    j->p.progress_user = j;
    int inst = 0;
    hark_batch *b = sv_pick(j->sv, &inst);
    j->st = hark_batch_state_new(b, &sp, &s);
    if (j->st == HARK_OK)
        j->st = hark_transcribe(s, j->pcm, j->n, &j->p);
    if (j->st != HARK_OK) {
        snprintf(j->err, sizeof(j->err), "%s", hark_last_error());
        hark_state_free(s);
        sv_done(j->sv, inst);
        return;
    }
    j->text = joined_text(s);
    const char *lang = hark_result_language(s);
    j->language = strdup(lang ? lang : "");
    if (j->render || j->openai_text) {
        tr_result r;
        if (tr_result_build(s, j->translate, (double)j->n / 16000.0, &r) != 0) {
            j->st = HARK_ERR_NOMEM;
        } else if (j->openai_text) {
            size_t k = j->text ? strlen(j->text) : 0;
            j->rendered = malloc(k + 2);
            if (j->rendered) {
                memcpy(j->rendered, j->text ? j->text : "", k);
                j->rendered[k] = '\n';
                j->rendered[k + 1] = 0;
                j->rendered_len = k + 1;
            }
        } else {
            r.r.text = j->text;
            j->st = hark_out_render(&r.r, j->fmt, NULL, &j->rendered, &j->rendered_len);
            if (j->st != HARK_OK)
                snprintf(j->err, sizeof(j->err), "%s", hark_last_error());
        }
        tr_result_free(&r);
    }
    if (!j->text || !j->language || ((j->render || j->openai_text) && !j->rendered &&
                                     j->st == HARK_OK))
        j->st = HARK_ERR_NOMEM;
    hark_state_free(s);
    sv_done(j->sv, inst);
}

/* ---------------------------------------------------------------- OpenAI streaming -------- */

struct sv_stream {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    char *buf;
    size_t len, cap, off;
    int finished, cancel;
    pthread_t th;
    sv_job job;
    sv_request rq; /* the request's deadline and socket (its body is not used) */
    char *prompt;
};

static int stream_cancelled(sv_stream *s)
{
    pthread_mutex_lock(&s->mu);
    int c = s->cancel;
    pthread_mutex_unlock(&s->mu);
    return c;
}

/* Queues one event: "data: <json>\n\n". */
static void stream_event(sv_stream *s, json_t *ev)
{
    char *j = ev ? json_dumps(ev, JSON_COMPACT) : NULL;
    json_decref(ev);
    if (!j)
        return;
    size_t k = strlen(j), need = 6 + k + 2;
    pthread_mutex_lock(&s->mu);
    if (s->len + need > s->cap) {
        size_t c = s->cap ? 2 * s->cap : 4096;
        while (c < s->len + need)
            c *= 2;
        char *q = realloc(s->buf, c);
        if (q) {
            s->buf = q;
            s->cap = c;
        }
    }
    if (s->len + need <= s->cap) {
        memcpy(s->buf + s->len, "data: ", 6);
        memcpy(s->buf + s->len + 6, j, k);
        memcpy(s->buf + s->len + 6 + k, "\n\n", 2);
        s->len += need;
    }
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    free(j);
}

/* hark_full_params.new_segment: each segment's text as a delta. */
static void stream_segment(const hark_state *st, int i, void *user)
{
    stream_event(user, json_pack("{s:s,s:s}", "type", "transcript.text.delta", "delta",
                                 hark_segment_text(st, i)));
}

static void job_run_inner(sv_job *j);

static void *stream_main(void *arg)
{
    sv_stream *s = arg;
    job_run_inner(&s->job);
    if (s->job.st == HARK_OK)
        stream_event(s, json_pack("{s:s,s:s}", "type", "transcript.text.done", "text",
                                  s->job.text ? s->job.text : ""));
    else
        stream_event(s, json_pack("{s:s,s:{s:s,s:s}}", "type", "error", "error", "message",
                                  s->job.cancelled == 1 ? "request timeout" : s->job.err, "type",
                                  "server_error"));
    pthread_mutex_lock(&s->mu);
    s->finished = 1;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

size_t sv_stream_read(sv_stream *s, char *buf, size_t max)
{
    pthread_mutex_lock(&s->mu);
    while (s->off == s->len && !s->finished)
        pthread_cond_wait(&s->cv, &s->mu);
    size_t n = s->len - s->off < max ? s->len - s->off : max;
    memcpy(buf, s->buf + s->off, n);
    s->off += n;
    pthread_mutex_unlock(&s->mu);
    return n;
}

void job_free(sv_job *j);

void sv_stream_free(sv_stream *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->mu);
    s->cancel = 1;
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->th, NULL);
    job_free(&s->job);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    free(s->buf);
    free(s->prompt);
    free(s);
}

/* Starts the job on its own thread, its segments streamed; takes the job (pcm included). */
sv_stream *stream_start(sv_job *j, const sv_request *rq)
{
    sv_stream *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    s->rq.client_fd = rq->client_fd;
    s->rq.deadline = rq->deadline;
    s->job = *j;
    s->job.rq = &s->rq;
    s->job.stream = s;
    s->job.render = s->job.openai_text = 0;
    s->job.p.new_segment = stream_segment;
    s->job.p.new_segment_user = s;
    if (j->p.initial_prompt) {
        s->prompt = strdup(j->p.initial_prompt); /* the form's fields go with the request */
        s->job.p.initial_prompt = s->prompt;
    }
    memset(j, 0, sizeof(*j)); /* the stream owns the pcm now */
    if (pthread_create(&s->th, NULL, stream_main, s) != 0) {
        *j = s->job; /* give it back */
        pthread_mutex_destroy(&s->mu);
        pthread_cond_destroy(&s->cv);
        free(s->prompt);
        free(s);
        return NULL;
    }
    return s;
}

void job_free(sv_job *j)
{
    hark_free(j->pcm);
    free(j->text), free(j->language), free(j->rendered);
}

/* Runs the jobs together (a thread each beyond the first: their steps share engine rounds). */
void run_jobs(sv_job *jobs, int n)
{
    pthread_t th[MAX_ROWS];
    int started[MAX_ROWS] = { 0 };
    for (int i = 1; i < n; i++)
        started[i] = pthread_create(&th[i], NULL, job_run, &jobs[i]) == 0;
    job_run(&jobs[0]);
    for (int i = 1; i < n; i++) {
        if (started[i])
            pthread_join(th[i], NULL);
        else
            job_run(&jobs[i]);
    }
}

/* The HTTP status of a failed job. */
int job_status(const sv_job *j)
{
    if (j->cancelled == 1)
        return 504;
    if (j->cancelled == 2)
        return 499; /* client closed the request (nginx's code); nobody reads it */
    switch (j->st) {
    case HARK_ERR_AUDIO:
    case HARK_ERR_INVALID_ARG:
    case HARK_ERR_TOKENIZER:
    case HARK_ERR_UNSUPPORTED:
        return 400;
    case HARK_ERR_CAPACITY:
        return 503;
    default:
        return 500;
    }
}

/* ---------------------------------------------------------------- responses ----------------- */

void set_json(sv_response *res, int status, json_t *j)
{
    free(res->body);
    res->body = j ? json_dumps(j, JSON_COMPACT) : NULL;
    res->len = res->body ? strlen(res->body) : 0;
    res->status = res->body ? status : 500;
    res->type = "application/json";
    json_decref(j);
}

void set_text(sv_response *res, int status, const char *type, char *body, size_t len)
{
    free(res->body);
    res->body = body;
    res->len = len;
    res->status = status;
    res->type = type;
}

/* An error in the OpenAI API's shape. */
void openai_error(sv_response *res, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void openai_error(sv_response *res, int status, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    const char *type = status == 429 ? "rate_limit_error"
                       : status >= 500 ? "server_error" : "invalid_request_error";
    set_json(res, status, json_pack("{s:{s:s,s:s,s:n,s:n}}", "error", "message", msg, "type",
                                    type, "param", "code"));
}
