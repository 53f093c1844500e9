/*
 * test_timing.c — word-level timestamps:
 *  - the median filter and the DTW against transformers' _median_filter and
 *    _dynamic_time_warping (the algorithms of openai/whisper timing.py), computed on the device
 *    on seeded random inputs (tests/data/timing_golden.json, dev/reference/make_goldens.py timing);
 *  - the alignment of the reduced model tiny-test: its cross-attention scores
 *    (hark_decode_cross_qk) normalised, filtered and averaged into the matrix, and the DTW path,
 *    against transformers' attention probabilities put through the same steps, for a full
 *    window, 11 s and a few frames; the text-token probabilities;
 *  - word splitting, punctuation merging and the word/segment boundary rules on crafted inputs
 *    with outcomes worked out by hand from the reference code;
 *  - alignment-head tables and their errors; word timestamps through hark_transcribe.
 */
#include "decode/timing.h"
#include "model/model.h"
#include "util/util.h"

#include "golden.h"
#include "npy.h"
#include "test.h"

static int floats(json_t *a, float *out, int max)
{
    int n = (int)json_array_size(a);
    for (int i = 0; i < n && i < max; i++)
        out[i] = (float)json_number_value(json_array_get(a, (size_t)i));
    return n;
}

static void check_medfilt(json_t *g)
{
    json_t *cases = json_object_get(g, "medfilt");
    CHECK(json_array_size(cases) >= 5, "medfilt goldens missing");
    for (size_t c = 0; c < json_array_size(cases); c++) {
        json_t *k = json_array_get(cases, c);
        int32_t shape[3];
        json_ints(json_object_get(k, "shape"), shape, 3);
        int width = (int)json_integer_value(json_object_get(k, "width"));
        int n = shape[0] * shape[1] * shape[2];
        float *x = malloc((size_t)n * sizeof(float)), *y = malloc((size_t)n * sizeof(float));
        floats(json_object_get(k, "x"), x, n);
        floats(json_object_get(k, "y"), y, n);
        CHECK_OK(hark_median_filter(x, shape[0] * shape[1], shape[2], width));
        int same = 1;
        for (int i = 0; i < n; i++)
            same &= x[i] == y[i];
        CHECK(same, "median filter case %zu (width %d, n %d) differs", c, width, shape[2]);
        free(x), free(y);
    }
    float x[4] = { 1, 2, 3, 4 };
    CHECK(hark_median_filter(x, 1, 4, 4) == HARK_ERR_INVALID_ARG, "an even width is refused");
}

static void check_dtw(json_t *g)
{
    json_t *cases = json_object_get(g, "dtw");
    CHECK(json_array_size(cases) >= 6, "dtw goldens missing");
    for (size_t c = 0; c < json_array_size(cases); c++) {
        json_t *k = json_array_get(cases, c);
        int32_t shape[2];
        json_ints(json_object_get(k, "shape"), shape, 2);
        int N = shape[0], M = shape[1];
        float *x = malloc((size_t)N * M * sizeof(float));
        int32_t *pi = malloc((size_t)(N + M) * sizeof(int32_t)), *pj = malloc((size_t)(N + M) * 4);
        int32_t *wi = malloc((size_t)(N + M) * 4), *wj = malloc((size_t)(N + M) * 4);
        floats(json_object_get(k, "x"), x, N * M);
        int nw = json_ints(json_object_get(k, "text"), wi, N + M);
        json_ints(json_object_get(k, "time"), wj, N + M);
        int len = hark_dtw(x, N, M, pi, pj);
        int same = len == nw;
        for (int i = 0; same && i < len; i++)
            same = pi[i] == wi[i] && pj[i] == wj[i];
        CHECK(same, "dtw %d x %d: path of %d steps differs from the golden's %d", N, M, len, nw);
        free(x), free(pi), free(pj), free(wi), free(wj);
    }
    /* all NaN (a one-frame window): every comparison is false, the reference's path runs left,
     * then up along column -1 */
    float bad[4] = { NAN, NAN, NAN, NAN };
    int32_t a[4], b[4];
    int len = hark_dtw(bad, 2, 2, a, b);
    CHECK(len == 4 && a[0] == 0 && b[0] == -1 && a[1] == 1 && b[1] == -1 && a[2] == 1 &&
              b[2] == 0 && a[3] == 1 && b[3] == 1, "NaN path (%d steps)", len);
}

