/*
 * test_fp8.c — cu_rows_to_f8 (fp8.cu), the operand maker of the FP8 encoder, against double
 * references on fresh random rows of very different magnitudes: for the plain copy, GELU and
 * layer norm, every activation type, vector and scalar paths (k not a multiple of the vector,
 * ld wider than k). Each row's scale must be max |v| / 448 and each e4m3 value the rounding of
 * v / scale (within half a step, decoded here independently of the library); zero rows, NaN
 * elements and bad arguments. `test_fp8 --bench` times the encoder's large-v3 shapes.
 */
#include "cuda_test.h"

/* e4m3 (1 sign, 4 exponent bits of bias 7, 3 mantissa bits; no infinities, 0x7F/0xFF NaN). */
static float e4m3_decode(uint8_t b)
{
    const int s = b >> 7, e = (b >> 3) & 15, m = b & 7;
    float v;
    if (e == 15 && m == 7)
        return NAN;
    if (e == 0)
        v = ldexpf((float)m / 8.0f, -6);
    else
        v = ldexpf(1.0f + (float)m / 8.0f, e - 7);
    return s ? -v : v;
}

static const char *MODE_NAME[3] = { "plain", "gelu", "layernorm" };

static void test_rows(hark_dtype dt, int mode, int rows, int k, int ldx)
{
    size_t nx = (size_t)rows * ldx;
    float *x = xmalloc(nx * 4), *g = xmalloc((size_t)k * 4), *b = xmalloc((size_t)k * 4);
    for (int r = 0; r < rows; r++) /* magnitudes 1e-3 .. 1e2 and an offset */
        fill_rand(x + (size_t)r * ldx, (size_t)ldx, powf(10.0f, (float)(r % 6) - 3.0f),
                  0.1f * (float)(r % 3));
    fill_rand(g, (size_t)k, 1.0f, 1.0f);
    fill_rand(b, (size_t)k, 0.5f, 0.0f);
    void *dx = upload(dt, x, nx), *dg = upload(dt, g, (size_t)k), *db = upload(dt, b, (size_t)k);
    uint8_t *dq = dmalloc((size_t)rows * k);
    float *ds = dmalloc((size_t)rows * 4);
    cudaMemset(dq, 0xAA, (size_t)rows * k);
    CHECK_CU(cu_rows_to_f8(dt, mode, dx, ldx, mode == CU_F8_LN ? dg : NULL,
                           mode == CU_F8_LN ? db : NULL, rows, k, dq, ds, stream));
    cudaStreamSynchronize(stream);
    uint8_t *q = xmalloc((size_t)rows * k);
    float *s = xmalloc((size_t)rows * 4);
    cudaMemcpy(q, dq, (size_t)rows * k, cudaMemcpyDeviceToHost);
    cudaMemcpy(s, ds, (size_t)rows * 4, cudaMemcpyDeviceToHost);
    double *v = xmalloc((size_t)k * sizeof(double));
    size_t bad = 0, bad_scale = 0, no_max = 0;
    for (int r = 0; r < rows; r++) {
        const float *xr = x + (size_t)r * ldx;
        if (mode == CU_F8_LN)
            layer_norm_ref(xr, k, g, b, v);
        for (int j = 0; j < k && mode != CU_F8_LN; j++)
            v[j] = mode == CU_F8_GELU ? gelu_d(xr[j]) : xr[j];
        double amax = 0;
        for (int j = 0; j < k; j++)
            amax = fmax(amax, fabs(v[j]));
        const double want = amax > 0 ? amax / 448.0 : 1.0;
        /* fp32 statistics on the device: layer norm and GELU differ from double a little */
        const double stol = mode == CU_F8_PLAIN ? 1e-6 : 1e-4;
        bad_scale += fabs(s[r] - want) > stol * want;
        int seen_max = 0;
        for (int j = 0; j < k; j++) {
            const double got = (double)e4m3_decode(q[(size_t)r * k + j]) * s[r];
            const double step = fmax(fabs(v[j]) / 16.0, ldexp(1.0, -10) * s[r]);
            bad += !(fabs(got - v[j]) <= step * 1.01 + stol * amax);
            seen_max |= fabs(fabs(got) - 448.0 * s[r]) <= 1e-6 * amax;
        }
        no_max += !seen_max;
    }
    CHECK(bad == 0 && bad_scale == 0 && no_max == 0,
          "rows_to_f8 %s %s %dx%d ld %d: %zu values off, %zu scales off, %zu rows without 448",
          MODE_NAME[mode], DT_NAME[dt], rows, k, ldx, bad, bad_scale, no_max);
    free(x), free(g), free(b), free(q), free(s), free(v);
    cudaFree(dx), cudaFree(dg), cudaFree(db), cudaFree(dq), cudaFree(ds);
}

/* A zero row has scale 1 and zero bytes; a NaN element stays NaN and leaves its row's scale
 * to the finite values. */
