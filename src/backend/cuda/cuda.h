/*
 * cuda.h — the CUDA backend's private structures: weights on one device, a context (window
 * slots, the paged self-attention cache, scratch, cuBLASLt plans, CUDA graphs per batch bucket).
 * Shape legend as in kernels.h: B windows, C audio positions, D width, F ffn width, L mel frames,
 * M mels, T text positions, V vocabulary, R decoder rows, S positions per cache block,
 * NB blocks in the pool, MB blocks per sequence, W window slots, NL decoder layers.
 */
#ifndef HARK_CUDA_H
#define HARK_CUDA_H

#include "backend/backend.h"
#include "backend/cuda/kernels.h"
#include "util/util.h"

#include <cublasLt.h>
#include <cuda_runtime_api.h>

/* y = x W^T (+ b): W [n][k] in the model's dtype, b [n] or NULL. Quantized (qbits 8 or 4,
 * docs/quant.md): W int8 [n][k] or packed int4 [n][k/2], scale fp16 [n][k/group]. FP8 (the
 * encoder's products with hark_model_params.encoder_fp8): w NULL, w8 e4m3 [n][k] with s8 fp32
 * [n], one scale per output channel (fp8.cu); only cu_gemm_f8 takes it. */
typedef struct cu_lin {
    void *w;
    const void *b;
    int n, k;
    int qbits, group;
    const void *scale;
    void *w8;
    float *s8;
} cu_lin;

typedef struct cu_enc_layer {
    void *ln1_g, *ln1_b, *ln2_g, *ln2_b; /* [D] */
    cu_lin qkv;                          /* [3D, D], bias [3D] (k's part zero) */
    cu_lin o, fc1, fc2;                  /* [D, D], [F, D], [D, F] */
} cu_enc_layer;

typedef struct cu_dec_layer {
    void *ln1_g, *ln1_b, *ln2_g, *ln2_b, *ln3_g, *ln3_b;
    cu_lin qkv, o;       /* self-attention */
    cu_lin cq, co;       /* cross-attention query and output */
    cu_lin ck, cv;       /* cross-attention keys and values from the encoder output */
    cu_lin fc1, fc2;
} cu_dec_layer;

typedef struct cu_weights {
    int device;
    char device_name[300];
    hark_dtype dt;
    size_t esz;
    int D, F, M, C, T, V, H_enc, H_dec, n_enc, n_dec;
    cu_lin conv1, conv2; /* [D, M*3], [D, D*3] */
    void *enc_pos;       /* [C, D] */
    cu_enc_layer *enc;
    void *enc_ln_g, *enc_ln_b;
    cu_lin logits;       /* tok_emb [V, D], no bias */
    void *dec_pos;       /* [T, D] */
    cu_dec_layer *dec;
    void *dec_ln_g, *dec_ln_b;
    size_t max_q; /* elements of the largest quantized matrix (0: none) */
    int f8;       /* the encoder's products (and the cross K/V projections) in FP8 */
    size_t bytes;
    void **allocs;
    int n_allocs, cap_allocs;
} cu_weights;

/* One cached cuBLASLt problem. */
typedef struct cu_plan {
    int n, m, k, ldx, ldy, bias, beta1, out_f32, f8;
    cublasLtMatmulDesc_t op;
    cublasLtMatrixLayout_t a, b, c;
    cublasLtMatmulAlgo_t algo;
    int timed;     /* algo chosen by timing (not inherited, not the heuristic's first) */
    uint64_t used; /* the context's plan_tick at the last use (the cache evicts the oldest) */
} cu_plan;

#define CU_MAX_PLANS 512
#define CU_MAX_GRAPHS 16
#define CU_BLOCK 16 /* S */

