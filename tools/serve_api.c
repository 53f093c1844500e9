/*
 * serve_api.c — the protocols of `hark serve` over the HTTP layer of cmd_serve.c:
 *  - KServe v2 / Triton HTTP: health, server and model metadata, config, stats, and infer with
 *    JSON tensors or the binary tensor extension. Models "whisper", "whisper_bls", "infer_bls"
 *    (the names Triton's Whisper deployments use) take WAV FP32 [N] or [B, N], WAV_LENS INT32
 *    [B] / [B, 1], TEXT_PREFIX BYTES [B] / [B, 1] (one prefix for all rows, or one each), or
 *    AUDIO BYTES (encoded files, any format hark_audio_decode reads) instead of WAV; they give
 *    TRANSCRIPTS BYTES [B, 1], and on request LANGUAGE and SEGMENTS (verbose JSON) BYTES [B, 1].
 *    ref: kserve/open-inference-protocol (REST, binary tensor extension); Triton's
 *    whisper_bls model of tensorrtllm_backend.
 *  - OpenAI: the routes; GET /v1/models here, the audio endpoints in serve_openai.c.
 * Jobs (one transcription each), streams and the response helpers are serve_job.c's.
 * Long audio is transcribed whole (openai/whisper's long-form algorithm), not cut at 30 s.
 */
#define _POSIX_C_SOURCE 200809L
#include "serve_job.h"
#include "serve_kserve.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

static const char *MODEL_NAMES[] = { "whisper", "whisper_bls", "infer_bls" };
const char *const KSERVE_OUTPUTS[KSERVE_N_OUTPUTS] = { "TRANSCRIPTS", "LANGUAGE", "SEGMENTS" };

/* ---------------------------------------------------------------- KServe v2 ----------------- */

int kserve_known_model(const sv_server *sv, const char *name, size_t len)
{
    for (size_t i = 0; i < sizeof(MODEL_NAMES) / sizeof(MODEL_NAMES[0]); i++)
        if (strlen(MODEL_NAMES[i]) == len && !strncmp(MODEL_NAMES[i], name, len))
            return 1;
    return sv->model_name && strlen(sv->model_name) == len && !strncmp(sv->model_name, name, len);
}

static json_t *tensor_meta(const char *name, const char *dt, int rows)
{
    return rows ? json_pack("{s:s,s:s,s:[i,i]}", "name", name, "datatype", dt, "shape", -1, -1)
                : json_pack("{s:s,s:s,s:[i]}", "name", name, "datatype", dt, "shape", -1);
}

static json_t *model_metadata(const char *name)
{
    json_t *in = json_array(), *out = json_array();
    json_array_append_new(in, tensor_meta("WAV", "FP32", 1));
    json_array_append_new(in, tensor_meta("WAV_LENS", "INT32", 1));
    json_array_append_new(in, tensor_meta("TEXT_PREFIX", "BYTES", 1));
    json_array_append_new(in, tensor_meta("AUDIO", "BYTES", 1));
    json_array_append_new(out, tensor_meta("TRANSCRIPTS", "BYTES", 1));
    json_array_append_new(out, tensor_meta("LANGUAGE", "BYTES", 1));
    json_array_append_new(out, tensor_meta("SEGMENTS", "BYTES", 1));
    return json_pack("{s:s,s:[s],s:s,s:o,s:o}", "name", name, "versions", "1", "platform",
                     "hark", "inputs", in, "outputs", out);
}

static json_t *model_config(const char *name)
{
    json_t *in = json_array(), *out = json_array();
    const char *ins[4][2] = { { "WAV", "TYPE_FP32" }, { "WAV_LENS", "TYPE_INT32" },
                              { "TEXT_PREFIX", "TYPE_STRING" }, { "AUDIO", "TYPE_STRING" } };
    for (int i = 0; i < 4; i++)
        json_array_append_new(in, json_pack("{s:s,s:s,s:[i],s:b}", "name", ins[i][0],
                                            "data_type", ins[i][1], "dims", i == 0 ? -1 : 1,
                                            "optional", i != 0));
    const char *outs[3] = { "TRANSCRIPTS", "LANGUAGE", "SEGMENTS" };
    for (int i = 0; i < 3; i++)
        json_array_append_new(out, json_pack("{s:s,s:s,s:[i]}", "name", outs[i], "data_type",
                                             "TYPE_STRING", "dims", 1));
    return json_pack("{s:s,s:s,s:i,s:o,s:o,s:{s:i}}", "name", name, "backend", "hark",
                     "max_batch_size", MAX_ROWS, "input", in, "output", out,
                     "dynamic_batching", "max_queue_delay_microseconds", 0);
}

