/*
 * bench_cpu.c — times the CPU backend's stages on random F16 weights of official shapes:
 * encoder per 30 s window and decoder step (batch B, one token per sequence) after a prompt.
 * Weights are random (uniform, scaled by 1/sqrt(fan_in)): the work is the same as a real model.
 * Reports the best and the median of the runs (the machine may be shared).
 *
 * Build and run (from the repository root):
 *   gcc -std=c11 -O2 -march=native -fopenmp -D_GNU_SOURCE -Iinclude -Isrc \
 *       $(pkg-config --cflags openblas) dev/cpu/bench_cpu.c src/backend/cpu/[a-z]*.c src/util/[a-z]*.c \
 *       $(pkg-config --libs openblas) -lm -o /tmp/bench_cpu
 *   /tmp/bench_cpu [tiny|base|small] [threads] [batch]
 */
#include "backend/backend.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng = 88172645463325252ull;
static void *bufs[1024];
static int n_bufs;

static void fill(hark_tensor *t, int ndim, int64_t s0, int64_t s1, int64_t s2)
{
    int64_t shape[3] = {s0, s1, s2}, n = 1;
    for (int i = 0; i < ndim; i++)
        n *= t->shape[i] = shape[i];
    uint16_t *h = malloc((size_t)n * 2);
    float scale = ndim > 1 ? 1.0f / sqrtf((float)(n / s0)) : 0.1f;
    for (int64_t i = 0; i < n; i++) {
        rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
        h[i] = hark_f32_to_f16(scale * ((float)(rng >> 40) / 8388608.0f - 1.0f));
    }
    t->dtype = HARK_DTYPE_F16;
    t->ndim = ndim;
    t->data = h;
    bufs[n_bufs++] = h;
}

static void fill_attn(hark_attn_weights *a, int d)
{
    fill(&a->q_w, 2, d, d, 0), fill(&a->q_b, 1, d, 0, 0), fill(&a->k_w, 2, d, d, 0);
    fill(&a->v_w, 2, d, d, 0), fill(&a->v_b, 1, d, 0, 0);
    fill(&a->o_w, 2, d, d, 0), fill(&a->o_b, 1, d, 0, 0);
}

static void build(hark_model *m, int d, int heads, int layers)
{
    const int M = 80, V = 51865, C = 1500, T = 448, F = 4 * d;
    m->dims = (hark_model_dims){M, V, C, d, heads, layers, T, d, heads, layers};
    hark_weights *w = &m->w;
    fill(&w->conv1_w, 3, d, M, 3), fill(&w->conv1_b, 1, d, 0, 0);
    fill(&w->conv2_w, 3, d, d, 3), fill(&w->conv2_b, 1, d, 0, 0);
    fill(&w->enc_pos, 2, C, d, 0);
    for (int i = 0; i < layers; i++) {
        hark_enc_layer *l = &w->enc[i];
        fill(&l->attn_ln_w, 1, d, 0, 0), fill(&l->attn_ln_b, 1, d, 0, 0);
        fill_attn(&l->attn, d);
        fill(&l->mlp_ln_w, 1, d, 0, 0), fill(&l->mlp_ln_b, 1, d, 0, 0);
        fill(&l->fc1_w, 2, F, d, 0), fill(&l->fc1_b, 1, F, 0, 0);
        fill(&l->fc2_w, 2, d, F, 0), fill(&l->fc2_b, 1, d, 0, 0);
    }
    fill(&w->enc_ln_w, 1, d, 0, 0), fill(&w->enc_ln_b, 1, d, 0, 0);
    fill(&w->tok_emb, 2, V, d, 0), fill(&w->dec_pos, 2, T, d, 0);
    for (int i = 0; i < layers; i++) {
        hark_dec_layer *l = &w->dec[i];
        fill(&l->attn_ln_w, 1, d, 0, 0), fill(&l->attn_ln_b, 1, d, 0, 0);
        fill_attn(&l->attn, d);
        fill(&l->cross_ln_w, 1, d, 0, 0), fill(&l->cross_ln_b, 1, d, 0, 0);
        fill_attn(&l->cross, d);
        fill(&l->mlp_ln_w, 1, d, 0, 0), fill(&l->mlp_ln_b, 1, d, 0, 0);
        fill(&l->fc1_w, 2, F, d, 0), fill(&l->fc1_b, 1, F, 0, 0);
        fill(&l->fc2_w, 2, d, F, 0), fill(&l->fc2_b, 1, d, 0, 0);
    }
    fill(&w->dec_ln_w, 1, d, 0, 0), fill(&w->dec_ln_b, 1, d, 0, 0);
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    const char *arch = argc > 1 ? argv[1] : "tiny";
    int nt = argc > 2 ? atoi(argv[2]) : 0, batch = argc > 3 ? atoi(argv[3]) : 1;
    int d = 384, heads = 6, layers = 4;
    if (!strcmp(arch, "base"))
        d = 512, heads = 8, layers = 6;
    else if (!strcmp(arch, "small"))
        d = 768, heads = 12, layers = 12;
    static hark_model m;
    build(&m, d, heads, layers);
    const hark_backend *be = &hark_backend_cpu;
    void *bw, *ctx;
    if (be->weights_upload(&m, &bw) != HARK_OK ||
        be->ctx_new(&m, bw, 1, batch, nt, &ctx) != HARK_OK) {
        fprintf(stderr, "setup failed: %s\n", hark_last_error());
        return 1;
    }
    float *mel = malloc((size_t)80 * 3000 * 4), *logits = malloc((size_t)batch * 51865 * 4);
    for (int i = 0; i < 80 * 3000; i++)
        mel[i] = (float)(i % 97) / 97.0f - 0.5f;
    int slot = 0;
    double t[64];
    int n_enc = 5;
    for (int r = 0; r < n_enc; r++) {
        double t0 = hark_time_s();
        be->encode(ctx, mel, 1, &slot);
        t[r] = hark_time_s() - t0;
    }
    qsort(t, (size_t)n_enc, sizeof t[0], cmp);
    printf("%s threads %d: encoder best %.3f s, median %.3f s per window\n", arch, nt, t[0],
           t[n_enc / 2]);

    /* prompt of 4 tokens per sequence, then steps of one token per sequence */
    hark_decode_entry e[64 * 4];
    int n = 0;
    for (int s = 0; s < batch; s++)
        for (int p = 0; p < 4; p++)
            e[n++] = (hark_decode_entry){s, 0, 50258 + p, p, p == 3};
    be->decode(ctx, e, n, logits);
    int n_steps = 64;
    double *st = malloc((size_t)n_steps * sizeof *st);
    for (int k = 0; k < n_steps; k++) {
        for (int s = 0; s < batch; s++)
            e[s] = (hark_decode_entry){s, 0, (k * 7 + s) % 50000, 4 + k, 1};
        double t0 = hark_time_s();
        be->decode(ctx, e, batch, logits);
        st[k] = hark_time_s() - t0;
    }
    qsort(st, (size_t)n_steps, sizeof st[0], cmp);
    printf("%s threads %d: decoder step batch %d best %.2f ms, median %.2f ms\n", arch, nt, batch,
           st[0] * 1e3, st[n_steps / 2] * 1e3);
    be->ctx_free(ctx);
    be->weights_free(bw);
    for (int i = 0; i < n_bufs; i++)
        free(bufs[i]);
    free(mel), free(logits), free(st);
    return 0;
}
