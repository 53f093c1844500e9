/*
 * test_model.c — model files: the architecture table, special-token layouts, the safetensors
 * reader/writer, seeded random models against the recipe of docs/format.md (recomputed here in
 * float64), hark_model_read, truncated and corrupted files, wrong formats, and the converters
 * (.pt and Hugging Face fixtures written by this test, whisper.cpp ggml fixtures from shared/).
 */
#include "model/hark_file.h"
#include "model/model_internal.h"
#include "pt_writer.h"
#include "test.h"

#include <fcntl.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmpdir[256];

static const char *tmp(const char *name, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s/%s", tmpdir, name);
    return buf;
}

/* ---- the recipe of docs/format.md, independently */
static uint64_t t_fnv(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ull;
    while (*s)
        h = (h ^ (uint8_t)*s++) * 0x100000001b3ull;
    return h;
}
static uint64_t t_mix(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
static double t_r(const char *name, uint64_t seed, uint64_t i)
{
    uint64_t key = t_mix(seed ^ t_fnv(name));
    return 2.0 * (double)(t_mix(key + (i + 1) * 0x9e3779b97f4a7c15ull) >> 40) / 16777216.0 - 1.0;
}

static double value_of(const hark_st_entry *e, int64_t i)
{
    const uint8_t *p = e->t.data;
    uint16_t h;
    float f;
    if (e->t.dtype == HARK_DTYPE_F32) {
        memcpy(&f, p + 4 * i, 4);
        return f;
    }
    memcpy(&h, p + 2 * i, 2);
    return e->t.dtype == HARK_DTYPE_F16 ? hark_f16_to_f32(h) : hark_bf16_to_f32(h);
}

/* Checks element i of e against the expected float64 x: exact for F32 ((float)x), else within
 * half a unit in the last place of the stored type. */
static double tol_ulps = 0.5;

static int close_to(const hark_st_entry *e, int64_t i, double x)
{
    double v = value_of(e, i);
    if (e->t.dtype == HARK_DTYPE_F32)
        return (float)x == (float)v;
    /* half an ulp of the stored type (tol_ulps = 1 where float32 rounding came first) */
    double ulp = e->t.dtype == HARK_DTYPE_F16 ? ldexp(1, -10) : ldexp(1, -7);
    double mag = fabs(x) < ldexp(1, -14) ? ldexp(1, -14) : fabs(x);
    int ex;
    frexp(mag, &ex);
    return fabs(v - x) <= tol_ulps * ldexp(ulp, ex - 1) * 1.0000001;
}

static void test_arch(void)
{
    const hark_arch *a = hark_arch_find("tiny");
    CHECK(a && a->dims.n_audio_state == 384 && a->dims.n_audio_head == 6 &&
          a->dims.n_text_layer == 4 && a->dims.n_vocab == 51865, "tiny");
    a = hark_arch_find("large-v3-turbo");
    CHECK(a && a->dims.n_mels == 128 && a->dims.n_audio_layer == 32 && a->dims.n_text_layer == 4 &&
          a->dims.n_vocab == 51866, "turbo");
    a = hark_arch_find("medium.en");
    CHECK(a && a->dims.n_audio_state == 1024 && a->dims.n_vocab == 51864, "medium.en");
    a = hark_arch_find("nano-test");
    CHECK(a && a->dims.n_audio_state == 8 && a->dims.n_audio_layer == 1, "nano");
    CHECK(hark_arch_find("huge") == NULL && hark_arch_find(NULL) == NULL, "unknown");
    int n = 0;
    for (const char *const *p = hark_arch_names(); *p; p++, n++) {
        const hark_arch *x = hark_arch_find(*p);
        CHECK(x != NULL, "%s", *p);
        if (!x)
            continue;
        CHECK_OK(hark_dims_check(&x->dims));
        CHECK(x->dims.n_audio_ctx == 1500 && x->dims.n_text_ctx == 448, "%s ctx", *p);
        const char *g = hark_arch_guess(&x->dims);
        CHECK(strcmp(g, *p) == 0 || (strcmp(*p, "large-v1") == 0 && strcmp(g, "large-v2") == 0),
              "guess %s -> %s", *p, g);
    }
    CHECK(n == 16, "%d names", n);
    hark_model_dims d = hark_arch_find("tiny")->dims;
    d.n_audio_head = 5;
    CHECK(hark_dims_check(&d) != HARK_OK, "heads must divide");
    d = hark_arch_find("tiny")->dims;
    d.n_vocab = 50000;
    CHECK(hark_dims_check(&d) != HARK_OK, "vocab");
    CHECK(strcmp(hark_arch_guess(&d), "custom") == 0, "custom");
}

static void test_special(void)
{
    hark_special_tokens s;
    CHECK_OK(hark_special_tokens_for_vocab(51864, &s));
    CHECK(s.eot == 50256 && s.sot == 50257 && s.lang_first == 50258 && s.n_languages == 99 &&
          s.translate == 50357 && s.transcribe == 50358 && s.sot_lm == 50359 &&
          s.sot_prev == 50360 && s.no_speech == 50361 && s.no_timestamps == 50362 &&
          s.timestamp_begin == 50363, "gpt2 layout");
    CHECK_OK(hark_special_tokens_for_vocab(51865, &s));
    CHECK(s.eot == 50257 && s.sot == 50258 && s.lang_first == 50259 && s.translate == 50358 &&
          s.transcribe == 50359 && s.sot_lm == 50360 && s.sot_prev == 50361 &&
          s.no_speech == 50362 && s.no_timestamps == 50363 && s.timestamp_begin == 50364,
          "multilingual layout");
    CHECK_OK(hark_special_tokens_for_vocab(51866, &s));
    CHECK(s.n_languages == 100 && s.translate == 50359 && s.no_timestamps == 50364 &&
          s.timestamp_begin == 50365 && s.timestamp_begin + 1501 == 51866, "v3 layout");
    CHECK(hark_special_tokens_for_vocab(51867, &s) == HARK_ERR_UNSUPPORTED, "bad vocab");
}

static void test_safetensors(void)
{
    char path[512];
    tmp("rt.safetensors", path, sizeof(path));
    float a[6] = { 1, -2, 3.5f, 0, 1e-3f, 65504 };
    uint16_t h[3] = { hark_f32_to_f16(1.5f), hark_f32_to_f16(-0.25f), 0 };
    uint16_t bf[2] = { hark_f32_to_bf16(3.0f), hark_f32_to_bf16(-7.0f) };
    int64_t s23[2] = { 2, 3 }, s3[1] = { 3 }, s211[3] = { 2, 1, 1 }, s0[1] = { 0 };
    hark_st_writer *w;
    CHECK_OK(hark_st_writer_new(&w));
    CHECK_OK(hark_st_writer_add(w, "zeta", HARK_DTYPE_F32, 2, s23, a));
    CHECK_OK(hark_st_writer_add(w, "alpha", HARK_DTYPE_F16, 1, s3, h));
    CHECK_OK(hark_st_writer_add(w, "mid", HARK_DTYPE_BF16, 3, s211, bf));
    CHECK_OK(hark_st_writer_add(w, "empty", HARK_DTYPE_F32, 1, s0, a));
    CHECK_OK(hark_st_writer_add(w, "scalar", HARK_DTYPE_F32, 0, NULL, a + 2));
    CHECK_OK(hark_st_writer_meta(w, "k2", "second"));
    CHECK_OK(hark_st_writer_meta(w, "k1", "first \"quoted\"\n"));
    CHECK_OK(hark_st_writer_write(w, path));
    hark_st_writer_free(w);

    hark_st_file f;
    CHECK_OK(hark_st_open(path, &f));
    if (f.n_entries != 5) {
        CHECK(0, "%d entries", f.n_entries);
        hark_st_close(&f);
        return;
    }
    uint64_t hlen = 0;
    memcpy(&hlen, f.map.data, 8);
    CHECK((8 + hlen) % 64 == 0, "data starts 64-aligned");
    CHECK(strcmp(f.entries[0].name, "alpha") == 0 && strcmp(f.entries[4].name, "zeta") == 0,
          "sorted");
    const hark_st_entry *e = hark_st_find(&f, "zeta");
    CHECK(e && e->t.ndim == 2 && e->t.shape[1] == 3 && e->nbytes == 24 &&
          memcmp(e->t.data, a, 24) == 0, "zeta");
    e = hark_st_find(&f, "alpha");
    CHECK(e && e->t.dtype == HARK_DTYPE_F16 && memcmp(e->t.data, h, 6) == 0, "alpha");
    e = hark_st_find(&f, "mid");
    CHECK(e && e->t.dtype == HARK_DTYPE_BF16 && e->t.ndim == 3 && memcmp(e->t.data, bf, 4) == 0,
          "mid");
    e = hark_st_find(&f, "scalar");
    CHECK(e && e->t.ndim == 0 && e->nbytes == 4, "scalar");
    e = hark_st_find(&f, "empty");
    CHECK(e && e->nbytes == 0, "empty");
    CHECK(hark_st_meta(&f, "k1") && strcmp(hark_st_meta(&f, "k1"), "first \"quoted\"\n") == 0,
          "meta");
    CHECK(f.n_meta == 2 && strcmp(f.meta_keys[0], "k2") == 0, "meta order");
    CHECK(hark_st_find(&f, "nope") == NULL && hark_st_meta(&f, "nope") == NULL, "absent");
    hark_st_close(&f);

    /* hand-written headers: each must fail with FORMAT or UNSUPPORTED, or load the I64 entry */
    static const char *const bad[] = {
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}",
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,0]}}",
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1],\"data_offsets\":[0,4]}}",
        "{\"a\":{\"dtype\":\"Q4\",\"shape\":[1],\"data_offsets\":[0,4]}}",
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,0]}}",
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[18446744073709551612,0]}}",
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,8]}}",
        "{\"__metadata__\":{\"x\":1}}",
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,8]}}",
        "[1,2]",
        "{\"a\":",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        uint8_t buf[512];
        uint64_t n = strlen(bad[i]);
        memcpy(buf, &n, 8);
        memcpy(buf + 8, bad[i], n);
        memset(buf + 8 + n, 0, 8);
        CHECK_OK(hark_write_file(path, buf, 8 + n + 4));
        hark_status st = hark_st_open(path, &f);
        CHECK(st == HARK_ERR_FORMAT || st == HARK_ERR_UNSUPPORTED, "bad header %zu: %s", i,
              hark_status_str(st));
        CHECK(strstr(hark_last_error(), path) != NULL, "message names the file: %s",
              hark_last_error());
    }
    const char *i64 = "{\"a\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[0,8]}}";
    uint8_t buf[256];
    uint64_t n = strlen(i64);
    memcpy(buf, &n, 8);
    memcpy(buf + 8, i64, n);
    memset(buf + 8 + n, 0, 8);
    CHECK_OK(hark_write_file(path, buf, 8 + n + 8));
    CHECK_OK(hark_st_open(path, &f));
    e = hark_st_find(&f, "a");
    CHECK(e && e->t.dtype == HARK_DTYPE_UNSUPPORTED &&
          strcmp(hark_st_entry_dtype_name(e), "I64") == 0, "unsupported dtype kept and named");
    hark_st_close(&f);
}

