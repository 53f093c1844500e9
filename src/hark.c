/*
 * hark.c — the public API's model, state and stage entry points: loading a model onto a
 * backend, window/sequence slots, and the thin wrappers tools and servers call.
 * The transcription loop lives in src/decode/transcribe.c.
 */
#include "hark.h"

#include "backend/backend.h"
#include "engine/state.h"
#include "model/hark_file.h"
#include "model/model.h"
#include "text/tokenizer.h"
#include "util/util.h"

#include <stdlib.h>
#include <string.h>

hark_model_params hark_model_default_params(void)
{
    return (hark_model_params){
        .device = "cpu",
        .n_threads = 0,
    };
}

static const hark_backend *backend_for_device(const char *device)
{
    if (!device || strcmp(device, "cpu") == 0 || strcmp(device, "auto") == 0)
        return &hark_backend_cpu;
    return NULL;
}

hark_status hark_model_load(const char *path, const hark_model_params *params, hark_model **out)
{
    if (!out)
        return hark_fail(HARK_ERR_INVALID_ARG, "hark_model_load: out is NULL");
    *out = NULL;
    if (!path)
        return hark_fail(HARK_ERR_INVALID_ARG, "hark_model_load: path is NULL");
    hark_model_params p = params ? *params : hark_model_default_params();
    const hark_backend *be = backend_for_device(p.device);
    if (!be)
        return hark_fail(HARK_ERR_UNSUPPORTED, "device '%s' is not available in this build", p.device);

    hark_model *m = calloc(1, sizeof(*m));
    if (!m)
        return hark_fail(HARK_ERR_NOMEM, "%s: out of memory", path);
    hark_status st = hark_model_read(path, m);
    if (st != HARK_OK)
        goto out_free_model;
    m->params = p;
    m->backend = be;
    st = be->weights_upload(m, &m->backend_weights);
    if (st != HARK_OK) {
        hark_fail_prefix(st, "%s", path);
        goto out_release;
    }
    *out = m;
    return HARK_OK;

out_release:
    hark_model_release(m);
out_free_model:
    free(m);
    return st;
}

void hark_model_free(hark_model *model)
{
    if (!model)
        return;
    if (model->backend && model->backend_weights)
        model->backend->weights_free(model->backend_weights);
    hark_model_release(model);
    free(model);
}

hark_model_dims hark_model_get_dims(const hark_model *model) { return model->dims; }
const char *hark_model_arch(const hark_model *model) { return model->arch; }
int hark_model_is_random(const hark_model *model) { return model->is_random; }
int hark_model_is_multilingual(const hark_model *model) { return model->dims.n_vocab >= 51865; }
hark_special_tokens hark_model_special_tokens(const hark_model *model) { return model->special; }

int hark_tokenize(const hark_model *model, const char *text, int32_t *tokens, int max_tokens)
{
    if (!model || !text || max_tokens < 0 || (max_tokens > 0 && !tokens))
        return hark_fail(HARK_ERR_INVALID_ARG, "hark_tokenize: bad arguments");
    return hark_tokenizer_encode(model->tok, text, strlen(text), tokens, max_tokens);
}

int hark_token_bytes(const hark_model *model, int32_t token, const char **bytes)
{
    if (!model || !bytes)
        return hark_fail(HARK_ERR_INVALID_ARG, "hark_token_bytes: bad arguments");
    return hark_tokenizer_token_bytes(model->tok, token, bytes);
}

/* ---------------------------------------------------------------- state --------------------- */

hark_state_params hark_state_default_params(void)
{
    return (hark_state_params){
        .max_windows = 1,
        .max_sequences = 1,
    };
}

hark_status hark_state_new(hark_model *model, const hark_state_params *params, hark_state **out)
{
    if (!out)
        return hark_fail(HARK_ERR_INVALID_ARG, "hark_state_new: out is NULL");
    *out = NULL;
    if (!model)
        return hark_fail(HARK_ERR_INVALID_ARG, "hark_state_new: model is NULL");
    hark_state_params p = params ? *params : hark_state_default_params();
    if (p.max_windows < 1 || p.max_sequences < 1 || p.max_windows > 4096 || p.max_sequences > 4096)
        return hark_fail(HARK_ERR_INVALID_ARG, "hark_state_new: max_windows %d / max_sequences %d out of range",
                         p.max_windows, p.max_sequences);
    hark_state *s = calloc(1, sizeof(*s));
    if (!s)
        return hark_fail(HARK_ERR_NOMEM, "hark_state_new: out of memory");
    s->model = model;
    s->params = p;
    hark_status st = model->backend->ctx_new(model, model->backend_weights, p.max_windows,
                                             p.max_sequences, model->params.n_threads, &s->ctx);
    if (st != HARK_OK) {
        free(s);
        return st;
    }
    *out = s;
    return HARK_OK;
}

void hark_state_free(hark_state *state)
{
    if (!state)
        return;
    if (state->ctx)
        state->model->backend->ctx_free(state->ctx);
    hark_results_clear(&state->results);
    free(state->mel);
    free(state->logits);
    free(state);
}

hark_status hark_encode(hark_state *state, const float *mel, int n_windows)
{
    if (!state || !mel || n_windows < 1)
        return hark_fail(HARK_ERR_INVALID_ARG, "hark_encode: bad arguments");
    if (n_windows > state->params.max_windows)
        return hark_fail(HARK_ERR_CAPACITY, "hark_encode: %d windows but the state holds %d",
                         n_windows, state->params.max_windows);
    int slots[4096];
    for (int i = 0; i < n_windows; i++)
        slots[i] = i;
    return state->model->backend->encode(state->ctx, mel, n_windows, slots);
}

hark_status hark_encoder_output(hark_state *state, int window, float *out)
{
    if (!state || !out || window < 0 || window >= state->params.max_windows)
        return hark_fail(HARK_ERR_INVALID_ARG, "hark_encoder_output: bad arguments");
    return state->model->backend->encoder_output(state->ctx, window, out);
}

hark_status hark_decode(hark_state *state, const hark_decode_entry *entries, int n_entries,
                        float *logits)
{
    if (!state || !entries || n_entries < 1)
        return hark_fail(HARK_ERR_INVALID_ARG, "hark_decode: bad arguments");
    int want = 0;
    for (int i = 0; i < n_entries; i++)
        want += entries[i].want_logits != 0;
    if (want && !logits)
        return hark_fail(HARK_ERR_INVALID_ARG, "hark_decode: logits requested but no buffer");
    return state->model->backend->decode(state->ctx, entries, n_entries, logits);
}
