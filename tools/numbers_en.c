/*
 * numbers_en.c — spelled-out English numbers to digits, as openai/whisper's evaluation does it
 * before an English WER: "twenty one" -> "21", "one oh one" -> "101", "two and a half million
 * dollars" -> "$2500000", "fifth" -> "5th", "ten percent" -> "10%".
 * ref: openai/whisper normalizers/english.py, release 20250625 (the copy transformers ships is
 * the same) EnglishNumberNormalizer (process_words, the state
 * machine over (previous, current, next) words; preprocess; postprocess), reproduced here with
 * 128-bit integers (Python's are unbounded: values past 10^37 are kept as text) and ASCII digits
 * (Python's \d also takes other scripts' digits).
 */
#define _POSIX_C_SOURCE 200809L
#include "normalize_en.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

__extension__ typedef __int128 i128;
__extension__ typedef unsigned __int128 u128;

/* ---------------------------------------------------------------- vocabulary ---------------- */

static const char *const ONES[] = { "one",      "two",       "three",    "four",     "five",
                                    "six",      "seven",     "eight",    "nine",     "ten",
                                    "eleven",   "twelve",    "thirteen", "fourteen", "fifteen",
                                    "sixteen",  "seventeen", "eighteen", "nineteen" };
static const char *const TENS[] = { "twenty", "thirty",  "forty",  "fifty",
                                    "sixty",  "seventy", "eighty", "ninety" };
static const char *const MULTS[] = { "hundred",     "thousand",    "million",    "billion",
                                     "trillion",    "quadrillion", "quintillion", "sextillion",
                                     "septillion",  "octillion",   "nonillion",  "decillion" };
static const int MULT_EXP[] = { 2, 3, 6, 9, 12, 15, 18, 21, 24, 27, 30, 33 };

#define N_ONES 19
#define N_TENS 8
#define N_MULTS 12

static int index_of(const char *w, const char *const *list, int n)
{
    for (int i = 0; w && i < n; i++)
        if (!strcmp(w, list[i]))
            return i;
    return -1;
}

static int is_zero_word(const char *w)
{
    return w && (!strcmp(w, "o") || !strcmp(w, "oh") || !strcmp(w, "zero"));
}

/* "one".."nineteen" -> 1..19, else 0 */
static int ones_value(const char *w) { return index_of(w, ONES, N_ONES) + 1; }
static int tens_value(const char *w)
{
    int i = index_of(w, TENS, N_TENS);
    return i < 0 ? 0 : 20 + 10 * i;
}
/* exponent of a multiplier word, -1 if none */
static int mult_exp(const char *w)
{
    int i = index_of(w, MULTS, N_MULTS);
    return i < 0 ? -1 : MULT_EXP[i];
}

/* ones_plural and ones_ordinal: value and suffix of "sixes", "fifth", "nineth", ... */
static int ones_suffixed(const char *w, int *value, const char **suffix)
{
    static const struct {
        const char *w;
        int v;
        const char *s;
    } special[] = { { "zeroth", 0, "th" }, { "first", 1, "st" },  { "second", 2, "nd" },
                    { "third", 3, "rd" },  { "fifth", 5, "th" },  { "twelfth", 12, "th" } };
    if (!w)
        return 0;
    for (size_t i = 0; i < sizeof(special) / sizeof(special[0]); i++)
        if (!strcmp(w, special[i].w)) {
            *value = special[i].v, *suffix = special[i].s;
            return 1;
        }
    char buf[32];
    for (int i = 0; i < N_ONES; i++) {
        snprintf(buf, sizeof(buf), "%s", i + 1 == 6 ? "sixes" : ONES[i]);
        if (i + 1 != 6)
            strncat(buf, "s", sizeof(buf) - strlen(buf) - 1);
        if (!strcmp(w, buf)) {
            *value = i + 1, *suffix = "s";
            return 1;
        }
        int v = i + 1;
        if (v > 3 && v != 5 && v != 12) { /* name + "h" after a t, else + "th" */
            size_t k = strlen(ONES[i]);
            snprintf(buf, sizeof(buf), "%s%s", ONES[i], ONES[i][k - 1] == 't' ? "h" : "th");
            if (!strcmp(w, buf)) {
                *value = v, *suffix = "th";
                return 1;
            }
        }
    }
    return 0;
}

