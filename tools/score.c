/*
 * score.c — see score.h.
 */
#define _POSIX_C_SOURCE 200809L
#include "score.h"
#include "normalize.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Mostly Chinese, Japanese or Korean characters (U+3000..U+D7FF: symbols, kana, ideographs,
 * Hangul). */
static int mostly_cjk(const char *const *t, int n)
{
    long cjk = 0, other = 0;
    for (int i = 0; i < n; i++)
        for (const unsigned char *p = (const unsigned char *)(t[i] ? t[i] : ""); *p; p++) {
            if ((*p & 0xc0) == 0x80 || *p == ' ')
                continue;
            if (*p >= 0xe3 && *p <= 0xed)
                cjk++;
            else
                other++;
        }
    return cjk > other;
}

/* Mostly ASCII letters. */
static int mostly_latin(const char *const *t, int n)
{
    long latin = 0, other = 0;
    for (int i = 0; i < n; i++)
        for (const unsigned char *p = (const unsigned char *)(t[i] ? t[i] : ""); *p; p++) {
            if ((*p & 0xc0) == 0x80 || *p == ' ')
                continue;
            if ((*p | 0x20) >= 'a' && (*p | 0x20) <= 'z')
                latin++;
            else if (*p >= 0x80)
                other++;
        }
    return latin > 4 * other;
}

int scorer_init(scorer *s, const char *norm, const char *metric, const char *const *refs, int n,
                const char *spelling)
{
    memset(s, 0, sizeof(*s));
    static const char *const norms[] = { "auto", "english", "basic", "basic-diacritics", "none" };
    int ok = 0;
    for (size_t i = 0; i < sizeof(norms) / sizeof(norms[0]); i++)
        ok |= !strcmp(norm, norms[i]);
    if (!ok || (strcmp(metric, "auto") && strcmp(metric, "wer") && strcmp(metric, "cer"))) {
        fprintf(stderr, "hark: normalizer %s / metric %s: expected auto|english|basic|"
                        "basic-diacritics|none and auto|wer|cer\n", norm, metric);
        return 2;
    }
    s->cer = !strcmp(metric, "cer") || (!strcmp(metric, "auto") && mostly_cjk(refs, n));
    /* ref: whisper's evaluation: English text, English rules */
    s->norm = strcmp(norm, "auto") ? norm : mostly_latin(refs, n) ? "english" : "basic";
    if (strcmp(s->norm, "english"))
        return 0;
    char buf[4096], err[512];
    if (!spelling) {
        const char *dir = getenv("HARK_ASSETS");
#ifdef HARK_ASSETS_DIR
        if (!dir || !*dir)
            dir = HARK_ASSETS_DIR;
#endif
        snprintf(buf, sizeof(buf), "%s/english.json", dir && *dir ? dir : "assets");
        spelling = buf;
    }
    if (!(s->en = en_norm_new(spelling, err, sizeof(err)))) {
        fprintf(stderr, "hark: the English spelling map: %s (--spelling FILE)\n", err);
        return -1;
    }
    return 0;
}

void scorer_free(scorer *s)
{
    en_norm_free(s->en);
    s->en = NULL;
}

int scorer_tokens(const scorer *s, const char *text, char ***out)
{
    char *x = !strcmp(s->norm, "none")      ? strdup(text)
              : !strcmp(s->norm, "english") ? en_normalize(s->en, text)
                                            : normalize_basic(text, !strcmp(s->norm,
                                                                            "basic-diacritics"));
    *out = NULL;
    if (!x)
        return -1;
    int n = wer_tokens(x, s->cer, out);
    free(x);
    return n;
}

int scorer_add(const scorer *s, const char *ref, const char *hyp, wer_counts *c)
{
    char **r = NULL, **h = NULL;
    int nr = scorer_tokens(s, ref, &r), nh = nr >= 0 ? scorer_tokens(s, hyp, &h) : -1;
    int rc = nr >= 0 && nh >= 0 ? wer_align(r, nr, h, nh, c, NULL) : -1;
    wer_tokens_free(r, nr > 0 ? nr : 0);
    wer_tokens_free(h, nh > 0 ? nh : 0);
    return rc < 0 ? -1 : 0;
}
