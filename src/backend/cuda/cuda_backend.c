/*
 * cuda_backend.c — the CUDA backend's ops table: weights uploaded once to one device (cuda:N)
 * in the model's dtype (or the one asked for), contexts sized once (window slots, a paged
 * self-attention cache from a fraction of free memory, scratch), and the small ops.
 * The stages live in cuda_encode.c and cuda_decode.c; kernels in *.cu (kernels.h).
 */
#include "backend/cuda/cuda.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

hark_status cu_check(cudaError_t e, const char *what)
{
    if (e == cudaSuccess)
        return HARK_OK;
    return hark_fail(e == cudaErrorMemoryAllocation ? HARK_ERR_NOMEM : HARK_ERR_BACKEND,
                     "cuda: %s: %s", what, cudaGetErrorString(e));
}

int hark_cuda_device_count(void)
{
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
        cudaGetLastError();
        return 0;
    }
    return n;
}

int hark_cuda_device_index(const char *device)
{
    if (!device || strncmp(device, "cuda", 4) != 0)
        return -1;
    if (device[4] == '\0')
        return 0;
    if (device[4] != ':' || !device[5])
        return -1;
    char *end;
    long v = strtol(device + 5, &end, 10);
    return *end || v < 0 || v > 1024 ? -1 : (int)v;
}

/* ---------------------------------------------------------------- weights ------------------- */

static hark_status track(void ***list, int *n, int *cap, void *p)
{
    if (*n == *cap) {
        int nc = *cap ? 2 * *cap : 64;
        void **l = realloc(*list, (size_t)nc * sizeof(void *));
        if (!l)
            return hark_fail(HARK_ERR_NOMEM, "cuda: out of host memory");
        *list = l;
        *cap = nc;
    }
    (*list)[(*n)++] = p;
    return HARK_OK;
}

static hark_status w_alloc(cu_weights *w, size_t bytes, void **out)
{
    *out = NULL;
    CU_K(cudaMalloc(out, bytes ? bytes : 16));
    w->bytes += bytes;
    return track(&w->allocs, &w->n_allocs, &w->cap_allocs, *out);
}

/* Copies tensor t (any file dtype) into dst on the device as w->dt. */
static hark_status put(cu_weights *w, const hark_tensor *t, void *dst)
{
    size_t n = (size_t)hark_tensor_numel(t);
    size_t src_bytes = n * hark_dtype_size(t->dtype);
    if (t->dtype == w->dt) {
        CU_K(cudaMemcpy(dst, t->data, src_bytes, cudaMemcpyHostToDevice));
        return HARK_OK;
    }
    void *raw = NULL;
    float *f32 = NULL;
    hark_status st = cu_check(cudaMalloc(&raw, src_bytes), "cudaMalloc (upload)");
    if (st == HARK_OK)
        st = cu_check(cudaMemcpy(raw, t->data, src_bytes, cudaMemcpyHostToDevice), "upload");
    if (st == HARK_OK && t->dtype == HARK_DTYPE_F32) {
        st = cu_check((cudaError_t)cu_from_f32(w->dt, raw, dst, (long)n, NULL), "convert");
    } else if (st == HARK_OK && w->dt == HARK_DTYPE_F32) {
        st = cu_check((cudaError_t)cu_to_f32(t->dtype, raw, dst, (long)n, NULL), "convert");
    } else if (st == HARK_OK) {
        st = cu_check(cudaMalloc((void **)&f32, n * sizeof(float)), "cudaMalloc (upload)");
        if (st == HARK_OK)
            st = cu_check((cudaError_t)cu_to_f32(t->dtype, raw, f32, (long)n, NULL), "convert");
        if (st == HARK_OK)
            st = cu_check((cudaError_t)cu_from_f32(w->dt, f32, dst, (long)n, NULL), "convert");
    }
    if (st == HARK_OK)
        st = cu_check(cudaDeviceSynchronize(), "upload");
    cudaFree(raw);
    cudaFree(f32);
    return st;
}

