/*
 * cmd_bench.c — `hark bench` (the work unit of bench/README.md: B windows of 30 s, mel, one
 * encoder pass, the 4-token prompt, then exactly T greedy steps with <|endoftext|> masked) and
 * `hark forward` (teacher-forced logits for the parity scripts).
 */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void bench_usage(FILE *f)
{
    fprintf(f, "usage: hark bench (-m MODEL | --arch ARCH [--seed N]) [--device cpu|cuda:N]\n"
               "                  [--dtype f16|bf16|f32] [--threads N] [--batch B[,B...]]\n"
               "                  [--tokens T] [--repeat R] [--audio FILE] [--cross-kv 16|8|4]\n"
               "                  [--fp8-encoder] [--step-loop greedy|argmax]\n"
               "The work unit of bench/README.md: B windows of 30 s from PCM: log-mel, encoder,\n"
               "the 4-token prompt, then exactly T greedy decoder steps (end-of-text masked).\n"
               "Prints a table and one JSON line per batch size. --arch makes a random-weight\n"
               "model of that architecture in $TMPDIR first. --cross-kv 8|4: the GPU keeps the\n"
               "cross-attention keys and values in int8 / int4 (hark_state_params.cross_kv_bits).\n"
               "--fp8-encoder: the GPU runs the encoder's products in FP8 (docs/quant.md).\n"
               "--step-loop greedy (default): the T steps are one hark_decode_greedy call (on the\n"
               "GPU each step's pick feeds the next without the host); argmax: one\n"
               "hark_decode_argmax call a step, its tokens read back before the next.\n");
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
        fprintf(stderr, "hark bench: %s unreadable (%s): using a synthetic signal\n", path,
                hark_last_error());
    uint32_t s = 1;
    for (size_t i = 0; i < HARK_N_SAMPLES; i++) {
        s = s * 1664525u + 1013904223u;
        double t = (double)i / HARK_SAMPLE_RATE;
        double noise = (double)(s >> 8) / 16777216.0 - 0.5;
        win[i] = (float)(0.3 * sin(6.283185307179586 * (200 + 40 * t) * t) + 0.05 * noise);
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

/* One run of the work unit for B windows; pcm [B][480000]. */
static hark_status bench_once(hark_model *m, hark_state *s, const float *pcm, int B, int T,
                              int per_step, hark_decode_entry *e, int32_t *tok, int32_t *hist,
                              bench_times *out)
{
    hark_special_tokens sp = hark_model_special_tokens(m);
    double t0 = cli_now();
    hark_status st = hark_encode_pcm(s, pcm, B);
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
    if (!per_step && T > 0) {
        for (int b = 0; b < B; b++)
            e[b] = (hark_decode_entry){ .seq = b, .window = b, .token = tok[b], .pos = np,
                                        .want_logits = 1 };
        st = hark_decode_greedy(s, e, B, T, sp.eot, hist);
        if (st != HARK_OK)
            return st;
    }
    for (int step = 0; per_step && step < T; step++) {
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
    return dt == HARK_DTYPE_F16    ? "f16"
           : dt == HARK_DTYPE_BF16 ? "bf16"
           : dt == HARK_DTYPE_F32  ? "f32"
                                   : "file";
}

static void bench_report(hark_model *m, hark_state *s, const char *device, int dtype, int fp8,
                         int per_step, long B, long T, long threads, long R, bench_times *runs)
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
    printf("model %s%s on %s, batch %ld, %ld steps (%s loop), median of %ld runs%s%s%s\n",
           hark_model_arch(m), hark_model_is_random(m) ? " (random weights)" : "",
           st.device ? st.device : device, B, T, per_step ? "argmax" : "greedy", R,
           qb ? ", weights " : "", qb ? quant : "", fp8 ? ", FP8 encoder" : "");
    printf("  mel          %9.3f ms (all %ld windows)\n", 1e3 * med[0], B);
    printf("  encoder      %9.3f ms (all %ld windows)\n", 1e3 * med[1], B);
    printf("  prompt       %9.3f ms\n", 1e3 * med[2]);
    printf("  decoder step %9.3f ms (batch %ld)\n", T ? 1e3 * med[3] / (double)T : 0.0, B);
    printf("  total        %9.3f ms, RTFx %.1f\n", 1e3 * med[4], rtfx);
    printf("  memory       weights %.1f MiB, state %.1f MiB, device peak %.1f MiB\n",
           (double)st.weights_bytes / 1048576.0, (double)st.state_bytes / 1048576.0,
           (double)st.device_peak_bytes / 1048576.0);
    printf("{\"model\":\"%s\",\"random\":%d,\"device\":\"%s\",\"dtype\":\"%s\","
           "\"quant\":\"%s\",\"encoder_fp8\":%d,\"step_loop\":\"%s\",\"batch\":%ld,"
           "\"tokens\":%ld,\"threads\":%ld,\"mel_ms\":%.3f,\"encoder_ms\":%.3f,\"prompt_ms\":%.3f,"
           "\"decoder_ms_per_step\":%.4f,\"total_ms\":%.3f,\"rtfx\":%.2f,\"weights_mib\":%.1f,"
           "\"state_mib\":%.1f,\"device_peak_mib\":%.1f}\n",
           hark_model_arch(m), hark_model_is_random(m), st.device ? st.device : device,
           dtype_name(dtype), quant, fp8, per_step ? "argmax" : "greedy", B, T, threads,
           1e3 * med[0], 1e3 * med[1], 1e3 * med[2], T ? 1e3 * med[3] / (double)T : 0.0,
           1e3 * med[4], rtfx, (double)st.weights_bytes / 1048576.0,
           (double)st.state_bytes / 1048576.0, (double)st.device_peak_bytes / 1048576.0);
    fflush(stdout);
}

int cmd_bench(int argc, char **argv)
{
    const char *model_path = NULL, *arch = NULL, *audio_path = "samples/jfk.wav", *device = NULL;
    long seed = 1, threads = 0, T = 100, R = 3, batches[32] = { 1 };
    int n_batches = 1, dtype = -1, fp8 = 0;
    const char *batch_s = NULL, *dtype_s = NULL, *loop_s = "greedy";
    long kv_bits = 16;
    const cli_opt opts[] = {
        { "model", "m", CLI_STR, &model_path },   { "arch", NULL, CLI_STR, &arch },
        { "seed", NULL, CLI_LONG, &seed },        { "threads", "t", CLI_LONG, &threads },
        { "batch", NULL, CLI_STR, &batch_s },     { "tokens", NULL, CLI_LONG, &T },
        { "repeat", NULL, CLI_LONG, &R },         { "audio", NULL, CLI_STR, &audio_path },
        { "device", NULL, CLI_STR, &device },     { "dtype", NULL, CLI_STR, &dtype_s },
        { "cross-kv", NULL, CLI_LONG, &kv_bits }, { "fp8-encoder", NULL, CLI_FLAG, &fp8 },
        { "step-loop", NULL, CLI_STR, &loop_s },
    };
    int n_pos = 0;
    const int pr = cli_parse_opts("bench", argc, argv, opts, (int)(sizeof(opts) / sizeof(opts[0])),
                                  NULL, 0, &n_pos);
    if (pr == 1) {
        bench_usage(stdout);
        return 0;
    }
    if (batch_s)
        n_batches = parse_batches(batch_s, batches, 32);
    if (dtype_s)
        dtype = cli_parse_dtype(dtype_s);
    if (pr != 0) {
        bench_usage(stderr);
        return 2;
    }
    if ((!model_path == !arch) || seed < 0 || threads < 0 || n_batches < 1 || T < 0 || T > 440 ||
        R < 1 || dtype < -1 || (kv_bits != 8 && kv_bits != 16 && kv_bits != 4) ||
        (strcmp(loop_s, "greedy") && strcmp(loop_s, "argmax"))) {
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
    spar.cross_kv_bits = (int)kv_bits;
    hark_state *s = NULL;
    st = hark_state_new(m, &spar, &s);
    float *win = bench_audio(audio_path);
    float *pcm = malloc((size_t)maxB * HARK_N_SAMPLES * sizeof(float));
    hark_decode_entry *e = malloc((size_t)maxB * 4 * sizeof(*e));
    int32_t *tok = malloc((size_t)maxB * 4 * sizeof(int32_t));
    int32_t *hist = malloc((size_t)maxB * (size_t)(T > 0 ? T : 1) * sizeof(int32_t));
    const int per_step = !strcmp(loop_s, "argmax");
    bench_times *runs = calloc((size_t)R + 1, sizeof(*runs));
    int rc = 0;
    if (st != HARK_OK) {
        rc = cli_error("cannot create a state", st);
        goto out;
    }
    if (!win || !pcm || !e || !tok || !hist || !runs) {
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
            st = bench_once(m, s, pcm, (int)B, (int)T, per_step, e, tok, hist,
                            &runs[r ? r - 1 : R]);
            if (st != HARK_OK)
                rc = cli_error("bench run failed", st);
        }
        if (rc == 0)
            bench_report(m, s, device ? device : "cpu", dtype, fp8, per_step, B, T, threads, R,
                         runs);
    }
out:
    free(runs);
    free(hist);
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
    int fp8 = 0, n_pos = 0;
    const cli_opt opts[] = {
        { "model", "m", CLI_STR, &model_path }, { "audio", NULL, CLI_STR, &audio_path },
        { "tokens", NULL, CLI_STR, &tokens_s }, { "out", NULL, CLI_STR, &out_path },
        { "threads", "t", CLI_LONG, &threads }, { "device", NULL, CLI_STR, &device },
        { "dtype", NULL, CLI_STR, &dtype_s },   { "fp8-encoder", NULL, CLI_FLAG, &fp8 },
    };
    const int bad = cli_parse_opts("forward", argc, argv, opts,
                                   (int)(sizeof(opts) / sizeof(opts[0])), NULL, 0, &n_pos);
    int dtype = cli_parse_dtype(dtype_s);
    if (bad || !model_path || !audio_path || !tokens_s || !out_path || threads < 0 || dtype < -1) {
        fprintf(bad == 1 ? stdout : stderr,
                "usage: hark forward -m MODEL --audio FILE --tokens ID,ID,... --out FILE\n"
                "                    [--threads N] [--device cpu|cuda:N] [--dtype f16|bf16|f32]\n"
                "                    [--fp8-encoder]\n"
                "Writes float32 logits [n_tokens][n_vocab] of the first 30 s window.\n");
        return bad == 1 ? 0 : 2;
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
    if ((st = hark_state_new(m, NULL, &s)) != HARK_OK ||
        (st = hark_log_mel(pcm, np, d.n_mels, mel)) != HARK_OK ||
        (st = hark_encode(s, mel, 1)) != HARK_OK ||
        (st = hark_decode(s, e, n, logits)) != HARK_OK) {
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
