/*
 * test_decode_rules.c — openai/whisper's decoding pieces on crafted logits: every branch of the
 * timestamp rules, SuppressBlank and SuppressTokens, the non-speech set of the multilingual
 * vocabulary (against the suppress_tokens list of Hugging Face's openai/whisper-tiny
 * generation_config.json, which whisper's own code produced), greedy and sampled choice, the
 * generator, beam search on a five-token vocabulary with outcomes worked out by hand, the
 * ranker, compression ratio, and the fallback and no-speech decisions.
 */
#include "decode/quality.h"
#include "decode/rules.h"
#include "decode/sample.h"
#include "text/tokenizer.h"
#include "util/util.h"

#include "test.h"

#include <stdint.h>
#include <zlib.h>

/* A tiny vocabulary for the rules: text 0..9, eot 10, specials 11..17, timestamps 18..29. */
#define TV 30
static const hark_special_tokens tiny_sp = {
    .eot = 10, .sot = 11, .translate = 12, .transcribe = 13, .sot_lm = 14, .sot_prev = 15,
    .no_speech = 16, .no_timestamps = 17, .timestamp_begin = 18, .lang_first = -1,
    .n_languages = 0,
};

static void fill(float *x, int n, float v)
{
    for (int i = 0; i < n; i++)
        x[i] = v;
}

/* True when every id in [from, to) of x is -INFINITY. */
static int suppressed(const float *x, int from, int to)
{
    for (int i = from; i < to; i++)
        if (x[i] != -INFINITY)
            return 0;
    return 1;
}

/* True when no id in [from, to) of x is -INFINITY. */
static int none_suppressed(const float *x, int from, int to)
{
    for (int i = from; i < to; i++)
        if (x[i] == -INFINITY)
            return 0;
    return 1;
}

/* ---------------------------------------------------------------- timestamp rules ------------ */

static void test_timestamp_rules(void)
{
    float x[TV];
    const int tb = tiny_sp.timestamp_begin;

    /* first position: text suppressed, timestamps up to the initial limit */
    fill(x, TV, 0);
    hark_timestamp_rules_apply(&tiny_sp, TV, 3, NULL, 0, x);
    CHECK(suppressed(x, 0, tb), "first step: text suppressed");
    CHECK(none_suppressed(x, tb, tb + 4) && suppressed(x, tb + 4, TV), "initial limit 3");
    fill(x, TV, 0);
    hark_timestamp_rules_apply(&tiny_sp, TV, -1, NULL, 0, x);
    CHECK(suppressed(x, 0, tb) && none_suppressed(x, tb, TV), "no initial limit");

    /* one timestamp so far (penultimate counts as a timestamp): text must follow */
    int32_t t1[] = { 18 };
    fill(x, TV, 0);
    x[3] = 5;
    hark_timestamp_rules_apply(&tiny_sp, TV, 3, t1, 1, x);
    CHECK(suppressed(x, tb, TV) && none_suppressed(x, 0, 17) && x[17] == -INFINITY,
          "after the first timestamp: no timestamp, notimestamps suppressed");

    /* text after a timestamp: later timestamps allowed, the last one not (monotonic, > last) */
    int32_t t2[] = { 18, 5 };
    fill(x, TV, 0);
    x[3] = 5; /* text beats log(11) timestamps' mass */
    hark_timestamp_rules_apply(&tiny_sp, TV, 3, t2, 2, x);
    CHECK(x[18] == -INFINITY && none_suppressed(x, 19, TV) && none_suppressed(x, 0, 17),
          "text after timestamp: ts > 18 and text allowed");

    /* a lone closing timestamp: no text; eot or a timestamp >= the last one */
    int32_t t3[] = { 18, 5, 20 };
    fill(x, TV, 0);
    x[tiny_sp.eot] = 5; /* above the timestamps' mass, log 10 */
    hark_timestamp_rules_apply(&tiny_sp, TV, 3, t3, 3, x);
    CHECK(suppressed(x, 0, tiny_sp.eot), "lone timestamp: text suppressed");
    CHECK(x[tiny_sp.eot] == 5, "lone timestamp: eot allowed");
    CHECK(suppressed(x, 18, 20) && none_suppressed(x, 20, TV), "lone timestamp: ts >= 20");

    /* a pair of timestamps: the next is text */
    int32_t t4[] = { 18, 5, 20, 21 };
    fill(x, TV, 0);
    x[2] = 1;
    hark_timestamp_rules_apply(&tiny_sp, TV, 3, t4, 4, x);
    CHECK(suppressed(x, tb, TV) && none_suppressed(x, 0, 17), "pair: timestamps suppressed");

    /* monotonic: after text the next timestamp is later than the last one */
    int32_t t5[] = { 18, 5, 22, 23, 6 };
    fill(x, TV, 0);
    x[6] = 5;
    hark_timestamp_rules_apply(&tiny_sp, TV, 3, t5, 5, x);
    CHECK(suppressed(x, 18, 24) && none_suppressed(x, 24, TV), "monotonic: ts > 23");
    CHECK(none_suppressed(x, 0, 17), "monotonic: text allowed");

    /* probability mass: eleven timestamps at 0 (log-mass log 11 = 2.398) against text at 1 */
    fill(x, TV, -INFINITY);
    x[3] = 1.0f;
    x[tiny_sp.eot] = 0.5f;
    for (int i = 19; i < TV; i++)
        x[i] = 0;
    hark_timestamp_rules_apply(&tiny_sp, TV, 3, t2, 2, x);
    CHECK(suppressed(x, 0, tb), "mass: text and eot suppressed");
    CHECK(none_suppressed(x, 19, TV), "mass: timestamps kept");
    fill(x, TV, -INFINITY);
    x[3] = 2.5f;
    for (int i = 19; i < TV; i++)
        x[i] = 0;
    hark_timestamp_rules_apply(&tiny_sp, TV, 3, t2, 2, x);
    CHECK(x[3] == 2.5f, "mass below the best text token: text kept");
    /* everything suppressed stays so, without NaN */
    fill(x, TV, -INFINITY);
    hark_timestamp_rules_apply(&tiny_sp, TV, 3, t2, 2, x);
    CHECK(suppressed(x, 0, TV), "all suppressed");
}

