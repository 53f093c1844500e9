/*
 * tokenizer.c — Whisper's tokenizer: load the .tiktoken ranks, add the special tokens, encode
 * text (GPT-2 pre-split, then byte pair merges) and decode ids back to UTF-8.
 * ref: openai/whisper tokenizer.py get_encoding (special-token order and timestamps),
 * openai/tiktoken load.py load_tiktoken_bpe (the rank file), openai/tiktoken src/lib.rs
 * encode_ordinary (a piece that is a rank maps directly, otherwise byte_pair_encode).
 *
 * What it is not: the prompt/sequence logic (sot sequences, suppression), which lives in the
 * decoder. Encoding never produces special ids: "<|endoftext|>" in text is plain text.
 */
#include "text/tokenizer.h"

#include "text/bpe.h"
#include "text/languages.h"
#include "text/utf8.h"
#include "util/util.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N_TIMESTAMPS 1501 /* <|0.00|> .. <|30.00|> in steps of 0.02 */
#define N_FIXED_SPECIALS (2 + 6 + N_TIMESTAMPS) /* all specials but the languages */
#define MAX_SPECIAL_TEXT 24
#define PIECE_STACK 256

struct hark_tokenizer {
    int n_vocab, n_ranks, n_languages;
    uint8_t *arena; /* the bytes of every id, ranks then special texts */
    uint32_t *off;  /* [n_vocab + 1]: id t owns arena[off[t] .. off[t + 1]) */
    hark_bpe_map ranks;    /* ids [0, n_ranks) */
    hark_bpe_map specials; /* ids [n_ranks, n_vocab) */
    pcre2_code *split;
};

/* The GPT-2 pre-split pattern (ref: openai/tiktoken tiktoken_ext/openai_public.py gpt2), with
 * \s spelled out as Unicode White_Space, which is what tiktoken's Rust regex means by \s (PCRE2's
 * \s with UCP leaves out U+0085). */
#define WS "\\t\\n\\x{0B}\\f\\r \\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}" \
           "\\x{202F}\\x{205F}\\x{3000}"
static const char split_pattern[] = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+"
                                    "| ?[^" WS "\\p{L}\\p{N}]+|[" WS "]+(?![^" WS "])|[" WS "]+";

/* ---------------------------------------------------------------- loading ------------------- */

/* Ranks and languages each vocabulary size implies (ref: openai/whisper tokenizer.py
 * get_tokenizer: gpt2 for the .en models, multilingual otherwise, 100 languages in large-v3). */
static int vocab_layout(int n_vocab, int *n_ranks, int *n_languages)
{
    switch (n_vocab) {
    case 51864: *n_ranks = 50256; *n_languages = 99; return 1;
    case 51865: *n_ranks = 50257; *n_languages = 99; return 1;
    case 51866: *n_ranks = 50257; *n_languages = 100; return 1;
    }
    return 0;
}

