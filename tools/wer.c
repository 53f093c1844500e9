/*
 * wer.c — sclite's alignment and counts (see wer.h). ref: NIST SCTK sclite, default weights
 * (substitution 4, insertion 3, deletion 3).
 */
#include "wer.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum { COST_SUB = 4, COST_INS = 3, COST_DEL = 3 };

/* Bytes of the UTF-8 sequence that starts with b (1 for a stray continuation byte). */
static int utf8_len(unsigned char b)
{
    return b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 1;
}

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

int wer_tokens(const char *text, int chars, char ***out)
{
    *out = NULL;
    size_t len = strlen(text);
    char **t = malloc((len + 1) * sizeof(char *));
    if (!t)
        return -1;
    int n = 0;
    for (size_t i = 0; i < len;) {
        if (is_space(text[i])) {
            i++;
            continue;
        }
        size_t j = i;
        if (chars) {
            j = i + (size_t)utf8_len((unsigned char)text[i]);
            j = j > len ? len : j;
        } else {
            while (j < len && !is_space(text[j]))
                j++;
        }
        t[n] = malloc(j - i + 1);
        if (!t[n]) {
            wer_tokens_free(t, n);
            return -1;
        }
        memcpy(t[n], text + i, j - i);
        t[n++][j - i] = 0;
        i = j;
    }
    *out = t;
    return n;
}

void wer_tokens_free(char **t, int n)
{
    for (int i = 0; t && i < n; i++)
        free(t[i]);
    free(t);
}

int wer_align(char *const *ref, int nr, char *const *hyp, int nh, wer_counts *c, wer_op *ops)
{
    const size_t w = (size_t)nh + 1;
    int32_t *d = malloc(((size_t)nr + 1) * w * sizeof(int32_t)); /* d[i][j]: ref[:i] vs hyp[:j] */
    if (!d)
        return -1;
    for (int i = 0; i <= nr; i++)
        for (int j = 0; j <= nh; j++) {
            int32_t best = INT32_MAX;
            if (i == 0 && j == 0)
                best = 0;
            if (i > 0 && j > 0) {
                int32_t v = d[(size_t)(i - 1) * w + (size_t)(j - 1)] +
                            (strcmp(ref[i - 1], hyp[j - 1]) ? COST_SUB : 0);
                best = v < best ? v : best;
            }
            if (i > 0 && d[(size_t)(i - 1) * w + (size_t)j] + COST_DEL < best)
                best = d[(size_t)(i - 1) * w + (size_t)j] + COST_DEL;
            if (j > 0 && d[(size_t)i * w + (size_t)(j - 1)] + COST_INS < best)
                best = d[(size_t)i * w + (size_t)(j - 1)] + COST_INS;
            d[(size_t)i * w + (size_t)j] = best;
        }
    /* back from the end: a match or substitution, else an insertion, else a deletion */
    int n = 0, i = nr, j = nh;
    while (i > 0 || j > 0) {
        int32_t here = d[(size_t)i * w + (size_t)j];
        wer_op op;
        if (i > 0 && j > 0 &&
            here == d[(size_t)(i - 1) * w + (size_t)(j - 1)] +
                        (strcmp(ref[i - 1], hyp[j - 1]) ? COST_SUB : 0)) {
            op = strcmp(ref[i - 1], hyp[j - 1]) ? WER_SUB : WER_COR;
            i--, j--;
        } else if (j > 0 && here == d[(size_t)i * w + (size_t)(j - 1)] + COST_INS) {
            op = WER_INS;
            j--;
        } else {
            op = WER_DEL;
            i--;
        }
        if (ops)
            ops[n] = op;
        n++;
        c->cor += op == WER_COR, c->sub += op == WER_SUB;
        c->del += op == WER_DEL, c->ins += op == WER_INS;
    }
    free(d);
    for (int k = 0; ops && k < n / 2; k++) { /* into sentence order */
        wer_op t = ops[k];
        ops[k] = ops[n - 1 - k];
        ops[n - 1 - k] = t;
    }
    c->ref += nr;
    c->hyp += nh;
    return n;
}

double wer_rate(const wer_counts *c)
{
    return c->ref > 0 ? (double)(c->sub + c->del + c->ins) / (double)c->ref : 0.0;
}