typedef struct cu_ctx {
    const cu_weights *w;
    int dev;
    cudaStream_t st;
    cublasLtHandle_t lt;
    void *ws;
    size_t ws_size;
    cu_plan plans[CU_MAX_PLANS];
    int n_plans;
    uint64_t plan_tick;
    int gemm_tune; /* time cuBLASLt's candidate algorithms per shape (HARK_CUDA_GEMM_TUNE=0: off) */
    int f8_fast_accum; /* FP8 products accumulate in the tensor cores' fast mode
                          (HARK_CUDA_FP8_FAST=0|1) */
    int max_windows, max_seqs, max_rows, rows_cap; /* rows_cap: max_rows rounded up to 2^k */
    size_t bytes; /* everything this context allocated on the device */
    size_t peak_used;
    void **allocs;
    int n_allocs, cap_allocs;

    /* window slots */
    void *enc_out; /* [W][C][D] */
    void *cross_k; /* [NL][W][C][D] in the model's type, or int8 / int4 (cross_quant.cu) */
    void *cross_v; /* [NL][W][C][D] */
    int kv_bits;   /* cross K/V: 16 (the model's type), 8 or 4 (hark_state_params.cross_kv_bits) */
    float *cross_ks, *cross_vs; /* with 8 or 4 bits: scales [NL][W][C][H] */

    /* encoder scratch for ew windows at a time */
    int ew;
    float *pcm_dev;   /* [ew][480000] */
    float *pcm_host;  /* pinned [ew][480000] */
    float *mel_dev;   /* [ew][M][L] */
    void *ex, *eh, *ea; /* [ew*C][D] */
    void *eqkv;         /* [ew*C][3D]; also the im2col buffers */
    uint8_t *x8;        /* with FP8: e4m3 activations [ew*C][F] ... */
    float *x8s;         /* ... and their row scales [ew*C] */
    void *ef;           /* [ew*C][F]; also conv1's output [ew*L][D] */
    cu_mel_plan *mel;
    cudaEvent_t ev[3];
    double mel_ms, encoder_ms;

    /* paged self-attention cache */
    int mb, n_blocks;
    void *k_pool, *v_pool; /* [NL][NB*S][D] */
    int *free_blocks, n_free;
    int32_t *seq_blocks; /* [max_seqs][MB] */
    int *seq_nblk;       /* [max_seqs] */

    /* decoder scratch for rows_cap rows */
    void *dx, *dh, *da, *dq; /* [R][D] */
    void *dqkv;              /* [R][3D] */
    void *df;                /* [R][F] */
    float *dlogits;          /* [R][V] */
    int32_t *meta_dev, *meta_host; /* tokens, pos, slot, len, win [rows_cap each], then the
                                      block table [rows_cap][MB], then argmax [rows_cap] */
    /* decode_pick: rows, offsets and masked ids in, picks out; grown on demand */
    void *pick_dev, *pick_host;
    size_t pick_cap; /* bytes of each */
    cudaGraphExec_t graphs[CU_MAX_GRAPHS]; /* index log2(R) */
    int use_graphs;
    int gemv_splitk, gemv_splitk_min_k; /* split-K of long small-batch rows (gemv.cu): 4 warps
                                           from k = 2048 (HARK_CUDA_GEMV_SPLITK=0|2|4,
                                           HARK_CUDA_GEMV_SPLITK_MIN_K) */
    int gemv_max_rows; /* products of at most this many rows go through cu_gemv (default 2: on
                          an H100 cuBLASLt was 1.6-2.6x faster at 3-8 rows, bench/RESULTS.md;
                          HARK_CUDA_GEMV=N sets it, 0 turns it off) */
    int gemv_q_max_rows; /* the same for quantized weights (default 2: on an H100 dequantizing
                            into wq for cuBLASLt was 1.4-3.6x faster at 3-8 rows,
                            bench/RESULTS.md; HARK_CUDA_GEMV_Q=N up to 8, the kernel's limit) */
    void *wq;            /* [max_q] in the model's type: a dequantized matrix for cuBLASLt */
} cu_ctx;

