/*
 * client_bench.c — `hark client bench`: the sweep over concurrency x batch size the seed's client
 * runs, measured the way Triton's perf_analyzer does with a fixed concurrency: C client threads,
 * each with its own connection, send requests back to back (closed loop) until the cell's count
 * is reached, after untimed warm-up waves. Per cell: requests/s, audio seconds per second,
 * latency mean and p50/p90/p95/p99, errors and, with --references, the error rate of the
 * answers (score.h); a progress line on a terminal; a table, JSON lines and an SVG chart.
 */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"
#include "client_cli.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifdef HARK_WITH_WER
#include "score.h"
#endif


typedef struct cell {
    const copts *o;
    const clip *clips;
    const char *prefix;
    int rows, total;
    pthread_mutex_t mu;
    int next, n_ok, n_err;
    double *lat, audio_s;
    char first_err[512];
    char **hyps; /* [n_files]: the last answer for each file (--references) */
} cell;

static void cell_error(cell *c, const char *err)
{
    pthread_mutex_lock(&c->mu);
    if (c->n_err++ == 0)
        snprintf(c->first_err, sizeof(c->first_err), "%s", err);
    pthread_mutex_unlock(&c->mu);
}

/* One client thread: its own connection, requests until the cell's count is taken. */
static void *bench_worker(void *arg)
{
    cell *c = arg;
    char err[512];
    cl_conn *conn = cl_connect(&c->o->t, err, sizeof(err));
    for (;;) {
        pthread_mutex_lock(&c->mu);
        int i = c->next < c->total ? c->next++ : -1;
        pthread_mutex_unlock(&c->mu);
        if (i < 0)
            break;
        if (!conn) {
            cell_error(c, err);
            continue;
        }
        batch_req b;
        if (batch_build(c->clips, c->o->n_files, i * c->rows, c->rows, c->prefix, &b) != 0) {
            cell_error(c, "out of memory");
            continue;
        }
        cl_reply r;
        double t0 = cli_now();
        int rc = cl_infer(conn, &b.rq, &r);
        double dt = cli_now() - t0;
        if (rc != 0) {
            cell_error(c, r.err);
        } else {
            pthread_mutex_lock(&c->mu);
            c->lat[c->n_ok++] = dt;
            c->audio_s += b.audio_s;
            for (int k = 0; c->hyps && k < r.n; k++) {
                int f = (i * c->rows + k) % c->o->n_files;
                free(c->hyps[f]);
                c->hyps[f] = strdup(r.texts[k] ? r.texts[k] : "");
            }
            pthread_mutex_unlock(&c->mu);
        }
        cl_reply_free(&r);
        batch_free(&b);
    }
    cl_close(conn);
    return NULL;
}

