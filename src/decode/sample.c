/*
 * sample.c — log-softmax, greedy and temperature sampling, the xoshiro256** generator, beam
 * search bookkeeping and the maximum-likelihood ranker. See sample.h for the contracts.
 * ref: openai/whisper decoding.py (GreedyDecoder, BeamSearchDecoder, MaximumLikelihoodRanker).
 */
#include "decode/sample.h"

#include "util/simd.h"
#include "util/util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- log-softmax ---------------- */

float hark_max(const float *x, int n)
{
    vf m = vf_set1(-INFINITY);
    int i = 0;
    for (; i + VW <= n; i += VW)
        m = vf_max(vf_load(x + i), m); /* a NaN lane keeps m */
    float r = vf_hmax(m);
    for (; i < n; i++)
        if (x[i] > r)
            r = x[i];
    return r;
}

/* Vectorised (this runs once per sequence and step over the whole vocabulary: the double exp()
 * of a plain loop took 0.3 ms for large-v3's 51,866 logits, a large share of a GPU step): e^x in
 * float (a few ulp), the sum in double lanes. */
double hark_logsumexp(const float *x, int n)
{
    float m = hark_max(x, n);
    if (m == -INFINITY || n <= 0)
        return -INFINITY;
    if (m == INFINITY)
        return INFINITY;
    typedef double vd __attribute__((vector_size(VW * 8)));
    vd acc = { 0 };
    const vf vm = vf_set1(m), lo = vf_set1(-87.0f), zero = vf_set1(0.0f);
    vi nan = { 0 };
    int i = 0;
    for (; i + VW <= n; i += VW) {
        vf d = vf_load(x + i) - vm;
        nan |= d != d;
        acc += __builtin_convertvector(vf_select(d < lo, zero, vf_exp(d)), vd);
    }
    double s = 0;
    for (int l = 0; l < VW; l++)
        s += acc[l] + (nan[l] ? NAN : 0.0);
    for (; i < n; i++)
        s += exp((double)x[i] - m);
    return m + log(s);
}

void hark_log_softmax(const float *x, int n, float *out)
{
    double lse = hark_logsumexp(x, n);
    for (int i = 0; i < n; i++)
        out[i] = lse == -INFINITY ? -INFINITY : (float)((double)x[i] - lse);
}

int32_t hark_argmax(const float *x, int n)
{
    float m = hark_max(x, n);
    if (!(m > -INFINITY))
        return -1;
    const vf vm = vf_set1(m);
    int i = 0;
    for (; i + VW <= n; i += VW)
        if (vf_hmax(vf_select(vf_load(x + i) == vm, vf_set1(1.0f), vf_set1(0.0f))) > 0)
            break;
    for (; i < n; i++)
        if (x[i] == m)
            return i;
    return -1;
}

void hark_pick_row(float *row, int V, const hark_pick_mask *mask, hark_pick *out)
{
    for (int i = 0; mask && i < mask->n; i++)
        if (mask->ids[i] >= 0 && mask->ids[i] < V)
            row[mask->ids[i]] = -INFINITY;
    out->token = hark_argmax(row, V);
    out->logit = out->token >= 0 ? row[out->token] : -INFINITY;
    out->lse = hark_logsumexp(row, V);
}