/* meta layout offsets (in int32 elements) */
static inline int32_t *cu_meta_tokens(int32_t *m, int cap) { (void)cap; return m; }
static inline int32_t *cu_meta_pos(int32_t *m, int cap) { return m + cap; }
static inline int32_t *cu_meta_slot(int32_t *m, int cap) { return m + 2 * cap; }
static inline int32_t *cu_meta_len(int32_t *m, int cap) { return m + 3 * cap; }
static inline int32_t *cu_meta_win(int32_t *m, int cap) { return m + 4 * cap; }
static inline int32_t *cu_meta_bt(int32_t *m, int cap) { return m + 5 * cap; }
static inline int32_t *cu_meta_argmax(int32_t *m, int cap, int mb) { return m + 5 * cap + cap * mb; }

/* cuda_gemm.c: y[m][n] = x[m][k] W^T (+ b) (+ y when accumulate); out_f32 writes fp32 y. */
hark_status cu_gemm(cu_ctx *c, const cu_lin *w, const void *x, int ldx, int m, void *y, int ldy,
                    int accumulate, int out_f32);
/* The FP8 product of w (w8, s8) with x8 e4m3 [m][k] of row scales xs [m] (cu_rows_to_f8):
 * y[m][ldy] (dt) = (x8 * xs) (w8 * s8)^T (+ b) (+ y when accumulate), fp32 accumulation. */
hark_status cu_gemm_f8(cu_ctx *c, const cu_lin *w, const uint8_t *x8, const float *xs, int m,
                       void *y, int ldy, int accumulate);
/* The product with what rides along (fused into the small-batch kernel when m is small, else
 * separate kernels around cuBLASLt): layer norm of x first (ln_g/ln_b, using ln_scratch [m][k]
 * on the general path), bias, GELU, the residual add (accumulate), fp32 output, and the K/V
 * columns of a fused QKV product written into the paged cache at kv_slot. */
typedef struct cu_lin_opts {
    const void *ln_g, *ln_b;
    void *ln_scratch;
    int accumulate, out_f32, gelu;
    void *k_pool, *v_pool;
    const int32_t *kv_slot;
} cu_lin_opts;
hark_status cu_linear(cu_ctx *c, const cu_lin *w, const void *x, int ldx, int m, void *y, int ldy,
                      const cu_lin_opts *o);
void cu_plans_free(cu_ctx *c);

/* cuda_encode.c / cuda_decode.c: the stages behind the ops table. */
hark_status cu_encode(void *ctx, const float *mel, int n, const int *slots);
hark_status cu_encode_pcm(void *ctx, const float *pcm, int n, const int *slots);
hark_status cu_decode(void *ctx, const hark_decode_entry *e, int n, float *logits);
hark_status cu_decode_cross_qk(void *ctx, const hark_decode_entry *e, int n, float *logits,
                               const int32_t *heads, int n_heads, int n_frames, float *qk);
hark_status cu_decode_pick(void *ctx, const hark_decode_entry *e, int n, float *logits,
                           const uint8_t *pick, const hark_pick_mask *masks, hark_pick *picks);
hark_status cu_decode_argmax(void *ctx, const hark_decode_entry *e, int n, int limit,
                             int32_t *tokens);
hark_status cu_decode_greedy(void *ctx, const hark_decode_entry *e, int n, int steps, int limit,
                             int32_t *tokens);
hark_status cu_kv_copy(void *ctx, int src, int dst, int n_pos);
hark_status cu_kv_free(void *ctx, int seq);

/* A CUDA failure as a hark error naming the call. */
hark_status cu_check(cudaError_t e, const char *what);
hark_status cu_check_lt(cublasStatus_t e, const char *what);
#define CU_TRY(expr) HARK_TRY(expr)
#define CU_K(expr) CU_TRY(cu_check((cudaError_t)(expr), #expr))

#endif
