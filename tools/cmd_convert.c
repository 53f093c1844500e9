/* cmd_convert.c — `hark convert` (checkpoints to hark's file) and `hark info`. */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void convert_usage(FILE *f)
{
    fprintf(f, "usage: hark convert [--type f16|bf16|f32] IN OUT\n"
               "       hark convert --random ARCH [--seed N] [--type f16|bf16|f32] OUT\n"
               "IN: an OpenAI .pt checkpoint, a Hugging Face model folder, a whisper.cpp ggml-*.bin\n"
               "or a hark file. ARCH: tiny tiny.en base base.en small small.en medium medium.en\n"
               "large-v1 large-v2 large-v3 large-v3-turbo, or the reduced test architectures\n"
               "tiny-test tiny-test.en v3-test nano-test.\n");
}

static int parse_type(const char *s, hark_dtype *dt)
{
    int t = cli_parse_dtype(s);
    if (t < 0)
        return -1;
    *dt = (hark_dtype)t;
    return 0;
}

int cmd_convert(int argc, char **argv)
{
    hark_convert_params cp = hark_convert_default_params();
    const char *random_arch = NULL, *pos[2] = { NULL, NULL };
    long seed = 0;
    int n_pos = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            convert_usage(stdout);
            return 0;
        } else if (!strcmp(a, "--random") && v) {
            random_arch = v, i++;
        } else if (!strcmp(a, "--seed") && v) {
            seed = cli_long(v), i++;
        } else if (!strcmp(a, "--type") && v) {
            if (parse_type(v, &cp.dtype) != 0) {
                fprintf(stderr, "hark convert: unknown --type '%s' (f16, bf16 or f32)\n", v);
                return 2;
            }
            i++;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "hark convert: unknown or incomplete option '%s'\n", a);
            convert_usage(stderr);
            return 2;
        } else if (n_pos < 2) {
            pos[n_pos++] = a;
        } else {
            convert_usage(stderr);
            return 2;
        }
    }
    if (seed < 0 || (random_arch && n_pos != 1) || (!random_arch && n_pos != 2)) {
        convert_usage(stderr);
        return 2;
    }
    hark_status st;
    if (random_arch) {
        st = hark_convert_random(random_arch, (uint64_t)seed, pos[0], &cp);
        if (st != HARK_OK)
            return cli_error("cannot write the random model", st);
        fprintf(stderr, "hark: wrote %s (random weights, arch %s, seed %ld)\n", pos[0], random_arch, seed);
        return 0;
    }
    st = hark_convert(pos[0], pos[1], &cp);
    if (st != HARK_OK)
        return cli_error("conversion failed", st);
    fprintf(stderr, "hark: wrote %s\n", pos[1]);
    return 0;
}

int cmd_info(int argc, char **argv)
{
    if (argc != 2 || argv[1][0] == '-') {
        fprintf(argc == 2 ? stdout : stderr, "usage: hark info MODEL\n");
        return argc == 2 ? 0 : 2;
    }
    hark_model *m = cli_load_model(argv[1], 1, NULL, -1);
    if (!m)
        return 1;
    hark_model_dims d = hark_model_get_dims(m);
    printf("arch        %s%s\n", hark_model_arch(m), hark_model_is_random(m) ? " (random weights)" : "");
    printf("mels        %d\nvocab       %d (%s)\n", d.n_mels, d.n_vocab,
           hark_model_is_multilingual(m) ? "multilingual" : "English-only");
    printf("encoder     %d layers, width %d, %d heads, %d positions\n", d.n_audio_layer,
           d.n_audio_state, d.n_audio_head, d.n_audio_ctx);
    printf("decoder     %d layers, width %d, %d heads, %d positions\n", d.n_text_layer,
           d.n_text_state, d.n_text_head, d.n_text_ctx);
    hark_model_free(m);
    return 0;
}
