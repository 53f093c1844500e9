/*
 * npy.h — reads the .npy files the reference script writes (little-endian float32 '<f4' or
 * int32 '<i4', C order). For tests only.
 */
#ifndef HARK_TEST_NPY_H
#define HARK_TEST_NPY_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct npy_array {
    char dtype[8]; /* "<f4" or "<i4" */
    int ndim;
    long shape[8];
    long numel;
    void *data;
} npy_array;

/* Returns 0 on success; prints why and returns -1 otherwise. Free with npy_free. */
static inline int npy_load(const char *path, npy_array *a)
{
    memset(a, 0, sizeof(*a));
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "npy: cannot open %s\n", path);
        return -1;
    }
    unsigned char pre[10];
    if (fread(pre, 1, 10, f) != 10 || memcmp(pre, "\x93NUMPY", 6) != 0) {
        fprintf(stderr, "npy: %s: not an npy file\n", path);
        fclose(f);
        return -1;
    }
    size_t hlen = pre[8] | (pre[9] << 8);
    if (pre[6] >= 2) {
        unsigned char ext[2];
        if (fread(ext, 1, 2, f) != 2) {
            fclose(f);
            return -1;
        }
        hlen = pre[8] | (pre[9] << 8) | ((size_t)ext[0] << 16) | ((size_t)ext[1] << 24);
    }
    char *hdr = calloc(1, hlen + 1);
    if (!hdr || fread(hdr, 1, hlen, f) != hlen) {
        free(hdr);
        fclose(f);
        return -1;
    }
    const char *d = strstr(hdr, "'descr': '");
    const char *s = strstr(hdr, "'shape': (");
    if (!d || !s || strstr(hdr, "'fortran_order': True")) {
        fprintf(stderr, "npy: %s: unsupported header %s\n", path, hdr);
        free(hdr);
        fclose(f);
        return -1;
    }
    memcpy(a->dtype, d + 10, 3);
    s += 10;
    a->numel = 1;
    while (*s && *s != ')') {
        char *end;
        long v = strtol(s, &end, 10);
        if (end == s)
            break;
        a->shape[a->ndim++] = v;
        a->numel *= v;
        s = end;
        while (*s == ',' || *s == ' ')
            s++;
    }
    free(hdr);
    size_t bytes = (size_t)a->numel * 4;
    a->data = malloc(bytes ? bytes : 1);
    if (!a->data || fread(a->data, 1, bytes, f) != bytes) {
        fprintf(stderr, "npy: %s: short data\n", path);
        fclose(f);
        free(a->data);
        a->data = NULL;
        return -1;
    }
    fclose(f);
    return 0;
}

static inline void npy_free(npy_array *a)
{
    free(a->data);
    a->data = NULL;
}

#endif
