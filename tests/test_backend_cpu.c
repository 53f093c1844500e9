/*
 * test_backend_cpu.c — the CPU backend against a plain double-precision Whisper forward pass
 * written here with naive loops (no K/V cache: the whole sequence is recomputed), on a small
 * hand-built model (80 mels, width 64, 2 heads, 2 + 2 layers, vocabulary 500) with seeded random
 * weights in F32 and F16 (same f16-rounded values in both).
 *
 * Checks: encoder output and cross K/V, teacher-forced logits (one token per call and as one
 * prompt), in-flight batching of sequences that join and leave == each sequence alone, kv_copy,
 * and rejection of bad arguments. ref: openai/whisper model.py for the reference semantics.
 */
#include "backend/backend.h"
#include "backend/cpu/cpu.h"
#include "test.h"

#include <stdint.h>

/* Shape legend: V vocab, D width, F 4D, H heads, M mels, C 1500, L 3000, T text context. */
enum { NM = 80, D = 64, F = 256, H = 2, NL = 2, V = 500, C = 1500, L = 3000, T = 448 };

/* ------------------------------------------------------------------ model building ---------- */

static uint64_t rng_state = 0x12345678u;

static double rnd(void) /* uniform in [-1, 1) */
{
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(rng_state >> 40) / 8388608.0 - 1.0;
}

typedef struct built {
    hark_model m32, m16;
    void *bufs[512];
    int n_bufs;
} built;

static void *keep(built *b, size_t bytes)
{
    void *p = calloc(1, bytes);
    b->bufs[b->n_bufs++] = p;
    return p;
}

enum kind { K_LINEAR, K_BIAS, K_LN, K_EMB, K_DECPOS, K_ENCPOS };

/* Fills the F32 tensor t32 and the F16 tensor t16 with the same f16-rounded values. */
static void gen(built *b, hark_tensor *t32, hark_tensor *t16, int ndim, int64_t s0, int64_t s1,
                int64_t s2, enum kind k)
{
    int64_t shape[3] = {s0, s1, s2}, n = 1;
    for (int i = 0; i < ndim; i++)
        n *= shape[i];
    float *f = keep(b, (size_t)n * 4);
    uint16_t *h = keep(b, (size_t)n * 2);
    double fan_in = ndim > 1 ? (double)(n / s0) : 1;
    for (int64_t i = 0; i < n; i++) {
        double v = 0;
        switch (k) {
        case K_LINEAR: v = rnd() / sqrt(fan_in); break;
        case K_BIAS: v = 0.1 * rnd(); break;
        case K_LN: v = 1 + 0.1 * rnd(); break;
        case K_EMB: v = 0.5 * rnd(); break;
        case K_DECPOS: v = 0.1 * rnd(); break;
        case K_ENCPOS: {
            int64_t p = i / s1, c = i % s1, half = s1 / 2;
            double inc = log(10000.0) / (double)(half - 1);
            v = c < half ? sin((double)p * exp(-inc * (double)c))
                         : cos((double)p * exp(-inc * (double)(c - half)));
            break;
        }
        }
        h[i] = hark_f32_to_f16((float)v);
        f[i] = hark_f16_to_f32(h[i]);
    }
    *t32 = (hark_tensor){.dtype = HARK_DTYPE_F32, .ndim = ndim, .data = f};
    *t16 = (hark_tensor){.dtype = HARK_DTYPE_F16, .ndim = ndim, .data = h};
    for (int i = 0; i < ndim; i++)
        t32->shape[i] = t16->shape[i] = shape[i];
}

#define G2(field, nd, a, bb, cc, k) gen(b, &w32->field, &w16->field, nd, a, bb, cc, k)

static void gen_attn(built *b, hark_attn_weights *w32, hark_attn_weights *w16)
{
    G2(q_w, 2, D, D, 0, K_LINEAR);
    G2(q_b, 1, D, 0, 0, K_BIAS);
    G2(k_w, 2, D, D, 0, K_LINEAR);
    G2(v_w, 2, D, D, 0, K_LINEAR);
    G2(v_b, 1, D, 0, 0, K_BIAS);
    G2(o_w, 2, D, D, 0, K_LINEAR);
    G2(o_b, 1, D, 0, 0, K_BIAS);
}

