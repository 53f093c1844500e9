/*
 * cmd_serve.c — `hark serve`: the HTTP front end (libmicrohttpd, a thread per connection), the
 * admission control, and the lifecycle (SIGTERM: stop accepting, finish every admitted request,
 * exit 0). The protocols are in serve_api.c and serve_grpc.c, the metrics in serve_metrics.c.
 *
 * Each request's transcriptions run on batch states (hark_batch_state_new) on the connection's
 * thread: the batch engine merges the engine calls of all requests of every protocol, and a
 * request that arrives while others decode joins the next round.
 */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"
#include "serve.h"

#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <malloc.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

static void serve_usage(FILE *f)
{
    fprintf(f,
        "usage: hark serve -m MODEL [options]\n"
        "  --config FILE                a JSON object of these options (\"http-port\": 8000, ...;\n"
        "                               '_' for '-' works too); the command line wins\n"
        "  -m, --model MODEL            a hark model file\n"
        "  --device DEV                 auto (default), cpu, cuda, cuda:N\n"
        "  --threads N                  CPU threads of the engine (0: all cores)\n"
        "  --host ADDR                  address to listen on (0.0.0.0)\n"
        "  --http-port N                KServe v2 / Triton and OpenAI HTTP (8000)\n"
        "  --grpc-port N                KServe v2 / Triton gRPC (8001; 0: off)\n"
        "  --metrics-port N             Prometheus /metrics (8002; 0: off)\n"
        "  --model-name NAME            also serve the model as NAME (besides whisper,\n"
        "                               whisper_bls and infer_bls)\n"
        "  --instance-count N           engines, one per GPU from --device cuda:K on (cuda:K ..\n"
        "                               cuda:K+N-1), or N on the CPU; requests go to the least\n"
        "                               busy (1)\n"
        "  --max-batch-size N           requests transcribing at once (per instance), whose\n"
        "                               decoder steps share\n"
        "                               the engine's rounds (16)\n"
        "  --max-queue-delay-us N       how long a round waits for requests still busy on the CPU\n"
        "                               (500)\n"
        "  --max-queue-size N           requests waiting beyond those; more get 429 (64)\n"
        "  --kv-cache-free-mem-fraction F  GPU memory for the decoder's KV cache (0.5)\n"
        "  --cross-kv-bits 16|8|4       cross-attention K/V of the windows in int8 / int4 (16)\n"
        "  --fp8-encoder true|false     GPU: the encoder's products in FP8 (false)\n"
        "  --max-request-mb N           request body limit in MiB; more get 413 (256)\n"
        "  --request-timeout S          seconds a request may take (0: none)\n"
        "  --connection-timeout S       seconds a connection may idle or a body take to arrive\n"
        "                               (30): slow clients get 408\n"
        "  --access-log true|false      one JSON line per request on stderr (true)\n"
        "  --warmup auto|true|false     run every engine shape once before serving (auto: on a\n"
        "                               GPU, where the first requests would otherwise pay the\n"
        "                               algorithm timing and graph captures)\n"
        "  --beam-size N                OpenAI requests' beams (5, openai/whisper's CLI; 1:\n"
        "                               greedy); Triton requests decode greedily\n"
        "  --temperature-increment X    fallback temperature step (0.2; 0: no fallback)\n"
        "  --max-tokens N               tokens per 30 s window (0: the model's limit)\n"
        "  --bench-tokens N             benchmark mode: every window decodes exactly N tokens\n"
        "                               (end of text masked, no fallback: hark bench's work\n"
        "                               unit)\n");
}

double sv_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

void sv_error(sv_response *res, int status, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    /* JSON-escape the message */
    char esc[2200];
    size_t k = 0;
    for (const char *p = msg; *p && k + 7 < sizeof(esc); p++) {
        unsigned char ch = (unsigned char)*p;
        if (ch == '"' || ch == '\\') {
            esc[k++] = '\\';
            esc[k++] = (char)ch;
        } else if (ch < 0x20) {
            k += (size_t)snprintf(esc + k, sizeof(esc) - k, "\\u%04x", ch);
        } else {
            esc[k++] = (char)ch;
        }
    }
    esc[k] = 0;
    free(res->body);
    size_t cap = k + 32;
    res->body = malloc(cap);
    res->len = res->body ? (size_t)snprintf(res->body, cap, "{\"error\":\"%s\"}", esc) : 0;
    res->status = status;
    res->type = "application/json";
}

