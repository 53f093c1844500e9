/*
 * safetensors.c — the safetensors container: an 8-byte little-endian header length, a JSON
 * header {name: {dtype, shape, data_offsets}, "__metadata__": {str: str}}, then the tensor bytes.
 * ref: huggingface/safetensors README "Format" section.
 *
 * Reading treats the file as hostile: every length, shape and offset is checked before use.
 * Writing puts __metadata__ first (keys in the caller's order), tensors sorted by name, and pads
 * the header with spaces so the data starts 64-byte aligned. It is not a general JSON tool: the
 * header is written with jansson and read by st_json.c.
 */
#include "model/model_internal.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ST_MAX_HEADER (100u << 20) /* the limit the reference implementation uses */
#define ST_MAX_DIM ((int64_t)1 << 40)
/* Reading goes through st_json.c (fast on the long tokenizer string); jansson writes. */

static const struct { const char *name; int size; } st_dtypes[] = {
    { "F32", 4 }, { "F16", 2 }, { "BF16", 2 }, { "F64", 8 }, { "I64", 8 }, { "U64", 8 },
    { "I32", 4 }, { "U32", 4 }, { "I16", 2 }, { "U16", 2 }, { "I8", 1 }, { "U8", 1 },
    { "BOOL", 1 }, { "F8_E4M3", 1 }, { "F8_E5M2", 1 },
};

/* Returns the safetensors name of dt ("F32", "F16", "BF16"), "?" otherwise. */
const char *hark_dtype_name(hark_dtype dt)
{
    switch (dt) {
    case HARK_DTYPE_F32: return "F32";
    case HARK_DTYPE_F16: return "F16";
    case HARK_DTYPE_BF16: return "BF16";
    }
    return dt == HARK_DTYPE_I8 ? "I8" : dt == HARK_DTYPE_U8 ? "U8" : "?";
}

size_t hark_st_elem_size(hark_dtype dt)
{
    return dt == HARK_DTYPE_I8 || dt == HARK_DTYPE_U8 ? 1 : hark_dtype_size(dt);
}

/* Returns the dtype text stored after the entry's name (see st_parse_entry). */
const char *hark_st_entry_dtype_name(const hark_st_entry *e)
{
    return e->name + strlen(e->name) + 1;
}

/* Validates one raw entry against the data region data[0..size) and fills e. */
static hark_status st_parse_entry(const char *path, hark_st_raw *r, const uint8_t *data,
                                  size_t size, hark_st_entry *e)
{
    const char *name = r->name;
    if (!r->dtype || r->ndim < 0 || r->n_offsets != 2)
        return hark_fail(HARK_ERR_FORMAT,
                         "%s: tensor '%s': needs dtype, shape and two data_offsets", path, name);
    const char *dt = r->dtype;
    int esize = 0;
    for (size_t i = 0; i < sizeof(st_dtypes) / sizeof(st_dtypes[0]); i++)
        if (strcmp(dt, st_dtypes[i].name) == 0)
            esize = st_dtypes[i].size;
    if (!esize)
        return hark_fail(HARK_ERR_FORMAT, "%s: tensor '%s': unknown dtype '%.32s'", path, name, dt);
    e->t.dtype = strcmp(dt, "F32") == 0    ? HARK_DTYPE_F32
                 : strcmp(dt, "F16") == 0  ? HARK_DTYPE_F16
                 : strcmp(dt, "BF16") == 0 ? HARK_DTYPE_BF16
                 : strcmp(dt, "I8") == 0   ? HARK_DTYPE_I8
                 : strcmp(dt, "U8") == 0   ? HARK_DTYPE_U8
                                           : HARK_DTYPE_UNSUPPORTED;
    e->t.ndim = r->ndim;
    uint64_t numel = 1;
    for (int i = 0; i < r->ndim; i++) {
        int64_t d = r->shape[i];
        if (d < 0 || d > ST_MAX_DIM)
            return hark_fail(HARK_ERR_FORMAT, "%s: tensor '%s': bad shape entry %d", path, name, i);
        e->t.shape[i] = d;
        if (d && numel > (uint64_t)ST_MAX_DIM / (uint64_t)d)
            return hark_fail(HARK_ERR_FORMAT, "%s: tensor '%s': shape too large", path, name);
        numel *= (uint64_t)d;
    }
    int64_t b = r->offsets[0], en = r->offsets[1];
    if (b < 0 || en < b || (uint64_t)en > size)
        return hark_fail(HARK_ERR_FORMAT,
                         "%s: truncated or corrupt: tensor '%s': data_offsets [%lld, %lld] "
                         "outside the %zu-byte data region",
                         path, name, (long long)b, (long long)en, size);
    if ((uint64_t)(en - b) != numel * (uint64_t)esize)
        return hark_fail(HARK_ERR_FORMAT,
                         "%s: tensor '%s': %lld bytes stored but %s x %llu elements need %llu",
                         path, name, (long long)(en - b), dt, (unsigned long long)numel,
                         (unsigned long long)(numel * (uint64_t)esize));
    e->t.data = data + b;
    e->nbytes = (size_t)(en - b);
    size_t nl = strlen(name), dl = strlen(dt);
    e->name = malloc(nl + dl + 2);
    if (!e->name)
        return hark_fail(HARK_ERR_NOMEM, "%s: out of memory", path);
    memcpy(e->name, name, nl + 1);
    memcpy(e->name + nl + 1, dt, dl + 1);
    return HARK_OK;
}

