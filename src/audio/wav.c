/*
 * wav.c — our own RIFF/WAVE (and RF64) reader: PCM 8/16/24/32-bit, IEEE float 32/64 and
 * WAVE_FORMAT_EXTENSIBLE with those subformats, any rate, any channel count (downmixed to mono
 * by averaging). Chunks may come in any order; odd-sized chunks are padded to even. A data chunk
 * that claims more bytes than the file holds (streamed WAVs write 0xFFFFFFFF) is clamped to what
 * is there.
 * What it is not: a resampler (the caller resamples to 16 kHz) or a decoder of compressed WAV
 * payloads (ADPCM, mu-law, MP3-in-WAV): those are reported by format tag.
 * ref: Microsoft "Multimedia Programming Interface and Data Specifications 1.0" (RIFF, fmt),
 * mmreg.h WAVEFORMATEXTENSIBLE, EBU Tech 3306 (RF64 / ds64).
 */
#include "audio/audio.h"
#include "util/util.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum {
    WAV_TAG_PCM = 0x0001,
    WAV_TAG_FLOAT = 0x0003,
    WAV_TAG_EXTENSIBLE = 0xFFFE,
};

typedef struct wav_format {
    unsigned tag;      /* PCM or FLOAT after resolving EXTENSIBLE */
    unsigned channels;
    unsigned rate;
    unsigned block_align;
    unsigned bits;     /* container bits per sample */
} wav_format;

static uint32_t rd16(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8; }

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t rd64(const uint8_t *p) { return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32; }

static const char *tag_name(unsigned tag)
{
    switch (tag) {
    case 0x0002: return "MS ADPCM";
    case 0x0006: return "A-law";
    case 0x0007: return "mu-law";
    case 0x0011: return "IMA ADPCM";
    case 0x0031: return "GSM 6.10";
    case 0x0050: return "MPEG audio";
    case 0x0055: return "MP3 in WAV";
    case 0x00FF: return "AAC";
    case 0x2000: return "AC-3";
    default: return "unknown";
    }
}

/* Parses the fmt chunk body (len bytes) into *fmt. */
static hark_status parse_fmt(const uint8_t *p, size_t len, wav_format *fmt)
{
    if (len < 16)
        return hark_fail(HARK_ERR_AUDIO, "WAV fmt chunk is %zu bytes, needs at least 16", len);
    fmt->tag = rd16(p);
    fmt->channels = rd16(p + 2);
    fmt->rate = rd32(p + 4);
    fmt->block_align = rd16(p + 12);
    fmt->bits = rd16(p + 14);
    if (fmt->tag == WAV_TAG_EXTENSIBLE) {
        /* cbSize, wValidBitsPerSample, dwChannelMask, then the SubFormat GUID whose first two
         * bytes are the plain format tag (KSDATAFORMAT_SUBTYPE_PCM / _IEEE_FLOAT). */
        static const uint8_t guid_tail[14] = {0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80,
                                              0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71};
        if (len < 40)
            return hark_fail(HARK_ERR_AUDIO,
                             "WAV fmt chunk is WAVE_FORMAT_EXTENSIBLE but only %zu bytes, needs 40",
                             len);
        if (memcmp(p + 26, guid_tail, sizeof(guid_tail)) != 0)
            return hark_fail(HARK_ERR_AUDIO,
                             "WAV WAVE_FORMAT_EXTENSIBLE sub-format GUID is not a standard one; "
                             "only PCM and IEEE float are supported");
        fmt->tag = rd16(p + 24);
    }
    if (fmt->tag != WAV_TAG_PCM && fmt->tag != WAV_TAG_FLOAT)
        return hark_fail(HARK_ERR_AUDIO,
                         "WAV format tag 0x%04X (%s) is not supported; only PCM and IEEE float "
                         "WAV are read without FFmpeg: convert it, e.g. ffmpeg -i in.wav -ar 16000 "
                         "-ac 1 out.wav",
                         fmt->tag, tag_name(fmt->tag));
    if (fmt->channels == 0)
        return hark_fail(HARK_ERR_AUDIO, "WAV header says 0 channels");
    if (fmt->rate == 0)
        return hark_fail(HARK_ERR_AUDIO, "WAV header says a sample rate of 0 Hz");
    if (fmt->rate > 1000000)
        return hark_fail(HARK_ERR_AUDIO, "WAV sample rate %u Hz is implausible", fmt->rate);
    int ok_bits = fmt->tag == WAV_TAG_PCM
                      ? fmt->bits == 8 || fmt->bits == 16 || fmt->bits == 24 || fmt->bits == 32
                      : fmt->bits == 32 || fmt->bits == 64;
    if (!ok_bits)
        return hark_fail(HARK_ERR_AUDIO, "WAV %s with %u bits per sample is not supported",
                         fmt->tag == WAV_TAG_PCM ? "PCM" : "float", fmt->bits);
    if (fmt->block_align != fmt->channels * (fmt->bits / 8))
        return hark_fail(HARK_ERR_AUDIO,
                         "WAV block align %u does not match %u channels of %u bits (expected %u)",
                         fmt->block_align, fmt->channels, fmt->bits,
                         fmt->channels * (fmt->bits / 8));
    return HARK_OK;
}

