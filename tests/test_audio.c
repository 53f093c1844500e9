/*
 * test_audio.c — audio decoding and Whisper's log-mel.
 * WAV variants are generated here (every PCM width, float 32/64, stereo, 44.1 kHz, extensible,
 * odd chunks, streamed sizes, RF64) and decoded through the public API; broken input (every
 * prefix of a WAV, garbage, empty, NaN) must fail with a message, never crash. With FFmpeg, the
 * shared jfk.mp3 / jfk.flac (and OGG/WebM/M4A made with the ffmpeg CLI when it is on PATH) must
 * correlate with samples/jfk.wav. The log-mel is checked against a double-precision DFT written
 * out plainly below, the mel bank against whisper's mel_filters.npz, and against a transformers
 * golden (tests/data/mel_jfk_{80,128}.npy) when one is present.
 */
#include "hark.h"
#include "audio/audio.h"
#include "util/util.h"

#include "npy.h"
#include "test.h"

#include <cblas.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

static char tmp_dir[256];

/* ---------------------------------------------------------------- WAV writer ----------------- */

typedef struct wav_spec {
    unsigned tag;      /* 1 PCM, 3 float, or anything to test rejection */
    unsigned channels, rate, bits;
    int extensible;    /* write WAVE_FORMAT_EXTENSIBLE with tag as the sub-format */
    int junk_first;    /* an odd-sized LIST chunk before fmt */
    int data_first;    /* data chunk before fmt */
    int streamed;      /* RIFF and data sizes 0xFFFFFFFF */
    int rf64;          /* RF64 with a ds64 chunk */
    int bad_align;     /* write a wrong block align */
} wav_spec;

typedef struct bytes {
    uint8_t *p;
    size_t n, cap;
} bytes;

static void put(bytes *b, const void *src, size_t n)
{
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, src, n);
    b->n += n;
}

static void put16(bytes *b, unsigned v) { put(b, (uint8_t[2]){v & 255, (v >> 8) & 255}, 2); }

static void put32(bytes *b, uint32_t v)
{
    put(b, (uint8_t[4]){v & 255, (v >> 8) & 255, (v >> 16) & 255, (v >> 24) & 255}, 4);
}

/* One sample in the spec's encoding (x in [-1, 1]). */
static void put_sample(bytes *b, const wav_spec *s, double x)
{
    if (s->tag == 3 && s->bits == 32) {
        float f = (float)x;
        put(b, &f, 4);
    } else if (s->tag == 3) {
        put(b, &x, 8);
    } else if (s->bits == 8) {
        put(b, (uint8_t[1]){(uint8_t)lrint(128.0 + fmax(-128.0, fmin(127.0, x * 128.0)))}, 1);
    } else {
        double scale = ldexp(1.0, (int)s->bits - 1);
        int64_t v = llrint(fmax(-scale, fmin(scale - 1, x * scale)));
        for (unsigned i = 0; i < s->bits / 8; i++)
            put(b, (uint8_t[1]){(uint8_t)((uint64_t)v >> (8 * i))}, 1);
    }
}

static void put_fmt(bytes *b, const wav_spec *s)
{
    unsigned align = s->channels * s->bits / 8 + (s->bad_align ? 1 : 0);
    put(b, "fmt ", 4);
    put32(b, s->extensible ? 40 : 16);
    put16(b, s->extensible ? 0xFFFE : s->tag);
    put16(b, s->channels);
    put32(b, s->rate);
    put32(b, s->rate * align);
    put16(b, align);
    put16(b, s->bits);
    if (s->extensible) {
        put16(b, 22);
        put16(b, s->bits);
        put32(b, s->channels == 2 ? 3 : 4);
        put16(b, s->tag);
        put(b, "\x00\x00\x00\x00\x10\x00\x80\x00\x00\xAA\x00\x38\x9B\x71", 14);
    }
}

