/*
 * client_http.c — the HTTP transports of `hark client` (libcurl, one easy handle a connection so
 * that keep-alive holds): KServe v2 / Triton inference with the binary-tensor extension, and
 * OpenAI's /v1/audio/transcriptions (multipart; stream=true read as server-sent events).
 * ref: KServe v2 REST protocol and Triton's binary data extension; OpenAI audio API.
 *
 * What it is not: gRPC (client_grpc.c), nor the bench (cmd_client.c).
 */
#define _POSIX_C_SOURCE 200809L
#include "client.h"

#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct buf {
    char *p;
    size_t n, cap;
} buf;

typedef struct hconn {
    CURL *h;
    cl_protocol proto;
    char *base;  /* url without a trailing '/' */
    char *model;
    long timeout_ms;
    buf body, resp;
    long json_len; /* Inference-Header-Content-Length of the answer, -1 none */
    /* OpenAI streaming: partial texts as events arrive */
    const cl_request *rq;
    size_t sse_done; /* bytes of resp already parsed as events */
    char *stream_text;
} hconn;

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }

static int buf_add(buf *b, const void *p, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->n + n + 1)
            cap *= 2;
        char *q = realloc(b->p, cap);
        if (!q)
            return -1;
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->n, p, n);
    b->n += n;
    b->p[b->n] = 0;
    return 0;
}

static void sse_feed(hconn *c);

static size_t on_data(char *p, size_t size, size_t nmemb, void *user)
{
    hconn *c = user;
    if (buf_add(&c->resp, p, size * nmemb) != 0)
        return 0; /* curl reports a write error */
    if (c->rq && c->rq->partial)
        sse_feed(c);
    return size * nmemb;
}

static size_t on_header(char *p, size_t size, size_t nmemb, void *user)
{
    hconn *c = user;
    size_t n = size * nmemb;
    static const char key[] = "inference-header-content-length:";
    if (n > sizeof(key) - 1 && strncasecmp(p, key, sizeof(key) - 1) == 0)
        c->json_len = strtol(p + sizeof(key) - 1, NULL, 10);
    return n;
}

static void *http_connect(const cl_target *t, char *err, size_t err_size)
{
    pthread_once(&curl_once, curl_init_once);
    hconn *c = calloc(1, sizeof(*c));
    if (!c || !(c->h = curl_easy_init())) {
        free(c);
        snprintf(err, err_size, "out of memory");
        return NULL;
    }
    if (strncmp(t->url, "http://", 7) != 0 && strncmp(t->url, "https://", 8) != 0) {
        snprintf(err, err_size, "url '%s': expected http://host:port", t->url);
        curl_easy_cleanup(c->h);
        free(c);
        return NULL;
    }
    c->proto = t->protocol;
    c->base = strdup(t->url);
    c->model = strdup(t->model ? t->model : "whisper");
    if (!c->base || !c->model) {
        snprintf(err, err_size, "out of memory");
        free(c->base), free(c->model), curl_easy_cleanup(c->h), free(c);
        return NULL;
    }
    size_t k = strlen(c->base);
    while (k > 0 && c->base[k - 1] == '/')
        c->base[--k] = 0;
    c->timeout_ms = t->timeout_s > 0 ? (long)(t->timeout_s * 1000) : 0;
    return c;
}

static void http_close(void *p)
{
    hconn *c = p;
    if (!c)
        return;
    curl_easy_cleanup(c->h);
    free(c->base), free(c->model), free(c->body.p), free(c->resp.p), free(c->stream_text);
    free(c);
}

/* One request on the connection's handle: GET when body is NULL. 0 with *status the HTTP
 * status and c->resp the answer, -1 (err filled) when no answer came. */
static int request(hconn *c, const char *path, const char *body, size_t n, struct curl_slist *hdr,
                   curl_mime *mime, long *status, char *err, size_t err_size)
{
    char url[1024];
    snprintf(url, sizeof(url), "%s%s", c->base, path);
    c->resp.n = 0;
    c->json_len = -1;
    CURL *h = c->h;
    curl_easy_reset(h);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, c->timeout_ms);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, c);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, c);
    if (hdr)
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
    if (mime) {
        curl_easy_setopt(h, CURLOPT_MIMEPOST, mime);
    } else if (body) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)n);
    }
    CURLcode e = curl_easy_perform(h);
    if (e != CURLE_OK) {
        snprintf(err, err_size, "%s: %s", url, curl_easy_strerror(e));
        return -1;
    }
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
    return 0;
}

