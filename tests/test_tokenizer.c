/*
 * test_tokenizer.c — the tokenizer against its contract: special-token ids for each vocabulary
 * size, round trips, UTF-8 replacement like Python's errors="replace", streaming assembly,
 * malformed rank files, the two merge strategies against each other, speed, and (when
 * tests/data/tokenizer_golden.json exists, made with tiktoken) identical ids to tiktoken.
 */
#include "text/bpe.h"
#include "text/languages.h"
#include "text/tokenizer.h"
#include "text/utf8.h"
#include "util/util.h"

#include "test.h"

#include <jansson.h>
#include <stdint.h>

#define FFFD "\xef\xbf\xbd"

typedef struct rank_text {
    char *data;
    size_t size;
} rank_text;

static rank_text load_asset(const char *name)
{
    char rel[256], path[1024];
    snprintf(rel, sizeof(rel), "assets/%s", name);
    rank_text t = {0};
    hark_status st = hark_read_file(test_src(rel, path, sizeof(path)), (uint8_t **)&t.data, &t.size);
    CHECK(st == HARK_OK, "%s: %s", path, hark_last_error());
    return t;
}

static hark_tokenizer *new_tok(const rank_text *t, int n_vocab)
{
    hark_tokenizer *tok = NULL;
    hark_status st = hark_tokenizer_new(t->data, t->size, n_vocab, &tok);
    CHECK(st == HARK_OK, "n_vocab %d: %s (%s)", n_vocab, hark_status_str(st), hark_last_error());
    return tok;
}

/* ---------------------------------------------------------------- languages ----------------- */

static void test_languages(void)
{
    CHECK(strcmp(hark_language_code(0), "en") == 0, "code 0");
    CHECK(strcmp(hark_language_code(20), "he") == 0, "code 20");
    CHECK(strcmp(hark_language_code(98), "su") == 0, "code 98");
    CHECK(strcmp(hark_language_code(99), "yue") == 0, "code 99");
    CHECK(hark_language_code(100) == NULL && hark_language_code(-1) == NULL, "out of range");
    CHECK(hark_language_index("en") == 0, "en");
    CHECK(hark_language_index("haw") == 93, "haw -> %d", hark_language_index("haw"));
    CHECK(hark_language_index("xx") == -1 && hark_language_index(NULL) == -1, "unknown");
    CHECK(hark_language_index("EN") == -1, "codes are exact");
    CHECK(hark_language_find("German") == 2 && hark_language_find("de") == 2, "find");
    CHECK(strcmp(hark_language_name(99), "cantonese") == 0, "name 99");
    int round_trip = 1;
    for (int i = 0; i < HARK_N_LANGUAGES; i++)
        round_trip &= hark_language_index(hark_language_code(i)) == i;
    CHECK(round_trip, "every code maps back to its index");
}

/* ---------------------------------------------------------------- special tokens ------------ */

typedef struct special_case {
    const char *text;
    int32_t id;
} special_case;

static void check_specials(const hark_tokenizer *tok, const special_case *cases, int n)
{
    for (int i = 0; i < n; i++) {
        int32_t id = hark_tokenizer_special_id(tok, cases[i].text);
        CHECK(id == cases[i].id, "n_vocab %d: %s -> %d, want %d", hark_tokenizer_n_vocab(tok),
              cases[i].text, (int)id, (int)cases[i].id);
        const char *bytes = NULL;
        int len = cases[i].id >= 0 ? hark_tokenizer_token_bytes(tok, cases[i].id, &bytes) : -1;
        CHECK(cases[i].id < 0 || (len == (int)strlen(cases[i].text) &&
                                  memcmp(bytes, cases[i].text, (size_t)len) == 0),
              "bytes of %d", (int)cases[i].id);
    }
}

