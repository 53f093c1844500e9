/*
 * mel.c — Whisper's log-mel spectrogram of one 30 s window, and the slaney mel filter bank.
 * ref: openai/whisper audio.py log_mel_spectrogram and Hugging Face WhisperFeatureExtractor:
 * zero pad the window to 480000 samples, STFT with center=True (reflect padding of n_fft/2 = 200
 * on both sides), periodic Hann window of 400, hop 160, power |X|^2 of bins 0..200, drop the last
 * of the 3001 frames, mel = filters @ power, log10(max(mel, 1e-10)), max(x, max(x) - 8),
 * (x + 4) / 4.
 * ref: librosa filters.mel(sr=16000, n_fft=400, n_mels, htk=False, norm="slaney") for the bank
 * (whisper ships it precomputed in assets/mel_filters.npz; we compute it).
 *
 * The DFT is matrix products (OpenBLAS sgemm) instead of an FFT, with two symmetries folded in
 * first so that it costs a quarter of the multiply-adds of the plain [400 x 402] basis:
 * 1. The periodic Hann window is symmetric, w[n] = w[400 - n], so each frame x folds into
 *      u[n] = x[n] + x[400 - n] (n = 0..200; u[0] = x[0], u[200] = x[200]),
 *      v[n] = x[n] - x[400 - n] (n = 1..199),
 *    and Re X[k] = sum_n u[n] w[n] cos(2 pi n k / 400), Im X[k] = -sum_n v[n] w[n] sin(...).
 * 2. Bins k and 200 - k share their tables up to the sign (-1)^n: with the even-n and odd-n
 *    halves of those sums, Ec Oc (cos) and Es Os (sin), for k = 0..100
 *      Re X[k] = Ec + Oc, Re X[200 - k] = Ec - Oc, -Im X[k] = Es + Os, -Im X[200 - k] = Os - Es.
 *    The window is folded into the four tables.
 *
 * Shapes (dimension letters): F frames in a block (MEL_BLOCK), K = 201 frequency bins,
 * H = 101 bins 0..100, M = n_mels, T = 3000 frames of the window.
 */
#include "audio/audio.h"
#include "util/util.h"

#include <cblas.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

enum {
    MEL_BINS = HARK_N_FFT / 2 + 1, /* K = 201 */
    MEL_HALF = HARK_N_FFT / 2,     /* 200: the STFT's reflect padding, and the fold point */
    MEL_H = HARK_N_FFT / 4 + 1,    /* H = 101: bins 0..100, each paired with bin 200 - k */
    MEL_NUE = 101,                 /* u[0], u[2], ..., u[200] */
    MEL_NUO = 100,                 /* u[1], u[3], ..., u[199] */
    MEL_NVE = 99,                  /* v[2], v[4], ..., v[198] */
    MEL_NVO = 100,                 /* v[1], v[3], ..., v[199] */
    MEL_ROW = MEL_NUE + MEL_NUO + MEL_NVE + MEL_NVO, /* 400: one folded frame */
    MEL_BLOCK = 120,               /* frames per sgemm; 3000 / 120 = 25 blocks */
};

/* Constant tables, built once (pthread_once) and read-only after. Each row is one input
 * position n, each column a bin k = 0..100: w[n] cos(2 pi n k / 400) or w[n] sin(...). */
static float cos_even[MEL_NUE][MEL_H]; /* n = 0, 2, ..., 200 */
static float cos_odd[MEL_NUO][MEL_H];  /* n = 1, 3, ..., 199 */
static float sin_even[MEL_NVE][MEL_H]; /* n = 2, 4, ..., 198 */
static float sin_odd[MEL_NVO][MEL_H];  /* n = 1, 3, ..., 199 */
static float filters_80[80][MEL_BINS];   /* [M][K] */
static float filters_128[128][MEL_BINS]; /* [M][K] */
static pthread_once_t tables_once = PTHREAD_ONCE_INIT;

/* Slaney mel scale: linear below 1000 Hz (200/3 Hz per mel), logarithmic above.
 * ref: librosa core/convert.py hz_to_mel / mel_to_hz with htk=False. */
static const double MEL_F_SP = 200.0 / 3.0;
static const double MEL_MIN_LOG_HZ = 1000.0;

static double mel_log_step(void) { return log(6.4) / 27.0; }

static double hz_to_mel(double hz)
{
    if (hz < MEL_MIN_LOG_HZ)
        return hz / MEL_F_SP;
    return MEL_MIN_LOG_HZ / MEL_F_SP + log(hz / MEL_MIN_LOG_HZ) / mel_log_step();
}

