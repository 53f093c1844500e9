/*
 * cmd_transcribe.c — `hark transcribe`: audio files in, transcript files out, with the options
 * and defaults of openai/whisper's command line.
 *
 * ref: openai/whisper transcribe.py cli() — the option names (also accepted with '_' as there),
 * defaults (--beam_size 5, --best_of 5, --temperature 0 with increment 0.2, --output_format all,
 * --output_dir ".", --verbose True), "--X requires --word_timestamps True", a model name
 * downloaded when not cached, and each file's failure reported without stopping the others.
 * Segments print as they are decoded (hark_full_params.new_segment). Differences: the progress
 * bar (a TTY only) shows in both verbose modes; --prefix (DecodingOptions.prefix) is offered.
 * Output files and the printed lines are in transcribe_output.c.
 */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"
#include "transcribe_output.h"
#ifdef HARK_WITH_DOWNLOAD
#include "download/download.h"
#endif

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

static void transcribe_usage(FILE *f)
{
    fprintf(f,
        "usage: hark transcribe [options] FILE...    ('-' reads standard input)\n"
        "  -m, --model MODEL          a hark model file%s\n"
        "  --device DEV               auto (default: a GPU when present), cpu, cuda, cuda:N\n"
        "  --threads N                CPU threads (0: all cores)\n"
        "  -l, --language XX|auto     spoken language (default auto: detected)\n"
        "  --task transcribe|translate  (--translate = --task translate)\n"
        "  --temperature T            first sampling temperature (0)\n"
        "  --temperature-increment-on-fallback T  (0.2; 0: no fallback)\n"
        "  --best-of N                candidates when sampling at T > 0 (5)\n"
        "  --beam-size N              beams at T = 0 (5; 1: greedy)\n"
        "  --patience P               beam search patience (1.0)\n"
        "  --length-penalty A         Google NMT length penalty (none: plain log-prob / length)\n"
        "  --initial-prompt TEXT      text to condition the first window (also --prompt)\n"
        "  --carry-initial-prompt true|false  the initial prompt before every window (false)\n"
        "  --condition-on-previous-text true|false  (true)\n"
        "  --compression-ratio-threshold X  (2.4; none)\n"
        "  --logprob-threshold X      (-1.0; none)\n"
        "  --no-speech-threshold X    (0.6; none)\n"
        "  --prefix TEXT              text every window's transcript continues from\n"
        "  --word-timestamps true|false  word-level timings (false)\n"
        "  --prepend-punctuations S, --append-punctuations S  merged into the next / previous\n"
        "                             word (openai's defaults)\n"
        "  --clip-timestamps S,E,...  seconds of the clips to transcribe (0: all)\n"
        "  --hallucination-silence-threshold X  skip silences longer than X s before a likely\n"
        "                             hallucination (needs --word-timestamps true)\n"
        "  --max-line-width N, --max-line-count N, --max-words-per-line N,\n"
        "  --highlight-words true|false  subtitle layout (need --word-timestamps true)\n"
        "  -f, --output-format txt|srt|vtt|tsv|json|verbose_json|all  (all)\n"
        "  -o, --output-dir DIR       where the files go (.): <file name>.txt, .srt, .vtt, .tsv,\n"
        "                             .json, .verbose.json ('-' gives stdin.*)\n"
        "  --verbose true|false       print each segment (true)\n"
        "  --max-tokens N             tokens per 30 s window (0: the model's limit)\n"
        "  --seed N                   sampling seed\n"
        "  --fp16 true|false          accepted as openai's CLI does; the device picks the type\n"
        "  --fp8-encoder              GPU: the encoder's products in FP8 (docs/quant.md)\n",
#ifdef HARK_WITH_DOWNLOAD
        ", or an official name (tiny ... large-v3-turbo, turbo;\n"
        "                             default turbo), downloaded when not cached"
#else
        " (required)"
#endif
    );
}

/* The command line, parsed. */
typedef struct tr_cli {
    const char *model, *device, *language, *task, *output_format, *output_dir;
    long n_threads, best_of, beam_size, max_tokens, seed;
    long max_line_width, max_line_count, max_words_per_line;
    float temperature, temperature_increment, patience, length_penalty;
    float compression_ratio_threshold, logprob_threshold, no_speech_threshold;
    int condition_on_previous_text, word_timestamps, highlight_words, verbose, translate, fp16;
    int fp8_encoder;
    const char *initial_prompt, *prefix, *prepend_punctuations, *append_punctuations;
    const char *clip_timestamps;
    float hallucination_silence_threshold;
    double clips[256];
    int n_clips;
    int carry_initial_prompt;
    const char **files;
    int n_files;
} tr_cli;

static int usage_line(void)
{
    fprintf(stderr, "usage: hark transcribe [options] FILE...   ('hark transcribe --help' lists "
                    "the options)\n");
    return 2;
}

