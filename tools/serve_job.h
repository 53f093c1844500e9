/*
 * serve_job.h — private to hark serve's protocol files (serve_job.c, serve_api.c,
 * serve_openai.c): one transcription as a job (its parameters and results), jobs run together
 * on the batch engine, OpenAI's server-sent event streams, and the response helpers.
 */
#ifndef HARK_SERVE_JOB_H
#define HARK_SERVE_JOB_H

#include "serve.h"
#include "transcribe_output.h"

#include <jansson.h>

#define MAX_ROWS 256 /* rows of one KServe request */

typedef struct sv_job sv_job;
struct sv_job {
    sv_server *sv;
    const sv_request *rq;
    float *pcm; /* owned */
    size_t n;
    hark_full_params p;
    int translate;
    int render;           /* also render `fmt` */
    hark_out_format fmt;
    int openai_text;      /* render the OpenAI "text" format (the text and a line break) */
    sv_stream *stream;    /* server-sent events of the segments as they come (OpenAI stream) */
    /* results */
    hark_status st;
    char err[600];
    int cancelled; /* 1: timeout, 2: client gone */
    char *text, *language, *rendered;
    size_t rendered_len;
};

/* A job's transcription, on a batch state of the least busy engine (a pthread entry point). */
void *job_run(void *arg);
/* Runs the jobs together (a thread each beyond the first: their steps share engine rounds). */
void run_jobs(sv_job *jobs, int n);
void job_free(sv_job *j);
/* The HTTP status of a failed job. */
int job_status(const sv_job *j);
/* Starts the job on its own thread, its segments streamed; takes the job (pcm included). */
sv_stream *stream_start(sv_job *j, const sv_request *rq);

/* Response bodies: JSON (j taken), text (body taken), and an error in the OpenAI API's shape. */
void set_json(sv_response *res, int status, json_t *j);
void set_text(sv_response *res, int status, const char *type, char *body, size_t len);
void openai_error(sv_response *res, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* serve_openai.c: POST /v1/audio/transcriptions (translate 0) and /translations (1). */
void openai_audio(sv_server *sv, const sv_request *rq, int translate, sv_response *res);

#endif