/* A WAV of n frames; channel c of frame i is x[i] * (1 - 0.5 c) so the mono average is known. */
static bytes make_wav(const wav_spec *s, const double *x, size_t n)
{
    bytes b = {0};
    put(&b, s->rf64 ? "RF64" : "RIFF", 4);
    put32(&b, 0); /* patched below */
    put(&b, "WAVE", 4);
    size_t data_bytes = n * s->channels * (s->bits / 8);
    if (s->rf64) {
        put(&b, "ds64", 4);
        put32(&b, 28);
        put32(&b, 0), put32(&b, 0);
        put32(&b, (uint32_t)data_bytes), put32(&b, 0);
        put32(&b, (uint32_t)n), put32(&b, 0);
        put32(&b, 0);
    }
    if (s->junk_first) {
        put(&b, "LIST", 4);
        put32(&b, 5);
        put(&b, "INFO\x01\x00", 6); /* 5 bytes and a pad byte */
    }
    if (!s->data_first)
        put_fmt(&b, s);
    put(&b, "data", 4);
    put32(&b, s->streamed || s->rf64 ? 0xFFFFFFFFu : (uint32_t)data_bytes);
    for (size_t i = 0; i < n; i++)
        for (unsigned c = 0; c < s->channels; c++)
            put_sample(&b, s, x[i] * (1.0 - 0.5 * c));
    if (s->data_first)
        put_fmt(&b, s);
    uint32_t riff = s->streamed || s->rf64 ? 0xFFFFFFFFu : (uint32_t)(b.n - 8);
    memcpy(b.p + 4, (uint8_t[4]){riff & 255, (riff >> 8) & 255, (riff >> 16) & 255, riff >> 24},
           4);
    return b;
}

/* Mono average of make_wav's channels for frame i. */
static double mono_of(double x, unsigned channels)
{
    double sum = 0;
    for (unsigned c = 0; c < channels; c++)
        sum += x * (1.0 - 0.5 * c);
    return sum / channels;
}

static double *sine(size_t n, double freq, double rate, double amp)
{
    double *x = malloc(n * sizeof(double));
    for (size_t i = 0; i < n; i++)
        x[i] = amp * sin(2.0 * M_PI * freq * (double)i / rate);
    return x;
}

/* ---------------------------------------------------------------- WAV tests ------------------ */

static void check_variant(const char *name, wav_spec s, double tol)
{
    size_t n = 1600;
    double *x = sine(n, 440.0, s.rate, 0.5);
    bytes b = make_wav(&s, x, n);
    float *pcm = NULL;
    size_t got = 0;
    hark_status st = hark_audio_decode(b.p, b.n, &pcm, &got);
    CHECK(st == HARK_OK, "%s: %s (%s)", name, hark_status_str(st), hark_last_error());
    if (st == HARK_OK && s.rate == HARK_SAMPLE_RATE) {
        CHECK(got == n, "%s: %zu samples, expected %zu", name, got, n);
        double err = 0;
        for (size_t i = 0; i < n && i < got; i++)
            err = fmax(err, fabs(pcm[i] - mono_of(x[i], s.channels)));
        CHECK(err <= tol, "%s: max error %g > %g", name, err, tol);
    } else if (st == HARK_OK) {
        size_t want = (size_t)llround((double)n * HARK_SAMPLE_RATE / s.rate);
        CHECK(got + 1 >= want && got <= want + 1, "%s: %zu samples, expected %zu", name, got,
              want);
        double err = 0; /* interior only: the resampler's edges see zeros beyond the signal */
        for (size_t i = 40; i + 40 < got; i++)
            err = fmax(err, fabs(pcm[i] - mono_of(0.5 * sin(2 * M_PI * 440.0 * (double)i /
                                                            HARK_SAMPLE_RATE), s.channels)));
        CHECK(err <= tol, "%s: max error after resampling %g > %g", name, err, tol);
    }
    hark_free(pcm);
    free(b.p);
    free(x);
}

