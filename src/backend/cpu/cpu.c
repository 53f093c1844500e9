/*
 * cpu.c — the CPU backend's ops table (hark_backend_cpu): weight upload, contexts (window and
 * sequence slots plus all scratch, allocated once), encoder output and K/V copies. The stages
 * themselves are in encoder.c and decoder.c; the products in matmul.c; row ops in ops.c.
 *
 * Weights stay where the model file maps them (F16, F32, or int8 / int4 quantized). Upload
 * converts only what is small (biases, layer norms, positional tables, quantization scales) to
 * fp32, and BF16 matrices (rare) to fp32.
 */
#include "backend/cpu/cpu.h"

#include <cblas.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

/* Shape legend: see cpu.h. */

/* A bump allocator run twice: once to size (base NULL), once to fill. */
typedef struct builder {
    char *base;
    size_t used;
    const char *what; /* tensor being checked, for messages */
} builder;

static void *take(builder *b, size_t bytes)
{
    void *p = b->base ? b->base + b->used : NULL;
    b->used += (bytes + 63) & ~(size_t)63;
    return p;
}

static int shape_is(const hark_tensor *t, int ndim, int64_t s0, int64_t s1, int64_t s2)
{
    int64_t want[3] = {s0, s1, s2};
    if (t->ndim != ndim || !t->data)
        return 0;
    for (int i = 0; i < ndim; i++)
        if (t->shape[i] != want[i])
            return 0;
    return t->dtype == HARK_DTYPE_F32 || t->dtype == HARK_DTYPE_F16 ||
           t->dtype == HARK_DTYPE_BF16;
}

static void widen(const hark_tensor *t, size_t n, float *out)
{
    if (t->dtype == HARK_DTYPE_F32)
        memcpy(out, t->data, n * sizeof(float));
    else if (t->dtype == HARK_DTYPE_F16)
        hark_f16_to_f32_row(t->data, out, n);
    else
        hark_bf16_to_f32_row(t->data, out, n);
}

/* An fp32 copy of a vector or small table of `rows` x `cols` elements. */
static hark_status vec(builder *b, const hark_tensor *t, int rows, int cols, const float **out)
{
    int ok = rows == 1 ? shape_is(t, 1, cols, 0, 0) : shape_is(t, 2, rows, cols, 0);
    if (!ok)
        return hark_fail(HARK_ERR_FORMAT, "cpu backend: tensor %s: expected shape [%d, %d]",
                         b->what, rows, cols);
    float *p = take(b, (size_t)rows * cols * sizeof(float));
    if (p)
        widen(t, (size_t)rows * cols, p);
    *out = p;
    return HARK_OK;
}

/* A quantized linear weight [n, k]: the packed values in place, the scales widened to fp32. */
static hark_status qmat(builder *b, const hark_tensor *t, int n, int k, cpu_mat *out)
{
    if (t->ndim != 2 || t->shape[0] != n || t->shape[1] != k || !t->data || !t->scale ||
        (t->qbits != 8 && t->qbits != 4) || t->group <= 0 || k % t->group ||
        (t->qbits == 4 && t->group % 32))
        return hark_fail(HARK_ERR_FORMAT, "cpu backend: quantized tensor %s: expected [%d, %d]",
                         b->what, n, k);
    size_t ns = (size_t)n * (size_t)(k / t->group);
    float *s = take(b, ns * sizeof(float));
    if (s)
        hark_f16_to_f32_row(t->scale, s, ns);
    *out = (cpu_mat){ .data = t->data, .dtype = t->dtype, .n = n, .k = k, .qbits = t->qbits,
                      .group = t->group, .scale = s };
    return HARK_OK;
}

/* A matrix [n, k] (or a conv kernel [n, k/3, 3]) kept in place unless it is BF16. */
static hark_status mat(builder *b, const hark_tensor *t, int n, int k, int conv, cpu_mat *out)
{
    if (t->qbits && !conv)
        return qmat(b, t, n, k, out);
    int ok = conv ? shape_is(t, 3, n, k / 3, 3) : shape_is(t, 2, n, k, 0);
    if (!ok)
        return hark_fail(HARK_ERR_FORMAT, "cpu backend: tensor %s: expected shape [%d, %d]%s",
                         b->what, n, conv ? k / 3 : k, conv ? " x 3" : "");
    out->n = n;
    out->k = k;
    out->dtype = t->dtype == HARK_DTYPE_F16 ? HARK_DTYPE_F16 : HARK_DTYPE_F32;
    out->data = t->data;
    if (t->dtype == HARK_DTYPE_BF16) {
        float *p = take(b, (size_t)n * k * sizeof(float));
        if (p)
            widen(t, (size_t)n * k, p);
        out->data = p;
    }
    return HARK_OK;
}