static hark_status up(cu_weights *w, const hark_tensor *t, void **out)
{
    CU_TRY(w_alloc(w, (size_t)hark_tensor_numel(t) * w->esz, out));
    return put(w, t, *out);
}

/* Bytes of a quantized matrix's values and of its scales. */
static size_t q_bytes(const hark_tensor *t)
{
    return (size_t)(t->shape[0] * t->shape[1] * t->qbits / 8);
}
static size_t q_scale_bytes(const hark_tensor *t)
{
    return (size_t)(t->shape[0] * (t->shape[1] / t->group)) * sizeof(uint16_t);
}

static void note_q(cu_weights *w, const cu_lin *l)
{
    if (l->qbits && (size_t)l->n * l->k > w->max_q)
        w->max_q = (size_t)l->n * l->k;
}

static hark_status up_lin(cu_weights *w, const hark_tensor *wt, const hark_tensor *b, cu_lin *out)
{
    out->n = (int)wt->shape[0];
    out->k = (int)(hark_tensor_numel(wt) / wt->shape[0]);
    if (wt->qbits) { /* packed values and fp16 scales as stored */
        void *s;
        CU_TRY(w_alloc(w, q_bytes(wt), &out->w));
        CU_TRY(w_alloc(w, q_scale_bytes(wt), &s));
        CU_K(cudaMemcpy(out->w, wt->data, q_bytes(wt), cudaMemcpyHostToDevice));
        CU_K(cudaMemcpy(s, wt->scale, q_scale_bytes(wt), cudaMemcpyHostToDevice));
        out->qbits = wt->qbits;
        out->group = wt->group;
        out->scale = s;
        note_q(w, out);
    } else {
        CU_TRY(up(w, wt, &out->w));
    }
    void *bd = NULL;
    if (b && b->data)
        CU_TRY(up(w, b, &bd));
    out->b = bd;
    return HARK_OK;
}

/* q, k, v weights [D][D] stacked into [3D][D] (quantized: their values and scales stacked);
 * biases [3D] with zeros for k. */
static hark_status up_qkv(cu_weights *w, const hark_attn_weights *a, cu_lin *out)
{
    const hark_tensor *qkv[3] = { &a->q_w, &a->k_w, &a->v_w };
    const int qb = a->q_w.qbits;
    for (int i = 1; i < 3; i++)
        if (qkv[i]->qbits != qb || qkv[i]->group != a->q_w.group)
            return hark_fail(HARK_ERR_UNSUPPORTED, "cuda: the q, k and v weights of a layer are "
                             "quantized differently");
    const size_t Db = (size_t)w->D * w->esz;
    const size_t DD = qb ? q_bytes(&a->q_w) : (size_t)w->D * w->D * w->esz;
    const size_t SS = qb ? q_scale_bytes(&a->q_w) : 0;
    void *m, *b, *s = NULL;
    CU_TRY(w_alloc(w, 3 * DD, &m));
    CU_TRY(w_alloc(w, 3 * Db, &b));
    if (qb)
        CU_TRY(w_alloc(w, 3 * SS, &s));
    for (int i = 0; i < 3; i++) {
        if (qb) {
            CU_K(cudaMemcpy((char *)m + i * DD, qkv[i]->data, DD, cudaMemcpyHostToDevice));
            CU_K(cudaMemcpy((char *)s + i * SS, qkv[i]->scale, SS, cudaMemcpyHostToDevice));
        } else {
            CU_TRY(put(w, qkv[i], (char *)m + i * DD));
        }
    }
    CU_TRY(put(w, &a->q_b, b));
    CU_K(cudaMemset((char *)b + Db, 0, Db));
    CU_TRY(put(w, &a->v_b, (char *)b + 2 * Db));
    *out = (cu_lin){ .w = m, .b = b, .n = 3 * w->D, .k = w->D, .qbits = qb,
                     .group = a->q_w.group, .scale = s };
    note_q(w, out);
    return HARK_OK;
}

