/*
 * convert_ggml.c — whisper.cpp's ggml model file to hark's format.
 * ref: whisper.cpp whisper.cpp whisper_model_load and models/convert-pt-to-ggml.py (the layout):
 * magic 0x67676d6c; 11 int32 hparams (n_vocab, n_audio_ctx, n_audio_state, n_audio_head,
 * n_audio_layer, n_text_ctx, n_text_state, n_text_head, n_text_layer, n_mels, ftype); the mel
 * filterbank (int32 n_mel, int32 n_fft, n_mel x n_fft float32); the vocabulary (int32 count, then
 * int32 length + bytes per token); then tensors to the end of the file, each int32 n_dims,
 * int32 name length, int32 type, int32 ne[n_dims] (ne[0] fastest), the name, the data.
 * Only F32 and F16 tensors are read; quantized files are refused. The vocabulary is checked for
 * shape only: hark embeds its built-in .tiktoken ranks, which carry the same tokens.
 */
#include "model/model_internal.h"

#include <stdlib.h>
#include <string.h>

#define GGML_MAGIC 0x67676d6cu
#define GGML_MAX_TENSORS 4096

typedef struct ggml_reader {
    const char *path;
    const uint8_t *p;
    size_t size, off;
} ggml_reader;

static int rd_i32(ggml_reader *r, int32_t *v)
{
    if (r->size - r->off < 4)
        return 0;
    uint32_t u = (uint32_t)r->p[r->off] | (uint32_t)r->p[r->off + 1] << 8 |
                 (uint32_t)r->p[r->off + 2] << 16 | (uint32_t)r->p[r->off + 3] << 24;
    memcpy(v, &u, 4);
    r->off += 4;
    return 1;
}

static hark_status truncated(const ggml_reader *r, const char *what)
{
    return hark_fail(HARK_ERR_FORMAT, "%s: truncated at byte %zu: %s", r->path, r->off, what);
}

/* Parses the header, filterbank and vocabulary of a ggml file (data/size: the whole file). */
hark_status hark_ggml_read_header(const char *path, const uint8_t *data, size_t size,
                                  hark_ggml_info *info)
{
    ggml_reader r = { path, data, size, 0 };
    int32_t magic, hp[11];
    memset(info, 0, sizeof(*info));
    if (!rd_i32(&r, &magic) || (uint32_t)magic != GGML_MAGIC)
        return hark_fail(HARK_ERR_FORMAT, "%s: not a whisper.cpp ggml file (bad magic)", path);
    for (int i = 0; i < 11; i++)
        if (!rd_i32(&r, &hp[i]))
            return truncated(&r, "in the hyper-parameters");
    hark_model_dims *d = &info->dims;
    d->n_vocab = hp[0], d->n_audio_ctx = hp[1], d->n_audio_state = hp[2], d->n_audio_head = hp[3];
    d->n_audio_layer = hp[4], d->n_text_ctx = hp[5], d->n_text_state = hp[6];
    d->n_text_head = hp[7], d->n_text_layer = hp[8], d->n_mels = hp[9];
    info->ftype = hp[10] % 1000; /* whisper.cpp adds GGML_QNT_VERSION * 1000 */
    hark_status st = hark_dims_check(d);
    if (st != HARK_OK)
        return hark_fail_prefix(st, "%s", path);
    int32_t nm, nf, nv;
    if (!rd_i32(&r, &nm) || !rd_i32(&r, &nf))
        return truncated(&r, "in the mel filterbank header");
    if (nm < 1 || nm > 1024 || nf < 1 || nf > 65536)
        return hark_fail(HARK_ERR_FORMAT, "%s: mel filterbank of %d x %d", path, nm, nf);
    info->n_mel_filters = nm, info->n_fft = nf;
    if ((uint64_t)nm * (uint64_t)nf * 4 > r.size - r.off)
        return truncated(&r, "in the mel filterbank");
    r.off += (size_t)nm * (size_t)nf * 4;
    if (!rd_i32(&r, &nv))
        return truncated(&r, "at the vocabulary size");
    if (nv < 0 || nv > d->n_vocab)
        return hark_fail(HARK_ERR_FORMAT, "%s: vocabulary of %d tokens (model has %d)", path, nv,
                         d->n_vocab);
    for (int32_t i = 0; i < nv; i++) {
        int32_t len;
        if (!rd_i32(&r, &len))
            return truncated(&r, "in the vocabulary");
        if (len < 0 || len > 1024)
            return hark_fail(HARK_ERR_FORMAT, "%s: vocabulary token %d has length %d", path, i, len);
        if ((size_t)len > r.size - r.off)
            return truncated(&r, "in the vocabulary");
        r.off += (size_t)len;
    }
    info->n_vocab_tokens = nv;
    info->tensors_offset = r.off;
    return HARK_OK;
}

