/*
 * hark_file.c — hark's model file: the list of tensors a set of dims needs (Hugging Face
 * WhisperForConditionalGeneration names, with the OpenAI names beside them), the writer every
 * converter ends in, and the reader behind hark_model_load.
 * ref: openai/whisper model.py (module layout), huggingface/transformers
 * convert_openai_to_hf.py (the name mapping). Format: docs/format.md.
 */
#include "model/hark_file.h"
#include "model/model_internal.h"
#include "text/tokenizer.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HARK_FILE_VERSION "1"

/* ------------------------------------------------------------------------ the plan --------- */

static void plan_add(hark_plan *p, hark_role role, hark_tensor *slot, int ndim, int64_t s0,
                     int64_t s1, int64_t s2, const char *hf, const char *oa)
{
    hark_plan_tensor *t = &p->t[p->n++];
    memset(t, 0, sizeof(*t));
    snprintf(t->hf, sizeof(t->hf), "%s", hf);
    snprintf(t->openai, sizeof(t->openai), "%s", oa);
    t->role = role;
    t->slot = slot;
    t->ndim = ndim;
    t->shape[0] = s0;
    t->shape[1] = s1;
    t->shape[2] = s2;
}

/* Adds "<hf>.weight"/"<hf>.bias" (and the OpenAI twins) of a linear layer [out, in]. */
static void plan_linear(hark_plan *p, const char *hf, const char *oa, hark_tensor *w, hark_tensor *b,
                        int64_t out, int64_t in)
{
    char h[80], o[64];
    snprintf(h, sizeof(h), "%s.weight", hf);
    snprintf(o, sizeof(o), "%s.weight", oa);
    plan_add(p, HARK_ROLE_MATRIX, w, 2, out, in, 0, h, o);
    if (b) {
        snprintf(h, sizeof(h), "%s.bias", hf);
        snprintf(o, sizeof(o), "%s.bias", oa);
        plan_add(p, HARK_ROLE_BIAS, b, 1, out, 0, 0, h, o);
    }
}

static void plan_ln(hark_plan *p, const char *hf, const char *oa, hark_tensor *w, hark_tensor *b,
                    int64_t d)
{
    char h[80], o[64];
    snprintf(h, sizeof(h), "%s.weight", hf);
    snprintf(o, sizeof(o), "%s.weight", oa);
    plan_add(p, HARK_ROLE_LN_WEIGHT, w, 1, d, 0, 0, h, o);
    snprintf(h, sizeof(h), "%s.bias", hf);
    snprintf(o, sizeof(o), "%s.bias", oa);
    plan_add(p, HARK_ROLE_BIAS, b, 1, d, 0, 0, h, o);
}

static void plan_attn(hark_plan *p, const char *hf, const char *oa, hark_attn_weights *a, int64_t d)
{
    static const char *const hn[4] = { "q_proj", "k_proj", "v_proj", "out_proj" };
    static const char *const on[4] = { "query", "key", "value", "out" };
    hark_tensor *w[4] = { &a->q_w, &a->k_w, &a->v_w, &a->o_w };
    hark_tensor *b[4] = { &a->q_b, NULL, &a->v_b, &a->o_b };
    for (int i = 0; i < 4; i++) {
        char h[80], o[64];
        snprintf(h, sizeof(h), "%s.%s", hf, hn[i]);
        snprintf(o, sizeof(o), "%s.%s", oa, on[i]);
        plan_linear(p, h, o, w[i], b[i], d, d);
    }
}

