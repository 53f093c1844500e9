/*
 * hark.c — the public API's model, state and stage entry points: loading a model onto a
 * backend, window/sequence slots, and the thin wrappers tools and servers call.
 * The transcription loop lives in src/decode/transcribe.c.
 */
#include "hark.h"

#include "backend/backend.h"
#include "engine/state.h"
#include "decode/sample.h"
#include "model/hark_file.h"
#include "model/model.h"
#include "text/tokenizer.h"
#include "util/util.h"

#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

hark_model_params hark_model_default_params(void)
{
    return (hark_model_params){
        .device = "cpu",
        .n_threads = 0,
        .dtype = -1,
    };
}

/* "cpu", "cuda", "cuda:N", "auto" -> *be, or a status with the reason recorded. */
static hark_status backend_for_device(const char *device, const hark_backend **be)
{
    *be = &hark_backend_cpu;
    if (!device || strcmp(device, "cpu") == 0)
        return HARK_OK;
#ifdef HARK_WITH_CUDA
    if (strcmp(device, "auto") == 0) {
        if (hark_cuda_device_count() > 0)
            *be = &hark_backend_cuda;
        return HARK_OK;
    }
    if (strncmp(device, "cuda", 4) == 0) {
        int idx = hark_cuda_device_index(device);
        int n = hark_cuda_device_count();
        if (idx < 0)
            return hark_fail(HARK_ERR_INVALID_ARG, "device '%s': expected cuda or cuda:N", device);
        if (idx >= n)
            return hark_fail(HARK_ERR_UNSUPPORTED, "device '%s': this machine has %d CUDA "
                             "device%s", device, n, n == 1 ? "" : "s");
        *be = &hark_backend_cuda;
        return HARK_OK;
    }
#else
    if (strcmp(device, "auto") == 0)
        return HARK_OK;
    if (strncmp(device, "cuda", 4) == 0)
        return hark_fail(HARK_ERR_UNSUPPORTED, "device '%s': this build has no CUDA backend",
                         device);
#endif
    return hark_fail(HARK_ERR_INVALID_ARG, "unknown device '%s' (cpu, cuda, cuda:N or auto)",
                     device);
}

hark_status hark_model_load(const char *path, const hark_model_params *params, hark_model **out)
{
    if (!out)
        return hark_fail(HARK_ERR_INVALID_ARG, "hark_model_load: out is NULL");
    *out = NULL;
    if (!path)
        return hark_fail(HARK_ERR_INVALID_ARG, "hark_model_load: path is NULL");
    hark_model_params p = params ? *params : hark_model_default_params();
    const hark_backend *be;
    hark_status dst = backend_for_device(p.device, &be);
    if (dst != HARK_OK)
        return dst;
    if (p.dtype < -1 || p.dtype > HARK_DTYPE_BF16)
        return hark_fail(HARK_ERR_INVALID_ARG, "hark_model_load: dtype %d", p.dtype);
    if (p.encoder_fp8 != 0 && p.encoder_fp8 != 1)
        return hark_fail(HARK_ERR_INVALID_ARG, "hark_model_load: encoder_fp8 %d (0 or 1)",
                         p.encoder_fp8);

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
int hark_model_quant(const hark_model *model, int *group)
{
    if (group)
        *group = model->quant_group;
    return model->quant_bits;
}
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
        .kv_cache_free_mem_fraction = 0.5f,
        .cross_kv_bits = 16,
    };
}

hark_status hark_state_new(hark_model *model, const hark_state_params *params, hark_state **out)
{
    return hark_state_new_on(model, params, model ? model->backend : NULL,
                             model ? model->backend_weights : NULL, out);
}

