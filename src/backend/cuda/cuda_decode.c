/*
 * cuda_decode.c — one decoder pass over any set of entries (in-flight batching) on the GPU.
 * The self-attention cache is paged: fixed blocks of CU_BLOCK positions from a pool, a block
 * table per sequence slot, blocks taken as positions are written and given back when the slot
 * ends (kv_free, or a new sequence starting at position 0). Each call's rows are padded to a
 * power-of-two bucket, and the bucket's whole pass (every layer and the logits product) is
 * captured once as a CUDA graph and replayed: only the small metadata copy changes per step.
 * ref: openai/whisper model.py TextDecoder.forward.
 */
#include "backend/cuda/cuda.h"

#include <math.h>
#include <string.h>

#define K(expr) CU_K(expr)

static void blocks_release(cu_ctx *c, int seq)
{
    int32_t *bt = c->seq_blocks + (size_t)seq * c->mb;
    for (int i = 0; i < c->seq_nblk[seq]; i++)
        c->free_blocks[c->n_free++] = bt[i];
    c->seq_nblk[seq] = 0;
}

/* Makes sure sequence slot seq has blocks for positions 0..pos. */
static hark_status blocks_reserve(cu_ctx *c, int seq, int pos)
{
    int need = pos / CU_BLOCK + 1;
    int32_t *bt = c->seq_blocks + (size_t)seq * c->mb;
    while (c->seq_nblk[seq] < need) {
        if (c->n_free == 0)
            return hark_fail(HARK_ERR_CAPACITY, "cuda decode: the KV cache pool (%d blocks of %d "
                             "positions) is full", c->n_blocks, CU_BLOCK);
        bt[c->seq_nblk[seq]++] = c->free_blocks[--c->n_free];
    }
    return HARK_OK;
}

static hark_status check_entries(const cu_ctx *c, const hark_decode_entry *e, int n)
{
    const hark_entry_limits lim = { .max_rows = c->max_rows, .max_seqs = c->max_seqs,
                                    .max_windows = c->max_windows, .n_vocab = c->w->V,
                                    .n_text_ctx = c->w->T };
    if (n < 1)
        return hark_fail(HARK_ERR_INVALID_ARG, "cuda decode: bad arguments (n %d)", n);
    return hark_check_entries("cuda decode", e, n, &lim, 1);
}

/* Writes into m the metadata of n entries padded to R rows, each entry `ahead` positions further
 * on (its blocks must be reserved); returns the int32 count to upload. */
static size_t fill_meta(const cu_ctx *c, const hark_decode_entry *e, int n, int R, int ahead,
                        int32_t *m)
{
    const int cap = c->rows_cap, mb = c->mb;
    int32_t *tok = cu_meta_tokens(m, cap), *pos = cu_meta_pos(m, cap), *slot = cu_meta_slot(m, cap);
    int32_t *len = cu_meta_len(m, cap), *win = cu_meta_win(m, cap), *bt = cu_meta_bt(m, cap);
    for (int i = 0; i < R; i++) {
        if (i < n) {
            const int32_t *sb = c->seq_blocks + (size_t)e[i].seq * mb;
            const int p = e[i].pos + ahead;
            tok[i] = e[i].token;
            pos[i] = p;
            slot[i] = sb[p / CU_BLOCK] * CU_BLOCK + p % CU_BLOCK;
            len[i] = p + 1;
            win[i] = e[i].window;
            memcpy(bt + (size_t)i * mb, sb, (size_t)mb * sizeof(int32_t));
        } else {
            tok[i] = 0, pos[i] = 0, slot[i] = -1, len[i] = 0, win[i] = -1;
            memset(bt + (size_t)i * mb, 0, (size_t)mb * sizeof(int32_t));
        }
    }
    return (size_t)5 * cap + (size_t)R * mb;
}

/* Reserves the entries' blocks through position pos + ahead (a sequence starting at position 0
 * gives back what its slot held first). */