/* Adds the tensors of encoder (cross == 0) or decoder layer i. */
static void plan_layer(hark_plan *p, hark_weights *w, int dec, int i, int64_t d)
{
    static hark_enc_layer enc_dummy;
    static hark_dec_layer dec_dummy;
    char hf[48], oa[48], h[80], o[64];
    snprintf(hf, sizeof(hf), "model.%s.layers.%d", dec ? "decoder" : "encoder", i);
    snprintf(oa, sizeof(oa), "%s.blocks.%d", dec ? "decoder" : "encoder", i);
    /* views go to the real layer when w is given, else to a dummy that is never read */
    hark_dec_layer *dl = w ? &w->dec[i] : &dec_dummy;
    hark_enc_layer *el = w ? &w->enc[i] : &enc_dummy;
    hark_tensor *attn_ln_w = dec ? &dl->attn_ln_w : &el->attn_ln_w;
    hark_tensor *attn_ln_b = dec ? &dl->attn_ln_b : &el->attn_ln_b;
#define LN(hs, os, lw, lb)                                                                      \
    snprintf(h, sizeof(h), "%s.%s", hf, hs), snprintf(o, sizeof(o), "%s.%s", oa, os),           \
        plan_ln(p, h, o, lw, lb, d)
    snprintf(h, sizeof(h), "%s.self_attn", hf);
    snprintf(o, sizeof(o), "%s.attn", oa);
    plan_attn(p, h, o, dec ? &dl->attn : &el->attn, d);
    LN("self_attn_layer_norm", "attn_ln", attn_ln_w, attn_ln_b);
    if (dec) {
        snprintf(h, sizeof(h), "%s.encoder_attn", hf);
        snprintf(o, sizeof(o), "%s.cross_attn", oa);
        plan_attn(p, h, o, &dl->cross, d);
        LN("encoder_attn_layer_norm", "cross_attn_ln", &dl->cross_ln_w, &dl->cross_ln_b);
    }
    snprintf(h, sizeof(h), "%s.fc1", hf);
    snprintf(o, sizeof(o), "%s.mlp.0", oa);
    plan_linear(p, h, o, dec ? &dl->fc1_w : &el->fc1_w, dec ? &dl->fc1_b : &el->fc1_b, 4 * d, d);
    snprintf(h, sizeof(h), "%s.fc2", hf);
    snprintf(o, sizeof(o), "%s.mlp.2", oa);
    plan_linear(p, h, o, dec ? &dl->fc2_w : &el->fc2_w, dec ? &dl->fc2_b : &el->fc2_b, d, 4 * d);
    LN("final_layer_norm", "mlp_ln", dec ? &dl->mlp_ln_w : &el->mlp_ln_w,
       dec ? &dl->mlp_ln_b : &el->mlp_ln_b);
#undef LN
}

/* Builds the tensor list for dims (which must pass hark_dims_check). Views go to w if given. */
hark_status hark_plan_build(const hark_model_dims *dm, hark_weights *w, hark_plan *p)
{
    static hark_weights dummy; /* slots when w is NULL: written to, never read */
    hark_weights *ww = w ? w : &dummy;
    int64_t d = dm->n_audio_state;
    int cap = 16 + 16 * dm->n_audio_layer + 26 * dm->n_text_layer;
    p->n = 0;
    p->t = calloc((size_t)cap, sizeof(*p->t));
    if (!p->t)
        return hark_fail(HARK_ERR_NOMEM, "out of memory");
    plan_add(p, HARK_ROLE_MATRIX, &ww->conv1_w, 3, d, dm->n_mels, 3, "model.encoder.conv1.weight",
             "encoder.conv1.weight");
    plan_add(p, HARK_ROLE_BIAS, &ww->conv1_b, 1, d, 0, 0, "model.encoder.conv1.bias",
             "encoder.conv1.bias");
    plan_add(p, HARK_ROLE_MATRIX, &ww->conv2_w, 3, d, d, 3, "model.encoder.conv2.weight",
             "encoder.conv2.weight");
    plan_add(p, HARK_ROLE_BIAS, &ww->conv2_b, 1, d, 0, 0, "model.encoder.conv2.bias",
             "encoder.conv2.bias");
    plan_add(p, HARK_ROLE_ENC_POS, &ww->enc_pos, 2, dm->n_audio_ctx, d, 0,
             "model.encoder.embed_positions.weight", "encoder.positional_embedding");
    for (int i = 0; i < dm->n_audio_layer; i++)
        plan_layer(p, w, 0, i, d);
    plan_ln(p, "model.encoder.layer_norm", "encoder.ln_post", &ww->enc_ln_w, &ww->enc_ln_b, d);
    plan_add(p, HARK_ROLE_TOK_EMB, &ww->tok_emb, 2, dm->n_vocab, d, 0,
             "model.decoder.embed_tokens.weight", "decoder.token_embedding.weight");
    plan_add(p, HARK_ROLE_DEC_POS, &ww->dec_pos, 2, dm->n_text_ctx, d, 0,
             "model.decoder.embed_positions.weight", "decoder.positional_embedding");
    for (int i = 0; i < dm->n_text_layer; i++)
        plan_layer(p, w, 1, i, d);
    plan_ln(p, "model.decoder.layer_norm", "decoder.ln", &ww->dec_ln_w, &ww->dec_ln_b, d);
    if (!w)
        for (int i = 0; i < p->n; i++)
            p->t[i].slot = NULL;
    return HARK_OK;
}