#define TRY(what_, expr)                 \
    do {                                 \
        b->what = (what_);               \
        hark_status st_ = (expr);        \
        if (st_ != HARK_OK)              \
            return st_;                  \
    } while (0)

static hark_status build_attn(builder *b, const hark_attn_weights *a, int d, cpu_attn *o)
{
    TRY("attn.q", mat(b, &a->q_w, d, d, 0, &o->q));
    TRY("attn.q bias", vec(b, &a->q_b, 1, d, &o->q_b));
    TRY("attn.k", mat(b, &a->k_w, d, d, 0, &o->k));
    TRY("attn.v", mat(b, &a->v_w, d, d, 0, &o->v));
    TRY("attn.v bias", vec(b, &a->v_b, 1, d, &o->v_b));
    TRY("attn.out", mat(b, &a->o_w, d, d, 0, &o->o));
    TRY("attn.out bias", vec(b, &a->o_b, 1, d, &o->o_b));
    return HARK_OK;
}

static hark_status build_enc_layer(builder *b, const hark_enc_layer *l, cpu_weights *w,
                                   cpu_enc_layer *o)
{
    const int d = w->d, f = w->f;
    TRY("encoder attn_ln.w", vec(b, &l->attn_ln_w, 1, d, &o->attn_ln_w));
    TRY("encoder attn_ln.b", vec(b, &l->attn_ln_b, 1, d, &o->attn_ln_b));
    hark_status st = build_attn(b, &l->attn, d, &o->attn);
    if (st != HARK_OK)
        return hark_fail_prefix(st, "encoder self_attn");
    TRY("encoder mlp_ln.w", vec(b, &l->mlp_ln_w, 1, d, &o->mlp_ln_w));
    TRY("encoder mlp_ln.b", vec(b, &l->mlp_ln_b, 1, d, &o->mlp_ln_b));
    TRY("encoder fc1", mat(b, &l->fc1_w, f, d, 0, &o->fc1));
    TRY("encoder fc1 bias", vec(b, &l->fc1_b, 1, f, &o->fc1_b));
    TRY("encoder fc2", mat(b, &l->fc2_w, d, f, 0, &o->fc2));
    TRY("encoder fc2 bias", vec(b, &l->fc2_b, 1, d, &o->fc2_b));
    return HARK_OK;
}

static hark_status build_dec_layer(builder *b, const hark_dec_layer *l, cpu_weights *w,
                                   cpu_dec_layer *o)
{
    const int d = w->d, f = w->f;
    TRY("decoder attn_ln.w", vec(b, &l->attn_ln_w, 1, d, &o->attn_ln_w));
    TRY("decoder attn_ln.b", vec(b, &l->attn_ln_b, 1, d, &o->attn_ln_b));
    hark_status st = build_attn(b, &l->attn, d, &o->attn);
    if (st != HARK_OK)
        return hark_fail_prefix(st, "decoder self_attn");
    TRY("decoder cross_ln.w", vec(b, &l->cross_ln_w, 1, d, &o->cross_ln_w));
    TRY("decoder cross_ln.b", vec(b, &l->cross_ln_b, 1, d, &o->cross_ln_b));
    st = build_attn(b, &l->cross, d, &o->cross);
    if (st != HARK_OK)
        return hark_fail_prefix(st, "decoder encoder_attn");
    TRY("decoder mlp_ln.w", vec(b, &l->mlp_ln_w, 1, d, &o->mlp_ln_w));
    TRY("decoder mlp_ln.b", vec(b, &l->mlp_ln_b, 1, d, &o->mlp_ln_b));
    TRY("decoder fc1", mat(b, &l->fc1_w, f, d, 0, &o->fc1));
    TRY("decoder fc1 bias", vec(b, &l->fc1_b, 1, f, &o->fc1_b));
    TRY("decoder fc2", mat(b, &l->fc2_w, d, f, 0, &o->fc2));
    TRY("decoder fc2 bias", vec(b, &l->fc2_b, 1, d, &o->fc2_b));
    return HARK_OK;
}

