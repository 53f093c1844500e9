/*
 * wer.h — word and character error rates counted as NIST's sclite counts them: the minimum-cost
 * alignment with substitution 4, insertion 3, deletion 3 (a match 0), ties broken from the end
 * of the sentence preferring a match or substitution, then an insertion, then a deletion (the
 * counts agree with sclite's on every utterance: tests/wer_test.sh). Tokens are words (split at
 * whitespace) or, for character error rates, Unicode code points without the whitespace.
 *
 * What it is not: text normalization (normalize.h), reading transcripts (cmd_wer.c).
 */
#ifndef HARK_WER_H
#define HARK_WER_H

#include <stddef.h>

typedef struct wer_counts {
    long ref, hyp;          /* tokens */
    long cor, sub, del, ins;
} wer_counts;

typedef enum wer_op { WER_COR, WER_SUB, WER_DEL, WER_INS } wer_op;

/* Splits text into tokens (chars: code points of non-space characters; else words), malloc'd
 * copies in *out (wer_tokens_free). Returns the count, -1 when out of memory. */
int wer_tokens(const char *text, int chars, char ***out);
void wer_tokens_free(char **t, int n);

/* Aligns hyp[nh] to ref[nr]: adds the counts to *c and, when ops is not NULL (room for nr + nh),
 * writes the operations in sentence order. Returns the number of operations, -1 when out of
 * memory. */
int wer_align(char *const *ref, int nr, char *const *hyp, int nh, wer_counts *c, wer_op *ops);

/* Errors (sub + del + ins) over reference tokens, as a fraction (0 when there are none). */
double wer_rate(const wer_counts *c);

#endif
