/*
 * normalize_en.c — EnglishTextNormalizer (see normalize_en.h); the numbers are numbers_en.c.
 * ref: openai/whisper normalizers/english.py EnglishTextNormalizer.__call__ and
 * EnglishSpellingNormalizer.
 */
#define _POSIX_C_SOURCE 200809L
#include "normalize_en.h"
#include "normalize.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <jansson.h>
#include <pcre2.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct spelling {
    char *from, *to;
} spelling;

struct en_norm {
    spelling *map; /* sorted by from */
    size_t n;
};

/* ---------------------------------------------------------------- regular expressions ------- */

/* Compiled patterns, kept for the process: the normalizer applies the same ~70 patterns to
 * every utterance, and compiling them each time cost more than matching (bench/RESULTS.md,
 * "English normalizer"). Compiled once each, JIT-compiled where PCRE2 has a JIT; a compiled
 * pattern is read-only while matching, so threads share them. */
#define RE_CACHE 128
static struct {
    char *pattern;
    pcre2_code *re;
} re_cache[RE_CACHE];
static int re_cached;
static pthread_mutex_t re_mu = PTHREAD_MUTEX_INITIALIZER;

static pcre2_code *re_compile(const char *pattern)
{
    int err;
    PCRE2_SIZE off;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED,
                                   PCRE2_UTF | PCRE2_UCP, &err, &off, NULL);
    if (re)
        pcre2_jit_compile(re, PCRE2_JIT_COMPLETE); /* without a JIT, the interpreter matches */
    return re;
}

/* The compiled pattern (NULL if it does not compile); *owned = 1 when the cache is full and
 * the caller frees it. */
static pcre2_code *re_get(const char *pattern, int *owned)
{
    *owned = 0;
    pthread_mutex_lock(&re_mu);
    pcre2_code *re = NULL;
    for (int i = 0; i < re_cached && !re; i++)
        if (!strcmp(re_cache[i].pattern, pattern))
            re = re_cache[i].re;
    if (!re) {
        re = re_compile(pattern);
        char *copy = re && re_cached < RE_CACHE ? strdup(pattern) : NULL;
        if (copy) {
            re_cache[re_cached].pattern = copy;
            re_cache[re_cached++].re = re;
        } else {
            *owned = re != NULL;
        }
    }
    pthread_mutex_unlock(&re_mu);
    return re;
}

/* Replaces every match left to right (re.sub): by tmpl with $N groups, or by fn's output. */
static char *re_sub_any(const char *pattern, char *s, const char *tmpl, en_re_fn fn)
{
    if (!s)
        return NULL;
    int owned;
    pcre2_code *re = re_get(pattern, &owned);
    pcre2_match_data *md = re ? pcre2_match_data_create_from_pattern(re, NULL) : NULL;
    nbuf b = { 0 };
    nbuf_put(&b, "", 0);
    const size_t len = strlen(s);
    size_t at = 0, copied = 0;
    int rc = 0;
    while (md && at <= len &&
           (rc = pcre2_match(re, (PCRE2_SPTR)s, len, at, 0, md, NULL)) >= 0) {
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        nbuf_put(&b, s + copied, ov[0] - copied);
        const char *g[10] = { 0 };
        char gb[10][256];
        for (int k = 0; k < rc && k < 10; k++)
            if (ov[2 * k] != PCRE2_UNSET) {
                snprintf(gb[k], sizeof(gb[k]), "%.*s", (int)(ov[2 * k + 1] - ov[2 * k]),
                         s + ov[2 * k]);
                g[k] = gb[k];
            }
        if (fn) {
            char rep[512];
            fn(g, rc, rep, sizeof(rep));
            nbuf_put(&b, rep, strlen(rep));
        } else {
            for (const char *t = tmpl; *t; t++) {
                if (*t == '$' && t[1] >= '0' && t[1] <= '9') {
                    int k = *++t - '0';
                    if (k < 10 && g[k])
                        nbuf_put(&b, g[k], strlen(g[k]));
                } else {
                    nbuf_put(&b, t, 1);
                }
            }
        }
        copied = ov[1];
        if (ov[1] > ov[0]) {
            at = ov[1];
        } else { /* an empty match: copy one character and go on */
            if (ov[1] >= len)
                break;
            size_t step = 1;
            while (ov[1] + step < len && ((unsigned char)s[ov[1] + step] & 0xc0) == 0x80)
                step++;
            nbuf_put(&b, s + ov[1], step);
            copied = at = ov[1] + step;
        }
    }
    if (md && copied < len)
        nbuf_put(&b, s + copied, len - copied);
    int failed = !md || b.oom || (rc < 0 && rc != PCRE2_ERROR_NOMATCH);
    pcre2_match_data_free(md);
    if (owned)
        pcre2_code_free(re);
    free(s);
    if (failed) {
        free(b.p);
        return NULL;
    }
    return b.p;
}

char *en_re_sub(const char *pattern, char *s, const char *tmpl)
{
    return re_sub_any(pattern, s, tmpl, NULL);
}

char *en_re_sub_fn(const char *pattern, char *s, en_re_fn fn)
{
    return re_sub_any(pattern, s, NULL, fn);
}

/* ---------------------------------------------------------------- the normalizer ------------ */

static int cmp_spelling(const void *a, const void *b)
{
    return strcmp(((const spelling *)a)->from, ((const spelling *)b)->from);
}