/* See engine/state.h. */
hark_status hark_state_params_check(const char *who, hark_state_params *p)
{
    if (p->cross_kv_bits == 0)
        p->cross_kv_bits = 16;
    if (p->cross_kv_bits != 16 && p->cross_kv_bits != 8 && p->cross_kv_bits != 4)
        return hark_fail(HARK_ERR_INVALID_ARG, "%s: cross_kv_bits %d (16, 8 or 4)", who,
                         p->cross_kv_bits);
    if (p->max_windows < 1 || p->max_sequences < 1 || p->max_windows > 4096 ||
        p->max_sequences > 4096 ||
        !(p->kv_cache_free_mem_fraction > 0.0f && p->kv_cache_free_mem_fraction <= 1.0f))
        return hark_fail(HARK_ERR_INVALID_ARG, "%s: max_windows %d / max_sequences %d / "
                         "kv_cache_free_mem_fraction %g out of range", who, p->max_windows,
                         p->max_sequences, (double)p->kv_cache_free_mem_fraction);
    return HARK_OK;
}

hark_status hark_state_new_on(hark_model *model, const hark_state_params *params,
                              const hark_backend *backend, const void *bw, hark_state **out)
{
    if (!out)
        return hark_fail(HARK_ERR_INVALID_ARG, "hark_state_new: out is NULL");
    *out = NULL;
    if (!model)
        return hark_fail(HARK_ERR_INVALID_ARG, "hark_state_new: model is NULL");
    hark_state_params p = params ? *params : hark_state_default_params();
    hark_status pst = hark_state_params_check("hark_state_new", &p);
    if (pst != HARK_OK)
        return pst;
    hark_state *s = calloc(1, sizeof(*s));
    if (!s)
        return hark_fail(HARK_ERR_NOMEM, "hark_state_new: out of memory");
    s->model = model;
    s->params = p;
    s->backend = backend;
    s->bw = bw;
    hark_status st = backend->ctx_new(model, bw, &p, model->params.n_threads, &s->ctx);
    if (st != HARK_OK) {
        free(s);
        return st;
    }
    *out = s;
    return HARK_OK;
}

void hark_state_host_threads(const hark_state *s)
{
#ifdef _OPENMP
    if (s && s->host_single_thread)
        omp_set_num_threads(1); /* this thread's parallel regions (OpenBLAS's included) */
#else
    (void)s;
#endif
}

void hark_state_free(hark_state *state)
{
    if (!state)
        return;
    if (state->ctx)
        state->backend->ctx_free(state->ctx);
    hark_results_clear(&state->results);
    free(state->mel);
    free(state->logits);
    free(state->argmax_logits);
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
    return state->backend->encode(state->ctx, mel, n_windows, slots);
}

hark_status hark_encoder_output(hark_state *state, int window, float *out)
{
    if (!state || !out || window < 0 || window >= state->params.max_windows)
        return hark_fail(HARK_ERR_INVALID_ARG, "hark_encoder_output: bad arguments");
    return state->backend->encoder_output(state->ctx, window, out);
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
    return state->backend->decode(state->ctx, entries, n_entries, logits);
}

hark_status hark_decode_steps(hark_state *s, hark_decode_entry *e, int n, float *logits,
                              const hark_pick_mask *mask, hark_step_fn step, void *user)
{
    const hark_backend *be = s->backend;
    if (be->decode_steps)
        return be->decode_steps(s->ctx, e, n, mask, step, user);
    hark_pick picks[64];
    uint8_t pick[64];
    hark_pick_mask masks[64];
    const int V = s->model->dims.n_vocab;
    while (n > 0) {
        int want = 0;
        for (int i = 0; i < n; i++)
            want += e[i].want_logits != 0;
        if (mask && want > 64)
            return hark_fail(HARK_ERR_CAPACITY, "hark_decode_steps: %d rows to pick (at most 64)",
                             want);
        hark_status st;
        if (mask && be->decode_pick) { /* picked where the logits are */
            for (int k = 0; k < want; k++)
                pick[k] = 1, masks[k] = *mask;
            st = be->decode_pick(s->ctx, e, n, NULL, pick, masks, picks);
        } else {
            st = hark_decode(s, e, n, logits);
            for (int k = 0; mask && st == HARK_OK && k < want; k++)
                hark_pick_row(logits + (size_t)k * V, V, mask, &picks[k]);
        }
        if (st == HARK_OK)
            st = step(user, mask ? NULL : logits, mask ? picks : NULL, e, &n);
        if (st != HARK_OK)
            return st;
    }
    return HARK_OK;
}