static int usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "hark transcribe: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    return usage_line();
}

/* Parses argv into c. Returns 0, -1 for --help (printed), or 2 after a usage error. */
static int parse_args(int argc, char **argv, tr_cli *c)
{
    const cli_opt specs[] = {
        { "model", "m", CLI_STR, &c->model },
        { "device", NULL, CLI_STR, &c->device },
        { "threads", "t", CLI_LONG, &c->n_threads },
        { "language", "l", CLI_STR, &c->language },
        { "task", NULL, CLI_STR, &c->task },
        { "translate", NULL, CLI_FLAG, &c->translate },
        { "temperature", NULL, CLI_FLOAT, &c->temperature },
        { "temperature-increment-on-fallback", NULL, CLI_OPT_FLOAT, &c->temperature_increment },
        { "best-of", NULL, CLI_LONG, &c->best_of },
        { "beam-size", NULL, CLI_LONG, &c->beam_size },
        { "patience", NULL, CLI_OPT_FLOAT, &c->patience },
        { "length-penalty", NULL, CLI_OPT_FLOAT, &c->length_penalty },
        { "initial-prompt", "prompt", CLI_STR, &c->initial_prompt },
        { "carry-initial-prompt", NULL, CLI_BOOL, &c->carry_initial_prompt },
        { "condition-on-previous-text", NULL, CLI_BOOL, &c->condition_on_previous_text },
        { "compression-ratio-threshold", NULL, CLI_OPT_FLOAT, &c->compression_ratio_threshold },
        { "logprob-threshold", NULL, CLI_OPT_FLOAT, &c->logprob_threshold },
        { "no-speech-threshold", NULL, CLI_OPT_FLOAT, &c->no_speech_threshold },
        { "word-timestamps", NULL, CLI_BOOL, &c->word_timestamps },
        { "prefix", NULL, CLI_STR, &c->prefix },
        { "prepend-punctuations", NULL, CLI_STR, &c->prepend_punctuations },
        { "append-punctuations", NULL, CLI_STR, &c->append_punctuations },
        { "clip-timestamps", NULL, CLI_STR, &c->clip_timestamps },
        { "hallucination-silence-threshold", NULL, CLI_OPT_FLOAT,
          &c->hallucination_silence_threshold },
        { "max-line-width", NULL, CLI_LONG, &c->max_line_width },
        { "max-line-count", NULL, CLI_LONG, &c->max_line_count },
        { "max-words-per-line", NULL, CLI_LONG, &c->max_words_per_line },
        { "highlight-words", NULL, CLI_BOOL, &c->highlight_words },
        { "output-format", "f", CLI_STR, &c->output_format },
        { "output-dir", "o", CLI_STR, &c->output_dir },
        { "verbose", NULL, CLI_BOOL, &c->verbose },
        { "max-tokens", NULL, CLI_LONG, &c->max_tokens },
        { "seed", NULL, CLI_LONG, &c->seed },
        { "fp16", NULL, CLI_BOOL, &c->fp16 }, /* accepted; the device decides the type */
        { "fp8-encoder", NULL, CLI_FLAG, &c->fp8_encoder },
    };
    int r = cli_parse_opts("transcribe", argc, argv, specs, (int)(sizeof(specs) / sizeof(specs[0])),
                           c->files, argc, &c->n_files);
    if (r == 1) {
        transcribe_usage(stdout);
        return -1;
    }
    return r == 0 ? 0 : usage_line();
}