en_norm *en_norm_new(const char *json_path, char *err, size_t err_size)
{
    json_error_t je;
    json_t *j = json_load_file(json_path, 0, &je);
    if (!json_is_object(j)) {
        snprintf(err, err_size, "%s: %s", json_path, j ? "not a JSON object" : je.text);
        json_decref(j);
        return NULL;
    }
    en_norm *n = calloc(1, sizeof(*n));
    if (n)
        n->map = calloc(json_object_size(j) + 1, sizeof(spelling));
    const char *k;
    json_t *v;
    json_object_foreach(j, k, v) {
        if (!n || !n->map || !json_is_string(v))
            continue;
        n->map[n->n].from = strdup(k);
        n->map[n->n].to = strdup(json_string_value(v));
        if (n->map[n->n].from && n->map[n->n].to)
            n->n++;
    }
    json_decref(j);
    if (!n || !n->map) {
        snprintf(err, err_size, "out of memory");
        en_norm_free(n);
        return NULL;
    }
    qsort(n->map, n->n, sizeof(spelling), cmp_spelling);
    return n;
}

void en_norm_free(en_norm *n)
{
    if (!n)
        return;
    for (size_t i = 0; n->map && i < n->n; i++)
        free(n->map[i].from), free(n->map[i].to);
    free(n->map);
    free(n);
}

/* EnglishSpellingNormalizer: each whitespace-separated word through the map, joined by single
 * spaces; s is freed. */
static char *spellings(const en_norm *n, char *s)
{
    if (!s)
        return NULL;
    nbuf b = { 0 };
    nbuf_put(&b, "", 0);
    char *save = NULL;
    const char *ws = " \t\n\r\f\v";
    int first = 1;
    for (char *w = strtok_r(s, ws, &save); w; w = strtok_r(NULL, ws, &save)) {
        spelling key = { .from = w };
        const spelling *hit = bsearch(&key, n->map, n->n, sizeof(spelling), cmp_spelling);
        if (!first)
            nbuf_put(&b, " ", 1);
        nbuf_put(&b, hit ? hit->to : w, strlen(hit ? hit->to : w));
        first = 0;
    }
    free(s);
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    return b.p;
}

/* ref: english.py EnglishTextNormalizer.replacers, in their order */
static const char *const REPLACERS[][2] = {
    { "\\bwon't\\b", "will not" },     { "\\bcan't\\b", "can not" },
    { "\\blet's\\b", "let us" },       { "\\bain't\\b", "aint" },
    { "\\by'all\\b", "you all" },      { "\\bwanna\\b", "want to" },
    { "\\bgotta\\b", "got to" },       { "\\bgonna\\b", "going to" },
    { "\\bi'ma\\b", "i am going to" }, { "\\bimma\\b", "i am going to" },
    { "\\bwoulda\\b", "would have" },  { "\\bcoulda\\b", "could have" },
    { "\\bshoulda\\b", "should have" }, { "\\bma'am\\b", "madam" },
    { "\\bmr\\b", "mister " },         { "\\bmrs\\b", "missus " },
    { "\\bst\\b", "saint " },          { "\\bdr\\b", "doctor " },
    { "\\bprof\\b", "professor " },    { "\\bcapt\\b", "captain " },
    { "\\bgov\\b", "governor " },      { "\\bald\\b", "alderman " },
    { "\\bgen\\b", "general " },       { "\\bsen\\b", "senator " },
    { "\\brep\\b", "representative " }, { "\\bpres\\b", "president " },
    { "\\brev\\b", "reverend " },      { "\\bhon\\b", "honorable " },
    { "\\basst\\b", "assistant " },    { "\\bassoc\\b", "associate " },
    { "\\blt\\b", "lieutenant " },     { "\\bcol\\b", "colonel " },
    { "\\bjr\\b", "junior " },         { "\\bsr\\b", "senior " },
    { "\\besq\\b", "esquire " },       { "'d been\\b", " had been" },
    { "'s been\\b", " has been" },     { "'d gone\\b", " had gone" },
    { "'s gone\\b", " has gone" },     { "'d done\\b", " had done" },
    { "'s got\\b", " has got" },       { "n't\\b", " not" },
    { "'re\\b", " are" },              { "'s\\b", " is" },
    { "'d\\b", " would" },             { "'ll\\b", " will" },
    { "'t\\b", " not" },               { "'ve\\b", " have" },
    { "'m\\b", " am" },
};

char *en_normalize(const en_norm *n, const char *text)
{
    char *s = normalize_lower(text);
    if (!s)
        return NULL;
    normalize_drop_bracketed(s, 0);
    normalize_drop_bracketed(s, 1);
    s = en_re_sub("\\b(hmm|mm|mhm|mmm|uh|um)\\b", s, "");
    s = en_re_sub("\\s+'", s, "'");
    for (size_t i = 0; i < sizeof(REPLACERS) / sizeof(REPLACERS[0]); i++)
        s = en_re_sub(REPLACERS[i][0], s, REPLACERS[i][1]);
    s = en_re_sub("(\\d),(\\d)", s, "$1$2");       /* commas between digits */
    s = en_re_sub("\\.([^0-9]|$)", s, " $1");      /* periods not followed by numbers */
    char *t = s ? normalize_symbols(s, 1, ".%$¢€£") : NULL; /* keep numeric symbols */
    free(s);
    s = t ? en_numbers(t) : NULL;
    s = spellings(n, s);
    s = en_re_sub("([$¢€£])\\s+([0-9])", s, "$1$2"); /* currency and percent to their numbers */
    s = en_re_sub("([0-9])\\s+%", s, "$1%");
    s = en_re_sub("[.$¢€£]([^0-9])", s, " $1"); /* symbols that are not a number's */
    s = en_re_sub("([^0-9])%", s, "$1 ");
    t = s ? normalize_spaces(s) : NULL;
    free(s);
    return t;
}
