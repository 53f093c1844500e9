/*
 * test_quant_kernels.c — the quantized-weight kernels (docs/quant.md) against double references
 * on fresh random inputs: cu_gemv with int8 (a scale per row) and int4 (a scale per group of
 * 32, 64, 128) weights, for every activation type, m 1-8 rows, odd row counts, the split-K path
 * (k >= 2048), the layer-norm prologue, GELU, the residual add and fp32 output; and cu_dequant
 * (the large-batch path's operand), exactly. The reference multiplies the same quantized values
 * and fp16 scales, dequantized here on the host.
 * `test_quant_kernels --bench` times the one-row products of large-v3's decoder shapes for f16,
 * int8 and int4 weights (GB/s of weights read).
 */
#include "cuda_test.h"
#include "model/model.h"

/* Quantized weights on the device and their dequantized values on the host. */
typedef struct qmat {
    int qbits, group, n, k;
    void *dw, *ds;
    float *deq; /* [n][k] */
} qmat;

static qmat qmat_new(int qbits, int group, int n, int k, float range)
{
    qmat q = { .qbits = qbits, .group = qbits == 8 ? k : group, .n = n, .k = k };
    float *w = xmalloc((size_t)n * k * 4);
    fill_rand(w, (size_t)n * k, range, 0.0f);
    size_t qb = (size_t)n * k * qbits / 8, ns = (size_t)n * (k / q.group);
    void *bytes = xmalloc(qb);
    uint16_t *s = xmalloc(ns * 2);
    if (qbits == 8)
        hark_quantize_i8(w, n, k, bytes, s);
    else
        hark_quantize_q4(w, n, k, group, bytes, s);
    hark_tensor t = { .dtype = qbits == 8 ? HARK_DTYPE_I8 : HARK_DTYPE_U8, .ndim = 2,
                      .shape = { n, k }, .data = bytes, .qbits = qbits, .group = q.group,
                      .scale = s };
    q.deq = xmalloc((size_t)n * k * 4);
    hark_dequantize_rows(&t, 0, n, q.deq);
    q.dw = upload_bytes(bytes, qb);
    q.ds = upload_bytes(s, ns * 2);
    free(w), free(bytes), free(s);
    return q;
}

static void qmat_free(qmat *q)
{
    cudaFree(q->dw), cudaFree(q->ds);
    free(q->deq);
}

enum { GELU = 1, ACC = 2, F32OUT = 4, LN = 8 };

static void test_qgemv(hark_dtype dt, int qbits, int group, int m, int n, int k, int flags)
{
    qmat q = qmat_new(qbits, group, n, k, 0.05f);
    size_t nx = (size_t)m * k, ny = (size_t)m * n;
    float *x = xmalloc(nx * 4), *b = xmalloc((size_t)n * 4), *y0 = xmalloc(ny * 4);
    float *g = xmalloc((size_t)k * 4), *gb = xmalloc((size_t)k * 4);
    fill_rand(x, nx, 1.0f, 0.2f);
    fill_rand(b, (size_t)n, 0.5f, 0.0f);
    fill_rand(y0, ny, 1.0f, 0.0f);
    fill_rand(g, (size_t)k, 0.5f, 1.0f);
    fill_rand(gb, (size_t)k, 0.2f, 0.0f);
    void *dx = upload(dt, x, nx), *db = upload(dt, b, (size_t)n);
    void *dg = upload(dt, g, (size_t)k), *dgb = upload(dt, gb, (size_t)k);
    hark_dtype odt = flags & F32OUT ? HARK_DTYPE_F32 : dt;
    void *dy = flags & ACC ? upload(odt, y0, ny) : poisoned(odt, ny);
    float *y0r = flags & ACC ? download(odt, dy, ny) : NULL;
    cu_gemv_args a = { .dt = dt, .x = dx, .ldx = k, .m = m, .w = q.dw, .b = db, .n = n, .k = k,
                       .y = dy, .ldy = n, .accumulate = !!(flags & ACC),
                       .out_f32 = !!(flags & F32OUT), .gelu = !!(flags & GELU),
                       .ln_g = flags & LN ? dg : NULL, .ln_b = flags & LN ? dgb : NULL,
                       .splitk = 4, .splitk_min_k = 2048, .qbits = qbits, .group = q.group,
                       .scale = q.ds };
    CHECK_CU(cu_gemv(&a, stream));
    float *y = download(odt, dy, ny);
    double *ref = xmalloc(ny * sizeof(double)), *xn = xmalloc((size_t)k * sizeof(double));
    for (int i = 0; i < m; i++) {
        const float *xi = x + (size_t)i * k;
        layer_norm_ref(xi, k, g, gb, xn);
        if (!(flags & LN))
            for (int j = 0; j < k; j++)
                xn[j] = xi[j];
        for (int r = 0; r < n; r++) {
            double v = b[r];
            for (int j = 0; j < k; j++)
                v += xn[j] * q.deq[(size_t)r * k + j];
            if (flags & GELU)
                v = gelu_d(v);
            if (flags & ACC)
                v += y0r[(size_t)i * n + r];
            ref[(size_t)i * n + r] = v;
        }
    }
    char what[128];
    snprintf(what, sizeof(what), "gemv int%d/%d m%d n%d k%d%s%s%s%s", qbits, q.group, m, n, k,
             flags & GELU ? " gelu" : "", flags & ACC ? " acc" : "",
             flags & F32OUT ? " f32out" : "", flags & LN ? " ln" : "");
    compare(what, dt, y, ref, ny, tol_of(dt) * 2);
    free(x), free(b), free(y0), free(g), free(gb), free(y0r), free(y), free(ref), free(xn);
    cudaFree(dx), cudaFree(db), cudaFree(dg), cudaFree(dgb), cudaFree(dy);
    qmat_free(&q);
}