static double mel_to_hz(double mel)
{
    double min_log_mel = MEL_MIN_LOG_HZ / MEL_F_SP;
    if (mel < min_log_mel)
        return mel * MEL_F_SP;
    return MEL_MIN_LOG_HZ * exp(mel_log_step() * (mel - min_log_mel));
}

/* Writes the slaney mel filter bank out[n_mels][201] for 16 kHz and n_fft 400, as
 * librosa.filters.mel(sr=16000, n_fft=400, n_mels=n_mels) (htk=False, norm="slaney"). */
void hark_mel_filters(int n_mels, float *out)
{
    /* n_mels + 2 band edges evenly spaced in mel from 0 Hz to sr / 2; triangle i rises from
     * edge i to edge i + 1 and falls to edge i + 2, scaled to unit area (slaney norm). */
    double fmax = HARK_SAMPLE_RATE / 2.0, max_mel = hz_to_mel(fmax);
    for (int i = 0; i < n_mels; i++) {
        double e[3];
        for (int j = 0; j < 3; j++)
            e[j] = mel_to_hz(max_mel * (double)(i + j) / (double)(n_mels + 1));
        double norm = 2.0 / (e[2] - e[0]);
        for (int k = 0; k < MEL_BINS; k++) {
            double f = (double)k * HARK_SAMPLE_RATE / HARK_N_FFT;
            double lower = (f - e[0]) / (e[1] - e[0]);
            double upper = (e[2] - f) / (e[2] - e[1]);
            double w = fmin(lower, upper);
            out[(size_t)i * MEL_BINS + (size_t)k] = (float)(w > 0.0 ? w * norm : 0.0);
        }
    }
}

static void build_tables(void)
{
    for (int n = 0; n <= MEL_HALF; n++) {
        double w = 0.5 - 0.5 * cos(2.0 * M_PI * n / HARK_N_FFT); /* periodic Hann */
        for (int k = 0; k < MEL_H; k++) {
            double phase = 2.0 * M_PI * (double)((n * k) % HARK_N_FFT) / HARK_N_FFT;
            float c = (float)(w * cos(phase)), sn = (float)(w * sin(phase));
            if (n % 2 == 0) {
                cos_even[n / 2][k] = c;
                if (n >= 2 && n <= 198)
                    sin_even[n / 2 - 1][k] = sn;
            } else {
                cos_odd[n / 2][k] = c;
                sin_odd[n / 2][k] = sn;
            }
        }
    }
    hark_mel_filters(80, &filters_80[0][0]);
    hark_mel_filters(128, &filters_128[0][0]);
}

/* Sample i of the reflect-padded signal s[0..len) = pcm[0..n) then zeros: indices before 0 or
 * past the end mirror about the first and last sample (numpy "reflect"). */
static float padded_sample(const float *pcm, size_t n, long len, long i)
{
    if (i < 0)
        i = -i;
    if (i >= len)
        i = 2 * (len - 1) - i;
    return i >= 0 && (size_t)i < n ? pcm[i] : 0.0f;
}

/* Folds one frame x[400] into row[400] = [ue | uo | ve | vo]: the even and odd positions of u
 * and v (see the file comment). */
static void fold_one(const float *restrict x, float *restrict row)
{
    float u[MEL_HALF], v[MEL_HALF]; /* [1..199] used */
    for (int j = 1; j < MEL_HALF; j++) {
        u[j] = x[j] + x[HARK_N_FFT - j];
        v[j] = x[j] - x[HARK_N_FFT - j];
    }
    float *restrict ue = row, *restrict uo = ue + MEL_NUE, *restrict ve = uo + MEL_NUO,
                    *restrict vo = ve + MEL_NVE;
    ue[0] = x[0];
    ue[MEL_NUE - 1] = x[MEL_HALF];
    for (int i = 1; i < MEL_NUE - 1; i++)
        ue[i] = u[2 * i];
    for (int i = 0; i < MEL_NUO; i++)
        uo[i] = u[2 * i + 1];
    for (int i = 0; i < MEL_NVE; i++)
        ve[i] = v[2 * i + 2];
    for (int i = 0; i < MEL_NVO; i++)
        vo[i] = v[2 * i + 1];
}

/* Folds frames t0..t0+nf of the signal (length len: pcm then zeros) into rows[F][400] =
 * [ue | uo | ve | vo] (see the file comment: the even and odd positions of u and v). */