/* The reduced model's alignment against transformers' attention put through find_alignment. */
static void check_alignment(json_t *g)
{
    json_t *al = json_object_get(g, "alignment");
    CHECK(al != NULL, "no alignment golden");
    if (!al)
        return;
    char path[1024];
    snprintf(path, sizeof(path), "%s/timing-tiny-test.hark", HARK_BINARY_DIR);
    hark_convert_params cp = hark_convert_default_params();
    CHECK_OK(hark_convert_random("tiny-test", (uint64_t)json_integer_value(json_object_get(g, "seed")),
                                 path, &cp));
    hark_model_params mp = hark_model_default_params();
    mp.device = "cpu";
    hark_model *m = NULL;
    CHECK_OK(hark_model_load(path, &mp, &m));
    if (!m)
        return;
    /* the default heads: every head of the upper half of the layers */
    int32_t heads[64];
    int nh = (int)json_array_size(json_object_get(al, "heads"));
    for (int k = 0; k < nh; k++)
        json_ints(json_array_get(json_object_get(al, "heads"), (size_t)k), heads + 2 * k, 2);
    const int32_t *mh = NULL;
    int n_mh = hark_model_alignment_heads(m, &mh);
    int same_heads = n_mh == nh;
    for (int k = 0; same_heads && k < 2 * nh; k++)
        same_heads = mh[k] == heads[k];
    CHECK(same_heads, "tiny-test alignment heads: %d, golden %d", n_mh, nh);

    int32_t tok[448];
    int n = json_ints(json_object_get(al, "tokens"), tok, 448);
    int n_sot = (int)json_integer_value(json_object_get(al, "n_sot"));
    int n_text = n - n_sot - 2;
    hark_state *s = NULL;
    CHECK_OK(hark_state_new(m, NULL, &s));
    npy_array mel;
    char mp_path[1024];
    snprintf(mp_path, sizeof(mp_path), "%s/tests/data/mel_jfk_80.npy", HARK_SOURCE_DIR);
    if (!s || npy_load(mp_path, &mel) != 0) {
        CHECK(0, "no state or no %s", mp_path);
        hark_state_free(s);
        hark_model_free(m);
        return;
    }
    CHECK_OK(hark_encode(s, mel.data, 1));
    const int V = hark_model_get_dims(m).n_vocab, C = 1500;
    hark_decode_entry e[448];
    for (int i = 0; i < n; i++)
        e[i] = (hark_decode_entry){ .seq = 0, .window = 0, .token = tok[i], .pos = i,
                                    .want_logits = 1 };
    float *logits = malloc((size_t)n * V * sizeof(float));
    float *qk = malloc((size_t)nh * n * C * sizeof(float));
    CHECK_OK(hark_decode_cross_qk(s, e, n, logits, heads, nh, C, qk));

    /* the text tokens' probabilities (softmax over ids < eot) */
    hark_special_tokens sp = hark_model_special_tokens(m);
    json_t *tp = json_object_get(al, "text_probs");
    double worst_p = 0;
    for (int i = 0; i < n_text; i++) {
        const float *row = logits + (size_t)(n_sot + i) * V;
        double mx = -INFINITY, sum = 0;
        for (int t = 0; t < sp.eot; t++)
            mx = row[t] > mx ? row[t] : mx;
        for (int t = 0; t < sp.eot; t++)
            sum += exp(row[t] - mx);
        double p = exp(row[tok[n_sot + 1 + i]] - mx) / sum;
        double want = json_real_value(json_array_get(tp, (size_t)i));
        double d = fabs(p - want) / (want > 1e-12 ? want : 1e-12);
        worst_p = d > worst_p ? d : worst_p;
    }
    CHECK(worst_p < 1e-3, "text-token probabilities differ (relative %.2e)", worst_p);

    json_t *cases = json_object_get(al, "cases");
    CHECK(json_array_size(cases) == 3, "alignment cases missing");
    for (size_t c = 0; c < json_array_size(cases); c++) {
        json_t *k = json_array_get(cases, c);
        int num_frames = (int)json_integer_value(json_object_get(k, "num_frames"));
        int NF = num_frames / 2;
        float *w = malloc((size_t)nh * n * NF * sizeof(float));
        float *mat = malloc((size_t)n * NF * sizeof(float));
        for (int h = 0; h < nh; h++) /* the scores of the first NF frames */
            for (int t = 0; t < n; t++)
                memcpy(w + ((size_t)h * n + t) * NF, qk + ((size_t)h * n + t) * C,
                       (size_t)NF * sizeof(float));
        CHECK_OK(hark_alignment_matrix(w, nh, n, NF, 7, mat));
        char mpath[1024];
        snprintf(mpath, sizeof(mpath), "%s/tests/data/timing_matrix_%d.npy", HARK_SOURCE_DIR,
                 num_frames);
        npy_array want;
        if (npy_load(mpath, &want) == 0) {
            double worst = 0;
            for (int i = 0; i < n * NF; i++) {
                double d = fabs(mat[i] - ((const float *)want.data)[i]);
                worst = d > worst ? d : worst;
            }
            printf("alignment %d frames: matrix %d x %d, worst difference %.2e\n", num_frames, n,
                   NF, worst);
            CHECK(worst < 1e-2, "alignment matrix (%d frames) differs by %.2e", num_frames,
                  worst);
            npy_free(&want);
        } else {
            CHECK(0, "missing %s", mpath);
        }
        int N = n_text + 1;
        int32_t *pi = malloc((size_t)(N + NF) * 4), *pj = malloc((size_t)(N + NF) * 4);
        float *neg = malloc((size_t)N * NF * sizeof(float));
        for (int i = 0; i < N * NF; i++)
            neg[i] = -mat[(size_t)n_sot * NF + i];
        int len = hark_dtw(neg, N, NF, pi, pj);
        int32_t wi[2048], wj[2048];
        int nw = json_ints(json_object_get(k, "text"), wi, 2048);
        json_ints(json_object_get(k, "time"), wj, 2048);
        int same = len == nw;
        for (int i = 0; same && i < len; i++)
            same = pi[i] == wi[i] && pj[i] == wj[i];
        CHECK(same, "alignment %d frames: DTW path differs (%d vs %d steps)", num_frames, len,
              nw);
        /* and the words: every word starts at its first token's jump time */
        float probs[448];
        for (int i = 0; i < n_text; i++)
            probs[i] = (float)json_real_value(json_array_get(tp, (size_t)i));
        hark_word_timing *words = NULL;
        int n_words = 0;
        CHECK_OK(hark_words_from_matrix(m->tok, mat + (size_t)n_sot * NF, N, NF, tok + n_sot + 1,
                                        n_text, probs, sp.eot, 0, &words, &n_words));
        json_t *jt = json_object_get(k, "jump_times");
        int b = 0, ok = n_words > 0;
        for (int i = 0; ok && i < n_words; i++) {
            ok = fabs(words[i].start - json_real_value(json_array_get(jt, (size_t)b))) < 1e-9 &&
                 fabs(words[i].end - json_real_value(json_array_get(jt, (size_t)(b +
                 words[i].n_tokens)))) < 1e-9;
            b += words[i].n_tokens;
        }
        CHECK(ok && b == n_text, "alignment %d frames: word times are not the jump times",
              num_frames);
        hark_word_timings_free(words, n_words);
        if (c == 0) { /* no frame at all: every word at -0.02 s, as the reference */
            CHECK_OK(hark_words_from_matrix(m->tok, NULL, N, 0, tok + n_sot + 1, n_text, probs,
                                            sp.eot, 0, &words, &n_words));
            int all = n_words > 0;
            for (int i = 0; i < n_words; i++)
                all &= words[i].start == -0.02 && words[i].end == -0.02;
            CHECK(all, "an empty alignment: %d words not all at -0.02 s", n_words);
            hark_word_timings_free(words, n_words);
        }
        free(w), free(mat), free(pi), free(pj), free(neg);
    }
    free(logits), free(qk);
    npy_free(&mel);
    hark_state_free(s);
    hark_model_free(m);
}