/* Checks every tensor of a random model file against the recipe (a sample of elements). */
static void check_random_file(const char *path, const char *arch, uint64_t seed)
{
    const hark_arch *a = hark_arch_find(arch);
    hark_st_file f;
    hark_plan plan;
    CHECK_OK(hark_st_open(path, &f));
    CHECK_OK(hark_plan_build(&a->dims, NULL, &plan));
    CHECK(f.n_entries == plan.n, "%s: %d tensors, plan %d", arch, f.n_entries, plan.n);
    CHECK(hark_st_meta(&f, "format") && strcmp(hark_st_meta(&f, "format"), "pt") == 0, "format");
    char note[64];
    snprintf(note, sizeof(note), "seed=%llu", (unsigned long long)seed);
    CHECK(hark_st_meta(&f, "hark.random") && strcmp(hark_st_meta(&f, "hark.random"), note) == 0,
          "random note");
    CHECK(hark_st_meta(&f, "hark.arch") && strcmp(hark_st_meta(&f, "hark.arch"), arch) == 0,
          "arch");
    int bad = 0;
    for (int k = 0; k < plan.n; k++) {
        const hark_plan_tensor *t = &plan.t[k];
        const hark_st_entry *e = hark_st_find(&f, t->hf);
        if (!e) {
            CHECK(0, "missing %s", t->hf);
            continue;
        }
        int64_t n = hark_plan_numel(t), step = n > 5000 ? n / 997 : 1;
        for (int64_t i = 0; i < n; i += step) {
            double r = t_r(t->hf, seed, (uint64_t)i), x;
            size_t L = strlen(t->hf);
            if (strcmp(t->hf, "model.encoder.embed_positions.weight") == 0) {
                int64_t D = t->shape[1], p = i / D, c = i % D, hd = D / 2;
                int64_t kk = c < hd ? c : c - hd;
                double arg = (double)p * exp(-(double)kk * log(10000.0) / (double)(hd - 1));
                x = c < hd ? sin(arg) : cos(arg);
            } else if (L > 17 && strcmp(t->hf + L - 17, "layer_norm.weight") == 0) {
                x = 1 + 0.1 * r;
            } else if (L > 5 && strcmp(t->hf + L - 5, ".bias") == 0) {
                x = 0.02 * r;
            } else if (strcmp(t->hf, "model.decoder.embed_tokens.weight") == 0) {
                x = 0.05 * r;
            } else if (strcmp(t->hf, "model.decoder.embed_positions.weight") == 0) {
                x = 0.02 * r;
            } else {
                double fan = 1;
                for (int d = 1; d < t->ndim; d++)
                    fan *= (double)t->shape[d];
                x = r / sqrt(fan);
            }
            if (!close_to(e, i, x) && bad++ < 5)
                CHECK(0, "%s[%lld] = %.9g, recipe %.9g", t->hf, (long long)i, value_of(e, i), x);
        }
    }
    CHECK(bad == 0, "%d values off the recipe", bad);
    hark_plan_free(&plan);
    hark_st_close(&f);
}

