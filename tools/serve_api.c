/*
 * serve_api.c — the protocols of `hark serve` over the HTTP layer of cmd_serve.c:
 *  - KServe v2 / Triton HTTP: health, server and model metadata, config, stats, and infer with
 *    JSON tensors or the binary tensor extension. Models "whisper", "whisper_bls", "infer_bls"
 *    (the names Triton's Whisper deployments use) take WAV FP32 [N] or [B, N], WAV_LENS INT32
 *    [B] / [B, 1], TEXT_PREFIX BYTES [B] / [B, 1] (one prefix for all rows, or one each), or
 *    AUDIO BYTES (encoded files, any format hark_audio_decode reads) instead of WAV; they give
 *    TRANSCRIPTS BYTES [B, 1], and on request LANGUAGE and SEGMENTS (verbose JSON) BYTES [B, 1].
 *    ref: kserve/open-inference-protocol (REST, binary tensor extension); Triton's
 *    whisper_bls model of tensorrtllm_backend.
 *  - OpenAI: POST /v1/audio/transcriptions and /v1/audio/translations (multipart: file, model,
 *    language, prompt, response_format json|text|srt|vtt|verbose_json, temperature,
 *    timestamp_granularities[]), GET /v1/models. ref: the OpenAI audio API reference.
 * Long audio is transcribed whole (openai/whisper's long-form algorithm), not cut at 30 s.
 */
#define _POSIX_C_SOURCE 200809L
#include "serve.h"
#include "serve_kserve.h"
#include "transcribe_output.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#define MAX_ROWS 256 /* rows of one KServe request */
static const char *MODEL_NAMES[] = { "whisper", "whisper_bls", "infer_bls" };
const char *const KSERVE_OUTPUTS[KSERVE_N_OUTPUTS] = { "TRANSCRIPTS", "LANGUAGE", "SEGMENTS" };

/* ---------------------------------------------------------------- one transcription --------- */

struct sv_job {
    sv_server *sv;
    const sv_request *rq;
    float *pcm; /* owned */
    size_t n;
    hark_full_params p;
    int translate;
    int render;           /* also render `fmt` */
    hark_out_format fmt;
    int openai_text;      /* render the OpenAI "text" format (the text and a line break) */
    sv_stream *stream;    /* server-sent events of the segments as they come (OpenAI stream) */
    /* results */
    hark_status st;
    char err[600];
    int cancelled; /* 1: timeout, 2: client gone */
    char *text, *language, *rendered;
    size_t rendered_len;
};

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

static void *job_run(void *arg)
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

static void job_free(sv_job *j);

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
static sv_stream *stream_start(sv_job *j, const sv_request *rq)
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

static void job_free(sv_job *j)
{
    hark_free(j->pcm);
    free(j->text), free(j->language), free(j->rendered);
}

/* Runs the jobs together (a thread each beyond the first: their steps share engine rounds). */
static void run_jobs(sv_job *jobs, int n)
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
static int job_status(const sv_job *j)
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

static void set_json(sv_response *res, int status, json_t *j)
{
    free(res->body);
    res->body = j ? json_dumps(j, JSON_COMPACT) : NULL;
    res->len = res->body ? strlen(res->body) : 0;
    res->status = res->body ? status : 500;
    res->type = "application/json";
    json_decref(j);
}

static void set_text(sv_response *res, int status, const char *type, char *body, size_t len)
{
    free(res->body);
    res->body = body;
    res->len = len;
    res->status = status;
    res->type = type;
}