long kserve_shape_count(const kin *t)
{
    long n = 1;
    for (int i = 0; i < t->rank; i++)
        n *= t->shape[i];
    return n;
}

/* Flattens nested JSON arrays of numbers into out (up to cap); returns the count, -1 on a
 * non-number. */
static long flatten_numbers(json_t *a, double *out, long cap, long k)
{
    if (json_is_array(a)) {
        size_t i;
        json_t *v;
        json_array_foreach(a, i, v) {
            k = flatten_numbers(v, out, cap, k);
            if (k < 0)
                return -1;
        }
        return k;
    }
    if (!json_is_number(a))
        return -1;
    if (k < cap)
        out[k] = json_number_value(a);
    return k + 1;
}

/* The BYTES elements of an input: JSON strings, or 4-byte little-endian lengths and bytes. */
static int bytes_elements(const kin *t, long n, const char **ptr, size_t *len, char *err,
                          size_t errcap)
{
    if (t->has_bin) {
        size_t off = 0;
        for (long i = 0; i < n; i++) {
            if (off + 4 > t->bin_len) {
                snprintf(err, errcap, "%s: binary data ends inside element %ld", t->name, i);
                return -1;
            }
            const unsigned char *b = t->bin + off;
            uint32_t l = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
                         (uint32_t)b[3] << 24;
            if (l > t->bin_len - off - 4) {
                snprintf(err, errcap, "%s: element %ld of %u bytes overruns the binary data",
                         t->name, i, l);
                return -1;
            }
            ptr[i] = (const char *)b + 4;
            len[i] = l;
            off += 4 + (size_t)l;
        }
        if (off != t->bin_len) {
            snprintf(err, errcap, "%s: %zu bytes of binary data left after %ld elements", t->name,
                     t->bin_len - off, n);
            return -1;
        }
        return 0;
    }
    json_t *flat[MAX_ROWS];
    long k = 0;
    json_t *stack[8];
    size_t idx[8];
    int depth = 0;
    if (!json_is_array(t->data)) {
        snprintf(err, errcap, "%s: data must be an array", t->name);
        return -1;
    }
    stack[0] = t->data;
    idx[0] = 0;
    while (depth >= 0) {
        if (idx[depth] >= json_array_size(stack[depth])) {
            depth--;
            if (depth >= 0)
                idx[depth]++;
            continue;
        }
        json_t *v = json_array_get(stack[depth], idx[depth]);
        if (json_is_array(v) && depth + 1 < 8) {
            stack[++depth] = v;
            idx[depth] = 0;
            continue;
        }
        if (!json_is_string(v) || k >= MAX_ROWS) {
            snprintf(err, errcap, "%s: BYTES data must be strings (at most %d)", t->name,
                     MAX_ROWS);
            return -1;
        }
        flat[k++] = v;
        idx[depth]++;
    }
    if (k != n) {
        snprintf(err, errcap, "%s: %ld elements for shape of %ld", t->name, k, n);
        return -1;
    }
    for (long i = 0; i < n; i++) {
        ptr[i] = json_string_value(flat[i]);
        len[i] = json_string_length(flat[i]);
    }
    return 0;
}

/* Applies a Triton TEXT_PREFIX ("<|startofprev|>hot words<|startoftranscript|><|en|>
 * <|transcribe|><|notimestamps|>text") to p: the prompt, language, task, timestamps and a
 * prefix. Strings in *store are owned by the caller (freed after the job). */
