/*
 * safetensors.h — reading and writing the safetensors container
 * (8-byte little-endian header length, a JSON header, then the tensor bytes).
 * ref: huggingface/safetensors docs (format section).
 *
 * Reading validates everything input could get wrong: header length against the file size,
 * JSON syntax, dtype names, shapes, offsets in range and consistent with dtype x shape.
 */
#ifndef HARK_SAFETENSORS_H
#define HARK_SAFETENSORS_H

#include "model/model.h"

typedef struct hark_st_entry {
    char *name;
    hark_tensor t;
    size_t nbytes;
} hark_st_entry;

typedef struct hark_st_file {
    hark_file_map map;
    hark_st_entry *entries;
    int n_entries;
    char **meta_keys; /* __metadata__ */
    char **meta_values;
    int n_meta;
} hark_st_file;

/* Opens and validates a safetensors file (mmapped). Errors name path and the problem. */
hark_status hark_st_open(const char *path, hark_st_file *f);
void hark_st_close(hark_st_file *f);
const hark_st_entry *hark_st_find(const hark_st_file *f, const char *name);
const char *hark_st_meta(const hark_st_file *f, const char *key);

/* A writer: add tensors (data copied by reference until write) and metadata, then write. */
typedef struct hark_st_writer hark_st_writer;
hark_status hark_st_writer_new(hark_st_writer **w);
/* data must stay valid until hark_st_writer_write. */
hark_status hark_st_writer_add(hark_st_writer *w, const char *name, hark_dtype dtype, int ndim,
                               const int64_t *shape, const void *data);
hark_status hark_st_writer_meta(hark_st_writer *w, const char *key, const char *value);
hark_status hark_st_writer_write(hark_st_writer *w, const char *path);
void hark_st_writer_free(hark_st_writer *w);

#endif
