/*
 * cross_int8.cu — cross-attention keys and values held as int8 with one fp32 scale per
 * (position, head): half the bytes of fp16 in the window slots and in every decoder step's
 * reads, which bound batched decoding (bench/RESULTS.md: at 128 windows large-v3 reads 31 GB of
 * fp16 cross K/V a step). Symmetric quantisation: scale = max |x| / 127 over the head's E values,
 * q = round(x / scale).
 *  - quantize_kernel: rows [n][D] (the model's dtype) -> int8 [n][D] and scales [n][H];
 *  - cross_i8_kernel: one block per (row, head): scores with a position per thread (its E bytes
 *    in 16-byte loads), softmax, then the weighted sum of values with 16-byte slices per thread
 *    over strided positions, partial sums merged in shared memory;
 *  - cross_qk_i8_kernel: the scaled scores alone (word timestamps).
 */
#include "backend/cuda/common.cuh"

#define XI8_THREADS 256

/* TPG threads per (row, head) group of E = 8 TPG values: each loads 8 in one vector, the group's
 * maximum by shuffles, 8 int8 stored as one 8-byte word. */
template <typename T, int TPG>
__global__ void quantize_kernel(const T *__restrict__ x, int8_t *__restrict__ q,
                                float *__restrict__ sc, long groups)
{
    const long t = (long)blockIdx.x * blockDim.x + threadIdx.x;
    const long g = t / TPG;
    const int part = (int)(t - g * TPG);
    const bool live = g < groups;
    float v[8];
    if (live)
        load_f<T, 8>(x + g * (8 * TPG) + part * 8, v);
    else
        for (int i = 0; i < 8; i++)
            v[i] = 0.0f;
    float mx = 0.0f;
#pragma unroll
    for (int i = 0; i < 8; i++)
        mx = fmaxf(mx, fabsf(v[i]));
#pragma unroll
    for (int o = TPG / 2; o > 0; o >>= 1)
        mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, o, TPG));
    if (!live)
        return;
    const float inv = mx > 0.0f ? 127.0f / mx : 0.0f;
    if (part == 0)
        sc[g] = mx / 127.0f;
    union {
        int8_t b[8];
        uint2 u;
    } o8;
#pragma unroll
    for (int i = 0; i < 8; i++)
        o8.b[i] = (int8_t)fmaxf(-127.0f, fminf(127.0f, rintf(v[i] * inv)));
    *reinterpret_cast<uint2 *>(q + g * (8 * TPG) + part * 8) = o8.u;
}

extern "C" int cu_quantize_i8(hark_dtype dt, const void *x, long rows, int d, int h, int8_t *q,
                              float *scales, cu_stream s)
{
    const int e = h > 0 ? d / h : 0;
    if (rows < 0 || h < 1 || d % h != 0 || (e != 64 && e != 32) || !is_aligned(x, 16) ||
        !is_aligned(q, 8))
        return (int)cudaErrorInvalidValue;
    const long groups = rows * h;
    if (groups == 0)
        return 0;
    const long threads = groups * (e / 8);
    const unsigned blocks = (unsigned)((threads + 255) / 256);
    cudaStream_t st = (cudaStream_t)s;
    HARK_CU_DISPATCH(dt, T, {
        if (e == 64)
            quantize_kernel<T, 8><<<blocks, 256, 0, st>>>((const T *)x, q, scales, groups);
        else
            quantize_kernel<T, 4><<<blocks, 256, 0, st>>>((const T *)x, q, scales, groups);
    });
    return (int)cudaGetLastError();
}

/* 16 int8 values at p (16-byte aligned) to fp32. */
__device__ __forceinline__ void load_i8x16(const int8_t *p, float (&out)[16])
{
    int4 u = __ldg(reinterpret_cast<const int4 *>(p));
    const int8_t *b = reinterpret_cast<const int8_t *>(&u);
#pragma unroll
    for (int i = 0; i < 16; i++)
        out[i] = (float)b[i];
}