static int apply_prefix(const char *s, size_t len, hark_full_params *p, int *translate,
                        char **store, char *err, size_t errcap)
{
    char *t = malloc(len + 1);
    if (!t)
        return -1;
    memcpy(t, s, len);
    t[len] = 0;
    store[0] = t;
    const char *q = t, *prev = NULL, *prev_end = NULL, *after = NULL;
    int sot = 0;
    while (*q) {
        const char *a = strstr(q, "<|");
        if (!a) {
            if (sot)
                after = q;
            break;
        }
        if (a > q && sot && !after)
            after = q; /* text between specials after <|startoftranscript|> */
        const char *b = strstr(a + 2, "|>");
        if (!b) {
            snprintf(err, errcap, "TEXT_PREFIX: unterminated special token at '%.20s'", a);
            return -1;
        }
        size_t k = (size_t)(b - a - 2);
        char tok[32];
        if (k >= sizeof(tok)) {
            snprintf(err, errcap, "TEXT_PREFIX: unknown special token '%.*s'", (int)(k + 4), a);
            return -1;
        }
        memcpy(tok, a + 2, k);
        tok[k] = 0;
        if (!strcmp(tok, "startofprev")) {
            prev = b + 2;
        } else if (!strcmp(tok, "startoftranscript")) {
            if (prev)
                prev_end = a;
            sot = 1;
        } else if (!strcmp(tok, "transcribe")) {
            *translate = 0;
        } else if (!strcmp(tok, "translate")) {
            *translate = 1;
        } else if (!strcmp(tok, "notimestamps")) {
            p->timestamps = 0;
        } else if (!strcmp(tok, "endoftext")) {
            /* Triton clients sometimes end with it: nothing to do */
        } else if (hark_language_find(tok) >= 0 && strlen(tok) <= 8) {
            p->language = hark_language_code(hark_language_find(tok));
        } else {
            snprintf(err, errcap, "TEXT_PREFIX: unknown special token '<|%s|>'", tok);
            return -1;
        }
        if (after && a > after) { /* text, then more specials: the text is not a prefix */
            snprintf(err, errcap, "TEXT_PREFIX: text before '<|%s|>'", tok);
            return -1;
        }
        q = b + 2;
    }
    if (prev && prev_end && prev_end > prev) {
        size_t k = (size_t)(prev_end - prev);
        char *pr = malloc(k + 1);
        if (!pr)
            return -1;
        memcpy(pr, prev, k);
        pr[k] = 0;
        store[1] = pr;
        p->initial_prompt = pr;
    }
    if (after && *after)
        p->prefix = after;
    p->translate = *translate;
    return 0;
}

/* Splits the request body into the JSON header and the binary part. */
static json_t *infer_header(const sv_request *rq, const unsigned char **bin, size_t *bin_len,
                            char *err, size_t errcap)
{
    size_t hl = rq->len;
    if (rq->infer_header_len) {
        char *end;
        unsigned long long v = strtoull(rq->infer_header_len, &end, 10);
        if (*end || v > rq->len) {
            snprintf(err, errcap, "Inference-Header-Content-Length %s: not a length within the "
                     "body of %zu bytes", rq->infer_header_len, rq->len);
            return NULL;
        }
        hl = (size_t)v;
    }
    json_error_t je;
    json_t *h = json_loadb(rq->body ? rq->body : "", hl, 0, &je);
    if (!h) {
        snprintf(err, errcap, "malformed JSON: %s (line %d, column %d)", je.text, je.line,
                 je.column);
        return NULL;
    }
    if (!json_is_object(h)) {
        json_decref(h);
        snprintf(err, errcap, "the request must be a JSON object");
        return NULL;
    }
    *bin = (const unsigned char *)rq->body + hl;
    *bin_len = rq->len - hl;
    return h;
}

