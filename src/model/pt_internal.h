/*
 * pt_internal.h — the two readers behind the .pt converter: a zip directory reader (stored
 * entries only, ZIP64 aware) and a small pickle VM for what torch.save writes. Private to
 * src/model.
 */
#ifndef HARK_PT_INTERNAL_H
#define HARK_PT_INTERNAL_H

#include "model/model.h"

/* ---- zip */

typedef struct hark_zip_entry {
    char *name;
    int method;      /* 0 stored; anything else is refused when the entry is used */
    uint64_t offset; /* first byte of the entry's data in the file */
    uint64_t size;   /* compressed size (== the data size for stored entries) */
} hark_zip_entry;

typedef struct hark_zip {
    hark_zip_entry *e;
    int n;
} hark_zip;

/* Reads the central directory of the zip in data[0..size); every entry's data range is checked
 * to lie in the file. Errors name path. */
hark_status hark_zip_open(const char *path, const uint8_t *data, size_t size, hark_zip *z);
void hark_zip_free(hark_zip *z);
const hark_zip_entry *hark_zip_find(const hark_zip *z, const char *name);

/* ---- pickle */

typedef enum pk_kind {
    PK_NONE, PK_BOOL, PK_INT, PK_FLOAT, PK_STR, PK_TUPLE, PK_LIST, PK_DICT, PK_GLOBAL,
    PK_STORAGE, PK_TENSOR, PK_MARK,
} pk_kind;

typedef struct pk_obj {
    pk_kind kind;
    int64_t i;             /* INT, BOOL; STORAGE: numel; TENSOR: storage offset (elements) */
    double f;              /* FLOAT */
    char *s;               /* STR; GLOBAL "module.name"; STORAGE: key */
    struct pk_obj **items; /* TUPLE, LIST; DICT: key, value, key, value ... */
    size_t n, cap;
    int dtype;             /* STORAGE, TENSOR: hark_dtype, or -1 for another storage type */
    int ndim;              /* TENSOR */
    int64_t shape[4], stride[4];
    struct pk_obj *storage; /* TENSOR */
} pk_obj;

typedef struct pk_vm pk_vm;

/* Runs the pickle program data[0..size) and returns its result in *root; everything lives in
 * *vm until hark_pickle_free. Hard limits on objects, stack, memo and strings keep hostile input
 * bounded. Unknown opcodes and callables give HARK_ERR_UNSUPPORTED naming them. */
hark_status hark_pickle_load(const char *ctx, const uint8_t *data, size_t size, pk_vm **vm,
                             pk_obj **root);
void hark_pickle_free(pk_vm *vm);
/* The value of string key in a DICT, or NULL. */
const pk_obj *pk_dict_get(const pk_obj *dict, const char *key);

#endif
