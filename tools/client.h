/*
 * client.h — the transports of `hark client`: one connection to a Whisper server, used by one
 * thread at a time. KServe v2 / Triton over HTTP (binary tensors) or gRPC, as the seed's Triton
 * client sends them (WAV [B, N] FP32, WAV_LENS [B, 1] INT32, TEXT_PREFIX [B, 1] BYTES ->
 * TRANSCRIPTS), and OpenAI's /v1/audio/transcriptions (multipart, one file a request). Works
 * against hark serve and any server that speaks these protocols.
 *
 * What it is not: the bench's scheduling or statistics (cmd_client.c), nor audio decoding (the
 * caller hands 16 kHz mono samples).
 */
#ifndef HARK_CLIENT_H
#define HARK_CLIENT_H

#include <stddef.h>
#include <stdint.h>

typedef enum cl_protocol { CL_HTTP, CL_GRPC, CL_OPENAI } cl_protocol;

/* Where requests go. url: "http://host:port" for HTTP and OpenAI (a path prefix is kept, e.g.
 * "http://host/api"), "host:port" for gRPC (an "http://" or "grpc://" prefix is dropped). */
typedef struct cl_target {
    cl_protocol protocol;
    const char *url;
    const char *model;  /* KServe model name, OpenAI "model" field (NULL: "whisper") */
    double timeout_s;   /* per request; 0: none */
} cl_target;

/* One request of `rows` windows: row r is pcm[r * stride ...], lens[r] samples of it real (16 kHz
 * mono), the rest zeros. text_prefix applies to every row (NULL: the seed's default,
 * "<|startoftranscript|><|en|><|transcribe|><|notimestamps|>"); OpenAI takes language and task
 * from it. With partial set, gRPC uses ModelStreamInfer and OpenAI stream=true, and partial gets
 * each partial transcript as it arrives (row 0; only rows == 1). */
typedef struct cl_request {
    const float *pcm;
    int rows;
    size_t stride;
    const int32_t *lens;
    const char *text_prefix;
    void (*partial)(void *user, const char *text);
    void *partial_user;
} cl_request;

/* What came back: texts[rows] (owned, cl_reply_free), or status and err on failure. status is
 * the HTTP status (200 ok) or the gRPC status code (0 ok; an unreachable server is gRPC's 14,
 * a deadline 4, an error inside a stream 2); -1 when an HTTP server could not be reached or an
 * answer could not be read. */
typedef struct cl_reply {
    char **texts;
    int n;
    int status;
    char err[512];
} cl_reply;

typedef struct cl_conn cl_conn;

/* A connection (kept open across requests where the protocol allows); NULL with err filled. */
cl_conn *cl_connect(const cl_target *t, char *err, size_t err_size);
/* Sends rq and waits for its answer: 0 with out filled, -1 with out->status and out->err. */
int cl_infer(cl_conn *c, const cl_request *rq, cl_reply *out);
/* Checks server liveness, readiness and the model's readiness: 0 when all are ready, else -1
 * with err saying which is not. */
int cl_health(cl_conn *c, char *err, size_t err_size);
void cl_close(cl_conn *c);
void cl_reply_free(cl_reply *r);

/* The seed's default text prefix. */
#define CL_DEFAULT_PREFIX "<|startoftranscript|><|en|><|transcribe|><|notimestamps|>"

/* ---- what each transport provides (client_http.c, client_grpc.c) ---- */

typedef struct cl_transport {
    void *(*connect)(const cl_target *t, char *err, size_t err_size);
    int (*infer)(void *c, const cl_request *rq, cl_reply *out);
    int (*health)(void *c, char *err, size_t err_size);
    void (*close)(void *c);
} cl_transport;

extern const cl_transport cl_http_transport;   /* CL_HTTP and CL_OPENAI */
extern const cl_transport cl_grpc_transport;   /* CL_GRPC; built only with gRPC */

#endif
