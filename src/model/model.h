/*
 * model.h — the in-memory Whisper model: hyper-parameters, tensor views into the mapped file,
 * the per-layer weight structs, and the architecture table.
 *
 * Tensor names follow Hugging Face transformers' WhisperForConditionalGeneration, so a hark file
 * is readable by the HF ecosystem (docs/format.md). Shape legend used in comments:
 *   V vocab, D model width (n_audio_state == n_text_state in every official model), F ffn width
 *   (4 D), M mels, C audio context (1500), T text context (448).
 */
#ifndef HARK_MODEL_H
#define HARK_MODEL_H

#include "hark.h"
#include "util/util.h"

#define HARK_MAX_LAYERS 64

/* Storage types beside the public float ones: safetensors "I8" and "U8" entries. As a view
 * they hold a quantized linear weight (qbits 8: int8 [N][K]; qbits 4: int4 packed two to a
 * byte [N][K/2], element 2j in the low nibble, stored as q + 8). docs/quant.md. */
#define HARK_DTYPE_I8 ((hark_dtype)8)
#define HARK_DTYPE_U8 ((hark_dtype)9)

/* A view of one tensor. data points into the mapped file (or into memory the model owns).
 * A quantized matrix keeps its logical shape [N, K] here, with qbits 8 or 4, its fp16 scales
 * (int8: [N]; int4: [N][K / group]) and group (int8: K). */
typedef struct hark_tensor {
    hark_dtype dtype;
    int ndim;
    int64_t shape[4];
    const void *data;
    int qbits;
    int group;
    const uint16_t *scale;
} hark_tensor;

int64_t hark_tensor_numel(const hark_tensor *t);
/* Bytes per element of the float types F32, F16, BF16; 0 for any other value. */
size_t hark_dtype_size(hark_dtype dt);

/* quant.c: symmetric weight-only quantization (docs/quant.md). w is [n][k] fp32.
 * int8: q [n][k], scale [n] = max |w_row| / 127 (fp16), q = round(w / scale).
 * int4: q [n][k / 2] packed, scale [n][k / group] = max |w_group| / 7, q in [-8, 7] stored + 8.
 * k must be even and a multiple of group for int4. */
void hark_quantize_i8(const float *w, int64_t n, int64_t k, int8_t *q, uint16_t *scale);
void hark_quantize_q4(const float *w, int64_t n, int64_t k, int group, uint8_t *q,
                      uint16_t *scale);
/* Rows [r0, r0 + nr) of a quantized matrix view (qbits 8 or 4) as fp32 out[nr][K]. */
void hark_dequantize_rows(const hark_tensor *t, int64_t r0, int64_t nr, float *out);

typedef struct hark_attn_weights {
    hark_tensor q_w, q_b; /* [D, D], [D] */
    hark_tensor k_w;      /* [D, D] (no bias, as in Whisper) */
    hark_tensor v_w, v_b; /* [D, D], [D] */
    hark_tensor o_w, o_b; /* [D, D], [D] */
} hark_attn_weights;

typedef struct hark_enc_layer {
    hark_tensor attn_ln_w, attn_ln_b; /* [D] self_attn_layer_norm */
    hark_attn_weights attn;           /* self_attn */
    hark_tensor mlp_ln_w, mlp_ln_b;   /* [D] final_layer_norm */
    hark_tensor fc1_w, fc1_b;         /* [F, D], [F] */
    hark_tensor fc2_w, fc2_b;         /* [D, F], [D] */
} hark_enc_layer;

typedef struct hark_dec_layer {
    hark_tensor attn_ln_w, attn_ln_b;   /* [D] self_attn_layer_norm */
    hark_attn_weights attn;             /* self_attn */
    hark_tensor cross_ln_w, cross_ln_b; /* [D] encoder_attn_layer_norm */
    hark_attn_weights cross;            /* encoder_attn */
    hark_tensor mlp_ln_w, mlp_ln_b;     /* [D] final_layer_norm */
    hark_tensor fc1_w, fc1_b;           /* [F, D], [F] */
    hark_tensor fc2_w, fc2_b;           /* [D, F], [D] */
} hark_dec_layer;

typedef struct hark_weights {
    hark_tensor conv1_w, conv1_b; /* [D, M, 3], [D] */
    hark_tensor conv2_w, conv2_b; /* [D, D, 3], [D] (stride 2) */
    hark_tensor enc_pos;          /* [C, D] sinusoids */
    hark_enc_layer enc[HARK_MAX_LAYERS];
    hark_tensor enc_ln_w, enc_ln_b; /* [D] encoder.layer_norm */
    hark_tensor tok_emb;            /* [V, D], also the tied output projection */
    hark_tensor dec_pos;            /* [T, D] learned */
    hark_dec_layer dec[HARK_MAX_LAYERS];
    hark_tensor dec_ln_w, dec_ln_b; /* [D] decoder.layer_norm */
} hark_weights;

/* One official or test architecture. */
typedef struct hark_arch {
    const char *name;
    hark_model_dims dims;
    /* the published alignment heads (word timestamps) as JSON [[layer, head], ...]; NULL for
     * test architectures (the default: every head of the upper half of the decoder layers) */
    const char *alignment_heads;
} hark_arch;

/* Looks up an architecture by name; NULL if unknown. */
const hark_arch *hark_arch_find(const char *name);
/* Names of all architectures, NULL-terminated. */
const char *const *hark_arch_names(void);
/* Best guess of the official name for dims (e.g. "large-v3"), or "custom". */
const char *hark_arch_guess(const hark_model_dims *dims);

/* Special-token layout for a vocabulary size (51864 English-only, 51865 multilingual, 51866
 * large-v3). ref: openai/whisper tokenizer.py get_tokenizer / Tokenizer.special_tokens. */
hark_status hark_special_tokens_for_vocab(int n_vocab, hark_special_tokens *out);

/* Validates dims (positive, heads divide widths, vocab one of the known layouts, ...). */
hark_status hark_dims_check(const hark_model_dims *dims);

#define HARK_MAX_ALIGN_HEADS 1024

/* Reads alignment heads from JSON text [[layer, head], ...] into out[2 * k] (layer),
 * out[2 * k + 1] (head); each must exist in dims. */
hark_status hark_alignment_heads_parse(const char *json, const hark_model_dims *dims, int32_t *out,
                                       int *n);
/* openai/whisper's default: every head of the layers n_text_layer / 2 and up. */
void hark_alignment_heads_default(const hark_model_dims *dims, int32_t *out, int *n);

struct hark_tokenizer;
struct hark_backend;

struct hark_model {
    hark_model_dims dims;
    hark_special_tokens special;
    char arch[32];
    int is_random;
    hark_weights w;
    struct hark_tokenizer *tok;
    hark_file_map map; /* the mapped hark file the tensors point into */
    hark_model_params params;
    const struct hark_backend *backend;
    void *backend_weights; /* backend's uploaded weights */
    int32_t align_heads[2 * HARK_MAX_ALIGN_HEADS]; /* (layer, head) pairs for word timestamps */
    int n_align_heads;
    int quant_bits, quant_group; /* the linear layers' quantization (0: none; see hark_tensor) */
};

#endif
