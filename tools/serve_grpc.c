/*
 * serve_grpc.c — the KServe v2 / Triton gRPC front end of `hark serve` (gRPC's C core, messages
 * by protobuf-c from proto/kserve.proto): ServerLive, ServerReady, ModelReady, ServerMetadata,
 * ModelMetadata, ModelInfer and ModelStreamInfer (Triton's decoupled mode: partial transcripts
 * as segments are decoded, each with parameter triton_final_response false, then the full
 * response with it true). Requests run through serve_kserve.h like the HTTP ones, so their
 * transcriptions join the same engine rounds. Outputs go in raw_output_contents (BYTES elements
 * with 4-byte lengths), as Triton's gRPC server sends them.
 *
 * Threads: one accepts calls (grpc_server_request_call on a notification queue); each call gets
 * its own thread and a pluck queue its operations complete on, so a call is written as blocking
 * code. The call's RECV_CLOSE_ON_SERVER operation is polled to stop a transcription whose client
 * cancelled or whose deadline passed.
 */
#define _POSIX_C_SOURCE 200809L
#include "serve_kserve.h"

#include "kserve.pb-c.h"

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/time.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct sv_grpc {
    sv_server *sv;
    grpc_server *server;
    grpc_completion_queue *cq; /* notifications: new calls, shutdown */
    pthread_t accept_thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int n_calls; /* call threads alive */
    int shut;    /* the server's shutdown notification has come */
};

typedef struct gcall {
    sv_grpc *g;
    grpc_call *call;
    grpc_call_details details;
    grpc_metadata_array md;
    grpc_completion_queue *cq; /* pluck: this call's operations */
    uintptr_t seq;
    int close_started, closed, cancelled; /* the RECV_CLOSE_ON_SERVER operation */
    pthread_mutex_t close_mu;
    int sent_md;
} gcall;

enum { GS_OK = 0, GS_CANCELLED = 1, GS_INVALID_ARGUMENT = 3, GS_DEADLINE_EXCEEDED = 4,
       GS_NOT_FOUND = 5, GS_RESOURCE_EXHAUSTED = 8, GS_UNIMPLEMENTED = 12, GS_INTERNAL = 13,
       GS_UNAVAILABLE = 14 };

static int grpc_code(int http)
{
    switch (http) {
    case 400:
    case 413:
        return GS_INVALID_ARGUMENT;
    case 404:
        return GS_NOT_FOUND;
    case 429:
        return GS_RESOURCE_EXHAUSTED;
    case 503:
        return GS_UNAVAILABLE;
    case 504:
        return GS_DEADLINE_EXCEEDED;
    case 499:
        return GS_CANCELLED;
    default:
        return GS_INTERNAL;
    }
}

/* ---------------------------------------------------------------- call plumbing ------------- */

static int batch(gcall *c, grpc_op *ops, size_t n)
{
    void *tag = (void *)(++c->seq * 2); /* even tags; the close operation's is odd */
    if (grpc_call_start_batch(c->call, ops, n, tag, NULL) != GRPC_CALL_OK)
        return -1;
    grpc_event ev = grpc_completion_queue_pluck(c->cq, tag, gpr_inf_future(GPR_CLOCK_REALTIME),
                                                NULL);
    return ev.type == GRPC_OP_COMPLETE && ev.success ? 0 : -1;
}

#define CLOSE_TAG ((void *)1)

static void start_close(gcall *c)
{
    grpc_op op;
    memset(&op, 0, sizeof(op));
    op.op = GRPC_OP_RECV_CLOSE_ON_SERVER;
    op.data.recv_close_on_server.cancelled = &c->cancelled;
    if (grpc_call_start_batch(c->call, &op, 1, CLOSE_TAG, NULL) == GRPC_CALL_OK)
        c->close_started = 1;
}

/* Non-zero once the client cancelled (or its deadline passed): the close operation completed
 * before the status was sent. Safe from the call's transcription threads. */