/* An error in the OpenAI API's shape. */
static void openai_error(sv_response *res, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void openai_error(sv_response *res, int status, const char *fmt, ...)
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

/* ---------------------------------------------------------------- KServe v2 ----------------- */

int kserve_known_model(const sv_server *sv, const char *name, size_t len)
{
    for (size_t i = 0; i < sizeof(MODEL_NAMES) / sizeof(MODEL_NAMES[0]); i++)
        if (strlen(MODEL_NAMES[i]) == len && !strncmp(MODEL_NAMES[i], name, len))
            return 1;
    return sv->model_name && strlen(sv->model_name) == len && !strncmp(sv->model_name, name, len);
}

static json_t *tensor_meta(const char *name, const char *dt, int rows)
{
    return rows ? json_pack("{s:s,s:s,s:[i,i]}", "name", name, "datatype", dt, "shape", -1, -1)
                : json_pack("{s:s,s:s,s:[i]}", "name", name, "datatype", dt, "shape", -1);
}

static json_t *model_metadata(const char *name)
{
    json_t *in = json_array(), *out = json_array();
    json_array_append_new(in, tensor_meta("WAV", "FP32", 1));
    json_array_append_new(in, tensor_meta("WAV_LENS", "INT32", 1));
    json_array_append_new(in, tensor_meta("TEXT_PREFIX", "BYTES", 1));
    json_array_append_new(in, tensor_meta("AUDIO", "BYTES", 1));
    json_array_append_new(out, tensor_meta("TRANSCRIPTS", "BYTES", 1));
    json_array_append_new(out, tensor_meta("LANGUAGE", "BYTES", 1));
    json_array_append_new(out, tensor_meta("SEGMENTS", "BYTES", 1));
    return json_pack("{s:s,s:[s],s:s,s:o,s:o}", "name", name, "versions", "1", "platform",
                     "hark", "inputs", in, "outputs", out);
}

static json_t *model_config(const char *name)
{
    json_t *in = json_array(), *out = json_array();
    const char *ins[4][2] = { { "WAV", "TYPE_FP32" }, { "WAV_LENS", "TYPE_INT32" },
                              { "TEXT_PREFIX", "TYPE_STRING" }, { "AUDIO", "TYPE_STRING" } };
    for (int i = 0; i < 4; i++)
        json_array_append_new(in, json_pack("{s:s,s:s,s:[i],s:b}", "name", ins[i][0],
                                            "data_type", ins[i][1], "dims", i == 0 ? -1 : 1,
                                            "optional", i != 0));
    const char *outs[3] = { "TRANSCRIPTS", "LANGUAGE", "SEGMENTS" };
    for (int i = 0; i < 3; i++)
        json_array_append_new(out, json_pack("{s:s,s:s,s:[i]}", "name", outs[i], "data_type",
                                             "TYPE_STRING", "dims", 1));
    return json_pack("{s:s,s:s,s:i,s:o,s:o,s:{s:i}}", "name", name, "backend", "hark",
                     "max_batch_size", MAX_ROWS, "input", in, "output", out,
                     "dynamic_batching", "max_queue_delay_microseconds", 0);
}

long kserve_shape_count(const kin *t)
{
    long n = 1;
    for (int i = 0; i < t->rank; i++)
        n *= t->shape[i];
    return n;
}

/* Flattens nested JSON arrays of numbers into out (up to cap); returns the count, -1 on a
 * non-number. */
static long flatten_numbers(json_t *a, double *out, long cap, long k)
{
    if (json_is_array(a)) {
        size_t i;
        json_t *v;
        json_array_foreach(a, i, v) {
            k = flatten_numbers(v, out, cap, k);
            if (k < 0)
                return -1;
        }
        return k;
    }
    if (!json_is_number(a))
        return -1;
    if (k < cap)
        out[k] = json_number_value(a);
    return k + 1;
}

/* The BYTES elements of an input: JSON strings, or 4-byte little-endian lengths and bytes. */
static int bytes_elements(const kin *t, long n, const char **ptr, size_t *len, char *err,
                          size_t errcap)
{
    if (t->has_bin) {
        size_t off = 0;
        for (long i = 0; i < n; i++) {
            if (off + 4 > t->bin_len) {
                snprintf(err, errcap, "%s: binary data ends inside element %ld", t->name, i);
                return -1;
            }
            const unsigned char *b = t->bin + off;
            uint32_t l = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
                         (uint32_t)b[3] << 24;
            if (l > t->bin_len - off - 4) {
                snprintf(err, errcap, "%s: element %ld of %u bytes overruns the binary data",
                         t->name, i, l);
                return -1;
            }
            ptr[i] = (const char *)b + 4;
            len[i] = l;
            off += 4 + (size_t)l;
        }
        if (off != t->bin_len) {
            snprintf(err, errcap, "%s: %zu bytes of binary data left after %ld elements", t->name,
                     t->bin_len - off, n);
            return -1;
        }
        return 0;
    }
    json_t *flat[MAX_ROWS];
    long k = 0;
    json_t *stack[8];
    size_t idx[8];
    int depth = 0;
    if (!json_is_array(t->data)) {
        snprintf(err, errcap, "%s: data must be an array", t->name);
        return -1;
    }
    stack[0] = t->data;
    idx[0] = 0;
    while (depth >= 0) {
        if (idx[depth] >= json_array_size(stack[depth])) {
            depth--;
            if (depth >= 0)
                idx[depth]++;
            continue;
        }
        json_t *v = json_array_get(stack[depth], idx[depth]);
        if (json_is_array(v) && depth + 1 < 8) {
            stack[++depth] = v;
            idx[depth] = 0;
            continue;
        }
        if (!json_is_string(v) || k >= MAX_ROWS) {
            snprintf(err, errcap, "%s: BYTES data must be strings (at most %d)", t->name,
                     MAX_ROWS);
            return -1;
        }
        flat[k++] = v;
        idx[depth]++;
    }
    if (k != n) {
        snprintf(err, errcap, "%s: %ld elements for shape of %ld", t->name, k, n);
        return -1;
    }
    for (long i = 0; i < n; i++) {
        ptr[i] = json_string_value(flat[i]);
        len[i] = json_string_length(flat[i]);
    }
    return 0;
}

/* Applies a Triton TEXT_PREFIX ("<|startofprev|>hot words<|startoftranscript|><|en|>
 * <|transcribe|><|notimestamps|>text") to p: the prompt, language, task, timestamps and a
 * prefix. Strings in *store are owned by the caller (freed after the job). */
static int apply_prefix(const char *s, size_t len, hark_full_params *p, int *translate,
                        char **store, char *err, size_t errcap)
{
    char *t = malloc(len + 1);
    if (!t)
        return -1;
    memcpy(t, s, len);
    t[len] = 0;
    store[0] = t;
    const char *q = t, *prev = NULL, *prev_end = NULL, *after = NULL;
    int sot = 0;
    while (*q) {
        const char *a = strstr(q, "<|");
        if (!a) {
            if (sot)
                after = q;
            break;
        }
        if (a > q && sot && !after)
            after = q; /* text between specials after <|startoftranscript|> */
        const char *b = strstr(a + 2, "|>");
        if (!b) {
            snprintf(err, errcap, "TEXT_PREFIX: unterminated special token at '%.20s'", a);
            return -1;
        }
        size_t k = (size_t)(b - a - 2);
        char tok[32];
        if (k >= sizeof(tok)) {
            snprintf(err, errcap, "TEXT_PREFIX: unknown special token '%.*s'", (int)(k + 4), a);
            return -1;
        }
        memcpy(tok, a + 2, k);
        tok[k] = 0;
        if (!strcmp(tok, "startofprev")) {
            prev = b + 2;
        } else if (!strcmp(tok, "startoftranscript")) {
            if (prev)
                prev_end = a;
            sot = 1;
        } else if (!strcmp(tok, "transcribe")) {
            *translate = 0;
        } else if (!strcmp(tok, "translate")) {
            *translate = 1;
        } else if (!strcmp(tok, "notimestamps")) {
            p->timestamps = 0;
        } else if (!strcmp(tok, "endoftext")) {
            /* Triton clients sometimes end with it: nothing to do */
        } else if (hark_language_find(tok) >= 0 && strlen(tok) <= 8) {
            p->language = hark_language_code(hark_language_find(tok));
        } else {
            snprintf(err, errcap, "TEXT_PREFIX: unknown special token '<|%s|>'", tok);
            return -1;
        }
        if (after && a > after) { /* text, then more specials: the text is not a prefix */
            snprintf(err, errcap, "TEXT_PREFIX: text before '<|%s|>'", tok);
            return -1;
        }
        q = b + 2;
    }
    if (prev && prev_end && prev_end > prev) {
        size_t k = (size_t)(prev_end - prev);
        char *pr = malloc(k + 1);
        if (!pr)
            return -1;
        memcpy(pr, prev, k);
        pr[k] = 0;
        store[1] = pr;
        p->initial_prompt = pr;
    }
    if (after && *after)
        p->prefix = after;
    p->translate = *translate;
    return 0;
}

/* Splits the request body into the JSON header and the binary part. */
static json_t *infer_header(const sv_request *rq, const unsigned char **bin, size_t *bin_len,
                            char *err, size_t errcap)
{
    size_t hl = rq->len;
    if (rq->infer_header_len) {
        char *end;
        unsigned long long v = strtoull(rq->infer_header_len, &end, 10);
        if (*end || v > rq->len) {
            snprintf(err, errcap, "Inference-Header-Content-Length %s: not a length within the "
                     "body of %zu bytes", rq->infer_header_len, rq->len);
            return NULL;
        }
        hl = (size_t)v;
    }
    json_error_t je;
    json_t *h = json_loadb(rq->body ? rq->body : "", hl, 0, &je);
    if (!h) {
        snprintf(err, errcap, "malformed JSON: %s (line %d, column %d)", je.text, je.line,
                 je.column);
        return NULL;
    }
    if (!json_is_object(h)) {
        json_decref(h);
        snprintf(err, errcap, "the request must be a JSON object");
        return NULL;
    }
    *bin = (const unsigned char *)rq->body + hl;
    *bin_len = rq->len - hl;
    return h;
}

static int parse_inputs(json_t *h, const unsigned char *bin, size_t bin_len, kin *ins, int *n_in,
                        char *err, size_t errcap)
{
    json_t *inputs = json_object_get(h, "inputs");
    if (!json_is_array(inputs) || json_array_size(inputs) == 0 || json_array_size(inputs) > 8) {
        snprintf(err, errcap, "\"inputs\" must be an array of 1 to 8 tensors");
        return -1;
    }
    size_t off = 0, i;
    json_t *t;
    *n_in = 0;
    json_array_foreach(inputs, i, t) {
        kin *k = &ins[(*n_in)++];
        memset(k, 0, sizeof(*k));
        k->name = json_string_value(json_object_get(t, "name"));
        k->dt = json_string_value(json_object_get(t, "datatype"));
        json_t *shape = json_object_get(t, "shape");
        if (!k->name || !k->dt || !json_is_array(shape) || json_array_size(shape) < 1 ||
            json_array_size(shape) > 4) {
            snprintf(err, errcap, "input %zu: needs \"name\", \"datatype\" and a \"shape\" of 1 "
                     "to 4 dimensions", i);
            return -1;
        }
        k->rank = (int)json_array_size(shape);
        for (int d = 0; d < k->rank; d++) {
            json_t *v = json_array_get(shape, (size_t)d);
            if (!json_is_integer(v) || json_integer_value(v) < 0 ||
                json_integer_value(v) > (1L << 31)) {
                snprintf(err, errcap, "input %s: shape dimension %d is not a size", k->name, d);
                return -1;
            }
            k->shape[d] = (long)json_integer_value(v);
        }
        json_t *bs = json_object_get(json_object_get(t, "parameters"), "binary_data_size");
        if (bs) {
            if (!json_is_integer(bs) || json_integer_value(bs) < 0 ||
                (size_t)json_integer_value(bs) > bin_len - off) {
                snprintf(err, errcap, "input %s: binary_data_size %lld overruns the %zu bytes of "
                         "binary data", k->name, (long long)json_integer_value(bs), bin_len - off);
                return -1;
            }
            k->has_bin = 1;
            k->bin = bin + off;
            k->bin_len = (size_t)json_integer_value(bs);
            off += k->bin_len;
        } else {
            k->data = json_object_get(t, "data");
            if (!k->data) {
                snprintf(err, errcap, "input %s: no \"data\" and no binary_data_size", k->name);
                return -1;
            }
        }
    }
    if (off != bin_len) {
        snprintf(err, errcap, "%zu bytes of binary data belong to no input", bin_len - off);
        return -1;
    }
    return 0;
}

static const kin *find_input(const kin *ins, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(ins[i].name, name))
            return &ins[i];
    return NULL;
}

