/*
 * hark.c — the `hark` command: one binary, one subcommand per job. Uses only include/hark.h.
 */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void usage(FILE *f)
{
    fprintf(f,
            "hark %s — Whisper speech recognition\n\n"
            "usage: hark <command> [options]\n\n"
            "commands:\n"
            "  transcribe -m MODEL FILE...     print the transcript of audio files ('-' = stdin)\n"
            "  convert IN OUT                  convert an OpenAI .pt, a Hugging Face folder or a\n"
            "                                  whisper.cpp ggml-*.bin to hark's model file\n"
            "  convert --random ARCH OUT       write a seeded random-weight model of ARCH\n"
            "  quantize --type int8|int4 IN OUT\n"
            "                                  weight-only quantization of a model's linear layers\n"
            "  compare -m REF -m TEST AUDIO    logits of two models over teacher-forced steps:\n"
            "                                  relative error, KL divergence, top-1 agreement\n"
            "  bench (-m MODEL | --arch ARCH)  time mel, encoder and decoder steps\n"
            "  forward -m MODEL --audio FILE --tokens IDS --out FILE\n"
            "                                  write teacher-forced logits (float32) for parity\n"
            "                                  checks\n"
            "  info MODEL                      print a model's architecture\n"
#ifdef HARK_WITH_SERVER
            "  serve -m MODEL                  serve it: KServe v2 / Triton and OpenAI-compatible\n"
            "                                  HTTP, batching across requests\n"
#endif
#ifdef HARK_WITH_CLIENT
            "  client health|asr|bench         check, use and benchmark a Whisper server\n"
            "                                  (KServe v2 HTTP or gRPC, OpenAI)\n"
#endif
#ifdef HARK_WITH_WER
            "  wer REF HYP                     word / character error rates as sclite counts\n"
            "                                  them, after openai/whisper's normalization\n"
            "  eval -m MODEL DATASET           transcribe a dataset (Kaldi, LibriSpeech, TSV,\n"
            "                                  folder): error rate and speed\n"
#endif
#ifdef HARK_WITH_DOWNLOAD
            "  download NAME                   fetch an official model (tiny.en ...\n"
            "                                  large-v3-turbo, turbo) into the cache, convert it,\n"
            "                                  print its path\n"
#endif
            "\n"
            "'hark <command> --help' tells more.\n",
            HARK_VERSION);
}

double cli_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int cli_error(const char *what, hark_status st)
{
    const char *detail = hark_last_error();
    fprintf(stderr, "hark: %s: %s (%s)\n", what, detail[0] ? detail : "failed",
            hark_status_str(st));
    return 1;
}

long cli_long(const char *s)
{
    if (!s || !*s)
        return -1;
    char *end;
    long v = strtol(s, &end, 10);
    return *end || v < 0 ? -1 : v;
}

int cli_parse_dtype(const char *s)
{
    if (!s)
        return -1;
    if (!strcmp(s, "f16") || !strcmp(s, "fp16") || !strcmp(s, "float16"))
        return HARK_DTYPE_F16;
    if (!strcmp(s, "bf16") || !strcmp(s, "bfloat16"))
        return HARK_DTYPE_BF16;
    if (!strcmp(s, "f32") || !strcmp(s, "fp32") || !strcmp(s, "float32"))
        return HARK_DTYPE_F32;
    return -2;
}

hark_model *cli_load_model(const char *path, int n_threads, const char *device, int dtype,
                           int encoder_fp8)
{
    hark_model_params mp = hark_model_default_params();
    mp.n_threads = n_threads;
    mp.dtype = dtype;
    mp.encoder_fp8 = encoder_fp8;
    if (device)
        mp.device = device;
    hark_model *m = NULL;
    hark_status st = hark_model_load(path, &mp, &m);
    if (st != HARK_OK) {
        cli_error("cannot load model", st);
        return NULL;
    }
    return m;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(cmd, "--version")) {
        printf("hark %s\n", HARK_VERSION);
        return 0;
    }
    static const struct {
        const char *name;
        int (*fn)(int, char **);
    } cmds[] = {
        { "transcribe", cmd_transcribe }, { "convert", cmd_convert }, { "bench", cmd_bench },
        { "forward", cmd_forward },       { "info", cmd_info },
        { "quantize", cmd_quantize },     { "compare", cmd_compare },
#ifdef HARK_WITH_DOWNLOAD
        { "download", cmd_download },
#endif
#ifdef HARK_WITH_SERVER
        { "serve", cmd_serve },
#endif
#ifdef HARK_WITH_CLIENT
        { "client", cmd_client },
#endif
#ifdef HARK_WITH_WER
        { "wer", cmd_wer },
        { "eval", cmd_eval },
#endif
    };
    for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
        if (!strcmp(cmd, cmds[i].name))
            return cmds[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "hark: unknown command '%s'\n\n", cmd);
    usage(stderr);
    return 2;
}