/* Checks the values openai's CLI would reject or that make no sense. Returns 0 or 2. */
static int check_args(tr_cli *c)
{
    if (c->n_files == 0)
        return usage_error("no audio file given");
#ifndef HARK_WITH_DOWNLOAD
    if (!c->model)
        return usage_error("-m MODEL is required (this build cannot download models)");
#endif
    if (!strcmp(c->task, "translate"))
        c->translate = 1;
    else if (strcmp(c->task, "transcribe"))
        return usage_error("--task must be transcribe or translate, not '%s'", c->task);
    if (c->language && (!strcasecmp(c->language, "auto") || !strcasecmp(c->language, "none")))
        c->language = NULL;
    if (c->language) { /* a code or an English name, as openai's TO_LANGUAGE_CODE allows */
        const char *code = hark_language_code(hark_language_find(c->language));
        if (!code)
            return usage_error("unknown language '%s' (a code such as en, de, ja, or auto)",
                               c->language);
        c->language = code;
    }
    if (!tr_parse_formats(c->output_format))
        return usage_error("unknown output format '%s'", c->output_format);
    if (!*c->output_dir)
        return usage_error("empty --output-dir");
    if (c->temperature < 0 || c->temperature > 1)
        return usage_error("--temperature must be in [0, 1]");
    if (c->best_of < 1)
        return usage_error("--best-of must be at least 1");
    if (!isnan(c->patience) && c->patience <= 0)
        return usage_error("--patience must be positive");
    if (c->clip_timestamps) { /* "start,end,..." seconds, as openai's --clip_timestamps */
        const char *p = c->clip_timestamps;
        c->n_clips = 0;
        while (*p) {
            /* a plain decimal number each, as Python's float() of openai's CLI takes */
            size_t len = strcspn(p, ",");
            int plain = len > 0 && strspn(p, "0123456789.eE+-") >= len;
            char *end;
            double v = strtod(p, &end);
            if (!plain || end != p + len || !isfinite(v) || v < 0 || (p[len] == ',' && !p[len + 1]))
                return usage_error("bad --clip-timestamps '%s' (start,end,... in seconds)",
                                   c->clip_timestamps);
            if (c->n_clips == (int)(sizeof(c->clips) / sizeof(c->clips[0])))
                return usage_error("--clip-timestamps: more than %d times",
                                   (int)(sizeof(c->clips) / sizeof(c->clips[0])));
            c->clips[c->n_clips++] = v;
            p = *end ? end + 1 : end;
        }
    }
    if (!c->word_timestamps && !isnan(c->hallucination_silence_threshold))
        return usage_error("--hallucination-silence-threshold requires --word-timestamps true");
    if (!c->word_timestamps) {
        const char *names[] = { "highlight-words", "max-line-count", "max-line-width",
                                "max-words-per-line" };
        long set[] = { c->highlight_words, c->max_line_count, c->max_line_width,
                       c->max_words_per_line };
        for (int k = 0; k < 4; k++)
            if (set[k])
                return usage_error("--%s requires --word-timestamps true", names[k]);
    }
    return 0;
}

static hark_full_params full_params(const tr_cli *c)
{
    hark_full_params fp = hark_full_default_params();
    fp.language = c->language;
    fp.translate = c->translate;
    fp.temperature = c->temperature;
    fp.temperature_increment = isnan(c->temperature_increment) ? 0 : c->temperature_increment;
    fp.beam_size = (int)c->beam_size;
    fp.best_of = (int)c->best_of;
    fp.patience = isnan(c->patience) ? 1.0f : c->patience;
    fp.length_penalty = isnan(c->length_penalty) ? -1.0f : c->length_penalty;
    fp.compression_ratio_threshold =
        isnan(c->compression_ratio_threshold) ? 0 : c->compression_ratio_threshold;
    fp.logprob_threshold = c->logprob_threshold;
    fp.no_speech_threshold = c->no_speech_threshold;
    fp.condition_on_previous_text = c->condition_on_previous_text;
    fp.initial_prompt = c->initial_prompt;
    fp.carry_initial_prompt = c->carry_initial_prompt;
    fp.prefix = c->prefix;
    fp.word_timestamps = c->word_timestamps;
    fp.prepend_punctuations = c->prepend_punctuations;
    fp.append_punctuations = c->append_punctuations;
    fp.clip_timestamps = c->n_clips > 0 ? c->clips : NULL;
    fp.n_clip_timestamps = c->n_clips;
    fp.hallucination_silence_threshold = c->hallucination_silence_threshold; /* NAN: off */
    fp.max_tokens = (int)c->max_tokens;
    if (c->seed >= 0)
        fp.seed = (uint64_t)c->seed;
    return fp;
}

/* ---------------------------------------------------------------- model ---------------------- */

static int verbose_log;

/* Warnings and errors always; info lines (download progress) while verbose_log is set. */
static void cli_log(int level, const char *message, void *user)
{
    (void)user;
    if (level <= 1 || (level == 2 && verbose_log))
        fprintf(stderr, "hark: %s%s\n", level == 0 ? "error: " : level == 1 ? "warning: " : "",
                message);
}

/* Turns -m into a file path: a path as is; with downloads, an official name from the cache or
 * downloaded now (as openai/whisper's load_model does). Returns 0 or 1 (message printed). */
static int resolve_model(const char *model, char *path, size_t cap)
{
#ifdef HARK_WITH_DOWNLOAD
    if (access(model, F_OK) != 0 && !strchr(model, '/') && hark_known_model_find(model)) {
        verbose_log = 1;
        hark_status st = hark_model_resolve(model, path, cap, 1);
        verbose_log = 0;
        if (st == HARK_OK)
            return 0;
        cli_error(model, st); /* the detail says what to do when offline */
        return 1;
    }
#endif
    snprintf(path, cap, "%s", model);
    return 0;
}

/* ---------------------------------------------------------------- the command ---------------- */

