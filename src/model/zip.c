/*
 * zip.c — just enough of the zip format to find the entries of a torch.save archive: the end of
 * central directory (and its ZIP64 twin), the central directory, and each entry's local header
 * to locate its data. Compressed entries are listed but refused by the user.
 * ref: PKWARE APPNOTE.TXT sections 4.3.7 (local header), 4.3.12 (central directory),
 * 4.3.14-16 (ZIP64 and end records), 4.5.3 (ZIP64 extra field).
 */
#include "model/pt_internal.h"

#include <stdlib.h>
#include <string.h>

#define ZIP_MAX_ENTRIES (1 << 20)

static uint64_t le(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static hark_status zip_bad(const char *path, const char *what)
{
    return hark_fail(HARK_ERR_FORMAT, "%s: bad zip: %s", path, what);
}

/* Finds the directory: *cd_off, *cd_size, *count. */
static hark_status zip_find_dir(const char *path, const uint8_t *d, size_t size, uint64_t *cd_off,
                                uint64_t *cd_size, uint64_t *count)
{
    if (size < 22)
        return zip_bad(path, "too short for an end of central directory");
    size_t lo = size > 22 + 65535 ? size - 22 - 65535 : 0, eo = SIZE_MAX;
    for (size_t i = size - 22 + 1; i-- > lo;)
        if (le(d + i, 4) == 0x06054b50u) {
            eo = i;
            break;
        }
    if (eo == SIZE_MAX)
        return zip_bad(path, "no end of central directory (truncated?)");
    *count = le(d + eo + 10, 2);
    *cd_size = le(d + eo + 12, 4);
    *cd_off = le(d + eo + 16, 4);
    if (*count == 0xffff || *cd_size == 0xffffffffu || *cd_off == 0xffffffffu) {
        if (eo < 20 || le(d + eo - 20, 4) != 0x07064b50u)
            return zip_bad(path, "ZIP64 locator missing");
        uint64_t z = le(d + eo - 20 + 8, 8);
        if (z > size || size - z < 56 || le(d + z, 4) != 0x06064b50u)
            return zip_bad(path, "ZIP64 end record out of range");
        *count = le(d + z + 32, 8);
        *cd_size = le(d + z + 40, 8);
        *cd_off = le(d + z + 48, 8);
    }
    if (*cd_off > size || *cd_size > size - *cd_off || *count > ZIP_MAX_ENTRIES)
        return zip_bad(path, "central directory out of range");
    return HARK_OK;
}

/* Applies a ZIP64 extra field to the sizes and offset that were 0xffffffff. */
static hark_status zip64_extra(const char *path, const uint8_t *x, size_t xl, uint64_t *usize,
                               uint64_t *csize, uint64_t *off)
{
    while (xl >= 4) {
        uint64_t id = le(x, 2), len = le(x + 2, 2);
        if (len > xl - 4)
            return zip_bad(path, "extra field overruns its header");
        if (id == 1) {
            const uint8_t *q = x + 4;
            uint64_t left = len;
            uint64_t *f[3] = { usize, csize, off };
            for (int i = 0; i < 3; i++) {
                if (*f[i] != 0xffffffffu)
                    continue;
                if (left < 8)
                    return zip_bad(path, "short ZIP64 extra field");
                *f[i] = le(q, 8);
                q += 8;
                left -= 8;
            }
        }
        x += 4 + len;
        xl -= 4 + (size_t)len;
    }
    return HARK_OK;
}

static hark_status zip_entry(const char *path, const uint8_t *d, size_t size, const uint8_t *c,
                             size_t left, size_t *used, hark_zip_entry *e)
{
    if (left < 46 || le(c, 4) != 0x02014b50u)
        return zip_bad(path, "central directory entry damaged");
    uint64_t nl = le(c + 28, 2), xl = le(c + 30, 2), cl = le(c + 32, 2);
    if (46 + nl + xl + cl > left)
        return zip_bad(path, "central directory entry overruns the directory");
    uint64_t csize = le(c + 20, 4), usize = le(c + 24, 4), off = le(c + 42, 4);
    hark_status st = zip64_extra(path, c + 46 + nl, (size_t)xl, &usize, &csize, &off);
    if (st != HARK_OK)
        return st;
    if (off > size || size - off < 30 || le(d + off, 4) != 0x04034b50u)
        return zip_bad(path, "local header out of range");
    uint64_t data = off + 30 + le(d + off + 26, 2) + le(d + off + 28, 2);
    if (data > size || csize > size - data)
        return hark_fail(HARK_ERR_FORMAT, "%s: truncated: zip entry data out of range", path);
    e->method = (int)le(c + 10, 2);
    e->offset = data;
    e->size = csize;
    if (!(e->name = malloc(nl + 1)))
        return hark_fail(HARK_ERR_NOMEM, "%s: out of memory", path);
    memcpy(e->name, c + 46, nl);
    e->name[nl] = 0;
    *used = 46 + nl + xl + cl;
    return HARK_OK;
}

hark_status hark_zip_open(const char *path, const uint8_t *d, size_t size, hark_zip *z)
{
    uint64_t cd_off = 0, cd_size = 0, count = 0;
    memset(z, 0, sizeof(*z));
    hark_status st = zip_find_dir(path, d, size, &cd_off, &cd_size, &count);
    if (st != HARK_OK)
        return st;
    if (!(z->e = calloc(count ? count : 1, sizeof(*z->e))))
        return hark_fail(HARK_ERR_NOMEM, "%s: out of memory", path);
    size_t pos = (size_t)cd_off, end = (size_t)(cd_off + cd_size);
    for (uint64_t i = 0; i < count; i++) {
        size_t used = 0;
        if ((st = zip_entry(path, d, size, d + pos, end - pos, &used, &z->e[z->n])) != HARK_OK) {
            hark_zip_free(z);
            return st;
        }
        z->n++;
        pos += used;
    }
    return HARK_OK;
}

void hark_zip_free(hark_zip *z)
{
    for (int i = 0; i < z->n; i++)
        free(z->e[i].name);
    free(z->e);
    memset(z, 0, sizeof(*z));
}

const hark_zip_entry *hark_zip_find(const hark_zip *z, const char *name)
{
    for (int i = 0; i < z->n; i++)
        if (strcmp(z->e[i].name, name) == 0)
            return &z->e[i];
    return NULL;
}