static void test_random(void)
{
    char path[512];
    hark_convert_params p = hark_convert_default_params();
    CHECK(p.dtype == HARK_DTYPE_F16 && p.arch_name == NULL, "defaults");
    CHECK_OK(hark_convert_random("nano-test", 42, tmp("nano.hark", path, sizeof(path)), NULL));
    check_random_file(path, "nano-test", 42);
    CHECK_OK(hark_convert_random("tiny-test", 7, tmp("tinytest.hark", path, sizeof(path)), &p));
    check_random_file(path, "tiny-test", 7);
    p.dtype = HARK_DTYPE_F32;
    CHECK_OK(hark_convert_random("nano-test", 3, tmp("nano32.hark", path, sizeof(path)), &p));
    check_random_file(path, "nano-test", 3);
    p.dtype = HARK_DTYPE_BF16;
    CHECK_OK(hark_convert_random("nano-test", 3, tmp("nanobf.hark", path, sizeof(path)), &p));
    check_random_file(path, "nano-test", 3);
    CHECK(hark_convert_random("giant", 1, path, NULL) == HARK_ERR_NOT_FOUND, "unknown arch");
    CHECK(strstr(hark_last_error(), "tiny") != NULL, "lists names: %s", hark_last_error());

    /* re-typing a hark file through hark_convert keeps values (F32 -> F16 equals direct F16
     * except where double rounding through float differs: compare within half an f16 ulp) */
    char p32[512], p16[512];
    tmp("nano32.hark", p32, sizeof(p32));
    CHECK_OK(hark_convert(p32, tmp("nano_retyped.hark", p16, sizeof(p16)), NULL));
    tol_ulps = 1;
    check_random_file(p16, "nano-test", 3);
    tol_ulps = 0.5;
}