/* The error an unsuccessful answer carries ({"error": "..."} or {"error": {"message": ...}}),
 * else its first bytes. */
static void answer_error(const hconn *c, long status, char *err, size_t err_size)
{
    json_t *j = json_loadb(c->resp.p ? c->resp.p : "", c->resp.n, 0, NULL);
    json_t *e = j ? json_object_get(j, "error") : NULL;
    if (json_is_object(e))
        e = json_object_get(e, "message");
    if (json_is_string(e))
        snprintf(err, err_size, "HTTP %ld: %s", status, json_string_value(e));
    else
        snprintf(err, err_size, "HTTP %ld: %.200s", status, c->resp.p ? c->resp.p : "");
    json_decref(j);
}

/* 0 when a request (rc of request()) came back 200; else -1 with out's status and error. */
static int answered(const hconn *c, int rc, long status, cl_reply *out)
{
    if (rc != 0)
        return -1;
    out->status = (int)status;
    if (status != 200) {
        answer_error(c, status, out->err, sizeof(out->err));
        return -1;
    }
    return 0;
}

/* ---------------------------------------------------------------- KServe v2 ---------------- */

static int put_u32(buf *b, uint32_t v)
{
    unsigned char le[4] = { (unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
                            (unsigned char)(v >> 24) };
    return buf_add(b, le, 4);
}

/* The request body: the JSON header, then WAV, WAV_LENS and TEXT_PREFIX as binary tensors
 * (little-endian; BYTES elements 4-byte-length prefixed). Returns the header's length, -1. */
static long kserve_body(hconn *c, const cl_request *rq)
{
    const char *pre = rq->text_prefix ? rq->text_prefix : CL_DEFAULT_PREFIX;
    size_t np = strlen(pre), nw = (size_t)rq->rows * rq->stride * sizeof(float);
    char hdr[1024];
    int k = snprintf(hdr, sizeof(hdr),
                     "{\"inputs\":["
                     "{\"name\":\"WAV\",\"shape\":[%d,%zu],\"datatype\":\"FP32\","
                     "\"parameters\":{\"binary_data_size\":%zu}},"
                     "{\"name\":\"WAV_LENS\",\"shape\":[%d,1],\"datatype\":\"INT32\","
                     "\"parameters\":{\"binary_data_size\":%zu}},"
                     "{\"name\":\"TEXT_PREFIX\",\"shape\":[%d,1],\"datatype\":\"BYTES\","
                     "\"parameters\":{\"binary_data_size\":%zu}}],"
                     "\"outputs\":[{\"name\":\"TRANSCRIPTS\","
                     "\"parameters\":{\"binary_data\":false}}]}",
                     rq->rows, rq->stride, nw, rq->rows, (size_t)rq->rows * 4, rq->rows,
                     (size_t)rq->rows * (4 + np));
    c->body.n = 0;
    if (k <= 0 || (size_t)k >= sizeof(hdr) || buf_add(&c->body, hdr, (size_t)k) != 0 ||
        buf_add(&c->body, rq->pcm, nw) != 0)
        return -1;
    for (int r = 0; r < rq->rows; r++)
        if (put_u32(&c->body, (uint32_t)rq->lens[r]) != 0)
            return -1;
    for (int r = 0; r < rq->rows; r++)
        if (put_u32(&c->body, (uint32_t)np) != 0 || buf_add(&c->body, pre, np) != 0)
            return -1;
    return k;
}

/* TRANSCRIPTS from a KServe answer with JSON data. */
static int kserve_texts(const hconn *c, int rows, cl_reply *out)
{
    size_t n = c->json_len >= 0 && (size_t)c->json_len <= c->resp.n ? (size_t)c->json_len
                                                                      : c->resp.n;
    json_t *j = json_loadb(c->resp.p ? c->resp.p : "", n, 0, NULL), *data = NULL;
    size_t i;
    json_t *o;
    json_array_foreach(json_object_get(j, "outputs"), i, o)
        if (json_is_string(json_object_get(o, "name")) &&
            !strcmp(json_string_value(json_object_get(o, "name")), "TRANSCRIPTS"))
            data = json_object_get(o, "data");
    if (!json_is_array(data) || json_array_size(data) != (size_t)rows) {
        snprintf(out->err, sizeof(out->err), "the answer has no TRANSCRIPTS of %d rows: %.200s",
                 rows, c->resp.p ? c->resp.p : "");
        json_decref(j);
        return -1;
    }
    out->texts = calloc((size_t)rows, sizeof(char *));
    for (int r = 0; out->texts && r < rows; r++) {
        const char *s = json_string_value(json_array_get(data, (size_t)r));
        out->texts[r] = strdup(s ? s : "");
        out->n += out->texts[r] != NULL;
    }
    json_decref(j);
    if (out->n != rows) {
        snprintf(out->err, sizeof(out->err), "out of memory");
        cl_reply_free(out);
        return -1;
    }
    return 0;
}

static int kserve_infer(hconn *c, const cl_request *rq, cl_reply *out)
{
    long hl = kserve_body(c, rq);
    if (hl < 0) {
        snprintf(out->err, sizeof(out->err), "out of memory");
        return -1;
    }
    char h1[80], path[512];
    snprintf(h1, sizeof(h1), "Inference-Header-Content-Length: %ld", hl);
    struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/octet-stream");
    hdr = curl_slist_append(hdr, h1);
    hdr = curl_slist_append(hdr, "Expect:");
    snprintf(path, sizeof(path), "/v2/models/%s/infer", c->model);
    long status = 0;
    int rc = request(c, path, c->body.p, c->body.n, hdr, NULL, &status, out->err,
                     sizeof(out->err));
    curl_slist_free_all(hdr);
    if (answered(c, rc, status, out) != 0)
        return -1;
    if (kserve_texts(c, rq->rows, out) != 0) {
        out->status = -1;
        return -1;
    }
    return 0;
}

/* ---------------------------------------------------------------- OpenAI ------------------- */

/* 16-bit PCM WAV of n samples (the format every server reads). */
static int wav_bytes(const float *x, size_t n, buf *b)
{
    b->n = 0;
    uint32_t data = (uint32_t)(n * 2);
    if (buf_add(b, "RIFF", 4) || put_u32(b, 36 + data) || buf_add(b, "WAVEfmt ", 8) ||
        put_u32(b, 16) || put_u32(b, 1 | (1u << 16)) || put_u32(b, 16000) ||
        put_u32(b, 32000) || put_u32(b, 2 | (16u << 16)) || buf_add(b, "data", 4) ||
        put_u32(b, data))
        return -1;
    for (size_t i = 0; i < n; i++) {
        float v = x[i] * 32767.0f;
        int s = v > 32767.0f ? 32767 : v < -32768.0f ? -32768 : (int)(v < 0 ? v - 0.5f : v + 0.5f);
        unsigned char le[2] = { (unsigned char)(s & 0xff), (unsigned char)((s >> 8) & 0xff) };
        if (buf_add(b, le, 2))
            return -1;
    }
    return 0;
}

/* "<|xx|>" language tokens of a prefix (not the task or timestamp tokens) -> "xx". */
static void prefix_language(const char *pre, char *lang, size_t n)
{
    lang[0] = 0;
    for (const char *p = strstr(pre, "<|"); p; p = strstr(p + 2, "<|")) {
        const char *e = strstr(p + 2, "|>");
        size_t k = e ? (size_t)(e - p - 2) : 0;
        if (k >= 2 && k <= 3 && k < n) {
            memcpy(lang, p + 2, k);
            lang[k] = 0;
            return;
        }
    }
}

/* Server-sent events received so far: each "data: {...}" line of type transcript.text.delta
 * appends its delta to the partial text and calls rq->partial; .done keeps its text. */
static void sse_feed(hconn *c)
{
    for (;;) {
        char *line = c->resp.p + c->sse_done, *nl = memchr(line, '\n', c->resp.n - c->sse_done);
        if (!nl)
            return;
        c->sse_done = (size_t)(nl - c->resp.p) + 1;
        if (strncmp(line, "data:", 5) != 0)
            continue;
        json_t *j = json_loadb(line + 5, (size_t)(nl - line - 5), 0, NULL);
        const char *type = json_string_value(json_object_get(j, "type"));
        const char *delta = json_string_value(json_object_get(j, "delta"));
        const char *text = json_string_value(json_object_get(j, "text"));
        if (type && !strcmp(type, "transcript.text.delta") && delta) {
            size_t a = c->stream_text ? strlen(c->stream_text) : 0, d = strlen(delta);
            char *t = realloc(c->stream_text, a + d + 1);
            if (t) {
                memcpy(t + a, delta, d + 1);
                c->stream_text = t;
                c->rq->partial(c->rq->partial_user, t);
            }
        } else if (type && !strcmp(type, "transcript.text.done") && text) {
            free(c->stream_text);
            c->stream_text = strdup(text);
        }
        json_decref(j);
    }
}

static int openai_infer(hconn *c, const cl_request *rq, cl_reply *out)
{
    if (rq->rows != 1) {
        snprintf(out->err, sizeof(out->err), "OpenAI takes one file a request (batch size 1)");
        return -1;
    }
    const char *pre = rq->text_prefix ? rq->text_prefix : CL_DEFAULT_PREFIX;
    char lang[8];
    prefix_language(pre, lang, sizeof(lang));
    int translate = strstr(pre, "<|translate|>") != NULL, stream = rq->partial != NULL;
    if (wav_bytes(rq->pcm, (size_t)rq->lens[0], &c->body) != 0) {
        snprintf(out->err, sizeof(out->err), "out of memory");
        return -1;
    }
    curl_mime *m = curl_mime_init(c->h);
    curl_mimepart *f = curl_mime_addpart(m);
    curl_mime_name(f, "file");
    curl_mime_filename(f, "audio.wav");
    curl_mime_type(f, "audio/wav");
    curl_mime_data(f, c->body.p, c->body.n);
    const char *fields[][2] = { { "model", c->model }, { "response_format", "json" },
                                { "language", lang }, { "stream", stream ? "true" : NULL } };
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        if (!fields[i][1] || !fields[i][1][0] || (translate && !strcmp(fields[i][0], "language")))
            continue;
        curl_mimepart *p = curl_mime_addpart(m);
        curl_mime_name(p, fields[i][0]);
        curl_mime_data(p, fields[i][1], CURL_ZERO_TERMINATED);
    }
    c->rq = rq;
    c->sse_done = 0;
    free(c->stream_text);
    c->stream_text = NULL;
    long status = 0;
    int rc = request(c, translate ? "/v1/audio/translations" : "/v1/audio/transcriptions", NULL, 0,
                     NULL, m, &status, out->err, sizeof(out->err));
    c->rq = NULL;
    curl_mime_free(m);
    if (answered(c, rc, status, out) != 0)
        return -1;
    char *text = NULL;
    if (stream) {
        text = c->stream_text ? strdup(c->stream_text) : NULL;
    } else {
        json_t *j = json_loadb(c->resp.p ? c->resp.p : "", c->resp.n, 0, NULL);
        const char *t = json_string_value(json_object_get(j, "text"));
        text = t ? strdup(t) : NULL;
        json_decref(j);
    }
    out->texts = text ? malloc(sizeof(char *)) : NULL;
    if (!out->texts) {
        free(text);
        out->status = -1;
        snprintf(out->err, sizeof(out->err), "the answer has no text: %.200s",
                 c->resp.p ? c->resp.p : "");
        return -1;
    }
    out->texts[0] = text;
    out->n = 1;
    return 0;
}

/* ---------------------------------------------------------------- the transport ------------ */

static int http_infer(void *p, const cl_request *rq, cl_reply *out)
{
    hconn *c = p;
    return c->proto == CL_OPENAI ? openai_infer(c, rq, out) : kserve_infer(c, rq, out);
}

static int http_health(void *p, char *err, size_t err_size)
{
    hconn *c = p;
    char model[512];
    snprintf(model, sizeof(model), "/v2/models/%s/ready", c->model);
    const char *kserve[] = { "/v2/health/live", "/v2/health/ready", model };
    const char *openai[] = { "/v1/models" };
    const char **paths = c->proto == CL_OPENAI ? openai : kserve;
    int n = c->proto == CL_OPENAI ? 1 : 3;
    for (int i = 0; i < n; i++) {
        long status = 0;
        if (request(c, paths[i], NULL, 0, NULL, NULL, &status, err, err_size) != 0)
            return -1;
        if (status != 200) {
            snprintf(err, err_size, "GET %s: HTTP %ld", paths[i], status);
            return -1;
        }
    }
    return 0;
}

const cl_transport cl_http_transport = {
    .connect = http_connect,
    .infer = http_infer,
    .health = http_health,
    .close = http_close,
};