/* tens_plural ("twenties") and tens_ordinal ("twentieth") */
static int tens_suffixed(const char *w, int *value, const char **suffix)
{
    char buf[32];
    for (int i = 0; w && i < N_TENS; i++) {
        size_t k = strlen(TENS[i]) - 1; /* drop the y */
        snprintf(buf, sizeof(buf), "%.*sies", (int)k, TENS[i]);
        if (!strcmp(w, buf)) {
            *value = 20 + 10 * i, *suffix = "s";
            return 1;
        }
        snprintf(buf, sizeof(buf), "%.*sieth", (int)k, TENS[i]);
        if (!strcmp(w, buf)) {
            *value = 20 + 10 * i, *suffix = "th";
            return 1;
        }
    }
    return 0;
}

/* multipliers_plural / _ordinal: "millions", "thousandth" */
static int mults_suffixed(const char *w, int *exp, const char **suffix)
{
    char buf[32];
    for (int i = 0; w && i < N_MULTS; i++) {
        snprintf(buf, sizeof(buf), "%ss", MULTS[i]);
        if (!strcmp(w, buf)) {
            *exp = MULT_EXP[i], *suffix = "s";
            return 1;
        }
        snprintf(buf, sizeof(buf), "%sth", MULTS[i]);
        if (!strcmp(w, buf)) {
            *exp = MULT_EXP[i], *suffix = "th";
            return 1;
        }
    }
    return 0;
}

static const char *preceding_prefix(const char *w)
{
    if (!w)
        return NULL;
    if (!strcmp(w, "minus") || !strcmp(w, "negative"))
        return "-";
    if (!strcmp(w, "plus") || !strcmp(w, "positive"))
        return "+";
    return NULL;
}

static const char *following_prefix(const char *w)
{
    static const char *const map[][2] = { { "pound", "£" },   { "pounds", "£" },
                                          { "euro", "€" },    { "euros", "€" },
                                          { "dollar", "$" },  { "dollars", "$" },
                                          { "cent", "¢" },    { "cents", "¢" } };
    for (size_t i = 0; w && i < sizeof(map) / sizeof(map[0]); i++)
        if (!strcmp(w, map[i][0]))
            return map[i][1];
    return NULL;
}

static int is_special(const char *w)
{
    return w && (!strcmp(w, "and") || !strcmp(w, "double") || !strcmp(w, "triple") ||
                 !strcmp(w, "point"));
}

static int is_suffixer(const char *w) { return w && (!strcmp(w, "per") || !strcmp(w, "percent")); }

/* self.words: every word the machine treats as (part of) a number */
static int is_number_word(const char *w)
{
    int v, e;
    const char *s;
    return w && (is_zero_word(w) || ones_value(w) || ones_suffixed(w, &v, &s) || tens_value(w) ||
                 tens_suffixed(w, &v, &s) || mult_exp(w) >= 0 || mults_suffixed(w, &e, &s) ||
                 preceding_prefix(w) || following_prefix(w) || is_suffixer(w) || is_special(w));
}

/* self.decimals: ones, tens and zeros */
static int is_decimal_word(const char *w)
{
    return ones_value(w) || tens_value(w) || is_zero_word(w);
}

/* ^[0-9]+(\.[0-9]+)?$ */
static int is_numeric(const char *w)
{
    if (!w || !(*w >= '0' && *w <= '9'))
        return 0;
    while (*w >= '0' && *w <= '9')
        w++;
    if (*w == '.') {
        w++;
        if (!(*w >= '0' && *w <= '9'))
            return 0;
        while (*w >= '0' && *w <= '9')
            w++;
    }
    return *w == 0;
}

/* ---------------------------------------------------------------- values -------------------- */

/* A number being built: none, an integer, or text (digit runs that are not arithmetic: "101",
 * "2.5", "007"), as Python's int / str values. */
typedef struct value {
    int kind; /* 0 none, 1 int, 2 text */
    i128 i;
    char s[160];
} value;