/* ---------------------------------------------------------------- generator ------------------ */

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void hark_rng_seed(hark_rng *rng, uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        rng->s[i] = splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t hark_rng_next(hark_rng *rng)
{
    uint64_t *s = rng->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double hark_rng_uniform(hark_rng *rng)
{
    return (double)(hark_rng_next(rng) >> 11) * 0x1.0p-53;
}

int32_t hark_sample(const float *logits, int n, float temperature, hark_rng *rng)
{
    float m = hark_max(logits, n);
    if (m == -INFINITY || !(temperature > 0))
        return -1;
    double inv_t = 1.0 / temperature, total = 0;
    for (int i = 0; i < n; i++)
        total += exp(((double)logits[i] - m) * inv_t);
    double u = hark_rng_uniform(rng) * total, cum = 0;
    int32_t last = -1;
    for (int i = 0; i < n; i++) {
        double w = exp(((double)logits[i] - m) * inv_t);
        if (w <= 0)
            continue;
        cum += w;
        last = i;
        if (u < cum)
            return i;
    }
    return last; /* rounding left u at the very top */
}

int32_t hark_greedy_step(const float *logits, int n_vocab, float temperature, hark_rng *rng,
                         int32_t last_token, int32_t eot, double *sum_logprob)
{
    if (last_token == eot)
        return eot;
    int32_t t = temperature > 0 ? hark_sample(logits, n_vocab, temperature, rng)
                                : hark_argmax(logits, n_vocab);
    if (t >= 0)
        *sum_logprob += (double)logits[t] - hark_logsumexp(logits, n_vocab);
    return t;
}

/* ---------------------------------------------------------------- ranking -------------------- */

int hark_rank_sequences(const double *sum_logprobs, const int *lengths, int n,
                        double length_penalty)
{
    int best = -1;
    double best_score = 0;
    for (int i = 0; i < n; i++) {
        double penalty = length_penalty < 0 ? (double)lengths[i]
                                            : pow((5.0 + lengths[i]) / 6.0, length_penalty);
        double score = penalty > 0 ? sum_logprobs[i] / penalty : -INFINITY;
        if (best < 0 || score > best_score) {
            best = i;
            best_score = score;
        }
    }
    return best;
}

/* ---------------------------------------------------------------- beam search ---------------- */

typedef struct beam_candidate {
    int32_t source, token;
    int canon; /* the lowest beam whose tokens equal the source's: equal (canon, token) pairs
                  are the same sequence */
    double score;
} beam_candidate;

struct hark_beam_search {
    int beam_size, max_candidates, cap_finished, max_len;
    int32_t eot;
    int len;                  /* tokens in each live beam */
    int32_t *tokens, *next;   /* [beam_size][max_len] live beams and the step's new beams */
    double *sum, *next_sum;   /* [beam_size] */
    int *canon;               /* [beam_size] */
    beam_candidate *cand;     /* [beam_size * (beam_size + 1)] */
    int *order;               /* [beam_size * (beam_size + 1)] */
    float *top_v;             /* [beam_size + 1] */
    int32_t *top_i;           /* [beam_size + 1] */
    int n_finished;
    int32_t *fin_tokens;      /* [cap_finished][max_len + 1], each ending in eot */
    int *fin_len;             /* [cap_finished] tokens before the eot */
    double *fin_sum;          /* [cap_finished] */
};

hark_status hark_beam_new(int beam_size, double patience, int32_t eot, int max_len,
                          hark_beam_search **out)
{
    if (!out)
        return hark_fail(HARK_ERR_INVALID_ARG, "hark_beam_new: out is NULL");
    *out = NULL;
    if (!(patience > 0))
        patience = 1.0;
    double mc = nearbyint(beam_size * patience); /* Python's round: half to even */
    if (beam_size < 1 || beam_size > 4096 || !(mc >= 1) || mc > 1e6 || max_len < 1 ||
        max_len > (1 << 20) || eot < 0)
        return hark_fail(HARK_ERR_INVALID_ARG,
                         "hark_beam_new: invalid beam size (%d), patience (%g) or length (%d)",
                         beam_size, patience, max_len);
    hark_beam_search *b = calloc(1, sizeof(*b));
    if (!b)
        return hark_fail(HARK_ERR_NOMEM, "hark_beam_new: out of memory");
    size_t B = (size_t)beam_size, L = (size_t)max_len, K = B * (B + 1);
    b->beam_size = beam_size;
    b->max_candidates = (int)mc;
    b->cap_finished = b->max_candidates > beam_size ? b->max_candidates : beam_size;
    b->max_len = max_len;
    b->eot = eot;
    size_t F = (size_t)b->cap_finished;
    b->tokens = malloc(B * L * sizeof(int32_t));
    b->next = malloc(B * L * sizeof(int32_t));
    b->sum = malloc(B * sizeof(double));
    b->next_sum = malloc(B * sizeof(double));
    b->canon = malloc(B * sizeof(int));
    b->cand = malloc(K * sizeof(beam_candidate));
    b->order = malloc(K * sizeof(int));
    b->top_v = malloc((B + 1) * sizeof(float));
    b->top_i = malloc((B + 1) * sizeof(int32_t));
    b->fin_tokens = malloc(F * (L + 1) * sizeof(int32_t));
    b->fin_len = malloc(F * sizeof(int));
    b->fin_sum = malloc(F * sizeof(double));
    if (!b->tokens || !b->next || !b->sum || !b->next_sum || !b->canon || !b->cand ||
        !b->order || !b->top_v || !b->top_i || !b->fin_tokens || !b->fin_len || !b->fin_sum) {
        hark_beam_free(b);
        return hark_fail(HARK_ERR_NOMEM, "hark_beam_new: out of memory");
    }
    hark_beam_reset(b);
    *out = b;
    return HARK_OK;
}

void hark_beam_free(hark_beam_search *b)
{
    if (!b)
        return;
    free(b->tokens);
    free(b->next);
    free(b->sum);
    free(b->next_sum);
    free(b->canon);
    free(b->cand);
    free(b->order);
    free(b->top_v);
    free(b->top_i);
    free(b->fin_tokens);
    free(b->fin_len);
    free(b->fin_sum);
    free(b);
}

void hark_beam_reset(hark_beam_search *b)
{
    b->len = 0;
    b->n_finished = 0;
    for (int i = 0; i < b->beam_size; i++)
        b->sum[i] = 0;
}

int hark_beam_size(const hark_beam_search *b) { return b->beam_size; }

int hark_beam_length(const hark_beam_search *b) { return b->len; }

const int32_t *hark_beam_tokens(const hark_beam_search *b, int i, double *sum_logprob)
{
    if (i < 0 || i >= b->beam_size)
        return NULL;
    if (sum_logprob)
        *sum_logprob = b->sum[i];
    return b->tokens + (size_t)i * b->max_len;
}

/* The k largest of row[0..n) in descending order, ties by the lower index first, into
 * b->top_v / b->top_i (k <= n). NaN counts as -INFINITY. */
static void top_k(hark_beam_search *b, const float *row, int n, int k)
{
    int have = 0;
    for (int i = 0; i < n; i++) {
        float v = row[i] == row[i] ? row[i] : -INFINITY;
        if (have == k && !(v > b->top_v[k - 1]))
            continue;
        int pos = have < k ? have++ : k - 1;
        while (pos > 0 && v > b->top_v[pos - 1]) {
            b->top_v[pos] = b->top_v[pos - 1];
            b->top_i[pos] = b->top_i[pos - 1];
            pos--;
        }
        b->top_v[pos] = v;
        b->top_i[pos] = i;
    }
}

/* Appends live beam `source` plus `token` as finished sequence (if room). */
static void add_finished(hark_beam_search *b, int source, double score)
{
    if (b->n_finished >= b->cap_finished)
        return;
    int32_t *dst = b->fin_tokens + (size_t)b->n_finished * (b->max_len + 1);
    memcpy(dst, b->tokens + (size_t)source * b->max_len, (size_t)b->len * sizeof(int32_t));
    dst[b->len] = b->eot;
    b->fin_len[b->n_finished] = b->len;
    b->fin_sum[b->n_finished] = score;
    b->n_finished++;
}

/* STEP 1 of BeamSearchDecoder.update: each beam's top beam_size + 1 continuations, one entry
 * per distinct sequence (a later beam's proposal replaces an identical earlier one). */
static int propose(hark_beam_search *b, const float *logprobs, int n_vocab)
{
    const int B = b->beam_size;
    for (int j = 0; j < B; j++) {
        b->canon[j] = j;
        for (int k = 0; k < j; k++)
            if (memcmp(b->tokens + (size_t)k * b->max_len, b->tokens + (size_t)j * b->max_len,
                       (size_t)b->len * sizeof(int32_t)) == 0) {
                b->canon[j] = b->canon[k];
                break;
            }
    }
    int n = 0;
    for (int j = 0; j < B; j++) {
        top_k(b, logprobs + (size_t)j * n_vocab, n_vocab, B + 1);
        for (int r = 0; r <= B; r++) {
            double score = b->sum[j] + (double)b->top_v[r];
            int c = 0;
            while (c < n && !(b->cand[c].canon == b->canon[j] && b->cand[c].token == b->top_i[r]))
                c++;
            if (c == n)
                n++;
            b->cand[c] = (beam_candidate){ .source = j, .token = b->top_i[r],
                                           .canon = b->canon[j], .score = score };
        }
    }
    /* stable sort by score, highest first (Python's sorted(..., reverse=True) keeps ties) */
    for (int i = 0; i < n; i++) {
        int pos = i;
        while (pos > 0 && b->cand[i].score > b->cand[b->order[pos - 1]].score) {
            b->order[pos] = b->order[pos - 1];
            pos--;
        }
        b->order[pos] = i;
    }
    return n;
}

hark_status hark_beam_step(hark_beam_search *b, const float *logprobs, int n_vocab,
                           hark_beam_fork *forks, bool *completed)
{
    const int B = b->beam_size;
    if (n_vocab <= B || !logprobs || !forks || !completed)
        return hark_fail(HARK_ERR_INVALID_ARG, "hark_beam_step: bad arguments (n_vocab %d)",
                         n_vocab);
    if (b->len >= b->max_len)
        return hark_fail(HARK_ERR_CAPACITY, "hark_beam_step: beams already hold %d tokens",
                         b->len);
    int n = propose(b, logprobs, n_vocab);

    /* STEP 2: the best beam_size live candidates; finished ones ranked above them are kept */
    int saved = 0;
    for (int r = 0; r < n && saved < B; r++) {
        const beam_candidate *c = &b->cand[b->order[r]];
        if (c->token == b->eot) {
            if (b->n_finished < b->max_candidates)
                add_finished(b, c->source, c->score);
            continue;
        }
        int32_t *dst = b->next + (size_t)saved * b->max_len;
        memcpy(dst, b->tokens + (size_t)c->source * b->max_len, (size_t)b->len * sizeof(int32_t));
        dst[b->len] = c->token;
        b->next_sum[saved] = c->score;
        forks[saved] = (hark_beam_fork){ .source = c->source, .token = c->token };
        saved++;
    }
    if (saved < B) /* unreachable with n_vocab > beam_size: each beam proposes B non-eot ids */
        return hark_fail(HARK_ERR_INVALID_ARG, "hark_beam_step: only %d live candidates", saved);
    int32_t *t = b->tokens;
    b->tokens = b->next;
    b->next = t;
    double *s = b->sum;
    b->sum = b->next_sum;
    b->next_sum = s;
    b->len++;
    *completed = b->n_finished >= b->max_candidates;
    return HARK_OK;
}

void hark_beam_finalize(hark_beam_search *b)
{
    const int B = b->beam_size;
    /* live beams by sum descending, ties: higher index first (np.argsort(...)[::-1]) */
    for (int i = 0; i < B; i++) {
        int pos = i;
        while (pos > 0 && b->sum[i] >= b->sum[b->order[pos - 1]]) {
            b->order[pos] = b->order[pos - 1];
            pos--;
        }
        b->order[pos] = i;
    }
    for (int r = 0; r < B && b->n_finished < B; r++)
        add_finished(b, b->order[r], b->sum[b->order[r]]);
}

int hark_beam_n_finished(const hark_beam_search *b) { return b->n_finished; }

const int32_t *hark_beam_finished(const hark_beam_search *b, int i, int *n, double *sum_logprob)
{
    if (i < 0 || i >= b->n_finished)
        return NULL;
    if (n)
        *n = b->fin_len[i];
    if (sum_logprob)
        *sum_logprob = b->fin_sum[i];
    return b->fin_tokens + (size_t)i * (b->max_len + 1);
}
