/*
 * timing.c — the arithmetic of word-level timestamps (see timing.h). No model here: the
 * cross-attention scores come from the engine (words.c).
 * ref: openai/whisper timing.py, tokenizer.py split_tokens_on_unicode / split_tokens_on_spaces.
 */
#include "decode/timing.h"

#include "util/util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ median filter, DTW ----- */

/* NaN sorts last, as torch.sort does. */
static int before(float a, float b)
{
    if (isnan(a))
        return 0;
    if (isnan(b))
        return 1;
    return a < b;
}

hark_status hark_median_filter(float *x, int rows, int n, int width)
{
    if (!x || rows < 0 || n < 0 || width < 1 || width % 2 == 0)
        return hark_fail(HARK_ERR_INVALID_ARG, "median filter: width %d must be odd", width);
    const int pad = width / 2;
    if (n <= pad || width == 1)
        return HARK_OK;
    float *p = malloc((size_t)(n + 2 * pad) * sizeof(float));
    float *w = malloc((size_t)width * sizeof(float));
    if (!p || !w) {
        free(p), free(w);
        return hark_fail(HARK_ERR_NOMEM, "median filter: out of memory");
    }
    for (int r = 0; r < rows; r++) {
        float *row = x + (size_t)r * n;
        for (int k = 0; k < n + 2 * pad; k++) {
            int i = k - pad; /* reflect: -1 -> 1, n -> n - 2 */
            if (i < 0)
                i = -i;
            if (i >= n)
                i = 2 * (n - 1) - i;
            p[k] = row[i];
        }
        for (int i = 0; i < n; i++) {
            for (int a = 0; a < width; a++) { /* insertion sort of the window */
                float v = p[i + a];
                int b = a;
                while (b > 0 && before(v, w[b - 1])) {
                    w[b] = w[b - 1];
                    b--;
                }
                w[b] = v;
            }
            row[i] = w[pad];
        }
    }
    free(p), free(w);
    return HARK_OK;
}

int hark_dtw(const float *x, int N, int M, int32_t *pi, int32_t *pj)
{
    if (!x || N < 1 || M < 1 || !pi || !pj)
        return hark_fail(HARK_ERR_INVALID_ARG, "dtw: bad arguments (%d x %d)", N, M);
    const size_t W = (size_t)M + 1;
    float *cost = malloc((size_t)(N + 1) * W * sizeof(float));
    signed char *trace = malloc((size_t)(N + 1) * W);
    if (!cost || !trace) {
        free(cost), free(trace);
        return hark_fail(HARK_ERR_NOMEM, "dtw: out of memory");
    }
    for (size_t k = 0; k < (size_t)(N + 1) * W; k++)
        cost[k] = INFINITY, trace[k] = -1;
    cost[0] = 0.0f;
    for (int j = 1; j <= M; j++)
        for (int i = 1; i <= N; i++) {
            float c0 = cost[(i - 1) * W + j - 1], c1 = cost[(i - 1) * W + j], c2 = cost[i * W + j - 1];
            float c;
            int t;
            if (c0 < c1 && c0 < c2)
                c = c0, t = 0;
            else if (c1 < c0 && c1 < c2)
                c = c1, t = 1;
            else
                c = c2, t = 2;
            /* the reference adds in float64 and stores into a float32 table */
            cost[i * W + j] = (float)((double)x[(size_t)(i - 1) * M + j - 1] + (double)c);
            trace[i * W + j] = (signed char)t;
        }
    for (int j = 0; j <= M; j++)
        trace[j] = 2;
    for (int i = 0; i <= N; i++)
        trace[i * W] = 1;
    int i = N, j = M, k = 0;
    while (i > 0 || j > 0) {
        pi[k] = i - 1, pj[k] = j - 1, k++;
        int t = trace[i * W + j];
        if (t == 0)
            i--, j--;
        else if (t == 1)
            i--;
        else
            j--;
    }
    free(cost), free(trace);
    for (int a = 0, b = k - 1; a < b; a++, b--) {
        int32_t ti = pi[a], tj = pj[a];
        pi[a] = pi[b], pj[a] = pj[b], pi[b] = ti, pj[b] = tj;
    }
    return k;
}