static hark_status st_parse(const char *path, hark_st_file *f)
{
    const uint8_t *p = f->map.data;
    size_t size = f->map.size;
    if (size < 8)
        return hark_fail(HARK_ERR_FORMAT, "%s: %zu bytes: too short for a safetensors file", path,
                         size);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--)
        hlen = hlen << 8 | p[i];
    if (hlen > size - 8)
        return hark_fail(HARK_ERR_FORMAT,
                         "%s: truncated or not safetensors: header of %llu bytes, file has %zu",
                         path, (unsigned long long)hlen, size);
    if (hlen < 2 || hlen > ST_MAX_HEADER || p[8] != '{')
        return hark_fail(HARK_ERR_FORMAT, "%s: not a safetensors file (bad header)", path);
    hark_st_json js;
    hark_status st = hark_st_json_parse(path, p + 8, (size_t)hlen, &js);
    if (st != HARK_OK)
        return st;
    const uint8_t *data = p + 8 + hlen;
    size_t dsize = size - 8 - (size_t)hlen;
    /* metadata: take the parser's strings (arrays one longer, for hark_st_close) */
    f->meta_keys = calloc((size_t)js.n_meta + 1, sizeof(char *));
    f->meta_values = calloc((size_t)js.n_meta + 1, sizeof(char *));
    f->entries = calloc((size_t)js.n + 1, sizeof(hark_st_entry));
    if (!f->meta_keys || !f->meta_values || !f->entries) {
        st = hark_fail(HARK_ERR_NOMEM, "%s: out of memory", path);
        goto out;
    }
    for (int i = 0; i < js.n_meta; i++) {
        f->meta_keys[i] = js.meta_keys[i];
        f->meta_values[i] = js.meta_values[i];
        js.meta_keys[i] = js.meta_values[i] = NULL;
    }
    f->n_meta = js.n_meta;
    for (int i = 0; i < js.n && st == HARK_OK; i++)
        if ((st = st_parse_entry(path, &js.t[i], data, dsize, &f->entries[f->n_entries])) ==
            HARK_OK)
            f->n_entries++;
out:
    hark_st_json_free(&js);
    return st;
}

/* Opens path (mmapped) and validates the whole header. On failure f is left closed. */
hark_status hark_st_open(const char *path, hark_st_file *f)
{
    memset(f, 0, sizeof(*f));
    hark_status st = hark_map_file(path, &f->map);
    if (st != HARK_OK)
        return st;
    st = st_parse(path, f);
    if (st != HARK_OK)
        hark_st_close(f);
    return st;
}

