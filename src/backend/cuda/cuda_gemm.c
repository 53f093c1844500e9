/*
 * cuda_gemm.c — the CUDA backend's matrix products through cuBLASLt: y = x W^T (+ bias)
 * (+ y), W [n][k] row-major as stored in the model, fp32 accumulation, bias in the epilogue,
 * the residual add as beta = 1 on the output. Plans (descriptors, layouts and the heuristic's
 * algorithm) are cached per shape in the context, so graphs can capture the calls; a full cache
 * drops its least recently used plan (a server meets a new encoder shape for every number of
 * windows a round brings). The timed algorithm of a shape is reused for shapes of the same
 * weight whose row count lies in the same power-of-two range: timing costs far more than the
 * encoder pass it tunes, and a server would otherwise pay it for each new batch size.
 */
#include "backend/cuda/cuda.h"

#include <string.h>

static cudaDataType_t cuda_type(hark_dtype dt)
{
    return dt == HARK_DTYPE_F16 ? CUDA_R_16F : dt == HARK_DTYPE_BF16 ? CUDA_R_16BF : CUDA_R_32F;
}

hark_status cu_check_lt(cublasStatus_t e, const char *what)
{
    if (e == CUBLAS_STATUS_SUCCESS)
        return HARK_OK;
    return hark_fail(HARK_ERR_BACKEND, "cuda: %s failed: cuBLASLt status %d", what, (int)e);
}

#define LT(expr) CU_TRY(cu_check_lt((expr), #expr))

#define LT_CANDIDATES 8

/* Times each candidate algorithm on the call's own operands with a scratch output (the real y
 * is not touched: accumulating products read it as C, write the scratch as D) and returns the
 * index of the fastest: one warm-up and 3 timed runs each. Outside stream capture only. */
static int plan_tune(cu_ctx *c, cu_plan *p, const cublasLtMatmulHeuristicResult_t *res, int n,
                     const void *x, const void *w, const void *y)
{
    const size_t esz = p->out_f32 ? 4 : c->w->esz;
    void *scratch = NULL;
    cudaEvent_t e0 = NULL, e1 = NULL;
    int best = 0;
    float best_ms = 1e30f;
    if (cudaMalloc(&scratch, (size_t)p->m * p->ldy * esz) != cudaSuccess ||
        cudaEventCreate(&e0) != cudaSuccess || cudaEventCreate(&e1) != cudaSuccess)
        goto done;
    const float alpha = 1.0f, beta = p->beta1 ? 1.0f : 0.0f;
    for (int i = 0; i < n; i++) {
        cublasStatus_t e = CUBLAS_STATUS_SUCCESS;
        for (int r = 0; r < 4 && e == CUBLAS_STATUS_SUCCESS; r++) {
            if (r == 1)
                cudaEventRecord(e0, c->st);
            e = cublasLtMatmul(c->lt, p->op, &alpha, w, p->a, x, p->b, &beta, y, p->c, scratch,
                               p->c, &res[i].algo, c->ws, c->ws_size, c->st);
        }
        cudaEventRecord(e1, c->st);
        float ms = 0.0f;
        if (cudaEventSynchronize(e1) != cudaSuccess || e != CUBLAS_STATUS_SUCCESS ||
            cudaEventElapsedTime(&ms, e0, e1) != cudaSuccess)
            continue;
        if (ms < best_ms) {
            best_ms = ms;
            best = i;
        }
    }
done:
    cudaGetLastError(); /* a candidate that failed to launch must not poison the next call */
    if (e0)
        cudaEventDestroy(e0);
    if (e1)
        cudaEventDestroy(e1);
    cudaFree(scratch);
    return best;
}

/* Builds the plan of one shape: row-major y[m][n] is column-major [n][m]; W row-major [n][k]
 * is column-major [k][n] taken transposed; x row-major [m][k] is column-major [k][m]. The
 * heuristic's first answer is taken under stream capture (or with HARK_CUDA_GEMM_TUNE=0);
 * otherwise its best LT_CANDIDATES are timed on the call's operands (plan_tune): cuBLASLt's
 * first pick for the decoder's skinny products (m = 128 rows against 1280-5120 wide weights)
 * leaves most multiprocessors idle. */
static int log2_floor(int m)
{
    int b = 0;
    while (m > 1)
        m >>= 1, b++;
    return b;
}

/* FP8 operands (p->f8): A (the weights) and B (the activations) e4m3, each with a vector of
 * fp32 scales over its outer dimension (weights per output channel, activations per row):
 * cuBLASLt's outer-vector scaling, Hopper and later. */
