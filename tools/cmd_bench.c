/*
 * cmd_bench.c — `hark bench` (the work unit of bench/README.md: B windows of 30 s, mel, one
 * encoder pass, the 4-token prompt, then exactly T greedy steps with <|endoftext|> masked) and
 * `hark forward` (teacher-forced logits for the parity scripts).
 */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void bench_usage(FILE *f)
{
    fprintf(f, "usage: hark bench (-m MODEL | --arch ARCH [--seed N]) [--device cpu|cuda:N]\n"
               "                  [--dtype f16|bf16|f32] [--threads N] [--batch B[,B...]]\n"
               "                  [--tokens T] [--repeat R] [--audio FILE] [--cross-kv 16|8|4]\n"
               "                  [--fp8-encoder] [--states K]\n"
               "The work unit of bench/README.md: B windows of 30 s from PCM: log-mel, encoder,\n"
               "the 4-token prompt, then exactly T greedy decoder steps (end-of-text masked).\n"
               "Prints a table and one JSON line per batch size. --arch makes a random-weight\n"
               "model of that architecture in $TMPDIR first. --cross-kv 8|4: the GPU keeps the\n"
               "cross-attention keys and values in int8 / int4 (hark_state_params.cross_kv_bits).\n"
               "--fp8-encoder: the GPU runs the encoder's products in FP8 (docs/quant.md).\n"
               "--states K (1-8): the windows split over K states run by K threads, each state\n"
               "starting its encoder pass when the one before has finished its own, so that\n"
               "encoder passes overlap other states' decoder steps; total and RTFx only.\n");
}

/* 30 s of audio: FILE tiled, or a deterministic synthetic signal when no file is given. */
static float *bench_audio(const char *path)
{
    float *win = malloc(HARK_N_SAMPLES * sizeof(float));
    if (!win)
        return NULL;
    float *pcm = NULL;
    size_t n = 0;
    if (path && hark_audio_load(path, &pcm, &n) == HARK_OK && n > 0) {
        for (size_t i = 0; i < HARK_N_SAMPLES; i++)
            win[i] = pcm[i % n];
        hark_free(pcm);
        return win;
    }
    if (path)
        fprintf(stderr, "hark bench: %s unreadable (%s): using a synthetic signal\n", path, hark_last_error());
    uint32_t s = 1;
    for (size_t i = 0; i < HARK_N_SAMPLES; i++) {
        s = s * 1664525u + 1013904223u;
        double t = (double)i / HARK_SAMPLE_RATE;
        win[i] = (float)(0.3 * sin(6.283185307179586 * (200 + 40 * t) * t) + 0.05 * ((double)(s >> 8) / 16777216.0 - 0.5));
    }
    return win;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef struct bench_times {
    double mel, enc, prompt, steps, total;
} bench_times;

/* One run of the work unit for B windows; pcm [B][480000]. on_encoded (when set) is called
 * once the encoder pass is done, whatever its outcome. */
static hark_status bench_once(hark_model *m, hark_state *s, const float *pcm, int B, int T,
                              hark_decode_entry *e, int32_t *tok, bench_times *out,
                              void (*on_encoded)(void *), void *arg)
{
    hark_special_tokens sp = hark_model_special_tokens(m);
    double t0 = cli_now();
    hark_status st = hark_encode_pcm(s, pcm, B);
    if (on_encoded)
        on_encoded(arg);
    if (st != HARK_OK)
        return st;
    double t1 = cli_now();
    hark_stats stats;
    hark_state_stats(s, &stats);
    int prompt[4] = { sp.sot, sp.lang_first, sp.transcribe, sp.no_timestamps };
    int np = hark_model_is_multilingual(m) ? 4 : 2;
    if (np == 2)
        prompt[1] = sp.no_timestamps;
    int n = 0;
    for (int b = 0; b < B; b++)
        for (int i = 0; i < np; i++)
            e[n++] = (hark_decode_entry){ .seq = b, .window = b, .token = prompt[i], .pos = i,
                                          .want_logits = i == np - 1 };
    st = hark_decode_argmax(s, e, n, sp.eot, tok);
    if (st != HARK_OK)
        return st;
    double t2 = cli_now();
    for (int step = 0; step < T; step++) {
        for (int b = 0; b < B; b++)
            e[b] = (hark_decode_entry){ .seq = b, .window = b, .token = tok[b], .pos = np + step,
                                        .want_logits = 1 };
        st = hark_decode_argmax(s, e, B, sp.eot, tok);
        if (st != HARK_OK)
            return st;
    }
    double t3 = cli_now();
    double mel = stats.mel_ms * 1e-3, enc = stats.encoder_ms * 1e-3;
    if (mel + enc <= 0 || mel + enc > t1 - t0)
        mel = 0, enc = t1 - t0;
    *out = (bench_times){ .mel = mel, .enc = (t1 - t0) - mel, .prompt = t2 - t1,
                          .steps = t3 - t2, .total = t3 - t0 };
    return HARK_OK;
}

/* --states K: the B windows split over K states (each its own stream on the GPU), run by K
 * threads; lane k starts its encoder pass when lane k - 1 has finished its own, so that one
 * lane's encoder (compute-bound) runs beside another's decoder steps (bandwidth-bound) -- how a
 * server with several states overlaps new windows with running sequences. */
#define HARK_BENCH_MAX_STATES 8

typedef struct bench_gate {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int encoded; /* lanes whose encoder pass is done */
} bench_gate;

typedef struct bench_lane {
    hark_model *m;
    hark_state *s;
    const float *pcm;
    int B, T, index;
    hark_decode_entry *e;
    int32_t *tok;
    bench_gate *gate;
    bench_times t;
    hark_status st;
} bench_lane;

static void lane_encoded(void *arg)
{
    bench_gate *g = arg;
    pthread_mutex_lock(&g->mu);
    g->encoded++;
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->mu);
}

