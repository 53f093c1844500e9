/*
 * cache.c — the local model cache: where downloads live, fetching an official model into it
 * (download, sha256 check, conversion to hark's file), and resolving what a user passed as -m
 * (a path, or an official name) to a file.
 *
 * Layout: <cache>/<name>.pt is the official checkpoint, kept after conversion so that a new
 * hark version can convert again without the network; <cache>/<name>.hark is what gets loaded.
 * <cache> is $HARK_CACHE_DIR, else $XDG_CACHE_HOME/hark (XDG Base Directory spec: only an
 * absolute path counts), else $HOME/.cache/hark.
 */
#include "download/download.h"
#include "util/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum { PATH_CAP = 4096 };

static hark_status put_path(char *out, size_t cap, const char *what, const char *fmt, ...)
    HARK_PRINTF(4, 5);

static hark_status put_path(char *out, size_t cap, const char *what, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out, cap, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= cap)
        return hark_fail(HARK_ERR_CAPACITY, "%s: path longer than %zu bytes", what, cap);
    return HARK_OK;
}

hark_status hark_cache_dir(char *out, size_t cap)
{
    if (!out || !cap)
        return hark_fail(HARK_ERR_INVALID_ARG, "hark_cache_dir: NULL buffer");
    const char *dir = getenv("HARK_CACHE_DIR");
    if (dir && *dir)
        return put_path(out, cap, "HARK_CACHE_DIR", "%s", dir);
    dir = getenv("XDG_CACHE_HOME");
    if (dir && dir[0] == '/')
        return put_path(out, cap, "XDG_CACHE_HOME", "%s/hark", dir);
    dir = getenv("HOME");
    if (dir && *dir)
        return put_path(out, cap, "HOME", "%s/.cache/hark", dir);
    return hark_fail(HARK_ERR_NOT_FOUND, "no cache folder: set HARK_CACHE_DIR (or HOME)");
}

/* mkdir -p */
static hark_status make_dirs(const char *dir)
{
    char buf[PATH_CAP];
    hark_status st = put_path(buf, sizeof(buf), dir, "%s", dir);
    if (st != HARK_OK)
        return st;
    for (char *p = buf + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char c = *p;
        *p = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST)
            return hark_fail(HARK_ERR_IO, "%s: cannot create the cache folder: %s", buf,
                             strerror(errno));
        *p = c;
        if (!c)
            break;
    }
    struct stat sb;
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return hark_fail(HARK_ERR_IO, "%s: not a folder", dir);
    return HARK_OK;
}

static int file_exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

hark_fetch_params hark_fetch_default_params(void)
{
    return (hark_fetch_params){
        .cache_dir = NULL,
        .base_url = NULL,
        .force = 0,
        .download = hark_download_default_params(),
        .convert = hark_convert_default_params(),
    };
}

/* Lists the official names into buf for error messages. */
static const char *known_names(char *buf, size_t cap)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < hark_known_model_count() && used < cap; i++) {
        int n = snprintf(buf + used, cap - used, "%s%s", i ? " " : "", hark_known_model_at(i)->name);
        if (n < 0)
            break;
        used += (size_t)n;
    }
    return buf;
}

/* Checks a cached .pt against the table. *ok is 1 on a match; a mismatch is logged. */
static hark_status check_cached_pt(const hark_known_model *m, const char *pt, int *ok)
{
    char hex[65];
    hark_status st = hark_sha256_file(pt, hex);
    if (st != HARK_OK)
        return st;
    *ok = strcmp(hex, m->sha256) == 0;
    if (!*ok)
        hark_log(HARK_LOG_WARN, "%s: sha256 %s is not the official %s (%s)", pt, hex, m->name,
                 m->sha256);
    return HARK_OK;
}

/* Converts pt to hark through a temporary name, so that a .hark in the cache is always whole. */
static hark_status convert_into_cache(const hark_known_model *m, const char *pt, const char *hark,
                                      const hark_convert_params *cp_in)
{
    char tmp[PATH_CAP];
    hark_status st = put_path(tmp, sizeof(tmp), hark, "%s.tmp", hark);
    if (st != HARK_OK)
        return st;
    hark_convert_params cp = *cp_in;
    if (!cp.arch_name)
        cp.arch_name = m->name;
    st = hark_convert(pt, tmp, &cp);
    if (st != HARK_OK) {
        unlink(tmp);
        return hark_fail_prefix(st, "converting %s", pt);
    }
    if (rename(tmp, hark) != 0) {
        st = hark_fail(HARK_ERR_IO, "cannot rename %s to %s: %s", tmp, hark, strerror(errno));
        unlink(tmp);
    }
    return st;
}

