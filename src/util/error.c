/* error.c — status names, the thread-local error detail and the log sink. */
#include "util/util.h"

#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <time.h>

static _Thread_local char err_detail[1024];

const char *hark_status_str(hark_status status)
{
    switch (status) {
    case HARK_OK: return "HARK_OK";
    case HARK_ERR_INVALID_ARG: return "HARK_ERR_INVALID_ARG";
    case HARK_ERR_NOMEM: return "HARK_ERR_NOMEM";
    case HARK_ERR_IO: return "HARK_ERR_IO";
    case HARK_ERR_FORMAT: return "HARK_ERR_FORMAT";
    case HARK_ERR_UNSUPPORTED: return "HARK_ERR_UNSUPPORTED";
    case HARK_ERR_AUDIO: return "HARK_ERR_AUDIO";
    case HARK_ERR_BACKEND: return "HARK_ERR_BACKEND";
    case HARK_ERR_NOT_FOUND: return "HARK_ERR_NOT_FOUND";
    case HARK_ERR_TOKENIZER: return "HARK_ERR_TOKENIZER";
    case HARK_ERR_CAPACITY: return "HARK_ERR_CAPACITY";
    }
    return "HARK_ERR_UNKNOWN";
}

const char *hark_last_error(void) { return err_detail; }

void hark_clear_error(void) { err_detail[0] = '\0'; }

hark_status hark_fail(hark_status status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err_detail, sizeof(err_detail), fmt, ap);
    va_end(ap);
    return status;
}

hark_status hark_fail_prefix(hark_status status, const char *fmt, ...)
{
    char old[sizeof(err_detail)];
    memcpy(old, err_detail, sizeof(old));
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(err_detail, sizeof(err_detail), fmt, ap);
    va_end(ap);
    if (n < 0)
        return status;
    size_t len = (size_t)n < sizeof(err_detail) ? (size_t)n : sizeof(err_detail) - 1;
    const char *parts[2] = { ": ", old };
    for (int p = 0; p < 2; p++)
        for (const char *c = parts[p]; *c && len + 1 < sizeof(err_detail); c++)
            err_detail[len++] = *c;
    err_detail[len] = '\0';
    return status;
}

static void default_sink(int level, const char *message, void *user)
{
    (void)user;
    if (level <= HARK_LOG_WARN)
        fprintf(stderr, "hark: %s%s\n", level == HARK_LOG_ERROR ? "error: " : "warning: ", message);
}

static hark_log_fn log_fn = default_sink;
static void *log_user;

void hark_log_set(hark_log_fn fn, void *user)
{
    log_fn = fn;
    log_user = user;
}

void hark_log(int level, const char *fmt, ...)
{
    if (!log_fn)
        return;
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    log_fn(level, buf, log_user);
}

double hark_time_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void hark_free(void *ptr) { free(ptr); }
