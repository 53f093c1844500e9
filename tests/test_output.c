/*
 * test_output.c — the transcript writers (src/output): golden text for every format on a crafted
 * result (an hour-long offset, "-->" in text, non-ASCII and invalid UTF-8, a blank segment), the
 * word-timed subtitle options, srt/vtt re-read by FFmpeg's subtitle parsers when ffmpeg is on
 * PATH, the JSON formats parsed back with jansson and checked against the OpenAI schema, and bad
 * arguments.
 *
 * The word-timed goldens were checked against openai/whisper utils.py (commit c0d2f62) run on the
 * same input (WriteSRT / WriteVTT with the same options) by the script at the end of this file.
 * Set HARK_OUT_DUMP=dir to write every rendering to dir for such a comparison. Allocation
 * failures are injected by replacing the allocator (skipped under AddressSanitizer).
 */
#include "output/output.h"
#include "test.h"

#include <jansson.h>
#include <stdint.h>
#include <unistd.h>

/* ---------------------------------------------------------------- the crafted results -------- */

static const int32_t toks0[] = {2425, 1002, 13};
static const int32_t toks1[] = {634, 848, 11, 2497};

static const hark_out_segment segs[] = {
    {.id = 0, .seek = 0, .start = 0.0, .end = 2.5, .text = " Hello world.", .tokens = toks0,
     .n_tokens = 3, .temperature = 0.0f, .avg_logprob = -0.25f, .compression_ratio = 1.2f,
     .no_speech_prob = 0.01f},
    {.id = 1, .seek = 366100, .start = 3661.25, .end = 3663.5,
     .text = "  He said --> \xe2\x80\x9ch\xc3\xa9llo\xe2\x80\x9d \xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e ",
     .tokens = toks1, .n_tokens = 4, .temperature = 0.2f, .avg_logprob = -0.5f,
     .compression_ratio = 0.9f, .no_speech_prob = 0.1f},
    {.id = 2, .seek = 366100, .start = 3663.5, .end = 3664.0, .text = " ",
     .temperature = 0.0f},
    {.id = 3, .seek = 366400, .start = 3664.0, .end = 3665.0, .text = " bad \xff byte\tx",
     .temperature = 1.0f, .avg_logprob = -1.0f / 3.0f},
};

static const hark_out_result result = {
    .task = "transcribe", .language = "english", .duration = 3665.0, .text = NULL,
    .segments = segs, .n_segments = 4,
};

#define HELLO_JA "\xe2\x80\x9ch\xc3\xa9llo\xe2\x80\x9d \xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e"
#define FFFD "\xef\xbf\xbd"

static const char gold_txt[] = "Hello world.\n"
                               "He said --> " HELLO_JA "\n"
                               "\n"
                               "bad " FFFD " byte\tx\n";

static const char gold_srt[] = "1\n00:00:00,000 --> 00:00:02,500\nHello world.\n\n"
                               "2\n01:01:01,250 --> 01:01:03,500\nHe said -> " HELLO_JA "\n\n"
                               "3\n01:01:04,000 --> 01:01:05,000\nbad " FFFD " byte\tx\n\n";

static const char gold_vtt[] = "WEBVTT\n\n"
                               "00:00.000 --> 00:02.500\nHello world.\n\n"
                               "01:01:01.250 --> 01:01:03.500\nHe said -> " HELLO_JA "\n\n"
                               "01:01:04.000 --> 01:01:05.000\nbad " FFFD " byte\tx\n\n";

static const char gold_tsv[] = "start\tend\ttext\n"
                               "0\t2500\tHello world.\n"
                               "3661250\t3663500\tHe said --> " HELLO_JA "\n"
                               "3663500\t3664000\t\n"
                               "3664000\t3665000\tbad " FFFD " byte x\n";

static const char gold_json[] =
    "{\"text\": \" Hello world.  He said --> " HELLO_JA "   bad " FFFD " byte\\tx\"}";

static const char gold_verbose[] =
    "{\"task\": \"transcribe\", \"language\": \"english\", \"duration\": 3665.0, "
    "\"text\": \" Hello world.  He said --> " HELLO_JA "   bad " FFFD " byte\\tx\", "
    "\"segments\": ["
    "{\"id\": 0, \"seek\": 0, \"start\": 0.0, \"end\": 2.5, \"text\": \" Hello world.\", "
    "\"tokens\": [2425, 1002, 13], \"temperature\": 0.0, \"avg_logprob\": -0.25, "
    "\"compression_ratio\": 1.2, \"no_speech_prob\": 0.01}, "
    "{\"id\": 1, \"seek\": 366100, \"start\": 3661.25, \"end\": 3663.5, "
    "\"text\": \"  He said --> " HELLO_JA " \", \"tokens\": [634, 848, 11, 2497], "
    "\"temperature\": 0.2, \"avg_logprob\": -0.5, \"compression_ratio\": 0.9, "
    "\"no_speech_prob\": 0.1}, "
    "{\"id\": 2, \"seek\": 366100, \"start\": 3663.5, \"end\": 3664.0, \"text\": \" \", "
    "\"tokens\": [], \"temperature\": 0.0, \"avg_logprob\": 0.0, \"compression_ratio\": 0.0, "
    "\"no_speech_prob\": 0.0}, "
    "{\"id\": 3, \"seek\": 366400, \"start\": 3664.0, \"end\": 3665.0, "
    "\"text\": \" bad " FFFD " byte\\tx\", \"tokens\": [], \"temperature\": 1.0, "
    "\"avg_logprob\": -0.33333334, \"compression_ratio\": 0.0, \"no_speech_prob\": 0.0}]}";