static int call_gone(void *user)
{
    gcall *c = user;
    pthread_mutex_lock(&c->close_mu);
    if (c->close_started && !c->closed) {
        grpc_event ev = grpc_completion_queue_pluck(c->cq, CLOSE_TAG,
                                                    gpr_time_0(GPR_CLOCK_REALTIME), NULL);
        if (ev.type == GRPC_OP_COMPLETE)
            c->closed = 1;
    }
    int gone = c->closed;
    pthread_mutex_unlock(&c->close_mu);
    return gone;
}

/* Receives one message of type d; *eos = 1 when the client has half-closed. */
static ProtobufCMessage *recv_msg(gcall *c, const ProtobufCMessageDescriptor *d, int *eos)
{
    grpc_byte_buffer *bb = NULL;
    grpc_op ops[2];
    memset(ops, 0, sizeof(ops));
    size_t n = 0;
    if (!c->sent_md) {
        ops[n].op = GRPC_OP_SEND_INITIAL_METADATA;
        n++;
        c->sent_md = 1;
    }
    ops[n].op = GRPC_OP_RECV_MESSAGE;
    ops[n].data.recv_message.recv_message = &bb;
    n++;
    *eos = 0;
    if (batch(c, ops, n) != 0 || !bb) {
        *eos = 1;
        return NULL;
    }
    grpc_byte_buffer_reader r;
    ProtobufCMessage *m = NULL;
    if (grpc_byte_buffer_reader_init(&r, bb)) {
        grpc_slice s = grpc_byte_buffer_reader_readall(&r);
        m = protobuf_c_message_unpack(d, NULL, GRPC_SLICE_LENGTH(s), GRPC_SLICE_START_PTR(s));
        grpc_slice_unref(s);
        grpc_byte_buffer_reader_destroy(&r);
    }
    grpc_byte_buffer_destroy(bb);
    return m;
}

static int send_msg(gcall *c, const ProtobufCMessage *m)
{
    size_t n = protobuf_c_message_get_packed_size(m);
    grpc_slice s = grpc_slice_malloc(n);
    protobuf_c_message_pack(m, GRPC_SLICE_START_PTR(s));
    grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&s, 1);
    grpc_slice_unref(s);
    grpc_op op;
    memset(&op, 0, sizeof(op));
    op.op = GRPC_OP_SEND_MESSAGE;
    op.data.send_message.send_message = bb;
    int rc = batch(c, &op, 1);
    grpc_byte_buffer_destroy(bb);
    return rc;
}

static void send_status(gcall *c, int code, const char *msg)
{
    grpc_slice det = grpc_slice_from_copied_string(msg ? msg : "");
    grpc_op ops[2];
    memset(ops, 0, sizeof(ops));
    size_t n = 0;
    if (!c->sent_md) {
        ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
        c->sent_md = 1;
    }
    ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
    ops[n].data.send_status_from_server.status = (grpc_status_code)code;
    ops[n].data.send_status_from_server.status_details = &det;
    n++;
    batch(c, ops, n);
    grpc_slice_unref(det);
}

/* ---------------------------------------------------------------- KServe over protobuf ------ */

/* The request's inputs as kin, data in the binary layout. Buffers built for typed contents
 * (BYTES) are returned in *owned (free them after). Returns 0 or -1 with err. */
