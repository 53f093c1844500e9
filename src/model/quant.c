/*
 * quant.c — weight-only quantization of linear weights and its inverse (docs/quant.md).
 *
 * Symmetric, round to nearest: the scale of a row (int8) or of a group of `group` inputs of a row
 * (int4) is max |w| / qmax, rounded to fp16 first so that q * scale is exactly what every
 * backend reconstructs. int4 values q in [-8, 7] are stored as q + 8, two to a byte, element 2j
 * in the low nibble of byte j.
 */
#include "model/model.h"

#include <math.h>

/* The fp16 scale of values whose largest magnitude is amax, for qmax levels; 0 for all-zero
 * (or all-subnormal) input. Clamped to the largest finite fp16. */
static uint16_t scale_of(float amax, float qmax)
{
    float s = amax / qmax;
    if (!(s < 65504.0f))
        s = isnan(s) ? 0.0f : 65504.0f;
    return hark_f32_to_f16(s);
}

static float amax_of(const float *w, int64_t n)
{
    float m = 0.0f;
    for (int64_t i = 0; i < n; i++) {
        float a = fabsf(w[i]);
        if (a > m) /* NaN never compares greater: a NaN weight quantizes as 0 */
            m = a;
    }
    return m;
}

static int quant_value(float w, float inv, int lo, int hi)
{
    float q = nearbyintf(w * inv);
    if (!(q >= (float)lo)) /* also NaN */
        return q != q ? 0 : lo;
    return q > (float)hi ? hi : (int)q;
}

void hark_quantize_i8(const float *w, int64_t n, int64_t k, int8_t *q, uint16_t *scale)
{
#pragma omp parallel for schedule(static) if (n * k > (1 << 20))
    for (int64_t r = 0; r < n; r++) {
        const float *wr = w + r * k;
        scale[r] = scale_of(amax_of(wr, k), 127.0f);
        float s = hark_f16_to_f32(scale[r]), inv = s > 0.0f ? 1.0f / s : 0.0f;
        for (int64_t i = 0; i < k; i++)
            q[r * k + i] = (int8_t)quant_value(wr[i], inv, -127, 127);
    }
}

void hark_quantize_q4(const float *w, int64_t n, int64_t k, int group, uint8_t *q, uint16_t *scale)
{
    const int64_t ng = k / group;
#pragma omp parallel for schedule(static) if (n * k > (1 << 20))
    for (int64_t r = 0; r < n; r++) {
        uint8_t *qr = q + r * (k / 2);
        for (int64_t g = 0; g < ng; g++) {
            const float *wg = w + r * k + g * group;
            uint16_t s16 = scale_of(amax_of(wg, group), 7.0f);
            scale[r * ng + g] = s16;
            float s = hark_f16_to_f32(s16), inv = s > 0.0f ? 1.0f / s : 0.0f;
            for (int i = 0; i < group; i += 2) {
                int lo = quant_value(wg[i], inv, -8, 7) + 8;
                int hi = quant_value(wg[i + 1], inv, -8, 7) + 8;
                qr[(g * group + i) / 2] = (uint8_t)(lo | hi << 4);
            }
        }
    }
}

void hark_dequantize_rows(const hark_tensor *t, int64_t r0, int64_t nr, float *out)
{
    const int64_t k = t->shape[1];
    for (int64_t r = r0; r < r0 + nr; r++) {
        float *o = out + (r - r0) * k;
        if (t->qbits == 8) {
            const int8_t *qr = (const int8_t *)t->data + r * k;
            float s = hark_f16_to_f32(t->scale[r]);
            for (int64_t i = 0; i < k; i++)
                o[i] = (float)qr[i] * s;
        } else {
            const uint8_t *qr = (const uint8_t *)t->data + r * (k / 2);
            const uint16_t *sr = t->scale + r * (k / t->group);
            for (int64_t i = 0; i < k; i += 2) {
                float s = hark_f16_to_f32(sr[i / t->group]);
                o[i] = (float)((qr[i / 2] & 15) - 8) * s;
                o[i + 1] = (float)((qr[i / 2] >> 4) - 8) * s;
            }
        }
    }
}
