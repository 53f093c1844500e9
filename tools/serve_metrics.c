/*
 * serve_metrics.c — what `hark serve` counts and shows at /metrics (Prometheus text format):
 * requests by protocol and status class, latency and real-time-factor histograms, queue depth,
 * audio seconds, the batch engines' rounds and merging, device memory per engine instance.
 */
#define _POSIX_C_SOURCE 200809L
#include "serve.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const double LAT_EDGES[SV_LAT_BUCKETS] = { 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                                  0.5,   1.0,  2.5,   5.0,  10.0, 30.0 };
static const double RTF_EDGES[SV_RTF_BUCKETS] = { 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 1.0 };

static int status_class(int status)
{
    if (status == 429)
        return 2;
    if (status == 503)
        return 4;
    if (status >= 200 && status < 300)
        return 0;
    if (status >= 400 && status < 500)
        return 1;
    if (status >= 500)
        return 3;
    return 5;
}

void sv_record(sv_server *sv, int protocol, int status, double seconds, double audio_s)
{
    if (protocol < 0 || protocol > 3)
        protocol = 3;
    pthread_mutex_lock(&sv->mu);
    sv_metrics *m = &sv->m;
    m->requests[protocol][status_class(status)]++;
    if (status >= 200 && status < 300) {
        m->lat_count[protocol]++;
        m->lat_sum[protocol] += seconds;
        int b = 0;
        while (b < SV_LAT_BUCKETS && seconds > LAT_EDGES[b])
            b++;
        m->lat_bucket[protocol][b]++;
        if (audio_s > 0) {
            m->audio_ms += (uint64_t)(audio_s * 1000.0);
            double rtf = seconds / audio_s;
            m->rtf_count++;
            m->rtf_sum += rtf;
            b = 0;
            while (b < SV_RTF_BUCKETS && rtf > RTF_EDGES[b])
                b++;
            m->rtf_bucket[b]++;
        }
    }
    pthread_mutex_unlock(&sv->mu);
}

/* Appends printf output to a growing buffer. */
typedef struct sbuf {
    char *p;
    size_t len, cap;
} sbuf;

static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf *b, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = b->p ? vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap) : -1;
        va_end(ap);
        if (n >= 0 && b->len + (size_t)n < b->cap) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = b->cap ? 2 * b->cap : 4096;
        while (n >= 0 && cap < b->len + (size_t)n + 1)
            cap *= 2;
        char *q = realloc(b->p, cap);
        if (!q)
            return;
        b->p = q;
        b->cap = cap;
    }
}

static void histogram(sbuf *b, const char *name, const char *labels, const uint64_t *bucket,
                      const double *edges, int n_edges, uint64_t count, double sum)
{
    uint64_t acc = 0;
    for (int i = 0; i <= n_edges; i++) {
        acc += bucket[i];
        if (i < n_edges)
            sb_printf(b, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, labels, *labels ? "," : "",
                      edges[i], (unsigned long long)acc);
        else
            sb_printf(b, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, labels, *labels ? "," : "",
                      (unsigned long long)acc);
    }
    sb_printf(b, "%s_sum{%s} %.6f\n%s_count{%s} %llu\n", name, labels, sum, name, labels,
              (unsigned long long)count);
}

