/*
 * kernels.h — the CUDA backend's kernels, as plain C launchers (extern "C", explicit stream).
 * Each launcher returns 0 or a cudaError_t value (the launch error); none synchronizes.
 *
 * Element type: `dt` is the activation/weight type of the model on the GPU: HARK_DTYPE_F16,
 * HARK_DTYPE_BF16 or HARK_DTYPE_F32 (void pointers point at that type). Every reduction
 * (layer norm statistics, softmax, attention scores and sums) accumulates in fp32.
 *
 * Shape legend: B windows, L mel frames (3000), M mels, C audio positions (1500), D width,
 * H heads, E head width (D / H), R decoder rows (entries of one decode call), V vocabulary,
 * S block size of the paged KV cache (positions per block), NB blocks in the pool,
 * MB max blocks per sequence, W window slots.
 */
#ifndef HARK_CUDA_KERNELS_H
#define HARK_CUDA_KERNELS_H

#include "hark.h"

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct CUstream_st *cu_stream;

/* y[rows][d] = LN(x[rows][d]) * g + b (eps 1e-5, biased variance). x and y may not alias.
 * g, b: [d] in dt. */
int cu_layer_norm(hark_dtype dt, const void *x, const void *g, const void *b, void *y, int rows,
                  int d, cu_stream s);

/* In place exact GELU (erf form) over n elements. */
int cu_gelu(hark_dtype dt, void *x, long n, cu_stream s);

/* x[b][t][:] = GELU(x[b][t][:]) + pos[t][:], x [B][C][D], pos [C][D]. */
int cu_gelu_add_pos(hark_dtype dt, void *x, const void *pos, int n_win, int c, int d, cu_stream s);

/* conv1 input: mel fp32 [B][M][L] (channel-major, as hark_log_mel writes it) ->
 * out [B][L][M*3] in dt with out[b][t][m*3+k] = mel[b][m][t+k-1] (0 outside [0, L)). */
int cu_im2col_mel(hark_dtype dt, const float *mel, void *out, int n_win, int m, int l, cu_stream s);

/* conv2 input: x [B][Lin][Cin] time-major -> out [B][Lout][Cin*3] with
 * out[b][t][c*3+k] = x[b][t*stride+k-1][c] (0 outside [0, Lin)). */
int cu_im2col_t(hark_dtype dt, const void *x, void *out, int n_win, int lin, int cin, int stride,
                int lout, cu_stream s);

/* x[r][:] = tok_emb[tokens[r]][:] + pos_emb[pos[r]][:], x [R][D]. tokens/pos on the device. */
int cu_embed(hark_dtype dt, const void *tok_emb, const void *pos_emb, const int32_t *tokens,
             const int32_t *pos, void *x, int rows, int d, cu_stream s);

/* Encoder self-attention, non-causal, for n_win windows of C positions:
 * qkv [B][C][3D] (q at column 0, k at D, v at 2D of each row) -> out [B][C][D],
 * out = softmax(q k^T * scale) v per head. (Fused: no C x C matrix in global memory.) */
int cu_encoder_attention(hark_dtype dt, const void *qkv, void *out, int n_win, int c, int d,
                         int h, float scale, cu_stream s);

/* Paged KV cache write: for each row r, K/V rows k[r*ld .. +D], v[r*ld .. +D] go to the pool
 * slot `slot[r]` (= block * S + offset): k_pool [NB*S][D] of this layer. slot < 0: skip. */
int cu_kv_write(hark_dtype dt, const void *k, const void *v, int ld, void *k_pool, void *v_pool,
                const int32_t *slot, int rows, int d, cu_stream s);

/* Decoder self-attention over the paged cache of this layer: row r's query q[r*ldq + h*E ..]
 * attends to positions 0 .. len[r]-1 of its sequence, whose position p lives in pool slot
 * block_table[r*MB + p/S] * S + p%S. out [R][D]. len[r] <= 0: out row is zeros. */