/* Fills w (sizing only when b->base is NULL). */
static hark_status build_weights(builder *b, const hark_model *m, cpu_weights *w)
{
    const hark_weights *mw = &m->w;
    const int d = w->d, c = w->n_ctx_audio;
    w->enc = take(b, (size_t)w->n_audio_layer * sizeof(cpu_enc_layer));
    w->dec = take(b, (size_t)w->n_text_layer * sizeof(cpu_dec_layer));
    cpu_enc_layer enc_dummy;
    cpu_dec_layer dec_dummy;
    TRY("conv1", mat(b, &mw->conv1_w, d, w->n_mels * 3, 1, &w->conv1));
    TRY("conv1 bias", vec(b, &mw->conv1_b, 1, d, &w->conv1_b));
    TRY("conv2", mat(b, &mw->conv2_w, d, d * 3, 1, &w->conv2));
    TRY("conv2 bias", vec(b, &mw->conv2_b, 1, d, &w->conv2_b));
    TRY("encoder positions", vec(b, &mw->enc_pos, c, d, &w->enc_pos));
    for (int i = 0; i < w->n_audio_layer; i++) {
        hark_status st = build_enc_layer(b, &mw->enc[i], w, w->enc ? &w->enc[i] : &enc_dummy);
        if (st != HARK_OK)
            return hark_fail_prefix(st, "layer %d", i);
    }
    TRY("encoder layer_norm.w", vec(b, &mw->enc_ln_w, 1, d, &w->enc_ln_w));
    TRY("encoder layer_norm.b", vec(b, &mw->enc_ln_b, 1, d, &w->enc_ln_b));
    TRY("token embedding", mat(b, &mw->tok_emb, w->n_vocab, d, 0, &w->tok_emb));
    TRY("decoder positions", vec(b, &mw->dec_pos, w->n_ctx_text, d, &w->dec_pos));
    for (int i = 0; i < w->n_text_layer; i++) {
        hark_status st = build_dec_layer(b, &mw->dec[i], w, w->dec ? &w->dec[i] : &dec_dummy);
        if (st != HARK_OK)
            return hark_fail_prefix(st, "layer %d", i);
    }
    TRY("decoder layer_norm.w", vec(b, &mw->dec_ln_w, 1, d, &w->dec_ln_w));
    TRY("decoder layer_norm.b", vec(b, &mw->dec_ln_b, 1, d, &w->dec_ln_b));
    return HARK_OK;
}

static hark_status check_dims(const hark_model_dims *d)
{
    if (d->n_audio_state != d->n_text_state || d->n_audio_state <= 0 || d->n_mels <= 0 ||
        d->n_audio_head <= 0 || d->n_text_head <= 0 || d->n_audio_state % d->n_audio_head ||
        d->n_text_state % d->n_text_head || d->n_audio_layer <= 0 || d->n_text_layer <= 0 ||
        d->n_audio_layer > HARK_MAX_LAYERS || d->n_text_layer > HARK_MAX_LAYERS ||
        d->n_audio_ctx <= 0 || d->n_text_ctx <= 0 || d->n_vocab <= 0)
        return hark_fail(HARK_ERR_UNSUPPORTED, "cpu backend: unsupported dimensions (audio "
                         "width %d, text width %d, heads %d/%d, layers %d/%d)",
                         d->n_audio_state, d->n_text_state, d->n_audio_head, d->n_text_head,
                         d->n_audio_layer, d->n_text_layer);
    return HARK_OK;
}

static void weights_free(void *bw)
{
    cpu_weights *w = bw;
    if (!w)
        return;
    free(w->arena);
    free(w);
}

static void note_matrix(cpu_weights *w, const cpu_mat *m)
{
    if (m->dtype != HARK_DTYPE_F32)
        w->any_f16 = 1;
    size_t nk = (size_t)m->n * m->k;
    if (nk > w->max_nk)
        w->max_nk = nk;
}

