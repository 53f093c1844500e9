/*
 * backend.h — the stage-level interface every compute backend implements (CPU now, CUDA next).
 * Not a graph library: Whisper is one fixed architecture, so a backend offers the model's stages.
 *
 * Lifetime: upload once per model (weights converted to the backend's layout, immutable and
 * shared by threads); one context per hark_state holding window slots (encoder output + cross
 * K/V per decoder layer) and sequence slots (self-attention K/V cache up to n_text_ctx).
 */
#ifndef HARK_BACKEND_H
#define HARK_BACKEND_H

#include "hark.h"
#include "model/model.h"

/* The greedy choice of one row of logits under a mask (decode_pick): token = the argmax of the
 * row with the masked ids at -inf (-1 when nothing is left), logit its value, lse the
 * log-sum-exp of the masked row. What a greedy step needs, without the row. */
typedef struct hark_pick {
    int32_t token;
    float logit;
    double lse;
} hark_pick;

/* The ids a decode loop's picks mask (the same every pass); NULL: the loop wants whole rows. */
typedef struct hark_pick_mask {
    const int32_t *ids;
    int n;
} hark_pick_mask;

/* One step of a decode loop (hark_decode_steps): rows[k][V] are the logits of the entries that
 * wanted them, in entry order (the function may change them), or, for a loop with a pick mask,
 * picks[k] their picks (rows NULL); it writes the next pass's entries over e (no more than there
 * were) and their count to *n, 0 to end the loop. It may run on another thread than its caller's
 * (the batch engine's workers, several steps at once): it touches only its own state and never
 * calls the engine. */
typedef hark_status (*hark_step_fn)(void *user, float *rows, const hark_pick *picks,
                                    hark_decode_entry *e, int *n);

typedef struct hark_backend {
    const char *name;

    /* Prepares the model's weights for this backend; *bw is freed by weights_free. */
    hark_status (*weights_upload)(const hark_model *model, void **bw);
    void (*weights_free)(void *bw);

    /* A context with p->max_windows window slots and p->max_sequences sequence slots. */
    hark_status (*ctx_new)(const hark_model *model, const void *bw, const hark_state_params *p,
                           int n_threads, void **ctx);
    void (*ctx_free)(void *ctx);

    /* mel[n][n_mels][3000] -> window slots slots[0..n): encoder output [C, D] and, for every
     * decoder layer, cross K and V [C, D]. */
    hark_status (*encode)(void *ctx, const float *mel, int n, const int *slots);

    /* Copies the encoder output of a window slot to out[C][D] (fp32). */
    hark_status (*encoder_output)(void *ctx, int slot, float *out);

    /* One decoder pass over entries (see hark_decode_entry): writes K/V of each entry at its
     * position in its sequence slot, attends causally, and writes logits[rows][V] for entries
     * with want_logits. */
    hark_status (*decode)(void *ctx, const hark_decode_entry *e, int n, float *logits);

    /* Copies the first n_pos cached positions of sequence slot src to dst (beam forks). */
    hark_status (*kv_copy)(void *ctx, int src, int dst, int n_pos);

    /* Optional (NULL: not offered). */

    /* Releases what sequence slot seq holds (paged caches give its blocks back). */
    hark_status (*kv_free)(void *ctx, int seq);
    /* pcm[n][480000] (host, 16 kHz, zero-padded windows) -> log-mel on the device -> encode. */
    hark_status (*encode_pcm)(void *ctx, const float *pcm, int n, const int *slots);
    /* decode, then tokens[row] = argmax over ids < limit of each wanted row's logits. */
    hark_status (*decode_argmax)(void *ctx, const hark_decode_entry *e, int n, int limit,
                                 int32_t *tokens);
    /* steps greedy passes: the first over e (one row a sequence, each wanting logits), each
     * next one feeding every row the argmax (ids < limit) of its previous row at pos + 1;
     * tokens[steps][n]. The passes may run back to back without the host. */
    hark_status (*decode_greedy)(void *ctx, const hark_decode_entry *e, int n, int steps,
                                 int limit, int32_t *tokens);
    /* decode, and for each (layer, head) pair heads[2k], heads[2k + 1] the cross-attention
     * scores q.k / sqrt(head width) of every entry over the first n_frames positions of its
     * window: qk[k][entry][n_frames] (word timestamps). */
    hark_status (*decode_cross_qk)(void *ctx, const hark_decode_entry *e, int n, float *logits,
                                   const int32_t *heads, int n_heads, int n_frames, float *qk);
    /* decode e[0..n), hand the wanted rows (or their picks under mask) to step, decode the
     * entries it leaves, and so on until it leaves none (hark_decode_steps; NULL: that loop
     * runs on the caller's thread). */
    hark_status (*decode_steps)(void *ctx, hark_decode_entry *e, int n, const hark_pick_mask *mask,
                                hark_step_fn step, void *user);
    /* decode, then for the wanted entries with pick[k] (k counts wanted entries) picks[k] under
     * masks[k], computed where the logits are; the other wanted rows go to logits, in order
     * among themselves. */
    hark_status (*decode_pick)(void *ctx, const hark_decode_entry *e, int n, float *logits,
                               const uint8_t *pick, const hark_pick_mask *masks, hark_pick *picks);
    /* Memory and the split of the last encode_pcm (mel / encoder milliseconds). */
    void (*stats)(void *ctx, hark_stats *out);
    /* Host memory the backend copies to and from fastest (GPU: page-locked), for buffers that
     * receive logits every step (the batch engine's); NULL: malloc/free. */
    void *(*host_alloc)(size_t bytes);
    void (*host_free)(void *p);
} hark_backend;

/* What a backend context accepts in one decode call. */
typedef struct hark_entry_limits {
    int max_rows, max_seqs, max_windows, n_vocab, n_text_ctx;
} hark_entry_limits;

/* entries.c: checks slots, tokens and positions of a decode call (and, unless have_logits, that
 * no entry wants logits); errors are prefixed with `who`. Backends call it first. */
hark_status hark_check_entries(const char *who, const hark_decode_entry *e, int n,
                               const hark_entry_limits *lim, int have_logits);

/* entries.c: checks decode_cross_qk's heads (each a layer < n_layers, a head < n_heads), n_frames
 * (1 .. n_ctx) and buffers; errors are prefixed with `who`. */
hark_status hark_check_cross_qk(const char *who, const int32_t *heads, int n_heads, int n_frames,
                                const float *qk, int n_layers, int n_head, int n_ctx);

extern const hark_backend hark_backend_cpu;
#ifdef HARK_WITH_CUDA
extern const hark_backend hark_backend_cuda;
/* Parses "cuda", "cuda:N"; returns the device index or -1. */
int hark_cuda_device_index(const char *device);
/* Number of CUDA devices (0 when the driver or a GPU is missing). */
int hark_cuda_device_count(void);
#endif

#endif