hark_status hark_decode_cross_qk(hark_state *state, const hark_decode_entry *entries,
                                 int n_entries, float *logits, const int32_t *pairs, int n_heads,
                                 int n_frames, float *qk)
{
    if (!state || !entries || n_entries < 1 || !pairs || n_heads < 1 || !qk)
        return hark_fail(HARK_ERR_INVALID_ARG, "hark_decode_cross_qk: bad arguments");
    int want = 0;
    for (int i = 0; i < n_entries; i++)
        want += entries[i].want_logits != 0;
    if (want && !logits)
        return hark_fail(HARK_ERR_INVALID_ARG, "hark_decode_cross_qk: logits requested but no "
                         "buffer");
    const hark_backend *be = state->backend;
    if (!be->decode_cross_qk)
        return hark_fail(HARK_ERR_UNSUPPORTED, "hark_decode_cross_qk: not on %s", be->name);
    return be->decode_cross_qk(state->ctx, entries, n_entries, logits, pairs, n_heads, n_frames,
                               qk);
}

int hark_model_alignment_heads(const hark_model *model, const int32_t **pairs)
{
    if (!model || !pairs)
        return 0;
    *pairs = model->align_heads;
    return model->n_align_heads;
}

hark_status hark_decode_argmax(hark_state *state, const hark_decode_entry *entries, int n_entries,
                               int limit, int32_t *tokens)
{
    if (!state || !entries || n_entries < 1 || !tokens)
        return hark_fail(HARK_ERR_INVALID_ARG, "hark_decode_argmax: bad arguments");
    const hark_backend *be = state->backend;
    int V = state->model->dims.n_vocab;
    if (limit <= 0 || limit > V)
        limit = V;
    if (be->decode_argmax)
        return be->decode_argmax(state->ctx, entries, n_entries, limit, tokens);
    int want = 0;
    for (int i = 0; i < n_entries; i++)
        want += entries[i].want_logits != 0;
    if (want > state->argmax_rows) {
        float *buf = realloc(state->argmax_logits, (size_t)want * V * sizeof(float));
        if (!buf)
            return hark_fail(HARK_ERR_NOMEM, "hark_decode_argmax: out of memory");
        state->argmax_logits = buf;
        state->argmax_rows = want;
    }
    hark_status st = be->decode(state->ctx, entries, n_entries, state->argmax_logits);
    if (st != HARK_OK)
        return st;
    for (int r = 0; r < want; r++) {
        const float *row = state->argmax_logits + (size_t)r * V;
        int best = 0;
        for (int t = 1; t < limit; t++)
            if (row[t] > row[best])
                best = t;
        tokens[r] = best;
    }
    return HARK_OK;
}