int cu_self_attention_paged(hark_dtype dt, const void *q, int ldq, const void *k_pool,
                            const void *v_pool, const int32_t *block_table, int mb, int blk,
                            const int32_t *len, void *out, int rows, int d, int h, float scale,
                            cu_stream s);

/* Decoder cross-attention: row r's query q[r*ldq + h*E ..] attends to all C positions of window
 * slot win[r]: keys ck + win[r]*win_stride (a [C][D] matrix of this layer), values cv likewise.
 * out [R][D]. win[r] < 0: out row is zeros. */
int cu_cross_attention(hark_dtype dt, const void *q, int ldq, const void *ck, const void *cv,
                       long win_stride, const int32_t *win, void *out, int rows, int c, int d,
                       int h, float scale, cu_stream s);

/* Word-timestamp scores: out[row][t] = scale * q[row] . K[win[row]][t] over head `head` (width
 * d / h) for t < n_frames, fp32. Rows whose win is negative are left alone. */
int cu_cross_qk(hark_dtype dt, const void *q, int ldq, const void *ck, long win_stride,
                const int32_t *win, float *out, int rows, int d, int h, int head, int n_frames,
                float scale, cu_stream s);

/* int8 / int4 cross-attention keys/values (cross_quant.cu; bits 8 or 4): rows [n_win * c][D]
 * of dt -> [n_win][H][c][E * bits / 8] bytes (int8, or int4 stored q + 8 with element 2j in the
 * low nibble of byte j) and fp32 scales [n_win][H][c] (max |x| / 127 or / 7 per head and
 * position): each (window, head) one contiguous run. Head width 32 or 64. */
int cu_quantize_kv(hark_dtype dt, int bits, const void *x, long n_win, int c, int d, int h,
                   void *q, float *scales, cu_stream s);
/* cu_cross_attention over quantized K/V and their scales in cu_quantize_kv's layout. */
int cu_cross_attention_q(hark_dtype dt, int bits, const void *q, int ldq, const void *k8,
                         const void *v8, const float *ks, const float *vs, const int32_t *win,
                         void *out, int rows, int c, int d, int h, float scale, cu_stream s);
/* cu_cross_qk over quantized keys. */
int cu_cross_qk_q(hark_dtype dt, int bits, const void *q, int ldq, const void *k8,
                  const float *ks, const int32_t *win, float *out, int rows, int c, int d, int h,
                  int head, int n_frames, float scale, cu_stream s);

/* Small-batch product y[m][n] = LN?(x)[m][k] W[n][k]^T (+ b[n]) (+ y when accumulate), then
 * exact GELU when gelu, for m <= CU_GEMV_MAX_ROWS. y is fp32 when out_f32, else dt.
 * ln_g/ln_b (NULL: none): layer-normalise each x row first (eps 1e-5; needs m*k*4 <= 48 KiB).
 * kv_slot (NULL: none): a fused QKV product (n == 3 * kv_d); columns [kv_d, 2 kv_d) of row i
 * also go to k_pool[kv_slot[i]][..] and [2 kv_d, 3 kv_d) to v_pool (slot < 0: skipped).
 * Needs k and ldx multiples of 16 bytes' worth of elements and 16-byte aligned x and W;
 * otherwise returns cudaErrorInvalidValue and the caller takes the general path. */
#define CU_GEMV_MAX_ROWS 8
typedef struct cu_gemv_args {
    hark_dtype dt;
    const void *x;
    int ldx, m;
    const void *w, *b;
    int n, k;
    void *y;
    int ldy, accumulate, out_f32, gelu;
    const void *ln_g, *ln_b;
    void *k_pool, *v_pool;
    const int32_t *kv_slot;
    int kv_d;
    int splitk, splitk_min_k; /* rows of k >= splitk_min_k over splitk (2 or 4) warps; 0: off */
    /* quantized weights (docs/quant.md): qbits 8 (w int8 [n][k], scale fp16 [n]) or 4 (w int4
     * packed [n][k/2], scale fp16 [n][k/group], group a multiple of 32); 0: w in dt */
    int qbits, group;
    const void *scale;
} cu_gemv_args;
int cu_gemv(const cu_gemv_args *a, cu_stream s);
/* out[n][k] (dt) = the quantized weights w (qbits 8 or 4, layout as in cu_gemv_args) times
 * their fp16 scales: the general path's operand. k a multiple of 16 (int8) or 32 (int4). */
