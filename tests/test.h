/*
 * test.h — the tiny test harness every test program uses. CHECK records a failure and goes on;
 * TEST_MAIN_END prints "N passed, N failed" last and returns non-zero on any failure.
 */
#ifndef HARK_TEST_H
#define HARK_TEST_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int test_passed, test_failed;

#define CHECK(cond, ...)                                                                        \
    do {                                                                                        \
        if (cond) {                                                                             \
            test_passed++;                                                                      \
        } else {                                                                                \
            test_failed++;                                                                      \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);                     \
            fprintf(stderr, __VA_ARGS__);                                                       \
            fputc('\n', stderr);                                                                \
        }                                                                                       \
    } while (0)

#define CHECK_OK(expr)                                                                          \
    do {                                                                                        \
        hark_status st_ = (expr);                                                               \
        CHECK(st_ == HARK_OK, "%s -> %s (%s)", #expr, hark_status_str(st_), hark_last_error()); \
    } while (0)

#define TEST_MAIN_END()                                                                         \
    do {                                                                                        \
        printf("%d passed, %d failed\n", test_passed, test_failed);                             \
        return test_failed ? 1 : 0;                                                             \
    } while (0)

/* Paths: the source tree (tests/data, assets, samples) and the shared data beside the project
 * (HARK_SHARED overrides; tests that need it skip cleanly when it is absent). */
static inline const char *test_src(const char *rel, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s/%s", HARK_SOURCE_DIR, rel);
    return buf;
}

static inline const char *test_shared(const char *rel, char *buf, size_t cap)
{
    const char *root = getenv("HARK_SHARED");
    if (root)
        snprintf(buf, cap, "%s/%s", root, rel);
    else
        snprintf(buf, cap, "%s/../shared/%s", HARK_SOURCE_DIR, rel);
    return buf;
}

/* Relative L2 error ||a - b|| / ||b|| in double. */
static inline double test_rel_l2(const float *a, const float *b, size_t n)
{
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)a[i] - (double)b[i];
        num += d * d;
        den += (double)b[i] * (double)b[i];
        if (a[i] != a[i])
            return INFINITY;
    }
    return den > 0 ? sqrt(num / den) : sqrt(num);
}

#endif