static void build_model(built *b)
{
    hark_model_dims dims = {.n_mels = NM, .n_vocab = V, .n_audio_ctx = C, .n_audio_state = D,
                            .n_audio_head = H, .n_audio_layer = NL, .n_text_ctx = T,
                            .n_text_state = D, .n_text_head = H, .n_text_layer = NL};
    b->m32.dims = b->m16.dims = dims;
    hark_weights *w32 = &b->m32.w, *w16 = &b->m16.w;
    G2(conv1_w, 3, D, NM, 3, K_LINEAR);
    G2(conv1_b, 1, D, 0, 0, K_BIAS);
    G2(conv2_w, 3, D, D, 3, K_LINEAR);
    G2(conv2_b, 1, D, 0, 0, K_BIAS);
    G2(enc_pos, 2, C, D, 0, K_ENCPOS);
    for (int i = 0; i < NL; i++) {
        G2(enc[i].attn_ln_w, 1, D, 0, 0, K_LN);
        G2(enc[i].attn_ln_b, 1, D, 0, 0, K_BIAS);
        gen_attn(b, &w32->enc[i].attn, &w16->enc[i].attn);
        G2(enc[i].mlp_ln_w, 1, D, 0, 0, K_LN);
        G2(enc[i].mlp_ln_b, 1, D, 0, 0, K_BIAS);
        G2(enc[i].fc1_w, 2, F, D, 0, K_LINEAR);
        G2(enc[i].fc1_b, 1, F, 0, 0, K_BIAS);
        G2(enc[i].fc2_w, 2, D, F, 0, K_LINEAR);
        G2(enc[i].fc2_b, 1, D, 0, 0, K_BIAS);
    }
    G2(enc_ln_w, 1, D, 0, 0, K_LN);
    G2(enc_ln_b, 1, D, 0, 0, K_BIAS);
    G2(tok_emb, 2, V, D, 0, K_EMB);
    G2(dec_pos, 2, T, D, 0, K_DECPOS);
    for (int i = 0; i < NL; i++) {
        G2(dec[i].attn_ln_w, 1, D, 0, 0, K_LN);
        G2(dec[i].attn_ln_b, 1, D, 0, 0, K_BIAS);
        gen_attn(b, &w32->dec[i].attn, &w16->dec[i].attn);
        G2(dec[i].cross_ln_w, 1, D, 0, 0, K_LN);
        G2(dec[i].cross_ln_b, 1, D, 0, 0, K_BIAS);
        gen_attn(b, &w32->dec[i].cross, &w16->dec[i].cross);
        G2(dec[i].mlp_ln_w, 1, D, 0, 0, K_LN);
        G2(dec[i].mlp_ln_b, 1, D, 0, 0, K_BIAS);
        G2(dec[i].fc1_w, 2, F, D, 0, K_LINEAR);
        G2(dec[i].fc1_b, 1, F, 0, 0, K_BIAS);
        G2(dec[i].fc2_w, 2, D, F, 0, K_LINEAR);
        G2(dec[i].fc2_b, 1, D, 0, 0, K_BIAS);
    }
    G2(dec_ln_w, 1, D, 0, 0, K_LN);
    G2(dec_ln_b, 1, D, 0, 0, K_BIAS);
}

static void free_model(built *b)
{
    for (int i = 0; i < b->n_bufs; i++)
        free(b->bufs[i]);
}

/* ------------------------------------------------------------------ reference (double) ------ */

#define FP(t) ((const float *)(t).data)

/* y[m][n] = x[m] . W[n] + b[n] */
static void ref_linear(const hark_tensor *w, const hark_tensor *bias, const double *x, int m,
                       int n, int k, double *y)
{
    for (int i = 0; i < m; i++)
        for (int o = 0; o < n; o++) {
            double s = bias ? FP(*bias)[o] : 0.0;
            for (int j = 0; j < k; j++)
                s += x[(size_t)i * k + j] * FP(*w)[(size_t)o * k + j];
            y[(size_t)i * n + o] = s;
        }
}