/* Frees the plan's list. */
void hark_plan_free(hark_plan *p)
{
    free(p->t);
    p->t = NULL;
    p->n = 0;
}

/* Elements of one planned tensor. */
int64_t hark_plan_numel(const hark_plan_tensor *t)
{
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++)
        n *= t->shape[i];
    return n;
}

/* ------------------------------------------------------------------------ values ----------- */

static float load_value(const uint8_t *p, hark_dtype dt)
{
    uint16_t h;
    float f;
    switch (dt) {
    case HARK_DTYPE_F32: memcpy(&f, p, 4); return f;
    case HARK_DTYPE_F16: memcpy(&h, p, 2); return hark_f16_to_f32(h);
    case HARK_DTYPE_BF16: memcpy(&h, p, 2); return hark_bf16_to_f32(h);
    }
    return 0;
}

static void store_value(uint8_t *p, hark_dtype dt, float f)
{
    uint16_t h;
    switch (dt) {
    case HARK_DTYPE_F32: memcpy(p, &f, 4); return;
    case HARK_DTYPE_F16: h = hark_f32_to_f16(f); memcpy(p, &h, 2); return;
    case HARK_DTYPE_BF16: h = hark_f32_to_bf16(f); memcpy(p, &h, 2); return;
    }
}

/* Converts n values (src and dst need no alignment); equal dtypes copy. */
void hark_convert_values(const void *src, hark_dtype sdt, void *dst, hark_dtype ddt, size_t n)
{
    size_t ss = hark_dtype_size(sdt), ds = hark_dtype_size(ddt);
    if (sdt == ddt) {
        memcpy(dst, src, n * ss);
        return;
    }
    const uint8_t *s = src;
    uint8_t *d = dst;
#pragma omp parallel for schedule(static) if (n > (1u << 20))
    for (size_t i = 0; i < n; i++)
        store_value(d + i * ds, ddt, load_value(s + i * ss, sdt));
}

static int squeeze(int ndim, const int64_t *shape, int64_t *out)
{
    int k = 0;
    for (int i = 0; i < ndim; i++)
        if (shape[i] != 1)
            out[k++] = shape[i];
    return k;
}