static hark_status plan_f8(cu_ctx *c, cu_plan *p, const float *ws, const float *xs)
{
    int32_t mode = CUBLASLT_MATMUL_MATRIX_SCALE_OUTER_VEC_32F;
    LT(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_A_SCALE_MODE, &mode, sizeof(mode)));
    LT(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_B_SCALE_MODE, &mode, sizeof(mode)));
    LT(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_A_SCALE_POINTER, &ws, sizeof(ws)));
    LT(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_B_SCALE_POINTER, &xs, sizeof(xs)));
    int8_t fast = (int8_t)c->f8_fast_accum;
    LT(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_FAST_ACCUM, &fast, sizeof(fast)));
    return HARK_OK;
}

static hark_status plan_new(cu_ctx *c, cu_plan *p, const void *x, const void *w, const void *bias,
                            const void *y, const float *ws, const float *xs)
{
    const cu_weights *cw = c->w;
    cudaDataType_t t = cuda_type(cw->dt), to = p->out_f32 ? CUDA_R_32F : t;
    cudaDataType_t tin = p->f8 ? CUDA_R_8F_E4M3 : t;
    LT(cublasLtMatmulDescCreate(&p->op, CUBLAS_COMPUTE_32F, CUDA_R_32F));
    cublasOperation_t ta = CUBLAS_OP_T, tb = CUBLAS_OP_N;
    LT(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof(ta)));
    LT(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof(tb)));
    if (p->f8)
        CU_TRY(plan_f8(c, p, ws, xs));
    if (p->bias) {
        cublasLtEpilogue_t epi = CUBLASLT_EPILOGUE_BIAS;
        LT(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof(epi)));
        LT(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, &t, sizeof(t)));
        LT(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias,
                                          sizeof(bias)));
    }
    LT(cublasLtMatrixLayoutCreate(&p->a, tin, (uint64_t)p->k, (uint64_t)p->n, p->k));
    LT(cublasLtMatrixLayoutCreate(&p->b, tin, (uint64_t)p->k, (uint64_t)p->m, p->ldx));
    LT(cublasLtMatrixLayoutCreate(&p->c, to, (uint64_t)p->n, (uint64_t)p->m, p->ldy));
    cublasLtMatmulPreference_t pref;
    LT(cublasLtMatmulPreferenceCreate(&pref));
    LT(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                            &c->ws_size, sizeof(c->ws_size)));
    cublasLtMatmulHeuristicResult_t res[LT_CANDIDATES];
    int found = 0;
    enum cudaStreamCaptureStatus cap = cudaStreamCaptureStatusNone;
    cudaStreamIsCapturing(c->st, &cap);
    const int tune = c->gemm_tune && cap == cudaStreamCaptureStatusNone;
    if (tune) { /* a timed sibling: same weight and kind, rows in the same 2^k range */
        for (int i = 0; i < c->n_plans; i++) {
            const cu_plan *q = &c->plans[i];
            if (q == p || !q->timed || q->n != p->n || q->k != p->k || q->bias != p->bias ||
                q->beta1 != p->beta1 || q->out_f32 != p->out_f32 || q->f8 != p->f8 ||
                log2_floor(q->m) != log2_floor(p->m))
                continue;
            cublasLtMatmulHeuristicResult_t chk;
            if (cublasLtMatmulAlgoCheck(c->lt, p->op, p->a, p->b, p->c, p->c, &q->algo, &chk) ==
                    CUBLAS_STATUS_SUCCESS &&
                chk.workspaceSize <= c->ws_size) {
                p->algo = q->algo;
                return HARK_OK;
            }
        }
    }
    cublasStatus_t e = cublasLtMatmulAlgoGetHeuristic(c->lt, p->op, p->a, p->b, p->c, p->c, pref,
                                                      tune ? LT_CANDIDATES : 1, res, &found);
    cublasLtMatmulPreferenceDestroy(pref);
    if (e != CUBLAS_STATUS_SUCCESS || found == 0)
        return hark_fail(HARK_ERR_BACKEND, "cuda: no cuBLASLt algorithm for %dx%dx%d (status %d)",
                         p->m, p->n, p->k, (int)e);
    p->timed = tune && found > 1;
    p->algo = res[p->timed ? plan_tune(c, p, res, found, x, w, y) : 0].algo;
    return HARK_OK;
}