static void ref_ln(const double *x, int m, const hark_tensor *g, const hark_tensor *b, double *y)
{
    for (int i = 0; i < m; i++) {
        const double *r = x + (size_t)i * D;
        double mean = 0, var = 0;
        for (int j = 0; j < D; j++)
            mean += r[j];
        mean /= D;
        for (int j = 0; j < D; j++)
            var += (r[j] - mean) * (r[j] - mean);
        var /= D;
        for (int j = 0; j < D; j++)
            y[(size_t)i * D + j] = (r[j] - mean) / sqrt(var + 1e-5) * FP(*g)[j] + FP(*b)[j];
    }
}

static double gelu(double x) { return 0.5 * x * (1 + erf(x / sqrt(2.0))); }

/* out[tq][D] = multi-head attention; causal: query i sees keys 0..i. */
static void ref_attn(const double *q, const double *k, const double *v, int tq, int tk,
                     int causal, double *out)
{
    const int E = D / H;
    double *s = malloc((size_t)tk * sizeof(double));
    for (int h = 0; h < H; h++)
        for (int i = 0; i < tq; i++) {
            int n = causal ? i + 1 : tk;
            double mx = -1e300, sum = 0;
            for (int t = 0; t < n; t++) {
                double d = 0;
                for (int e = 0; e < E; e++)
                    d += q[(size_t)i * D + h * E + e] * k[(size_t)t * D + h * E + e];
                s[t] = d / sqrt((double)E);
                mx = s[t] > mx ? s[t] : mx;
            }
            for (int t = 0; t < n; t++)
                sum += (s[t] = exp(s[t] - mx));
            for (int e = 0; e < E; e++) {
                double a = 0;
                for (int t = 0; t < n; t++)
                    a += s[t] / sum * v[(size_t)t * D + h * E + e];
                out[(size_t)i * D + h * E + e] = a;
            }
        }
    free(s);
}

/* x[t][D] += attention block of the given weights, queries from LN(x) */
static void ref_attn_block(const hark_attn_weights *a, const double *xq, int tq,
                           const double *xkv, int tk, int causal, double *x)
{
    size_t nq = (size_t)tq * D, nk = (size_t)tk * D;
    double *q = malloc(nq * 8), *k = malloc(nk * 8), *v = malloc(nk * 8), *o = malloc(nq * 8);
    double *y = malloc(nq * 8);
    ref_linear(&a->q_w, &a->q_b, xq, tq, D, D, q);
    ref_linear(&a->k_w, NULL, xkv, tk, D, D, k);
    ref_linear(&a->v_w, &a->v_b, xkv, tk, D, D, v);
    ref_attn(q, k, v, tq, tk, causal, o);
    ref_linear(&a->o_w, &a->o_b, o, tq, D, D, y);
    for (size_t i = 0; i < nq; i++)
        x[i] += y[i];
    free(q), free(k), free(v), free(o), free(y);
}

static void ref_mlp(const hark_tensor *ln_w, const hark_tensor *ln_b, const hark_tensor *fc1_w,
                    const hark_tensor *fc1_b, const hark_tensor *fc2_w, const hark_tensor *fc2_b,
                    int t, double *x)
{
    double *h = malloc((size_t)t * D * 8), *f = malloc((size_t)t * F * 8);
    double *y = malloc((size_t)t * D * 8);
    ref_ln(x, t, ln_w, ln_b, h);
    ref_linear(fc1_w, fc1_b, h, t, F, D, f);
    for (size_t i = 0; i < (size_t)t * F; i++)
        f[i] = gelu(f[i]);
    ref_linear(fc2_w, fc2_b, f, t, D, F, y);
    for (size_t i = 0; i < (size_t)t * D; i++)
        x[i] += y[i];
    free(h), free(f), free(y);
}