/* Records which matrices need the widening panel and how large it must be. */
static void note_matrices(cpu_weights *w)
{
    note_matrix(w, &w->conv1);
    note_matrix(w, &w->conv2);
    for (int i = 0; i < w->n_audio_layer; i++) {
        const cpu_enc_layer *l = &w->enc[i];
        const cpu_mat *ms[] = {&l->attn.q, &l->attn.k, &l->attn.v, &l->attn.o, &l->fc1, &l->fc2};
        for (size_t j = 0; j < sizeof ms / sizeof ms[0]; j++)
            note_matrix(w, ms[j]);
    }
    for (int i = 0; i < w->n_text_layer; i++) {
        const cpu_dec_layer *l = &w->dec[i];
        const cpu_mat *ms[] = {&l->attn.q, &l->attn.k, &l->attn.v, &l->attn.o, &l->cross.q,
                               &l->cross.k, &l->cross.v, &l->cross.o, &l->fc1, &l->fc2};
        for (size_t j = 0; j < sizeof ms / sizeof ms[0]; j++)
            note_matrix(w, ms[j]);
    }
    /* the vocabulary matrix goes through the panel in row blocks: needs at least one row */
    if (w->tok_emb.dtype == HARK_DTYPE_F16)
        w->any_f16 = 1;
    if (w->max_nk < (size_t)w->tok_emb.k)
        w->max_nk = (size_t)w->tok_emb.k;
}

/* See backend.h (weights_upload). Fails with HARK_ERR_FORMAT naming a tensor whose shape or
 * dtype does not match the dims, HARK_ERR_UNSUPPORTED for dims it cannot run, HARK_ERR_NOMEM. */
static hark_status weights_upload(const hark_model *model, void **bw)
{
    if (!model || !bw)
        return hark_fail(HARK_ERR_INVALID_ARG, "cpu backend: weights_upload without a model");
    *bw = NULL;
    const hark_model_dims *d = &model->dims;
    hark_status st = check_dims(d);
    if (st != HARK_OK)
        return st;
    cpu_weights *w = calloc(1, sizeof *w);
    if (!w)
        return hark_fail(HARK_ERR_NOMEM, "cpu backend: out of memory");
    w->n_mels = d->n_mels;
    w->d = d->n_audio_state;
    w->f = 4 * d->n_audio_state;
    w->n_audio_head = d->n_audio_head;
    w->n_text_head = d->n_text_head;
    w->n_audio_layer = d->n_audio_layer;
    w->n_text_layer = d->n_text_layer;
    w->n_ctx_audio = d->n_audio_ctx;
    w->n_ctx_text = d->n_text_ctx;
    w->n_vocab = d->n_vocab;

    builder b = {0};
    st = build_weights(&b, model, w);
    if (st != HARK_OK)
        goto out_free_w;
    w->arena = calloc(1, b.used + 64);
    if (!w->arena) {
        st = hark_fail(HARK_ERR_NOMEM, "cpu backend: out of memory for %zu bytes", b.used);
        goto out_free_w;
    }
    b = (builder){.base = (char *)(((uintptr_t)w->arena + 63) & ~(uintptr_t)63)};
    st = build_weights(&b, model, w);
    if (st != HARK_OK)
        goto out_free_w;
    note_matrices(w);
    *bw = w;
    return HARK_OK;

out_free_w:
    weights_free(w);
    return st;
}

static void ctx_free(void *ctx)
{
    cpu_ctx *c = ctx;
    if (!c)
        return;
    free(c->arena);
    free(c);
}

static size_t max3(size_t a, size_t b, size_t c)
{
    size_t m = a > b ? a : b;
    return m > c ? m : c;
}

/* Carves every buffer of c out of one allocation (sizing only when b->base is NULL). */
static void layout_ctx(builder *b, cpu_ctx *c)
{
    const cpu_weights *w = c->w;
    const size_t C = (size_t)w->n_ctx_audio, L = 2 * C, D = (size_t)w->d, F = (size_t)w->f;
    const size_t T = (size_t)w->n_ctx_text, NL = (size_t)w->n_text_layer;
    const size_t R = (size_t)c->max_rows, MW = (size_t)c->max_windows, MS = (size_t)c->max_seqs;
    const size_t NT = (size_t)c->n_threads, fl = sizeof(float);
    c->enc_out = take(b, MW * C * D * fl);
    c->cross_k = take(b, MW * NL * C * D * sizeof(uint16_t));
    c->cross_v = take(b, MW * NL * C * D * sizeof(uint16_t));
    c->self_k = take(b, MS * NL * T * D * fl);
    c->self_v = take(b, MS * NL * T * D * fl);
    c->im2col = take(b, (L * w->n_mels * 3 > C * D * 3 ? L * w->n_mels * 3 : C * D * 3) * fl);
    c->ex = take(b, C * D * fl);
    c->eh = take(b, C * D * fl);
    c->eq = take(b, C * D * fl);
    c->ek = take(b, C * D * fl);
    c->ev = take(b, C * D * fl);
    c->ea = take(b, L * D * fl);
    c->ef = take(b, C * F * fl);
    c->scores = take(b, NT * C * C * fl);
    c->dx = take(b, R * D * fl);
    c->dh = take(b, R * D * fl);
    c->dq = take(b, R * D * fl);
    c->dk = take(b, R * D * fl);
    c->dv = take(b, R * D * fl);
    c->da = take(b, R * D * fl);
    c->df = take(b, R * F * fl);
    c->dprob = take(b, NT * (T > C ? T : C) * fl);
    c->panel = take(b, w->any_f16 ? w->max_nk * fl : 0);
    c->zero_row = take(b, max3(F, D * 3, (size_t)w->n_mels * 3) * fl);
}