/* Frees one of w's allocations before the weights go (a matrix replaced by its FP8 copy). */
static void w_release(cu_weights *w, void *p, size_t bytes)
{
    for (int i = 0; i < w->n_allocs; i++)
        if (w->allocs[i] == p) {
            cudaFree(p);
            w->allocs[i] = w->allocs[--w->n_allocs];
            w->bytes -= bytes;
            return;
        }
}

/* Replaces matrix l by its FP8 copy (w8, s8; fp8.cu): a quantized matrix is dequantized first.
 * The fp16 (or packed) values are freed: only the FP8 product uses l from now on. */
static hark_status lin_to_f8(cu_weights *w, cu_lin *l)
{
    const size_t nk = (size_t)l->n * (size_t)l->k;
    const void *src = l->w;
    void *tmp = NULL;
    hark_status st = HARK_OK;
    if (l->qbits) {
        st = cu_check(cudaMalloc(&tmp, nk * w->esz), "cudaMalloc (fp8)");
        if (st == HARK_OK)
            st = cu_check((cudaError_t)cu_dequant(w->dt, l->qbits, l->group, l->w, l->scale,
                                                  l->n, l->k, tmp, NULL), "cu_dequant");
        src = tmp;
    }
    if (st == HARK_OK)
        st = w_alloc(w, nk, &l->w8);
    if (st == HARK_OK)
        st = w_alloc(w, (size_t)l->n * sizeof(float), (void **)&l->s8);
    if (st == HARK_OK)
        st = cu_check((cudaError_t)cu_rows_to_f8(w->dt, CU_F8_PLAIN, src, l->k, NULL, NULL, l->n,
                                                 l->k, l->w8, l->s8, NULL), "cu_rows_to_f8");
    if (st == HARK_OK)
        st = cu_check(cudaDeviceSynchronize(), "fp8 weights");
    cudaFree(tmp);
    if (st != HARK_OK)
        return st;
    if (l->qbits) {
        w_release(w, l->w, nk * (size_t)l->qbits / 8);
        w_release(w, (void *)l->scale, (size_t)l->n * (size_t)(l->k / l->group) * 2);
    } else {
        w_release(w, l->w, nk * w->esz);
    }
    l->w = NULL;
    l->scale = NULL;
    l->qbits = l->group = 0;
    return HARK_OK;
}

/* The encoder's products and the decoder's cross K/V projections to FP8. */
static hark_status weights_to_f8(cu_weights *w)
{
    for (int i = 0; i < w->n_enc; i++) {
        cu_enc_layer *g = &w->enc[i];
        CU_TRY(lin_to_f8(w, &g->qkv));
        CU_TRY(lin_to_f8(w, &g->o));
        CU_TRY(lin_to_f8(w, &g->fc1));
        CU_TRY(lin_to_f8(w, &g->fc2));
    }
    for (int i = 0; i < w->n_dec; i++) {
        CU_TRY(lin_to_f8(w, &w->dec[i].ck));
        CU_TRY(lin_to_f8(w, &w->dec[i].cv));
    }
    w->f8 = 1;
    return HARK_OK;
}

static void weights_free(void *bw)
{
    cu_weights *w = bw;
    if (!w)
        return;
    cudaSetDevice(w->device);
    for (int i = 0; i < w->n_allocs; i++)
        cudaFree(w->allocs[i]);
    free(w->allocs);
    free(w->enc);
    free(w->dec);
    free(w);
}

