/*
 * dataset.c — reading evaluation sets (see dataset.h). ref: Kaldi data directory (wav.scp, text),
 * LibriSpeech's layout (speaker/chapter/speaker-chapter.trans.txt, speaker-chapter-utt.flac).
 */
#define _POSIX_C_SOURCE 200809L
#include "dataset.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

static int is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int is_file(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

static char *rtrim(char *s)
{
    size_t k = strlen(s);
    while (k > 0 && strchr(" \t\r\n", s[k - 1]))
        s[--k] = 0;
    return s;
}

static char *ltrim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    return s;
}

/* dir/rel, or rel when it is absolute */
static char *join(const char *dir, const char *rel)
{
    size_t n = strlen(dir) + strlen(rel) + 2;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s%s%s", rel[0] == '/' ? "" : dir, rel[0] == '/' ? "" : "/", rel);
    return p;
}

static int add(dataset *d, const char *id, char *path, const char *ref)
{
    if (d->n == d->cap) {
        int nc = d->cap ? 2 * d->cap : 64;
        ds_item *it = realloc(d->items, (size_t)nc * sizeof(ds_item));
        if (!it) {
            free(path);
            return -1;
        }
        d->items = it, d->cap = nc;
    }
    ds_item *it = &d->items[d->n];
    it->id = strdup(id);
    it->path = path;
    it->ref = ref ? strdup(ref) : NULL;
    if (!it->id || !it->path || (ref && !it->ref)) {
        free(it->id), free(it->path), free(it->ref);
        return -1;
    }
    d->n++;
    return 0;
}

static void problem(dataset *d, const char *file, int line, const char *what)
{
    if (line > 0)
        fprintf(stderr, "hark: %s:%d: %s (skipped)\n", file, line, what);
    else
        fprintf(stderr, "hark: %s: %s (skipped)\n", file, what);
    d->problems++;
}

/* Splits "key<TAB or spaces>rest"; NULL when there is no key. */
static char *split_key(char *line, char **rest)
{
    line = ltrim(line);
    if (!*line)
        return NULL;
    char *sep = line + strcspn(line, " \t");
    *rest = *sep ? ltrim(sep + 1) : sep;
    *sep = 0;
    return line;
}

static ds_item *find(dataset *d, const char *id)
{
    for (int i = 0; i < d->n; i++)
        if (!strcmp(d->items[i].id, id))
            return &d->items[i];
    return NULL;
}

/* Kaldi: wav.scp (id path), then text or trans.txt (id transcript). */
static int load_kaldi(const char *dir, dataset *d)
{
    char path[4096], *line = NULL;
    size_t cap = 0;
    snprintf(path, sizeof(path), "%s/wav.scp", dir);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    for (int ln = 1; getline(&line, &cap, f) >= 0; ln++) {
        char *rest, *id = split_key(rtrim(line), &rest);
        if (!id)
            continue;
        if (!*rest) {
            problem(d, path, ln, "an id without audio");
        } else if (rest[strlen(rest) - 1] == '|') {
            problem(d, path, ln, "a command (Kaldi pipe): give the audio file itself");
        } else {
            char *p = join(dir, rest);
            if (p && !is_file(p))
                problem(d, path, ln, "no such audio file"), free(p);
            else if (add(d, id, p, NULL) != 0)
                break;
        }
    }
    fclose(f);
    snprintf(path, sizeof(path), "%s/text", dir);
    if (!(f = fopen(path, "r"))) {
        snprintf(path, sizeof(path), "%s/trans.txt", dir);
        f = fopen(path, "r");
    }
    for (int ln = 1; f && getline(&line, &cap, f) >= 0; ln++) {
        char *rest, *id = split_key(rtrim(line), &rest);
        ds_item *it = id ? find(d, id) : NULL;
        if (id && !it)
            problem(d, path, ln, "a transcript for an id wav.scp does not list");
        else if (it && !it->ref)
            it->ref = strdup(rest);
    }
    if (f)
        fclose(f);
    free(line);
    return 0;
}

