/*
 * bpe.h — private: the byte-string -> id hash table and tiktoken's rank-based merge, which
 * tokenizer.c builds the tokenizer from. Split out so that tests can check the two merge
 * strategies against each other.
 */
#ifndef HARK_BPE_H
#define HARK_BPE_H

#include "hark.h"

#include <stddef.h>
#include <stdint.h>

/* Maps the byte strings of ids [first, first + count) to their ids. Token id t owns the bytes
 * arena[off[t] .. off[t + 1]); the map points into arena and off, which must outlive it. */
typedef struct hark_bpe_map {
    int32_t *slots; /* [mask + 1] ids, -1 for empty */
    uint32_t mask;
    const uint8_t *arena;
    const uint32_t *off;
} hark_bpe_map;

/* Builds the map. Returns HARK_OK; HARK_ERR_FORMAT when two ids have the same bytes (*dup is then
 * the later id); HARK_ERR_NOMEM. */
hark_status hark_bpe_map_init(hark_bpe_map *map, const uint8_t *arena, const uint32_t *off,
                              int32_t first, int32_t count, int32_t *dup);
void hark_bpe_map_free(hark_bpe_map *map);

/* Returns the id whose bytes are s[0..n), or -1. */
int32_t hark_bpe_map_find(const hark_bpe_map *map, const uint8_t *s, size_t n);

/* Splits one pre-tokenized piece s[0..n) (n >= 1) into ranks the way tiktoken's
 * byte_pair_encode does: repeatedly merge the adjacent pair whose bytes have the lowest rank,
 * leftmost on ties, until no pair is a rank. Writes the ranks to out (room for n) and returns
 * their number, or a negative status: HARK_ERR_TOKENIZER when a single byte has no rank (a rank
 * file without all 256 bytes), HARK_ERR_NOMEM. ranks maps bytes to rank. */
int hark_bpe_merge(const hark_bpe_map *ranks, const uint8_t *s, int n, int32_t *out);

/* The two strategies hark_bpe_merge chooses between by length (exposed for the tests): a
 * rescan of all pairs after each merge (tiktoken's, quadratic, fast for short pieces) and a
 * heap of pairs (n log n). Same results, same contract. */
int hark_bpe_merge_scan(const hark_bpe_map *ranks, const uint8_t *s, int n, int32_t *out);
int hark_bpe_merge_heap(const hark_bpe_map *ranks, const uint8_t *s, int n, int32_t *out);

#endif
