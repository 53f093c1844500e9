/*
 * hark.h — the public C API of hark, Whisper speech recognition in C.
 *
 * What it is: load a Whisper model (hark's own single-file safetensors format; other formats go
 * through hark_convert), turn audio into log-mel, run the encoder and decoder, and transcribe.
 * What it is not: a server or a CLI; those live in tools/ and server/ and use only this header.
 *
 * Threading: a hark_model is immutable after hark_model_load and may be shared by any number of
 * threads. A hark_state belongs to one thread at a time. hark_last_error() is thread-local.
 *
 * Errors: every action returns a hark_status (HARK_OK = 0, negative named errors). The detail of
 * the last failure on the calling thread is in hark_last_error().
 */
#ifndef HARK_H
#define HARK_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define HARK_VERSION "0.1.0"

/* Status codes. Values are stable; new codes are only ever appended. */
typedef enum hark_status {
    HARK_OK = 0,
    HARK_ERR_INVALID_ARG = -1,  /* a bad argument from the caller */
    HARK_ERR_NOMEM = -2,        /* an allocation failed */
    HARK_ERR_IO = -3,           /* a file could not be opened, read or written */
    HARK_ERR_FORMAT = -4,       /* a model file is corrupt, truncated or not what it claims */
    HARK_ERR_UNSUPPORTED = -5,  /* a valid input that this build cannot handle */
    HARK_ERR_AUDIO = -6,        /* audio could not be decoded, or holds no usable samples */
    HARK_ERR_BACKEND = -7,      /* the compute backend failed */
    HARK_ERR_NOT_FOUND = -8,    /* a named thing (file, tensor, architecture, token) is absent */
    HARK_ERR_TOKENIZER = -9,    /* text or token ids the tokenizer cannot handle */
    HARK_ERR_CAPACITY = -10,    /* a batch, sequence or cache limit was exceeded */
} hark_status;

/* Returns a constant name for a status ("HARK_ERR_FORMAT"); never NULL. */
const char *hark_status_str(hark_status status);

/* Returns the calling thread's detail of its last failure ("model.bin: truncated at byte 812:
 * tensor 'x' needs 4096 bytes"), or "" when there was none. Valid until the next hark call on
 * this thread. */
const char *hark_last_error(void);

/* Log sink. level: 0 error, 1 warning, 2 info, 3 debug. The default sink writes warnings and
 * errors to stderr; hark_log_set(NULL, NULL) silences everything. */
typedef void (*hark_log_fn)(int level, const char *message, void *user);
void hark_log_set(hark_log_fn fn, void *user);

/* ---------------------------------------------------------------- model ---------------------- */

typedef struct hark_model hark_model;
typedef struct hark_state hark_state;

typedef struct hark_model_params {
    const char *device; /* "cpu" (default), "cuda", "cuda:N", or "auto" (a GPU when present) */
    int n_threads;      /* CPU threads; 0 = all cores */
    int dtype;          /* GPU weight/activation type: -1 as stored in the file (default),
                           or a hark_dtype (HARK_DTYPE_F16, HARK_DTYPE_BF16, HARK_DTYPE_F32) */
    /* GPU: 1 runs the encoder's matrix products (and the decoder's cross-attention key/value
     * projections) in FP8 e4m3, a scale per weight row and per activation row (docs/quant.md);
     * the encoder's weights are kept in FP8 only. Needs compute capability 8.9+ and an f16 or
     * bf16 engine (HARK_ERR_UNSUPPORTED otherwise). 0 (default): off. The CPU ignores it. */
    int encoder_fp8;
} hark_model_params;

hark_model_params hark_model_default_params(void);

/* Loads a model in hark's format (one safetensors file, see docs/format.md). The weights are
 * mmapped. On success *out owns the model; free it with hark_model_free. On failure *out is NULL
 * and the status names the problem (HARK_ERR_IO, HARK_ERR_FORMAT, ...). */
hark_status hark_model_load(const char *path, const hark_model_params *params, hark_model **out);
void hark_model_free(hark_model *model);

