/*
 * convert_hf.c — a Hugging Face transformers Whisper folder to hark's format: config.json for the
 * hyper-parameters and model.safetensors, or the shards listed in model.safetensors.index.json.
 * The tensor names are already hark's; proj_out.weight (tied to embed_tokens) and anything else
 * the dims do not need are dropped. ref: huggingface/transformers WhisperConfig (field names).
 */
#include "model/model_internal.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HF_MAX_SHARDS 256

static hark_status hf_int(const char *path, json_t *cfg, const char *key, int *out)
{
    json_t *v = json_object_get(cfg, key);
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > (1 << 24))
        return hark_fail(HARK_ERR_FORMAT, "%s: '%s' missing or not a small integer", path, key);
    *out = (int)json_integer_value(v);
    return HARK_OK;
}

static hark_status hf_dims(const char *path, hark_model_dims *d)
{
    json_error_t err;
    json_t *cfg = json_load_file(path, 0, &err);
    if (!cfg)
        return hark_fail(HARK_ERR_FORMAT, "%s: %s (line %d)", path, err.text, err.line);
    hark_status st = HARK_OK;
    int ffn_e = 0, ffn_d = 0;
    struct { const char *k; int *v; } f[] = {
        { "num_mel_bins", &d->n_mels }, { "vocab_size", &d->n_vocab },
        { "max_source_positions", &d->n_audio_ctx }, { "d_model", &d->n_audio_state },
        { "encoder_attention_heads", &d->n_audio_head }, { "encoder_layers", &d->n_audio_layer },
        { "max_target_positions", &d->n_text_ctx }, { "d_model", &d->n_text_state },
        { "decoder_attention_heads", &d->n_text_head }, { "decoder_layers", &d->n_text_layer },
        { "encoder_ffn_dim", &ffn_e }, { "decoder_ffn_dim", &ffn_d },
    };
    if (!json_is_object(cfg))
        st = hark_fail(HARK_ERR_FORMAT, "%s: not a JSON object", path);
    for (size_t i = 0; i < sizeof(f) / sizeof(f[0]) && st == HARK_OK; i++)
        st = hf_int(path, cfg, f[i].k, f[i].v);
    if (st == HARK_OK && (ffn_e != 4 * d->n_audio_state || ffn_d != 4 * d->n_text_state))
        st = hark_fail(HARK_ERR_UNSUPPORTED, "%s: ffn widths %d/%d are not 4 x d_model %d", path,
                       ffn_e, ffn_d, d->n_audio_state);
    json_decref(cfg);
    return st;
}

/* Collects the distinct shard file names of an index; names must be plain file names. */
static hark_status hf_shards(const char *path, char ***names, int *n)
{
    json_error_t err;
    json_t *idx = json_load_file(path, 0, &err);
    if (!idx)
        return hark_fail(HARK_ERR_FORMAT, "%s: %s (line %d)", path, err.text, err.line);
    json_t *map = json_object_get(idx, "weight_map");
    hark_status st = HARK_OK;
    *n = 0;
    *names = calloc(HF_MAX_SHARDS, sizeof(char *));
    if (!*names)
        st = hark_fail(HARK_ERR_NOMEM, "out of memory");
    else if (!json_is_object(map))
        st = hark_fail(HARK_ERR_FORMAT, "%s: no weight_map object", path);
    const char *key;
    json_t *v;
    json_object_foreach(map, key, v) {
        if (st != HARK_OK)
            break;
        const char *s = json_string_value(v);
        if (!s || !*s || strchr(s, '/') || strchr(s, '\\') || strcmp(s, "..") == 0 ||
            strcmp(s, ".") == 0) {
            st = hark_fail(HARK_ERR_FORMAT, "%s: '%s' maps to a bad file name", path, key);
            break;
        }
        int seen = 0;
        for (int i = 0; i < *n && !seen; i++)
            seen = strcmp((*names)[i], s) == 0;
        if (seen)
            continue;
        if (*n == HF_MAX_SHARDS)
            st = hark_fail(HARK_ERR_FORMAT, "%s: more than %d shards", path, HF_MAX_SHARDS);
        else if (!((*names)[(*n)++] = strdup(s)))
            st = hark_fail(HARK_ERR_NOMEM, "out of memory");
    }
    json_decref(idx);
    return st;
}

static void hf_free_names(char **names, int n)
{
    for (int i = 0; names && i < n; i++)
        free(names[i]);
    free(names);
}

/* The alignment heads of generation_config.json as compact JSON (malloc'd), or NULL when the
 * file or the field is absent. */
static char *hf_alignment_heads(const char *dir)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/generation_config.json", dir);
    json_error_t err;
    json_t *g = json_load_file(path, 0, &err);
    json_t *ah = g ? json_object_get(g, "alignment_heads") : NULL;
    char *s = json_is_array(ah) ? json_dumps(ah, JSON_COMPACT) : NULL;
    json_decref(g);
    return s;
}

/* Converts a Hugging Face Whisper folder to a hark file. */
hark_status hark_convert_hf(const char *in, const char *out, const hark_convert_params *p)
{
    char path[4096];
    hark_model_dims dims;
    snprintf(path, sizeof(path), "%s/config.json", in);
    hark_status st = hf_dims(path, &dims);
    if (st != HARK_OK)
        return st;
    char **names = NULL;
    int n = 0;
    snprintf(path, sizeof(path), "%s/model.safetensors.index.json", in);
    FILE *fp = fopen(path, "rb");
    if (fp) {
        fclose(fp);
        if ((st = hf_shards(path, &names, &n)) != HARK_OK) {
            hf_free_names(names, n);
            return st;
        }
    }
    hark_st_file *files = calloc((size_t)(n ? n : 1), sizeof(*files));
    int n_open = 0;
    if (!files) {
        st = hark_fail(HARK_ERR_NOMEM, "out of memory");
        goto out;
    }
    for (int i = 0; i < (n ? n : 1) && st == HARK_OK; i++) {
        snprintf(path, sizeof(path), "%s/%s", in, n ? names[i] : "model.safetensors");
        st = hark_st_open(path, &files[i]);
        n_open += st == HARK_OK;
    }
    if (st == HARK_OK) {
        char *ah = hf_alignment_heads(in);
        int32_t pairs[2 * HARK_MAX_ALIGN_HEADS];
        int n_pairs;
        if (ah && hark_alignment_heads_parse(ah, &dims, pairs, &n_pairs) != HARK_OK) {
            hark_log(HARK_LOG_WARN, "%s/generation_config.json: alignment_heads ignored", in);
            free(ah);
            ah = NULL;
        }
        hark_write_info wi = { .dims = dims, .arch = p->arch_name, .dtype = p->dtype,
                               .alignment_heads = ah, .quant = p->quant, .group = p->group };
        hark_st_source src = { files, n_open, in };
        st = hark_file_write(out, &wi, hark_st_source_fill, &src);
        free(ah);
    }
out:
    for (int i = 0; i < n_open; i++)
        hark_st_close(&files[i]);
    free(files);
    hf_free_names(names, n);
    return st;
}