static int to_kin(const Inference__ModelInferRequest *q, kin *ins, int *n_in, char **owned,
                  char *err, size_t errcap)
{
    if (q->n_inputs == 0 || q->n_inputs > 8) {
        snprintf(err, errcap, "1 to 8 inputs, not %zu", q->n_inputs);
        return -1;
    }
    if (q->n_raw_input_contents && q->n_raw_input_contents != q->n_inputs) {
        snprintf(err, errcap, "%zu raw_input_contents for %zu inputs", q->n_raw_input_contents,
                 q->n_inputs);
        return -1;
    }
    *n_in = (int)q->n_inputs;
    for (size_t i = 0; i < q->n_inputs; i++) {
        const Inference__ModelInferRequest__InferInputTensor *t = q->inputs[i];
        kin *k = &ins[i];
        memset(k, 0, sizeof(*k));
        k->name = t->name;
        k->dt = t->datatype;
        if (t->n_shape < 1 || t->n_shape > 4) {
            snprintf(err, errcap, "input %s: a shape of 1 to 4 dimensions", t->name);
            return -1;
        }
        k->rank = (int)t->n_shape;
        for (size_t d = 0; d < t->n_shape; d++) {
            if (t->shape[d] < 0 || t->shape[d] > (1L << 31)) {
                snprintf(err, errcap, "input %s: shape dimension %zu is not a size", t->name, d);
                return -1;
            }
            k->shape[d] = (long)t->shape[d];
        }
        k->has_bin = 1;
        if (q->n_raw_input_contents) {
            k->bin = q->raw_input_contents[i].data;
            k->bin_len = q->raw_input_contents[i].len;
            continue;
        }
        const Inference__InferTensorContents *ct = t->contents;
        if (ct && ct->n_fp32_contents) {
            k->bin = (const unsigned char *)ct->fp32_contents;
            k->bin_len = ct->n_fp32_contents * 4;
        } else if (ct && ct->n_int_contents) {
            k->bin = (const unsigned char *)ct->int_contents;
            k->bin_len = ct->n_int_contents * 4;
        } else if (ct && ct->n_bytes_contents) {
            size_t total = 0;
            for (size_t e = 0; e < ct->n_bytes_contents; e++)
                total += 4 + ct->bytes_contents[e].len;
            char *b = malloc(total ? total : 1);
            if (!b) {
                snprintf(err, errcap, "out of memory");
                return -1;
            }
            owned[i] = b;
            size_t off = 0;
            for (size_t e = 0; e < ct->n_bytes_contents; e++) {
                uint32_t l = (uint32_t)ct->bytes_contents[e].len;
                unsigned char b4[4] = { (unsigned char)l, (unsigned char)(l >> 8),
                                        (unsigned char)(l >> 16), (unsigned char)(l >> 24) };
                memcpy(b + off, b4, 4);
                memcpy(b + off + 4, ct->bytes_contents[e].data, l);
                off += 4 + l;
            }
            k->bin = (const unsigned char *)b;
            k->bin_len = off;
        } else {
            k->bin_len = 0; /* empty (an empty tensor, or contents of another type) */
        }
    }
    return 0;
}

/* The outputs asked for (TRANSCRIPTS when none). */
static int wanted(const Inference__ModelInferRequest *q, int *want, char *err, size_t errcap)
{
    memset(want, 0, KSERVE_N_OUTPUTS * sizeof(int));
    if (q->n_outputs == 0) {
        want[0] = 1;
        return 0;
    }
    for (size_t i = 0; i < q->n_outputs; i++) {
        int k = -1;
        for (int j = 0; j < KSERVE_N_OUTPUTS; j++)
            if (!strcmp(q->outputs[i]->name, KSERVE_OUTPUTS[j]))
                k = j;
        if (k < 0) {
            snprintf(err, errcap, "unknown output '%s' (TRANSCRIPTS, LANGUAGE, SEGMENTS)",
                     q->outputs[i]->name);
            return -1;
        }
        want[k] = 1;
    }
    return 0;
}

/* A response of the wanted outputs of o (or of TRANSCRIPTS = text when o is NULL), with the
 * parameter triton_final_response = final when final >= 0. Sends it as ModelInferResponse or
 * inside ModelStreamInferResponse. */
