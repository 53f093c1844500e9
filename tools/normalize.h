/*
 * normalize.h — text normalization before error rates, as openai/whisper's evaluation does it.
 * ref: openai/whisper normalizers/basic.py (BasicTextNormalizer, remove_symbols,
 * remove_symbols_and_diacritics). Unicode normalization and categories come from utf8proc.
 *
 * Not yet here: EnglishTextNormalizer (numbers, spellings, contractions; issue 7).
 */
#ifndef HARK_NORMALIZE_H
#define HARK_NORMALIZE_H

/* BasicTextNormalizer: lower case; words between <> or [] and between () removed; NFKC, every
 * mark, symbol and punctuation character a space (with remove_diacritics: NFKD, nonspacing
 * marks dropped, the few letters whisper spells out replaced, e.g. "ß" -> "ss"); lower case
 * again; runs of whitespace one space. Returns a malloc'd string, NULL when out of memory or
 * the text is not valid UTF-8. */
char *normalize_basic(const char *text, int remove_diacritics);

#endif