hark_status hark_decode_greedy(hark_state *state, const hark_decode_entry *entries, int n_entries,
                               int n_steps, int limit, int32_t *tokens)
{
    if (!state || !entries || n_entries < 1 || n_steps < 1 || !tokens)
        return hark_fail(HARK_ERR_INVALID_ARG, "hark_decode_greedy: bad arguments");
    const int T = state->model->dims.n_text_ctx;
    for (int i = 0; i < n_entries; i++) {
        if (!entries[i].want_logits || entries[i].pos < 0 || entries[i].pos + n_steps > T)
            return hark_fail(HARK_ERR_INVALID_ARG, "hark_decode_greedy: entry %d (position %d, "
                             "%d steps): each entry wants logits and its steps end within the "
                             "%d positions of the text context", i, entries[i].pos, n_steps, T);
        for (int j = 0; j < i; j++)
            if (entries[j].seq == entries[i].seq)
                return hark_fail(HARK_ERR_INVALID_ARG, "hark_decode_greedy: sequence %d in two "
                                 "entries", entries[i].seq);
    }
    const hark_backend *be = state->backend;
    int V = state->model->dims.n_vocab;
    if (limit <= 0 || limit > V)
        limit = V;
    if (be->decode_greedy)
        return be->decode_greedy(state->ctx, entries, n_entries, n_steps, limit, tokens);
    hark_decode_entry *e = malloc((size_t)n_entries * sizeof *e);
    if (!e)
        return hark_fail(HARK_ERR_NOMEM, "hark_decode_greedy: out of memory");
    memcpy(e, entries, (size_t)n_entries * sizeof *e);
    hark_status st = HARK_OK;
    for (int t = 0; t < n_steps && st == HARK_OK; t++) {
        int32_t *row = tokens + (size_t)t * n_entries;
        st = hark_decode_argmax(state, e, n_entries, limit, row);
        for (int i = 0; i < n_entries; i++)
            e[i].token = row[i], e[i].pos++;
    }
    free(e);
    return st;
}

hark_status hark_encode_pcm(hark_state *state, const float *pcm, int n_windows)
{
    if (!state || !pcm || n_windows < 1)
        return hark_fail(HARK_ERR_INVALID_ARG, "hark_encode_pcm: bad arguments");
    if (n_windows > state->params.max_windows)
        return hark_fail(HARK_ERR_CAPACITY, "hark_encode_pcm: %d windows but the state holds %d",
                         n_windows, state->params.max_windows);
    const hark_backend *be = state->backend;
    int slots[4096];
    for (int i = 0; i < n_windows; i++)
        slots[i] = i;
    if (be->encode_pcm)
        return be->encode_pcm(state->ctx, pcm, n_windows, slots);
    size_t per = (size_t)state->model->dims.n_mels * HARK_N_FRAMES;
    if (state->mel_windows < n_windows) {
        float *m = realloc(state->mel, per * (size_t)n_windows * sizeof(float));
        if (!m)
            return hark_fail(HARK_ERR_NOMEM, "hark_encode_pcm: out of memory");
        state->mel = m;
        state->mel_windows = n_windows;
    }
    double t0 = hark_time_s();
    for (int i = 0; i < n_windows; i++) {
        hark_status st = hark_log_mel(pcm + (size_t)i * HARK_N_SAMPLES, HARK_N_SAMPLES,
                                      state->model->dims.n_mels, state->mel + per * (size_t)i);
        if (st != HARK_OK)
            return st;
    }
    double t1 = hark_time_s();
    hark_status st = be->encode(state->ctx, state->mel, n_windows, slots);
    state->mel_ms = 1e3 * (t1 - t0);
    state->encoder_ms = 1e3 * (hark_time_s() - t1);
    return st;
}

hark_status hark_sequence_free(hark_state *state, int seq)
{
    if (!state || seq < 0 || seq >= state->params.max_sequences)
        return hark_fail(HARK_ERR_INVALID_ARG, "hark_sequence_free: no sequence slot %d", seq);
    const hark_backend *be = state->backend;
    return be->kv_free ? be->kv_free(state->ctx, seq) : HARK_OK;
}

hark_status hark_state_stats(hark_state *state, hark_stats *out)
{
    if (!state || !out)
        return hark_fail(HARK_ERR_INVALID_ARG, "hark_state_stats: bad arguments");
    memset(out, 0, sizeof(*out));
    const hark_backend *be = state->backend;
    if (be->stats) {
        be->stats(state->ctx, out);
        return HARK_OK;
    }
    out->weights_bytes = state->model->map.size;
    out->mel_ms = state->mel_ms;
    out->encoder_ms = state->encoder_ms;
    out->device = "cpu";
    return HARK_OK;
}