static int send_infer(gcall *c, const Inference__ModelInferRequest *q, const int *want,
                      const kserve_rows *o, const char *text, int final, int stream)
{
    Inference__ModelInferResponse r = INFERENCE__MODEL_INFER_RESPONSE__INIT;
    Inference__ModelInferResponse__InferOutputTensor outs[KSERVE_N_OUTPUTS], *po[KSERVE_N_OUTPUTS];
    int64_t shape[KSERVE_N_OUTPUTS][2];
    ProtobufCBinaryData raw[KSERVE_N_OUTPUTS];
    char *bufs[KSERVE_N_OUTPUTS] = { 0 };
    int n = 0, rows = o ? o->rows : 1, ok = 1;
    for (int k = 0; k < KSERVE_N_OUTPUTS; k++) {
        if (o ? !want[k] : k != 0)
            continue;
        size_t total = 0;
        for (int i = 0; i < rows; i++)
            total += 4 + strlen(o ? kserve_output(o, k, i) : text);
        bufs[n] = malloc(total ? total : 1);
        if (!bufs[n]) {
            ok = 0;
            break;
        }
        size_t off = 0;
        for (int i = 0; i < rows; i++)
            off += put_bytes_element(bufs[n] + off, o ? kserve_output(o, k, i) : text);
        inference__model_infer_response__infer_output_tensor__init(&outs[n]);
        outs[n].name = (char *)KSERVE_OUTPUTS[k];
        outs[n].datatype = (char *)"BYTES";
        shape[n][0] = rows;
        shape[n][1] = 1;
        outs[n].n_shape = 2;
        outs[n].shape = shape[n];
        po[n] = &outs[n];
        raw[n].data = (uint8_t *)bufs[n];
        raw[n].len = off;
        n++;
    }
    r.model_name = q->model_name;
    r.model_version = (char *)"1";
    r.id = q->id;
    r.n_outputs = (size_t)n;
    r.outputs = po;
    r.n_raw_output_contents = (size_t)n;
    r.raw_output_contents = raw;
    Inference__InferParameter fp = INFERENCE__INFER_PARAMETER__INIT;
    Inference__ModelInferResponse__ParametersEntry pe = INFERENCE__MODEL_INFER_RESPONSE__PARAMETERS_ENTRY__INIT;
    Inference__ModelInferResponse__ParametersEntry *pes[1] = { &pe };
    if (final >= 0) {
        fp.parameter_choice_case = INFERENCE__INFER_PARAMETER__PARAMETER_CHOICE_BOOL_PARAM;
        fp.bool_param = final != 0;
        pe.key = (char *)"triton_final_response";
        pe.value = &fp;
        r.n_parameters = 1;
        r.parameters = pes;
    }
    int rc = -1;
    if (ok && stream) {
        Inference__ModelStreamInferResponse s = INFERENCE__MODEL_STREAM_INFER_RESPONSE__INIT;
        s.infer_response = &r;
        rc = send_msg(c, &s.base);
    } else if (ok) {
        rc = send_msg(c, &r.base);
    }
    for (int k = 0; k < n; k++)
        free(bufs[k]);
    return rc;
}

/* Partial transcripts of a streamed request: the text so far after each segment. */
typedef struct partial_ctx {
    gcall *c;
    const Inference__ModelInferRequest *q;
    char *text;
    size_t len;
} partial_ctx;

static void on_partial(const hark_state *st, int i, void *user)
{
    partial_ctx *p = user;
    const char *seg = hark_segment_text(st, i);
    size_t k = strlen(seg);
    char *t = realloc(p->text, p->len + k + 1);
    if (!t)
        return;
    memcpy(t + p->len, seg, k + 1);
    p->text = t;
    p->len += k;
    const char *show = p->text;
    while (*show == ' ')
        show++;
    int want[KSERVE_N_OUTPUTS] = { 1, 0, 0 };
    send_infer(p->c, p->q, want, NULL, show, 0, 1);
}

/* One ModelInfer request: returns the gRPC status (and message) of a failure, or GS_OK after
 * sending the response. */
