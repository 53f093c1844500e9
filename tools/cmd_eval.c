/*
 * cmd_eval.c — `hark eval -m MODEL DATASET`: transcribe an evaluation set in-process and report
 * its error rate next to its speed, as the seed's run_dataset_bench does for a server. The set
 * in any form dataset.h reads; scoring as `hark wer` (score.h).
 */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"
#include "dataset.h"
#include "score.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void eval_usage(FILE *f)
{
    fprintf(f,
            "usage: hark eval -m MODEL DATASET [--device cpu|cuda:N] [--threads N]\n"
            "                 [--language XX] [--task transcribe|translate] [--beam-size N]\n"
            "                 [--normalizer auto|english|basic|basic-diacritics|none]\n"
            "                 [--metric auto|wer|cer] [--hyp FILE] [--json FILE] [--limit N]\n"
            "                 [--max-tokens N] [--temperature-increment X] [--fp8-encoder]\n"
            "DATASET: a Kaldi folder (wav.scp, text or trans.txt), a LibriSpeech folder\n"
            "(*.trans.txt), a TSV file (path<TAB>reference) or a folder of audio files.\n"
            "Prints each hypothesis, then WER (CER for Chinese / Japanese / Korean references)\n"
            "with substitutions, deletions and insertions, and the speed (audio seconds per\n"
            "second). --hyp writes 'ID<TAB>hypothesis' lines (for hark wer).\n");
}

/* The transcript of one file: segments joined, leading space trimmed (malloc'd), or NULL
 * after printing the error. */
static char *transcribe(hark_state *s, const char *path, const hark_full_params *fp,
                        double *audio_s)
{
    float *pcm = NULL;
    size_t n = 0;
    hark_status st = hark_audio_load(path, &pcm, &n);
    if (st == HARK_OK)
        st = hark_transcribe(s, pcm, n, fp);
    hark_free(pcm);
    if (st != HARK_OK) {
        fprintf(stderr, "hark eval: %s: %s\n", path, hark_last_error());
        return NULL;
    }
    *audio_s = (double)n / 16000.0;
    size_t len = 1;
    for (int i = 0; i < hark_n_segments(s); i++)
        len += strlen(hark_segment_text(s, i));
    char *t = malloc(len);
    if (!t)
        return NULL;
    t[0] = 0;
    for (int i = 0; i < hark_n_segments(s); i++)
        strcat(t, hark_segment_text(s, i));
    char *b = t;
    while (*b == ' ')
        b++;
    memmove(t, b, strlen(b) + 1);
    return t;
}