/* Transcribes one file and writes its outputs. Returns 0 or 1 (message printed). */
static int transcribe_file(hark_state *state, const tr_cli *c, hark_full_params fp,
                           const hark_out_options *opt, const char *file, int multilingual)
{
    float *pcm = NULL;
    size_t n = 0;
    hark_status st = hark_audio_load(file, &pcm, &n);
    if (st != HARK_OK)
        return cli_error(file, st);
    double duration = (double)n / HARK_SAMPLE_RATE;
    tr_progress bar = { .duration = duration };
    if (isatty(fileno(stderr)) && n > HARK_N_SAMPLES) {
        fp.progress = tr_progress_draw;
        fp.progress_user = &bar;
    }
    int detect = multilingual && !fp.language;
    if (detect) {
        /* detected first, so that the language line comes before the segments, which print as
         * they are decoded (as openai/whisper's verbose mode) */
        if (c->verbose)
            fprintf(stderr, "Detecting language using up to the first 30 seconds. Use "
                            "`--language` to specify the language\n");
        int best = -1;
        st = hark_detect_language(state, pcm, n, NULL, &best);
        if (st != HARK_OK) {
            hark_free(pcm);
            return cli_error(file, st);
        }
        char name[64];
        fp.language = hark_language_code(best);
        fprintf(stderr, "Detected language: %s\n", tr_language_title(fp.language, name, sizeof(name)));
    }
    if (c->verbose) {
        fp.new_segment = tr_print_segment;
        fp.new_segment_user = stdout;
    }
    st = hark_transcribe(state, pcm, n, &fp);
    hark_free(pcm);
    tr_progress_clear(&bar);
    if (st != HARK_OK)
        return cli_error(file, st);
    return tr_write_outputs(state, file, c->output_dir, tr_parse_formats(c->output_format), opt,
                            fp.translate, duration);
}

/* Loads the model and state, then transcribes every file. Returns the exit code. */
static int run(const tr_cli *c)
{
    char path[4096];
    if (resolve_model(c->model, path, sizeof(path)) != 0)
        return 1;
    hark_model *model = cli_load_model(path, (int)c->n_threads, c->device, -1, c->fp8_encoder);
    if (!model)
        return 1;
    if (hark_model_is_random(model))
        fprintf(stderr, "hark: note: %s has random weights (made by 'hark convert --random'): its "
                        "transcript is meaningless text, shown to exercise the pipeline\n", path);
    hark_full_params fp = full_params(c);
    int multilingual = hark_model_is_multilingual(model);
    if (!multilingual && fp.language && strcmp(fp.language, "en"))
        fprintf(stderr, "hark: warning: %s is an English-only model but --language is '%s'; "
                        "using English instead.\n", path, fp.language);
    if (!multilingual)
        fp.language = "en";
    hark_out_options opt = hark_out_default_options();
    opt.max_line_width = (int)c->max_line_width;
    opt.max_line_count = (int)c->max_line_count;
    opt.max_words_per_line = (int)c->max_words_per_line;
    opt.highlight_words = c->highlight_words;
    opt.segment_words = c->word_timestamps;
    hark_state_params sp = hark_state_default_params();
    int n_seq = (int)(c->beam_size > c->best_of ? c->beam_size : c->best_of);
    sp.max_sequences = n_seq > 1 ? n_seq : 1;
    hark_state *state = NULL;
    hark_status st = hark_state_new(model, &sp, &state);
    if (st != HARK_OK) {
        hark_model_free(model);
        return cli_error("cannot create a state", st);
    }
    int rc = 0;
    for (int f = 0; f < c->n_files; f++)
        rc |= transcribe_file(state, c, fp, &opt, c->files[f], multilingual);
    hark_state_free(state);
    hark_model_free(model);
    return rc;
}

int cmd_transcribe(int argc, char **argv)
{
    tr_cli c = {
#ifdef HARK_WITH_DOWNLOAD
        .model = "turbo",
#endif
        .device = "auto", /* a GPU when there is one, as openai/whisper's cuda-if-available */
        .task = "transcribe", .output_format = "all", .output_dir = ".",
        .best_of = 5, .beam_size = 5, .seed = -1,
        .temperature = 0, .temperature_increment = 0.2f, .patience = NAN, .length_penalty = NAN,
        .compression_ratio_threshold = 2.4f, .logprob_threshold = -1.0f,
        .no_speech_threshold = 0.6f, .condition_on_previous_text = 1, .verbose = 1,
        .hallucination_silence_threshold = NAN,
    };
    c.files = calloc((size_t)argc, sizeof(*c.files));
    if (!c.files)
        return cli_error("transcribe", HARK_ERR_NOMEM);
    int rc = parse_args(argc, argv, &c);
    if (rc == 0)
        rc = check_args(&c);
    if (rc == 0) {
        hark_log_set(cli_log, NULL);
        rc = run(&c);
    }
    free(c.files);
    return rc < 0 ? 0 : rc;
}