/* Reads numeric tensor data (FP32 or INT32) into doubles or floats. */
static int numeric(const kin *t, const char *dt, long n, float *f, int32_t *iv, char *err,
                   size_t errcap)
{
    if (strcmp(t->dt, dt) != 0) {
        snprintf(err, errcap, "input %s: datatype %s, expected %s", t->name, t->dt, dt);
        return -1;
    }
    if (t->has_bin) {
        if (t->bin_len != (size_t)n * 4) {
            snprintf(err, errcap, "input %s: %zu bytes of binary data for %ld elements of 4",
                     t->name, t->bin_len, n);
            return -1;
        }
        if (f)
            memcpy(f, t->bin, (size_t)n * 4);
        else
            memcpy(iv, t->bin, (size_t)n * 4);
        return 0;
    }
    double *tmp = malloc((size_t)(n > 0 ? n : 1) * sizeof(double));
    if (!tmp) {
        snprintf(err, errcap, "out of memory");
        return -1;
    }
    long k = flatten_numbers(t->data, tmp, n, 0);
    if (k != n) {
        free(tmp);
        snprintf(err, errcap, "input %s: %s for shape of %ld elements", t->name,
                 k < 0 ? "data holds a non-number" : "wrong number of elements", n);
        return -1;
    }
    for (long i = 0; i < n; i++) {
        if (f)
            f[i] = (float)tmp[i];
        else
            iv[i] = (int32_t)tmp[i];
    }
    free(tmp);
    return 0;
}

