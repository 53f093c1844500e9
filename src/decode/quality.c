/*
 * quality.c — compression ratio, average log-probability, the fallback and no-speech decisions
 * and the temperature schedule. See quality.h for the contracts.
 * ref: openai/whisper utils.py, decoding.py, transcribe.py.
 */
#include "decode/quality.h"

#include "decode/sample.h"
#include "util/util.h"

#include <limits.h>
#include <math.h>
#include <zlib.h>

hark_quality_thresholds hark_quality_default_thresholds(void)
{
    return (hark_quality_thresholds){
        .compression_ratio = 2.4,
        .logprob = -1.0,
        .no_speech = 0.6,
    };
}

hark_status hark_compression_ratio(const char *text, size_t len, double *ratio)
{
    if ((!text && len) || !ratio)
        return hark_fail(HARK_ERR_INVALID_ARG, "hark_compression_ratio: bad arguments");
    *ratio = 0;
    z_stream z = { 0 };
    if (deflateInit(&z, Z_DEFAULT_COMPRESSION) != Z_OK)
        return hark_fail(HARK_ERR_NOMEM, "hark_compression_ratio: zlib could not start");
    /* only the compressed size matters: stream the output through a small buffer */
    unsigned char out[4096];
    const unsigned char *in = (const unsigned char *)text;
    size_t left = len;
    int rc;
    do {
        uInt chunk = left > UINT_MAX ? UINT_MAX : (uInt)left;
        z.next_in = (unsigned char *)in;
        z.avail_in = chunk;
        int flush = left == chunk ? Z_FINISH : Z_NO_FLUSH;
        do {
            z.next_out = out;
            z.avail_out = sizeof(out);
            rc = deflate(&z, flush);
        } while (z.avail_out == 0 && rc != Z_STREAM_END && rc != Z_STREAM_ERROR);
        in += chunk - z.avail_in;
        left -= chunk - z.avail_in;
    } while (rc == Z_OK || rc == Z_BUF_ERROR);
    unsigned long compressed = z.total_out;
    deflateEnd(&z);
    if (rc != Z_STREAM_END || compressed == 0)
        return hark_fail(HARK_ERR_NOMEM, "hark_compression_ratio: zlib failed (%d)", rc);
    *ratio = (double)len / (double)compressed;
    return HARK_OK;
}

double hark_no_speech_prob(const float *logits, int n_vocab, int no_speech)
{
    if (no_speech < 0 || no_speech >= n_vocab)
        return 0;
    double lse = hark_logsumexp(logits, n_vocab);
    return lse == -INFINITY ? 0 : exp((double)logits[no_speech] - lse);
}

double hark_avg_logprob(double sum_logprob, int n_tokens)
{
    return sum_logprob / (n_tokens + 1);
}

bool hark_needs_fallback(const hark_decode_quality *q, const hark_quality_thresholds *t)
{
    bool fallback = q->compression_ratio > t->compression_ratio || q->avg_logprob < t->logprob;
    bool silence = q->no_speech_prob > t->no_speech && q->avg_logprob < t->logprob;
    return fallback && !silence;
}

bool hark_should_skip_window(const hark_decode_quality *q, const hark_quality_thresholds *t)
{
    if (isnan(t->no_speech))
        return false;
    bool skip = q->no_speech_prob > t->no_speech;
    if (q->avg_logprob > t->logprob)
        skip = false; /* confident text despite the no-speech probability */
    return skip;
}

int hark_temperature_schedule(double start, double increment, double *out, int max)
{
    const double stop = 1.0 + 1e-6;
    long n = 1;
    if (increment > 0 && start < stop)
        n = (long)ceil((stop - start) / increment);
    if (n > INT_MAX)
        n = INT_MAX;
    for (long i = 0; i < n && i < max; i++)
        out[i] = start + (double)i * (increment > 0 ? increment : 0);
    return (int)n;
}
