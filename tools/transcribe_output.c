/*
 * transcribe_output.c — the output side of `hark transcribe`: the verbose segment lines on
 * stdout, the progress bar on stderr, and the transcript files, rendered by src/output (hark_out_render) from a result built
 * out of the public accessors of hark_state.
 *
 * ref: openai/whisper transcribe.py (verbose lines "[start --> end] text", "Detected language:
 * English") and cli() (files named <audio basename without extension>.<ext> in --output_dir,
 * which it creates); utils.py format_timestamp and get_writer.
 * Deviation: openai has one "json" file (the full result); hark offers the OpenAI API's two JSON
 * shapes, so verbose_json is written to <base>.verbose.json and "all" writes six files.
 */
#define _POSIX_C_SOURCE 200809L
#include "transcribe_output.h"
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

unsigned tr_parse_formats(const char *name)
{
    if (!name)
        return 0;
    if (!strcasecmp(name, "all"))
        return TR_FORMAT_ALL;
    hark_out_format f;
    if (hark_out_format_parse(name, &f) != HARK_OK)
        return 0;
    return TR_FORMAT_BIT(f);
}

const char *tr_language_title(const char *code, char *buf, size_t cap)
{
    if (!cap)
        return buf;
    const char *name = code ? hark_language_name(hark_language_index(code)) : NULL;
    snprintf(buf, cap, "%s", name ? name : code ? code : "unknown");
    if (!name)
        return buf;
    for (size_t i = 0; buf[i]; i++)
        if ((i == 0 || buf[i - 1] == ' ') && buf[i] >= 'a' && buf[i] <= 'z')
            buf[i] = (char)(buf[i] - 'a' + 'A');
    return buf;
}

/* ref: openai/whisper utils.py format_timestamp (hours only when non-zero, '.' marker). */
static void format_timestamp(double seconds, char *buf, size_t cap)
{
    if (!isfinite(seconds) || seconds < 0)
        seconds = 0;
    long long ms = llround(seconds * 1000.0);
    long long h = ms / 3600000, m = ms / 60000 % 60, s = ms / 1000 % 60;
    if (h > 0)
        snprintf(buf, cap, "%02lld:%02lld:%02lld.%03lld", h, m, s, ms % 1000);
    else
        snprintf(buf, cap, "%02lld:%02lld.%03lld", m, s, ms % 1000);
}

void tr_print_segment(const hark_state *state, int i, void *user)
{
    FILE *f = user;
    char t0[32], t1[32];
    format_timestamp(hark_segment_t0(state, i), t0, sizeof(t0));
    format_timestamp(hark_segment_t1(state, i), t1, sizeof(t1));
    const char *text = hark_segment_text(state, i);
    fprintf(f, "[%s --> %s] %s\n", t0, t1, text ? text : "");
    fflush(f);
}

void tr_print_segments(const hark_state *state, FILE *f)
{
    for (int i = 0; i < hark_n_segments(state); i++)
        tr_print_segment(state, i, f);
}

/* Creates dir and its missing parents (mkdir -p). */
static int make_dirs(const char *dir)
{
    if (!*dir)
        return -1;
    char *p = strdup(dir);
    if (!p)
        return -1;
    int rc = 0;
    for (char *s = p + 1;; s++) {
        if (*s != '/' && *s != '\0')
            continue;
        char c = *s;
        *s = '\0';
        if (mkdir(p, 0777) != 0 && errno != EEXIST) {
            rc = -1;
            break;
        }
        *s = c;
        if (!c)
            break;
    }
    free(p);
    struct stat sb;
    return rc == 0 && stat(dir, &sb) == 0 && S_ISDIR(sb.st_mode) ? 0 : -1;
}

/* The input's file name without directory and extension, as Python's
 * os.path.splitext(os.path.basename(path))[0]; "stdin" for "-". Returns a malloc'd string. */
static char *output_base(const char *input_path)
{
    if (!strcmp(input_path, "-"))
        return strdup("stdin");
    const char *slash = strrchr(input_path, '/');
    const char *base = slash ? slash + 1 : input_path;
    size_t n = strlen(base);
    const char *dot = strrchr(base, '.');
    if (dot) {
        const char *q = base;
        while (q < dot && *q == '.')
            q++;
        if (q < dot) /* a dot after a leading run of dots starts the extension */
            n = (size_t)(dot - base);
    }
    char *out = malloc(n + 1);
    if (out) {
        memcpy(out, base, n);
        out[n] = '\0';
    }
    return out;
}

static int write_file(const char *path, const char *text, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f) {
        fprintf(stderr, "hark: %s: cannot write: %s\n", path, strerror(errno));
        return 1;
    }
    size_t w = fwrite(text, 1, len, f);
    int err = ferror(f);
    if (fclose(f) != 0 || err || w != len) {
        fprintf(stderr, "hark: %s: write failed: %s\n", path, strerror(errno));
        return 1;
    }
    return 0;
}

/* Fills segs[n_segments] from the state's accessors; words[] holds every segment's words (one
 * array, in order). */
