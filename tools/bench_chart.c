/*
 * bench_chart.c — the chart of `hark client bench --svg`: throughput (audio seconds per second)
 * against p99 latency, one line per batch size through its concurrencies, each point labelled
 * with its concurrency: where a deployment's knee is, at a glance. Plain SVG 1.1, no scripts.
 */
#include "client_cli.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

enum { W = 760, H = 480, ML = 80, MR = 150, MT = 50, MB = 60 };

/* A round step for about n ticks up to max. */
static double tick_step(double max, int n)
{
    double raw = max / n, mag = pow(10, floor(log10(raw > 0 ? raw : 1)));
    double f = raw / mag;
    return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * mag;
}

static void xml_text(FILE *f, const char *s)
{
    for (; *s; s++)
        if (*s == '<')
            fputs("&lt;", f);
        else if (*s == '>')
            fputs("&gt;", f);
        else if (*s == '&')
            fputs("&amp;", f);
        else if (*s == '"')
            fputs("&quot;", f);
        else
            fputc(*s, f);
}

int bench_chart_svg(const char *path, const char *title, const bench_point *p, int n)
{
    static const char *const colours[] = { "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e",
                                           "#9467bd", "#8c564b", "#e377c2", "#17becf" };
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    double xmax = 0, ymax = 0;
    for (int i = 0; i < n; i++) {
        xmax = p[i].p99_s > xmax ? p[i].p99_s : xmax;
        ymax = p[i].audio_s_per_s > ymax ? p[i].audio_s_per_s : ymax;
    }
    double xs = tick_step(xmax > 0 ? xmax * 1.1 : 1, 6);
    double ys = tick_step(ymax > 0 ? ymax * 1.1 : 1, 6);
    xmax = xs * ceil((xmax > 0 ? xmax * 1.05 : 1) / xs);
    ymax = ys * ceil((ymax > 0 ? ymax * 1.05 : 1) / ys);
    const double pw = W - ML - MR, ph = H - MT - MB;
#define PX(v) (ML + (v) / xmax * pw)
#define PY(v) (MT + ph - (v) / ymax * ph)
    fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
               "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
               "viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" font-size=\"12\">\n"
               "<rect width=\"%d\" height=\"%d\" fill=\"white\"/>\n<text x=\"%d\" y=\"24\" "
               "font-size=\"15\" font-weight=\"bold\">",
            W, H, W, H, W, H, ML);
    xml_text(f, title);
    fprintf(f, "</text>\n");
    for (double v = 0; v <= xmax + 1e-9; v += xs) /* grid and ticks */
        fprintf(f, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>"
                   "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%g</text>\n",
                PX(v), MT, PX(v), MT + ph, PX(v), MT + ph + 18, v);
    for (double v = 0; v <= ymax + 1e-9; v += ys)
        fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>"
                   "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%g</text>\n",
                ML, PY(v), ML + pw, PY(v), ML - 6, PY(v) + 4, v);
    fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%.0f\" height=\"%.0f\" fill=\"none\" "
               "stroke=\"#444\"/>\n<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">p99 latency "
               "(s)</text>\n<text transform=\"translate(18 %.1f) rotate(-90)\" "
               "text-anchor=\"middle\">throughput (audio seconds per second)</text>\n",
            ML, MT, pw, ph, ML + pw / 2, H - 16, MT + ph / 2);
    int seen[64], n_seen = 0;
    for (int i = 0; i < n; i++) { /* one line per batch size, in concurrency order */
        int b = p[i].batch, dup = 0;
        for (int k = 0; k < n_seen; k++)
            dup |= seen[k] == b;
        if (dup || n_seen == 64)
            continue;
        const char *col = colours[n_seen % 8];
        seen[n_seen++] = b;
        fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"", col);
        for (int j = 0; j < n; j++)
            if (p[j].batch == b)
                fprintf(f, "%.1f,%.1f ", PX(p[j].p99_s), PY(p[j].audio_s_per_s));
        fprintf(f, "\"/>\n");
        for (int j = 0; j < n; j++)
            if (p[j].batch == b)
                fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4\" fill=\"%s\"/><text x=\"%.1f\" "
                           "y=\"%.1f\" font-size=\"10\" fill=\"%s\">c=%d</text>\n",
                        PX(p[j].p99_s), PY(p[j].audio_s_per_s), col, PX(p[j].p99_s) + 6,
                        PY(p[j].audio_s_per_s) - 6, col, p[j].conc);
        const int ly = MT + 10 + 20 * (n_seen - 1);
        fprintf(f, "<line x1=\"%.0f\" y1=\"%d\" x2=\"%.0f\" y2=\"%d\" stroke=\"%s\" "
                   "stroke-width=\"3\"/><text x=\"%.0f\" y=\"%d\">batch size %d</text>\n",
                ML + pw + 16, ly, ML + pw + 40, ly, col, ML + pw + 46, ly + 4, b);
    }
#undef PX
#undef PY
    fprintf(f, "</svg>\n");
    return fclose(f) == 0 ? 0 : -1;
}
