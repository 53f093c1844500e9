/*
 * cpu.h — private to the CPU backend: its uploaded weights, its per-state context, and the ops
 * the encoder and decoder files share (cpu.c, ops.c, matmul.c, encoder.c, decoder.c).
 *
 * Shape legend (as in model/model.h): V vocab, D width, F ffn width, H heads, E head size D/H,
 * M mels, C audio positions (1500), L mel frames (3000), T text context, R rows of one decode
 * call (entries), N output features and K input features of a linear layer.
 */
#ifndef HARK_CPU_H
#define HARK_CPU_H

#include "backend/backend.h"

#include <stdint.h>

/* A weight matrix W[N][K] (y = x W^T), F16, F32 or quantized, read-only; data points into the
 * model file or into memory the cpu_weights own (BF16 converted at upload). Quantized (qbits 8
 * or 4, docs/quant.md): data int8 [N][K] or packed int4 [N][K/2], scale fp32 [N][K/group]. */
typedef struct cpu_mat {
    const void *data;
    hark_dtype dtype; /* HARK_DTYPE_F16, HARK_DTYPE_F32, or HARK_DTYPE_I8 / U8 with qbits */
    int n, k;
    int qbits, group;
    const float *scale;
} cpu_mat;

typedef struct cpu_attn {
    cpu_mat q, k, v, o;
    const float *q_b, *v_b, *o_b; /* [D] */
} cpu_attn;

typedef struct cpu_enc_layer {
    const float *attn_ln_w, *attn_ln_b, *mlp_ln_w, *mlp_ln_b; /* [D] */
    cpu_attn attn;
    cpu_mat fc1, fc2;            /* [F, D], [D, F] */
    const float *fc1_b, *fc2_b;  /* [F], [D] */
} cpu_enc_layer;

typedef struct cpu_dec_layer {
    const float *attn_ln_w, *attn_ln_b, *cross_ln_w, *cross_ln_b, *mlp_ln_w, *mlp_ln_b; /* [D] */
    cpu_attn attn, cross;
    cpu_mat fc1, fc2;
    const float *fc1_b, *fc2_b;
} cpu_dec_layer;

/* The backend's view of a model: matrices as they are in the file (F16 or F32; BF16 widened),
 * every vector and the positional tables in fp32 (small), all owned by `arena`. */
typedef struct cpu_weights {
    int n_mels, d, f, n_audio_head, n_text_head, n_audio_layer, n_text_layer;
    int n_ctx_audio, n_ctx_text, n_vocab;
    cpu_mat conv1, conv2;             /* [D, M*3], [D, D*3]: conv kernels as matrices */
    const float *conv1_b, *conv2_b;   /* [D] */
    const float *enc_pos;             /* [C, D] */
    cpu_enc_layer *enc;               /* [n_audio_layer] */
    const float *enc_ln_w, *enc_ln_b; /* [D] */
    cpu_mat tok_emb;                  /* [V, D] embedding and tied output projection */
    const float *dec_pos;             /* [T, D] */
    cpu_dec_layer *dec;               /* [n_text_layer] */
    const float *dec_ln_w, *dec_ln_b; /* [D] */
    int any_f16;                      /* some matrix is F16 or quantized: contexts need a
                                         widening panel */
    size_t max_nk;                    /* largest N*K among the non-vocabulary matrices */
    void *arena;                      /* owns converted vectors and BF16->F32 matrices */
} cpu_weights;

/* Rows of one decode call are capped at CPU_ROWS_PER_SEQ * max_seqs + n_text_ctx (a prompt of
 * one sequence plus a few tokens for every other live sequence). */
#define CPU_ROWS_PER_SEQ 4

typedef struct cpu_ctx {
    const cpu_weights *w;
    int max_windows, max_seqs, max_rows, n_threads;
    /* window slots */
    float *enc_out;  /* [max_windows][C][D] */
    uint16_t *cross_k; /* [max_windows][n_text_layer][D][C] fp16, transposed so that a head's
                          scores and weighted sum are long contiguous vector loops; fp16 halves
                          the bytes every decoder step reads (as whisper.cpp does) */
    uint16_t *cross_v; /* [max_windows][n_text_layer][D][C] fp16 */
    /* sequence slots */
    float *self_k;   /* [max_seqs][n_text_layer][T][D] */
    float *self_v;   /* [max_seqs][n_text_layer][T][D] */
    /* encoder scratch (one window at a time) */
    float *im2col;   /* [max(L * M*3, C * D*3)] */
    float *ex, *eh, *eq, *ek, *ev, *ea; /* [L, D] for conv1, then [C, D] */
    float *ef;       /* [C, F] */
    float *scores;   /* [n_threads][C][C] attention probabilities, one per thread */
    /* decoder scratch */
    float *dx, *dh, *dq, *dk, *dv, *da; /* [R, D] */
    float *df;       /* [R, F] */
    float *dprob;    /* [n_threads][max(T, C)] */
    /* widening panel for F16 weights in large-M products */
    float *panel;    /* [max_nk] */
    float *zero_row; /* [max(F, D*3, M*3)] zeros, padding for partial GEMV tiles */
    void *arena;
} cpu_ctx;

