/*
 * normalize.c — BasicTextNormalizer (see normalize.h). ref: openai/whisper normalizers/basic.py.
 */
#include "normalize.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

void nbuf_put(nbuf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 64;
        while (cap < b->n + n + 1)
            cap *= 2;
        char *q = realloc(b->p, cap);
        if (!q) {
            b->oom = 1;
            return;
        }
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}

static void put_cp(nbuf *b, int32_t cp)
{
    utf8proc_uint8_t u[4];
    utf8proc_ssize_t k = utf8proc_encode_char(cp, u);
    nbuf_put(b, (const char *)u, (size_t)k);
}

/* Code point by code point through f(cp, b); NULL (and b freed) on invalid UTF-8. */
static char *map_cps(const char *s, void (*f)(int32_t cp, nbuf *b, const char *keep),
                     const char *keep)
{
    nbuf b = { 0 };
    nbuf_put(&b, "", 0);
    const utf8proc_uint8_t *p = (const utf8proc_uint8_t *)s;
    utf8proc_ssize_t len = (utf8proc_ssize_t)strlen(s);
    while (len > 0) {
        int32_t cp;
        utf8proc_ssize_t k = utf8proc_iterate(p, len, &cp);
        if (k <= 0) {
            free(b.p);
            return NULL;
        }
        f(cp, &b, keep);
        p += k, len -= k;
    }
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    return b.p;
}

static void lower_cp(int32_t cp, nbuf *b, const char *keep)
{
    (void)keep;
    put_cp(b, utf8proc_tolower(cp));
}

static int is_msp(int32_t cp)
{
    utf8proc_category_t c = utf8proc_category(cp);
    return (c >= UTF8PROC_CATEGORY_MN && c <= UTF8PROC_CATEGORY_ME) ||
           (c >= UTF8PROC_CATEGORY_PC && c <= UTF8PROC_CATEGORY_SO);
}

/* ref: basic.py remove_symbols (after NFKC) */
static void symbol_cp(int32_t cp, nbuf *b, const char *keep)
{
    (void)keep;
    if (is_msp(cp))
        nbuf_put(b, " ", 1);
    else
        put_cp(b, cp);
}

/* ref: basic.py ADDITIONAL_DIACRITICS and remove_symbols_and_diacritics (after NFKD); the
 * characters of keep stay */
static void diacritic_cp(int32_t cp, nbuf *b, const char *keep)
{
    if (keep && cp > 0) {
        utf8proc_uint8_t u[5] = { 0 };
        utf8proc_encode_char(cp, u);
        if (strstr(keep, (const char *)u)) {
            nbuf_put(b, (const char *)u, strlen((const char *)u));
            return;
        }
    }
    static const struct {
        int32_t cp;
        const char *s;
    } extra[] = { { 0x153, "oe" }, { 0x152, "OE" }, { 0xf8, "o" },   { 0xd8, "O" },
                  { 0xe6, "ae" },  { 0xc6, "AE" },  { 0xdf, "ss" },  { 0x1e9e, "SS" },
                  { 0x111, "d" },  { 0x110, "D" },  { 0xf0, "d" },   { 0xd0, "D" },
                  { 0xfe, "th" },  { 0xde, "th" },  { 0x142, "l" },  { 0x141, "L" } };
    for (size_t i = 0; i < sizeof(extra) / sizeof(extra[0]); i++)
        if (extra[i].cp == cp) {
            nbuf_put(b, extra[i].s, strlen(extra[i].s));
            return;
        }
    if (utf8proc_category(cp) == UTF8PROC_CATEGORY_MN)
        return;
    symbol_cp(cp, b, NULL);
}

/* Python's str.isspace() */
static int is_space_cp(int32_t cp)
{
    if ((cp >= 9 && cp <= 13) || (cp >= 0x1c && cp <= 0x1f) || cp == 0x85)
        return 1;
    utf8proc_category_t c = utf8proc_category(cp);
    return c == UTF8PROC_CATEGORY_ZS || c == UTF8PROC_CATEGORY_ZL || c == UTF8PROC_CATEGORY_ZP;
}

/* Removes every match of [<\[][^>\]]*[>\]] (paren = 0) or of \([^)]+\) (paren = 1), left to
 * right as re.sub does; the delimiters are ASCII, so bytes will do. */
void normalize_drop_bracketed(char *s, int paren)
{
    char *w = s;
    for (char *r = s; *r;) {
        char *e = NULL;
        if (!paren && (*r == '<' || *r == '[')) {
            e = r + 1;
            while (*e && *e != '>' && *e != ']')
                e++;
        } else if (paren && *r == '(' && r[1] && r[1] != ')') {
            e = r + 1;
            while (*e && *e != ')')
                e++;
        }
        if (e && *e)
            r = e + 1;
        else
            *w++ = *r++;
    }
    *w = 0;
}

char *normalize_lower(const char *text) { return map_cps(text, lower_cp, NULL); }

char *normalize_symbols(const char *text, int remove_diacritics, const char *keep)
{
    utf8proc_uint8_t *nf = remove_diacritics ? utf8proc_NFKD((const utf8proc_uint8_t *)text)
                                             : utf8proc_NFKC((const utf8proc_uint8_t *)text);
    if (!nf)
        return NULL;
    char *out = map_cps((const char *)nf, remove_diacritics ? diacritic_cp : symbol_cp, keep);
    free(nf);
    return out;
}

char *normalize_spaces(const char *text)
{
    nbuf b = { 0 };
    nbuf_put(&b, "", 0);
    const utf8proc_uint8_t *p = (const utf8proc_uint8_t *)text;
    utf8proc_ssize_t len = (utf8proc_ssize_t)strlen(text);
    int in_space = 0;
    while (len > 0) {
        int32_t cp;
        utf8proc_ssize_t k = utf8proc_iterate(p, len, &cp);
        if (k <= 0) {
            free(b.p);
            return NULL;
        }
        if (is_space_cp(cp)) {
            if (!in_space)
                nbuf_put(&b, " ", 1);
            in_space = 1;
        } else {
            nbuf_put(&b, (const char *)p, (size_t)k);
            in_space = 0;
        }
        p += k, len -= k;
    }
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    return b.p;
}

char *normalize_basic(const char *text, int remove_diacritics)
{
    char *low = normalize_lower(text);
    if (!low)
        return NULL;
    normalize_drop_bracketed(low, 0);
    normalize_drop_bracketed(low, 1);
    char *clean = normalize_symbols(low, remove_diacritics, NULL);
    free(low);
    char *out = clean ? normalize_lower(clean) : NULL;
    free(clean);
    char *sp = out ? normalize_spaces(out) : NULL;
    free(out);
    return sp;
}
