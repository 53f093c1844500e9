/*
 * st_json.c — a strict, fast reader for the JSON header of a safetensors file. jansson writes
 * headers; reading uses this instead because hark's header carries the ~0.9 MB tokenizer text
 * and jansson decodes it at ~80 MB/s, which made every load (and the truncation tests) slow.
 * Grammar accepted: RFC 8259 JSON; numbers only as non-negative integers (all safetensors uses);
 * nesting depth at most 8. Strings are decoded to UTF-8 (escapes, surrogate pairs) and checked
 * for well-formed UTF-8. ref: RFC 8259; huggingface/safetensors README (header layout).
 */
#include "model/model_internal.h"

#include <stdlib.h>
#include <string.h>

typedef struct sj {
    const uint8_t *p, *end;
    const char *path;
    const uint8_t *base;
} sj;

static hark_status sj_err(sj *j, const char *what)
{
    return hark_fail(HARK_ERR_FORMAT, "%s: header JSON: %s at byte %zu", j->path, what,
                     (size_t)(j->p - j->base) + 8);
}

static void sj_ws(sj *j)
{
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\n' || *j->p == '\r' || *j->p == '\t'))
        j->p++;
}

static int sj_lit(sj *j, char c)
{
    sj_ws(j);
    if (j->p < j->end && *j->p == (uint8_t)c) {
        j->p++;
        return 1;
    }
    return 0;
}

static int hex4(const uint8_t *p, unsigned *v)
{
    *v = 0;
    for (int i = 0; i < 4; i++) {
        unsigned c = p[i], d;
        if (c >= '0' && c <= '9') d = c - '0';
        else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
        else return 0;
        *v = *v << 4 | d;
    }
    return 1;
}