static void i128_str(i128 v, char *out, size_t n)
{
    char tmp[48];
    int k = 0, neg = v < 0;
    u128 u = neg ? -(u128)v : (u128)v;
    do {
        tmp[k++] = (char)('0' + (int)(u % 10));
        u /= 10;
    } while (u);
    size_t j = 0;
    if (neg && j + 1 < n)
        out[j++] = '-';
    while (k > 0 && j + 1 < n)
        out[j++] = tmp[--k];
    out[j] = 0;
}

/* str(value) */
static void val_str(const value *v, char *out, size_t n)
{
    if (v->kind == 1)
        i128_str(v->i, out, n);
    else
        snprintf(out, n, "%s", v->kind == 2 ? v->s : "");
}

static void set_text(value *v, const char *a, const char *b)
{
    char t[sizeof(v->s)];
    size_t na = strlen(a), nb = strlen(b);
    na = na < sizeof(t) - 1 ? na : sizeof(t) - 1;
    nb = nb < sizeof(t) - 1 - na ? nb : sizeof(t) - 1 - na;
    memcpy(t, a, na); /* a may be v->s */
    memcpy(t + na, b, nb);
    t[na + nb] = 0;
    memcpy(v->s, t, na + nb + 1);
    v->kind = 2;
}

/* Fraction(s) as n / 10^d (digits, an optional point and digits, at least one digit); 0 when s
 * is no such number or too long for 128 bits. */
static int to_fraction(const char *s, i128 *n, int *d)
{
    i128 x = 0;
    int digits = 0, dec = -1;
    const char *p = s;
    if (!(*p >= '0' && *p <= '9') && !(*p == '.' && p[1] >= '0' && p[1] <= '9'))
        return 0;
    for (; *p; p++) {
        if (*p == '.' && dec < 0) {
            dec = 0;
            continue;
        }
        if (!(*p >= '0' && *p <= '9') || ++digits > 36)
            return 0;
        x = x * 10 + (*p - '0');
        dec += dec >= 0;
    }
    *n = x;
    *d = dec < 0 ? 0 : dec;
    return 1;
}

static i128 pow10i(int e)
{
    i128 p = 1;
    while (e-- > 0)
        p *= 10;
    return p;
}

/* value (text or 0) times 10^e when that is a whole number: 1, with it in *out */
static int times_pow10(const value *v, int e, i128 *out)
{
    i128 n = 0;
    int d = 0;
    char s[160];
    val_str(v, s, sizeof(s));
    if (!to_fraction(s, &n, &d))
        return 0;
    int digits = 0;
    for (i128 t = n; t; t /= 10)
        digits++;
    if (digits + e > 37)
        return 0;
    i128 p = n * pow10i(e), q = pow10i(d);
    if (p % q != 0)
        return 0;
    *out = p / q;
    return 1;
}

/* ---------------------------------------------------------------- the machine -------------- */

typedef struct machine {
    value v;
    const char *prefix; /* a currency or sign symbol for the next output */
    char pfx[8];        /* the one a number word came with ("$5") */
    char **out;         /* words out */
    int n, cap, oom;
} machine;

/* output(result): the prefix, then result; value and prefix reset */
static void emit(machine *m, const char *result)
{
    char t[200];
    snprintf(t, sizeof(t), "%s%s", m->prefix ? m->prefix : "", result);
    m->prefix = NULL;
    m->v.kind = 0;
    if (m->n == m->cap) {
        int nc = m->cap ? 2 * m->cap : 32;
        char **o = realloc(m->out, (size_t)nc * sizeof(char *));
        if (!o) {
            m->oom = 1;
            return;
        }
        m->out = o, m->cap = nc;
    }
    if (!(m->out[m->n] = strdup(t)))
        m->oom = 1;
    else
        m->n++;
}

static void emit_value(machine *m)
{
    char t[160];
    val_str(&m->v, t, sizeof(t));
    emit(m, t);
}

static void emit_with(machine *m, const char *a, const char *b)
{
    char t[200];
    snprintf(t, sizeof(t), "%s%s", a, b);
    emit(m, t);
}

static void emit_int_with(machine *m, i128 x, const char *suffix)
{
    char t[64];
    i128_str(x, t, sizeof(t));
    emit_with(m, t, suffix);
}

