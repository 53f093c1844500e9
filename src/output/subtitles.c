/*
 * subtitles.c — the srt and vtt writers, with the reference's optional re-flow of word-timed
 * cues (max_line_width, max_line_count, max_words_per_line) and word highlighting.
 *
 * ref: openai/whisper utils.py format_timestamp (round to milliseconds; hours always in SRT, in
 * VTT only when non-zero; "," before the milliseconds in SRT, "." in VTT), WriteSRT (cues
 * numbered from 1), WriteVTT ("WEBVTT" and a blank line first), SubtitlesWriter.iterate_result
 * (segment cues: the text stripped with "-->" made "->"; word cues: the line and cue breaking
 * reproduced in reflow() below, and highlight_words' <u>..</u> cues).
 * The deviations that keep the files valid are listed in output.h.
 */
#include "output/output_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A word of a cue being built: a slice of the caller's word, maybe after a line break. */
typedef struct piece {
    const char *w;
    size_t n;
    bool nl; /* a line break before the word */
    double start, end;
} piece;

typedef struct cue_writer {
    out_buf *b;
    bool srt;
    int n_cues;
    out_buf scratch; /* the text of the cue being written */
} cue_writer;

/* ref: openai/whisper utils.py format_timestamp. */
static void format_ts(char out[48], double seconds, bool srt)
{
    long long ms = out_ms(seconds);
    long long h = ms / 3600000, m = ms / 60000 % 60, s = ms / 1000 % 60, f = ms % 1000;
    if (srt || h > 0)
        snprintf(out, 48, "%02lld:%02lld:%02lld%c%03lld", h, m, s, srt ? ',' : '.', f);
    else
        snprintf(out, 48, "%02lld:%02lld.%03lld", m, s, f);
}

/* Appends one line of cue text, turning every "-->" into "->" (repeatedly, so that "--->"
 * cannot leave an arrow behind). */
static void put_line_no_arrow(out_buf *b, const char *s, size_t n)
{
    size_t from = b->len;
    out_put_utf8(b, s, n);
    if (b->oom)
        return;
    size_t o = from;
    for (size_t i = from; i < b->len; i++) {
        char c = b->data[i];
        if (c == '>')
            while (o - from >= 2 && b->data[o - 1] == '-' && b->data[o - 2] == '-')
                o--;
        b->data[o++] = c;
    }
    b->len = o;
    b->data[o] = '\0';
}

/* Writes a cue unless its text is blank. The text loses blank lines (they would end the cue)
 * and its arrows. */
static void emit_cue(cue_writer *w, const char *start, const char *end, const char *text,
                     size_t n)
{
    out_buf *t = &w->scratch;
    t->len = 0;
    const char *p = text, *stop = text + n;
    while (p < stop) {
        const char *eol = p;
        while (eol < stop && *eol != '\n' && *eol != '\r')
            eol++;
        const char *ls = p;
        size_t ln = (size_t)(eol - p);
        out_strip(&ls, &ln);
        if (ln > 0) {
            if (t->len > 0)
                out_put(t, "\n", 1);
            put_line_no_arrow(t, p, (size_t)(eol - p));
        }
        p = eol < stop ? eol + 1 : eol;
    }
    if (t->oom) {
        w->b->oom = true;
        return;
    }
    if (t->len == 0)
        return;
    w->n_cues++;
    if (w->srt)
        out_printf(w->b, "%d\n", w->n_cues);
    out_printf(w->b, "%s --> %s\n", start, end);
    out_put(w->b, t->data, t->len);
    out_put(w->b, "\n\n", 2);
}

/* ---------------------------------------------------------------- word cues ------------------ */

/* The text of a cue's words, optionally with word `hl` underlined: its leading whitespace
 * (and line break) kept, the rest in <u>..</u> (ref: iterate_result's re.sub). */
static void join_pieces(const piece *p, int k, int hl, out_buf *t)
{
    t->len = 0;
    for (int i = 0; i < k; i++) {
        if (p[i].nl)
            out_put(t, "\n", 1);
        if (i != hl) {
            out_put(t, p[i].w, p[i].n);
            continue;
        }
        const char *rest = p[i].w;
        size_t rn = p[i].n;
        out_strip(&rest, &rn);
        out_put(t, p[i].w, (size_t)(rest - p[i].w));
        out_puts(t, "<u>");
        out_put(t, rest, (size_t)(p[i].w + p[i].n - rest));
        out_puts(t, "</u>");
    }
}

