/*
 * download.h — fetching official Whisper checkpoints by name: an HTTP(S) download layer on
 * libcurl (resume from a .part file, timeouts, progress, sha256 check before the file is put in
 * place), the table of official model names, and the local model cache.
 *
 * What it is not: a general HTTP client, or a model loader. A download ends as an OpenAI .pt in
 * the cache; hark_convert turns it into hark's file next to it.
 *
 * Cache layout: <cache>/<name>.pt (the checked download) and <cache>/<name>.hark (converted),
 * where <cache> is $HARK_CACHE_DIR, else $XDG_CACHE_HOME/hark, else ~/.cache/hark.
 *
 * Threading: every function may be called from any thread; errors go to the calling thread's
 * hark_last_error(). Only this header is meant for tools (it includes nothing internal).
 */
#ifndef HARK_DOWNLOAD_H
#define HARK_DOWNLOAD_H

#include "hark.h"

#include <stddef.h>
#include <stdint.h>

/* ---------------------------------------------------------------- fetch layer ---------------- */

/* Progress of one download: done bytes of total (total 0 while unknown), both counting bytes that
 * an earlier, resumed attempt already fetched. Return non-zero to cancel the download (the .part
 * file is kept for a later resume). */
typedef int (*hark_download_progress_fn)(uint64_t done, uint64_t total, void *user);

typedef struct hark_download_params {
    const char *sha256;           /* expected lowercase or uppercase hex digest; NULL: no check */
    long connect_timeout_s;       /* give up connecting after this (default 15) */
    long low_speed_bytes;         /* abort when slower than this many bytes/s ... (default 1024) */
    long low_speed_time_s;        /* ... for this many seconds (default 60) */
    hark_download_progress_fn progress; /* NULL: none */
    void *progress_user;
} hark_download_params;

hark_download_params hark_download_default_params(void);

/* Downloads url into dest_path. Bytes go to "<dest_path>.part" first; an existing .part is
 * resumed with an HTTP Range request (a server that ignores Range restarts it). When the transfer
 * is complete and params->sha256 is set, the file's sha256 must match; on a mismatch the .part is
 * deleted and the error names both digests. Only a complete, checked file is renamed to
 * dest_path. The folder of dest_path must exist. params NULL means the defaults.
 * Errors: HARK_ERR_IO for network trouble (cannot connect, too slow, connection closed early:
 * the .part is kept so that a later call resumes) and for local files; HARK_ERR_NOT_FOUND for
 * HTTP 404/410; HARK_ERR_FORMAT for a sha256 mismatch; HARK_ERR_INVALID_ARG for bad arguments. */
hark_status hark_download_file(const char *url, const char *dest_path,
                               const hark_download_params *params);

/* Writes the lowercase hex sha256 of a file (65 bytes with the NUL) into hex. */
hark_status hark_sha256_file(const char *path, char hex[65]);

/* ---------------------------------------------------------------- official models ------------ */

/* The official OpenAI checkpoints (ref: openai/whisper whisper/__init__.py _MODELS). */
typedef struct hark_known_model {
    const char *name;   /* canonical name: "tiny.en", ..., "large-v3-turbo" */
    const char *sha256; /* sha256 of the .pt, also the second-to-last part of its URL path */
} hark_known_model;

#define HARK_MODEL_BASE_URL "https://openaipublic.azureedge.net/main/whisper/models"

/* Looks up an official name or alias ("large" = large-v3, "turbo" = large-v3-turbo). Returns
 * NULL for anything else. */
const hark_known_model *hark_known_model_find(const char *name);
/* The i-th official model (0 <= i < hark_known_model_count()), canonical names only. */
int hark_known_model_count(void);
const hark_known_model *hark_known_model_at(int i);
/* Writes "<base_url>/<sha256>/<name>.pt" into out. base_url NULL means $HARK_MODEL_BASE_URL
 * when set, else HARK_MODEL_BASE_URL. HARK_ERR_CAPACITY when out is too small. */
hark_status hark_known_model_url(const hark_known_model *model, const char *base_url, char *out,
                                 size_t cap);

/* ---------------------------------------------------------------- cache ---------------------- */

/* Writes the cache folder ($HARK_CACHE_DIR, else $XDG_CACHE_HOME/hark, else $HOME/.cache/hark)
 * into out; it is not created. HARK_ERR_NOT_FOUND when none of those variables is set. */
hark_status hark_cache_dir(char *out, size_t cap);

typedef struct hark_fetch_params {
    const char *cache_dir;        /* NULL: hark_cache_dir() */
    const char *base_url;         /* NULL: see hark_known_model_url */
    int force;                    /* fetch and convert again even when cached */
    hark_download_params download; /* sha256 is filled in from the model table */
    hark_convert_params convert;
} hark_fetch_params;

hark_fetch_params hark_fetch_default_params(void);

/* Makes sure the official model `name` is in the cache as hark's file and writes that file's
 * path into out_path: creates the cache folder, downloads <name>.pt unless a copy with the right
 * sha256 is there (a copy with a wrong one is downloaded again), and converts it to <name>.hark
 * (written to a temporary name and renamed). An existing .hark is returned as is unless
 * params->force. HARK_ERR_NOT_FOUND for an unknown name; other errors as hark_download_file
 * and hark_convert. */
hark_status hark_model_fetch(const char *name, const hark_fetch_params *params, char *out_path,
                             size_t cap);

/* Turns what a user passed as a model (-m) into a file path: an existing path wins; else an
 * official name found in the cache (<name>.hark, or a checked <name>.pt converted now); else,
 * when allow_download, hark_model_fetch with the defaults; else HARK_ERR_NOT_FOUND with a detail
 * that says what to do (`hark download NAME`, or pass a path). */
hark_status hark_model_resolve(const char *name_or_path, char *out_path, size_t cap,
                               int allow_download);

#endif /* HARK_DOWNLOAD_H */
