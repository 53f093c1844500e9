/*
 * warmup.h — every shape a backend context will meet, run once (hark_batch_warmup).
 */
#ifndef HARK_ENGINE_WARMUP_H
#define HARK_ENGINE_WARMUP_H

#include "backend/backend.h"

/* On backend rb's context rctx with its W window and S sequence slots free: encoder passes of
 * 1, 2, 4, ... W windows of silence (every power-of-two range of encoder rows gets its timed
 * cuBLASLt algorithms: cuda_gemm.c) and decoder passes of 1, 2, 4, ... rows up to max_rows (each
 * row bucket's graph is captured), picked where the backend can (no logits to the host); then
 * every sequence slot is released. The caller holds the context alone. */
hark_status hark_engine_warmup(const hark_model *model, const hark_backend *rb, void *rctx,
                               int W, int S, int max_rows);

#endif