static void fold_frames(const float *pcm, size_t n, long len, long t0, int nf, float *rows)
{
    float tmp[HARK_N_FFT];
    for (int f = 0; f < nf; f++) {
        long start = (t0 + f) * HARK_HOP_LENGTH - MEL_HALF;
        const float *x = tmp;
        if (start >= 0 && (size_t)start + HARK_N_FFT <= n) {
            x = pcm + start;
        } else {
            for (int j = 0; j < HARK_N_FFT; j++)
                tmp[j] = padded_sample(pcm, n, len, start + j);
        }
        fold_one(x, rows + (size_t)f * MEL_ROW);
    }
}

/* Unfolds the four half-spectra [F][H] into power[F][K] = |X[k]|^2 (see the file comment). */
static void half_spectra_to_power(int nf, const float *ec, const float *oc, const float *es,
                                  const float *os, float *power)
{
    for (int f = 0; f < nf; f++) {
        const float *a = ec + (size_t)f * MEL_H, *b = oc + (size_t)f * MEL_H;
        const float *c = es + (size_t)f * MEL_H, *d = os + (size_t)f * MEL_H;
        float *p = power + (size_t)f * MEL_BINS;
        for (int k = 0; k < MEL_H; k++) {
            float re = a[k] + b[k], im = c[k] + d[k];
            p[k] = re * re + im * im;
        }
        for (int k = 0; k < MEL_H - 1; k++) { /* bins 200 - k for k = 0..99 */
            float re = a[k] - b[k], im = d[k] - c[k];
            p[MEL_HALF - k] = re * re + im * im;
        }
    }
}

/* log10 of the float whose bits are `bits`, for normal positive values: x = m 2^e with m in
 * [1, 2), ln m = 2 atanh(s) with s = (m - 1) / (m + 1) <= 1/3, series to s^13 (truncation below
 * 1e-7). Branch-free so that the loop below vectorises; absolute error about 1e-7 per unit of
 * log10, far inside the 1e-4 budget. */
static inline float log10_bits(uint32_t bits)
{
    float e = (float)((int)(bits >> 23) - 127);
    uint32_t mbits = (bits & 0x007FFFFFu) | 0x3F800000u;
    float m;
    memcpy(&m, &mbits, sizeof(m));
    float s = (m - 1.0f) / (m + 1.0f), s2 = s * s;
    float p = 1.0f / 13;
    p = p * s2 + 1.0f / 11;
    p = p * s2 + 1.0f / 9;
    p = p * s2 + 1.0f / 7;
    p = p * s2 + 1.0f / 5;
    p = p * s2 + 1.0f / 3;
    p = p * s2 + 1.0f;
    return (e * 0.69314718f + 2.0f * s * p) * 0.43429448f;
}

/* log10(max(x, 1e-10)), then the 8 (x10 dB) dynamic range clamp max(x, max - 8) and the
 * (x + 4) / 4 scaling, over the whole window out[M][T]. The floor and the running maximum are
 * taken on the bit patterns, which order non-negative floats like their values (mel energies
 * are sums of non-negative products; the sign bit is cleared for a stray -0). */
static void log_compress(float *restrict out, int n_mels, long n_frames)
{
    const float tiny = 1e-10f;
    uint32_t floor_bits, max_bits = 0;
    memcpy(&floor_bits, &tiny, sizeof(floor_bits));
    for (int m = 0; m < n_mels; m++) {
        float *restrict row = out + (size_t)m * n_frames;
        for (long t = 0; t < n_frames; t++) {
            uint32_t bits;
            memcpy(&bits, &row[t], sizeof(bits));
            bits &= 0x7FFFFFFFu;
            bits = bits > floor_bits ? bits : floor_bits;
            max_bits = bits > max_bits ? bits : max_bits;
            row[t] = log10_bits(bits);
        }
    }
    float floor = log10_bits(max_bits) - 8.0f;
    for (size_t i = 0; i < (size_t)n_mels * (size_t)n_frames; i++)
        out[i] = ((out[i] > floor ? out[i] : floor) + 4.0f) * 0.25f;
}

/* The power mel spectrogram out[n_mels][n_frames] (before the log) of the signal pcm[0..n) then
 * zeros up to len samples, frames 0..n_frames-1 of the centred STFT. */