static void shape_text(char *buf, size_t cap, int ndim, const int64_t *shape)
{
    size_t n = (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < ndim && n < cap; i++)
        n += (size_t)snprintf(buf + n, cap - n, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (n < cap)
        snprintf(buf + n, cap - n, "]");
}

hark_status hark_fill_from(const char *ctx, const hark_plan_tensor *t, const void *src,
                           hark_dtype src_dt, int src_ndim, const int64_t *src_shape, int sq,
                           hark_dtype dtype, void *dst)
{
    if (!hark_dtype_size(src_dt))
        return hark_fail(HARK_ERR_UNSUPPORTED, "%s: tensor '%s': unsupported dtype", ctx, t->hf);
    int same = src_ndim == t->ndim;
    for (int i = 0; same && i < t->ndim; i++)
        same = src_shape[i] == t->shape[i];
    if (!same && sq && src_ndim <= 8) {
        int64_t a[8], b[4];
        int na = squeeze(src_ndim, src_shape, a), nb = squeeze(t->ndim, t->shape, b);
        same = na == nb;
        for (int i = 0; same && i < na; i++)
            same = a[i] == b[i];
    }
    if (!same) {
        char got[96], want[96];
        shape_text(got, sizeof(got), src_ndim, src_shape);
        shape_text(want, sizeof(want), t->ndim, t->shape);
        return hark_fail(HARK_ERR_FORMAT, "%s: tensor '%s' has shape %s, expected %s", ctx,
                         t->openai[0] ? t->openai : t->hf, got, want);
    }
    hark_convert_values(src, src_dt, dst, dtype, (size_t)hark_plan_numel(t));
    return HARK_OK;
}

/* ------------------------------------------------------------------------ writing ---------- */

hark_status hark_assets_tokenizer(int n_vocab, char **text, size_t *size, const char **name)
{
    const char *dir = getenv("HARK_ASSETS");
#ifdef HARK_ASSETS_DIR
    if (!dir || !*dir)
        dir = HARK_ASSETS_DIR;
#endif
    *name = n_vocab >= 51865 ? "multilingual" : "gpt2";
    if (!dir || !*dir)
        return hark_fail(HARK_ERR_NOT_FOUND,
                         "tokenizer %s.tiktoken: no assets folder (set HARK_ASSETS)", *name);
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s.tiktoken", dir, *name);
    hark_status st = hark_read_file(path, (uint8_t **)text, size);
    if (st != HARK_OK)
        return hark_fail_prefix(HARK_ERR_NOT_FOUND,
                                "tokenizer assets missing (set HARK_ASSETS to the assets folder)");
    return HARK_OK;
}

/* What spec i of the file is: plan tensor plan[i] as a whole (part 0), or its quantized bytes
 * (part 1) or their scales (part 2). */
typedef struct file_spec {
    int plan, part;
    char name[96];
} file_spec;

typedef struct file_fill_ctx {
    const hark_plan *plan;
    const file_spec *specs;
    hark_tensor_fill_fn fill;
    void *user;
    hark_dtype dtype;
    int quant, group;
    float *f32;        /* a quantized tensor's values */
    void *q;           /* its quantized bytes when they are not written directly */
    uint16_t *scale;   /* the scales of plan tensor scale_of (its bytes come just before them) */
    int scale_of;
} file_fill_ctx;

/* Whether plan tensor t is stored quantized: the linear layers' weights (not the convolutions
 * or the embedding), for int4 only when the group divides the input width. */
static int quantized(const hark_plan_tensor *t, int quant, int group)
{
    if (quant == HARK_QUANT_NONE || t->role != HARK_ROLE_MATRIX || t->ndim != 2)
        return 0;
    return quant == HARK_QUANT_INT8 || t->shape[1] % group == 0;
}

/* Quantizes plan tensor t into q (its bytes) and c->scale. */
static hark_status fill_quantized(file_fill_ctx *c, int pi, void *q)
{
    const hark_plan_tensor *t = &c->plan->t[pi];
    hark_status st = c->fill(c->user, t, HARK_DTYPE_F32, c->f32);
    if (st != HARK_OK)
        return st;
    if (c->quant == HARK_QUANT_INT8)
        hark_quantize_i8(c->f32, t->shape[0], t->shape[1], q, c->scale);
    else
        hark_quantize_q4(c->f32, t->shape[0], t->shape[1], c->group, q, c->scale);
    c->scale_of = pi;
    return HARK_OK;
}

static hark_status file_fill(void *user, int index, void *dst, size_t nbytes)
{
    file_fill_ctx *c = user;
    const file_spec *sp = &c->specs[index];
    if (sp->part == 0)
        return c->fill(c->user, &c->plan->t[sp->plan], c->dtype, dst);
    if (sp->part == 1)
        return fill_quantized(c, sp->plan, dst);
    if (c->scale_of != sp->plan) { /* not right after its bytes: quantize again */
        hark_status st = fill_quantized(c, sp->plan, c->q);
        if (st != HARK_OK)
            return st;
    }
    memcpy(dst, c->scale, nbytes);
    return HARK_OK;
}

static char *dims_json(const hark_model_dims *d)
{
    json_t *o = json_pack("{s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i}", "n_mels",
                          d->n_mels, "n_audio_ctx", d->n_audio_ctx, "n_audio_state",
                          d->n_audio_state, "n_audio_head", d->n_audio_head, "n_audio_layer",
                          d->n_audio_layer, "n_vocab", d->n_vocab, "n_text_ctx", d->n_text_ctx,
                          "n_text_state", d->n_text_state, "n_text_head", d->n_text_head,
                          "n_text_layer", d->n_text_layer);
    char *s = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(o);
    return s;
}

hark_status hark_file_write(const char *path, const hark_write_info *info, hark_tensor_fill_fn fill,
                            void *user)
{
    if (!hark_dtype_size(info->dtype))
        return hark_fail(HARK_ERR_INVALID_ARG, "%s: unknown output dtype %d", path, (int)info->dtype);
    hark_status st = hark_dims_check(&info->dims);
    if (st != HARK_OK)
        return hark_fail_prefix(st, "%s", path);
    char *tok = NULL, *dj = NULL;
    size_t tok_size = 0;
    const char *tok_name = info->tokenizer_name;
    hark_plan plan = { 0 };
    hark_st_spec *specs = NULL;
    file_spec *fs = NULL;
    file_fill_ctx fc = { 0 };
    if (info->tokenizer) {
        tok = malloc(info->tokenizer_size + 1);
        if (tok) {
            memcpy(tok, info->tokenizer, info->tokenizer_size);
            tok[info->tokenizer_size] = 0;
        }
    } else if ((st = hark_assets_tokenizer(info->dims.n_vocab, &tok, &tok_size, &tok_name)) !=
               HARK_OK) {
        return st;
    }
    if (!tok || !(dj = dims_json(&info->dims))) {
        st = hark_fail(HARK_ERR_NOMEM, "%s: out of memory", path);
        goto out;
    }
    if (strlen(tok) != (info->tokenizer ? info->tokenizer_size : tok_size)) {
        st = hark_fail(HARK_ERR_FORMAT, "%s: tokenizer text holds a NUL byte", path);
        goto out;
    }
    if ((st = hark_plan_build(&info->dims, NULL, &plan)) != HARK_OK)
        goto out;
    const int quant = info->quant, group = quant == HARK_QUANT_INT4 ? info->group : 0;
    if (quant != HARK_QUANT_NONE && quant != HARK_QUANT_INT8 && quant != HARK_QUANT_INT4) {
        st = hark_fail(HARK_ERR_INVALID_ARG, "%s: unknown quantization %d", path, quant);
        goto out;
    }
    if (quant == HARK_QUANT_INT4 && (group <= 0 || group % 32 != 0)) {
        st = hark_fail(HARK_ERR_INVALID_ARG, "%s: int4 group size %d is not a positive multiple "
                       "of 32", path, group);
        goto out;
    }
    int n_specs = 0;
    int64_t max_q = 0, max_s = 0; /* the largest quantized tensor's elements and scales */
    for (int i = 0; i < plan.n; i++) {
        const hark_plan_tensor *t = &plan.t[i];
        int qz = quantized(t, quant, group);
        n_specs += 1 + qz;
        if (!qz)
            continue;
        int64_t ns = group ? hark_plan_numel(t) / group : t->shape[0];
        max_q = hark_plan_numel(t) > max_q ? hark_plan_numel(t) : max_q;
        max_s = ns > max_s ? ns : max_s;
    }
    specs = calloc((size_t)n_specs, sizeof(*specs));
    fs = calloc((size_t)n_specs, sizeof(*fs));
    if (max_q) {
        fc.f32 = malloc((size_t)max_q * sizeof(float));
        fc.q = malloc((size_t)max_q);
        fc.scale = malloc((size_t)max_s * sizeof(uint16_t));
    }
    if (!specs || !fs || (max_q && (!fc.f32 || !fc.q || !fc.scale))) {
        st = hark_fail(HARK_ERR_NOMEM, "%s: out of memory", path);
        goto out;
    }
    for (int i = 0, j = 0; i < plan.n; i++) {
        const hark_plan_tensor *t = &plan.t[i];
        int qz = quantized(t, quant, group);
        for (int part = qz; part <= 2 * qz; part++, j++) {
            fs[j].plan = i;
            fs[j].part = part;
            snprintf(fs[j].name, sizeof(fs[j].name), "%s%s", t->hf, part == 2 ? "_scale" : "");
            specs[j].name = fs[j].name;
            specs[j].ndim = t->ndim;
            memcpy(specs[j].shape, t->shape, sizeof(specs[j].shape));
            if (part == 0) {
                specs[j].dtype = info->dtype;
            } else if (part == 1) {
                specs[j].dtype = quant == HARK_QUANT_INT8 ? HARK_DTYPE_I8 : HARK_DTYPE_U8;
                if (quant == HARK_QUANT_INT4)
                    specs[j].shape[1] = t->shape[1] / 2;
            } else {
                specs[j].dtype = HARK_DTYPE_F16;
                specs[j].ndim = quant == HARK_QUANT_INT8 ? 1 : 2;
                specs[j].shape[1] = quant == HARK_QUANT_INT8 ? 0 : t->shape[1] / group;
            }
        }
    }
    const char *arch = info->arch ? info->arch : hark_arch_guess(&info->dims);
    const char *mk[12], *mv[12];
    char group_text[16];
    int nm = 0;
    mk[nm] = "format", mv[nm++] = "pt";
    mk[nm] = "hark.version", mv[nm++] = HARK_FILE_VERSION;
    mk[nm] = "hark.arch", mv[nm++] = arch;
    mk[nm] = "hark.dims", mv[nm++] = dj;
    if (info->random)
        mk[nm] = "hark.random", mv[nm++] = info->random;
    if (info->alignment_heads)
        mk[nm] = "hark.alignment_heads", mv[nm++] = info->alignment_heads;
    if (quant != HARK_QUANT_NONE)
        mk[nm] = "hark.quant", mv[nm++] = quant == HARK_QUANT_INT8 ? "int8" : "int4";
    if (group) {
        snprintf(group_text, sizeof(group_text), "%d", group);
        mk[nm] = "hark.quant.group", mv[nm++] = group_text;
    }
    mk[nm] = "hark.tokenizer.name", mv[nm++] = tok_name;
    mk[nm] = "hark.tokenizer", mv[nm++] = tok;
    fc.plan = &plan;
    fc.specs = fs;
    fc.fill = fill;
    fc.user = user;
    fc.dtype = info->dtype;
    fc.quant = quant;
    fc.group = group;
    fc.scale_of = -1;
    st = hark_st_write_stream(path, specs, n_specs, mk, mv, nm, file_fill, &fc);
out:
    free(fc.f32);
    free(fc.q);
    free(fc.scale);
    free(fs);
    free(specs);
    hark_plan_free(&plan);
    free(dj);
    free(tok);
    return st;
}

/* ------------------------------------------------------------------------ reading ---------- */

static hark_status read_dims(const char *path, const char *text, hark_model_dims *d)
{
    json_error_t err;
    json_t *o = json_loads(text, 0, &err);
    if (!json_is_object(o)) {
        json_decref(o);
        return hark_fail(HARK_ERR_FORMAT, "%s: hark.dims is not a JSON object", path);
    }
    struct { const char *k; int *v; } f[] = {
        { "n_mels", &d->n_mels }, { "n_vocab", &d->n_vocab }, { "n_audio_ctx", &d->n_audio_ctx },
        { "n_audio_state", &d->n_audio_state }, { "n_audio_head", &d->n_audio_head },
        { "n_audio_layer", &d->n_audio_layer }, { "n_text_ctx", &d->n_text_ctx },
        { "n_text_state", &d->n_text_state }, { "n_text_head", &d->n_text_head },
        { "n_text_layer", &d->n_text_layer },
    };
    hark_status st = HARK_OK;
    for (size_t i = 0; i < sizeof(f) / sizeof(f[0]) && st == HARK_OK; i++) {
        json_t *v = json_object_get(o, f[i].k);
        if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 1 << 24)
            st = hark_fail(HARK_ERR_FORMAT, "%s: hark.dims: '%s' missing or not a small integer",
                           path, f[i].k);
        else
            *f[i].v = (int)json_integer_value(v);
    }
    json_decref(o);
    if (st == HARK_OK && (st = hark_dims_check(d)) != HARK_OK)
        hark_fail_prefix(st, "%s", path);
    return st;
}

