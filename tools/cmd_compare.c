/*
 * cmd_compare.c — `hark compare`: how far a model's logits are from a reference model's on the
 * same audio, over teacher-forced steps (the measure docs/quant.md reports for quantization).
 *
 * The reference decodes greedily from the transcription prompt for a fixed number of steps
 * (the argmax over the whole vocabulary, end-of-text included: the bench's forced work unit);
 * the test model is fed the same tokens. Per step: the relative L2 error of the logits, the KL
 * divergence KL(P_ref || P_test) of their softmaxes, and whether the argmaxes agree.
 */
#include "cli.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_STEPS 400

typedef struct cmp_sums {
    int steps, agree;
    double rel_sum, rel_max, kl_sum, kl_max;
} cmp_sums;

static void compare_usage(FILE *f)
{
    fprintf(f, "usage: hark compare -m REF -m TEST [options] AUDIO...\n"
               "Runs both models on the first 30 s of each AUDIO over teacher-forced steps (REF's\n"
               "greedy tokens) and reports the logits' relative L2 error, KL(P_ref || P_test) and\n"
               "top-1 agreement.\n"
               "  --steps N            decoder steps per file (default 100, at most %d)\n"
               "  --device D           device of both models (cpu, cuda:N; default cpu)\n"
               "  --test-device D      device of TEST (default: --device)\n"
               "  --test-fp8-encoder   TEST's encoder products in FP8 (GPU; docs/quant.md)\n"
               "  --test-cross-kv B    TEST's cross-attention K/V in 16, 8 or 4 bits (GPU)\n"
               "  --threads N          CPU threads (default: all cores)\n"
               "  --min-agreement P    exit 1 when the top-1 agreement is below P percent\n"
               "  --json               one JSON object instead of the table\n",
            MAX_STEPS);
}

/* ref/test [V]: adds one step's measures to s. */
static void add_step(const float *ref, const float *test, int v, cmp_sums *s)
{
    double d2 = 0.0, r2 = 0.0, mr = -INFINITY, mt = -INFINITY;
    int ar = 0, at = 0;
    for (int i = 0; i < v; i++) {
        double dd = (double)test[i] - ref[i];
        d2 += dd * dd;
        r2 += (double)ref[i] * ref[i];
        if (ref[i] > mr)
            mr = ref[i], ar = i;
        if (test[i] > mt)
            mt = test[i], at = i;
    }
    double zr = 0.0, zt = 0.0;
    for (int i = 0; i < v; i++) {
        zr += exp(ref[i] - mr);
        zt += exp(test[i] - mt);
    }
    const double lzr = mr + log(zr), lzt = mt + log(zt);
    double kl = 0.0;
    for (int i = 0; i < v; i++) {
        double lp = ref[i] - lzr, lq = test[i] - lzt;
        kl += exp(lp) * (lp - lq);
    }
    const double rel = r2 > 0.0 ? sqrt(d2 / r2) : sqrt(d2);
    s->steps++;
    s->agree += ar == at;
    s->rel_sum += rel;
    s->kl_sum += kl;
    s->rel_max = rel > s->rel_max ? rel : s->rel_max;
    s->kl_max = kl > s->kl_max ? kl : s->kl_max;
}

/* The transcription prompt of model m: <|sot|> [<|en|>] <|transcribe|> <|notimestamps|>. */
static int prompt_of(const hark_model *m, int32_t *tok)
{
    hark_special_tokens sp = hark_model_special_tokens(m);
    int n = 0;
    tok[n++] = sp.sot;
    if (hark_model_is_multilingual(m)) {
        tok[n++] = sp.lang_first;
        tok[n++] = sp.transcribe;
    }
    tok[n++] = sp.no_timestamps;
    return n;
}

/* Row-by-row decode of tokens[0..n) from position 0 in a fresh sequence: logits[k] after token
 * n_prompt - 1 + k for k < n - n_prompt + 1. With greedy set, tokens past the prompt are taken
 * from the argmax as it goes (n_prompt .. n). */
static hark_status run_model(hark_state *s, const float *mel, int32_t *tokens, int n_prompt, int n,
                             int greedy, int v, float *logits)
{
    hark_status st = hark_encode(s, mel, 1);
    if (st != HARK_OK)
        return st;
    hark_decode_entry e[8];
    for (int i = 0; i < n_prompt - 1; i++)
        e[i] = (hark_decode_entry){ .token = tokens[i], .pos = i };
    if (n_prompt > 1 && (st = hark_decode(s, e, n_prompt - 1, NULL)) != HARK_OK)
        return st;
    for (int p = n_prompt - 1; p < n; p++) {
        float *row = logits + (size_t)(p - n_prompt + 1) * v;
        e[0] = (hark_decode_entry){ .token = tokens[p], .pos = p, .want_logits = 1 };
        if ((st = hark_decode(s, e, 1, row)) != HARK_OK)
            return st;
        if (greedy && p + 1 < n) {
            int best = 0;
            for (int i = 1; i < v; i++)
                best = row[i] > row[best] ? i : best;
            tokens[p + 1] = best;
        }
    }
    return hark_sequence_free(s, 0);
}