/* Unmaps the file and frees the entries and metadata; safe on a zeroed or closed f. */
void hark_st_close(hark_st_file *f)
{
    for (int i = 0; i < f->n_entries; i++)
        free(f->entries[i].name);
    free(f->entries);
    for (int i = 0; f->meta_keys && i < f->n_meta; i++) {
        free(f->meta_keys[i]);
        free(f->meta_values[i]);
    }
    /* a failed metadata parse may leave one half-filled pair past n_meta */
    if (f->meta_keys && f->meta_values) {
        free(f->meta_keys[f->n_meta]);
        free(f->meta_values[f->n_meta]);
    }
    free(f->meta_keys);
    free(f->meta_values);
    hark_unmap_file(&f->map);
    memset(f, 0, sizeof(*f));
}

/* Returns the entry called name, or NULL. */
const hark_st_entry *hark_st_find(const hark_st_file *f, const char *name)
{
    for (int i = 0; i < f->n_entries; i++)
        if (strcmp(f->entries[i].name, name) == 0)
            return &f->entries[i];
    return NULL;
}

/* Returns the __metadata__ value of key (owned by f), or NULL. */
const char *hark_st_meta(const hark_st_file *f, const char *key)
{
    for (int i = 0; i < f->n_meta; i++)
        if (strcmp(f->meta_keys[i], key) == 0)
            return f->meta_values[i];
    return NULL;
}

/* ------------------------------------------------------------------------ writing ---------- */

typedef struct st_order {
    const char *name;
    int index;
} st_order;

static int st_order_cmp(const void *a, const void *b)
{
    return strcmp(((const st_order *)a)->name, ((const st_order *)b)->name);
}

static hark_status st_spec_bytes(const hark_st_spec *s, size_t *out)
{
    size_t es = hark_st_elem_size(s->dtype);
    if (!es || s->ndim < 0 || s->ndim > 4)
        return hark_fail(HARK_ERR_INVALID_ARG, "tensor '%s': bad dtype or rank", s->name);
    uint64_t n = es;
    for (int i = 0; i < s->ndim; i++) {
        if (s->shape[i] < 0 || s->shape[i] > ST_MAX_DIM ||
            (s->shape[i] && n > (UINT64_MAX >> 2) / (uint64_t)s->shape[i]))
            return hark_fail(HARK_ERR_INVALID_ARG, "tensor '%s': bad shape", s->name);
        n *= (uint64_t)s->shape[i];
    }
    *out = (size_t)n;
    return HARK_OK;
}

/* Builds the padded header text for specs in order ord; sets *hdr (malloc'd) and *hlen. */
static hark_status st_header(const hark_st_spec *specs, const st_order *ord, int n,
                             const char *const *mk, const char *const *mv, int n_meta, char **hdr,
                             size_t *hlen)
{
    hark_status st = HARK_OK;
    json_t *root = json_object();
    if (!root)
        return hark_fail(HARK_ERR_NOMEM, "out of memory");
    if (n_meta > 0) {
        json_t *meta = json_object();
        json_object_set_new(root, "__metadata__", meta);
        for (int i = 0; i < n_meta; i++)
            if (json_object_set_new(meta, mk[i], json_string(mv[i])) != 0) {
                st = hark_fail(HARK_ERR_INVALID_ARG, "metadata '%s': not valid UTF-8", mk[i]);
                goto out;
            }
    }
    uint64_t off = 0;
    for (int k = 0; k < n; k++) {
        const hark_st_spec *s = &specs[ord[k].index];
        size_t nb;
        if ((st = st_spec_bytes(s, &nb)) != HARK_OK)
            goto out;
        json_t *shape = json_array();
        for (int i = 0; i < s->ndim; i++)
            json_array_append_new(shape, json_integer(s->shape[i]));
        json_t *e = json_pack("{s:s, s:o, s:[I,I]}", "dtype", hark_dtype_name(s->dtype), "shape",
                              shape, "data_offsets", (json_int_t)off, (json_int_t)(off + nb));
        if (!e || json_object_set_new(root, s->name, e) != 0) {
            st = hark_fail(HARK_ERR_INVALID_ARG, "tensor '%s': cannot describe", s->name);
            goto out;
        }
        off += nb;
    }
    char *text = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (!text) {
        st = hark_fail(HARK_ERR_NOMEM, "out of memory writing the header");
        goto out;
    }
    size_t len = strlen(text), padded = len + (64 - (8 + len) % 64) % 64;
    *hdr = malloc(padded + 8);
    if (!*hdr) {
        free(text);
        st = hark_fail(HARK_ERR_NOMEM, "out of memory");
        goto out;
    }
    for (int i = 0; i < 8; i++)
        (*hdr)[i] = (char)((uint64_t)padded >> (8 * i));
    memcpy(*hdr + 8, text, len);
    memset(*hdr + 8 + len, ' ', padded - len);
    *hlen = padded + 8;
    free(text);
out:
    json_decref(root);
    return st;
}