static void test_read(void)
{
    char path[512];
    tmp("nano.hark", path, sizeof(path));
    hark_model *m = calloc(1, sizeof(*m));
    CHECK_OK(hark_model_read(path, m));
    CHECK(m->dims.n_audio_state == 8 && m->dims.n_vocab == 51865, "dims");
    CHECK(strcmp(m->arch, "nano-test") == 0 && m->is_random == 1, "arch %s", m->arch);
    CHECK(m->special.eot == 50257 && m->special.timestamp_begin == 50364, "special");
    CHECK(m->tok != NULL, "tokenizer");
    CHECK(m->w.conv1_w.ndim == 3 && m->w.conv1_w.shape[1] == 80 && m->w.conv1_w.shape[2] == 3,
          "conv1");
    CHECK(m->w.tok_emb.shape[0] == 51865 && m->w.tok_emb.dtype == HARK_DTYPE_F16, "tok_emb");
    CHECK(m->w.dec[0].cross.k_w.ndim == 2 && m->w.dec[0].fc1_w.shape[0] == 32 &&
          m->w.enc[0].fc2_w.shape[1] == 32 && m->w.dec_ln_b.ndim == 1, "layer views");
    const uint8_t *lo = m->map.data, *hi = lo + m->map.size;
    const uint8_t *d = m->w.dec[0].attn.o_b.data;
    CHECK(d > lo && d + 16 <= hi, "views point into the map");
    /* the value of a view equals the recipe */
    uint16_t h;
    memcpy(&h, m->w.dec_pos.data, 2);
    double x = 0.02 * t_r("model.decoder.embed_positions.weight", 42, 0);
    CHECK(fabs(hark_f16_to_f32(h) - x) < 1e-4, "dec_pos[0]");
    hark_model_release(m);
    CHECK(m->tok == NULL && m->map.data == NULL, "released");
    hark_model_release(m);

    tmp("tinytest.hark", path, sizeof(path));
    CHECK_OK(hark_model_read(path, m));
    CHECK(m->dims.n_audio_layer == 2 && m->w.enc[1].attn.q_w.shape[0] == 64, "tiny-test");
    hark_model_release(m);
    free(m);
}

static int read_fails_cleanly(const char *path, const char *what)
{
    hark_model *m = calloc(1, sizeof(*m));
    hark_clear_error();
    hark_status st = hark_model_read(path, m);
    int ok = st == HARK_ERR_FORMAT || st == HARK_ERR_IO || st == HARK_ERR_UNSUPPORTED;
    ok = ok && hark_last_error()[0] != 0 && m->tok == NULL && m->map.data == NULL;
    if (!ok)
        fprintf(stderr, "  %s: %s (%s)\n", what, hark_status_str(st), hark_last_error());
    if (st == HARK_OK)
        hark_model_release(m);
    free(m);
    return ok;
}

static void test_truncation(void)
{
    char src[512], path[512];
    tmp("nano.hark", src, sizeof(src));
    tmp("trunc.hark", path, sizeof(path));
    uint8_t *data;
    size_t size;
    CHECK_OK(hark_read_file(src, &data, &size));
    CHECK_OK(hark_write_file(path, data, size));
    /* lengths in decreasing order so one file can be cut shorter each time */
    size_t *lens = malloc(sizeof(size_t) * (size / 997 + 8192 + 4096 + 8));
    size_t n = 0;
    for (size_t L = size - 1; L + 4096 >= size && L < size; L--)
        lens[n++] = L;
    for (size_t L = (size - 4097) / 997 * 997; L >= 8192; L -= 997)
        lens[n++] = L;
    for (size_t L = 8192; L-- > 0;)
        lens[n++] = L;
    int fails = 0;
    int fd = open(path, O_WRONLY);
    for (size_t i = 0; i < n; i++) {
        if (ftruncate(fd, (off_t)lens[i]) != 0)
            break;
        char what[64];
        snprintf(what, sizeof(what), "truncated to %zu", lens[i]);
        if (!read_fails_cleanly(path, what) && fails++ > 5)
            break;
    }
    close(fd);
    CHECK(fails == 0, "%d truncations loaded or failed badly (of %zu)", fails, n);
    free(lens);

    /* single-byte flips in the header, mostly outside the (long) tokenizer text */
    uint64_t hlen;
    memcpy(&hlen, data, 8);
    const char *key = "\"hark.tokenizer\":\"";
    uint8_t *tk = memmem(data, (size_t)hlen + 8, key, strlen(key));
    size_t t0 = tk ? (size_t)(tk - data) + strlen(key) : 8, t1 = t0;
    while (tk && t1 < hlen + 8 && !(data[t1] == '"' && data[t1 - 1] != '\\'))
        t1++;
    CHECK_OK(hark_write_file(path, data, size));
    fd = open(path, O_RDWR);
    uint64_t rng = 12345;
    int loaded = 0, bad = 0;
    for (int i = 0; i < 2000; i++) {
        rng = t_mix(rng + 1);
        size_t pos;
        if (i % 100 == 99) /* a few inside the tokenizer text */
            pos = t0 + (size_t)(rng % (t1 - t0 + 1));
        else {
            pos = (size_t)(rng % (hlen + 8 - (t1 - t0)));
            if (pos >= t0)
                pos += t1 - t0;
        }
        uint8_t old = data[pos], nb = (uint8_t)(old ^ (1u << ((rng >> 32) % 8)));
        if ((rng >> 40) % 4 == 0)
            nb = (uint8_t)(rng >> 48);
        if (pwrite(fd, &nb, 1, (off_t)pos) != 1)
            break;
        hark_model *m = calloc(1, sizeof(*m));
        hark_status st = hark_model_read(path, m);
        if (st == HARK_OK) {
            loaded++;
            int ok = hark_dims_check(&m->dims) == HARK_OK;
            const uint8_t *lo = m->map.data, *hi = lo + m->map.size;
            const uint8_t *d = m->w.tok_emb.data;
            ok = ok && d >= lo && d + (size_t)hark_tensor_numel(&m->w.tok_emb) * 2 <= hi;
            if (!ok && bad++ < 5)
                CHECK(0, "flip at %zu loads an inconsistent model", pos);
            hark_model_release(m);
        } else if (!hark_last_error()[0] && bad++ < 5) {
            CHECK(0, "flip at %zu: %s without a message", pos, hark_status_str(st));
        }
        free(m);
        if (pwrite(fd, &old, 1, (off_t)pos) != 1)
            break;
    }
    close(fd);
    CHECK(bad == 0, "%d bad flips", bad);
    printf("header flips: %d of 2000 still loaded\n", loaded);
    free(data);
}

