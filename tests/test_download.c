/*
 * test_download.c — the model download layer against a local HTTP server (tests/http_server.py,
 * started here on a free port of 127.0.0.1; no network needed): full download and sha256,
 * resume from a .part, a dropped connection then a resume, a corrupt payload, HTTP errors, an
 * unreachable host, a stalled transfer; then the name table, the cache folder and
 * hark_model_resolve's lookups with fixture files.
 * Skips the server cases cleanly when python3 is not there.
 */
#include "download/download.h"
#include "test.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <signal.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

static struct {
    FILE *pipe;
    int port;
    long pid;
    long size;
    char dir[256], log[300];
} srv;

static uint8_t *payload; /* the server's bytes, made the same way (see make_payload there) */
static char payload_sha[65];

static void sha256_hex(const void *data, size_t n, char hex[65])
{
    unsigned char d[32];
    unsigned len = 0;
    EVP_Digest(data, n, d, &len, EVP_sha256(), NULL);
    for (unsigned i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", d[i]);
}

static int start_server(void)
{
    snprintf(srv.dir, sizeof(srv.dir), "/tmp/hark_dl_test_XXXXXX");
    if (!mkdtemp(srv.dir))
        return -1;
    snprintf(srv.log, sizeof(srv.log), "%s/server.log", srv.dir);
    char script[512], cmd[1200];
    test_src("tests/http_server.py", script, sizeof(script));
    snprintf(cmd, sizeof(cmd), "exec python3 '%s' --log '%s'", script, srv.log);
    srv.pipe = popen(cmd, "r");
    if (!srv.pipe)
        return -1;
    char line[256];
    if (!fgets(line, sizeof(line), srv.pipe) ||
        sscanf(line, "PORT %d PID %ld SIZE %ld", &srv.port, &srv.pid, &srv.size) != 3) {
        pclose(srv.pipe);
        srv.pipe = NULL;
        return -1;
    }
    payload = malloc((size_t)srv.size);
    for (long i = 0; i < srv.size; i++)
        payload[i] = (uint8_t)((((uint64_t)i * 2654435761u) >> 13) & 0xFF);
    sha256_hex(payload, (size_t)srv.size, payload_sha);
    return 0;
}

static void stop_server(void)
{
    if (srv.pipe) {
        kill((pid_t)srv.pid, SIGTERM);
        pclose(srv.pipe);
    }
    free(payload);
}

static const char *url_of(const char *path, char *buf, size_t cap)
{
    snprintf(buf, cap, "http://127.0.0.1:%d%s", srv.port, path);
    return buf;
}

static const char *tmp_path(const char *name, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s/%s", srv.dir, name);
    return buf;
}

/* Lines of the server's log that contain both needles. */
static int log_count(const char *path, const char *range)
{
    FILE *f = fopen(srv.log, "r");
    if (!f)
        return -1;
    char line[512];
    int n = 0;
    while (fgets(line, sizeof(line), f))
        if (strstr(line, path) && strstr(line, range))
            n++;
    fclose(f);
    return n;
}

static long file_size(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 ? (long)sb.st_size : -1;
}

static int file_is_payload(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    uint8_t *buf = malloc((size_t)srv.size + 1);
    size_t got = fread(buf, 1, (size_t)srv.size + 1, f);
    fclose(f);
    int same = got == (size_t)srv.size && !memcmp(buf, payload, got);
    free(buf);
    return same;
}

static int write_prefix(const char *path, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    fwrite(payload, 1, n, f);
    return fclose(f);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

typedef struct progress_log {
    int calls;
    uint64_t first_done, last_done, last_total;
    uint64_t cancel_at; /* 0: never */
} progress_log;

static int on_progress(uint64_t done, uint64_t total, void *user)
{
    progress_log *p = user;
    if (!p->calls++)
        p->first_done = done;
    p->last_done = done;
    p->last_total = total;
    return p->cancel_at && done >= p->cancel_at;
}

static hark_download_params quick_params(void)
{
    hark_download_params p = hark_download_default_params();
    p.sha256 = payload_sha;
    p.connect_timeout_s = 5;
    p.low_speed_bytes = 1024;
    p.low_speed_time_s = 2;
    return p;
}

static void test_full_download(void)
{
    char url[256], dest[300], part[310];
    tmp_path("full.bin", dest, sizeof(dest));
    snprintf(part, sizeof(part), "%s.part", dest);
    progress_log pl = { 0 };
    hark_download_params p = quick_params();
    p.progress = on_progress;
    p.progress_user = &pl;
    CHECK_OK(hark_download_file(url_of("/ok/full.pt", url, sizeof(url)), dest, &p));
    CHECK(file_is_payload(dest), "downloaded bytes differ from the payload");
    CHECK(file_size(part) < 0, ".part left behind");
    CHECK(pl.calls > 0 && pl.last_done == (uint64_t)srv.size && pl.last_total == (uint64_t)srv.size,
          "progress: %d calls, last %llu of %llu", pl.calls, (unsigned long long)pl.last_done,
          (unsigned long long)pl.last_total);
    char hex[65];
    CHECK_OK(hark_sha256_file(dest, hex));
    CHECK(!strcmp(hex, payload_sha), "hark_sha256_file %s vs %s", hex, payload_sha);
    CHECK(log_count("/ok/full.pt", "range=-") == 1, "one plain request expected");
}

static void test_resume(void)
{
    char url[256], dest[300], part[310];
    tmp_path("resume.bin", dest, sizeof(dest));
    snprintf(part, sizeof(part), "%s.part", dest);
    CHECK(write_prefix(part, 100000) == 0, "cannot write the fixture .part");
    progress_log pl = { 0 };
    hark_download_params p = quick_params();
    p.progress = on_progress;
    p.progress_user = &pl;
    CHECK_OK(hark_download_file(url_of("/ok/resume.pt", url, sizeof(url)), dest, &p));
    CHECK(file_is_payload(dest), "resumed file differs from the payload");
    CHECK(log_count("/ok/resume.pt", "range=bytes=100000-") == 1, "expected one Range request");
    CHECK(log_count("/ok/resume.pt", "range=-") == 0, "the bytes already there were fetched again");
    CHECK(pl.first_done == 100000, "progress should start at the resume offset, got %llu",
          (unsigned long long)pl.first_done);

    /* a server that ignores Range: the .part starts over */
    tmp_path("norange.bin", dest, sizeof(dest));
    snprintf(part, sizeof(part), "%s.part", dest);
    CHECK(write_prefix(part, 5000) == 0, "cannot write the fixture .part");
    CHECK_OK(hark_download_file(url_of("/norange/n.pt", url, sizeof(url)), dest, &p));
    CHECK(file_is_payload(dest), "restarted file differs from the payload");
    CHECK(log_count("/norange/n.pt", "range=bytes=5000-") == 1, "a Range request expected");

    /* a .part that is already whole: the server answers 416 and the file is checked as is */
    tmp_path("whole.bin", dest, sizeof(dest));
    snprintf(part, sizeof(part), "%s.part", dest);
    CHECK(write_prefix(part, (size_t)srv.size) == 0, "cannot write the fixture .part");
    CHECK_OK(hark_download_file(url_of("/ok/whole.pt", url, sizeof(url)), dest, &p));
    CHECK(file_is_payload(dest), "complete .part not put in place");
}

static void test_truncated(void)
{
    char url[256], dest[300], part[310];
    tmp_path("trunc.bin", dest, sizeof(dest));
    snprintf(part, sizeof(part), "%s.part", dest);
    hark_download_params p = quick_params();
    url_of("/truncated/t.pt", url, sizeof(url));
    hark_status st = hark_download_file(url, dest, &p);
    CHECK(st == HARK_ERR_IO, "truncated: %s", hark_status_str(st));
    CHECK(strstr(hark_last_error(), "connection closed") && strstr(hark_last_error(), "resume"),
          "message: %s", hark_last_error());
    CHECK(file_size(part) == srv.size / 2, ".part holds %ld bytes", file_size(part));
    CHECK(file_size(dest) < 0, "an incomplete file was put in place");
    CHECK_OK(hark_download_file(url, dest, &p));
    CHECK(file_is_payload(dest), "resumed file differs");
    char want[64];
    snprintf(want, sizeof(want), "range=bytes=%ld-", srv.size / 2);
    CHECK(log_count("/truncated/t.pt", want) == 1, "the retry should ask for the rest only");
}

static void test_corrupt(void)
{
    char url[256], dest[300], part[310];
    tmp_path("corrupt.bin", dest, sizeof(dest));
    snprintf(part, sizeof(part), "%s.part", dest);
    hark_download_params p = quick_params();
    hark_status st = hark_download_file(url_of("/corrupt/c.pt", url, sizeof(url)), dest, &p);
    CHECK(st == HARK_ERR_FORMAT, "corrupt: %s", hark_status_str(st));
    CHECK(strstr(hark_last_error(), "sha256 mismatch") && strstr(hark_last_error(), payload_sha),
          "message: %s", hark_last_error());
    CHECK(file_size(dest) < 0 && file_size(part) < 0, "a corrupt download was left behind");
}

static void test_http_errors(void)
{
    char url[256], dest[300], part[310];
    tmp_path("err.bin", dest, sizeof(dest));
    snprintf(part, sizeof(part), "%s.part", dest);
    hark_download_params p = quick_params();
    hark_status st = hark_download_file(url_of("/404/x.pt", url, sizeof(url)), dest, &p);
    CHECK(st == HARK_ERR_NOT_FOUND, "404: %s", hark_status_str(st));
    CHECK(strstr(hark_last_error(), "HTTP 404") && strstr(hark_last_error(), url), "message: %s",
          hark_last_error());
    st = hark_download_file(url_of("/500/x.pt", url, sizeof(url)), dest, &p);
    CHECK(st == HARK_ERR_IO, "500: %s", hark_status_str(st));
    CHECK(strstr(hark_last_error(), "HTTP 500") && strstr(hark_last_error(), "try again later"),
          "message: %s", hark_last_error());
    CHECK(file_size(part) < 0 && file_size(dest) < 0, "an error page was kept");
}

/* A port on 127.0.0.1 that nothing listens on (bound, read, closed). */
static int closed_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof(a);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    close(fd);
    return ntohs(a.sin_port);
}

static void test_unreachable(void)
{
    char url[256], dest[300];
    tmp_path("offline.bin", dest, sizeof(dest));
    int port = closed_port();
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/ok/x.pt", port);
    hark_download_params p = quick_params();
    double t0 = now_s();
    hark_status st = hark_download_file(url, dest, &p);
    CHECK(st == HARK_ERR_IO, "unreachable: %s", hark_status_str(st));
    CHECK(now_s() - t0 < 3, "connection refused should fail at once (%.1f s)", now_s() - t0);
    CHECK(strstr(hark_last_error(), "cannot connect") && strstr(hark_last_error(), "Offline?") &&
              strstr(hark_last_error(), dest),
          "message: %s", hark_last_error());
    CHECK(file_size(dest) < 0 && file_size(strcat(dest, ".part")) < 0, "files left behind");
}

static void test_slow_and_cancel(void)
{
    char url[256], dest[300], part[310];
    tmp_path("slow.bin", dest, sizeof(dest));
    snprintf(part, sizeof(part), "%s.part", dest);
    hark_download_params p = quick_params();
    p.low_speed_time_s = 1;
    double t0 = now_s();
    hark_status st = hark_download_file(url_of("/slow/s.pt", url, sizeof(url)), dest, &p);
    CHECK(st == HARK_ERR_IO, "slow: %s", hark_status_str(st));
    CHECK(strstr(hark_last_error(), "too slow"), "message: %s", hark_last_error());
    CHECK(now_s() - t0 < 10, "low-speed limit took %.1f s", now_s() - t0);
    CHECK(file_size(dest) < 0, "a partial file was put in place");
    unlink(part);

    tmp_path("cancel.bin", dest, sizeof(dest));
    snprintf(part, sizeof(part), "%s.part", dest);
    progress_log pl = { .cancel_at = 1 };
    p = quick_params();
    p.progress = on_progress;
    p.progress_user = &pl;
    st = hark_download_file(url_of("/slow/c.pt", url, sizeof(url)), dest, &p);
    CHECK(st == HARK_ERR_IO && strstr(hark_last_error(), "cancelled"), "cancel: %s (%s)",
          hark_status_str(st), hark_last_error());
    CHECK(file_size(dest) < 0, "a cancelled download was put in place");

    p.sha256 = "abc";
    st = hark_download_file(url, dest, &p);
    CHECK(st == HARK_ERR_INVALID_ARG, "bad sha256 argument: %s", hark_status_str(st));
}

static void test_fetch_errors(void)
{
    char base[256], cache[300], out[512], pt[400];
    tmp_path("cache_fetch", cache, sizeof(cache));
    hark_fetch_params fp = hark_fetch_default_params();
    fp.cache_dir = cache;
    fp.download = quick_params();
    fp.base_url = url_of("/404", base, sizeof(base));
    hark_status st = hark_model_fetch("tiny.en", &fp, out, sizeof(out));
    CHECK(st == HARK_ERR_NOT_FOUND && strstr(hark_last_error(), "HTTP 404"), "404: %s (%s)",
          hark_status_str(st), hark_last_error());
    CHECK(log_count("/404/d3dd57d32accea0b295c96e26691aa14d8822fac7d9d27d5dc00b4ca2826dd03/tiny.en.pt",
                    "range=-") == 1, "fetch should ask for <base>/<sha256>/<name>.pt");
    /* the payload is not tiny.en: a sha256 mismatch, and nothing stays in the cache */
    fp.base_url = url_of("/ok", base, sizeof(base));
    st = hark_model_fetch("tiny.en", &fp, out, sizeof(out));
    snprintf(pt, sizeof(pt), "%s/tiny.en.pt", cache);
    CHECK(st == HARK_ERR_FORMAT && strstr(hark_last_error(), "sha256 mismatch"), "%s (%s)",
          hark_status_str(st), hark_last_error());
    CHECK(file_size(pt) < 0 && file_size(strcat(pt, ".part")) < 0, "mismatch left a file");
    snprintf(base, sizeof(base), "http://127.0.0.1:%d", closed_port());
    fp.base_url = base;
    st = hark_model_fetch("turbo", &fp, out, sizeof(out));
    snprintf(pt, sizeof(pt), "%s/large-v3-turbo.pt", cache);
    CHECK(st == HARK_ERR_IO && strstr(hark_last_error(), pt), "offline: %s (%s)",
          hark_status_str(st), hark_last_error());
}

static void test_names(void)
{
    CHECK(hark_known_model_count() == 12, "%d models", hark_known_model_count());
    const hark_known_model *m = hark_known_model_find("turbo");
    CHECK(m && !strcmp(m->name, "large-v3-turbo"), "turbo alias");
    m = hark_known_model_find("large");
    CHECK(m && !strcmp(m->name, "large-v3"), "large alias");
    CHECK(!hark_known_model_find("huge") && !hark_known_model_find(NULL), "unknown names");
    char url[512];
    unsetenv("HARK_MODEL_BASE_URL");
    CHECK_OK(hark_known_model_url(hark_known_model_find("tiny.en"), NULL, url, sizeof(url)));
    CHECK(!strcmp(url, "https://openaipublic.azureedge.net/main/whisper/models/"
                       "d3dd57d32accea0b295c96e26691aa14d8822fac7d9d27d5dc00b4ca2826dd03/tiny.en.pt"),
          "url %s", url);
    CHECK_OK(hark_known_model_url(hark_known_model_find("turbo"), "http://h/x/", url, sizeof(url)));
    CHECK(!strcmp(url, "http://h/x/aff26ae408abcba5fbf8813c21e62b0941638c5f6eebfb145be0c9839262a19a"
                       "/large-v3-turbo.pt"), "url %s", url);
    CHECK(hark_known_model_url(m, NULL, url, 20) == HARK_ERR_CAPACITY, "short buffer");
    for (int i = 0; i < hark_known_model_count(); i++)
        CHECK(strlen(hark_known_model_at(i)->sha256) == 64, "sha of %s", hark_known_model_at(i)->name);
}

static void test_cache_dir(void)
{
    char dir[512];
    setenv("HARK_CACHE_DIR", "/x/hark_cache", 1);
    setenv("XDG_CACHE_HOME", "/y", 1);
    setenv("HOME", "/home/z", 1);
    CHECK(hark_cache_dir(dir, sizeof(dir)) == HARK_OK && !strcmp(dir, "/x/hark_cache"), "%s", dir);
    unsetenv("HARK_CACHE_DIR");
    CHECK(hark_cache_dir(dir, sizeof(dir)) == HARK_OK && !strcmp(dir, "/y/hark"), "%s", dir);
    setenv("XDG_CACHE_HOME", "relative", 1); /* XDG: only absolute paths count */
    CHECK(hark_cache_dir(dir, sizeof(dir)) == HARK_OK && !strcmp(dir, "/home/z/.cache/hark"), "%s",
          dir);
    unsetenv("XDG_CACHE_HOME");
    unsetenv("HOME");
    CHECK(hark_cache_dir(dir, sizeof(dir)) == HARK_ERR_NOT_FOUND, "no variables set");
}

static void test_resolve(const char *tmp)
{
    char cache[300], out[512], path[512];
    snprintf(cache, sizeof(cache), "%s/cache_resolve", tmp);
    mkdir(cache, 0755);
    setenv("HARK_CACHE_DIR", cache, 1);

    char src[512];
    const char *self = test_src("tests/test_download.c", src, sizeof(src));
    CHECK_OK(hark_model_resolve(self, out, sizeof(out), 0));
    CHECK(!strcmp(out, self), "an existing path wins: %s", out);

    hark_status st = hark_model_resolve("tiny.en", out, sizeof(out), 0);
    CHECK(st == HARK_ERR_NOT_FOUND && strstr(hark_last_error(), "hark download tiny.en"),
          "not cached: %s (%s)", hark_status_str(st), hark_last_error());

    snprintf(path, sizeof(path), "%s/tiny.en.pt", cache); /* not the official bytes */
    FILE *f = fopen(path, "wb");
    fputs("not a checkpoint", f);
    fclose(f);
    st = hark_model_resolve("tiny.en", out, sizeof(out), 0);
    CHECK(st == HARK_ERR_NOT_FOUND && strstr(hark_last_error(), "wrong sha256"),
          "bad .pt: %s (%s)", hark_status_str(st), hark_last_error());

    snprintf(path, sizeof(path), "%s/large-v3-turbo.hark", cache);
    f = fopen(path, "wb");
    fputs("fixture", f);
    fclose(f);
    CHECK_OK(hark_model_resolve("turbo", out, sizeof(out), 0));
    CHECK(!strcmp(out, path), "cached alias: %s", out);
    CHECK_OK(hark_model_resolve("large-v3-turbo", out, sizeof(out), 1));
    CHECK(!strcmp(out, path), "cached name: %s", out);
    CHECK(hark_model_resolve("turbo", out, 10, 0) == HARK_ERR_CAPACITY, "short buffer");

    st = hark_model_resolve("no-such-model.bin", out, sizeof(out), 1);
    CHECK(st == HARK_ERR_NOT_FOUND && strstr(hark_last_error(), "not an official model name") &&
              strstr(hark_last_error(), "tiny.en"),
          "unknown: %s (%s)", hark_status_str(st), hark_last_error());
    unsetenv("HARK_CACHE_DIR");
}

int main(void)
{
    hark_log_set(NULL, NULL);
    test_names();
    if (start_server() != 0) {
        printf("SKIP server cases: could not start python3 tests/http_server.py\n");
        char tmp[] = "/tmp/hark_dl_test_XXXXXX";
        if (mkdtemp(tmp))
            test_resolve(tmp);
        test_cache_dir();
        TEST_MAIN_END();
    }
    test_full_download();
    test_resume();
    test_truncated();
    test_corrupt();
    test_http_errors();
    test_unreachable();
    test_slow_and_cancel();
    test_fetch_errors();
    test_resolve(srv.dir);
    test_cache_dir();
    stop_server();
    char cmd[400];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", srv.dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", srv.dir);
    TEST_MAIN_END();
}