static void test_wav_variants(void)
{
    check_variant("pcm8", (wav_spec){.tag = 1, .channels = 1, .rate = 16000, .bits = 8}, 1.0 / 128);
    check_variant("pcm16", (wav_spec){.tag = 1, .channels = 1, .rate = 16000, .bits = 16}, 1e-4);
    check_variant("pcm24", (wav_spec){.tag = 1, .channels = 1, .rate = 16000, .bits = 24}, 1e-6);
    check_variant("pcm32", (wav_spec){.tag = 1, .channels = 1, .rate = 16000, .bits = 32}, 1e-7);
    check_variant("f32", (wav_spec){.tag = 3, .channels = 1, .rate = 16000, .bits = 32}, 1e-7);
    check_variant("f64", (wav_spec){.tag = 3, .channels = 1, .rate = 16000, .bits = 64}, 1e-7);
    check_variant("stereo16", (wav_spec){.tag = 1, .channels = 2, .rate = 16000, .bits = 16}, 1e-4);
    check_variant("6ch-f32", (wav_spec){.tag = 3, .channels = 6, .rate = 16000, .bits = 32}, 1e-6);
    check_variant("ext-pcm24", (wav_spec){.tag = 1, .channels = 2, .rate = 16000, .bits = 24,
                                          .extensible = 1}, 1e-6);
    check_variant("ext-f32", (wav_spec){.tag = 3, .channels = 1, .rate = 16000, .bits = 32,
                                        .extensible = 1}, 1e-7);
    check_variant("odd-chunk", (wav_spec){.tag = 1, .channels = 1, .rate = 16000, .bits = 16,
                                          .junk_first = 1}, 1e-4);
    check_variant("data-first", (wav_spec){.tag = 1, .channels = 1, .rate = 16000, .bits = 16,
                                           .data_first = 1}, 1e-4);
    check_variant("streamed", (wav_spec){.tag = 1, .channels = 1, .rate = 16000, .bits = 16,
                                         .streamed = 1}, 1e-4);
    check_variant("rf64", (wav_spec){.tag = 1, .channels = 1, .rate = 16000, .bits = 16,
                                     .rf64 = 1}, 1e-4);
    check_variant("44k1-stereo", (wav_spec){.tag = 1, .channels = 2, .rate = 44100, .bits = 16},
                  2e-3);
    check_variant("8k", (wav_spec){.tag = 3, .channels = 1, .rate = 8000, .bits = 32}, 2e-3);
}

/* Decodes a buffer expecting failure with status want and a message containing needle. */
static void expect_fail(const char *name, const void *p, size_t n, hark_status want,
                        const char *needle)
{
    float *pcm = NULL;
    size_t got = 0;
    hark_status st = hark_audio_decode(p, n, &pcm, &got);
    CHECK(st == want, "%s: got %s (%s), expected %s", name, hark_status_str(st),
          hark_last_error(), hark_status_str(want));
    CHECK(pcm == NULL && got == 0, "%s: output set on failure", name);
    CHECK(strstr(hark_last_error(), needle) != NULL, "%s: message '%s' lacks '%s'", name,
          hark_last_error(), needle);
    hark_free(pcm);
}

static void test_wav_errors(void)
{
    double x[64] = {0};
    wav_spec ok = {.tag = 1, .channels = 1, .rate = 16000, .bits = 16};
    bytes b = make_wav(&ok, x, 64);

    expect_fail("truncated header", b.p, 10, HARK_ERR_AUDIO, "truncated");
    expect_fail("no fmt", b.p, 30, HARK_ERR_AUDIO, "fmt");
    expect_fail("no data", b.p, 36, HARK_ERR_AUDIO, "no data chunk");
    expect_fail("empty", b.p, 0, HARK_ERR_AUDIO, "empty");

    wav_spec s = ok;
    s.channels = 0;
    bytes z = make_wav(&s, x, 64);
    expect_fail("zero channels", z.p, z.n, HARK_ERR_AUDIO, "0 channels");
    free(z.p);

    s = ok;
    s.bad_align = 1;
    bytes a = make_wav(&s, x, 64);
    expect_fail("block align", a.p, a.n, HARK_ERR_AUDIO, "block align");
    free(a.p);

    s = ok;
    s.bits = 12;
    bytes w = make_wav(&s, x, 64);
    expect_fail("12-bit", w.p, w.n, HARK_ERR_AUDIO, "12 bits");
    free(w.p);

    /* MP3-in-WAV with garbage payload: neither we nor FFmpeg can decode it. */
    bytes m = make_wav(&ok, x, 64);
    m.p[20] = 0x55, m.p[21] = 0x00;
    expect_fail("tag 0x55", m.p, m.n, HARK_ERR_AUDIO, "WAV format tag 0x0055");
    free(m.p);

    /* Every prefix of a small WAV (with an odd chunk) must fail cleanly or decode. */
    double y[32];
    for (int i = 0; i < 32; i++)
        y[i] = 0.25 * sin(i);
    wav_spec j = {.tag = 1, .channels = 2, .rate = 22050, .bits = 24, .junk_first = 1};
    bytes pj = make_wav(&j, y, 32);
    int bad = 0;
    for (size_t len = 0; len <= pj.n; len++) {
        uint8_t *copy = malloc(len ? len : 1); /* exact size so ASan sees overreads */
        memcpy(copy, pj.p, len);
        float *pcm = NULL;
        size_t got = 0;
        hark_status st = hark_audio_decode(copy, len, &pcm, &got);
        if (st == HARK_OK)
            bad += got == 0 || pcm == NULL;
        else
            bad += hark_last_error()[0] == '\0' || pcm != NULL;
        hark_free(pcm);
        free(copy);
    }
    CHECK(bad == 0, "%d prefixes misbehaved", bad);
    free(pj.p);
    free(b.p);
}