static int parse_inputs(json_t *h, const unsigned char *bin, size_t bin_len, kin *ins, int *n_in,
                        char *err, size_t errcap)
{
    json_t *inputs = json_object_get(h, "inputs");
    if (!json_is_array(inputs) || json_array_size(inputs) == 0 || json_array_size(inputs) > 8) {
        snprintf(err, errcap, "\"inputs\" must be an array of 1 to 8 tensors");
        return -1;
    }
    size_t off = 0, i;
    json_t *t;
    *n_in = 0;
    json_array_foreach(inputs, i, t) {
        kin *k = &ins[(*n_in)++];
        memset(k, 0, sizeof(*k));
        k->name = json_string_value(json_object_get(t, "name"));
        k->dt = json_string_value(json_object_get(t, "datatype"));
        json_t *shape = json_object_get(t, "shape");
        if (!k->name || !k->dt || !json_is_array(shape) || json_array_size(shape) < 1 ||
            json_array_size(shape) > 4) {
            snprintf(err, errcap, "input %zu: needs \"name\", \"datatype\" and a \"shape\" of 1 "
                     "to 4 dimensions", i);
            return -1;
        }
        k->rank = (int)json_array_size(shape);
        for (int d = 0; d < k->rank; d++) {
            json_t *v = json_array_get(shape, (size_t)d);
            if (!json_is_integer(v) || json_integer_value(v) < 0 ||
                json_integer_value(v) > (1L << 31)) {
                snprintf(err, errcap, "input %s: shape dimension %d is not a size", k->name, d);
                return -1;
            }
            k->shape[d] = (long)json_integer_value(v);
        }
        json_t *bs = json_object_get(json_object_get(t, "parameters"), "binary_data_size");
        if (bs) {
            if (!json_is_integer(bs) || json_integer_value(bs) < 0 ||
                (size_t)json_integer_value(bs) > bin_len - off) {
                snprintf(err, errcap, "input %s: binary_data_size %lld overruns the %zu bytes of "
                         "binary data", k->name, (long long)json_integer_value(bs), bin_len - off);
                return -1;
            }
            k->has_bin = 1;
            k->bin = bin + off;
            k->bin_len = (size_t)json_integer_value(bs);
            off += k->bin_len;
        } else {
            k->data = json_object_get(t, "data");
            if (!k->data) {
                snprintf(err, errcap, "input %s: no \"data\" and no binary_data_size", k->name);
                return -1;
            }
        }
    }
    if (off != bin_len) {
        snprintf(err, errcap, "%zu bytes of binary data belong to no input", bin_len - off);
        return -1;
    }
    return 0;
}

static const kin *find_input(const kin *ins, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(ins[i].name, name))
            return &ins[i];
    return NULL;
}

/* Reads numeric tensor data (FP32 or INT32) into doubles or floats. */
static int numeric(const kin *t, const char *dt, long n, float *f, int32_t *iv, char *err,
                   size_t errcap)
{
    if (strcmp(t->dt, dt) != 0) {
        snprintf(err, errcap, "input %s: datatype %s, expected %s", t->name, t->dt, dt);
        return -1;
    }
    if (t->has_bin) {
        if (t->bin_len != (size_t)n * 4) {
            snprintf(err, errcap, "input %s: %zu bytes of binary data for %ld elements of 4",
                     t->name, t->bin_len, n);
            return -1;
        }
        if (f)
            memcpy(f, t->bin, (size_t)n * 4);
        else
            memcpy(iv, t->bin, (size_t)n * 4);
        return 0;
    }
    double *tmp = malloc((size_t)(n > 0 ? n : 1) * sizeof(double));
    if (!tmp) {
        snprintf(err, errcap, "out of memory");
        return -1;
    }
    long k = flatten_numbers(t->data, tmp, n, 0);
    if (k != n) {
        free(tmp);
        snprintf(err, errcap, "input %s: %s for shape of %ld elements", t->name,
                 k < 0 ? "data holds a non-number" : "wrong number of elements", n);
        return -1;
    }
    for (long i = 0; i < n; i++) {
        if (f)
            f[i] = (float)tmp[i];
        else
            iv[i] = (int32_t)tmp[i];
    }
    free(tmp);
    return 0;
}

/* Which outputs the request wants (TRANSCRIPTS when it names none), and whether binary. */
static int requested_outputs(json_t *h, int *want, int *binary, char *err, size_t errcap)
{
    static const char *names[3] = { "TRANSCRIPTS", "LANGUAGE", "SEGMENTS" };
    json_t *outs = json_object_get(h, "outputs");
    int all_bin = json_is_true(json_object_get(json_object_get(h, "parameters"),
                                               "binary_data_output"));
    memset(want, 0, 3 * sizeof(int));
    memset(binary, 0, 3 * sizeof(int));
    if (!outs || json_array_size(outs) == 0) {
        want[0] = 1;
        binary[0] = all_bin;
        return 0;
    }
    if (!json_is_array(outs)) {
        snprintf(err, errcap, "\"outputs\" must be an array");
        return -1;
    }
    size_t i;
    json_t *o;
    json_array_foreach(outs, i, o) {
        const char *nm = json_string_value(json_object_get(o, "name"));
        int k = -1;
        for (int j = 0; j < 3 && nm; j++)
            if (!strcmp(nm, names[j]))
                k = j;
        if (k < 0) {
            snprintf(err, errcap, "unknown output '%s' (TRANSCRIPTS, LANGUAGE, SEGMENTS)",
                     nm ? nm : "");
            return -1;
        }
        want[k] = 1;
        json_t *bd = json_object_get(json_object_get(o, "parameters"), "binary_data");
        binary[k] = bd ? json_is_true(bd) : all_bin;
    }
    return 0;
}