static void *lane_run(void *arg)
{
    bench_lane *l = arg;
    pthread_mutex_lock(&l->gate->mu);
    while (l->gate->encoded < l->index)
        pthread_cond_wait(&l->gate->cv, &l->gate->mu);
    pthread_mutex_unlock(&l->gate->mu);
    l->st = bench_once(l->m, l->s, l->pcm, l->B, l->T, l->e, l->tok, &l->t, lane_encoded, l->gate);
    return NULL;
}

/* One run of the work unit over K lanes; the wall time from the first encoder pass to the last
 * step in *total. */
static hark_status bench_lanes(bench_lane *lanes, int K, double *total)
{
    bench_gate g = { .encoded = 0 };
    pthread_mutex_init(&g.mu, NULL);
    pthread_cond_init(&g.cv, NULL);
    pthread_t th[HARK_BENCH_MAX_STATES];
    int started = 0;
    double t0 = cli_now();
    for (int k = 0; k < K; k++) {
        lanes[k].gate = &g;
        lanes[k].st = HARK_OK;
        if (pthread_create(&th[k], NULL, lane_run, &lanes[k]) != 0) {
            fprintf(stderr, "hark bench: cannot start a thread\n");
            lanes[k].st = HARK_ERR_NOMEM;
            lane_encoded(&g); /* the lanes after it must not wait for it */
            continue;
        }
        started |= 1 << k;
    }
    for (int k = 0; k < K; k++)
        if (started & (1 << k))
            pthread_join(th[k], NULL);
    *total = cli_now() - t0;
    pthread_cond_destroy(&g.cv);
    pthread_mutex_destroy(&g.mu);
    for (int k = 0; k < K; k++)
        if (lanes[k].st != HARK_OK)
            return lanes[k].st;
    return HARK_OK;
}

static int parse_batches(const char *s, long *out, int max)
{
    int n = 0;
    while (*s && n < max) {
        char *end;
        long v = strtol(s, &end, 10);
        if (end == s || v < 1 || v > 1024)
            return -1;
        out[n++] = v;
        s = *end == ',' ? end + 1 : end;
        if (*end && *end != ',')
            return -1;
    }
    return n;
}

static const char *dtype_name(int dt)
{
    return dt == HARK_DTYPE_F16 ? "f16" : dt == HARK_DTYPE_BF16 ? "bf16" : dt == HARK_DTYPE_F32 ? "f32" : "file";
}

