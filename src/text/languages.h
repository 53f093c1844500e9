/*
 * languages.h — private: Whisper's language table beyond the two public look-ups in hark.h.
 * ref: openai/whisper tokenizer.py LANGUAGES (the order fixes the <|xx|> token ids).
 */
#ifndef HARK_LANGUAGES_H
#define HARK_LANGUAGES_H

/* Languages in the table: 99 for most models, 100 (with "yue") for large-v3. */
#define HARK_N_LANGUAGES 100

/* English name of a language index ("english" for 0), or NULL when out of range. */
const char *hark_language_name(int index);

/* Index of a language given by its code ("de") or English name ("german", any case), or -1. */
int hark_language_find(const char *code_or_name);

#endif