/* ------------------------------------------------------------------ words ----------------- */

void hark_word_timings_free(hark_word_timing *w, int n)
{
    for (int i = 0; w && i < n; i++)
        free(w[i].word), free(w[i].tokens);
    free(w);
}

void hark_words_free(hark_word *w, int n)
{
    for (int i = 0; w && i < n; i++)
        free(w[i].text);
    free(w);
}

int hark_language_no_spaces(const char *code)
{
    static const char *const langs[] = { "zh", "ja", "th", "lo", "my", "yue" };
    for (size_t i = 0; code && i < sizeof(langs) / sizeof(langs[0]); i++)
        if (strcmp(code, langs[i]) == 0)
            return 1;
    return 0;
}

/* Next code point of valid UTF-8 (the tokenizer's output always is); *len its byte count. */
static uint32_t next_cp(const char *s, int *len)
{
    const unsigned char *u = (const unsigned char *)s;
    if (u[0] < 0x80)
        return *len = 1, u[0];
    if ((u[0] & 0xE0) == 0xC0 && u[1])
        return *len = 2, ((uint32_t)(u[0] & 0x1F) << 6) | (u[1] & 0x3F);
    if ((u[0] & 0xF0) == 0xE0 && u[1] && u[2])
        return *len = 3, ((uint32_t)(u[0] & 0x0F) << 12) | ((uint32_t)(u[1] & 0x3F) << 6) |
                         (u[2] & 0x3F);
    if ((u[0] & 0xF8) == 0xF0 && u[1] && u[2] && u[3])
        return *len = 4, ((uint32_t)(u[0] & 0x07) << 18) | ((uint32_t)(u[1] & 0x3F) << 12) |
                         ((uint32_t)(u[2] & 0x3F) << 6) | (u[3] & 0x3F);
    return *len = 1, 0xFFFD;
}

/* Python's str.isspace() for the code points it covers. */
static int py_space(uint32_t c)
{
    return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 ||
           c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 ||
           c == 0x202F || c == 0x205F || c == 0x3000;
}

/* str.strip(): [*b, *e) of s without surrounding whitespace. */
static void py_strip(const char *s, const char **b, const char **e)
{
    const char *p = s, *end = s + strlen(s);
    int len;
    while (p < end && py_space(next_cp(p, &len)))
        p += len;
    const char *last = p; /* end of the last non-space code point */
    for (const char *q = p; q < end; q += len)
        if (!py_space(next_cp(q, &len)))
            last = q + len;
    *b = p, *e = last;
}

/* Python's `needle in hay` for strings (the empty string is in every string). */
static int py_in(const char *needle, size_t n, const char *hay)
{
    if (n == 0)
        return 1;
    for (const char *h = hay; *h; h++)
        if (strncmp(h, needle, n) == 0)
            return 1;
    return 0;
}

static int stripped_in(const char *s, const char *hay)
{
    const char *b, *e;
    py_strip(s, &b, &e);
    return py_in(b, (size_t)(e - b), hay);
}

static const char k_punctuation[] = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"; /* string.punctuation */

static char *str_cat(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    char *s = malloc(la + lb + 1);
    if (s) {
        memcpy(s, a, la);
        memcpy(s + la, b, lb + 1);
    }
    return s;
}

static hark_status tokens_cat(hark_word_timing *dst, const int32_t *a, int na, const int32_t *b,
                              int nb)
{
    int32_t *t = malloc((size_t)(na + nb + 1) * sizeof(int32_t));
    if (!t)
        return hark_fail(HARK_ERR_NOMEM, "words: out of memory");
    if (na)
        memcpy(t, a, (size_t)na * sizeof(int32_t));
    if (nb)
        memcpy(t + na, b, (size_t)nb * sizeof(int32_t));
    free(dst->tokens);
    dst->tokens = t;
    dst->n_tokens = na + nb;
    return HARK_OK;
}

