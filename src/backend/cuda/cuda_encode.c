/*
 * cuda_encode.c — the Whisper encoder on the GPU for a batch of windows, then every decoder
 * layer's cross-attention K and V into the window slots.
 * ref: openai/whisper model.py AudioEncoder.forward (conv1, GELU, conv2 stride 2, GELU,
 * + positional, pre-norm blocks, ln_post) and MultiHeadAttention (cross K/V from xa).
 * Windows go in chunks of c->ew; each chunk's products have M = ew x 1500 rows.
 */
#include "backend/cuda/cuda.h"

#include <math.h>
#include <string.h>

#define K(expr) CU_K(expr)

/* Rows of x [rows][ld] into c->x8 / c->x8s as FP8 with a scale per row, f (CU_F8_PLAIN,
 * CU_F8_GELU, or CU_F8_LN with g, b) applied on the way: the operand of cu_gemm_f8. */
static hark_status to_f8(cu_ctx *c, int mode, const void *x, int ld, int rows, int k,
                         const void *g, const void *b)
{
    return cu_check((cudaError_t)cu_rows_to_f8(c->w->dt, mode, x, ld, g, b, rows, k, c->x8,
                                               c->x8s, c->st), "cu_rows_to_f8");
}

/* y = (the encoder output of the call, rows) W^T: FP8 from c->x8 when the weights are FP8. */
static hark_status cross_gemm(cu_ctx *c, const cu_lin *w, const void *out, int rows, void *y)
{
    if (w->w8)
        return cu_gemm_f8(c, w, c->x8, c->x8s, rows, y, c->w->D, 0);
    return cu_gemm(c, w, out, c->w->D, rows, y, c->w->D, 0, 0);
}

/* Cross-attention K and V of decoder layer l for n windows whose encoder output is at out
 * (n x C rows), into the window slots slot0 .. slot0 + n - 1: the products straight into the
 * slots, or with int8 / int4 slots into scratch (c->ea, free once the layers are done) and then
 * quantised with a scale per position and head. With FP8 weights, c->x8 holds out in FP8. */
static hark_status cross_kv(cu_ctx *c, int l, const void *out, int n, int slot0)
{
    const cu_weights *w = c->w;
    const int D = w->D, C = w->C, H = w->H_dec;
    const size_t CD = (size_t)C * D, W = (size_t)c->max_windows;
    if (c->kv_bits == 16) {
        const size_t es = w->esz, off = ((size_t)l * W + (size_t)slot0) * CD * es;
        CU_TRY(cross_gemm(c, &w->dec[l].ck, out, n * C, (char *)c->cross_k + off));
        CU_TRY(cross_gemm(c, &w->dec[l].cv, out, n * C, (char *)c->cross_v + off));
        return HARK_OK;
    }
    const size_t off = ((size_t)l * W + (size_t)slot0) * CD * (size_t)c->kv_bits / 8;
    const size_t soff = ((size_t)l * W + (size_t)slot0) * (size_t)C * H;
    CU_TRY(cross_gemm(c, &w->dec[l].ck, out, n * C, c->ea));
    K(cu_quantize_kv(w->dt, c->kv_bits, c->ea, (long)n, C, D, H, (char *)c->cross_k + off,
                     c->cross_ks + soff, c->st));
    CU_TRY(cross_gemm(c, &w->dec[l].cv, out, n * C, c->ea));
    K(cu_quantize_kv(w->dt, c->kv_bits, c->ea, (long)n, C, D, H, (char *)c->cross_v + off,
                     c->cross_vs + soff, c->st));
    return HARK_OK;
}