/* Word-timed: a pause of 3.9 s between the segments, a non-ASCII word. */
static const hark_out_word words_a[] = {
    {0.0, 0.3, " The", 0.9f},   {0.3, 0.6, " quick", 0.8f}, {0.6, 0.9, " brown", 0.7f},
    {0.9, 1.2, " fox", 0.6f},   {1.3, 1.6, " jumps", 0.5f}, {1.6, 1.9, " over", 0.4f},
};
static const hark_out_word words_b[] = {
    {5.8, 6.0, " the", 0.9f},   {6.0, 6.3, " lazy", 0.9f},
    {6.3, 6.7, " dog.", 0.9f},  {6.9, 7.2, " \xc3\x87" "a", 0.9f},
    {7.2, 7.5, " va?", 0.9f},
};
static const hark_out_segment wsegs[] = {
    {.id = 0, .start = 0.0, .end = 2.0, .text = " The quick brown fox jumps over",
     .words = words_a, .n_words = 6},
    {.id = 1, .seek = 500, .start = 5.5, .end = 8.0,
     .text = " the lazy dog. \xc3\x87" "a va?", .words = words_b, .n_words = 5},
};
static const hark_out_result wresult = {
    .task = "translate", .language = "french", .duration = 8.0, .text = " whole",
    .segments = wsegs, .n_segments = 2,
};

