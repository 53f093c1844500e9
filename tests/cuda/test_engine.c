/*
 * test_engine.c — the CUDA backend against the independent reference (transformers float64
 * goldens in tests/data) and against the CPU backend, on the reduced random models:
 *  - fp32 weights on the GPU: logits within 1e-4 of the reference, greedy sequence identical;
 *  - fp16 / bf16: logits within 1e-2, teacher-forced greedy agreement >= 99%;
 *  - in-flight batching: sequences of different lengths on different windows joining and
 *    leaving between steps give the logits and tokens of each sequence run alone;
 *  - kv_copy (beam forks), sequence release and reuse, bad entries, a missing device;
 *  - transcripts (greedy, beam 5, word timestamps: the cross-attention scores) equal the CPU's;
 *  - greedy without timestamps picks on the device (decode_pick), on a plain and a batch state,
 *    with the CPU's transcript;
 *  - int8 and int4 quantized models: the GPU's logits against the CPU's on the same file.
 * Runs only where a GPU is (make test-cuda).
 */
#include "hark.h"
#include <cuda_runtime_api.h>
#include "npy.h"
#include "test.h"

#include "golden.h"

#include <math.h>
#include <pthread.h>
#include <string.h>

static json_t *golden;
static char model_path[1024];

static hark_model *load(const char *arch, int dtype)
{
    snprintf(model_path, sizeof(model_path), "%s/cuda-%s.hark", HARK_BINARY_DIR, arch);
    hark_convert_params cp = hark_convert_default_params();
    CHECK_OK(hark_convert_random(arch, 1, model_path, &cp));
    hark_model_params mp = hark_model_default_params();
    mp.device = "cuda:0";
    mp.dtype = dtype;
    hark_model *m = NULL;
    CHECK_OK(hark_model_load(model_path, &mp, &m));
    return m;
}

static const char *dt_name(int dt)
{
    return dt == HARK_DTYPE_F32 ? "f32" : dt == HARK_DTYPE_F16 ? "f16" : "bf16";
}

/* Parity with the goldens for one architecture and dtype. */
static void check_golden(const char *arch, const char *mel_name, int dt, int kv_bits)
{
    json_t *g = json_object_get(golden, arch);
    hark_model *m = load(arch, dt);
    if (!m || !g)
        return;
    hark_model_dims d = hark_model_get_dims(m);
    char p[1024];
    snprintf(p, sizeof(p), "%s/tests/data/%s", HARK_SOURCE_DIR, mel_name);
    npy_array mel;
    if (npy_load(p, &mel) != 0) {
        CHECK(0, "missing %s", p);
        hark_model_free(m);
        return;
    }
    hark_state *s = NULL;
    hark_state_params sp = hark_state_default_params();
    sp.cross_kv_bits = kv_bits;
    CHECK_OK(hark_state_new(m, &sp, &s));
    CHECK_OK(hark_encode(s, mel.data, 1));
    double tol = dt == HARK_DTYPE_F32 && kv_bits == 16 ? 1e-4 : 1e-2;

    int32_t tokens[448], rows[16];
    int nt = json_ints(json_object_get(g, "tokens"), tokens, 448);
    int nr = json_ints(json_object_get(g, "logit_rows"), rows, 16);
    snprintf(p, sizeof(p), "%s/tests/data/%s_logits.npy", HARK_SOURCE_DIR, arch);
    npy_array lg;
    if (nr > 0 && npy_load(p, &lg) == 0) {
        /* one token per call: the small-batch (GEMV) path; the agreement check below runs the
         * whole sequence as one call (the cuBLASLt path) */
        float *all = malloc((size_t)nt * d.n_vocab * sizeof(float));
        for (int i = 0; i < nt; i++) {
            hark_decode_entry e1 = { .token = tokens[i], .pos = i, .want_logits = 1 };
            CHECK_OK(hark_decode(s, &e1, 1, all + (size_t)i * d.n_vocab));
        }
        double worst = 0;
        for (int r = 0; r < nr; r++) {
            double err = test_rel_l2(all + (size_t)rows[r] * d.n_vocab,
                                     (float *)lg.data + (size_t)r * d.n_vocab, (size_t)d.n_vocab);
            worst = err > worst ? err : worst;
        }
        printf("%s %s%s: logits worst rel L2 %.3e (gate %.0e)\n", arch, dt_name(dt),
               kv_bits == 8 ? " int8 cross K/V" : "", worst, tol);
        CHECK(worst <= tol, "%s %s logits rel L2 %.3e", arch, dt_name(dt), worst);
        free(all);
        npy_free(&lg);
    }

    /* teacher-forced greedy agreement with the reference's 100-step sequence, and for fp32 the
     * free-running greedy sequence itself */
    int32_t prompt[8], want[448];
    int np = json_ints(json_object_get(g, "prompt"), prompt, 8);
    int ng = json_ints(json_object_get(g, "greedy"), want, 448);
    hark_decode_entry e[448];
    for (int i = 0; i < np; i++)
        e[i] = (hark_decode_entry){ .token = prompt[i], .pos = i, .want_logits = 1 };
    for (int i = 0; i < ng - 1; i++)
        e[np + i] = (hark_decode_entry){ .token = want[i], .pos = np + i, .want_logits = 1 };
    float *all = malloc((size_t)(np + ng) * d.n_vocab * sizeof(float));
    CHECK_OK(hark_decode(s, e, np + ng - 1, all));
    int agree = 0;
    for (int i = 0; i < ng; i++)
        agree += argmax_f(all + (size_t)(np - 1 + i) * d.n_vocab, d.n_vocab) == want[i];
    printf("%s %s%s: teacher-forced greedy agreement %d/%d\n", arch, dt_name(dt),
           kv_bits == 8 ? " int8 cross K/V" : "", agree, ng);
    CHECK(agree * 100 >= 99 * ng, "%s %s agreement %d/%d", arch, dt_name(dt), agree, ng);
    free(all);
    if (dt == HARK_DTYPE_F32 && kv_bits == 16) {
        int32_t tok[1];
        for (int i = 0; i < np; i++)
            e[i] = (hark_decode_entry){ .token = prompt[i], .pos = i, .want_logits = i == np - 1 };
        CHECK_OK(hark_decode_argmax(s, e, np, 0, tok));
        int same = 0;
        for (int step = 0; step < ng && tok[0] == want[step]; step++) {
            same++;
            hark_decode_entry x = { .token = tok[0], .pos = np + step, .want_logits = 1 };
            if (hark_decode_argmax(s, &x, 1, 0, tok) != HARK_OK)
                break;
        }
        printf("%s f32: free-running greedy %d/%d identical\n", arch, same, ng);
        CHECK(same == ng, "%s f32 greedy diverges at step %d", arch, same);
    }
    npy_free(&mel);
    hark_state_free(s);
    hark_model_free(m);
}