/* Hyper-parameters, as in openai/whisper's ModelDimensions. */
typedef struct hark_model_dims {
    int n_mels, n_vocab;
    int n_audio_ctx, n_audio_state, n_audio_head, n_audio_layer;
    int n_text_ctx, n_text_state, n_text_head, n_text_layer;
} hark_model_dims;

hark_model_dims hark_model_get_dims(const hark_model *model);
/* The architecture name ("tiny", "large-v3", "tiny-test", ...) or "custom". */
const char *hark_model_arch(const hark_model *model);
/* True when the weights were made by hark_convert_random: such a model transcribes nonsense. */
int hark_model_is_random(const hark_model *model);
int hark_model_is_multilingual(const hark_model *model);
/* The quantization of the model's linear layers (HARK_QUANT_NONE when none); *group gets the
 * int4 group size (0 otherwise) when group is not NULL. */
int hark_model_quant(const hark_model *model, int *group);

/* ---------------------------------------------------------------- conversion ----------------- */

typedef enum hark_dtype {
    HARK_DTYPE_F32 = 0,
    HARK_DTYPE_F16 = 1,
    HARK_DTYPE_BF16 = 2,
} hark_dtype;

/* Weight-only quantization of the linear layers' matrices (attention projections, MLP) of the
 * encoder and decoder; embeddings, convolutions, norms and biases keep the output dtype.
 * Layouts: docs/quant.md. */
typedef enum hark_quant {
    HARK_QUANT_NONE = 0,
    HARK_QUANT_INT8 = 8, /* int8, symmetric, one fp16 scale per output row */
    HARK_QUANT_INT4 = 4, /* int4, symmetric, one fp16 scale per group of `group` inputs */
} hark_quant;

typedef struct hark_convert_params {
    hark_dtype dtype;      /* weight type of the matrices in the output (default F16) */
    const char *arch_name; /* name to record when the source does not say (NULL: guess) */
    hark_quant quant;      /* default HARK_QUANT_NONE; a quantized source is dequantized first */
    int group;             /* int4 group size: a multiple of 32 (default 64); a matrix whose
                              input width it does not divide stays unquantized */
} hark_convert_params;

hark_convert_params hark_convert_default_params(void);

/* Converts a checkpoint to hark's format. in_path is an OpenAI .pt file, a Hugging Face model
 * folder (config.json + model.safetensors + tokenizer files), a whisper.cpp ggml-*.bin, or a
 * hark file (re-typed). The vocabulary comes from the source when it carries one, else from the
 * built-in layout for its vocabulary size. */
hark_status hark_convert(const char *in_path, const char *out_path, const hark_convert_params *params);

/* Writes a seeded random-weight model of a named architecture: every official one ("tiny",
 * "tiny.en", "base", "base.en", "small", "small.en", "medium", "medium.en", "large-v1",
 * "large-v2", "large-v3", "large-v3-turbo") and reduced test ones ("tiny-test", "tiny-test.en",
 * "v3-test"). The weight recipe is documented in docs/format.md so that other tools can make the
 * same weights. */
hark_status hark_convert_random(const char *arch, uint64_t seed, const char *out_path,
                                const hark_convert_params *params);

/* ---------------------------------------------------------------- audio ---------------------- */

#define HARK_SAMPLE_RATE 16000
#define HARK_N_FFT 400
#define HARK_HOP_LENGTH 160
#define HARK_CHUNK_SECONDS 30
#define HARK_N_SAMPLES (HARK_SAMPLE_RATE * HARK_CHUNK_SECONDS) /* 480000 */
#define HARK_N_FRAMES (HARK_N_SAMPLES / HARK_HOP_LENGTH)       /* 3000 */

/* Decodes an audio file (WAV in any common format; FLAC, MP3, OGG, M4A, WebM, ... through FFmpeg
 * when built with it) to 16 kHz mono float samples in [-1, 1]. "-" reads standard input.
 * On success *pcm is allocated with malloc (free with hark_free) and *n_samples is its length.
 * Empty audio gives HARK_ERR_AUDIO; NaN or infinite samples give HARK_ERR_AUDIO. */
hark_status hark_audio_load(const char *path, float **pcm, size_t *n_samples);
/* Same, from bytes in memory. */
hark_status hark_audio_decode(const void *data, size_t size, float **pcm, size_t *n_samples);