static int base64_value(char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

/* Decodes standard padded base64 s[0..n) into out; returns the byte count or -1. A lone "="
 * is the empty string, as Python's b64decode reads it: whisper's multilingual.tiktoken gives
 * rank 50256 (GPT-2's <|endoftext|> slot) the empty token "=". */
static long base64_decode(const char *s, size_t n, uint8_t *out)
{
    if (n == 1 && s[0] == '=')
        return 0;
    if (n == 0 || n % 4 != 0)
        return -1;
    size_t pad = s[n - 1] == '=' ? (s[n - 2] == '=' ? 2 : 1) : 0;
    long o = 0;
    for (size_t i = 0; i < n; i += 4) {
        uint32_t v = 0;
        for (size_t k = 0; k < 4; k++) {
            int d = base64_value(s[i + k]);
            if (d < 0 && !(i + 4 == n && k >= 4 - pad))
                return -1;
            v = v << 6 | (uint32_t)(d < 0 ? 0 : d);
        }
        size_t keep = i + 4 == n ? 3 - pad : 3;
        for (size_t k = 0; k < keep; k++)
            out[o++] = (uint8_t)(v >> (16 - 8 * k));
    }
    return o;
}

/* Parses "base64 rank" lines into tok->arena/off; line_of[rank] records the line for later
 * messages. Sets tok->n_ranks to the ranks read. */
static hark_status parse_ranks(hark_tokenizer *tok, const char *text, size_t size, int max_ranks,
                               int *line_of)
{
    size_t at = 0, used = 0;
    int line = 0, n = 0;
    while (at < size) {
        const char *s = text + at;
        const char *nl = memchr(s, '\n', size - at);
        size_t len = nl ? (size_t)(nl - s) : size - at;
        at += len + 1;
        line++;
        if (len > 0 && s[len - 1] == '\r')
            len--;
        if (len == 0)
            continue; /* ref: tiktoken load_tiktoken_bpe skips empty lines */
        size_t tok_len = 0;
        while (tok_len < len && s[tok_len] != ' ' && s[tok_len] != '\t')
            tok_len++;
        size_t r = tok_len;
        while (r < len && (s[r] == ' ' || s[r] == '\t'))
            r++;
        size_t r_end = len;
        while (r_end > r && (s[r_end - 1] == ' ' || s[r_end - 1] == '\t'))
            r_end--;
        if (r == tok_len || r == r_end)
            return hark_fail(HARK_ERR_FORMAT, "tokenizer ranks line %d: expected \"base64 rank\"",
                             line);
        long rank = 0;
        for (size_t i = r; i < r_end; i++) {
            if (s[i] < '0' || s[i] > '9' || rank > INT_MAX / 10)
                return hark_fail(HARK_ERR_FORMAT, "tokenizer ranks line %d: rank \"%.*s\" is not "
                                 "a number", line, (int)(r_end - r), s + r);
            rank = rank * 10 + (s[i] - '0');
        }
        if (rank != n)
            return hark_fail(HARK_ERR_FORMAT, "tokenizer ranks line %d: rank %ld where %d was "
                             "expected (ranks must count up from 0)", line, rank, n);
        if (n == max_ranks)
            return hark_fail(HARK_ERR_FORMAT, "tokenizer ranks line %d: more than the %d ranks "
                             "that n_vocab %d allows", line, max_ranks, tok->n_vocab);
        long got = base64_decode(s, tok_len, tok->arena + used);
        if (got < 0)
            return hark_fail(HARK_ERR_FORMAT, "tokenizer ranks line %d: bad base64 \"%.*s\"", line,
                             (int)(tok_len < 40 ? tok_len : 40), s);
        tok->off[n] = (uint32_t)used;
        line_of[n] = line;
        used += (size_t)got;
        n++;
    }
    tok->off[n] = (uint32_t)used;
    tok->n_ranks = n;
    return HARK_OK;
}

/* Appends the special-token texts after the ranks in openai/whisper's order. */
static void add_specials(hark_tokenizer *tok)
{
    int id = tok->n_ranks;
    size_t used = tok->off[id];
    char text[MAX_SPECIAL_TEXT];
    for (int k = 0; id < tok->n_vocab; k++, id++) {
        int first_fixed = 2 + tok->n_languages;
        static const char *const fixed[] = {"translate", "transcribe", "startoflm",
                                            "startofprev", "nospeech", "notimestamps"};
        if (k == 0)
            snprintf(text, sizeof(text), "<|endoftext|>");
        else if (k == 1)
            snprintf(text, sizeof(text), "<|startoftranscript|>");
        else if (k < first_fixed)
            snprintf(text, sizeof(text), "<|%s|>", hark_language_code(k - 2));
        else if (k < first_fixed + 6)
            snprintf(text, sizeof(text), "<|%s|>", fixed[k - first_fixed]);
        else /* ref: whisper tokenizer.py f"<|{i * 0.02:.2f}|>" — same double, same rounding */
            snprintf(text, sizeof(text), "<|%.2f|>", (k - first_fixed - 6) * 0.02);
        size_t len = strlen(text);
        memcpy(tok->arena + used, text, len);
        used += len;
        tok->off[id + 1] = (uint32_t)used;
    }
}

static hark_status build_maps(hark_tokenizer *tok, const int *line_of)
{
    int32_t dup = -1;
    hark_status st = hark_bpe_map_init(&tok->ranks, tok->arena, tok->off, 0, tok->n_ranks, &dup);
    if (st == HARK_ERR_FORMAT)
        return hark_fail(st, "tokenizer ranks line %d: rank %d repeats the bytes of an earlier "
                         "rank", line_of[dup], dup);
    if (st != HARK_OK)
        return hark_fail(st, "tokenizer: out of memory");
    for (int b = 0; b < 256; b++) {
        uint8_t byte = (uint8_t)b;
        if (hark_bpe_map_find(&tok->ranks, &byte, 1) < 0)
            return hark_fail(HARK_ERR_FORMAT, "tokenizer ranks: no rank for the single byte "
                             "0x%02x (byte-level BPE needs all 256)", b);
    }
    st = hark_bpe_map_init(&tok->specials, tok->arena, tok->off, tok->n_ranks,
                           tok->n_vocab - tok->n_ranks, &dup);
    if (st != HARK_OK)
        return hark_fail(st, "tokenizer: %s", st == HARK_ERR_FORMAT
                         ? "a special token repeats" : "out of memory");
    return HARK_OK;
}

static hark_status compile_split(hark_tokenizer *tok)
{
    int err;
    PCRE2_SIZE err_at;
    tok->split = pcre2_compile((PCRE2_SPTR)split_pattern, PCRE2_ZERO_TERMINATED,
                               PCRE2_UTF | PCRE2_UCP, &err, &err_at, NULL);
    if (!tok->split) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(err, msg, sizeof(msg));
        return hark_fail(HARK_ERR_UNSUPPORTED, "tokenizer: PCRE2 rejects the split pattern at %zu:"
                         " %s", (size_t)err_at, (const char *)msg);
    }
    pcre2_jit_compile(tok->split, PCRE2_JIT_COMPLETE); /* the interpreter is the fallback */
    return HARK_OK;
}

