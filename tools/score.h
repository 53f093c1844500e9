/*
 * score.h — scoring transcripts as `hark wer`, `hark eval` and `hark client bench --references`
 * do: the normalizer (auto: openai/whisper's English one for English references, its basic one
 * otherwise), the metric (auto: CER for Chinese, Japanese or Korean references), sclite's counts.
 */
#ifndef HARK_SCORE_H
#define HARK_SCORE_H

#include "normalize_en.h"
#include "wer.h"

typedef struct scorer {
    const char *norm; /* "english", "basic", "basic-diacritics", "none" */
    int cer;
    en_norm *en;
} scorer;

/* Resolves "auto" normalizer and metric from the references refs[n] (NULLs skipped) and loads
 * the English spelling map (spelling, or assets/english.json) when it is needed. 0, or -1 after
 * printing why (a bad name: 2). */
int scorer_init(scorer *s, const char *norm, const char *metric, const char *const *refs, int n,
                const char *spelling);
void scorer_free(scorer *s);

/* Normalized tokens of text (wer_tokens_free); the count, or -1. */
int scorer_tokens(const scorer *s, const char *text, char ***out);

/* Adds the counts of one utterance to *c; -1 when out of memory or not UTF-8. */
int scorer_add(const scorer *s, const char *ref, const char *hyp, wer_counts *c);

#endif
