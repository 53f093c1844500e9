/*
 * normalize.h — text normalization before error rates, as openai/whisper's evaluation does it.
 * ref: openai/whisper normalizers/basic.py (BasicTextNormalizer, remove_symbols,
 * remove_symbols_and_diacritics). Unicode normalization and categories come from utf8proc.
 *
 * EnglishTextNormalizer: normalize_en.h.
 */
#ifndef HARK_NORMALIZE_H
#define HARK_NORMALIZE_H

#include <stddef.h>

/* A growing string (the normalizers' output): nbuf_put appends n bytes and keeps a terminating
 * zero; a failed allocation sets oom and drops the rest. */
typedef struct nbuf {
    char *p;
    size_t n, cap;
    int oom;
} nbuf;
void nbuf_put(nbuf *b, const char *s, size_t n);

/* BasicTextNormalizer: lower case; words between <> or [] and between () removed; NFKC, every
 * mark, symbol and punctuation character a space (with remove_diacritics: NFKD, nonspacing
 * marks dropped, the few letters whisper spells out replaced, e.g. "ß" -> "ss"); lower case
 * again; runs of whitespace one space. Returns a malloc'd string, NULL when out of memory or
 * the text is not valid UTF-8. */
char *normalize_basic(const char *text, int remove_diacritics);

/* The steps, for the English normalizer (malloc'd results, NULL when out of memory or not
 * UTF-8): lower case; matches of [<\[][^>\]]*[>\]] (paren 0) or \([^)]+\) (paren 1) removed in
 * place; remove_symbols (NFKC) or remove_symbols_and_diacritics (NFKD) keeping the characters
 * of keep; runs of whitespace one space. */
char *normalize_lower(const char *text);
void normalize_drop_bracketed(char *s, int paren);
char *normalize_symbols(const char *text, int remove_diacritics, const char *keep);
char *normalize_spaces(const char *text);

#endif