void kserve_rows_free(kserve_rows *o)
{
    for (int r = 0; o->jobs && r < o->rows; r++)
        job_free(&o->jobs[r]);
    for (int r = 0; o->store && r < 2 * o->rows; r++)
        free(o->store[r]);
    free(o->jobs);
    free(o->store);
    memset(o, 0, sizeof(*o));
}

const char *kserve_output(const kserve_rows *o, int k, int r)
{
    const sv_job *j = &o->jobs[r];
    const char *v = k == 0 ? j->text : k == 1 ? j->language : j->rendered;
    return v ? v : "";
}

int kserve_run(sv_server *sv, const sv_request *rq, const kin *ins, int n_in, const int *want,
               hark_segment_fn partial, void *partial_user, kserve_rows *o, char *err,
               size_t errcap)
{
    memset(o, 0, sizeof(*o));
    int rows = 0;
    for (int i = 0; i < n_in; i++)
        if (strcmp(ins[i].name, "WAV") && strcmp(ins[i].name, "WAV_LENS") &&
            strcmp(ins[i].name, "TEXT_PREFIX") && strcmp(ins[i].name, "AUDIO")) {
            snprintf(err, errcap, "unknown input '%s' (WAV, WAV_LENS, TEXT_PREFIX, AUDIO)",
                     ins[i].name);
            return 400;
        }
    const kin *wav = find_input(ins, n_in, "WAV"), *lens = find_input(ins, n_in, "WAV_LENS");
    const kin *prefix = find_input(ins, n_in, "TEXT_PREFIX");
    const kin *audio = find_input(ins, n_in, "AUDIO");
    if (!!wav == !!audio) {
        snprintf(err, errcap, "give WAV (FP32 samples at 16 kHz) or AUDIO (encoded files), one of "
                 "them");
        return 400;
    }
    long per = 0;
    if (wav) {
        if (wav->rank > 3 || (wav->rank == 3 && wav->shape[2] != 1)) {
            snprintf(err, errcap, "input WAV: shape [N] or [B, N]");
            return 400;
        }
        rows = wav->rank == 1 ? 1 : (int)wav->shape[0];
        per = wav->rank == 1 ? wav->shape[0] : wav->shape[1];
    } else {
        if (strcmp(audio->dt, "BYTES") != 0) {
            snprintf(err, errcap, "input AUDIO: datatype %s, expected BYTES", audio->dt);
            return 400;
        }
        rows = (int)kserve_shape_count(audio);
    }
    if (rows < 1 || rows > MAX_ROWS) {
        snprintf(err, errcap, "%d rows: 1 to %d per request", rows, MAX_ROWS);
        return 400;
    }
    o->jobs = calloc((size_t)rows, sizeof(*o->jobs));
    o->store = calloc((size_t)rows * 2, sizeof(*o->store));
    if (!o->jobs || !o->store) {
        snprintf(err, errcap, "out of memory");
        kserve_rows_free(o);
        return 500;
    }
    o->rows = rows;
    for (int r = 0; r < rows; r++) {
        sv_job *j = &o->jobs[r];
        j->sv = sv;
        j->rq = rq;
        j->p = hark_full_default_params();
        j->p.beam_size = 1; /* Triton's Whisper engines decode greedily */
        j->p.temperature_increment = sv->temperature_increment;
        j->p.max_tokens = sv->max_tokens;
        j->p.suppress_eot = sv->suppress_eot;
        j->render = want[2];
        j->fmt = HARK_OUT_VERBOSE_JSON;
    }
    if (partial && rows == 1) { /* partial transcripts: one row's segments as they come */
        o->jobs[0].p.new_segment = partial;
        o->jobs[0].p.new_segment_user = partial_user;
    }
    int status = 400;
    if (wav) {
        long total = kserve_shape_count(wav);
        float *all = malloc((size_t)(total > 0 ? total : 1) * sizeof(float));
        int32_t lv[MAX_ROWS];
        if (!all) {
            snprintf(err, errcap, "out of memory");
            status = 500;
            goto fail;
        }
        if (numeric(wav, "FP32", total, all, NULL, err, errcap) != 0) {
            free(all);
            goto fail;
        }
        if (lens) {
            long nl = kserve_shape_count(lens);
            if (nl != rows) {
                free(all);
                snprintf(err, errcap, "input WAV_LENS: %ld values for %d rows", nl, rows);
                goto fail;
            }
            if (numeric(lens, "INT32", nl, NULL, lv, err, errcap) != 0) {
                free(all);
                goto fail;
            }
        }
        for (int r = 0; r < rows; r++) {
            long n = lens ? lv[r] : per;
            if (n < 0 || n > per) {
                free(all);
                snprintf(err, errcap, "WAV_LENS[%d] = %ld: outside 0 .. %ld", r, n, per);
                goto fail;
            }
            o->jobs[r].pcm = malloc((size_t)(n > 0 ? n : 1) * sizeof(float));
            if (!o->jobs[r].pcm) {
                free(all);
                snprintf(err, errcap, "out of memory");
                status = 500;
                goto fail;
            }
            memcpy(o->jobs[r].pcm, all + (size_t)r * (size_t)per, (size_t)n * sizeof(float));
            o->jobs[r].n = (size_t)n;
        }
        free(all);
    } else {
        const char *ptr[MAX_ROWS];
        size_t len[MAX_ROWS];
        if (bytes_elements(audio, rows, ptr, len, err, errcap) != 0)
            goto fail;
        for (int r = 0; r < rows; r++)
            if (hark_audio_decode(ptr[r], len[r], &o->jobs[r].pcm, &o->jobs[r].n) != HARK_OK) {
                snprintf(err, errcap, "AUDIO[%d]: %s", r, hark_last_error());
                goto fail;
            }
    }
    if (prefix) {
        long np = kserve_shape_count(prefix);
        const char *ptr[MAX_ROWS];
        size_t len[MAX_ROWS];
        if (strcmp(prefix->dt, "BYTES") != 0) {
            snprintf(err, errcap, "input TEXT_PREFIX: datatype %s, expected BYTES", prefix->dt);
            goto fail;
        }
        if (np != rows && np != 1) {
            snprintf(err, errcap, "input TEXT_PREFIX: %ld values for %d rows", np, rows);
            goto fail;
        }
        if (bytes_elements(prefix, np, ptr, len, err, errcap) != 0)
            goto fail;
        for (int r = 0; r < rows; r++) {
            int k = np == 1 ? 0 : r;
            if (apply_prefix(ptr[k], len[k], &o->jobs[r].p, &o->jobs[r].translate,
                             o->store + 2 * r, err, errcap) != 0)
                goto fail;
        }
    }
    run_jobs(o->jobs, rows);
    for (int r = 0; r < rows; r++)
        if (o->jobs[r].st != HARK_OK) {
            snprintf(err, errcap, "row %d: %s", r,
                     o->jobs[r].cancelled == 1 ? "request timeout" : o->jobs[r].err);
            status = job_status(&o->jobs[r]);
            goto fail;
        }
    for (int r = 0; r < rows; r++)
        o->audio_s += (double)o->jobs[r].n / 16000.0;
    return 0;
fail:
    kserve_rows_free(o);
    return status;
}