/* ---------------------------------------------------------------- suppress rules ------------- */

static void test_suppress_rules(void)
{
    int32_t list[] = { 2, 4 };
    hark_logit_rules r = {
        .sp = tiny_sp, .n_vocab = TV, .suppress_blank = true, .timestamps = false,
        .max_initial_timestamp_index = -1, .blank = { 1 }, .n_blank = 1, .suppress = list,
        .n_suppress = 2,
    };
    float x[TV];
    fill(x, TV, 1);
    hark_rules_apply(&r, NULL, 0, x);
    CHECK(x[1] == -INFINITY && x[tiny_sp.eot] == -INFINITY, "blank and eot at the first step");
    CHECK(x[2] == -INFINITY && x[4] == -INFINITY && x[0] == 1 && x[3] == 1, "suppress list");
    int32_t t[] = { 5 };
    fill(x, TV, 1);
    hark_rules_apply(&r, t, 1, x);
    CHECK(x[1] == 1 && x[tiny_sp.eot] == 1, "blank only at the first step");
    CHECK(x[2] == -INFINITY && x[4] == -INFINITY, "suppress list every step");
    CHECK(none_suppressed(x, 18, TV), "no timestamp rules when timestamps are off");
    r.timestamps = true;
    fill(x, TV, 1);
    hark_rules_apply(&r, NULL, 0, x);
    CHECK(suppressed(x, 0, 18) && none_suppressed(x, 18, TV), "timestamps on: first is a ts");
    r.suppress_blank = false;
    r.timestamps = false;
    fill(x, TV, 1);
    hark_rules_apply(&r, NULL, 0, x);
    CHECK(x[1] == 1 && x[tiny_sp.eot] == 1, "no SuppressBlank");

    CHECK(hark_max_initial_timestamp_index(1.0, 1500) == 50, "1.0 s -> 50");
    CHECK(hark_max_initial_timestamp_index(0.0, 1500) == -1, "0 -> None");
    CHECK(hark_max_initial_timestamp_index(0.01, 1500) == 0, "half to even");
    CHECK(hark_max_initial_timestamp_index(0.03, 1500) == 2, "1.5 -> 2");
}

