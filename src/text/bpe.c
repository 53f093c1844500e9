/*
 * bpe.c — the byte-string hash table and tiktoken's rank-based byte pair merge.
 * ref: openai/tiktoken src/lib.rs byte_pair_merge (lowest-rank adjacent pair first, leftmost on
 * ties; a pair's rank is the rank of the concatenated bytes).
 *
 * Short pieces use tiktoken's own strategy, a rescan of every pair after each merge; long pieces
 * (a run of thousands of symbols without a space) use a heap so that encoding stays n log n.
 */
#include "text/bpe.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#define NO_RANK INT32_MAX
#define SCAN_MAX_PIECE 128 /* longer pieces use the heap */
#define SCAN_STACK 256

/* ---------------------------------------------------------------- hash table ----------------- */

static uint32_t hash_bytes(const uint8_t *s, size_t n)
{
    uint32_t h = 2166136261u; /* FNV-1a, then a final avalanche */
    for (size_t i = 0; i < n; i++)
        h = (h ^ s[i]) * 16777619u;
    h ^= h >> 15;
    h *= 0x2c1b3c6du;
    h ^= h >> 12;
    return h;
}

static int id_equals(const hark_bpe_map *map, int32_t id, const uint8_t *s, size_t n)
{
    uint32_t a = map->off[id], b = map->off[id + 1];
    return (size_t)(b - a) == n && memcmp(map->arena + a, s, n) == 0;
}

/* Builds the map of ids [first, first + count); HARK_ERR_FORMAT with *dup on repeated bytes,
 * HARK_ERR_NOMEM. The map points into arena and off. */
hark_status hark_bpe_map_init(hark_bpe_map *map, const uint8_t *arena, const uint32_t *off,
                              int32_t first, int32_t count, int32_t *dup)
{
    uint32_t size = 16;
    while (size < 2u * (uint32_t)count)
        size *= 2;
    map->slots = malloc(size * sizeof(*map->slots));
    if (!map->slots)
        return HARK_ERR_NOMEM;
    memset(map->slots, 0xff, size * sizeof(*map->slots)); /* all -1 */
    map->mask = size - 1;
    map->arena = arena;
    map->off = off;
    for (int32_t id = first; id < first + count; id++) {
        const uint8_t *s = arena + off[id];
        size_t n = off[id + 1] - off[id];
        uint32_t i = hash_bytes(s, n) & map->mask;
        while (map->slots[i] >= 0) {
            if (id_equals(map, map->slots[i], s, n)) {
                *dup = id;
                hark_bpe_map_free(map);
                return HARK_ERR_FORMAT;
            }
            i = (i + 1) & map->mask;
        }
        map->slots[i] = id;
    }
    return HARK_OK;
}

/* Frees the slots; the map may be freed twice. */
void hark_bpe_map_free(hark_bpe_map *map)
{
    free(map->slots);
    map->slots = NULL;
}

/* Returns the id whose bytes are s[0..n), or -1. */
int32_t hark_bpe_map_find(const hark_bpe_map *map, const uint8_t *s, size_t n)
{
    uint32_t i = hash_bytes(s, n) & map->mask;
    for (;;) {
        int32_t id = map->slots[i];
        if (id < 0 || id_equals(map, id, s, n))
            return id;
        i = (i + 1) & map->mask;
    }
}

static int32_t rank_of(const hark_bpe_map *ranks, const uint8_t *s, int begin, int end)
{
    int32_t r = hark_bpe_map_find(ranks, s + begin, (size_t)(end - begin));
    return r < 0 ? NO_RANK : r;
}

/* Looks up the final parts (boundaries pos[0..m]) as ranks. */
static int emit_parts(const hark_bpe_map *ranks, const uint8_t *s, const int *pos, int m,
                      int32_t *out)
{
    for (int i = 0; i < m; i++) {
        int32_t r = hark_bpe_map_find(ranks, s + pos[i], (size_t)(pos[i + 1] - pos[i]));
        if (r < 0)
            return HARK_ERR_TOKENIZER; /* only a single byte can lack a rank */
        out[i] = r;
    }
    return m;
}

/* ---------------------------------------------------------------- rescan (tiktoken's) -------- */

/* pos[i] is where part i starts (pos[m] = n); rank[i] is the rank of parts i and i + 1 merged. */
static int merge_scan(const hark_bpe_map *ranks, const uint8_t *s, int n, int *pos,
                      int32_t *rank, int32_t *out)
{
    int m = n;
    for (int i = 0; i <= n; i++)
        pos[i] = i;
    for (int i = 0; i + 1 < m; i++)
        rank[i] = rank_of(ranks, s, pos[i], pos[i + 2]);
    while (m > 1) {
        int best = -1;
        int32_t best_rank = NO_RANK;
        for (int i = 0; i + 1 < m; i++)
            if (rank[i] < best_rank) {
                best_rank = rank[i];
                best = i;
            }
        if (best < 0)
            break;
        /* part best absorbs part best + 1 */
        memmove(pos + best + 1, pos + best + 2, (size_t)(m - best - 1) * sizeof(*pos));
        memmove(rank + best + 1, rank + best + 2,
                (size_t)(m > best + 3 ? m - best - 3 : 0) * sizeof(*rank));
        m--;
        if (best + 1 < m)
            rank[best] = rank_of(ranks, s, pos[best], pos[best + 2]);
        if (best > 0)
            rank[best - 1] = rank_of(ranks, s, pos[best - 1], pos[best + 1]);
    }
    return emit_parts(ranks, s, pos, m, out);
}