/* Whisper's log-mel spectrogram of one 30 s window: samples pcm[0 .. min(n_samples, 480000)),
 * zero padded to 480000, into out[n_mels][3000] (n_mels 80 or 128). For a later window pass
 * pcm + offset.
 * ref: openai/whisper audio.py log_mel_spectrogram (the STFT of the padded window, power, slaney
 * mel, log10 of max(x, 1e-10), max(x, max - 8), (x + 4) / 4). */
hark_status hark_log_mel(const float *pcm, size_t n_samples, int n_mels, float *out);

/* The log-mel of a whole recording, as openai/whisper's log_mel_spectrogram(audio, padding):
 * the signal is pcm then pad_samples zeros; frames = (n_samples + pad_samples) / 160; the
 * dynamic-range clamp uses the maximum of the whole spectrogram. *out [n_mels][*n_frames] is
 * malloc'd (free with hark_free). */
hark_status hark_log_mel_full(const float *pcm, size_t n_samples, size_t pad_samples, int n_mels,
                              float **out, size_t *n_frames);

void hark_free(void *ptr);

/* ---------------------------------------------------------------- tokenizer ------------------ */

/* Special tokens of the model's vocabulary (ref: openai/whisper tokenizer.py). */
typedef struct hark_special_tokens {
    int eot, sot, sot_lm, sot_prev, no_speech, no_timestamps, translate, transcribe;
    int lang_first;      /* <|en|> */
    int n_languages;     /* 99, or 100 for large-v3 */
    int timestamp_begin; /* <|0.00|> */
} hark_special_tokens;

hark_special_tokens hark_model_special_tokens(const hark_model *model);

/* Encodes UTF-8 text (no special tokens) into ids. Writes up to max_tokens ids and returns the
 * number the text needs (call with max_tokens 0 to size), or a negative hark_status. */
int hark_tokenize(const hark_model *model, const char *text, int32_t *tokens, int max_tokens);

/* The bytes of one token (not NUL-terminated; special tokens give their text, "<|en|>").
 * Returns the byte count and sets *bytes, or a negative status for an unknown id. */
int hark_token_bytes(const hark_model *model, int32_t token, const char **bytes);

/* Language code of a language token index ("en" for 0) or NULL. */
const char *hark_language_code(int index);
/* Index of a language code, or -1. */
int hark_language_index(const char *code);
/* English name of a language index ("english" for 0), or NULL when out of range. */
const char *hark_language_name(int index);
/* Index of a language given by its code ("de") or English name ("german", any case), or -1. */
int hark_language_find(const char *code_or_name);

/* ---------------------------------------------------------------- state and stages ----------- */

typedef struct hark_state_params {
    int max_windows;   /* windows encoded at once (default 1) */
    int max_sequences; /* decoder sequences alive at once (default 1) */
    /* GPU: the paged self-attention cache takes at most this fraction of the device memory
     * free after weights and window slots (default 0.5), and never more than max_sequences
     * full-length sequences need. */
    float kv_cache_free_mem_fraction;
    /* GPU: 16 (default, the model's type), 8 or 4: cross-attention keys and values of the
     * window slots as int8 (int4) with a scale per position and head — half (a quarter of)
     * their memory and of what every batched decoder step reads; int4 at a measured cost in
     * accuracy (docs/cuda.md). The CPU keeps fp16. */
    int cross_kv_bits;
} hark_state_params;

hark_state_params hark_state_default_params(void);

hark_status hark_state_new(hark_model *model, const hark_state_params *params, hark_state **out);
void hark_state_free(hark_state *state);

/* Encodes n_windows log-mel windows (mel[n_windows][n_mels][3000]) into window slots 0..n-1:
 * the encoder output and each decoder layer's cross-attention keys and values are kept in the
 * state for later decode calls. */
hark_status hark_encode(hark_state *state, const float *mel, int n_windows);

/* Copies the encoder output of window slot `window` into out[n_audio_ctx][n_audio_state]. */
hark_status hark_encoder_output(hark_state *state, int window, float *out);