static int infer_one(gcall *c, const Inference__ModelInferRequest *q, int stream, char *err,
                     size_t errcap)
{
    sv_grpc *g = c->g;
    sv_server *sv = g->sv;
    double t0 = sv_now();
    if (!kserve_known_model(sv, q->model_name, strlen(q->model_name))) {
        snprintf(err, errcap, "unknown model '%s' (whisper, whisper_bls, infer_bls%s%s)",
                 q->model_name, sv->model_name ? ", " : "", sv->model_name ? sv->model_name : "");
        sv_record(sv, 2, 404, 0.0, 0.0);
        return GS_NOT_FOUND;
    }
    if (q->model_version[0] && strcmp(q->model_version, "1") != 0) {
        snprintf(err, errcap, "model '%s' has version 1 only", q->model_name);
        sv_record(sv, 2, 404, 0.0, 0.0);
        return GS_NOT_FOUND;
    }
    int adm = sv_enter(sv);
    if (adm) {
        snprintf(err, errcap, adm == 429 ? "server busy: the queue is full, retry later"
                                         : "server shutting down");
        sv_record(sv, 2, adm, 0.0, 0.0);
        return grpc_code(adm);
    }
    kin ins[8];
    char *owned[8] = { 0 };
    int n_in = 0, want[KSERVE_N_OUTPUTS], status = 0;
    kserve_rows o;
    memset(&o, 0, sizeof(o));
    sv_request rq = { .method = "POST", .url = "grpc", .client_fd = -1, .gone = call_gone,
                      .gone_user = c,
                      .deadline = sv->request_timeout > 0 ? t0 + sv->request_timeout : 0.0 };
    partial_ctx pc = { .c = c, .q = q };
    if (to_kin(q, ins, &n_in, owned, err, errcap) != 0 || wanted(q, want, err, errcap) != 0)
        status = 400;
    else
        status = kserve_run(sv, &rq, ins, n_in, want, stream ? on_partial : NULL, &pc, &o, err,
                            errcap);
    if (status == 0 && send_infer(c, q, want, &o, NULL, stream ? 1 : -1, stream) != 0)
        status = 499;
    sv_record(sv, 2, status ? status : 200, sv_now() - t0, status ? 0.0 : o.audio_s);
    kserve_rows_free(&o);
    free(pc.text);
    for (int i = 0; i < 8; i++)
        free(owned[i]);
    sv_leave(sv);
    return status ? grpc_code(status) : GS_OK;
}

/* ---------------------------------------------------------------- the methods --------------- */

static const char *method_name(const gcall *c, char *buf, size_t cap)
{
    size_t n = GRPC_SLICE_LENGTH(c->details.method);
    if (n >= cap)
        n = cap - 1;
    memcpy(buf, GRPC_SLICE_START_PTR(c->details.method), n);
    buf[n] = 0;
    const char *pre = "/inference.GRPCInferenceService/";
    return strncmp(buf, pre, strlen(pre)) == 0 ? buf + strlen(pre) : NULL;
}

static ProtobufCMessage *model_meta(const sv_server *sv, const char *name, int *code, char *err,
                                    size_t errcap)
{
    (void)sv, (void)code, (void)err, (void)errcap;
    static const char *ins[4][2] = { { "WAV", "FP32" }, { "WAV_LENS", "INT32" },
                                     { "TEXT_PREFIX", "BYTES" }, { "AUDIO", "BYTES" } };
    static int64_t shape[2] = { -1, -1 };
    static char *versions[1] = { (char *)"1" };
    Inference__ModelMetadataResponse *r = calloc(1, sizeof(*r));
    Inference__ModelMetadataResponse__TensorMetadata *t = calloc(7, sizeof(*t));
    Inference__ModelMetadataResponse__TensorMetadata **pi = calloc(4, sizeof(*pi));
    Inference__ModelMetadataResponse__TensorMetadata **po = calloc(3, sizeof(*po));
    if (!r || !t || !pi || !po) {
        free(r), free(t), free(pi), free(po);
        return NULL;
    }
    inference__model_metadata_response__init(r);
    for (int i = 0; i < 7; i++) {
        inference__model_metadata_response__tensor_metadata__init(&t[i]);
        t[i].name = (char *)(i < 4 ? ins[i][0] : KSERVE_OUTPUTS[i - 4]);
        t[i].datatype = (char *)(i < 4 ? ins[i][1] : "BYTES");
        t[i].n_shape = 2;
        t[i].shape = shape;
        if (i < 4)
            pi[i] = &t[i];
        else
            po[i - 4] = &t[i];
    }
    r->name = (char *)name;
    r->n_versions = 1;
    r->versions = versions;
    r->platform = (char *)"hark";
    r->n_inputs = 4;
    r->inputs = pi;
    r->n_outputs = 3;
    r->outputs = po;
    return &r->base;
}