/* Words of crafted text under the multilingual tokenizer. */
static void check_split(const hark_model *m)
{
    const char *text = " Hello, world! It's (fine).";
    int32_t ids[64];
    int n = hark_tokenize(m, text, ids, 60);
    CHECK(n > 0 && n < 60, "tokenize");
    if (n <= 0 || n >= 60)
        return;
    hark_special_tokens sp = hark_model_special_tokens(m);
    ids[n++] = sp.eot;
    hark_word_timing *w = NULL;
    int nw = 0;
    CHECK_OK(hark_split_words(m->tok, ids, n, sp.eot, 0, &w, &nw));
    const char *want[] = { " Hello", ",", " world", "!", " It's", " (fine).", "<|endoftext|>" };
    int ok = nw == 7;
    for (int i = 0; ok && i < nw; i++)
        ok = strcmp(w[i].word, want[i]) == 0;
    CHECK(ok, "split into %d words: '%s' '%s' ...", nw, nw > 0 ? w[0].word : "",
          nw > 4 ? w[4].word : "");
    int total = 0;
    for (int i = 0; i < nw; i++)
        total += w[i].n_tokens;
    CHECK(total == n, "every token in one word (%d of %d)", total, n);
    hark_word_timings_free(w, nw);

    /* no spaces (ja): a word per whole character, the multi-byte ones from their tokens */
    const char *ja = "こんにちは世界";
    n = hark_tokenize(m, ja, ids, 60);
    CHECK_OK(hark_split_words(m->tok, ids, n, sp.eot, 1, &w, &nw));
    size_t joined = 0;
    int whole = 1;
    for (int i = 0; i < nw; i++) {
        joined += strlen(w[i].word);
        whole &= strstr(w[i].word, "\xef\xbf\xbd") == NULL;
    }
    CHECK(whole && joined == strlen(ja) && nw >= 2 && nw <= 7,
          "ja: %d pieces of %zu bytes, all whole characters %d", nw, joined, whole);
    hark_word_timings_free(w, nw);
    CHECK(hark_language_no_spaces("ja") && hark_language_no_spaces("yue") &&
              !hark_language_no_spaces("en"), "languages without spaces");
}

