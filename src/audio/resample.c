/*
 * resample.c — mono float resampling to 16 kHz.
 * With FFmpeg (HARK_WITH_FFMPEG) this is libswresample, the same resampler `ffmpeg -ar 16000`
 * uses (ref: openai/whisper audio.py load_audio). Without FFmpeg it is our own fallback: a
 * windowed-sinc (Blackman-windowed, 32 zero crossings each side) low-pass interpolator evaluated
 * from a finely tabulated kernel, cut off at 0.95 of the lower Nyquist frequency. It is accurate
 * for speech but not bit-identical to libswresample.
 */
#include "audio/audio.h"
#include "util/util.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

#ifdef HARK_WITH_FFMPEG
#include <libavutil/channel_layout.h>
#include <libavutil/opt.h>
#include <libavutil/samplefmt.h>
#include <libswresample/swresample.h>
#endif

/* Output length for n_in samples: the rounded duration at 16 kHz. */
static size_t resampled_length(size_t n_in, int rate_in)
{
    return (size_t)(((uint64_t)n_in * HARK_SAMPLE_RATE + (uint64_t)rate_in / 2) / (uint64_t)rate_in);
}

#ifdef HARK_WITH_FFMPEG

/* Resamples with libswresample: one convert call over the whole input, then a flush. */
static hark_status resample_impl(const float *in, size_t n_in, int rate_in, float *out,
                                 size_t n_out)
{
    AVChannelLayout mono = AV_CHANNEL_LAYOUT_MONO;
    SwrContext *swr = NULL;
    hark_status st = HARK_OK;
    if (n_in > INT32_MAX || n_out > INT32_MAX - 64)
        return hark_fail(HARK_ERR_AUDIO, "resample: %zu samples is too long", n_in);
    if (swr_alloc_set_opts2(&swr, &mono, AV_SAMPLE_FMT_FLT, HARK_SAMPLE_RATE, &mono,
                            AV_SAMPLE_FMT_FLT, rate_in, 0, NULL) < 0 ||
        swr_init(swr) < 0) {
        st = hark_fail(HARK_ERR_AUDIO, "resample: libswresample cannot convert %d Hz to %d Hz",
                       rate_in, HARK_SAMPLE_RATE);
        goto out_free_swr;
    }
    /* swr delays its output by its filter length; converting with room for everything and
     * then flushing yields the whole signal. Extra room absorbs rounding of the last sample. */
    int cap = (int)n_out + 64;
    float *tmp = malloc((size_t)cap * sizeof(float));
    if (!tmp) {
        st = hark_fail(HARK_ERR_NOMEM, "resample: out of memory");
        goto out_free_swr;
    }
    const uint8_t *src[1] = {(const uint8_t *)in};
    uint8_t *dst[1] = {(uint8_t *)tmp};
    int got = swr_convert(swr, dst, cap, src, (int)n_in);
    int more = got >= 0 ? swr_convert(swr, (uint8_t *[1]){(uint8_t *)(tmp + got)}, cap - got, NULL, 0)
                        : -1;
    if (got < 0 || more < 0) {
        st = hark_fail(HARK_ERR_AUDIO, "resample: libswresample failed");
    } else {
        size_t total = (size_t)got + (size_t)more;
        for (size_t i = 0; i < n_out; i++)
            out[i] = i < total ? tmp[i] : 0.0f;
    }
    free(tmp);
out_free_swr:
    swr_free(&swr);
    return st;
}

#else /* !HARK_WITH_FFMPEG: our own windowed-sinc fallback */

enum {
    SINC_ZEROS = 32,    /* zero crossings of the kernel on each side */
    SINC_STEPS = 512,   /* table points per zero crossing */
};

/* Blackman-windowed sinc at x zero crossings from the centre, |x| <= SINC_ZEROS. */
static double sinc_kernel(double x)
{
    double w = 0.42 + 0.5 * cos(M_PI * x / SINC_ZEROS) + 0.08 * cos(2.0 * M_PI * x / SINC_ZEROS);
    if (x == 0.0)
        return 1.0;
    return w * sin(M_PI * x) / (M_PI * x);
}

static hark_status resample_impl(const float *in, size_t n_in, int rate_in, float *out,
                                 size_t n_out)
{
    /* fc: cut-off in cycles per input sample; the kernel h(d) = 2 fc sinc(2 fc d) is spread over
     * half_width input samples on each side. */
    double ratio = (double)HARK_SAMPLE_RATE / rate_in;
    double fc = 0.5 * 0.95 * (ratio < 1.0 ? ratio : 1.0);
    double half_width = SINC_ZEROS / (2.0 * fc);
    size_t n_table = (size_t)SINC_ZEROS * SINC_STEPS + 2;
    float *table = malloc(n_table * sizeof(float));
    if (!table)
        return hark_fail(HARK_ERR_NOMEM, "resample: out of memory");
    for (size_t i = 0; i < n_table; i++)
        table[i] = (float)(2.0 * fc * sinc_kernel(fmin((double)i / SINC_STEPS, SINC_ZEROS)));

    double step = (double)rate_in / HARK_SAMPLE_RATE;
    for (size_t j = 0; j < n_out; j++) {
        double t = (double)j * step; /* output sample j sits at input time t */
        long lo = (long)ceil(t - half_width), hi = (long)floor(t + half_width);
        if (lo < 0)
            lo = 0;
        if (hi > (long)n_in - 1)
            hi = (long)n_in - 1;
        double acc = 0.0;
        for (long k = lo; k <= hi; k++) {
            double x = fabs(t - (double)k) * 2.0 * fc * SINC_STEPS; /* in table steps */
            size_t i = (size_t)x;
            if (i >= n_table - 1)
                continue;
            double frac = x - (double)i;
            acc += in[k] * ((1.0 - frac) * table[i] + frac * table[i + 1]);
        }
        out[j] = (float)acc;
    }
    free(table);
    return HARK_OK;
}

#endif

/* Resamples mono pcm from rate_in to 16 kHz into a malloc'd *out of *n_out samples (the input's
 * duration rounded to the nearest sample). A 16 kHz input is copied. */
hark_status hark_resample(const float *in, size_t n_in, int rate_in, float **out, size_t *n_out)
{
    *out = NULL;
    *n_out = 0;
    if (rate_in <= 0)
        return hark_fail(HARK_ERR_INVALID_ARG, "resample: sample rate %d Hz", rate_in);
    size_t n = rate_in == HARK_SAMPLE_RATE ? n_in : resampled_length(n_in, rate_in);
    float *buf = malloc((n ? n : 1) * sizeof(float));
    if (!buf)
        return hark_fail(HARK_ERR_NOMEM, "resample: out of memory for %zu samples", n);
    hark_status st = HARK_OK;
    if (rate_in == HARK_SAMPLE_RATE) {
        for (size_t i = 0; i < n; i++)
            buf[i] = in[i];
    } else if (n > 0) {
        st = resample_impl(in, n_in, rate_in, buf, n);
    }
    if (st != HARK_OK) {
        free(buf);
        return st;
    }
    *out = buf;
    *n_out = n;
    return HARK_OK;
}
