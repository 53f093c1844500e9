/*
 * test_parity.c — hark's CPU engine against the independent reference (Hugging Face transformers
 * in float64, run by dev/reference/make_goldens.py on the device machine) for the reduced random
 * models: encoder output, teacher-forced logits and the 100-step greedy sequence.
 * The model is made here by hark_convert_random from the recipe in docs/format.md; the reference
 * made the same weights independently in numpy.
 */
#include "hark.h"
#include "npy.h"
#include "test.h"

#include "golden.h"

static json_t *golden;

static hark_model *make_model(const char *arch, int seed)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/parity-%s-%d.hark", HARK_BINARY_DIR, arch, seed);
    hark_convert_params cp = hark_convert_default_params();
    CHECK_OK(hark_convert_random(arch, (uint64_t)seed, path, &cp));
    hark_model_params mp = hark_model_default_params();
    hark_model *m = NULL;
    CHECK_OK(hark_model_load(path, &mp, &m));
    return m;
}

static int load_npy(const char *name, npy_array *a)
{
    char p[1024];
    snprintf(p, sizeof(p), "%s/tests/data/%s", HARK_SOURCE_DIR, name);
    return npy_load(p, a);
}

static void check_arch(const char *arch, const char *mel_name, int seed)
{
    json_t *g = json_object_get(golden, arch);
    CHECK(g != NULL, "no golden for %s", arch);
    if (!g)
        return;
    hark_model *m = make_model(arch, seed);
    if (!m)
        return;
    hark_model_dims d = hark_model_get_dims(m);
    npy_array mel;
    if (load_npy(mel_name, &mel) != 0) {
        CHECK(0, "missing %s", mel_name);
        hark_model_free(m);
        return;
    }
    hark_state_params sp = hark_state_default_params();
    hark_state *s = NULL;
    CHECK_OK(hark_state_new(m, &sp, &s));
    CHECK_OK(hark_encode(s, mel.data, 1));

    /* encoder output */
    char name[256];
    snprintf(name, sizeof(name), "%s_encoder.npy", arch);
    npy_array enc;
    char enc_path[1024];
    snprintf(enc_path, sizeof(enc_path), "%s/tests/data/%s", HARK_SOURCE_DIR, name);
    FILE *probe = fopen(enc_path, "rb");
    if (probe)
        fclose(probe);
    if (probe && load_npy(name, &enc) == 0) {
        float *out = malloc((size_t)d.n_audio_ctx * d.n_audio_state * sizeof(float));
        CHECK_OK(hark_encoder_output(s, 0, out));
        double err = test_rel_l2(out, enc.data, (size_t)enc.numel);
        printf("%s encoder rel L2 %.3e\n", arch, err);
        CHECK(err <= 1e-4, "%s encoder rel L2 %.3e > 1e-4", arch, err);
        free(out);
        npy_free(&enc);
    }

    /* teacher-forced logits */
    int32_t tokens[448], rows[16];
    int nt = json_ints(json_object_get(g, "tokens"), tokens, 448);
    int nr = json_ints(json_object_get(g, "logit_rows"), rows, 16);
    snprintf(name, sizeof(name), "%s_logits.npy", arch);
    npy_array lg;
    if (nr > 0 && load_npy(name, &lg) == 0) {
        hark_decode_entry e[448];
        for (int i = 0; i < nt; i++)
            e[i] = (hark_decode_entry){ .token = tokens[i], .pos = i, .want_logits = 1 };
        float *all = malloc((size_t)nt * d.n_vocab * sizeof(float));
        CHECK_OK(hark_decode(s, e, nt, all));
        double worst = 0;
        for (int r = 0; r < nr; r++) {
            double err = test_rel_l2(all + (size_t)rows[r] * d.n_vocab,
                                     (float *)lg.data + (size_t)r * d.n_vocab, (size_t)d.n_vocab);
            worst = err > worst ? err : worst;
        }
        printf("%s logits (%d rows) worst rel L2 %.3e\n", arch, nr, worst);
        CHECK(worst <= 1e-4, "%s logits rel L2 %.3e > 1e-4", arch, worst);
        free(all);
        npy_free(&lg);
    }

    /* greedy: raw argmax, the reference's loop */
    int32_t prompt[8], want[448];
    int np = json_ints(json_object_get(g, "prompt"), prompt, 8);
    int ng = json_ints(json_object_get(g, "greedy"), want, 448);
    float *logits = malloc((size_t)d.n_vocab * sizeof(float));
    hark_decode_entry e[8];
    for (int i = 0; i < np; i++)
        e[i] = (hark_decode_entry){ .token = prompt[i], .pos = i, .want_logits = i == np - 1 };
    CHECK_OK(hark_decode(s, e, np, logits));
    int same = 0;
    for (int step = 0; step < ng; step++) {
        int t = argmax_f(logits, d.n_vocab);
        if (t != want[step])
            break;
        same++;
        hark_decode_entry x = { .token = t, .pos = np + step, .want_logits = 1 };
        if (hark_decode(s, &x, 1, logits) != HARK_OK)
            break;
    }
    printf("%s greedy: %d of %d tokens identical\n", arch, same, ng);
    CHECK(same == ng, "%s greedy diverges at step %d", arch, same);

    /* the same loop as one hark_decode_greedy call after the prompt */
    int32_t got[448];
    e[np - 1].want_logits = 1;
    CHECK_OK(hark_decode_argmax(s, e + np - 1, 1, 0, got)); /* the prompt's last token again */
    hark_decode_entry first = { .token = got[0], .pos = np, .want_logits = 1 };
    CHECK(got[0] == want[0], "%s greedy: first pick %d, want %d", arch, got[0], want[0]);
    CHECK_OK(hark_decode_greedy(s, &first, 1, ng - 1, 0, got + 1));
    same = 0;
    while (same < ng && got[same] == want[same])
        same++;
    printf("%s hark_decode_greedy: %d of %d tokens identical\n", arch, same, ng);
    CHECK(same == ng, "%s hark_decode_greedy diverges at step %d", arch, same);
    hark_decode_entry twice[2] = { first, first };
    CHECK(hark_decode_greedy(s, twice, 2, 1, 0, got) == HARK_ERR_INVALID_ARG,
          "greedy: one sequence twice accepted");
    first.pos = d.n_text_ctx - 1;
    CHECK(hark_decode_greedy(s, &first, 1, 2, 0, got) == HARK_ERR_INVALID_ARG,
          "greedy: steps past the context accepted");
    free(logits);
    npy_free(&mel);
    hark_state_free(s);
    hark_model_free(m);
}

int main(void)
{
    char p[1024];
    snprintf(p, sizeof(p), "%s/tests/data/model_golden.json", HARK_SOURCE_DIR);
    json_error_t jerr;
    golden = json_load_file(p, 0, &jerr);
    if (!golden) {
        printf("skipped: no golden (%s)\n", p);
        TEST_MAIN_END();
    }
    int seed = (int)json_integer_value(json_object_get(golden, "seed"));
    check_arch("tiny-test", "mel_jfk_80.npy", seed);
    check_arch("v3-test", "mel_jfk_128.npy", seed);
    check_arch("tiny-test.en", "mel_jfk_80.npy", seed);
    json_decref(golden);
    TEST_MAIN_END();
}
