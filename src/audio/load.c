/*
 * load.c — the public audio entry points: hark_audio_load (a file or "-" for stdin) and
 * hark_audio_decode (bytes in memory) give 16 kHz mono float.
 * WAV goes through our own parser (wav.c) and then the resampler when its rate is not 16 kHz;
 * anything that is not RIFF/WAVE goes to FFmpeg (ffmpeg.c) when the build has it, as does a WAV
 * whose payload is compressed (mu-law, ADPCM, MP3-in-WAV, ...).
 * The result is checked, not repaired: no samples, NaN or infinite samples are errors.
 * ref: openai/whisper audio.py load_audio (ffmpeg -ac 1 -ar 16000).
 */
#include "audio/audio.h"
#include "util/util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A WAV whose fmt tag names a codec we do not read ourselves: wav.c's message starts with
 * this, and FFmpeg (which has those codecs) gets a try. */
static const char WAV_TAG_MESSAGE[] = "WAV format tag";

/* Rejects empty output and any non-finite sample. */
static hark_status check_samples(const float *pcm, size_t n)
{
    if (n == 0)
        return hark_fail(HARK_ERR_AUDIO, "contains no audio samples");
    for (size_t i = 0; i < n; i++)
        if (!isfinite(pcm[i]))
            return hark_fail(HARK_ERR_AUDIO, "sample %zu is %s", i,
                             isnan(pcm[i]) ? "NaN" : "infinite");
    return HARK_OK;
}

/* Decodes a RIFF/WAVE buffer at its own rate, then resamples to 16 kHz. */
static hark_status decode_wav(const void *data, size_t size, float **pcm, size_t *n)
{
    float *raw;
    size_t n_raw;
    int rate;
    hark_status st = hark_wav_decode(data, size, &raw, &n_raw, &rate);
    if (st != HARK_OK)
        return st;
    if (rate == HARK_SAMPLE_RATE) {
        *pcm = raw;
        *n = n_raw;
        return HARK_OK;
    }
    st = check_samples(raw, n_raw); /* before resampling smears a NaN over its neighbours */
    if (st == HARK_OK)
        st = hark_resample(raw, n_raw, rate, pcm, n);
    free(raw);
    return st;
}

/* Decodes audio bytes to 16 kHz mono float: WAV by our parser, anything else by FFmpeg (see the
 * file comment). *pcm malloc'd (hark_free) with *n_samples > 0 of finite samples on success;
 * on failure *pcm is NULL and the status is HARK_ERR_AUDIO, HARK_ERR_UNSUPPORTED (not WAV and no
 * FFmpeg), HARK_ERR_NOMEM or HARK_ERR_INVALID_ARG. */
hark_status hark_audio_decode(const void *data, size_t size, float **pcm, size_t *n_samples)
{
    if (!pcm || !n_samples || (!data && size > 0))
        return hark_fail(HARK_ERR_INVALID_ARG, "audio decode: NULL argument");
    *pcm = NULL;
    *n_samples = 0;
    if (size == 0)
        return hark_fail(HARK_ERR_AUDIO, "empty input (0 bytes)");

    hark_status st = decode_wav(data, size, pcm, n_samples);
    if (st == HARK_ERR_UNSUPPORTED) {
        /* not RIFF/WAVE: FFmpeg decides what it is */
        st = hark_ffmpeg_decode(data, size, pcm, n_samples);
        if (st == HARK_ERR_UNSUPPORTED)
            st = hark_fail(HARK_ERR_UNSUPPORTED,
                           "not a WAV file, and this build has no FFmpeg for other formats");
    } else if (st == HARK_ERR_AUDIO &&
               strncmp(hark_last_error(), WAV_TAG_MESSAGE, sizeof(WAV_TAG_MESSAGE) - 1) == 0) {
        char wav_error[512];
        snprintf(wav_error, sizeof(wav_error), "%s", hark_last_error());
        st = hark_ffmpeg_decode(data, size, pcm, n_samples);
        if (st == HARK_OK && *n_samples == 0) {
            free(*pcm);
            *pcm = NULL;
            st = HARK_ERR_AUDIO;
        }
        if (st != HARK_OK && st != HARK_ERR_NOMEM)
            st = hark_fail(HARK_ERR_AUDIO, "%s", wav_error);
    }
    if (st != HARK_OK)
        return st;
    st = check_samples(*pcm, *n_samples);
    if (st != HARK_OK) {
        free(*pcm);
        *pcm = NULL;
        *n_samples = 0;
    }
    return st;
}

/* Reads path ("-": standard input) and decodes it as hark_audio_decode does; failures are
 * prefixed with the path ("x.mp3: ..."), read errors are HARK_ERR_IO. */
hark_status hark_audio_load(const char *path, float **pcm, size_t *n_samples)
{
    if (!path || !pcm || !n_samples)
        return hark_fail(HARK_ERR_INVALID_ARG, "audio load: NULL argument");
    *pcm = NULL;
    *n_samples = 0;
    uint8_t *data;
    size_t size;
    hark_status st = hark_read_file(path, &data, &size); /* names the path itself */
    if (st != HARK_OK)
        return st;
    st = hark_audio_decode(data, size, pcm, n_samples);
    free(data);
    if (st != HARK_OK)
        return hark_fail_prefix(st, "%s", strcmp(path, "-") == 0 ? "<stdin>" : path);
    return HARK_OK;
}