static void free_meta(ProtobufCMessage *m)
{
    Inference__ModelMetadataResponse *r = (Inference__ModelMetadataResponse *)m;
    free(r->inputs[0]); /* the 7 tensors are one array */
    free(r->inputs), free(r->outputs), free(r);
}

static void handle(gcall *c)
{
    sv_grpc *g = c->g;
    sv_server *sv = g->sv;
    char mbuf[160], err[700] = "";
    const char *m = method_name(c, mbuf, sizeof(mbuf));
    int code = GS_OK, eos = 0;
    if (!m) {
        snprintf(err, sizeof(err), "unknown method %s", mbuf);
        send_status(c, GS_UNIMPLEMENTED, err);
        return;
    }
    if (!strcmp(m, "ModelStreamInfer")) { /* decoupled: many requests, many responses each */
        for (;;) {
            Inference__ModelInferRequest *q = (Inference__ModelInferRequest *)recv_msg(
                c, &inference__model_infer_request__descriptor, &eos);
            if (!c->close_started)
                start_close(c);
            if (eos)
                break;
            if (!q) {
                Inference__ModelStreamInferResponse e = INFERENCE__MODEL_STREAM_INFER_RESPONSE__INIT;
                e.error_message = (char *)"malformed ModelInferRequest message";
                if (send_msg(c, &e.base) != 0)
                    break;
                continue;
            }
            err[0] = 0;
            code = infer_one(c, q, 1, err, sizeof(err));
            protobuf_c_message_free_unpacked(&q->base, NULL);
            if (code != GS_OK) {
                if (call_gone(c))
                    break;
                Inference__ModelStreamInferResponse e = INFERENCE__MODEL_STREAM_INFER_RESPONSE__INIT;
                e.error_message = err;
                if (send_msg(c, &e.base) != 0)
                    break;
            }
        }
        send_status(c, GS_OK, "");
        return;
    }
    /* unary: one request message */
    const ProtobufCMessageDescriptor *d =
        !strcmp(m, "ServerLive")       ? &inference__server_live_request__descriptor
        : !strcmp(m, "ServerReady")    ? &inference__server_ready_request__descriptor
        : !strcmp(m, "ModelReady")     ? &inference__model_ready_request__descriptor
        : !strcmp(m, "ServerMetadata") ? &inference__server_metadata_request__descriptor
        : !strcmp(m, "ModelMetadata")  ? &inference__model_metadata_request__descriptor
        : !strcmp(m, "ModelInfer")     ? &inference__model_infer_request__descriptor
                                       : NULL;
    if (!d) {
        snprintf(err, sizeof(err), "%s is not served by hark", m);
        send_status(c, GS_UNIMPLEMENTED, err);
        return;
    }
    ProtobufCMessage *q = recv_msg(c, d, &eos);
    start_close(c);
    if (!q) {
        send_status(c, GS_INVALID_ARGUMENT, "malformed or missing request message");
        return;
    }
    pthread_mutex_lock(&sv->mu);
    int ready = !sv->draining;
    pthread_mutex_unlock(&sv->mu);
    if (!strcmp(m, "ServerLive")) {
        Inference__ServerLiveResponse r = INFERENCE__SERVER_LIVE_RESPONSE__INIT;
        r.live = 1;
        send_msg(c, &r.base);
    } else if (!strcmp(m, "ServerReady")) {
        Inference__ServerReadyResponse r = INFERENCE__SERVER_READY_RESPONSE__INIT;
        r.ready = ready;
        send_msg(c, &r.base);
    } else if (!strcmp(m, "ModelReady")) {
        Inference__ModelReadyRequest *mq = (Inference__ModelReadyRequest *)q;
        Inference__ModelReadyResponse r = INFERENCE__MODEL_READY_RESPONSE__INIT;
        r.ready = ready && kserve_known_model(sv, mq->name, strlen(mq->name));
        send_msg(c, &r.base);
    } else if (!strcmp(m, "ServerMetadata")) {
        static char *ext[3] = { (char *)"binary_tensor_data", (char *)"statistics",
                                (char *)"model_configuration" };
        Inference__ServerMetadataResponse r = INFERENCE__SERVER_METADATA_RESPONSE__INIT;
        r.name = (char *)"hark";
        r.version = (char *)HARK_VERSION;
        r.n_extensions = 3;
        r.extensions = ext;
        send_msg(c, &r.base);
    } else if (!strcmp(m, "ModelMetadata")) {
        Inference__ModelMetadataRequest *mq = (Inference__ModelMetadataRequest *)q;
        if (!kserve_known_model(sv, mq->name, strlen(mq->name))) {
            snprintf(err, sizeof(err), "unknown model '%s'", mq->name);
            code = GS_NOT_FOUND;
        } else {
            ProtobufCMessage *r = model_meta(sv, mq->name, &code, err, sizeof(err));
            if (r) {
                send_msg(c, r);
                free_meta(r);
            } else {
                code = GS_INTERNAL;
                snprintf(err, sizeof(err), "out of memory");
            }
        }
    } else { /* ModelInfer */
        code = infer_one(c, (Inference__ModelInferRequest *)q, 0, err, sizeof(err));
    }
    protobuf_c_message_free_unpacked(q, NULL);
    send_status(c, code, code == GS_OK ? "" : err);
}