static hark_word_timing *timings(const char *const *words, const double *t, int n)
{
    hark_word_timing *w = calloc((size_t)n, sizeof(*w));
    for (int i = 0; i < n; i++) {
        w[i].word = strdup(words[i]);
        w[i].tokens = malloc(4 * sizeof(int32_t));
        w[i].tokens[0] = 100 + i;
        w[i].n_tokens = 1;
        w[i].start = t ? t[2 * i] : 0;
        w[i].end = t ? t[2 * i + 1] : 0;
        w[i].probability = 0.5;
    }
    return w;
}

static void check_merge(void)
{
    /* worked through timing.py merge_punctuations by hand */
    const char *in[] = { " \"", " Hello", ",", " world", ".\"", " (", "x", ")" };
    hark_word_timing *w = timings(in, NULL, 8);
    CHECK_OK(hark_merge_punctuations(w, 8, HARK_PREPEND_PUNCTUATIONS, HARK_APPEND_PUNCTUATIONS));
    const char *want[] = { "", " \" Hello,", "", " world", ".\"", "", " (x)", "" };
    const int want_tok[8][4] = { { 0 }, { 3, 100, 101, 102 }, { 0 }, { 1, 103 }, { 1, 104 },
                                 { 0 }, { 3, 105, 106, 107 }, { 0 } };
    int ok = 1;
    for (int i = 0; i < 8; i++) {
        int good = strcmp(w[i].word, want[i]) == 0 && w[i].n_tokens == want_tok[i][0];
        for (int k = 0; good && k < w[i].n_tokens; k++)
            good = w[i].tokens[k] == want_tok[i][k + 1];
        if (!good)
            fprintf(stderr, "word %d: '%s' (%d tokens), want '%s'\n", i, w[i].word,
                    w[i].n_tokens, want[i]);
        ok &= good;
    }
    CHECK(ok, "merge_punctuations");
    hark_word_timings_free(w, 8);
}

