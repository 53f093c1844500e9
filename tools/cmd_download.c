/* cmd_download.c — `hark download NAME`: fetch an official checkpoint into the cache (resuming a
 * partial download, checking its sha256), convert it to hark's file and print that file's path.
 * Progress goes to stderr: a bar on a terminal, a line per 10% otherwise. */
#include "cli.h"
#include "download/download.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void download_usage(FILE *f)
{
    fprintf(f, "usage: hark download NAME [--cache DIR] [--base-url URL] [--force]\n"
               "                         [--type f16|bf16|f32]\n"
               "       hark download --list\n"
               "NAME: tiny.en tiny base.en base small.en small medium.en medium large-v1 large-v2\n"
               "large-v3 large-v3-turbo (also large = large-v3, turbo = large-v3-turbo).\n"
               "Fetches the official OpenAI checkpoint into the cache ($HARK_CACHE_DIR, else\n"
               "$XDG_CACHE_HOME/hark, else ~/.cache/hark), converts it to hark's file there and\n"
               "prints its path. An interrupted download resumes when run again. --base-url\n"
               "replaces %s (a mirror: <URL>/<sha256>/<name>.pt).\n",
            HARK_MODEL_BASE_URL);
}

typedef struct progress_view {
    int tty;
    int last_tenth;       /* plain mode: last 10% step printed */
    double t_start, t_last;
    uint64_t done_start;  /* bytes already there when this run began (a resume) */
    int finished;
    const char *name, *url;
} progress_view;

static void draw_bar(progress_view *v, uint64_t done, uint64_t total, double t)
{
    enum { WIDTH = 30 };
    double frac = total ? (double)done / (double)total : 0;
    int fill = (int)(frac * WIDTH);
    char bar[WIDTH + 1];
    for (int i = 0; i < WIDTH; i++)
        bar[i] = i < fill ? '#' : '.';
    bar[WIDTH] = '\0';
    double dt = t - v->t_start;
    double rate = dt > 0 ? (double)(done - v->done_start) / dt : 0;
    fprintf(stderr, "\r[%s] %3d%%  %7.1f / %.1f MB  %6.1f MB/s ", bar, (int)(frac * 100),
            (double)done / 1e6, (double)total / 1e6, rate / 1e6);
    fflush(stderr);
}

static int show_progress(uint64_t done, uint64_t total, void *user)
{
    progress_view *v = user;
    double t = cli_now();
    if (v->t_start == 0) {
        v->t_start = t;
        v->done_start = done;
        if (done > 0)
            fprintf(stderr, "hark: resuming %s at %.1f MB from %s\n", v->name, (double)done / 1e6,
                    v->url);
        else
            fprintf(stderr, "hark: downloading %s from %s\n", v->name, v->url);
    }
    if (!total || v->finished)
        return 0;
    if (v->tty) {
        if (done == total || t - v->t_last >= 0.1) {
            v->t_last = t;
            draw_bar(v, done, total, t);
        }
    } else {
        int tenth = (int)(done * 10 / total);
        if (tenth > v->last_tenth) {
            v->last_tenth = tenth;
            fprintf(stderr, "hark: downloaded %d%% (%.1f of %.1f MB)\n", tenth * 10,
                    (double)done / 1e6, (double)total / 1e6);
        }
    }
    if (done == total) {
        v->finished = 1;
        if (v->tty)
            fputc('\n', stderr);
    }
    return 0;
}

static int list_models(void)
{
    char dir[4096];
    if (hark_cache_dir(dir, sizeof(dir)) != HARK_OK)
        dir[0] = '\0';
    printf("official models (cache: %s):\n", dir[0] ? dir : "none: set HARK_CACHE_DIR");
    for (int i = 0; i < hark_known_model_count(); i++) {
        const hark_known_model *m = hark_known_model_at(i);
        char path[4200];
        int cached = 0;
        if (dir[0]) {
            snprintf(path, sizeof(path), "%s/%s.hark", dir, m->name);
            cached = access(path, R_OK) == 0;
        }
        printf("  %-16s %s\n", m->name, cached ? "cached" : "");
    }
    return 0;
}

static int parse_dtype(const char *s, hark_dtype *dt)
{
    if (!strcmp(s, "f16"))
        *dt = HARK_DTYPE_F16;
    else if (!strcmp(s, "bf16"))
        *dt = HARK_DTYPE_BF16;
    else if (!strcmp(s, "f32"))
        *dt = HARK_DTYPE_F32;
    else
        return -1;
    return 0;
}


int cmd_download(int argc, char **argv)
{
    hark_fetch_params fp = hark_fetch_default_params();
    const char *name = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            download_usage(stdout);
            return 0;
        } else if (!strcmp(a, "--list")) {
            return list_models();
        } else if (!strcmp(a, "--cache") && v) {
            fp.cache_dir = v, i++;
        } else if (!strcmp(a, "--base-url") && v) {
            fp.base_url = v, i++;
        } else if (!strcmp(a, "--force")) {
            fp.force = 1;
        } else if (!strcmp(a, "--type") && v) {
            if (parse_dtype(v, &fp.convert.dtype) != 0) {
                fprintf(stderr, "hark download: unknown --type '%s' (f16, bf16 or f32)\n", v);
                return 2;
            }
            i++;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "hark download: unknown or incomplete option '%s'\n", a);
            download_usage(stderr);
            return 2;
        } else if (!name) {
            name = a;
        } else {
            download_usage(stderr);
            return 2;
        }
    }
    if (!name) {
        download_usage(stderr);
        return 2;
    }
    const hark_known_model *m = hark_known_model_find(name);
    if (!m) {
        fprintf(stderr, "hark download: '%s' is not an official model name\n", name);
        download_usage(stderr);
        return 2;
    }
    char url[4096];
    hark_status st = hark_known_model_url(m, fp.base_url, url, sizeof(url));
    if (st != HARK_OK)
        return cli_error("bad --base-url", st);
    progress_view view = { .tty = isatty(fileno(stderr)), .last_tenth = -1, .name = m->name,
                           .url = url };
    fp.download.progress = show_progress;
    fp.download.progress_user = &view;
    char path[4096];
    st = hark_model_fetch(name, &fp, path, sizeof(path));
    if (view.tty && view.t_start != 0 && !view.finished)
        fputc('\n', stderr); /* end the bar line of an interrupted download */
    if (st != HARK_OK)
        return cli_error("download failed", st);
    printf("%s\n", path);
    return 0;
}
