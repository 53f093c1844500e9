/*
 * decoder.c — the Whisper text decoder on the CPU: one pass over a batch of entries from any
 * number of sequences (in-flight batching), with a self-attention K/V cache per sequence slot and
 * the cached cross K/V of each entry's window slot.
 *
 * ref: openai/whisper model.py TextDecoder.forward (token + positional embedding, pre-norm blocks
 * of causal self-attention, cross-attention and MLP, ln, logits = x @ token_embedding^T).
 * Every projection is one product over all R rows of the call; attention is per entry and head.
 * A call first writes the K/V of all its entries, then attends, so the entries of one sequence
 * (a prompt) see each other's earlier positions. Positions below an entry's pos that this call
 * does not write must have been written by earlier calls (the caller's contract).
 */
#include "backend/cpu/cpu.h"

#include <math.h>
#include <omp.h>
#include <string.h>

/* Shape legend: see cpu.h. */

static hark_status check_entries(const cpu_ctx *c, const hark_decode_entry *e, int n,
                                 const float *logits)
{
    const hark_entry_limits lim = { .max_rows = c->max_rows, .max_seqs = c->max_seqs,
                                    .max_windows = c->max_windows, .n_vocab = c->w->n_vocab,
                                    .n_text_ctx = c->w->n_ctx_text };
    return hark_check_entries("cpu decode", e, n, &lim, logits != NULL);
}

/* x[i] = tok_emb[token_i] + dec_pos[pos_i] for every entry. */
static void embed(const cpu_ctx *c, const hark_decode_entry *e, int n, float *x)
{
    const cpu_weights *w = c->w;
    const int D = w->d;
    for (int i = 0; i < n; i++) {
        float *row = x + (size_t)i * D;
        if (w->tok_emb.dtype == HARK_DTYPE_F16)
            hark_f16_to_f32_row((const uint16_t *)w->tok_emb.data + (size_t)e[i].token * D, row,
                                (size_t)D);
        else
            memcpy(row, (const float *)w->tok_emb.data + (size_t)e[i].token * D,
                   (size_t)D * sizeof(float));
        cpu_add_rows(row, w->dec_pos + (size_t)e[i].pos * D, (size_t)D);
    }
}

/* Causal self-attention: store this call's K/V rows in the sequence slots, then attend. */
static void self_attention(const cpu_ctx *c, int layer, const hark_decode_entry *e, int n)
{
    const cpu_weights *w = c->w;
    const int D = w->d, H = w->n_text_head, E = D / H;
    const float scale = 1.0f / sqrtf((float)E);
    for (int i = 0; i < n; i++) {
        memcpy(cpu_self_k(c, e[i].seq, layer) + (size_t)e[i].pos * D, c->dk + (size_t)i * D,
               (size_t)D * sizeof(float));
        memcpy(cpu_self_v(c, e[i].seq, layer) + (size_t)e[i].pos * D, c->dv + (size_t)i * D,
               (size_t)D * sizeof(float));
    }
    const int prob_cap = w->n_ctx_text > w->n_ctx_audio ? w->n_ctx_text : w->n_ctx_audio;
#pragma omp parallel for num_threads(c->n_threads) schedule(dynamic, 1) if (n * H > 1)
    for (int ih = 0; ih < n * H; ih++) {
        int i = ih / H, h = ih % H;
        float *prob = c->dprob + (size_t)omp_get_thread_num() * prob_cap;
        cpu_attend_one(c->dq + (size_t)i * D + h * E, cpu_self_k(c, e[i].seq, layer) + h * E,
                       cpu_self_v(c, e[i].seq, layer) + h * E, D, e[i].pos + 1, E, scale, prob,
                       c->da + (size_t)i * D + h * E);
    }
}

/* Cross-attention of every entry over all C cached positions of its window slot. */
static void cross_attention(const cpu_ctx *c, int layer, const hark_decode_entry *e, int n)
{
    const cpu_weights *w = c->w;
    const int D = w->d, H = w->n_text_head, E = D / H, C = w->n_ctx_audio;
    const float scale = 1.0f / sqrtf((float)E);
    const int prob_cap = w->n_ctx_text > C ? w->n_ctx_text : C;
#pragma omp parallel for num_threads(c->n_threads) schedule(dynamic, 1)
    for (int ih = 0; ih < n * H; ih++) {
        int i = ih / H, h = ih % H;
        float *prob = c->dprob + (size_t)omp_get_thread_num() * prob_cap;
        cpu_attend_cross(c->dq + (size_t)i * D + h * E,
                         cpu_cross_k(c, e[i].window, layer) + (size_t)h * E * C,
                         cpu_cross_v(c, e[i].window, layer) + (size_t)h * E * C, C, C, E, scale,
                         prob, c->da + (size_t)i * D + h * E);
    }
}

/* What decode_cross_qk asks for: (layer, head) pairs and where their scores go. */
typedef struct qk_capture {
    const int32_t *heads;
    int n_heads, n_frames;
    float *qk; /* [n_heads][n][n_frames] */
} qk_capture;

