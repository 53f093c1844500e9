/*
 * test_openai_goldens.c — hark_transcribe against openai/whisper's own transcribe() (goldens in
 * tests/data/openai_golden.json, made by dev/reference/openai_goldens.py on the device from the
 * same random weights): beam search 5 on one window and on long audio with the previous text as
 * prompt, greedy long-form, word timestamps, hallucination_silence_threshold, clip_timestamps,
 * prefix, carry_initial_prompt, translate with words, language detection. For every segment:
 * seek, start, end, text tokens, text and the decoding statistics; for every word: text, start,
 * end, probability.
 */
#include "hark.h"
#include "test.h"

#include "golden.h"

static int near(double a, double b, double abs_tol, double rel_tol)
{
    double d = fabs(a - b);
    return d <= abs_tol || d <= rel_tol * fabs(b);
}

/* Compares the state's result with one golden case; returns 1 when identical. */
static int compare(hark_state *s, json_t *c, const char *what, int32_t eot)
{
    json_t *segs = json_object_get(c, "segments");
    int ng = (int)json_array_size(segs), nh = hark_n_segments(s), ok = ng == nh;
    if (!ok)
        fprintf(stderr, "%s: %d segments, golden %d\n", what, nh, ng);
    for (int i = 0; ok && i < ng; i++) {
        json_t *g = json_array_get(segs, (size_t)i);
        hark_segment_info info;
        hark_segment_get_info(s, i, &info);
        int32_t want[512], got[512];
        int nw = 0, ng_t = 0;
        json_t *tk = json_object_get(g, "tokens");
        for (size_t k = 0; k < json_array_size(tk) && nw < 512; k++) {
            int t = (int)json_integer_value(json_array_get(tk, k));
            if (t < eot)
                want[nw++] = t;
        }
        const int32_t *tokens;
        int n = hark_segment_tokens(s, i, &tokens);
        for (int k = 0; k < n && ng_t < 512; k++)
            if (tokens[k] < eot)
                got[ng_t++] = tokens[k];
        int same_tokens = nw == ng_t && memcmp(want, got, (size_t)nw * sizeof(int32_t)) == 0;
        const char *text = json_string_value(json_object_get(g, "text"));
        int good = same_tokens && info.seek == json_integer_value(json_object_get(g, "seek")) &&
                   near(hark_segment_t0(s, i), json_number_value(json_object_get(g, "start")), 1e-6, 0) &&
                   near(hark_segment_t1(s, i), json_number_value(json_object_get(g, "end")), 1e-6, 0) &&
                   text && strcmp(text, hark_segment_text(s, i)) == 0 &&
                   near(info.avg_logprob, json_number_value(json_object_get(g, "avg_logprob")), 1e-3, 1e-4) &&
                   near(info.compression_ratio,
                        json_number_value(json_object_get(g, "compression_ratio")), 1e-4, 1e-5) &&
                   near(info.no_speech_prob, json_number_value(json_object_get(g, "no_speech_prob")),
                        1e-5, 1e-3);
        if (!good) {
            fprintf(stderr, "%s segment %d: hark seek %d %.3f-%.3f '%s' (%d text tokens) lp %.6f cr %.6f "
                    "ns %.6g; golden seek %lld %.3f-%.3f '%s' (%d) lp %.6f cr %.6f ns %.6g\n",
                    what, i, info.seek, hark_segment_t0(s, i), hark_segment_t1(s, i),
                    hark_segment_text(s, i), ng_t, info.avg_logprob, info.compression_ratio,
                    info.no_speech_prob, json_integer_value(json_object_get(g, "seek")),
                    json_number_value(json_object_get(g, "start")),
                    json_number_value(json_object_get(g, "end")), text ? text : "", nw,
                    json_number_value(json_object_get(g, "avg_logprob")),
                    json_number_value(json_object_get(g, "compression_ratio")),
                    json_number_value(json_object_get(g, "no_speech_prob")));
            ok = 0;
            break;
        }
        json_t *words = json_object_get(g, "words");
        int nwg = (int)json_array_size(words), nwh = hark_segment_n_words(s, i);
        if (nwg != nwh) {
            fprintf(stderr, "%s segment %d: %d words, golden %d\n", what, i, nwh, nwg);
            ok = 0;
            break;
        }
        for (int j = 0; j < nwg; j++) {
            json_t *w = json_array_get(words, (size_t)j);
            hark_word_info hw;
            hark_segment_get_word(s, i, j, &hw);
            const char *wt = json_string_value(json_object_get(w, "word"));
            double p = json_number_value(json_object_get(w, "probability"));
            if (!wt || strcmp(wt, hw.text) != 0 ||
                !near(hw.t0, json_number_value(json_object_get(w, "start")), 1e-6, 0) ||
                !near(hw.t1, json_number_value(json_object_get(w, "end")), 1e-6, 0) ||
                !near(hw.probability, p, 1e-6, 2e-2)) {
                fprintf(stderr, "%s segment %d word %d: hark '%s' %.2f-%.2f p %.3g; golden '%s' "
                        "%.2f-%.2f p %.3g\n", what, i, j, hw.text, hw.t0, hw.t1, hw.probability,
                        wt ? wt : "", json_number_value(json_object_get(w, "start")),
                        json_number_value(json_object_get(w, "end")), p);
                ok = 0;
                break;
            }
        }
    }
    const char *lang = json_string_value(json_object_get(c, "language"));
    if (ok && lang && strcmp(lang, hark_result_language(s)) != 0) {
        fprintf(stderr, "%s: language %s, golden %s\n", what, hark_result_language(s), lang);
        ok = 0;
    }
    return ok;
}