/* Goldens printed by openai/whisper utils.py (c0d2f62) WriteSRT / WriteVTT on wresult. */
static const struct word_case {
    hark_out_options opt;
    const char *srt, *vtt;
} word_cases[] = {
    {{.max_line_width = 0, .max_line_count = 0, .max_words_per_line = 0, .highlight_words = 0},
     "1\n00:00:00,000 --> 00:00:01,900\nThe quick brown fox jumps over\n\n"
     "2\n00:00:05,800 --> 00:00:07,500\nthe lazy dog. \xc3""\x87""a va?\n\n",
     "WEBVTT\n\n"
     "00:00.000 --> 00:01.900\nThe quick brown fox jumps over\n\n"
     "00:05.800 --> 00:07.500\nthe lazy dog. \xc3""\x87""a va?\n\n",
    },
    {{.max_line_width = 12, .max_line_count = 2, .max_words_per_line = 0, .highlight_words = 0},
     "1\n00:00:00,000 --> 00:00:01,200\nThe quick\nbrown fox\n\n"
     "2\n00:00:01,300 --> 00:00:01,900\njumps over\n\n"
     "3\n00:00:05,800 --> 00:00:07,500\nthe lazy\ndog. \xc3""\x87""a va?\n\n",
     "WEBVTT\n\n"
     "00:00.000 --> 00:01.200\nThe quick\nbrown fox\n\n"
     "00:01.300 --> 00:01.900\njumps over\n\n"
     "00:05.800 --> 00:07.500\nthe lazy\ndog. \xc3""\x87""a va?\n\n",
    },
    {{.max_line_width = 12, .max_line_count = 0, .max_words_per_line = 0, .highlight_words = 0},
     "1\n00:00:00,000 --> 00:00:01,900\nThe quick\nbrown fox\njumps over\n\n"
     "2\n00:00:05,800 --> 00:00:07,500\nthe lazy\ndog. \xc3""\x87""a va?\n\n",
     "WEBVTT\n\n"
     "00:00.000 --> 00:01.900\nThe quick\nbrown fox\njumps over\n\n"
     "00:05.800 --> 00:07.500\nthe lazy\ndog. \xc3""\x87""a va?\n\n",
    },
    {{.max_line_width = 0, .max_line_count = 0, .max_words_per_line = 2, .highlight_words = 0},
     "1\n00:00:00,000 --> 00:00:00,600\nThe quick\n\n"
     "2\n00:00:00,600 --> 00:00:01,200\nbrown fox\n\n"
     "3\n00:00:01,300 --> 00:00:01,900\njumps over\n\n"
     "4\n00:00:05,800 --> 00:00:06,300\nthe lazy\n\n"
     "5\n00:00:06,300 --> 00:00:07,200\ndog. \xc3""\x87""a\n\n"
     "6\n00:00:07,200 --> 00:00:07,500\nva?\n\n",
     "WEBVTT\n\n"
     "00:00.000 --> 00:00.600\nThe quick\n\n"
     "00:00.600 --> 00:01.200\nbrown fox\n\n"
     "00:01.300 --> 00:01.900\njumps over\n\n"
     "00:05.800 --> 00:06.300\nthe lazy\n\n"
     "00:06.300 --> 00:07.200\ndog. \xc3""\x87""a\n\n"
     "00:07.200 --> 00:07.500\nva?\n\n",
    },
    {{.max_line_width = 0, .max_line_count = 0, .max_words_per_line = 0, .highlight_words = 1},
     "1\n00:00:00,000 --> 00:00:00,300\n<u>The</u> quick brown fox jumps over\n\n"
     "2\n00:00:00,300 --> 00:00:00,600\nThe <u>quick</u> brown fox jumps over\n\n"
     "3\n00:00:00,600 --> 00:00:00,900\nThe quick <u>brown</u> fox jumps over\n\n"
     "4\n00:00:00,900 --> 00:00:01,200\nThe quick brown <u>fox</u> jumps over\n\n"
     "5\n00:00:01,200 --> 00:00:01,300\nThe quick brown fox jumps over\n\n"
     "6\n00:00:01,300 --> 00:00:01,600\nThe quick brown fox <u>jumps</u> over\n\n"
     "7\n00:00:01,600 --> 00:00:01,900\nThe quick brown fox jumps <u>over</u>\n\n"
     "8\n00:00:05,800 --> 00:00:06,000\n<u>the</u> lazy dog. \xc3""\x87""a va?\n\n"
     "9\n00:00:06,000 --> 00:00:06,300\nthe <u>lazy</u> dog. \xc3""\x87""a va?\n\n"
     "10\n00:00:06,300 --> 00:00:06,700\nthe lazy <u>dog.</u> \xc3""\x87""a va?\n\n"
     "11\n00:00:06,700 --> 00:00:06,900\nthe lazy dog. \xc3""\x87""a va?\n\n"
     "12\n00:00:06,900 --> 00:00:07,200\nthe lazy dog. <u>\xc3""\x87""a</u> va?\n\n"
     "13\n00:00:07,200 --> 00:00:07,500\nthe lazy dog. \xc3""\x87""a <u>va?</u>\n\n",
     "WEBVTT\n\n"
     "00:00.000 --> 00:00.300\n<u>The</u> quick brown fox jumps over\n\n"
     "00:00.300 --> 00:00.600\nThe <u>quick</u> brown fox jumps over\n\n"
     "00:00.600 --> 00:00.900\nThe quick <u>brown</u> fox jumps over\n\n"
     "00:00.900 --> 00:01.200\nThe quick brown <u>fox</u> jumps over\n\n"
     "00:01.200 --> 00:01.300\nThe quick brown fox jumps over\n\n"
     "00:01.300 --> 00:01.600\nThe quick brown fox <u>jumps</u> over\n\n"
     "00:01.600 --> 00:01.900\nThe quick brown fox jumps <u>over</u>\n\n"
     "00:05.800 --> 00:06.000\n<u>the</u> lazy dog. \xc3""\x87""a va?\n\n"
     "00:06.000 --> 00:06.300\nthe <u>lazy</u> dog. \xc3""\x87""a va?\n\n"
     "00:06.300 --> 00:06.700\nthe lazy <u>dog.</u> \xc3""\x87""a va?\n\n"
     "00:06.700 --> 00:06.900\nthe lazy dog. \xc3""\x87""a va?\n\n"
     "00:06.900 --> 00:07.200\nthe lazy dog. <u>\xc3""\x87""a</u> va?\n\n"
     "00:07.200 --> 00:07.500\nthe lazy dog. \xc3""\x87""a <u>va?</u>\n\n",
    },
    {{.max_line_width = 10, .max_line_count = 2, .max_words_per_line = 0, .highlight_words = 1},
     "1\n00:00:00,000 --> 00:00:00,300\n<u>The</u> quick\nbrown fox\n\n"
     "2\n00:00:00,300 --> 00:00:00,600\nThe <u>quick</u>\nbrown fox\n\n"
     "3\n00:00:00,600 --> 00:00:00,900\nThe quick\n<u>brown</u> fox\n\n"
     "4\n00:00:00,900 --> 00:00:01,200\nThe quick\nbrown <u>fox</u>\n\n"
     "5\n00:00:01,300 --> 00:00:01,600\n<u>jumps</u> over\n\n"
     "6\n00:00:01,600 --> 00:00:01,900\njumps <u>over</u>\n\n"
     "7\n00:00:05,800 --> 00:00:06,000\n<u>the</u> lazy\ndog. \xc3""\x87""a\n\n"
     "8\n00:00:06,000 --> 00:00:06,300\nthe <u>lazy</u>\ndog. \xc3""\x87""a\n\n"
     "9\n00:00:06,300 --> 00:00:06,700\nthe lazy\n<u>dog.</u> \xc3""\x87""a\n\n"
     "10\n00:00:06,700 --> 00:00:06,900\nthe lazy\ndog. \xc3""\x87""a\n\n"
     "11\n00:00:06,900 --> 00:00:07,200\nthe lazy\ndog. <u>\xc3""\x87""a</u>\n\n"
     "12\n00:00:07,200 --> 00:00:07,500\n<u>va?</u>\n\n",
     "WEBVTT\n\n"
     "00:00.000 --> 00:00.300\n<u>The</u> quick\nbrown fox\n\n"
     "00:00.300 --> 00:00.600\nThe <u>quick</u>\nbrown fox\n\n"
     "00:00.600 --> 00:00.900\nThe quick\n<u>brown</u> fox\n\n"
     "00:00.900 --> 00:01.200\nThe quick\nbrown <u>fox</u>\n\n"
     "00:01.300 --> 00:01.600\n<u>jumps</u> over\n\n"
     "00:01.600 --> 00:01.900\njumps <u>over</u>\n\n"
     "00:05.800 --> 00:06.000\n<u>the</u> lazy\ndog. \xc3""\x87""a\n\n"
     "00:06.000 --> 00:06.300\nthe <u>lazy</u>\ndog. \xc3""\x87""a\n\n"
     "00:06.300 --> 00:06.700\nthe lazy\n<u>dog.</u> \xc3""\x87""a\n\n"
     "00:06.700 --> 00:06.900\nthe lazy\ndog. \xc3""\x87""a\n\n"
     "00:06.900 --> 00:07.200\nthe lazy\ndog. <u>\xc3""\x87""a</u>\n\n"
     "00:07.200 --> 00:07.500\n<u>va?</u>\n\n",
    },
    {{.max_line_width = 16, .max_line_count = 1, .max_words_per_line = 0, .highlight_words = 0},
     "1\n00:00:00,000 --> 00:00:00,900\nThe quick brown\n\n"
     "2\n00:00:00,900 --> 00:00:01,900\nfox jumps over\n\n"
     "3\n00:00:05,800 --> 00:00:07,200\nthe lazy dog. \xc3""\x87""a\n\n"
     "4\n00:00:07,200 --> 00:00:07,500\nva?\n\n",
     "WEBVTT\n\n"
     "00:00.000 --> 00:00.900\nThe quick brown\n\n"
     "00:00.900 --> 00:01.900\nfox jumps over\n\n"
     "00:05.800 --> 00:07.200\nthe lazy dog. \xc3""\x87""a\n\n"
     "00:07.200 --> 00:07.500\nva?\n\n",
    },
};

