/* golden.h — small helpers the golden-comparing tests share (jansson arrays, argmax, the
 * long-form audio). */
#ifndef HARK_TEST_GOLDEN_H
#define HARK_TEST_GOLDEN_H

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Copies up to max integers of a JSON array into out; returns how many. */
static inline int json_ints(json_t *arr, int32_t *out, int max)
{
    int n = 0;
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v)
    {
        if (n < max)
            out[n++] = (int32_t)json_integer_value(v);
    }
    return n;
}

/* Index of the largest of x[0..n) (the first on ties). */
static inline int argmax_f(const float *x, int n)
{
    int b = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[b])
            b = i;
    return b;
}

/* The long-form audio of the goldens (dev/reference/make_goldens.py decode, openai_goldens.py):
 * jfk, 8000 zero samples, jfk reversed, jfk (33.5 s). malloc'd; *out_n its length. */
static inline float *golden_long_audio(const float *jfk, size_t n, size_t *out_n)
{
    size_t total = 3 * n + 8000;
    float *a = (float *)calloc(total, sizeof(float));
    if (!a)
        return NULL;
    memcpy(a, jfk, n * sizeof(float));
    for (size_t i = 0; i < n; i++)
        a[n + 8000 + i] = jfk[n - 1 - i];
    memcpy(a + 2 * n + 8000, jfk, n * sizeof(float));
    *out_n = total;
    return a;
}

#endif