/* A state of m with two windows of random log-mel (seed r) encoded and max_seqs sequence slots. */
static hark_state *two_windows(hark_model *m, uint32_t r, int max_seqs)
{
    hark_model_dims d = hark_model_get_dims(m);
    const size_t n = (size_t)2 * d.n_mels * HARK_N_FRAMES;
    float *mel = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) {
        r = r * 1664525u + 1013904223u;
        mel[i] = (float)((double)(r >> 8) / 16777216.0 * 2.0 - 1.0);
    }
    hark_state_params sp = hark_state_default_params();
    sp.max_windows = 2;
    sp.max_sequences = max_seqs;
    hark_state *s = NULL;
    CHECK_OK(hark_state_new(m, &sp, &s));
    if (s)
        CHECK_OK(hark_encode(s, mel, 2));
    free(mel);
    return s;
}

/* Three sequences on two windows, joining and leaving between steps, against each alone. */
static void check_batching(int dt)
{
    hark_model *m = load("tiny-test", dt);
    if (!m)
        return;
    hark_model_dims d = hark_model_get_dims(m);
    const int V = d.n_vocab, STEPS = 12;
    /* reference: each sequence alone in its own state */
    int starts[3] = { 0, 3, STEPS }, wins[3] = { 0, 1, 0 }, first_tok[3] = { 50258, 50259, 50260 };
    float *ref = malloc((size_t)3 * STEPS * V * sizeof(float));
    int32_t toks[3][64];
    for (int q = 0; q < 3; q++) {
        hark_state *s = two_windows(m, 7, 1);
        int32_t t = first_tok[q];
        for (int i = 0; i < STEPS; i++) {
            toks[q][i] = t;
            hark_decode_entry e = { .seq = 0, .window = wins[q], .token = t, .pos = i, .want_logits = 1 };
            CHECK_OK(hark_decode(s, &e, 1, ref + ((size_t)q * STEPS + i) * V));
            t = argmax_f(ref + ((size_t)q * STEPS + i) * V, V);
        }
        hark_state_free(s);
    }
    /* batched: sequence q joins at step starts[q]; sequence 0 leaves after its last step and
     * sequence 2 takes its slot from the next step on */
    hark_state *s = two_windows(m, 7, 2);
    int slot_of[3] = { 0, 1, 0 };
    double worst = 0;
    int same_tokens = 1;
    float *lg = malloc((size_t)3 * V * sizeof(float));
    for (int step = 0; step < 2 * STEPS; step++) {
        hark_decode_entry e[3];
        int q_of[3], n = 0;
        for (int q = 0; q < 3; q++) {
            int i = step - starts[q];
            if (i < 0 || i >= STEPS)
                continue;
            e[n] = (hark_decode_entry){ .seq = slot_of[q], .window = wins[q], .token = toks[q][i],
                                        .pos = i, .want_logits = 1 };
            q_of[n++] = q;
        }
        if (n == 0)
            continue;
        CHECK_OK(hark_decode(s, e, n, lg));
        for (int k = 0; k < n; k++) {
            const float *want = ref + ((size_t)q_of[k] * STEPS + e[k].pos) * V;
            double err = test_rel_l2(lg + (size_t)k * V, want, (size_t)V);
            worst = err > worst ? err : worst;
            same_tokens &= argmax_f(lg + (size_t)k * V, V) == argmax_f(want, V);
        }
        if (step == STEPS - 1)
            CHECK_OK(hark_sequence_free(s, 0)); /* sequence 0 leaves; 2 takes its slot */
    }
    double tol = dt == HARK_DTYPE_F32 ? 1e-5 : 5e-3;
    printf("batching %s: worst rel L2 vs alone %.3e, tokens %s\n", dt_name(dt), worst,
           same_tokens ? "identical" : "DIFFER");
    CHECK(worst <= tol, "batching %s rel L2 %.3e", dt_name(dt), worst);
    CHECK(same_tokens, "batching %s changed tokens", dt_name(dt));

    /* bad entries are refused with an error, and the state keeps working */
    hark_decode_entry bad = { .seq = 9, .token = 1, .pos = 0, .want_logits = 1 };
    CHECK(hark_decode(s, &bad, 1, lg) == HARK_ERR_INVALID_ARG, "bad slot accepted");
    bad = (hark_decode_entry){ .seq = 0, .token = V, .pos = 0, .want_logits = 1 };
    CHECK(hark_decode(s, &bad, 1, lg) == HARK_ERR_INVALID_ARG, "bad token accepted");
    bad = (hark_decode_entry){ .seq = 0, .token = 1, .pos = d.n_text_ctx, .want_logits = 1 };
    CHECK(hark_decode(s, &bad, 1, lg) == HARK_ERR_CAPACITY, "position past the context accepted");
    free(lg);
    free(ref);
    hark_state_free(s);
    hark_model_free(m);
}