/* Which outputs the request wants (TRANSCRIPTS when it names none), and whether binary. */
static int requested_outputs(json_t *h, int *want, int *binary, char *err, size_t errcap)
{
    static const char *names[3] = { "TRANSCRIPTS", "LANGUAGE", "SEGMENTS" };
    json_t *outs = json_object_get(h, "outputs");
    int all_bin = json_is_true(json_object_get(json_object_get(h, "parameters"),
                                               "binary_data_output"));
    memset(want, 0, 3 * sizeof(int));
    memset(binary, 0, 3 * sizeof(int));
    if (!outs || json_array_size(outs) == 0) {
        want[0] = 1;
        binary[0] = all_bin;
        return 0;
    }
    if (!json_is_array(outs)) {
        snprintf(err, errcap, "\"outputs\" must be an array");
        return -1;
    }
    size_t i;
    json_t *o;
    json_array_foreach(outs, i, o) {
        const char *nm = json_string_value(json_object_get(o, "name"));
        int k = -1;
        for (int j = 0; j < 3 && nm; j++)
            if (!strcmp(nm, names[j]))
                k = j;
        if (k < 0) {
            snprintf(err, errcap, "unknown output '%s' (TRANSCRIPTS, LANGUAGE, SEGMENTS)",
                     nm ? nm : "");
            return -1;
        }
        want[k] = 1;
        json_t *bd = json_object_get(json_object_get(o, "parameters"), "binary_data");
        binary[k] = bd ? json_is_true(bd) : all_bin;
    }
    return 0;
}

void kserve_rows_free(kserve_rows *o)
{
    for (int r = 0; o->jobs && r < o->rows; r++)
        job_free(&o->jobs[r]);
    for (int r = 0; o->store && r < 2 * o->rows; r++)
        free(o->store[r]);
    free(o->jobs);
    free(o->store);
    memset(o, 0, sizeof(*o));
}

const char *kserve_output(const kserve_rows *o, int k, int r)
{
    const sv_job *j = &o->jobs[r];
    const char *v = k == 0 ? j->text : k == 1 ? j->language : j->rendered;
    return v ? v : "";
}