/* cu_dequant writes q * scale rounded once to dt: exactly what the host computes. */
static void test_dequant(hark_dtype dt, int qbits, int group, int n, int k)
{
    qmat q = qmat_new(qbits, group, n, k, 2.0f);
    size_t nw = (size_t)n * k;
    void *dy = poisoned(dt, nw);
    CHECK_CU(cu_dequant(dt, qbits, q.group, q.dw, q.ds, n, k, dy, stream));
    float *y = download(dt, dy, nw);
    float *want = xmalloc(nw * 4);
    void *raw = xmalloc(nw * 4);
    memcpy(want, q.deq, nw * 4);
    encode(dt, want, nw, raw); /* rounds want to dt in place */
    size_t diff = 0;
    for (size_t i = 0; i < nw; i++)
        diff += memcmp(&y[i], &want[i], 4) != 0;
    CHECK(diff == 0, "dequant int%d/%d %dx%d %s: %zu of %zu values differ", qbits, q.group, n, k,
          DT_NAME[dt], diff, nw);
    free(y), free(want), free(raw);
    cudaFree(dy);
    qmat_free(&q);
}

static void test_bad(void)
{
    qmat q = qmat_new(4, 32, 4, 64, 1.0f);
    float x[64] = { 0 };
    void *dx = upload(HARK_DTYPE_F16, x, 64), *dy = poisoned(HARK_DTYPE_F16, 4);
    cu_gemv_args a = { .dt = HARK_DTYPE_F16, .x = dx, .ldx = 64, .m = 1, .w = q.dw, .n = 4,
                       .k = 64, .y = dy, .ldy = 4, .qbits = 4, .group = 48, .scale = q.ds };
    CHECK(cu_gemv(&a, stream) == (int)cudaErrorInvalidValue, "group 48 refused");
    a.group = 32;
    a.k = 48;
    CHECK(cu_gemv(&a, stream) == (int)cudaErrorInvalidValue, "int4 k 48 refused");
    a.k = 64;
    a.scale = NULL;
    CHECK(cu_gemv(&a, stream) == (int)cudaErrorInvalidValue, "no scales refused");
    a.scale = q.ds;
    a.qbits = 5;
    CHECK(cu_gemv(&a, stream) == (int)cudaErrorInvalidValue, "5 bits refused");
    CHECK(cu_dequant(HARK_DTYPE_F16, 8, 8, q.dw, q.ds, 4, 8, dy, stream) ==
              (int)cudaErrorInvalidValue, "dequant int8 k 8 refused");
    cudaGetLastError();
    cudaFree(dx), cudaFree(dy);
    qmat_free(&q);
}