/* The encoder of nb windows whose fp32 log-mel is in c->mel_dev, into slots[0..nb). */
static hark_status encode_chunk(cu_ctx *c, int nb, const int *slots)
{
    const cu_weights *w = c->w;
    const hark_dtype dt = w->dt;
    const int D = w->D, C = w->C, L = 2 * C, M = w->M, F = w->F;
    const size_t CD = (size_t)C * D, es = w->esz;
    cudaStream_t s = c->st;

    K(cu_im2col_mel(dt, c->mel_dev, c->eqkv, nb, M, L, s));
    CU_TRY(cu_gemm(c, &w->conv1, c->eqkv, M * 3, nb * L, c->ef, D, 0, 0)); /* [nb*L, D] */
    K(cu_gelu(dt, c->ef, (long)nb * L * D, s));
    K(cu_im2col_t(dt, c->ef, c->eqkv, nb, L, D, 2, C, s));
    CU_TRY(cu_gemm(c, &w->conv2, c->eqkv, D * 3, nb * C, c->ex, D, 0, 0)); /* [nb*C, D] */
    K(cu_gelu_add_pos(dt, c->ex, w->enc_pos, nb, C, D, s));

    const float scale = 1.0f / sqrtf((float)(D / w->H_enc));
    const int R = nb * C;
    for (int i = 0; i < w->n_enc && w->f8; i++) { /* FP8: each product's operand quantized by
                                                     the kernel before it (norm, GELU, a copy) */
        const cu_enc_layer *l = &w->enc[i];
        CU_TRY(to_f8(c, CU_F8_LN, c->ex, D, R, D, l->ln1_g, l->ln1_b));
        CU_TRY(cu_gemm_f8(c, &l->qkv, c->x8, c->x8s, R, c->eqkv, 3 * D, 0));
        K(cu_encoder_attention(dt, c->eqkv, c->ea, nb, C, D, w->H_enc, scale, s));
        CU_TRY(to_f8(c, CU_F8_PLAIN, c->ea, D, R, D, NULL, NULL));
        CU_TRY(cu_gemm_f8(c, &l->o, c->x8, c->x8s, R, c->ex, D, 1));
        CU_TRY(to_f8(c, CU_F8_LN, c->ex, D, R, D, l->ln2_g, l->ln2_b));
        CU_TRY(cu_gemm_f8(c, &l->fc1, c->x8, c->x8s, R, c->ef, F, 0));
        CU_TRY(to_f8(c, CU_F8_GELU, c->ef, F, R, F, NULL, NULL));
        CU_TRY(cu_gemm_f8(c, &l->fc2, c->x8, c->x8s, R, c->ex, D, 1));
    }
    for (int i = 0; i < w->n_enc && !w->f8; i++) {
        const cu_enc_layer *l = &w->enc[i];
        K(cu_layer_norm(dt, c->ex, l->ln1_g, l->ln1_b, c->eh, nb * C, D, s));
        CU_TRY(cu_gemm(c, &l->qkv, c->eh, D, nb * C, c->eqkv, 3 * D, 0, 0));
        K(cu_encoder_attention(dt, c->eqkv, c->ea, nb, C, D, w->H_enc, scale, s));
        CU_TRY(cu_gemm(c, &l->o, c->ea, D, nb * C, c->ex, D, 1, 0));
        K(cu_layer_norm(dt, c->ex, l->ln2_g, l->ln2_b, c->eh, nb * C, D, s));
        CU_TRY(cu_gemm(c, &l->fc1, c->eh, D, nb * C, c->ef, F, 0, 0));
        K(cu_gelu(dt, c->ef, (long)nb * C * F, s));
        CU_TRY(cu_gemm(c, &l->fc2, c->ef, F, nb * C, c->ex, D, 1, 0));
    }

    /* ln_post into the slots; cross K/V of every decoder layer */
    int contiguous = 1;
    for (int i = 1; i < nb; i++)
        contiguous &= slots[i] == slots[0] + i;
    const size_t slot_bytes = CD * es;
    if (contiguous) {
        char *out = (char *)c->enc_out + (size_t)slots[0] * slot_bytes;
        K(cu_layer_norm(dt, c->ex, w->enc_ln_g, w->enc_ln_b, out, nb * C, D, s));
        if (w->f8)
            CU_TRY(to_f8(c, CU_F8_PLAIN, out, D, R, D, NULL, NULL));
        for (int l = 0; l < w->n_dec; l++)
            CU_TRY(cross_kv(c, l, out, nb, slots[0]));
        return HARK_OK;
    }
    K(cu_layer_norm(dt, c->ex, w->enc_ln_g, w->enc_ln_b, c->eh, nb * C, D, s));
    for (int i = 0; i < nb; i++) {
        char *out = (char *)c->enc_out + (size_t)slots[i] * slot_bytes;
        K(cudaMemcpyAsync(out, (char *)c->eh + (size_t)i * slot_bytes, slot_bytes,
                          cudaMemcpyDeviceToDevice, s));
        if (w->f8)
            CU_TRY(to_f8(c, CU_F8_PLAIN, out, D, C, D, NULL, NULL));
        for (int l = 0; l < w->n_dec; l++)
            CU_TRY(cross_kv(c, l, out, 1, slots[i]));
    }
    return HARK_OK;
}