static void test_nan_and_garbage(void)
{
    double x[100];
    for (int i = 0; i < 100; i++)
        x[i] = 0.1;
    x[37] = NAN;
    wav_spec f = {.tag = 3, .channels = 1, .rate = 16000, .bits = 32};
    bytes b = make_wav(&f, x, 100);
    expect_fail("nan", b.p, b.n, HARK_ERR_AUDIO, "sample 37 is NaN");
    free(b.p);
    x[37] = INFINITY;
    f.rate = 44100;
    b = make_wav(&f, x, 100);
    expect_fail("inf 44k", b.p, b.n, HARK_ERR_AUDIO, "sample 37 is infinite");
    free(b.p);

    /* Garbage: pseudo-random bytes, text, and a RIFF header around noise. */
    uint8_t junk[20000];
    uint64_t seed = 12345;
    for (size_t i = 0; i < sizeof(junk); i++) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        junk[i] = (uint8_t)(seed >> 56);
    }
    const char *text = "this is not audio at all, just a line of text\n";
    struct {
        const char *name;
        const void *p;
        size_t n;
    } cases[] = {{"random", junk, sizeof(junk)},
                 {"text", text, strlen(text)},
                 {"riff-avi", "RIFF\x10\x00\x00\x00" "AVI LIST\x00\x00\x00\x00", 20},
                 {"three bytes", "RIF", 3}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        float *pcm = NULL;
        size_t got = 0;
        hark_status st = hark_audio_decode(cases[i].p, cases[i].n, &pcm, &got);
        CHECK(st == HARK_ERR_AUDIO || st == HARK_ERR_UNSUPPORTED, "%s: %s (%s)", cases[i].name,
              hark_status_str(st), hark_last_error());
        CHECK(hark_last_error()[0] != '\0', "%s: no message", cases[i].name);
        hark_free(pcm);
    }
}

static void test_load_files(void)
{
    char path[512], buf[512];
    float *pcm = NULL;
    size_t n = 0;
    snprintf(path, sizeof(path), "%s/empty.wav", tmp_dir);
    FILE *f = fopen(path, "wb");
    if (f)
        fclose(f);
    hark_status st = hark_audio_load(path, &pcm, &n);
    CHECK(st == HARK_ERR_AUDIO && strstr(hark_last_error(), path), "empty file: %s (%s)",
          hark_status_str(st), hark_last_error());
    st = hark_audio_load("/nonexistent/x.wav", &pcm, &n);
    CHECK(st == HARK_ERR_IO, "missing file: %s", hark_status_str(st));

    CHECK_OK(hark_audio_load(test_src("samples/jfk.wav", buf, sizeof(buf)), &pcm, &n));
    CHECK(n == 176000, "jfk.wav: %zu samples", n);
    hark_free(pcm);

    /* "-" reads standard input. */
    if (freopen(test_src("samples/jfk.wav", buf, sizeof(buf)), "rb", stdin)) {
        CHECK_OK(hark_audio_load("-", &pcm, &n));
        CHECK(n == 176000, "stdin: %zu samples", n);
        hark_free(pcm);
    }
}

/* ---------------------------------------------------------------- resampler ------------------ */

