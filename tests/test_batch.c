/*
 * test_batch.c — the batch engine (hark_batch_*): transcriptions on many threads through one
 * batch give what each gives alone on a plain state (greedy one window and long-form with
 * language detection, beam search 5, word timestamps, a 3 s clip), their engine calls are
 * merged (stats), slots come back, and the batch refuses what it cannot hold.
 */
#include "hark.h"
#include "test.h"

#include "golden.h"

#include <pthread.h>

typedef struct tcase {
    const char *name;
    const float *pcm;
    size_t n;
    hark_full_params p;
} tcase;

/* Statistics may differ in the last bits: a backend's products sum in an order that can
 * depend on how many rows a call has (the transcript itself must not differ). */
static int near(double a, double b)
{
    return fabs(a - b) <= 1e-5 + 1e-5 * fabs(b);
}

/* 1 when the two states hold the same transcript (segments, tokens, times, statistics, words). */
static int same_results(const hark_state *a, const hark_state *b, const char *what)
{
    int n = hark_n_segments(a);
    if (n != hark_n_segments(b)) {
        fprintf(stderr, "%s: %d segments, alone %d\n", what, hark_n_segments(b), n);
        return 0;
    }
    for (int i = 0; i < n; i++) {
        const int32_t *ta, *tb;
        int na = hark_segment_tokens(a, i, &ta), nb = hark_segment_tokens(b, i, &tb);
        hark_segment_info ia, ib;
        hark_segment_get_info(a, i, &ia);
        hark_segment_get_info(b, i, &ib);
        int ok = na == nb && memcmp(ta, tb, (size_t)na * sizeof(int32_t)) == 0 &&
                 strcmp(hark_segment_text(a, i), hark_segment_text(b, i)) == 0 &&
                 hark_segment_t0(a, i) == hark_segment_t0(b, i) &&
                 hark_segment_t1(a, i) == hark_segment_t1(b, i) && ia.seek == ib.seek &&
                 near(ia.avg_logprob, ib.avg_logprob) && near(ia.no_speech_prob, ib.no_speech_prob) &&
                 hark_segment_n_words(a, i) == hark_segment_n_words(b, i);
        for (int j = 0; ok && j < hark_segment_n_words(a, i); j++) {
            hark_word_info wa, wb;
            hark_segment_get_word(a, i, j, &wa);
            hark_segment_get_word(b, i, j, &wb);
            ok = strcmp(wa.text, wb.text) == 0 && wa.t0 == wb.t0 && wa.t1 == wb.t1 &&
                 near(wa.probability, wb.probability);
        }
        if (!ok) {
            fprintf(stderr, "%s segment %d: batched '%s' %.2f-%.2f, alone '%s' %.2f-%.2f\n", what,
                    i, hark_segment_text(b, i), hark_segment_t0(b, i), hark_segment_t1(b, i),
                    hark_segment_text(a, i), hark_segment_t0(a, i), hark_segment_t1(a, i));
            return 0;
        }
    }
    return 1;
}

typedef struct job {
    hark_batch *batch;
    const tcase *c;
    const hark_state *alone;
    hark_status st;
    int same;
} job;

static void *run_job(void *arg)
{
    job *j = arg;
    hark_state_params sp = hark_state_default_params();
    sp.max_sequences = 5; /* beam 5 or best-of 5 without growing the state */
    hark_state *s = NULL;
    j->st = hark_batch_state_new(j->batch, &sp, &s);
    if (j->st == HARK_OK)
        j->st = hark_transcribe(s, j->c->pcm, j->c->n, &j->c->p);
    if (j->st == HARK_OK)
        j->same = same_results(j->alone, s, j->c->name);
    else
        fprintf(stderr, "%s: %s (%s)\n", j->c->name, hark_status_str(j->st), hark_last_error());
    hark_state_free(s);
    return NULL;
}

