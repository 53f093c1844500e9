/*
 * client_grpc.c — the gRPC transport of `hark client` (gRPC's C core; messages by protobuf-c from
 * proto/kserve.proto): ModelInfer for a request of any number of rows, ModelStreamInfer when the
 * caller wants partial transcripts, and ServerLive, ServerReady and ModelReady for health.
 * Tensors go in raw_input_contents, a BYTES element as a 4-byte little-endian length and bytes.
 * ref: KServe v2 inference protocol, gRPC (grpc_predict_v2.proto); Triton's grpc_service.proto
 * and its decoupled mode (responses with parameter triton_final_response false are partials).
 *
 * What it is not: TLS, compression or the metadata calls; nor HTTP (client_http.c) or the bench
 * (cmd_client.c). A connection is one channel (its own TCP connection) and one pluck queue, used
 * by one thread at a time; the only process-wide state is grpc_init, done once and kept.
 */
#define _POSIX_C_SOURCE 200809L
#include "client.h"

#include "kserve.pb-c.h"

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/time.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define METHOD(m) "/inference.GRPCInferenceService/" m

typedef struct gconn {
    grpc_channel *ch;
    grpc_completion_queue *cq; /* pluck: this connection's operations */
    char *model;
    double timeout_s; /* per call; 0: none */
    uintptr_t seq;    /* the last operation tag */
} gconn;

/* One call in flight: its operations, in the order a unary call runs them (send the request,
 * half-close, receive the initial metadata, a message, the status), and what they bring back. */
typedef struct gcall {
    grpc_call *call;
    grpc_op ops[6];
    grpc_byte_buffer *got; /* the message received */
    grpc_metadata_array head, trail;
    grpc_status_code code;
    grpc_slice details;
} gcall;

/* Frees what the call holds (the message received, metadata, status details, the call). */
static void call_free(gcall *c)
{
    if (c->got)
        grpc_byte_buffer_destroy(c->got);
    grpc_metadata_array_destroy(&c->head);
    grpc_metadata_array_destroy(&c->trail);
    grpc_slice_unref(c->details);
    if (c->call)
        grpc_call_unref(c->call);
}

static pthread_once_t grpc_once = PTHREAD_ONCE_INIT;
static void grpc_init_once(void) { grpc_init(); }

/* ---------------------------------------------------------------- call plumbing ------------- */

/* err = "gRPC <code>: <message>", the code by name where it has one. */
static void status_err(int code, const char *msg, size_t len, char *err, size_t n)
{
    static const char *names[] = {
        "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
        "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
        "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS",
        "UNAUTHENTICATED" };
    int shown = (int)(len > 4096 ? 4096 : len);
    if (code >= 0 && code < (int)(sizeof(names) / sizeof(names[0])))
        snprintf(err, n, "gRPC %s: %.*s", names[code], shown, msg);
    else
        snprintf(err, n, "gRPC %d: %.*s", code, shown, msg);
}

static gpr_timespec deadline_of(const gconn *g)
{
    if (g->timeout_s <= 0 || g->timeout_s > 1e9)
        return gpr_inf_future(GPR_CLOCK_REALTIME);
    return gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                        gpr_time_from_millis((int64_t)(g->timeout_s * 1000.0), GPR_TIMESPAN));
}

/* Starts a call of method on the connection that will send msg (not owned): 0, or -1 with err
 * (and nothing to free). */
static int call_open(gconn *g, const char *method, grpc_byte_buffer *msg, gcall *c, char *err,
                     size_t n)
{
    memset(c, 0, sizeof(*c));
    grpc_metadata_array_init(&c->head);
    grpc_metadata_array_init(&c->trail);
    c->code = GRPC_STATUS_UNKNOWN;
    c->details = grpc_empty_slice();
    c->ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    c->ops[1].op = GRPC_OP_SEND_MESSAGE;
    c->ops[1].data.send_message.send_message = msg;
    c->ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    c->ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
    c->ops[3].data.recv_initial_metadata.recv_initial_metadata = &c->head;
    c->ops[4].op = GRPC_OP_RECV_MESSAGE;
    c->ops[4].data.recv_message.recv_message = &c->got;
    c->ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    c->ops[5].data.recv_status_on_client.trailing_metadata = &c->trail;
    c->ops[5].data.recv_status_on_client.status = &c->code;
    c->ops[5].data.recv_status_on_client.status_details = &c->details;
    c->call = grpc_channel_create_call(g->ch, NULL, GRPC_PROPAGATE_DEFAULTS, g->cq,
                                       grpc_slice_from_static_string(method), NULL,
                                       deadline_of(g), NULL);
    if (c->call)
        return 0;
    snprintf(err, n, "cannot start a call of %s", method);
    call_free(c);
    return -1;
}