static void test_resample(void)
{
    size_t n_in = 44100;
    double *x = sine(n_in, 440.0, 44100.0, 0.8);
    float *in = malloc(n_in * sizeof(float)), *out = NULL;
    for (size_t i = 0; i < n_in; i++)
        in[i] = (float)x[i];
    size_t n_out = 0;
    CHECK_OK(hark_resample(in, n_in, 44100, &out, &n_out));
    CHECK(n_out == 16000, "resampled to %zu samples", n_out);
    /* Fit a 440 Hz sinusoid over the interior: amplitude kept, residual tiny. */
    double sc = 0, cc = 0, res = 0;
    size_t lo = 200, hi = n_out > 200 ? n_out - 200 : 0, cnt = hi - lo;
    for (size_t i = lo; i < hi; i++) {
        double ph = 2 * M_PI * 440.0 * (double)i / 16000.0;
        sc += out[i] * sin(ph);
        cc += out[i] * cos(ph);
    }
    double amp = 2.0 * sqrt(sc * sc + cc * cc) / (double)cnt, phase = atan2(cc, sc);
    for (size_t i = lo; i < hi; i++) {
        double d = out[i] - amp * sin(2 * M_PI * 440.0 * (double)i / 16000.0 + phase);
        res += d * d;
    }
    res = sqrt(res / (double)cnt);
    CHECK(fabs(amp - 0.8) < 0.01, "amplitude %g, expected 0.8", amp);
    CHECK(fabs(phase) < 0.05, "phase %g", phase);
    CHECK(res < 0.005, "residual RMS %g", res);
    hark_free(out);
    free(in);
    free(x);
}

/* ---------------------------------------------------------------- FFmpeg --------------------- */

static int have_ffmpeg(void)
{
    float *pcm = NULL;
    size_t n = 0;
    hark_status st = hark_ffmpeg_decode("x", 1, &pcm, &n);
    hark_free(pcm);
    return st != HARK_ERR_UNSUPPORTED;
}

/* Best normalised correlation of a against ref over lags -max_lag..max_lag (a[i + lag] ~
 * ref[i]); the lag search uses the first 3 s, the final score the whole overlap. */
static double best_correlation(const float *a, size_t na, const float *ref, size_t nr,
                               int max_lag, int *lag_out)
{
    long best_lag = 0;
    double best = -2;
    size_t win = nr < 48000 ? nr : 48000;
    for (long lag = -max_lag; lag <= max_lag; lag++) {
        double dot = 0, ea = 0;
        for (size_t i = 2000; i < win; i++) {
            long j = (long)i + lag;
            if (j < 0 || (size_t)j >= na)
                continue;
            dot += a[j] * ref[i];
            ea += a[j] * a[j];
        }
        double c = ea > 0 ? dot / sqrt(ea) : 0;
        if (c > best)
            best = c, best_lag = lag;
    }
    double dot = 0, ea = 0, er = 0;
    for (size_t i = 0; i < nr; i++) {
        long j = (long)i + best_lag;
        if (j < 0 || (size_t)j >= na)
            continue;
        dot += (double)a[j] * ref[i];
        ea += (double)a[j] * a[j];
        er += (double)ref[i] * ref[i];
    }
    *lag_out = (int)best_lag;
    return ea > 0 && er > 0 ? dot / sqrt(ea * er) : 0;
}

static void check_against_jfk(const char *path, const float *ref, size_t nr)
{
    float *pcm = NULL;
    size_t n = 0;
    hark_status st = hark_audio_load(path, &pcm, &n);
    CHECK(st == HARK_OK, "%s: %s (%s)", path, hark_status_str(st), hark_last_error());
    if (st != HARK_OK)
        return;
    int lag = 0;
    double c = best_correlation(pcm, n, ref, nr, 2000, &lag);
    printf("  %s: %zu samples, lag %d, correlation %.5f\n", strrchr(path, '/') + 1, n, lag, c);
    CHECK(c > 0.95, "%s: correlation %g", path, c);
    CHECK(n > nr - 2000 && n < nr + 4000, "%s: %zu samples vs %zu", path, n, nr);
    hark_free(pcm);
}