static hark_status upload_all(cu_weights *w, const hark_weights *m)
{
    CU_TRY(up_lin(w, &m->conv1_w, &m->conv1_b, &w->conv1));
    CU_TRY(up_lin(w, &m->conv2_w, &m->conv2_b, &w->conv2));
    CU_TRY(up(w, &m->enc_pos, &w->enc_pos));
    for (int i = 0; i < w->n_enc; i++) {
        const hark_enc_layer *l = &m->enc[i];
        cu_enc_layer *g = &w->enc[i];
        CU_TRY(up(w, &l->attn_ln_w, &g->ln1_g));
        CU_TRY(up(w, &l->attn_ln_b, &g->ln1_b));
        CU_TRY(up_qkv(w, &l->attn, &g->qkv));
        CU_TRY(up_lin(w, &l->attn.o_w, &l->attn.o_b, &g->o));
        CU_TRY(up(w, &l->mlp_ln_w, &g->ln2_g));
        CU_TRY(up(w, &l->mlp_ln_b, &g->ln2_b));
        CU_TRY(up_lin(w, &l->fc1_w, &l->fc1_b, &g->fc1));
        CU_TRY(up_lin(w, &l->fc2_w, &l->fc2_b, &g->fc2));
    }
    CU_TRY(up(w, &m->enc_ln_w, &w->enc_ln_g));
    CU_TRY(up(w, &m->enc_ln_b, &w->enc_ln_b));
    CU_TRY(up_lin(w, &m->tok_emb, NULL, &w->logits));
    CU_TRY(up(w, &m->dec_pos, &w->dec_pos));
    for (int i = 0; i < w->n_dec; i++) {
        const hark_dec_layer *l = &m->dec[i];
        cu_dec_layer *g = &w->dec[i];
        CU_TRY(up(w, &l->attn_ln_w, &g->ln1_g));
        CU_TRY(up(w, &l->attn_ln_b, &g->ln1_b));
        CU_TRY(up_qkv(w, &l->attn, &g->qkv));
        CU_TRY(up_lin(w, &l->attn.o_w, &l->attn.o_b, &g->o));
        CU_TRY(up(w, &l->cross_ln_w, &g->ln2_g));
        CU_TRY(up(w, &l->cross_ln_b, &g->ln2_b));
        CU_TRY(up_lin(w, &l->cross.q_w, &l->cross.q_b, &g->cq));
        CU_TRY(up_lin(w, &l->cross.o_w, &l->cross.o_b, &g->co));
        CU_TRY(up_lin(w, &l->cross.k_w, NULL, &g->ck));
        CU_TRY(up_lin(w, &l->cross.v_w, &l->cross.v_b, &g->cv));
        CU_TRY(up(w, &l->mlp_ln_w, &g->ln3_g));
        CU_TRY(up(w, &l->mlp_ln_b, &g->ln3_b));
        CU_TRY(up_lin(w, &l->fc1_w, &l->fc1_b, &g->fc1));
        CU_TRY(up_lin(w, &l->fc2_w, &l->fc2_b, &g->fc2));
    }
    CU_TRY(up(w, &m->dec_ln_w, &w->dec_ln_g));
    CU_TRY(up(w, &m->dec_ln_b, &w->dec_ln_b));
    return HARK_OK;
}

/* See backend.h (weights_upload). The device comes from model->params.device ("cuda:N",
 * "cuda", "auto"), the dtype from model->params.dtype (-1: the file's matrix dtype). */
