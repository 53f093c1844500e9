/*
 * ops.c — the CPU backend's element-wise and row ops: layer norm, exact GELU, softmax, dot,
 * axpy and single-query attention. Vectorised with simd.h; every loop has a scalar tail.
 *
 * ref: openai/whisper model.py LayerNorm (eps 1e-5, biased variance), nn.GELU() (erf form),
 * MultiHeadAttention.qkv_attention (softmax(q k^T / sqrt(E)) v).
 */
#include "backend/cpu/cpu.h"

#if defined(__F16C__)
#include <immintrin.h>
#endif
#include "util/simd.h"

#include <math.h>

/* Shape legend: see cpu.h. */

float cpu_dot(const float *a, const float *b, int n)
{
    vf acc0 = vf_set1(0.0f), acc1 = vf_set1(0.0f);
    int i = 0;
    for (; i + 2 * VW <= n; i += 2 * VW) {
        acc0 = vf_fma(vf_load(a + i), vf_load(b + i), acc0);
        acc1 = vf_fma(vf_load(a + i + VW), vf_load(b + i + VW), acc1);
    }
    for (; i + VW <= n; i += VW)
        acc0 = vf_fma(vf_load(a + i), vf_load(b + i), acc0);
    float s = vf_hsum(acc0 + acc1);
    for (; i < n; i++)
        s += a[i] * b[i];
    return s;
}

void cpu_axpy(float *y, float a, const float *x, int n)
{
    vf av = vf_set1(a);
    int i = 0;
    for (; i + VW <= n; i += VW)
        vf_store(y + i, vf_fma(av, vf_load(x + i), vf_load(y + i)));
    for (; i < n; i++)
        y[i] += a * x[i];
}

void cpu_add_rows(float *x, const float *y, size_t n)
{
    size_t i = 0;
    for (; i + VW <= n; i += VW)
        vf_store(x + i, vf_load(x + i) + vf_load(y + i));
    for (; i < n; i++)
        x[i] += y[i];
}

static void layer_norm_row(const float *x, const float *g, const float *b, int d, float *y)
{
    vf acc = vf_set1(0.0f);
    int i = 0;
    for (; i + VW <= d; i += VW)
        acc += vf_load(x + i);
    float sum = vf_hsum(acc);
    for (; i < d; i++)
        sum += x[i];
    float mean = sum / (float)d;
    vf mv = vf_set1(mean);
    acc = vf_set1(0.0f);
    for (i = 0; i + VW <= d; i += VW) {
        vf t = vf_load(x + i) - mv;
        acc = vf_fma(t, t, acc);
    }
    float var = vf_hsum(acc);
    for (; i < d; i++)
        var += (x[i] - mean) * (x[i] - mean);
    float rstd = 1.0f / sqrtf(var / (float)d + 1e-5f);
    vf rv = vf_set1(rstd);
    for (i = 0; i + VW <= d; i += VW) {
        vf t = (vf_load(x + i) - mv) * rv;
        vf_store(y + i, vf_fma(t, vf_load(g + i), vf_load(b + i)));
    }
    for (; i < d; i++)
        y[i] = (x[i] - mean) * rstd * g[i] + b[i];
}

/* y[rows][d] = LayerNorm(x) * g + b; y may equal x. */
void cpu_layer_norm(const float *x, const float *g, const float *b, int rows, int d, float *y,
                    int n_threads)
{
#pragma omp parallel for num_threads(n_threads) schedule(static) if (rows > 16)
    for (int r = 0; r < rows; r++)
        layer_norm_row(x + (size_t)r * d, g, b, d, y + (size_t)r * d);
}

/* erf(x) by Abramowitz & Stegun 7.1.26 (absolute error <= 1.5e-7):
 * erf(|x|) = 1 - (a1 t + a2 t^2 + ... + a5 t^5) e^{-x^2}, t = 1 / (1 + p |x|). */
static inline vf vf_erf(vf x)
{
    vf ax = vf_max(x, -x);
    vf t = vf_set1(1.0f) / vf_fma(vf_set1(0.3275911f), ax, vf_set1(1.0f));
    vf p = vf_set1(1.061405429f);
    p = vf_fma(p, t, vf_set1(-1.453152027f));
    p = vf_fma(p, t, vf_set1(1.421413741f));
    p = vf_fma(p, t, vf_set1(-0.284496736f));
    p = vf_fma(p, t, vf_set1(0.254829592f));
    p = p * t;
    vf y = vf_set1(1.0f) - p * vf_exp(-(ax * ax));
    vi sign = vf_bits(x) & ((vi){0} + INT32_MIN);
    return vf_from_bits(vf_bits(y) ^ sign);
}