static hark_status st_write_body(FILE *fp, const char *path, const hark_st_spec *specs,
                                 const st_order *ord, int n, hark_st_fill_fn fill, void *user)
{
    size_t max = 0, nb;
    for (int k = 0; k < n; k++) {
        st_spec_bytes(&specs[k], &nb);
        max = nb > max ? nb : max;
    }
    uint8_t *buf = malloc(max ? max : 1);
    if (!buf)
        return hark_fail(HARK_ERR_NOMEM, "%s: out of memory (%zu bytes for one tensor)", path, max);
    hark_status st = HARK_OK;
    for (int k = 0; k < n && st == HARK_OK; k++) {
        st_spec_bytes(&specs[ord[k].index], &nb);
        st = fill(user, ord[k].index, buf, nb);
        if (st == HARK_OK && fwrite(buf, 1, nb, fp) != nb)
            st = hark_fail(HARK_ERR_IO, "%s: write failed: %s", path, strerror(errno));
    }
    free(buf);
    return st;
}

hark_status hark_st_write_stream(const char *path, const hark_st_spec *specs, int n,
                                 const char *const *meta_keys, const char *const *meta_values,
                                 int n_meta, hark_st_fill_fn fill, void *user)
{
    st_order *ord = malloc(sizeof(st_order) * (size_t)(n > 0 ? n : 1));
    char *hdr = NULL, *tmp = NULL;
    size_t hlen = 0;
    hark_status st = HARK_OK;
    if (!ord)
        return hark_fail(HARK_ERR_NOMEM, "%s: out of memory", path);
    for (int i = 0; i < n; i++)
        ord[i] = (st_order){ specs[i].name, i };
    qsort(ord, (size_t)n, sizeof(*ord), st_order_cmp);
    for (int i = 1; i < n; i++)
        if (strcmp(ord[i - 1].name, ord[i].name) == 0) {
            st = hark_fail(HARK_ERR_INVALID_ARG, "%s: tensor '%s' added twice", path, ord[i].name);
            goto out;
        }
    if ((st = st_header(specs, ord, n, meta_keys, meta_values, n_meta, &hdr, &hlen)) != HARK_OK) {
        hark_fail_prefix(st, "%s", path);
        goto out;
    }
    size_t plen = strlen(path);
    if (!(tmp = malloc(plen + 5))) {
        st = hark_fail(HARK_ERR_NOMEM, "%s: out of memory", path);
        goto out;
    }
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmp", 5);
    FILE *fp = fopen(tmp, "wb");
    if (!fp) {
        st = hark_fail(HARK_ERR_IO, "%s: cannot create: %s", tmp, strerror(errno));
        goto out;
    }
    if (fwrite(hdr, 1, hlen, fp) != hlen)
        st = hark_fail(HARK_ERR_IO, "%s: write failed: %s", path, strerror(errno));
    if (st == HARK_OK)
        st = st_write_body(fp, path, specs, ord, n, fill, user);
    if (fclose(fp) != 0 && st == HARK_OK)
        st = hark_fail(HARK_ERR_IO, "%s: write failed: %s", path, strerror(errno));
    if (st == HARK_OK && rename(tmp, path) != 0)
        st = hark_fail(HARK_ERR_IO, "%s: cannot rename from %s: %s", path, tmp, strerror(errno));
    if (st != HARK_OK)
        remove(tmp);
out:
    free(tmp);
    free(hdr);
    free(ord);
    return st;
}