static void bench_report(hark_model *m, hark_state *s, const char *device, int dtype, int fp8,
                         long B, long T, long threads, long R, bench_times *runs)
{
    double v[5][64];
    int nr = R < 64 ? (int)R : 64;
    for (int i = 0; i < nr; i++) {
        v[0][i] = runs[i].mel, v[1][i] = runs[i].enc, v[2][i] = runs[i].prompt;
        v[3][i] = runs[i].steps, v[4][i] = runs[i].total;
    }
    double med[5];
    for (int k = 0; k < 5; k++) {
        qsort(v[k], (size_t)nr, sizeof(double), cmp_double);
        med[k] = v[k][nr / 2];
    }
    hark_stats st;
    hark_state_stats(s, &st);
    double rtfx = (double)B * HARK_CHUNK_SECONDS / med[4];
    int group = 0, qb = hark_model_quant(m, &group);
    char quant[24] = "none";
    if (qb)
        snprintf(quant, sizeof(quant), qb == 8 ? "int8" : "int4/%d", group);
    printf("model %s%s on %s, batch %ld, %ld steps, median of %ld runs%s%s%s\n",
           hark_model_arch(m), hark_model_is_random(m) ? " (random weights)" : "",
           st.device ? st.device : device, B, T, R, qb ? ", weights " : "", qb ? quant : "",
           fp8 ? ", FP8 encoder" : "");
    printf("  mel          %9.3f ms (all %ld windows)\n", 1e3 * med[0], B);
    printf("  encoder      %9.3f ms (all %ld windows)\n", 1e3 * med[1], B);
    printf("  prompt       %9.3f ms\n", 1e3 * med[2]);
    printf("  decoder step %9.3f ms (batch %ld)\n", T ? 1e3 * med[3] / (double)T : 0.0, B);
    printf("  total        %9.3f ms, RTFx %.1f\n", 1e3 * med[4], rtfx);
    printf("  memory       weights %.1f MiB, state %.1f MiB, device peak %.1f MiB\n",
           (double)st.weights_bytes / 1048576.0, (double)st.state_bytes / 1048576.0,
           (double)st.device_peak_bytes / 1048576.0);
    printf("{\"model\":\"%s\",\"random\":%d,\"device\":\"%s\",\"dtype\":\"%s\","
           "\"quant\":\"%s\",\"encoder_fp8\":%d,\"batch\":%ld,"
           "\"tokens\":%ld,\"threads\":%ld,\"mel_ms\":%.3f,\"encoder_ms\":%.3f,\"prompt_ms\":%.3f,"
           "\"decoder_ms_per_step\":%.4f,\"total_ms\":%.3f,\"rtfx\":%.2f,\"weights_mib\":%.1f,"
           "\"state_mib\":%.1f,\"device_peak_mib\":%.1f}\n",
           hark_model_arch(m), hark_model_is_random(m), st.device ? st.device : device, dtype_name(dtype),
           quant, fp8, B, T, threads, 1e3 * med[0], 1e3 * med[1], 1e3 * med[2], T ? 1e3 * med[3] / (double)T : 0.0,
           1e3 * med[4], rtfx, (double)st.weights_bytes / 1048576.0, (double)st.state_bytes / 1048576.0,
           (double)st.device_peak_bytes / 1048576.0);
    fflush(stdout);
}

/* bench --states K: per batch size, a warm-up and R timed runs of the work unit split over K
 * states (bench_lanes); the median total, RTFx and memory. Returns the exit code. */
