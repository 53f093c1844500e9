/*
 * cmd_client.c — `hark client`: check a Whisper server's health, transcribe files through it,
 * and benchmark it the way the seed's Triton client does (a sweep over concurrency x batch
 * size, requests per second, audio seconds per second, latency percentiles), over KServe v2
 * HTTP or gRPC or the OpenAI API. Transports in client_http.c and client_grpc.c.
 *
 * Bench model: C client threads, each with its own connection, send requests back to back
 * (closed loop) until the cell's request count is reached; untimed warm-up waves first. Each
 * request carries B windows (WAV [B, N], N the longest file's length rounded up to 30 s, as the
 * seed's client pads), cycling through the files.
 */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"
#include "client.h"
#include "client_cli.h"
#include "dataset.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SR 16000

static void client_usage(FILE *f)
{
    fprintf(f,
            "usage: hark client health [options]\n"
            "       hark client asr [options] [--streaming] FILE...\n"
            "       hark client bench [options] [--concurrency LIST] [--batch-size LIST]\n"
            "                         [--requests N] [--warmup W] [--tile SECONDS] [--json FILE]\n"
            "                         [--svg FILE] (FILE... | --dataset SET [--references])\n"
            "options:\n"
            "  --url URL             http://host:8000 (http, openai) or host:8001 (grpc)\n"
            "                        (default: http://127.0.0.1:8000, grpc 127.0.0.1:8001)\n"
            "  --protocol P          http (KServe v2, binary tensors), grpc (KServe v2), openai\n"
            "  --model NAME          KServe model / OpenAI model field (default whisper)\n"
            "  --text-prefix P       TEXT_PREFIX of every row (default\n"
            "                        %s)\n"
            "  --language XX, --task transcribe|translate, --timestamps\n"
            "                        build the prefix from these instead\n"
            "  --timeout S           per request (default 600)\n"
            "bench: --concurrency 1,2,4,8,16 and --batch-size 1,2,4,8 (the seed's sweep);\n"
            "  --requests per cell (default 4 x concurrency, at least 16); --warmup W untimed\n"
            "  waves of C requests first (default 1); --tile S repeats each file to S seconds\n"
            "  (e.g. 30: every window full); --json FILE writes one JSON line per cell; --svg\n"
            "  FILE draws throughput against p99 latency, a line per batch size. --dataset SET\n"
            "  (Kaldi folder, LibriSpeech folder, TSV, folder of audio) instead of files;\n"
            "  --references: each cell's error rate against the set's transcripts (as hark wer).\n",
            CL_DEFAULT_PREFIX);
}

/* ---------------------------------------------------------------- options ------------------ */

static int parse_list(const char *s, int *out, int max)
{
    int n = 0;
    for (const char *p = s; *p && n < max;) {
        char *e;
        long v = strtol(p, &e, 10);
        if (e == p || v < 1 || v > 4096)
            return -1;
        out[n++] = (int)v;
        p = *e == ',' ? e + 1 : e;
        if (*e && *e != ',')
            return -1;
    }
    return n;
}

