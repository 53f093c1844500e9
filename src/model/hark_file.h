/*
 * hark_file.h — reading a hark model file into a hark_model (private to the library; src/hark.c
 * calls it from hark_model_load). The file format is described in docs/format.md.
 */
#ifndef HARK_HARK_FILE_H
#define HARK_HARK_FILE_H

#include "model/model.h"

/* Reads the hark file at path into *m, which the caller zeroed. On success it fills m->dims,
 * m->special, m->arch, m->is_random, m->w (every tensor the dims need, as views into the mapped
 * file, each checked for its exact shape, a supported dtype (F32, F16, BF16) and alignment to
 * its element size), m->tok (from the embedded tokenizer text) and m->map (the mapping the views
 * point into). Tensors the dims do not need are ignored. It does not touch m->params,
 * m->backend or m->backend_weights.
 * Errors: HARK_ERR_IO (cannot open or map), HARK_ERR_FORMAT (not safetensors, not a hark file,
 * truncated, bad dims, a tensor missing or of the wrong shape; the message names the file and
 * the tensor), HARK_ERR_UNSUPPORTED (a newer hark.version, an unsupported dtype), HARK_ERR_NOMEM,
 * or the tokenizer's status. On failure nothing is left allocated in *m (its fields are zeroed). */
hark_status hark_model_read(const char *path, hark_model *m);

/* Frees what hark_model_read put in m (the tokenizer and the mapping) and zeroes those fields.
 * Safe on a zeroed model and on one already released. */
void hark_model_release(hark_model *m);

#endif