/* One decoder pass over a set of tokens. Each entry appends `token` at `pos` of sequence slot
 * `seq` (attending to the cross K/V of window slot `window` and to positions 0..pos of its own
 * self-attention cache). Several entries of one sequence with consecutive positions form a
 * prompt. Entries whose `want_logits` is set get a row of logits, in entry order, in
 * logits[n_rows][n_vocab]. */
typedef struct hark_decode_entry {
    int32_t seq, window, token, pos;
    int32_t want_logits;
} hark_decode_entry;

hark_status hark_decode(hark_state *state, const hark_decode_entry *entries, int n_entries,
                        float *logits);

/* Like hark_decode, but returns for each entry with want_logits (in entry order) the id with the
 * highest logit among ids < limit, computed where the logits are (no transfer of logits). */
hark_status hark_decode_argmax(hark_state *state, const hark_decode_entry *entries, int n_entries,
                               int limit, int32_t *tokens);

/* n_steps greedy passes without the caller in between: the first decodes the entries (one per
 * sequence, each with want_logits, its prompt decoded before), and each next pass feeds every
 * sequence the id with the highest logit among ids < limit of its previous row, one position on.
 * tokens[n_steps][n_entries] gets the ids picked at each pass. No rule of a decoding task applies
 * between the passes (forced-length greedy decoding, as `hark bench`'s work unit); on the GPU
 * the passes run back to back. */
hark_status hark_decode_greedy(hark_state *state, const hark_decode_entry *entries, int n_entries,
                               int n_steps, int limit, int32_t *tokens);

/* Encodes n_windows windows of 16 kHz PCM (pcm[n_windows][480000], each window zero-padded):
 * log-mel (on the GPU when the model is there) then hark_encode. */
hark_status hark_encode_pcm(hark_state *state, const float *pcm, int n_windows);

/* Ends sequence slot seq: its cached positions are released (a later entry at position 0
 * starts a new sequence there; that also releases the old one implicitly). */
hark_status hark_sequence_free(hark_state *state, int seq);

/* Memory in bytes and the split of the last hark_encode_pcm. */
typedef struct hark_stats {
    size_t weights_bytes;      /* the model's weights on its device */
    size_t state_bytes;        /* this state's buffers (window slots, caches, scratch) */
    size_t device_peak_bytes;  /* GPU: peak device memory in use seen by this state (all
                                  processes' use of the card, as cudaMemGetInfo reports) */
    double mel_ms, encoder_ms; /* last hark_encode_pcm */
    const char *device;        /* "cpu" or "cuda:N (<name>)" */
} hark_stats;

hark_status hark_state_stats(hark_state *state, hark_stats *out);

/* Language identification from the first window of pcm (16 kHz mono, up to 30 s used): the
 * decoder's distribution over the language tokens after <|startoftranscript|>.
 * probs (may be NULL) receives n_languages probabilities in hark_language_code order; *best
 * (may be NULL) the index of the most likely one. HARK_ERR_UNSUPPORTED for English-only models.
 * ref: openai/whisper decoding.py detect_language. */
hark_status hark_detect_language(hark_state *state, const float *pcm, size_t n_samples,
                                 float *probs, int *best);

/* ---------------------------------------------------------------- transcription -------------- */

/* Progress of hark_transcribe: fraction done in [0, 1]; return non-zero to cancel. Called after
 * each window and, while a window decodes, every 16 decoder steps (with the fraction before that
 * window), so that a cancel takes effect within a window. With a state of a hark_batch the calls
 * during a window come from the batch's engine thread. A cancel ends hark_transcribe with
 * HARK_ERR_INVALID_ARG ("transcription cancelled"). */
typedef int (*hark_progress_fn)(double done, void *user);
/* Called by hark_transcribe as each segment is added (index into hark_segment_*), so that a
 * caller can show text while the rest decodes. */
typedef void (*hark_segment_fn)(const hark_state *state, int index, void *user);

/* Transcription options; defaults (hark_full_default_params) are openai/whisper transcribe()'s.
 * ref: openai/whisper transcribe.py transcribe, decoding.py DecodingOptions. */
