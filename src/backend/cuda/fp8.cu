/*
 * fp8.cu — rows to FP8 (e4m3) with one fp32 scale per row: the operands of the encoder's FP8
 * matrix products (cuda_gemm.c gemm_f8). A row's scale is max |value| / 448 (448 is e4m3's
 * largest finite value), so every row uses the format's whole range; the product's epilogue
 * multiplies the row scale of the activations by the row (output channel) scale of the weights
 * (cuBLASLt's outer-vector scaling). The same kernel converts the weights at upload (rows of W)
 * and, fused with what precedes a product, the activations: a plain copy, GELU, or layer norm.
 * ref: Micikevicius et al., "FP8 Formats for Deep Learning" (2022), e4m3 with per-tensor
 * scaling; here per row, the granularity the Hopper cuBLASLt epilogue takes.
 */
#include "backend/cuda/common.cuh"

#include <cuda_fp8.h>

#define F8_MAX 448.0f
#define F8_MAX_K 12000 /* a row that is not whole vectors is staged in shared memory as fp32:
                          47 KiB, under the 48 KiB a block gets without asking */

/* GELU with erf from Abramowitz & Stegun 7.1.26 (absolute error below 1.5e-7, far under the
 * e4m3 step it is rounded to next): a reciprocal, an exponential and five FMAs instead of erff's
 * polynomial, which made the GELU operand of fc2 compute-bound. */
__device__ __forceinline__ float f8_gelu(float x)
{
    const float z = fabsf(x) * 0.70710678118654752f;
    const float t = __fdividef(1.0f, 1.0f + 0.3275911f * z);
    float p = fmaf(t, 1.061405429f, -1.453152027f);
    p = fmaf(t, p, 1.421413741f);
    p = fmaf(t, p, -0.284496736f);
    p = fmaf(t, p, 0.254829592f);
    const float e = 1.0f - p * t * __expf(-z * z); /* erf(|x| / sqrt 2) */
    return 0.5f * x * (1.0f + copysignf(e, x));
}

/* Sum over the block (blockDim.x a multiple of 32, at most 1024); every thread gets it. */
__device__ __forceinline__ float block_sum(float v, float *red)
{
    const int lane = threadIdx.x % 32, wid = threadIdx.x / 32, nw = blockDim.x / 32;
    v = warp_sum(v);
    __syncthreads(); /* red may still be read from the previous reduction */
    if (lane == 0)
        red[wid] = v;
    __syncthreads();
    float t = 0.0f;
    for (int i = 0; i < nw; i++)
        t += red[i];
    return t;
}

__device__ __forceinline__ float block_max(float v, float *red)
{
    const int lane = threadIdx.x % 32, wid = threadIdx.x / 32, nw = blockDim.x / 32;
#pragma unroll
    for (int o = 16; o > 0; o /= 2)
        v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    __syncthreads();
    if (lane == 0)
        red[wid] = v;
    __syncthreads();
    float t = 0.0f;
    for (int i = 0; i < nw; i++)
        t = fmaxf(t, red[i]);
    return t;
}

/* The row's scale from its largest magnitude (block-wide): stored by thread 0, its inverse
 * returned. A zero (or non-finite) maximum gives scale 1. */
__device__ __forceinline__ float row_scale(float amax, float *red, float *scale, size_t r)
{
    amax = block_max(amax, red);
    const float s = amax > 0.0f && amax <= 3.0e38f ? amax / F8_MAX : 1.0f;
    if (threadIdx.x == 0)
        scale[r] = s;
    return 1.0f / s;
}

/* Any row: one block per row. Pass 1 stages f(x) (GELU applied, or raw for layer norm) in shared memory
 * and sums it; layer norm then normalises in place; the maximum magnitude gives the scale; the
 * last pass writes the e4m3 values, VEC at a time when the row allows 16-byte loads. */
