/*
 * normalize_en.h — openai/whisper's EnglishTextNormalizer, the normalization of English WER:
 * lower case, bracketed and parenthesized words and fillers (hmm, uh, um, ...) removed,
 * contractions and titles spelled out, symbols and diacritics removed, spelled-out numbers as
 * digits (numbers_en.c), British spellings American (the spelling map, english.json).
 * ref: openai/whisper normalizers/english.py (EnglishTextNormalizer, EnglishNumberNormalizer,
 * EnglishSpellingNormalizer). Regular expressions through PCRE2 with Unicode properties, as
 * Python's re on str.
 */
#ifndef HARK_NORMALIZE_EN_H
#define HARK_NORMALIZE_EN_H

#include <stddef.h>

typedef struct en_norm en_norm;

/* The normalizer with the spelling map of json_path (a JSON object "british": "american");
 * NULL with err filled when it cannot be read. */
en_norm *en_norm_new(const char *json_path, char *err, size_t err_size);
void en_norm_free(en_norm *n);

/* text normalized (malloc'd); NULL when out of memory or not UTF-8. */
char *en_normalize(const en_norm *n, const char *text);

/* ---- shared by normalize_en.c and numbers_en.c ---- */

/* Every match of pattern (PCRE2, UTF and Unicode properties) in s replaced by tmpl, in which $N
 * is group N (unset: empty); s is freed. NULL when out of memory or the pattern is bad. */
char *en_re_sub(const char *pattern, char *s, const char *tmpl);

/* Like en_re_sub, with fn writing each match's replacement (at most out_size bytes with the
 * terminating zero) from its groups g[0..n) (NULL when unset). */
typedef void (*en_re_fn)(const char *const *g, int n, char *out, size_t out_size);
char *en_re_sub_fn(const char *pattern, char *s, en_re_fn fn);

/* EnglishNumberNormalizer on s (freed); a malloc'd result or NULL. */
char *en_numbers(char *s);

#endif