/* ---------------------------------------------------------------- helpers -------------------- */

static char *render(const hark_out_result *r, hark_out_format f, const hark_out_options *opt)
{
    char *text = NULL;
    size_t len = 0;
    CHECK_OK(hark_out_render(r, f, opt, &text, &len));
    if (text) {
        CHECK(len == strlen(text), "length %zu vs strlen %zu", len, strlen(text));
        const char *dir = getenv("HARK_OUT_DUMP");
        if (dir) {
            static int n;
            char path[512];
            snprintf(path, sizeof path, "%s/%02d.%s", dir, n++, hark_out_format_ext(f));
            FILE *fp = fopen(path, "wb");
            if (fp) {
                fwrite(text, 1, len, fp);
                fclose(fp);
            }
        }
    }
    return text;
}

static void check_golden(const hark_out_result *r, hark_out_format f,
                         const hark_out_options *opt, const char *want, const char *what)
{
    char *got = render(r, f, opt);
    CHECK(got && strcmp(got, want) == 0, "%s:\n--- got ---\n%s\n--- want ---\n%s", what,
          got ? got : "(null)", want);
    free(got);
}

static int count_arrows(const char *s)
{
    int n = 0;
    for (const char *p = s; (p = strstr(p, " --> ")) != NULL; p += 5)
        n++;
    return n;
}

static int have_ffmpeg(void)
{
    static int known = -1;
    if (known < 0)
        known = system("command -v ffmpeg >/dev/null 2>&1") == 0;
    return known;
}

/* Writes text to a temporary .srt/.vtt file, has ffmpeg read it and write it back in the same
 * format, and checks the exit status, that nothing went to stderr, and the cue count. */