/* LibriSpeech: every *.trans.txt below dir, its ids' .flac (or .wav) beside it. */
static void load_libri(const char *dir, dataset *d, int depth)
{
    DIR *dd = opendir(dir);
    if (!dd || depth > 8) {
        if (dd)
            closedir(dd);
        return;
    }
    struct dirent *e;
    while ((e = readdir(dd))) {
        if (e->d_name[0] == '.')
            continue;
        char *p = join(dir, e->d_name);
        size_t k = strlen(e->d_name);
        if (p && is_dir(p)) {
            load_libri(p, d, depth + 1);
        } else if (p && k > 10 && !strcmp(e->d_name + k - 10, ".trans.txt")) {
            FILE *f = fopen(p, "r");
            char *line = NULL;
            size_t cap = 0;
            for (int ln = 1; f && getline(&line, &cap, f) >= 0; ln++) {
                char *rest, *id = split_key(rtrim(line), &rest), audio[1024];
                if (!id)
                    continue;
                char *a = NULL;
                for (int x = 0; x < 2 && !a; x++) {
                    snprintf(audio, sizeof(audio), "%s.%s", id, x ? "wav" : "flac");
                    a = join(dir, audio);
                    if (a && !is_file(a))
                        free(a), a = NULL;
                }
                if (!a)
                    problem(d, p, ln, "no .flac or .wav for this id");
                else
                    add(d, id, a, rest);
            }
            free(line);
            if (f)
                fclose(f);
        }
        free(p);
    }
    closedir(dd);
}

static int has_audio_ext(const char *name)
{
    static const char *const ext[] = { ".wav", ".flac", ".mp3", ".ogg", ".opus", ".m4a",
                                       ".mp4", ".webm", ".aac", ".wma", ".aiff" };
    size_t k = strlen(name);
    for (size_t i = 0; i < sizeof(ext) / sizeof(ext[0]); i++) {
        size_t e = strlen(ext[i]);
        if (k > e && !strcasecmp(name + k - e, ext[i]))
            return 1;
    }
    return 0;
}

/* A folder of audio files (this level): ids are the paths. */
static void load_folder(const char *dir, dataset *d)
{
    DIR *dd = opendir(dir);
    struct dirent *e;
    while (dd && (e = readdir(dd))) {
        if (e->d_name[0] == '.' || !has_audio_ext(e->d_name))
            continue;
        char *p = join(dir, e->d_name);
        if (p && is_file(p))
            add(d, p, p, NULL);
        else
            free(p);
    }
    if (dd)
        closedir(dd);
}

/* TSV: path<TAB>reference (or a path alone), relative to the file's folder. */
static int load_tsv(const char *file, dataset *d)
{
    FILE *f = fopen(file, "r");
    if (!f)
        return -1;
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s", file);
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = 0;
    else
        snprintf(dir, sizeof(dir), ".");
    char *line = NULL;
    size_t cap = 0;
    for (int ln = 1; getline(&line, &cap, f) >= 0; ln++) {
        char *l = rtrim(line), *tab = strchr(l, '\t');
        if (!*ltrim(l))
            continue;
        if (tab)
            *tab = 0;
        char *p = join(dir, l);
        if (p && !is_file(p))
            problem(d, file, ln, "no such audio file"), free(p);
        else if (add(d, l, p, tab ? ltrim(tab + 1) : NULL) != 0)
            break;
    }
    free(line);
    fclose(f);
    return 0;
}

static int cmp_item(const void *a, const void *b)
{
    return strcmp(((const ds_item *)a)->id, ((const ds_item *)b)->id);
}

int dataset_load(const char *path, dataset *out, char *err, size_t err_size)
{
    memset(out, 0, sizeof(*out));
    char scp[4096];
    snprintf(scp, sizeof(scp), "%s/wav.scp", path);
    if (is_dir(path) && is_file(scp)) {
        out->kind = "kaldi";
        load_kaldi(path, out);
    } else if (is_dir(path)) {
        out->kind = "librispeech";
        load_libri(path, out, 0);
        if (out->n == 0 && out->problems == 0) {
            out->kind = "folder";
            load_folder(path, out);
        }
    } else if (is_file(path)) {
        out->kind = "tsv";
        load_tsv(path, out);
    } else {
        snprintf(err, err_size, "%s: no such file or folder", path);
        return -1;
    }
    if (out->n == 0) {
        snprintf(err, err_size, "%s (%s): no usable audio entries", path, out->kind);
        return -1;
    }
    qsort(out->items, (size_t)out->n, sizeof(ds_item), cmp_item);
    return 0;
}

void dataset_free(dataset *d)
{
    for (int i = 0; i < d->n; i++)
        free(d->items[i].id), free(d->items[i].path), free(d->items[i].ref);
    free(d->items);
    memset(d, 0, sizeof(*d));
}