/* ---------------------------------------------------------------- tokenizer-based ------------ */

/* Hugging Face openai/whisper-tiny generation_config.json suppress_tokens: whisper's
 * non-speech set of the multilingual vocabulary followed by the six suppressed specials. */
static const int32_t hf_suppress[] = {
    1, 2, 7, 8, 9, 10, 14, 25, 26, 27, 28, 29, 31, 58, 59, 60, 61, 62, 63, 90, 91, 92, 93, 359,
    503, 522, 542, 873, 893, 902, 918, 922, 931, 1350, 1853, 1982, 2460, 2627, 3246, 3253, 3268,
    3536, 3846, 3961, 4183, 4667, 6585, 6647, 7273, 9061, 9383, 10428, 10929, 11938, 12033,
    12331, 12562, 13793, 14157, 14635, 15265, 15618, 16553, 16604, 18362, 18956, 20075, 21675,
    22520, 26130, 26161, 26435, 28279, 29464, 31650, 32302, 32470, 36865, 42863, 47425, 49870,
    50254, 50258, 50358, 50359, 50360, 50361, 50362,
};
#define N_HF ((int)(sizeof(hf_suppress) / sizeof(hf_suppress[0])))

static int contains(const int32_t *ids, int n, int32_t id)
{
    for (int i = 0; i < n; i++)
        if (ids[i] == id)
            return 1;
    return 0;
}

static int32_t enc1(const hark_tokenizer *tok, const char *s, int *n)
{
    int32_t ids[16];
    *n = hark_tokenizer_encode(tok, s, strlen(s), ids, 16);
    return *n > 0 ? ids[0] : -1;
}

static hark_special_tokens specials_of(const hark_tokenizer *tok)
{
    return (hark_special_tokens){
        .eot = hark_tokenizer_special_id(tok, "<|endoftext|>"),
        .sot = hark_tokenizer_special_id(tok, "<|startoftranscript|>"),
        .sot_lm = hark_tokenizer_special_id(tok, "<|startoflm|>"),
        .sot_prev = hark_tokenizer_special_id(tok, "<|startofprev|>"),
        .no_speech = hark_tokenizer_special_id(tok, "<|nospeech|>"),
        .no_timestamps = hark_tokenizer_special_id(tok, "<|notimestamps|>"),
        .translate = hark_tokenizer_special_id(tok, "<|translate|>"),
        .transcribe = hark_tokenizer_special_id(tok, "<|transcribe|>"),
        .lang_first = hark_tokenizer_special_id(tok, "<|en|>"),
        .n_languages = 99,
        .timestamp_begin = hark_tokenizer_special_id(tok, "<|0.00|>"),
    };
}