/* Builds a tokenizer from .tiktoken text and the model's n_vocab (see tokenizer.h). Errors:
 * HARK_ERR_INVALID_ARG for NULL arguments, HARK_ERR_UNSUPPORTED for an n_vocab other than
 * 51864/51865/51866, HARK_ERR_FORMAT naming the line for a malformed rank file or a rank count
 * that does not fit n_vocab, HARK_ERR_NOMEM. */
hark_status hark_tokenizer_new(const char *ranks, size_t size, int n_vocab, hark_tokenizer **out)
{
    if (!out || (!ranks && size))
        return hark_fail(HARK_ERR_INVALID_ARG, "hark_tokenizer_new: NULL argument");
    *out = NULL;
    int want_ranks, n_languages;
    if (!vocab_layout(n_vocab, &want_ranks, &n_languages))
        return hark_fail(HARK_ERR_UNSUPPORTED, "tokenizer: n_vocab %d is not a Whisper vocabulary "
                         "(51864, 51865 or 51866)", n_vocab);
    if (size > UINT32_MAX / 2)
        return hark_fail(HARK_ERR_FORMAT, "tokenizer ranks: %zu bytes is too large", size);
    hark_tokenizer *tok = calloc(1, sizeof(*tok));
    int *line_of = malloc((size_t)want_ranks * sizeof(*line_of));
    hark_status st = HARK_ERR_NOMEM;
    if (!tok || !line_of)
        goto out_fail;
    tok->n_vocab = n_vocab;
    tok->n_languages = n_languages;
    /* decoded base64 is shorter than the text; the specials add at most MAX_SPECIAL_TEXT each */
    tok->arena = malloc(size + (size_t)(n_vocab - want_ranks) * MAX_SPECIAL_TEXT + 1);
    tok->off = malloc((size_t)(n_vocab + 1) * sizeof(*tok->off));
    if (!tok->arena || !tok->off)
        goto out_fail;
    st = parse_ranks(tok, ranks, size, want_ranks, line_of);
    if (st != HARK_OK)
        goto out_fail;
    if (tok->n_ranks != want_ranks) {
        st = hark_fail(HARK_ERR_FORMAT, "tokenizer ranks: %d ranks, but n_vocab %d needs %d",
                       tok->n_ranks, n_vocab, want_ranks);
        goto out_fail;
    }
    add_specials(tok);
    st = build_maps(tok, line_of);
    if (st == HARK_OK)
        st = compile_split(tok);
    if (st != HARK_OK)
        goto out_fail;
    free(line_of);
    *out = tok;
    return HARK_OK;

out_fail:
    if (st == HARK_ERR_NOMEM)
        hark_fail(st, "tokenizer: out of memory");
    free(line_of);
    hark_tokenizer_free(tok);
    return st;
}