static hark_status weights_upload(const hark_model *model, void **bw)
{
    *bw = NULL;
    const hark_model_dims *d = &model->dims;
    int dev = strcmp(model->params.device, "auto") == 0 ? 0 : hark_cuda_device_index(model->params.device);
    if (dev < 0 || dev >= hark_cuda_device_count())
        return hark_fail(HARK_ERR_UNSUPPORTED, "cuda: no device '%s'", model->params.device);
    if (d->n_audio_state != d->n_text_state || d->n_audio_state % 8 != 0)
        return hark_fail(HARK_ERR_UNSUPPORTED, "cuda: widths %d/%d (need equal, multiple of 8)",
                         d->n_audio_state, d->n_text_state);
    cu_weights *w = calloc(1, sizeof(*w));
    if (!w)
        return hark_fail(HARK_ERR_NOMEM, "cuda: out of host memory");
    w->device = dev;
    w->dt = model->params.dtype >= 0 ? (hark_dtype)model->params.dtype : model->w.tok_emb.dtype;
    w->esz = hark_dtype_size(w->dt);
    w->D = d->n_audio_state;
    w->F = (int)model->w.enc[0].fc1_w.shape[0];
    w->M = d->n_mels;
    w->C = d->n_audio_ctx;
    w->T = d->n_text_ctx;
    w->V = d->n_vocab;
    w->H_enc = d->n_audio_head;
    w->H_dec = d->n_text_head;
    w->n_enc = d->n_audio_layer;
    w->n_dec = d->n_text_layer;
    struct cudaDeviceProp prop;
    hark_status st = cu_check(cudaSetDevice(dev), "cudaSetDevice");
    if (st == HARK_OK)
        st = cu_check(cudaGetDeviceProperties(&prop, dev), "cudaGetDeviceProperties");
    if (st == HARK_OK) {
        snprintf(w->device_name, sizeof(w->device_name), "cuda:%d (%s)", dev, prop.name);
        w->enc = calloc((size_t)w->n_enc, sizeof(*w->enc));
        w->dec = calloc((size_t)w->n_dec, sizeof(*w->dec));
        st = w->enc && w->dec ? upload_all(w, &model->w)
                              : hark_fail(HARK_ERR_NOMEM, "cuda: out of host memory");
    }
    if (st == HARK_OK && model->params.encoder_fp8) {
        if (prop.major * 10 + prop.minor < 89)
            st = hark_fail(HARK_ERR_UNSUPPORTED, "cuda: FP8 encoder needs compute capability 8.9+ "
                           "(%s is %d.%d)", prop.name, prop.major, prop.minor);
        else if (w->dt != HARK_DTYPE_F16 && w->dt != HARK_DTYPE_BF16)
            st = hark_fail(HARK_ERR_UNSUPPORTED, "cuda: FP8 encoder needs an f16 or bf16 engine");
        else if (w->D % 16 != 0 || w->F % 16 != 0)
            st = hark_fail(HARK_ERR_UNSUPPORTED, "cuda: FP8 encoder needs widths that are "
                           "multiples of 16 (%d, %d)", w->D, w->F);
        else
            st = weights_to_f8(w);
    }
    if (st != HARK_OK) {
        weights_free(w);
        return st;
    }
    *bw = w;
    return HARK_OK;
}

/* ---------------------------------------------------------------- contexts ------------------ */

static hark_status c_alloc(cu_ctx *c, size_t bytes, void **out)
{
    *out = NULL;
    CU_K(cudaMalloc(out, bytes ? bytes : 16));
    c->bytes += bytes;
    return track(&c->allocs, &c->n_allocs, &c->cap_allocs, *out);
}

static void note_peak(cu_ctx *c)
{
    size_t free_b = 0, total_b = 0;
    if (cudaMemGetInfo(&free_b, &total_b) == cudaSuccess && total_b - free_b > c->peak_used)
        c->peak_used = total_b - free_b;
}

static void ctx_free(void *ctx)
{
    cu_ctx *c = ctx;
    if (!c)
        return;
    cudaSetDevice(c->dev);
    if (c->st)
        cudaStreamSynchronize(c->st);
    for (int i = 0; i < CU_MAX_GRAPHS; i++)
        if (c->graphs[i])
            cudaGraphExecDestroy(c->graphs[i]);
    cu_plans_free(c);
    if (c->mel)
        cu_mel_plan_free(c->mel);
    for (int i = 0; i < 3; i++)
        if (c->ev[i])
            cudaEventDestroy(c->ev[i]);
    if (c->lt)
        cublasLtDestroy(c->lt);
    for (int i = 0; i < c->n_allocs; i++)
        cudaFree(c->allocs[i]);
    free(c->allocs);
    if (c->pcm_host)
        cudaFreeHost(c->pcm_host);
    if (c->meta_host)
        cudaFreeHost(c->meta_host);
    if (c->pick_host)
        cudaFreeHost(c->pick_host);
    if (c->pick_dev)
        cudaFree(c->pick_dev);
    if (c->st)
        cudaStreamDestroy(c->st);
    free(c->free_blocks);
    free(c->seq_blocks);
    free(c->seq_nblk);
    free(c);
}