static void plan_destroy(cu_plan *p)
{
    cublasLtMatmulDescDestroy(p->op);
    cublasLtMatrixLayoutDestroy(p->a);
    cublasLtMatrixLayoutDestroy(p->b);
    cublasLtMatrixLayoutDestroy(p->c);
    memset(p, 0, sizeof(*p));
}

/* The cached plan of key's shape, built (and tuned on x, w, y) on first use. */
static hark_status plan_get(cu_ctx *c, const cu_plan *key, const void *x, const void *w,
                            const void *bias, const void *y, const float *ws, const float *xs,
                            cu_plan **out)
{
    c->plan_tick++;
    for (int i = 0; i < c->n_plans; i++) {
        cu_plan *p = &c->plans[i];
        if (p->n == key->n && p->m == key->m && p->k == key->k && p->ldx == key->ldx &&
            p->ldy == key->ldy && p->bias == key->bias && p->beta1 == key->beta1 &&
            p->out_f32 == key->out_f32 && p->f8 == key->f8) {
            p->used = c->plan_tick;
            *out = p;
            return HARK_OK;
        }
    }
    int slot = c->n_plans;
    if (slot == CU_MAX_PLANS) { /* full: the least recently used goes (a captured graph keeps
                                   its own copy of what the call launched) */
        slot = 0;
        for (int i = 1; i < c->n_plans; i++)
            if (c->plans[i].used < c->plans[slot].used)
                slot = i;
        plan_destroy(&c->plans[slot]);
    }
    cu_plan *p = &c->plans[slot];
    *p = *key;
    p->used = c->plan_tick;
    hark_status st = plan_new(c, p, x, w, bias, y, ws, xs);
    if (st != HARK_OK) {
        memset(p, 0, sizeof(*p)); /* what plan_new made before failing leaks: rare, and small */
        if (slot < c->n_plans) { /* keep the array dense: the last plan fills the hole */
            c->plans[slot] = c->plans[--c->n_plans];
            memset(&c->plans[c->n_plans], 0, sizeof(cu_plan));
        }
        return st;
    }
    if (slot == c->n_plans)
        c->n_plans++;
    *out = p;
    return HARK_OK;
}

hark_status cu_gemm(cu_ctx *c, const cu_lin *w, const void *x, int ldx, int m, void *y, int ldy,
                    int accumulate, int out_f32)
{
    cu_lin_opts o = { .accumulate = accumulate, .out_f32 = out_f32 };
    return cu_linear(c, w, x, ldx, m, y, ldy, &o);
}

/* Runs plan p on (w, x) into y: the call's bias pointer (a cached plan carries the one of the call
 * that made it), the residual as beta = 1. */
static hark_status plan_run(cu_ctx *c, cu_plan *p, const void *w, const void *x, const void *bias,
                            void *y, int accumulate)
{
    if (bias)
        LT(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias,
                                          sizeof(bias)));
    float alpha = 1.0f, beta = accumulate ? 1.0f : 0.0f;
    LT(cublasLtMatmul(c->lt, p->op, &alpha, w, p->a, x, p->b, &beta, y, p->c, y, p->c, &p->algo,
                      c->ws, c->ws_size, c->st));
    return HARK_OK;
}

/* The general path: cuBLASLt with bias in the epilogue and the residual as beta = 1. */
static hark_status gemm_lt(cu_ctx *c, const cu_lin *w, const void *x, int ldx, int m, void *y,
                           int ldy, int accumulate, int out_f32)
{
    cu_plan key = { .n = w->n, .m = m, .k = w->k, .ldx = ldx, .ldy = ldy, .bias = w->b != NULL,
                    .beta1 = accumulate != 0, .out_f32 = out_f32 != 0 };
    cu_plan *p = NULL;
    CU_TRY(plan_get(c, &key, x, w->w, w->b, y, NULL, NULL, &p));
    return plan_run(c, p, w->w, x, w->b, y, accumulate);
}

hark_status cu_gemm_f8(cu_ctx *c, const cu_lin *w, const uint8_t *x8, const float *xs, int m,
                       void *y, int ldy, int accumulate)
{
    if (m <= 0)
        return HARK_OK;
    if (!w->w8)
        return hark_fail(HARK_ERR_BACKEND, "cuda: an FP8 product of a matrix without FP8 weights");
    cu_plan key = { .n = w->n, .m = m, .k = w->k, .ldx = w->k, .ldy = ldy, .bias = w->b != NULL,
                    .beta1 = accumulate != 0, .f8 = 1 };
    cu_plan *p = NULL;
    CU_TRY(plan_get(c, &key, x8, w->w8, w->b, y, w->s8, xs, &p));
    /* a cached plan carries the scale pointers of the call that made it */
    LT(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_A_SCALE_POINTER, &w->s8,
                                      sizeof(w->s8)));
    LT(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_B_SCALE_POINTER, &xs,
                                      sizeof(xs)));
    return plan_run(c, p, w->w8, x8, w->b, y, accumulate);
}

