/*
 * gemv.cu — the decoder's matrix products at small batch: y[m][n] = x[m][k] W[n][k]^T (+ b)
 * (+ y), m <= 8. Memory-bound: each weight row is read once with 16-byte loads by one warp and
 * multiplied with all m activation rows (which stay in L1/L2), fp32 accumulation, bias and the
 * residual add in the epilogue. cuBLASLt's GEMM kernels at m = 1 read the weights at well under
 * the card's bandwidth; this is the path that decides single-stream latency.
 */
#include "backend/cuda/common.cuh"

#define GEMV_WARPS 8

template <typename T, int M, bool OUTF32>
__global__ void __launch_bounds__(GEMV_WARPS * 32)
    gemv_kernel(const T *__restrict__ x, int ldx, int m, const T *__restrict__ w,
                const T *__restrict__ b, int n, int k, void *y, int ldy, int accumulate,
                int gelu)
{
    constexpr int V = vec16<T>();
    const int lane = threadIdx.x & 31;
    const int warp = (int)((blockIdx.x * blockDim.x + threadIdx.x) >> 5);
    const int nwarps = (int)((gridDim.x * blockDim.x) >> 5);
    for (int row = warp; row < n; row += nwarps) {
        const T *wr = w + (size_t)row * k;
        float acc[M];
#pragma unroll
        for (int i = 0; i < M; i++)
            acc[i] = 0.0f;
#pragma unroll 4
        for (int kk = lane * V; kk < k; kk += 32 * V) {
            float wv[V];
            load_f<T, V>(wr + kk, wv);
#pragma unroll
            for (int i = 0; i < M; i++) {
                if (i < m) {
                    float xv[V];
                    load_f<T, V>(x + (size_t)i * ldx + kk, xv);
#pragma unroll
                    for (int j = 0; j < V; j++)
                        acc[i] = fmaf(wv[j], xv[j], acc[i]);
                }
            }
        }
#pragma unroll
        for (int i = 0; i < M; i++)
            acc[i] = warp_sum(acc[i]);
        const float bias = b ? to_f(b[row]) : 0.0f;
#pragma unroll
        for (int i = 0; i < M; i++) {
            if (i < m && lane == i) {
                float v = acc[i] + bias;
                if (gelu)
                    v = 0.5f * v * (1.0f + erff(v * 0.70710678118654752f));
                if (OUTF32) {
                    float *yo = (float *)y + (size_t)i * ldy + row;
                    *yo = accumulate ? *yo + v : v;
                } else {
                    T *yo = (T *)y + (size_t)i * ldy + row;
                    *yo = from_f<T>(accumulate ? to_f(*yo) + v : v);
                }
            }
        }
    }
}

template <typename T, bool OUTF32>
static int launch(const void *x, int ldx, int m, const void *w, const void *b, int n, int k,
                  void *y, int ldy, int accumulate, int gelu, cudaStream_t s)
{
    long blocks = ((long)n + GEMV_WARPS - 1) / GEMV_WARPS;
    if (blocks > 132L * 16)
        blocks = 132L * 16;
    dim3 grid((unsigned)blocks), block(GEMV_WARPS * 32);
    const T *xt = (const T *)x, *wt = (const T *)w, *bt = (const T *)b;
    if (m == 1)
        gemv_kernel<T, 1, OUTF32><<<grid, block, 0, s>>>(xt, ldx, m, wt, bt, n, k, y, ldy, accumulate, gelu);
    else if (m == 2)
        gemv_kernel<T, 2, OUTF32><<<grid, block, 0, s>>>(xt, ldx, m, wt, bt, n, k, y, ldy, accumulate, gelu);
    else if (m <= 4)
        gemv_kernel<T, 4, OUTF32><<<grid, block, 0, s>>>(xt, ldx, m, wt, bt, n, k, y, ldy, accumulate, gelu);
    else
        gemv_kernel<T, 8, OUTF32><<<grid, block, 0, s>>>(xt, ldx, m, wt, bt, n, k, y, ldy, accumulate, gelu);
    return (int)cudaGetLastError();
}

extern "C" int cu_gemv(hark_dtype dt, const void *x, int ldx, int m, const void *w, const void *b,
                       int n, int k, void *y, int ldy, int accumulate, int out_f32, int gelu,
                       cu_stream s)
{
    if (m <= 0 || n <= 0)
        return 0;
    const unsigned es = dt == HARK_DTYPE_F32 ? 4u : 2u;
    const int vec = 16 / (int)es;
    if (m > CU_GEMV_MAX_ROWS || k % vec != 0 || ldx % vec != 0 || !is_aligned(x, 16) ||
        !is_aligned(w, 16))
        return (int)cudaErrorInvalidValue;
    cudaStream_t st = (cudaStream_t)s;
    HARK_CU_DISPATCH(dt, T, {
        return out_f32 ? launch<T, true>(x, ldx, m, w, b, n, k, y, ldy, accumulate, gelu, st)
                       : launch<T, false>(x, ldx, m, w, b, n, k, y, ldy, accumulate, gelu, st);
    });
    return 0;
}
