/*
 * ltsearch.c — how far cuBLASLt's own candidates are from the best configuration it has for the
 * decoder's batched products (y[m][n] = x[m][k] W[n][k]^T + b, fp16, fp32 accumulation), the
 * shapes of a large-v3 step at m rows. For each shape it times:
 *   top1   the heuristic's first answer (what a captured graph gets without tuning);
 *   top8   the best of the heuristic's first 8 (what cuda_gemm.c's plan_tune picks);
 *   all    the best over every algorithm id (the heuristic asked per id, up to 16 answers each),
 *          and for those that take split-K, each answer again with 2..16 splits.
 * The weights rotate over enough copies to miss L2, as in a decoder step where the whole
 * decoder (1.6 GB) streams each step. Median of 7 runs of 10 calls each.
 *   nvcc -O2 -o ltsearch ltsearch.c -lcublasLt && ./ltsearch 256
 */
#include <cublasLt.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CK(x) do { cudaError_t e_ = (x); if (e_ != cudaSuccess) { \
    fprintf(stderr, "%s: %s\n", #x, cudaGetErrorString(e_)); exit(1); } } while (0)
#define LK(x) do { cublasStatus_t e_ = (x); if (e_ != CUBLAS_STATUS_SUCCESS) { \
    fprintf(stderr, "%s: status %d\n", #x, (int)e_); exit(1); } } while (0)

#define COPIES 8
#define MAXC 4096

typedef struct {
    cublasLtHandle_t lt;
    cublasLtMatmulDesc_t op;
    cublasLtMatrixLayout_t a, b, c;
    void *w[COPIES], *x, *y, *bias, *ws;
    size_t ws_size;
    int m, n, k, beta1;
    cudaStream_t st;
    cudaEvent_t e0, e1;
} prob;

static int cmpf(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return x < y ? -1 : x > y;
}

/* median microseconds a call of algo, or -1 when it does not run */
static float time_algo(prob *p, const cublasLtMatmulAlgo_t *algo)
{
    const float alpha = 1.0f, beta = p->beta1 ? 1.0f : 0.0f;
    float t[7];
    int w = 0;
    for (int r = 0; r < 2; r++)
        if (cublasLtMatmul(p->lt, p->op, &alpha, p->w[w++ % COPIES], p->a, p->x, p->b, &beta,
                           p->y, p->c, p->y, p->c, algo, p->ws, p->ws_size, p->st) !=
            CUBLAS_STATUS_SUCCESS) {
            cudaGetLastError();
            return -1.0f;
        }
    for (int rep = 0; rep < 7; rep++) {
        cudaEventRecord(p->e0, p->st);
        for (int i = 0; i < 10; i++)
            cublasLtMatmul(p->lt, p->op, &alpha, p->w[w++ % COPIES], p->a, p->x, p->b, &beta,
                           p->y, p->c, p->y, p->c, algo, p->ws, p->ws_size, p->st);
        cudaEventRecord(p->e1, p->st);
        if (cudaEventSynchronize(p->e1) != cudaSuccess) {
            cudaGetLastError();
            return -1.0f;
        }
        float ms = 0;
        cudaEventElapsedTime(&ms, p->e0, p->e1);
        t[rep] = ms * 100.0f; /* us a call */
    }
    qsort(t, 7, sizeof(float), cmpf);
    return t[3];
}

/* Times algo with splitk slices reduced by red (splitk 0: as given) when the library takes
 * that configuration; keeps the fastest in *best / *best_algo. Returns 1 when it ran. */
static int try_config(prob *p, cublasLtMatmulAlgo_t al, int splitk, uint32_t red, float *best,
                      cublasLtMatmulAlgo_t *best_algo)
{
    if (splitk) {
        cublasLtMatmulHeuristicResult_t chk;
        if (cublasLtMatmulAlgoConfigSetAttribute(&al, CUBLASLT_ALGO_CONFIG_SPLITK_NUM, &splitk,
                                                 sizeof(splitk)) != CUBLAS_STATUS_SUCCESS ||
            cublasLtMatmulAlgoConfigSetAttribute(&al, CUBLASLT_ALGO_CONFIG_REDUCTION_SCHEME, &red,
                                                 sizeof(red)) != CUBLAS_STATUS_SUCCESS ||
            cublasLtMatmulAlgoCheck(p->lt, p->op, p->a, p->b, p->c, p->c, &al, &chk) !=
                CUBLAS_STATUS_SUCCESS ||
            chk.workspaceSize > p->ws_size)
            return 0;
    }
    float us = time_algo(p, &al);
    if (us > 0 && us < *best)
        *best = us, *best_algo = al;
    return 1;
}

static void describe(const cublasLtMatmulAlgo_t *algo, char *out, size_t n)
{
    int id = 0, tile = 0, splitk = 0, red = 0, swz = 0, stages = 0, cluster = 0;
    size_t sw;
    cublasLtMatmulAlgoConfigGetAttribute(algo, CUBLASLT_ALGO_CONFIG_ID, &id, sizeof(id), &sw);
    cublasLtMatmulAlgoConfigGetAttribute(algo, CUBLASLT_ALGO_CONFIG_TILE_ID, &tile, sizeof(tile), &sw);
    cublasLtMatmulAlgoConfigGetAttribute(algo, CUBLASLT_ALGO_CONFIG_SPLITK_NUM, &splitk, sizeof(splitk), &sw);
    cublasLtMatmulAlgoConfigGetAttribute(algo, CUBLASLT_ALGO_CONFIG_REDUCTION_SCHEME, &red, sizeof(red), &sw);
    cublasLtMatmulAlgoConfigGetAttribute(algo, CUBLASLT_ALGO_CONFIG_CTA_SWIZZLING, &swz, sizeof(swz), &sw);
    cublasLtMatmulAlgoConfigGetAttribute(algo, CUBLASLT_ALGO_CONFIG_STAGES_ID, &stages, sizeof(stages), &sw);
    cublasLtMatmulAlgoConfigGetAttribute(algo, CUBLASLT_ALGO_CONFIG_CLUSTER_SHAPE_ID, &cluster, sizeof(cluster), &sw);
    snprintf(out, n, "id %d tile %d splitk %d red %d swz %d stages %d cluster %d", id, tile,
             splitk, red, swz, stages, cluster);
}

static void run_shape(cublasLtHandle_t lt, cudaStream_t st, int m, int n, int k, int bias, int beta1,
                      int out_f32)
{
    prob p = { .lt = lt, .m = m, .n = n, .k = k, .beta1 = beta1, .st = st, .ws_size = 32u << 20 };
    cudaDataType_t t = CUDA_R_16F, to = out_f32 ? CUDA_R_32F : CUDA_R_16F;
    size_t wb = (size_t)n * k * 2;
    int copies = COPIES;
    for (int i = 0; i < copies; i++) {
        CK(cudaMalloc(&p.w[i], wb));
        CK(cudaMemset(p.w[i], 0x11, wb)); /* 0x1111: a small positive half, never zero */
    }
    CK(cudaMalloc(&p.x, (size_t)m * k * 2));
    CK(cudaMemset(p.x, 0x22, (size_t)m * k * 2));
    CK(cudaMalloc(&p.y, (size_t)m * n * 4));
    CK(cudaMemset(p.y, 0, (size_t)m * n * 4));
    CK(cudaMalloc(&p.bias, (size_t)n * 2));
    CK(cudaMemset(p.bias, 0, (size_t)n * 2));
    CK(cudaMalloc(&p.ws, p.ws_size));
    CK(cudaEventCreate(&p.e0));
    CK(cudaEventCreate(&p.e1));
    LK(cublasLtMatmulDescCreate(&p.op, CUBLAS_COMPUTE_32F, CUDA_R_32F));
    cublasOperation_t ta = CUBLAS_OP_T, tb = CUBLAS_OP_N;
    LK(cublasLtMatmulDescSetAttribute(p.op, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof(ta)));
    LK(cublasLtMatmulDescSetAttribute(p.op, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof(tb)));
    if (bias) {
        cublasLtEpilogue_t epi = CUBLASLT_EPILOGUE_BIAS;
        LK(cublasLtMatmulDescSetAttribute(p.op, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof(epi)));
        LK(cublasLtMatmulDescSetAttribute(p.op, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, &t, sizeof(t)));
        LK(cublasLtMatmulDescSetAttribute(p.op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &p.bias, sizeof(p.bias)));
    }
    LK(cublasLtMatrixLayoutCreate(&p.a, t, (uint64_t)k, (uint64_t)n, k));
    LK(cublasLtMatrixLayoutCreate(&p.b, t, (uint64_t)k, (uint64_t)m, k));
    LK(cublasLtMatrixLayoutCreate(&p.c, to, (uint64_t)n, (uint64_t)m, n));
    cublasLtMatmulPreference_t pref;
    LK(cublasLtMatmulPreferenceCreate(&pref));
    LK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                            &p.ws_size, sizeof(p.ws_size)));
    cublasLtMatmulHeuristicResult_t res[16];
    int found = 0;
    LK(cublasLtMatmulAlgoGetHeuristic(lt, p.op, p.a, p.b, p.c, p.c, pref, 8, res, &found));
    float top1 = time_algo(&p, &res[0].algo), top8 = 1e30f;
    char d1[160], d8[160], da[160];
    describe(&res[0].algo, d1, sizeof(d1));
    int i8 = 0;
    for (int i = 0; i < found; i++) {
        float us = time_algo(&p, &res[i].algo);
        if (us > 0 && us < top8)
            top8 = us, i8 = i;
    }
    describe(&res[i8].algo, d8, sizeof(d8));
    float best = top8;
    cublasLtMatmulAlgo_t best_algo = res[i8].algo;
    int ids[256], nid = 0, tried = 0;
    LK(cublasLtMatmulAlgoGetIds(lt, CUBLAS_COMPUTE_32F, CUDA_R_32F, t, t, to, to, 256, ids, &nid));
    uint32_t mode = CUBLASLT_SEARCH_LIMITED_BY_ALGO_ID;
    LK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_SEARCH_MODE, &mode, sizeof(mode)));
    for (int a = 0; a < nid; a++) {
        cublasLtMatmulHeuristicResult_t r[16];
        int nf = 0, bad = 0;
        for (int j = 0; j < 16; j++)
            bad |= cublasLtMatmulAlgoInit(lt, CUBLAS_COMPUTE_32F, CUDA_R_32F, t, t, to, to,
                                          ids[a], &r[j].algo) != CUBLAS_STATUS_SUCCESS;
        cublasStatus_t he = bad ? CUBLAS_STATUS_NOT_SUPPORTED
                                : cublasLtMatmulAlgoGetHeuristic(lt, p.op, p.a, p.b, p.c, p.c,
                                                                 pref, 16, r, &nf);
        if (he != CUBLAS_STATUS_SUCCESS || nf == 0) { /* the id's default configuration */
            nf = 0;
            cublasLtMatmulHeuristicResult_t chk;
            if (!bad && cublasLtMatmulAlgoCheck(lt, p.op, p.a, p.b, p.c, p.c, &r[0].algo, &chk) ==
                            CUBLAS_STATUS_SUCCESS && chk.workspaceSize <= p.ws_size)
                nf = 1;
        }
        for (int j = 0; j < nf; j++) {
            int sk_ok = 0;
            size_t sw;
            cublasLtMatmulAlgoCapGetAttribute(&r[j].algo, CUBLASLT_ALGO_CAP_SPLITK_SUPPORT,
                                              &sk_ok, sizeof(sk_ok), &sw);
            static const int splits[] = { 0, 2, 3, 4, 6, 8, 12, 16 };
            for (int sp = 0; sp < (sk_ok ? 8 : 1); sp++)
                tried += try_config(&p, r[j].algo, splits[sp],
                                    CUBLASLT_REDUCTION_SCHEME_COMPUTE_TYPE, &best, &best_algo);
        }
    }
    static const int splits2[] = { 2, 3, 4, 5, 6, 8, 10, 12, 16 };
    static const uint32_t reds[] = { CUBLASLT_REDUCTION_SCHEME_COMPUTE_TYPE,
                                     CUBLASLT_REDUCTION_SCHEME_INPLACE,
                                     CUBLASLT_REDUCTION_SCHEME_OUTPUT_TYPE };
    int tried8 = 0;
    for (int i = 0; i < found; i++)
        for (int sp = 0; sp < 9; sp++)
            for (int rr = 0; rr < 3; rr++)
                tried8 += try_config(&p, res[i].algo, splits2[sp], reds[rr], &best, &best_algo);
    tried += tried8;
    printf("(%d ids, %d split-K variants of the top 8)\n", nid, tried8);
    describe(&best_algo, da, sizeof(da));
    double gb = (double)wb / 1e3, tf = 2.0 * m * n * k / 1e6;
    printf("m %d n %d k %d%s%s%s: top1 %.1f us | top8 %.1f us | all %.1f us (%d tried; %.0f GB/s "
           "of weights, %.0f TFLOP/s) | ratio top8/all %.2f\n  top1: %s\n  top8: %s\n  all:  %s\n",
           m, n, k, bias ? " bias" : "", beta1 ? " beta1" : "", out_f32 ? " f32out" : "", top1,
           top8, best, tried, gb / best, tf / best, top8 / best, d1, d8, da);
    fflush(stdout);
    cublasLtMatmulPreferenceDestroy(pref);
    cublasLtMatmulDescDestroy(p.op);
    cublasLtMatrixLayoutDestroy(p.a), cublasLtMatrixLayoutDestroy(p.b), cublasLtMatrixLayoutDestroy(p.c);
    for (int i = 0; i < copies; i++)
        cudaFree(p.w[i]);
    cudaFree(p.x), cudaFree(p.y), cudaFree(p.bias), cudaFree(p.ws);
    cudaEventDestroy(p.e0), cudaEventDestroy(p.e1);
}

int main(int argc, char **argv)
{
    cublasLtHandle_t lt;
    cudaStream_t st;
    LK(cublasLtCreate(&lt));
    CK(cudaStreamCreate(&st));
    for (int a = 1; a < argc; a++) {
        int m = atoi(argv[a]);
        run_shape(lt, st, m, 3840, 1280, 1, 0, 0); /* QKV */
        run_shape(lt, st, m, 1280, 1280, 1, 1, 0); /* O, cross O (+ residual) */
        run_shape(lt, st, m, 1280, 1280, 1, 0, 0); /* cross query */
        run_shape(lt, st, m, 5120, 1280, 1, 0, 0); /* fc1 */
        run_shape(lt, st, m, 1280, 5120, 1, 1, 0); /* fc2 (+ residual) */
        run_shape(lt, st, m, 51866, 1280, 0, 0, 1); /* logits, fp32 out */
    }
    return 0;
}