static void check_ffmpeg(const char *text, hark_out_format f, const char *what)
{
    if (!have_ffmpeg())
        return;
    const char *ext = hark_out_format_ext(f);
    char path[64], err[80];
    snprintf(path, sizeof path, "/tmp/hark_test_output_XXXXXX.%s", ext);
    int fd = mkstemps(path, (int)strlen(ext) + 1);
    CHECK(fd >= 0, "%s: mkstemps", what);
    if (fd < 0)
        return;
    size_t n = strlen(text);
    CHECK(write(fd, text, n) == (ssize_t)n, "%s: write", what);
    close(fd);
    snprintf(err, sizeof err, "%s.err", path);

    char cmd[256];
    snprintf(cmd, sizeof cmd, "ffmpeg -nostdin -v error -i %s -f %s - 2>%s", path,
             f == HARK_OUT_SRT ? "srt" : "webvtt", err);
    FILE *p = popen(cmd, "r");
    CHECK(p != NULL, "%s: popen", what);
    if (!p)
        goto out_unlink;
    char buf[8192];
    size_t got = fread(buf, 1, sizeof buf - 1, p);
    buf[got] = '\0';
    int rc = pclose(p);
    CHECK(rc == 0, "%s: ffmpeg exit status %d", what, rc);
    CHECK(count_arrows(buf) == count_arrows(text), "%s: ffmpeg re-emitted %d cues of %d:\n%s",
          what, count_arrows(buf), count_arrows(text), buf);
    FILE *fe = fopen(err, "rb");
    if (fe) {
        char e[512];
        size_t en = fread(e, 1, sizeof e - 1, fe);
        e[en] = '\0';
        CHECK(en == 0, "%s: ffmpeg said: %s", what, e);
        fclose(fe);
    }
out_unlink:
    unlink(path);
    unlink(err);
}

/* ---------------------------------------------------------------- tests ---------------------- */

static void test_goldens(void)
{
    check_golden(&result, HARK_OUT_TXT, NULL, gold_txt, "txt");
    check_golden(&result, HARK_OUT_SRT, NULL, gold_srt, "srt");
    check_golden(&result, HARK_OUT_VTT, NULL, gold_vtt, "vtt");
    check_golden(&result, HARK_OUT_TSV, NULL, gold_tsv, "tsv");
    check_golden(&result, HARK_OUT_JSON, NULL, gold_json, "json");
    check_golden(&result, HARK_OUT_VERBOSE_JSON, NULL, gold_verbose, "verbose_json");
    check_ffmpeg(gold_srt, HARK_OUT_SRT, "srt golden");
    check_ffmpeg(gold_vtt, HARK_OUT_VTT, "vtt golden");
}

static void test_word_cues(void)
{
    int n = (int)(sizeof word_cases / sizeof word_cases[0]);
    for (int i = 0; i < n; i++) {
        char what[64];
        snprintf(what, sizeof what, "word case %d srt", i);
        check_golden(&wresult, HARK_OUT_SRT, &word_cases[i].opt, word_cases[i].srt, what);
        check_ffmpeg(word_cases[i].srt, HARK_OUT_SRT, what);
        snprintf(what, sizeof what, "word case %d vtt", i);
        check_golden(&wresult, HARK_OUT_VTT, &word_cases[i].opt, word_cases[i].vtt, what);
        check_ffmpeg(word_cases[i].vtt, HARK_OUT_VTT, what);
    }
    /* txt and tsv ignore word timings. */
    check_golden(&wresult, HARK_OUT_TXT, &word_cases[1].opt,
                 "The quick brown fox jumps over\nthe lazy dog. \xc3\x87" "a va?\n", "word txt");
}

