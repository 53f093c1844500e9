/*
 * download.c — one HTTP(S) download on libcurl: resume from "<dest>.part" with a Range request,
 * connect and low-speed timeouts, a progress callback, and a sha256 (OpenSSL EVP) computed as
 * the bytes arrive and checked before the file is renamed into place.
 *
 * What it is not: a retry loop or a mirror list. A failed transfer keeps its .part so that the
 * next call (or the user running the command again) resumes where it stopped.
 * ref: openai/whisper whisper/__init__.py _download (sha256 of the whole file, compared with the
 * digest in the URL; a mismatch is an error).
 */
#include "download/download.h"
#include "util/util.h"

#include <curl/curl.h>
#include <openssl/evp.h>

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* One transfer attempt. */
typedef struct dl_job {
    const hark_download_params *p;
    const char *url, *dest, *part;
    CURL *curl;
    FILE *fp;            /* the .part, opened for appending */
    EVP_MD_CTX *md;      /* sha256 of every byte in the .part so far */
    uint64_t offset;     /* bytes already in the .part when the request went out */
    uint64_t written;    /* bytes this attempt appended */
    long http_code;      /* of the last status line seen (0: no response yet) */
    char reason[64];     /* its reason phrase */
    int have_range;      /* a Content-Range header came with the response */
    uint64_t range_start, range_total;
    int range_bad;       /* a 206 that does not start where the .part ends */
    int write_errno;     /* a local write failed */
    int cancelled;       /* the progress callback asked to stop */
    char range[32];      /* the Range request, "123-" */
    char errbuf[CURL_ERROR_SIZE];
} dl_job;

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_result;

static void curl_init_once(void)
{
    curl_init_result = curl_global_init(CURL_GLOBAL_DEFAULT);
}

hark_download_params hark_download_default_params(void)
{
    return (hark_download_params){
        .sha256 = NULL,
        .connect_timeout_s = 15,
        .low_speed_bytes = 1024,
        .low_speed_time_s = 60,
        .progress = NULL,
        .progress_user = NULL,
    };
}

static void hex_encode(const unsigned char *digest, unsigned n, char *hex)
{
    static const char digits[] = "0123456789abcdef";
    for (unsigned i = 0; i < n; i++) {
        hex[2 * i] = digits[digest[i] >> 4];
        hex[2 * i + 1] = digits[digest[i] & 15];
    }
    hex[2 * n] = '\0';
}

/* Feeds every byte of path into md. */
static hark_status hash_file_into(EVP_MD_CTX *md, const char *path)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return hark_fail(HARK_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    enum { CHUNK = 1 << 20 };
    unsigned char *buf = malloc(CHUNK);
    if (!buf) {
        fclose(fp);
        return hark_fail(HARK_ERR_NOMEM, "%s: no memory for a read buffer", path);
    }
    hark_status st = HARK_OK;
    size_t got;
    while ((got = fread(buf, 1, CHUNK, fp)) > 0) {
        if (EVP_DigestUpdate(md, buf, got) != 1) {
            st = hark_fail(HARK_ERR_IO, "%s: sha256 update failed", path);
            break;
        }
    }
    if (st == HARK_OK && ferror(fp))
        st = hark_fail(HARK_ERR_IO, "%s: read error: %s", path, strerror(errno));
    free(buf);
    fclose(fp);
    return st;
}

static hark_status md_final_hex(EVP_MD_CTX *md, char hex[65])
{
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned n = 0;
    if (EVP_DigestFinal_ex(md, digest, &n) != 1 || n != 32)
        return hark_fail(HARK_ERR_IO, "sha256: OpenSSL could not finish the digest");
    hex_encode(digest, n, hex);
    return HARK_OK;
}

hark_status hark_sha256_file(const char *path, char hex[65])
{
    if (!path || !hex)
        return hark_fail(HARK_ERR_INVALID_ARG, "hark_sha256_file: NULL argument");
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (!md)
        return hark_fail(HARK_ERR_NOMEM, "%s: cannot create a sha256 context", path);
    hark_status st = HARK_OK;
    if (EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1)
        st = hark_fail(HARK_ERR_IO, "%s: cannot start a sha256 digest", path);
    if (st == HARK_OK)
        st = hash_file_into(md, path);
    if (st == HARK_OK)
        st = md_final_hex(md, hex);
    EVP_MD_CTX_free(md);
    return st;
}