int cmd_compare(int argc, char **argv)
{
    const char *paths[2] = { NULL, NULL }, *device = NULL, *test_device = NULL;
    const char *files[64];
    int n_files = 0, json = 0, test_fp8 = 0;
    long steps = 100, threads = 0, test_kv = 16;
    float min_agree_f = NAN; /* not given */
    cli_strs models = { paths, 2, 0 };
    const cli_opt opts[] = {
        { "model", "m", CLI_STRS, &models },
        { "steps", NULL, CLI_LONG, &steps },
        { "device", NULL, CLI_STR, &device },
        { "test-device", NULL, CLI_STR, &test_device },
        { "threads", NULL, CLI_LONG, &threads },
        { "min-agreement", NULL, CLI_OPT_FLOAT, &min_agree_f },
        { "json", NULL, CLI_FLAG, &json },
        { "test-fp8-encoder", NULL, CLI_FLAG, &test_fp8 },
        { "test-cross-kv", NULL, CLI_LONG, &test_kv },
    };
    int r = cli_parse_opts("compare", argc, argv, opts, (int)(sizeof(opts) / sizeof(opts[0])),
                           files, 64, &n_files);
    if (r == 1) {
        compare_usage(stdout);
        return 0;
    }
    if (r != 0) {
        compare_usage(stderr);
        return 2;
    }
    const double min_agree = isnan(min_agree_f) ? -1.0 : min_agree_f;
    if (!isnan(min_agree_f) && (min_agree < 0 || min_agree > 100)) {
        fprintf(stderr, "hark compare: --min-agreement wants a percentage, not %g\n", min_agree);
        compare_usage(stderr);
        return 2;
    }
    const int n_models = models.n;
    if (n_models != 2 || n_files == 0 || steps < 1 || steps > MAX_STEPS || threads < 0 ||
        (test_kv != 16 && test_kv != 8 && test_kv != 4)) {
        compare_usage(stderr);
        return 2;
    }
    hark_model *ref = cli_load_model(paths[0], (int)threads, device, -1, 0);
    hark_model *test = ref ? cli_load_model(paths[1], (int)threads,
                                            test_device ? test_device : device, -1, test_fp8)
                           : NULL;
    if (!ref || !test) {
        hark_model_free(ref);
        return 1;
    }
    hark_model_dims dr = hark_model_get_dims(ref), dt = hark_model_get_dims(test);
    if (memcmp(&dr, &dt, sizeof(dr)) != 0) {
        fprintf(stderr, "hark compare: %s and %s have different architectures\n", paths[0],
                paths[1]);
        hark_model_free(ref);
        hark_model_free(test);
        return 1;
    }
    const int v = dr.n_vocab;
    int32_t tokens[8 + MAX_STEPS];
    const int n_prompt = prompt_of(ref, tokens), n = n_prompt - 1 + (int)steps;
    float *mel = malloc((size_t)dr.n_mels * HARK_N_FRAMES * sizeof(float));
    float *lr = malloc((size_t)steps * v * sizeof(float));
    float *lt = malloc((size_t)steps * v * sizeof(float));
    hark_state *sr = NULL, *stt = NULL;
    cmp_sums sum = { 0 };
    int rc = 0;
    hark_status st = HARK_OK;
    if (!mel || !lr || !lt) {
        rc = cli_error("out of memory", HARK_ERR_NOMEM);
        goto out;
    }
    hark_state_params tsp = hark_state_default_params();
    tsp.cross_kv_bits = (int)test_kv;
    if ((st = hark_state_new(ref, NULL, &sr)) != HARK_OK ||
        (st = hark_state_new(test, &tsp, &stt)) != HARK_OK) {
        rc = cli_error("cannot make a state", st);
        goto out;
    }
    for (int f = 0; f < n_files; f++) {
        float *pcm = NULL;
        size_t np = 0;
        if ((st = hark_audio_load(files[f], &pcm, &np)) != HARK_OK ||
            (st = hark_log_mel(pcm, np, dr.n_mels, mel)) != HARK_OK) {
            hark_free(pcm);
            rc = cli_error(files[f], st);
            goto out;
        }
        hark_free(pcm);
        if ((st = run_model(sr, mel, tokens, n_prompt, n, 1, v, lr)) != HARK_OK ||
            (st = run_model(stt, mel, tokens, n_prompt, n, 0, v, lt)) != HARK_OK) {
            rc = cli_error("decoding failed", st);
            goto out;
        }
        for (int k = 0; k < steps; k++)
            add_step(lr + (size_t)k * v, lt + (size_t)k * v, v, &sum);
    }
    const double agree = 100.0 * sum.agree / sum.steps;
    if (json) {
        printf("{\"ref\": \"%s\", \"test\": \"%s\", \"files\": %d, \"steps\": %d, "
               "\"rel_err_mean\": %.6g, \"rel_err_max\": %.6g, \"kl_mean\": %.6g, "
               "\"kl_max\": %.6g, \"top1_agree\": %d, \"top1_agree_pct\": %.2f}\n",
               paths[0], paths[1], n_files, sum.steps, sum.rel_sum / sum.steps, sum.rel_max,
               sum.kl_sum / sum.steps, sum.kl_max, sum.agree, agree);
    } else {
        printf("ref   %s\ntest  %s\nsteps %d (%d file%s, teacher-forced on the reference's "
               "greedy tokens)\n", paths[0], paths[1], sum.steps, n_files, n_files > 1 ? "s" : "");
        printf("logits relative L2 error   mean %.3g, max %.3g\n", sum.rel_sum / sum.steps,
               sum.rel_max);
        printf("KL(P_ref || P_test)        mean %.3g, max %.3g nats\n", sum.kl_sum / sum.steps,
               sum.kl_max);
        printf("top-1 agreement            %d / %d (%.2f%%)\n", sum.agree, sum.steps, agree);
    }
    if (min_agree >= 0 && agree < min_agree) {
        fprintf(stderr, "hark compare: top-1 agreement %.2f%% is below %.2f%%\n", agree, min_agree);
        rc = 1;
    }
out:
    hark_state_free(sr);
    hark_state_free(stt);
    free(mel);
    free(lr);
    free(lt);
    hark_model_free(ref);
    hark_model_free(test);
    return rc;
}
