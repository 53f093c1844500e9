/* serve.h — private to `hark serve`: the server's shared state, the request handlers of its
 * protocols, and its metrics. Everything runs through the public header and the batch engine:
 * each HTTP request runs on its connection's thread, its transcriptions on batch states, so
 * that requests of every protocol share the engine's rounds. */
#ifndef HARK_SERVE_H
#define HARK_SERVE_H

#include "hark.h"

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

/* Latency histogram buckets (seconds) and real-time-factor buckets of /metrics. */
#define SV_LAT_BUCKETS 12
#define SV_RTF_BUCKETS 8

typedef struct sv_metrics {
    /* [protocol: kserve (HTTP), openai, grpc, other][class: 2xx 4xx 429 5xx 503 other] */
    uint64_t requests[4][6];
    uint64_t audio_ms; /* audio transcribed */
    uint64_t lat_count[4], lat_bucket[4][SV_LAT_BUCKETS + 1];
    double lat_sum[4];
    uint64_t rtf_count, rtf_bucket[SV_RTF_BUCKETS + 1];
    double rtf_sum;
} sv_metrics;

#define SV_MAX_INSTANCES 16

typedef struct sv_server {
    /* engine instances (--instance-count): a model and a batch engine each, on its own device
     * (cuda:K, cuda:K+1, ...) or all on the CPU; a request goes to the least busy */
    hark_model *models[SV_MAX_INSTANCES];
    hark_batch *batches[SV_MAX_INSTANCES];
    int inst_busy[SV_MAX_INSTANCES]; /* transcriptions running on each (under mu) */
    int n_inst;
    int seqs_per_state;     /* sequence slots each request's state takes (beam / best-of) */
    int max_inflight;       /* requests transcribing at once (states the batch holds) */
    int max_queue;          /* requests waiting beyond those; more get 429 */
    size_t max_body;        /* bytes of a request body; more get 413 */
    double request_timeout; /* seconds (0: none) */
    int conn_timeout;       /* seconds a connection may idle, and a request body may take to
                               arrive (slow clients): 408 and closed */
    const char *model_name; /* served under this name too (besides whisper, whisper_bls, infer_bls) */
    int access_log;
    /* decoding defaults: OpenAI requests' beam size (Triton requests decode greedily, as its
     * Whisper engines do), the fallback temperature step (0: none), tokens per window (0: the
     * model's limit) */
    int beam_size, max_tokens;
    float temperature_increment;
    int suppress_eot; /* benchmark mode (--bench-tokens): every window decodes max_tokens */

    pthread_mutex_t mu;
    pthread_cond_t cv;
    int active;   /* admitted requests not yet answered */
    int draining; /* SIGTERM: refuse new work, finish what was admitted */
    sv_metrics m;
    double started;
} sv_server;

/* A response body produced while it is sent (server-sent events): serve_api.c writes, the
 * HTTP layer reads. */
typedef struct sv_stream sv_stream;
/* Waits for bytes; copies up to max into buf. Returns the count, 0 at the end. */
size_t sv_stream_read(sv_stream *s, char *buf, size_t max);
/* Stops the producer (a client gone) and frees the stream. */
void sv_stream_free(sv_stream *s);

/* A response: status, content type, body (malloc'd, owned), extra headers. */
typedef struct sv_response {
    sv_stream *stream; /* instead of body: sent as it is produced (chunked) */
    int status;
    const char *type;
    char *body;
    size_t len;
    char header_name[64], header_value[64]; /* one extra header (Retry-After, ...) or "" */
    int protocol; /* 0 kserve (HTTP), 1 openai, 2 grpc, 3 other: for the metrics */
} sv_response;

/* A request as the HTTP layer hands it over: the whole body and, for multipart forms, the
 * parsed fields. */
typedef struct sv_field {
    char *name, *filename, *value; /* value: the bytes (files too), NUL-terminated */
    size_t len;
} sv_field;

typedef struct sv_request {
    const char *method, *url;
    const char *content_type;
    const char *infer_header_len; /* Inference-Header-Content-Length, or NULL */
    char *body;
    size_t len;
    sv_field *fields;
    int n_fields;
    int client_fd;       /* to notice a client that went away (-1: unknown) */
    int (*gone)(void *); /* or this, when not NULL: non-zero once the client has gone */
    void *gone_user;
    double deadline;     /* monotonic seconds (0: none) */
} sv_request;

/* serve_api.c: the handlers. Each fills *res (status and body); never fails otherwise. */
void sv_handle(sv_server *sv, const sv_request *rq, sv_response *res);

/* cmd_serve.c: admission. Returns 0 when admitted (call sv_leave after), or the HTTP status
 * to answer (429 queue full, 503 draining). */
int sv_enter(sv_server *sv);
void sv_leave(sv_server *sv);
/* The least busy engine instance, counted busy until sv_done(sv, i). */
hark_batch *sv_pick(sv_server *sv, int *inst);
void sv_done(sv_server *sv, int inst);
/* serve_metrics.c: records a finished request (protocol 0-3 as sv_response, status, seconds). */
void sv_record(sv_server *sv, int protocol, int status, double seconds, double audio_s);
/* The Prometheus text of /metrics (malloc'd). */
char *sv_metrics_text(sv_server *sv, size_t *len);

/* A JSON error body {"error": "..."} (KServe's shape; OpenAI's is built in serve_api.c). */
void sv_error(sv_response *res, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

double sv_now(void);

/* serve_grpc.c: the KServe v2 gRPC front end (NULL when it cannot listen). sv_grpc_drain stops
 * new calls, waits for the admitted ones, ends idle streams; sv_grpc_free after it. */
typedef struct sv_grpc sv_grpc;
sv_grpc *sv_grpc_start(sv_server *sv, const char *host, int port);
void sv_grpc_drain(sv_grpc *g);
void sv_grpc_free(sv_grpc *g);

#endif
