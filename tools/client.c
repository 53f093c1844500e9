/*
 * client.c — `hark client`'s connection handle: picks the transport of the target's protocol
 * (client_http.c, client_grpc.c) and frees replies.
 */
#include "client.h"

#include <stdio.h>
#include <stdlib.h>

struct cl_conn {
    const cl_transport *t;
    void *impl;
};

static const cl_transport *transport_of(cl_protocol p)
{
#ifdef HARK_WITH_GRPC
    if (p == CL_GRPC)
        return &cl_grpc_transport;
#endif
    return p == CL_GRPC ? NULL : &cl_http_transport;
}

cl_conn *cl_connect(const cl_target *t, char *err, size_t err_size)
{
    const cl_transport *tr = transport_of(t->protocol);
    if (!tr) {
        snprintf(err, err_size, "this hark was built without gRPC (libgrpc-dev, "
                 "libprotobuf-c-dev and protobuf-c-compiler)");
        return NULL;
    }
    cl_conn *c = calloc(1, sizeof(*c));
    if (!c) {
        snprintf(err, err_size, "out of memory");
        return NULL;
    }
    c->t = tr;
    c->impl = tr->connect(t, err, err_size);
    if (!c->impl) {
        free(c);
        return NULL;
    }
    return c;
}

int cl_infer(cl_conn *c, const cl_request *rq, cl_reply *out)
{
    out->texts = NULL;
    out->n = 0;
    out->status = -1;
    out->err[0] = 0;
    if (rq->rows < 1 || !rq->pcm || !rq->lens || rq->stride == 0) {
        snprintf(out->err, sizeof(out->err), "a request of %d rows", rq->rows);
        return -1;
    }
    return c->t->infer(c->impl, rq, out);
}

int cl_health(cl_conn *c, char *err, size_t err_size)
{
    return c->t->health(c->impl, err, err_size);
}

void cl_close(cl_conn *c)
{
    if (!c)
        return;
    c->t->close(c->impl);
    free(c);
}

void cl_reply_free(cl_reply *r)
{
    for (int i = 0; i < r->n; i++)
        free(r->texts[i]);
    free(r->texts);
    r->texts = NULL;
    r->n = 0;
}