/* hark_decode_greedy (the passes back to back on the device, each pick fed to the next pass
 * there) gives the tokens of a host loop of hark_decode_argmax, for one and for three sequences
 * (a padded bucket) on two windows, after prompts of different lengths; bad calls are refused. */
static void check_greedy(int dt)
{
    hark_model *m = load("tiny-test", dt);
    if (!m)
        return;
    hark_model_dims d = hark_model_get_dims(m);
    hark_state *s = two_windows(m, 11, 3);
    enum { STEPS = 40 };
    const int limit = 50257; /* the end-of-text id and above masked, as the bench */
    for (int n = 1; n <= 3; n += 2) {
        int32_t host[STEPS][3], dev[STEPS * 3], first[3];
        hark_decode_entry e[3];
        for (int pass = 0; pass < 2; pass++) {
            /* prompts of 1 + q tokens, then the first pick */
            for (int q = 0; q < n; q++) {
                hark_decode_entry p[3];
                for (int i = 0; i <= q; i++)
                    p[i] = (hark_decode_entry){ .seq = q, .window = q % 2, .token = 50258 + i,
                                                .pos = i, .want_logits = i == q };
                CHECK_OK(hark_decode_argmax(s, p, q + 1, limit, &first[q]));
                e[q] = (hark_decode_entry){ .seq = q, .window = q % 2, .token = first[q],
                                            .pos = q + 1, .want_logits = 1 };
            }
            if (pass == 0) {
                for (int t = 0; t < STEPS; t++) {
                    CHECK_OK(hark_decode_argmax(s, e, n, limit, host[t]));
                    for (int q = 0; q < n; q++)
                        e[q].token = host[t][q], e[q].pos++;
                }
            } else {
                CHECK_OK(hark_decode_greedy(s, e, n, STEPS, limit, dev));
            }
        }
        int same = 1; /* dev is [STEPS][n] */
        for (int t = 0; t < STEPS; t++)
            for (int q = 0; q < n; q++)
                same &= dev[t * n + q] == host[t][q];
        printf("greedy %s, %d sequence%s: %d device-fed steps %s the host loop's\n", dt_name(dt), n,
               n > 1 ? "s" : "", STEPS, same ? "identical to" : "DIFFER from");
        CHECK(same, "greedy %s %d sequences differs from the host loop", dt_name(dt), n);
    }
    hark_decode_entry bad[2] = { { .seq = 0, .token = 1, .pos = 5, .want_logits = 1 },
                                 { .seq = 0, .token = 1, .pos = 9, .want_logits = 1 } };
    int32_t out[8];
    CHECK(hark_decode_greedy(s, bad, 2, 2, limit, out) == HARK_ERR_INVALID_ARG,
          "greedy: one sequence twice accepted");
    bad[0].pos = d.n_text_ctx - 2;
    CHECK(hark_decode_greedy(s, bad, 1, 4, limit, out) == HARK_ERR_INVALID_ARG,
          "greedy: steps past the context accepted");
    bad[0].pos = 5, bad[0].want_logits = 0;
    CHECK(hark_decode_greedy(s, bad, 1, 2, limit, out) == HARK_ERR_INVALID_ARG,
          "greedy: an entry without logits accepted");
    hark_state_free(s);
    hark_model_free(m);
}

/* The whole transcription (seek loop, timestamps, beam search) on the GPU in fp32 gives the
 * CPU's segments on a reduced model. */
/* Loads the model at path on the CPU (k 0, the file's dtype) or on cuda:0 (k 1, cuda_dtype),
 * with a default state when it loaded (*s NULL otherwise). */
static void load_on(const char *path, int k, int cuda_dtype, hark_model **m, hark_state **s)
{
    hark_model_params mp = hark_model_default_params();
    mp.device = k ? "cuda:0" : "cpu";
    mp.dtype = k ? cuda_dtype : -1;
    *m = NULL;
    *s = NULL;
    CHECK_OK(hark_model_load(path, &mp, m));
    if (*m)
        CHECK_OK(hark_state_new(*m, NULL, s));
}

/* The transcript checks' model (random tiny-test, seed 1, written to path) and audio (jfk). */
static void transcribe_setup(char *path, size_t cap, float **pcm, size_t *n)
{
    char wav[1024];
    snprintf(path, cap, "%s/cuda-tr.hark", HARK_BINARY_DIR);
    hark_convert_params cp = hark_convert_default_params();
    CHECK_OK(hark_convert_random("tiny-test", 1, path, &cp));
    *pcm = NULL;
    *n = 0;
    CHECK_OK(hark_audio_load(test_src("samples/jfk.wav", wav, sizeof(wav)), pcm, n));
}