/* See backend.h (ctx_new). n_threads 0 means all cores; it also sets OpenBLAS's thread count,
 * which is process-wide. Every buffer the stages use is allocated here, once. */
static hark_status ctx_new(const hark_model *model, const void *bw, const hark_state_params *p,
                           int n_threads, void **ctx)
{
    int max_windows = p ? p->max_windows : 0, max_seqs = p ? p->max_sequences : 0;
    if (!model || !bw || !ctx || max_windows < 1 || max_seqs < 1 || n_threads < 0)
        return hark_fail(HARK_ERR_INVALID_ARG, "cpu backend: ctx_new(%d windows, %d sequences, "
                         "%d threads): bad arguments", max_windows, max_seqs, n_threads);
    *ctx = NULL;
    cpu_ctx *c = calloc(1, sizeof *c);
    if (!c)
        return hark_fail(HARK_ERR_NOMEM, "cpu backend: out of memory");
    c->w = bw;
    c->max_windows = max_windows;
    c->max_seqs = max_seqs;
    c->max_rows = CPU_ROWS_PER_SEQ * max_seqs + c->w->n_ctx_text;
    c->n_threads = n_threads > 0 ? n_threads : omp_get_num_procs();
    builder b = {0};
    layout_ctx(&b, c);
    c->arena = calloc(1, b.used + 64);
    if (!c->arena) {
        hark_status st = hark_fail(HARK_ERR_NOMEM, "cpu backend: out of memory for a state of "
                                   "%zu MiB", b.used >> 20);
        ctx_free(c);
        return st;
    }
    b = (builder){.base = (char *)(((uintptr_t)c->arena + 63) & ~(uintptr_t)63)};
    layout_ctx(&b, c);
    openblas_set_num_threads(c->n_threads);
    *ctx = c;
    return HARK_OK;
}

/* See backend.h (encoder_output). */
static hark_status encoder_output(void *ctx, int slot, float *out)
{
    cpu_ctx *c = ctx;
    if (!c || !out || slot < 0 || slot >= c->max_windows)
        return hark_fail(HARK_ERR_INVALID_ARG, "cpu backend: encoder_output: window slot %d of "
                         "%d", slot, c ? c->max_windows : 0);
    size_t cd = (size_t)c->w->n_ctx_audio * c->w->d;
    memcpy(out, c->enc_out + (size_t)slot * cd, cd * sizeof(float));
    return HARK_OK;
}

/* See backend.h (kv_copy). */
static hark_status kv_copy(void *ctx, int src, int dst, int n_pos)
{
    cpu_ctx *c = ctx;
    if (!c || src < 0 || src >= c->max_seqs || dst < 0 || dst >= c->max_seqs || n_pos < 0 ||
        n_pos > c->w->n_ctx_text)
        return hark_fail(HARK_ERR_INVALID_ARG, "cpu backend: kv_copy(%d -> %d, %d positions) of "
                         "%d slots", src, dst, n_pos, c ? c->max_seqs : 0);
    if (src == dst)
        return HARK_OK;
    size_t bytes = (size_t)n_pos * c->w->d * sizeof(float);
    for (int l = 0; l < c->w->n_text_layer; l++) {
        memcpy(cpu_self_k(c, dst, l), cpu_self_k(c, src, l), bytes);
        memcpy(cpu_self_v(c, dst, l), cpu_self_v(c, src, l), bytes);
    }
    return HARK_OK;
}

const hark_backend hark_backend_cpu = {
    .name = "cpu",
    .weights_upload = weights_upload,
    .weights_free = weights_free,
    .ctx_new = ctx_new,
    .ctx_free = ctx_free,
    .encode = cpu_encode,
    .encoder_output = encoder_output,
    .decode = cpu_decode,
    .decode_cross_qk = cpu_decode_cross_qk,
    .kv_copy = kv_copy,
};
