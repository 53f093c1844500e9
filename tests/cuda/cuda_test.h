/*
 * cuda_test.h — host helpers the GPU kernel tests share (test_kernels.c, test_quant_kernels.c):
 * random inputs, fp16/bf16 encodings done independently of the library, device buffers filled
 * with NaN bytes, downloads and the relative-L2 comparison against double references.
 */
#ifndef HARK_CUDA_TEST_H
#define HARK_CUDA_TEST_H

#include "backend/cuda/kernels.h"
#include "test.h"

#include <cuda_runtime_api.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const hark_dtype DTYPES[3] = {HARK_DTYPE_F32, HARK_DTYPE_F16, HARK_DTYPE_BF16};
static const char *const DT_NAME[3] = {"f32", "f16", "bf16"};
static cudaStream_t stream;

/* ---------------------------------------------------------------- host helpers --------------- */

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

/* Uniform in [-1, 1). */
static inline float frand(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (float)((double)(rng_state >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

static inline void fill_rand(float *x, size_t n, float scale, float offset)
{
    for (size_t i = 0; i < n; i++)
        x[i] = offset + scale * frand();
}

/* IEEE half from float, round to nearest even (as __float2half_rn). */
static inline uint16_t f32_to_f16(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000u);
    uint32_t ax = x & 0x7FFFFFFFu;
    if (ax >= 0x7F800000u)
        return (uint16_t)(sign | 0x7C00u | (ax > 0x7F800000u ? 0x200u : 0u));
    if (ax >= 0x477FF000u)
        return (uint16_t)(sign | 0x7C00u);
    if (ax < 0x38800000u) { /* below 2^-14: subnormal half, exact scaling then RNE */
        float v;
        memcpy(&v, &ax, 4);
        return (uint16_t)(sign | (uint16_t)lrintf(v * 16777216.0f));
    }
    uint32_t h = ((ax >> 23) - 112u) << 10 | ((ax & 0x7FFFFFu) >> 13);
    uint32_t rem = ax & 0x1FFFu;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1u)))
        h++;
    return (uint16_t)(sign | h);
}

static inline float f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, e = (h >> 10) & 0x1Fu, m = h & 0x3FFu;
    float v;
    if (e == 0) {
        v = (float)m / 16777216.0f;
        return sign ? -v : v;
    }
    uint32_t x = sign | (e == 31 ? 0x7F800000u | (m << 13) : ((e + 112u) << 23) | (m << 13));
    memcpy(&v, &x, 4);
    return v;
}

static inline uint16_t f32_to_bf16(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    if ((x & 0x7FFFFFFFu) > 0x7F800000u)
        return (uint16_t)((x >> 16) | 0x40u);
    return (uint16_t)((x + 0x7FFFu + ((x >> 16) & 1u)) >> 16);
}

static inline float bf16_to_f32(uint16_t b)
{
    uint32_t x = (uint32_t)b << 16;
    float v;
    memcpy(&v, &x, 4);
    return v;
}

static inline size_t dt_size(hark_dtype dt) { return dt == HARK_DTYPE_F32 ? 4 : 2; }

/* Rounds x[n] to dt in place and writes its dt encoding to raw. */
static inline void encode(hark_dtype dt, float *x, size_t n, void *raw)
{
    for (size_t i = 0; i < n; i++) {
        if (dt == HARK_DTYPE_F32) {
            ((float *)raw)[i] = x[i];
        } else if (dt == HARK_DTYPE_F16) {
            uint16_t h = f32_to_f16(x[i]);
            ((uint16_t *)raw)[i] = h;
            x[i] = f16_to_f32(h);
        } else {
            uint16_t h = f32_to_bf16(x[i]);
            ((uint16_t *)raw)[i] = h;
            x[i] = bf16_to_f32(h);
        }
    }
}

static inline void decode(hark_dtype dt, const void *raw, size_t n, float *x)
{
    for (size_t i = 0; i < n; i++)
        x[i] = dt == HARK_DTYPE_F32   ? ((const float *)raw)[i]
               : dt == HARK_DTYPE_F16 ? f16_to_f32(((const uint16_t *)raw)[i])
                                      : bf16_to_f32(((const uint16_t *)raw)[i]);
}

static inline void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "out of host memory\n");
        exit(2);
    }
    return p;
}

static inline void *dmalloc(size_t n)
{
    void *p = NULL;
    if (cudaMalloc(&p, n ? n : 16) != cudaSuccess) {
        fprintf(stderr, "cudaMalloc(%zu) failed\n", n);
        exit(2);
    }
    return p;
}