/* ---------------------------------------------------------------- admission, metrics -------- */

int sv_enter(sv_server *sv)
{
    pthread_mutex_lock(&sv->mu);
    int st = 0;
    if (sv->draining)
        st = 503;
    else if (sv->active >= sv->max_inflight + sv->max_queue)
        st = 429;
    else
        sv->active++;
    pthread_mutex_unlock(&sv->mu);
    return st;
}

void sv_leave(sv_server *sv)
{
    pthread_mutex_lock(&sv->mu);
    int idle = --sv->active == 0;
    pthread_cond_broadcast(&sv->cv);
    pthread_mutex_unlock(&sv->mu);
    /* a burst's request bodies and buffers are spread over the allocator's arenas: give the
     * free pages back when the server goes idle, so that its footprint follows its load */
    if (idle)
        malloc_trim(0);
}

hark_batch *sv_pick(sv_server *sv, int *inst)
{
    pthread_mutex_lock(&sv->mu);
    int best = 0;
    for (int i = 1; i < sv->n_inst; i++)
        if (sv->inst_busy[i] < sv->inst_busy[best])
            best = i;
    sv->inst_busy[best]++;
    pthread_mutex_unlock(&sv->mu);
    *inst = best;
    return sv->batches[best];
}

void sv_done(sv_server *sv, int inst)
{
    pthread_mutex_lock(&sv->mu);
    sv->inst_busy[inst]--;
    pthread_mutex_unlock(&sv->mu);
}

/* ---------------------------------------------------------------- HTTP ---------------------- */

/* What a connection's request has gathered while its body arrives. */
typedef struct conn_ctx {
    char *body;
    size_t len, cap;
    struct MHD_PostProcessor *pp;
    sv_field *fields;
    int n_fields, cap_fields;
    size_t field_bytes;
    int too_big, bad_form, answered;
    int admitted; /* counted in sv->active until the request completes */
    double t0;
} conn_ctx;

static sv_server *g_sv;

static int append(char **buf, size_t *len, size_t *cap, const char *data, size_t n)
{
    if (*len + n + 1 > *cap) {
        size_t c = *cap ? *cap : 65536;
        while (c < *len + n + 1)
            c *= 2;
        char *q = realloc(*buf, c);
        if (!q)
            return -1;
        *buf = q;
        *cap = c;
    }
    memcpy(*buf + *len, data, n);
    *len += n;
    (*buf)[*len] = 0;
    return 0;
}

static enum MHD_Result post_iter(void *cls, enum MHD_ValueKind kind, const char *key,
                                 const char *filename, const char *content_type,
                                 const char *transfer_encoding, const char *data, uint64_t off,
                                 size_t size)
{
    (void)kind, (void)content_type, (void)transfer_encoding;
    conn_ctx *cc = cls;
    cc->field_bytes += size;
    if (cc->field_bytes > g_sv->max_body) {
        cc->too_big = 1;
        return MHD_NO;
    }
    sv_field *f = NULL;
    if (off == 0 || cc->n_fields == 0 || strcmp(cc->fields[cc->n_fields - 1].name, key) != 0) {
        if (cc->n_fields == cc->cap_fields) {
            int c = cc->cap_fields ? 2 * cc->cap_fields : 8;
            sv_field *q = realloc(cc->fields, (size_t)c * sizeof(*q));
            if (!q)
                return MHD_NO;
            cc->fields = q;
            cc->cap_fields = c;
        }
        f = &cc->fields[cc->n_fields++];
        memset(f, 0, sizeof(*f));
        f->name = strdup(key ? key : "");
        f->filename = filename ? strdup(filename) : NULL;
        f->value = calloc(1, 1);
        if (!f->name || !f->value)
            return MHD_NO;
    } else {
        f = &cc->fields[cc->n_fields - 1];
    }
    size_t cap = f->len + 1;
    if (size && append(&f->value, &f->len, &cap, data, size) != 0)
        return MHD_NO;
    return MHD_YES;
}

/* Parses a whole multipart/form-data body into cc->fields with libmicrohttpd's post processor.
 * The epilogue after the closing delimiter is cut first: RFC 2046 allows one (the OpenAI Node
 * SDK ends its bodies with a blank line there), libmicrohttpd 0.9.75 rejects it. */