/* Parses argv after the verb; returns 0, or 2 after printing what is wrong. */
static int parse_opts(int argc, char **argv, copts *o)
{
    *o = (copts){ .t = { .protocol = CL_HTTP, .model = "whisper", .timeout_s = 600 },
                  .warmup = 1, .conc = { 1, 2, 4, 8, 16 }, .n_conc = 5,
                  .batch = { 1, 2, 4, 8 }, .n_batch = 4 };
    o->files = calloc((size_t)argc + 1, sizeof(char *));
    if (!o->files)
        return 2;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int val = 1;
        if (!strcmp(a, "--url") && v)
            o->t.url = v;
        else if (!strcmp(a, "--protocol") && v) {
            if (strcmp(v, "http") && strcmp(v, "grpc") && strcmp(v, "openai")) {
                fprintf(stderr, "hark client: --protocol %s: expected http, grpc or openai\n", v);
                return 2;
            }
            o->t.protocol = !strcmp(v, "grpc") ? CL_GRPC : !strcmp(v, "openai") ? CL_OPENAI
                                                                                 : CL_HTTP;
        } else if (!strcmp(a, "--model") && v)
            o->t.model = v;
        else if (!strcmp(a, "--text-prefix") && v)
            o->prefix = v;
        else if (!strcmp(a, "--language") && v)
            o->language = v;
        else if (!strcmp(a, "--task") && v)
            o->task = v;
        else if (!strcmp(a, "--json") && v)
            o->json = v;
        else if (!strcmp(a, "--svg") && v)
            o->svg = v;
        else if (!strcmp(a, "--dataset") && v)
            o->dataset = v;
        else if (!strcmp(a, "--spelling") && v)
            o->spelling = v;
        else if (!strcmp(a, "--timeout") && v)
            o->t.timeout_s = atof(v);
        else if (!strcmp(a, "--tile") && v)
            o->tile = atof(v);
        else if (!strcmp(a, "--requests") && v)
            o->requests = (int)cli_long(v);
        else if (!strcmp(a, "--warmup") && v)
            o->warmup = (int)cli_long(v);
        else if (!strcmp(a, "--concurrency") && v)
            o->n_conc = parse_list(v, o->conc, 32);
        else if (!strcmp(a, "--batch-size") && v)
            o->n_batch = parse_list(v, o->batch, 32);
        else if (!strcmp(a, "--timestamps"))
            o->timestamps = 1, val = 0;
        else if (!strcmp(a, "--streaming"))
            o->streaming = 1, val = 0;
        else if (!strcmp(a, "--references"))
            o->references = 1, val = 0;
        else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "hark client: unknown option or missing value: %s\n", a);
            return 2;
        } else
            o->files[o->n_files++] = a, val = 0;
        i += val;
    }
    if (o->n_conc < 1 || o->n_batch < 1 || o->requests < 0 || o->warmup < 0 ||
        o->t.timeout_s < 0 || o->tile < 0 || o->tile > 3600) {
        fprintf(stderr, "hark client: bad --concurrency, --batch-size, --requests, --warmup, "
                        "--timeout or --tile\n");
        return 2;
    }
    if (o->task && strcmp(o->task, "transcribe") && strcmp(o->task, "translate")) {
        fprintf(stderr, "hark client: --task %s: expected transcribe or translate\n", o->task);
        return 2;
    }
    if (!o->t.url)
        o->t.url = o->t.protocol == CL_GRPC ? "127.0.0.1:8001" : "http://127.0.0.1:8000";
    return 0;
}

/* The text prefix: --text-prefix, else built from --language / --task / --timestamps. */
static const char *make_prefix(const copts *o, char *buf, size_t n)
{
    if (o->prefix)
        return o->prefix;
    if (!o->language && !o->task && !o->timestamps)
        return CL_DEFAULT_PREFIX;
    snprintf(buf, n, "<|startoftranscript|><|%s|><|%s|>%s", o->language ? o->language : "en",
             o->task ? o->task : "transcribe", o->timestamps ? "" : "<|notimestamps|>");
    return buf;
}

/* ---------------------------------------------------------------- audio -------------------- */


/* Loads the files (tiled to tile seconds when > 0) into malloc'd buffers; 0, or -1 after
 * printing the error. */
static int load_clips(const copts *o, clip *c)
{
    for (int i = 0; i < o->n_files; i++) {
        float *pcm = NULL;
        size_t n = 0;
        hark_status st = hark_audio_load(o->files[i], &pcm, &n);
        if (st != HARK_OK) {
            fprintf(stderr, "hark client: %s: %s\n", o->files[i], hark_last_error());
            return -1;
        }
        c[i].n = o->tile > 0 ? (size_t)(o->tile * SR) : n;
        c[i].pcm = malloc(c[i].n * sizeof(float));
        if (c[i].pcm)
            for (size_t k = 0; k < c[i].n; k++)
                c[i].pcm[k] = pcm[k % n];
        hark_free(pcm);
        if (!c[i].pcm) {
            fprintf(stderr, "hark client: out of memory\n");
            return -1;
        }
    }
    return 0;
}

static void free_clips(clip *c, int n)
{
    for (int i = 0; c && i < n; i++)
        free(c[i].pcm);
    free(c);
}


int batch_build(const clip *c, int n_clips, int first, int rows, const char *prefix,
                       batch_req *b)
{
    size_t longest = 0;
    for (int r = 0; r < rows; r++)
        if (c[(first + r) % n_clips].n > longest)
            longest = c[(first + r) % n_clips].n;
    size_t stride = (longest + 30 * SR - 1) / (30 * SR) * (30 * SR);
    b->pcm = calloc((size_t)rows * stride, sizeof(float));
    b->lens = malloc((size_t)rows * sizeof(int32_t));
    if (!b->pcm || !b->lens) {
        free(b->pcm), free(b->lens);
        return -1;
    }
    b->audio_s = 0;
    for (int r = 0; r < rows; r++) {
        const clip *k = &c[(first + r) % n_clips];
        memcpy(b->pcm + (size_t)r * stride, k->pcm, k->n * sizeof(float));
        b->lens[r] = (int32_t)k->n;
        b->audio_s += (double)k->n / SR;
    }
    b->rq = (cl_request){ .pcm = b->pcm, .rows = rows, .stride = stride, .lens = b->lens,
                          .text_prefix = prefix };
    return 0;
}

