/*
 * sample.h — choosing tokens from filtered logits: log-softmax, greedy and temperature sampling
 * with hark's own seeded generator, the bookkeeping of beam search, and the ranking of finished
 * candidates.
 * ref: openai/whisper decoding.py (GreedyDecoder, BeamSearchDecoder, MaximumLikelihoodRanker).
 *
 * What it is not: the model. Beam search here only decides which beams continue with which
 * token and from which source beam; the engine copies the KV caches (hark_beam_step says how).
 *
 * The generator is xoshiro256** (Blackman and Vigna) seeded through splitmix64 from one 64-bit
 * seed, so a seed gives the same draws on every platform. Draws will not match PyTorch's.
 */
#ifndef HARK_DECODE_SAMPLE_H
#define HARK_DECODE_SAMPLE_H

#include "hark.h"
#include "backend/backend.h"

#include <stdbool.h>
#include <stdint.h>

/* ---------------------------------------------------------------- log-softmax ---------------- */

/* The largest x[0..n) (NaNs skipped); -INFINITY when there is none. */
float hark_max(const float *x, int n);

/* log(sum(exp(x[i]))) over x[0..n) after subtracting the maximum: e^x in float (relative error a
 * few ulp), summed in double; -INFINITY when every x is -INFINITY (or n <= 0), NaN when an x is
 * NaN. */
double hark_logsumexp(const float *x, int n);

/* out[i] = x[i] - logsumexp(x), in double before rounding to float (out may be x). A row of all
 * -INFINITY gives all -INFINITY. */
void hark_log_softmax(const float *x, int n, float *out);

/* Index of the largest x (ties: the lowest index, as torch.argmax), or -1 when n <= 0 or every x
 * is -INFINITY or NaN. */
int32_t hark_argmax(const float *x, int n);

/* The pick of row[V] under mask (backend.h): masked ids become -inf in the row, then its argmax
 * (hark_argmax), that logit and hark_logsumexp of the row. A greedy step from a pick adds
 * logit - lse to the sum of log-probabilities, as hark_greedy_step does from the row. */
void hark_pick_row(float *row, int V, const hark_pick_mask *mask, hark_pick *out);

/* ---------------------------------------------------------------- generator ------------------ */

typedef struct hark_rng {
    uint64_t s[4];
} hark_rng;

/* Seeds the xoshiro256** state with four splitmix64 outputs of seed. */
void hark_rng_seed(hark_rng *rng, uint64_t seed);
uint64_t hark_rng_next(hark_rng *rng);
/* A uniform double in [0, 1) from the top 53 bits of one draw. */
double hark_rng_uniform(hark_rng *rng);

/* ref: openai/whisper decoding.py GreedyDecoder.update (Categorical(logits / t).sample()).
 * Draws an index from softmax(logits / temperature) with one uniform draw (inverse CDF in
 * double); suppressed (-INFINITY) entries are never drawn. temperature must be > 0.
 * Returns -1 when every logit is -INFINITY. */
int32_t hark_sample(const float *logits, int n, float temperature, hark_rng *rng);

/* ref: openai/whisper decoding.py GreedyDecoder.update, for one sequence.
 * Chooses the next token from logits[n_vocab] (already filtered): argmax at temperature 0,
 * else hark_sample with rng (which may be NULL at temperature 0). Once the sequence has ended (last_token == eot) it returns eot again and
 * adds nothing; otherwise it adds log_softmax(logits)[token] (of the unscaled logits) to
 * *sum_logprob. last_token is -1 at the first sampled position. Returns the token, or -1 when
 * every logit is suppressed. */
int32_t hark_greedy_step(const float *logits, int n_vocab, float temperature, hark_rng *rng,
                         int32_t last_token, int32_t eot, double *sum_logprob);

/* ---------------------------------------------------------------- ranking -------------------- */