static void parse_form(struct MHD_Connection *c, const char *ct, conn_ctx *cc)
{
    const char *b = NULL;
    for (const char *p = ct; *p && !b; p++)
        if (strncasecmp(p, "boundary=", 9) == 0)
            b = p;
    size_t len = cc->len;
    if (b) {
        b += 9;
        char bound[200];
        size_t k = 0;
        if (*b == '"')
            b++;
        while (*b && *b != '"' && *b != ';' && *b != ' ' && k + 1 < sizeof(bound))
            bound[k++] = *b++;
        bound[k] = 0;
        char close[220];
        int cl = snprintf(close, sizeof(close), "--%s--", bound);
        for (size_t i = cc->len >= (size_t)cl ? cc->len - (size_t)cl + 1 : 0; i-- > 0;) {
            if (cc->body && memcmp(cc->body + i, close, (size_t)cl) == 0) {
                len = i + (size_t)cl;
                if (len + 2 <= cc->len && cc->body[len] == '\r' && cc->body[len + 1] == '\n')
                    len += 2;
                break;
            }
        }
    }
    cc->pp = MHD_create_post_processor(c, 64 * 1024, post_iter, cc);
    if (!cc->pp || (len && MHD_post_process(cc->pp, cc->body, len) != MHD_YES))
        cc->bad_form = !cc->too_big;
    if (cc->pp)
        MHD_destroy_post_processor(cc->pp);
    cc->pp = NULL;
    free(cc->body); /* the fields hold the data now */
    cc->body = NULL;
    cc->len = cc->cap = 0;
}

static void conn_free(conn_ctx *cc)
{
    if (!cc)
        return;
    if (cc->pp)
        MHD_destroy_post_processor(cc->pp);
    for (int i = 0; i < cc->n_fields; i++)
        free(cc->fields[i].name), free(cc->fields[i].filename), free(cc->fields[i].value);
    free(cc->fields);
    free(cc->body);
    free(cc);
}

static ssize_t stream_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    size_t n = sv_stream_read(cls, buf, max); /* blocks: a thread per connection */
    return n ? (ssize_t)n : MHD_CONTENT_READER_END_OF_STREAM;
}

static void stream_done(void *cls) { sv_stream_free(cls); }

static enum MHD_Result send_response(struct MHD_Connection *c, sv_response *res)
{
    struct MHD_Response *r;
    if (res->stream) {
        r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, stream_reader, res->stream,
                                              stream_done);
        if (!r) {
            sv_stream_free(res->stream);
            return MHD_NO;
        }
        res->stream = NULL;
        MHD_add_response_header(r, "Cache-Control", "no-cache");
    } else {
        r = MHD_create_response_from_buffer(res->len, res->body ? res->body : (void *)"",
                                            res->body ? MHD_RESPMEM_MUST_FREE
                                                      : MHD_RESPMEM_PERSISTENT);
        if (!r)
            return MHD_NO;
        res->body = NULL; /* owned by the response now */
    }
    if (res->type)
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, res->type);
    if (res->header_name[0])
        MHD_add_response_header(r, res->header_name, res->header_value);
    if (res->status == 429 || res->status == 503)
        MHD_add_response_header(r, "Retry-After", "1");
    enum MHD_Result ret = MHD_queue_response(c, (unsigned)res->status, r);
    MHD_destroy_response(r);
    return ret;
}

static void access_log(const char *method, const char *url, int status, double ms, size_t bytes)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    struct tm tm;
    gmtime_r(&t.tv_sec, &tm);
    char ts[32];
    strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
    char path[256];
    size_t k = 0;
    for (const char *p = url; *p && k + 1 < sizeof(path); p++) /* no quotes or controls */
        path[k++] = (*p == '"' || *p == '\\' || (unsigned char)*p < 0x20) ? '_' : *p;
    path[k] = 0;
    fprintf(stderr, "{\"ts\":\"%s.%03ldZ\",\"method\":\"%s\",\"path\":\"%s\",\"status\":%d,"
            "\"ms\":%.1f,\"bytes\":%zu}\n", ts, t.tv_nsec / 1000000L, method, path, status, ms,
            bytes);
}

/* Answers a request before its body is read or complete (413, 429, 503, 408), logged and
 * counted as the others; the connection closes after it. */