int kserve_run(sv_server *sv, const sv_request *rq, const kin *ins, int n_in, const int *want,
               hark_segment_fn partial, void *partial_user, kserve_rows *o, char *err,
               size_t errcap)
{
    memset(o, 0, sizeof(*o));
    int rows = 0;
    for (int i = 0; i < n_in; i++)
        if (strcmp(ins[i].name, "WAV") && strcmp(ins[i].name, "WAV_LENS") &&
            strcmp(ins[i].name, "TEXT_PREFIX") && strcmp(ins[i].name, "AUDIO")) {
            snprintf(err, errcap, "unknown input '%s' (WAV, WAV_LENS, TEXT_PREFIX, AUDIO)",
                     ins[i].name);
            return 400;
        }
    const kin *wav = find_input(ins, n_in, "WAV"), *lens = find_input(ins, n_in, "WAV_LENS");
    const kin *prefix = find_input(ins, n_in, "TEXT_PREFIX"), *audio = find_input(ins, n_in, "AUDIO");
    if (!!wav == !!audio) {
        snprintf(err, errcap, "give WAV (FP32 samples at 16 kHz) or AUDIO (encoded files), one of "
                 "them");
        return 400;
    }
    long per = 0;
    if (wav) {
        if (wav->rank > 3 || (wav->rank == 3 && wav->shape[2] != 1)) {
            snprintf(err, errcap, "input WAV: shape [N] or [B, N]");
            return 400;
        }
        rows = wav->rank == 1 ? 1 : (int)wav->shape[0];
        per = wav->rank == 1 ? wav->shape[0] : wav->shape[1];
    } else {
        if (strcmp(audio->dt, "BYTES") != 0) {
            snprintf(err, errcap, "input AUDIO: datatype %s, expected BYTES", audio->dt);
            return 400;
        }
        rows = (int)kserve_shape_count(audio);
    }
    if (rows < 1 || rows > MAX_ROWS) {
        snprintf(err, errcap, "%d rows: 1 to %d per request", rows, MAX_ROWS);
        return 400;
    }
    o->jobs = calloc((size_t)rows, sizeof(*o->jobs));
    o->store = calloc((size_t)rows * 2, sizeof(*o->store));
    if (!o->jobs || !o->store) {
        snprintf(err, errcap, "out of memory");
        kserve_rows_free(o);
        return 500;
    }
    o->rows = rows;
    for (int r = 0; r < rows; r++) {
        sv_job *j = &o->jobs[r];
        j->sv = sv;
        j->rq = rq;
        j->p = hark_full_default_params();
        j->p.beam_size = 1; /* Triton's Whisper engines decode greedily */
        j->p.temperature_increment = sv->temperature_increment;
        j->p.max_tokens = sv->max_tokens;
        j->p.suppress_eot = sv->suppress_eot;
        j->render = want[2];
        j->fmt = HARK_OUT_VERBOSE_JSON;
    }
    if (partial && rows == 1) { /* partial transcripts: one row's segments as they come */
        o->jobs[0].p.new_segment = partial;
        o->jobs[0].p.new_segment_user = partial_user;
    }
    int status = 400;
    if (wav) {
        long total = kserve_shape_count(wav);
        float *all = malloc((size_t)(total > 0 ? total : 1) * sizeof(float));
        int32_t lv[MAX_ROWS];
        if (!all) {
            snprintf(err, errcap, "out of memory");
            status = 500;
            goto fail;
        }
        if (numeric(wav, "FP32", total, all, NULL, err, errcap) != 0) {
            free(all);
            goto fail;
        }
        if (lens) {
            long nl = kserve_shape_count(lens);
            if (nl != rows) {
                free(all);
                snprintf(err, errcap, "input WAV_LENS: %ld values for %d rows", nl, rows);
                goto fail;
            }
            if (numeric(lens, "INT32", nl, NULL, lv, err, errcap) != 0) {
                free(all);
                goto fail;
            }
        }
        for (int r = 0; r < rows; r++) {
            long n = lens ? lv[r] : per;
            if (n < 0 || n > per) {
                free(all);
                snprintf(err, errcap, "WAV_LENS[%d] = %ld: outside 0 .. %ld", r, n, per);
                goto fail;
            }
            o->jobs[r].pcm = malloc((size_t)(n > 0 ? n : 1) * sizeof(float));
            if (!o->jobs[r].pcm) {
                free(all);
                snprintf(err, errcap, "out of memory");
                status = 500;
                goto fail;
            }
            memcpy(o->jobs[r].pcm, all + (size_t)r * (size_t)per, (size_t)n * sizeof(float));
            o->jobs[r].n = (size_t)n;
        }
        free(all);
    } else {
        const char *ptr[MAX_ROWS];
        size_t len[MAX_ROWS];
        if (bytes_elements(audio, rows, ptr, len, err, errcap) != 0)
            goto fail;
        for (int r = 0; r < rows; r++)
            if (hark_audio_decode(ptr[r], len[r], &o->jobs[r].pcm, &o->jobs[r].n) != HARK_OK) {
                snprintf(err, errcap, "AUDIO[%d]: %s", r, hark_last_error());
                goto fail;
            }
    }
    if (prefix) {
        long np = kserve_shape_count(prefix);
        const char *ptr[MAX_ROWS];
        size_t len[MAX_ROWS];
        if (strcmp(prefix->dt, "BYTES") != 0) {
            snprintf(err, errcap, "input TEXT_PREFIX: datatype %s, expected BYTES", prefix->dt);
            goto fail;
        }
        if (np != rows && np != 1) {
            snprintf(err, errcap, "input TEXT_PREFIX: %ld values for %d rows", np, rows);
            goto fail;
        }
        if (bytes_elements(prefix, np, ptr, len, err, errcap) != 0)
            goto fail;
        for (int r = 0; r < rows; r++) {
            int k = np == 1 ? 0 : r;
            if (apply_prefix(ptr[k], len[k], &o->jobs[r].p, &o->jobs[r].translate,
                             o->store + 2 * r, err, errcap) != 0)
                goto fail;
        }
    }
    run_jobs(o->jobs, rows);
    for (int r = 0; r < rows; r++)
        if (o->jobs[r].st != HARK_OK) {
            snprintf(err, errcap, "row %d: %s", r,
                     o->jobs[r].cancelled == 1 ? "request timeout" : o->jobs[r].err);
            status = job_status(&o->jobs[r]);
            goto fail;
        }
    for (int r = 0; r < rows; r++)
        o->audio_s += (double)o->jobs[r].n / 16000.0;
    return 0;
fail:
    kserve_rows_free(o);
    return status;
}

