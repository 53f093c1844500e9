/*
 * words.c — word-level timestamps of one window's segments: a decoder pass over
 * [sot sequence, <|notimestamps|>, text, <|endoftext|>] that also returns the cross-attention
 * scores of the model's alignment heads, then the alignment of timing.c.
 * ref: openai/whisper timing.py find_alignment, add_word_timestamps.
 */
#include "decode/words.h"

#include "backend/backend.h"
#include "engine/state.h"
#include "model/model.h"
#include "util/util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MEDFILT_WIDTH 7 /* ref: find_alignment medfilt_width */

hark_status hark_add_word_timestamps(hark_state *s, hark_timed_segment *segs, int n_segs,
                                     const int32_t *sot_seq, int n_sot, int num_frames,
                                     int no_spaces, double time_offset, const char *prepended,
                                     const char *appended, double *last_speech)
{
    hark_model *m = s->model;
    const hark_backend *be = s->backend;
    const int32_t eot = m->special.eot;
    const int V = m->dims.n_vocab;
    if (n_segs == 0)
        return HARK_OK;
    if (!be->decode_cross_qk)
        return hark_fail(HARK_ERR_UNSUPPORTED, "word timestamps: the %s backend cannot give "
                         "cross-attention scores", be->name);
    int n_text = 0;
    for (int i = 0; i < n_segs; i++)
        for (int k = 0; k < segs[i].n_tokens; k++)
            n_text += segs[i].tokens[k] < eot;
    const int n = n_sot + 1 + n_text + 1;
    if (n_text == 0) /* ref: find_alignment returns no words; segments keep their times */
        return hark_assign_words(NULL, 0, segs, n_segs, eot, time_offset, prepended, appended,
                                 last_speech);
    if (n > m->dims.n_text_ctx)
        return hark_fail(HARK_ERR_CAPACITY, "word timestamps: %d tokens exceed the text context %d",
                         n, m->dims.n_text_ctx);
    /* a window of one mel frame has no encoder frame to align to: the reference's DTW then
     * runs on an N x 0 matrix and every word gets -0.02 s (timing.py dtw / backtrace) */
    const int NF = num_frames / 2, NH = m->n_align_heads;
    hark_decode_entry *e = malloc((size_t)n * sizeof(*e));
    int32_t *tok = malloc((size_t)n * sizeof(int32_t));
    float *logits = malloc((size_t)n_text * V * sizeof(float));
    float *qk = malloc(((size_t)NH * n * NF + 1) * sizeof(float));
    float *mat = malloc(((size_t)n * NF + 1) * sizeof(float));
    float *probs = malloc((size_t)n_text * sizeof(float));
    hark_word_timing *al = NULL;
    int n_al = 0;
    hark_status st = HARK_OK;
    if (!e || !tok || !logits || !qk || !mat || !probs) {
        st = hark_fail(HARK_ERR_NOMEM, "word timestamps: out of memory");
        goto out;
    }
    int k = 0;
    for (int i = 0; i < n_sot; i++)
        tok[k++] = sot_seq[i];
    tok[k++] = m->special.no_timestamps;
    for (int i = 0; i < n_segs; i++)
        for (int j = 0; j < segs[i].n_tokens; j++)
            if (segs[i].tokens[j] < eot)
                tok[k++] = segs[i].tokens[j];
    tok[k++] = eot;
    /* logits of the rows that predict the text tokens (from <|notimestamps|> on) */
    for (int i = 0; i < n; i++)
        e[i] = (hark_decode_entry){ .seq = 0, .window = 0, .token = tok[i], .pos = i,
                                    .want_logits = i >= n_sot && i < n_sot + n_text };
    st = NF > 0 ? be->decode_cross_qk(s->ctx, e, n, logits, m->align_heads, NH, NF, qk)
                : be->decode(s->ctx, e, n, logits);
    if (be->kv_free)
        be->kv_free(s->ctx, 0);
    if (st != HARK_OK)
        goto out;
    /* each text token's probability under the softmax over the text vocabulary (ids < eot) */
    for (int i = 0; i < n_text; i++) {
        const float *row = logits + (size_t)i * V;
        float mx = -INFINITY;
        for (int t = 0; t < eot; t++)
            mx = row[t] > mx ? row[t] : mx;
        double sum = 0.0;
        for (int t = 0; t < eot; t++)
            sum += exp((double)row[t] - mx);
        probs[i] = (float)(exp((double)row[tok[n_sot + 1 + i]] - mx) / sum);
    }
    if (NF > 0 && (st = hark_alignment_matrix(qk, NH, n, NF, MEDFILT_WIDTH, mat)) != HARK_OK)
        goto out;
    /* the rows from <|notimestamps|> to the last text token */
    st = hark_words_from_matrix(m->tok, mat + (size_t)n_sot * NF, n_text + 1, NF, tok + n_sot + 1,
                                n_text, probs, eot, no_spaces, &al, &n_al);
    if (st == HARK_OK)
        st = hark_assign_words(al, n_al, segs, n_segs, eot, time_offset, prepended, appended,
                               last_speech);
out:
    hark_word_timings_free(al, n_al);
    free(e), free(tok), free(logits), free(qk), free(mat), free(probs);
    return st;
}