static void test_special(void)
{
    const int k = 64;
    float x[2 * 64];
    memset(x, 0, sizeof(x));
    for (int j = 0; j < k; j++)
        x[k + j] = (float)(j - 32) / 8.0f; /* max |v| 4 */
    x[k + 5] = NAN;
    void *dx = upload(HARK_DTYPE_F16, x, 2 * (size_t)k);
    uint8_t *dq = dmalloc(2 * (size_t)k);
    float *ds = dmalloc(2 * 4);
    CHECK_CU(cu_rows_to_f8(HARK_DTYPE_F16, CU_F8_PLAIN, dx, k, NULL, NULL, 2, k, dq, ds, stream));
    cudaStreamSynchronize(stream);
    uint8_t q[2 * 64];
    float s[2];
    cudaMemcpy(q, dq, sizeof(q), cudaMemcpyDeviceToHost);
    cudaMemcpy(s, ds, sizeof(s), cudaMemcpyDeviceToHost);
    int zeros = 0;
    for (int j = 0; j < k; j++)
        zeros += q[j] == 0;
    CHECK(s[0] == 1.0f && zeros == k, "zero row: scale %g, %d of %d bytes zero", s[0], zeros, k);
    CHECK(fabsf(s[1] - 4.0f / 448.0f) < 1e-9f, "NaN row: scale %g, want %g", s[1], 4.0 / 448.0);
    CHECK(isnan(e4m3_decode(q[k + 5])), "NaN element encoded as 0x%02x", q[k + 5]);
    CHECK(fabsf(e4m3_decode(q[k]) * s[1] + 4.0f) < 1e-5f, "row minimum decodes to %g",
          e4m3_decode(q[k]) * s[1]);
    /* bad arguments */
    CHECK(cu_rows_to_f8(HARK_DTYPE_F16, CU_F8_PLAIN, dx, k, NULL, NULL, 1, 6, dq, ds, stream) ==
              (int)cudaErrorInvalidValue, "k 6 refused");
    CHECK(cu_rows_to_f8(HARK_DTYPE_F16, CU_F8_LN, dx, k, NULL, NULL, 1, k, dq, ds, stream) ==
              (int)cudaErrorInvalidValue, "layer norm without gain refused");
    CHECK(cu_rows_to_f8(HARK_DTYPE_F16, CU_F8_PLAIN, dx, 32, NULL, NULL, 1, k, dq, ds, stream) ==
              (int)cudaErrorInvalidValue, "ld below k refused");
    CHECK(cu_rows_to_f8(HARK_DTYPE_F16, CU_F8_PLAIN, dx, 12004, NULL, NULL, 1, 12004, dq, ds,
                        stream) == (int)cudaErrorInvalidValue, "k 12004 refused");
    CHECK(cu_rows_to_f8(HARK_DTYPE_F16, 7, dx, k, NULL, NULL, 1, k, dq, ds, stream) ==
              (int)cudaErrorInvalidValue, "mode 7 refused");
    cudaGetLastError();
    cudaFree(dx), cudaFree(dq), cudaFree(ds);
}

/* The encoder's operands for 16 large-v3 windows: GB/s moved (read + write). */
static void bench(void)
{
    static const int shapes[][2] = { { CU_F8_LN, 1280 }, { CU_F8_PLAIN, 1280 },
                                     { CU_F8_GELU, 5120 } };
    const int rows = 16 * 1500;
    cudaEvent_t e0, e1;
    cudaEventCreate(&e0);
    cudaEventCreate(&e1);
    for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++) {
        const int mode = shapes[i][0], k = shapes[i][1], reps = 20;
        void *dx = dmalloc((size_t)rows * k * 2), *dg = dmalloc((size_t)k * 2);
        cudaMemset(dx, 0x3c, (size_t)rows * k * 2);
        cudaMemset(dg, 0x3c, (size_t)k * 2);
        uint8_t *dq = dmalloc((size_t)rows * k);
        float *ds = dmalloc((size_t)rows * 4);
        cu_rows_to_f8(HARK_DTYPE_F16, mode, dx, k, dg, dg, rows, k, dq, ds, stream);
        cudaEventRecord(e0, stream);
        for (int r = 0; r < reps; r++)
            cu_rows_to_f8(HARK_DTYPE_F16, mode, dx, k, dg, dg, rows, k, dq, ds, stream);
        cudaEventRecord(e1, stream);
        double us = 1000.0 * time_ms(e0, e1) / reps, bytes = (double)rows * k * 3;
        printf("bench rows_to_f8 %s %dx%d f16: %.1f us, %.0f GB/s\n", MODE_NAME[mode], rows, k,
               us, bytes / us / 1e3);
        cudaFree(dx), cudaFree(dg), cudaFree(dq), cudaFree(ds);
    }
    cudaEventDestroy(e0);
    cudaEventDestroy(e1);
}

int main(int argc, char **argv)
{
    if (!cuda_test_start())
        TEST_MAIN_END();
    for (int i = 0; i < 3; i++)
        for (int mode = 0; mode < 3; mode++) {
            test_rows(DTYPES[i], mode, 37, 1280, 1280);
            test_rows(DTYPES[i], mode, 9, 192, 200);   /* a short row in a wider matrix */
            test_rows(DTYPES[i], mode, 17, 1536, 1536);
            test_rows(DTYPES[i], mode, 3, 1544, 1544);
            test_rows(DTYPES[i], mode, 6, 5120, 5120);
            test_rows(DTYPES[i], mode, 5, 100, 104); /* not a whole vector: the scalar path */
            test_rows(DTYPES[i], mode, 3, 384, 1152); /* a column block of a wider matrix */
            test_rows(DTYPES[i], mode, 2, 4, 4);
            test_rows(DTYPES[i], mode, 2, 12000, 12000); /* 2 or 4 vectors a thread */
            test_rows(DTYPES[i], mode, 2, 12000, 12001); /* the largest row, staged */
        }
    test_special();
    return cuda_test_finish(argc, argv, bench);
}
