/*
 * convert.c — hark_convert: recognises the input (OpenAI .pt zip, Hugging Face folder,
 * whisper.cpp ggml, hark file) and hands it to its converter; re-typing of hark files; the
 * fill source over safetensors files shared by the HF and hark paths.
 */
#include "model/model_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Defaults: F16 matrices, architecture name guessed from the dims. */
hark_convert_params hark_convert_default_params(void)
{
    return (hark_convert_params){ .dtype = HARK_DTYPE_F16, .arch_name = NULL,
                                  .quant = HARK_QUANT_NONE, .group = 64 };
}

hark_status hark_st_source_fill(void *user, const hark_plan_tensor *t, hark_dtype dtype, void *dst)
{
    const hark_st_source *s = user;
    for (int i = 0; i < s->n_files; i++) {
        const hark_st_entry *e = hark_st_find(&s->files[i], t->hf);
        if (!e)
            continue;
        if (e->t.dtype == HARK_DTYPE_I8 || e->t.dtype == HARK_DTYPE_U8)
            return hark_fill_dequantized(s->ctx, &s->files[i], t, e, dtype, dst);
        if (!hark_dtype_size(e->t.dtype))
            return hark_fail(HARK_ERR_UNSUPPORTED, "%s: tensor '%s' has dtype %s (F32, F16 or "
                             "BF16 needed)", s->ctx, t->hf, hark_st_entry_dtype_name(e));
        return hark_fill_from(s->ctx, t, e->t.data, e->t.dtype, e->t.ndim, e->t.shape, 0, dtype,
                              dst);
    }
    return hark_fail(HARK_ERR_FORMAT, "%s: tensor '%s' is missing", s->ctx, t->hf);
}

/* Re-writes a hark file with another dtype (tokenizer, dims and arch are kept). */
hark_status hark_convert_hark(const char *in, const char *out, const hark_convert_params *p)
{
    hark_st_file f;
    hark_status st = hark_st_open(in, &f);
    if (st != HARK_OK)
        return st;
    hark_model *m = calloc(1, sizeof(*m));
    if (!m) {
        hark_st_close(&f);
        return hark_fail(HARK_ERR_NOMEM, "%s: out of memory", in);
    }
    if ((st = hark_file_header(in, &f, m)) != HARK_OK)
        goto out;
    const char *tok = hark_st_meta(&f, "hark.tokenizer");
    const char *tok_name = hark_st_meta(&f, "hark.tokenizer.name");
    hark_write_info info = { .dims = m->dims, .arch = p->arch_name ? p->arch_name : m->arch,
                             .random = hark_st_meta(&f, "hark.random"), .tokenizer = tok,
                             .tokenizer_size = tok ? strlen(tok) : 0,
                             .tokenizer_name = tok_name ? tok_name : "multilingual",
                             .dtype = p->dtype, .quant = p->quant, .group = p->group,
                             .alignment_heads = hark_st_meta(&f, "hark.alignment_heads") };
    hark_st_source src = { &f, 1, in };
    st = hark_file_write(out, &info, hark_st_source_fill, &src);
out:
    free(m);
    hark_st_close(&f);
    return st;
}

/* Converts in_path (any supported kind) to a hark file at out_path; params may be NULL. */
hark_status hark_convert(const char *in_path, const char *out_path, const hark_convert_params *params)
{
    if (!in_path || !out_path)
        return hark_fail(HARK_ERR_INVALID_ARG, "hark_convert: NULL path");
    hark_convert_params p = params ? *params : hark_convert_default_params();
    if (!hark_dtype_size(p.dtype))
        return hark_fail(HARK_ERR_INVALID_ARG, "hark_convert: unknown dtype %d", (int)p.dtype);
    struct stat sb;
    if (stat(in_path, &sb) != 0)
        return hark_fail(HARK_ERR_IO, "%s: cannot open", in_path);
    if (S_ISDIR(sb.st_mode))
        return hark_convert_hf(in_path, out_path, &p);
    unsigned char magic[9] = { 0 };
    FILE *fp = fopen(in_path, "rb");
    if (!fp)
        return hark_fail(HARK_ERR_IO, "%s: cannot open", in_path);
    size_t got = fread(magic, 1, sizeof(magic), fp);
    fclose(fp);
    if (got >= 4 && memcmp(magic, "PK\3\4", 4) == 0)
        return hark_convert_pt(in_path, out_path, &p);
    if (got >= 4 && memcmp(magic, "lmgg", 4) == 0)
        return hark_convert_ggml(in_path, out_path, &p);
    if (got >= 2 && magic[0] == 0x80 && magic[1] <= 5)
        return hark_fail(HARK_ERR_UNSUPPORTED, "%s: a legacy (non-zip) torch pickle; re-save it "
                         "with a torch >= 1.6 torch.save", in_path);
    if (got == 9 && magic[8] == '{')
        return hark_convert_hark(in_path, out_path, &p);
    return hark_fail(HARK_ERR_FORMAT, "%s: not a model file hark can convert (expected an "
                     "OpenAI .pt, a Hugging Face folder, a ggml .bin or a hark file)", in_path);
}