hark_status hark_file_header(const char *path, const hark_st_file *f, hark_model *m)
{
    const char *ver = hark_st_meta(f, "hark.version");
    if (!ver)
        return hark_fail(HARK_ERR_FORMAT,
                         "%s: a safetensors file but not a hark model (no hark.version "
                         "metadata); convert it with hark convert",
                         path);
    if (strcmp(ver, HARK_FILE_VERSION) != 0)
        return hark_fail(HARK_ERR_UNSUPPORTED, "%s: hark file version '%.16s' (this build reads %s)",
                         path, ver, HARK_FILE_VERSION);
    const char *dims = hark_st_meta(f, "hark.dims");
    if (!dims)
        return hark_fail(HARK_ERR_FORMAT, "%s: no hark.dims metadata", path);
    hark_status st = read_dims(path, dims, &m->dims);
    if (st != HARK_OK)
        return st;
    if ((st = hark_special_tokens_for_vocab(m->dims.n_vocab, &m->special)) != HARK_OK)
        return hark_fail_prefix(st, "%s", path);
    const char *arch = hark_st_meta(f, "hark.arch");
    snprintf(m->arch, sizeof(m->arch), "%s", arch && *arch ? arch : hark_arch_guess(&m->dims));
    m->is_random = hark_st_meta(f, "hark.random") != NULL;
    /* word-timestamp heads: the file's own, else the published ones of its architecture */
    const char *ah = hark_st_meta(f, "hark.alignment_heads");
    const hark_arch *a = hark_arch_find(m->arch);
    if (!ah && a)
        ah = a->alignment_heads;
    if (ah && hark_alignment_heads_parse(ah, &m->dims, m->align_heads, &m->n_align_heads) != HARK_OK)
        return hark_fail_prefix(HARK_ERR_FORMAT, "%s: hark.alignment_heads", path);
    if (!ah)
        hark_alignment_heads_default(&m->dims, m->align_heads, &m->n_align_heads);
    return HARK_OK;
}