/* mel [NM][L] -> out [C][D] */
static void ref_encoder(const hark_weights *w, const float *mel, double *out)
{
    double *h1 = malloc((size_t)L * D * 8), *x = malloc((size_t)C * D * 8);
    double *h = malloc((size_t)C * D * 8);
    for (int t = 0; t < L; t++)
        for (int o = 0; o < D; o++) {
            double s = FP(w->conv1_b)[o];
            for (int c = 0; c < NM; c++)
                for (int j = 0; j < 3; j++) {
                    int ti = t + j - 1;
                    if (ti >= 0 && ti < L)
                        s += FP(w->conv1_w)[((size_t)o * NM + c) * 3 + j] * mel[(size_t)c * L + ti];
                }
            h1[(size_t)t * D + o] = gelu(s);
        }
    for (int t = 0; t < C; t++)
        for (int o = 0; o < D; o++) {
            double s = FP(w->conv2_b)[o];
            for (int c = 0; c < D; c++)
                for (int j = 0; j < 3; j++) {
                    int ti = 2 * t + j - 1;
                    if (ti >= 0 && ti < L)
                        s += FP(w->conv2_w)[((size_t)o * D + c) * 3 + j] * h1[(size_t)ti * D + c];
                }
            x[(size_t)t * D + o] = gelu(s) + FP(w->enc_pos)[(size_t)t * D + o];
        }
    for (int l = 0; l < NL; l++) {
        const hark_enc_layer *e = &w->enc[l];
        ref_ln(x, C, &e->attn_ln_w, &e->attn_ln_b, h);
        ref_attn_block(&e->attn, h, C, h, C, 0, x);
        ref_mlp(&e->mlp_ln_w, &e->mlp_ln_b, &e->fc1_w, &e->fc1_b, &e->fc2_w, &e->fc2_b, C, x);
    }
    ref_ln(x, C, &w->enc_ln_w, &w->enc_ln_b, out);
    free(h1), free(x), free(h);
}

/* tokens[n] over enc [C][D] -> logits[n][V], the whole sequence at once (causal). */
static void ref_decoder(const hark_weights *w, const double *enc, const int *tokens, int n,
                        double *logits)
{
    double *x = malloc((size_t)n * D * 8), *h = malloc((size_t)n * D * 8);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < D; j++)
            x[(size_t)i * D + j] = FP(w->tok_emb)[(size_t)tokens[i] * D + j] +
                                   FP(w->dec_pos)[(size_t)i * D + j];
    for (int l = 0; l < NL; l++) {
        const hark_dec_layer *d = &w->dec[l];
        ref_ln(x, n, &d->attn_ln_w, &d->attn_ln_b, h);
        ref_attn_block(&d->attn, h, n, h, n, 1, x);
        ref_ln(x, n, &d->cross_ln_w, &d->cross_ln_b, h);
        ref_attn_block(&d->cross, h, n, enc, C, 0, x);
        ref_mlp(&d->mlp_ln_w, &d->mlp_ln_b, &d->fc1_w, &d->fc1_b, &d->fc2_w, &d->fc2_b, n, x);
    }
    ref_ln(x, n, &w->dec_ln_w, &w->dec_ln_b, h);
    ref_linear(&w->tok_emb, NULL, h, n, V, D, logits);
    free(x), free(h);
}

static double rel_l2_d(const float *a, const double *b, size_t n)
{
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        num += (a[i] - b[i]) * (a[i] - b[i]);
        den += b[i] * b[i];
        if (a[i] != a[i])
            return INFINITY;
    }
    return sqrt(num / den);
}

/* ------------------------------------------------------------------ tests ------------------- */

static const hark_backend *be = &hark_backend_cpu;

#define MAXW 2
#define MAXS 4

static float *make_mel(void)
{
    float *mel = malloc((size_t)NM * L * 4);
    for (size_t i = 0; i < (size_t)NM * L; i++)
        mel[i] = (float)rnd();
    return mel;
}

static hark_status decode1(void *ctx, int seq, int win, int tok, int pos, float *logits)
{
    hark_decode_entry e = {seq, win, tok, pos, 1};
    return be->decode(ctx, &e, 1, logits);
}