static hark_status reserve_entries(cu_ctx *c, const hark_decode_entry *e, int n, int ahead)
{
    for (int i = 0; i < n; i++)
        if (e[i].pos == 0)
            blocks_release(c, e[i].seq);
    for (int i = 0; i < n; i++)
        CU_TRY(blocks_reserve(c, e[i].seq, e[i].pos + ahead));
    return HARK_OK;
}

/* Fills and uploads the metadata of n entries padded to R rows. */
static hark_status prepare(cu_ctx *c, const hark_decode_entry *e, int n, int R)
{
    CU_TRY(reserve_entries(c, e, n, 0));
    size_t ints = fill_meta(c, e, n, R, 0, c->meta_host);
    K(cudaMemcpyAsync(c->meta_dev, c->meta_host, ints * sizeof(int32_t), cudaMemcpyHostToDevice,
                      c->st));
    return HARK_OK;
}

/* decode_cross_qk's request: (layer, head) pairs and the device buffer [n_heads][R][n_frames]. */
typedef struct qk_capture {
    const int32_t *heads;
    int n_heads, n_frames;
    float *dev;
} qk_capture;

/* The whole pass for R rows, from the device metadata to fp32 logits [R][V]; with cap (never
 * inside a graph), the alignment scores of the captured heads too. */
static hark_status run_layers(cu_ctx *c, int R, const qk_capture *qc)
{
    const cu_weights *w = c->w;
    const hark_dtype dt = w->dt;
    const int D = w->D, F = w->F, H = w->H_dec, cap = c->rows_cap;
    const size_t es = w->esz;
    const size_t pool_layer = (size_t)c->n_blocks * CU_BLOCK * D * es;
    const size_t cross_layer = c->kv_bits < 16
                                   ? (size_t)c->max_windows * w->C * D * (size_t)c->kv_bits / 8
                                   : (size_t)c->max_windows * w->C * D * es;
    const int kvq = c->kv_bits < 16;
    const size_t scale_layer = (size_t)c->max_windows * w->C * H;
    const float scale = 1.0f / sqrtf((float)(D / H));
    cudaStream_t s = c->st;
    int32_t *m = c->meta_dev;

    K(cu_embed(dt, w->logits.w, w->dec_pos, cu_meta_tokens(m, cap), cu_meta_pos(m, cap), c->dx, R,
               D, s));
    for (int i = 0; i < w->n_dec; i++) {
        const cu_dec_layer *l = &w->dec[i];
        void *kp = (char *)c->k_pool + i * pool_layer, *vp = (char *)c->v_pool + i * pool_layer;
        /* LN1 + QKV + K/V into the paged cache */
        cu_lin_opts qkv = { .ln_g = l->ln1_g, .ln_b = l->ln1_b, .ln_scratch = c->dh,
                            .k_pool = kp, .v_pool = vp, .kv_slot = cu_meta_slot(m, cap) };
        CU_TRY(cu_linear(c, &l->qkv, c->dx, D, R, c->dqkv, 3 * D, &qkv));
        K(cu_self_attention_paged(dt, c->dqkv, 3 * D, kp, vp, cu_meta_bt(m, cap), c->mb, CU_BLOCK,
                                  cu_meta_len(m, cap), c->da, R, D, H, scale, s));
        CU_TRY(cu_gemm(c, &l->o, c->da, D, R, c->dx, D, 1, 0));
        /* LN2 + cross-attention query */
        cu_lin_opts cq = { .ln_g = l->ln2_g, .ln_b = l->ln2_b, .ln_scratch = c->dh };
        CU_TRY(cu_linear(c, &l->cq, c->dx, D, R, c->dq, D, &cq));
        if (kvq)
            K(cu_cross_attention_q(dt, c->kv_bits, c->dq, D,
                                   (const char *)c->cross_k + i * cross_layer,
                                   (const char *)c->cross_v + i * cross_layer,
                                   c->cross_ks + i * scale_layer, c->cross_vs + i * scale_layer,
                                   cu_meta_win(m, cap), c->da, R, w->C, D, H, scale, s));
        else
            K(cu_cross_attention(dt, c->dq, D, (char *)c->cross_k + i * cross_layer,
                                 (char *)c->cross_v + i * cross_layer, (long)w->C * D,
                                 cu_meta_win(m, cap), c->da, R, w->C, D, H, scale, s));
        for (int k = 0; qc && k < qc->n_heads; k++)
            if (qc->heads[2 * k] == i && kvq)
                K(cu_cross_qk_q(dt, c->kv_bits, c->dq, D,
                                (const char *)c->cross_k + i * cross_layer,
                                c->cross_ks + i * scale_layer, cu_meta_win(m, cap),
                                qc->dev + (size_t)k * R * qc->n_frames, R, w->C, D, H,
                                qc->heads[2 * k + 1], qc->n_frames, scale, s));
            else if (qc->heads[2 * k] == i)
                K(cu_cross_qk(dt, c->dq, D, (char *)c->cross_k + i * cross_layer, (long)w->C * D,
                              cu_meta_win(m, cap), qc->dev + (size_t)k * R * qc->n_frames, R, D,
                              H, qc->heads[2 * k + 1], qc->n_frames, scale, s));
        CU_TRY(cu_gemm(c, &l->co, c->da, D, R, c->dx, D, 1, 0));
        /* LN3 + fc1 + GELU, fc2 + residual */
        cu_lin_opts fc1 = { .ln_g = l->ln3_g, .ln_b = l->ln3_b, .ln_scratch = c->dh, .gelu = 1 };
        CU_TRY(cu_linear(c, &l->fc1, c->dx, D, R, c->df, F, &fc1));
        CU_TRY(cu_gemm(c, &l->fc2, c->df, F, R, c->dx, D, 1, 0));
    }
    cu_lin_opts out = { .ln_g = w->dec_ln_g, .ln_b = w->dec_ln_b, .ln_scratch = c->dh, .out_f32 = 1 };
    CU_TRY(cu_linear(c, &w->logits, c->dx, D, R, c->dlogits, w->V, &out));
    return HARK_OK;
}

