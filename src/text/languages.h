/*
 * languages.h — private: Whisper's language table beyond the two public look-ups in hark.h.
 * ref: openai/whisper tokenizer.py LANGUAGES (the order fixes the <|xx|> token ids).
 */
#ifndef HARK_LANGUAGES_H
#define HARK_LANGUAGES_H

/* Languages in the table: 99 for most models, 100 (with "yue") for large-v3. */
#define HARK_N_LANGUAGES 100

/* hark_language_name and hark_language_find are public (hark.h). */

#endif