/* ref: openai/whisper decoding.py MaximumLikelihoodRanker.rank.
 * Index of the candidate with the highest sum_logprobs[i] / penalty (ties: the first), where
 * penalty is lengths[i] when length_penalty < 0 (whisper's None) and ((5 + length) / 6) **
 * length_penalty otherwise. lengths count the sampled tokens without eot. A length of 0 with no
 * length penalty scores -INFINITY (whisper would divide by zero). -1 when n <= 0. */
int hark_rank_sequences(const double *sum_logprobs, const int *lengths, int n,
                        double length_penalty);

/* ---------------------------------------------------------------- beam search ---------------- */

/* Where new beam i comes from after a step: it continues source beam `source` (its KV cache
 * must become a copy of that beam's) with `token`. */
typedef struct hark_beam_fork {
    int32_t source;
    int32_t token;
} hark_beam_fork;

/* The beam search of one audio (one window), all buffers sized at hark_beam_new. */
typedef struct hark_beam_search hark_beam_search;

/* ref: openai/whisper decoding.py BeamSearchDecoder.__init__.
 * beam_size beams, patience (<= 0 means 1.0 as whisper's `patience or 1.0`), max_candidates =
 * round(beam_size * patience) finished sequences wanted, eot id, and at most max_len sampled
 * tokens per beam (sample_len). Errors: HARK_ERR_INVALID_ARG (beam_size < 1, max_candidates < 1,
 * max_len < 1), HARK_ERR_NOMEM. */
hark_status hark_beam_new(int beam_size, double patience, int32_t eot, int max_len,
                          hark_beam_search **out);
void hark_beam_free(hark_beam_search *b);

/* Starts a new decode: beam_size identical empty beams of sum log-probability 0, nothing
 * finished (BeamSearchDecoder.reset plus the repeated initial tokens). */
void hark_beam_reset(hark_beam_search *b);

int hark_beam_size(const hark_beam_search *b);
/* Tokens sampled so far by each live beam. */
int hark_beam_length(const hark_beam_search *b);
/* Live beam i: its tokens (hark_beam_length of them) and cumulative log-probability. */
const int32_t *hark_beam_tokens(const hark_beam_search *b, int i, double *sum_logprob);

/* ref: openai/whisper decoding.py BeamSearchDecoder.update, for one audio.
 * logprobs[beam_size][n_vocab] are the log-softmax rows of the live beams (after the logit
 * filters). Each beam proposes its top beam_size + 1 tokens (ties: lowest id first); identical
 * sequences (all beams are identical at the first step) keep the last beam's proposal; the
 * candidates are ranked by cumulative log-probability (stable: ties keep proposal order);
 * candidates ending in eot that rank above the beam_size-th live one become finished (kept
 * while fewer than max_candidates are), the best beam_size others become the new beams.
 * forks[beam_size] receives, for each new beam, its source beam and token: the engine must
 * make KV slot i a copy of the old slot forks[i].source for every i at once (a gather, as
 * whisper's rearrange_kv_cache; copy through scratch when sources overlap targets), then feed
 * forks[i].token to slot i. *completed is set when max_candidates sequences are finished.
 * Errors: HARK_ERR_CAPACITY when the beams already hold max_len tokens, HARK_ERR_INVALID_ARG
 * for n_vocab <= beam_size. */
hark_status hark_beam_step(hark_beam_search *b, const float *logprobs, int n_vocab,
                           hark_beam_fork *forks, bool *completed);

/* ref: openai/whisper decoding.py BeamSearchDecoder.finalize.
 * When fewer than beam_size sequences are finished, adds live beams (ended with eot) from the
 * highest cumulative log-probability down (ties: the higher beam index first, as
 * np.argsort(...)[::-1]) until beam_size are. Call once after the last step. */
void hark_beam_finalize(hark_beam_search *b);

/* Number of finished sequences, in whisper's order (the order they were collected). */
int hark_beam_n_finished(const hark_beam_search *b);
/* Finished sequence i: its tokens without the final eot (*n of them) and its sum
 * log-probability (which includes the eot's). NULL for i out of range. */
const int32_t *hark_beam_finished(const hark_beam_search *b, int i, int *n, double *sum_logprob);

#endif