static void test_ffmpeg(void)
{
    if (!have_ffmpeg()) {
        printf("skipped: built without FFmpeg\n");
        float *pcm = NULL;
        size_t n = 0;
        CHECK(hark_audio_decode("ID3\x03junk", 8, &pcm, &n) == HARK_ERR_UNSUPPORTED,
              "non-WAV without FFmpeg");
        return;
    }
    char buf[512], path[600];
    float *ref = NULL;
    size_t nr = 0;
    CHECK_OK(hark_audio_load(test_src("samples/jfk.wav", buf, sizeof(buf)), &ref, &nr));
    if (!ref)
        return;
    const char *shared[] = {"data/audio/whisper.cpp-samples/jfk.mp3",
                            "data/audio/openai-whisper/jfk.flac"};
    for (int i = 0; i < 2; i++) {
        test_shared(shared[i], path, sizeof(path));
        if (access(path, R_OK) != 0) {
            printf("skipped: %s absent\n", path);
            continue;
        }
        check_against_jfk(path, ref, nr);
    }

    /* A damaged MP3: truncated at several points, and with bytes overwritten mid-stream. */
    uint8_t *mp3;
    size_t size;
    test_shared(shared[0], path, sizeof(path));
    if (access(path, R_OK) == 0 && hark_read_file(path, &mp3, &size) == HARK_OK) {
        int bad = 0;
        for (size_t len = 1; len < size; len = len * 3 / 2 + 7) {
            float *pcm = NULL;
            size_t n = 0;
            hark_status st = hark_audio_decode(mp3, len, &pcm, &n);
            bad += st == HARK_OK ? n == 0 : hark_last_error()[0] == '\0';
            hark_free(pcm);
        }
        for (size_t i = size / 3; i < size / 3 + 4000; i++)
            mp3[i] ^= 0x5A;
        float *pcm = NULL;
        size_t n = 0;
        hark_status st = hark_audio_decode(mp3, size, &pcm, &n);
        bad += st == HARK_OK ? n == 0 : hark_last_error()[0] == '\0';
        hark_free(pcm);
        CHECK(bad == 0, "%d damaged MP3 cases misbehaved", bad);
        free(mp3);
    }

    /* Formats made with the ffmpeg CLI, when present. */
    if (system("command -v ffmpeg >/dev/null 2>&1") != 0) {
        printf("skipped: no ffmpeg CLI for OGG/WebM/M4A\n");
    } else {
        const char *fmts[][2] = {{"ogg", "-c:a libvorbis"}, {"webm", "-c:a libopus"},
                                 {"m4a", "-c:a aac"}, {"wav", "-c:a pcm_mulaw"},
                                 {"mkv", "-c:a pcm_s16le -ar 48000 -ac 2"}};
        for (size_t i = 0; i < sizeof(fmts) / sizeof(fmts[0]); i++) {
            char cmd[1600];
            snprintf(path, sizeof(path), "%s/jfk_%zu.%s", tmp_dir, i, fmts[i][0]);
            snprintf(cmd, sizeof(cmd), "ffmpeg -nostdin -loglevel error -y -i '%s' %s '%s'",
                     test_src("samples/jfk.wav", buf, sizeof(buf)), fmts[i][1], path);
            if (system(cmd) != 0) {
                printf("skipped: ffmpeg could not write %s\n", path);
                continue;
            }
            check_against_jfk(path, ref, nr);
        }
    }
    hark_free(ref);
}

/* ---------------------------------------------------------------- log-mel -------------------- */

static void test_mel_filters(void)
{
    char npz[512], cmd[1400], path[600];
    test_shared("data/assets/mel_filters.npz", npz, sizeof(npz));
    if (access(npz, R_OK) != 0) {
        printf("skipped: %s absent\n", npz);
        return;
    }
    snprintf(cmd, sizeof(cmd), "unzip -o -q '%s' -d '%s'", npz, tmp_dir);
    if (system(cmd) != 0) {
        printf("skipped: unzip failed\n");
        return;
    }
    int mels[2] = {80, 128};
    for (int m = 0; m < 2; m++) {
        npy_array a;
        snprintf(path, sizeof(path), "%s/mel_%d.npy", tmp_dir, mels[m]);
        if (npy_load(path, &a) != 0) {
            CHECK(0, "cannot read %s", path);
            continue;
        }
        CHECK(a.ndim == 2 && a.shape[0] == mels[m] && a.shape[1] == 201, "%s shape", path);
        float *mine = malloc((size_t)mels[m] * 201 * sizeof(float));
        hark_mel_filters(mels[m], mine);
        double err = 0;
        for (long i = 0; i < a.numel && i < mels[m] * 201; i++)
            err = fmax(err, fabs(mine[i] - ((float *)a.data)[i]));
        printf("  mel filters %d: max abs diff %.3g\n", mels[m], err);
        CHECK(err < 1e-6, "mel_%d max abs diff %g", mels[m], err);
        free(mine);
        npy_free(&a);
    }
}

