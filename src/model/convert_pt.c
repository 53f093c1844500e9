/*
 * convert_pt.c — an OpenAI Whisper checkpoint (torch.save zip: <prefix>/data.pkl plus
 * <prefix>/data/<key> storages) to hark's format. The pickle holds {"dims": {...},
 * "model_state_dict": OrderedDict(name -> tensor)} with OpenAI names (encoder.blocks.0.attn.query
 * .weight ...); each is looked up by the OpenAI twin of the hark tensor's name.
 * ref: openai/whisper __init__.py load_model (the checkpoint keys), model.py ModelDimensions;
 * pytorch torch/serialization.py _save (the zip layout).
 */
#include "model/model_internal.h"
#include "model/pt_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct pt_source {
    const char *path;
    const uint8_t *file;
    const hark_zip *zip;
    const char *prefix; /* "archive/" */
    const pk_obj *sd;   /* model_state_dict */
} pt_source;

static hark_status pt_dims(const char *path, const pk_obj *d, hark_model_dims *dm)
{
    struct { const char *k; int *v; } f[] = {
        { "n_mels", &dm->n_mels }, { "n_vocab", &dm->n_vocab },
        { "n_audio_ctx", &dm->n_audio_ctx }, { "n_audio_state", &dm->n_audio_state },
        { "n_audio_head", &dm->n_audio_head }, { "n_audio_layer", &dm->n_audio_layer },
        { "n_text_ctx", &dm->n_text_ctx }, { "n_text_state", &dm->n_text_state },
        { "n_text_head", &dm->n_text_head }, { "n_text_layer", &dm->n_text_layer },
    };
    if (!d || d->kind != PK_DICT)
        return hark_fail(HARK_ERR_FORMAT, "%s: no 'dims' dict in the checkpoint (not an OpenAI "
                         "Whisper .pt?)", path);
    for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
        const pk_obj *v = pk_dict_get(d, f[i].k);
        if (!v || v->kind != PK_INT || v->i < 0 || v->i > (1 << 24))
            return hark_fail(HARK_ERR_FORMAT, "%s: dims '%s' missing or not a small integer", path,
                             f[i].k);
        *f[i].v = (int)v->i;
    }
    hark_status st = hark_dims_check(dm);
    return st == HARK_OK ? st : hark_fail_prefix(st, "%s", path);
}

/* Checks that a tensor is a contiguous row-major view (size-1 dims may have any stride). */
static int pt_contiguous(const pk_obj *t)
{
    int64_t want = 1;
    for (int i = t->ndim - 1; i >= 0; i--) {
        if (t->shape[i] != 1 && t->stride[i] != want)
            return 0;
        want *= t->shape[i];
    }
    return 1;
}

static hark_status pt_fill(void *user, const hark_plan_tensor *t, hark_dtype dtype, void *dst)
{
    const pt_source *s = user;
    const pk_obj *x = pk_dict_get(s->sd, t->openai);
    if (!x)
        return hark_fail(HARK_ERR_FORMAT, "%s: tensor '%s' is missing", s->path, t->openai);
    if (x->kind != PK_TENSOR)
        return hark_fail(HARK_ERR_FORMAT, "%s: '%s' is not a tensor", s->path, t->openai);
    if (x->dtype < 0)
        return hark_fail(HARK_ERR_UNSUPPORTED, "%s: tensor '%s' is stored as %.100s (Half, Float "
                         "or BFloat16 needed)", s->path, t->openai, x->storage->storage->s);
    if (!pt_contiguous(x))
        return hark_fail(HARK_ERR_UNSUPPORTED, "%s: tensor '%s' is not contiguous", s->path,
                         t->openai);
    char name[512];
    snprintf(name, sizeof(name), "%sdata/%s", s->prefix, x->storage->s);
    const hark_zip_entry *e = hark_zip_find(s->zip, name);
    if (!e)
        return hark_fail(HARK_ERR_FORMAT, "%s: storage '%s' of tensor '%s' is missing", s->path,
                         name, t->openai);
    if (e->method != 0)
        return hark_fail(HARK_ERR_UNSUPPORTED, "%s: storage '%s' is compressed (method %d)",
                         s->path, name, e->method);
    uint64_t es = hark_dtype_size((hark_dtype)x->dtype), numel = 1;
    for (int i = 0; i < x->ndim; i++) /* each dim is at most 2^40 (checked by the VM) */
        numel = numel > ((uint64_t)1 << 40) ? numel : numel * (uint64_t)x->shape[i];
    if (numel > ((uint64_t)1 << 40) || (uint64_t)x->i > ((uint64_t)1 << 40) ||
        (x->i + numel) * es > e->size)
        return hark_fail(HARK_ERR_FORMAT, "%s: truncated: tensor '%s' reaches past its %llu-byte "
                         "storage", s->path, t->openai, (unsigned long long)e->size);
    return hark_fill_from(s->path, t, s->file + e->offset + (uint64_t)x->i * es,
                          (hark_dtype)x->dtype, x->ndim, x->shape, 0, dtype, dst);
}

/* Finds "<prefix>data.pkl" (prefix empty or ending in '/'). */
static const hark_zip_entry *pt_find_pickle(const hark_zip *z, char *prefix, size_t cap)
{
    for (int i = 0; i < z->n; i++) {
        const char *n = z->e[i].name;
        size_t len = strlen(n);
        if (len < 8 || strcmp(n + len - 8, "data.pkl") != 0 || (len > 8 && n[len - 9] != '/'))
            continue;
        if (len - 8 >= cap)
            continue;
        memcpy(prefix, n, len - 8);
        prefix[len - 8] = 0;
        return &z->e[i];
    }
    return NULL;
}

/* Converts an OpenAI .pt checkpoint to a hark file. */
hark_status hark_convert_pt(const char *in, const char *out, const hark_convert_params *p)
{
    hark_file_map map;
    hark_zip zip = { 0 };
    pk_vm *vm = NULL;
    pk_obj *root = NULL;
    char prefix[256];
    hark_status st = hark_map_file(in, &map);
    if (st != HARK_OK)
        return st;
    if ((st = hark_zip_open(in, map.data, map.size, &zip)) != HARK_OK)
        goto out;
    const hark_zip_entry *pkl = pt_find_pickle(&zip, prefix, sizeof(prefix));
    if (!pkl) {
        st = hark_fail(HARK_ERR_FORMAT, "%s: a zip without data.pkl: not a torch checkpoint", in);
        goto out;
    }
    if (pkl->method != 0) {
        st = hark_fail(HARK_ERR_UNSUPPORTED, "%s: data.pkl is compressed", in);
        goto out;
    }
    if ((st = hark_pickle_load(in, map.data + pkl->offset, (size_t)pkl->size, &vm, &root)) !=
        HARK_OK)
        goto out;
    hark_model_dims dims;
    if ((st = pt_dims(in, pk_dict_get(root, "dims"), &dims)) != HARK_OK)
        goto out;
    const pk_obj *sd = pk_dict_get(root, "model_state_dict");
    if (!sd || sd->kind != PK_DICT) {
        st = hark_fail(HARK_ERR_FORMAT, "%s: no 'model_state_dict' in the checkpoint", in);
        goto out;
    }
    pt_source src = { in, map.data, &zip, prefix, sd };
    hark_write_info wi = { .dims = dims, .arch = p->arch_name, .dtype = p->dtype,
                           .quant = p->quant, .group = p->group };
    st = hark_file_write(out, &wi, pt_fill, &src);
out:
    hark_pickle_free(vm);
    hark_zip_free(&zip);
    hark_unmap_file(&map);
    return st;
}