/* The rows a pass of n entries runs: n rounded up to a power of two (its graph's bucket). */
static int bucket_rows(int n)
{
    int R = 1;
    while (R < n)
        R *= 2;
    return R;
}

static int bucket_index(int R)
{
    int b = 0;
    while ((1 << b) < R)
        b++;
    return b;
}

/* Runs the pass for a bucket of R rows: the captured graph, captured on first use. */
static hark_status run_bucket(cu_ctx *c, int R)
{
    int b = bucket_index(R);
    if (!c->use_graphs || b >= CU_MAX_GRAPHS)
        return run_layers(c, R, NULL);
    if (!c->graphs[b]) {
        /* one pass outside capture first: the bucket's matrix shapes get their cuBLASLt plans
         * tuned (cuda_gemm.c), which cannot be timed while capturing; the pass is idempotent
         * (it starts from the embedding and rewrites the same cache slots) */
        CU_TRY(run_layers(c, R, NULL));
        cudaGraph_t g = NULL;
        K(cudaStreamBeginCapture(c->st, cudaStreamCaptureModeThreadLocal));
        hark_status st = run_layers(c, R, NULL);
        cudaError_t ce = cudaStreamEndCapture(c->st, &g);
        if (st != HARK_OK) {
            if (g)
                cudaGraphDestroy(g);
            return st;
        }
        K(ce);
        ce = cudaGraphInstantiate(&c->graphs[b], g, 0);
        cudaGraphDestroy(g);
        K(ce);
    }
    K(cudaGraphLaunch(c->graphs[b], c->st));
    return HARK_OK;
}

static hark_status decode_common(cu_ctx *c, const hark_decode_entry *e, int n, int *R_out)
{
    CU_TRY(check_entries(c, e, n));
    K(cudaSetDevice(c->dev));
    const int R = bucket_rows(n);
    *R_out = R;
    CU_TRY(prepare(c, e, n, R));
    return run_bucket(c, R);
}