/* Code points of s (malloc'd), count in *n. */
static uint32_t *code_points(const char *s, int *n)
{
    size_t len = strlen(s);
    uint32_t *cp = malloc((len + 1) * sizeof(uint32_t));
    int k = 0, l;
    for (const char *p = s; cp && *p; p += l)
        cp[k++] = next_cp(p, &l);
    *n = k;
    return cp;
}

/* ref: tokenizer.py split_tokens_on_unicode — a piece ends where its tokens decode to whole
 * characters, or where the U+FFFD it shows is also in the decoding of all the tokens. */
static hark_status split_unicode(const hark_tokenizer *tok, const int32_t *tokens, int n,
                                 hark_word_timing **out, int *n_out)
{
    *out = NULL, *n_out = 0;
    char *full = NULL;
    hark_status st = hark_tokenizer_decode(tok, tokens, n, 0, &full);
    if (st != HARK_OK)
        return st;
    int n_full = 0, nw = 0, offset = 0, begin = 0;
    uint32_t *full_cp = code_points(full, &n_full);
    free(full);
    hark_word_timing *w = calloc((size_t)n + 1, sizeof(*w));
    if (!full_cp || !w) {
        free(full_cp), free(w);
        return hark_fail(HARK_ERR_NOMEM, "words: out of memory");
    }
    for (int t = 0; t < n && st == HARK_OK; t++) {
        char *dec = NULL;
        if ((st = hark_tokenizer_decode(tok, tokens + begin, t - begin + 1, 0, &dec)) != HARK_OK)
            break;
        int n_cp = 0, first_bad = -1;
        uint32_t *cp = code_points(dec, &n_cp);
        if (!cp) {
            free(dec);
            st = hark_fail(HARK_ERR_NOMEM, "words: out of memory");
            break;
        }
        for (int k = 0; k < n_cp && first_bad < 0; k++)
            if (cp[k] == 0xFFFD)
                first_bad = k;
        free(cp);
        int whole = first_bad < 0 ||
                    (offset + first_bad < n_full && full_cp[offset + first_bad] == 0xFFFD);
        if (!whole) {
            free(dec);
            continue;
        }
        w[nw].word = dec;
        st = tokens_cat(&w[nw], tokens + begin, t - begin + 1, NULL, 0);
        nw++;
        offset += n_cp;
        begin = t + 1;
    }
    free(full_cp);
    if (st != HARK_OK) {
        hark_word_timings_free(w, nw);
        return st;
    }
    *out = w, *n_out = nw;
    return HARK_OK;
}

hark_status hark_split_words(const hark_tokenizer *tok, const int32_t *tokens, int n, int32_t eot,
                             int no_spaces, hark_word_timing **words, int *n_words)
{
    hark_word_timing *sub;
    int ns;
    hark_status st = split_unicode(tok, tokens, n, &sub, &ns);
    if (st != HARK_OK || no_spaces) {
        *words = st == HARK_OK ? sub : NULL, *n_words = st == HARK_OK ? ns : 0;
        return st;
    }
    /* ref: tokenizer.py split_tokens_on_spaces */
    int nw = 0;
    for (int i = 0; i < ns && st == HARK_OK; i++) {
        int special = sub[i].tokens[0] >= eot;
        int with_space = sub[i].word[0] == ' ';
        int punct = stripped_in(sub[i].word, k_punctuation);
        if (special || with_space || punct || nw == 0) {
            if (nw != i) {
                sub[nw] = sub[i];
                sub[i].word = NULL, sub[i].tokens = NULL;
            }
            nw++;
            continue;
        }
        hark_word_timing *last = &sub[nw - 1];
        char *joined = str_cat(last->word, sub[i].word);
        if (!joined) {
            st = hark_fail(HARK_ERR_NOMEM, "words: out of memory");
            break;
        }
        free(last->word);
        last->word = joined;
        st = tokens_cat(last, last->tokens, last->n_tokens, sub[i].tokens, sub[i].n_tokens);
        free(sub[i].word), free(sub[i].tokens);
        sub[i].word = NULL, sub[i].tokens = NULL;
    }
    if (st != HARK_OK) {
        hark_word_timings_free(sub, ns);
        *words = NULL, *n_words = 0;
        return st;
    }
    *words = sub, *n_words = nw;
    return HARK_OK;
}