static void check_assign(void)
{
    const int32_t eot = 50257;
    /* 1: a sentence end longer than twice the median is cut; "." joins " world"; segment
     * boundaries move to the words */
    {
        const char *ws[] = { " Hello", " world", ".", " Next" };
        const double t[] = { 0.0, 0.5, 0.5, 1.0, 1.0, 3.0, 3.0, 3.4 };
        hark_word_timing *al = timings(ws, t, 4);
        const int32_t ta[] = { 100, 101, 102, 50365 }, tb[] = { 103 };
        hark_timed_segment seg[2] = { { .start = 10.0, .end = 12.0, .tokens = ta, .n_tokens = 4 },
                                      { .start = 12.5, .end = 13.5, .tokens = tb, .n_tokens = 1 } };
        double last = 0.0;
        CHECK_OK(hark_assign_words(al, 4, seg, 2, eot, 10.0, HARK_PREPEND_PUNCTUATIONS,
                                   HARK_APPEND_PUNCTUATIONS, &last));
        CHECK(seg[0].n_words == 2 && seg[1].n_words == 1, "words per segment %d %d",
              seg[0].n_words, seg[1].n_words);
        if (seg[0].n_words == 2 && seg[1].n_words == 1) {
            CHECK(!strcmp(seg[0].words[1].text, " world.") && seg[0].words[0].t0 == 10.0 &&
                      seg[0].words[1].t1 == 11.0 && !strcmp(seg[1].words[0].text, " Next") &&
                      seg[1].words[0].t0 == 13.0 && seg[1].words[0].t1 == 13.4,
                  "words of case 1");
            CHECK(seg[0].start == 10.0 && seg[0].end == 11.0 && seg[1].start == 13.0 &&
                      seg[1].end == 13.4 && last == 13.4,
                  "segments of case 1: %g-%g %g-%g last %g", seg[0].start, seg[0].end,
                  seg[1].start, seg[1].end, last);
        }
        for (int i = 0; i < 2; i++)
            hark_words_free(seg[i].words, seg[i].n_words);
        hark_word_timings_free(al, 4);
    }
    /* 2: the first word after a pause is cut to twice the median */
    {
        const char *ws[] = { " A", " B", " C" };
        const double t[] = { 0.0, 3.0, 3.0, 3.2, 3.2, 3.5 };
        hark_word_timing *al = timings(ws, t, 3);
        const int32_t tk[] = { 100, 101, 102 };
        hark_timed_segment seg = { .start = 0.0, .end = 4.0, .tokens = tk, .n_tokens = 3 };
        double last = 0.0;
        CHECK_OK(hark_assign_words(al, 3, &seg, 1, eot, 0.0, HARK_PREPEND_PUNCTUATIONS,
                                   HARK_APPEND_PUNCTUATIONS, &last));
        CHECK(seg.n_words == 3 && fabs(seg.words[0].t0 - 2.4) < 1e-9 && fabs(seg.start - 2.4) < 1e-9
                  && seg.end == 3.5, "case 2: first word from %g, segment %g-%g",
              seg.n_words ? seg.words[0].t0 : -1, seg.start, seg.end);
        hark_words_free(seg.words, seg.n_words);
        hark_word_timings_free(al, 3);
    }
    /* 3: the segment's own start wins over a first word that is too long */
    {
        const char *ws[] = { " A", " B", " C" };
        const double t[] = { 0.0, 2.0, 2.0, 2.3, 2.3, 2.6 };
        hark_word_timing *al = timings(ws, t, 3);
        const int32_t tk[] = { 100, 101, 102 };
        hark_timed_segment seg = { .start = 1.0, .end = 2.4, .tokens = tk, .n_tokens = 3 };
        double last = 1.5;
        CHECK_OK(hark_assign_words(al, 3, &seg, 1, eot, 0.0, HARK_PREPEND_PUNCTUATIONS,
                                   HARK_APPEND_PUNCTUATIONS, &last));
        CHECK(seg.n_words == 3 && seg.words[0].t0 == 1.0 && seg.start == 1.0 &&
                  fabs(seg.end - 2.6) < 1e-9, "case 3: first word from %g, segment %g-%g",
              seg.n_words ? seg.words[0].t0 : -1, seg.start, seg.end);
        hark_words_free(seg.words, seg.n_words);
        hark_word_timings_free(al, 3);
    }
}