static void kserve_infer(sv_server *sv, const sv_request *rq, const char *model, size_t model_len,
                         sv_response *res)
{
    static const char *names[3] = { "TRANSCRIPTS", "LANGUAGE", "SEGMENTS" };
    char err[600] = "";
    const unsigned char *bin = NULL;
    size_t bin_len = 0;
    json_t *h = infer_header(rq, &bin, &bin_len, err, sizeof(err));
    if (!h) {
        sv_error(res, 400, "%s", err);
        return;
    }
    kin ins[8];
    int n_in = 0, want[3], binary[3];
    kserve_rows o;
    memset(&o, 0, sizeof(o));
    if (parse_inputs(h, bin, bin_len, ins, &n_in, err, sizeof(err)) != 0 ||
        requested_outputs(h, want, binary, err, sizeof(err)) != 0) {
        sv_error(res, 400, "%s", err);
        json_decref(h);
        return;
    }
    int status = kserve_run(sv, rq, ins, n_in, want, NULL, NULL, &o, err, sizeof(err));
    if (status) {
        sv_error(res, status, "%s", err);
        json_decref(h);
        return;
    }
    const int rows = o.rows;
    /* the response: JSON outputs, or the binary extension for those that asked */
    json_t *outs = json_array();
    size_t bin_total = 0;
    for (int k = 0; k < 3; k++) {
        if (!want[k])
            continue;
        size_t sz = 0;
        json_t *data = json_array();
        for (int r = 0; r < rows; r++) {
            sz += 4 + strlen(kserve_output(&o, k, r));
            if (!binary[k])
                json_array_append_new(data, json_string(kserve_output(&o, k, r)));
        }
        json_t *ot = json_pack("{s:s,s:s,s:[i,i]}", "name", names[k], "datatype", "BYTES",
                               "shape", rows, 1);
        if (binary[k]) {
            json_object_set_new(ot, "parameters",
                                json_pack("{s:I}", "binary_data_size", (json_int_t)sz));
            bin_total += sz;
            json_decref(data);
        } else {
            json_object_set_new(ot, "data", data);
        }
        json_array_append_new(outs, ot);
    }
    char ml[256];
    snprintf(ml, sizeof(ml), "%.*s", (int)(model_len < 200 ? model_len : 200), model);
    json_t *r = json_pack("{s:s,s:s,s:o}", "model_name", ml, "model_version", "1", "outputs",
                          outs);
    json_t *id = json_object_get(h, "id");
    if (json_is_string(id))
        json_object_set(r, "id", id);
    if (bin_total == 0) {
        set_json(res, 200, r);
    } else {
        char *hdr = json_dumps(r, JSON_COMPACT);
        json_decref(r);
        size_t hl = hdr ? strlen(hdr) : 0;
        char *body = hdr ? malloc(hl + bin_total) : NULL;
        if (!body) {
            free(hdr);
            sv_error(res, 500, "out of memory");
            kserve_rows_free(&o);
            json_decref(h);
            return;
        }
        memcpy(body, hdr, hl);
        free(hdr);
        size_t off = hl;
        for (int k = 0; k < 3; k++)
            for (int q = 0; want[k] && binary[k] && q < rows; q++)
                off += put_bytes_element(body + off, kserve_output(&o, k, q));
        set_text(res, 200, "application/octet-stream", body, off);
        snprintf(res->header_name, sizeof(res->header_name), "Inference-Header-Content-Length");
        snprintf(res->header_value, sizeof(res->header_value), "%zu", hl);
    }
    if (!res->header_name[0]) {
        snprintf(res->header_name, sizeof(res->header_name), "X-Audio-Seconds");
        snprintf(res->header_value, sizeof(res->header_value), "%.3f", o.audio_s);
    }
    kserve_rows_free(&o);
    json_decref(h);
}