/* matmul.c: y[m][n] = sum_k x[m][k] W[n][k] + b[n] (b may be NULL), x [M, ldx], y [M, ldy].
 * Small M uses the F16 GEMV kernel; large M widens W panel by panel and calls sgemm. */
void cpu_linear(const cpu_ctx *c, const cpu_mat *w, const float *b, const float *x, int ldx,
                int m, float *y, int ldy);
/* The small-M kernel alone (F16 weights): exported for the lab and the benchmark. */
void cpu_gemv_f16(const uint16_t *w, int n, int k, const float *b, const float *x, int ldx,
                  int m, float *y, int ldy, const float *zero_row, int n_threads);
/* The small-M kernel for quantized weights (int8 per row, int4 per group). */
void cpu_gemv_q(const cpu_mat *w, const float *b, const float *x, int ldx, int m, float *y,
                int ldy, int n_threads);
/* Rows at or above this use sgemm on widened weights. */
#define CPU_GEMM_MIN_ROWS 32

/* ops.c */
void cpu_layer_norm(const float *x, const float *g, const float *b, int rows, int d, float *y,
                    int n_threads);
void cpu_gelu(float *x, size_t n, int n_threads);
/* In-place softmax of one row; returns nothing, row sums to 1. */
void cpu_softmax(float *x, int n);
float cpu_dot(const float *a, const float *b, int n);
/* y[0..n) += a * x[0..n) */
void cpu_axpy(float *y, float a, const float *x, int n);
/* Attention of one query head q[E] over keys k[t*ld .. +E], values v (same layout), t < n:
 * out[E] = softmax(q k^T * scale) v. prob is scratch [n]. */
void cpu_attend_one(const float *q, const float *k, const float *v, int ld, int n, int e,
                    float scale, float *prob, float *out);
/* Cross-attention of one query head q[E] over transposed keys kt[E][ldt] and values vt[E][ldt]
 * (the head's rows of the [D][C] cache), n positions: out[E] = softmax(q kt * scale) vt^T. */
void cpu_attend_cross(const float *q, const uint16_t *kt, const uint16_t *vt, int ldt, int n,
                      int e, float scale, float *prob, float *out);
/* y[rows][cols] fp32 -> yt[cols][rows] fp16 (round to nearest even). */
void cpu_transpose_f16(const float *y, int rows, int cols, uint16_t *yt, int n_threads);
void cpu_add_rows(float *x, const float *y, size_t n);

/* encoder.c / decoder.c: the stages behind the ops table. */
hark_status cpu_encode(void *ctx, const float *mel, int n, const int *slots);
hark_status cpu_decode(void *ctx, const hark_decode_entry *e, int n, float *logits);
hark_status cpu_decode_cross_qk(void *ctx, const hark_decode_entry *e, int n, float *logits,
                                const int32_t *heads, int n_heads, int n_frames, float *qk);

/* Sizes and offsets. */
static inline uint16_t *cpu_cross_k(const cpu_ctx *c, int slot, int layer)
{
    const cpu_weights *w = c->w;
    return c->cross_k + ((size_t)slot * w->n_text_layer + layer) * w->n_ctx_audio * w->d;
}
static inline uint16_t *cpu_cross_v(const cpu_ctx *c, int slot, int layer)
{
    const cpu_weights *w = c->w;
    return c->cross_v + ((size_t)slot * w->n_text_layer + layer) * w->n_ctx_audio * w->d;
}
static inline float *cpu_self_k(const cpu_ctx *c, int seq, int layer)
{
    const cpu_weights *w = c->w;
    return c->self_k + ((size_t)seq * w->n_text_layer + layer) * w->n_ctx_text * w->d;
}
static inline float *cpu_self_v(const cpu_ctx *c, int seq, int layer)
{
    const cpu_weights *w = c->w;
    return c->self_v + ((size_t)seq * w->n_text_layer + layer) * w->n_ctx_text * w->d;
}

#endif