static int bench_states(hark_model *m, const hark_state_params *base, const char *audio_path,
                        const char *device, int dtype, int fp8, const long *batches,
                        int n_batches, long maxB, int K, long T, long R)
{
    hark_state_params spar = *base;
    spar.max_windows = spar.max_sequences = (int)((maxB + K - 1) / K);
    bench_lane lanes[HARK_BENCH_MAX_STATES];
    memset(lanes, 0, sizeof(lanes));
    float *win = bench_audio(audio_path);
    float *pcm = malloc((size_t)maxB * HARK_N_SAMPLES * sizeof(float));
    double *tot = calloc((size_t)R + 1, sizeof(double));
    int rc = 0;
    if (!win || !pcm || !tot) {
        fprintf(stderr, "hark bench: out of memory\n");
        rc = 1;
    }
    for (int k = 0; k < K && rc == 0; k++) {
        hark_status st = hark_state_new(m, &spar, &lanes[k].s);
        lanes[k].e = malloc((size_t)spar.max_windows * 4 * sizeof(hark_decode_entry));
        lanes[k].tok = malloc((size_t)spar.max_windows * 4 * sizeof(int32_t));
        if (st != HARK_OK)
            rc = cli_error("cannot create a state", st);
        else if (!lanes[k].e || !lanes[k].tok)
            rc = (fprintf(stderr, "hark bench: out of memory\n"), 1);
    }
    for (long b = 0; rc == 0 && b < maxB; b++)
        memcpy(pcm + (size_t)b * HARK_N_SAMPLES, win, HARK_N_SAMPLES * sizeof(float));
    for (int bi = 0; bi < n_batches && rc == 0; bi++) {
        const long B = batches[bi];
        int used = 0;
        long first = 0;
        for (int k = 0; k < K; k++) { /* B / K windows a lane, the remainder to the first */
            const long share = B / K + (k < B % K);
            lanes[k] = (bench_lane){ .m = m, .s = lanes[k].s, .e = lanes[k].e, .tok = lanes[k].tok,
                                     .pcm = pcm + (size_t)first * HARK_N_SAMPLES, .B = (int)share,
                                     .T = (int)T, .index = k };
            first += share;
            used += share > 0;
        }
        for (long r = 0; r <= R && rc == 0; r++) {
            hark_status st = bench_lanes(lanes, used, &tot[r ? r - 1 : R]);
            if (st != HARK_OK)
                rc = cli_error("bench run failed", st);
        }
        if (rc != 0)
            break;
        qsort(tot, (size_t)R, sizeof(double), cmp_double);
        const double med = tot[R / 2], rtfx = (double)B * HARK_CHUNK_SECONDS / med;
        hark_stats hs = { 0 };
        double state_mib = 0;
        for (int k = 0; k < used; k++) {
            hark_state_stats(lanes[k].s, &hs);
            state_mib += (double)hs.state_bytes / 1048576.0;
        }
        printf("model %s%s on %s, batch %ld over %d states, %ld steps, median of %ld runs%s\n",
               hark_model_arch(m), hark_model_is_random(m) ? " (random weights)" : "",
               hs.device ? hs.device : device ? device : "cpu", B, used, T, R,
               fp8 ? ", FP8 encoder" : "");
        printf("  total        %9.3f ms, RTFx %.1f\n", 1e3 * med, rtfx);
        printf("  memory       weights %.1f MiB, states %.1f MiB, device peak %.1f MiB\n",
               (double)hs.weights_bytes / 1048576.0, state_mib,
               (double)hs.device_peak_bytes / 1048576.0);
        printf("{\"model\":\"%s\",\"random\":%d,\"device\":\"%s\",\"dtype\":\"%s\","
               "\"encoder_fp8\":%d,\"batch\":%ld,\"states\":%d,\"tokens\":%ld,"
               "\"total_ms\":%.3f,\"rtfx\":%.2f,\"state_mib\":%.1f,\"device_peak_mib\":%.1f}\n",
               hark_model_arch(m), hark_model_is_random(m),
               hs.device ? hs.device : device ? device : "cpu", dtype_name(dtype), fp8, B, used,
               T, 1e3 * med, rtfx, state_mib, (double)hs.device_peak_bytes / 1048576.0);
        fflush(stdout);
    }
    for (int k = 0; k < K; k++) {
        hark_state_free(lanes[k].s);
        free(lanes[k].e);
        free(lanes[k].tok);
    }
    free(tot);
    free(pcm);
    free(win);
    return rc;
}