/* The scaled scores q.k / sqrt(E) of the captured heads of this layer (c->dq holds the queries). */
static void capture_qk(const cpu_ctx *c, int layer, const hark_decode_entry *e, int n,
                       const qk_capture *cap)
{
    const cpu_weights *w = c->w;
    const int D = w->d, H = w->n_text_head, E = D / H, C = w->n_ctx_audio, NF = cap->n_frames;
    const float scale = 1.0f / sqrtf((float)E);
    for (int k = 0; k < cap->n_heads; k++) {
        if (cap->heads[2 * k] != layer)
            continue;
        const int h = cap->heads[2 * k + 1];
#pragma omp parallel for num_threads(c->n_threads) schedule(static)
        for (int i = 0; i < n; i++) {
            const float *q = c->dq + (size_t)i * D + h * E;
            const uint16_t *kt = cpu_cross_k(c, e[i].window, layer) + (size_t)h * E * C;
            float *out = cap->qk + ((size_t)k * n + i) * NF;
            for (int t = 0; t < NF; t++) {
                float s = 0.0f;
                for (int j = 0; j < E; j++)
                    s += q[j] * hark_f16_to_f32(kt[(size_t)j * C + t]);
                out[t] = s * scale;
            }
        }
    }
}

static void decoder_layer(const cpu_ctx *c, int layer, const hark_decode_entry *e, int n,
                          const qk_capture *cap)
{
    const cpu_weights *w = c->w;
    const cpu_dec_layer *l = &w->dec[layer];
    const int D = w->d, F = w->f, nt = c->n_threads;
    const size_t RD = (size_t)n * D;

    cpu_layer_norm(c->dx, l->attn_ln_w, l->attn_ln_b, n, D, c->dh, nt);
    cpu_linear(c, &l->attn.q, l->attn.q_b, c->dh, D, n, c->dq, D);
    cpu_linear(c, &l->attn.k, NULL, c->dh, D, n, c->dk, D);
    cpu_linear(c, &l->attn.v, l->attn.v_b, c->dh, D, n, c->dv, D);
    self_attention(c, layer, e, n);
    cpu_linear(c, &l->attn.o, l->attn.o_b, c->da, D, n, c->dh, D);
    cpu_add_rows(c->dx, c->dh, RD);

    cpu_layer_norm(c->dx, l->cross_ln_w, l->cross_ln_b, n, D, c->dh, nt);
    cpu_linear(c, &l->cross.q, l->cross.q_b, c->dh, D, n, c->dq, D);
    cross_attention(c, layer, e, n);
    if (cap)
        capture_qk(c, layer, e, n, cap);
    cpu_linear(c, &l->cross.o, l->cross.o_b, c->da, D, n, c->dh, D);
    cpu_add_rows(c->dx, c->dh, RD);

    cpu_layer_norm(c->dx, l->mlp_ln_w, l->mlp_ln_b, n, D, c->dh, nt);
    cpu_linear(c, &l->fc1, l->fc1_b, c->dh, D, n, c->df, F);
    cpu_gelu(c->df, (size_t)n * F, nt);
    cpu_linear(c, &l->fc2, l->fc2_b, c->df, F, n, c->dh, D);
    cpu_add_rows(c->dx, c->dh, RD);
}

static hark_status decode_impl(void *ctx, const hark_decode_entry *e, int n, float *logits,
                               const qk_capture *cap)
{
    cpu_ctx *c = ctx;
    if (!c)
        return hark_fail(HARK_ERR_INVALID_ARG, "cpu decode: no context");
    hark_status st = check_entries(c, e, n, logits);
    if (st != HARK_OK || n == 0)
        return st;
    const cpu_weights *w = c->w;
    const int D = w->d;

    embed(c, e, n, c->dx);
    for (int l = 0; l < w->n_text_layer; l++)
        decoder_layer(c, l, e, n, cap);

    int n_want = 0;
    for (int i = 0; i < n; i++)
        if (e[i].want_logits)
            memcpy(c->dk + (size_t)n_want++ * D, c->dx + (size_t)i * D, (size_t)D * sizeof(float));
    cpu_layer_norm(c->dk, w->dec_ln_w, w->dec_ln_b, n_want, D, c->dh, c->n_threads);
    cpu_linear(c, &w->tok_emb, NULL, c->dh, D, n_want, logits, w->n_vocab);
    return HARK_OK;
}

/* See backend.h (decode). At most c->max_rows entries per call (HARK_ERR_CAPACITY beyond). */
hark_status cpu_decode(void *ctx, const hark_decode_entry *e, int n, float *logits)
{
    return decode_impl(ctx, e, n, logits, NULL);
}

/* See backend.h (decode_cross_qk). */
hark_status cpu_decode_cross_qk(void *ctx, const hark_decode_entry *e, int n, float *logits,
                                const int32_t *heads, int n_heads, int n_frames, float *qk)
{
    const cpu_ctx *c = ctx;
    if (!c)
        return hark_fail(HARK_ERR_INVALID_ARG, "cpu decode_cross_qk: no context");
    hark_status st = hark_check_cross_qk("cpu decode_cross_qk", heads, n_heads, n_frames, qk,
                                         c->w->n_text_layer, c->w->n_text_head,
                                         c->w->n_ctx_audio);
    if (st != HARK_OK)
        return st;
    const qk_capture cap = { heads, n_heads, n_frames, qk };
    return decode_impl(ctx, e, n, logits, &cap);
}
