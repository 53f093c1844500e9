/*
 * arch.c — the table of Whisper architectures (official and reduced test ones), the special-token
 * layouts by vocabulary size, and the checks every set of hyper-parameters must pass.
 * ref: openai/whisper __init__.py _MODELS (the official sizes), model.py ModelDimensions,
 * tokenizer.py (special tokens follow the last BPE rank in a fixed order).
 */
#include "model/model.h"
#include "util/util.h"

#include <string.h>

#define ARCH(nm, mels, vocab, d, heads, enc, dec, ah)                                             \
    { .name = nm, .alignment_heads = ah,                                                          \
      .dims = { .n_mels = mels, .n_vocab = vocab, .n_audio_ctx = 1500, .n_audio_state = d,       \
                .n_audio_head = heads, .n_audio_layer = enc, .n_text_ctx = 448,                   \
                .n_text_state = d, .n_text_head = heads, .n_text_layer = dec } }

/* The alignment heads of the official models: openai/whisper __init__.py _ALIGNMENT_HEADS
 * (gzip+base85 boolean masks over [layer][head]) decoded to (layer, head) pairs. */
#define AH_TINY_EN "[[1,0],[2,0],[2,5],[3,0],[3,1],[3,2],[3,3],[3,4]]"
#define AH_TINY "[[2,2],[3,0],[3,2],[3,3],[3,4],[3,5]]"
#define AH_BASE_EN "[[3,3],[4,7],[5,1],[5,5],[5,7]]"
#define AH_BASE "[[3,1],[4,2],[4,3],[4,7],[5,1],[5,2],[5,4],[5,6]]"
#define AH_SMALL_EN \
    "[[6,6],[7,0],[7,3],[7,8],[8,2],[8,5],[8,7],[9,0],[9,4],[9,8],[9,10],[10,0],[10,1],[10,2]," \
    "[10,3],[10,6],[10,11],[11,2],[11,4]]"
#define AH_SMALL "[[5,3],[5,9],[8,0],[8,4],[8,7],[8,8],[9,0],[9,7],[9,9],[10,5]]"
#define AH_MEDIUM_EN \
    "[[11,4],[14,1],[14,12],[14,14],[15,4],[16,0],[16,4],[16,9],[17,12],[17,14],[18,7]," \
    "[18,10],[18,15],[20,0],[20,3],[20,9],[20,14],[21,12]]"
#define AH_MEDIUM "[[13,15],[15,4],[15,15],[16,1],[20,0],[23,4]]"
#define AH_LARGE_V1 "[[9,19],[11,2],[11,4],[11,17],[22,7],[22,11],[22,17],[23,2],[23,15]]"
#define AH_LARGE_V2 \
    "[[10,12],[13,17],[16,11],[16,12],[16,13],[17,15],[17,16],[18,4],[18,11],[18,19],[19,11]," \
    "[21,2],[21,3],[22,3],[22,9],[22,12],[23,5],[23,7],[23,13],[25,5],[26,1],[26,12],[27,15]]"
#define AH_LARGE_V3 "[[7,0],[10,17],[12,18],[13,12],[16,1],[17,14],[19,11],[21,4],[24,1],[25,6]]"
#define AH_LARGE_V3_TURBO "[[2,4],[2,11],[3,3],[3,6],[3,11],[3,14]]"

/* Official ones first: hark_arch_guess returns the first exact match, so for the identical dims
 * of large-v1 and large-v2 it answers "large-v2". */
