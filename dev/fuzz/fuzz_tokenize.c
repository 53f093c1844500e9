/* libFuzzer target: the tokenizer (src/text: PCRE2 pre-split, byte-level BPE over the
 * multilingual vocabulary) on arbitrary text, with its round-trip property: the bytes of the ids
 * of a text are the text, after invalid UTF-8 is replaced by U+FFFD (as the tokenizer does,
 * Python's errors="replace"). The vocabulary comes from a random nano-test model written once. */
#include "hark.h"
#include "text/utf8.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static hark_model *model(void)
{
    static hark_model *m;
    static int tried;
    if (tried)
        return m;
    tried = 1;
    char path[64];
    snprintf(path, sizeof(path), "/tmp/hark-fuzz-tok-%d.hark", (int)getpid());
    hark_model_params mp = hark_model_default_params();
    mp.device = "cpu";
    if (hark_convert_random("nano-test", 1, path, NULL) != HARK_OK ||
        hark_model_load(path, &mp, &m) != HARK_OK) {
        fprintf(stderr, "fuzz_tokenize: no model: %s\n", hark_last_error());
        m = NULL;
    }
    unlink(path);
    return m;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hark_model *m = model();
    if (!m || size > 1 << 16)
        return 0;
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = 0;
    /* the C string ends at the first NUL; want: it with U+FFFD for invalid UTF-8 */
    char *want = malloc(3 * strlen(text) + 1);
    if (!want) {
        free(text);
        return 0;
    }
    const size_t len = hark_utf8_replace((const uint8_t *)text, strlen(text), want);
    int n = hark_tokenize(m, text, NULL, 0);
    if (n >= 0) {
        int32_t *ids = malloc(((size_t)n + 1) * sizeof(int32_t));
        char *back = malloc(len + 1);
        if (ids && back && hark_tokenize(m, text, ids, n) == n) {
            size_t at = 0;
            for (int i = 0; i < n; i++) {
                const char *b;
                int nb = hark_token_bytes(m, ids[i], &b);
                if (nb < 0 || at + (size_t)nb > len) {
                    fprintf(stderr, "token %d (id %d): %d bytes past the text's %zu\n", i, ids[i],
                            nb, len);
                    abort();
                }
                memcpy(back + at, b, (size_t)nb);
                at += (size_t)nb;
            }
            if (at != len || memcmp(back, want, len) != 0) {
                fprintf(stderr, "round trip: %zu bytes back for %zu\n", at, len);
                abort();
            }
        }
        free(ids);
        free(back);
    }
    free(want);
    free(text);
    return 0;
}
