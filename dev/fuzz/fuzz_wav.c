/* libFuzzer target: the WAV reader (src/audio/wav.c) on arbitrary bytes. */
#include "audio/audio.h"
#include "hark.h"

#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    float *pcm = NULL;
    size_t n = 0;
    int rate = 0;
    if (hark_wav_decode(data, size, &pcm, &n, &rate) == HARK_OK) {
        volatile float sum = 0.0f; /* every decoded sample is read */
        for (size_t i = 0; i < n; i++)
            sum += pcm[i];
    }
    hark_free(pcm);
    return 0;
}