int cmd_eval(int argc, char **argv)
{
    const char *model = NULL, *set = NULL, *device = NULL, *language = NULL, *task = NULL,
               *norm = "auto", *metric = "auto", *hyp_path = NULL, *json = NULL;
    long threads = 0, beam = 0, limit = 0, max_tokens = 0;
    double temp_inc = -1;
    int fp8 = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        const char **sv = !strcmp(a, "-m") || !strcmp(a, "--model") ? &model
                          : !strcmp(a, "--device")                 ? &device
                          : !strcmp(a, "--language")               ? &language
                          : !strcmp(a, "--task")                   ? &task
                          : !strcmp(a, "--normalizer")             ? &norm
                          : !strcmp(a, "--metric")                 ? &metric
                          : !strcmp(a, "--hyp")                    ? &hyp_path
                          : !strcmp(a, "--json")                   ? &json
                                                                   : NULL;
        long *lv = !strcmp(a, "--threads")      ? &threads
                   : !strcmp(a, "--beam-size")  ? &beam
                   : !strcmp(a, "--max-tokens") ? &max_tokens
                   : !strcmp(a, "--limit")      ? &limit
                                                : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            eval_usage(stdout);
            return 0;
        } else if (!strcmp(a, "--temperature-increment") && v) {
            temp_inc = atof(v), i++;
        } else if (!strcmp(a, "--fp8-encoder")) {
            fp8 = 1;
        } else if ((sv || lv) && !v) {
            fprintf(stderr, "hark eval: %s needs a value\n", a);
            return 2;
        } else if (sv) {
            *sv = v, i++;
        } else if (lv) {
            if ((*lv = cli_long(v)) < 0) {
                fprintf(stderr, "hark eval: %s %s: not a number\n", a, v);
                return 2;
            }
            i++;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "hark eval: unknown option %s\n", a);
            return 2;
        } else if (!set) {
            set = a;
        } else {
            fprintf(stderr, "hark eval: one DATASET\n");
            return 2;
        }
    }
    if (!model || !set || (task && strcmp(task, "transcribe") && strcmp(task, "translate"))) {
        eval_usage(stderr);
        return 2;
    }
    dataset d;
    char err[1024];
    if (dataset_load(set, &d, err, sizeof(err)) != 0) {
        fprintf(stderr, "hark eval: %s\n", err);
        return 1;
    }
    fprintf(stderr, "hark eval: %s: %d utterances (%s)\n", set, d.n, d.kind);
    int n = limit > 0 && limit < d.n ? (int)limit : d.n;
    const char **refs = calloc((size_t)n + 1, sizeof(char *));
    for (int i = 0; refs && i < n; i++)
        refs[i] = d.items[i].ref;
    scorer sc;
    int rc = refs ? scorer_init(&sc, norm, metric, refs, n, NULL) : -1;
    free(refs);
    hark_model *m = rc == 0 ? cli_load_model(model, (int)threads, device, -1, fp8) : NULL;
    if (!m && rc == 0) {
        scorer_free(&sc);
        rc = 1;
    }
    hark_state *s = NULL;
    if (m && hark_state_new(m, NULL, &s) != HARK_OK)
        rc = cli_error("cannot make a state", HARK_ERR_NOMEM);
    FILE *hf = hyp_path && s ? fopen(hyp_path, "w") : NULL;
    if (hyp_path && s && !hf)
        fprintf(stderr, "hark eval: cannot write %s\n", hyp_path), rc = 1;
    hark_full_params fp = hark_full_default_params();
    fp.language = language;
    fp.translate = task && !strcmp(task, "translate");
    if (beam > 0)
        fp.beam_size = (int)beam;
    if (max_tokens > 0)
        fp.max_tokens = (int)max_tokens;
    if (temp_inc >= 0)
        fp.temperature_increment = (float)temp_inc;
    wer_counts c = { 0 };
    int failed = 0, scored = 0;
    double audio = 0, t0 = cli_now();
    for (int i = 0; s && rc == 0 && i < n; i++) {
        double a = 0;
        char *hyp = transcribe(s, d.items[i].path, &fp, &a);
        failed += hyp == NULL;
        audio += a;
        if (hyp) {
            printf("%s\t%s\n", d.items[i].id, hyp);
            fflush(stdout);
            if (hf)
                fprintf(hf, "%s\t%s\n", d.items[i].id, hyp);
            if (d.items[i].ref && scorer_add(&sc, d.items[i].ref, hyp, &c) == 0)
                scored++;
        }
        free(hyp);
    }
    double wall = cli_now() - t0;
    if (s && rc == 0) {
        fprintf(stderr, "%s %.2f%% [%ld / %ld %s] substitutions %ld, deletions %ld, insertions %ld "
                        "(%d scored of %d, %d failed); %.1f s of audio in %.1f s: %.1fx real time\n",
                sc.cer ? "CER" : "WER", 100.0 * wer_rate(&c), c.sub + c.del + c.ins, c.ref,
                sc.cer ? "characters" : "words", c.sub, c.del, c.ins, scored, n, failed, audio,
                wall, wall > 0 ? audio / wall : 0.0);
        FILE *jf = json ? (!strcmp(json, "-") ? stdout : fopen(json, "w")) : NULL;
        if (jf) {
            fprintf(jf, "{\"dataset\":\"%s\",\"utterances\":%d,\"scored\":%d,\"failed\":%d,"
                        "\"metric\":\"%s\",\"normalizer\":\"%s\",\"rate\":%.6f,\"ref\":%ld,"
                        "\"sub\":%ld,\"del\":%ld,\"ins\":%ld,\"audio_s\":%.3f,\"wall_s\":%.3f,"
                        "\"rtfx\":%.2f}\n",
                    d.kind, n, scored, failed, sc.cer ? "cer" : "wer", sc.norm, wer_rate(&c),
                    c.ref, c.sub, c.del, c.ins, audio, wall, wall > 0 ? audio / wall : 0.0);
            if (jf != stdout)
                fclose(jf);
        }
    }
    if (hf)
        fclose(hf);
    hark_state_free(s);
    hark_model_free(m);
    if (m)
        scorer_free(&sc);
    int problems = d.problems;
    dataset_free(&d);
    return rc != 0 ? (rc == 2 ? 2 : 1) : failed || problems ? 1 : 0;
}