static int same_shape(int na, const int64_t *a, int nb, const int64_t *b)
{
    int same = na == nb;
    for (int k = 0; same && k < na; k++)
        same = a[k] == b[k];
    return same;
}

static hark_status bad_shape(const char *ctx, const char *name, int na, const int64_t *a, int nb,
                             const int64_t *b)
{
    char got[96], want[96];
    shape_text(got, sizeof(got), na, a);
    shape_text(want, sizeof(want), nb, b);
    return hark_fail(HARK_ERR_FORMAT, "%s: tensor '%s' has shape %s, expected %s", ctx, name, got,
                     want);
}

hark_status hark_quant_view(const char *ctx, const hark_st_file *f, const hark_plan_tensor *t,
                            const hark_st_entry *e, hark_tensor *out)
{
    const int q8 = e->t.dtype == HARK_DTYPE_I8;
    if (t->role != HARK_ROLE_MATRIX || t->ndim != 2)
        return hark_fail(HARK_ERR_FORMAT, "%s: tensor '%s' is quantized (%s), but only linear "
                         "weights may be", ctx, t->hf, hark_dtype_name(e->t.dtype));
    const int64_t n = t->shape[0], k = t->shape[1];
    const int64_t want[2] = { n, q8 ? k : k / 2 };
    if (!q8 && k % 2)
        return hark_fail(HARK_ERR_FORMAT, "%s: tensor '%s': int4 needs an even width, not %lld",
                         ctx, t->hf, (long long)k);
    if (!same_shape(e->t.ndim, e->t.shape, 2, want))
        return bad_shape(ctx, t->hf, e->t.ndim, e->t.shape, 2, want);
    char sn[96];
    snprintf(sn, sizeof(sn), "%s_scale", t->hf);
    const hark_st_entry *se = hark_st_find(f, sn);
    if (!se)
        return hark_fail(HARK_ERR_FORMAT, "%s: quantized tensor '%s' has no '%s'", ctx, t->hf, sn);
    if (se->t.dtype != HARK_DTYPE_F16 || (uintptr_t)se->t.data % 2)
        return hark_fail(HARK_ERR_FORMAT, "%s: tensor '%s' must be F16 (it is %s)", ctx, sn,
                         hark_st_entry_dtype_name(se));
    int64_t groups = !q8 && se->t.ndim == 2 && se->t.shape[1] > 0 ? se->t.shape[1] : 1;
    int64_t group = k / groups;
    const int64_t swant[2] = { n, groups };
    if (q8 ? !same_shape(se->t.ndim, se->t.shape, 1, swant)
           : (group * groups != k || group % 32 != 0 ||
              !same_shape(se->t.ndim, se->t.shape, 2, swant)))
        return hark_fail(HARK_ERR_FORMAT, "%s: tensor '%s' has a shape that fits no %s layout "
                         "of a [%lld, %lld] weight (docs/quant.md)", ctx, sn, q8 ? "int8" : "int4",
                         (long long)n, (long long)k);
    *out = (hark_tensor){ .dtype = e->t.dtype, .ndim = 2, .shape = { n, k }, .data = e->t.data,
                          .qbits = q8 ? 8 : 4, .group = (int)(q8 ? k : group),
                          .scale = se->t.data };
    return HARK_OK;
}