typedef struct hark_full_params {
    const char *language;    /* "en", ...; NULL or "auto": detected from the first window */
    int translate;           /* task translate instead of transcribe */
    int timestamps;          /* timestamp tokens (default 1); 0 = <|notimestamps|> */
    float temperature;       /* the first temperature (default 0) */
    float temperature_increment; /* fallback step (default 0.2; <= 0: no fallback) */
    int beam_size;           /* at temperature 0: 0 or 1 greedy (default), > 1 beam search */
    float patience;          /* beam search patience (default 1.0) */
    float length_penalty;    /* < 0: None (default), else the Google NMT penalty exponent */
    int best_of;             /* candidates sampled at t > 0 (default 5) */
    float compression_ratio_threshold; /* default 2.4; <= 0: none */
    float logprob_threshold;           /* default -1.0; NAN: none */
    float no_speech_threshold;         /* default 0.6; NAN: none */
    int condition_on_previous_text;    /* default 1 */
    const char *initial_prompt;        /* text before the first window (NULL: none) */
    int carry_initial_prompt;          /* put initial_prompt before every window (default 0) */
    float max_initial_timestamp;       /* seconds (default 1.0) */
    const char *prefix;      /* text the model continues in every window (NULL: none) */
    int word_timestamps;     /* word-level timestamps (default 0) */
    const char *prepend_punctuations; /* merged into the next word (NULL: openai's) */
    const char *append_punctuations;  /* merged into the previous word (NULL: openai's) */
    /* start,end,start,end,... seconds of the clips to transcribe; an odd count ends at the end
     * of the audio (NULL or n 0: all of it) */
    const double *clip_timestamps;
    int n_clip_timestamps;
    /* with word_timestamps: skip silences longer than this (s) before a likely hallucination
     * (NAN: off, the default) */
    float hallucination_silence_threshold;
    int max_tokens;          /* tokens sampled per window (default 0: n_text_ctx / 2) */
    int suppress_eot;        /* benchmark mode: never end, always decode max_tokens */
    uint64_t seed;           /* sampling at t > 0 */
    hark_progress_fn progress;
    void *progress_user;
    hark_segment_fn new_segment;
    void *new_segment_user;
} hark_full_params;

hark_full_params hark_full_default_params(void);

/* Transcribes pcm (16 kHz mono) with openai/whisper's algorithm: 30 s windows, seeking on the
 * timestamp tokens, temperature fallback, the no-speech rule, prompts from previous text.
 * Results stay in the state until the next call. */
hark_status hark_transcribe(hark_state *state, const float *pcm, size_t n_samples,
                            const hark_full_params *params);

/* The language used by the last hark_transcribe ("en") — detected or given. */
const char *hark_result_language(const hark_state *state);

int hark_n_segments(const hark_state *state);
/* UTF-8 text of a segment, owned by the state. */
const char *hark_segment_text(const hark_state *state, int i);
/* Start and end of a segment in seconds. */
double hark_segment_t0(const hark_state *state, int i);
double hark_segment_t1(const hark_state *state, int i);
/* Token ids of a segment (text and timestamp tokens), owned by the state. */
int hark_segment_tokens(const hark_state *state, int i, const int32_t **tokens);

/* The decoding statistics of a segment, as openai/whisper reports them. */
typedef struct hark_segment_info {
    int id, seek;            /* seek: the window's start in mel frames (10 ms) */
    float temperature, avg_logprob, compression_ratio, no_speech_prob;
} hark_segment_info;

hark_status hark_segment_get_info(const hark_state *state, int i, hark_segment_info *out);

/* Words of segment i (with hark_full_params.word_timestamps; 0 otherwise). */
int hark_segment_n_words(const hark_state *state, int i);

typedef struct hark_word_info {
    const char *text; /* UTF-8 with its leading space, owned by the state */
    double t0, t1;    /* seconds, rounded to 10 ms */
    float probability;
} hark_word_info;

hark_status hark_segment_get_word(const hark_state *state, int i, int j, hark_word_info *out);

/* The (layer, head) pairs whose cross-attention gives word timestamps: pairs[2k], pairs[2k+1].
 * The model file's own, else the published ones of its architecture, else every head of the
 * upper half of the decoder layers. Returns the number of pairs. */