static void check_transcribe(int beam, int words)
{
    char path[1024];
    float *pcm;
    size_t n;
    transcribe_setup(path, sizeof(path), &pcm, &n);
    char *text[2] = { NULL, NULL };
    int nseg[2] = { 0, 0 };
    for (int k = 0; k < 2; k++) {
        hark_model *m;
        hark_state *s;
        load_on(path, k, HARK_DTYPE_F32, &m, &s);
        hark_full_params p = hark_full_default_params();
        p.language = "en";
        p.beam_size = beam;
        p.max_tokens = 40;
        p.word_timestamps = words;
        if (s && hark_transcribe(s, pcm, n, &p) == HARK_OK) {
            nseg[k] = hark_n_segments(s);
            size_t len = 1;
            for (int i = 0; i < nseg[k]; i++)
                len += strlen(hark_segment_text(s, i)) + 32 + 48 * hark_segment_n_words(s, i);
            text[k] = calloc(len, 1);
            for (int i = 0; i < nseg[k]; i++) {
                sprintf(text[k] + strlen(text[k]), "[%.2f %.2f]%s", hark_segment_t0(s, i),
                        hark_segment_t1(s, i), hark_segment_text(s, i));
                for (int j = 0; j < hark_segment_n_words(s, i); j++) {
                    hark_word_info w;
                    hark_segment_get_word(s, i, j, &w);
                    sprintf(text[k] + strlen(text[k]), "<%.2f %.2f>", w.t0, w.t1);
                }
            }
        }
        hark_state_free(s);
        hark_model_free(m);
    }
    printf("transcribe beam %d%s: cpu %d segments, cuda %d segments, %s\n", beam,
           words ? " with word timestamps" : "", nseg[0], nseg[1],
           text[0] && text[1] && strcmp(text[0], text[1]) == 0 ? "identical" : "DIFFERENT");
    CHECK(text[0] && text[1] && strcmp(text[0], text[1]) == 0, "cpu and cuda transcripts differ");
    free(text[0]);
    free(text[1]);
    hark_free(pcm);
}

/* Greedy without timestamps picks its tokens on the device (decode_pick; cu_pick): the CPU's
 * transcript (rules and argmax on the host) against CUDA fp32 on a plain state and on a batch
 * state (the engine's loop), with three requests in flight at once on the batch. */
typedef struct pick_job {
    hark_batch *b;
    const float *pcm;
    size_t n;
    char text[4096];
    double avg_logprob;
    hark_status st;
} pick_job;

static void pick_params(hark_full_params *p)
{
    *p = hark_full_default_params();
    p->language = "en";
    p->timestamps = 0;
    p->max_tokens = 40;
    p->temperature_increment = 0;
}

static void pick_text(hark_state *s, char *out, size_t n, double *avg)
{
    out[0] = 0;
    *avg = 0;
    for (int i = 0; i < hark_n_segments(s); i++) {
        hark_segment_info info;
        snprintf(out + strlen(out), n - strlen(out), "%s|", hark_segment_text(s, i));
        if (hark_segment_get_info(s, i, &info) == HARK_OK)
            *avg += info.avg_logprob;
    }
}

static void *pick_run(void *arg)
{
    pick_job *j = arg;
    hark_state *s = NULL;
    j->st = hark_batch_state_new(j->b, NULL, &s);
    hark_full_params p;
    pick_params(&p);
    if (j->st == HARK_OK)
        j->st = hark_transcribe(s, j->pcm, j->n, &p);
    if (j->st == HARK_OK)
        pick_text(s, j->text, sizeof(j->text), &j->avg_logprob);
    hark_state_free(s);
    return NULL;
}

static void check_pick_transcribe(void)
{
    char path[1024];
    float *pcm;
    size_t n;
    transcribe_setup(path, sizeof(path), &pcm, &n);
    char text[2][4096] = { "", "" };
    double avg[2] = { 0, 0 };
    for (int k = 0; k < 2; k++) {
        hark_model *m;
        hark_state *s;
        load_on(path, k, HARK_DTYPE_F32, &m, &s);
        hark_full_params p;
        pick_params(&p);
        if (s && hark_transcribe(s, pcm, n, &p) == HARK_OK)
            pick_text(s, text[k], sizeof(text[k]), &avg[k]);
        hark_state_free(s);
        if (k == 1 && m) { /* the batch engine on the GPU */
            hark_batch *b = NULL;
            hark_batch_params bp = hark_batch_default_params();
            bp.max_windows = 4;
            bp.max_sequences = 8;
            CHECK_OK(hark_batch_new(m, &bp, &b));
            pick_job jobs[3];
            pthread_t th[3];
            for (int i = 0; b && i < 3; i++) {
                jobs[i] = (pick_job){ .b = b, .pcm = pcm, .n = n };
                pthread_create(&th[i], NULL, pick_run, &jobs[i]);
            }
            for (int i = 0; b && i < 3; i++) {
                pthread_join(th[i], NULL);
                CHECK(jobs[i].st == HARK_OK && strcmp(jobs[i].text, text[0]) == 0 &&
                          fabs(jobs[i].avg_logprob - avg[0]) < 1e-3,
                      "batch job %d: '%s' (%.5f) vs cpu '%s' (%.5f)", i, jobs[i].text,
                      jobs[i].avg_logprob, text[0], avg[0]);
            }
            hark_batch_free(b);
        }
        hark_model_free(m);
    }
    printf("greedy picks on the device: cpu '%.60s' (%.5f), cuda '%.60s' (%.5f)\n", text[0],
           avg[0], text[1], avg[1]);
    CHECK(text[0][0] && strcmp(text[0], text[1]) == 0 && fabs(avg[0] - avg[1]) < 1e-3,
          "cpu and cuda greedy transcripts differ");
    hark_free(pcm);
}