/* Moves a's text and tokens onto b's (in the order given) and leaves a empty. */
static hark_status move_into(hark_word_timing *a, hark_word_timing *b, int a_first)
{
    char *s = a_first ? str_cat(a->word, b->word) : str_cat(b->word, a->word);
    if (!s)
        return hark_fail(HARK_ERR_NOMEM, "words: out of memory");
    hark_status st = a_first ? tokens_cat(b, a->tokens, a->n_tokens, b->tokens, b->n_tokens)
                             : tokens_cat(b, b->tokens, b->n_tokens, a->tokens, a->n_tokens);
    if (st != HARK_OK) {
        free(s);
        return st;
    }
    free(b->word);
    b->word = s;
    a->word[0] = '\0';
    a->n_tokens = 0;
    return HARK_OK;
}

hark_status hark_merge_punctuations(hark_word_timing *w, int n, const char *prepended,
                                    const char *appended)
{
    hark_status st = HARK_OK;
    /* prepended punctuation joins the following word (right to left) */
    for (int i = n - 2, j = n - 1; i >= 0 && st == HARK_OK; i--) {
        if (w[i].word[0] == ' ' && stripped_in(w[i].word, prepended))
            st = move_into(&w[i], &w[j], 1);
        else
            j = i;
    }
    /* appended punctuation joins the preceding word (left to right) */
    for (int i = 0, j = 1; j < n && st == HARK_OK; j++) {
        size_t lp = strlen(w[i].word);
        int ends_space = lp > 0 && w[i].word[lp - 1] == ' ';
        if (!ends_space && py_in(w[j].word, strlen(w[j].word), appended))
            st = move_into(&w[j], &w[i], 0);
        else
            i = j;
    }
    return st;
}

hark_status hark_words_from_matrix(const hark_tokenizer *tok, const float *matrix, int N, int M,
                                   const int32_t *text, int n_text, const float *text_probs,
                                   int32_t eot, int no_spaces, hark_word_timing **words,
                                   int *n_words)
{
    *words = NULL, *n_words = 0;
    if (n_text < 1 || N != n_text + 1 || M < 0)
        return n_text < 1 ? HARK_OK
                          : hark_fail(HARK_ERR_INVALID_ARG, "alignment: %d rows for %d tokens", N,
                                      n_text);
    float *neg = malloc(((size_t)N * M + 1) * sizeof(float));
    int32_t *pi = malloc((size_t)(N + M) * sizeof(int32_t));
    int32_t *pj = malloc((size_t)(N + M) * sizeof(int32_t));
    double *jump = malloc((size_t)N * sizeof(double));
    int32_t *all = malloc((size_t)(n_text + 1) * sizeof(int32_t));
    hark_word_timing *w = NULL;
    int nw = 0;
    hark_status st = HARK_OK;
    if (!neg || !pi || !pj || !jump || !all) {
        st = hark_fail(HARK_ERR_NOMEM, "alignment: out of memory");
        goto out;
    }
    int nj = 0;
    if (M == 0) { /* the reference's backtrace of an N x 0 table: every row at time index -1 */
        for (nj = 0; nj < N; nj++)
            jump[nj] = -1 / 50.0;
    } else {
        for (size_t k = 0; k < (size_t)N * M; k++)
            neg[k] = -matrix[k];
        int len = hark_dtw(neg, N, M, pi, pj);
        if (len < 0) {
            st = (hark_status)len;
            goto out;
        }
        /* ref: find_alignment — the time index where the text index first reaches each row */
        for (int k = 0; k < len && nj < N; k++)
            if (k == 0 || pi[k] != pi[k - 1])
                jump[nj++] = pj[k] / 50.0; /* TOKENS_PER_SECOND */
    }
    memcpy(all, text, (size_t)n_text * sizeof(int32_t));
    all[n_text] = eot;
    if ((st = hark_split_words(tok, all, n_text + 1, eot, no_spaces, &w, &nw)) != HARK_OK)
        goto out;
    if (nw <= 1) { /* only <|endoftext|> */
        hark_word_timings_free(w, nw);
        w = NULL, nw = 0;
        goto out;
    }
    /* the words before <|endoftext|>: start at their first token's jump, end at the next's */
    int b = 0;
    for (int i = 0; i < nw - 1; i++) {
        int e = b + w[i].n_tokens;
        w[i].start = b < nj ? jump[b] : jump[nj - 1];
        w[i].end = e < nj ? jump[e] : jump[nj - 1];
        double sum = 0.0;
        for (int k = b; k < e && k < n_text; k++)
            sum += text_probs[k];
        w[i].probability = e > b ? sum / (e - b) : NAN;
        b = e;
    }
    free(w[nw - 1].word), free(w[nw - 1].tokens);
    nw--;
out:
    free(neg), free(pi), free(pj), free(jump), free(all);
    if (st != HARK_OK) {
        hark_word_timings_free(w, nw);
        w = NULL, nw = 0;
    }
    *words = w, *n_words = nw;
    return st;
}