static enum MHD_Result answer_early(sv_server *sv, struct MHD_Connection *c, conn_ctx *cc,
                                    const char *method, const char *url, sv_response *res)
{
    cc->answered = 1;
    if (sv->access_log)
        access_log(method, url, res->status, 1e3 * (sv_now() - cc->t0), 0);
    sv_record(sv, strncmp(url, "/v1/", 4) == 0 ? 1 : 0, res->status, 0.0, 0.0);
    return send_response(c, res);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_size, void **con_cls)
{
    (void)version;
    sv_server *sv = cls;
    conn_ctx *cc = *con_cls;
    if (!cc) {
        cc = calloc(1, sizeof(*cc));
        if (!cc)
            return MHD_NO;
        cc->t0 = sv_now();
        *con_cls = cc;
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                                     MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl && strtoull(cl, NULL, 10) > sv->max_body) { /* refused before reading it */
            sv_response res = { 0 };
            sv_error(&res, 413, "request body of %s bytes: the limit is %zu", cl, sv->max_body);
            return answer_early(sv, c, cc, method, url, &res);
        }
        if (!strcmp(method, "POST")) { /* admission before the body is read */
            int adm = sv_enter(sv);
            if (adm) {
                sv_response res = { 0 };
                sv_error(&res, adm, adm == 429 ? "server busy: the queue is full, retry later"
                                               : "server shutting down");
                return answer_early(sv, c, cc, method, url, &res);
            }
            cc->admitted = 1;
        }
        return MHD_YES;
    }
    if (cc->answered) { /* a body after an early answer: swallowed */
        *upload_size = 0;
        return MHD_YES;
    }
    if (*upload_size && sv_now() - cc->t0 > (double)sv->conn_timeout) {
        /* a body trickling in (slowloris): answered and closed, its thread freed */
        sv_response res = { 0 };
        sv_error(&res, 408, "the request body took longer than %d s to arrive", sv->conn_timeout);
        *upload_size = 0;
        return answer_early(sv, c, cc, method, url, &res);
    }
    if (*upload_size) {
        if (!cc->too_big && !cc->bad_form) {
            if (cc->len + *upload_size > sv->max_body) {
                cc->too_big = 1;
                free(cc->body);
                cc->body = NULL;
                cc->len = cc->cap = 0;
            } else if (append(&cc->body, &cc->len, &cc->cap, upload_data, *upload_size) != 0) {
                cc->too_big = 1;
            }
        }
        *upload_size = 0;
        return MHD_YES;
    }
    sv_response res = { .protocol = strncmp(url, "/v1/", 4) == 0 ? 1 : 0 };
    double audio_s = 0.0;
    const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
    if (!cc->too_big && ct && strncasecmp(ct, "multipart/form-data", 19) == 0)
        parse_form(c, ct, cc);
    if (cc->too_big) {
        sv_error(&res, 413, "request body larger than the limit of %zu bytes", sv->max_body);
    } else if (cc->bad_form) {
        sv_error(&res, 400, "malformed multipart/form-data body");
    } else {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        sv_request rq = {
            .method = method, .url = url,
            .content_type = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                                        MHD_HTTP_HEADER_CONTENT_TYPE),
            .infer_header_len = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                                            "Inference-Header-Content-Length"),
            .body = cc->body, .len = cc->len, .fields = cc->fields, .n_fields = cc->n_fields,
            .client_fd = ci ? ci->connect_fd : -1,
            .deadline = sv->request_timeout > 0 ? cc->t0 + sv->request_timeout : 0.0,
        };
        sv_handle(sv, &rq, &res);
    }
    double secs = sv_now() - cc->t0;
    /* the audio seconds a transcription reported ride in the X-Audio-Seconds header */
    if (!strcmp(res.header_name, "X-Audio-Seconds"))
        audio_s = atof(res.header_value);
    sv_record(sv, res.protocol, res.status, secs, audio_s);
    if (sv->access_log)
        access_log(method, url, res.status, 1e3 * secs, res.len);
    return send_response(c, &res);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)c, (void)toe;
    conn_ctx *cc = *con_cls;
    if (cc && cc->admitted)
        sv_leave(cls);
    conn_free(cc);
    *con_cls = NULL;
}