/* One-row products of large-v3's decoder shapes: GB/s of weights for f16, int8 and int4. */
static void bench(void)
{
    static const int shapes[][2] = { { 3840, 1280 }, { 1280, 1280 }, { 5120, 1280 },
                                     { 1280, 5120 } };
    cudaEvent_t e0, e1;
    cudaEventCreate(&e0);
    cudaEventCreate(&e1);
    for (size_t si = 0; si < sizeof(shapes) / sizeof(shapes[0]); si++) {
        const int n = shapes[si][0], k = shapes[si][1], reps = 200;
        float *x = xmalloc((size_t)k * 4), *wf = xmalloc((size_t)n * k * 4);
        fill_rand(x, (size_t)k, 1.0f, 0.0f);
        fill_rand(wf, (size_t)n * k, 0.05f, 0.0f);
        void *dx = upload(HARK_DTYPE_F16, x, (size_t)k);
        void *dwf = upload(HARK_DTYPE_F16, wf, (size_t)n * k);
        void *dy = poisoned(HARK_DTYPE_F16, (size_t)n);
        static const int bits_of[3] = { 16, 8, 4 };
        for (int bi = 0; bi < 3; bi++) {
            const int bits = bits_of[bi];
            qmat q = { 0 };
            if (bits < 16)
                q = qmat_new(bits, 64, n, k, 0.05f);
            cu_gemv_args a = { .dt = HARK_DTYPE_F16, .x = dx, .ldx = k, .m = 1,
                               .w = bits < 16 ? q.dw : dwf, .n = n, .k = k, .y = dy, .ldy = n,
                               .splitk = 4, .splitk_min_k = 2048, .qbits = bits < 16 ? bits : 0,
                               .group = q.group, .scale = q.ds };
            for (int r = 0; r < 10; r++)
                cu_gemv(&a, stream);
            cudaEventRecord(e0, stream);
            for (int r = 0; r < reps; r++)
                cu_gemv(&a, stream);
            cudaEventRecord(e1, stream);
            double us = 1000.0 * time_ms(e0, e1) / reps, bytes = (double)n * k * bits / 8;
            printf("bench gemv m1 n%d k%d %s: %.2f us, %.0f GB/s of weights\n", n, k,
                   bits == 16 ? "f16" : bits == 8 ? "int8" : "int4/64", us, bytes / us / 1e3);
            if (bits < 16)
                qmat_free(&q);
        }
        free(x), free(wf);
        cudaFree(dx), cudaFree(dwf), cudaFree(dy);
    }
    cudaEventDestroy(e0);
    cudaEventDestroy(e1);
}

int main(int argc, char **argv)
{
    if (!cuda_test_start())
        TEST_MAIN_END();
    for (int i = 0; i < 3; i++) {
        hark_dtype dt = DTYPES[i];
        for (int qb = 8; qb >= 4; qb -= 4) {
            test_qgemv(dt, qb, 64, 1, 1280, 1280, 0);
            test_qgemv(dt, qb, 64, 1, 1280, 5120, ACC);        /* split-K */
            test_qgemv(dt, qb, 128, 2, 640, 5120, ACC | F32OUT);
            test_qgemv(dt, qb, 32, 3, 333, 2048, GELU);
            test_qgemv(dt, qb, 64, 8, 77, 4096, F32OUT);
            test_qgemv(dt, qb, 32, 5, 1, 96, LN);
            test_qgemv(dt, qb, 64, 1, 3840, 1280, LN);
            test_qgemv(dt, qb, 64, 2, 129, 640, LN | GELU);
            test_qgemv(dt, qb, 32, 7, 65, 64, ACC);
            test_dequant(dt, qb, 64, 129, 1280);
            test_dequant(dt, qb, 32, 3, 96);
        }
        test_qgemv(dt, 8, 0, 4, 33, 48, 0); /* int8 rows of 3 chunks */
    }
    test_bad();
    return cuda_test_finish(argc, argv, bench);
}