hark_status hark_alignment_matrix(float *qk, int heads, int tokens, int frames, int medfilt_width,
                                  float *out)
{
    if (heads < 1 || tokens < 1 || frames < 1)
        return hark_fail(HARK_ERR_INVALID_ARG, "alignment: empty (%d heads, %d tokens, %d frames)",
                         heads, tokens, frames);
    const size_t TF = (size_t)tokens * frames;
    for (size_t r = 0; r < (size_t)heads * tokens; r++) { /* softmax over frames */
        float *row = qk + r * frames, mx = -INFINITY;
        for (int f = 0; f < frames; f++)
            mx = row[f] > mx ? row[f] : mx;
        double sum = 0.0;
        for (int f = 0; f < frames; f++)
            sum += row[f] = expf(row[f] - mx);
        for (int f = 0; f < frames; f++)
            row[f] = (float)(row[f] / sum);
    }
    for (int h = 0; h < heads; h++) /* standardise each frame over the tokens */
        for (int f = 0; f < frames; f++) {
            float *x = qk + h * TF + f;
            double mean = 0.0, var = 0.0;
            for (int t = 0; t < tokens; t++)
                mean += x[(size_t)t * frames];
            mean /= tokens;
            for (int t = 0; t < tokens; t++) {
                double d = x[(size_t)t * frames] - mean;
                var += d * d;
            }
            /* a frame every token attends to equally (a window of one frame) gives 0 / 0 = NaN
             * as in the reference, and the DTW then takes the reference's path for NaN */
            double sd = sqrt(var / tokens);
            for (int t = 0; t < tokens; t++)
                x[(size_t)t * frames] = (float)((x[(size_t)t * frames] - mean) / sd);
        }
    hark_status st = hark_median_filter(qk, heads * tokens, frames, medfilt_width);
    if (st != HARK_OK)
        return st;
    for (size_t k = 0; k < TF; k++) {
        double s = 0.0;
        for (int h = 0; h < heads; h++)
            s += qk[h * TF + k];
        out[k] = (float)(s / heads);
    }
    return HARK_OK;
}

/* ------------------------------------------------------------------ segments --------------- */

