/*
 * serve_openai.c — OpenAI's audio API in hark serve: POST /v1/audio/transcriptions and
 * /v1/audio/translations (multipart: file, model, language, prompt, response_format
 * json|text|srt|vtt|verbose_json, temperature, timestamp_granularities[], stream).
 * ref: the OpenAI audio API reference.
 */
#define _POSIX_C_SOURCE 200809L
#include "serve_job.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

/* ---------------------------------------------------------------- OpenAI -------------------- */

static const sv_field *field(const sv_request *rq, const char *name)
{
    for (int i = 0; i < rq->n_fields; i++)
        if (!strcmp(rq->fields[i].name, name))
            return &rq->fields[i];
    return NULL;
}

void openai_audio(sv_server *sv, const sv_request *rq, int translate, sv_response *res)
{
    res->protocol = 1;
    if (!rq->content_type || strncasecmp(rq->content_type, "multipart/form-data", 19) != 0) {
        openai_error(res, 400, "expected a multipart/form-data body");
        return;
    }
    const sv_field *file = field(rq, "file");
    if (!file || file->len == 0) {
        openai_error(res, 400, "missing the 'file' field (the audio file)");
        return;
    }
    const sv_field *fmt_f = field(rq, "response_format"), *lang = field(rq, "language");
    const sv_field *prompt = field(rq, "prompt"), *temp = field(rq, "temperature");
    const sv_field *stream = field(rq, "stream");
    sv_job j = { .sv = sv, .rq = rq, .translate = translate };
    j.p = hark_full_default_params();
    j.p.beam_size = sv->beam_size;
    j.p.temperature_increment = sv->temperature_increment;
    j.p.max_tokens = sv->max_tokens;
    j.p.suppress_eot = sv->suppress_eot;
    j.p.translate = translate;
    const char *fmt = fmt_f ? fmt_f->value : "json";
    if (!strcmp(fmt, "text")) {
        j.openai_text = 1;
    } else if (!strcmp(fmt, "json") || !strcmp(fmt, "srt") || !strcmp(fmt, "vtt") ||
               !strcmp(fmt, "verbose_json")) {
        j.render = 1;
        hark_out_format_parse(fmt, &j.fmt);
    } else {
        openai_error(res, 400, "response_format '%s': json, text, srt, vtt or verbose_json", fmt);
        return;
    }
    int streaming = stream && (!strcmp(stream->value, "true") || !strcmp(stream->value, "1"));
    if (lang && *lang->value && !translate) {
        int li = hark_language_find(lang->value);
        if (li < 0) {
            openai_error(res, 400, "language '%s': not a language Whisper knows", lang->value);
            return;
        }
        j.p.language = hark_language_code(li);
    }
    if (prompt && *prompt->value)
        j.p.initial_prompt = prompt->value;
    if (temp && *temp->value) {
        char *end;
        double t = strtod(temp->value, &end);
        if (*end || !(t >= 0.0 && t <= 1.0)) {
            openai_error(res, 400, "temperature '%s': a number from 0 to 1", temp->value);
            return;
        }
        j.p.temperature = (float)t;
    }
    for (int i = 0; i < rq->n_fields; i++) {
        const sv_field *f = &rq->fields[i];
        if (strcmp(f->name, "timestamp_granularities[]") &&
            strcmp(f->name, "timestamp_granularities"))
            continue;
        if (!strcmp(f->value, "word")) {
            j.p.word_timestamps = 1;
        } else if (strcmp(f->value, "segment") != 0) {
            openai_error(res, 400, "timestamp_granularities: 'word' or 'segment', not '%s'",
                         f->value);
            return;
        }
    }
    if (j.p.word_timestamps && !(j.render && j.fmt == HARK_OUT_VERBOSE_JSON)) {
        openai_error(res, 400, "timestamp_granularities needs response_format=verbose_json");
        return;
    }
    hark_status st = hark_audio_decode(file->value, file->len, &j.pcm, &j.n);
    if (st != HARK_OK) {
        openai_error(res, 400, "the audio file could not be decoded: %s", hark_last_error());
        return;
    }
    if (streaming) { /* server-sent events: a delta per segment, then the whole text */
        const double secs = (double)j.n / 16000.0; /* the stream takes the job */
        sv_stream *ss = stream_start(&j, rq);
        if (!ss) {
            openai_error(res, 500, "cannot start the transcription");
            job_free(&j);
            return;
        }
        res->status = 200;
        res->type = "text/event-stream";
        res->stream = ss;
        snprintf(res->header_name, sizeof(res->header_name), "X-Audio-Seconds");
        snprintf(res->header_value, sizeof(res->header_value), "%.3f", secs);
        return;
    }
    job_run(&j); /* admitted by the HTTP layer (sv_enter) */
    if (j.st != HARK_OK) {
        openai_error(res, job_status(&j), "%s", j.cancelled == 1 ? "request timeout" : j.err);
    } else {
        const char *type = j.openai_text ? "text/plain; charset=utf-8"
                                         : hark_out_format_mime(j.fmt);
        set_text(res, 200, type, j.rendered, j.rendered_len);
        j.rendered = NULL;
        snprintf(res->header_name, sizeof(res->header_name), "X-Audio-Seconds");
        snprintf(res->header_value, sizeof(res->header_value), "%.3f", (double)j.n / 16000.0);
    }
    job_free(&j);
}