/* Every GPU of the machine, and one engine per GPU in one process: the same model on cuda:N
 * gives cuda:0's logits (fp32 weights: identical up to rounding). Skips with one GPU. */
static void check_devices(void)
{
    int n = 0;
    cudaGetDeviceCount(&n);
    if (n < 2) {
        printf("devices: %d GPU, the multi-GPU check skipped\n", n);
        return;
    }
    char path[1024], mp_path[1024];
    snprintf(path, sizeof(path), "%s/cuda-multi.hark", HARK_BINARY_DIR);
    hark_convert_params cp = hark_convert_default_params();
    CHECK_OK(hark_convert_random("tiny-test", 1, path, &cp));
    snprintf(mp_path, sizeof(mp_path), "%s/tests/data/mel_jfk_80.npy", HARK_SOURCE_DIR);
    npy_array mel;
    if (npy_load(mp_path, &mel) != 0)
        return;
    hark_model *m[8] = { 0 };
    hark_state *s[8] = { 0 };
    float *lg[8] = { 0 };
    if (n > 8)
        n = 8;
    int V = 0;
    for (int k = 0; k < n; k++) { /* all engines alive at once */
        char dev[16];
        snprintf(dev, sizeof(dev), "cuda:%d", k);
        hark_model_params mp = hark_model_default_params();
        mp.device = dev;
        mp.dtype = HARK_DTYPE_F32;
        CHECK_OK(hark_model_load(path, &mp, &m[k]));
        if (!m[k])
            continue;
        CHECK_OK(hark_state_new(m[k], NULL, &s[k]));
        V = hark_model_get_dims(m[k]).n_vocab;
        hark_stats st;
        CHECK_OK(hark_state_stats(s[k], &st));
        printf("engine %d on %s\n", k, st.device);
        CHECK(st.device && strstr(st.device, dev) == st.device, "engine %d reports %s", k,
              st.device ? st.device : "(null)");
    }
    hark_special_tokens sp = m[0] ? hark_model_special_tokens(m[0]) : (hark_special_tokens){ 0 };
    for (int k = 0; k < n; k++) { /* interleaved work on every GPU */
        if (!s[k])
            continue;
        lg[k] = malloc((size_t)V * sizeof(float));
        CHECK_OK(hark_encode(s[k], mel.data, 1));
    }
    for (int k = 0; k < n; k++) {
        if (!s[k])
            continue;
        hark_decode_entry e[3] = { { 0, 0, sp.sot, 0, 0 }, { 0, 0, sp.lang_first, 1, 0 },
                                   { 0, 0, sp.transcribe, 2, 1 } };
        CHECK_OK(hark_decode(s[k], e, 3, lg[k]));
    }
    for (int k = 1; k < n; k++) {
        if (!lg[k] || !lg[0])
            continue;
        double worst = 0;
        for (int v = 0; v < V; v++) {
            double d = fabs(lg[k][v] - lg[0][v]);
            worst = d > worst ? d : worst;
        }
        printf("cuda:%d vs cuda:0: worst logit difference %.2e\n", k, worst);
        CHECK(worst < 1e-4, "cuda:%d differs from cuda:0 by %.2e", k, worst);
    }
    for (int k = 0; k < n; k++) {
        free(lg[k]);
        hark_state_free(s[k]);
        hark_model_free(m[k]);
    }
    npy_free(&mel);
}

/* int8 cross K/V through the whole transcription, word timestamps included (their scores come
 * from the int8 keys): it runs and gives words. */
static void check_kvq_transcribe(int bits)
{
    char path[1024], wav[1024];
    snprintf(path, sizeof(path), "%s/cuda-tr.hark", HARK_BINARY_DIR);
    float *pcm = NULL;
    size_t n = 0;
    CHECK_OK(hark_audio_load(test_src("samples/jfk.wav", wav, sizeof(wav)), &pcm, &n));
    hark_model_params mp = hark_model_default_params();
    mp.device = "cuda:0";
    hark_model *m = NULL;
    CHECK_OK(hark_model_load(path, &mp, &m));
    hark_state_params sp = hark_state_default_params();
    sp.cross_kv_bits = bits;
    hark_state *s = NULL;
    if (m)
        CHECK_OK(hark_state_new(m, &sp, &s));
    hark_full_params p = hark_full_default_params();
    p.language = "en";
    p.max_tokens = 40;
    p.word_timestamps = 1;
    int words = 0;
    if (s && pcm) {
        CHECK_OK(hark_transcribe(s, pcm, n, &p));
        for (int i = 0; i < hark_n_segments(s); i++)
            words += hark_segment_n_words(s, i);
        printf("int%d cross K/V transcribe with words: %d segments, %d words\n", bits,
               hark_n_segments(s), words);
    }
    CHECK(words > 0, "int%d cross K/V: no words", bits);
    sp.cross_kv_bits = 2;
    hark_state *bad = NULL;
    CHECK(m && hark_state_new(m, &sp, &bad) == HARK_ERR_INVALID_ARG && !bad, "cross_kv_bits 2");
    hark_state_free(s);
    hark_model_free(m);
    hark_free(pcm);
}