static void test_specials(const rank_text *multi, const rank_text *gpt2)
{
    static const special_case multilingual[] = {
        {"<|endoftext|>", 50257}, {"<|startoftranscript|>", 50258}, {"<|en|>", 50259},
        {"<|zh|>", 50260}, {"<|su|>", 50357}, {"<|yue|>", -1}, {"<|translate|>", 50358},
        {"<|transcribe|>", 50359}, {"<|startoflm|>", 50360}, {"<|startofprev|>", 50361},
        {"<|nospeech|>", 50362}, {"<|notimestamps|>", 50363}, {"<|0.00|>", 50364},
        {"<|0.02|>", 50365}, {"<|1.24|>", 50426}, {"<|30.00|>", 51864}, {"<|30.02|>", -1},
        {"<|foo|>", -1}, {"", -1}};
    static const special_case english[] = {
        {"<|endoftext|>", 50256}, {"<|startoftranscript|>", 50257}, {"<|en|>", 50258},
        {"<|translate|>", 50357}, {"<|transcribe|>", 50358}, {"<|startoflm|>", 50359},
        {"<|startofprev|>", 50360}, {"<|nospeech|>", 50361}, {"<|notimestamps|>", 50362},
        {"<|0.00|>", 50363}, {"<|30.00|>", 51863}};
    static const special_case large_v3[] = {
        {"<|endoftext|>", 50257}, {"<|startoftranscript|>", 50258}, {"<|en|>", 50259},
        {"<|yue|>", 50358}, {"<|translate|>", 50359}, {"<|transcribe|>", 50360},
        {"<|startoflm|>", 50361}, {"<|startofprev|>", 50362}, {"<|nospeech|>", 50363},
        {"<|notimestamps|>", 50364}, {"<|0.00|>", 50365}, {"<|30.00|>", 51865}};
    struct {
        const rank_text *ranks;
        int n_vocab, n_ranks;
        const special_case *cases;
        int n_cases;
    } vocabs[] = {
        {multi, 51865, 50257, multilingual, (int)(sizeof(multilingual) / sizeof(*multilingual))},
        {gpt2, 51864, 50256, english, (int)(sizeof(english) / sizeof(*english))},
        {multi, 51866, 50257, large_v3, (int)(sizeof(large_v3) / sizeof(*large_v3))},
    };
    for (size_t v = 0; v < sizeof(vocabs) / sizeof(*vocabs); v++) {
        hark_tokenizer *tok = new_tok(vocabs[v].ranks, vocabs[v].n_vocab);
        if (!tok)
            continue;
        CHECK(hark_tokenizer_n_vocab(tok) == vocabs[v].n_vocab, "n_vocab");
        CHECK(hark_tokenizer_n_ranks(tok) == vocabs[v].n_ranks, "n_ranks %d",
              hark_tokenizer_n_ranks(tok));
        check_specials(tok, vocabs[v].cases, vocabs[v].n_cases);
        const char *bytes;
        CHECK(hark_tokenizer_token_bytes(tok, vocabs[v].n_vocab, &bytes) < 0, "id past the end");
        CHECK(hark_tokenizer_token_bytes(tok, -1, &bytes) < 0, "negative id");
        /* every timestamp reads back as its time */
        int ts0 = hark_tokenizer_special_id(tok, "<|0.00|>"), ok = 1;
        for (int i = 0; i <= 1500; i++) {
            char want[32];
            snprintf(want, sizeof(want), "<|%d.%02d|>", i * 2 / 100, i * 2 % 100);
            int len = hark_tokenizer_token_bytes(tok, ts0 + i, &bytes);
            ok &= len == (int)strlen(want) && memcmp(bytes, want, (size_t)len) == 0;
        }
        CHECK(ok, "timestamp texts");
        hark_tokenizer_free(tok);
    }
}

/* ---------------------------------------------------------------- encode and decode --------- */

static void check_ids(const hark_tokenizer *tok, const char *text, const int32_t *want, int n)
{
    int32_t ids[64];
    int got = hark_tokenizer_encode(tok, text, strlen(text), ids, 64);
    int same = got == n;
    for (int i = 0; same && i < n; i++)
        same = ids[i] == want[i];
    CHECK(same, "encode \"%s\": %d ids, first %d", text, got, got > 0 ? (int)ids[0] : -1);
}

/* Encodes text and checks that the bytes of the ids are the text again and that decode gives
 * the text back; returns the id count. */
