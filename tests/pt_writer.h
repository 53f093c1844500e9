/*
 * pt_writer.h — for tests only: writes a minimal torch.save-style checkpoint (a stored zip with
 * <prefix>/data.pkl in pickle protocol 2 and <prefix>/data/<key> storages), so the .pt converter
 * can be tested without Python. Local headers use data descriptors (sizes 0, flag bit 3) as
 * torch's writer does, so the reader must trust the central directory.
 */
#ifndef HARK_TEST_PT_WRITER_H
#define HARK_TEST_PT_WRITER_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct ptw_buf {
    uint8_t *p;
    size_t n, cap;
} ptw_buf;

static void ptw_put(ptw_buf *b, const void *d, size_t n)
{
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 1024;
        b->p = realloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, d, n);
    b->n += n;
}

static void ptw_u8(ptw_buf *b, unsigned v) { uint8_t c = (uint8_t)v; ptw_put(b, &c, 1); }
static void ptw_le(ptw_buf *b, uint64_t v, int n)
{
    for (int i = 0; i < n; i++)
        ptw_u8(b, (unsigned)(v >> (8 * i)) & 0xff);
}

/* ---- pickle opcodes */
static void pkw_str(ptw_buf *b, const char *s)
{
    ptw_u8(b, 'X');
    ptw_le(b, strlen(s), 4);
    ptw_put(b, s, strlen(s));
}
static void pkw_int(ptw_buf *b, int64_t v)
{
    if (v >= 0 && v < 256) {
        ptw_u8(b, 'K');
        ptw_u8(b, (unsigned)v);
    } else if (v >= 0 && v < 65536) {
        ptw_u8(b, 'M');
        ptw_le(b, (uint64_t)v, 2);
    } else if (v >= INT32_MIN && v <= INT32_MAX) {
        ptw_u8(b, 'J');
        ptw_le(b, (uint64_t)v, 4);
    } else {
        ptw_u8(b, 0x8a);
        ptw_u8(b, 8);
        ptw_le(b, (uint64_t)v, 8);
    }
}
static void pkw_global(ptw_buf *b, const char *mod, const char *name)
{
    ptw_u8(b, 'c');
    ptw_put(b, mod, strlen(mod));
    ptw_u8(b, '\n');
    ptw_put(b, name, strlen(name));
    ptw_u8(b, '\n');
}
static void pkw_int_tuple(ptw_buf *b, int n, const int64_t *v)
{
    ptw_u8(b, '(');
    for (int i = 0; i < n; i++)
        pkw_int(b, v[i]);
    ptw_u8(b, 't');
}

/* Emits _rebuild_tensor_v2(storage(key, HalfStorage or FloatStorage, numel), offset, size,
 * stride, False, OrderedDict()). */
static void pkw_tensor(ptw_buf *b, const char *key, int half, int64_t storage_numel,
                       int64_t offset, int ndim, const int64_t *shape, const int64_t *stride)
{
    pkw_global(b, "torch._utils", "_rebuild_tensor_v2");
    ptw_u8(b, '(');
    ptw_u8(b, '(');
    pkw_str(b, "storage");
    pkw_global(b, "torch", half ? "HalfStorage" : "FloatStorage");
    pkw_str(b, key);
    pkw_str(b, "cpu");
    pkw_int(b, storage_numel);
    ptw_u8(b, 't');
    ptw_u8(b, 'Q');
    pkw_int(b, offset);
    pkw_int_tuple(b, ndim, shape);
    pkw_int_tuple(b, ndim, stride);
    ptw_u8(b, 0x89);
    pkw_global(b, "collections", "OrderedDict");
    ptw_u8(b, ')');
    ptw_u8(b, 'R');
    ptw_u8(b, 't');
    ptw_u8(b, 'R');
}

/* ---- zip (stored entries) */
typedef struct ptw_zip {
    ptw_buf out, cd;
    int n;
} ptw_zip;

static void ptw_zip_add(ptw_zip *z, const char *name, const void *data, size_t n)
{
    uint64_t off = z->out.n;
    size_t nl = strlen(name);
    ptw_le(&z->out, 0x04034b50, 4);
    ptw_le(&z->out, 20, 2);
    ptw_le(&z->out, 8, 2); /* data descriptor follows */
    ptw_le(&z->out, 0, 2);
    ptw_le(&z->out, 0, 4);
    ptw_le(&z->out, 0, 4); /* crc */
    ptw_le(&z->out, 0, 4);
    ptw_le(&z->out, 0, 4);
    ptw_le(&z->out, nl, 2);
    /* pad the data to 64 bytes with an extra field, as torch does */
    size_t pad = (64 - (z->out.n + 2 + nl + 4) % 64) % 64;
    ptw_le(&z->out, pad + 4, 2);
    ptw_put(&z->out, name, nl);
    ptw_le(&z->out, 0x4246, 2);
    ptw_le(&z->out, pad, 2);
    for (size_t i = 0; i < pad; i++)
        ptw_u8(&z->out, 'Z');
    ptw_put(&z->out, data, n);
    ptw_le(&z->out, 0x08074b50, 4);
    ptw_le(&z->out, 0, 4);
    ptw_le(&z->out, n, 4);
    ptw_le(&z->out, n, 4);
    ptw_le(&z->cd, 0x02014b50, 4);
    ptw_le(&z->cd, 20, 2);
    ptw_le(&z->cd, 20, 2);
    ptw_le(&z->cd, 8, 2);
    ptw_le(&z->cd, 0, 2);
    ptw_le(&z->cd, 0, 4);
    ptw_le(&z->cd, 0, 4);
    ptw_le(&z->cd, n, 4);
    ptw_le(&z->cd, n, 4);
    ptw_le(&z->cd, nl, 2);
    ptw_le(&z->cd, 0, 2);
    ptw_le(&z->cd, 0, 2);
    ptw_le(&z->cd, 0, 2);
    ptw_le(&z->cd, 0, 2);
    ptw_le(&z->cd, 0, 4);
    ptw_le(&z->cd, off, 4);
    ptw_put(&z->cd, name, nl);
    z->n++;
}

/* Appends the central directory and end record and writes the archive; returns 0 on success. */
static int ptw_zip_finish(ptw_zip *z, const char *path)
{
    uint64_t cd_off = z->out.n;
    ptw_put(&z->out, z->cd.p, z->cd.n);
    ptw_le(&z->out, 0x06054b50, 4);
    ptw_le(&z->out, 0, 4);
    ptw_le(&z->out, (uint64_t)z->n, 2);
    ptw_le(&z->out, (uint64_t)z->n, 2);
    ptw_le(&z->out, z->cd.n, 4);
    ptw_le(&z->out, cd_off, 4);
    ptw_le(&z->out, 0, 2);
    FILE *f = fopen(path, "wb");
    int ok = f && fwrite(z->out.p, 1, z->out.n, f) == z->out.n;
    if (f)
        fclose(f);
    free(z->out.p);
    free(z->cd.p);
    memset(z, 0, sizeof(*z));
    return ok ? 0 : -1;
}

#endif