hark_status hark_fill_dequantized(const char *ctx, const hark_st_file *f, const hark_plan_tensor *t,
                                  const hark_st_entry *e, hark_dtype dtype, void *dst)
{
    hark_tensor v;
    hark_status st = hark_quant_view(ctx, f, t, e, &v);
    if (st != HARK_OK)
        return st;
    const int64_t k = t->shape[1];
    float *row = malloc((size_t)k * sizeof(float));
    if (!row)
        return hark_fail(HARK_ERR_NOMEM, "%s: out of memory", ctx);
    const size_t es = hark_dtype_size(dtype);
    for (int64_t r = 0; r < t->shape[0]; r++) {
        hark_dequantize_rows(&v, r, 1, row);
        hark_convert_values(row, HARK_DTYPE_F32, (uint8_t *)dst + (size_t)(r * k) * es, dtype,
                            (size_t)k);
    }
    free(row);
    return HARK_OK;
}

static hark_status read_tensors(const char *path, const hark_st_file *f, hark_model *m)
{
    hark_plan plan;
    hark_status st = hark_plan_build(&m->dims, &m->w, &plan);
    for (int i = 0; i < plan.n && st == HARK_OK; i++) {
        const hark_plan_tensor *t = &plan.t[i];
        const hark_st_entry *e = hark_st_find(f, t->hf);
        if (!e) {
            st = hark_fail(HARK_ERR_FORMAT, "%s: tensor '%s' is missing", path, t->hf);
            break;
        }
        if (e->t.dtype == HARK_DTYPE_I8 || e->t.dtype == HARK_DTYPE_U8) {
            if ((st = hark_quant_view(path, f, t, e, t->slot)) != HARK_OK)
                break;
            m->quant_bits = t->slot->qbits;
            m->quant_group = t->slot->qbits == 4 ? t->slot->group : 0;
            continue;
        }
        size_t es = hark_dtype_size(e->t.dtype);
        if (!es) {
            st = hark_fail(HARK_ERR_UNSUPPORTED, "%s: tensor '%s' has dtype %s (F32, F16 or BF16 "
                           "needed)", path, t->hf, hark_st_entry_dtype_name(e));
            break;
        }
        if ((uintptr_t)e->t.data % es) {
            st = hark_fail(HARK_ERR_FORMAT, "%s: tensor '%s' is not aligned to its %zu-byte "
                           "elements", path, t->hf, es);
            break;
        }
        if (!same_shape(e->t.ndim, e->t.shape, t->ndim, t->shape)) {
            st = bad_shape(path, t->hf, e->t.ndim, e->t.shape, t->ndim, t->shape);
            break;
        }
        *t->slot = e->t;
    }
    hark_plan_free(&plan);
    return st;
}