static void test_non_speech(void)
{
    char path[1024];
    uint8_t *data = NULL;
    size_t size = 0;
    hark_status st = hark_read_file(test_src("assets/multilingual.tiktoken", path, sizeof(path)),
                                    &data, &size);
    CHECK(st == HARK_OK, "%s: %s", path, hark_last_error());
    if (st != HARK_OK)
        return;
    hark_tokenizer *tok = NULL;
    CHECK_OK(hark_tokenizer_new((const char *)data, size, 51865, &tok));
    free(data);
    if (!tok)
        return;

    int32_t *ns = NULL;
    int n_ns = 0;
    CHECK_OK(hark_non_speech_tokens(tok, &ns, &n_ns));
    CHECK(n_ns == N_HF - 6, "non-speech set has %d ids, want %d", n_ns, N_HF - 6);
    int same = n_ns == N_HF - 6;
    for (int i = 0; same && i < n_ns; i++)
        if (ns[i] != hf_suppress[i]) {
            same = 0;
            CHECK(0, "non-speech[%d] = %d, want %d", i, (int)ns[i], (int)hf_suppress[i]);
        }
    int sorted = 1;
    for (int i = 1; i < n_ns; i++)
        sorted &= ns[i] > ns[i - 1];
    CHECK(sorted, "sorted and unique");

    /* membership rules through the tokenizer itself */
    int k;
    int32_t id = enc1(tok, " -", &k);
    CHECK(contains(ns, n_ns, id), "\" -\" first token %d", (int)id);
    id = enc1(tok, " '", &k);
    CHECK(contains(ns, n_ns, id), "\" '\" first token %d", (int)id);
    id = enc1(tok, "-", &k);
    CHECK(k == 1 && !contains(ns, n_ns, id), "\"-\" alone (%d) is speech", (int)id);
    id = enc1(tok, "(", &k);
    CHECK(k == 1 && contains(ns, n_ns, id), "\"(\" -> %d", (int)id);
    id = enc1(tok, " (", &k);
    CHECK(k == 1 && contains(ns, n_ns, id), "\" (\" -> %d", (int)id);
    id = enc1(tok, "\xe2\x99\xaa", &k); /* ♪ */
    CHECK(contains(ns, n_ns, id), "first token of a music symbol (%d of %d)", (int)id, k);
    id = enc1(tok, " hello", &k);
    CHECK(!contains(ns, n_ns, id), "a word is speech");

    /* the default rules: non-speech set plus the specials = the generation_config list */
    hark_special_tokens sp = specials_of(tok);
    CHECK(sp.eot == 50257 && sp.timestamp_begin == 50364, "special ids");
    hark_logit_rules r;
    CHECK_OK(hark_rules_init(&r, tok, &sp, 51865, NULL));
    CHECK(r.n_suppress == N_HF, "suppress list of %d, want %d", r.n_suppress, N_HF);
    same = r.n_suppress == N_HF;
    for (int i = 0; same && i < N_HF; i++)
        same = r.suppress[i] == hf_suppress[i];
    CHECK(same, "suppress list equals generation_config's");
    CHECK(r.n_blank == 1 && r.blank[0] == 220, "blank is 220");
    CHECK(r.max_initial_timestamp_index == 50, "initial limit 50");
    float *x = malloc(51865 * sizeof(float));
    fill(x, 51865, 0);
    hark_rules_apply(&r, NULL, 0, x);
    CHECK(suppressed(x, 0, sp.timestamp_begin), "first step: only timestamps");
    CHECK(none_suppressed(x, 50364, 50364 + 51) && suppressed(x, 50364 + 51, 51865),
          "first step: up to <|1.00|>");
    free(x);
    hark_rules_free(&r);

    hark_rules_params p = hark_rules_default_params();
    int32_t extra[] = { -1, 5 };
    p.suppress_tokens = extra;
    p.n_suppress_tokens = 2;
    CHECK_OK(hark_rules_init(&r, tok, &sp, 51865, &p));
    CHECK(r.n_suppress == N_HF + 1 && contains(r.suppress, r.n_suppress, 5), "-1 plus 5");
    hark_rules_free(&r);
    p.n_suppress_tokens = 0;
    CHECK_OK(hark_rules_init(&r, tok, &sp, 51865, &p));
    CHECK(r.n_suppress == 0, "empty list: no SuppressTokens at all");
    hark_rules_free(&r);
    int32_t bad[] = { 51865 };
    p.suppress_tokens = bad;
    p.n_suppress_tokens = 1;
    CHECK(hark_rules_init(&r, tok, &sp, 51865, &p) == HARK_ERR_INVALID_ARG, "id out of range");
    CHECK(hark_rules_init(&r, tok, &sp, 100, NULL) == HARK_ERR_INVALID_ARG, "vocab too small");

    free(ns);
    hark_tokenizer_free(tok);
}

/* ---------------------------------------------------------------- greedy and sampling -------- */

