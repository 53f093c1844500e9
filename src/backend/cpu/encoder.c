/*
 * encoder.c — the Whisper audio encoder on the CPU, one 30 s window at a time, and the
 * cross-attention keys and values every decoder layer derives from its output.
 *
 * ref: openai/whisper model.py AudioEncoder.forward (conv1 + GELU, conv2 stride 2 + GELU,
 * + positional embedding, pre-norm ResidualAttentionBlocks, ln_post) and
 * MultiHeadAttention.forward for the cross K/V (key without bias, value with bias).
 * Convolutions are im2col + one product; attention is two sgemm per head around a softmax.
 */
#include "backend/cpu/cpu.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <string.h>

/* Shape legend: see cpu.h. */

/* col[t][ch*3 + j] = src[(stride t + j - 1)][ch] with zero padding, for src [t_in][ch] read
 * with element strides (ts, cs) so that both the mel [M][L] and activations [L][D] fit. */
static void im2col(const float *src, int t_in, int ch, size_t ts, size_t cs, int stride,
                   int t_out, float *col, int n_threads)
{
#pragma omp parallel for num_threads(n_threads) schedule(static)
    for (int t = 0; t < t_out; t++) {
        float *row = col + (size_t)t * ch * 3;
        for (int j = 0; j < 3; j++) {
            int ti = stride * t + j - 1;
            if (ti < 0 || ti >= t_in) {
                for (int c = 0; c < ch; c++)
                    row[c * 3 + j] = 0.0f;
                continue;
            }
            for (int c = 0; c < ch; c++)
                row[c * 3 + j] = src[(size_t)ti * ts + (size_t)c * cs];
        }
    }
}

/* a[C][D] = per-head softmax(q k^T / sqrt(E)) v for q, k, v [C][D]. */
static void self_attention(const cpu_ctx *c, int n_head, const float *q, const float *k,
                           const float *v, float *a)
{
    const int C = c->w->n_ctx_audio, D = c->w->d, E = D / n_head;
    const float scale = 1.0f / sqrtf((float)E);
    /* one BLAS thread per head: OpenMP builds of OpenBLAS do this by themselves inside a
     * parallel region, pthread builds would oversubscribe the cores */
    openblas_set_num_threads(1);
#pragma omp parallel for num_threads(c->n_threads) schedule(dynamic, 1)
    for (int h = 0; h < n_head; h++) {
        float *s = c->scores + (size_t)omp_get_thread_num() * C * C; /* [C, C] */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, C, C, E, scale, q + h * E, D,
                    k + h * E, D, 0.0f, s, C);
        for (int t = 0; t < C; t++)
            cpu_softmax(s + (size_t)t * C, C);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, C, E, C, 1.0f, s, C, v + h * E,
                    D, 0.0f, a + h * E, D);
    }
    openblas_set_num_threads(c->n_threads);
}

static void encoder_layer(const cpu_ctx *c, const cpu_enc_layer *l, float *x)
{
    const cpu_weights *w = c->w;
    const int C = w->n_ctx_audio, D = w->d, F = w->f, nt = c->n_threads;
    const size_t CD = (size_t)C * D;

    cpu_layer_norm(x, l->attn_ln_w, l->attn_ln_b, C, D, c->eh, nt);
    cpu_linear(c, &l->attn.q, l->attn.q_b, c->eh, D, C, c->eq, D);
    cpu_linear(c, &l->attn.k, NULL, c->eh, D, C, c->ek, D);
    cpu_linear(c, &l->attn.v, l->attn.v_b, c->eh, D, C, c->ev, D);
    self_attention(c, w->n_audio_head, c->eq, c->ek, c->ev, c->ea);
    cpu_linear(c, &l->attn.o, l->attn.o_b, c->ea, D, C, c->eh, D);
    cpu_add_rows(x, c->eh, CD);

    cpu_layer_norm(x, l->mlp_ln_w, l->mlp_ln_b, C, D, c->eh, nt);
    cpu_linear(c, &l->fc1, l->fc1_b, c->eh, D, C, c->ef, F);
    cpu_gelu(c->ef, (size_t)C * F, nt);
    cpu_linear(c, &l->fc2, l->fc2_b, c->ef, F, C, c->eh, D);
    cpu_add_rows(x, c->eh, CD);
}

/* mel [M][L] -> encoder output and cross K/V of window slot `slot`. */
static void encode_window(const cpu_ctx *c, const float *mel, int slot)
{
    const cpu_weights *w = c->w;
    const int M = w->n_mels, D = w->d, C = w->n_ctx_audio, L = 2 * C, nt = c->n_threads;
    const size_t CD = (size_t)C * D;
    float *x = c->ex; /* [C, D] the residual stream */

    im2col(mel, L, M, 1, L, 1, L, c->im2col, nt);
    cpu_linear(c, &w->conv1, w->conv1_b, c->im2col, M * 3, L, c->ea, D); /* [L, D] */
    cpu_gelu(c->ea, (size_t)L * D, nt);
    im2col(c->ea, L, D, D, 1, 2, C, c->im2col, nt);
    cpu_linear(c, &w->conv2, w->conv2_b, c->im2col, D * 3, C, x, D); /* [C, D] */
    cpu_gelu(x, CD, nt);
    cpu_add_rows(x, w->enc_pos, CD);

    for (int i = 0; i < w->n_audio_layer; i++)
        encoder_layer(c, &w->enc[i], x);

    float *out = c->enc_out + (size_t)slot * CD;
    cpu_layer_norm(x, w->enc_ln_w, w->enc_ln_b, C, D, out, nt);
    for (int i = 0; i < w->n_text_layer; i++) {
        const cpu_attn *a = &w->dec[i].cross;
        cpu_linear(c, &a->k, NULL, out, D, C, c->eq, D);
        cpu_transpose_f16(c->eq, C, D, cpu_cross_k(c, slot, i), nt);
        cpu_linear(c, &a->v, a->v_b, out, D, C, c->eq, D);
        cpu_transpose_f16(c->eq, C, D, cpu_cross_v(c, slot, i), nt);
    }
}

/* See backend.h (encode). Windows run one after another; each uses every thread. */
hark_status cpu_encode(void *ctx, const float *mel, int n, const int *slots)
{
    cpu_ctx *c = ctx;
    if (!c || n < 0 || (n > 0 && (!mel || !slots)))
        return hark_fail(HARK_ERR_INVALID_ARG, "cpu encode: bad arguments (n %d)", n);
    if (n > c->max_windows)
        return hark_fail(HARK_ERR_CAPACITY, "cpu encode: %d windows, the state holds %d", n,
                         c->max_windows);
    for (int i = 0; i < n; i++)
        if (slots[i] < 0 || slots[i] >= c->max_windows)
            return hark_fail(HARK_ERR_INVALID_ARG, "cpu encode: window slot %d of %d", slots[i],
                             c->max_windows);
    const size_t per_window = (size_t)c->w->n_mels * 2 * c->w->n_ctx_audio;
    for (int i = 0; i < n; i++)
        encode_window(c, mel + i * per_window, slots[i]);
    return HARK_OK;
}