/* ---------------------------------------------------------------- curl callbacks ------------- */

static size_t on_header(char *line, size_t size, size_t nitems, void *user)
{
    dl_job *job = user;
    size_t n = size * nitems;
    if (n >= 5 && !memcmp(line, "HTTP/", 5)) {
        /* a new response (after a redirect or a 100): forget the last one's headers */
        const char *sp = memchr(line, ' ', n);
        job->http_code = sp ? strtol(sp + 1, NULL, 10) : 0;
        job->reason[0] = '\0';
        job->have_range = 0;
        if (sp && (size_t)(sp - line) + 5 < n) {
            const char *r = sp + 5; /* "HTTP/1.1 404 Not Found\r\n" -> "Not Found" */
            size_t len = n - (size_t)(r - line);
            while (len > 0 && (r[len - 1] == '\r' || r[len - 1] == '\n'))
                len--;
            if (len >= sizeof(job->reason))
                len = sizeof(job->reason) - 1;
            memcpy(job->reason, r, len);
            job->reason[len] = '\0';
        }
    } else if (n > 14 && !strncasecmp(line, "Content-Range:", 14)) {
        /* "Content-Range: bytes 100-999/1000" or "bytes * /1000" (416) */
        char buf[128];
        size_t len = n < sizeof(buf) - 1 ? n : sizeof(buf) - 1;
        memcpy(buf, line, len);
        buf[len] = '\0';
        const char *s = strstr(buf, "bytes");
        const char *slash = strchr(buf, '/');
        if (s && slash) {
            s += 5;
            while (*s == ' ')
                s++;
            job->range_start = *s == '*' ? 0 : strtoull(s, NULL, 10);
            job->range_total = strtoull(slash + 1, NULL, 10);
            job->have_range = 1;
        }
    }
    return n;
}

/* Empties the .part: the server sent the whole file instead of the requested tail. */
static int restart_part(dl_job *job)
{
    if (fflush(job->fp) != 0 || ftruncate(fileno(job->fp), 0) != 0) {
        job->write_errno = errno;
        return -1;
    }
    if (EVP_DigestInit_ex(job->md, EVP_sha256(), NULL) != 1) {
        job->write_errno = EIO;
        return -1;
    }
    job->offset = 0;
    return 0;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *user)
{
    dl_job *job = user;
    size_t n = size * nmemb;
    if (job->http_code < 200 || job->http_code >= 300)
        return n; /* the body of an error page: judged after the transfer, not kept */
    if (job->written == 0) {
        if (job->http_code == 200 && job->offset > 0 && restart_part(job) != 0)
            return 0;
        if (job->http_code == 206 && (!job->have_range || job->range_start != job->offset)) {
            job->range_bad = 1;
            return 0;
        }
        if (job->p->progress) { /* the start, so that a resume shows where it starts */
            curl_off_t len = -1;
            curl_easy_getinfo(job->curl, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &len);
            uint64_t total = len > 0 ? job->offset + (uint64_t)len : 0;
            if (job->p->progress(job->offset, total, job->p->progress_user)) {
                job->cancelled = 1;
                return 0;
            }
        }
    }
    if (fwrite(data, 1, n, job->fp) != n) {
        job->write_errno = errno ? errno : EIO;
        return 0;
    }
    if (EVP_DigestUpdate(job->md, data, n) != 1) {
        job->write_errno = EIO;
        return 0;
    }
    job->written += n;
    return n;
}

static int on_progress(void *user, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    (void)ultotal, (void)ulnow;
    dl_job *job = user;
    if (!job->p->progress || job->http_code < 200 || job->http_code >= 300)
        return 0;
    uint64_t total = dltotal > 0 ? job->offset + (uint64_t)dltotal : 0;
    return job->p->progress(job->offset + (uint64_t)(dlnow > 0 ? dlnow : 0), total,
                            job->p->progress_user);
}

/* ---------------------------------------------------------------- one transfer --------------- */