/* GELU(x) = x/2 (1 + erf(x / sqrt 2)), in place. ref: openai/whisper model.py uses nn.GELU(). */
void cpu_gelu(float *x, size_t n, int n_threads)
{
    size_t nv = n / VW;
#pragma omp parallel for num_threads(n_threads) schedule(static) if (n > 4096)
    for (size_t i = 0; i < nv; i++) {
        vf v = vf_load(x + i * VW);
        vf e = vf_erf(v * vf_set1(0.70710678118654752f));
        vf_store(x + i * VW, vf_set1(0.5f) * v * (vf_set1(1.0f) + e));
    }
    for (size_t i = nv * VW; i < n; i++)
        x[i] = 0.5f * x[i] * (1.0f + erff(x[i] * 0.70710678118654752f));
}

void cpu_softmax(float *x, int n)
{
    vf mv = vf_set1(-INFINITY);
    int i = 0;
    for (; i + VW <= n; i += VW)
        mv = vf_max(mv, vf_load(x + i));
    float mx = vf_hmax(mv);
    for (; i < n; i++)
        mx = x[i] > mx ? x[i] : mx;
    vf m = vf_set1(mx), acc = vf_set1(0.0f);
    for (i = 0; i + VW <= n; i += VW) {
        vf e = vf_exp(vf_load(x + i) - m);
        vf_store(x + i, e);
        acc += e;
    }
    float sum = vf_hsum(acc);
    for (; i < n; i++) {
        x[i] = expf(x[i] - mx);
        sum += x[i];
    }
    vf inv = vf_set1(1.0f / sum);
    for (i = 0; i + VW <= n; i += VW)
        vf_store(x + i, vf_load(x + i) * inv);
    for (; i < n; i++)
        x[i] *= 1.0f / sum;
}

void cpu_attend_one(const float *q, const float *k, const float *v, int ld, int n, int e,
                    float scale, float *prob, float *out)
{
    for (int t = 0; t < n; t++)
        prob[t] = cpu_dot(q, k + (size_t)t * ld, e) * scale;
    cpu_softmax(prob, n);
    for (int j = 0; j < e; j++)
        out[j] = 0.0f;
    for (int t = 0; t < n; t++)
        cpu_axpy(out, prob[t], v + (size_t)t * ld, e);
}

/* y[0..n) += a * x[0..n) with fp16 x. */
static void axpy_f16(float *y, float a, const uint16_t *x, int n)
{
    vf av = vf_set1(a);
    int i = 0;
    for (; i + VW <= n; i += VW)
        vf_store(y + i, vf_fma(av, vf_load_f16(x + i), vf_load(y + i)));
    for (; i < n; i++)
        y[i] += a * hark_f16_to_f32(x[i]);
}

static float dot_f16(const float *a, const uint16_t *b, int n)
{
    vf acc0 = vf_set1(0.0f), acc1 = vf_set1(0.0f);
    int i = 0;
    for (; i + 2 * VW <= n; i += 2 * VW) {
        acc0 = vf_fma(vf_load(a + i), vf_load_f16(b + i), acc0);
        acc1 = vf_fma(vf_load(a + i + VW), vf_load_f16(b + i + VW), acc1);
    }
    for (; i + VW <= n; i += VW)
        acc0 = vf_fma(vf_load(a + i), vf_load_f16(b + i), acc0);
    float s = vf_hsum(acc0 + acc1);
    for (; i < n; i++)
        s += a[i] * hark_f16_to_f32(b[i]);
    return s;
}

void cpu_attend_cross(const float *q, const uint16_t *kt, const uint16_t *vt, int ldt, int n,
                      int e, float scale, float *prob, float *out)
{
    for (int t = 0; t < n; t++)
        prob[t] = 0.0f;
    for (int j = 0; j < e; j++)
        axpy_f16(prob, q[j] * scale, kt + (size_t)j * ldt, n);
    cpu_softmax(prob, n);
    for (int j = 0; j < e; j++)
        out[j] = dot_f16(prob, vt + (size_t)j * ldt, n);
}

/* F16C's conversion, round to nearest even (same result as hark_f32_to_f16). */
static inline uint16_t f32_to_f16_fast(float x)
{
#if defined(__F16C__)
    return (uint16_t)_cvtss_sh(x, _MM_FROUND_TO_NEAREST_INT);
#else
    return hark_f32_to_f16(x);
#endif
}

void cpu_transpose_f16(const float *y, int rows, int cols, uint16_t *yt, int n_threads)
{
    enum { B = 32 };
#pragma omp parallel for num_threads(n_threads) schedule(static) collapse(2)
    for (int r0 = 0; r0 < rows; r0 += B)
        for (int c0 = 0; c0 < cols; c0 += B)
            for (int c = c0; c < c0 + B && c < cols; c++)
                for (int r = r0; r < r0 + B && r < rows; r++)
                    yt[(size_t)c * rows + r] = f32_to_f16_fast(y[(size_t)r * cols + c]);
}
