/* cmd_convert.c — `hark convert` (checkpoints to hark's file), `hark quantize` and `hark info`. */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void convert_usage(FILE *f)
{
    fprintf(f, "usage: hark convert [--type T] [--group N] IN OUT\n"
               "       hark convert --random ARCH [--seed N] [--type T] [--group N] OUT\n"
               "IN: an OpenAI .pt checkpoint, a Hugging Face model folder, a whisper.cpp ggml-*.bin\n"
               "or a hark file. ARCH: tiny tiny.en base base.en small small.en medium medium.en\n"
               "large-v1 large-v2 large-v3 large-v3-turbo, or the reduced test architectures\n"
               "tiny-test tiny-test.en v3-test nano-test.\n"
               "T: f16 (default), bf16, f32, or int8 / int4: the linear layers' weights quantized\n"
               "(int8 per output row, int4 in groups of N inputs, default 64; the rest f16;\n"
               "docs/quant.md).\n");
}

static void quantize_usage(FILE *f)
{
    fprintf(f, "usage: hark quantize --type int8|int4 [--group N] IN OUT\n"
               "Weight-only quantization of the linear layers' weights of IN (any model hark\n"
               "converts) into the hark file OUT: int8 with one fp16 scale per output row, or int4\n"
               "with one fp16 scale per group of N inputs (a multiple of 32; default 64).\n"
               "Embeddings, convolutions, norms and biases stay f16. Layouts: docs/quant.md.\n");
}

/* --type: a float type, or int8 / int4 (the float type stays f16). */
static int parse_type(const char *s, hark_convert_params *cp)
{
    if (!strcmp(s, "int8") || !strcmp(s, "int4")) {
        cp->quant = s[3] == '8' ? HARK_QUANT_INT8 : HARK_QUANT_INT4;
        return 0;
    }
    int t = cli_parse_dtype(s);
    if (t < 0)
        return -1;
    cp->dtype = (hark_dtype)t;
    return 0;
}

/* hark convert and hark quantize (quantize: a --type of int8 or int4 required). */
static int convert_main(int argc, char **argv, int quantize)
{
    const char *cmd = quantize ? "hark quantize" : "hark convert";
    void (*usage)(FILE *) = quantize ? quantize_usage : convert_usage;
    hark_convert_params cp = hark_convert_default_params();
    const char *random_arch = NULL, *pos[2] = { NULL, NULL };
    long seed = 0, group = cp.group;
    int n_pos = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!quantize && !strcmp(a, "--random") && v) {
            random_arch = v, i++;
        } else if (!quantize && !strcmp(a, "--seed") && v) {
            seed = cli_long(v), i++;
        } else if (!strcmp(a, "--type") && v) {
            if (parse_type(v, &cp) != 0 || (quantize && cp.quant == HARK_QUANT_NONE)) {
                fprintf(stderr, "%s: unknown --type '%s' (%s)\n", cmd, v,
                        quantize ? "int8 or int4" : "f16, bf16, f32, int8 or int4");
                usage(stderr);
                return 2;
            }
            i++;
        } else if (!strcmp(a, "--group") && v) {
            group = cli_long(v), i++;
            if (group < 32 || group % 32 != 0 || group > 1 << 20) {
                fprintf(stderr, "%s: --group %s: a multiple of 32 is needed\n", cmd, v);
                usage(stderr);
                return 2;
            }
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "%s: unknown or incomplete option '%s'\n", cmd, a);
            usage(stderr);
            return 2;
        } else if (n_pos < 2) {
            pos[n_pos++] = a;
        } else {
            usage(stderr);
            return 2;
        }
    }
    cp.group = (int)group;
    if (seed < 0 || (random_arch && n_pos != 1) || (!random_arch && n_pos != 2) ||
        (quantize && cp.quant == HARK_QUANT_NONE)) {
        usage(stderr);
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
        return cli_error(quantize ? "quantization failed" : "conversion failed", st);
    fprintf(stderr, "hark: wrote %s\n", pos[1]);
    return 0;
}

int cmd_convert(int argc, char **argv) { return convert_main(argc, argv, 0); }

int cmd_quantize(int argc, char **argv) { return convert_main(argc, argv, 1); }

int cmd_info(int argc, char **argv)
{
    if (argc != 2 || argv[1][0] == '-') {
        fprintf(argc == 2 ? stdout : stderr, "usage: hark info MODEL\n");
        return argc == 2 ? 0 : 2;
    }
    hark_model *m = cli_load_model(argv[1], 1, NULL, -1, 0);
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
    int group = 0, q = hark_model_quant(m, &group);
    if (q == HARK_QUANT_INT8)
        printf("quantized   int8 linear weights, a scale per output row\n");
    else if (q == HARK_QUANT_INT4)
        printf("quantized   int4 linear weights, a scale per %d inputs\n", group);
    hark_model_free(m);
    return 0;
}
