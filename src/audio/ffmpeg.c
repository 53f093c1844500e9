/*
 * ffmpeg.c — decodes any container and codec FFmpeg knows (FLAC, MP3, OGG, M4A, WebM, ...) from
 * bytes in memory to 16 kHz mono float, through libavformat (probing, a custom AVIOContext over
 * the buffer), libavcodec (the best audio stream) and libswresample (downmix and resample).
 * ref: openai/whisper audio.py load_audio, which runs `ffmpeg -i file -ac 1 -ar 16000`; we use
 * the same libraries with the same default downmix and resampler, in-process.
 * What it is not: a streaming decoder; the whole input is in memory and so is the output.
 * Corrupt packets are skipped (as the ffmpeg CLI does) and counted; input that yields no audio
 * at all fails with HARK_ERR_AUDIO naming FFmpeg's reason. FFmpeg's own log goes to hark_log at
 * debug level (this sets FFmpeg's process-wide log callback once).
 * Without HARK_WITH_FFMPEG only a stub that reports HARK_ERR_UNSUPPORTED is compiled.
 * Needs FFmpeg 5.1 or newer (AVChannelLayout, swr_alloc_set_opts2).
 */
#include "audio/audio.h"
#include "util/util.h"

#ifdef HARK_WITH_FFMPEG

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/channel_layout.h>
#include <libavutil/log.h>
#include <libswresample/swresample.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { AVIO_BUFFER_SIZE = 32768 };

/* The input as FFmpeg sees it through our AVIOContext. */
typedef struct mem_reader {
    const uint8_t *data;
    size_t size, pos;
} mem_reader;

/* Everything one decode owns; decoder_close frees whatever is set. */
typedef struct decoder {
    mem_reader reader;
    AVIOContext *avio;
    AVFormatContext *fmt;
    AVCodecContext *codec;
    SwrContext *swr;
    AVChannelLayout swr_layout; /* input layout, format and rate the swr was built for */
    int swr_format, swr_rate;
    AVPacket *pkt;
    AVFrame *frame;
    int stream;
    float *out; /* [n] 16 kHz mono, growing */
    size_t n, cap;
    int n_errors;
    char first_error[160];
} decoder;

static int mem_read(void *opaque, uint8_t *buf, int buf_size)
{
    mem_reader *r = opaque;
    if (r->pos >= r->size)
        return AVERROR_EOF;
    size_t n = r->size - r->pos;
    if (n > (size_t)buf_size)
        n = (size_t)buf_size;
    memcpy(buf, r->data + r->pos, n);
    r->pos += n;
    return (int)n;
}

static int64_t mem_seek(void *opaque, int64_t offset, int whence)
{
    mem_reader *r = opaque;
    if (whence & AVSEEK_SIZE)
        return (int64_t)r->size;
    int64_t base;
    switch (whence & ~AVSEEK_FORCE) {
    case SEEK_SET: base = 0; break;
    case SEEK_CUR: base = (int64_t)r->pos; break;
    case SEEK_END: base = (int64_t)r->size; break;
    default: return AVERROR(EINVAL);
    }
    if (offset < -base || offset > (int64_t)r->size - base)
        return AVERROR(EINVAL);
    r->pos = (size_t)(base + offset);
    return (int64_t)r->pos;
}

static void log_to_hark(void *avcl, int level, const char *fmt, va_list vl)
{
    if (level > av_log_get_level())
        return;
    char line[512];
    int print_prefix = 1;
    av_log_format_line(avcl, level, fmt, vl, line, sizeof(line), &print_prefix);
    size_t len = strlen(line);
    while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
        line[--len] = '\0';
    if (len > 0)
        hark_log(HARK_LOG_DEBUG, "ffmpeg: %s", line);
}

static pthread_once_t log_once = PTHREAD_ONCE_INIT;

static void install_log(void)
{
    av_log_set_level(AV_LOG_WARNING);
    av_log_set_callback(log_to_hark);
}

static const char *av_error_text(int err, char *buf, size_t cap)
{
    if (av_strerror(err, buf, cap) < 0)
        snprintf(buf, cap, "FFmpeg error %d", err);
    return buf;
}

/* Remembers a skipped packet's error (the first one) for the final report. */
static void note_error(decoder *d, const char *what, int err)
{
    if (d->n_errors++ == 0) {
        char msg[AV_ERROR_MAX_STRING_SIZE];
        snprintf(d->first_error, sizeof(d->first_error), "%s: %s", what,
                 av_error_text(err, msg, sizeof(msg)));
    }
}

static void decoder_close(decoder *d)
{
    av_frame_free(&d->frame);
    av_packet_free(&d->pkt);
    swr_free(&d->swr);
    av_channel_layout_uninit(&d->swr_layout);
    avcodec_free_context(&d->codec);
    avformat_close_input(&d->fmt); /* does not free our custom AVIOContext */
    if (d->avio) {
        av_freep(&d->avio->buffer);
        avio_context_free(&d->avio);
    }
    free(d->out);
    d->out = NULL;
}