/* Copies the wanted rows of the last pass's logits to the host (without waiting). */
static hark_status logits_out(cu_ctx *c, const hark_decode_entry *e, int n, float *logits)
{
    const size_t V = (size_t)c->w->V;
    int all = 1, k = 0;
    for (int i = 0; i < n; i++)
        all &= e[i].want_logits != 0;
    if (all) {
        K(cudaMemcpyAsync(logits, c->dlogits, (size_t)n * V * sizeof(float),
                          cudaMemcpyDeviceToHost, c->st));
    } else {
        for (int i = 0; i < n; i++)
            if (e[i].want_logits)
                K(cudaMemcpyAsync(logits + (size_t)k++ * V, c->dlogits + (size_t)i * V,
                                  V * sizeof(float), cudaMemcpyDeviceToHost, c->st));
    }
    return HARK_OK;
}

/* See backend.h (decode). */
hark_status cu_decode(void *ctx, const hark_decode_entry *e, int n, float *logits)
{
    cu_ctx *c = ctx;
    int R;
    CU_TRY(decode_common(c, e, n, &R));
    CU_TRY(logits_out(c, e, n, logits));
    K(cudaStreamSynchronize(c->st));
    return HARK_OK;
}

/* See backend.h (decode_cross_qk): an uncaptured pass that also writes the alignment scores. */
hark_status cu_decode_cross_qk(void *ctx, const hark_decode_entry *e, int n, float *logits,
                               const int32_t *heads, int n_heads, int n_frames, float *qk)
{
    cu_ctx *c = ctx;
    if (!c)
        return hark_fail(HARK_ERR_INVALID_ARG, "cuda decode_cross_qk: no context");
    CU_TRY(hark_check_cross_qk("cuda decode_cross_qk", heads, n_heads, n_frames, qk, c->w->n_dec,
                               c->w->H_dec, c->w->C));
    CU_TRY(check_entries(c, e, n));
    K(cudaSetDevice(c->dev));
    const int R = bucket_rows(n);
    const size_t per_head = (size_t)R * n_frames;
    qk_capture qc = { heads, n_heads, n_frames, NULL };
    K(cudaMalloc((void **)&qc.dev, (size_t)n_heads * per_head * sizeof(float)));
    hark_status st = prepare(c, e, n, R);
    if (st == HARK_OK)
        st = run_layers(c, R, &qc);
    if (st == HARK_OK)
        st = logits_out(c, e, n, logits);
    for (int k = 0; k < n_heads && st == HARK_OK; k++)
        if (cudaMemcpyAsync(qk + (size_t)k * n * n_frames, qc.dev + k * per_head,
                            (size_t)n * n_frames * sizeof(float), cudaMemcpyDeviceToHost,
                            c->st) != cudaSuccess)
            st = hark_fail(HARK_ERR_BACKEND, "cuda decode_cross_qk: copy failed");
    cudaError_t ce = cudaStreamSynchronize(c->st);
    cudaFree(qc.dev);
    if (st == HARK_OK && ce != cudaSuccess)
        st = hark_fail(HARK_ERR_BACKEND, "cuda decode_cross_qk: %s", cudaGetErrorString(ce));
    return st;
}

/* The pick staging buffers (device and page-locked host) of at least bytes each. */
static hark_status pick_reserve(cu_ctx *c, size_t bytes)
{
    if (c->pick_cap >= bytes)
        return HARK_OK;
    size_t cap = c->pick_cap ? c->pick_cap : 64 * 1024;
    while (cap < bytes)
        cap *= 2;
    if (c->pick_dev)
        cudaFree(c->pick_dev);
    if (c->pick_host)
        cudaFreeHost(c->pick_host);
    c->pick_dev = c->pick_host = NULL;
    c->pick_cap = 0;
    K(cudaMalloc(&c->pick_dev, cap));
    K(cudaMallocHost(&c->pick_host, cap));
    c->pick_cap = cap;
    return HARK_OK;
}

/* See backend.h (decode_pick): the picked rows reduced on the device (cu_pick), 12 bytes each
 * back instead of the row; the other wanted rows copied as decode does. Staging layout (int32):
 * rows [np], off [np + 1], ids [total]; then the picks [np] (cu_pick_out). */