/* Encoder output, cross K/V and teacher-forced logits against the reference. */
static void test_against_reference(const char *name, void *ctx, const hark_model *ref,
                                   const float *mel, const double *enc, const int *toks, int n)
{
    const hark_weights *w = &ref->w;
    int slot = 1;
    CHECK_OK(be->encode(ctx, mel, 1, &slot));
    float *out = malloc((size_t)C * D * 4);
    CHECK_OK(be->encoder_output(ctx, 1, out));
    double e = rel_l2_d(out, enc, (size_t)C * D);
    printf("%s: encoder output rel L2 %.2e\n", name, e);
    CHECK(e <= 1e-5, "%s: encoder output rel L2 %g", name, e);

    double *ck = malloc((size_t)C * D * 8), *cv = malloc((size_t)C * D * 8);
    for (int l = 0; l < NL; l++) {
        ref_linear(&w->dec[l].cross.k_w, NULL, enc, C, D, D, ck);
        ref_linear(&w->dec[l].cross.v_w, &w->dec[l].cross.v_b, enc, C, D, D, cv);
        /* the cache holds K and V transposed, [D][C] */
        float *kt = malloc((size_t)C * D * 4), *vt = malloc((size_t)C * D * 4);
        for (int t = 0; t < C; t++)
            for (int j = 0; j < D; j++) {
                kt[(size_t)t * D + j] = hark_f16_to_f32(cpu_cross_k(ctx, 1, l)[(size_t)j * C + t]);
                vt[(size_t)t * D + j] = hark_f16_to_f32(cpu_cross_v(ctx, 1, l)[(size_t)j * C + t]);
            }
        double ek = rel_l2_d(kt, ck, (size_t)C * D);
        double ev = rel_l2_d(vt, cv, (size_t)C * D);
        free(kt), free(vt);
        /* stored in fp16: rounding alone is ~2e-4 */
        CHECK(ek <= 5e-4 && ev <= 5e-4, "%s: layer %d cross K %g V %g", name, l, ek, ev);
    }
    free(ck), free(cv);

    double *ref_logits = malloc((size_t)n * V * 8);
    ref_decoder(w, enc, toks, n, ref_logits);
    float *lg = malloc((size_t)n * V * 4);
    double worst = 0;
    for (int i = 0; i < n; i++) {
        CHECK_OK(decode1(ctx, 2, 1, toks[i], i, lg + (size_t)i * V));
        double r = rel_l2_d(lg + (size_t)i * V, ref_logits + (size_t)i * V, V);
        worst = r > worst ? r : worst;
    }
    printf("%s: step-by-step logits worst rel L2 %.2e\n", name, worst);
    CHECK(worst <= 1e-5, "%s: step logits rel L2 %g", name, worst);

    /* the same tokens as one prompt, every row wanting logits */
    hark_decode_entry ents[16];
    for (int i = 0; i < n; i++)
        ents[i] = (hark_decode_entry){0, 1, toks[i], i, 1};
    CHECK_OK(be->decode(ctx, ents, n, lg));
    double r = rel_l2_d(lg, ref_logits, (size_t)n * V);
    printf("%s: prompt logits rel L2 %.2e\n", name, r);
    CHECK(r <= 1e-5, "%s: prompt logits rel L2 %g", name, r);
    free(out), free(ref_logits), free(lg);
}