static void emit_words(cue_writer *w, const piece *p, int k, const hark_out_options *opt,
                       out_buf *t)
{
    char start[48], end[48];
    format_ts(start, p[0].start, w->srt);
    format_ts(end, p[k - 1].end, w->srt);
    join_pieces(p, k, -1, t);
    if (t->oom) {
        w->b->oom = true;
        return;
    }
    if (!opt->highlight_words) {
        emit_cue(w, start, end, t->data ? t->data : "", t->len);
        return;
    }
    char last[48], ws[48], we[48];
    memcpy(last, start, sizeof last);
    for (int i = 0; i < k; i++) {
        format_ts(ws, p[i].start, w->srt);
        format_ts(we, p[i].end, w->srt);
        if (strcmp(last, ws) != 0) {
            join_pieces(p, k, -1, t);
            emit_cue(w, last, ws, t->data ? t->data : "", t->len);
        }
        join_pieces(p, k, i, t);
        emit_cue(w, ws, we, t->data ? t->data : "", t->len);
        memcpy(last, we, sizeof last);
    }
    if (t->oom)
        w->b->oom = true;
}

/* The start of the first word of the result, else of the first segment.
 * ref: openai/whisper utils.py get_start. */
static double first_start(const hark_out_result *r)
{
    for (int i = 0; i < r->n_segments; i++)
        if (r->segments[i].n_words > 0)
            return r->segments[i].words[0].start;
    return r->n_segments > 0 ? r->segments[0].start : 0.0;
}

/* Breaks the words into lines and cues and writes them.
 * ref: openai/whisper utils.py SubtitlesWriter.iterate_result iterate_subtitles: a word
 * continues the line while it fits max_line_width (its length counted with its leading space);
 * otherwise it starts a new line (stripped), and a new cue when the cue has max_line_count lines
 * or after a pause over 3 s (re-flow mode), or at every segment and every max_words_per_line
 * chunk (segment-preserving mode, when max_line_width or max_line_count is unset). */
static void reflow(const hark_out_result *r, const hark_out_options *opt, cue_writer *w,
                   piece *sub, out_buf *t)
{
    bool preserve = !(opt->max_line_count > 0 && opt->max_line_width > 0);
    size_t width = opt->max_line_width > 0 ? (size_t)opt->max_line_width : 1000;
    int per_line = opt->max_words_per_line > 0 ? opt->max_words_per_line : 1000;
    size_t line_len = 0;
    int line_count = 1, k = 0;
    double last = first_start(r);

    for (int si = 0; si < r->n_segments; si++) {
        const hark_out_segment *seg = &r->segments[si];
        for (int chunk = 0; chunk < seg->n_words; chunk += per_line) {
            int count = seg->n_words - chunk < per_line ? seg->n_words - chunk : per_line;
            for (int i = 0; i < count; i++) {
                const hark_out_word *ow = &seg->words[chunk + i];
                piece pc = {ow->word ? ow->word : "", 0, false, ow->start, ow->end};
                pc.n = strlen(pc.w);
                size_t wlen = out_cp_len(pc.w, pc.n);
                bool long_pause = !preserve && pc.start - last > 3.0;
                bool has_room = line_len + wlen <= width;
                bool seg_break = i == 0 && k > 0 && preserve;
                if (line_len > 0 && has_room && !long_pause && !seg_break) {
                    line_len += wlen;
                } else {
                    out_strip(&pc.w, &pc.n);
                    if ((k > 0 && opt->max_line_count > 0 &&
                         (long_pause || line_count >= opt->max_line_count)) ||
                        seg_break) {
                        emit_words(w, sub, k, opt, t);
                        k = 0;
                        line_count = 1;
                    } else if (line_len > 0) {
                        line_count++;
                        pc.nl = true;
                    }
                    line_len = out_cp_len(pc.w, pc.n);
                }
                sub[k++] = pc;
                last = pc.start;
            }
        }
    }
    if (k > 0)
        emit_words(w, sub, k, opt, t);
}

/* ---------------------------------------------------------------- entry ---------------------- */

/* Appends the srt (srt true) or vtt rendering of r to b. */
void out_render_subtitles(const hark_out_result *r, bool srt, const hark_out_options *opt,
                          out_buf *b)
{
    cue_writer w = {.b = b, .srt = srt};
    if (!srt)
        out_puts(b, "WEBVTT\n\n");

    size_t n_words = 0;
    for (int i = 0; i < r->n_segments; i++)
        n_words += (size_t)r->segments[i].n_words;

    if (n_words > 0) {
        piece *sub = malloc(n_words * sizeof *sub);
        out_buf t = {0};
        if (!sub)
            b->oom = true;
        else
            reflow(r, opt, &w, sub, &t);
        free(sub);
        free(t.data);
    } else {
        char start[48], end[48];
        for (int i = 0; i < r->n_segments; i++) {
            const hark_out_segment *s = &r->segments[i];
            const char *text = s->text ? s->text : "";
            size_t n = strlen(text);
            out_strip(&text, &n);
            format_ts(start, s->start, srt);
            format_ts(end, s->end, srt);
            emit_cue(&w, start, end, text, n);
        }
    }
    free(w.scratch.data);
}
