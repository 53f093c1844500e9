/*
 * util.h — small helpers the whole library shares: errors with a thread-local detail, logging,
 * file mapping, half-precision conversion.
 */
#ifndef HARK_UTIL_H
#define HARK_UTIL_H

#include "hark.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__)
#define HARK_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define HARK_PRINTF(a, b)
#endif

/* Records a printf-style detail for hark_last_error() and returns status, so that a failure is
 * one line: `return hark_fail(HARK_ERR_FORMAT, "%s: truncated", path);` */
hark_status hark_fail(hark_status status, const char *fmt, ...) HARK_PRINTF(2, 3);
/* Prefixes the current detail: "ctx: <old detail>". Returns status. */
hark_status hark_fail_prefix(hark_status status, const char *fmt, ...) HARK_PRINTF(2, 3);
void hark_clear_error(void);

/* Returns from the calling function with expr's status unless it is HARK_OK. */
#define HARK_TRY(expr)                                                                          \
    do {                                                                                        \
        hark_status try_st_ = (expr);                                                           \
        if (try_st_ != HARK_OK)                                                                 \
            return try_st_;                                                                     \
    } while (0)

void hark_log(int level, const char *fmt, ...) HARK_PRINTF(2, 3);
#define HARK_LOG_ERROR 0
#define HARK_LOG_WARN 1
#define HARK_LOG_INFO 2
#define HARK_LOG_DEBUG 3

/* A read-only view of a whole file, mmapped when possible. */
typedef struct hark_file_map {
    const uint8_t *data;
    size_t size;
    int mapped; /* 1: munmap on release; 0: free */
} hark_file_map;

/* Maps path read-only. Fails with HARK_ERR_IO naming the path and the system error. */
hark_status hark_map_file(const char *path, hark_file_map *map);
void hark_unmap_file(hark_file_map *map);

/* Reads a whole file (or stdin for "-") into a malloc'd buffer (NUL-terminated for
 * convenience; *size excludes the NUL). */
hark_status hark_read_file(const char *path, uint8_t **data, size_t *size);
/* Writes size bytes to path atomically enough for our use (path.tmp then rename). */
hark_status hark_write_file(const char *path, const void *data, size_t size);

/* IEEE half and bfloat16 conversions, round to nearest even. */
float hark_f16_to_f32(uint16_t h);
uint16_t hark_f32_to_f16(float f);
float hark_bf16_to_f32(uint16_t h);
uint16_t hark_f32_to_bf16(float f);
void hark_f16_to_f32_row(const uint16_t *src, float *dst, size_t n);
void hark_bf16_to_f32_row(const uint16_t *src, float *dst, size_t n);

/* Monotonic clock in seconds. */
double hark_time_s(void);

#endif