/* Quantized models (docs/quant.md): the GPU against the CPU backend on the same quantized file
 * (the CPU multiplies the same dequantized values in fp32), over a prompt and 40 teacher-forced
 * tokens: one row per call (the quantized small-batch kernel) and all rows in one call (the
 * dequantized operand through cuBLASLt). Logits within 1e-4 with fp32 activations, 1e-2 with
 * fp16; argmax agreement >= 99%. */
/* Teacher-forced comparison over 44 steps of s_ref's greedy tokens (the prompt first): test
 * row by row (*err1) and all rows in one call (*errn), relative L2 of the logits against ref,
 * and how many steps' argmaxes agree (*agree). Both states hold their window 0 encoded. */
enum { NT = 44 };
static void teacher_forced(hark_model *m, hark_state *s_ref, hark_state *s_test, double *err1,
                           double *errn, int *agree)
{
    hark_model_dims d = hark_model_get_dims(m);
    hark_special_tokens sp = hark_model_special_tokens(m);
    hark_decode_entry e[NT];
    int32_t tok[NT] = { sp.sot, sp.lang_first, sp.transcribe, sp.no_timestamps };
    const int np = hark_model_is_multilingual(m) ? 4 : 2;
    if (np == 2)
        tok[1] = sp.no_timestamps;
    float *ref = malloc((size_t)NT * d.n_vocab * sizeof(float));
    float *one = malloc((size_t)NT * d.n_vocab * sizeof(float));
    float *all = malloc((size_t)NT * d.n_vocab * sizeof(float));
    for (int i = 0; i < NT; i++) {
        if (i >= np)
            tok[i] = argmax_f(ref + (size_t)(i - 1) * d.n_vocab, d.n_vocab);
        hark_decode_entry x = { .token = tok[i], .pos = i, .want_logits = 1 };
        CHECK_OK(hark_decode(s_ref, &x, 1, ref + (size_t)i * d.n_vocab));
        CHECK_OK(hark_decode(s_test, &x, 1, one + (size_t)i * d.n_vocab));
        e[i] = x;
    }
    CHECK_OK(hark_decode(s_test, e, NT, all));
    *err1 = test_rel_l2(one, ref, (size_t)NT * d.n_vocab);
    *errn = test_rel_l2(all, ref, (size_t)NT * d.n_vocab);
    *agree = 0;
    for (int i = 0; i < NT; i++)
        *agree += argmax_f(one + (size_t)i * d.n_vocab, d.n_vocab) ==
                  argmax_f(ref + (size_t)i * d.n_vocab, d.n_vocab);
    free(ref), free(one), free(all);
}

static int load_mel(const char *mel_name, npy_array *mel)
{
    char p[1024];
    snprintf(p, sizeof(p), "%s/tests/data/%s", HARK_SOURCE_DIR, mel_name);
    if (npy_load(p, mel) != 0) {
        CHECK(0, "missing %s", p);
        return -1;
    }
    return 0;
}

static void check_quant(const char *arch, const char *mel_name, int qbits, int group, int dt)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/cuda-q%d-%s.hark", HARK_BINARY_DIR, qbits, arch);
    hark_convert_params cp = hark_convert_default_params();
    cp.quant = qbits == 8 ? HARK_QUANT_INT8 : HARK_QUANT_INT4;
    cp.group = group;
    CHECK_OK(hark_convert_random(arch, 5, path, &cp));
    npy_array mel;
    if (load_mel(mel_name, &mel) != 0)
        return;
    hark_model *m[2] = { NULL, NULL };
    hark_state *s[2] = { NULL, NULL };
    for (int k = 0; k < 2; k++) {
        load_on(path, k, dt, &m[k], &s[k]);
        if (s[k])
            CHECK_OK(hark_encode(s[k], mel.data, 1));
    }
    if (s[0] && s[1]) { /* the CPU's greedy tokens, then every row in one call on each backend */
        const double tol = dt == HARK_DTYPE_F32 ? 1e-4 : 1e-2;
        double err1, errn;
        int agree;
        teacher_forced(m[0], s[0], s[1], &err1, &errn, &agree);
        printf("%s int%d/%d %s: logits vs cpu rel L2 %.2e (row by row), %.2e (one call); "
               "argmax %d/%d\n", arch, qbits, group, dt_name(dt), err1, errn, agree, NT);
        CHECK(err1 <= tol && errn <= tol, "%s int%d %s: rel L2 %.3e / %.3e > %.0e", arch, qbits,
              dt_name(dt), err1, errn, tol);
        CHECK(agree * 100 >= 99 * NT, "%s int%d %s: argmax agreement %d/%d", arch, qbits,
              dt_name(dt), agree, NT);
    }
    if (s[0] && dt == HARK_DTYPE_F16) { /* the FP8 encoder of a quantized file (dequantized, then
                                           to FP8 at load): within the FP8 gates of check_fp8 */
        hark_model_params mp = hark_model_default_params();
        mp.device = "cuda:0";
        mp.dtype = dt;
        mp.encoder_fp8 = 1;
        hark_model *m8 = NULL;
        hark_state *s8 = NULL;
        CHECK_OK(hark_model_load(path, &mp, &m8));
        if (m8)
            CHECK_OK(hark_state_new(m8, NULL, &s8));
        if (s8 && hark_encode(s8, mel.data, 1) == HARK_OK) {
            double err1, errn;
            int agree;
            teacher_forced(m[0], s[0], s8, &err1, &errn, &agree);
            printf("%s int%d/%d + fp8 encoder: logits vs cpu rel L2 %.2e, argmax %d/%d\n", arch,
                   qbits, group, err1, agree, NT);
            CHECK(err1 <= 5e-2 && errn <= 5e-2 && agree * 100 >= 90 * NT,
                  "%s int%d + fp8: rel L2 %.3e / %.3e, argmax %d/%d", arch, qbits, err1, errn,
                  agree, NT);
        }
        hark_state_free(s8);
        hark_model_free(m8);
    }
    for (int k = 0; k < 2; k++) {
        hark_state_free(s[k]);
        hark_model_free(m[k]);
    }
    npy_free(&mel);
}

