/*
 * models.c — the table of official Whisper checkpoints: names, aliases and the sha256 that both
 * names their URL and checks the download.
 *
 * ref: openai/whisper whisper/__init__.py _MODELS (commit c0d2f62): every URL is
 * https://openaipublic.azureedge.net/main/whisper/models/<sha256>/<name>.pt, with "large" an
 * alias of large-v3 and "turbo" of large-v3-turbo; _download takes the digest from the
 * second-to-last path component.
 */
#include "download/download.h"
#include "util/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const hark_known_model known_models[] = {
    { "tiny.en", "d3dd57d32accea0b295c96e26691aa14d8822fac7d9d27d5dc00b4ca2826dd03" },
    { "tiny", "65147644a518d12f04e32d6f3b26facc3f8dd46e5390956a9424a650c0ce22b9" },
    { "base.en", "25a8566e1d0c1e2231d1c762132cd20e0f96a85d16145c3a00adf5d1ac670ead" },
    { "base", "ed3a0b6b1c0edf879ad9b11b1af5a0e6ab5db9205f891f668f8b0e6c6326e34e" },
    { "small.en", "f953ad0fd29cacd07d5a9eda5624af0f6bcf2258be67c92b79389873d91e0872" },
    { "small", "9ecf779972d90ba49c06d968637d720dd632c55bbf19d441fb42bf17a411e794" },
    { "medium.en", "d7440d1dc186f76616474e0ff0b3b6b879abc9d1a4926b7adfa41db2d497ab4f" },
    { "medium", "345ae4da62f9b3d59415adc60127b97c714f32e89e936602e85993674d08dcb1" },
    { "large-v1", "e4b87e7e0bf463eb8e6956e646f1e277e901512310def2c24bf0e11bd3c28e9a" },
    { "large-v2", "81f7c96c852ee8fc832187b0132e569d6c3065a3252ed18e56effd0b6a73e524" },
    { "large-v3", "e5b1a55b89c1367dacf97e3e19bfd829a01529dbfdeefa8caeb59b3f1b81dadb" },
    { "large-v3-turbo", "aff26ae408abcba5fbf8813c21e62b0941638c5f6eebfb145be0c9839262a19a" },
};

static const struct {
    const char *alias, *name;
} model_aliases[] = {
    { "large", "large-v3" },
    { "turbo", "large-v3-turbo" },
};

#define N_KNOWN ((int)(sizeof(known_models) / sizeof(known_models[0])))

const hark_known_model *hark_known_model_find(const char *name)
{
    if (!name)
        return NULL;
    for (size_t i = 0; i < sizeof(model_aliases) / sizeof(model_aliases[0]); i++)
        if (!strcmp(name, model_aliases[i].alias))
            name = model_aliases[i].name;
    for (int i = 0; i < N_KNOWN; i++)
        if (!strcmp(name, known_models[i].name))
            return &known_models[i];
    return NULL;
}

int hark_known_model_count(void)
{
    return N_KNOWN;
}

const hark_known_model *hark_known_model_at(int i)
{
    return i >= 0 && i < N_KNOWN ? &known_models[i] : NULL;
}

hark_status hark_known_model_url(const hark_known_model *model, const char *base_url, char *out,
                                 size_t cap)
{
    if (!model || !out || !cap)
        return hark_fail(HARK_ERR_INVALID_ARG, "hark_known_model_url: NULL argument");
    if (!base_url || !*base_url)
        base_url = getenv("HARK_MODEL_BASE_URL");
    if (!base_url || !*base_url)
        base_url = HARK_MODEL_BASE_URL;
    size_t len = strlen(base_url);
    while (len > 0 && base_url[len - 1] == '/')
        len--;
    int n = snprintf(out, cap, "%.*s/%s/%s.pt", (int)len, base_url, model->sha256, model->name);
    if (n < 0 || (size_t)n >= cap)
        return hark_fail(HARK_ERR_CAPACITY, "%s: URL longer than %zu bytes", model->name, cap);
    return HARK_OK;
}