static void run_case(hark_state *s, int32_t eot, const char *arch, const char *name, json_t *c,
                     const float *jfk, size_t n_jfk, const float *longa, size_t n_long)
{
    json_t *o = json_object_get(c, "options");
    hark_full_params p = hark_full_default_params();
    p.temperature = 0.0f;
    p.temperature_increment = 0.0f; /* the goldens ran at temperature 0 only */
    const char *lang = json_string_value(json_object_get(o, "language"));
    p.language = lang ? lang : "auto";
    json_t *v;
    if ((v = json_object_get(o, "beam_size")))
        p.beam_size = (int)json_integer_value(v);
    if ((v = json_object_get(o, "word_timestamps")))
        p.word_timestamps = json_is_true(v);
    if ((v = json_object_get(o, "hallucination_silence_threshold")))
        p.hallucination_silence_threshold = (float)json_number_value(v);
    if ((v = json_object_get(o, "prefix")))
        p.prefix = json_string_value(v);
    if ((v = json_object_get(o, "initial_prompt")))
        p.initial_prompt = json_string_value(v);
    if ((v = json_object_get(o, "carry_initial_prompt")))
        p.carry_initial_prompt = json_is_true(v);
    if ((v = json_object_get(o, "task")))
        p.translate = strcmp(json_string_value(v), "translate") == 0;
    double clips[16];
    if ((v = json_object_get(o, "clip_timestamps"))) {
        const char *t = json_string_value(v);
        int k = 0;
        while (t && *t && k < 16) {
            char *end;
            clips[k++] = strtod(t, &end);
            t = *end ? end + 1 : end;
        }
        p.clip_timestamps = clips;
        p.n_clip_timestamps = k;
    }
    int is_long = strcmp(json_string_value(json_object_get(c, "audio")), "long") == 0;
    hark_status st = hark_transcribe(s, is_long ? longa : jfk, is_long ? n_long : n_jfk, &p);
    char what[128];
    snprintf(what, sizeof(what), "%s %s", arch, name);
    CHECK(st == HARK_OK, "%s: %s", what, hark_last_error());
    if (st != HARK_OK)
        return;
    int ok = compare(s, c, what, eot);
    printf("%s: %d segments, %s\n", what, hark_n_segments(s), ok ? "identical" : "DIFFERENT");
    CHECK(ok, "%s differs from openai/whisper", what);
}

int main(void)
{
    char p[1024], wav[1024];
    json_error_t jerr;
    json_t *g = json_load_file(test_src("tests/data/openai_golden.json", p, sizeof(p)), 0, &jerr);
    CHECK(g != NULL, "no golden %s", p);
    float *jfk = NULL;
    size_t n = 0;
    CHECK_OK(hark_audio_load(test_src("samples/jfk.wav", wav, sizeof(wav)), &jfk, &n));
    if (!g || !jfk)
        TEST_MAIN_END();
    size_t n_long = 0;
    float *longa = golden_long_audio(jfk, n, &n_long);
    json_t *cases = json_object_get(g, "cases");
    const char *arch;
    json_t *per;
    json_object_foreach(cases, arch, per) {
        char path[1024];
        snprintf(path, sizeof(path), "%s/oa-%s.hark", HARK_BINARY_DIR, arch);
        hark_convert_params cp = hark_convert_default_params();
        CHECK_OK(hark_convert_random(arch, (uint64_t)json_integer_value(json_object_get(g, "seed")),
                                     path, &cp));
        hark_model_params mp = hark_model_default_params();
        mp.device = getenv("HARK_TEST_DEVICE") ? getenv("HARK_TEST_DEVICE") : "cpu";
        hark_model *m = NULL;
        CHECK_OK(hark_model_load(path, &mp, &m));
        hark_state *s = NULL;
        if (m)
            CHECK_OK(hark_state_new(m, NULL, &s));
        const char *name;
        json_t *c;
        json_object_foreach(per, name, c) {
            if (s)
                run_case(s, (int32_t)hark_model_special_tokens(m).eot, arch, name, c, jfk, n,
                         longa, n_long);
        }
        hark_state_free(s);
        hark_model_free(m);
    }
    free(longa);
    hark_free(jfk);
    json_decref(g);
    TEST_MAIN_END();
}