/* Runs total requests of rows windows from conc threads; returns the wall seconds. */
static double run_cell(cell *c, int conc)
{
    pthread_t th[4096];
    int n = 0;
    double t0 = cli_now();
    for (; n < conc; n++)
        if (pthread_create(&th[n], NULL, bench_worker, c) != 0)
            break;
    if (n == 0)
        bench_worker(c);
    if (isatty(STDERR_FILENO)) { /* a progress line while the cell runs */
        for (;;) {
            pthread_mutex_lock(&c->mu);
            int done = c->n_ok + c->n_err, total = c->total;
            pthread_mutex_unlock(&c->mu);
            int w = total > 0 ? 30 * done / total : 30;
            fprintf(stderr, "\r  concurrency %d, batch %d [%.*s%*s] %d/%d ", conc, c->rows, w,
                    "##############################", 30 - w, "", done, total);
            if (done >= total)
                break;
            struct timespec ts = { 0, 200 * 1000 * 1000 };
            nanosleep(&ts, NULL);
        }
        fprintf(stderr, "\r%*s\r", 70, "");
    }
    for (int i = 0; i < n; i++)
        pthread_join(th[i], NULL);
    return cli_now() - t0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The nearest-rank percentile of sorted x[n]. */
static double pct(const double *x, int n, double q)
{
    if (n == 0)
        return NAN;
    int k = (int)ceil(q * n) - 1;
    return x[k < 0 ? 0 : k >= n ? n - 1 : k];
}

static const char *proto_name(cl_protocol p)
{
    return p == CL_GRPC ? "grpc" : p == CL_OPENAI ? "openai" : "http";
}

/* The error rate of a cell's answers against the references (-1 when nothing is scored):
 * sc is a scorer (score.h) or NULL. */
static double cell_wer(const copts *o, const void *sc, char *const *hyps, int *scored)
{
    *scored = 0;
#ifdef HARK_WITH_WER
    wer_counts c = { 0 };
    for (int i = 0; sc && i < o->n_files; i++)
        if (o->refs && o->refs[i] && hyps[i] && scorer_add(sc, o->refs[i], hyps[i], &c) == 0)
            (*scored)++;
    return *scored ? wer_rate(&c) : -1.0;
#else
    (void)o, (void)sc, (void)hyps;
    return -1.0;
#endif
}

/* One cell of the sweep: warm-up, the timed run, a table row, a JSON line and its point on the
 * chart. Returns its error count. */
static int bench_cell(const copts *o, const clip *clips, const char *prefix, int conc, int rows,
                      const void *sc, FILE *json, bench_point *pt)
{
    int total = o->requests > 0 ? o->requests : (4 * conc > 16 ? 4 * conc : 16);
    cell c = { .o = o, .clips = clips, .prefix = prefix, .rows = rows };
    pthread_mutex_init(&c.mu, NULL);
    c.lat = malloc((size_t)(total > o->warmup * conc ? total : o->warmup * conc) *
                   sizeof(double));
    if (sc)
        c.hyps = calloc((size_t)o->n_files, sizeof(char *));
    if (!c.lat || (sc && !c.hyps)) {
        free(c.lat), free(c.hyps);
        pthread_mutex_destroy(&c.mu);
        return 1;
    }
    if (o->warmup > 0) {
        c.total = o->warmup * conc;
        run_cell(&c, conc);
        c.next = c.n_ok = c.n_err = 0;
        c.audio_s = 0;
        c.first_err[0] = 0;
    }
    c.total = total;
    double wall = run_cell(&c, conc);
    qsort(c.lat, (size_t)c.n_ok, sizeof(double), cmp_double);
    double mean = 0;
    for (int i = 0; i < c.n_ok; i++)
        mean += c.lat[i] / c.n_ok;
    int scored = 0;
    double wer = sc ? cell_wer(o, sc, c.hyps, &scored) : -1.0;
    double p[4] = { pct(c.lat, c.n_ok, 0.5), pct(c.lat, c.n_ok, 0.9), pct(c.lat, c.n_ok, 0.95),
                    pct(c.lat, c.n_ok, 0.99) };
    printf("%11d %10d %8d %6d %9.2f %9.1f %8.3f %8.3f %8.3f %8.3f %8.3f", conc, rows, c.n_ok,
           c.n_err, c.n_ok / wall, c.audio_s / wall, mean, p[0], p[1], p[2], p[3]);
    if (sc)
        printf(wer >= 0 ? " %7.2f%%" : "       -", 100.0 * wer);
    printf("\n");
    if (c.n_err)
        fprintf(stderr, "hark client: %d of %d requests failed; the first: %s\n", c.n_err, total,
                c.first_err);
    fflush(stdout);
    if (json) {
        fprintf(json, "{\"protocol\":\"%s\",\"concurrency\":%d,\"batch_size\":%d,\"requests\":%d,"
                      "\"ok\":%d,\"errors\":%d,\"wall_s\":%.4f,\"req_per_s\":%.3f,"
                      "\"audio_s_per_s\":%.2f,\"lat_mean_s\":%.4f,\"p50_s\":%.4f,"
                      "\"p90_s\":%.4f,\"p95_s\":%.4f,\"p99_s\":%.4f",
                proto_name(o->t.protocol), conc, rows, total, c.n_ok, c.n_err, wall,
                c.n_ok / wall, c.audio_s / wall, c.n_ok ? mean : 0.0, c.n_ok ? p[0] : 0.0,
                c.n_ok ? p[1] : 0.0, c.n_ok ? p[2] : 0.0, c.n_ok ? p[3] : 0.0);
        if (sc)
            fprintf(json, ",\"scored\":%d,\"wer\":%.6f", scored, wer >= 0 ? wer : 0.0);
        fprintf(json, "}\n");
        fflush(json);
    }
    *pt = (bench_point){ .conc = conc, .batch = rows, .audio_s_per_s = c.audio_s / wall,
                         .p99_s = c.n_ok ? p[3] : 0.0 };
    for (int i = 0; c.hyps && i < o->n_files; i++)
        free(c.hyps[i]);
    free(c.hyps);
    free(c.lat);
    pthread_mutex_destroy(&c.mu);
    return c.n_err;
}

/* The scorer of --references (NULL without), or -1 in *rc when it cannot be made. */
static void *make_scorer(const copts *o, int *rc)
{
    *rc = 0;
    if (!o->references)
        return NULL;
#ifdef HARK_WITH_WER
    scorer *sc = calloc(1, sizeof(scorer));
    if (sc && scorer_init(sc, "auto", "auto", o->refs, o->n_files, o->spelling) == 0)
        return sc;
    free(sc);
#else
    fprintf(stderr, "hark client: --references: this hark was built without utf8proc\n");
#endif
    *rc = -1;
    return NULL;
}

static void free_scorer(void *sc)
{
#ifdef HARK_WITH_WER
    if (sc)
        scorer_free(sc);
#endif
    free(sc);
}

int client_bench(const copts *o, const clip *clips, const char *prefix)
{
    FILE *json = NULL;
    int rc;
    void *sc = make_scorer(o, &rc);
    if (rc != 0)
        return 1;
    if (o->json && !(json = !strcmp(o->json, "-") ? stdout : fopen(o->json, "w"))) {
        fprintf(stderr, "hark client: cannot write %s\n", o->json);
        free_scorer(sc);
        return 1;
    }
    printf("%s %s, model %s\n", proto_name(o->t.protocol), o->t.url, o->t.model);
    printf("concurrency batch_size       ok errors     req/s   audio/s  mean(s)   p50(s)   p90(s)"
           "   p95(s)   p99(s)%s\n", sc ? "      WER" : "");
    int errors = 0, n_pts = 0;
    bench_point *pts = calloc((size_t)(o->n_batch * o->n_conc + 1), sizeof(bench_point));
    for (int b = 0; pts && b < o->n_batch; b++) {
        if (o->t.protocol == CL_OPENAI && o->batch[b] != 1) {
            fprintf(stderr, "hark client: openai: batch size %d skipped (one file a request)\n",
                    o->batch[b]);
            continue;
        }
        for (int k = 0; k < o->n_conc; k++)
            errors += bench_cell(o, clips, prefix, o->conc[k], o->batch[b], sc, json,
                                 &pts[n_pts++]);
    }
    if (json && json != stdout)
        fclose(json);
    char title[512];
    snprintf(title, sizeof(title), "%s %s, model %s", proto_name(o->t.protocol), o->t.url,
             o->t.model);
    if (o->svg && bench_chart_svg(o->svg, title, pts, n_pts) != 0) {
        fprintf(stderr, "hark client: cannot write %s\n", o->svg);
        errors++;
    }
    free(pts);
    free_scorer(sc);
    return errors || !pts ? 1 : 0;
}
