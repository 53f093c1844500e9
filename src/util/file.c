/* file.c — whole-file mapping and reading, with errors that name the file. */
#define _POSIX_C_SOURCE 200809L
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

hark_status hark_map_file(const char *path, hark_file_map *map)
{
    memset(map, 0, sizeof(*map));
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return hark_fail(HARK_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return hark_fail(HARK_ERR_IO, "%s: cannot stat: %s", path, strerror(e));
    }
    if (S_ISDIR(st.st_mode)) {
        close(fd);
        return hark_fail(HARK_ERR_IO, "%s: is a directory", path);
    }
    map->size = (size_t)st.st_size;
    if (map->size == 0) {
        close(fd);
        map->data = (const uint8_t *)"";
        return HARK_OK;
    }
    void *p = mmap(NULL, map->size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (p == MAP_FAILED)
        return hark_fail(HARK_ERR_IO, "%s: cannot map: %s", path, strerror(errno));
    map->data = p;
    map->mapped = 1;
    return HARK_OK;
}

void hark_unmap_file(hark_file_map *map)
{
    if (map->mapped)
        munmap((void *)map->data, map->size);
    memset(map, 0, sizeof(*map));
}

hark_status hark_read_file(const char *path, uint8_t **data, size_t *size)
{
    *data = NULL;
    *size = 0;
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!f)
        return hark_fail(HARK_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    size_t cap = 1 << 16, n = 0;
    uint8_t *buf = malloc(cap + 1);
    hark_status st = HARK_OK;
    while (buf) {
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0) {
            if (ferror(f))
                st = hark_fail(HARK_ERR_IO, "%s: read error: %s", path, strerror(errno));
            break;
        }
        if (n == cap) {
            uint8_t *nb = realloc(buf, cap * 2 + 1);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
    }
    if (f != stdin)
        fclose(f);
    if (!buf)
        return hark_fail(HARK_ERR_NOMEM, "%s: out of memory reading the file", path);
    if (st != HARK_OK) {
        free(buf);
        return st;
    }
    buf[n] = 0;
    *data = buf;
    *size = n;
    return HARK_OK;
}

hark_status hark_write_file(const char *path, const void *data, size_t size)
{
    size_t len = strlen(path);
    char *tmp = malloc(len + 5);
    if (!tmp)
        return hark_fail(HARK_ERR_NOMEM, "out of memory");
    memcpy(tmp, path, len);
    memcpy(tmp + len, ".tmp", 5);
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        hark_status st = hark_fail(HARK_ERR_IO, "%s: cannot create: %s", tmp, strerror(errno));
        free(tmp);
        return st;
    }
    int ok = fwrite(data, 1, size, f) == size;
    ok = (fclose(f) == 0) && ok;
    if (!ok || rename(tmp, path) != 0) {
        hark_status st = hark_fail(HARK_ERR_IO, "%s: write failed: %s", path, strerror(errno));
        remove(tmp);
        free(tmp);
        return st;
    }
    free(tmp);
    return HARK_OK;
}
