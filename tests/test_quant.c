/*
 * test_quant.c — weight-only quantization (docs/quant.md): the quantizers against their
 * definition, quantized hark files (written, read back, dequantized by conversion, and corrupted
 * in every way the reader must name), and the CPU backend's quantized products against a
 * double-precision product of the dequantized weights, small and large row counts, odd sizes.
 */
#include "backend/cpu/cpu.h"
#include "model/hark_file.h"
#include "model/model_internal.h"
#include "test.h"

#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmpdir[256];

static const char *tmp(const char *name, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s/%s", tmpdir, name);
    return buf;
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static float frand(void) /* uniform [-1, 1) */
{
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (float)((double)(rng >> 11) / 4503599627370496.0 - 1.0);
}

/* ---- the quantizers */

static void test_quantizers(void)
{
    enum { N = 5, K = 128 };
    static float w[N * K], back[N * K];
    static int8_t q8[N * K];
    static uint8_t q4[N * K / 2];
    uint16_t s8[N], s4[N * K / 32];
    for (int i = 0; i < N * K; i++)
        w[i] = frand() * (1 + i / K); /* rows of growing range */
    for (int i = 0; i < K; i++)
        w[2 * K + i] = 0.0f; /* an all-zero row */
    w[3 * K + 5] = NAN;      /* a NaN weight quantizes as 0, its row as if it were absent */
    w[4 * K] = 3e4f;         /* one large weight sets its row's scale */
    hark_quantize_i8(w, N, K, q8, s8);
    hark_tensor t8 = { .dtype = HARK_DTYPE_I8, .ndim = 2, .shape = { N, K }, .data = q8,
                       .qbits = 8, .group = K, .scale = s8 };
    hark_dequantize_rows(&t8, 0, N, back);
    int bad = 0;
    for (int r = 0; r < N; r++) {
        float amax = 0;
        for (int i = 0; i < K; i++)
            amax = fabsf(w[r * K + i]) > amax ? fabsf(w[r * K + i]) : amax;
        float s = hark_f16_to_f32(s8[r]);
        bad += fabsf(s - amax / 127) > 1e-3f * amax / 127;
        for (int i = 0; i < K; i++) {
            float x = w[r * K + i];
            if (isnan(x))
                bad += back[r * K + i] != 0.0f;
            else
                bad += fabsf(back[r * K + i] - x) > 0.5f * s * 1.01f + 1e-7f;
        }
    }
    CHECK(bad == 0, "int8: %d values or scales off", bad);
    CHECK(s8[2] == 0 && back[2 * K + 7] == 0.0f, "int8: a zero row stays zero");
    CHECK(q8[4 * K] == 127, "int8: the row maximum maps to 127 (%d)", q8[4 * K]);

    for (int g = 32; g <= 128; g *= 2) {
        hark_quantize_q4(w, N, K, g, q4, s4);
        hark_tensor t4 = { .dtype = HARK_DTYPE_U8, .ndim = 2, .shape = { N, K }, .data = q4,
                           .qbits = 4, .group = g, .scale = s4 };
        hark_dequantize_rows(&t4, 1, N - 1, back + K);
        bad = 0;
        for (int r = 1; r < N; r++)
            for (int i = 0; i < K; i++) {
                float x = w[r * K + i], s = hark_f16_to_f32(s4[r * (K / g) + i / g]);
                if (!isnan(x))
                    bad += fabsf(back[r * K + i] - x) > 0.5f * s * 1.01f + 1e-7f;
                /* the stored nibble is q + 8 with q in [-8, 7] */
                int nib = (q4[(r * K + i) / 2] >> (4 * (i & 1))) & 15;
                bad += nib == 0 && !isnan(x) && x > -7.5f * s;
            }
        CHECK(bad == 0, "int4 group %d: %d values off", g, bad);
    }
    /* element order: element 2j in the low nibble of byte j */
    float two[64] = { 0 };
    two[0] = -7.0f, two[1] = 7.0f, two[2] = 1.0f;
    uint8_t p[32];
    uint16_t sc[2];
    hark_quantize_q4(two, 1, 64, 32, p, sc);
    CHECK(hark_f16_to_f32(sc[0]) == 1.0f && p[0] == (1 | 15 << 4) && p[1] == (9 | 8 << 4) &&
              sc[1] == 0,
          "int4 packing: byte 0 0x%02x, byte 1 0x%02x, scales %g %g", p[0], p[1],
          hark_f16_to_f32(sc[0]), hark_f16_to_f32(sc[1]));
}

/* ---- files */

static hark_model *load(const char *path)
{
    hark_model *m = NULL;
    hark_status st = hark_model_load(path, NULL, &m);
    CHECK(st == HARK_OK, "load %s: %s", path, hark_last_error());
    return m;
}

/* Largest |a - b| over a quantized view and the float tensor it came from, against the bound
 * of half a step of the largest scale (plus the fp16 rounding of the reference). */
static void check_view(const hark_tensor *q, const hark_tensor *ref, const char *what)
{
    CHECK(q->qbits && ref->dtype == HARK_DTYPE_F16, "%s: quantized %d, reference dtype %d", what,
          q->qbits, (int)ref->dtype);
    if (!q->qbits || ref->dtype != HARK_DTYPE_F16)
        return;
    const int64_t n = q->shape[0], k = q->shape[1];
    float *row = malloc((size_t)k * sizeof(float));
    int bad = 0;
    for (int64_t r = 0; r < n; r++) {
        hark_dequantize_rows(q, r, 1, row);
        for (int64_t i = 0; i < k; i++) {
            float s = hark_f16_to_f32(q->scale[r * (k / q->group) + i / q->group]);
            float x = hark_f16_to_f32(((const uint16_t *)ref->data)[r * k + i]);
            bad += fabsf(row[i] - x) > 0.5f * s * 1.01f + 1e-6f;
        }
    }
    free(row);
    CHECK(bad == 0, "%s: %d weights farther than half a step from the f16 model's", what, bad);
}

static void test_files(void)
{
    char pf[300], p8[300], p4[300], pback[300];
    CHECK_OK(hark_convert_random("tiny-test", 3, tmp("f16.hark", pf, sizeof(pf)), NULL));
    hark_convert_params cp = hark_convert_default_params();
    cp.quant = HARK_QUANT_INT8;
    CHECK_OK(hark_convert(pf, tmp("q8.hark", p8, sizeof(p8)), &cp));
    cp.quant = HARK_QUANT_INT4;
    cp.group = 32;
    CHECK_OK(hark_convert(pf, tmp("q4.hark", p4, sizeof(p4)), &cp));
    /* the same from the random writer directly */
    char pr[300];
    CHECK_OK(hark_convert_random("tiny-test", 3, tmp("q4r.hark", pr, sizeof(pr)), &cp));

    hark_model *mf = load(pf), *m8 = load(p8), *m4 = load(p4), *mr = load(pr);
    if (mf && m8 && m4 && mr) {
        int g = -1;
        CHECK(hark_model_quant(mf, &g) == HARK_QUANT_NONE && g == 0, "f16 model: none");
        CHECK(hark_model_quant(m8, &g) == HARK_QUANT_INT8 && g == 0, "int8 model");
        CHECK(hark_model_quant(m4, &g) == HARK_QUANT_INT4 && g == 32, "int4 model: group %d", g);
        check_view(&m8->w.dec[0].fc1_w, &mf->w.dec[0].fc1_w, "int8 decoder fc1");
        check_view(&m8->w.enc[1].attn.k_w, &mf->w.enc[1].attn.k_w, "int8 encoder k");
        check_view(&m4->w.dec[1].cross.o_w, &mf->w.dec[1].cross.o_w, "int4 decoder cross out");
        check_view(&m4->w.enc[0].fc2_w, &mf->w.enc[0].fc2_w, "int4 encoder fc2");
        CHECK(m4->w.tok_emb.qbits == 0 && m4->w.conv2_w.qbits == 0 &&
                  m4->w.tok_emb.dtype == HARK_DTYPE_F16,
              "embedding and convolutions stay f16");
        CHECK(m4->w.enc[0].fc2_w.group == 32 && m8->w.enc[0].fc2_w.group == 256,
              "groups: int4 %d, int8 %d (the row)", m4->w.enc[0].fc2_w.group,
              m8->w.enc[0].fc2_w.group);
        /* the random writer quantizes the exact values, not their f16 rounding: still within
         * half a step of the f16 weights */
        check_view(&mr->w.dec[0].attn.q_w, &mf->w.dec[0].attn.q_w, "random int4 q");
        struct stat a, b;
        CHECK(stat(p4, &a) == 0 && stat(pf, &b) == 0 && a.st_size < b.st_size, "smaller file");
    }
    /* converting a quantized file back dequantizes it */
    cp = hark_convert_default_params();
    CHECK_OK(hark_convert(p8, tmp("back.hark", pback, sizeof(pback)), &cp));
    hark_model *mb = load(pback);
    if (mb && m8) {
        const hark_tensor *q = &m8->w.dec[0].fc2_w, *f = &mb->w.dec[0].fc2_w;
        int64_t n = q->shape[0], k = q->shape[1];
        float *row = malloc((size_t)k * sizeof(float));
        int bad = 0;
        for (int64_t r = 0; r < n; r++) {
            hark_dequantize_rows(q, r, 1, row);
            for (int64_t i = 0; i < k; i++)
                bad += hark_f32_to_f16(row[i]) != ((const uint16_t *)f->data)[r * k + i];
        }
        free(row);
        CHECK(hark_model_quant(mb, NULL) == HARK_QUANT_NONE && bad == 0,
              "dequantized conversion: %d values differ", bad);
    }
    /* groups that do not divide a width leave that matrix in f16 (nano-test: width 8) */
    char pn[300];
    cp.quant = HARK_QUANT_INT4;
    cp.group = 64;
    CHECK_OK(hark_convert_random("nano-test", 1, tmp("nano4.hark", pn, sizeof(pn)), &cp));
    hark_model *mn = load(pn);
    if (mn)
        CHECK(hark_model_quant(mn, NULL) == HARK_QUANT_NONE && mn->w.dec[0].fc1_w.qbits == 0,
              "nano-test int4/64: nothing quantized");
    hark_model_free(mn);
    /* bad parameters */
    cp.group = 48;
    CHECK(hark_convert(pf, tmp("bad.hark", pn, sizeof(pn)), &cp) == HARK_ERR_INVALID_ARG,
          "group 48 refused");
    cp.quant = (hark_quant)3;
    cp.group = 64;
    CHECK(hark_convert(pf, pn, &cp) == HARK_ERR_INVALID_ARG, "quant 3 refused");
    hark_model_free(mf);
    hark_model_free(m8);
    hark_model_free(m4);
    hark_model_free(mr);
    hark_model_free(mb);
}

/* Copies the safetensors file src to dst with one change: entry `drop` left out, or entry `name`
 * replaced by (dtype, ndim, shape) with zero bytes. */
static hark_status rewrite(const char *src, const char *dst, const char *drop, const char *name,
                           hark_dtype dtype, int ndim, int64_t s0, int64_t s1)
{
    hark_st_file f;
    hark_status st = hark_st_open(src, &f);
    if (st != HARK_OK)
        return st;
    hark_st_writer *w;
    static uint8_t zeros[4 << 20];
    if ((st = hark_st_writer_new(&w)) != HARK_OK) {
        hark_st_close(&f);
        return st;
    }
    for (int i = 0; i < f.n_meta && st == HARK_OK; i++)
        st = hark_st_writer_meta(w, f.meta_keys[i], f.meta_values[i]);
    for (int i = 0; i < f.n_entries && st == HARK_OK; i++) {
        const hark_st_entry *e = &f.entries[i];
        if (drop && !strcmp(e->name, drop))
            continue;
        if (name && !strcmp(e->name, name)) {
            int64_t shape[2] = { s0, s1 };
            st = hark_st_writer_add(w, e->name, dtype, ndim, shape, zeros);
        } else {
            st = hark_st_writer_add(w, e->name, e->t.dtype, e->t.ndim, e->t.shape, e->t.data);
        }
    }
    if (st == HARK_OK)
        st = hark_st_writer_write(w, dst);
    hark_st_writer_free(w);
    hark_st_close(&f);
    return st;
}

static void expect_error(const char *path, const char *needle, const char *what)
{
    hark_model *m = NULL;
    hark_status st = hark_model_load(path, NULL, &m);
    CHECK(st == HARK_ERR_FORMAT && strstr(hark_last_error(), needle),
          "%s: got %s (%s), wanted a format error naming '%s'", what, hark_status_str(st),
          hark_last_error(), needle);
    hark_model_free(m);
}

static void test_corrupt(void)
{
    char p8[300], p4[300], bad[300];
    tmp("q8.hark", p8, sizeof(p8));
    tmp("q4.hark", p4, sizeof(p4));
    tmp("bad.hark", bad, sizeof(bad));
#define FC1 "model.decoder.layers.0.fc1.weight"
#define FC1S FC1 "_scale"
#define LNB "model.decoder.layer_norm.bias"
#define EMB "model.decoder.embed_tokens.weight"
    static const struct {
        int from4;               /* start from the int4 file (else the int8 one) */
        const char *drop, *name; /* the entry left out, or the one replaced by (dtype, shape) */
        hark_dtype dtype;
        int ndim;
        int64_t s0, s1;
        const char *what;
    } cases[] = {
        { 0, FC1S, NULL, 0, 0, 0, 0, "int8 without its scales" },
        { 0, NULL, FC1S, HARK_DTYPE_F16, 1, 255, 0, "int8 scales of the wrong length" },
        { 0, NULL, FC1S, HARK_DTYPE_F32, 1, 256, 0, "int8 scales in F32" },
        { 0, NULL, FC1, HARK_DTYPE_I8, 2, 256, 63, "int8 weight of the wrong shape" },
        { 1, NULL, FC1, HARK_DTYPE_U8, 2, 256, 64, "int4 weight not packed" },
        { 1, NULL, FC1S, HARK_DTYPE_F16, 2, 256, 3, "int4 group not dividing the width" },
        { 1, NULL, FC1S, HARK_DTYPE_F16, 2, 256, 4, "int4 group of 16" },
        { 0, NULL, LNB, HARK_DTYPE_I8, 1, 64, 0, "a quantized bias" },
        { 0, NULL, EMB, HARK_DTYPE_I8, 2, 51865, 64, "a quantized embedding" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        CHECK_OK(rewrite(cases[i].from4 ? p4 : p8, bad, cases[i].drop, cases[i].name,
                         cases[i].dtype, cases[i].ndim, cases[i].s0, cases[i].s1));
        /* the error names the tensor at fault */
        expect_error(bad, cases[i].drop ? cases[i].drop : cases[i].name, cases[i].what);
    }
}

/* ---- the CPU products */

/* y = x W^T + b in double from the dequantized weights; returns the largest error of y_got
 * relative to the largest |y|. */
static double product_error(const hark_tensor *t, const float *b, const float *x, int m,
                            const float *y)
{
    const int n = (int)t->shape[0], k = (int)t->shape[1];
    float *wd = malloc((size_t)n * k * sizeof(float));
    hark_dequantize_rows(t, 0, n, wd);
    double err = 0, ymax = 1e-30;
    for (int i = 0; i < m; i++)
        for (int r = 0; r < n; r++) {
            double s = b[r];
            for (int j = 0; j < k; j++)
                s += (double)wd[(size_t)r * k + j] * x[(size_t)i * k + j];
            ymax = fabs(s) > ymax ? fabs(s) : ymax;
            double e = fabs(s - y[(size_t)i * n + r]);
            err = e > err ? e : err;
        }
    free(wd);
    return err / ymax;
}

static void test_cpu_products(void)
{
    static const int shapes[][3] = { /* bits, n, k */
        { 8, 1, 16 },   { 8, 7, 37 },   { 8, 33, 100 }, { 8, 130, 1280 }, { 8, 5, 3 },
        { 4, 1, 32 },   { 4, 9, 96 },   { 4, 65, 640 }, { 4, 3, 1280 },
    };
    static const int ms[] = { 1, 2, 3, 5, 8, 31, 32, 45 };
    for (size_t si = 0; si < sizeof(shapes) / sizeof(shapes[0]); si++) {
        const int bits = shapes[si][0], n = shapes[si][1], k = shapes[si][2];
        const int group = bits == 8 ? k : (k % 64 == 0 ? 64 : 32);
        float *w = malloc((size_t)n * k * sizeof(float)), *b = malloc((size_t)n * sizeof(float));
        float *x = malloc((size_t)45 * k * sizeof(float)), *y = malloc((size_t)45 * n * sizeof(float));
        void *q = malloc((size_t)n * k);
        uint16_t *s16 = malloc((size_t)n * (k / group) * sizeof(uint16_t));
        float *s32 = malloc((size_t)n * (k / group) * sizeof(float));
        for (int i = 0; i < n * k; i++)
            w[i] = frand();
        for (int i = 0; i < n; i++)
            b[i] = frand();
        for (int i = 0; i < 45 * k; i++)
            x[i] = frand();
        if (bits == 8)
            hark_quantize_i8(w, n, k, q, s16);
        else
            hark_quantize_q4(w, n, k, group, q, s16);
        for (int i = 0; i < n * (k / group); i++)
            s32[i] = hark_f16_to_f32(s16[i]);
        hark_tensor t = { .dtype = bits == 8 ? HARK_DTYPE_I8 : HARK_DTYPE_U8, .ndim = 2,
                          .shape = { n, k }, .data = q, .qbits = bits, .group = group,
                          .scale = s16 };
        cpu_mat cm = { .data = q, .dtype = t.dtype, .n = n, .k = k, .qbits = bits,
                       .group = group, .scale = s32 };
        cpu_weights cw = { .max_nk = (size_t)n * k };
        cpu_ctx c = { .w = &cw, .n_threads = 2, .panel = malloc((size_t)n * k * sizeof(float)) };
        for (size_t mi = 0; mi < sizeof(ms) / sizeof(ms[0]); mi++) {
            const int m = ms[mi];
            memset(y, 0, (size_t)m * n * sizeof(float));
            cpu_linear(&c, &cm, b, x, k, m, y, n); /* GEMV below 32 rows, sgemm from 32 */
            double e = product_error(&t, b, x, m, y);
            CHECK(e < 1e-5, "int%d n %d k %d m %d: relative error %.3g", bits, n, k, m, e);
        }
        free(c.panel);
        free(w), free(b), free(x), free(y), free(q), free(s16), free(s32);
    }
}

/* A quantized model through the whole CPU engine: transcripts of the f16 and int8 tiny-test
 * models are not compared (random weights), but both run and the logits stay close. */
static void test_engine(void)
{
    char pf[300], p8[300];
    tmp("f16.hark", pf, sizeof(pf));
    tmp("q8.hark", p8, sizeof(p8));
    hark_model *mf = load(pf), *m8 = load(p8);
    hark_state *sf = NULL, *s8 = NULL;
    if (!mf || !m8)
        goto out;
    CHECK_OK(hark_state_new(mf, NULL, &sf));
    CHECK_OK(hark_state_new(m8, NULL, &s8));
    if (!sf || !s8)
        goto out;
    static float pcm[HARK_N_SAMPLES], mel[80 * HARK_N_FRAMES];
    for (int i = 0; i < HARK_N_SAMPLES; i++)
        pcm[i] = 0.1f * frand();
    CHECK_OK(hark_log_mel(pcm, HARK_N_SAMPLES, 80, mel));
    CHECK_OK(hark_encode(sf, mel, 1));
    CHECK_OK(hark_encode(s8, mel, 1));
    const int v = mf->dims.n_vocab;
    float *lf = malloc((size_t)4 * v * sizeof(float)), *l8 = malloc((size_t)4 * v * sizeof(float));
    hark_decode_entry e[4];
    for (int i = 0; i < 4; i++)
        e[i] = (hark_decode_entry){ .token = 50258 + i, .pos = i, .want_logits = 1 };
    CHECK_OK(hark_decode(sf, e, 4, lf));
    CHECK_OK(hark_decode(s8, e, 4, l8));
    double d2 = 0, r2 = 0;
    for (int i = 0; i < 4 * v; i++) {
        d2 += (double)(lf[i] - l8[i]) * (lf[i] - l8[i]);
        r2 += (double)lf[i] * lf[i];
    }
    CHECK(sqrt(d2 / r2) < 0.02, "int8 logits relative L2 error %.3g", sqrt(d2 / r2));
    free(lf);
    free(l8);
out:
    hark_state_free(sf);
    hark_state_free(s8);
    hark_model_free(mf);
    hark_model_free(m8);
}

int main(void)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/hark_test_quant_%d", (int)getpid());
    mkdir(tmpdir, 0755);
    test_quantizers();
    test_files();
    test_corrupt();
    test_cpu_products();
    test_engine();
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
    TEST_MAIN_END();
}