static void collect_segments(const hark_state *state, hark_out_segment *segs, int n,
                             hark_out_word *words)
{
    int w = 0;
    for (int i = 0; i < n; i++) {
        hark_segment_info info = { .id = i };
        hark_segment_get_info(state, i, &info);
        const int32_t *tokens = NULL;
        int n_tokens = hark_segment_tokens(state, i, &tokens);
        segs[i] = (hark_out_segment){
            .id = info.id, .seek = info.seek,
            .start = hark_segment_t0(state, i), .end = hark_segment_t1(state, i),
            .text = hark_segment_text(state, i),
            .tokens = n_tokens > 0 ? tokens : NULL, .n_tokens = n_tokens > 0 ? n_tokens : 0,
            .temperature = info.temperature, .avg_logprob = info.avg_logprob,
            .compression_ratio = info.compression_ratio, .no_speech_prob = info.no_speech_prob,
        };
        int nw = hark_segment_n_words(state, i);
        segs[i].words = nw > 0 ? words + w : NULL;
        for (int j = 0; j < nw; j++) {
            hark_word_info wi;
            if (hark_segment_get_word(state, i, j, &wi) != HARK_OK)
                break;
            words[w++] = (hark_out_word){ .start = wi.t0, .end = wi.t1, .word = wi.text,
                                          .probability = wi.probability };
            segs[i].n_words++;
        }
    }
}

static int write_format(const hark_out_result *r, hark_out_format f, const hark_out_options *opt,
                        const char *dir, const char *base)
{
    const char *ext = f == HARK_OUT_VERBOSE_JSON ? "verbose.json" : hark_out_format_ext(f);
    size_t cap = strlen(dir) + strlen(base) + strlen(ext) + 3;
    char *path = malloc(cap);
    char *text = NULL;
    size_t len = 0;
    int rc = 1;
    if (!path) {
        fprintf(stderr, "hark: %s/%s.%s: out of memory\n", dir, base, ext);
        return 1;
    }
    snprintf(path, cap, "%s/%s.%s", dir, base, ext);
    hark_status st = hark_out_render(r, f, opt, &text, &len);
    if (st != HARK_OK)
        fprintf(stderr, "hark: %s: %s (%s)\n", path, hark_last_error(), hark_status_str(st));
    else
        rc = write_file(path, text, len);
    free(text);
    free(path);
    return rc;
}

int tr_result_build(const hark_state *state, int translate, double duration, tr_result *out)
{
    memset(out, 0, sizeof(*out));
    int n = hark_n_segments(state);
    size_t n_words = 0;
    for (int i = 0; i < n; i++)
        n_words += (size_t)hark_segment_n_words(state, i);
    out->segs = calloc(n > 0 ? (size_t)n : 1, sizeof(*out->segs));
    out->words = calloc(n_words + 1, sizeof(*out->words));
    if (!out->segs || !out->words) {
        tr_result_free(out);
        return -1;
    }
    collect_segments(state, out->segs, n, out->words);
    const char *code = hark_result_language(state);
    const char *name = code ? hark_language_name(hark_language_index(code)) : NULL;
    out->r = (hark_out_result){
        .task = translate ? "translate" : "transcribe",
        .language = name ? name : code,
        .duration = duration,
        .segments = out->segs,
        .n_segments = n,
    };
    return 0;
}

void tr_result_free(tr_result *r)
{
    free(r->segs);
    free(r->words);
    memset(r, 0, sizeof(*r));
}

int tr_write_outputs(const hark_state *state, const char *input_path, const char *output_dir,
                     unsigned formats, const hark_out_options *opt, int translate, double duration)
{
    if (!formats)
        return 0;
    if (make_dirs(output_dir) != 0) {
        fprintf(stderr, "hark: %s: cannot create the output folder: %s\n", output_dir,
                strerror(errno));
        return 1;
    }
    char *base = output_base(input_path);
    tr_result res;
    if (!base || tr_result_build(state, translate, duration, &res) != 0) {
        free(base);
        fprintf(stderr, "hark: %s: out of memory\n", input_path);
        return 1;
    }
    int rc = 0;
    for (int f = HARK_OUT_TXT; f <= HARK_OUT_VERBOSE_JSON; f++)
        if (formats & TR_FORMAT_BIT(f))
            rc |= write_format(&res.r, (hark_out_format)f, opt, output_dir, base);
    tr_result_free(&res);
    free(base);
    return rc;
}

int tr_progress_draw(double done, void *user)
{
    enum { WIDTH = 40 };
    tr_progress *b = user;
    double t = cli_now();
    if (done < 1 && t - b->t_last < 0.2)
        return 0;
    b->t_last = t;
    b->shown = 1;
    char bar[WIDTH + 1];
    for (int i = 0; i < WIDTH; i++)
        bar[i] = i < (int)(done * WIDTH) ? '#' : ' ';
    bar[WIDTH] = '\0';
    fprintf(stderr, "\r%3d%%|%s| %.1f/%.1f s ", (int)(done * 100), bar, done * b->duration,
            b->duration);
    fflush(stderr);
    return 0;
}

void tr_progress_clear(tr_progress *b)
{
    if (b->shown)
        fprintf(stderr, "\r\033[K");
    b->shown = 0;
}