/* Checks that key of o has a JSON type for which is(v) holds. */
#define CHECK_FIELD(o, key, is)                                                                 \
    CHECK(is(json_object_get((o), (key))), "field \"%s\" missing or not %s", (key), #is)

static void check_segment_schema(json_t *seg, int with_words)
{
    CHECK_FIELD(seg, "id", json_is_integer);
    CHECK_FIELD(seg, "seek", json_is_integer);
    CHECK_FIELD(seg, "start", json_is_real);
    CHECK_FIELD(seg, "end", json_is_real);
    CHECK_FIELD(seg, "text", json_is_string);
    CHECK_FIELD(seg, "tokens", json_is_array);
    CHECK_FIELD(seg, "temperature", json_is_real);
    CHECK_FIELD(seg, "avg_logprob", json_is_real);
    CHECK_FIELD(seg, "compression_ratio", json_is_real);
    CHECK_FIELD(seg, "no_speech_prob", json_is_real);
    json_t *tokens = json_object_get(seg, "tokens");
    for (size_t i = 0; i < json_array_size(tokens); i++)
        CHECK(json_is_integer(json_array_get(tokens, i)), "token %zu not an integer", i);
    CHECK((json_object_get(seg, "words") != NULL) == with_words, "segment words present: %d",
          with_words);
}

/* Parses a rendering back with jansson and checks the OpenAI verbose_json schema. */
static void check_verbose_schema(const hark_out_result *r, const hark_out_options *opt,
                                 int n_words)
{
    char *text = render(r, HARK_OUT_VERBOSE_JSON, opt);
    json_error_t err;
    json_t *root = text ? json_loads(text, 0, &err) : NULL;
    CHECK(root != NULL, "verbose_json does not parse: %s", text ? err.text : "(no text)");
    if (root) {
        CHECK_FIELD(root, "task", json_is_string);
        CHECK_FIELD(root, "language", json_is_string);
        CHECK_FIELD(root, "duration", json_is_real);
        CHECK_FIELD(root, "text", json_is_string);
        CHECK_FIELD(root, "segments", json_is_array);
        json_t *segments = json_object_get(root, "segments");
        CHECK((int)json_array_size(segments) == r->n_segments, "%zu segments",
              json_array_size(segments));
        for (size_t i = 0; i < json_array_size(segments); i++)
            check_segment_schema(json_array_get(segments, i), opt && opt->segment_words);
        json_t *words = json_object_get(root, "words");
        CHECK(n_words ? json_is_array(words) : words == NULL, "top-level words");
        CHECK((int)json_array_size(words) == n_words, "%zu words", json_array_size(words));
        for (size_t i = 0; i < json_array_size(words); i++) {
            json_t *w = json_array_get(words, i);
            CHECK_FIELD(w, "word", json_is_string);
            CHECK_FIELD(w, "start", json_is_real);
            CHECK_FIELD(w, "end", json_is_real);
            CHECK(json_object_size(w) == 3, "word %zu has %zu fields", i, json_object_size(w));
        }
    }
    json_decref(root);
    free(text);
}

static void test_json(void)
{
    check_verbose_schema(&result, NULL, 0);
    check_verbose_schema(&wresult, NULL, 11);
    hark_out_options opt = hark_out_default_options();
    opt.segment_words = 1;
    check_verbose_schema(&wresult, &opt, 11);

    /* The per-segment words carry their probability, and the values read back. */
    char *text = render(&wresult, HARK_OUT_VERBOSE_JSON, &opt);
    json_t *root = text ? json_loads(text, 0, NULL) : NULL;
    json_t *w = json_array_get(
        json_object_get(json_array_get(json_object_get(root, "segments"), 1), "words"), 3);
    CHECK(w && strcmp(json_string_value(json_object_get(w, "word")), " \xc3\x87" "a") == 0,
          "segment 1 word 3");
    CHECK(json_real_value(json_object_get(w, "start")) == 6.9, "word start");
    CHECK(json_real_value(json_object_get(w, "probability")) == 0.9, "word probability");
    CHECK(strcmp(json_string_value(json_object_get(root, "task")), "translate") == 0, "task");
    CHECK(strcmp(json_string_value(json_object_get(root, "text")), " whole") == 0, "text");
    json_decref(root);
    free(text);

    /* Times round to milliseconds; NaN becomes null; NULL language and task. */
    hark_out_segment s = {.start = 1.23449999, .end = NAN, .text = "x", .avg_logprob = NAN};
    hark_out_result r = {.duration = 1.0 / 3.0, .segments = &s, .n_segments = 1};
    check_golden(&r, HARK_OUT_VERBOSE_JSON, NULL,
                 "{\"task\": \"transcribe\", \"language\": null, \"duration\": 0.333, "
                 "\"text\": \"x\", \"segments\": [{\"id\": 0, \"seek\": 0, \"start\": 1.234, "
                 "\"end\": null, \"text\": \"x\", \"tokens\": [], \"temperature\": 0.0, "
                 "\"avg_logprob\": null, \"compression_ratio\": 0.0, \"no_speech_prob\": 0.0}]}",
                 "verbose_json with NaN");
    /* Control characters and quotes are escaped. */
    hark_out_result q = {.text = "a\"b\\c\x01\n"};
    check_golden(&q, HARK_OUT_JSON, NULL, "{\"text\": \"a\\\"b\\\\c\\u0001\\n\"}", "json escapes");
}

static void test_edge_cases(void)
{
    hark_out_result empty = {0};
    check_golden(&empty, HARK_OUT_TXT, NULL, "", "empty txt");
    check_golden(&empty, HARK_OUT_SRT, NULL, "", "empty srt");
    check_golden(&empty, HARK_OUT_VTT, NULL, "WEBVTT\n\n", "empty vtt");
    check_golden(&empty, HARK_OUT_TSV, NULL, "start\tend\ttext\n", "empty tsv");
    check_golden(&empty, HARK_OUT_JSON, NULL, "{\"text\": \"\"}", "empty json");
    check_golden(&empty, HARK_OUT_VERBOSE_JSON, NULL,
                 "{\"task\": \"transcribe\", \"language\": null, \"duration\": 0.0, "
                 "\"text\": \"\", \"segments\": []}",
                 "empty verbose_json");

    /* Rounding half to even at exact halves (Python's round), negative times clamp to 0, a 100 h
     * timestamp, arrows that re-form ("--->"), blank lines inside a cue, NULL text. */
    hark_out_segment s[] = {
        {.start = 0.0005, .end = 0.0015, .text = "a --->b"},
        {.start = -1.0, .end = 360000.0625, .text = "one\n\n \ntwo\r\nthree"},
        {.start = 1.0, .end = 2.0, .text = NULL},
    };
    hark_out_result r = {.segments = s, .n_segments = 3};
    check_golden(&r, HARK_OUT_SRT, NULL,
                 "1\n00:00:00,000 --> 00:00:00,002\na ->b\n\n"
                 "2\n00:00:00,000 --> 100:00:00,062\none\ntwo\nthree\n\n",
                 "srt edge cases");
    check_golden(&r, HARK_OUT_TSV, NULL,
                 "start\tend\ttext\n0\t2\ta --->b\n0\t360000062\tone    two  three\n1000\t2000\t\n",
                 "tsv edge cases");
    char *srt = render(&r, HARK_OUT_SRT, NULL);
    if (srt)
        check_ffmpeg(srt, HARK_OUT_SRT, "srt edge cases");
    free(srt);
}

static void test_bad_args(void)
{
    char *text = (char *)"sentinel";
    size_t len = 7;
    CHECK(hark_out_render(NULL, HARK_OUT_TXT, NULL, &text, &len) == HARK_ERR_INVALID_ARG,
          "NULL result");
    CHECK(text == NULL && len == 0, "outputs cleared");
    CHECK(hark_out_render(&result, HARK_OUT_TXT, NULL, NULL, &len) == HARK_ERR_INVALID_ARG,
          "NULL text");
    CHECK(hark_out_render(&result, (hark_out_format)42, NULL, &text, &len) ==
              HARK_ERR_INVALID_ARG, "unknown format");
    hark_out_result r = {.n_segments = -1};
    CHECK(hark_out_render(&r, HARK_OUT_TXT, NULL, &text, &len) == HARK_ERR_INVALID_ARG,
          "negative count");
    r.n_segments = 2;
    CHECK(hark_out_render(&r, HARK_OUT_SRT, NULL, &text, &len) == HARK_ERR_INVALID_ARG,
          "NULL segments");
    hark_out_segment s = {.n_words = 3};
    r.segments = &s;
    r.n_segments = 1;
    CHECK(hark_out_render(&r, HARK_OUT_VTT, NULL, &text, &len) == HARK_ERR_INVALID_ARG,
          "NULL words");
    CHECK(text == NULL, "no text on failure");

    static const char *names[] = {"txt", "srt", "vtt", "tsv", "json", "verbose_json"};
    static const char *exts[] = {"txt", "srt", "vtt", "tsv", "json", "json"};
    for (int i = 0; i < 6; i++) {
        hark_out_format f = HARK_OUT_TXT;
        CHECK_OK(hark_out_format_parse(names[i], &f));
        CHECK((int)f == i, "%s parsed as %d", names[i], (int)f);
        CHECK(strcmp(hark_out_format_ext(f), exts[i]) == 0, "ext of %s", names[i]);
    }
    hark_out_format f;
    CHECK_OK(hark_out_format_parse("SRT", &f));
    CHECK(f == HARK_OUT_SRT, "case-insensitive");
    CHECK(hark_out_format_parse("docx", &f) == HARK_ERR_INVALID_ARG, "unknown name");
    CHECK(strstr(hark_last_error(), "docx") != NULL, "error names it: %s", hark_last_error());
    CHECK(hark_out_format_parse(NULL, &f) == HARK_ERR_INVALID_ARG, "NULL name");
    CHECK(strcmp(hark_out_format_ext((hark_out_format)-1), "") == 0, "ext of bad format");
    CHECK(strcmp(hark_out_format_mime(HARK_OUT_VTT), "text/vtt; charset=utf-8") == 0, "mime");
}

/* Allocation failures, injected by replacing glibc's allocator in this program (not under
 * AddressSanitizer, which owns the allocator): every failing allocation of every format must
 * give HARK_ERR_NOMEM and no text, never a crash. */
#if defined(__GLIBC__) && !defined(__SANITIZE_ADDRESS__)
#define TEST_OOM 1
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void __libc_free(void *);
static long oom_countdown = -1; /* allocations left before failing; -1: never fail */
static long oom_live;           /* blocks allocated minus blocks freed, while counting */

static int oom_now(void)
{
    if (oom_countdown < 0)
        return 0;
    return oom_countdown-- == 0;
}
void *malloc(size_t n)
{
    void *p = oom_now() ? NULL : __libc_malloc(n);
    oom_live += p != NULL;
    return p;
}
void *calloc(size_t n, size_t m)
{
    void *p = oom_now() ? NULL : __libc_calloc(n, m);
    oom_live += p != NULL;
    return p;
}
void *realloc(void *p, size_t n)
{
    void *q = oom_now() ? NULL : __libc_realloc(p, n);
    oom_live += p == NULL && q != NULL;
    return q;
}
void free(void *p)
{
    oom_live -= p != NULL;
    __libc_free(p);
}
#endif

static void test_oom(void)
{
#ifdef TEST_OOM
    hark_out_options opt = hark_out_default_options();
    opt.segment_words = 1;
    opt.highlight_words = 1;
    opt.max_line_width = 12;
    opt.max_line_count = 2;
    const hark_out_result *inputs[] = {&result, &wresult};
    for (int in = 0; in < 2; in++) {
        for (int f = HARK_OUT_TXT; f <= HARK_OUT_VERBOSE_JSON; f++) {
            int failures = 0, ok = 0;
            for (long at = 0; at < 10000 && !ok; at++) {
                char *text = (char *)"sentinel";
                size_t len = 1;
                long live = oom_live;
                oom_countdown = at;
                hark_status st = hark_out_render(inputs[in], (hark_out_format)f, &opt, &text, &len);
                oom_countdown = -1;
                CHECK(oom_live - live == (st == HARK_OK), "input %d format %d fail at %ld: %ld "
                      "blocks left", in, f, at, oom_live - live - (st == HARK_OK));
                if (st == HARK_OK) {
                    ok = 1;
                    free(text);
                } else {
                    failures++;
                    CHECK(st == HARK_ERR_NOMEM && text == NULL && len == 0,
                          "input %d format %d fail at %ld: %s", in, f, at, hark_status_str(st));
                }
            }
            CHECK(ok && failures > 0, "input %d format %d: %d failures, ok %d", in, f, failures,
                  ok);
        }
    }
#else
    printf("allocator replacement unavailable: skipping allocation failures\n");
#endif
}

int main(void)
{
    if (!have_ffmpeg())
        printf("ffmpeg not on PATH: skipping the FFmpeg re-read of srt/vtt\n");
    test_goldens();
    test_word_cues();
    test_json();
    test_edge_cases();
    test_bad_args();
    test_oom();
    TEST_MAIN_END();
}

/*
 * The generator of word_cases (Python, standard library only):
 *
 * # Runs openai/whisper utils.py (c0d2f62) WriteSRT/WriteVTT on test_output.c's word-timed result
 * # and prints C string literals of the outputs.
 * # Usage: python3 gen.py /path/to/whisper/utils.py > word_cases.inc (utils.py needs only stdlib)
 * import importlib.util, io, sys
 * spec = importlib.util.spec_from_file_location("wutils", sys.argv[1])
 * u = importlib.util.module_from_spec(spec)
 * spec.loader.exec_module(u)
 * wa = [(0.0,0.3," The"),(0.3,0.6," quick"),(0.6,0.9," brown"),(0.9,1.2," fox"),(1.3,1.6," jumps"),(1.6,1.9," over")]
 * wb = [(5.8,6.0," the"),(6.0,6.3," lazy"),(6.3,6.7," dog."),(6.9,7.2," Ça"),(7.2,7.5," va?")]
 * def W(l): return [{"start":s,"end":e,"word":w,"probability":0.9} for s,e,w in l]
 * result = {"segments":[{"start":0.0,"end":2.0,"text":" The quick brown fox jumps over","words":W(wa)},
 *                       {"start":5.5,"end":8.0,"text":" the lazy dog. Ça va?","words":W(wb)}]}
 * cases = [("default",{}),("w12c2",{"max_line_width":12,"max_line_count":2}),("w12",{"max_line_width":12}),
 *          ("wpl2",{"max_words_per_line":2}),("hl",{"highlight_words":True}),("w10c2hl",{"max_line_width":10,"max_line_count":2,"highlight_words":True}),
 *          ("w16c1",{"max_line_width":16,"max_line_count":1})]
 * def lit(s):
 *     b = s.encode()
 *     out = ''
 *     for c in b:
 *         if c == 10: out += '\\n'
 *         elif c == 34: out += '\\"'
 *         elif c == 92: out += '\\\\'
 *         elif 32 <= c < 127: out += chr(c)
 *         else: out += '\\x%02x""' % c
 *     return out
 *
 * print("static const struct word_case {\n    hark_out_options opt;\n    const char *srt, *vtt;\n} word_cases[] = {")
 * for name, opt in cases:
 *     o = "{.max_line_width = %d, .max_line_count = %d, .max_words_per_line = %d, .highlight_words = %d}" % (
 *         opt.get("max_line_width", 0), opt.get("max_line_count", 0), opt.get("max_words_per_line", 0), int(opt.get("highlight_words", False)))
 *     print("    {%s," % o)
 *     for cls in (u.WriteSRT, u.WriteVTT):
 *         f = io.StringIO()
 *         cls(".").write_result(result, f, dict(opt))
 *         s = f.getvalue()
 *         parts = s.split("\n\n")
 *         body = [p + "\n\n" for p in parts[:-1]] + ([parts[-1]] if parts[-1] else [])
 *         print("\n".join('     "%s"' % lit(l) for l in body) + ",")
 *     print("    },")
 * print("};")
 */