static const hark_arch arch_table[] = {
    ARCH("tiny", 80, 51865, 384, 6, 4, 4, AH_TINY),
    ARCH("tiny.en", 80, 51864, 384, 6, 4, 4, AH_TINY_EN),
    ARCH("base", 80, 51865, 512, 8, 6, 6, AH_BASE),
    ARCH("base.en", 80, 51864, 512, 8, 6, 6, AH_BASE_EN),
    ARCH("small", 80, 51865, 768, 12, 12, 12, AH_SMALL),
    ARCH("small.en", 80, 51864, 768, 12, 12, 12, AH_SMALL_EN),
    ARCH("medium", 80, 51865, 1024, 16, 24, 24, AH_MEDIUM),
    ARCH("medium.en", 80, 51864, 1024, 16, 24, 24, AH_MEDIUM_EN),
    ARCH("large-v2", 80, 51865, 1280, 20, 32, 32, AH_LARGE_V2),
    ARCH("large-v1", 80, 51865, 1280, 20, 32, 32, AH_LARGE_V1),
    ARCH("large-v3", 128, 51866, 1280, 20, 32, 32, AH_LARGE_V3),
    ARCH("large-v3-turbo", 128, 51866, 1280, 20, 32, 4, AH_LARGE_V3_TURBO),
    ARCH("tiny-test", 80, 51865, 64, 2, 2, 2, NULL),
    ARCH("tiny-test.en", 80, 51864, 64, 2, 2, 2, NULL),
    ARCH("v3-test", 128, 51866, 64, 2, 2, 2, NULL),
    ARCH("nano-test", 80, 51865, 8, 2, 1, 1, NULL),
};

#define N_ARCH ((int)(sizeof(arch_table) / sizeof(arch_table[0])))

static const char *const arch_names[N_ARCH + 1] = {
    "tiny", "tiny.en", "base", "base.en", "small", "small.en", "medium", "medium.en",
    "large-v2", "large-v1", "large-v3", "large-v3-turbo", "tiny-test", "tiny-test.en",
    "v3-test", "nano-test", NULL,
};

_Static_assert(sizeof(arch_names) / sizeof(arch_names[0]) == N_ARCH + 1, "one name per arch");

/* Returns the table entry named name, or NULL (also for a NULL name). */
const hark_arch *hark_arch_find(const char *name)
{
    if (!name)
        return NULL;
    for (int i = 0; i < N_ARCH; i++)
        if (strcmp(arch_table[i].name, name) == 0)
            return &arch_table[i];
    return NULL;
}

/* Returns every architecture name, NULL-terminated, in table order. */
const char *const *hark_arch_names(void) { return arch_names; }

/* Returns the first table name whose dims equal *dims, or "custom". */
const char *hark_arch_guess(const hark_model_dims *dims)
{
    for (int i = 0; i < N_ARCH; i++)
        if (memcmp(&arch_table[i].dims, dims, sizeof(*dims)) == 0)
            return arch_table[i].name;
    return "custom";
}

/* Fills *out for 51864 (GPT-2 ranks, English-only), 51865 (multilingual, 99 languages) or 51866
 * (large-v3, 100 languages); HARK_ERR_UNSUPPORTED otherwise.
 * ref: openai/whisper tokenizer.py: specials are "<|endoftext|>", "<|startoftranscript|>", the
 * languages, translate, transcribe, startoflm, startofprev, nospeech, notimestamps, timestamps. */
hark_status hark_special_tokens_for_vocab(int n_vocab, hark_special_tokens *out)
{
    int eot, n_lang;
    switch (n_vocab) {
    case 51864: eot = 50256; n_lang = 99; break;
    case 51865: eot = 50257; n_lang = 99; break;
    case 51866: eot = 50257; n_lang = 100; break;
    default:
        return hark_fail(HARK_ERR_UNSUPPORTED,
                         "vocabulary size %d: expected 51864, 51865 or 51866", n_vocab);
    }
    hark_special_tokens s;
    s.eot = eot;
    s.sot = eot + 1;
    s.lang_first = eot + 2;
    s.n_languages = n_lang;
    s.translate = s.lang_first + n_lang;
    s.transcribe = s.translate + 1;
    s.sot_lm = s.translate + 2;
    s.sot_prev = s.translate + 3;
    s.no_speech = s.translate + 4;
    s.no_timestamps = s.translate + 5;
    s.timestamp_begin = s.translate + 6;
    *out = s;
    return HARK_OK;
}

/* Checks that dims describe a model hark can run: positive sizes within sane bounds, equal
 * encoder and decoder widths (as in every Whisper), heads dividing the width, an even width of
 * at least 4 (the sinusoids), the 1500-frame audio context, a known vocabulary layout. */