/* The oracle: the same log-mel with a plain DFT in double, read top to bottom. */
static void log_mel_reference(const float *pcm, size_t n, int n_mels, float *out)
{
    size_t N = HARK_N_SAMPLES, len = n < N ? n : N;
    double *filters = malloc((size_t)n_mels * 201 * sizeof(double));
    float *ff = malloc((size_t)n_mels * 201 * sizeof(float));
    hark_mel_filters(n_mels, ff);
    for (size_t i = 0; i < (size_t)n_mels * 201; i++)
        filters[i] = ff[i];
    double cs[400], sn[400], w[400], frame[400], power[201];
    for (int i = 0; i < 400; i++) {
        cs[i] = cos(2 * M_PI * i / 400), sn[i] = sin(2 * M_PI * i / 400);
        w[i] = 0.5 - 0.5 * cos(2 * M_PI * i / 400);
    }
    double *mel = malloc((size_t)n_mels * 3000 * sizeof(double)), max = -1e30;
    for (int t = 0; t < 3000; t++) {
        for (int j = 0; j < 400; j++) {
            long i = (long)t * 160 + j - 200; /* reflect padding about the window's ends */
            if (i < 0)
                i = -i;
            if (i >= (long)N)
                i = 2 * ((long)N - 1) - i;
            frame[j] = w[j] * ((size_t)i < len ? pcm[i] : 0.0);
        }
        for (int k = 0; k < 201; k++) {
            double re = 0, im = 0;
            for (int j = 0; j < 400; j++)
                re += frame[j] * cs[(j * k) % 400], im -= frame[j] * sn[(j * k) % 400];
            power[k] = re * re + im * im;
        }
        for (int m = 0; m < n_mels; m++) {
            double s = 0;
            for (int k = 0; k < 201; k++)
                s += filters[m * 201 + k] * power[k];
            s = log10(fmax(s, 1e-10));
            mel[m * 3000 + t] = s;
            max = fmax(max, s);
        }
    }
    for (size_t i = 0; i < (size_t)n_mels * 3000; i++)
        out[i] = (float)((fmax(mel[i], max - 8.0) + 4.0) / 4.0);
    free(mel);
    free(filters);
    free(ff);
}

static void test_log_mel(void)
{
    char buf[512];
    float *pcm = NULL;
    size_t n = 0;
    CHECK_OK(hark_audio_load(test_src("samples/jfk.wav", buf, sizeof(buf)), &pcm, &n));
    if (!pcm)
        return;
    float *mine = malloc(128 * 3000 * sizeof(float)), *ref = malloc(128 * 3000 * sizeof(float));

    /* vs the double-precision oracle: jfk (11 s, then zeros), a 100-sample stub, and 35 s of
     * noise (truncated to 30 s; the end reflects real samples). */
    size_t n_long = HARK_N_SAMPLES + 5 * HARK_SAMPLE_RATE;
    float *noise = malloc(n_long * sizeof(float));
    uint64_t seed = 7;
    for (size_t i = 0; i < n_long; i++) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        noise[i] = (float)((double)(seed >> 11) / 9007199254740992.0 - 0.5) * 0.3f;
    }
    struct {
        const char *name;
        const float *p;
        size_t n;
        int mels;
    } cases[] = {{"jfk/80", pcm, n, 80}, {"stub/128", pcm + 40000, 100, 128},
                 {"noise/80", noise, n_long, 80}};
    for (size_t c = 0; c < 3; c++) {
        CHECK_OK(hark_log_mel(cases[c].p, cases[c].n, cases[c].mels, mine));
        log_mel_reference(cases[c].p, cases[c].n, cases[c].mels, ref);
        double e = test_rel_l2(mine, ref, (size_t)cases[c].mels * 3000);
        printf("  log-mel %s vs double DFT: rel L2 %.3g\n", cases[c].name, e);
        CHECK(e < 1e-5, "%s: rel L2 %g", cases[c].name, e);
    }
    free(noise);

    /* Silence: log10(1e-10) everywhere, i.e. (-10 + 4) / 4. */
    float zero[16] = {0};
    CHECK_OK(hark_log_mel(zero, 16, 80, mine));
    CHECK(fabsf(mine[0] + 1.5f) < 1e-5f && mine[80 * 3000 - 1] == mine[0], "silence gives %g", mine[0]);
    CHECK(hark_log_mel(pcm, n, 81, mine) == HARK_ERR_INVALID_ARG, "n_mels 81 accepted");

    /* Goldens from transformers' WhisperFeatureExtractor, when the lead has made them. */
    int mels[2] = {80, 128};
    for (int m = 0; m < 2; m++) {
        char path[512], rel[64];
        snprintf(rel, sizeof(rel), "tests/data/mel_jfk_%d.npy", mels[m]);
        test_src(rel, path, sizeof(path));
        npy_array g;
        if (access(path, R_OK) != 0) {
            printf("skipped: no golden %s\n", rel);
            continue;
        }
        if (npy_load(path, &g) != 0 || g.numel != (long)mels[m] * 3000) {
            CHECK(0, "bad golden %s", path);
            npy_free(&g);
            continue;
        }
        CHECK_OK(hark_log_mel(pcm, n, mels[m], mine));
        double e = test_rel_l2(mine, g.data, (size_t)g.numel);
        printf("  log-mel %d vs transformers golden: rel L2 %.3g\n", mels[m], e);
        CHECK(e <= 1e-4, "golden %d: rel L2 %g", mels[m], e);
        npy_free(&g);
    }

    /* Time per window, with OpenBLAS on one thread and then on its default. */
    int threads = openblas_get_num_threads();
    for (int pass = 0; pass < 2; pass++) {
        openblas_set_num_threads(pass == 0 ? 1 : threads);
        double ms = 1e9; /* best of 20: the machine may be shared */
        for (int r = 0; r < 20; r++) {
            double t0 = hark_time_s();
            hark_log_mel(pcm, n, 80, mine);
            ms = fmin(ms, (hark_time_s() - t0) * 1e3);
        }
        printf("  log-mel 80: %.2f ms per window, best of 20 (%d OpenBLAS thread%s)\n", ms,
               pass == 0 ? 1 : threads, pass == 0 ? "" : "s");
    }
    free(mine);
    free(ref);
    hark_free(pcm);
}