template <typename T, int MODE, bool VEC>
__global__ void rows_to_f8_kernel(const T *__restrict__ x, int ldx, const T *__restrict__ g,
                                  const T *__restrict__ b, int k, uint8_t *__restrict__ out,
                                  float *__restrict__ scale)
{
    extern __shared__ float row[];
    __shared__ float red[32];
    constexpr int N = vec16<T>();
    const size_t r = blockIdx.x;
    const T *xr = x + r * (size_t)ldx;
    float sum = 0.0f;
    if (VEC) {
        for (int j = threadIdx.x * N; j < k; j += blockDim.x * N) {
            float v[N];
            load_f<T, N>(xr + j, v);
#pragma unroll
            for (int e = 0; e < N; e++) {
                if (MODE == CU_F8_GELU)
                    v[e] = f8_gelu(v[e]);
                row[j + e] = v[e];
                sum += v[e];
            }
        }
    } else {
        for (int j = threadIdx.x; j < k; j += blockDim.x) {
            float v = to_f(xr[j]);
            if (MODE == CU_F8_GELU)
                v = f8_gelu(v);
            row[j] = v;
            sum += v;
        }
    }
    if (MODE == CU_F8_LN) { /* mean, then the centred variance (as cu_layer_norm) */
        const float mean = block_sum(sum, red) / (float)k;
        float sq = 0.0f;
        for (int j = threadIdx.x; j < k; j += blockDim.x) {
            const float c = row[j] - mean;
            sq += c * c;
        }
        const float rstd = 1.0f / sqrtf(block_sum(sq, red) / (float)k + 1e-5f);
        for (int j = threadIdx.x; j < k; j += blockDim.x)
            row[j] = (row[j] - mean) * rstd * to_f(g[j]) + to_f(b[j]);
    }
    __syncthreads();
    float amax = 0.0f;
    for (int j = threadIdx.x; j < k; j += blockDim.x)
        amax = fmaxf(amax, fabsf(row[j])); /* fmaxf drops NaN: a NaN stays NaN in its element */
    const float inv = row_scale(amax, red, scale, r);
    uint8_t *orow = out + r * (size_t)k;
    for (int j = threadIdx.x * 4; j < k; j += blockDim.x * 4) { /* k % 4 == 0 */
        __nv_fp8x2_storage_t lo = __nv_cvt_float2_to_fp8x2(
            make_float2(row[j] * inv, row[j + 1] * inv), __NV_SATFINITE, __NV_E4M3);
        __nv_fp8x2_storage_t hi = __nv_cvt_float2_to_fp8x2(
            make_float2(row[j + 2] * inv, row[j + 3] * inv), __NV_SATFINITE, __NV_E4M3);
        *reinterpret_cast<uint32_t *>(orow + j) = (uint32_t)lo | ((uint32_t)hi << 16);
    }
}

/* The common case (k a whole number of 16-byte vectors, at most 4 a thread): one block per row,
 * each thread holding VPT vectors of the row in registers, so that all of a row's loads are in
 * flight at once and nothing is staged; the reductions go through shared memory. */
template <typename T, int MODE, int VPT>
__global__ void rows_to_f8_reg_kernel(const T *__restrict__ x, int ldx, const T *__restrict__ g,
                                      const T *__restrict__ b, int k, uint8_t *__restrict__ out,
                                      float *__restrict__ scale)
{
    __shared__ float red[32];
    constexpr int N = vec16<T>();
    const size_t r = blockIdx.x;
    const T *xr = x + r * (size_t)ldx;
    float v[VPT][N];
    float sum = 0.0f;
#pragma unroll
    for (int i = 0; i < VPT; i++) {
        const int j = (threadIdx.x + i * blockDim.x) * N;
        if (j < k) {
            load_f<T, N>(xr + j, v[i]);
#pragma unroll
            for (int e = 0; e < N; e++) {
                if (MODE == CU_F8_GELU)
                    v[i][e] = f8_gelu(v[i][e]);
                sum += v[i][e];
            }
        }
    }
    if (MODE == CU_F8_LN) {
        const float mean = block_sum(sum, red) / (float)k;
        float sq = 0.0f;
#pragma unroll
        for (int i = 0; i < VPT; i++)
            if ((threadIdx.x + i * blockDim.x) * N < k)
#pragma unroll
                for (int e = 0; e < N; e++)
                    sq += (v[i][e] - mean) * (v[i][e] - mean);
        const float rstd = 1.0f / sqrtf(block_sum(sq, red) / (float)k + 1e-5f);
#pragma unroll
        for (int i = 0; i < VPT; i++) {
            const int j = (threadIdx.x + i * blockDim.x) * N;
            if (j < k) {
                float gv[N], bv[N];
                load_f<T, N>(g + j, gv);
                load_f<T, N>(b + j, bv);
#pragma unroll
                for (int e = 0; e < N; e++)
                    v[i][e] = (v[i][e] - mean) * rstd * gv[e] + bv[e];
            }
        }
    }
    float amax = 0.0f;
#pragma unroll
    for (int i = 0; i < VPT; i++)
        if ((threadIdx.x + i * blockDim.x) * N < k)
#pragma unroll
            for (int e = 0; e < N; e++)
                amax = fmaxf(amax, fabsf(v[i][e]));
    const float inv = row_scale(amax, red, scale, r);
    uint8_t *orow = out + r * (size_t)k;
#pragma unroll
    for (int i = 0; i < VPT; i++) {
        const int j = (threadIdx.x + i * blockDim.x) * N;
        if (j < k) {
            uint16_t p[N / 2];
#pragma unroll
            for (int e = 0; e < N / 2; e++)
                p[e] = __nv_cvt_float2_to_fp8x2(
                    make_float2(v[i][2 * e] * inv, v[i][2 * e + 1] * inv), __NV_SATFINITE,
                    __NV_E4M3);
            if constexpr (N == 8)
                *reinterpret_cast<uint2 *>(orow + j) =
                    make_uint2((uint32_t)p[0] | ((uint32_t)p[1] << 16),
                               (uint32_t)p[2] | ((uint32_t)p[3] << 16));
            else
                *reinterpret_cast<uint32_t *>(orow + j) = (uint32_t)p[0] | ((uint32_t)p[1] << 16);
        }
    }
}

