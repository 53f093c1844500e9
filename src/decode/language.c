/*
 * language.c — language identification: one encoder pass over the first window, one decoder
 * step on <|startoftranscript|>, a softmax restricted to the language tokens.
 * ref: openai/whisper decoding.py detect_language (logits of the sot position, every
 * non-language token masked, softmax).
 */
#include "hark.h"

#include "engine/state.h"
#include "model/model.h"
#include "util/util.h"

#include <math.h>
#include <stdlib.h>

hark_status hark_detect_language(hark_state *state, const float *pcm, size_t n_samples,
                                 float *probs, int *best)
{
    if (!state || (!pcm && n_samples))
        return hark_fail(HARK_ERR_INVALID_ARG, "hark_detect_language: bad arguments");
    hark_model *m = state->model;
    if (!hark_model_is_multilingual(m))
        return hark_fail(HARK_ERR_UNSUPPORTED, "language detection needs a multilingual model "
                         "(%s is English-only)", m->arch);
    if (n_samples == 0)
        return hark_fail(HARK_ERR_AUDIO, "no audio samples to detect a language in");
    size_t mel_n = (size_t)m->dims.n_mels * HARK_N_FRAMES;
    if (state->mel_windows < 1) {
        float *mel = realloc(state->mel, mel_n * sizeof(float));
        if (!mel)
            return hark_fail(HARK_ERR_NOMEM, "out of memory");
        state->mel = mel;
        state->mel_windows = 1;
    }
    if (!state->logits && !(state->logits = malloc((size_t)m->dims.n_vocab * sizeof(float))))
        return hark_fail(HARK_ERR_NOMEM, "out of memory");
    hark_state_host_threads(state);
    hark_status st = hark_log_mel(pcm, n_samples, m->dims.n_mels, state->mel);
    if (st == HARK_OK)
        st = hark_encode(state, state->mel, 1);
    hark_decode_entry e = { .seq = 0, .window = 0, .token = m->special.sot, .pos = 0,
                            .want_logits = 1 };
    if (st == HARK_OK)
        st = hark_decode(state, &e, 1, state->logits);
    if (st != HARK_OK)
        return st;
    const float *lg = state->logits + m->special.lang_first;
    const int n = m->special.n_languages;
    double mx = -INFINITY, sum = 0.0;
    int arg = 0;
    for (int i = 0; i < n; i++)
        if (lg[i] > mx) {
            mx = lg[i];
            arg = i;
        }
    for (int i = 0; i < n; i++)
        sum += exp((double)lg[i] - mx);
    if (probs)
        for (int i = 0; i < n; i++)
            probs[i] = (float)(exp((double)lg[i] - mx) / sum);
    if (best)
        *best = arg;
    return HARK_OK;
}