hark_status cu_decode_pick(void *ctx, const hark_decode_entry *e, int n, float *logits,
                           const uint8_t *pick, const hark_pick_mask *masks, hark_pick *picks)
{
    cu_ctx *c = ctx;
    const size_t V = (size_t)c->w->V;
    int R, np = 0, k = 0;
    size_t total = 0;
    for (int i = 0; i < n; i++)
        if (e[i].want_logits && pick[k++])
            np++, total += (size_t)masks[k - 1].n;
    size_t in = ((size_t)2 * np + 1 + total) * sizeof(int32_t), in_al = (in + 15) & ~(size_t)15;
    CU_TRY(pick_reserve(c, in_al + (size_t)np * sizeof(cu_pick_out)));
    CU_TRY(decode_common(c, e, n, &R));
    int32_t *h = c->pick_host, *rows = h, *off = h + np, *ids = h + 2 * np + 1;
    int b = 0, r = 0;
    k = 0;
    off[0] = 0;
    for (int i = 0; i < n; i++) {
        if (!e[i].want_logits)
            continue;
        if (pick[k]) {
            rows[b] = i;
            if (masks[k].n > 0)
                memcpy(ids + off[b], masks[k].ids, (size_t)masks[k].n * sizeof(int32_t));
            off[b + 1] = off[b] + masks[k].n;
            b++;
        } else {
            K(cudaMemcpyAsync(logits + (size_t)r++ * V, c->dlogits + (size_t)i * V,
                              V * sizeof(float), cudaMemcpyDeviceToHost, c->st));
        }
        k++;
    }
    if (np > 0) {
        int32_t *d = c->pick_dev;
        cu_pick_out *dout = (cu_pick_out *)((char *)c->pick_dev + in_al);
        K(cudaMemcpyAsync(d, h, in, cudaMemcpyHostToDevice, c->st));
        K(cu_pick(c->dlogits, (int)V, d, d + np, d + 2 * np + 1, dout, np, c->st));
        K(cudaMemcpyAsync((char *)c->pick_host + in_al, dout, (size_t)np * sizeof(cu_pick_out),
                          cudaMemcpyDeviceToHost, c->st));
    }
    K(cudaStreamSynchronize(c->st));
    const cu_pick_out *o = (const cu_pick_out *)((const char *)c->pick_host + in_al);
    b = 0;
    for (int j = 0; j < k; j++)
        if (pick[j]) {
            picks[j] = (hark_pick){ .token = o[b].token, .logit = o[b].logit, .lse = o[b].lse };
            b++;
        }
    return HARK_OK;
}

/* See backend.h (decode_argmax). */
hark_status cu_decode_argmax(void *ctx, const hark_decode_entry *e, int n, int limit,
                             int32_t *tokens)
{
    cu_ctx *c = ctx;
    int R;
    CU_TRY(decode_common(c, e, n, &R));
    int32_t *dev = cu_meta_argmax(c->meta_dev, c->rows_cap, c->mb);
    int32_t *host = cu_meta_argmax(c->meta_host, c->rows_cap, c->mb);
    K(cu_argmax(c->dlogits, c->w->V, limit, dev, n, c->st));
    K(cudaMemcpyAsync(host, dev, (size_t)n * sizeof(int32_t), cudaMemcpyDeviceToHost, c->st));
    K(cudaStreamSynchronize(c->st));
    int k = 0;
    for (int i = 0; i < n; i++)
        if (e[i].want_logits)
            tokens[k++] = host[i];
    return HARK_OK;
}

/* See backend.h (decode_greedy). The host enqueues every pass before it waits: pass t's metadata
 * comes from its own page-locked copy (all but the tokens), and its tokens are the ids the
 * argmax of pass t - 1 wrote into the device metadata, which it also writes to the history
 * [steps][n] read back at the end. Staging (pick buffers): host [steps][meta ints] then the
 * history; device the history. */