typedef struct ggml_tensor {
    char name[96];
    hark_dtype dtype;
    int ndim;
    int64_t shape[4]; /* row-major (ne reversed) */
    const uint8_t *data;
} ggml_tensor;

typedef struct ggml_source {
    const char *path;
    ggml_tensor *t;
    int n;
} ggml_source;

static hark_status ggml_read_tensor(ggml_reader *r, ggml_tensor *t)
{
    int32_t nd, nl, tt;
    if (!rd_i32(r, &nd) || !rd_i32(r, &nl) || !rd_i32(r, &tt))
        return truncated(r, "in a tensor header");
    if (nd < 1 || nd > 4 || nl < 1 || nl >= (int32_t)sizeof(t->name))
        return hark_fail(HARK_ERR_FORMAT, "%s: byte %zu: bad tensor header (%d dims, name of %d)",
                         r->path, r->off, nd, nl);
    uint64_t numel = 1;
    t->ndim = nd;
    for (int i = 0; i < nd; i++) {
        int32_t ne;
        if (!rd_i32(r, &ne))
            return truncated(r, "in a tensor shape");
        if (ne < 1)
            return hark_fail(HARK_ERR_FORMAT, "%s: byte %zu: tensor dimension %d", r->path, r->off,
                             ne);
        t->shape[nd - 1 - i] = ne;
        numel *= (uint64_t)ne; /* at most 4 factors below 2^31: no overflow */
    }
    if ((size_t)nl > r->size - r->off)
        return truncated(r, "in a tensor name");
    memcpy(t->name, r->p + r->off, (size_t)nl);
    t->name[nl] = 0;
    r->off += (size_t)nl;
    if (tt != 0 && tt != 1)
        return hark_fail(HARK_ERR_UNSUPPORTED, "%s: tensor '%s' has ggml type %d (quantized); only "
                         "F32 and F16 ggml files can be converted", r->path, t->name, tt);
    t->dtype = tt == 0 ? HARK_DTYPE_F32 : HARK_DTYPE_F16;
    uint64_t nb = numel * (tt == 0 ? 4u : 2u);
    if (nb > r->size - r->off)
        return hark_fail(HARK_ERR_FORMAT, "%s: truncated: tensor '%s' needs %llu bytes at %zu, "
                         "the file has %zu", r->path, t->name, (unsigned long long)nb, r->off,
                         r->size - r->off);
    t->data = r->p + r->off;
    r->off += (size_t)nb;
    return HARK_OK;
}

static hark_status ggml_fill(void *user, const hark_plan_tensor *t, hark_dtype dtype, void *dst)
{
    const ggml_source *s = user;
    for (int i = 0; i < s->n; i++)
        if (strcmp(s->t[i].name, t->openai) == 0)
            return hark_fill_from(s->path, t, s->t[i].data, s->t[i].dtype, s->t[i].ndim,
                                  s->t[i].shape, 1, dtype, dst);
    return hark_fail(HARK_ERR_FORMAT, "%s: tensor '%s' is missing", s->path, t->openai);
}

/* Converts a whisper.cpp ggml file (F32/F16) to a hark file. */
hark_status hark_convert_ggml(const char *in, const char *out, const hark_convert_params *p)
{
    hark_file_map map;
    hark_ggml_info info;
    hark_status st = hark_map_file(in, &map);
    if (st != HARK_OK)
        return st;
    ggml_source src = { in, NULL, 0 };
    if ((st = hark_ggml_read_header(in, map.data, map.size, &info)) != HARK_OK)
        goto out;
    if (info.tensors_offset == map.size) {
        st = hark_fail(HARK_ERR_FORMAT, "%s: truncated: tensor data missing (the file ends after "
                       "the vocabulary, at byte %zu)", in, map.size);
        goto out;
    }
    if (!(src.t = calloc(GGML_MAX_TENSORS, sizeof(*src.t)))) {
        st = hark_fail(HARK_ERR_NOMEM, "%s: out of memory", in);
        goto out;
    }
    ggml_reader r = { in, map.data, map.size, info.tensors_offset };
    while (r.off < r.size && st == HARK_OK) {
        if (src.n == GGML_MAX_TENSORS) {
            st = hark_fail(HARK_ERR_FORMAT, "%s: more than %d tensors", in, GGML_MAX_TENSORS);
            break;
        }
        st = ggml_read_tensor(&r, &src.t[src.n]);
        src.n += st == HARK_OK;
    }
    if (st == HARK_OK) {
        hark_write_info wi = { .dims = info.dims, .arch = p->arch_name, .dtype = p->dtype,
                               .quant = p->quant, .group = p->group };
        st = hark_file_write(out, &wi, ggml_fill, &src);
    }
out:
    free(src.t);
    hark_unmap_file(&map);
    return st;
}