static hark_status ctx_buffers(cu_ctx *c, float kv_fraction)
{
    const cu_weights *w = c->w;
    const size_t es = w->esz, D = (size_t)w->D, C = (size_t)w->C, F = (size_t)w->F;
    const size_t W = (size_t)c->max_windows, NL = (size_t)w->n_dec, L = 2 * C;
    const size_t EW = (size_t)c->ew, R = (size_t)c->rows_cap;

    CU_TRY(c_alloc(c, W * C * D * es, &c->enc_out));
    const size_t kv_bytes = c->kv_bits < 16 ? NL * W * C * D * (size_t)c->kv_bits / 8
                                            : NL * W * C * D * es;
    CU_TRY(c_alloc(c, kv_bytes, &c->cross_k));
    CU_TRY(c_alloc(c, kv_bytes, &c->cross_v));
    if (c->kv_bits < 16) {
        const size_t H = (size_t)w->H_dec;
        CU_TRY(c_alloc(c, NL * W * C * H * sizeof(float), (void **)&c->cross_ks));
        CU_TRY(c_alloc(c, NL * W * C * H * sizeof(float), (void **)&c->cross_vs));
    }

    CU_TRY(c_alloc(c, EW * HARK_N_SAMPLES * sizeof(float), (void **)&c->pcm_dev));
    CU_K(cudaMallocHost((void **)&c->pcm_host, EW * HARK_N_SAMPLES * sizeof(float)));
    CU_TRY(c_alloc(c, EW * (size_t)w->M * L * sizeof(float), (void **)&c->mel_dev));
    CU_TRY(c_alloc(c, EW * C * D * es, &c->ex));
    CU_TRY(c_alloc(c, EW * C * D * es, &c->eh));
    CU_TRY(c_alloc(c, EW * C * D * es, &c->ea));
    size_t qkv = EW * C * 3 * D, col1 = EW * L * (size_t)w->M * 3;
    CU_TRY(c_alloc(c, (qkv > col1 ? qkv : col1) * es, &c->eqkv));
    size_t ff = EW * C * F, conv1 = EW * L * D;
    CU_TRY(c_alloc(c, (ff > conv1 ? ff : conv1) * es, &c->ef));
    if (w->f8) {
        CU_TRY(c_alloc(c, ff, (void **)&c->x8));
        CU_TRY(c_alloc(c, EW * C * sizeof(float), (void **)&c->x8s));
    }

    CU_TRY(c_alloc(c, R * D * es, &c->dx));
    CU_TRY(c_alloc(c, R * D * es, &c->dh));
    CU_TRY(c_alloc(c, R * D * es, &c->da));
    CU_TRY(c_alloc(c, R * D * es, &c->dq));
    CU_TRY(c_alloc(c, R * 3 * D * es, &c->dqkv));
    CU_TRY(c_alloc(c, R * F * es, &c->df));
    CU_TRY(c_alloc(c, R * (size_t)w->V * sizeof(float), (void **)&c->dlogits));
    if (w->max_q)
        CU_TRY(c_alloc(c, w->max_q * es, &c->wq));
    size_t meta = (5 + (size_t)c->mb + 1) * R;
    CU_TRY(c_alloc(c, meta * sizeof(int32_t), (void **)&c->meta_dev));
    CU_K(cudaMallocHost((void **)&c->meta_host, meta * sizeof(int32_t)));

    /* the paged cache: what max_sequences full sequences need, capped by the fraction of what
     * is free now */
    size_t blk_bytes = NL * 2 * CU_BLOCK * D * es;
    size_t want = (size_t)c->max_seqs * (size_t)c->mb;
    size_t free_b = 0, total_b = 0;
    CU_K(cudaMemGetInfo(&free_b, &total_b));
    size_t cap = (size_t)((double)free_b * kv_fraction) / blk_bytes;
    size_t nb = want < cap ? want : cap;
    if (nb < (size_t)c->mb)
        return hark_fail(HARK_ERR_NOMEM, "cuda: the KV cache fraction %.2f of %zu MiB free holds "
                         "%zu blocks; one sequence needs %d", (double)kv_fraction, free_b >> 20,
                         cap, c->mb);
    c->n_blocks = (int)nb;
    CU_TRY(c_alloc(c, NL * nb * CU_BLOCK * D * es, &c->k_pool));
    CU_TRY(c_alloc(c, NL * nb * CU_BLOCK * D * es, &c->v_pool));
    c->free_blocks = malloc(nb * sizeof(int));
    c->seq_blocks = calloc((size_t)c->max_seqs * (size_t)c->mb, sizeof(int32_t));
    c->seq_nblk = calloc((size_t)c->max_seqs, sizeof(int));
    if (!c->free_blocks || !c->seq_blocks || !c->seq_nblk)
        return hark_fail(HARK_ERR_NOMEM, "cuda: out of host memory");
    for (size_t i = 0; i < nb; i++)
        c->free_blocks[i] = (int)(nb - 1 - i);
    c->n_free = (int)nb;
    return HARK_OK;
}