hark_status hark_model_read(const char *path, hark_model *m)
{
    hark_st_file f;
    hark_status st = hark_st_open(path, &f);
    if (st != HARK_OK)
        return st;
    if ((st = hark_file_header(path, &f, m)) != HARK_OK || (st = read_tensors(path, &f, m)) != HARK_OK)
        goto fail;
    const char *tok = hark_st_meta(&f, "hark.tokenizer");
    if (!tok) {
        st = hark_fail(HARK_ERR_FORMAT, "%s: no hark.tokenizer metadata", path);
        goto fail;
    }
    if ((st = hark_tokenizer_new(tok, strlen(tok), m->dims.n_vocab, &m->tok)) != HARK_OK) {
        hark_fail_prefix(st, "%s: hark.tokenizer", path);
        m->tok = NULL;
        goto fail;
    }
    m->map = f.map;
    memset(&f.map, 0, sizeof(f.map)); /* the model owns the mapping now */
    hark_st_close(&f);
    return HARK_OK;
fail:
    hark_st_close(&f);
    hark_model_release(m);
    return st;
}

void hark_model_release(hark_model *m)
{
    if (m->tok)
        hark_tokenizer_free(m->tok);
    m->tok = NULL;
    hark_unmap_file(&m->map);
    memset(&m->dims, 0, sizeof(m->dims));
    memset(&m->special, 0, sizeof(m->special));
    memset(&m->w, 0, sizeof(m->w));
    m->arch[0] = 0;
    m->is_random = 0;
    m->quant_bits = m->quant_group = 0;
}
