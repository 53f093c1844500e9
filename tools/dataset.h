/*
 * dataset.h — evaluation sets in the forms people have them: a Kaldi folder (wav.scp, and text
 * or the seed's trans.txt), a LibriSpeech folder (*.trans.txt beside the .flac files, any depth),
 * a TSV file (path<TAB>reference, or a path alone), or a folder of audio files (no references).
 * Used by `hark eval` and `hark client bench --references`.
 *
 * What it is not: audio decoding (the library's hark_audio_load) or scoring (wer.h).
 */
#ifndef HARK_DATASET_H
#define HARK_DATASET_H

#include <stddef.h>

typedef struct ds_item {
    char *id;   /* utterance id (Kaldi, LibriSpeech) or the path (TSV, folder) */
    char *path; /* audio file, relative paths resolved against the set's folder */
    char *ref;  /* reference transcript, NULL without */
} ds_item;

typedef struct dataset {
    ds_item *items;
    int n, cap;
    const char *kind; /* "kaldi", "librispeech", "tsv", "folder" */
    int problems;     /* lines or files skipped (each reported on stderr) */
} dataset;

/* Reads the set at path (a folder or a TSV file), sorted by id. Malformed lines, entries
 * without audio and Kaldi pipes are reported on stderr with their file and line, counted in
 * problems and skipped. Returns 0, or -1 with err filled when nothing usable is there. */
int dataset_load(const char *path, dataset *out, char *err, size_t err_size);
void dataset_free(dataset *d);

#endif