static void call_free(gcall *c)
{
    if (c->close_started && !c->closed)
        grpc_completion_queue_pluck(c->cq, CLOSE_TAG, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    if (c->call)
        grpc_call_unref(c->call);
    grpc_call_details_destroy(&c->details);
    grpc_metadata_array_destroy(&c->md);
    grpc_completion_queue_shutdown(c->cq);
    grpc_completion_queue_destroy(c->cq);
    pthread_mutex_destroy(&c->close_mu);
    free(c);
}

/* The call is over: its resources freed, one call fewer alive. */
static void call_end(gcall *c)
{
    sv_grpc *g = c->g;
    call_free(c);
    pthread_mutex_lock(&g->mu);
    g->n_calls--;
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->mu);
}

static void *call_main(void *arg)
{
    handle(arg);
    call_end(arg);
    return NULL;
}

static gcall *call_new(sv_grpc *g)
{
    gcall *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->g = g;
    c->cq = grpc_completion_queue_create_for_pluck(NULL);
    pthread_mutex_init(&c->close_mu, NULL);
    grpc_call_details_init(&c->details);
    grpc_metadata_array_init(&c->md);
    if (grpc_server_request_call(g->server, &c->call, &c->details, &c->md, c->cq, g->cq, c) !=
        GRPC_CALL_OK) {
        call_free(c);
        return NULL;
    }
    return c;
}

#define SHUTDOWN_TAG ((void *)2)