void batch_free(batch_req *b) { free(b->pcm), free(b->lens); }

/* ---------------------------------------------------------------- health, asr -------------- */

static int client_health(const copts *o)
{
    char err[512];
    cl_conn *c = cl_connect(&o->t, err, sizeof(err));
    if (!c || cl_health(c, err, sizeof(err)) != 0) {
        fprintf(stderr, "hark client: %s: not ready: %s\n", o->t.url, err);
        cl_close(c);
        return 1;
    }
    printf("%s: live, ready, model %s ready\n", o->t.url, o->t.model);
    cl_close(c);
    return 0;
}

static void print_partial(void *user, const char *text)
{
    (void)user;
    fprintf(stderr, "... %s\n", text);
}

static int client_asr(const copts *o, const clip *clips, const char *prefix)
{
    char err[512];
    cl_conn *c = cl_connect(&o->t, err, sizeof(err));
    if (!c) {
        fprintf(stderr, "hark client: %s\n", err);
        return 1;
    }
    int failed = 0;
    for (int i = 0; i < o->n_files; i++) {
        batch_req b;
        if (batch_build(clips, o->n_files, i, 1, prefix, &b) != 0) {
            failed = 1;
            break;
        }
        if (o->streaming)
            b.rq.partial = print_partial;
        cl_reply r;
        double t0 = cli_now();
        if (cl_infer(c, &b.rq, &r) != 0) {
            fprintf(stderr, "hark client: %s: %s\n", o->files[i], r.err);
            failed = 1;
        } else {
            printf("%s\t%s\n", o->files[i], r.texts[0]);
            fprintf(stderr, "%s: %.1f s of audio in %.3f s\n", o->files[i], b.audio_s,
                    cli_now() - t0);
        }
        cl_reply_free(&r);
        batch_free(&b);
    }
    cl_close(c);
    return failed;
}

int cmd_client(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        client_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *verb = argv[1];
    copts o;
    int rc = parse_opts(argc - 2, argv + 2, &o);
    if (rc != 0) {
        free(o.files);
        return rc;
    }
    if (!strcmp(verb, "health")) {
        rc = client_health(&o);
        free(o.files);
        return rc;
    }
    if (strcmp(verb, "asr") && strcmp(verb, "bench")) {
        fprintf(stderr, "hark client: unknown verb '%s' (health, asr, bench)\n", verb);
        free(o.files);
        return 2;
    }
    dataset ds = { 0 };
    if (o.dataset) { /* the files (and references) of a dataset instead */
        char err[1024];
        if (o.n_files > 0 || dataset_load(o.dataset, &ds, err, sizeof(err)) != 0) {
            fprintf(stderr, "hark client: %s\n", o.n_files ? "--dataset or files, not both" : err);
            free(o.files);
            return o.n_files ? 2 : 1;
        }
        free(o.files);
        o.files = calloc((size_t)ds.n, sizeof(char *));
        o.refs = calloc((size_t)ds.n + 1, sizeof(char *));
        for (int i = 0; o.files && o.refs && i < ds.n; i++)
            o.files[o.n_files++] = ds.items[i].path, o.refs[i] = ds.items[i].ref;
    }
    if (o.n_files == 0 || (o.references && !o.refs)) {
        fprintf(stderr, "hark client %s: %s\n", verb,
                o.n_files ? "--references needs --dataset (with transcripts)" : "no audio files");
        free(o.files), free(o.refs);
        dataset_free(&ds);
        return 2;
    }
    clip *clips = calloc((size_t)o.n_files, sizeof(clip));
    char pbuf[256];
    const char *prefix = make_prefix(&o, pbuf, sizeof(pbuf));
    if (!clips || load_clips(&o, clips) != 0)
        rc = 1;
    else
        rc = !strcmp(verb, "asr") ? client_asr(&o, clips, prefix) : client_bench(&o, clips, prefix);
    free_clips(clips, o.n_files);
    free(o.files), free(o.refs);
    rc |= ds.problems > 0;
    dataset_free(&ds);
    return rc;
}