static void test_wrong_formats(void)
{
    char path[512], buf[512];
    CHECK_OK(hark_write_file(tmp("empty.hark", path, sizeof(path)), "", 0));
    CHECK(read_fails_cleanly(path, "empty"), "empty file");
    static const uint8_t wav[44] = { 'R', 'I', 'F', 'F', 36, 0, 0, 0, 'W', 'A', 'V', 'E', 'f', 'm',
                                     't', ' ', 16, 0, 0, 0, 1, 0, 1, 0, 0x80, 0x3e, 0, 0, 0, 0x7d,
                                     0, 0, 2, 0, 16, 0, 'd', 'a', 't', 'a', 0, 0, 0, 0 };
    CHECK_OK(hark_write_file(tmp("a.wav", path, sizeof(path)), wav, sizeof(wav)));
    CHECK(read_fails_cleanly(path, "wav"), "wav file");
    CHECK(read_fails_cleanly(tmpdir, "dir"), "directory");
    CHECK(read_fails_cleanly(tmp("does-not-exist", path, sizeof(path)), "missing"), "missing");
    test_shared("data/model-format-fixtures/for-tests-ggml-tiny.bin", buf, sizeof(buf));
    if (access(buf, R_OK) == 0)
        CHECK(read_fails_cleanly(buf, "ggml"), "ggml passed to the reader");
    /* a plain safetensors file without hark metadata */
    tmp("rt.safetensors", path, sizeof(path));
    hark_model *m = calloc(1, sizeof(*m));
    CHECK(hark_model_read(path, m) == HARK_ERR_FORMAT && strstr(hark_last_error(), "hark"),
          "not a hark file: %s", hark_last_error());
    free(m);
    CHECK(hark_convert(tmp("a.wav", path, sizeof(path)), tmp("o.hark", buf, sizeof(buf)), NULL) ==
              HARK_ERR_FORMAT, "convert a wav");
}

/* Compares every tensor of two hark files byte for byte. */
static void same_tensors(const char *a, const char *b, const char *what)
{
    hark_st_file fa, fb;
    CHECK_OK(hark_st_open(a, &fa));
    CHECK_OK(hark_st_open(b, &fb));
    CHECK(fa.n_entries == fb.n_entries, "%s: %d vs %d tensors", what, fa.n_entries, fb.n_entries);
    int diff = 0;
    for (int i = 0; i < fa.n_entries; i++) {
        const hark_st_entry *e = hark_st_find(&fb, fa.entries[i].name);
        if (!e || e->nbytes != fa.entries[i].nbytes ||
            memcmp(e->t.data, fa.entries[i].t.data, e->nbytes) != 0)
            if (diff++ < 3)
                CHECK(0, "%s: tensor %s differs", what, fa.entries[i].name);
    }
    CHECK(diff == 0, "%s: %d tensors differ", what, diff);
    const char *ta = hark_st_meta(&fa, "hark.dims"), *tb = hark_st_meta(&fb, "hark.dims");
    CHECK(ta && tb && strcmp(ta, tb) == 0, "%s: dims", what);
    hark_st_close(&fa);
    hark_st_close(&fb);
}