static enum MHD_Result on_metrics(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_size, void **con_cls)
{
    (void)version, (void)upload_data;
    sv_server *sv = cls;
    if (*con_cls == NULL) {
        *con_cls = (void *)1;
        return MHD_YES;
    }
    *upload_size = 0;
    sv_response res = { 0 };
    if (strcmp(url, "/metrics") != 0) {
        sv_error(&res, 404, "no such path: %s (metrics are at /metrics)", url);
    } else if (strcmp(method, "GET") != 0) {
        sv_error(&res, 405, "/metrics takes GET");
    } else {
        res.status = 200;
        res.type = "text/plain; version=0.0.4";
        res.body = sv_metrics_text(sv, &res.len);
    }
    return send_response(c, &res);
}

static struct MHD_Daemon *start_daemon(const char *host, int port, MHD_AccessHandlerCallback fn,
                                       sv_server *sv, int with_completion)
{
    struct sockaddr_in a;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &a.sin_addr) != 1) {
        fprintf(stderr, "hark serve: --host %s: not an IPv4 address\n", host);
        return NULL;
    }
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                     MHD_USE_ERROR_LOG;
    if (with_completion)
        return MHD_start_daemon(flags, (uint16_t)port, NULL, NULL, fn, sv,
                                MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&a,
                                MHD_OPTION_NOTIFY_COMPLETED, on_completed, sv,
                                MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)sv->conn_timeout,
                                MHD_OPTION_CONNECTION_LIMIT, (unsigned)2048,
                                MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned)1, MHD_OPTION_END);
    return MHD_start_daemon(flags, (uint16_t)port, NULL, NULL, fn, sv, MHD_OPTION_SOCK_ADDR,
                            (struct sockaddr *)&a, MHD_OPTION_CONNECTION_TIMEOUT,
                            (unsigned)sv->conn_timeout,
                            MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned)1, MHD_OPTION_END);
}

/* ---------------------------------------------------------------- the command --------------- */

static int parse_bool(const char *s, int *out)
{
    if (!strcasecmp(s, "true") || !strcmp(s, "1")) {
        *out = 1;
        return 0;
    }
    if (!strcasecmp(s, "false") || !strcmp(s, "0")) {
        *out = 0;
        return 0;
    }
    return -1;
}

/* The options of a --config file as command-line words (argv[0] is kept; the file's options
 * come first, so that the command line's own win). Returns the new argc, -1 on an error. */
static int config_argv(int argc, char **argv, char ***out, json_t **keep)
{
    const char *path = NULL;
    for (int i = 1; i + 1 < argc; i++)
        if (!strcmp(argv[i], "--config"))
            path = argv[i + 1];
    *out = argv;
    *keep = NULL;
    if (!path)
        return argc;
    json_error_t je;
    json_t *cfg = json_load_file(path, 0, &je);
    if (!json_is_object(cfg)) {
        fprintf(stderr, "hark serve: --config %s: %s (line %d)\n", path,
                cfg ? "not a JSON object" : je.text, je.line);
        json_decref(cfg);
        return -1;
    }
    size_t n = json_object_size(cfg);
    char **v = calloc((size_t)argc + 2 * n + 1, sizeof(char *));
    json_t *strs = json_array(); /* keeps the made strings alive with the file */
    if (!v || !strs) {
        free(v);
        json_decref(cfg);
        json_decref(strs);
        return -1;
    }
    int k = 0;
    v[k++] = argv[0];
    const char *key;
    json_t *val;
    json_object_foreach(cfg, key, val) {
        char opt[128], num[64];
        snprintf(opt, sizeof(opt), "--%s", key);
        for (char *p = opt; *p; p++)
            if (*p == '_')
                *p = '-';
        const char *sv = NULL;
        if (json_is_string(val))
            sv = json_string_value(val);
        else if (json_is_integer(val))
            snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(val)), sv = num;
        else if (json_is_real(val))
            snprintf(num, sizeof(num), "%.17g", json_real_value(val)), sv = num;
        else if (json_is_boolean(val))
            sv = json_is_true(val) ? "true" : "false";
        if (!sv || !strcmp(opt, "--config")) {
            fprintf(stderr, "hark serve: --config %s: '%s' must be a string, number or boolean\n",
                    path, key);
            free(v);
            json_decref(cfg);
            json_decref(strs);
            return -1;
        }
        json_array_append_new(strs, json_string(opt));
        v[k++] = (char *)json_string_value(json_array_get(strs, json_array_size(strs) - 1));
        json_array_append_new(strs, json_string(sv));
        v[k++] = (char *)json_string_value(json_array_get(strs, json_array_size(strs) - 1));
    }
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--config") && i + 1 < argc) {
            i++;
            continue;
        }
        v[k++] = argv[i];
    }
    json_object_set_new(cfg, " strings", strs);
    *out = v;
    *keep = cfg;
    return k;
}