/* Runs the call's operations ops[from, to) and waits for them: 1 when they succeeded, 0 when
 * they failed (the call is over; its status says why), -1 when they could not be started. */
static int run_ops(gconn *g, gcall *c, int from, int to)
{
    void *tag = (void *)++g->seq;
    if (grpc_call_start_batch(c->call, c->ops + from, (size_t)(to - from), tag, NULL) !=
        GRPC_CALL_OK)
        return -1;
    grpc_event ev = grpc_completion_queue_pluck(g->cq, tag, gpr_inf_future(GPR_CLOCK_REALTIME),
                                                NULL);
    return ev.type == GRPC_OP_COMPLETE && ev.success ? 1 : 0;
}

/* The ended call's status: 0 when OK, else its code with err. */
static int call_status(const gcall *c, char *err, size_t n)
{
    if (c->code == GRPC_STATUS_OK)
        return 0;
    status_err((int)c->code, (const char *)GRPC_SLICE_START_PTR(c->details),
               GRPC_SLICE_LENGTH(c->details), err, n);
    return (int)c->code;
}

static grpc_byte_buffer *pack_msg(const ProtobufCMessage *m)
{
    size_t n = protobuf_c_message_get_packed_size(m);
    grpc_slice s = grpc_slice_malloc(n);
    protobuf_c_message_pack(m, GRPC_SLICE_START_PTR(s));
    grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&s, 1);
    grpc_slice_unref(s);
    return bb;
}

/* bb's message as d (free with protobuf_c_message_free_unpacked); NULL when malformed. */
static ProtobufCMessage *unpack_msg(const ProtobufCMessageDescriptor *d, grpc_byte_buffer *bb)
{
    grpc_byte_buffer_reader r;
    ProtobufCMessage *m = NULL;
    if (bb && grpc_byte_buffer_reader_init(&r, bb)) {
        grpc_slice s = grpc_byte_buffer_reader_readall(&r);
        m = protobuf_c_message_unpack(d, NULL, GRPC_SLICE_LENGTH(s), GRPC_SLICE_START_PTR(s));
        grpc_slice_unref(s);
        grpc_byte_buffer_reader_destroy(&r);
    }
    return m;
}

/* One unary call of method: sends msg, unpacks the answer as d into *resp. Returns 0 with *resp
 * (the caller frees it), the gRPC status code of a failed call, or -1 when the call could not be
 * made or its answer not read; err says why. */
static int unary(gconn *g, const char *method, grpc_byte_buffer *msg,
                 const ProtobufCMessageDescriptor *d, ProtobufCMessage **resp, char *err, size_t n)
{
    gcall c;
    int rc = -1;
    *resp = NULL;
    if (call_open(g, method, msg, &c, err, n) != 0)
        return -1;
    if (run_ops(g, &c, 0, 6) < 0)
        snprintf(err, n, "cannot start the operations of %s", method);
    else
        rc = call_status(&c, err, n);
    if (rc == 0 && !(*resp = unpack_msg(d, c.got))) {
        snprintf(err, n, "%s: a missing or malformed response message", method);
        rc = -1;
    }
    call_free(&c);
    return rc;
}

/* ---------------------------------------------------------------- KServe messages ----------- */

/* The ModelInferRequest of rq for the model, packed; NULL with err when it cannot be built. The
 * WAV and WAV_LENS data go as they are: the host is little-endian (CMakeLists.txt refuses a
 * big-endian target). */