size_t put_bytes_element(char *dst, const char *v)
{
    uint32_t l = (uint32_t)strlen(v);
    unsigned char b4[4] = { (unsigned char)l, (unsigned char)(l >> 8), (unsigned char)(l >> 16),
                            (unsigned char)(l >> 24) };
    memcpy(dst, b4, 4);
    memcpy(dst + 4, v, l);
    return 4 + (size_t)l;
}

/* Routes /v2/models/{name}[/versions/{v}][/ready|/config|/stats|/infer]. */
static void kserve_model(sv_server *sv, const sv_request *rq, sv_response *res)
{
    const char *p = rq->url + strlen("/v2/models/");
    const char *slash = strchr(p, '/');
    size_t nl = slash ? (size_t)(slash - p) : strlen(p);
    const char *rest = slash ? slash : "";
    if (!kserve_known_model(sv, p, nl)) {
        sv_error(res, 404, "unknown model '%.*s' (whisper, whisper_bls, infer_bls%s%s)",
                 (int)(nl < 200 ? nl : 200), p, sv->model_name ? ", " : "",
                 sv->model_name ? sv->model_name : "");
        return;
    }
    if (!strncmp(rest, "/versions/", 10)) {
        const char *v = rest + 10, *e = strchr(v, '/');
        size_t vl = e ? (size_t)(e - v) : strlen(v);
        if (vl != 1 || *v != '1') {
            sv_error(res, 404, "model '%.*s' has version 1 only", (int)nl, p);
            return;
        }
        rest = e ? e : "";
    }
    char name[256];
    snprintf(name, sizeof(name), "%.*s", (int)(nl < 200 ? nl : 200), p);
    int get = !strcmp(rq->method, "GET"), post = !strcmp(rq->method, "POST");
    if (!*rest && get) {
        set_json(res, 200, model_metadata(name));
    } else if (!strcmp(rest, "/ready") && get) {
        pthread_mutex_lock(&sv->mu);
        int draining = sv->draining;
        pthread_mutex_unlock(&sv->mu);
        set_text(res, draining ? 503 : 200, "text/plain", NULL, 0);
    } else if (!strcmp(rest, "/config") && get) {
        set_json(res, 200, model_config(name));
    } else if (!strcmp(rest, "/stats") && get) {
        pthread_mutex_lock(&sv->mu);
        uint64_t ok = sv->m.requests[0][0], n = 0;
        for (int c = 0; c < 6; c++)
            n += sv->m.requests[0][c];
        double sum = sv->m.lat_sum[0];
        pthread_mutex_unlock(&sv->mu);
        set_json(res, 200, json_pack("{s:[{s:s,s:s,s:I,s:{s:{s:I,s:I},s:{s:I,s:I}}}]}",
                                     "model_stats", "name", name, "version", "1",
                                     "inference_count", (json_int_t)ok, "inference_stats",
                                     "success", "count", (json_int_t)ok, "ns",
                                     (json_int_t)(sum * 1e9), "fail", "count",
                                     (json_int_t)(n - ok), "ns", (json_int_t)0));
    } else if (!strcmp(rest, "/infer") && post) {
        kserve_infer(sv, rq, p, nl, res); /* admitted by the HTTP layer (sv_enter) */
    } else if (!strcmp(rest, "/infer") || !strcmp(rest, "/ready") || !strcmp(rest, "/config") ||
               !strcmp(rest, "/stats") || !*rest) {
        sv_error(res, 405, "%s %s: method not allowed", rq->method, rq->url);
    } else {
        sv_error(res, 404, "no such path: %s", rq->url);
    }
}

