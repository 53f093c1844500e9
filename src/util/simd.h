/*
 * simd.h — a small vector vocabulary: one float vector type `vf` of VW lanes (16 with AVX-512,
 * 8 with AVX/AVX2, 4 otherwise), built on GCC vector extensions so that one source serves every
 * target; intrinsics only where the extensions have no word (FMA, F16C).
 *
 * Not a general SIMD library: just what the CPU backend (layer norm, softmax, GELU, attention,
 * the f16 GEMV) and the decoding rules' passes over the vocabulary need. All helpers are static
 * inline; loads and stores are unaligned.
 */
#ifndef HARK_UTIL_SIMD_H
#define HARK_UTIL_SIMD_H

#include <stdint.h>
#include <string.h>

#if defined(__AVX512F__) || defined(__AVX2__) || defined(__F16C__)
#include <immintrin.h>
#endif

#include "util/util.h"

#if defined(__AVX512F__)
#define VW 16
#elif defined(__AVX__)
#define VW 8
#else
#define VW 4 /* SSE width: wider generic vectors would change the call ABI */
#endif

typedef float vf __attribute__((vector_size(VW * 4)));
typedef int32_t vi __attribute__((vector_size(VW * 4)));

static inline vf vf_load(const float *p)
{
    vf v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline void vf_store(float *p, vf v) { memcpy(p, &v, sizeof v); }

static inline vf vf_set1(float x) { return (vf){0} + x; }

/* a * b + c, fused where the target has FMA. */
static inline vf vf_fma(vf a, vf b, vf c)
{
#if defined(__AVX512F__)
    return (vf)_mm512_fmadd_ps((__m512)a, (__m512)b, (__m512)c);
#elif defined(__FMA__)
    return (vf)_mm256_fmadd_ps((__m256)a, (__m256)b, (__m256)c);
#else
    return a * b + c;
#endif
}

/* VW halves (IEEE binary16) at p, widened to float. */
static inline vf vf_load_f16(const uint16_t *p)
{
#if defined(__AVX512F__)
    return (vf)_mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)p));
#elif defined(__F16C__)
    return (vf)_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
#else
    vf v;
    for (int i = 0; i < VW; i++)
        v[i] = hark_f16_to_f32(p[i]);
    return v;
#endif
}

/* VW int8 values at p, widened to float (quantized weights). */
static inline vf vf_load_i8(const int8_t *p)
{
#if defined(__AVX512F__)
    return (vf)_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)p)));
#elif defined(__AVX2__)
    return (vf)_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)p)));
#else
    vf v;
    for (int i = 0; i < VW; i++)
        v[i] = (float)p[i];
    return v;
#endif
}

/* VW int4 values packed two to a byte at p (VW / 2 bytes, element 2j in the low nibble of byte
 * j, stored as q + 8), as float q: the low and high nibbles masked, interleaved back into element
 * order as bytes, then widened (cheaper than a variable shift per 32-bit lane). */
static inline vf vf_load_u4(const uint8_t *p)
{
#if defined(__AVX512F__)
    const __m128i b = _mm_loadl_epi64((const __m128i *)p), m = _mm_set1_epi8(15);
    const __m128i e = _mm_unpacklo_epi8(_mm_and_si128(b, m),
                                        _mm_and_si128(_mm_srli_epi16(b, 4), m));
    return (vf)_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_sub_epi8(e, _mm_set1_epi8(8))));
#elif defined(__AVX2__)
    uint32_t word;
    memcpy(&word, p, 4);
    const __m128i b = _mm_cvtsi32_si128((int)word), m = _mm_set1_epi8(15);
    const __m128i e = _mm_unpacklo_epi8(_mm_and_si128(b, m),
                                        _mm_and_si128(_mm_srli_epi16(b, 4), m));
    return (vf)_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_sub_epi8(e, _mm_set1_epi8(8))));
#else
    vf v;
    for (int i = 0; i < VW; i++)
        v[i] = (float)(((p[i / 2] >> (4 * (i & 1))) & 15) - 8);
    return v;
#endif
}

static inline float vf_hsum(vf v)
{
    float s = 0;
    for (int i = 0; i < VW; i++)
        s += v[i];
    return s;
}

static inline float vf_hmax(vf v)
{
    float m = v[0];
    for (int i = 1; i < VW; i++)
        m = v[i] > m ? v[i] : m;
    return m;
}

static inline vf vf_from_bits(vi i)
{
    vf f;
    memcpy(&f, &i, sizeof f);
    return f;
}

static inline vi vf_bits(vf f)
{
    vi i;
    memcpy(&i, &f, sizeof i);
    return i;
}

/* mask ? a : b lane by lane (mask lanes all ones or zero, as comparisons give). */
static inline vf vf_select(vi mask, vf a, vf b)
{
    return vf_from_bits((vf_bits(a) & mask) | (vf_bits(b) & ~mask));
}

static inline vf vf_max(vf a, vf b) { return vf_select(a > b, a, b); }
static inline vf vf_min(vf a, vf b) { return vf_select(a < b, a, b); }

/* e^x, relative error a few ulp over [-87, 88]; inputs below are clamped (result ~1e-38).
 * Range reduction x = n ln2 + r with |r| <= ln2/2, then a degree-7 Taylor polynomial of e^r
 * (truncation error < 1e-8 relative) and 2^n through the exponent bits. */
static inline vf vf_exp(vf x)
{
    const vf magic = vf_set1(12582912.0f); /* 1.5 * 2^23: adding it rounds to an integer */
    x = vf_min(vf_max(x, vf_set1(-87.0f)), vf_set1(88.0f));
    vf t = vf_fma(x, vf_set1(1.44269504088896341f), magic);
    vf n = t - magic;
    vi ni = vf_bits(t) - vf_bits(magic);
    vf r = vf_fma(n, vf_set1(-0.693145751953125f), x); /* ln2 split high/low */
    r = vf_fma(n, vf_set1(-1.428606765330187e-06f), r);
    vf p = vf_set1(1.0f / 5040.0f);
    p = vf_fma(p, r, vf_set1(1.0f / 720.0f));
    p = vf_fma(p, r, vf_set1(1.0f / 120.0f));
    p = vf_fma(p, r, vf_set1(1.0f / 24.0f));
    p = vf_fma(p, r, vf_set1(1.0f / 6.0f));
    p = vf_fma(p, r, vf_set1(0.5f));
    p = vf_fma(p, r, vf_set1(1.0f));
    p = vf_fma(p, r, vf_set1(1.0f));
    vi scale = (ni + 127) << 23;
    return p * vf_from_bits(scale);
}

#endif