static void check_heads(void)
{
    const hark_arch *a = hark_arch_find("large-v3");
    hark_model_dims d = a->dims;
    int32_t h[2 * HARK_MAX_ALIGN_HEADS];
    int n = 0;
    CHECK_OK(hark_alignment_heads_parse(a->alignment_heads, &d, h, &n));
    CHECK(n == 10 && h[0] == 7 && h[1] == 0 && h[18] == 25 && h[19] == 6, "large-v3 heads (%d)", n);
    const char *names[] = { "tiny", "tiny.en", "base", "base.en", "small", "small.en", "medium",
                            "medium.en", "large-v1", "large-v2", "large-v3", "large-v3-turbo" };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        a = hark_arch_find(names[i]);
        CHECK(a && a->alignment_heads &&
                  hark_alignment_heads_parse(a->alignment_heads, &a->dims, h, &n) == HARK_OK &&
                  n > 0, "%s: published heads", names[i]);
    }
    CHECK(hark_alignment_heads_parse("[[32,0]]", &d, h, &n) == HARK_ERR_FORMAT, "layer range");
    CHECK(hark_alignment_heads_parse("[[1,20]]", &d, h, &n) == HARK_ERR_FORMAT, "head range");
    CHECK(hark_alignment_heads_parse("[[1]]", &d, h, &n) == HARK_ERR_FORMAT, "odd count");
    CHECK(hark_alignment_heads_parse("[[-1,2]]", &d, h, &n) == HARK_ERR_FORMAT, "negative");
    CHECK(hark_alignment_heads_parse("", &d, h, &n) == HARK_ERR_FORMAT, "empty");
    hark_alignment_heads_default(&d, h, &n);
    CHECK(n == 16 * 20 && h[0] == 16 && h[1] == 0, "default heads (%d)", n);
}

/* hark_transcribe with word timestamps: every segment's words inside it, in order, non-empty,
 * probabilities in [0, 1]; clips and prefix. */
