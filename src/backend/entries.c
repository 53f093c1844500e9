/* entries.c — validation of a decode call's entries, shared by every backend. */
#include "backend/backend.h"

hark_status hark_check_entries(const char *who, const hark_decode_entry *e, int n,
                               const hark_entry_limits *lim, int have_logits)
{
    if (n < 0 || (n > 0 && !e))
        return hark_fail(HARK_ERR_INVALID_ARG, "%s: bad arguments (n %d)", who, n);
    if (n > lim->max_rows)
        return hark_fail(HARK_ERR_CAPACITY, "%s: %d entries, at most %d per call", who, n,
                         lim->max_rows);
    for (int i = 0; i < n; i++) {
        const hark_decode_entry *x = &e[i];
        if (x->seq < 0 || x->seq >= lim->max_seqs)
            return hark_fail(HARK_ERR_INVALID_ARG, "%s: entry %d: sequence slot %d of %d", who, i,
                             x->seq, lim->max_seqs);
        if (x->window < 0 || x->window >= lim->max_windows)
            return hark_fail(HARK_ERR_INVALID_ARG, "%s: entry %d: window slot %d of %d", who, i,
                             x->window, lim->max_windows);
        if (x->token < 0 || x->token >= lim->n_vocab)
            return hark_fail(HARK_ERR_INVALID_ARG, "%s: entry %d: token %d of %d", who, i,
                             x->token, lim->n_vocab);
        if (x->pos < 0)
            return hark_fail(HARK_ERR_INVALID_ARG, "%s: entry %d: position %d", who, i, x->pos);
        if (x->pos >= lim->n_text_ctx)
            return hark_fail(HARK_ERR_CAPACITY, "%s: entry %d: position %d past the text "
                             "context %d", who, i, x->pos, lim->n_text_ctx);
        if (x->want_logits && !have_logits)
            return hark_fail(HARK_ERR_INVALID_ARG, "%s: entry %d wants logits, no buffer", who, i);
    }
    /* two entries writing one position of one sequence; quadratic, so bounded (the limits
     * keep n small) */
    for (int i = 0; i < n && n <= 4096; i++)
        for (int j = 0; j < i; j++)
            if (e[j].seq == e[i].seq && e[j].pos == e[i].pos)
                return hark_fail(HARK_ERR_INVALID_ARG, "%s: entries %d and %d both write "
                                 "position %d of sequence %d", who, j, i, e[i].pos, e[i].seq);
    return HARK_OK;
}

hark_status hark_check_cross_qk(const char *who, const int32_t *heads, int n_heads, int n_frames,
                                const float *qk, int n_layers, int n_head, int n_ctx)
{
    if (!heads || n_heads < 1 || !qk || n_frames < 1 || n_frames > n_ctx)
        return hark_fail(HARK_ERR_INVALID_ARG, "%s: bad arguments (%d heads, %d frames)", who,
                         n_heads, n_frames);
    for (int k = 0; k < n_heads; k++)
        if (heads[2 * k] < 0 || heads[2 * k] >= n_layers || heads[2 * k + 1] < 0 ||
            heads[2 * k + 1] >= n_head)
            return hark_fail(HARK_ERR_INVALID_ARG, "%s: no head (%d, %d)", who, heads[2 * k],
                             heads[2 * k + 1]);
    return HARK_OK;
}
