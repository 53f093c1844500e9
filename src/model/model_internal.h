/*
 * model_internal.h — seams private to src/model: the streaming safetensors writer, the list of
 * tensors a set of dims needs ("plan", with both Hugging Face and OpenAI names), the hark-file
 * writer every converter ends in, dtype conversion, and the per-format converters.
 * Not part of the library's internal API outside src/model.
 */
#ifndef HARK_MODEL_INTERNAL_H
#define HARK_MODEL_INTERNAL_H

#include "model/model.h"
#include "model/safetensors.h"

/* A safetensors dtype this build cannot use (the entry is kept so errors can name it). */
#define HARK_DTYPE_UNSUPPORTED ((hark_dtype)255)

/* The dtype text of an entry as written in the file ("F16", "I64", ...). */
const char *hark_st_entry_dtype_name(const hark_st_entry *e);
const char *hark_dtype_name(hark_dtype dt);
/* Bytes per element of the types a hark file stores: the float ones, I8 and U8. */
size_t hark_st_elem_size(hark_dtype dt);

/* ---- the header reader (st_json.c): raw entries, validated by hark_st_open. */

typedef struct hark_st_raw {
    char *name, *dtype; /* dtype NULL when absent */
    int ndim, n_offsets; /* -1 when absent */
    int64_t shape[4], offsets[2];
} hark_st_raw;

typedef struct hark_st_json {
    hark_st_raw *t;
    int n, cap;
    char **meta_keys, **meta_values;
    int n_meta, cap_meta;
} hark_st_json;

/* Parses a safetensors JSON header text[0..len). Errors name path and the byte. */
hark_status hark_st_json_parse(const char *path, const uint8_t *text, size_t len,
                               hark_st_json *out);
void hark_st_json_free(hark_st_json *out);

/* ---- streaming writer: the header first, from names and shapes, then each tensor's bytes. */

typedef struct hark_st_spec {
    const char *name;
    hark_dtype dtype;
    int ndim;
    int64_t shape[4];
} hark_st_spec;

/* Fills dst (nbytes, the tensor's size) with the bytes of specs[index]. */
typedef hark_status (*hark_st_fill_fn)(void *user, int index, void *dst, size_t nbytes);

/* Writes a safetensors file at path (through path.tmp, renamed on success): __metadata__ with
 * keys in the given order, tensors sorted by name, data starting 64-byte aligned. fill is called
 * once per tensor, in file (sorted) order, with a buffer of that tensor's size. */
hark_status hark_st_write_stream(const char *path, const hark_st_spec *specs, int n,
                                 const char *const *meta_keys, const char *const *meta_values,
                                 int n_meta, hark_st_fill_fn fill, void *user);

/* ---- plan: the tensors of a hark file for given dims. */

typedef enum hark_role {
    HARK_ROLE_MATRIX,    /* linear or conv weight: r / sqrt(fan_in) */
    HARK_ROLE_BIAS,      /* 0.02 r */
    HARK_ROLE_LN_WEIGHT, /* 1 + 0.1 r */
    HARK_ROLE_ENC_POS,   /* sinusoids */
    HARK_ROLE_DEC_POS,   /* 0.02 r */
    HARK_ROLE_TOK_EMB,   /* 0.05 r */
} hark_role;

typedef struct hark_plan_tensor {
    char hf[80];     /* Hugging Face name: model.encoder.layers.0.self_attn.q_proj.weight */
    char openai[64]; /* OpenAI name: encoder.blocks.0.attn.query.weight */
    hark_role role;
    int ndim;
    int64_t shape[4];
    hark_tensor *slot; /* where hark_model_read puts the view (NULL without weights) */
} hark_plan_tensor;

typedef struct hark_plan {
    hark_plan_tensor *t;
    int n;
} hark_plan;

/* Builds the plan for dims (already checked); slots point into w when w is not NULL. */
hark_status hark_plan_build(const hark_model_dims *dims, hark_weights *w, hark_plan *plan);
void hark_plan_free(hark_plan *plan);
int64_t hark_plan_numel(const hark_plan_tensor *t);

/* ---- the hark file writer. */

/* Writes tensor t's values converted to dtype into dst (numel(t) elements). */
typedef hark_status (*hark_tensor_fill_fn)(void *user, const hark_plan_tensor *t, hark_dtype dtype,
                                           void *dst);

