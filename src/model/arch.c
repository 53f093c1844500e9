/*
 * arch.c — the table of Whisper architectures (official and reduced test ones), the special-token
 * layouts by vocabulary size, and the checks every set of hyper-parameters must pass.
 * ref: openai/whisper __init__.py _MODELS (the official sizes), model.py ModelDimensions,
 * tokenizer.py (special tokens follow the last BPE rank in a fixed order).
 */
#include "model/model.h"

#include <string.h>

#define ARCH(nm, mels, vocab, d, heads, enc, dec)                                                 \
    { .name = nm,                                                                                 \
      .dims = { .n_mels = mels, .n_vocab = vocab, .n_audio_ctx = 1500, .n_audio_state = d,       \
                .n_audio_head = heads, .n_audio_layer = enc, .n_text_ctx = 448,                   \
                .n_text_state = d, .n_text_head = heads, .n_text_layer = dec } }

/* Official ones first: hark_arch_guess returns the first exact match, so for the identical dims
 * of large-v1 and large-v2 it answers "large-v2". */
static const hark_arch arch_table[] = {
    ARCH("tiny", 80, 51865, 384, 6, 4, 4),
    ARCH("tiny.en", 80, 51864, 384, 6, 4, 4),
    ARCH("base", 80, 51865, 512, 8, 6, 6),
    ARCH("base.en", 80, 51864, 512, 8, 6, 6),
    ARCH("small", 80, 51865, 768, 12, 12, 12),
    ARCH("small.en", 80, 51864, 768, 12, 12, 12),
    ARCH("medium", 80, 51865, 1024, 16, 24, 24),
    ARCH("medium.en", 80, 51864, 1024, 16, 24, 24),
    ARCH("large-v2", 80, 51865, 1280, 20, 32, 32),
    ARCH("large-v1", 80, 51865, 1280, 20, 32, 32),
    ARCH("large-v3", 128, 51866, 1280, 20, 32, 32),
    ARCH("large-v3-turbo", 128, 51866, 1280, 20, 32, 4),
    ARCH("tiny-test", 80, 51865, 64, 2, 2, 2),
    ARCH("tiny-test.en", 80, 51864, 64, 2, 2, 2),
    ARCH("v3-test", 128, 51866, 64, 2, 2, 2),
    ARCH("nano-test", 80, 51865, 8, 2, 1, 1),
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