int cmd_bench(int argc, char **argv)
{
    const char *model_path = NULL, *arch = NULL, *audio_path = "samples/jfk.wav", *device = NULL;
    long seed = 1, threads = 0, T = 100, R = 3, batches[32] = { 1 };
    long K = 1;
    int n_batches = 1, dtype = -1, kv_bits = 16, fp8 = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            bench_usage(stdout);
            return 0;
        } else if ((!strcmp(a, "-m") || !strcmp(a, "--model")) && v) {
            model_path = v, i++;
        } else if (!strcmp(a, "--arch") && v) {
            arch = v, i++;
        } else if (!strcmp(a, "--seed") && v) {
            seed = cli_long(v), i++;
        } else if ((!strcmp(a, "-t") || !strcmp(a, "--threads")) && v) {
            threads = cli_long(v), i++;
        } else if (!strcmp(a, "--batch") && v) {
            n_batches = parse_batches(v, batches, 32), i++;
        } else if (!strcmp(a, "--tokens") && v) {
            T = cli_long(v), i++;
        } else if (!strcmp(a, "--repeat") && v) {
            R = cli_long(v), i++;
        } else if (!strcmp(a, "--audio") && v) {
            audio_path = v, i++;
        } else if (!strcmp(a, "--device") && v) {
            device = v, i++;
        } else if (!strcmp(a, "--dtype") && v) {
            dtype = cli_parse_dtype(v);
            i++;
        } else if (!strcmp(a, "--cross-kv") && v) {
            kv_bits = (int)cli_long(v), i++;
        } else if (!strcmp(a, "--fp8-encoder")) {
            fp8 = 1;
        } else if (!strcmp(a, "--states") && v) {
            K = cli_long(v), i++;
        } else {
            fprintf(stderr, "hark bench: unknown or incomplete option '%s'\n", a);
            bench_usage(stderr);
            return 2;
        }
    }
    if ((!model_path == !arch) || seed < 0 || threads < 0 || n_batches < 1 || T < 0 || T > 440 ||
        R < 1 || dtype < -1 || (kv_bits != 8 && kv_bits != 16 && kv_bits != 4) || K < 1 ||
        K > HARK_BENCH_MAX_STATES) {
        bench_usage(stderr);
        return 2;
    }
    char tmp_path[512];
    if (arch) {
        const char *dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
        snprintf(tmp_path, sizeof(tmp_path), "%s/hark-bench-%s-%ld.hark", dir, arch, seed);
        FILE *f = fopen(tmp_path, "rb");
        if (f) {
            fclose(f);
        } else {
            hark_convert_params cp = hark_convert_default_params();
            hark_status st = hark_convert_random(arch, (uint64_t)seed, tmp_path, &cp);
            if (st != HARK_OK)
                return cli_error("cannot make the random model", st);
        }
        model_path = tmp_path;
    }
    hark_model *m = cli_load_model(model_path, (int)threads, device, dtype, fp8);
    if (!m)
        return 1;
    hark_status st;
    long maxB = 0;
    for (int i = 0; i < n_batches; i++)
        maxB = batches[i] > maxB ? batches[i] : maxB;
    hark_state_params spar = hark_state_default_params();
    spar.max_windows = (int)maxB;
    spar.max_sequences = (int)maxB;
    spar.cross_kv_bits = kv_bits;
    if (K > 1) {
        int rc = bench_states(m, &spar, audio_path, device, dtype, fp8, batches, n_batches, maxB,
                              (int)K, T, R);
        hark_model_free(m);
        return rc;
    }
    hark_state *s = NULL;
    st = hark_state_new(m, &spar, &s);
    float *win = bench_audio(audio_path);
    float *pcm = malloc((size_t)maxB * HARK_N_SAMPLES * sizeof(float));
    hark_decode_entry *e = malloc((size_t)maxB * 4 * sizeof(*e));
    int32_t *tok = malloc((size_t)maxB * 4 * sizeof(int32_t));
    bench_times *runs = calloc((size_t)R + 1, sizeof(*runs));
    int rc = 0;
    if (st != HARK_OK) {
        rc = cli_error("cannot create a state", st);
        goto out;
    }
    if (!win || !pcm || !e || !tok || !runs) {
        fprintf(stderr, "hark bench: out of memory\n");
        rc = 1;
        goto out;
    }
    for (long b = 0; b < maxB; b++)
        memcpy(pcm + (size_t)b * HARK_N_SAMPLES, win, HARK_N_SAMPLES * sizeof(float));
    for (int bi = 0; bi < n_batches && rc == 0; bi++) {
        long B = batches[bi];
        /* one warm-up run, then R timed runs; medians per stage */
        for (long r = 0; r <= R && rc == 0; r++) {
            st = bench_once(m, s, pcm, (int)B, (int)T, e, tok, &runs[r ? r - 1 : R], NULL, NULL);
            if (st != HARK_OK)
                rc = cli_error("bench run failed", st);
        }
        if (rc == 0)
            bench_report(m, s, device ? device : "cpu", dtype, fp8, B, T, threads, R, runs);
    }
