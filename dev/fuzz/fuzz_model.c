/* libFuzzer target: loading a model file (hark / safetensors, whisper.cpp ggml, OpenAI .pt: the
 * format is told by its content) from arbitrary bytes on the CPU; a model that loads is used
 * once (its tokenizer both ways). The bytes go through a memfd, the loader
 * reading a path as a user's file. */
#define _GNU_SOURCE
#include "hark.h"

#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int fd = -1;
    if (fd < 0 && (fd = memfd_create("hark-fuzz-model", 0)) < 0)
        return 0;
    if (ftruncate(fd, 0) != 0 || pwrite(fd, data, size, 0) != (ssize_t)size)
        return 0;
    char path[64];
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    hark_model_params mp = hark_model_default_params();
    mp.device = "cpu";
    mp.n_threads = 1;
    hark_model *m = NULL;
    if (hark_model_load(path, &mp, &m) == HARK_OK) {
        hark_model_dims d = hark_model_get_dims(m);
        const char *bytes;
        for (int id = 0; id < d.n_vocab && id < 300; id += 37)
            (void)hark_token_bytes(m, id, &bytes);
        int32_t ids[64];
        (void)hark_tokenize(m, "And so my fellow Americans", ids, 64);
        hark_model_free(m);
    }
    return 0;
}