/* int4 cross-attention K/V against the same model's 16-bit ones on the GPU: teacher-forced logits
 * within the fp16 gate (rel. L2 1e-2; measured 3e-3 to 8e-3) and 95% argmax agreement. */
static void check_kv4(const char *arch, const char *mel_name, int dt)
{
    npy_array mel;
    if (load_mel(mel_name, &mel) != 0)
        return;
    hark_model *m = load(arch, dt);
    hark_state *s[2] = { NULL, NULL };
    for (int k = 0; k < 2 && m; k++) {
        hark_state_params sp = hark_state_default_params();
        sp.cross_kv_bits = k ? 4 : 16;
        CHECK_OK(hark_state_new(m, &sp, &s[k]));
        if (s[k])
            CHECK_OK(hark_encode(s[k], mel.data, 1));
    }
    if (s[0] && s[1]) {
        double err1, errn;
        int agree;
        teacher_forced(m, s[0], s[1], &err1, &errn, &agree);
        printf("%s int4 cross K/V %s: logits vs 16-bit rel L2 %.2e (row by row) %.2e (one call), "
               "argmax %d/%d\n", arch, dt_name(dt), err1, errn, agree, NT);
        CHECK(err1 <= 1e-2 && errn <= 1e-2 && agree * 100 >= 95 * NT,
              "%s int4 cross K/V %s: rel L2 %.3e / %.3e, argmax %d/%d", arch, dt_name(dt), err1,
              errn, agree, NT);
    }
    for (int k = 0; k < 2; k++)
        hark_state_free(s[k]);
    hark_model_free(m);
    npy_free(&mel);
}

/* The FP8 encoder (hark_model_params.encoder_fp8) against the same file's fp16/bf16 engine on
 * the GPU: encoder output and teacher-forced logits within the FP8 gates, fewer weight bytes,
 * the same result for a window encoded alone and second of two, with int8 cross K/V too, and
 * an f32 engine refused. */
static void check_fp8(const char *arch, const char *mel_name, int dt, int kv_bits)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/cuda-fp8-%s.hark", HARK_BINARY_DIR, arch);
    hark_convert_params cp = hark_convert_default_params();
    CHECK_OK(hark_convert_random(arch, 7, path, &cp));
    npy_array mel;
    if (load_mel(mel_name, &mel) != 0)
        return;
    hark_model *m[2] = { NULL, NULL };
    hark_state *s[2] = { NULL, NULL };
    hark_state_params sp = hark_state_default_params();
    sp.max_windows = 2;
    sp.cross_kv_bits = kv_bits;
    for (int k = 0; k < 2; k++) {
        hark_model_params mp = hark_model_default_params();
        mp.device = "cuda:0";
        mp.dtype = dt;
        mp.encoder_fp8 = k;
        CHECK_OK(hark_model_load(path, &mp, &m[k]));
        if (m[k])
            CHECK_OK(hark_state_new(m[k], &sp, &s[k]));
        if (s[k])
            CHECK_OK(hark_encode(s[k], mel.data, 1));
    }
    if (s[0] && s[1]) {
        hark_model_dims d = hark_model_get_dims(m[0]);
        size_t ne = (size_t)d.n_audio_ctx * d.n_audio_state;
        float *eo[3] = { malloc(ne * 4), malloc(ne * 4), malloc(ne * 4) };
        CHECK_OK(hark_encoder_output(s[0], 0, eo[0]));
        CHECK_OK(hark_encoder_output(s[1], 0, eo[1]));
        double enc_err = test_rel_l2(eo[1], eo[0], ne), err1, errn;
        int agree;
        teacher_forced(m[0], s[0], s[1], &err1, &errn, &agree);
        hark_stats st[2];
        hark_state_stats(s[0], &st[0]);
        hark_state_stats(s[1], &st[1]);
        printf("%s fp8 encoder %s, cross K/V %d bits: encoder output rel L2 %.2e, logits %.2e "
               "(row by row) %.2e (one call), argmax %d/%d; weights %.1f -> %.1f MiB\n", arch,
               dt_name(dt), kv_bits, enc_err, err1, errn, agree, NT,
               (double)st[0].weights_bytes / 1048576.0, (double)st[1].weights_bytes / 1048576.0);
        CHECK(enc_err <= 5e-2, "%s fp8 %s: encoder output rel L2 %.3e", arch, dt_name(dt), enc_err);
        CHECK(err1 <= 5e-2 && errn <= 5e-2, "%s fp8 %s: logits rel L2 %.3e / %.3e", arch,
              dt_name(dt), err1, errn);
        CHECK(agree * 100 >= 90 * NT, "%s fp8 %s: argmax %d/%d", arch, dt_name(dt), agree, NT);
        CHECK(st[1].weights_bytes < st[0].weights_bytes, "%s fp8: weights %zu >= %zu", arch,
              st[1].weights_bytes, st[0].weights_bytes);
        /* two windows in one call: the second (its own rows' scales) as the first alone */
        float *two = malloc(2 * (size_t)mel.numel * sizeof(float));
        memcpy(two, mel.data, (size_t)mel.numel * sizeof(float));
        memcpy(two + mel.numel, mel.data, (size_t)mel.numel * sizeof(float));
        CHECK_OK(hark_encode(s[1], two, 2));
        CHECK_OK(hark_encoder_output(s[1], 1, eo[2]));
        double two_err = test_rel_l2(eo[2], eo[1], ne);
        CHECK(two_err <= 1e-2, "%s fp8: window 2 of 2 vs alone rel L2 %.3e", arch, two_err);
        free(two);
        for (int i = 0; i < 3; i++)
            free(eo[i]);
    }
    for (int k = 0; k < 2; k++) {
        hark_state_free(s[k]);
        hark_model_free(m[k]);
    }
    npy_free(&mel);
    hark_model_params mp = hark_model_default_params();
    mp.device = "cuda:0";
    mp.dtype = HARK_DTYPE_F32;
    mp.encoder_fp8 = 1;
    hark_model *bad = NULL;
    hark_status st = hark_model_load(path, &mp, &bad);
    CHECK(st == HARK_ERR_UNSUPPORTED && !bad, "fp8 with an f32 engine: %s", hark_status_str(st));
    mp.dtype = HARK_DTYPE_F16;
    mp.encoder_fp8 = 2;
    st = hark_model_load(path, &mp, &bad);
    CHECK(st == HARK_ERR_INVALID_ARG && !bad, "encoder_fp8 2: %s", hark_status_str(st));
}