template <typename T, int MODE>
static void rows_to_f8_launch(const T *x, int ldx, const T *g, const T *b, int rows, int k,
                              uint8_t *out, float *scale, cudaStream_t s)
{
    constexpr int N = vec16<T>();
    const int nvec = k / N;
    const bool vec = k % N == 0 && ldx % N == 0 && is_aligned(x, 16) && is_aligned(out, N) &&
                     (MODE != CU_F8_LN || (is_aligned(g, 16) && is_aligned(b, 16)));
    if (vec && nvec <= 4096) { /* at most 256 threads a row (8 vectors each beyond 2048): with
                                  small blocks many rows share a multiprocessor, so their loads
                                  overlap the others' reductions */
        const int vpt = nvec <= 256 ? 1 : nvec <= 512 ? 2 : nvec <= 1024 ? 4 : 8;
        const int threads = ((nvec + vpt - 1) / vpt + 31) / 32 * 32;
        if (vpt == 1)
            rows_to_f8_reg_kernel<T, MODE, 1><<<rows, threads, 0, s>>>(x, ldx, g, b, k, out, scale);
        else if (vpt == 2)
            rows_to_f8_reg_kernel<T, MODE, 2><<<rows, threads, 0, s>>>(x, ldx, g, b, k, out, scale);
        else if (vpt == 4)
            rows_to_f8_reg_kernel<T, MODE, 4><<<rows, threads, 0, s>>>(x, ldx, g, b, k, out, scale);
        else
            rows_to_f8_reg_kernel<T, MODE, 8><<<rows, threads, 0, s>>>(x, ldx, g, b, k, out, scale);
        return;
    }
    int threads = 32;
    while (threads < 256 && threads * N * 2 <= k)
        threads *= 2;
    const size_t smem = (size_t)k * sizeof(float);
    if (vec)
        rows_to_f8_kernel<T, MODE, true><<<rows, threads, smem, s>>>(x, ldx, g, b, k, out, scale);
    else
        rows_to_f8_kernel<T, MODE, false><<<rows, threads, smem, s>>>(x, ldx, g, b, k, out, scale);
}

/* See kernels.h. */
extern "C" int cu_rows_to_f8(hark_dtype dt, int mode, const void *x, int ldx, const void *g,
                             const void *b, int rows, int k, uint8_t *out, float *scale,
                             cu_stream s)
{
    if (rows < 0 || k < 1 || k > F8_MAX_K || ldx < k || !out || !scale ||
        (mode == CU_F8_LN && (!g || !b)) || (mode != CU_F8_PLAIN && mode != CU_F8_GELU &&
                                             mode != CU_F8_LN) || (uintptr_t)out % 4 != 0 ||
        k % 4 != 0)
        return (int)cudaErrorInvalidValue;
    if (rows == 0)
        return 0;
    HARK_CU_DISPATCH(dt, T, {
        const T *xt = (const T *)x, *gt = (const T *)g, *bt = (const T *)b;
        if (mode == CU_F8_GELU)
            rows_to_f8_launch<T, CU_F8_GELU>(xt, ldx, gt, bt, rows, k, out, scale, s);
        else if (mode == CU_F8_LN)
            rows_to_f8_launch<T, CU_F8_LN>(xt, ldx, gt, bt, rows, k, out, scale, s);
        else
            rows_to_f8_launch<T, CU_F8_PLAIN>(xt, ldx, gt, bt, rows, k, out, scale, s);
    });
    return (int)cudaGetLastError();
}