static void set_protocols(CURL *curl)
{
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#else
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
    curl_easy_setopt(curl, CURLOPT_REDIR_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
}

/* Turns a failed transfer into a status with a detail that says what to do. */
static hark_status transfer_error(const dl_job *job, CURLcode res)
{
    const char *why = job->errbuf[0] ? job->errbuf : curl_easy_strerror(res);
    unsigned long long have = (unsigned long long)(job->offset + job->written);
    if (job->write_errno)
        return hark_fail(HARK_ERR_IO, "cannot write %s: %s", job->part, strerror(job->write_errno));
    if (job->range_bad)
        return hark_fail(HARK_ERR_IO, "%s: the server answered the resume request with a "
                         "different byte range; %s was kept, delete it and run again",
                         job->url, job->part);
    if (job->cancelled)
        res = CURLE_ABORTED_BY_CALLBACK;
    switch (res) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
        break;
    case CURLE_OPERATION_TIMEDOUT:
        if (job->http_code != 0)
            return hark_fail(HARK_ERR_IO, "%s: transfer too slow (under %ld bytes/s for %ld s) "
                             "after %llu bytes; %s is kept: run again to resume",
                             job->url, job->p->low_speed_bytes, job->p->low_speed_time_s, have,
                             job->part);
        break; /* the connect timeout */
    case CURLE_ABORTED_BY_CALLBACK:
        return hark_fail(HARK_ERR_IO, "%s: download cancelled after %llu bytes; %s is kept",
                         job->url, have, job->part);
    case CURLE_PARTIAL_FILE:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_GOT_NOTHING:
        return hark_fail(HARK_ERR_IO, "%s: connection closed after %llu bytes (%s); %s is kept: "
                         "run again to resume", job->url, have, why, job->part);
    default:
        return hark_fail(HARK_ERR_IO, "%s: download failed after %llu bytes: %s", job->url, have,
                         why);
    }
    return hark_fail(HARK_ERR_IO, "%s: cannot connect (%s). Offline? Fetch the file another way "
                     "and place it at %s, or pass the path of a model file", job->url, why,
                     job->dest);
}

static hark_status http_error(const dl_job *job)
{
    long code = job->http_code;
    hark_status st = code == 404 || code == 410 ? HARK_ERR_NOT_FOUND : HARK_ERR_IO;
    const char *hint = code >= 500 ? " (a server failure: try again later)"
                       : st == HARK_ERR_NOT_FOUND ? " (check the URL or --base-url)" : "";
    return hark_fail(st, "%s: HTTP %ld%s%s%s", job->url, code, job->reason[0] ? " " : "",
                     job->reason, hint);
}

static void setup_curl(CURL *curl, dl_job *job)
{
    const hark_download_params *p = job->p;
    curl_easy_setopt(curl, CURLOPT_URL, job->url);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(curl, CURLOPT_MAXREDIRS, 10L);
    set_protocols(curl);
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "hark/" HARK_VERSION);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, job->errbuf);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, p->connect_timeout_s);
    curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, p->low_speed_bytes);
    curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, p->low_speed_time_s);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, job);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, job);
    curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(curl, CURLOPT_XFERINFODATA, job);
    curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
    if (job->offset > 0) {
        /* CURLOPT_RANGE rather than RESUME_FROM: a 200 or 416 answer is ours to judge */
        snprintf(job->range, sizeof(job->range), "%llu-", (unsigned long long)job->offset);
        curl_easy_setopt(curl, CURLOPT_RANGE, job->range);
    }
}

/* Outcome of one attempt, beyond its status. */
enum { ATTEMPT_DONE, ATTEMPT_RESTART };

/* Opens the .part (hashing what it holds), runs one request and closes the .part again. On
 * HARK_OK *outcome says whether the file is complete (digest in hex) or the .part was refused
 * and removed, so the caller starts over. */