hark_status hark_dims_check(const hark_model_dims *d)
{
    const struct { const char *name; int v, lo, hi; } f[] = {
        { "n_mels", d->n_mels, 1, 512 },
        { "n_vocab", d->n_vocab, 1, 1 << 20 },
        { "n_audio_ctx", d->n_audio_ctx, 1500, 1500 },
        { "n_audio_state", d->n_audio_state, 4, 16384 },
        { "n_audio_head", d->n_audio_head, 1, 1024 },
        { "n_audio_layer", d->n_audio_layer, 1, HARK_MAX_LAYERS },
        { "n_text_ctx", d->n_text_ctx, 1, 4096 },
        { "n_text_state", d->n_text_state, 4, 16384 },
        { "n_text_head", d->n_text_head, 1, 1024 },
        { "n_text_layer", d->n_text_layer, 1, HARK_MAX_LAYERS },
    };
    for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++)
        if (f[i].v < f[i].lo || f[i].v > f[i].hi)
            return hark_fail(HARK_ERR_FORMAT, "dims: %s = %d is outside [%d, %d]", f[i].name,
                             f[i].v, f[i].lo, f[i].hi);
    if (d->n_audio_state != d->n_text_state)
        return hark_fail(HARK_ERR_UNSUPPORTED, "dims: n_audio_state %d != n_text_state %d",
                         d->n_audio_state, d->n_text_state);
    if (d->n_audio_state % 2)
        return hark_fail(HARK_ERR_FORMAT, "dims: width %d is odd", d->n_audio_state);
    if (d->n_audio_state % d->n_audio_head || d->n_text_state % d->n_text_head)
        return hark_fail(HARK_ERR_FORMAT, "dims: heads (%d, %d) do not divide the width %d",
                         d->n_audio_head, d->n_text_head, d->n_audio_state);
    hark_special_tokens s;
    return hark_special_tokens_for_vocab(d->n_vocab, &s);
}

/* Elements of t (the product of its shape; 1 for a scalar). */
int64_t hark_tensor_numel(const hark_tensor *t)
{
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++)
        n *= t->shape[i];
    return n;
}

/* Bytes per element of dt (0 for a value outside the enum). */
size_t hark_dtype_size(hark_dtype dt)
{
    switch (dt) {
    case HARK_DTYPE_F32: return 4;
    case HARK_DTYPE_F16: return 2;
    case HARK_DTYPE_BF16: return 2;
    }
    return 0;
}

hark_status hark_alignment_heads_parse(const char *json, const hark_model_dims *dims, int32_t *out,
                                       int *n)
{
    /* the integers of the text in order, read as (layer, head) pairs */
    int k = 0;
    long v = -1;
    for (const char *p = json;; p++) {
        if (*p >= '0' && *p <= '9') {
            v = (v < 0 ? 0 : v) * 10 + (*p - '0');
            if (v > 1 << 20)
                return hark_fail(HARK_ERR_FORMAT, "alignment heads: number too large");
            continue;
        }
        if (*p == '-' || *p == '.')
            return hark_fail(HARK_ERR_FORMAT, "alignment heads: not a list of index pairs");
        if (v >= 0) {
            if (k >= 2 * HARK_MAX_ALIGN_HEADS)
                return hark_fail(HARK_ERR_FORMAT, "alignment heads: more than %d",
                                 HARK_MAX_ALIGN_HEADS);
            out[k++] = (int32_t)v;
            v = -1;
        }
        if (!*p)
            break;
    }
    if (k == 0 || k % 2)
        return hark_fail(HARK_ERR_FORMAT, "alignment heads: not a list of (layer, head) pairs");
    for (int i = 0; i < k; i += 2)
        if (out[i] >= dims->n_text_layer || out[i + 1] >= dims->n_text_head)
            return hark_fail(HARK_ERR_FORMAT, "alignment heads: (%d, %d) is not a head of a "
                             "%d-layer, %d-head decoder", out[i], out[i + 1], dims->n_text_layer,
                             dims->n_text_head);
    *n = k / 2;
    return HARK_OK;
}

void hark_alignment_heads_default(const hark_model_dims *dims, int32_t *out, int *n)
{
    int k = 0; /* ref: openai/whisper model.py Whisper.__init__ (all_heads[n_text_layer // 2:]) */
    for (int l = dims->n_text_layer / 2; l < dims->n_text_layer; l++)
        for (int h = 0; h < dims->n_text_head && k < HARK_MAX_ALIGN_HEADS; h++)
            out[2 * k] = l, out[2 * k + 1] = h, k++;
    *n = k;
}