template <typename T, int E>
__global__ void __launch_bounds__(XI8_THREADS)
    cross_i8_kernel(const T *__restrict__ q, int ldq, const int8_t *__restrict__ k8,
                    const int8_t *__restrict__ v8, const float *__restrict__ ks,
                    const float *__restrict__ vs, const int32_t *__restrict__ win,
                    T *__restrict__ out, int c, int d, int h, float scale)
{
    constexpr int CH = E / 16, G = XI8_THREADS / CH;
    extern __shared__ float sm[]; /* scores [c], then partial outputs [G][E] */
    __shared__ float qs[E], red[XI8_THREADS / 32];
    float *sc = sm, *part = sm + c;
    const int row = blockIdx.x / h, hd = blockIdx.x - row * h, w = win[row];
    if (w < 0) { /* a padded row: zeros, as cu_cross_attention writes */
        for (int j = threadIdx.x; j < E; j += blockDim.x)
            out[(long)row * d + hd * E + j] = from_f<T>(0.0f);
        return;
    }
    for (int j = threadIdx.x; j < E; j += blockDim.x)
        qs[j] = to_f(q[(long)row * ldq + hd * E + j]) * scale;
    __syncthreads();
    const int8_t *kb = k8 + (long)w * c * d + hd * E, *vb = v8 + (long)w * c * d + hd * E;
    const float *ksb = ks + (long)w * c * h + hd, *vsb = vs + (long)w * c * h + hd;
    float mx = -INFINITY;
    for (int p = threadIdx.x; p < c; p += blockDim.x) {
        const int8_t *kr = kb + (long)p * d;
        float s = 0.0f;
#pragma unroll
        for (int j = 0; j < E; j += 16) {
            float kv[16];
            load_i8x16(kr + j, kv);
#pragma unroll
            for (int u = 0; u < 16; u++)
                s = fmaf(qs[j + u], kv[u], s);
        }
        s *= __ldg(ksb + (long)p * h);
        sc[p] = s;
        mx = fmaxf(mx, s);
    }
    const int lane = threadIdx.x & 31, wid = threadIdx.x >> 5;
    mx = warp_max(mx);
    if (lane == 0)
        red[wid] = mx;
    __syncthreads();
    mx = red[0];
    for (int i = 1; i < XI8_THREADS / 32; i++)
        mx = fmaxf(mx, red[i]);
    __syncthreads();
    float sum = 0.0f;
    for (int p = threadIdx.x; p < c; p += blockDim.x) {
        float v = __expf(sc[p] - mx);
        sc[p] = v * __ldg(vsb + (long)p * h); /* the value scale rides on the weight */
        sum += v;
    }
    sum = warp_sum(sum);
    if (lane == 0)
        red[wid] = sum;
    __syncthreads();
    sum = 0.0f;
    for (int i = 0; i < XI8_THREADS / 32; i++)
        sum += red[i];
    const int ch = threadIdx.x % CH, g = threadIdx.x / CH;
    float acc[16];
#pragma unroll
    for (int u = 0; u < 16; u++)
        acc[u] = 0.0f;
#pragma unroll 4
    for (int p = g; p < c; p += G) {
        float vv[16];
        load_i8x16(vb + (long)p * d + ch * 16, vv);
        const float wgt = sc[p];
#pragma unroll
        for (int u = 0; u < 16; u++)
            acc[u] = fmaf(wgt, vv[u], acc[u]);
    }
#pragma unroll
    for (int u = 0; u < 16; u++)
        part[g * E + ch * 16 + u] = acc[u];
    __syncthreads();
    if (threadIdx.x < E) {
        float t = 0.0f;
        for (int k = 0; k < G; k++)
            t += part[k * E + threadIdx.x];
        out[(long)row * d + hd * E + threadIdx.x] = from_f<T>(sum > 0.0f ? t / sum : 0.0f);
    }
}

extern "C" int cu_cross_attention_i8(hark_dtype dt, const void *q, int ldq, const int8_t *k8,
                                     const int8_t *v8, const float *ks, const float *vs,
                                     const int32_t *win, void *out, int rows, int c, int d, int h,
                                     float scale, cu_stream s)
{
    const int e = h > 0 ? d / h : 0;
    if (rows < 0 || h < 1 || d % h != 0 || (e != 64 && e != 32) || d % 16 != 0 || c < 1)
        return (int)cudaErrorInvalidValue;
    if (rows == 0)
        return 0;
    const int G = XI8_THREADS / (e / 16);
    const size_t smem = ((size_t)c + (size_t)G * e) * sizeof(float);
    cudaStream_t st = (cudaStream_t)s;
    HARK_CU_DISPATCH(dt, T, {
        if (e == 64) {
            auto kern = cross_i8_kernel<T, 64>;
            cudaFuncSetAttribute(kern, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem);
            kern<<<(unsigned)(rows * h), XI8_THREADS, smem, st>>>(
                (const T *)q, ldq, k8, v8, ks, vs, win, (T *)out, c, d, h, scale);
        } else {
            auto kern = cross_i8_kernel<T, 32>;
            cudaFuncSetAttribute(kern, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem);
            kern<<<(unsigned)(rows * h), XI8_THREADS, smem, st>>>(
                (const T *)q, ldq, k8, v8, ks, vs, win, (T *)out, c, d, h, scale);
        }
    });
    return (int)cudaGetLastError();
}

template <typename T>
__global__ void cross_qk_i8_kernel(const T *__restrict__ q, int ldq, const int8_t *__restrict__ k8,
                                   const float *__restrict__ ks, const int32_t *__restrict__ win,
                                   float *out, int c, int d, int h, int head, int n_frames,
                                   float scale)
{
    const int row = blockIdx.y, t = blockIdx.x * blockDim.x + threadIdx.x, e = d / h;
    if (t >= n_frames || win[row] < 0)
        return;
    const T *qr = q + (long)row * ldq + (long)head * e;
    const int8_t *kr = k8 + ((long)win[row] * c + t) * d + (long)head * e;
    float s = 0.0f;
    for (int j = 0; j < e; j++)
        s += to_f(qr[j]) * (float)kr[j];
    out[(long)row * n_frames + t] = s * ks[((long)win[row] * c + t) * h + head] * scale;
}

extern "C" int cu_cross_qk_i8(hark_dtype dt, const void *q, int ldq, const int8_t *k8,
                              const float *ks, const int32_t *win, float *out, int rows, int c,
                              int d, int h, int head, int n_frames, float scale, cu_stream s)
{
    if (rows < 0 || h < 1 || d % h || head < 0 || head >= h || n_frames < 1 || n_frames > c ||
        rows > 65535)
        return (int)cudaErrorInvalidValue;
    if (rows == 0)
        return 0;
    dim3 grid((unsigned)((n_frames + 127) / 128), (unsigned)rows);
    HARK_CU_DISPATCH(dt, T, {
        cross_qk_i8_kernel<T><<<grid, 128, 0, (cudaStream_t)s>>>((const T *)q, ldq, k8, ks, win,
                                                               out, c, d, h, head, n_frames, scale);
    });
    return (int)cudaGetLastError();
}
