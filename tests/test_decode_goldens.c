/*
 * test_decode_goldens.c — the decoding semantics against transformers' generate (goldens in
 * tests/data/decode_golden.json, made by dev/reference/make_goldens.py decode): language
 * identification probabilities within 1e-4. (The timestamp, beam search, translate and
 * long-form goldens in the same file are for the transcription loop of the decoding work.)
 */
#include "hark.h"
#include "test.h"

#include <jansson.h>

static void check_language(json_t *g, const char *arch)
{
    json_t *a = json_object_get(g, arch);
    CHECK(a != NULL, "no golden for %s", arch);
    if (!a)
        return;
    char path[1024];
    snprintf(path, sizeof(path), "%s/lang-%s.hark", HARK_BINARY_DIR, arch);
    hark_convert_params cp = hark_convert_default_params();
    CHECK_OK(hark_convert_random(arch, (uint64_t)json_integer_value(json_object_get(g, "seed")),
                                 path, &cp));
    hark_model *m = NULL;
    CHECK_OK(hark_model_load(path, NULL, &m));
    if (!m)
        return;
    hark_state *s = NULL;
    CHECK_OK(hark_state_new(m, NULL, &s));
    char wav[1024];
    float *pcm = NULL;
    size_t n = 0;
    CHECK_OK(hark_audio_load(test_src("samples/jfk.wav", wav, sizeof(wav)), &pcm, &n));
    hark_special_tokens sp = hark_model_special_tokens(m);
    float probs[128];
    int best = -1;
    CHECK_OK(hark_detect_language(s, pcm, n, probs, &best));
    json_t *want = json_object_get(a, "language_probs");
    CHECK((int)json_array_size(want) == sp.n_languages, "%s: %zu golden languages, model has %d",
          arch, json_array_size(want), sp.n_languages);
    double worst = 0;
    for (int i = 0; i < sp.n_languages && i < (int)json_array_size(want); i++) {
        double d = fabs(probs[i] - json_real_value(json_array_get(want, (size_t)i)));
        worst = d > worst ? d : worst;
    }
    const char *lang = json_string_value(json_object_get(a, "language"));
    printf("%s: language %s (golden %s), worst probability difference %.2e\n", arch,
           hark_language_code(best), lang, worst);
    CHECK(worst <= 1e-4, "%s: language probabilities differ by %.2e", arch, worst);
    CHECK(lang && strcmp(hark_language_code(best), lang) == 0, "%s: language %s vs %s", arch,
          hark_language_code(best), lang);
    hark_free(pcm);
    hark_state_free(s);
    hark_model_free(m);
}

int main(void)
{
    char p[1024];
    json_error_t jerr;
    json_t *g = json_load_file(test_src("tests/data/decode_golden.json", p, sizeof(p)), 0, &jerr);
    if (!g) {
        printf("skipped: no golden (%s)\n", p);
        TEST_MAIN_END();
    }
    check_language(g, "tiny-test");
    check_language(g, "v3-test");

    /* English-only models refuse clearly */
    char path[1024];
    snprintf(path, sizeof(path), "%s/lang-en.hark", HARK_BINARY_DIR);
    hark_convert_params cp = hark_convert_default_params();
    CHECK_OK(hark_convert_random("tiny-test.en", 1, path, &cp));
    hark_model *m = NULL;
    CHECK_OK(hark_model_load(path, NULL, &m));
    hark_state *s = NULL;
    if (m)
        CHECK_OK(hark_state_new(m, NULL, &s));
    float x[16000] = { 0 };
    if (s)
        CHECK(hark_detect_language(s, x, 16000, NULL, NULL) == HARK_ERR_UNSUPPORTED,
              "English-only model detected a language");
    hark_state_free(s);
    hark_model_free(m);
    json_decref(g);
    TEST_MAIN_END();
}
