/*
 * client_cli.h — what `hark client`'s files share (cmd_client.c: options, audio, requests;
 * client_bench.c: the sweep; bench_chart.c: its chart).
 */
#ifndef HARK_CLIENT_CLI_H
#define HARK_CLIENT_CLI_H

#include "client.h"

#include <stddef.h>
#include <stdint.h>

typedef struct copts {
    cl_target t;
    const char *prefix, *language, *task, *json;
    int timestamps, streaming, requests, warmup;
    double tile;
    int conc[32], n_conc, batch[32], n_batch;
    const char **files;
    int n_files;
    const char *dataset, *svg, *spelling; /* --dataset, --svg, --spelling */
    const char **ids, **refs;            /* with --dataset: each file's id and reference */
    int references;                      /* --references: WER of each cell */
} copts;

typedef struct clip {
    float *pcm;
    size_t n;
} clip;

/* A request of rows windows from clips first, first + 1, ... (cycling): WAV [rows, stride] with
 * stride the longest clip's length rounded up to 30 s (the seed client's padding). */
typedef struct batch_req {
    cl_request rq;
    float *pcm;
    int32_t *lens;
    double audio_s;
} batch_req;

int batch_build(const clip *c, int n_clips, int first, int rows, const char *prefix,
                batch_req *b);
void batch_free(batch_req *b);

/* client_bench.c: the sweep over o->conc x o->batch (table, JSON lines, chart); 0, or 1 when
 * any request failed. */
int client_bench(const copts *o, const clip *clips, const char *prefix);

/* bench_chart.c: one measured cell, and the SVG chart of throughput against p99 latency, a line
 * per batch size (0, or -1 when path cannot be written). */
typedef struct bench_point {
    int conc, batch;
    double audio_s_per_s, p99_s;
} bench_point;
int bench_chart_svg(const char *path, const char *title, const bench_point *p, int n);

#endif