static void test_greedy(void)
{
    float x[] = { 1, 3, 3, 2 };
    CHECK(hark_argmax(x, 4) == 1, "ties -> lowest id");
    float none[] = { -INFINITY, -INFINITY };
    CHECK(hark_argmax(none, 2) == -1, "all suppressed");
    CHECK(hark_sample(none, 2, 1.0f, &(hark_rng){ { 1, 2, 3, 4 } }) == -1, "sample: all suppressed");

    float ls[4];
    hark_log_softmax(x, 4, ls);
    double z = log(exp(1.0) + 2 * exp(3.0) + exp(2.0));
    CHECK(fabs(ls[0] - (1 - z)) < 1e-6 && fabs(ls[1] - (3 - z)) < 1e-6, "log_softmax");
    float big[] = { 1000, 999, -INFINITY };
    hark_log_softmax(big, 3, ls);
    CHECK(fabs(ls[0] + log1p(exp(-1.0))) < 1e-6 && ls[2] == -INFINITY, "no overflow");
    hark_log_softmax(none, 2, ls);
    CHECK(ls[0] == -INFINITY && ls[1] == -INFINITY, "all -inf row stays -inf");

    double sum = 0;
    int32_t t = hark_greedy_step(x, 4, 0, NULL, -1, 3, &sum);
    CHECK(t == 1 && fabs(sum - (3 - z)) < 1e-6, "greedy step adds log p");
    t = hark_greedy_step(x, 4, 0, NULL, t, 3, &sum);
    double before = sum;
    t = hark_greedy_step(x, 4, 0, NULL, 3, 3, &sum);
    CHECK(t == 3 && sum == before, "after eot: eot again, nothing added");
}

static void test_rng_and_sampling(void)
{
    hark_rng a, b;
    hark_rng_seed(&a, 0);
    CHECK(a.s[0] == 0xe220a8397b1dcdafull, "splitmix64(0) first output");
    hark_rng_seed(&a, 42);
    hark_rng_seed(&b, 42);
    int same = 1;
    for (int i = 0; i < 1000; i++)
        same &= hark_rng_next(&a) == hark_rng_next(&b);
    CHECK(same, "same seed, same draws");
    hark_rng_seed(&b, 43);
    CHECK(hark_rng_next(&a) != hark_rng_next(&b), "different seeds differ");

    const float logits[5] = { 0, 1, 2, -INFINITY, 0.5f };
    const float temps[2] = { 1.0f, 0.5f };
    for (int ti = 0; ti < 2; ti++) {
        double p[5], s = 0;
        for (int i = 0; i < 5; i++)
            s += p[i] = exp(logits[i] / temps[ti]);
        const int n = 200000;
        int count[5] = { 0 };
        hark_rng_seed(&a, 7);
        for (int d = 0; d < n; d++) {
            int32_t t = hark_sample(logits, 5, temps[ti], &a);
            if (t >= 0 && t < 5)
                count[t]++;
        }
        for (int i = 0; i < 5; i++) {
            double f = (double)count[i] / n, want = p[i] / s;
            CHECK(fabs(f - want) < 0.005, "t=%g token %d: %.4f vs %.4f", temps[ti], i, f, want);
        }
        CHECK(count[3] == 0, "suppressed never drawn");
    }
    /* a seed fixes the whole sequence of sampled tokens */
    int32_t s1[50], s2[50];
    hark_rng_seed(&a, 123);
    hark_rng_seed(&b, 123);
    for (int i = 0; i < 50; i++) {
        s1[i] = hark_sample(logits, 5, 1.0f, &a);
        s2[i] = hark_sample(logits, 5, 1.0f, &b);
    }
    CHECK(memcmp(s1, s2, sizeof(s1)) == 0, "deterministic for a seed");
    double sum = 0;
    hark_rng_seed(&a, 5);
    int32_t t = hark_greedy_step(logits, 5, 1.0f, &a, -1, 4, &sum);
    double z = log(exp(0.0) + exp(1.0) + exp(2.0) + exp(0.5));
    CHECK(t >= 0 && t != 3 && fabs(sum - (logits[t] - z)) < 1e-6, "sampled step adds log p");
}

/* ---------------------------------------------------------------- beam search ---------------- */

/* Vocabulary 0..3 text, eot 4; rows are log-probabilities (hand-picked, not normalised). */
#define BV 5
#define EOT 4

static void check_fork(const hark_beam_fork *f, int source, int token, const char *what)
{
    CHECK(f->source == source && f->token == token, "%s: fork (%d, %d), want (%d, %d)", what,
          (int)f->source, (int)f->token, source, token);
}

