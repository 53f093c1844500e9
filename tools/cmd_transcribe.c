/* cmd_transcribe.c — `hark transcribe`: audio files in, transcripts out. */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void transcribe_usage(FILE *f)
{
    fprintf(f, "usage: hark transcribe -m MODEL [--threads N] [--language xx] [--translate]\n"
               "                       [--max-tokens N] FILE...\n"
               "Prints the transcript of each file ('-' reads standard input).\n");
}

int cmd_transcribe(int argc, char **argv)
{
    const char *model_path = NULL, *language = "en", *device = NULL;
    int n_threads = 0, translate = 0, max_tokens = 0;
    const char *files[256];
    int n_files = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            transcribe_usage(stdout);
            return 0;
        } else if ((!strcmp(a, "-m") || !strcmp(a, "--model")) && v) {
            model_path = v, i++;
        } else if ((!strcmp(a, "-t") || !strcmp(a, "--threads")) && v) {
            n_threads = (int)cli_long(v), i++;
        } else if ((!strcmp(a, "-l") || !strcmp(a, "--language")) && v) {
            language = v, i++;
        } else if (!strcmp(a, "--device") && v) {
            device = v, i++;
        } else if (!strcmp(a, "--max-tokens") && v) {
            max_tokens = (int)cli_long(v), i++;
        } else if (!strcmp(a, "--translate")) {
            translate = 1;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "hark transcribe: unknown or incomplete option '%s'\n", a);
            transcribe_usage(stderr);
            return 2;
        } else if (n_files < 256) {
            files[n_files++] = a;
        }
    }
    if (!model_path || n_files == 0 || n_threads < 0 || max_tokens < 0) {
        transcribe_usage(stderr);
        return 2;
    }
    hark_model *model = cli_load_model(model_path, n_threads, device, -1);
    if (!model)
        return 1;
    if (hark_model_is_random(model))
        fprintf(stderr, "hark: note: %s has random weights (made by 'hark convert --random'): its "
                        "transcript is meaningless text, shown to exercise the pipeline\n", model_path);
    hark_state *state = NULL;
    hark_status st = hark_state_new(model, NULL, &state);
    if (st != HARK_OK) {
        hark_model_free(model);
        return cli_error("cannot create a state", st);
    }
    hark_full_params fp = hark_full_default_params();
    fp.language = language;
    fp.translate = translate;
    fp.max_tokens = max_tokens;
    int rc = 0;
    for (int f = 0; f < n_files; f++) {
        float *pcm = NULL;
        size_t n = 0;
        st = hark_audio_load(files[f], &pcm, &n);
        if (st == HARK_OK)
            st = hark_transcribe(state, pcm, n, &fp);
        hark_free(pcm);
        if (st != HARK_OK) {
            rc = cli_error(files[f], st);
            continue;
        }
        if (n_files > 1)
            printf("%s:\n", files[f]);
        for (int i = 0; i < hark_n_segments(state); i++) {
            const char *text = hark_segment_text(state, i);
            while (*text == ' ')
                text++;
            printf("%s%s", i ? " " : "", text);
        }
        printf("\n");
        fflush(stdout);
    }
    hark_state_free(state);
    hark_model_free(model);
    return rc;
}