static int check_round_trip(const hark_tokenizer *tok, const char *text, size_t len)
{
    int n = hark_tokenizer_encode(tok, text, len, NULL, 0);
    CHECK(n >= 0 && (size_t)n <= len, "encode count %d for %zu bytes", n, len);
    if (n < 0)
        return n;
    int32_t *ids = malloc(((size_t)n + 1) * sizeof(*ids));
    ids[n] = -7; /* sentinel: encode must not write past max */
    int again = hark_tokenizer_encode(tok, text, len, ids, n);
    CHECK(again == n && ids[n] == -7, "second encode");
    char *joined = malloc(len + 1);
    size_t used = 0;
    int all_ordinary = 1;
    for (int i = 0; i < n; i++) {
        const char *bytes;
        int k = hark_tokenizer_token_bytes(tok, ids[i], &bytes);
        all_ordinary &= ids[i] < hark_tokenizer_n_ranks(tok);
        if (k < 0 || used + (size_t)k > len)
            break;
        memcpy(joined + used, bytes, (size_t)k);
        used += (size_t)k;
    }
    CHECK(all_ordinary, "encode made a special id");
    CHECK(used == len && memcmp(joined, text, len) == 0, "bytes round trip of \"%.40s\"", text);
    char *decoded = NULL;
    CHECK_OK(hark_tokenizer_decode(tok, ids, n, 0, &decoded));
    if (decoded && memchr(text, '\0', len) == NULL)
        CHECK(strlen(decoded) == len && memcmp(decoded, text, len) == 0, "decode \"%.40s\"",
              text);
    if (n > 1) { /* a truncated buffer still reports the full count */
        int part = hark_tokenizer_encode(tok, text, len, ids, 1);
        CHECK(part == n, "count with max 1: %d vs %d", part, n);
    }
    free(decoded);
    free(joined);
    free(ids);
    return n;
}