/* Frees the tokenizer; NULL is a no-op. */
void hark_tokenizer_free(hark_tokenizer *tok)
{
    if (!tok)
        return;
    pcre2_code_free(tok->split);
    hark_bpe_map_free(&tok->specials);
    hark_bpe_map_free(&tok->ranks);
    free(tok->off);
    free(tok->arena);
    free(tok);
}

/* Returns the number of ids, ordinary and special. */
int hark_tokenizer_n_vocab(const hark_tokenizer *tok) { return tok->n_vocab; }

/* Returns the number of ordinary (BPE) ids. */
int hark_tokenizer_n_ranks(const hark_tokenizer *tok) { return tok->n_ranks; }

/* ---------------------------------------------------------------- encode -------------------- */

/* Appends the ranks of one pre-split piece; ids past max are counted, not written. */
static int encode_piece(const hark_tokenizer *tok, const uint8_t *s, int n, int32_t *ids,
                        int max, int count)
{
    int32_t stack[PIECE_STACK];
    int32_t direct = hark_bpe_map_find(&tok->ranks, s, (size_t)n);
    if (direct >= 0) {
        if (count < max)
            ids[count] = direct;
        return count + 1;
    }
    int32_t *parts = n <= PIECE_STACK ? stack : malloc((size_t)n * sizeof(*parts));
    if (!parts)
        return hark_fail(HARK_ERR_NOMEM, "tokenizer: out of memory");
    int k = hark_bpe_merge(&tok->ranks, s, n, parts);
    if (k >= 0) {
        for (int i = 0; i < k; i++, count++)
            if (count < max)
                ids[count] = parts[i];
    } else {
        count = hark_fail(k, "tokenizer: cannot merge a %d-byte piece", n);
    }
    if (parts != stack)
        free(parts);
    return count;
}

static int encode_valid(const hark_tokenizer *tok, const uint8_t *text, size_t len, int32_t *ids,
                        int max)
{
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(tok->split, NULL);
    if (!md)
        return hark_fail(HARK_ERR_NOMEM, "tokenizer: out of memory");
    int count = 0;
    size_t at = 0;
    while (at < len && count >= 0) {
        /* the text was validated once: checking it again at every offset would be quadratic */
        int rc = pcre2_match(tok->split, text, len, at, PCRE2_NO_UTF_CHECK, md, NULL);
        if (rc < 0) {
            if (rc != PCRE2_ERROR_NOMATCH)
                count = hark_fail(HARK_ERR_TOKENIZER, "tokenizer: PCRE2 match error %d", rc);
            break; /* NOMATCH cannot happen: the alternatives cover every character */
        }
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        if (ov[1] <= at)
            break; /* no alternative matches empty; guards the loop all the same */
        count = encode_piece(tok, text + ov[0], (int)(ov[1] - ov[0]), ids, max, count);
        at = ov[1];
    }
    pcre2_match_data_free(md);
    return count;
}