typedef struct hark_write_info {
    hark_model_dims dims;
    const char *arch;         /* NULL: hark_arch_guess */
    const char *random;       /* "seed=N" for random models, else NULL */
    const char *tokenizer;    /* .tiktoken text; NULL: the built-in one for the vocabulary */
    size_t tokenizer_size;
    const char *tokenizer_name; /* with tokenizer */
    hark_dtype dtype;
    const char *alignment_heads; /* JSON [[layer, head], ...] (HF generation_config); NULL: none */
    hark_quant quant;            /* the linear layers' weights (docs/quant.md) */
    int group;                   /* int4 group size */
} hark_write_info;

/* Writes a hark file: checks dims, builds the plan, writes metadata and every tensor by fill. */
hark_status hark_file_write(const char *path, const hark_write_info *info, hark_tensor_fill_fn fill,
                            void *user);

/* Reads the built-in .tiktoken text for n_vocab (assets/multilingual.tiktoken or gpt2.tiktoken
 * under $HARK_ASSETS, else HARK_ASSETS_DIR). *name is "multilingual" or "gpt2". */
hark_status hark_assets_tokenizer(int n_vocab, char **text, size_t *size, const char **name);

/* Converts n values between dtypes (F32/F16/BF16, through float). */
void hark_convert_values(const void *src, hark_dtype src_dt, void *dst, hark_dtype dst_dt, size_t n);

/* Copies a source tensor into dst after checking it: the dtype must be supported and the shape
 * must equal t's (sizes of 1 are ignored on both sides when squeeze is set, for ggml's [1, D]
 * biases). src_shape has src_ndim dims in row-major order. ctx names the file for errors. */
hark_status hark_fill_from(const char *ctx, const hark_plan_tensor *t, const void *src,
                           hark_dtype src_dt, int src_ndim, const int64_t *src_shape, int squeeze,
                           hark_dtype dtype, void *dst);

/* Reads a hark file's metadata (version, dims, arch, random flag) into m; see hark_model_read. */
hark_status hark_file_header(const char *path, const hark_st_file *f, hark_model *m);

/* A fill source over already opened safetensors files (an HF model's shards, a hark file):
 * looks each tensor up by its Hugging Face name. ctx names the source for errors. */
typedef struct hark_st_source {
    const hark_st_file *files;
    int n_files;
    const char *ctx;
} hark_st_source;

hark_status hark_st_source_fill(void *user, const hark_plan_tensor *t, hark_dtype dtype, void *dst);

/* A quantized entry e (I8 or U8) of file f as the view of plan tensor t (a linear weight): its
 * stored shape checked against t's, "<name>_scale" found and checked, qbits, group and scale
 * set (docs/quant.md). ctx names the file for errors. */
hark_status hark_quant_view(const char *ctx, const hark_st_file *f, const hark_plan_tensor *t,
                            const hark_st_entry *e, hark_tensor *out);
/* Fills dst with the dequantized values of quantized entry e, converted to dtype. */
hark_status hark_fill_dequantized(const char *ctx, const hark_st_file *f, const hark_plan_tensor *t,
                                  const hark_st_entry *e, hark_dtype dtype, void *dst);

/* ---- converters (hark_convert dispatches on the input's kind). */

hark_status hark_convert_pt(const char *in, const char *out, const hark_convert_params *p);
hark_status hark_convert_hf(const char *in, const char *out, const hark_convert_params *p);
hark_status hark_convert_ggml(const char *in, const char *out, const hark_convert_params *p);
hark_status hark_convert_hark(const char *in, const char *out, const hark_convert_params *p);

/* whisper.cpp ggml header and vocabulary, for the converter and tests. */
typedef struct hark_ggml_info {
    hark_model_dims dims;
    int ftype;
    int n_mel_filters, n_fft;  /* the stored mel filterbank's shape */
    int n_vocab_tokens;        /* tokens in the stored vocabulary */
    size_t tensors_offset;     /* where the tensors start */
} hark_ggml_info;

hark_status hark_ggml_read_header(const char *path, const uint8_t *data, size_t size,
                                  hark_ggml_info *info);

#endif