/* Python's round(x, 2). */
static double round2(double x)
{
    char buf[64];
    snprintf(buf, sizeof(buf), "%.2f", x);
    return strtod(buf, NULL);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

hark_status hark_assign_words(hark_word_timing *al, int n_al, hark_timed_segment *segs, int n_segs,
                              int32_t eot, double time_offset, const char *prepended,
                              const char *appended, double *last_speech)
{
    if (n_segs == 0)
        return HARK_OK;
    /* the median word duration (of the words with one), at most 0.7 s */
    double *d = malloc((size_t)(n_al + 1) * sizeof(double));
    if (!d)
        return hark_fail(HARK_ERR_NOMEM, "words: out of memory");
    int nd = 0;
    for (int i = 0; i < n_al; i++)
        if (al[i].end - al[i].start != 0.0)
            d[nd++] = al[i].end - al[i].start;
    qsort(d, (size_t)nd, sizeof(double), cmp_double);
    double median = nd == 0 ? 0.0 : nd % 2 ? d[nd / 2] : (d[nd / 2 - 1] + d[nd / 2]) / 2.0;
    free(d);
    if (median > 0.7)
        median = 0.7;
    const double max_d = median * 2;
    /* ref: add_word_timestamps — words at sentence ends no longer than twice the median */
    static const char marks[] = ".\u3002!\uff01?\uff1f";
    if (nd > 0)
        for (int i = 1; i < n_al; i++)
            if (al[i].end - al[i].start > max_d) {
                if (py_in(al[i].word, strlen(al[i].word), marks))
                    al[i].end = al[i].start + max_d;
                else if (py_in(al[i - 1].word, strlen(al[i - 1].word), marks))
                    al[i].start = al[i].end - max_d;
            }
    hark_status st = hark_merge_punctuations(al, n_al, prepended, appended);
    if (st != HARK_OK)
        return st;

    int wi = 0;
    for (int s = 0; s < n_segs; s++) {
        hark_timed_segment *g = &segs[s];
        int n_text = 0;
        for (int k = 0; k < g->n_tokens; k++)
            n_text += g->tokens[k] < eot;
        hark_word *w = calloc((size_t)(n_al + 1), sizeof(*w));
        if (!w)
            return hark_fail(HARK_ERR_NOMEM, "words: out of memory");
        int nw = 0, saved = 0;
        while (wi < n_al && saved < n_text) {
            const hark_word_timing *t = &al[wi];
            if (t->word[0]) {
                w[nw].text = strdup(t->word);
                if (!w[nw].text) {
                    hark_words_free(w, nw);
                    return hark_fail(HARK_ERR_NOMEM, "words: out of memory");
                }
                w[nw].t0 = round2(time_offset + t->start);
                w[nw].t1 = round2(time_offset + t->end);
                w[nw].probability = (float)t->probability;
                nw++;
            }
            saved += t->n_tokens;
            wi++;
        }
        if (nw > 0) {
            hark_word *a = &w[0], *z = &w[nw - 1];
            /* the first and second word after a pause no longer than twice the median */
            if (a->t1 - *last_speech > median * 4 &&
                (a->t1 - a->t0 > max_d || (nw > 1 && w[1].t1 - a->t0 > max_d * 2))) {
                if (nw > 1 && w[1].t1 - w[1].t0 > max_d) {
                    double boundary = fmax(w[1].t1 / 2, w[1].t1 - max_d);
                    a->t1 = w[1].t0 = boundary;
                }
                a->t0 = fmax(0.0, a->t1 - max_d);
            }
            /* the segment's own start and end win over a first or last word that is too long */
            if (g->start < a->t1 && g->start - 0.5 > a->t0)
                a->t0 = fmax(0.0, fmin(a->t1 - median, g->start));
            else
                g->start = a->t0;
            if (g->end > z->t0 && g->end + 0.5 < z->t1)
                z->t1 = fmax(z->t0 + median, g->end);
            else
                g->end = z->t1;
            *last_speech = g->end;
        }
        hark_words_free(g->words, g->n_words);
        if (nw == 0) {
            free(w);
            w = NULL;
        }
        g->words = w;
        g->n_words = nw;
    }
    return HARK_OK;
}