static void test_convert_pt(void)
{
    char src[512], pt[512], out[512];
    tmp("nano.hark", src, sizeof(src));
    tmp("nano.pt", pt, sizeof(pt));
    const hark_arch *a = hark_arch_find("nano-test");
    hark_st_file f;
    hark_plan plan;
    CHECK_OK(hark_st_open(src, &f));
    CHECK_OK(hark_plan_build(&a->dims, NULL, &plan));
    ptw_buf pk = { 0 };
    ptw_zip z = { 0 };
    ptw_u8(&pk, 0x80);
    ptw_u8(&pk, 2);
    ptw_u8(&pk, '}');
    ptw_u8(&pk, 'q');
    ptw_u8(&pk, 0);
    ptw_u8(&pk, '(');
    pkw_str(&pk, "dims");
    ptw_u8(&pk, '}');
    ptw_u8(&pk, '(');
    const char *dn[10] = { "n_mels", "n_audio_ctx", "n_audio_state", "n_audio_head",
                           "n_audio_layer", "n_vocab", "n_text_ctx", "n_text_state",
                           "n_text_head", "n_text_layer" };
    const hark_model_dims *d = &a->dims;
    int dv[10] = { d->n_mels, d->n_audio_ctx, d->n_audio_state, d->n_audio_head, d->n_audio_layer,
                   d->n_vocab, d->n_text_ctx, d->n_text_state, d->n_text_head, d->n_text_layer };
    for (int i = 0; i < 10; i++) {
        pkw_str(&pk, dn[i]);
        pkw_int(&pk, dv[i]);
    }
    ptw_u8(&pk, 'u');
    pkw_str(&pk, "model_state_dict");
    pkw_global(&pk, "collections", "OrderedDict");
    ptw_u8(&pk, ')');
    ptw_u8(&pk, 'R');
    ptw_u8(&pk, 'r');
    ptw_le(&pk, 1, 4);
    ptw_u8(&pk, '(');
    /* q_proj and k_proj of the encoder share one storage: k at an offset, q with a transposed
     * view would be refused, so both are contiguous */
    for (int k = 0; k < plan.n; k++) {
        const hark_plan_tensor *t = &plan.t[k];
        const hark_st_entry *e = hark_st_find(&f, t->hf);
        int64_t stride[4], s = 1;
        for (int i = t->ndim - 1; i >= 0; i--) {
            stride[i] = s;
            s *= t->shape[i];
        }
        char key[16];
        snprintf(key, sizeof(key), "%d", k);
        int64_t off = 0, numel = s;
        if (strcmp(t->openai, "encoder.blocks.0.attn.key.weight") == 0) {
            /* stored as the second half of a two-tensor storage */
            uint8_t *two = calloc(1, 2 * e->nbytes);
            memcpy(two + e->nbytes, e->t.data, e->nbytes);
            char name[64];
            snprintf(name, sizeof(name), "archive/data/%s", key);
            ptw_zip_add(&z, name, two, 2 * e->nbytes);
            free(two);
            off = s;
            numel = 2 * s;
        } else {
            char name[64];
            snprintf(name, sizeof(name), "archive/data/%s", key);
            ptw_zip_add(&z, name, e->t.data, e->nbytes);
        }
        pkw_str(&pk, t->openai);
        if (k % 2)
            pkw_global(&pk, "torch._utils", "_rebuild_parameter");
        pkw_tensor(&pk, key, 1, numel, off, t->ndim, t->shape, stride);
        if (k % 2) {
            ptw_u8(&pk, 0x88);
            pkw_global(&pk, "collections", "OrderedDict");
            ptw_u8(&pk, ')');
            ptw_u8(&pk, 'R');
            ptw_u8(&pk, 0x87);
            ptw_u8(&pk, 'R');
        }
    }
    ptw_u8(&pk, 'u');
    /* state dicts carry a _metadata attribute, set by BUILD */
    ptw_u8(&pk, '}');
    pkw_str(&pk, "_metadata");
    ptw_u8(&pk, '}');
    ptw_u8(&pk, 's');
    ptw_u8(&pk, 'b');
    ptw_u8(&pk, 'u');
    ptw_u8(&pk, '.');
    ptw_zip_add(&z, "archive/data.pkl", pk.p, pk.n);
    ptw_zip_add(&z, "archive/version", "3\n", 2);
    CHECK(ptw_zip_finish(&z, pt) == 0, "write .pt");
    hark_plan_free(&plan);
    hark_st_close(&f);

    CHECK_OK(hark_convert(pt, tmp("from_pt.hark", out, sizeof(out)), NULL));
    same_tensors(src, out, ".pt");
    hark_model *m = calloc(1, sizeof(*m));
    CHECK_OK(hark_model_read(out, m));
    CHECK(strcmp(m->arch, "nano-test") == 0 && !m->is_random, "pt arch %s", m->arch);
    hark_model_release(m);
    free(m);

    /* damage: every truncation of the pickle region and of the file must fail cleanly */
    uint8_t *data;
    size_t size;
    CHECK_OK(hark_read_file(pt, &data, &size));
    char bad[512];
    tmp("bad.pt", bad, sizeof(bad));
    int fails = 0;
    for (size_t L = 0; L < size; L += L < 4096 ? 61 : 4099) {
        CHECK_OK(hark_write_file(bad, data, L));
        hark_status st = hark_convert(bad, out, NULL);
        if ((st == HARK_OK || !hark_last_error()[0]) && fails++ < 3)
            CHECK(0, "truncated .pt at %zu: %s", L, hark_status_str(st));
    }
    /* flips inside data.pkl */
    uint8_t *pkl = memmem(data, size, "\x80\x02}q", 4);
    uint64_t rng = 99;
    for (int i = 0; pkl && i < 300; i++) {
        rng = t_mix(rng);
        size_t pos = (size_t)(pkl - data) + (size_t)(rng % pk.n);
        uint8_t old = data[pos];
        data[pos] = (uint8_t)(rng >> 32);
        CHECK_OK(hark_write_file(bad, data, size));
        hark_status st = hark_convert(bad, out, NULL);
        if (st != HARK_OK && !hark_last_error()[0] && fails++ < 3)
            CHECK(0, "flip in data.pkl: no message");
        data[pos] = old;
    }
    CHECK(fails == 0, "%d bad .pt damages", fails);
    free(pk.p);
    free(data);
}