static grpc_byte_buffer *infer_request(const gconn *g, const cl_request *rq, char *err, size_t n)
{
    static const char *names[3] = { "WAV", "WAV_LENS", "TEXT_PREFIX" };
    static const char *types[3] = { "FP32", "INT32", "BYTES" };
    const char *pre = rq->text_prefix ? rq->text_prefix : CL_DEFAULT_PREFIX;
    size_t rows = (size_t)rq->rows, plen = strlen(pre);
    Inference__ModelInferRequest q = INFERENCE__MODEL_INFER_REQUEST__INIT;
    Inference__ModelInferRequest__InferInputTensor in[3], *pin[3] = { &in[0], &in[1], &in[2] };
    Inference__ModelInferRequest__InferRequestedOutputTensor out, *pout[1] = { &out };
    int64_t shape[3][2] = { { rq->rows, (int64_t)rq->stride }, { rq->rows, 1 }, { rq->rows, 1 } };
    if (rq->stride > (size_t)INT32_MAX / 4 / rows) {
        snprintf(err, n, "%d rows of %zu samples: too large for one gRPC message", rq->rows,
                 rq->stride);
        return NULL;
    }
    uint8_t *bytes = malloc(rows * (4 + plen)); /* [rows, 1] BYTES: 4-byte length, prefix */
    if (!bytes) {
        snprintf(err, n, "out of memory");
        return NULL;
    }
    uint32_t len32 = (uint32_t)plen;
    for (size_t r = 0; r < rows; r++) {
        memcpy(bytes + r * (4 + plen), &len32, 4);
        memcpy(bytes + r * (4 + plen) + 4, pre, plen);
    }
    ProtobufCBinaryData raw[3] = { { rows * rq->stride * 4, (uint8_t *)rq->pcm },
                                   { rows * 4, (uint8_t *)rq->lens },
                                   { rows * (4 + plen), bytes } };
    for (int i = 0; i < 3; i++) {
        inference__model_infer_request__infer_input_tensor__init(&in[i]);
        in[i].name = (char *)names[i];
        in[i].datatype = (char *)types[i];
        in[i].n_shape = 2;
        in[i].shape = shape[i];
    }
    inference__model_infer_request__infer_requested_output_tensor__init(&out);
    out.name = (char *)"TRANSCRIPTS";
    q.model_name = g->model;
    q.n_inputs = 3, q.inputs = pin;
    q.n_outputs = 1, q.outputs = pout;
    q.n_raw_input_contents = 3, q.raw_input_contents = raw;
    grpc_byte_buffer *bb = pack_msg(&q.base);
    free(bytes);
    return bb;
}

static void texts_free(char **t, int n)
{
    for (int i = 0; t && i < n; i++)
        free(t[i]);
    free(t);
}

static char *dup_bytes(const uint8_t *p, size_t len)
{
    char *s = malloc(len + 1);
    if (s)
        memcpy(s, p, len), s[len] = 0;
    return s;
}

/* The elements of a BYTES tensor as at most rows new strings in t[], from raw (4-byte lengths
 * and bytes) or else from typed contents. Returns how many elements it has (also past rows), -1
 * when truncated, -2 when out of memory. */
static int split_bytes(const ProtobufCBinaryData *raw, const Inference__InferTensorContents *ct,
                       char **t, int rows)
{
    size_t off = 0, len = raw ? raw->len : 0;
    int k = 0;
    while (raw && off < len) {
        const uint8_t *p = raw->data + off;
        if (len - off < 4)
            return -1;
        size_t l = (size_t)p[0] | (size_t)p[1] << 8 | (size_t)p[2] << 16 | (size_t)p[3] << 24;
        if (l > len - off - 4)
            return -1;
        if (k < rows && !(t[k] = dup_bytes(p + 4, l)))
            return -2;
        off += 4 + l, k++;
    }
    for (size_t i = 0; !raw && ct && i < ct->n_bytes_contents && k < INT32_MAX; i++, k++)
        if (k < rows && !(t[k] = dup_bytes(ct->bytes_contents[i].data, ct->bytes_contents[i].len)))
            return -2;
    return k;
}

/* The response's TRANSCRIPTS output as rows new strings in *texts: 0, or -1 with err. */
static int get_texts(const Inference__ModelInferResponse *r, int rows, char ***texts, char *err,
                     size_t n)
{
    size_t i = 0, n_raw = r->n_raw_output_contents;
    while (i < r->n_outputs && strcmp(r->outputs[i]->name, "TRANSCRIPTS") != 0)
        i++;
    if (i == r->n_outputs || (n_raw && i >= n_raw)) {
        snprintf(err, n, "the response has no TRANSCRIPTS %s",
                 i == r->n_outputs ? "output" : "raw_output_contents entry");
        return -1;
    }
    char **t = calloc((size_t)rows, sizeof(*t));
    int k = !t     ? -2
            : n_raw ? split_bytes(&r->raw_output_contents[i], NULL, t, rows)
                    : split_bytes(NULL, r->outputs[i]->contents, t, rows);
    if (k == rows) {
        *texts = t;
        return 0;
    }
    if (k >= 0)
        snprintf(err, n, "TRANSCRIPTS: %d elements for %d rows", k, rows);
    else
        snprintf(err, n, "%s", k == -1 ? "TRANSCRIPTS: truncated BYTES elements" : "out of memory");
    texts_free(t, rows);
    return -1;
}

/* ---------------------------------------------------------------- the transport ------------- */