static hark_status attempt(dl_job *job, int *outcome, char hex[65])
{
    struct stat sb;
    job->offset = stat(job->part, &sb) == 0 ? (uint64_t)sb.st_size : 0;
    job->written = 0;
    job->http_code = 0;
    job->range_bad = job->write_errno = job->have_range = job->cancelled = 0;
    job->errbuf[0] = '\0';
    *outcome = ATTEMPT_DONE;
    if (EVP_DigestInit_ex(job->md, EVP_sha256(), NULL) != 1)
        return hark_fail(HARK_ERR_IO, "sha256: OpenSSL could not start a digest");
    if (job->offset > 0) {
        hark_status st = hash_file_into(job->md, job->part);
        if (st != HARK_OK)
            return st;
    }
    job->fp = fopen(job->part, "ab");
    if (!job->fp)
        return hark_fail(HARK_ERR_IO, "cannot write %s: %s", job->part, strerror(errno));

    CURL *curl = curl_easy_init();
    if (!curl) {
        fclose(job->fp);
        return hark_fail(HARK_ERR_NOMEM, "%s: cannot create a curl handle", job->url);
    }
    job->curl = curl;
    setup_curl(curl, job);
    CURLcode res = curl_easy_perform(curl);
    curl_easy_cleanup(curl);
    job->curl = NULL;
    int close_err = fclose(job->fp) != 0 ? errno : 0;
    job->fp = NULL;

    if (job->http_code == 416 && job->offset > 0 && !job->written) {
        /* nothing left to send: the .part is complete, or it is not this file */
        if (job->have_range && job->range_total == job->offset)
            return md_final_hex(job->md, hex);
        hark_log(HARK_LOG_WARN, "%s: the server refused to resume at byte %llu; starting over",
                 job->url, (unsigned long long)job->offset);
        unlink(job->part);
        *outcome = ATTEMPT_RESTART;
        return HARK_OK;
    }
    if (res == CURLE_OK && (job->http_code < 200 || job->http_code >= 300))
        return http_error(job);
    if (res != CURLE_OK)
        return job->http_code >= 400 && !job->write_errno ? http_error(job)
                                                         : transfer_error(job, res);
    if (close_err)
        return hark_fail(HARK_ERR_IO, "cannot write %s: %s", job->part, strerror(close_err));
    return md_final_hex(job->md, hex);
}

static int valid_sha256(const char *s)
{
    if (strlen(s) != 64)
        return 0;
    for (int i = 0; i < 64; i++)
        if (!isxdigit((unsigned char)s[i]))
            return 0;
    return 1;
}

/* Removes the .part when a failure left it empty: nothing worth resuming. */
static void drop_empty_part(const char *part)
{
    struct stat sb;
    if (stat(part, &sb) == 0 && sb.st_size == 0)
        unlink(part);
}

hark_status hark_download_file(const char *url, const char *dest_path,
                               const hark_download_params *params)
{
    if (!url || !dest_path || !*url || !*dest_path)
        return hark_fail(HARK_ERR_INVALID_ARG, "hark_download_file: empty URL or path");
    hark_download_params p = params ? *params : hark_download_default_params();
    if (p.sha256 && !valid_sha256(p.sha256))
        return hark_fail(HARK_ERR_INVALID_ARG, "%s: '%s' is not a sha256 (64 hex digits)", url,
                         p.sha256);
    pthread_once(&curl_once, curl_init_once);
    if (curl_init_result != CURLE_OK)
        return hark_fail(HARK_ERR_IO, "libcurl failed to initialise: %s",
                         curl_easy_strerror(curl_init_result));

    size_t plen = strlen(dest_path) + sizeof(".part");
    char *part = malloc(plen);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    hark_status st = HARK_OK;
    if (!part || !md) {
        st = hark_fail(HARK_ERR_NOMEM, "%s: out of memory", url);
        goto out_free;
    }
    snprintf(part, plen, "%s.part", dest_path);

    dl_job job = { .p = &p, .url = url, .dest = dest_path, .part = part, .md = md };
    char hex[65];
    int outcome = ATTEMPT_RESTART;
    for (int i = 0; i < 2 && outcome == ATTEMPT_RESTART && st == HARK_OK; i++)
        st = attempt(&job, &outcome, hex);
    if (st == HARK_OK && outcome == ATTEMPT_RESTART)
        st = hark_fail(HARK_ERR_IO, "%s: the server keeps refusing the download (HTTP 416)", url);
    if (st != HARK_OK) {
        drop_empty_part(part);
        goto out_free;
    }
    if (p.sha256 && strcasecmp(hex, p.sha256) != 0) {
        unlink(part);
        st = hark_fail(HARK_ERR_FORMAT, "%s: sha256 mismatch: expected %s, got %s; the download "
                       "was deleted, run again", url, p.sha256, hex);
        goto out_free;
    }
    if (rename(part, dest_path) != 0)
        st = hark_fail(HARK_ERR_IO, "cannot rename %s to %s: %s", part, dest_path,
                       strerror(errno));
out_free:
    EVP_MD_CTX_free(md);
    free(part);
    return st;
}