hark_status cu_decode_greedy(void *ctx, const hark_decode_entry *e, int n, int steps, int limit,
                             int32_t *tokens)
{
    cu_ctx *c = ctx;
    CU_TRY(check_entries(c, e, n));
    for (int i = 0; i < n; i++) /* hark_decode_greedy checked the rest */
        if (e[i].pos + steps > c->w->T)
            return hark_fail(HARK_ERR_INVALID_ARG, "cuda decode_greedy: entry %d ends past the "
                             "text context", i);
    K(cudaSetDevice(c->dev));
    const int R = bucket_rows(n);
    const int cap = c->rows_cap;
    const size_t stride = (size_t)5 * cap + (size_t)R * c->mb, hist = (size_t)steps * n;
    CU_TRY(pick_reserve(c, (stride * steps + hist) * sizeof(int32_t)));
    CU_TRY(reserve_entries(c, e, n, steps - 1));
    int32_t *hh = (int32_t *)c->pick_host + stride * steps, *hd = c->pick_dev;
    int32_t *feed = cu_meta_tokens(c->meta_dev, cap);
    for (int t = 0; t < steps; t++) {
        int32_t *m = (int32_t *)c->pick_host + stride * t;
        size_t ints = fill_meta(c, e, n, R, t, m);
        size_t skip = t == 0 ? 0 : (size_t)cap; /* the tokens come from the previous argmax */
        K(cudaMemcpyAsync(c->meta_dev + skip, m + skip, (ints - skip) * sizeof(int32_t),
                          cudaMemcpyHostToDevice, c->st));
        CU_TRY(run_bucket(c, R));
        K(cu_argmax2(c->dlogits, c->w->V, limit, feed, hd + (size_t)t * n, n, c->st));
    }
    K(cudaMemcpyAsync(hh, hd, hist * sizeof(int32_t), cudaMemcpyDeviceToHost, c->st));
    K(cudaStreamSynchronize(c->st));
    memcpy(tokens, hh, hist * sizeof(int32_t));
    return HARK_OK;
}

/* See backend.h (kv_copy): dst gets fresh blocks holding src's first n_pos positions. */
hark_status cu_kv_copy(void *ctx, int src, int dst, int n_pos)
{
    cu_ctx *c = ctx;
    const cu_weights *w = c->w;
    if (src < 0 || dst < 0 || src >= c->max_seqs || dst >= c->max_seqs || n_pos < 0 || n_pos > w->T)
        return hark_fail(HARK_ERR_INVALID_ARG, "cuda kv_copy(%d -> %d, %d positions): bad arguments",
                         src, dst, n_pos);
    if (src == dst || n_pos == 0) {
        if (n_pos == 0 && src != dst)
            blocks_release(c, dst);
        return HARK_OK;
    }
    int nblk = (n_pos + CU_BLOCK - 1) / CU_BLOCK;
    if (c->seq_nblk[src] < nblk)
        return hark_fail(HARK_ERR_INVALID_ARG, "cuda kv_copy: sequence %d holds fewer than %d "
                         "positions", src, n_pos);
    K(cudaSetDevice(c->dev));
    blocks_release(c, dst);
    CU_TRY(blocks_reserve(c, dst, n_pos - 1));
    const size_t es = w->esz, blk = (size_t)CU_BLOCK * w->D * es;
    const size_t pool_layer = (size_t)c->n_blocks * blk;
    const int32_t *sb = c->seq_blocks + (size_t)src * c->mb, *db = c->seq_blocks + (size_t)dst * c->mb;
    for (int l = 0; l < w->n_dec; l++)
        for (int b = 0; b < nblk; b++) {
            size_t so = l * pool_layer + (size_t)sb[b] * blk, d0 = l * pool_layer + (size_t)db[b] * blk;
            K(cudaMemcpyAsync((char *)c->k_pool + d0, (char *)c->k_pool + so, blk,
                              cudaMemcpyDeviceToDevice, c->st));
            K(cudaMemcpyAsync((char *)c->v_pool + d0, (char *)c->v_pool + so, blk,
                              cudaMemcpyDeviceToDevice, c->st));
        }
    K(cudaStreamSynchronize(c->st));
    return HARK_OK;
}

/* See backend.h (kv_free). */
hark_status cu_kv_free(void *ctx, int seq)
{
    cu_ctx *c = ctx;
    if (seq < 0 || seq >= c->max_seqs)
        return hark_fail(HARK_ERR_INVALID_ARG, "cuda kv_free: no sequence slot %d", seq);
    blocks_release(c, seq);
    return HARK_OK;
}