static void check_finished(const hark_beam_search *b, int i, const int32_t *want, int n_want,
                           double sum_want)
{
    int n = -1;
    double s = 0;
    const int32_t *t = hark_beam_finished(b, i, &n, &s);
    CHECK(t && n == n_want && (n == 0 || memcmp(t, want, (size_t)n * sizeof(*t)) == 0) &&
              t[n] == EOT && fabs(s - sum_want) < 1e-9,
          "finished %d: n %d (want %d), sum %g (want %g)", i, n, n_want, s, sum_want);
}

static int rank(const hark_beam_search *b, double length_penalty)
{
    double sums[8];
    int lens[8];
    int n = hark_beam_n_finished(b);
    for (int i = 0; i < n && i < 8; i++)
        hark_beam_finished(b, i, &lens[i], &sums[i]);
    return hark_rank_sequences(sums, lens, n, length_penalty);
}

static void test_beam(void)
{
    /* step 1: both beams identical; candidates 1 (-0.5), eot (-0.7), 0 (-1.0), all from beam 1 */
    const float step1[2 * BV] = { -1.0f, -0.5f, -2.0f, -3.0f, -0.7f,
                                  -1.0f, -0.5f, -2.0f, -3.0f, -0.7f };
    /* step 2: beam [1] -> [1,2] -0.7, [1,eot] -0.8, [1,1] -2.0; beam [0] -> [0,0] -1.1,
     * [0,eot] -3.5, [0,1] -4.0 (ties 1,2,3 at -3: lowest id) */
    const float step2[2 * BV] = { -2.0f, -1.5f, -0.2f, -4.0f, -0.3f,
                                  -0.1f, -3.0f, -3.0f, -3.0f, -2.5f };
    /* step 3: [1,2] -> [1,2,eot] -0.75, [1,2,0] -9.7; [0,0] -> [0,0,0] -1.7, [0,0,eot] -2.0 */
    const float step3[2 * BV] = { -9.0f, -9.0f, -9.0f, -9.0f, -0.05f,
                                  -0.6f, -9.0f, -9.0f, -9.0f, -0.9f };
    hark_beam_fork f[2];
    bool done = false;
    hark_beam_search *b = NULL;

    /* patience 1: max_candidates 2 */
    CHECK_OK(hark_beam_new(2, 0, EOT, 8, &b));
    if (!b)
        return;
    CHECK_OK(hark_beam_step(b, step1, BV, f, &done));
    check_fork(&f[0], 1, 1, "s1 beam 0");
    check_fork(&f[1], 1, 0, "s1 beam 1");
    CHECK(!done && hark_beam_n_finished(b) == 1, "s1: one finished");
    double s;
    const int32_t *bt = hark_beam_tokens(b, 0, &s);
    CHECK(hark_beam_length(b) == 1 && bt[0] == 1 && fabs(s + 0.5) < 1e-6, "s1 beam 0 = [1]");
    CHECK_OK(hark_beam_step(b, step2, BV, f, &done));
    check_fork(&f[0], 0, 2, "s2 beam 0");
    check_fork(&f[1], 1, 0, "s2 beam 1");
    CHECK(done && hark_beam_n_finished(b) == 2, "s2: completed with two");
    hark_beam_finalize(b);
    CHECK(hark_beam_n_finished(b) == 2, "finalize adds nothing");
    const int32_t one[] = { 1 };
    check_finished(b, 0, NULL, 0, (double)-0.7f);
    check_finished(b, 1, one, 1, (double)-0.5f + (double)-0.3f);
    CHECK(rank(b, -1) == 1, "no penalty: the empty one scores -inf, [1] wins");
    CHECK(rank(b, 0) == 0, "penalty 0: raw log-probability, [] wins");
    CHECK(rank(b, 1) == 1, "penalty 1: -0.84 vs -0.8");

    /* patience 2: max_candidates 4, a third step */
    hark_beam_free(b);
    CHECK_OK(hark_beam_new(2, 2.0, EOT, 8, &b));
    CHECK_OK(hark_beam_step(b, step1, BV, f, &done));
    CHECK_OK(hark_beam_step(b, step2, BV, f, &done));
    CHECK(!done && hark_beam_n_finished(b) == 2, "patience 2: not yet");
    CHECK_OK(hark_beam_step(b, step3, BV, f, &done));
    check_fork(&f[0], 1, 0, "s3 beam 0");
    check_fork(&f[1], 0, 0, "s3 beam 1");
    CHECK(done && hark_beam_n_finished(b) == 4, "patience 2: four finished");
    const int32_t t12[] = { 1, 2 }, t00[] = { 0, 0 };
    check_finished(b, 2, t12, 2, (double)-0.5f + (double)-0.2f + (double)-0.05f);
    check_finished(b, 3, t00, 2, (double)-1.0f + (double)-0.1f + (double)-0.9f);
    CHECK(rank(b, -1) == 2, "no penalty: -0.375 wins");
    CHECK(rank(b, 0) == 0, "penalty 0: -0.7 wins");
    CHECK(rank(b, 1) == 2, "penalty 1: -0.643 wins");

    /* patience 0.5: max_candidates 1, completed at once, finalize adds the best live beam */
    hark_beam_free(b);
    CHECK_OK(hark_beam_new(2, 0.5, EOT, 8, &b));
    CHECK_OK(hark_beam_step(b, step1, BV, f, &done));
    CHECK(done && hark_beam_n_finished(b) == 1, "patience 0.5: done after one");
    hark_beam_finalize(b);
    CHECK(hark_beam_n_finished(b) == 2, "finalize fills to beam_size");
    check_finished(b, 1, one, 1, (double)-0.5f);

    /* reset, capacity, nothing finished */
    hark_beam_free(b);
    CHECK_OK(hark_beam_new(2, 1.0, EOT, 2, &b));
    const float noeot[2 * BV] = { -1, -2, -3, -4, -INFINITY, -1, -2, -3, -4, -INFINITY };
    CHECK_OK(hark_beam_step(b, noeot, BV, f, &done));
    CHECK_OK(hark_beam_step(b, noeot, BV, f, &done));
    CHECK(hark_beam_step(b, noeot, BV, f, &done) == HARK_ERR_CAPACITY, "max_len reached");
    CHECK(hark_beam_n_finished(b) == 0, "none finished");
    hark_beam_finalize(b);
    const int32_t t00b[] = { 0, 0 };
    CHECK(hark_beam_n_finished(b) == 2, "finalize: both live beams");
    check_finished(b, 0, t00b, 2, -2.0);
    hark_beam_reset(b);
    CHECK(hark_beam_length(b) == 0 && hark_beam_n_finished(b) == 0, "reset");
    CHECK(hark_beam_step(b, noeot, 2, f, &done) == HARK_ERR_INVALID_ARG, "n_vocab <= beam");
    hark_beam_free(b);

    CHECK(hark_beam_new(0, 1.0, EOT, 8, &b) == HARK_ERR_INVALID_ARG && !b, "beam 0");
    CHECK(hark_beam_new(1, 0.4, EOT, 8, &b) == HARK_ERR_INVALID_ARG, "max_candidates 0");
    CHECK(hark_rank_sequences(NULL, NULL, 0, -1) == -1, "rank of nothing");
}