/* Length of the well-formed UTF-8 sequence at p (0 if malformed). */
static int utf8_len(const uint8_t *p, const uint8_t *end)
{
    uint8_t c = p[0];
    int n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (!n || end - p < n)
        return 0;
    for (int i = 1; i < n; i++)
        if ((p[i] & 0xc0) != 0x80)
            return 0;
    uint32_t cp = n == 1 ? c : n == 2 ? c & 0x1f : n == 3 ? c & 0x0f : c & 0x07;
    for (int i = 1; i < n; i++)
        cp = cp << 6 | (p[i] & 0x3f);
    static const uint32_t min[5] = { 0, 0, 0x80, 0x800, 0x10000 };
    if (cp < min[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

static uint8_t *put_utf8(uint8_t *o, uint32_t cp)
{
    if (cp < 0x80) {
        *o++ = (uint8_t)cp;
    } else if (cp < 0x800) {
        *o++ = (uint8_t)(0xc0 | cp >> 6);
        *o++ = (uint8_t)(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
        *o++ = (uint8_t)(0xe0 | cp >> 12);
        *o++ = (uint8_t)(0x80 | (cp >> 6 & 0x3f));
        *o++ = (uint8_t)(0x80 | (cp & 0x3f));
    } else {
        *o++ = (uint8_t)(0xf0 | cp >> 18);
        *o++ = (uint8_t)(0x80 | (cp >> 12 & 0x3f));
        *o++ = (uint8_t)(0x80 | (cp >> 6 & 0x3f));
        *o++ = (uint8_t)(0x80 | (cp & 0x3f));
    }
    return o;
}

/* Reads a string; *out is malloc'd (NUL-terminated; a decoded NUL is refused) unless out is
 * NULL. */
static hark_status sj_string(sj *j, char **out)
{
    if (!sj_lit(j, '"'))
        return sj_err(j, "expected a string");
    const uint8_t *s = j->p;
    const uint8_t *q = s;
    while (q < j->end && *q != '"') /* find the end first: escapes make it only shorter */
        q += *q == '\\' && q + 1 < j->end ? 2 : 1;
    if (q >= j->end)
        return sj_err(j, "unterminated string");
    uint8_t *buf = out ? malloc((size_t)(q - s) + 1) : NULL, *o = buf;
    if (out && !buf)
        return hark_fail(HARK_ERR_NOMEM, "%s: out of memory", j->path);
    while (j->p < q) {
        uint8_t c = *j->p;
        if (c == '\\') {
            uint8_t e = j->p[1];
            uint32_t cp = 0;
            j->p += 2;
            switch (e) {
            case '"': case '\\': case '/': cp = e; break;
            case 'b': cp = 8; break;
            case 'f': cp = 12; break;
            case 'n': cp = 10; break;
            case 'r': cp = 13; break;
            case 't': cp = 9; break;
            case 'u': {
                unsigned u, l;
                if (q - j->p < 4 || !hex4(j->p, &u))
                    goto bad;
                j->p += 4;
                if (u >= 0xd800 && u <= 0xdbff) {
                    if (q - j->p < 6 || j->p[0] != '\\' || j->p[1] != 'u' || !hex4(j->p + 2, &l) ||
                        l < 0xdc00 || l > 0xdfff)
                        goto bad;
                    j->p += 6;
                    u = 0x10000 + ((u - 0xd800) << 10) + (l - 0xdc00);
                } else if (u >= 0xdc00 && u <= 0xdfff) {
                    goto bad;
                }
                cp = u;
                break;
            }
            default: goto bad;
            }
            if (cp == 0)
                goto bad;
            if (o)
                o = put_utf8(o, cp);
            continue;
        }
        if (c < 0x20)
            goto bad;
        int n = c < 0x80 ? 1 : utf8_len(j->p, q);
        if (!n)
            goto bad;
        if (o) {
            memcpy(o, j->p, (size_t)n);
            o += n;
        }
        j->p += n;
    }
    j->p = q + 1;
    if (out) {
        *o = 0;
        *out = (char *)buf;
    }
    return HARK_OK;
bad:
    free(buf);
    return sj_err(j, "bad string (escape, control character or UTF-8)");
}

/* Reads a non-negative integer (up to 2^53). */
static hark_status sj_uint(sj *j, int64_t *v)
{
    sj_ws(j);
    const uint8_t *s = j->p;
    uint64_t x = 0;
    while (j->p < j->end && *j->p >= '0' && *j->p <= '9' && j->p - s < 17)
        x = x * 10 + (uint64_t)(*j->p++ - '0');
    if (j->p == s || (j->p < j->end && (*j->p == '.' || *j->p == 'e' || *j->p == 'E' ||
                                        (*j->p >= '0' && *j->p <= '9'))))
        return sj_err(j, "expected a non-negative integer");
    *v = (int64_t)x;
    return HARK_OK;
}

static hark_status sj_skip(sj *j, int depth);

static hark_status sj_skip_list(sj *j, int depth, char close, int keyed)
{
    if (sj_lit(j, close))
        return HARK_OK;
    for (;;) {
        hark_status st;
        if (keyed && ((st = sj_string(j, NULL)) != HARK_OK || !sj_lit(j, ':')))
            return st != HARK_OK ? st : sj_err(j, "expected ':'");
        if ((st = sj_skip(j, depth + 1)) != HARK_OK)
            return st;
        if (sj_lit(j, close))
            return HARK_OK;
        if (!sj_lit(j, ','))
            return sj_err(j, "expected ',' or a closing bracket");
    }
}

/* Skips any JSON value (integers only as numbers, plus true/false/null). */
static hark_status sj_skip(sj *j, int depth)
{
    if (depth > 8)
        return sj_err(j, "nested too deeply");
    sj_ws(j);
    if (j->p >= j->end)
        return sj_err(j, "unexpected end");
    if (*j->p == '"')
        return sj_string(j, NULL);
    if (sj_lit(j, '{'))
        return sj_skip_list(j, depth, '}', 1);
    if (sj_lit(j, '['))
        return sj_skip_list(j, depth, ']', 0);
    static const char *const words[3] = { "true", "false", "null" };
    for (int i = 0; i < 3; i++) {
        size_t n = strlen(words[i]);
        if ((size_t)(j->end - j->p) >= n && memcmp(j->p, words[i], n) == 0) {
            j->p += n;
            return HARK_OK;
        }
    }
    int64_t v;
    return sj_uint(j, &v);
}

/* Reads [int, ...] into v (at most max; *n gets the count). */
static hark_status sj_int_array(sj *j, int64_t *v, int max, int *n)
{
    *n = 0;
    if (!sj_lit(j, '['))
        return sj_err(j, "expected an array");
    if (sj_lit(j, ']'))
        return HARK_OK;
    for (;;) {
        int64_t x;
        hark_status st = sj_uint(j, &x);
        if (st != HARK_OK)
            return st;
        if (*n == max)
            return hark_fail(HARK_ERR_UNSUPPORTED, "%s: header: more than %d entries in an "
                             "array (shapes have at most 4 dims)", j->path, max);
        v[(*n)++] = x;
        if (sj_lit(j, ']'))
            return HARK_OK;
        if (!sj_lit(j, ','))
            return sj_err(j, "expected ',' or ']'");
    }
}


/* Reads one tensor entry {"dtype": s, "shape": [..], "data_offsets": [b, e]}. */
static hark_status sj_entry(sj *j, hark_st_raw *r)
{
    r->ndim = r->n_offsets = -1;
    if (!sj_lit(j, '{'))
        return sj_err(j, "a tensor entry is not an object");
    if (sj_lit(j, '}'))
        return HARK_OK;
    for (;;) {
        char *key = NULL;
        hark_status st = sj_string(j, &key);
        if (st != HARK_OK)
            return st;
        if (!sj_lit(j, ':'))
            st = sj_err(j, "expected ':'");
        else if (strcmp(key, "dtype") == 0 && !r->dtype)
            st = sj_string(j, &r->dtype);
        else if (strcmp(key, "shape") == 0 && r->ndim < 0)
            st = sj_int_array(j, r->shape, 4, &r->ndim);
        else if (strcmp(key, "data_offsets") == 0 && r->n_offsets < 0)
            st = sj_int_array(j, r->offsets, 2, &r->n_offsets);
        else if (strcmp(key, "dtype") == 0 || strcmp(key, "shape") == 0 ||
                 strcmp(key, "data_offsets") == 0)
            st = sj_err(j, "duplicate key in a tensor entry");
        else
            st = sj_skip(j, 2);
        free(key);
        if (st != HARK_OK)
            return st;
        if (sj_lit(j, '}'))
            return HARK_OK;
        if (!sj_lit(j, ','))
            return sj_err(j, "expected ',' or '}'");
    }
}

static hark_status sj_meta(sj *j, hark_st_json *out)
{
    if (!sj_lit(j, '{'))
        return sj_err(j, "__metadata__ is not an object");
    if (sj_lit(j, '}'))
        return HARK_OK;
    for (;;) {
        char *k = NULL, *v = NULL;
        hark_status st = sj_string(j, &k);
        if (st == HARK_OK && !sj_lit(j, ':'))
            st = sj_err(j, "expected ':'");
        if (st == HARK_OK) {
            sj_ws(j);
            st = j->p < j->end && *j->p == '"'
                     ? sj_string(j, &v)
                     : hark_fail(HARK_ERR_FORMAT, "%s: __metadata__ '%s' is not a string",
                                 j->path, k);
        }
        if (st == HARK_OK && out->n_meta == out->cap_meta) {
            int cap = out->cap_meta ? 2 * out->cap_meta : 16;
            char **a = realloc(out->meta_keys, sizeof(char *) * (size_t)cap);
            if (a)
                out->meta_keys = a;
            char **b = realloc(out->meta_values, sizeof(char *) * (size_t)cap);
            if (b)
                out->meta_values = b;
            if (a && b)
                out->cap_meta = cap;
            else
                st = hark_fail(HARK_ERR_NOMEM, "%s: out of memory", j->path);
        }
        if (st != HARK_OK) {
            free(k);
            free(v);
            return st;
        }
        out->meta_keys[out->n_meta] = k;
        out->meta_values[out->n_meta++] = v;
        if (sj_lit(j, '}'))
            return HARK_OK;
        if (!sj_lit(j, ','))
            return sj_err(j, "expected ',' or '}'");
    }
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Fails on a repeated name among the tensors and metadata keys (like JSON_REJECT_DUPLICATES). */
static hark_status sj_check_unique(sj *j, hark_st_json *out)
{
    size_t n = (size_t)out->n + (size_t)out->n_meta;
    char **names = malloc(sizeof(char *) * (n ? n : 1));
    if (!names)
        return hark_fail(HARK_ERR_NOMEM, "%s: out of memory", j->path);
    for (int i = 0; i < out->n; i++)
        names[i] = out->t[i].name;
    qsort(names, (size_t)out->n, sizeof(char *), name_cmp);
    hark_status st = HARK_OK;
    for (int i = 1; i < out->n && st == HARK_OK; i++)
        if (strcmp(names[i - 1], names[i]) == 0)
            st = hark_fail(HARK_ERR_FORMAT, "%s: header: tensor '%s' appears twice", j->path,
                           names[i]);
    for (int i = 0; i < out->n_meta; i++)
        names[i] = out->meta_keys[i];
    qsort(names, (size_t)out->n_meta, sizeof(char *), name_cmp);
    for (int i = 1; i < out->n_meta && st == HARK_OK; i++)
        if (strcmp(names[i - 1], names[i]) == 0)
            st = hark_fail(HARK_ERR_FORMAT, "%s: header: metadata '%s' appears twice", j->path,
                           names[i]);
    free(names);
    return st;
}

static hark_status sj_root(sj *j, hark_st_json *out)
{
    int seen_meta = 0;
    if (!sj_lit(j, '{'))
        return sj_err(j, "the header is not a JSON object");
    if (sj_lit(j, '}'))
        return HARK_OK;
    for (;;) {
        char *key = NULL;
        hark_status st = sj_string(j, &key);
        if (st != HARK_OK)
            return st;
        if (!sj_lit(j, ':')) {
            free(key);
            return sj_err(j, "expected ':'");
        }
        if (strcmp(key, "__metadata__") == 0) {
            free(key);
            if (seen_meta++)
                return sj_err(j, "__metadata__ appears twice");
            st = sj_meta(j, out);
        } else {
            if (out->n == out->cap) {
                int cap = out->cap ? 2 * out->cap : 256;
                hark_st_raw *t = realloc(out->t, sizeof(*t) * (size_t)cap);
                if (!t) {
                    free(key);
                    return hark_fail(HARK_ERR_NOMEM, "%s: out of memory", j->path);
                }
                out->t = t;
                out->cap = cap;
            }
            hark_st_raw *r = &out->t[out->n++];
            memset(r, 0, sizeof(*r));
            r->name = key;
            st = sj_entry(j, r);
        }
        if (st != HARK_OK)
            return st;
        if (sj_lit(j, '}'))
            break;
        if (!sj_lit(j, ','))
            return sj_err(j, "expected ',' or '}'");
    }
    sj_ws(j);
    if (j->p != j->end)
        return sj_err(j, "text after the header object");
    return sj_check_unique(j, out);
}

hark_status hark_st_json_parse(const char *path, const uint8_t *text, size_t len,
                               hark_st_json *out)
{
    memset(out, 0, sizeof(*out));
    sj j = { text, text + len, path, text };
    hark_status st = sj_root(&j, out);
    if (st != HARK_OK)
        hark_st_json_free(out);
    return st;
}

void hark_st_json_free(hark_st_json *out)
{
    for (int i = 0; i < out->n; i++) {
        free(out->t[i].name);
        free(out->t[i].dtype);
    }
    for (int i = 0; i < out->n_meta; i++) {
        free(out->meta_keys[i]);
        free(out->meta_values[i]);
    }
    free(out->t);
    free(out->meta_keys);
    free(out->meta_values);
    memset(out, 0, sizeof(*out));
}
