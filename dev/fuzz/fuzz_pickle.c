/* libFuzzer target: the .pt readers (src/model/zip.c, src/model/pickle.c) on arbitrary bytes:
 * the bytes as a zip archive, then each of its entries and the bytes themselves as a pickle. */
#include "hark.h"
#include "model/pt_internal.h"

#include <stddef.h>
#include <stdint.h>

static void pickle(const uint8_t *data, size_t size)
{
    pk_vm *vm = NULL;
    pk_obj *root = NULL;
    (void)hark_pickle_load("fuzz", data, size, &vm, &root);
    hark_pickle_free(vm);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hark_zip z;
    if (hark_zip_open("fuzz", data, size, &z) == HARK_OK) {
        for (int i = 0; i < z.n; i++) /* every stored entry (the reader checked its range) */
            if (z.e[i].method == 0)
                pickle(data + z.e[i].offset, (size_t)z.e[i].size);
        hark_zip_free(&z);
    }
    pickle(data, size);
    return 0;
}
