/*
 * audio.h — audio decoding to 16 kHz mono float, and Whisper's log-mel spectrogram.
 * WAV (PCM 8/16/24/32-bit, float 32/64, any rate and channel count, WAVE_FORMAT_EXTENSIBLE) is
 * read by our own parser; everything else goes through FFmpeg's libraries when the build has
 * them (HARK_WITH_FFMPEG). Resampling: FFmpeg's libswresample when present, else our own
 * windowed-sinc resampler.
 * ref: openai/whisper audio.py (load_audio: ffmpeg -ac 1 -ar 16000 -f s16le; log_mel_spectrogram).
 */
#ifndef HARK_AUDIO_H
#define HARK_AUDIO_H

#include "hark.h"

#include <stddef.h>

/* Parses a WAV file in memory. Returns HARK_ERR_UNSUPPORTED when the data is not RIFF/WAVE
 * (so that the caller may try FFmpeg), HARK_ERR_AUDIO for a broken or unsupported WAV (naming
 * the problem: "WAV format tag 0x0055 (MP3 in WAV) is not supported"). Output is at the file's
 * own rate, downmixed to mono: *pcm malloc'd, *n samples, *rate. */
hark_status hark_wav_decode(const void *data, size_t size, float **pcm, size_t *n, int *rate);

/* Decodes any container/codec FFmpeg knows into mono at 16 kHz. HARK_ERR_UNSUPPORTED when built
 * without FFmpeg. */
hark_status hark_ffmpeg_decode(const void *data, size_t size, float **pcm, size_t *n);

/* Resamples mono pcm from rate_in to 16000 Hz into a malloc'd buffer. */
hark_status hark_resample(const float *in, size_t n_in, int rate_in, float **out, size_t *n_out);

/* Slaney-style mel filter bank as librosa.filters.mel(sr=16000, n_fft=400, n_mels, htk=False,
 * norm="slaney"): out[n_mels][201]. */
void hark_mel_filters(int n_mels, float *out);

#endif