/* Three sequences, joining and leaving, batched == alone. */
#define NSEQ 3
static void test_batching(const char *name, void *ctx, const float *mel2)
{
    int slots[2] = {0, 1};
    CHECK_OK(be->encode(ctx, mel2, 2, slots));
    static const int len[NSEQ] = {9, 6, 7}, start[NSEQ] = {0, 2, 7}, win[NSEQ] = {0, 1, 0};
    static const int prompt[NSEQ] = {3, 1, 4};
    int toks[NSEQ][16];
    for (int s = 0; s < NSEQ; s++)
        for (int i = 0; i < len[s]; i++)
            toks[s][i] = (s * 97 + i * 31 + 5) % V;
    /* alone: one token per call in slot 0 */
    float *alone = malloc((size_t)NSEQ * 16 * V * 4), *lg = malloc((size_t)MAXS * 16 * V * 4);
    for (int s = 0; s < NSEQ; s++)
        for (int i = 0; i < len[s]; i++)
            CHECK_OK(decode1(ctx, 0, win[s], toks[s][i], i, alone + ((size_t)s * 16 + i) * V));
    /* batched: seq 0 in slot 2, seq 1 in slot 1, seq 2 reuses slot 2 after seq 0 left (at 9). */
    int slot_of[NSEQ] = {2, 1, 3}, done[NSEQ] = {0};
    double worst = 0;
    for (int step = 0; step < 20; step++) {
        hark_decode_entry ents[16];
        int who[16], at[16], n = 0;
        for (int s = 0; s < NSEQ; s++) {
            if (step < start[s] || done[s] >= len[s])
                continue;
            if (s == 2 && done[0] >= len[0])
                slot_of[2] = 2; /* join into the slot seq 0 left */
            int take_n = done[s] == 0 ? prompt[s] : 1;
            for (int k = 0; k < take_n && done[s] < len[s]; k++, done[s]++) {
                who[n] = s, at[n] = done[s];
                ents[n] = (hark_decode_entry){slot_of[s], win[s], toks[s][done[s]], done[s], 1};
                n++;
            }
        }
        if (n == 0)
            continue;
        CHECK_OK(be->decode(ctx, ents, n, lg));
        for (int i = 0; i < n; i++) {
            double r = test_rel_l2(lg + (size_t)i * V, alone + ((size_t)who[i] * 16 + at[i]) * V, V);
            worst = r > worst ? r : worst;
        }
    }
    for (int s = 0; s < NSEQ; s++)
        CHECK(done[s] == len[s], "%s: sequence %d decoded %d of %d", name, s, done[s], len[s]);
    printf("%s: batched vs alone worst rel L2 %.2e\n", name, worst);
    CHECK(worst <= 1e-6, "%s: batched vs alone rel L2 %g", name, worst);

    /* kv_copy: fork seq 1 (slot 1, 6 positions) into slot 3, continue both */
    float l1[V], l3[V];
    CHECK_OK(be->kv_copy(ctx, 1, 3, 6));
    CHECK_OK(decode1(ctx, 1, 1, 42, 6, l1));
    CHECK_OK(decode1(ctx, 3, 1, 42, 6, l3));
    CHECK(test_rel_l2(l3, l1, V) == 0, "%s: kv_copy then decode differs: %g", name,
          test_rel_l2(l3, l1, V));
    free(alone), free(lg);
}

/* A prompt of 40 tokens in one call: the decoder's large-M (sgemm) path. */
static void test_long_prompt(const char *name, void *ctx, const hark_model *ref, const double *enc)
{
    enum { N = 40 };
    int toks[N];
    hark_decode_entry ents[N];
    for (int i = 0; i < N; i++) {
        toks[i] = (i * 131 + 17) % V;
        ents[i] = (hark_decode_entry){3, 1, toks[i], i, i % 3 == 0 || i == N - 1};
    }
    double *rl = malloc((size_t)N * V * 8);
    float *lg = malloc((size_t)N * V * 4);
    ref_decoder(&ref->w, enc, toks, N, rl);
    CHECK_OK(be->decode(ctx, ents, N, lg));
    double worst = 0;
    for (int i = 0, row = 0; i < N; i++) {
        if (!ents[i].want_logits)
            continue;
        double r = rel_l2_d(lg + (size_t)row++ * V, rl + (size_t)i * V, V);
        worst = r > worst ? r : worst;
    }
    printf("%s: 40-token prompt logits worst rel L2 %.2e\n", name, worst);
    CHECK(worst <= 1e-5, "%s: long prompt rel L2 %g", name, worst);
    free(rl), free(lg);
}

static void expect(hark_status got, hark_status want, const char *what)
{
    CHECK(got == want, "%s: got %s, want %s", what, hark_status_str(got), hark_status_str(want));
    CHECK(got == HARK_OK || hark_last_error()[0], "%s: no error detail", what);
}