int main(void)
{
    int n = 0;
    hark_model_params mp = hark_model_default_params();
    mp.device = "cuda:64";
    hark_model *none = NULL;
    char p[1024];
    snprintf(p, sizeof(p), "%s/cuda-missing.hark", HARK_BINARY_DIR);
    hark_convert_params cp = hark_convert_default_params();
    CHECK_OK(hark_convert_random("nano-test", 1, p, &cp));
    hark_status st = hark_model_load(p, &mp, &none);
    CHECK(st == HARK_ERR_UNSUPPORTED && none == NULL, "cuda:64 -> %s", hark_status_str(st));
    printf("cuda:64: %s\n", hark_last_error());
    (void)n;

    snprintf(p, sizeof(p), "%s/tests/data/model_golden.json", HARK_SOURCE_DIR);
    json_error_t jerr;
    golden = json_load_file(p, 0, &jerr);
    CHECK(golden != NULL, "no goldens at %s", p);
    if (golden) {
        int dts[3] = { HARK_DTYPE_F32, HARK_DTYPE_F16, HARK_DTYPE_BF16 };
        for (int i = 0; i < 3; i++) {
            check_golden("tiny-test", "mel_jfk_80.npy", dts[i], 16);
            check_golden("v3-test", "mel_jfk_128.npy", dts[i], 16);
            check_golden("tiny-test.en", "mel_jfk_80.npy", dts[i], 16);
            /* int8 cross-attention keys and values: the fp16 gates */
            check_golden("tiny-test", "mel_jfk_80.npy", dts[i], 8);
            check_golden("v3-test", "mel_jfk_128.npy", dts[i], 8);
        }
        json_decref(golden);
    }
    check_devices();
    check_batching(HARK_DTYPE_F32);
    check_batching(HARK_DTYPE_F16);
    check_greedy(HARK_DTYPE_F32);
    check_greedy(HARK_DTYPE_F16);
    check_transcribe(0, 0);
    check_transcribe(5, 0);
    check_transcribe(0, 1);
    check_kvq_transcribe(8);
    check_kvq_transcribe(4);
    check_pick_transcribe();
    for (int q = 8; q >= 4; q -= 4)
        for (int dt = HARK_DTYPE_F32; dt <= HARK_DTYPE_F16; dt++) {
            check_quant("tiny-test", "mel_jfk_80.npy", q, 32, dt);
            check_quant("v3-test", "mel_jfk_128.npy", q, 64, dt);
        }
    for (int dt = HARK_DTYPE_F16; dt <= HARK_DTYPE_BF16; dt++) {
        check_fp8("tiny-test", "mel_jfk_80.npy", dt, 16);
        check_fp8("v3-test", "mel_jfk_128.npy", dt, 16);
    }
    check_fp8("v3-test", "mel_jfk_128.npy", HARK_DTYPE_F16, 8);
    for (int dt = HARK_DTYPE_F16; dt <= HARK_DTYPE_BF16; dt++) {
        check_kv4("tiny-test", "mel_jfk_80.npy", dt);
        check_kv4("v3-test", "mel_jfk_128.npy", dt);
    }
    TEST_MAIN_END();
}