int cu_dequant(hark_dtype dt, int qbits, int group, const void *w, const void *scale, int n,
               int k, void *out, cu_stream s);

/* FP8 (e4m3) rows with a scale per row (fp8.cu): for each row r of x [rows][ldx] (dt),
 * v = f(x[r][0..k)) with f the identity (CU_F8_PLAIN), exact GELU (CU_F8_GELU) or layer norm
 * with g, b [k] (CU_F8_LN, eps 1e-5); scale[r] = max |v| / 448 (1 for a zero row);
 * out[r][j] = e4m3(v[j] / scale[r]), saturating, out [rows][k]. k a multiple of 4, at most
 * 12000; out 4-byte aligned. Weights (rows of W) and activations alike. */
enum { CU_F8_PLAIN = 0, CU_F8_GELU = 1, CU_F8_LN = 2 };
int cu_rows_to_f8(hark_dtype dt, int mode, const void *x, int ldx, const void *g, const void *b,
                  int rows, int k, uint8_t *out, float *scale, cu_stream s);

/* Programmatic dependent launch (Hopper) for the decoder-step kernels (cu_gemv, the decode
 * attentions, cu_embed's successor): each may start while the kernel before it finishes and
 * stream its weights meanwhile (common.cuh). Process-wide; off until set. Graphs captured while
 * it is on keep the programmatic edges. */
void cu_set_pdl(int on);

/* out[r] = argmax over t < limit of logits[r][t] (fp32 logits [R][V]); ties: lowest id. */
int cu_argmax(const float *logits, int v, int limit, int32_t *out, int rows, cu_stream s);
/* The same, each id also written to out2[r] (out2 may be NULL). */
int cu_argmax2(const float *logits, int v, int limit, int32_t *out, int32_t *out2, int rows,
               cu_stream s);

/* The greedy pick of n rows (backend.h hark_pick): for b < n, row rows[b] of logits[][v] gets
 * -inf at ids[off[b] .. off[b + 1]) (in place), then out[b] = its argmax (lowest id on ties; -1
 * when every logit is -inf), that logit and the log-sum-exp of the masked row. rows, off, ids
 * and out are device memory. */
typedef struct cu_pick_out {
    int32_t token;
    float logit, lse;
} cu_pick_out;
int cu_pick(float *logits, int v, const int32_t *rows, const int32_t *off, const int32_t *ids,
            cu_pick_out *out, int n, cu_stream s);

/* Converts n fp32 values to dt (and back). */
int cu_from_f32(hark_dtype dt, const float *x, void *y, long n, cu_stream s);
int cu_to_f32(hark_dtype dt, const void *x, float *y, long n, cu_stream s);

/* GPU log-mel, the same function as hark_log_mel (src/audio/mel.c) for whole windows:
 * pcm fp32 [B][480000] (each window already zero-padded) -> mel fp32 [B][M][3000].
 * A plan holds the constant tables (window, DFT basis, filters) and scratch for max_win
 * windows. */
typedef struct cu_mel_plan cu_mel_plan;
int cu_mel_plan_new(int n_mels, int max_win, cu_mel_plan **out);
void cu_mel_plan_free(cu_mel_plan *p);
int cu_log_mel(cu_mel_plan *p, const float *pcm, int n_win, float *mel, cu_stream s);

#ifdef __cplusplus
}
#endif
#endif