/* Encodes text[0..len) without special tokens (see tokenizer.h). Invalid UTF-8 is first replaced
 * by U+FFFD, as Python would when decoding the bytes with errors="replace". Returns the number of
 * ids the text needs (at most max written), or HARK_ERR_INVALID_ARG, HARK_ERR_TOKENIZER (text
 * over 512 MiB), HARK_ERR_NOMEM. */
int hark_tokenizer_encode(const hark_tokenizer *tok, const char *text, size_t len, int32_t *ids,
                          int max)
{
    if (!tok || (!text && len) || max < 0 || (max > 0 && !ids))
        return hark_fail(HARK_ERR_INVALID_ARG, "hark_tokenizer_encode: bad argument");
    if (len > ((size_t)1 << 29))
        return hark_fail(HARK_ERR_TOKENIZER, "tokenizer: %zu bytes of text is too long", len);
    const uint8_t *s = (const uint8_t *)text;
    if (hark_utf8_valid_prefix(s, len) == len)
        return encode_valid(tok, s, len, ids, max);
    char *clean = malloc(3 * len);
    if (!clean)
        return hark_fail(HARK_ERR_NOMEM, "tokenizer: out of memory");
    size_t n = hark_utf8_replace(s, len, clean);
    int count = encode_valid(tok, (const uint8_t *)clean, n, ids, max);
    free(clean);
    return count;
}

/* ---------------------------------------------------------------- decode -------------------- */

/* Sets *bytes to the bytes of id (not NUL-terminated) and returns their length, or
 * HARK_ERR_TOKENIZER for an id outside [0, n_vocab). */
int hark_tokenizer_token_bytes(const hark_tokenizer *tok, int32_t id, const char **bytes)
{
    if (id < 0 || id >= tok->n_vocab)
        return hark_fail(HARK_ERR_TOKENIZER, "tokenizer: id %d is outside [0, %d)", (int)id,
                         tok->n_vocab);
    *bytes = (const char *)tok->arena + tok->off[id];
    return (int)(tok->off[id + 1] - tok->off[id]);
}

/* Returns the id of a special token given by its whole text ("<|en|>"), or -1. */
int32_t hark_tokenizer_special_id(const hark_tokenizer *tok, const char *text)
{
    if (!text)
        return -1;
    return hark_bpe_map_find(&tok->specials, (const uint8_t *)text, strlen(text));
}

/* Decodes ids into a malloc'd NUL-terminated UTF-8 string (see tokenizer.h). Errors:
 * HARK_ERR_INVALID_ARG, HARK_ERR_TOKENIZER for an id out of range (naming it), HARK_ERR_NOMEM. */
hark_status hark_tokenizer_decode(const hark_tokenizer *tok, const int32_t *ids, int n,
                                  int skip_special, char **text)
{
    if (!tok || !text || n < 0 || (n > 0 && !ids))
        return hark_fail(HARK_ERR_INVALID_ARG, "hark_tokenizer_decode: bad argument");
    *text = NULL;
    size_t total = 0;
    for (int i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= tok->n_vocab)
            return hark_fail(HARK_ERR_TOKENIZER, "tokenizer: id %d (at %d) is outside [0, %d)",
                             (int)ids[i], i, tok->n_vocab);
        if (!skip_special || ids[i] < tok->n_ranks)
            total += tok->off[ids[i] + 1] - tok->off[ids[i]];
    }
    uint8_t *raw = malloc(total ? total : 1);
    char *out = malloc(3 * total + 1);
    if (!raw || !out) {
        free(raw);
        free(out);
        return hark_fail(HARK_ERR_NOMEM, "tokenizer: out of memory");
    }
    size_t used = 0;
    for (int i = 0; i < n; i++) {
        if (skip_special && ids[i] >= tok->n_ranks)
            continue;
        size_t len = tok->off[ids[i] + 1] - tok->off[ids[i]];
        memcpy(raw + used, tok->arena + tok->off[ids[i]], len);
        used += len;
    }
    size_t o = hark_utf8_replace(raw, used, out);
    out[o] = '\0';
    free(raw);
    *text = out;
    return HARK_OK;
}