static int serve_main(int argc, char **argv);

static void free_engines(sv_server *sv)
{
    for (int i = 0; i < SV_MAX_INSTANCES; i++) {
        hark_batch_free(sv->batches[i]);
        hark_model_free(sv->models[i]);
        sv->batches[i] = NULL;
        sv->models[i] = NULL;
    }
}

int cmd_serve(int argc, char **argv)
{
    json_t *cfg_keep = NULL;
    char **cfg_argv = NULL;
    int n = config_argv(argc, argv, &cfg_argv, &cfg_keep);
    if (n < 0)
        return 2;
    int rc = serve_main(n, cfg_argv);
    if (cfg_argv != argv)
        free(cfg_argv);
    json_decref(cfg_keep);
    return rc;
}

static int serve_main(int argc, char **argv)
{
    const char *model = NULL, *device = NULL, *host = "0.0.0.0", *name = NULL;
    long threads = 0, http_port = 8000, grpc_port = 8001, metrics_port = 8002, max_batch = 16;
    long wait_us = 500;
    long max_queue = 64, kv_bits = 16, max_mb = 256, beam = 5, max_tokens = 0, conn_to = 30;
    long bench_tokens = 0, n_inst = 1;
    double timeout = 0.0, kv_frac = 0.5, temp_inc = 0.2;
    int log = 1, warmup = -1, fp8 = 0; /* warmup -1: auto */
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        long *lv = NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            serve_usage(stdout);
            return 0;
        }
        if (!v) {
            fprintf(stderr, "hark serve: unknown or incomplete option '%s'\n", a);
            serve_usage(stderr);
            return 2;
        }
        i++;
        if (!strcmp(a, "-m") || !strcmp(a, "--model"))
            model = v;
        else if (!strcmp(a, "--device"))
            device = v;
        else if (!strcmp(a, "--host"))
            host = v;
        else if (!strcmp(a, "--model-name"))
            name = v;
        else if (!strcmp(a, "--threads"))
            lv = &threads;
        else if (!strcmp(a, "--http-port"))
            lv = &http_port;
        else if (!strcmp(a, "--metrics-port"))
            lv = &metrics_port;
        else if (!strcmp(a, "--grpc-port"))
            lv = &grpc_port;
        else if (!strcmp(a, "--max-batch-size"))
            lv = &max_batch;
        else if (!strcmp(a, "--max-queue-delay-us"))
            lv = &wait_us;
        else if (!strcmp(a, "--max-queue-size"))
            lv = &max_queue;
        else if (!strcmp(a, "--cross-kv-bits"))
            lv = &kv_bits;
        else if (!strcmp(a, "--max-request-mb"))
            lv = &max_mb;
        else if (!strcmp(a, "--beam-size"))
            lv = &beam;
        else if (!strcmp(a, "--max-tokens"))
            lv = &max_tokens;
        else if (!strcmp(a, "--connection-timeout"))
            lv = &conn_to;
        else if (!strcmp(a, "--bench-tokens"))
            lv = &bench_tokens;
        else if (!strcmp(a, "--instance-count"))
            lv = &n_inst;
        else if (!strcmp(a, "--request-timeout") || !strcmp(a, "--kv-cache-free-mem-fraction") ||
                 !strcmp(a, "--temperature-increment")) {
            char *end;
            double d = strtod(v, &end);
            if (*end || !(d >= 0.0)) {
                fprintf(stderr, "hark serve: %s %s: not a number\n", a, v);
                return 2;
            }
            *(!strcmp(a, "--request-timeout") ? &timeout
              : !strcmp(a, "--temperature-increment") ? &temp_inc : &kv_frac) = d;
        } else if (!strcmp(a, "--warmup")) {
            if (strcmp(v, "auto") && parse_bool(v, &warmup) != 0) {
                fprintf(stderr, "hark serve: --warmup %s: auto, true or false\n", v);
                return 2;
            }
            if (!strcmp(v, "auto"))
                warmup = -1;
        } else if (!strcmp(a, "--access-log")) {
            if (parse_bool(v, &log) != 0) {
                fprintf(stderr, "hark serve: --access-log %s: true or false\n", v);
                return 2;
            }
        } else if (!strcmp(a, "--fp8-encoder")) {
            if (parse_bool(v, &fp8) != 0) {
                fprintf(stderr, "hark serve: --fp8-encoder %s: true or false\n", v);
                return 2;
            }
        } else {
            fprintf(stderr, "hark serve: unknown option '%s'\n", a);
            serve_usage(stderr);
            return 2;
        }
        if (lv && (*lv = cli_long(v)) < 0) {
            fprintf(stderr, "hark serve: %s %s: not a non-negative integer\n", a, v);
            return 2;
        }
    }
    if (!model) {
        fprintf(stderr, "hark serve: -m MODEL is required\n");
        serve_usage(stderr);
        return 2;
    }
    if (http_port < 1 || http_port > 65535 || metrics_port > 65535 || grpc_port > 65535 ||
        max_batch < 1 ||
        max_batch > 1024 || (kv_bits != 8 && kv_bits != 16 && kv_bits != 4) || max_mb < 1 || max_mb > 65536 ||
        !(kv_frac > 0.0 && kv_frac <= 1.0) || wait_us > 1000000 || beam < 1 || beam > 16 ||
        max_tokens > 224 || conn_to < 1 || conn_to > 3600 || bench_tokens > 224 || n_inst < 1 ||
        n_inst > SV_MAX_INSTANCES) {
        fprintf(stderr, "hark serve: an option is out of range (ports 1-65535, --max-batch-size "
                "1-1024, --cross-kv-bits 16|8|4, --max-request-mb 1-65536, "
                "--kv-cache-free-mem-fraction (0, 1], --max-queue-delay-us <= 1000000, "
                "--beam-size 1-16, --max-tokens <= 224, --connection-timeout 1-3600, "
                "--instance-count 1-16)\n");
        return 2;
    }
    /* a thread per connection: glibc would give each its own malloc arena, and memory would
     * creep up with the number of connections seen; a few shared arenas keep it flat */
    mallopt(M_ARENA_MAX, 4);
    int cuda_base = -1;
    if (n_inst > 1) { /* several engines: explicit devices */
        if (device && !strcmp(device, "cpu")) {
            cuda_base = -1;
        } else if (device && !strncmp(device, "cuda", 4) &&
                   (device[4] == 0 || (device[4] == ':' && cli_long(device + 5) >= 0))) {
            cuda_base = device[4] ? (int)cli_long(device + 5) : 0;
        } else {
            fprintf(stderr, "hark serve: --instance-count %ld needs --device cpu or cuda[:K]\n",
                    n_inst);
            return 2;
        }
    }
    static sv_server sv;
    memset(&sv, 0, sizeof(sv));
    for (int i = 0; i < n_inst; i++) {
        char dev[32];
        if (n_inst > 1 && cuda_base >= 0)
            snprintf(dev, sizeof(dev), "cuda:%d", cuda_base + i);
        sv.models[i] = cli_load_model(model, (int)threads,
                                      n_inst > 1 && cuda_base >= 0 ? dev : device, -1, fp8);
        if (!sv.models[i]) {
            for (int k = 0; k < i; k++)
                hark_model_free(sv.models[k]);
            return 1;
        }
    }
    sv.n_inst = (int)n_inst;
    hark_model *m = sv.models[0];
    sv.beam_size = (int)beam;
    sv.max_tokens = (int)max_tokens;
    sv.temperature_increment = (float)temp_inc;
    if (bench_tokens > 0) {
        sv.max_tokens = (int)bench_tokens;
        sv.suppress_eot = 1;
        sv.temperature_increment = 0.0f;
    }
    sv.seqs_per_state = beam > 5 ? (int)beam : 5; /* beams, or best-of 5 when falling back */
    sv.max_inflight = (int)(max_batch * n_inst);
    sv.max_queue = (int)max_queue;
    sv.max_body = (size_t)max_mb << 20;
    sv.request_timeout = timeout;
    sv.model_name = name;
    sv.access_log = log;
    sv.conn_timeout = (int)conn_to;
    sv.started = sv_now();
    pthread_mutex_init(&sv.mu, NULL);
    pthread_cond_init(&sv.cv, NULL);
    g_sv = &sv;
    hark_batch_params bp = hark_batch_default_params();
    bp.max_windows = (int)max_batch;
    bp.max_sequences = (int)max_batch * sv.seqs_per_state;
    bp.max_wait_us = (int)wait_us;
    bp.kv_cache_free_mem_fraction = (float)kv_frac;
    bp.cross_kv_bits = (int)kv_bits;
    for (int i = 0; i < sv.n_inst; i++) {
        hark_status st = hark_batch_new(sv.models[i], &bp, &sv.batches[i]);
        hark_stats ds;
        int gpu = st == HARK_OK && hark_batch_device_stats(sv.batches[i], &ds) == HARK_OK &&
                  ds.device && !strncmp(ds.device, "cuda", 4);
        if (st == HARK_OK && (warmup == 1 || (warmup == -1 && gpu))) {
            double t0 = sv_now();
            st = hark_batch_warmup(sv.batches[i]);
            if (st == HARK_OK)
                fprintf(stderr, "hark serve: engine %d warmed up in %.1f s\n", i, sv_now() - t0);
        }
        if (st != HARK_OK) {
            free_engines(&sv);
            return cli_error("cannot start the engine", st);
        }
    }
    /* SIGTERM and SIGINT are taken by sigwait below; every thread inherits the mask */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    struct MHD_Daemon *http = start_daemon(host, (int)http_port, on_request, &sv, 1);
    struct MHD_Daemon *metrics = NULL;
    if (http && metrics_port > 0)
        metrics = start_daemon(host, (int)metrics_port, on_metrics, &sv, 0);
    if (!http || (metrics_port > 0 && !metrics)) {
        fprintf(stderr, "hark serve: cannot listen on %s:%ld%s: %s\n", host,
                http ? metrics_port : http_port, http ? " (metrics)" : "", strerror(errno));
        if (http)
            MHD_stop_daemon(http);
        free_engines(&sv);
        return 1;
    }
    sv_grpc *grpc = NULL;