/* a ones word (1..19) joining the value; ref: process_words, `current in self.ones` */
static void add_ones(machine *m, const char *prev, int ones)
{
    value *v = &m->v;
    char t[160], d[16];
    snprintf(d, sizeof(d), "%d", ones);
    if (v->kind == 0) {
        v->kind = 1, v->i = ones;
    } else if (v->kind == 2 || ones_value(prev)) {
        val_str(v, t, sizeof(t));
        if (tens_value(prev) && ones < 10 && v->kind == 2 && t[0] && t[strlen(t) - 1] == '0') {
            t[strlen(t) - 1] = 0; /* replace the last zero with the digit */
            set_text(v, t, d);
        } else {
            set_text(v, t, d);
        }
    } else if (ones < 10 ? v->i % 10 == 0 : v->i % 100 == 0) {
        v->i += ones;
    } else {
        val_str(v, t, sizeof(t));
        set_text(v, t, d);
    }
}

/* an ordinal or plural ones word: the number goes out at once */
static void add_ones_suffixed(machine *m, const char *prev, int ones, const char *suffix)
{
    value *v = &m->v;
    char t[160], d[16];
    snprintf(d, sizeof(d), "%d", ones);
    if (v->kind == 0) {
        emit_with(m, d, suffix);
    } else if (v->kind == 2 || ones_value(prev)) {
        val_str(v, t, sizeof(t));
        if (tens_value(prev) && ones < 10 && t[0]) /* value[:-1] */
            t[strlen(t) - 1] = 0;
        strncat(t, d, sizeof(t) - strlen(t) - 1);
        emit_with(m, t, suffix);
    } else if (ones < 10 ? v->i % 10 == 0 : v->i % 100 == 0) {
        emit_int_with(m, v->i + ones, suffix);
    } else {
        val_str(v, t, sizeof(t));
        strncat(t, d, sizeof(t) - strlen(t) - 1);
        emit_with(m, t, suffix);
    }
    m->v.kind = 0;
}

static void add_tens(machine *m, int tens, const char *suffix)
{
    value *v = &m->v;
    char t[160], d[16];
    snprintf(d, sizeof(d), "%d", tens);
    if (v->kind == 0) {
        if (suffix)
            emit_with(m, d, suffix);
        else
            v->kind = 1, v->i = tens;
    } else if (v->kind == 2 || v->i % 100 != 0) {
        val_str(v, t, sizeof(t));
        if (suffix) {
            strncat(t, d, sizeof(t) - strlen(t) - 1);
            emit_with(m, t, suffix);
        } else {
            set_text(v, t, d);
        }
    } else if (suffix) {
        emit_int_with(m, v->i + tens, suffix);
    } else {
        v->i += tens;
    }
}

static void add_mult(machine *m, int e, const char *suffix)
{
    value *v = &m->v;
    i128 p;
    if (v->kind == 0) {
        if (suffix)
            emit_int_with(m, pow10i(e), suffix);
        else
            v->kind = 1, v->i = pow10i(e);
    } else if (v->kind == 2 || (!suffix && v->i == 0)) {
        if (times_pow10(v, e, &p)) {
            if (suffix)
                emit_int_with(m, p, suffix);
            else
                v->kind = 1, v->i = p;
        } else {
            emit_value(m);
            if (suffix)
                emit_int_with(m, pow10i(e), suffix);
            else
                v->kind = 1, v->i = pow10i(e);
        }
    } else { /* before + residual * multiplier */
        i128 before = v->i / 1000 * 1000, residual = v->i % 1000;
        v->i = before + residual * pow10i(e);
        if (suffix)
            emit_int_with(m, v->i, suffix);
    }
    if (suffix)
        m->v.kind = 0;
}