static hark_status ctx_new(const hark_model *model, const void *bw, const hark_state_params *p,
                           int n_threads, void **ctx)
{
    (void)model;
    (void)n_threads;
    *ctx = NULL;
    const cu_weights *w = bw;
    cu_ctx *c = calloc(1, sizeof(*c));
    if (!c)
        return hark_fail(HARK_ERR_NOMEM, "cuda: out of host memory");
    c->w = w;
    c->dev = w->device;
    c->max_windows = p->max_windows;
    c->kv_bits = p->cross_kv_bits;
    if (c->kv_bits < 16 && (w->D / w->H_dec != 64 && w->D / w->H_dec != 32)) {
        const int bits = c->kv_bits;
        free(c);
        return hark_fail(HARK_ERR_UNSUPPORTED, "cuda: int%d cross K/V need heads 32 or 64 wide",
                         bits);
    }
    c->max_seqs = p->max_sequences;
    c->max_rows = 4 * p->max_sequences + w->T;
    c->rows_cap = 1;
    while (c->rows_cap < c->max_rows)
        c->rows_cap *= 2;
    c->ew = p->max_windows < 16 ? p->max_windows : 16;
    c->mb = (w->T + CU_BLOCK - 1) / CU_BLOCK;
    const char *g = getenv("HARK_CUDA_GRAPHS");
    c->use_graphs = !(g && strcmp(g, "0") == 0);
    const char *gv = getenv("HARK_CUDA_GEMV");
    c->gemv_max_rows = gv ? atoi(gv) : 2;
    if (c->gemv_max_rows < 0 || c->gemv_max_rows > CU_GEMV_MAX_ROWS)
        c->gemv_max_rows = 2;
    const char *gq = getenv("HARK_CUDA_GEMV_Q");
    c->gemv_q_max_rows = gq ? atoi(gq) : 2;
    if (c->gemv_q_max_rows < 0 || c->gemv_q_max_rows > CU_GEMV_MAX_ROWS)
        c->gemv_q_max_rows = 2;
    const char *ks = getenv("HARK_CUDA_GEMV_SPLITK"), *mk = getenv("HARK_CUDA_GEMV_SPLITK_MIN_K");
    c->gemv_splitk = ks ? atoi(ks) : 4;
    c->gemv_splitk_min_k = mk ? atoi(mk) : 2048;
    c->ws_size = 32u << 20;
    const char *gt = getenv("HARK_CUDA_GEMM_TUNE");
    c->gemm_tune = !(gt && strcmp(gt, "0") == 0);
    const char *fa = getenv("HARK_CUDA_FP8_FAST");
    c->f8_fast_accum = fa ? atoi(fa) != 0 : 1;
    hark_status st = cu_check(cudaSetDevice(c->dev), "cudaSetDevice");
    /* programmatic dependent launch in the decoder step (kernels.h): Hopper and later, unless
     * HARK_CUDA_PDL=0 */
    int cc_major = 0;
    const char *pd = getenv("HARK_CUDA_PDL");
    if (st == HARK_OK && cudaDeviceGetAttribute(&cc_major, cudaDevAttrComputeCapabilityMajor,
                                                c->dev) == cudaSuccess)
        cu_set_pdl(cc_major >= 9 && !(pd && strcmp(pd, "0") == 0));
    if (st == HARK_OK)
        st = cu_check(cudaStreamCreateWithFlags(&c->st, cudaStreamNonBlocking), "cudaStreamCreate");
    if (st == HARK_OK)
        st = cu_check_lt(cublasLtCreate(&c->lt), "cublasLtCreate");
    if (st == HARK_OK)
        st = c_alloc(c, c->ws_size, &c->ws);
    for (int i = 0; i < 3 && st == HARK_OK; i++)
        st = cu_check(cudaEventCreate(&c->ev[i]), "cudaEventCreate");
    if (st == HARK_OK)
        st = cu_check((cudaError_t)cu_mel_plan_new(w->M, c->ew, &c->mel), "cu_mel_plan_new");
    if (st == HARK_OK)
        st = ctx_buffers(c, p->kv_cache_free_mem_fraction);
    if (st != HARK_OK) {
        ctx_free(c);
        return st;
    }
    note_peak(c);
    *ctx = c;
    return HARK_OK;
}