/* Probes the container and opens the decoder of its best audio stream. */
static hark_status open_input(decoder *d)
{
    char msg[AV_ERROR_MAX_STRING_SIZE];
    uint8_t *buf = av_malloc(AVIO_BUFFER_SIZE);
    if (buf)
        d->avio = avio_alloc_context(buf, AVIO_BUFFER_SIZE, 0, &d->reader, mem_read, NULL,
                                     mem_seek);
    if (!d->avio) {
        av_free(buf);
        return hark_fail(HARK_ERR_NOMEM, "FFmpeg: out of memory");
    }
    d->fmt = avformat_alloc_context();
    if (!d->fmt)
        return hark_fail(HARK_ERR_NOMEM, "FFmpeg: out of memory");
    d->fmt->pb = d->avio;
    d->fmt->flags |= AVFMT_FLAG_CUSTOM_IO;
    int ret = avformat_open_input(&d->fmt, NULL, NULL, NULL); /* frees fmt on failure */
    if (ret < 0)
        return hark_fail(HARK_ERR_AUDIO, "not a recognised audio format (FFmpeg: %s)",
                         av_error_text(ret, msg, sizeof(msg)));
    ret = avformat_find_stream_info(d->fmt, NULL);
    if (ret < 0)
        return hark_fail(HARK_ERR_AUDIO, "cannot read the %s container's streams (FFmpeg: %s)",
                         d->fmt->iformat->name, av_error_text(ret, msg, sizeof(msg)));
    const AVCodec *dec = NULL;
    d->stream = av_find_best_stream(d->fmt, AVMEDIA_TYPE_AUDIO, -1, -1, &dec, 0);
    if (d->stream == AVERROR_STREAM_NOT_FOUND)
        return hark_fail(HARK_ERR_AUDIO, "the %s file has no audio stream",
                         d->fmt->iformat->name);
    if (d->stream < 0 || !dec)
        return hark_fail(HARK_ERR_AUDIO, "the %s file's audio codec has no decoder in this "
                         "FFmpeg build", d->fmt->iformat->name);
    for (unsigned i = 0; i < d->fmt->nb_streams; i++)
        if ((int)i != d->stream)
            d->fmt->streams[i]->discard = AVDISCARD_ALL;
    AVStream *s = d->fmt->streams[d->stream];
    d->codec = avcodec_alloc_context3(dec);
    if (!d->codec)
        return hark_fail(HARK_ERR_NOMEM, "FFmpeg: out of memory");
    ret = avcodec_parameters_to_context(d->codec, s->codecpar);
    if (ret >= 0) {
        d->codec->pkt_timebase = s->time_base;
        ret = avcodec_open2(d->codec, dec, NULL);
    }
    if (ret < 0)
        return hark_fail(HARK_ERR_AUDIO, "cannot open the %s decoder (FFmpeg: %s)", dec->name,
                         av_error_text(ret, msg, sizeof(msg)));
    d->pkt = av_packet_alloc();
    d->frame = av_frame_alloc();
    if (!d->pkt || !d->frame)
        return hark_fail(HARK_ERR_NOMEM, "FFmpeg: out of memory");
    return HARK_OK;
}

/* Makes room for `more` output samples. */
static hark_status reserve(decoder *d, size_t more)
{
    if (d->n + more <= d->cap)
        return HARK_OK;
    size_t cap = d->cap ? d->cap : 16384;
    while (cap < d->n + more)
        cap *= 2;
    float *p = realloc(d->out, cap * sizeof(float));
    if (!p)
        return hark_fail(HARK_ERR_NOMEM, "FFmpeg: out of memory for %zu samples", cap);
    d->out = p;
    d->cap = cap;
    return HARK_OK;
}

/* Pushes n_in samples (NULL: flush) through the resampler into d->out. */
static hark_status swr_push(decoder *d, const uint8_t **in, int n_in)
{
    for (;;) {
        int room = swr_get_out_samples(d->swr, n_in);
        if (room < 0)
            return hark_fail(HARK_ERR_AUDIO, "libswresample failed");
        hark_status st = reserve(d, (size_t)room + 1);
        if (st != HARK_OK)
            return st;
        uint8_t *dst[1] = {(uint8_t *)(d->out + d->n)};
        int got = swr_convert(d->swr, dst, room + 1, in, n_in);
        if (got < 0)
            return hark_fail(HARK_ERR_AUDIO, "libswresample failed to convert");
        d->n += (size_t)got;
        if (in || got == 0)
            return HARK_OK;
    }
}

/* Builds (or rebuilds, after flushing, when the stream's format changes) the resampler for
 * frame's layout, sample format and rate; output is mono float at 16 kHz. */
