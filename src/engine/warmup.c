/*
 * warmup.c — see warmup.h: the GPU's one-time costs (algorithm timing, graph captures) paid
 * before the first request instead of by it.
 */
#include "engine/warmup.h"

#include "model/model.h"
#include "util/util.h"

#include <stdlib.h>

hark_status hark_engine_warmup(const hark_model *model, const hark_backend *rb, void *rctx,
                               int W, int S_all, int max_rows)
{
    const int V = model->dims.n_vocab, T = model->dims.n_text_ctx;
    hark_status st = HARK_OK;
    float *pcm = calloc((size_t)W * HARK_N_SAMPLES, sizeof(float)); /* W windows of silence */
    int *slots = malloc((size_t)W * sizeof(int));
    hark_decode_entry *e = calloc((size_t)max_rows, sizeof(*e));
    uint8_t *flag = malloc((size_t)max_rows);
    hark_pick_mask *masks = calloc((size_t)max_rows, sizeof(*masks));
    hark_pick *picks = malloc((size_t)max_rows * sizeof(*picks));
    float *row = malloc((size_t)V * sizeof(float));
    if (!pcm || !slots || !e || !flag || !masks || !picks || !row)
        st = hark_fail(HARK_ERR_NOMEM, "warm-up: out of memory");
    for (int i = 0; slots && i < W; i++)
        slots[i] = i;
    for (int n = 1; st == HARK_OK && rb->encode_pcm; n = n * 2 < W ? n * 2 : W) {
        st = rb->encode_pcm(rctx, pcm, n, slots);
        if (n == W)
            break;
    }
    for (int R = 1; st == HARK_OK; R = R * 2 < max_rows ? R * 2 : max_rows) {
        const int S = S_all < R ? S_all : R;
        if (R / S > T)
            break;
        for (int i = 0; i < R; i++) {
            e[i] = (hark_decode_entry){ .seq = i % S, .window = 0, .token = 0, .pos = i / S,
                                        .want_logits = rb->decode_pick || i == R - 1 };
            flag[i] = 1;
        }
        st = rb->decode_pick ? rb->decode_pick(rctx, e, R, NULL, flag, masks, picks)
                             : rb->decode(rctx, e, R, row);
        if (R == max_rows)
            break;
    }
    for (int i = 0; rb->kv_free && i < S_all; i++)
        rb->kv_free(rctx, i);
    free(pcm), free(slots), free(e), free(flag), free(masks), free(picks), free(row);
    return st;
}