static hark_status mel_frames(const float *pcm, size_t n, long len, long n_frames, int n_mels,
                              float *out)
{
    pthread_once(&tables_once, build_tables);
    const float *filters = n_mels == 80 ? &filters_80[0][0] : &filters_128[0][0]; /* [M][K] */
    /* One allocation for the per-block work: rows[F][400], four half-spectra [F][H] and
     * power[F][K]. */
    size_t per_block = (size_t)MEL_BLOCK * (MEL_ROW + 4 * MEL_H + MEL_BINS);
    float *work = malloc(per_block * sizeof(float));
    if (!work)
        return hark_fail(HARK_ERR_NOMEM, "log-mel: out of memory");
    float *rows = work, *ec = rows + MEL_BLOCK * MEL_ROW, *oc = ec + MEL_BLOCK * MEL_H;
    float *es = oc + MEL_BLOCK * MEL_H, *os = es + MEL_BLOCK * MEL_H;
    float *power = os + MEL_BLOCK * MEL_H;

    for (long t0 = 0; t0 < n_frames; t0 += MEL_BLOCK) {
        int nf = n_frames - t0 < MEL_BLOCK ? (int)(n_frames - t0) : MEL_BLOCK;
        fold_frames(pcm, n, len, t0, nf, rows);
        /* ec[F][H] = ue[F][101] @ cos_even[101][H], and likewise the other three */
        const struct {
            int col, k;
            const float *table;
            float *dst;
        } parts[4] = {{0, MEL_NUE, &cos_even[0][0], ec},
                      {MEL_NUE, MEL_NUO, &cos_odd[0][0], oc},
                      {MEL_NUE + MEL_NUO, MEL_NVE, &sin_even[0][0], es},
                      {MEL_NUE + MEL_NUO + MEL_NVE, MEL_NVO, &sin_odd[0][0], os}};
        for (int i = 0; i < 4; i++)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, nf, MEL_H, parts[i].k, 1.0f,
                        rows + parts[i].col, MEL_ROW, parts[i].table, MEL_H, 0.0f, parts[i].dst,
                        MEL_H);
        half_spectra_to_power(nf, ec, oc, es, os, power);
        /* out[M][t0 .. t0 + F) = filters[M][K] @ power[F][K]^T */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n_mels, nf, MEL_BINS, 1.0f, filters,
                    MEL_BINS, power, MEL_BINS, 0.0f, out + t0, (int)n_frames);
    }
    free(work);
    return HARK_OK;
}

/* Writes the log-mel out[n_mels][3000] of the window pcm[0 .. min(n_samples, 480000)), zero
 * padded to 30 s (see the file comment). HARK_ERR_INVALID_ARG unless n_mels is 80 or 128;
 * HARK_ERR_NOMEM if its 400 KB of scratch cannot be allocated. Thread-safe. */
hark_status hark_log_mel(const float *pcm, size_t n_samples, int n_mels, float *out)
{
    if (n_mels != 80 && n_mels != 128)
        return hark_fail(HARK_ERR_INVALID_ARG, "log-mel: n_mels is %d, must be 80 or 128", n_mels);
    if (!out || (!pcm && n_samples > 0))
        return hark_fail(HARK_ERR_INVALID_ARG, "log-mel: NULL buffer");
    size_t n = n_samples < HARK_N_SAMPLES ? n_samples : HARK_N_SAMPLES;
    hark_status st = mel_frames(pcm, n, HARK_N_SAMPLES, HARK_N_FRAMES, n_mels, out);
    if (st == HARK_OK)
        log_compress(out, n_mels, HARK_N_FRAMES);
    return st;
}

/* See hark.h. */
hark_status hark_log_mel_full(const float *pcm, size_t n_samples, size_t pad_samples, int n_mels,
                              float **out, size_t *n_frames)
{
    if (!out || !n_frames || (!pcm && n_samples > 0))
        return hark_fail(HARK_ERR_INVALID_ARG, "log-mel: NULL buffer");
    *out = NULL;
    *n_frames = 0;
    if (n_mels != 80 && n_mels != 128)
        return hark_fail(HARK_ERR_INVALID_ARG, "log-mel: n_mels is %d, must be 80 or 128", n_mels);
    size_t len = n_samples + pad_samples;
    if (len < 2 || len > ((size_t)1 << 40))
        return hark_fail(HARK_ERR_INVALID_ARG, "log-mel: %zu samples", len);
    size_t frames = len / HARK_HOP_LENGTH; /* the STFT's 1 + len/hop, its last frame dropped */
    float *m = malloc((size_t)n_mels * frames * sizeof(float));
    if (!m)
        return hark_fail(HARK_ERR_NOMEM, "log-mel: out of memory for %zu frames", frames);
    hark_status st = mel_frames(pcm, n_samples, (long)len, (long)frames, n_mels, m);
    if (st != HARK_OK) {
        free(m);
        return st;
    }
    log_compress(m, n_mels, (long)frames);
    *out = m;
    *n_frames = frames;
    return HARK_OK;
}