/* ---------------------------------------------------------------- quality -------------------- */

static double zlib_ratio(const char *s)
{
    uLong n = (uLong)strlen(s);
    uLongf cap = compressBound(n);
    Bytef *buf = malloc(cap);
    compress2(buf, &cap, (const Bytef *)s, n, Z_DEFAULT_COMPRESSION);
    free(buf);
    return (double)n / (double)cap;
}

static void test_quality(void)
{
    double r = -1;
    CHECK_OK(hark_compression_ratio("hello world", 11, &r));
    CHECK(r == 11.0 / 19.0, "hello world: %g (python: 11/19)", r);
    CHECK(r == zlib_ratio("hello world"), "matches compress2");
    char rep[2000] = "";
    for (int i = 0; i < 100; i++)
        strcat(rep, "I'm sorry. ");
    CHECK_OK(hark_compression_ratio(rep, strlen(rep), &r));
    CHECK(r == zlib_ratio(rep) && r > 2.4, "repetitive: %g", r);
    const char *prose = "The quick brown fox jumps over the lazy dog while seven wizards quietly "
                        "hex jumbled boxes of pink gravel.";
    CHECK_OK(hark_compression_ratio(prose, strlen(prose), &r));
    CHECK(r == zlib_ratio(prose) && r < 2.4, "prose: %g", r);
    CHECK_OK(hark_compression_ratio("", 0, &r));
    CHECK(r == 0, "empty: 0");
    CHECK(hark_compression_ratio(NULL, 3, &r) == HARK_ERR_INVALID_ARG, "NULL text");

    float sot_row[4] = { 0, 1, 2, -INFINITY };
    double pz = exp(1.0) / (1 + exp(1.0) + exp(2.0));
    CHECK(fabs(hark_no_speech_prob(sot_row, 4, 1) - pz) < 1e-12, "no_speech prob");
    CHECK(hark_no_speech_prob(sot_row, 4, 3) == 0 && hark_no_speech_prob(sot_row, 4, 9) == 0,
          "no_speech prob of a suppressed or absent id");
    CHECK(hark_avg_logprob(-3.0, 2) == -1.0, "avg over n + 1");
    CHECK(hark_avg_logprob(-0.5, 0) == -0.5, "avg of eot only");

    hark_quality_thresholds t = hark_quality_default_thresholds();
    struct {
        double cr, lp, nsp;
        bool fallback, skip;
    } cases[] = {
        { 2.5, -0.5, 0.1, true, false },  /* repetitive */
        { 1.5, -1.2, 0.1, true, false },  /* improbable */
        { 1.5, -1.2, 0.7, false, true },  /* silence */
        { 2.5, -1.2, 0.7, false, true },  /* silence overrides repetition */
        { 2.5, -0.5, 0.9, true, false },  /* confident text despite no_speech: no skip */
        { 1.5, -0.5, 0.9, false, false }, /* fine */
        { 2.4, -1.0, 0.6, false, false }, /* thresholds are strict */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        hark_decode_quality q = { cases[i].cr, cases[i].lp, cases[i].nsp };
        CHECK(hark_needs_fallback(&q, &t) == cases[i].fallback, "fallback case %zu", i);
        CHECK(hark_should_skip_window(&q, &t) == cases[i].skip, "skip case %zu", i);
    }
    hark_quality_thresholds none = { NAN, NAN, NAN };
    hark_decode_quality bad = { 9.0, -5.0, 0.99 };
    CHECK(!hark_needs_fallback(&bad, &none) && !hark_should_skip_window(&bad, &none), "None");
    hark_quality_thresholds no_lp = { 2.4, NAN, 0.6 };
    hark_decode_quality ok = { 1.0, -0.1, 0.99 };
    CHECK(hark_should_skip_window(&ok, &no_lp), "logprob None: no_speech alone skips");
    CHECK(!hark_needs_fallback(&bad, &(hark_quality_thresholds){ NAN, -1.0, 0.6 }),
          "silence without a compression threshold");

    double temps[16];
    int n = hark_temperature_schedule(0.0, 0.2, temps, 16);
    CHECK(n == 6 && temps[0] == 0 && temps[1] == 0.2 && temps[3] == 3 * 0.2 && temps[5] == 1.0,
          "0..1 by 0.2: %d values", n);
    CHECK(hark_temperature_schedule(0.0, NAN, temps, 16) == 1 && temps[0] == 0, "no increment");
    CHECK(hark_temperature_schedule(0.5, 0.25, temps, 16) == 3 && temps[2] == 1.0, "0.5 by .25");
    CHECK(hark_temperature_schedule(0.0, 0.2, temps, 0) == 6, "sizing call");
}

int main(void)
{
    test_timestamp_rules();
    test_suppress_rules();
    test_non_speech();
    test_greedy();
    test_rng_and_sampling();
    test_beam();
    test_quality();
    TEST_MAIN_END();
}