static void check_transcribe(void)
{
    char path[1024], wav[1024];
    snprintf(path, sizeof(path), "%s/timing-tiny-test.hark", HARK_BINARY_DIR);
    hark_model_params mp = hark_model_default_params();
    mp.device = "cpu";
    hark_model *m = NULL;
    CHECK_OK(hark_model_load(path, &mp, &m));
    float *pcm = NULL;
    size_t n = 0;
    CHECK_OK(hark_audio_load(test_src("samples/jfk.wav", wav, sizeof(wav)), &pcm, &n));
    hark_state *s = NULL;
    if (m)
        CHECK_OK(hark_state_new(m, NULL, &s));
    if (!s || !pcm) {
        hark_free(pcm);
        hark_model_free(m);
        return;
    }
    hark_full_params p = hark_full_default_params();
    p.language = "en";
    p.word_timestamps = 1;
    p.max_tokens = 40;
    p.temperature_increment = 0.0f;
    CHECK_OK(hark_transcribe(s, pcm, n, &p));
    /* (words may span segments: the reference aligns a window's text at once and hands words
     * to segments by token counts, and clears instantaneous segments afterwards) */
    int total = 0, ordered = 1;
    for (int i = 0; i < hark_n_segments(s); i++) {
        int nw = hark_segment_n_words(s, i);
        double prev = -1;
        for (int j = 0; j < nw; j++) {
            hark_word_info w;
            CHECK_OK(hark_segment_get_word(s, i, j, &w));
            ordered &= w.t0 <= w.t1 + 1e-9 && w.t0 >= prev - 1e-9 && w.text[0] &&
                       w.probability >= 0 && w.probability <= 1;
            prev = w.t0;
        }
        if (nw > 0) {
            hark_word_info first, last;
            hark_segment_get_word(s, i, 0, &first);
            hark_segment_get_word(s, i, nw - 1, &last);
            ordered &= hark_segment_t0(s, i) <= first.t1 && hark_segment_t1(s, i) >= last.t0;
        }
        total += nw;
    }
    printf("transcribe with word timestamps: %d segments, %d words\n", hark_n_segments(s), total);
    CHECK(total > 0, "no words");
    CHECK(ordered, "words out of order or outside their segments");
    hark_word_info w;
    CHECK(hark_segment_get_word(s, 0, 100000, &w) == HARK_ERR_INVALID_ARG, "word out of range");

    /* clips: only 2 s .. 6 s is transcribed */
    p.word_timestamps = 0;
    const double clips[] = { 2.0, 6.0 };
    p.clip_timestamps = clips;
    p.n_clip_timestamps = 2;
    CHECK_OK(hark_transcribe(s, pcm, n, &p));
    /* every window starts inside the clip (a segment's times are the model's timestamps from
     * there, which a random model may put anywhere in the 30 s window) */
    int inside = hark_n_segments(s) > 0;
    for (int i = 0; i < hark_n_segments(s); i++) {
        hark_segment_info info;
        hark_segment_get_info(s, i, &info);
        inside &= info.seek >= 200 && info.seek < 600 && hark_segment_t0(s, i) >= 2.0 - 1e-9;
    }
    CHECK(inside, "clip 2-6 s: %d segments, first at %g", hark_n_segments(s),
          hark_n_segments(s) ? hark_segment_t0(s, 0) : -1.0);
    const double huge[] = { 1e38 }; /* clamped to the end of the audio: nothing to transcribe */
    p.clip_timestamps = huge;
    p.n_clip_timestamps = 1;
    CHECK_OK(hark_transcribe(s, pcm, n, &p));
    CHECK(hark_n_segments(s) == 0, "clip from 1e38 s: %d segments", hark_n_segments(s));
    const double bad[] = { NAN };
    p.clip_timestamps = bad;
    p.n_clip_timestamps = 1;
    CHECK(hark_transcribe(s, pcm, n, &p) == HARK_ERR_INVALID_ARG, "a NaN clip is refused");

    /* prefix: the window's text continues it (the prefix itself is not in the output) */
    p.clip_timestamps = NULL;
    p.n_clip_timestamps = 0;
    p.prefix = "And so my fellow";
    CHECK_OK(hark_transcribe(s, pcm, n, &p));
    CHECK(hark_n_segments(s) > 0, "prefix: no segments");
    hark_free(pcm);
    hark_state_free(s);
    hark_model_free(m);
}

int main(void)
{
    char p[1024];
    json_error_t jerr;
    json_t *g = json_load_file(test_src("tests/data/timing_golden.json", p, sizeof(p)), 0, &jerr);
    CHECK(g != NULL, "no golden %s", p);
    if (g) {
        check_medfilt(g);
        check_dtw(g);
        check_alignment(g);
    }
    check_merge();
    check_assign();
    check_heads();
    char path[1024];
    snprintf(path, sizeof(path), "%s/timing-tiny-test.hark", HARK_BINARY_DIR);
    hark_model_params mp = hark_model_default_params();
    mp.device = "cpu";
    hark_model *m = NULL;
    if (hark_model_load(path, &mp, &m) == HARK_OK) {
        check_split(m);
        hark_model_free(m);
        check_transcribe();
    } else {
        CHECK(0, "no model at %s (the alignment check makes it)", path);
    }
    json_decref(g);
    TEST_MAIN_END();
}
