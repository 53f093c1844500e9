/*
 * random.c — seeded random-weight models (hark_convert_random), for tests and benchmarks of
 * every architecture without real weights. The recipe is normative and documented in
 * docs/format.md ("Random weights"); dev/reference/make_goldens.py reproduces it in numpy, so
 * any change here must change both. Values are computed in float64 and rounded once (round to
 * nearest even) to the file's dtype.
 */
#include "model/model_internal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static uint64_t fnv1a64(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 0x100000001b3ull;
    return h;
}

static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* r[i] in [-1, 1) of the recipe, for the tensor key. */
static inline double recipe_r(uint64_t key, uint64_t i)
{
    uint64_t z = mix64(key + (i + 1) * 0x9e3779b97f4a7c15ull);
    return 2.0 * (double)(z >> 40) / 16777216.0 - 1.0;
}

/* Rounds |x| (finite, >= 0) to a float format with man mantissa bits, exponent bias bias, once:
 * returns the magnitude bits. */
static uint32_t round_bits(double a, int man, int bias)
{
    if (a == 0)
        return 0;
    uint64_t u;
    memcpy(&u, &a, 8);
    int e = (int)((u >> 52) & 0x7ff) - 1023;
    uint32_t inf = (uint32_t)(2 * bias + 1) << man;
    if (e < 1 - bias) /* below the smallest normal: count units of 2^(1 - bias - man) */
        return (uint32_t)rint(ldexp(a, bias - 1 + man));
    if (e > bias)
        return inf;
    int shift = 52 - man;
    uint64_t m = u & ((1ull << 52) - 1);
    uint64_t rest = m & ((1ull << shift) - 1), half = 1ull << (shift - 1);
    uint32_t h = ((uint32_t)(e + bias) << man) | (uint32_t)(m >> shift);
    if (rest > half || (rest == half && (h & 1)))
        h++; /* a carry into the exponent is the right answer */
    return h > inf ? inf : h;
}

static void store_double(void *dst, size_t i, hark_dtype dt, double x)
{
    uint16_t sign = signbit(x) ? 0x8000 : 0;
    switch (dt) {
    case HARK_DTYPE_F32: ((float *)dst)[i] = (float)x; return;
    case HARK_DTYPE_F16: ((uint16_t *)dst)[i] = (uint16_t)(sign | round_bits(fabs(x), 10, 15)); return;
    case HARK_DTYPE_BF16: ((uint16_t *)dst)[i] = (uint16_t)(sign | round_bits(fabs(x), 7, 127)); return;
    }
}

/* Whisper's sinusoids for position p, channel c of width d (ref: openai/whisper model.py
 * sinusoids, in float64 as the recipe says). */
static double sinusoid(int64_t p, int64_t c, int64_t d)
{
    int64_t half = d / 2, k = c < half ? c : c - half;
    double x = (double)p * exp(-(double)k * log(10000.0) / (double)(half - 1));
    return c < half ? sin(x) : cos(x);
}

typedef struct random_ctx {
    uint64_t seed;
} random_ctx;

static hark_status random_fill(void *user, const hark_plan_tensor *t, hark_dtype dt, void *dst)
{
    const random_ctx *c = user;
    int64_t n = hark_plan_numel(t);
    uint64_t key = mix64(c->seed ^ fnv1a64(t->hf));
    double scale = 1, offset = 0;
    switch (t->role) {
    case HARK_ROLE_LN_WEIGHT: scale = 0.1; offset = 1; break;
    case HARK_ROLE_BIAS: scale = 0.02; break;
    case HARK_ROLE_TOK_EMB: scale = 0.05; break;
    case HARK_ROLE_DEC_POS: scale = 0.02; break;
    case HARK_ROLE_MATRIX: {
        double fan_in = 1;
        for (int i = 1; i < t->ndim; i++)
            fan_in *= (double)t->shape[i];
        scale = 1 / sqrt(fan_in);
        break;
    }
    case HARK_ROLE_ENC_POS: {
        int64_t d = t->shape[1];
#pragma omp parallel for schedule(static)
        for (int64_t i = 0; i < n; i++)
            store_double(dst, (size_t)i, dt, sinusoid(i / d, i % d, d));
        return HARK_OK;
    }
    }
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i++) {
        double r = recipe_r(key, (uint64_t)i);
        store_double(dst, (size_t)i, dt, offset + scale * r);
    }
    return HARK_OK;
}

/* Writes the seeded random model of arch (see docs/format.md) to out_path. params may be NULL
 * (F16). HARK_ERR_NOT_FOUND for an unknown architecture name. */
hark_status hark_convert_random(const char *arch, uint64_t seed, const char *out_path,
                                const hark_convert_params *params)
{
    if (!arch || !out_path)
        return hark_fail(HARK_ERR_INVALID_ARG, "hark_convert_random: NULL architecture or path");
    const hark_arch *a = hark_arch_find(arch);
    if (!a) {
        char names[512] = "";
        size_t n = 0;
        for (const char *const *p = hark_arch_names(); *p && n < sizeof(names); p++)
            n += (size_t)snprintf(names + n, sizeof(names) - n, "%s%s", n ? ", " : "", *p);
        return hark_fail(HARK_ERR_NOT_FOUND, "unknown architecture '%s' (known: %s)", arch, names);
    }
    char note[40];
    snprintf(note, sizeof(note), "seed=%llu", (unsigned long long)seed);
    hark_convert_params p = params ? *params : hark_convert_default_params();
    hark_write_info info = { .dims = a->dims, .arch = a->name, .random = note, .dtype = p.dtype,
                             .quant = p.quant, .group = p.group };
    random_ctx c = { seed };
    return hark_file_write(out_path, &info, random_fill, &c);
}