/* The small-batch kernel with everything o asks for fused; *done = 0 when it does not take this
 * shape or size (the caller goes on with the general path). */
static hark_status try_gemv(cu_ctx *c, const cu_lin *w, const void *x, int ldx, int m, void *y,
                            int ldy, const cu_lin_opts *o, int *done)
{
    const cu_weights *cw = c->w;
    *done = 0;
    if (m > (w->qbits ? c->gemv_q_max_rows : c->gemv_max_rows))
        return HARK_OK;
    cu_gemv_args a = { .dt = cw->dt, .x = x, .ldx = ldx, .m = m, .w = w->w, .b = w->b,
                       .n = w->n, .k = w->k, .y = y, .ldy = ldy, .accumulate = o->accumulate,
                       .out_f32 = o->out_f32, .gelu = o->gelu, .ln_g = o->ln_g, .ln_b = o->ln_b,
                       .k_pool = o->k_pool, .v_pool = o->v_pool, .kv_slot = o->kv_slot,
                       .kv_d = cw->D, .splitk = c->gemv_splitk,
                       .splitk_min_k = c->gemv_splitk_min_k, .qbits = w->qbits,
                       .group = w->group, .scale = w->scale };
    int e = cu_gemv(&a, c->st);
    if (e == 0) {
        *done = 1;
        return HARK_OK;
    }
    if (e != (int)cudaErrorInvalidValue)
        return cu_check((cudaError_t)e, "cu_gemv");
    cudaGetLastError(); /* not this shape: clear the launcher's error, take the general path */
    return HARK_OK;
}

hark_status cu_linear(cu_ctx *c, const cu_lin *w, const void *x, int ldx, int m, void *y, int ldy,
                      const cu_lin_opts *o)
{
    if (m <= 0)
        return HARK_OK;
    const cu_weights *cw = c->w;
    if (!w->w)
        return hark_fail(HARK_ERR_BACKEND, "cuda: an FP8-only matrix reached the fp16 product");
    int done = 0;
    CU_TRY(try_gemv(c, w, x, ldx, m, y, ldy, o, &done));
    if (done)
        return HARK_OK;
    if (w->qbits) { /* more rows than the small-batch kernel takes: dequantize for cuBLASLt */
        CU_TRY(cu_check((cudaError_t)cu_dequant(cw->dt, w->qbits, w->group, w->w, w->scale, w->n,
                                                w->k, c->wq, c->st), "cu_dequant"));
        cu_lin plain = { .w = c->wq, .b = w->b, .n = w->n, .k = w->k };
        return cu_linear(c, &plain, x, ldx, m, y, ldy, o);
    }
    if (o->ln_g) { /* the layer norm on its own, then the product without it */
        CU_TRY(cu_check((cudaError_t)cu_layer_norm(cw->dt, x, o->ln_g, o->ln_b, o->ln_scratch, m,
                                                   w->k, c->st), "cu_layer_norm"));
        cu_lin_opts plain = *o;
        plain.ln_g = plain.ln_b = NULL;
        return cu_linear(c, w, o->ln_scratch, w->k, m, y, ldy, &plain);
    }
    CU_TRY(gemm_lt(c, w, x, ldx, m, y, ldy, o->accumulate, o->out_f32));
    if (o->gelu)
        CU_TRY(cu_check((cudaError_t)cu_gelu(cw->dt, y, (long)m * ldy, c->st), "cu_gelu"));
    if (o->kv_slot) {
        const char *yc = y;
        CU_TRY(cu_check((cudaError_t)cu_kv_write(cw->dt, yc + (size_t)cw->D * cw->esz,
                                                 yc + (size_t)2 * cw->D * cw->esz, ldy, o->k_pool,
                                                 o->v_pool, o->kv_slot, m, cw->D, c->st),
                        "cu_kv_write"));
    }
    return HARK_OK;
}

void cu_plans_free(cu_ctx *c)
{
    for (int i = 0; i < c->n_plans; i++)
        plan_destroy(&c->plans[i]);
    c->n_plans = 0;
}