static void test_round_trips(const hark_tokenizer *tok)
{
    char path[1024];
    FILE *f = fopen(test_src("dev/reference/tokenizer_cases.txt", path, sizeof(path)), "r");
    CHECK(f != NULL, "open %s", path);
    if (!f)
        return;
    char line[8192];
    int cases = 0;
    while (fgets(line, sizeof(line), f)) {
        json_error_t err;
        json_t *s = json_loads(line, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
        CHECK(s && json_is_string(s), "cases line %d: %s", cases + 1, err.text);
        if (s && json_is_string(s))
            check_round_trip(tok, json_string_value(s), json_string_length(s));
        json_decref(s);
        cases++;
    }
    fclose(f);
    CHECK(cases >= 50, "only %d cases", cases);
    /* invalid UTF-8 input is encoded as its replacement, like Python's errors="replace" */
    int32_t a[16], b[16];
    int na = hark_tokenizer_encode(tok, "a\xff" "b", 3, a, 16);
    int nb = hark_tokenizer_encode(tok, "a" FFFD "b", 5, b, 16);
    CHECK(na == nb && na > 0 && memcmp(a, b, (size_t)na * sizeof(*a)) == 0, "invalid input");
    CHECK(hark_tokenizer_encode(tok, "", 0, NULL, 0) == 0, "empty text");
    CHECK(hark_tokenizer_encode(tok, "x", 1, NULL, 1) == HARK_ERR_INVALID_ARG, "NULL ids");
}

static void test_known_ids(const hark_tokenizer *multi, const hark_tokenizer *gpt2)
{
    /* GPT-2's well-known ids (ref: openai/tiktoken gpt2 / r50k_base) */
    check_ids(gpt2, "Hello world", (const int32_t[]){15496, 995}, 2);
    check_ids(gpt2, "!", (const int32_t[]){0}, 1);
    check_ids(gpt2, " the", (const int32_t[]){262}, 1);
    /* the multilingual vocabulary splits 宇 as e5 ae | 87 (ref: whisper.cpp tokenizer-test.py) */
    char *text = NULL;
    CHECK_OK(hark_tokenizer_decode(multi, (const int32_t[]){2415, 229}, 2, 0, &text));
    CHECK(text && strcmp(text, "\xe5\xae\x87") == 0, "2415 229 -> %s", text);
    free(text);
    CHECK_OK(hark_tokenizer_decode(multi, (const int32_t[]){2415}, 1, 0, &text));
    CHECK(text && strcmp(text, FFFD) == 0, "2415 alone -> U+FFFD");
    free(text);
    /* specials: kept as text, or skipped */
    int32_t seq[] = {50258, 50259, 50359, 50364, 2425, 50414, 50257};
    CHECK_OK(hark_tokenizer_decode(multi, seq, 7, 0, &text));
    const char *bytes;
    int len = hark_tokenizer_token_bytes(multi, 2425, &bytes);
    char want[256];
    snprintf(want, sizeof(want), "<|startoftranscript|><|en|><|transcribe|><|0.00|>%.*s<|1.00|>"
             "<|endoftext|>", len, bytes);
    CHECK(text && strcmp(text, want) == 0, "decode specials: %s", text);
    free(text);
    CHECK_OK(hark_tokenizer_decode(multi, seq, 7, 1, &text));
    CHECK(text && (int)strlen(text) == len && memcmp(text, bytes, (size_t)len) == 0, "skip");
    free(text);
    CHECK(hark_tokenizer_decode(multi, (const int32_t[]){51865}, 1, 0, &text) ==
              HARK_ERR_TOKENIZER, "decode id out of range");
    CHECK_OK(hark_tokenizer_decode(multi, NULL, 0, 0, &text));
    CHECK(text && text[0] == '\0', "decode nothing");
    free(text);
}

/* ---------------------------------------------------------------- UTF-8 ---------------------- */

static void test_utf8_replace(void)
{
    /* expectations from CPython: bytes.decode("utf-8", "replace") */
    static const struct {
        const char *in, *want;
    } cases[] = {
        {"\xff", FFFD}, {"\xc3", FFFD}, {"\xc3(", FFFD "("}, {"\xe2\x82", FFFD},
        {"\xe2\x82(", FFFD "("}, {"\xe0\x80\x80", FFFD FFFD FFFD},
        {"\xed\xa0\x80", FFFD FFFD FFFD}, {"\xf0\x9f\x98", FFFD},
        {"\xf4\x90\x80\x80", FFFD FFFD FFFD FFFD}, {"\xc0\xaf", FFFD FFFD},
        {"\xf0\x9f\x98\x80", "\xf0\x9f\x98\x80"}, {"a\x80" "b", "a" FFFD "b"},
        {"\xf8\x88\x80\x80\x80", FFFD FFFD FFFD FFFD FFFD}, {"\xe2(\xa1", FFFD "(" FFFD},
        {"\xf0\x90\x80\xe2\x82\xac\xed\x9f\xbf", FFFD "\xe2\x82\xac\xed\x9f\xbf"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        char out[64];
        size_t n = strlen(cases[i].in);
        size_t o = hark_utf8_replace((const uint8_t *)cases[i].in, n, out);
        CHECK(o == strlen(cases[i].want) && memcmp(out, cases[i].want, o) == 0, "case %zu", i);
        CHECK((hark_utf8_valid_prefix((const uint8_t *)cases[i].in, n) == n) ==
                  (strcmp(cases[i].in, cases[i].want) == 0), "valid prefix case %zu", i);
    }
}

/* Feeds bytes in pieces of the given sizes (cycled) and returns the assembled output. */
static size_t stream_pieces(const char *in, size_t n, const size_t *sizes, int n_sizes, char *out)
{
    hark_utf8_stream s;
    hark_utf8_stream_init(&s);
    size_t o = 0;
    for (size_t at = 0, k = 0; at < n; k++) {
        size_t step = sizes[k % (size_t)n_sizes];
        if (step > n - at)
            step = n - at;
        o += hark_utf8_stream_feed(&s, in + at, step, out + o, 3 * step + 13);
        at += step;
    }
    o += hark_utf8_stream_flush(&s, out + o, 13);
    return o;
}

static void test_utf8_stream(const hark_tokenizer *tok)
{
    /* a valid text comes out whole whatever the split, never a half character */
    const char *text = "h\xc3\xa9llo \xe4\xb8\x96\xe7\x95\x8c \xf0\x9f\x8e\x89 end";
    size_t n = strlen(text);
    char out[256];
    for (size_t a = 1; a <= 5; a++) {
        for (size_t b = 1; b <= 5; b++) {
            size_t sizes[2] = {a, b};
            size_t o = stream_pieces(text, n, sizes, 2, out);
            CHECK(o == n && memcmp(out, text, n) == 0, "split %zu/%zu", a, b);
        }
    }
    /* tokens of a multilingual text, fed one by one */
    const char *multi = "\xe5\xae\x87\xe5\xae\x99\xe3\x81\xaf\xe5\xba\x83\xe3\x81\x84\xef\xbc\x81 "
                        "\xf0\x9f\x98\x80\xf0\x9f\x98\x80 caf\xc3\xa9";
    int32_t ids[128];
    int n_ids = hark_tokenizer_encode(tok, multi, strlen(multi), ids, 128);
    hark_utf8_stream s;
    hark_utf8_stream_init(&s);
    char buf[512];
    size_t o = 0;
    int whole = 1;
    for (int i = 0; i < n_ids; i++) {
        const char *bytes;
        int len = hark_tokenizer_token_bytes(tok, ids[i], &bytes);
        size_t got = hark_utf8_stream_feed(&s, bytes, (size_t)len, buf + o, sizeof(buf) - o);
        whole &= hark_utf8_valid_prefix((const uint8_t *)buf + o, got) == got;
        o += got;
    }
    o += hark_utf8_stream_flush(&s, buf + o, sizeof(buf) - o);
    CHECK(whole, "every feed gave whole characters");
    CHECK(o == strlen(multi) && memcmp(buf, multi, o) == 0, "streamed tokens");
    /* a pending lead byte waits, then completes */
    hark_utf8_stream_init(&s);
    CHECK(hark_utf8_stream_feed(&s, "\xe2", 1, buf, sizeof(buf)) == 0 && buf[0] == '\0', "waits");
    CHECK(hark_utf8_stream_feed(&s, "\x82", 1, buf, sizeof(buf)) == 0, "still waits");
    CHECK(hark_utf8_stream_feed(&s, "\xac!", 2, buf, sizeof(buf)) == 4 &&
              strcmp(buf, "\xe2\x82\xac!") == 0, "euro sign");
    CHECK(hark_utf8_stream_feed(&s, "\xf0\x9f", 2, buf, sizeof(buf)) == 0, "pending emoji");
    CHECK(hark_utf8_stream_flush(&s, buf, sizeof(buf)) == 3 && strcmp(buf, FFFD) == 0, "flush");
    CHECK(hark_utf8_stream_flush(&s, buf, sizeof(buf)) == 0, "flush twice");
    /* random bytes: streaming in random pieces equals replacing the whole at once */
    uint32_t seed = 12345;
    int agree = 1;
    for (int trial = 0; trial < 2000; trial++) {
        uint8_t in[40];
        char whole_out[200], piece_out[200];
        size_t len = (size_t)(trial % 40);
        for (size_t i = 0; i < len; i++) {
            seed = seed * 1103515245u + 12345u;
            uint8_t r = (uint8_t)(seed >> 16);
            in[i] = (r & 1) ? (uint8_t)(0x80 | (r >> 2)) : (uint8_t)(0xc0 + (r >> 3)); /* UTF-8ish */
            if (r % 7 == 0)
                in[i] = (uint8_t)('a' + r % 26);
        }
        seed = seed * 1103515245u + 12345u;
        size_t sizes[3] = {1 + (seed >> 16) % 3, 1 + (seed >> 20) % 5, 1};
        size_t a = hark_utf8_replace(in, len, whole_out);
        size_t b = stream_pieces((const char *)in, len, sizes, 3, piece_out);
        agree &= a == b && memcmp(whole_out, piece_out, a) == 0;
    }
    CHECK(agree, "stream == batch replacement on random bytes");
}

/* ---------------------------------------------------------------- malformed rank files ------ */

/* Returns a copy of text with its 1-based line replaced (NULL: deleted). */
static char *edit_line(const rank_text *t, int line, const char *replacement, size_t *size)
{
    char *out = malloc(t->size + 256);
    size_t o = 0, at = 0;
    for (int l = 1; at < t->size; l++) {
        const char *nl = memchr(t->data + at, '\n', t->size - at);
        size_t len = nl ? (size_t)(nl - (t->data + at)) + 1 : t->size - at;
        if (l != line) {
            memcpy(out + o, t->data + at, len);
            o += len;
        } else if (replacement) {
            o += (size_t)sprintf(out + o, "%s\n", replacement);
        }
        at += len;
    }
    *size = o;
    return out;
}

static void expect_bad(const char *data, size_t size, int n_vocab, hark_status want,
                       const char *needle, const char *what)
{
    hark_tokenizer *tok = (hark_tokenizer *)1;
    hark_status st = hark_tokenizer_new(data, size, n_vocab, &tok);
    CHECK(st == want && tok == NULL, "%s: %s", what, hark_status_str(st));
    CHECK(!needle || strstr(hark_last_error(), needle), "%s: detail \"%s\" lacks \"%s\"", what,
          hark_last_error(), needle);
    if (st == HARK_OK)
        hark_tokenizer_free(tok);
}

static void test_malformed(const rank_text *gpt2, const rank_text *multi)
{
    static const struct {
        int line;
        const char *text, *needle, *what;
    } edits[] = {
        {5, "I!== 4", "line 5", "bad base64"},
        {5, "IQ 4", "line 5", "base64 without padding"},
        {7, "KA== six", "line 7", "non-numeric rank"},
        {7, "KA== -6", "line 7", "negative rank"},
        {10, "Kg== 10", "line 10", "rank out of order"},
        {12, "LA== 10", "line 12", "duplicate rank"},
        {9, "KQ==", "line 9", "missing rank"},
        {300, "ZW50 299", "line 300", "bytes repeat an earlier rank"},
        {50256, "IGdhdGhlcmluZw== 99999999999", "line 50256", "rank overflow"},
        {50256, NULL, "50255 ranks", "one rank short"},
    };
    for (size_t i = 0; i < sizeof(edits) / sizeof(*edits); i++) {
        size_t size;
        char *data = edit_line(gpt2, edits[i].line, edits[i].text, &size);
        expect_bad(data, size, 51864, HARK_ERR_FORMAT, edits[i].needle, edits[i].what);
        free(data);
    }
    expect_bad(gpt2->data, gpt2->size, 51865, HARK_ERR_FORMAT, "50256 ranks", "gpt2 as 51865");
    expect_bad(multi->data, multi->size, 51864, HARK_ERR_FORMAT, "line 50257", "multi as 51864");
    expect_bad(gpt2->data, gpt2->size, 50000, HARK_ERR_UNSUPPORTED, "50000", "odd n_vocab");
    expect_bad("", 0, 51864, HARK_ERR_FORMAT, "0 ranks", "empty file");
    expect_bad(NULL, 0, 51864, HARK_ERR_FORMAT, NULL, "NULL empty file");
    /* a file without one of the 256 single bytes cannot encode every text */
    size_t size;
    char *data = edit_line(gpt2, 1, "IQIh 0", &size); /* "!" -> "!\x02!" */
    expect_bad(data, size, 51864, HARK_ERR_FORMAT, "0x21", "missing single byte");
    free(data);
    /* CRLF line ends and blank lines are fine */
    char *crlf = malloc(2 * gpt2->size + 2);
    size_t o = 0;
    crlf[o++] = '\n';
    for (size_t i = 0; i < gpt2->size; i++) {
        if (gpt2->data[i] == '\n')
            crlf[o++] = '\r';
        crlf[o++] = gpt2->data[i];
    }
    hark_tokenizer *tok = NULL;
    CHECK_OK(hark_tokenizer_new(crlf, o, 51864, &tok));
    hark_tokenizer_free(tok);
    free(crlf);
}

/* ---------------------------------------------------------------- merges --------------------- */

/* The heap merge (long pieces) must pick exactly what tiktoken's rescan picks. */
static void test_merge_strategies(const hark_tokenizer *tok)
{
    int n_ranks = hark_tokenizer_n_ranks(tok);
    uint32_t *off = malloc(((size_t)n_ranks + 1) * sizeof(*off));
    size_t total = 0;
    const char *bytes;
    for (int i = 0; i < n_ranks; i++)
        total += (size_t)hark_tokenizer_token_bytes(tok, i, &bytes);
    uint8_t *arena = malloc(total);
    total = 0;
    for (int i = 0; i < n_ranks; i++) {
        int len = hark_tokenizer_token_bytes(tok, i, &bytes);
        off[i] = (uint32_t)total;
        memcpy(arena + total, bytes, (size_t)len);
        total += (size_t)len;
    }
    off[n_ranks] = (uint32_t)total;
    hark_bpe_map map;
    int32_t dup;
    CHECK_OK(hark_bpe_map_init(&map, arena, off, 0, n_ranks, &dup));
    static const char alphabet[] = "etaoinshrdlu ETAO\xc3\xa9'.,!";
    uint32_t seed = 99;
    int agree = 1, n_trials = 0;
    int32_t a[700], b[700];
    uint8_t s[700];
    for (int trial = 0; trial < 400; trial++, n_trials++) {
        int n = 1 + trial * 7 % 700;
        for (int i = 0; i < n; i++) {
            seed = seed * 1103515245u + 12345u;
            s[i] = trial % 5 == 0 ? (uint8_t)(seed >> 16) /* raw bytes */
                 : (uint8_t)alphabet[(seed >> 16) % (sizeof(alphabet) - 1)];
            if (trial % 7 == 0)
                s[i] = (uint8_t)"ab"[(seed >> 16) % 2 == 0 && i % 3 ? 0 : 1];
        }
        int na = hark_bpe_merge_scan(&map, s, n, a);
        int nb = hark_bpe_merge_heap(&map, s, n, b);
        agree &= na == nb && na > 0 && memcmp(a, b, (size_t)na * sizeof(*a)) == 0;
    }
    CHECK(agree, "scan and heap merges agree over %d pieces", n_trials);
    hark_bpe_map_free(&map);
    free(arena);
    free(off);
}

static void test_speed(const hark_tokenizer *tok)
{
    /* ~4 KB of mixed prose */
    const char *para = "And so my fellow Americans, ask not what your country can do for you, "
                       "ask what you can do for your country. It's 1961; they're listening. "
                       "\xe4\xbd\xa0\xe5\xa5\xbd\xef\xbc\x8c\xe4\xb8\x96\xe7\x95\x8c\xef\xbc\x81 "
                       "\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82!\n";
    size_t plen = strlen(para), len = 0;
    char *text = malloc(4096 + plen);
    while (len < 4096) {
        memcpy(text + len, para, plen);
        len += plen;
    }
    int32_t *ids = malloc(len * sizeof(*ids));
    int n = hark_tokenizer_encode(tok, text, len, ids, (int)len);
    double t0 = hark_time_s();
    int reps = 50;
    for (int r = 0; r < reps; r++)
        hark_tokenizer_encode(tok, text, len, ids, (int)len);
    double per = (hark_time_s() - t0) / reps;
    printf("encode: %zu bytes -> %d ids in %.1f us\n", len, n, per * 1e6);
    CHECK(per < 0.02, "encode of 4 KB took %.3f ms", per * 1e3);
    free(ids);
    free(text);
    /* long pieces without spaces stay n log n */
    size_t big = 200000;
    char *run = malloc(big);
    for (size_t i = 0; i < big; i++)
        run[i] = i % 2 ? 'a' : 'b';
    t0 = hark_time_s();
    int n_run = check_round_trip(tok, run, big);
    memset(run, '!', big);
    n_run += check_round_trip(tok, run, big);
    memset(run, ' ', big); /* whitespace backtracks one character for (?!\S) */
    run[big - 1] = 'x';
    n_run += check_round_trip(tok, run, big);
    for (size_t i = 0; i < big; i++)
        run[i] = "1\n \t"[i % 4];
    n_run += check_round_trip(tok, run, big);
    double t_run = hark_time_s() - t0;
    printf("encode: four 200 KB texts of long pieces -> %d ids in %.1f ms\n", n_run, t_run * 1e3);
    CHECK(t_run < 5.0, "long pieces took %.1f s", t_run);
    free(run);
}

/* ---------------------------------------------------------------- tiktoken golden ----------- */

static void check_golden_set(const hark_tokenizer *tok, json_t *cases, const char *name)
{
    size_t i;
    json_t *c;
    int mismatches = 0;
    json_array_foreach(cases, i, c) {
        json_t *text = json_object_get(c, "text"), *want = json_object_get(c, "ids");
        if (!json_is_string(text) || !json_is_array(want)) {
            CHECK(0, "%s golden case %zu is malformed", name, i);
            continue;
        }
        size_t len = json_string_length(text);
        int32_t *ids = malloc((len + 1) * sizeof(*ids));
        int n = hark_tokenizer_encode(tok, json_string_value(text), len, ids, (int)len + 1);
        int same = n == (int)json_array_size(want);
        for (int k = 0; same && k < n; k++)
            same = ids[k] == json_integer_value(json_array_get(want, (size_t)k));
        if (!same && mismatches++ < 10)
            fprintf(stderr, "golden %s case %zu \"%.60s\": %d ids, tiktoken %zu\n", name, i,
                    json_string_value(text), n, json_array_size(want));
        free(ids);
    }
    CHECK(mismatches == 0, "%s: %d of %zu golden cases differ from tiktoken", name, mismatches,
          json_array_size(cases));
    printf("golden %s: %zu cases\n", name, json_array_size(cases));
}

static void test_golden(const hark_tokenizer *multi, const hark_tokenizer *gpt2)
{
    char path[1024];
    test_src("tests/data/tokenizer_golden.json", path, sizeof(path));
    if (getenv("HARK_TOKENIZER_GOLDEN")) /* another golden, e.g. while making one */
        snprintf(path, sizeof(path), "%s", getenv("HARK_TOKENIZER_GOLDEN"));
    FILE *f = fopen(path, "r");
    if (!f) {
        printf("skipped: no golden\n");
        return;
    }
    fclose(f);
    json_error_t err;
    json_t *root = json_load_file(path, JSON_ALLOW_NUL, &err);
    CHECK(root != NULL, "%s:%d: %s", path, err.line, err.text);
    if (!root)
        return;
    json_t *m = json_object_get(root, "multilingual"), *g = json_object_get(root, "gpt2");
    CHECK(json_is_array(m) && json_is_array(g), "golden needs \"multilingual\" and \"gpt2\"");
    if (json_is_array(m))
        check_golden_set(multi, m, "multilingual");
    if (json_is_array(g))
        check_golden_set(gpt2, g, "gpt2");
    json_decref(root);
}

int main(void)
{
    rank_text multi = load_asset("multilingual.tiktoken");
    rank_text gpt2 = load_asset("gpt2.tiktoken");
    if (!multi.data || !gpt2.data)
        TEST_MAIN_END();
    test_languages();
    test_utf8_replace();
    test_specials(&multi, &gpt2);
    test_malformed(&gpt2, &multi);
    hark_tokenizer *tm = new_tok(&multi, 51865), *tg = new_tok(&gpt2, 51864);
    if (tm && tg) {
        test_known_ids(tm, tg);
        test_round_trips(tm);
        test_round_trips(tg);
        test_utf8_stream(tm);
        test_merge_strategies(tm);
        test_speed(tm);
        test_golden(tm, tg);
    }
    hark_tokenizer_free(tm);
    hark_tokenizer_free(tg);
    free(multi.data);
    free(gpt2.data);
    TEST_MAIN_END();
}