int main(void)
{
    char path[1024], wav[1024];
    float *jfk = NULL;
    size_t n_jfk = 0;
    CHECK_OK(hark_audio_load(test_src("samples/jfk.wav", wav, sizeof(wav)), &jfk, &n_jfk));
    snprintf(path, sizeof(path), "%s/batch-tiny-test.hark", HARK_BINARY_DIR);
    hark_convert_params cp = hark_convert_default_params();
    CHECK_OK(hark_convert_random("tiny-test", 7, path, &cp));
    hark_model_params mp = hark_model_default_params();
    mp.n_threads = 1;
    hark_model *m = NULL;
    CHECK_OK(hark_model_load(path, &mp, &m));
    if (!m || !jfk)
        TEST_MAIN_END();
    size_t n_long = 0;
    float *longa = golden_long_audio(jfk, n_jfk, &n_long);

    enum { NC = 5 };
    tcase cases[NC];
    for (int i = 0; i < NC; i++) { /* the random model's text always "fails" the fallback tests */
        cases[i].p = hark_full_default_params();
        cases[i].p.temperature_increment = 0.0f;
    }
    cases[0] = (tcase){ "greedy 11 s", jfk, n_jfk, cases[0].p };
    cases[0].p.language = "en";
    cases[1] = (tcase){ "greedy long-form, language detected", longa, n_long, cases[1].p };
    cases[2] = (tcase){ "beam 5", jfk, n_jfk, cases[2].p };
    cases[2].p.language = "en";
    cases[2].p.beam_size = 5;
    cases[3] = (tcase){ "word timestamps", jfk, n_jfk, cases[3].p };
    cases[3].p.language = "en";
    cases[3].p.word_timestamps = 1;
    cases[4] = (tcase){ "3 s, temperature fallback (best of 5)", jfk + 16000, 48000, cases[4].p };
    cases[4].p.language = "en";
    cases[4].p.temperature_increment = 0.2f;
    cases[4].p.seed = 11;

    /* each alone on a plain state */
    hark_state *alone[NC] = { 0 };
    for (int i = 0; i < NC; i++) {
        CHECK_OK(hark_state_new(m, NULL, &alone[i]));
        if (alone[i])
            CHECK_OK(hark_transcribe(alone[i], cases[i].pcm, cases[i].n, &cases[i].p));
        CHECK(alone[i] && hark_n_segments(alone[i]) > 0, "%s: no segments alone", cases[i].name);
    }

    /* all at once, each case twice, through one batch */
    hark_batch_params bp = hark_batch_default_params();
    bp.max_windows = 2 * NC;
    bp.max_sequences = 2 * NC * 5;
    bp.max_wait_us = 2000;
    hark_batch *b = NULL;
    CHECK_OK(hark_batch_new(m, &bp, &b));
    /* every shape once first: it must leave the slots as it found them */
    CHECK_OK(hark_batch_warmup(b));
    if (b) {
        enum { NJ = 2 * NC };
        job jobs[NJ];
        pthread_t th[NJ];
        for (int i = 0; i < NJ; i++) {
            jobs[i] = (job){ .batch = b, .c = &cases[i % NC], .alone = alone[i % NC] };
            pthread_create(&th[i], NULL, run_job, &jobs[i]);
        }
        for (int i = 0; i < NJ; i++)
            pthread_join(th[i], NULL);
        for (int i = 0; i < NJ; i++)
            CHECK(jobs[i].st == HARK_OK && jobs[i].same, "%s (copy %d): batched != alone",
                  jobs[i].c->name, i / NC);
        hark_batch_stats bs;
        CHECK_OK(hark_batch_get_stats(b, &bs));
        printf("batch: %llu rounds, %llu decode calls in %llu backend calls (at most %d merged), "
               "%llu rows; %llu encode calls in %llu\n", (unsigned long long)bs.rounds,
               (unsigned long long)bs.decode_calls, (unsigned long long)bs.decode_batches,
               bs.max_decode_calls, (unsigned long long)bs.decode_rows,
               (unsigned long long)bs.encode_calls, (unsigned long long)bs.encode_batches);
        CHECK(bs.max_decode_calls > 1 && bs.decode_batches < bs.decode_calls,
              "no decode calls were merged (%d at most)", bs.max_decode_calls);
        uint64_t by_calls = 0;
        for (int k = 0; k < 8; k++)
            by_calls += bs.rounds_by_calls[k];
        CHECK(by_calls == bs.rounds && bs.rounds_timed_out <= bs.rounds,
              "round histogram %llu of %llu rounds", (unsigned long long)by_calls,
              (unsigned long long)bs.rounds);
        CHECK(bs.states == 0 && bs.free_windows == bp.max_windows &&
              bs.free_sequences == bp.max_sequences,
              "slots not given back: %d states, %d windows, %d sequences free", bs.states,
              bs.free_windows, bs.free_sequences);

        /* more than the batch holds: refused at once */
        hark_state_params big = hark_state_default_params();
        big.max_sequences = bp.max_sequences + 1;
        hark_state *s = NULL;
        CHECK(hark_batch_state_new(b, &big, &s) == HARK_ERR_CAPACITY && s == NULL,
              "a state larger than the batch was not refused");
        /* a state used for the stage calls directly */
        CHECK_OK(hark_batch_state_new(b, NULL, &s));
        CHECK(hark_batch_warmup(b) == HARK_ERR_INVALID_ARG, "a warm-up with a state live ran");
        if (s) {
            float probs[200];
            int best = -1;
            CHECK_OK(hark_detect_language(s, jfk, n_jfk, probs, &best));
            CHECK(best >= 0, "language detection through the batch gave %d", best);
            hark_decode_entry bad = { .seq = 3, .window = 0, .token = 0, .pos = 0 };
            float lg[1];
            CHECK(hark_decode(s, &bad, 1, lg) == HARK_ERR_INVALID_ARG,
                  "a sequence slot the state does not own was accepted");
        }
        hark_state_free(s);
    }
    hark_batch_free(b);
    CHECK(hark_batch_new(NULL, NULL, &b) == HARK_ERR_INVALID_ARG, "a batch without a model");
    hark_batch_params bad_bits = hark_batch_default_params();
    bad_bits.cross_kv_bits = 5;
    CHECK(hark_batch_new(m, &bad_bits, &b) == HARK_ERR_INVALID_ARG && !b, "cross_kv_bits 5");
    hark_batch_free(NULL);
    for (int i = 0; i < NC; i++)
        hark_state_free(alone[i]);
    hark_model_free(m);
    free(longa);
    hark_free(jfk);
    TEST_MAIN_END();
}