char *sv_metrics_text(sv_server *sv, size_t *len)
{
    static const char *PROTO[4] = { "kserve", "openai", "grpc", "other" };
    static const char *CLASS[6] = { "2xx", "4xx", "429", "5xx", "503", "other" };
    hark_batch_stats bs = { 0 };
    for (int i = 0; i < sv->n_inst; i++) { /* all instances together */
        hark_batch_stats one;
        if (hark_batch_get_stats(sv->batches[i], &one) != HARK_OK)
            continue;
        bs.rounds += one.rounds;
        bs.decode_calls += one.decode_calls;
        bs.decode_batches += one.decode_batches;
        bs.decode_rows += one.decode_rows;
        bs.encode_windows += one.encode_windows;
        bs.encode_calls += one.encode_calls;
        bs.free_sequences += one.free_sequences;
        bs.free_windows += one.free_windows;
        if (one.max_decode_calls > bs.max_decode_calls)
            bs.max_decode_calls = one.max_decode_calls;
        for (int k = 0; k < 8; k++)
            bs.rounds_by_calls[k] += one.rounds_by_calls[k];
        bs.rounds_timed_out += one.rounds_timed_out;
    }
    pthread_mutex_lock(&sv->mu);
    sv_metrics m = sv->m;
    int active = sv->active, queued = active > sv->max_inflight ? active - sv->max_inflight : 0;
    pthread_mutex_unlock(&sv->mu);
    sbuf b = { 0 };
    sb_printf(&b, "# HELP hark_requests_total Requests answered, by protocol and status class.\n"
                  "# TYPE hark_requests_total counter\n");
    for (int p = 0; p < 4; p++)
        for (int c = 0; c < 6; c++)
            sb_printf(&b, "hark_requests_total{protocol=\"%s\",status=\"%s\"} %llu\n", PROTO[p],
                      CLASS[c], (unsigned long long)m.requests[p][c]);
    sb_printf(&b, "# HELP hark_inflight_requests Requests admitted and not yet answered.\n"
                  "# TYPE hark_inflight_requests gauge\nhark_inflight_requests %d\n"
                  "# HELP hark_queue_depth Admitted requests beyond --max-batch-size.\n"
                  "# TYPE hark_queue_depth gauge\nhark_queue_depth %d\n", active, queued);
    sb_printf(&b, "# HELP hark_audio_seconds_total Audio transcribed.\n"
                  "# TYPE hark_audio_seconds_total counter\nhark_audio_seconds_total %.3f\n",
              (double)m.audio_ms / 1000.0);
    sb_printf(&b, "# HELP hark_request_duration_seconds Latency of successful requests.\n"
                  "# TYPE hark_request_duration_seconds histogram\n");
    for (int p = 0; p < 3; p++) {
        char lab[64];
        snprintf(lab, sizeof(lab), "protocol=\"%s\"", PROTO[p]);
        histogram(&b, "hark_request_duration_seconds", lab, m.lat_bucket[p], LAT_EDGES,
                  SV_LAT_BUCKETS, m.lat_count[p], m.lat_sum[p]);
    }
    sb_printf(&b, "# HELP hark_request_rtf Processing time over audio time of each request.\n"
                  "# TYPE hark_request_rtf histogram\n");
    histogram(&b, "hark_request_rtf", "", m.rtf_bucket, RTF_EDGES, SV_RTF_BUCKETS, m.rtf_count,
              m.rtf_sum);
    sb_printf(&b, "# HELP hark_engine_rounds_total Engine rounds (one merged backend pass each).\n"
                  "# TYPE hark_engine_rounds_total counter\nhark_engine_rounds_total %llu\n"
                  "# HELP hark_decode_calls_total Decoder steps of requests, and the backend "
                  "calls they were merged into.\n# TYPE hark_decode_calls_total counter\n"
                  "hark_decode_calls_total{kind=\"request\"} %llu\n"
                  "hark_decode_calls_total{kind=\"backend\"} %llu\n"
                  "# HELP hark_decode_rows_total Decoder rows (tokens) computed.\n"
                  "# TYPE hark_decode_rows_total counter\nhark_decode_rows_total %llu\n"
                  "# HELP hark_batch_max_merged Most request steps merged into one backend call.\n"
                  "# TYPE hark_batch_max_merged gauge\nhark_batch_max_merged %d\n"
                  "# HELP hark_encode_windows_total Encoder windows run.\n"
                  "# TYPE hark_encode_windows_total counter\nhark_encode_windows_total %llu\n"
                  "# HELP hark_free_sequence_slots Decoder sequence slots free.\n"
                  "# TYPE hark_free_sequence_slots gauge\nhark_free_sequence_slots %d\n",
              (unsigned long long)bs.rounds, (unsigned long long)bs.decode_calls,
              (unsigned long long)bs.decode_batches, (unsigned long long)bs.decode_rows,
              bs.max_decode_calls, (unsigned long long)bs.encode_windows, bs.free_sequences);
    static const char *RB[8] = { "1", "3", "7", "15", "31", "63", "127", "+Inf" };
    sb_printf(&b, "# HELP hark_engine_round_calls Engine rounds by the request calls they took "
                  "(le: at most).\n# TYPE hark_engine_round_calls histogram\n");
    uint64_t acc = 0, calls_sum = 0;
    for (int k = 0; k < 8; k++) {
        acc += bs.rounds_by_calls[k];
        sb_printf(&b, "hark_engine_round_calls_bucket{le=\"%s\"} %llu\n", RB[k],
                  (unsigned long long)acc);
    }
    calls_sum = bs.decode_calls + bs.encode_calls;
    sb_printf(&b, "hark_engine_round_calls_sum %llu\nhark_engine_round_calls_count %llu\n"
                  "# HELP hark_engine_rounds_timed_out_total Rounds started by the queue delay "
                  "with requests still busy.\n# TYPE hark_engine_rounds_timed_out_total counter\n"
                  "hark_engine_rounds_timed_out_total %llu\n",
              (unsigned long long)calls_sum, (unsigned long long)acc,
              (unsigned long long)bs.rounds_timed_out);
    /* device memory of each instance */
    sb_printf(&b, "# HELP hark_device_memory_bytes Device memory: weights, engine state, peak "
                  "in use, per engine instance.\n# TYPE hark_device_memory_bytes gauge\n");
    for (int i = 0; i < sv->n_inst; i++) {
        hark_stats st;
        if (hark_batch_device_stats(sv->batches[i], &st) == HARK_OK)
            sb_printf(&b, "hark_device_memory_bytes{instance=\"%d\",kind=\"weights\"} %llu\n"
                          "hark_device_memory_bytes{instance=\"%d\",kind=\"state\"} %llu\n"
                          "hark_device_memory_bytes{instance=\"%d\",kind=\"peak\"} %llu\n",
                      i, (unsigned long long)st.weights_bytes, i,
                      (unsigned long long)st.state_bytes, i,
                      (unsigned long long)st.device_peak_bytes);
    }
    sb_printf(&b, "# HELP hark_uptime_seconds Seconds since start.\n"
                  "# TYPE hark_uptime_seconds gauge\nhark_uptime_seconds %.1f\n",
              sv_now() - sv->started);
    *len = b.len;
    return b.p;
}