static hark_status swr_setup(decoder *d, const AVFrame *frame)
{
    AVChannelLayout layout = {0};
    int ret = frame->ch_layout.order == AV_CHANNEL_ORDER_UNSPEC
                  ? (av_channel_layout_default(&layout, frame->ch_layout.nb_channels), 0)
                  : av_channel_layout_copy(&layout, &frame->ch_layout);
    if (ret < 0 || layout.nb_channels <= 0 || frame->sample_rate <= 0) {
        av_channel_layout_uninit(&layout);
        return hark_fail(HARK_ERR_AUDIO, "decoded audio has %d channels at %d Hz",
                         frame->ch_layout.nb_channels, frame->sample_rate);
    }
    if (d->swr && frame->format == d->swr_format && frame->sample_rate == d->swr_rate &&
        av_channel_layout_compare(&layout, &d->swr_layout) == 0) {
        av_channel_layout_uninit(&layout);
        return HARK_OK;
    }
    hark_status st = d->swr ? swr_push(d, NULL, 0) : HARK_OK;
    swr_free(&d->swr);
    av_channel_layout_uninit(&d->swr_layout);
    d->swr_layout = layout;
    d->swr_format = frame->format;
    d->swr_rate = frame->sample_rate;
    if (st != HARK_OK)
        return st;
    AVChannelLayout mono = AV_CHANNEL_LAYOUT_MONO;
    ret = swr_alloc_set_opts2(&d->swr, &mono, AV_SAMPLE_FMT_FLT, HARK_SAMPLE_RATE, &layout,
                              (enum AVSampleFormat)frame->format, frame->sample_rate, 0, NULL);
    if (ret >= 0)
        ret = swr_init(d->swr);
    if (ret < 0) {
        char msg[AV_ERROR_MAX_STRING_SIZE];
        return hark_fail(HARK_ERR_AUDIO, "libswresample cannot convert %d channels at %d Hz "
                         "(FFmpeg: %s)", layout.nb_channels, frame->sample_rate,
                         av_error_text(ret, msg, sizeof(msg)));
    }
    return HARK_OK;
}

/* Sends one packet (NULL: end of stream) and converts every frame the decoder returns. */
static hark_status decode_packet(decoder *d, const AVPacket *pkt)
{
    int ret = avcodec_send_packet(d->codec, pkt);
    if (ret == AVERROR(ENOMEM))
        return hark_fail(HARK_ERR_NOMEM, "FFmpeg: out of memory");
    if (ret < 0) {
        note_error(d, "corrupt packet", ret);
        return HARK_OK;
    }
    for (;;) {
        ret = avcodec_receive_frame(d->codec, d->frame);
        if (ret == AVERROR(EAGAIN) || ret == AVERROR_EOF)
            return HARK_OK;
        if (ret < 0) {
            note_error(d, "corrupt frame", ret);
            return HARK_OK;
        }
        hark_status st = swr_setup(d, d->frame);
        if (st == HARK_OK)
            st = swr_push(d, (const uint8_t **)d->frame->extended_data, d->frame->nb_samples);
        av_frame_unref(d->frame);
        if (st != HARK_OK)
            return st;
    }
}

/* Reads every packet of the audio stream, then flushes decoder and resampler. */
static hark_status decode_all(decoder *d)
{
    int ret = 0;
    hark_status st = HARK_OK;
    while (st == HARK_OK && (ret = av_read_frame(d->fmt, d->pkt)) >= 0) {
        if (d->pkt->stream_index == d->stream)
            st = decode_packet(d, d->pkt);
        av_packet_unref(d->pkt);
    }
    if (st != HARK_OK)
        return st;
    if (ret != AVERROR_EOF)
        note_error(d, "reading stopped early", ret); /* keep what came before, like the CLI */
    st = decode_packet(d, NULL);
    if (st == HARK_OK && d->swr)
        st = swr_push(d, NULL, 0);
    return st;
}

/* Decodes the best audio stream of the bytes data[0..size) to 16 kHz mono float (*pcm malloc'd,
 * *n samples; *n may be 0 for a stream without audio frames). HARK_ERR_AUDIO naming FFmpeg's
 * reason when the input is not a known format or nothing in it decodes. Frees everything it
 * allocated on every path. */
hark_status hark_ffmpeg_decode(const void *data, size_t size, float **pcm, size_t *n)
{
    *pcm = NULL;
    *n = 0;
    pthread_once(&log_once, install_log);
    decoder d = {.reader = {.data = data, .size = size}, .stream = -1};
    hark_status st = open_input(&d);
    if (st == HARK_OK)
        st = decode_all(&d);
    if (st == HARK_OK && d.n == 0 && d.n_errors > 0)
        st = hark_fail(HARK_ERR_AUDIO, "the %s audio could not be decoded (%s)",
                       d.codec->codec->name, d.first_error);
    if (st == HARK_OK && d.n_errors > 0)
        hark_log(HARK_LOG_WARN, "%s audio: %d decoding problems skipped (first: %s)",
                 d.codec->codec->name, d.n_errors, d.first_error);
    if (st == HARK_OK) {
        *pcm = d.out;
        *n = d.n;
        d.out = NULL;
    }
    decoder_close(&d);
    return st;
}

#else /* !HARK_WITH_FFMPEG */

/* Built without FFmpeg: always HARK_ERR_UNSUPPORTED with *pcm NULL and *n 0. */
hark_status hark_ffmpeg_decode(const void *data, size_t size, float **pcm, size_t *n)
{
    (void)data;
    (void)size;
    *pcm = NULL;
    *n = 0;
    return hark_fail(HARK_ERR_UNSUPPORTED, "built without FFmpeg: only WAV input");
}

#endif