/* tiktoken's rescan merge of piece s[0..n) into ranks in out (room for n); returns their count
 * or a negative status (see bpe.h). */
int hark_bpe_merge_scan(const hark_bpe_map *ranks, const uint8_t *s, int n, int32_t *out)
{
    int pos_stack[SCAN_STACK + 1];
    int32_t rank_stack[SCAN_STACK];
    if (n <= SCAN_STACK)
        return merge_scan(ranks, s, n, pos_stack, rank_stack, out);
    int *pos = malloc((size_t)(n + 1) * sizeof(*pos));
    int32_t *rank = malloc((size_t)n * sizeof(*rank));
    int ret = pos && rank ? merge_scan(ranks, s, n, pos, rank, out) : HARK_ERR_NOMEM;
    free(rank);
    free(pos);
    return ret;
}

/* ---------------------------------------------------------------- heap ---------------------- */

/* A candidate merge of the part starting at byte pos with the part after it; stale once the
 * part's version has moved on. Ordered by (rank, pos): the leftmost lowest rank first. */
typedef struct pair_entry {
    int32_t rank;
    int32_t pos;
    uint32_t version;
} pair_entry;

static int entry_less(const pair_entry *a, const pair_entry *b)
{
    return a->rank < b->rank || (a->rank == b->rank && a->pos < b->pos);
}

static void heap_push(pair_entry *heap, int *len, pair_entry e)
{
    int i = (*len)++;
    while (i > 0) {
        int parent = (i - 1) / 2;
        if (!entry_less(&e, &heap[parent]))
            break;
        heap[i] = heap[parent];
        i = parent;
    }
    heap[i] = e;
}

static pair_entry heap_pop(pair_entry *heap, int *len)
{
    pair_entry top = heap[0], last = heap[--(*len)];
    int i = 0;
    for (;;) {
        int c = 2 * i + 1;
        if (c >= *len)
            break;
        if (c + 1 < *len && entry_less(&heap[c + 1], &heap[c]))
            c++;
        if (!entry_less(&heap[c], &last))
            break;
        heap[i] = heap[c];
        i = c;
    }
    if (*len > 0)
        heap[i] = last;
    return top;
}

/* Parts are identified by their first byte; next[p] is the following part (n: none). */
typedef struct heap_state {
    const hark_bpe_map *ranks;
    const uint8_t *s;
    int n;
    int *next, *prev;
    uint32_t *version;
    pair_entry *heap;
    int heap_len;
} heap_state;

/* Invalidates the old candidate of part p and pushes its current one, if its pair is a rank. */
static void heap_refresh(heap_state *h, int p)
{
    h->version[p]++;
    int q = h->next[p];
    if (q >= h->n)
        return;
    int32_t r = rank_of(h->ranks, h->s, p, h->next[q]);
    if (r != NO_RANK)
        heap_push(h->heap, &h->heap_len, (pair_entry){r, p, h->version[p]});
}

static int merge_heap(heap_state *h, int32_t *out)
{
    int n = h->n;
    for (int p = 0; p < n; p++) {
        h->next[p] = p + 1;
        h->prev[p] = p - 1;
        h->version[p] = 0;
    }
    for (int p = 0; p < n; p++)
        heap_refresh(h, p);
    while (h->heap_len > 0) {
        pair_entry e = heap_pop(h->heap, &h->heap_len);
        if (e.version != h->version[e.pos])
            continue; /* stale: the part merged or its neighbour changed */
        int p = e.pos, q = h->next[p];
        h->next[p] = h->next[q];
        if (h->next[q] < n)
            h->prev[h->next[q]] = p;
        h->version[q]++;
        heap_refresh(h, p);
        if (h->prev[p] >= 0)
            heap_refresh(h, h->prev[p]);
    }
    /* reuse prev as the list of part boundaries */
    int m = 0;
    for (int p = 0; p < n; p = h->next[p])
        h->prev[m++] = p;
    h->prev[m] = n;
    return emit_parts(h->ranks, h->s, h->prev, m, out);
}

/* The heap merge: same result and contract as hark_bpe_merge_scan, n log n. */
int hark_bpe_merge_heap(const hark_bpe_map *ranks, const uint8_t *s, int n, int32_t *out)
{
    /* at most n - 1 first candidates plus 2 per merge */
    size_t heap_cap = 3 * (size_t)n + 1;
    heap_state h = {.ranks = ranks, .s = s, .n = n};
    h.next = malloc((size_t)n * sizeof(*h.next));
    h.prev = malloc((size_t)(n + 1) * sizeof(*h.prev));
    h.version = malloc((size_t)n * sizeof(*h.version));
    h.heap = malloc(heap_cap * sizeof(*h.heap));
    int ret = HARK_ERR_NOMEM;
    if (h.next && h.prev && h.version && h.heap)
        ret = merge_heap(&h, out);
    free(h.heap);
    free(h.version);
    free(h.prev);
    free(h.next);
    return ret;
}

/* Merges piece s[0..n) into ranks, by rescan when short and by heap when long (see bpe.h). */
int hark_bpe_merge(const hark_bpe_map *ranks, const uint8_t *s, int n, int32_t *out)
{
    if (n <= SCAN_MAX_PIECE)
        return hark_bpe_merge_scan(ranks, s, n, out);
    return hark_bpe_merge_heap(ranks, s, n, out);
}