static void test_convert_hf(void)
{
    char src[512], dir[512], path[1024], out[512];
    tmp("nano.hark", src, sizeof(src));
    tmp("hf", dir, sizeof(dir));
    mkdir(dir, 0755);
    hark_st_file f;
    CHECK_OK(hark_st_open(src, &f));
    const hark_model_dims *d = &hark_arch_find("nano-test")->dims;
    snprintf(path, sizeof(path), "%s/config.json", dir);
    char cfg[1024];
    int n = snprintf(cfg, sizeof(cfg),
                     "{\"architectures\": [\"WhisperForConditionalGeneration\"], \"d_model\": %d, "
                     "\"encoder_layers\": %d, \"decoder_layers\": %d, "
                     "\"encoder_attention_heads\": %d, \"decoder_attention_heads\": %d, "
                     "\"num_mel_bins\": %d, \"vocab_size\": %d, \"max_source_positions\": %d, "
                     "\"max_target_positions\": %d, \"encoder_ffn_dim\": %d, "
                     "\"decoder_ffn_dim\": %d}",
                     d->n_audio_state, d->n_audio_layer, d->n_text_layer, d->n_audio_head,
                     d->n_text_head, d->n_mels, d->n_vocab, d->n_audio_ctx, d->n_text_ctx,
                     4 * d->n_audio_state, 4 * d->n_text_state);
    CHECK_OK(hark_write_file(path, cfg, (size_t)n));
    /* F32 copies of every tensor plus proj_out.weight, in one file and then in two shards */
    float **bufs = calloc((size_t)f.n_entries, sizeof(float *));
    hark_st_writer *w, *w2;
    CHECK_OK(hark_st_writer_new(&w));
    CHECK_OK(hark_st_writer_new(&w2));
    char index[1 << 14];
    int in = snprintf(index, sizeof(index), "{\"metadata\": {}, \"weight_map\": {");
    for (int i = 0; i < f.n_entries; i++) {
        const hark_st_entry *e = &f.entries[i];
        size_t k = (size_t)hark_tensor_numel(&e->t);
        bufs[i] = malloc(k * 4 + 4);
        hark_convert_values(e->t.data, e->t.dtype, bufs[i], HARK_DTYPE_F32, k);
        CHECK_OK(hark_st_writer_add(w, e->name, HARK_DTYPE_F32, e->t.ndim, e->t.shape, bufs[i]));
        if (i % 2)
            CHECK_OK(hark_st_writer_add(w2, e->name, HARK_DTYPE_F32, e->t.ndim, e->t.shape,
                                        bufs[i]));
        if (in < (int)sizeof(index) - 200)
            in += snprintf(index + in, sizeof(index) - (size_t)in, "%s\"%s\": \"%s\"",
                           i ? ", " : "", e->name,
                           i % 2 ? "model-00002-of-00002.safetensors"
                                 : "model-00001-of-00002.safetensors");
        if (strcmp(e->name, "model.decoder.embed_tokens.weight") == 0)
            CHECK_OK(hark_st_writer_add(w, "proj_out.weight", HARK_DTYPE_F32, e->t.ndim,
                                        e->t.shape, bufs[i]));
    }
    CHECK_OK(hark_st_writer_meta(w, "format", "pt"));
    snprintf(path, sizeof(path), "%s/model.safetensors", dir);
    CHECK_OK(hark_st_writer_write(w, path));
    CHECK_OK(hark_convert(dir, tmp("from_hf.hark", out, sizeof(out)), NULL));
    same_tensors(src, out, "hf");

    /* sharded: shard 1 holds the even tensors, shard 2 the odd ones */
    hark_st_writer *s1;
    CHECK_OK(hark_st_writer_new(&s1));
    for (int i = 0; i < f.n_entries; i += 2)
        CHECK_OK(hark_st_writer_add(s1, f.entries[i].name, HARK_DTYPE_F32, f.entries[i].t.ndim,
                                    f.entries[i].t.shape, bufs[i]));
    snprintf(path, sizeof(path), "%s/model-00001-of-00002.safetensors", dir);
    CHECK_OK(hark_st_writer_write(s1, path));
    snprintf(path, sizeof(path), "%s/model-00002-of-00002.safetensors", dir);
    CHECK_OK(hark_st_writer_write(w2, path));
    in += snprintf(index + in, sizeof(index) - (size_t)in, "}}");
    snprintf(path, sizeof(path), "%s/model.safetensors.index.json", dir);
    CHECK_OK(hark_write_file(path, index, (size_t)in));
    CHECK_OK(hark_convert(dir, tmp("from_hf2.hark", out, sizeof(out)), NULL));
    same_tensors(src, out, "hf sharded");
    /* a shard name that climbs out of the folder is refused */
    CHECK_OK(hark_write_file(path, "{\"weight_map\": {\"a\": \"../x.safetensors\"}}", 42));
    CHECK(hark_convert(dir, out, NULL) == HARK_ERR_FORMAT, "shard path escape");
    hark_st_writer_free(s1);
    hark_st_writer_free(w);
    hark_st_writer_free(w2);
    for (int i = 0; i < f.n_entries; i++)
        free(bufs[i]);
    free(bufs);
    hark_st_close(&f);
}

static void ggml_i32(ptw_buf *b, int32_t v) { ptw_le(b, (uint32_t)v, 4); }