static void kserve_infer(sv_server *sv, const sv_request *rq, const char *model, size_t model_len,
                         sv_response *res)
{
    static const char *names[3] = { "TRANSCRIPTS", "LANGUAGE", "SEGMENTS" };
    char err[600] = "";
    const unsigned char *bin = NULL;
    size_t bin_len = 0;
    json_t *h = infer_header(rq, &bin, &bin_len, err, sizeof(err));
    if (!h) {
        sv_error(res, 400, "%s", err);
        return;
    }
    kin ins[8];
    int n_in = 0, want[3], binary[3];
    kserve_rows o;
    memset(&o, 0, sizeof(o));
    if (parse_inputs(h, bin, bin_len, ins, &n_in, err, sizeof(err)) != 0 ||
        requested_outputs(h, want, binary, err, sizeof(err)) != 0) {
        sv_error(res, 400, "%s", err);
        json_decref(h);
        return;
    }
    int status = kserve_run(sv, rq, ins, n_in, want, NULL, NULL, &o, err, sizeof(err));
    if (status) {
        sv_error(res, status, "%s", err);
        json_decref(h);
        return;
    }
    const int rows = o.rows;
    /* the response: JSON outputs, or the binary extension for those that asked */
    json_t *outs = json_array();
    size_t bin_total = 0;
    for (int k = 0; k < 3; k++) {
        if (!want[k])
            continue;
        size_t sz = 0;
        json_t *data = json_array();
        for (int r = 0; r < rows; r++) {
            sz += 4 + strlen(kserve_output(&o, k, r));
            if (!binary[k])
                json_array_append_new(data, json_string(kserve_output(&o, k, r)));
        }
        json_t *ot = json_pack("{s:s,s:s,s:[i,i]}", "name", names[k], "datatype", "BYTES",
                               "shape", rows, 1);
        if (binary[k]) {
            json_object_set_new(ot, "parameters",
                                json_pack("{s:I}", "binary_data_size", (json_int_t)sz));
            bin_total += sz;
            json_decref(data);
        } else {
            json_object_set_new(ot, "data", data);
        }
        json_array_append_new(outs, ot);
    }
    char ml[256];
    snprintf(ml, sizeof(ml), "%.*s", (int)(model_len < 200 ? model_len : 200), model);
    json_t *r = json_pack("{s:s,s:s,s:o}", "model_name", ml, "model_version", "1", "outputs",
                          outs);
    json_t *id = json_object_get(h, "id");
    if (json_is_string(id))
        json_object_set(r, "id", id);
    if (bin_total == 0) {
        set_json(res, 200, r);
    } else {
        char *hdr = json_dumps(r, JSON_COMPACT);
        json_decref(r);
        size_t hl = hdr ? strlen(hdr) : 0;
        char *body = hdr ? malloc(hl + bin_total) : NULL;
        if (!body) {
            free(hdr);
            sv_error(res, 500, "out of memory");
            kserve_rows_free(&o);
            json_decref(h);
            return;
        }
        memcpy(body, hdr, hl);
        free(hdr);
        size_t off = hl;
        for (int k = 0; k < 3; k++)
            for (int q = 0; want[k] && binary[k] && q < rows; q++)
                off += put_bytes_element(body + off, kserve_output(&o, k, q));
        set_text(res, 200, "application/octet-stream", body, off);
        snprintf(res->header_name, sizeof(res->header_name), "Inference-Header-Content-Length");
        snprintf(res->header_value, sizeof(res->header_value), "%zu", hl);
    }
    if (!res->header_name[0]) {
        snprintf(res->header_name, sizeof(res->header_name), "X-Audio-Seconds");
        snprintf(res->header_value, sizeof(res->header_value), "%.3f", o.audio_s);
    }
    kserve_rows_free(&o);
    json_decref(h);
}

size_t put_bytes_element(char *dst, const char *v)
{
    uint32_t l = (uint32_t)strlen(v);
    unsigned char b4[4] = { (unsigned char)l, (unsigned char)(l >> 8), (unsigned char)(l >> 16),
                            (unsigned char)(l >> 24) };
    memcpy(dst, b4, 4);
    memcpy(dst + 4, v, l);
    return 4 + (size_t)l;
}

