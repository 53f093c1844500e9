/* libFuzzer target: the WER text normalizers (tools/normalize.c, tools/normalize_en.c: the
 * basic one, and the English one with its number and spelling rules) on arbitrary bytes. */
#include "normalize.h"
#include "normalize_en.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static en_norm *en;
    static int tried;
    if (!tried) {
        char err[256];
        tried = 1;
        en = en_norm_new(HARK_ASSETS_DIR "/english.json", err, sizeof(err));
        if (!en)
            fprintf(stderr, "fuzz_normalize: %s (English normalizer left out)\n", err);
    }
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = 0;
    free(normalize_basic(text, 1));
    free(normalize_basic(text, 0));
    if (en)
        free(en_normalize(en, text));
    free(text);
    return 0;
}