/* ---------------------------------------------------------------- routing ------------------- */

void sv_handle(sv_server *sv, const sv_request *rq, sv_response *res)
{
    const char *u = rq->url;
    int get = !strcmp(rq->method, "GET"), post = !strcmp(rq->method, "POST");
    res->protocol = !strncmp(u, "/v1/", 4) ? 1 : !strncmp(u, "/v2", 3) ? 0 : 3;
    if (!strcmp(u, "/v2/health/live") && get) {
        set_text(res, 200, "text/plain", NULL, 0);
    } else if (!strcmp(u, "/v2/health/ready") && get) {
        pthread_mutex_lock(&sv->mu);
        int draining = sv->draining;
        pthread_mutex_unlock(&sv->mu);
        set_text(res, draining ? 503 : 200, "text/plain", NULL, 0);
    } else if ((!strcmp(u, "/v2") || !strcmp(u, "/v2/")) && get) {
        set_json(res, 200, json_pack("{s:s,s:s,s:[s,s,s]}", "name", "hark", "version",
                                     HARK_VERSION, "extensions", "binary_tensor_data",
                                     "statistics", "model_configuration"));
    } else if (!strncmp(u, "/v2/models/", 11) && u[11]) {
        kserve_model(sv, rq, res);
    } else if (!strcmp(u, "/v1/audio/transcriptions") && post) {
        openai_audio(sv, rq, 0, res);
    } else if (!strcmp(u, "/v1/audio/translations") && post) {
        openai_audio(sv, rq, 1, res);
    } else if (!strcmp(u, "/v1/models") && get) {
        json_t *data = json_array();
        const char *ids[2] = { "whisper-1", sv->model_name };
        for (int i = 0; i < 2; i++)
            if (ids[i])
                json_array_append_new(data, json_pack("{s:s,s:s,s:i,s:s}", "id", ids[i],
                                                      "object", "model", "created", 0,
                                                      "owned_by", "hark"));
        set_json(res, 200, json_pack("{s:s,s:o}", "object", "list", "data", data));
    } else if (!strcmp(u, "/v1/audio/transcriptions") || !strcmp(u, "/v1/audio/translations") ||
               !strcmp(u, "/v1/models") || !strncmp(u, "/v2/health/", 11) || !strcmp(u, "/v2")) {
        if (res->protocol == 1)
            openai_error(res, 405, "%s %s: method not allowed", rq->method, u);
        else
            sv_error(res, 405, "%s %s: method not allowed", rq->method, u);
    } else if (res->protocol == 1) {
        openai_error(res, 404, "no such path: %s", u);
    } else {
        sv_error(res, 404, "no such path: %s", u);
    }
}
