/* golden.h — small helpers the golden-comparing tests share (jansson arrays, argmax). */
#ifndef HARK_TEST_GOLDEN_H
#define HARK_TEST_GOLDEN_H

#include <jansson.h>
#include <stdint.h>

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

#endif