/* Routes /v2/models/{name}[/versions/{v}][/ready|/config|/stats|/infer]. */
static void kserve_model(sv_server *sv, const sv_request *rq, sv_response *res)
{
    const char *p = rq->url + strlen("/v2/models/");
    const char *slash = strchr(p, '/');
    size_t nl = slash ? (size_t)(slash - p) : strlen(p);
    const char *rest = slash ? slash : "";
    if (!kserve_known_model(sv, p, nl)) {
        sv_error(res, 404, "unknown model '%.*s' (whisper, whisper_bls, infer_bls%s%s)",
                 (int)(nl < 200 ? nl : 200), p, sv->model_name ? ", " : "",
                 sv->model_name ? sv->model_name : "");
        return;
    }
    if (!strncmp(rest, "/versions/", 10)) {
        const char *v = rest + 10, *e = strchr(v, '/');
        size_t vl = e ? (size_t)(e - v) : strlen(v);
        if (vl != 1 || *v != '1') {
            sv_error(res, 404, "model '%.*s' has version 1 only", (int)nl, p);
            return;
        }
        rest = e ? e : "";
    }
    char name[256];
    snprintf(name, sizeof(name), "%.*s", (int)(nl < 200 ? nl : 200), p);
    int get = !strcmp(rq->method, "GET"), post = !strcmp(rq->method, "POST");
    if (!*rest && get) {
        set_json(res, 200, model_metadata(name));
    } else if (!strcmp(rest, "/ready") && get) {
        pthread_mutex_lock(&sv->mu);
        int draining = sv->draining;
        pthread_mutex_unlock(&sv->mu);
        set_text(res, draining ? 503 : 200, "text/plain", NULL, 0);
    } else if (!strcmp(rest, "/config") && get) {
        set_json(res, 200, model_config(name));
    } else if (!strcmp(rest, "/stats") && get) {
        pthread_mutex_lock(&sv->mu);
        uint64_t ok = sv->m.requests[0][0], n = 0;
        for (int c = 0; c < 6; c++)
            n += sv->m.requests[0][c];
        double sum = sv->m.lat_sum[0];
        pthread_mutex_unlock(&sv->mu);
        set_json(res, 200, json_pack("{s:[{s:s,s:s,s:I,s:{s:{s:I,s:I},s:{s:I,s:I}}}]}",
                                     "model_stats", "name", name, "version", "1",
                                     "inference_count", (json_int_t)ok, "inference_stats",
                                     "success", "count", (json_int_t)ok, "ns",
                                     (json_int_t)(sum * 1e9), "fail", "count",
                                     (json_int_t)(n - ok), "ns", (json_int_t)0));
    } else if (!strcmp(rest, "/infer") && post) {
        kserve_infer(sv, rq, p, nl, res); /* admitted by the HTTP layer (sv_enter) */
    } else if (!strcmp(rest, "/infer") || !strcmp(rest, "/ready") || !strcmp(rest, "/config") ||
               !strcmp(rest, "/stats") || !*rest) {
        sv_error(res, 405, "%s %s: method not allowed", rq->method, rq->url);
    } else {
        sv_error(res, 404, "no such path: %s", rq->url);
    }
}

/* ---------------------------------------------------------------- OpenAI -------------------- */

static const sv_field *field(const sv_request *rq, const char *name)
{
    for (int i = 0; i < rq->n_fields; i++)
        if (!strcmp(rq->fields[i].name, name))
            return &rq->fields[i];
    return NULL;
}