/* One sample of the given container at p, scaled to [-1, 1). */
static float read_sample(const uint8_t *p, const wav_format *fmt)
{
    if (fmt->tag == WAV_TAG_FLOAT) {
        if (fmt->bits == 32) {
            float f;
            memcpy(&f, p, 4); /* the WAV is little-endian, and so are the hosts we build for */
            return f;
        }
        double d;
        memcpy(&d, p, 8);
        return (float)d;
    }
    switch (fmt->bits) {
    case 8: return ((float)p[0] - 128.0f) * (1.0f / 128.0f);
    case 16: return (float)(int16_t)rd16(p) * (1.0f / 32768.0f);
    case 24: {
        int32_t v = (int32_t)((uint32_t)p[0] << 8 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 24);
        return (float)(v / 256) * (1.0f / 8388608.0f);
    }
    default: return (float)(int32_t)rd32(p) * (1.0f / 2147483648.0f);
    }
}

/* Converts n_frames interleaved frames at data into mono floats (channel average). */
static void downmix(const uint8_t *data, size_t n_frames, const wav_format *fmt, float *out)
{
    size_t bytes = fmt->bits / 8;
    float scale = 1.0f / (float)fmt->channels;
    for (size_t i = 0; i < n_frames; i++) {
        const uint8_t *frame = data + i * fmt->block_align;
        float sum = 0.0f;
        for (unsigned c = 0; c < fmt->channels; c++)
            sum += read_sample(frame + c * bytes, fmt);
        out[i] = fmt->channels == 1 ? sum : sum * scale;
    }
}

/* Parses a whole WAV in memory into mono float at the file's own rate (*pcm malloc'd, *n
 * samples, *rate Hz). HARK_ERR_UNSUPPORTED when the bytes are not RIFF/WAVE, so that the caller
 * can try FFmpeg; HARK_ERR_AUDIO naming the problem for a broken or unsupported WAV. */
hark_status hark_wav_decode(const void *data, size_t size, float **pcm, size_t *n, int *rate)
{
    const uint8_t *b = data;
    *pcm = NULL;
    *n = 0;
    *rate = 0;
    if (size < 4 || (memcmp(b, "RIFF", 4) != 0 && memcmp(b, "RF64", 4) != 0))
        return hark_fail(HARK_ERR_UNSUPPORTED, "not a RIFF/WAVE file");
    if (size < 12)
        return hark_fail(HARK_ERR_AUDIO, "WAV header truncated: %zu bytes, needs at least 12",
                         size);
    if (memcmp(b + 8, "WAVE", 4) != 0)
        return hark_fail(HARK_ERR_UNSUPPORTED, "RIFF file of type '%.4s' is not WAVE", b + 8);
    int rf64 = memcmp(b, "RF64", 4) == 0;

    wav_format fmt = { 0 };
    int have_fmt = 0, have_data = 0;
    uint64_t ds64_data_size = UINT64_MAX; /* no ds64: the data runs to the end */
    size_t data_off = 0, data_len = 0, pos = 12;
    while (pos + 8 <= size) {
        const uint8_t *id = b + pos;
        uint64_t len = rd32(b + pos + 4);
        size_t body = pos + 8, avail = size - body;
        if (memcmp(id, "data", 4) == 0) {
            if (rf64 && len == 0xFFFFFFFFu)
                len = ds64_data_size;
            have_data = 1;
            data_off = body;
            data_len = len < avail ? (size_t)len : avail; /* clamp streamed/truncated data */
            if (len >= avail)
                break;
        } else if (memcmp(id, "fmt ", 4) == 0) {
            if (len > avail)
                return hark_fail(HARK_ERR_AUDIO,
                                 "WAV fmt chunk truncated: claims %llu bytes, %zu left",
                                 (unsigned long long)len, avail);
            hark_status st = parse_fmt(b + body, (size_t)len, &fmt);
            if (st != HARK_OK)
                return st;
            have_fmt = 1;
        } else if (rf64 && memcmp(id, "ds64", 4) == 0) {
            if (len < 24 || len > avail)
                return hark_fail(HARK_ERR_AUDIO, "RF64 ds64 chunk truncated or too short");
            ds64_data_size = rd64(b + body + 8);
        }
        if (len + (len & 1) >= avail)
            break;
        pos = body + (size_t)len + (size_t)(len & 1);
    }
    if (!have_fmt)
        return hark_fail(HARK_ERR_AUDIO, "WAV has no fmt chunk%s (truncated header?)",
                         have_data ? " before its data runs to the end of the file" : "");
    if (!have_data)
        return hark_fail(HARK_ERR_AUDIO, "WAV has no data chunk (truncated file?)");

    size_t frames = data_len / fmt.block_align;
    float *out = malloc((frames ? frames : 1) * sizeof(float));
    if (!out)
        return hark_fail(HARK_ERR_NOMEM, "WAV: out of memory for %zu samples", frames);
    downmix(b + data_off, frames, &fmt, out);
    *pcm = out;
    *n = frames;
    *rate = (int)fmt.rate;
    return HARK_OK;
}