/* The whole-recording log-mel equals the one-window log-mel on a recording of exactly 30 s
 * (same frames, same global maximum), and has (n + pad) / 160 frames. */
static void test_log_mel_full(void)
{
    float *x = malloc(HARK_N_SAMPLES * sizeof(float));
    uint32_t r = 9;
    for (size_t i = 0; i < HARK_N_SAMPLES; i++) {
        r = r * 1664525u + 1013904223u;
        x[i] = 0.1f * sinf((float)i * 0.05f) + 0.01f * ((float)(r >> 8) / 16777216.0f - 0.5f);
    }
    float *win = malloc((size_t)80 * HARK_N_FRAMES * sizeof(float));
    float *full = NULL;
    size_t frames = 0;
    CHECK_OK(hark_log_mel(x, HARK_N_SAMPLES, 80, win));
    CHECK_OK(hark_log_mel_full(x, HARK_N_SAMPLES, 0, 80, &full, &frames));
    CHECK(frames == HARK_N_FRAMES, "full log-mel of 30 s: %zu frames", frames);
    double worst = 0;
    for (size_t i = 0; full && frames == HARK_N_FRAMES && i < (size_t)80 * HARK_N_FRAMES; i++) {
        double d = fabs((double)full[i] - win[i]);
        worst = d > worst ? d : worst;
    }
    CHECK(worst < 1e-6, "full vs window log-mel differ by %g", worst);
    hark_free(full);
    full = NULL;
    CHECK_OK(hark_log_mel_full(x, 16000, HARK_N_SAMPLES, 128, &full, &frames));
    CHECK(frames == (16000 + HARK_N_SAMPLES) / 160, "1 s + 30 s padding: %zu frames", frames);
    hark_free(full);
    CHECK(hark_log_mel_full(x, 100, 0, 81, &full, &frames) == HARK_ERR_INVALID_ARG, "81 mels");
    free(win);
    free(x);
}

int main(void)
{
    test_log_mel_full();
    hark_log_set(NULL, NULL);
    snprintf(tmp_dir, sizeof(tmp_dir), "/tmp/hark_test_audio_XXXXXX");
    if (!mkdtemp(tmp_dir)) {
        fprintf(stderr, "cannot make a temp folder\n");
        return 1;
    }
    test_wav_variants();
    test_wav_errors();
    test_nan_and_garbage();
    test_load_files();
    test_resample();
    test_ffmpeg();
    test_mel_filters();
    test_log_mel();
    char cmd[400];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp_dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmp_dir);
    TEST_MAIN_END();
}