static void test_bad_input(void *ctx)
{
    float lg[V];
    expect(decode1(ctx, -1, 0, 1, 0, lg), HARK_ERR_INVALID_ARG, "negative seq");
    expect(decode1(ctx, MAXS, 0, 1, 0, lg), HARK_ERR_INVALID_ARG, "seq past slots");
    expect(decode1(ctx, 0, MAXW, 1, 0, lg), HARK_ERR_INVALID_ARG, "window past slots");
    expect(decode1(ctx, 0, -1, 1, 0, lg), HARK_ERR_INVALID_ARG, "negative window");
    expect(decode1(ctx, 0, 0, V, 0, lg), HARK_ERR_INVALID_ARG, "token past vocab");
    expect(decode1(ctx, 0, 0, -3, 0, lg), HARK_ERR_INVALID_ARG, "negative token");
    expect(decode1(ctx, 0, 0, 1, -1, lg), HARK_ERR_INVALID_ARG, "negative pos");
    expect(decode1(ctx, 0, 0, 1, T, lg), HARK_ERR_CAPACITY, "pos past text context");
    expect(decode1(ctx, 0, 0, 1, 0, NULL), HARK_ERR_INVALID_ARG, "no logits buffer");
    hark_decode_entry two[2] = {{0, 0, 1, 3, 0}, {0, 0, 2, 3, 1}};
    expect(be->decode(ctx, two, 2, lg), HARK_ERR_INVALID_ARG, "same position twice");
    expect(be->decode(ctx, two, -1, lg), HARK_ERR_INVALID_ARG, "negative count");
    expect(be->decode(ctx, two, 0, lg), HARK_OK, "empty call");
    int rows = ((cpu_ctx *)ctx)->max_rows + 1;
    hark_decode_entry *many = calloc((size_t)rows, sizeof *many);
    expect(be->decode(ctx, many, rows, NULL), HARK_ERR_CAPACITY, "too many rows");
    free(many);
    int bad_slot = MAXW;
    float dummy[1];
    expect(be->encode(ctx, dummy, 1, &bad_slot), HARK_ERR_INVALID_ARG, "encode bad slot");
    int slots3[3] = {0, 1, 0};
    expect(be->encode(ctx, dummy, 3, slots3), HARK_ERR_CAPACITY, "encode too many windows");
    expect(be->encoder_output(ctx, MAXW, dummy), HARK_ERR_INVALID_ARG, "encoder_output slot");
    expect(be->kv_copy(ctx, 0, MAXS, 1), HARK_ERR_INVALID_ARG, "kv_copy bad dst");
    expect(be->kv_copy(ctx, 0, 1, T + 1), HARK_ERR_INVALID_ARG, "kv_copy too many positions");
}

static void test_bad_weights(built *b)
{
    void *bw = NULL;
    hark_model m = b->m16;
    m.w.dec[1].fc1_w.shape[1] = D + 1;
    expect(be->weights_upload(&m, &bw), HARK_ERR_FORMAT, "wrong fc1 shape");
    CHECK(bw == NULL, "no weights on failure");
    m = b->m16;
    m.w.tok_emb.data = NULL;
    expect(be->weights_upload(&m, &bw), HARK_ERR_FORMAT, "missing tensor");
    m = b->m16;
    m.dims.n_text_head = 3;
    expect(be->weights_upload(&m, &bw), HARK_ERR_UNSUPPORTED, "heads do not divide width");
}

int main(void)
{
    built *b = calloc(1, sizeof *b);
    build_model(b);
    float *mel = make_mel(), *mel2 = malloc((size_t)2 * NM * L * 4);
    for (size_t i = 0; i < (size_t)2 * NM * L; i++)
        mel2[i] = (float)rnd();
    double *enc = malloc((size_t)C * D * 8);
    ref_encoder(&b->m32.w, mel, enc);
    int toks[10] = {7, 499, 0, 250, 13, 13, 77, 401, 2, 123};

    const hark_model *models[2] = {&b->m32, &b->m16};
    const char *names[2] = {"f32", "f16"};
    for (int v = 0; v < 2; v++) {
        void *bw = NULL, *ctx = NULL;
        CHECK_OK(be->weights_upload(models[v], &bw));
        hark_state_params sp = { .max_windows = MAXW, .max_sequences = MAXS };
        CHECK_OK(be->ctx_new(models[v], bw, &sp, 2, &ctx));
        if (!ctx)
            break;
        test_against_reference(names[v], ctx, &b->m32, mel, enc, toks, 10);
        test_long_prompt(names[v], ctx, &b->m32, enc);
        test_batching(names[v], ctx, mel2);
        test_bad_input(ctx);
        be->ctx_free(ctx);
        be->weights_free(bw);
    }
    test_bad_weights(b);
    free(mel), free(mel2), free(enc);
    free_model(b);
    free(b);
    TEST_MAIN_END();
}