static void *accept_main(void *arg)
{
    sv_grpc *g = arg;
    gcall *pending = call_new(g);
    for (;;) {
        grpc_event ev = grpc_completion_queue_next(g->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
        if (ev.type == GRPC_QUEUE_SHUTDOWN)
            break;
        if (ev.type != GRPC_OP_COMPLETE)
            continue;
        if (ev.tag == SHUTDOWN_TAG) { /* every call has finished */
            pthread_mutex_lock(&g->mu);
            g->shut = 1;
            pthread_cond_broadcast(&g->cv);
            pthread_mutex_unlock(&g->mu);
            continue;
        }
        gcall *c = ev.tag;
        if (!ev.success) { /* the server is shutting down: the request was not matched */
            if (c == pending)
                pending = NULL;
            call_free(c);
            continue;
        }
        pending = call_new(g); /* the next call, before this one runs */
        pthread_t th;
        pthread_mutex_lock(&g->mu);
        g->n_calls++;
        pthread_mutex_unlock(&g->mu);
        if (pthread_create(&th, NULL, call_main, c) == 0) {
            pthread_detach(th);
        } else {
            send_status(c, GS_RESOURCE_EXHAUSTED, "no thread for the call");
            call_end(c);
        }
    }
    return NULL;
}

sv_grpc *sv_grpc_start(sv_server *sv, const char *host, int port)
{
    sv_grpc *g = calloc(1, sizeof(*g));
    if (!g)
        return NULL;
    g->sv = sv;
    pthread_mutex_init(&g->mu, NULL);
    pthread_cond_init(&g->cv, NULL);
    grpc_init();
    grpc_arg args[2];
    memset(args, 0, sizeof(args));
    args[0].type = GRPC_ARG_INTEGER;
    args[0].key = (char *)GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH;
    args[0].value.integer = sv->max_body > (size_t)INT32_MAX ? INT32_MAX : (int)sv->max_body;
    args[1].type = GRPC_ARG_INTEGER;
    args[1].key = (char *)GRPC_ARG_MAX_SEND_MESSAGE_LENGTH;
    args[1].value.integer = INT32_MAX;
    grpc_channel_args ca = { 2, args };
    g->server = grpc_server_create(&ca, NULL);
    g->cq = grpc_completion_queue_create_for_next(NULL);
    grpc_server_register_completion_queue(g->server, g->cq, NULL);
    char addr[128];
    snprintf(addr, sizeof(addr), "%s:%d", host, port);
    grpc_server_credentials *creds = grpc_insecure_server_credentials_create();
    int bound = grpc_server_add_http2_port(g->server, addr, creds);
    grpc_server_credentials_release(creds);
    if (bound <= 0) {
        grpc_server_destroy(g->server);
        grpc_completion_queue_shutdown(g->cq);
        grpc_completion_queue_destroy(g->cq);
        grpc_shutdown();
        free(g);
        return NULL;
    }
    grpc_server_start(g->server);
    if (pthread_create(&g->accept_thread, NULL, accept_main, g) != 0) {
        grpc_server_shutdown_and_notify(g->server, g->cq, SHUTDOWN_TAG);
        grpc_server_cancel_all_calls(g->server);
        grpc_completion_queue_shutdown(g->cq);
        grpc_server_destroy(g->server);
        grpc_completion_queue_destroy(g->cq);
        grpc_shutdown();
        free(g);
        return NULL;
    }
    return g;
}

void sv_grpc_drain(sv_grpc *g)
{
    if (!g)
        return;
    grpc_server_shutdown_and_notify(g->server, g->cq, SHUTDOWN_TAG); /* no new calls */
}

void sv_grpc_free(sv_grpc *g)
{
    if (!g)
        return;
    grpc_server_cancel_all_calls(g->server); /* streams left open by their clients */
    pthread_mutex_lock(&g->mu);
    while (g->n_calls > 0 || !g->shut)
        pthread_cond_wait(&g->cv, &g->mu);
    pthread_mutex_unlock(&g->mu);
    grpc_completion_queue_shutdown(g->cq);
    pthread_join(g->accept_thread, NULL);
    grpc_server_destroy(g->server);
    grpc_completion_queue_destroy(g->cq);
    grpc_shutdown();
    pthread_mutex_destroy(&g->mu);
    pthread_cond_destroy(&g->cv);
    free(g);
}