/* hark_model_fetch, or with offline set the same without the network: a needed download
 * becomes a HARK_ERR_NOT_FOUND that says what to run. */
static hark_status fetch(const char *name, const hark_fetch_params *p, int offline,
                         char *out_path, size_t cap)
{
    char names[256];
    const hark_known_model *m = hark_known_model_find(name);
    if (!m)
        return hark_fail(HARK_ERR_NOT_FOUND, "'%s' is not an official model name (%s, large, "
                         "turbo)", name, known_names(names, sizeof(names)));
    char dir[PATH_CAP], pt[PATH_CAP], hark[PATH_CAP];
    hark_status st = p->cache_dir ? put_path(dir, sizeof(dir), "cache", "%s", p->cache_dir)
                                  : hark_cache_dir(dir, sizeof(dir));
    if (st == HARK_OK)
        st = put_path(pt, sizeof(pt), dir, "%s/%s.pt", dir, m->name);
    if (st == HARK_OK)
        st = put_path(hark, sizeof(hark), dir, "%s/%s.hark", dir, m->name);
    if (st == HARK_OK && !p->force && file_exists(hark))
        return put_path(out_path, cap, hark, "%s", hark);
    if (st == HARK_OK && !offline)
        st = make_dirs(dir);
    if (st != HARK_OK)
        return st;

    int have_pt = 0;
    if (!p->force && file_exists(pt) && (st = check_cached_pt(m, pt, &have_pt)) != HARK_OK)
        return st;
    if (!have_pt && offline)
        return hark_fail(HARK_ERR_NOT_FOUND, "model '%s' is not in the cache (%s%s): run `hark "
                         "download %s`, or pass the path of a model file", name, pt,
                         file_exists(pt) ? " has the wrong sha256" : " is absent", m->name);
    if (!have_pt) {
        char url[PATH_CAP];
        if ((st = hark_known_model_url(m, p->base_url, url, sizeof(url))) != HARK_OK)
            return st;
        if (p->force) {
            char part[PATH_CAP];
            if (put_path(part, sizeof(part), pt, "%s.part", pt) == HARK_OK)
                unlink(part);
        }
        hark_download_params dp = p->download;
        dp.sha256 = m->sha256;
        hark_log(HARK_LOG_INFO, "downloading %s from %s", m->name, url);
        if ((st = hark_download_file(url, pt, &dp)) != HARK_OK)
            return st;
    }
    if ((st = convert_into_cache(m, pt, hark, &p->convert)) != HARK_OK)
        return st;
    return put_path(out_path, cap, hark, "%s", hark);
}

hark_status hark_model_fetch(const char *name, const hark_fetch_params *params, char *out_path,
                             size_t cap)
{
    if (!name || !out_path || !cap)
        return hark_fail(HARK_ERR_INVALID_ARG, "hark_model_fetch: NULL argument");
    hark_fetch_params p = params ? *params : hark_fetch_default_params();
    return fetch(name, &p, 0, out_path, cap);
}

/* Progress for downloads that hark_model_resolve starts: a log line every 10%. */
static int resolve_progress(uint64_t done, uint64_t total, void *user)
{
    int *last = user;
    if (!total)
        return 0;
    int tenth = (int)(done * 10 / total);
    if (tenth > *last) {
        *last = tenth;
        hark_log(HARK_LOG_INFO, "download %d%% (%llu of %llu bytes)", tenth * 10,
                 (unsigned long long)done, (unsigned long long)total);
    }
    return 0;
}

hark_status hark_model_resolve(const char *name_or_path, char *out_path, size_t cap,
                               int allow_download)
{
    if (!name_or_path || !*name_or_path || !out_path || !cap)
        return hark_fail(HARK_ERR_INVALID_ARG, "hark_model_resolve: empty model name or path");
    struct stat sb;
    if (stat(name_or_path, &sb) == 0)
        return put_path(out_path, cap, name_or_path, "%s", name_or_path);
    if (!hark_known_model_find(name_or_path)) {
        char names[256];
        return hark_fail(HARK_ERR_NOT_FOUND, "%s: no such file, and not an official model name "
                         "(%s, large, turbo)", name_or_path, known_names(names, sizeof(names)));
    }
    hark_fetch_params p = hark_fetch_default_params();
    int last_tenth = -1;
    p.download.progress = resolve_progress;
    p.download.progress_user = &last_tenth;
    return fetch(name_or_path, &p, !allow_download, out_path, cap);
}