out:
    free(runs);
    free(tok);
    free(e);
    free(pcm);
    free(win);
    hark_state_free(s);
    hark_model_free(m);
    return rc;
}

int cmd_forward(int argc, char **argv)
{
    const char *model_path = NULL, *audio_path = NULL, *tokens_s = NULL, *out_path = NULL;
    const char *device = NULL, *dtype_s = NULL;
    long threads = 0;
    int fp8 = 0, bad = 0;
    for (int i = 1; i < argc && !bad; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--fp8-encoder")) {
            fp8 = 1;
            continue;
        }
        if (i + 1 >= argc) { /* every other option takes a value */
            bad = 1;
            break;
        }
        const char *v = argv[++i];
        if (!strcmp(a, "-m"))
            model_path = v;
        else if (!strcmp(a, "--audio"))
            audio_path = v;
        else if (!strcmp(a, "--tokens"))
            tokens_s = v;
        else if (!strcmp(a, "--out"))
            out_path = v;
        else if (!strcmp(a, "--threads"))
            threads = cli_long(v);
        else if (!strcmp(a, "--device"))
            device = v;
        else if (!strcmp(a, "--dtype"))
            dtype_s = v;
        else
            bad = 1;
    }
    int dtype = cli_parse_dtype(dtype_s);
    if (bad || !model_path || !audio_path || !tokens_s || !out_path || threads < 0 || dtype < -1) {
        fprintf(stderr, "usage: hark forward -m MODEL --audio FILE --tokens ID,ID,... --out FILE [--threads N]\n"
                        "                    [--device cpu|cuda:N] [--dtype f16|bf16|f32] [--fp8-encoder]\n"
                        "Writes float32 logits [n_tokens][n_vocab] of the first 30 s window.\n");
        return 2;
    }
    hark_decode_entry e[448];
    int n = 0;
    for (const char *p = tokens_s; *p && n < 448;) {
        char *end;
        long t = strtol(p, &end, 10);
        if (end == p) {
            fprintf(stderr, "hark forward: bad token list '%s'\n", tokens_s);
            return 2;
        }
        e[n] = (hark_decode_entry){ .token = (int32_t)t, .pos = n, .want_logits = 1 };
        n++;
        p = *end == ',' ? end + 1 : end;
    }
    hark_model *m = cli_load_model(model_path, (int)threads, device, dtype, fp8);
    if (!m)
        return 1;
    hark_model_dims d = hark_model_get_dims(m);
    float *pcm = NULL, *mel = NULL, *logits = NULL;
    size_t np = 0;
    hark_state *s = NULL;
    int rc = 0;
    hark_status st = hark_audio_load(audio_path, &pcm, &np);
    if (st != HARK_OK) {
        rc = cli_error(audio_path, st);
        goto out;
    }
    mel = malloc((size_t)d.n_mels * HARK_N_FRAMES * sizeof(float));
    logits = malloc((size_t)n * d.n_vocab * sizeof(float));
    if (!mel || !logits) {
        rc = cli_error("out of memory", HARK_ERR_NOMEM);
        goto out;
    }
    if ((st = hark_state_new(m, NULL, &s)) != HARK_OK || (st = hark_log_mel(pcm, np, d.n_mels, mel)) != HARK_OK ||
        (st = hark_encode(s, mel, 1)) != HARK_OK || (st = hark_decode(s, e, n, logits)) != HARK_OK) {
        rc = cli_error("forward pass failed", st);
        goto out;
    }
    FILE *f = fopen(out_path, "wb");
    if (!f || fwrite(logits, sizeof(float), (size_t)n * d.n_vocab, f) != (size_t)n * d.n_vocab) {
        fprintf(stderr, "hark forward: cannot write %s\n", out_path);
        rc = 1;
    }
    if (f)
        fclose(f);
out:
    free(logits);
    free(mel);
    hark_free(pcm);
    hark_state_free(s);
    hark_model_free(m);
    return rc;
}
