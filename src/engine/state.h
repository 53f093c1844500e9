/*
 * state.h — what a hark_state holds: the backend context (window and sequence slots), the
 * scratch buffers of the transcription loop, and the last results.
 */
#ifndef HARK_ENGINE_STATE_H
#define HARK_ENGINE_STATE_H

#include "hark.h"
#include "decode/timing.h"
#include "model/model.h"
#include "backend/backend.h"

typedef struct hark_segment {
    double t0, t1;
    char *text;
    int32_t *tokens;
    int n_tokens;
    int id, seek;
    float temperature, avg_logprob, compression_ratio, no_speech_prob;
    hark_word *words; /* word timestamps, n_words of them (NULL without) */
    int n_words;
} hark_segment;

typedef struct hark_results {
    hark_segment *segments;
    int n_segments, cap_segments;
} hark_results;

void hark_results_clear(hark_results *r);

/* hark.c: before host-side work of a state on the calling thread: one OpenMP thread for a
 * batch state (many requests' threads would otherwise each start a team of spinning OpenBLAS
 * threads: 16 concurrent requests on 2 cores measured 30x slower). */
void hark_state_host_threads(const hark_state *s);

/* hark.c: checks the state parameters a backend context is made from (cross_kv_bits 0 becomes
 * 16); a failure names who asked. hark_state_new and hark_batch_new both go through it. */
hark_status hark_state_params_check(const char *who, hark_state_params *p);

/* hark.c: a state on the given backend and its context argument (hark_state_new passes the
 * model's backend and weights). */
hark_status hark_state_new_on(hark_model *model, const hark_state_params *params,
                              const struct hark_backend *backend, const void *bw,
                              hark_state **out);

/* hark.c: decode e[0..n) into logits (rows of the entries that want them), call step on them,
 * decode the entries it leaves, until it leaves none or fails. With a mask, step gets the
 * rows' picks under it instead (backend.h; at most 64 rows a pass), computed where the logits
 * are when the backend can (decode_pick: no rows cross to the host). A batch state runs the
 * loop in the engine (the steps of many requests between two passes, no thread hand-off per
 * token). */
hark_status hark_decode_steps(hark_state *s, hark_decode_entry *e, int n, float *logits,
                              const hark_pick_mask *mask, hark_step_fn step, void *user);

struct hark_state {
    hark_model *model;
    hark_state_params params;
    /* The backend this state's context belongs to: the model's (backend_weights as bw), or a
     * batch engine's proxy (engine/batch.c, the hark_batch as bw). */
    const struct hark_backend *backend;
    const void *bw;
    /* a batch state: its own work on the caller's thread (the log-mel's products) runs on that
     * one thread, the engine thread does the parallel work (hark_state_host_threads) */
    int host_single_thread;
    void *ctx;      /* backend context */
    float *mel;     /* [mel_windows][n_mels][3000], allocated on first use */
    int mel_windows;
    float *logits;  /* [n_vocab] */
    float *argmax_logits; /* [argmax_rows][n_vocab]: hark_decode_argmax without device argmax */
    int argmax_rows;
    double mel_ms, encoder_ms; /* last hark_encode_pcm on the CPU */
    int language;              /* language index of the last transcription, -1 none */
    hark_results results;
};

#endif