/* One word of process_words with its neighbours; returns 1 when next must be skipped. */
static int step(machine *m, const char *prev, const char *cur, const char *next)
{
    const int next_numeric = is_numeric(next);
    static const char *const prefixes[] = { "-", "+", "£", "€", "$", "¢" };
    size_t plen = 0;
    for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++)
        if (!strncmp(cur, prefixes[i], strlen(prefixes[i])))
            plen = strlen(prefixes[i]);
    int v, e;
    const char *suffix;
    if (is_numeric(cur + plen)) { /* arabic numbers, with a sign or currency and decimals */
        if (m->v.kind != 0) {
            char t[160];
            val_str(&m->v, t, sizeof(t));
            if (m->v.kind == 2 && t[0] && t[strlen(t) - 1] == '.') { /* decimals, IP parts */
                set_text(&m->v, t, cur);
                return 0;
            }
            emit_value(m);
        }
        if (plen) {
            memcpy(m->pfx, cur, plen);
            m->pfx[plen] = 0;
            m->prefix = m->pfx;
        }
        i128 n;
        int d;
        if (to_fraction(cur + plen, &n, &d) && n % pow10i(d) == 0)
            m->v.kind = 1, m->v.i = n / pow10i(d);
        else
            set_text(&m->v, cur + plen, "");
    } else if (!is_number_word(cur)) {
        if (m->v.kind)
            emit_value(m);
        emit(m, cur);
    } else if (is_zero_word(cur)) {
        char t[160];
        val_str(&m->v, t, sizeof(t));
        set_text(&m->v, m->v.kind == 1 && m->v.i == 0 ? "" : t, "0"); /* str(value or "") */
    } else if ((v = ones_value(cur)) > 0) {
        add_ones(m, prev, v);
    } else if (ones_suffixed(cur, &v, &suffix)) {
        add_ones_suffixed(m, prev, v, suffix);
    } else if ((v = tens_value(cur)) > 0) {
        add_tens(m, v, NULL);
    } else if (tens_suffixed(cur, &v, &suffix)) {
        add_tens(m, v, suffix);
    } else if ((e = mult_exp(cur)) >= 0) {
        add_mult(m, e, NULL);
    } else if (mults_suffixed(cur, &e, &suffix)) {
        add_mult(m, e, suffix);
    } else if (preceding_prefix(cur)) { /* a sign, when a number follows */
        if (m->v.kind)
            emit_value(m);
        if (is_number_word(next) || next_numeric)
            m->prefix = preceding_prefix(cur);
        else
            emit(m, cur);
    } else if (following_prefix(cur)) { /* a currency, after a number */
        if (m->v.kind) {
            m->prefix = following_prefix(cur);
            emit_value(m);
        } else {
            emit(m, cur);
        }
    } else if (is_suffixer(cur)) {
        if (!m->v.kind) {
            emit(m, cur);
        } else if (!strcmp(cur, "percent")) {
            char t[160];
            val_str(&m->v, t, sizeof(t));
            emit_with(m, t, "%");
        } else if (next && !strcmp(next, "cent")) { /* per cent */
            char t[160];
            val_str(&m->v, t, sizeof(t));
            emit_with(m, t, "%");
            return 1;
        } else {
            emit_value(m);
            emit(m, cur);
        }
    } else if (!is_number_word(next) && !next_numeric) { /* specials before a non-number */
        if (m->v.kind)
            emit_value(m);
        emit(m, cur);
    } else if (!strcmp(cur, "and")) { /* dropped after hundreds, thousands, ... */
        if (mult_exp(prev) < 0) {
            if (m->v.kind)
                emit_value(m);
            emit(m, cur);
        }
    } else if (!strcmp(cur, "double") || !strcmp(cur, "triple")) {
        if (ones_value(next) || is_zero_word(next)) {
            char t[160], d[16];
            val_str(&m->v, t, sizeof(t));
            if (m->v.kind == 1 && m->v.i == 0)
                t[0] = 0;
            snprintf(d, sizeof(d), "%d", ones_value(next));
            for (int r = 0; r < (!strcmp(cur, "double") ? 2 : 3); r++)
                strncat(t, d, sizeof(t) - strlen(t) - 1);
            set_text(&m->v, t, "");
            return 1;
        }
        if (m->v.kind)
            emit_value(m);
        emit(m, cur);
    } else if (!strcmp(cur, "point")) {
        if (is_decimal_word(next) || next_numeric) {
            char t[160];
            val_str(&m->v, t, sizeof(t));
            set_text(&m->v, m->v.kind == 1 && m->v.i == 0 ? "" : t, ".");
        }
    }
    return 0;
}

/* process_words over the whitespace-separated words of s (freed); the words out joined by
 * spaces. */