#ifdef HARK_WITH_GRPC
    if (grpc_port > 0 && !(grpc = sv_grpc_start(&sv, host, (int)grpc_port))) {
        fprintf(stderr, "hark serve: cannot listen on %s:%ld (gRPC)\n", host, grpc_port);
        MHD_stop_daemon(http);
        if (metrics)
            MHD_stop_daemon(metrics);
        free_engines(&sv);
        return 1;
    }
#else
    if (grpc_port > 0 && grpc_port != 8001)
        fprintf(stderr, "hark serve: built without gRPC: --grpc-port ignored\n");
#endif
    fprintf(stderr, "hark serve: %s (%s): HTTP %s:%ld (KServe v2 /v2, OpenAI /v1)", model,
            hark_model_arch(m), host, http_port);
    if (grpc)
        fprintf(stderr, ", gRPC %s:%ld (KServe v2)", host, grpc_port);
    fprintf(stderr, "; %d engine%s (%s), batch of %ld requests each, queue %ld\n", sv.n_inst,
            sv.n_inst > 1 ? "s" : "", cuda_base >= 0 ? "one per GPU" : device ? device : "auto",
            max_batch, max_queue);
    if (metrics)
        fprintf(stderr, "hark serve: metrics on %s:%ld/metrics\n", host, metrics_port);
    int sig = 0;
    sigwait(&set, &sig);
    fprintf(stderr, "hark serve: %s: draining (new requests refused, admitted ones finish)\n",
            sig == SIGTERM ? "SIGTERM" : "SIGINT");
    pthread_mutex_lock(&sv.mu);
    sv.draining = 1;
    pthread_mutex_unlock(&sv.mu);
    MHD_socket lsock = MHD_quiesce_daemon(http); /* no new connections */
    if (lsock != MHD_INVALID_SOCKET)
        close(lsock);
#ifdef HARK_WITH_GRPC
    sv_grpc_drain(grpc); /* no new calls */
#endif
    pthread_mutex_lock(&sv.mu);
    while (sv.active > 0)
        pthread_cond_wait(&sv.cv, &sv.mu);
    pthread_mutex_unlock(&sv.mu);
#ifdef HARK_WITH_GRPC
    sv_grpc_free(grpc);
#endif
    MHD_stop_daemon(http);
    if (metrics)
        MHD_stop_daemon(metrics);
    free_engines(&sv);
    fprintf(stderr, "hark serve: stopped\n");
    return 0;
}