int hark_model_alignment_heads(const hark_model *model, const int32_t **pairs);

/* hark_decode (logits of the entries that want them, in entry order), and the cross-attention
 * scores q.k / sqrt(head width) of the given heads (pairs[2k] layer, pairs[2k + 1] head) for
 * every entry over the first n_frames encoder positions of its window:
 * qk[n_heads][n_entries][n_frames]. */
hark_status hark_decode_cross_qk(hark_state *state, const hark_decode_entry *entries,
                                 int n_entries, float *logits, const int32_t *pairs, int n_heads,
                                 int n_frames, float *qk);

/* ---------------------------------------------------------------- batching across states ----- */

/* A batch engine: one backend context whose window and sequence slots all its states share, and
 * one thread that runs their engine calls together: the encoder passes pending at a moment go
 * to the backend as one encode, the decoder steps as one decode (in-flight batching: states
 * join and leave between rounds). A state made by hark_batch_state_new is used as any other
 * (hark_transcribe and the stage calls, from any thread, one thread per state at a time); its
 * results are those of a plain state on the same backend. ref: Orca (Yu et al., OSDI 2022),
 * iteration-level scheduling. */
typedef struct hark_batch hark_batch;

typedef struct hark_batch_params {
    int max_windows;   /* window slots shared by all states (default 16) */
    int max_sequences; /* sequence slots shared by all states (default 64) */
    /* A round waits at most this long (microseconds) for the calls of states still working on
     * the CPU (sampling, segments), so that they join it (default 500; 0: never waits). */
    int max_wait_us;
    float kv_cache_free_mem_fraction; /* as hark_state_params (default 0.5) */
    int cross_kv_bits;                /* as hark_state_params (default 16) */
} hark_batch_params;

hark_batch_params hark_batch_default_params(void);

hark_status hark_batch_new(hark_model *model, const hark_batch_params *params, hark_batch **out);
/* Stops the engine thread and frees the context; free every state of the batch first. */
void hark_batch_free(hark_batch *batch);
/* Runs every shape the engine will meet once (encoder passes of 1, 2, 4, ... windows, decoder
 * passes of each row bucket), so that no request pays the GPU's one-time costs (cuBLASLt
 * algorithm timing, CUDA graph capture); seconds for large-v3. Call it before the first state:
 * HARK_ERR_INVALID_ARG while states live. */
hark_status hark_batch_warmup(hark_batch *batch);

/* A state whose max_windows and max_sequences slots come from the batch: waits until that many
 * are free (HARK_ERR_CAPACITY at once when the batch has fewer in all). Free it with
 * hark_state_free, which gives the slots back. Its host-side work (the log-mel) runs on the
 * calling thread alone: a transcription on it sets that thread's OpenMP thread count to 1, so
 * that many requests' threads do not each start a team of spinning threads. */
hark_status hark_batch_state_new(hark_batch *batch, const hark_state_params *params,
                                 hark_state **out);

typedef struct hark_batch_stats {
    int states;                 /* alive now */
    int free_windows, free_sequences;
    uint64_t rounds;            /* engine rounds run */
    uint64_t decode_calls;      /* states' decode calls, and the backend calls they became */
    uint64_t decode_batches;
    uint64_t decode_rows;       /* entries decoded */
    uint64_t encode_calls, encode_batches, encode_windows;
    int max_decode_calls;       /* the most states' decode calls merged into one backend call */
    /* rounds by the states' calls they took: 1, 2-3, 4-7, 8-15, 16-31, 32-63, 64-127, 128+ */
    uint64_t rounds_by_calls[8];
    uint64_t rounds_timed_out;  /* rounds started by max_wait_us with states still missing */
} hark_batch_stats;

hark_status hark_batch_get_stats(hark_batch *batch, hark_batch_stats *out);
/* Memory of the batch's backend context (as hark_state_stats): weights, its state, device peak. */
hark_status hark_batch_device_stats(hark_batch *batch, hark_stats *out);

#ifdef __cplusplus
}
#endif
#endif /* HARK_H */
