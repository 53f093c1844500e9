/*
 * languages.c — Whisper's language codes and English names, in token order: index i is the
 * language token <|code|> = sot + 1 + i.
 * ref: openai/whisper tokenizer.py LANGUAGES (99 languages, "yue" appended as the 100th for
 * large-v3).
 */
#include "text/languages.h"

#include "hark.h"

#include <stddef.h>
#include <string.h>
#include <strings.h>

static const struct {
    const char *code;
    const char *name;
} languages[HARK_N_LANGUAGES] = {
    {"en", "english"},    {"zh", "chinese"},     {"de", "german"},        {"es", "spanish"},
    {"ru", "russian"},    {"ko", "korean"},      {"fr", "french"},        {"ja", "japanese"},
    {"pt", "portuguese"}, {"tr", "turkish"},     {"pl", "polish"},        {"ca", "catalan"},
    {"nl", "dutch"},      {"ar", "arabic"},      {"sv", "swedish"},       {"it", "italian"},
    {"id", "indonesian"}, {"hi", "hindi"},       {"fi", "finnish"},       {"vi", "vietnamese"},
    {"he", "hebrew"},     {"uk", "ukrainian"},   {"el", "greek"},         {"ms", "malay"},
    {"cs", "czech"},      {"ro", "romanian"},    {"da", "danish"},        {"hu", "hungarian"},
    {"ta", "tamil"},      {"no", "norwegian"},   {"th", "thai"},          {"ur", "urdu"},
    {"hr", "croatian"},   {"bg", "bulgarian"},   {"lt", "lithuanian"},    {"la", "latin"},
    {"mi", "maori"},      {"ml", "malayalam"},   {"cy", "welsh"},         {"sk", "slovak"},
    {"te", "telugu"},     {"fa", "persian"},     {"lv", "latvian"},       {"bn", "bengali"},
    {"sr", "serbian"},    {"az", "azerbaijani"}, {"sl", "slovenian"},     {"kn", "kannada"},
    {"et", "estonian"},   {"mk", "macedonian"},  {"br", "breton"},        {"eu", "basque"},
    {"is", "icelandic"},  {"hy", "armenian"},    {"ne", "nepali"},        {"mn", "mongolian"},
    {"bs", "bosnian"},    {"kk", "kazakh"},      {"sq", "albanian"},      {"sw", "swahili"},
    {"gl", "galician"},   {"mr", "marathi"},     {"pa", "punjabi"},       {"si", "sinhala"},
    {"km", "khmer"},      {"sn", "shona"},       {"yo", "yoruba"},        {"so", "somali"},
    {"af", "afrikaans"},  {"oc", "occitan"},     {"ka", "georgian"},      {"be", "belarusian"},
    {"tg", "tajik"},      {"sd", "sindhi"},      {"gu", "gujarati"},      {"am", "amharic"},
    {"yi", "yiddish"},    {"lo", "lao"},         {"uz", "uzbek"},         {"fo", "faroese"},
    {"ht", "haitian creole"}, {"ps", "pashto"},  {"tk", "turkmen"},       {"nn", "nynorsk"},
    {"mt", "maltese"},    {"sa", "sanskrit"},    {"lb", "luxembourgish"}, {"my", "myanmar"},
    {"bo", "tibetan"},    {"tl", "tagalog"},     {"mg", "malagasy"},      {"as", "assamese"},
    {"tt", "tatar"},      {"haw", "hawaiian"},   {"ln", "lingala"},       {"ha", "hausa"},
    {"ba", "bashkir"},    {"jw", "javanese"},    {"su", "sundanese"},     {"yue", "cantonese"},
};

/* Returns the code of language index (0 = "en" .. 99 = "yue"), or NULL when out of range. */
const char *hark_language_code(int index)
{
    if (index < 0 || index >= HARK_N_LANGUAGES)
        return NULL;
    return languages[index].code;
}

/* Returns the index of an exact language code ("en" -> 0), or -1 for NULL or an unknown code. */
int hark_language_index(const char *code)
{
    if (!code)
        return -1;
    for (int i = 0; i < HARK_N_LANGUAGES; i++)
        if (strcmp(languages[i].code, code) == 0)
            return i;
    return -1;
}

/* Returns the English name of language index ("english" for 0), or NULL when out of range. */
const char *hark_language_name(int index)
{
    if (index < 0 || index >= HARK_N_LANGUAGES)
        return NULL;
    return languages[index].name;
}

/* Finds a language by code or by English name (case-insensitive), as whisper's
 * TO_LANGUAGE_CODE accepts both; -1 when neither matches. */
int hark_language_find(const char *code_or_name)
{
    if (!code_or_name)
        return -1;
    for (int i = 0; i < HARK_N_LANGUAGES; i++)
        if (strcasecmp(languages[i].code, code_or_name) == 0 ||
            strcasecmp(languages[i].name, code_or_name) == 0)
            return i;
    return -1;
}