static char *process_words(char *s)
{
    machine m = { 0 };
    char **words = malloc((strlen(s) / 2 + 2) * sizeof(char *)), *save = NULL;
    int n = 0;
    if (!words) {
        free(s);
        return NULL;
    }
    const char *ws = " \t\n\r\f\v";
    for (char *t = strtok_r(s, ws, &save); t; t = strtok_r(NULL, ws, &save))
        words[n++] = t;
    for (int i = 0; i < n; i++)
        i += step(&m, i > 0 ? words[i - 1] : NULL, words[i], i + 1 < n ? words[i + 1] : NULL);
    if (m.v.kind)
        emit_value(&m);
    size_t len = 1;
    for (int i = 0; i < m.n; i++)
        len += strlen(m.out[i]) + 1;
    char *out = m.oom ? NULL : malloc(len);
    if (out) {
        out[0] = 0;
        for (int i = 0; i < m.n; i++) {
            if (i)
                strcat(out, " ");
            strcat(out, m.out[i]);
        }
    }
    for (int i = 0; i < m.n; i++)
        free(m.out[i]);
    free(m.out);
    free(words);
    free(s);
    return out;
}

/* ---------------------------------------------------------------- before and after ---------- */

#define HALF_MARK "\x1f\x1e"

/* "<number> and a half" -> "<number> point five", spaces at number/letter boundaries (but not
 * before st, nd, rd, th, s). ref: preprocess (release 20250625, as transformers' copy; later
 * commits also turn "half a million" into "0.5 million") */
static char *preprocess(char *s)
{
    s = en_re_sub("\\band\\s+a\\s+half\\b", s, HALF_MARK);
    if (!s)
        return NULL;
    size_t cap = strlen(s) * 8 + 16; /* a 2-byte mark becomes at most 12 */
    char *out = malloc(cap);
    if (!out) {
        free(s);
        return NULL;
    }
    out[0] = 0;
    int first = 1;
    for (char *seg = s;;) {
        char *mark = strstr(seg, HALF_MARK);
        if (mark)
            *mark = 0;
        int blank = 1;
        for (char *p = seg; *p; p++)
            blank &= strchr(" \t\n\r\f\v", *p) != NULL;
        if (!blank) {
            if (!first)
                strcat(out, " ");
            strcat(out, seg);
            first = 0;
            if (mark) { /* the segment's last word says which */
                char last[64] = "";
                const char *e = seg + strlen(seg);
                while (e > seg && strchr(" \t\n\r\f\v", e[-1]))
                    e--;
                const char *b = e;
                while (b > seg && !strchr(" \t\n\r\f\v", b[-1]))
                    b--;
                snprintf(last, sizeof(last), "%.*s", (int)(e - b), b);
                strcat(out, is_decimal_word(last) || mult_exp(last) >= 0 ? " point five"
                                                                         : " and a half");
            }
        }
        if (!mark)
            break;
        seg = mark + strlen(HALF_MARK);
    }
    free(s);
    s = out;
    s = s ? en_re_sub("([a-z])([0-9])", s, "$1 $2") : NULL;
    s = s ? en_re_sub("([0-9])([a-z])", s, "$1 $2") : NULL;
    return s ? en_re_sub("([0-9])\\s+(st|nd|rd|th|s)\\b", s, "$1$2") : NULL;
}

/* "$2 and ¢7" -> "$2.07" */
static void combine_cents(const char *const *g, int n, char *out, size_t size)
{
    (void)n;
    snprintf(out, size, "%s%s.%02d", g[1], g[2], atoi(g[3]));
}

/* "$0.07" -> "¢7" */
static void extract_cents(const char *const *g, int n, char *out, size_t size)
{
    (void)n;
    snprintf(out, size, "¢%d", atoi(g[1]));
}

char *en_numbers(char *s)
{
    s = preprocess(s);
    s = s ? process_words(s) : NULL;
    s = s ? en_re_sub_fn("([€£$])([0-9]+) (?:and )?¢([0-9]{1,2})\\b", s, combine_cents) : NULL;
    s = s ? en_re_sub_fn("[€£$]0.([0-9]{1,2})\\b", s, extract_cents) : NULL;
    return s ? en_re_sub("\\b1(s?)\\b", s, "one$1") : NULL;
}