static hark_status check_slots(const cu_ctx *c, int n, const int *slots)
{
    if (n < 1 || !slots)
        return hark_fail(HARK_ERR_INVALID_ARG, "cuda encode: bad arguments (n %d)", n);
    if (n > c->max_windows)
        return hark_fail(HARK_ERR_CAPACITY, "cuda encode: %d windows, the state holds %d", n,
                         c->max_windows);
    for (int i = 0; i < n; i++)
        if (slots[i] < 0 || slots[i] >= c->max_windows)
            return hark_fail(HARK_ERR_INVALID_ARG, "cuda encode: window slot %d of %d", slots[i],
                             c->max_windows);
    return HARK_OK;
}

/* See backend.h (encode): host mel [n][M][3000] fp32. */
hark_status cu_encode(void *ctx, const float *mel, int n, const int *slots)
{
    cu_ctx *c = ctx;
    CU_TRY(check_slots(c, n, slots));
    if (!mel)
        return hark_fail(HARK_ERR_INVALID_ARG, "cuda encode: no mel");
    K(cudaSetDevice(c->dev));
    const size_t per = (size_t)c->w->M * 2 * c->w->C;
    for (int i0 = 0; i0 < n; i0 += c->ew) {
        int nb = n - i0 < c->ew ? n - i0 : c->ew;
        K(cudaMemcpyAsync(c->mel_dev, mel + (size_t)i0 * per, (size_t)nb * per * sizeof(float),
                          cudaMemcpyHostToDevice, c->st));
        CU_TRY(encode_chunk(c, nb, slots + i0));
    }
    K(cudaStreamSynchronize(c->st));
    return HARK_OK;
}

/* See backend.h (encode_pcm): host pcm [n][480000]; log-mel on the device. The mel and encoder
 * times of the whole call are kept for stats (device events). */
hark_status cu_encode_pcm(void *ctx, const float *pcm, int n, const int *slots)
{
    cu_ctx *c = ctx;
    CU_TRY(check_slots(c, n, slots));
    if (!pcm)
        return hark_fail(HARK_ERR_INVALID_ARG, "cuda encode: no pcm");
    K(cudaSetDevice(c->dev));
    float mel_ms = 0, enc_ms = 0;
    for (int i0 = 0; i0 < n; i0 += c->ew) {
        int nb = n - i0 < c->ew ? n - i0 : c->ew;
        size_t bytes = (size_t)nb * HARK_N_SAMPLES * sizeof(float);
        K(cudaStreamSynchronize(c->st)); /* the pinned staging buffer is free again */
        memcpy(c->pcm_host, pcm + (size_t)i0 * HARK_N_SAMPLES, bytes);
        K(cudaEventRecord(c->ev[0], c->st));
        K(cudaMemcpyAsync(c->pcm_dev, c->pcm_host, bytes, cudaMemcpyHostToDevice, c->st));
        K(cu_log_mel(c->mel, c->pcm_dev, nb, c->mel_dev, c->st));
        K(cudaEventRecord(c->ev[1], c->st));
        CU_TRY(encode_chunk(c, nb, slots + i0));
        K(cudaEventRecord(c->ev[2], c->st));
        K(cudaEventSynchronize(c->ev[2]));
        float a = 0, b = 0;
        K(cudaEventElapsedTime(&a, c->ev[0], c->ev[1]));
        K(cudaEventElapsedTime(&b, c->ev[1], c->ev[2]));
        mel_ms += a;
        enc_ms += b;
    }
    c->mel_ms = mel_ms;
    c->encoder_ms = enc_ms;
    return HARK_OK;
}