static int infer_unary(gconn *g, const cl_request *rq, grpc_byte_buffer *msg, cl_reply *out)
{
    ProtobufCMessage *m;
    out->status = unary(g, METHOD("ModelInfer"), msg, &inference__model_infer_response__descriptor,
                        &m, out->err, sizeof(out->err));
    if (out->status != 0)
        return -1;
    if (get_texts((Inference__ModelInferResponse *)m, rq->rows, &out->texts, out->err,
                  sizeof(out->err)) == 0)
        out->n = rq->rows;
    else
        out->status = -1;
    protobuf_c_message_free_unpacked(m, NULL);
    return out->status ? -1 : 0;
}

/* 0 when the response says triton_final_response false (a partial), else 1. */
static int is_final(const Inference__ModelInferResponse *r)
{
    for (size_t i = 0; i < r->n_parameters; i++) {
        const Inference__InferParameter *v = r->parameters[i]->value;
        if (!strcmp(r->parameters[i]->key, "triton_final_response") && v &&
            v->parameter_choice_case == INFERENCE__INFER_PARAMETER__PARAMETER_CHOICE_BOOL_PARAM)
            return v->bool_param != 0;
    }
    return 1;
}

/* One streamed response (bb): a partial goes to rq->partial, a final replaces *final. Returns 0,
 * or the status of a failure with err: 2 (UNKNOWN) for the server's error_message, -1 when
 * malformed. */
static int stream_msg(grpc_byte_buffer *bb, const cl_request *rq, char ***final, char *err,
                      size_t n)
{
    Inference__ModelStreamInferResponse *m = (Inference__ModelStreamInferResponse *)unpack_msg(
        &inference__model_stream_infer_response__descriptor, bb);
    const Inference__ModelInferResponse *r = m ? m->infer_response : NULL;
    char **t = NULL;
    int rc = -1, fin = r ? is_final(r) : 1;
    if (m && m->error_message[0]) {
        status_err(GRPC_STATUS_UNKNOWN, m->error_message, strlen(m->error_message), err, n);
        rc = GRPC_STATUS_UNKNOWN;
    } else if (!r) {
        snprintf(err, n, "a malformed ModelStreamInfer response");
    } else if (fin && r->n_outputs == 0) { /* an empty response that only ends the request */
        rc = 0;
    } else if (get_texts(r, 1, &t, err, n) == 0) {
        if (!fin)
            rq->partial(rq->partial_user, t[0]);
        texts_free(fin ? *final : t, 1);
        if (fin)
            *final = t;
        rc = 0;
    }
    if (m)
        protobuf_c_message_free_unpacked(&m->base, NULL);
    return rc;
}

/* ModelStreamInfer of one request: its partial transcripts to rq->partial, the final one to out.
 * On a failure the call is cancelled: what is left of the stream is not read. */
static int infer_stream(gconn *g, const cl_request *rq, grpc_byte_buffer *msg, cl_reply *out)
{
    gcall c;
    char **final = NULL;
    int fail = 0;
    out->status = -1;
    if (call_open(g, METHOD("ModelStreamInfer"), msg, &c, out->err, sizeof(out->err)) != 0)
        return -1;
    if (run_ops(g, &c, 0, 4) < 0) {
        snprintf(out->err, sizeof(out->err), "cannot start the operations of ModelStreamInfer");
        fail = -1;
    }
    while (!fail && run_ops(g, &c, 4, 5) == 1 && c.got) { /* a NULL message: the end */
        fail = stream_msg(c.got, rq, &final, out->err, sizeof(out->err));
        grpc_byte_buffer_destroy(c.got);
        c.got = NULL;
    }
    if (fail) /* err says why; the call's status would be our CANCELLED */
        out->status = fail, grpc_call_cancel(c.call, NULL);
    else if (run_ops(g, &c, 5, 6) < 0)
        snprintf(out->err, sizeof(out->err), "no status of ModelStreamInfer");
    else
        out->status = call_status(&c, out->err, sizeof(out->err));
    if (!out->status && !final) {
        snprintf(out->err, sizeof(out->err), "the stream ended without a final response");
        out->status = -1;
    }
    call_free(&c);
    if (out->status) {
        texts_free(final, 1);
        return -1;
    }
    out->texts = final;
    out->n = 1;
    return 0;
}

static int cg_infer(void *p, const cl_request *rq, cl_reply *out)
{
    gconn *g = p;
    grpc_byte_buffer *msg = infer_request(g, rq, out->err, sizeof(out->err));
    if (!msg) {
        out->status = -1;
        return -1;
    }
    int rc = rq->partial && rq->rows == 1 ? infer_stream(g, rq, msg, out)
                                          : infer_unary(g, rq, msg, out);
    grpc_byte_buffer_destroy(msg);
    return rc;
}