static void openai_audio(sv_server *sv, const sv_request *rq, int translate, sv_response *res)
{
    res->protocol = 1;
    if (!rq->content_type || strncasecmp(rq->content_type, "multipart/form-data", 19) != 0) {
        openai_error(res, 400, "expected a multipart/form-data body");
        return;
    }
    const sv_field *file = field(rq, "file");
    if (!file || file->len == 0) {
        openai_error(res, 400, "missing the 'file' field (the audio file)");
        return;
    }
    const sv_field *fmt_f = field(rq, "response_format"), *lang = field(rq, "language");
    const sv_field *prompt = field(rq, "prompt"), *temp = field(rq, "temperature");
    const sv_field *stream = field(rq, "stream");
    sv_job j = { .sv = sv, .rq = rq, .translate = translate };
    j.p = hark_full_default_params();
    j.p.beam_size = sv->beam_size;
    j.p.temperature_increment = sv->temperature_increment;
    j.p.max_tokens = sv->max_tokens;
    j.p.suppress_eot = sv->suppress_eot;
    j.p.translate = translate;
    const char *fmt = fmt_f ? fmt_f->value : "json";
    if (!strcmp(fmt, "text")) {
        j.openai_text = 1;
    } else if (!strcmp(fmt, "json") || !strcmp(fmt, "srt") || !strcmp(fmt, "vtt") ||
               !strcmp(fmt, "verbose_json")) {
        j.render = 1;
        hark_out_format_parse(fmt, &j.fmt);
    } else {
        openai_error(res, 400, "response_format '%s': json, text, srt, vtt or verbose_json", fmt);
        return;
    }
    int streaming = stream && (!strcmp(stream->value, "true") || !strcmp(stream->value, "1"));
    if (lang && *lang->value && !translate) {
        int li = hark_language_find(lang->value);
        if (li < 0) {
            openai_error(res, 400, "language '%s': not a language Whisper knows", lang->value);
            return;
        }
        j.p.language = hark_language_code(li);
    }
    if (prompt && *prompt->value)
        j.p.initial_prompt = prompt->value;
    if (temp && *temp->value) {
        char *end;
        double t = strtod(temp->value, &end);
        if (*end || !(t >= 0.0 && t <= 1.0)) {
            openai_error(res, 400, "temperature '%s': a number from 0 to 1", temp->value);
            return;
        }
        j.p.temperature = (float)t;
    }
    for (int i = 0; i < rq->n_fields; i++) {
        const sv_field *f = &rq->fields[i];
        if (strcmp(f->name, "timestamp_granularities[]") && strcmp(f->name, "timestamp_granularities"))
            continue;
        if (!strcmp(f->value, "word")) {
            j.p.word_timestamps = 1;
        } else if (strcmp(f->value, "segment") != 0) {
            openai_error(res, 400, "timestamp_granularities: 'word' or 'segment', not '%s'",
                         f->value);
            return;
        }
    }
    if (j.p.word_timestamps && !(j.render && j.fmt == HARK_OUT_VERBOSE_JSON)) {
        openai_error(res, 400, "timestamp_granularities needs response_format=verbose_json");
        return;
    }
    hark_status st = hark_audio_decode(file->value, file->len, &j.pcm, &j.n);
    if (st != HARK_OK) {
        openai_error(res, 400, "the audio file could not be decoded: %s", hark_last_error());
        return;
    }
    if (streaming) { /* server-sent events: a delta per segment, then the whole text */
        sv_stream *ss = stream_start(&j, rq);
        if (!ss) {
            openai_error(res, 500, "cannot start the transcription");
            job_free(&j);
            return;
        }
        res->status = 200;
        res->type = "text/event-stream";
        res->stream = ss;
        snprintf(res->header_name, sizeof(res->header_name), "X-Audio-Seconds");
        snprintf(res->header_value, sizeof(res->header_value), "%.3f", (double)ss->job.n / 16000.0);
        return;
    }
    job_run(&j); /* admitted by the HTTP layer (sv_enter) */
    if (j.st != HARK_OK) {
        openai_error(res, job_status(&j), "%s", j.cancelled == 1 ? "request timeout" : j.err);
    } else {
        const char *type = j.openai_text ? "text/plain; charset=utf-8" : hark_out_format_mime(j.fmt);
        set_text(res, 200, type, j.rendered, j.rendered_len);
        j.rendered = NULL;
        snprintf(res->header_name, sizeof(res->header_name), "X-Audio-Seconds");
        snprintf(res->header_value, sizeof(res->header_value), "%.3f", (double)j.n / 16000.0);
    }
    job_free(&j);
}

/* ---------------------------------------------------------------- routing ------------------- */

void sv_handle(sv_server *sv, const sv_request *rq, sv_response *res)
{
    const char *u = rq->url;
    int get = !strcmp(rq->method, "GET"), post = !strcmp(rq->method, "POST");
    res->protocol = !strncmp(u, "/v1/", 4) ? 1 : !strncmp(u, "/v2", 3) ? 0 : 3;
    if (!strcmp(u, "/v2/health/live") && get) {
        set_text(res, 200, "text/plain", NULL, 0);
    } else if (!strcmp(u, "/v2/health/ready") && get) {
        pthread_mutex_lock(&sv->mu);
        int draining = sv->draining;
        pthread_mutex_unlock(&sv->mu);
        set_text(res, draining ? 503 : 200, "text/plain", NULL, 0);
    } else if ((!strcmp(u, "/v2") || !strcmp(u, "/v2/")) && get) {
        set_json(res, 200, json_pack("{s:s,s:s,s:[s,s,s]}", "name", "hark", "version",
                                     HARK_VERSION, "extensions", "binary_tensor_data",
                                     "statistics", "model_configuration"));
    } else if (!strncmp(u, "/v2/models/", 11) && u[11]) {
        kserve_model(sv, rq, res);
    } else if (!strcmp(u, "/v1/audio/transcriptions") && post) {
        openai_audio(sv, rq, 0, res);
    } else if (!strcmp(u, "/v1/audio/translations") && post) {
        openai_audio(sv, rq, 1, res);
    } else if (!strcmp(u, "/v1/models") && get) {
        json_t *data = json_array();
        const char *ids[2] = { "whisper-1", sv->model_name };
        for (int i = 0; i < 2; i++)
            if (ids[i])
                json_array_append_new(data, json_pack("{s:s,s:s,s:i,s:s}", "id", ids[i],
                                                      "object", "model", "created", 0,
                                                      "owned_by", "hark"));
        set_json(res, 200, json_pack("{s:s,s:o}", "object", "list", "data", data));
    } else if (!strcmp(u, "/v1/audio/transcriptions") || !strcmp(u, "/v1/audio/translations") ||
               !strcmp(u, "/v1/models") || !strncmp(u, "/v2/health/", 11) || !strcmp(u, "/v2")) {
        if (res->protocol == 1)
            openai_error(res, 405, "%s %s: method not allowed", rq->method, u);
        else
            sv_error(res, 405, "%s %s: method not allowed", rq->method, u);
    } else if (res->protocol == 1) {
        openai_error(res, 404, "no such path: %s", u);
    } else {
        sv_error(res, 404, "no such path: %s", u);
    }
}