static hark_status encoder_output(void *ctx, int slot, float *out)
{
    cu_ctx *c = ctx;
    const cu_weights *w = c->w;
    if (slot < 0 || slot >= c->max_windows)
        return hark_fail(HARK_ERR_INVALID_ARG, "cuda: window slot %d of %d", slot, c->max_windows);
    size_t n = (size_t)w->C * w->D;
    float *tmp;
    CU_K(cudaSetDevice(c->dev));
    CU_K(cudaMalloc((void **)&tmp, n * sizeof(float)));
    hark_status st = cu_check((cudaError_t)cu_to_f32(w->dt, (char *)c->enc_out + slot * n * w->esz,
                                                     tmp, (long)n, c->st), "cu_to_f32");
    if (st == HARK_OK)
        st = cu_check(cudaMemcpyAsync(out, tmp, n * sizeof(float), cudaMemcpyDeviceToHost, c->st),
                      "copy encoder output");
    if (st == HARK_OK)
        st = cu_check(cudaStreamSynchronize(c->st), "encoder_output");
    cudaFree(tmp);
    return st;
}

static void stats(void *ctx, hark_stats *out)
{
    cu_ctx *c = ctx;
    cudaSetDevice(c->dev);
    note_peak(c);
    out->weights_bytes = c->w->bytes;
    out->state_bytes = c->bytes;
    out->device_peak_bytes = c->peak_used;
    out->mel_ms = c->mel_ms;
    out->encoder_ms = c->encoder_ms;
    out->device = c->w->device_name;
}

/* See backend.h (host_alloc): page-locked, so that the logits copies run at the bus's rate. */
static void *host_alloc(size_t bytes)
{
    void *p = NULL;
    return cudaMallocHost(&p, bytes ? bytes : 16) == cudaSuccess ? p : NULL;
}

static void host_free(void *p)
{
    if (p)
        cudaFreeHost(p);
}

const hark_backend hark_backend_cuda = {
    .name = "cuda",
    .weights_upload = weights_upload,
    .weights_free = weights_free,
    .ctx_new = ctx_new,
    .ctx_free = ctx_free,
    .encode = cu_encode,
    .encoder_output = encoder_output,
    .decode = cu_decode,
    .decode_cross_qk = cu_decode_cross_qk,
    .kv_copy = cu_kv_copy,
    .kv_free = cu_kv_free,
    .encode_pcm = cu_encode_pcm,
    .decode_argmax = cu_decode_argmax,
    .decode_greedy = cu_decode_greedy,
    .decode_pick = cu_decode_pick,
    .stats = stats,
    .host_alloc = host_alloc,
    .host_free = host_free,
};