/* ---- the buffered writer of safetensors.h, on top of the streaming one. */

struct hark_st_writer {
    hark_st_spec *specs;
    const void **data;
    int n, cap;
    char **mk, **mv;
    int n_meta, cap_meta;
};

/* Creates an empty writer. */
hark_status hark_st_writer_new(hark_st_writer **w)
{
    *w = calloc(1, sizeof(**w));
    return *w ? HARK_OK : hark_fail(HARK_ERR_NOMEM, "out of memory");
}

/* Adds a tensor (name copied, data referenced until write). */
hark_status hark_st_writer_add(hark_st_writer *w, const char *name, hark_dtype dtype, int ndim,
                               const int64_t *shape, const void *data)
{
    if (ndim < 0 || ndim > 4 || !hark_st_elem_size(dtype))
        return hark_fail(HARK_ERR_INVALID_ARG, "tensor '%s': bad rank %d or dtype", name, ndim);
    if (w->n == w->cap) {
        int cap = w->cap ? 2 * w->cap : 64;
        hark_st_spec *s = realloc(w->specs, sizeof(*s) * (size_t)cap);
        if (s)
            w->specs = s;
        const void **d = realloc(w->data, sizeof(*d) * (size_t)cap);
        if (d)
            w->data = d;
        if (!s || !d)
            return hark_fail(HARK_ERR_NOMEM, "out of memory");
        w->cap = cap;
    }
    hark_st_spec *s = &w->specs[w->n];
    memset(s, 0, sizeof(*s));
    if (!(s->name = strdup(name)))
        return hark_fail(HARK_ERR_NOMEM, "out of memory");
    s->dtype = dtype;
    s->ndim = ndim;
    for (int i = 0; i < ndim; i++)
        s->shape[i] = shape[i];
    w->data[w->n++] = data;
    return HARK_OK;
}

/* Adds (or replaces) a metadata pair, kept in insertion order. */
hark_status hark_st_writer_meta(hark_st_writer *w, const char *key, const char *value)
{
    char *v = strdup(value);
    if (!v)
        return hark_fail(HARK_ERR_NOMEM, "out of memory");
    for (int i = 0; i < w->n_meta; i++)
        if (strcmp(w->mk[i], key) == 0) {
            free(w->mv[i]);
            w->mv[i] = v;
            return HARK_OK;
        }
    if (w->n_meta == w->cap_meta) {
        int cap = w->cap_meta ? 2 * w->cap_meta : 16;
        char **k = realloc(w->mk, sizeof(char *) * (size_t)cap);
        if (k)
            w->mk = k;
        char **vv = realloc(w->mv, sizeof(char *) * (size_t)cap);
        if (vv)
            w->mv = vv;
        if (!k || !vv) {
            free(v);
            return hark_fail(HARK_ERR_NOMEM, "out of memory");
        }
        w->cap_meta = cap;
    }
    if (!(w->mk[w->n_meta] = strdup(key))) {
        free(v);
        return hark_fail(HARK_ERR_NOMEM, "out of memory");
    }
    w->mv[w->n_meta++] = v;
    return HARK_OK;
}

static hark_status writer_fill(void *user, int index, void *dst, size_t nbytes)
{
    const hark_st_writer *w = user;
    memcpy(dst, w->data[index], nbytes);
    return HARK_OK;
}

/* Writes everything added so far to path. */
hark_status hark_st_writer_write(hark_st_writer *w, const char *path)
{
    return hark_st_write_stream(path, w->specs, w->n, (const char *const *)w->mk,
                                (const char *const *)w->mv, w->n_meta, writer_fill, w);
}

/* Frees the writer (not the tensors' data). */
void hark_st_writer_free(hark_st_writer *w)
{
    if (!w)
        return;
    for (int i = 0; i < w->n; i++)
        free((char *)w->specs[i].name);
    for (int i = 0; i < w->n_meta; i++) {
        free(w->mk[i]);
        free(w->mv[i]);
    }
    free(w->specs);
    free(w->data);
    free(w->mk);
    free(w->mv);
    free(w);
}