static void test_convert_ggml(void)
{
    char buf[512], out[512];
    const char *fx[2] = { "for-tests-ggml-tiny.bin", "for-tests-ggml-tiny.en.bin" };
    for (int k = 0; k < 2; k++) {
        char rel[128];
        snprintf(rel, sizeof(rel), "data/model-format-fixtures/%s", fx[k]);
        test_shared(rel, buf, sizeof(buf));
        if (access(buf, R_OK) != 0) {
            printf("skip: %s absent\n", buf);
            continue;
        }
        uint8_t *data;
        size_t size;
        hark_ggml_info info;
        CHECK_OK(hark_read_file(buf, &data, &size));
        CHECK_OK(hark_ggml_read_header(buf, data, size, &info));
        const hark_arch *a = hark_arch_find(k ? "tiny.en" : "tiny");
        CHECK(memcmp(&info.dims, &a->dims, sizeof(info.dims)) == 0, "%s dims", fx[k]);
        CHECK(info.ftype == 1 && info.n_mel_filters == 80 && info.n_fft == 201, "%s mel", fx[k]);
        CHECK(info.n_vocab_tokens == (k ? 50256 : 50257) || info.n_vocab_tokens == 50257,
              "%s vocab %d", fx[k], info.n_vocab_tokens);
        CHECK(info.tensors_offset == size, "%s ends after the vocabulary", fx[k]);
        hark_status st = hark_convert(buf, tmp("g.hark", out, sizeof(out)), NULL);
        CHECK(st == HARK_ERR_FORMAT && strstr(hark_last_error(), "tensor data missing") &&
              strstr(hark_last_error(), fx[k]), "%s: %s", fx[k], hark_last_error());
        for (size_t L = 0; L < size; L += 4093) {
            CHECK(hark_ggml_read_header(buf, data, L, &info) == HARK_ERR_FORMAT, "cut %zu", L);
        }
        free(data);
    }

    /* a whole ggml file of nano-test built from the random model (conv biases as [D, 1]) */
    char src[512], path[512];
    tmp("nano.hark", src, sizeof(src));
    const hark_arch *a = hark_arch_find("nano-test");
    hark_st_file f;
    hark_plan plan;
    CHECK_OK(hark_st_open(src, &f));
    CHECK_OK(hark_plan_build(&a->dims, NULL, &plan));
    ptw_buf g = { 0 };
    const hark_model_dims *d = &a->dims;
    int32_t hp[11] = { d->n_vocab, d->n_audio_ctx, d->n_audio_state, d->n_audio_head,
                       d->n_audio_layer, d->n_text_ctx, d->n_text_state, d->n_text_head,
                       d->n_text_layer, d->n_mels, 1 };
    ggml_i32(&g, 0x67676d6c);
    for (int i = 0; i < 11; i++)
        ggml_i32(&g, hp[i]);
    ggml_i32(&g, 80);
    ggml_i32(&g, 201);
    for (int i = 0; i < 80 * 201; i++)
        ggml_i32(&g, 0);
    ggml_i32(&g, 2);
    ggml_i32(&g, 1);
    ptw_put(&g, "!", 1);
    ggml_i32(&g, 1);
    ptw_put(&g, "\"", 1);
    for (int k = 0; k < plan.n; k++) {
        const hark_plan_tensor *t = &plan.t[k];
        const hark_st_entry *e = hark_st_find(&f, t->hf);
        int conv_b = strstr(t->openai, "conv") && strstr(t->openai, "bias");
        int f32 = t->ndim == 1 || k % 3 == 0;
        int nd = conv_b ? 2 : t->ndim;
        ggml_i32(&g, nd);
        ggml_i32(&g, (int32_t)strlen(t->openai));
        ggml_i32(&g, f32 ? 0 : 1);
        if (conv_b) {
            ggml_i32(&g, 1);
            ggml_i32(&g, (int32_t)t->shape[0]);
        } else {
            for (int i = t->ndim - 1; i >= 0; i--)
                ggml_i32(&g, (int32_t)t->shape[i]);
        }
        ptw_put(&g, t->openai, strlen(t->openai));
        size_t n = (size_t)hark_plan_numel(t);
        if (f32) {
            float *v = malloc(n * 4);
            hark_convert_values(e->t.data, e->t.dtype, v, HARK_DTYPE_F32, n);
            ptw_put(&g, v, n * 4);
            free(v);
        } else {
            ptw_put(&g, e->t.data, e->nbytes);
        }
    }
    CHECK_OK(hark_write_file(tmp("nano.ggml", path, sizeof(path)), g.p, g.n));
    CHECK_OK(hark_convert(path, tmp("from_ggml.hark", out, sizeof(out)), NULL));
    same_tensors(src, out, "ggml");
    /* a quantized tensor type is refused by name */
    size_t first = 4 + 44 + 8 + 80 * 201 * 4 + 4 + 10;
    int32_t q = 8, q_old;
    memcpy(&q_old, g.p + first + 8, 4);
    memcpy(g.p + first + 8, &q, 4);
    CHECK_OK(hark_write_file(path, g.p, g.n));
    CHECK(hark_convert(path, out, NULL) == HARK_ERR_UNSUPPORTED &&
          strstr(hark_last_error(), "quantized"), "quantized: %s", hark_last_error());
    /* cut in the middle of the tensors */
    memcpy(g.p + first + 8, &q_old, 4);
    CHECK_OK(hark_write_file(path, g.p, g.n - 100));
    CHECK(hark_convert(path, out, NULL) == HARK_ERR_FORMAT &&
          strstr(hark_last_error(), "truncated"), "cut: %s", hark_last_error());
    free(g.p);
    hark_plan_free(&plan);
    hark_st_close(&f);
}

int main(void)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/hark_test_model_%d", (int)getpid());
    mkdir(tmpdir, 0755);
    hark_log_set(NULL, NULL);
    test_arch();
    test_special();
    test_safetensors();
    test_random();
    test_read();
    test_wrong_formats();
    test_convert_pt();
    test_convert_hf();
    test_convert_ggml();
    test_truncation();
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
    TEST_MAIN_END();
}