/* Asks ServerLive, ServerReady and ModelReady in turn; each answer's one field is a bool. */
static int cg_health(void *p, char *err, size_t n)
{
    gconn *g = p;
    static const char *what[3] = { "ServerLive", "ServerReady", "ModelReady" };
    static const char *not[3] = { "the server is not live", "the server is not ready", "" };
    const ProtobufCMessageDescriptor *ds[3] = { &inference__server_live_response__descriptor,
                                                &inference__server_ready_response__descriptor,
                                                &inference__model_ready_response__descriptor };
    Inference__ServerLiveRequest live = INFERENCE__SERVER_LIVE_REQUEST__INIT;
    Inference__ServerReadyRequest ready = INFERENCE__SERVER_READY_REQUEST__INIT;
    Inference__ModelReadyRequest model = INFERENCE__MODEL_READY_REQUEST__INIT;
    const ProtobufCMessage *qs[3] = { &live.base, &ready.base, &model.base };
    model.name = g->model;
    for (int i = 0; i < 3; i++) {
        char method[64], e[400];
        ProtobufCMessage *m;
        snprintf(method, sizeof(method), METHOD("%s"), what[i]);
        grpc_byte_buffer *bb = pack_msg(qs[i]);
        int code = unary(g, method, bb, ds[i], &m, e, sizeof(e));
        grpc_byte_buffer_destroy(bb);
        if (code != 0) {
            snprintf(err, n, "%s: %s", what[i], e);
            return -1;
        }
        int yes = *(const protobuf_c_boolean *)((const char *)m + ds[i]->fields[0].offset);
        protobuf_c_message_free_unpacked(m, NULL);
        if (!yes && i < 2)
            snprintf(err, n, "%s: %s", what[i], not[i]);
        else if (!yes)
            snprintf(err, n, "ModelReady: model '%s' is not ready", g->model);
        if (!yes)
            return -1;
    }
    return 0;
}

static void cg_close(void *p)
{
    gconn *g = p;
    if (!g)
        return;
    if (g->ch)
        grpc_channel_destroy(g->ch);
    if (g->cq) {
        grpc_completion_queue_shutdown(g->cq);
        grpc_completion_queue_destroy(g->cq);
    }
    free(g->model);
    free(g);
}

/* "host:port" of url in target[cap], less an "http://" or "grpc://" prefix and trailing '/'. */
static int parse_target(const char *url, char *target, size_t cap, char *err, size_t n)
{
    const char *s = url ? url : "";
    if (!strncmp(s, "http://", 7) || !strncmp(s, "grpc://", 7))
        s += 7;
    size_t len = strlen(s);
    while (len > 0 && s[len - 1] == '/')
        len--;
    if (len == 0 || len >= cap || !memchr(s, ':', len)) {
        snprintf(err, n, "gRPC url '%s': want host:port", url ? url : "");
        return -1;
    }
    memcpy(target, s, len);
    target[len] = 0;
    return 0;
}

static void *cg_connect(const cl_target *t, char *err, size_t n)
{
    char target[512];
    if (parse_target(t->url, target, sizeof(target), err, n) != 0)
        return NULL;
    pthread_once(&grpc_once, grpc_init_once);
    gconn *g = calloc(1, sizeof(*g));
    if (!g || !(g->model = strdup(t->model && t->model[0] ? t->model : "whisper"))) {
        free(g);
        snprintf(err, n, "out of memory");
        return NULL;
    }
    g->timeout_s = t->timeout_s;
    grpc_arg args[3] = { /* no size limits; a TCP connection of its own */
        { .type = GRPC_ARG_INTEGER, .key = (char *)GRPC_ARG_MAX_SEND_MESSAGE_LENGTH,
          .value.integer = -1 },
        { .type = GRPC_ARG_INTEGER, .key = (char *)GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH,
          .value.integer = -1 },
        { .type = GRPC_ARG_INTEGER, .key = (char *)GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL,
          .value.integer = 1 } };
    grpc_channel_args ca = { 3, args };
    grpc_channel_credentials *creds = grpc_insecure_credentials_create();
    g->ch = grpc_channel_create(target, creds, &ca);
    grpc_channel_credentials_release(creds);
    g->cq = grpc_completion_queue_create_for_pluck(NULL);
    if (!g->ch || !g->cq) {
        snprintf(err, n, "cannot open a gRPC channel to %s", target);
        cg_close(g);
        return NULL;
    }
    return g;
}

const cl_transport cl_grpc_transport = {
    .connect = cg_connect,
    .infer = cg_infer,
    .health = cg_health,
    .close = cg_close,
};