/* Device copy of x[n] rounded to dt (x is rounded in place, so references see the same values). */
static inline void *upload(hark_dtype dt, float *x, size_t n)
{
    void *raw = xmalloc(n * dt_size(dt)), *d = dmalloc(n * dt_size(dt));
    encode(dt, x, n, raw);
    cudaMemcpy(d, raw, n * dt_size(dt), cudaMemcpyHostToDevice);
    free(raw);
    return d;
}

static inline void *upload_bytes(const void *x, size_t bytes)
{
    void *d = dmalloc(bytes);
    cudaMemcpy(d, x, bytes, cudaMemcpyHostToDevice);
    return d;
}

/* A device buffer of n elements of dt filled with NaN bytes. */
static inline void *poisoned(hark_dtype dt, size_t n)
{
    void *d = dmalloc(n * dt_size(dt));
    cudaMemset(d, 0xFF, n * dt_size(dt));
    return d;
}

/* Waits for the stream and reads n elements of dt back into fp32. */
static inline float *download(hark_dtype dt, const void *d, size_t n)
{
    void *raw = xmalloc(n * dt_size(dt));
    float *x = xmalloc(n * sizeof(float));
    cudaStreamSynchronize(stream);
    cudaMemcpy(raw, d, n * dt_size(dt), cudaMemcpyDeviceToHost);
    decode(dt, raw, n, x);
    free(raw);
    return x;
}

static inline double tol_of(hark_dtype dt)
{
    return dt == HARK_DTYPE_F32 ? 1e-6 : dt == HARK_DTYPE_F16 ? 2e-3 : 1e-2;
}

static inline size_t count_nan(const float *x, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        k += x[i] != x[i];
    return k;
}

/* Compares got (device result) with the double reference. */
static inline void compare(const char *what, hark_dtype dt, const float *got, const double *ref,
                    size_t n, double tol)
{
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)got[i] - ref[i];
        num += d * d;
        den += ref[i] * ref[i];
    }
    double rel = den > 0 ? sqrt(num / den) : sqrt(num);
    size_t nan = count_nan(got, n);
    CHECK(nan == 0, "%s %s: %zu of %zu outputs not written (NaN)", what, DT_NAME[dt], nan, n);
    CHECK(rel <= tol, "%s %s: rel L2 %.3g > %.3g", what, DT_NAME[dt], rel, tol);
}

#define CHECK_CU(expr)                                                                          \
    do {                                                                                        \
        int e_ = (expr);                                                                        \
        CHECK(e_ == 0, "%s -> %d (%s)", #expr, e_, cudaGetErrorString((cudaError_t)e_));       \
    } while (0)

static inline double gelu_d(double x) { return 0.5 * x * (1.0 + erf(x / sqrt(2.0))); }

/* out[d] = the layer norm of x[d] (eps 1e-5) with gain g and bias b, in double. */
static inline void layer_norm_ref(const float *x, int d, const float *g, const float *b,
                                  double *out)
{
    double mean = 0, var = 0;
    for (int j = 0; j < d; j++)
        mean += x[j];
    mean /= d;
    for (int j = 0; j < d; j++)
        var += (x[j] - mean) * (x[j] - mean);
    double rstd = 1.0 / sqrt(var / d + 1e-5);
    for (int j = 0; j < d; j++)
        out[j] = (x[j] - mean) * rstd * g[j] + b[j];
}

/* Milliseconds between two recorded events (waits for the second). */
static inline float time_ms(cudaEvent_t a, cudaEvent_t b)
{
    float ms = 0;
    cudaEventSynchronize(b);
    cudaEventElapsedTime(&ms, a, b);
    return ms;
}

/* The end of a kernel test's main: no device error left, the timings when --bench was asked
 * for, the stream gone; returns main's exit code. */
static inline int cuda_test_finish(int argc, char **argv, void (*bench)(void))
{
    cudaError_t err = cudaDeviceSynchronize();
    CHECK(err == cudaSuccess, "device error: %s", cudaGetErrorString(err));
    if (argc > 1 && !strcmp(argv[1], "--bench"))
        bench();
    cudaStreamDestroy(stream);
    TEST_MAIN_END();
}

/* Creates `stream` and returns 1 when a CUDA device is present; otherwise says the test is
 * skipped and returns 0. */
static inline int cuda_test_start(void)
{
    int n_dev = 0;
    if (cudaGetDeviceCount(&n_dev) != cudaSuccess || n_dev == 0) {
        printf("no CUDA device: skipped\n");
        return 0;
    }
    cudaStreamCreate(&stream);
    return 1;
}

#endif
