/* serve_kserve.h — private to `hark serve`: the KServe v2 request, independent of its wire
 * (HTTP JSON / binary tensors in serve_api.c, gRPC in serve_grpc.c), and running it. */
#ifndef HARK_SERVE_KSERVE_H
#define HARK_SERVE_KSERVE_H

#include "serve.h"

#include <jansson.h>

/* An input tensor: name, datatype, shape, and its data either as JSON (data) or as bytes in the
 * binary layout of the tensor extension (bin: little-endian numbers, BYTES elements as a 4-byte
 * length and the bytes). Pointers borrow from the request. */
typedef struct kin {
    const char *name, *dt;
    long shape[4];
    int rank;
    json_t *data;
    const unsigned char *bin;
    size_t bin_len;
    int has_bin;
} kin;

long kserve_shape_count(const kin *t);

/* 1 when name (len bytes) is a model this server answers to. */
int kserve_known_model(const sv_server *sv, const char *name, size_t len);

/* The output names, indexed as want[]: TRANSCRIPTS, LANGUAGE, SEGMENTS. */
#define KSERVE_N_OUTPUTS 3
extern const char *const KSERVE_OUTPUTS[KSERVE_N_OUTPUTS];

/* The rows of a request, transcribed. */
typedef struct sv_job sv_job;
typedef struct kserve_rows {
    int rows;
    sv_job *jobs;
    char **store;
    double audio_s;
} kserve_rows;

/* Validates the inputs, transcribes each row (together, on batch states) and keeps the results
 * in *o. want[k]: output k is asked for (SEGMENTS needs rendering). With partial (only for a
 * request of one row), each segment is handed over as it is decoded. Returns 0, or an HTTP
 * status with err filled. */
int kserve_run(sv_server *sv, const sv_request *rq, const kin *ins, int n_in, const int *want,
               hark_segment_fn partial, void *partial_user, kserve_rows *o, char *err,
               size_t errcap);
/* Output k of row r (never NULL). */
const char *kserve_output(const kserve_rows *o, int k, int r);
void kserve_rows_free(kserve_rows *o);

/* Writes v as one BYTES element (4-byte little-endian length, then the bytes); returns the
 * bytes written. */
size_t put_bytes_element(char *dst, const char *v);

#endif
