/*
 * kernels.cu — the CUDA backend's small kernels: layer norm, GELU (+ positional embedding),
 * the two im2col gathers of the encoder's convolutions, token + position embedding, the paged KV
 * cache write, argmax over logits, and fp32 conversions. Launchers are declared in kernels.h
 * (see its shape legend); every kernel is templated on the element type T (half, bf16, float)
 * and accumulates in fp32. Attention lives in attention_decode.cu (decoder) and the encoder's
 * flash attention elsewhere; the log-mel in mel.cu.
 *
 * CPU twins: src/backend/cpu/ops.c (same names, same argument order, fp32 only).
 * Shape legend as kernels.h: B windows, L mel frames, M mels, C positions, D width, R rows,
 * V vocabulary.
 */
#include "backend/cuda/common.cuh"

#include <float.h>
#include <limits.h>

/* ---------------------------------------------------------------- layer norm ----------------- */

/* One warp per row, the row held in registers: VPL 16-byte vectors per lane (d <= 32 * VPL * N).
 * Two passes over the registers (mean, then centred variance). x, y [rows][d]; g, b [d]. */
template <typename T, int VPL>
__global__ void layer_norm_kernel(const T *__restrict__ x, const T *__restrict__ g,
                                  const T *__restrict__ b, T *__restrict__ y, int rows, int d)
{
    constexpr int N = vec16<T>();
    int row = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32, lane = threadIdx.x % 32;
    if (row >= rows)
        return;
    const T *xr = x + (size_t)row * d;
    T *yr = y + (size_t)row * d;
    int nvec = d / N;
    float v[VPL][N];
    float sum = 0.0f;
#pragma unroll
    for (int i = 0; i < VPL; i++) {
        int j = lane + i * 32;
        if (j < nvec) {
            load_f<T, N>(xr + (size_t)j * N, v[i]);
#pragma unroll
            for (int e = 0; e < N; e++)
                sum += v[i][e];
        }
    }
    float mean = warp_sum(sum) / (float)d;
    float sq = 0.0f;
#pragma unroll
    for (int i = 0; i < VPL; i++) {
        if (lane + i * 32 < nvec) {
#pragma unroll
            for (int e = 0; e < N; e++) {
                float c = v[i][e] - mean;
                sq += c * c;
            }
        }
    }
    float rstd = 1.0f / sqrtf(warp_sum(sq) / (float)d + 1e-5f);
#pragma unroll
    for (int i = 0; i < VPL; i++) {
        int j = lane + i * 32;
        if (j < nvec) {
            float gv[N], bv[N], o[N];
            load_f<T, N>(g + (size_t)j * N, gv);
            load_f<T, N>(b + (size_t)j * N, bv);
#pragma unroll
            for (int e = 0; e < N; e++)
                o[e] = (v[i][e] - mean) * rstd * gv[e] + bv[e];
            store_f<T, N>(yr + (size_t)j * N, o);
        }
    }
}

/* Any d, any alignment: one warp per row, three scalar passes over global memory. */
template <typename T>
__global__ void layer_norm_scalar_kernel(const T *__restrict__ x, const T *__restrict__ g,
                                         const T *__restrict__ b, T *__restrict__ y, int rows,
                                         int d)
{
    int row = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32, lane = threadIdx.x % 32;
    if (row >= rows)
        return;
    const T *xr = x + (size_t)row * d;
    T *yr = y + (size_t)row * d;
    float sum = 0.0f;
    for (int j = lane; j < d; j += 32)
        sum += to_f(xr[j]);
    float mean = warp_sum(sum) / (float)d;
    float sq = 0.0f;
    for (int j = lane; j < d; j += 32) {
        float c = to_f(xr[j]) - mean;
        sq += c * c;
    }
    float rstd = 1.0f / sqrtf(warp_sum(sq) / (float)d + 1e-5f);
    for (int j = lane; j < d; j += 32)
        yr[j] = from_f<T>((to_f(xr[j]) - mean) * rstd * to_f(g[j]) + to_f(b[j]));
}

template <typename T>
static void layer_norm_launch(const T *x, const T *g, const T *b, T *y, int rows, int d,
                              cudaStream_t s)
{
    constexpr int N = vec16<T>();
    const int warps = 4;
    unsigned grid = (unsigned)((rows + warps - 1) / warps);
    int nvec = d / N, per_lane = (nvec + 31) / 32;
    bool vec = d % N == 0 && is_aligned(x, 16) && is_aligned(y, 16) && is_aligned(g, 16) &&
               is_aligned(b, 16) && per_lane <= 16;
    if (!vec)
        layer_norm_scalar_kernel<T><<<grid, warps * 32, 0, s>>>(x, g, b, y, rows, d);
    else if (per_lane <= 1)
        layer_norm_kernel<T, 1><<<grid, warps * 32, 0, s>>>(x, g, b, y, rows, d);
    else if (per_lane <= 2)
        layer_norm_kernel<T, 2><<<grid, warps * 32, 0, s>>>(x, g, b, y, rows, d);
    else if (per_lane <= 4)
        layer_norm_kernel<T, 4><<<grid, warps * 32, 0, s>>>(x, g, b, y, rows, d);
    else if (per_lane <= 6)
        layer_norm_kernel<T, 6><<<grid, warps * 32, 0, s>>>(x, g, b, y, rows, d);
    else if (per_lane <= 8)
        layer_norm_kernel<T, 8><<<grid, warps * 32, 0, s>>>(x, g, b, y, rows, d);
    else if (per_lane <= 12)
        layer_norm_kernel<T, 12><<<grid, warps * 32, 0, s>>>(x, g, b, y, rows, d);
    else
        layer_norm_kernel<T, 16><<<grid, warps * 32, 0, s>>>(x, g, b, y, rows, d);
}

/* y[rows][d] = LN(x) * g + b; see kernels.h. d < 1 or rows < 0: cudaErrorInvalidValue. */
extern "C" int cu_layer_norm(hark_dtype dt, const void *x, const void *g, const void *b, void *y,
                             int rows, int d, cu_stream s)
{
    if (rows < 0 || d < 1)
        return (int)cudaErrorInvalidValue;
    if (rows == 0)
        return 0;
    HARK_CU_DISPATCH(dt, T,
                     layer_norm_launch<T>((const T *)x, (const T *)g, (const T *)b, (T *)y, rows,
                                          d, s));
    return (int)cudaGetLastError();
}

/* ---------------------------------------------------------------- launch policy -------------- */

int g_cu_pdl = 0;

/* See kernels.h. */
extern "C" void cu_set_pdl(int on)
{
    g_cu_pdl = on != 0;
}

/* ---------------------------------------------------------------- GELU ----------------------- */

__device__ __forceinline__ float gelu_f(float x)
{
    return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f));
}

/* x[n] = GELU(x) (+ pos[i % period] when ADD_POS), VEC elements per step. n % VEC == 0 and
 * period % VEC == 0. */
template <typename T, int VEC, bool ADD_POS>
__global__ void gelu_kernel(T *__restrict__ x, const T *__restrict__ pos, long n, long period)
{
    long stride = (long)gridDim.x * blockDim.x * VEC;
    for (long i = ((long)blockIdx.x * blockDim.x + threadIdx.x) * VEC; i < n; i += stride) {
        float v[VEC];
#pragma unroll
        for (int e = 0; e < VEC; e++)
            v[e] = 0.0f;
        if constexpr (VEC == 1) {
            v[0] = to_f(x[i]);
        } else {
            /* x is written by this kernel: an ordinary load, not __ldg */
            uint4 u = *reinterpret_cast<const uint4 *>(x + i);
            const T *e = reinterpret_cast<const T *>(&u);
#pragma unroll
            for (int k = 0; k < VEC; k++)
                v[k] = to_f(e[k]);
        }
#pragma unroll
        for (int e = 0; e < VEC; e++)
            v[e] = gelu_f(v[e]);
        if constexpr (ADD_POS) {
            float p[VEC];
            load_f<T, VEC>(pos + i % period, p);
#pragma unroll
            for (int e = 0; e < VEC; e++)
                v[e] += p[e];
        }
        store_f<T, VEC>(x + i, v);
    }
}

template <typename T, bool ADD_POS>
static void gelu_launch(T *x, const T *pos, long n, long period, cudaStream_t s)
{
    constexpr int N = vec16<T>();
    const int threads = 256;
    /* period matters only with ADD_POS (cu_gelu passes 1) */
    bool vec = n % N == 0 && (!ADD_POS || period % N == 0) && is_aligned(x, 16) &&
               (!pos || is_aligned(pos, 16));
    if (vec)
        gelu_kernel<T, N, ADD_POS><<<grid_for(n / N, threads), threads, 0, s>>>(x, pos, n, period);
    else
        gelu_kernel<T, 1, ADD_POS><<<grid_for(n, threads), threads, 0, s>>>(x, pos, n, period);
}

/* In place exact GELU over n elements; see kernels.h. */
extern "C" int cu_gelu(hark_dtype dt, void *x, long n, cu_stream s)
{
    if (n < 0)
        return (int)cudaErrorInvalidValue;
    if (n == 0)
        return 0;
    HARK_CU_DISPATCH(dt, T, gelu_launch<T, false>((T *)x, (const T *)nullptr, n, 1, s));
    return (int)cudaGetLastError();
}

/* x [B][C][D] = GELU(x) + pos [C][D]; see kernels.h. */
extern "C" int cu_gelu_add_pos(hark_dtype dt, void *x, const void *pos, int n_win, int c, int d,
                               cu_stream s)
{
    if (n_win < 0 || c < 0 || d < 0)
        return (int)cudaErrorInvalidValue;
    long period = (long)c * d, n = period * n_win;
    if (n == 0)
        return 0;
    HARK_CU_DISPATCH(dt, T, gelu_launch<T, true>((T *)x, (const T *)pos, n, period, s));
    return (int)cudaGetLastError();
}

/* ---------------------------------------------------------------- im2col --------------------- */

enum { IM2COL_TT = 32 }; /* frames per block of the mel gather */

/* One block per (32 frames, window): stages mel[b][0..M)[t0-1 .. t0+33) in shared memory
 * (coalesced along time), then writes the 32 rows out[b][t][M*3] contiguously. */
template <typename T>
__global__ void im2col_mel_kernel(const float *__restrict__ mel, T *__restrict__ out, int m,
                                  int l)
{
    extern __shared__ float tile[]; /* [M][TT + 2] */
    const int tw = IM2COL_TT + 2;
    int t0 = blockIdx.x * IM2COL_TT, b = blockIdx.y;
    const float *src = mel + (size_t)b * m * l;
    for (int i = threadIdx.x; i < m * tw; i += blockDim.x) {
        int mi = i / tw, j = i % tw, t = t0 - 1 + j;
        tile[i] = t >= 0 && t < l ? src[(size_t)mi * l + t] : 0.0f;
    }
    __syncthreads();
    int nt = min(IM2COL_TT, l - t0), width = 3 * m;
    T *dst = out + ((size_t)b * l + t0) * width;
    for (int i = threadIdx.x; i < nt * width; i += blockDim.x) {
        int tt = i / width, col = i % width, mi = col / 3, k = col % 3;
        dst[i] = from_f<T>(tile[mi * tw + tt + k]);
    }
}

/* mel fp32 [B][M][L] -> out [B][L][M*3]; see kernels.h. */
extern "C" int cu_im2col_mel(hark_dtype dt, const float *mel, void *out, int n_win, int m, int l,
                             cu_stream s)
{
    if (n_win < 0 || m < 0 || l < 0 || n_win > 65535)
        return (int)cudaErrorInvalidValue;
    if (n_win == 0 || m == 0 || l == 0)
        return 0;
    dim3 grid((unsigned)((l + IM2COL_TT - 1) / IM2COL_TT), (unsigned)n_win);
    size_t smem = (size_t)m * (IM2COL_TT + 2) * sizeof(float);
    HARK_CU_DISPATCH(dt, T, im2col_mel_kernel<T><<<grid, 256, smem, s>>>(mel, (T *)out, m, l));
    return (int)cudaGetLastError();
}

/* One thread per (b, t, c): reads x[b][t*stride + k - 1][c] for k = 0..2 (coalesced along c) and
 * writes out[b][t][c*3 .. c*3+3). */
template <typename T>
__global__ void im2col_t_kernel(const T *__restrict__ x, T *__restrict__ out, long n, int lin,
                                int cin, int stride, int lout)
{
    for (long i = (long)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (long)gridDim.x * blockDim.x) {
        int c = (int)(i % cin);
        long bt = i / cin;
        int t = (int)(bt % lout);
        long b = bt / lout;
        const T *src = x + (size_t)b * lin * cin + c;
        T *dst = out + (size_t)i * 3;
#pragma unroll
        for (int k = 0; k < 3; k++) {
            int ti = t * stride + k - 1;
            dst[k] = ti >= 0 && ti < lin ? src[(size_t)ti * cin] : from_f<T>(0.0f);
        }
    }
}

/* x [B][Lin][Cin] -> out [B][Lout][Cin*3]; see kernels.h. */
extern "C" int cu_im2col_t(hark_dtype dt, const void *x, void *out, int n_win, int lin, int cin,
                           int stride, int lout, cu_stream s)
{
    if (n_win < 0 || lin < 0 || cin < 0 || lout < 0 || stride < 1)
        return (int)cudaErrorInvalidValue;
    long n = (long)n_win * lout * cin;
    if (n == 0)
        return 0;
    HARK_CU_DISPATCH(dt, T,
                     im2col_t_kernel<T><<<grid_for(n, 256), 256, 0, s>>>(
                         (const T *)x, (T *)out, n, lin, cin, stride, lout));
    return (int)cudaGetLastError();
}

/* ---------------------------------------------------------------- embed, KV write ------------ */

/* One block per row: x[r][:] = tok[tokens[r]][:] + pos[p[r]][:], VEC elements per step. */
template <typename T, int VEC>
__global__ void embed_kernel(const T *__restrict__ tok, const T *__restrict__ pos,
                             const int32_t *__restrict__ tokens, const int32_t *__restrict__ p,
                             T *__restrict__ x, int d)
{
    pdl_trigger(); /* the step's first kernel: the next one may start loading its weights */
    int r = blockIdx.x;
    const T *a = tok + (size_t)tokens[r] * d, *b = pos + (size_t)p[r] * d;
    T *o = x + (size_t)r * d;
    for (int j = threadIdx.x * VEC; j < d; j += blockDim.x * VEC) {
        float u[VEC], v[VEC];
        load_f<T, VEC>(a + j, u);
        load_f<T, VEC>(b + j, v);
#pragma unroll
        for (int e = 0; e < VEC; e++)
            u[e] += v[e];
        store_f<T, VEC>(o + j, u);
    }
}

/* x [R][D] = tok_emb[tokens] + pos_emb[pos]; see kernels.h. */
extern "C" int cu_embed(hark_dtype dt, const void *tok_emb, const void *pos_emb,
                        const int32_t *tokens, const int32_t *pos, void *x, int rows, int d,
                        cu_stream s)
{
    if (rows < 0 || d < 0)
        return (int)cudaErrorInvalidValue;
    if (rows == 0 || d == 0)
        return 0;
    HARK_CU_DISPATCH(dt, T, {
        constexpr int N = vec16<T>();
        bool vec = d % N == 0 && is_aligned(tok_emb, 16) && is_aligned(pos_emb, 16) &&
                   is_aligned(x, 16);
        if (vec)
            embed_kernel<T, N><<<rows, 128, 0, s>>>((const T *)tok_emb, (const T *)pos_emb,
                                                    tokens, pos, (T *)x, d);
        else
            embed_kernel<T, 1><<<rows, 128, 0, s>>>((const T *)tok_emb, (const T *)pos_emb,
                                                    tokens, pos, (T *)x, d);
    });
    return (int)cudaGetLastError();
}

/* One block per row: copies k[r*ld ..+d] and v[r*ld ..+d] into pool row slot[r] (raw bits). */
template <typename T, int VEC>
__global__ void kv_write_kernel(const T *__restrict__ k, const T *__restrict__ v, int ld,
                                T *__restrict__ kp, T *__restrict__ vp,
                                const int32_t *__restrict__ slot, int d)
{
    int r = blockIdx.x;
    int sl = slot[r];
    if (sl < 0)
        return;
    const T *ks = k + (size_t)r * ld, *vs = v + (size_t)r * ld;
    T *kd = kp + (size_t)sl * d, *vd = vp + (size_t)sl * d;
    for (int j = threadIdx.x * VEC; j < d; j += blockDim.x * VEC) {
        copy_raw<T, VEC>(kd + j, ks + j);
        copy_raw<T, VEC>(vd + j, vs + j);
    }
}

/* K/V rows -> paged pool slots (slot < 0: skip); see kernels.h. */
extern "C" int cu_kv_write(hark_dtype dt, const void *k, const void *v, int ld, void *k_pool,
                           void *v_pool, const int32_t *slot, int rows, int d, cu_stream s)
{
    if (rows < 0 || d < 0 || ld < d)
        return (int)cudaErrorInvalidValue;
    if (rows == 0 || d == 0)
        return 0;
    HARK_CU_DISPATCH(dt, T, {
        constexpr int N = vec16<T>();
        bool vec = d % N == 0 && ld % N == 0 && is_aligned(k, 16) && is_aligned(v, 16) &&
                   is_aligned(k_pool, 16) && is_aligned(v_pool, 16);
        if (vec)
            kv_write_kernel<T, N><<<rows, 128, 0, s>>>((const T *)k, (const T *)v, ld,
                                                       (T *)k_pool, (T *)v_pool, slot, d);
        else
            kv_write_kernel<T, 1><<<rows, 128, 0, s>>>((const T *)k, (const T *)v, ld,
                                                       (T *)k_pool, (T *)v_pool, slot, d);
    });
    return (int)cudaGetLastError();
}

/* ---------------------------------------------------------------- argmax --------------------- */

/* Keeps (v, i) in (bv, bi) when it is larger, or equal with a lower id; bi < 0 means empty.
 * NaN never wins over a number. */
__device__ __forceinline__ void argmax_merge(float &bv, int &bi, float v, int i)
{
    if (i >= 0 && (bi < 0 || v > bv || (v == bv && i < bi) || (bv != bv && v == v))) {
        bv = v;
        bi = i;
    }
}

/* The warp's (value, id) maximum in every lane. */
__device__ __forceinline__ void warp_argmax(float &bv, int &bi)
{
#pragma unroll
    for (int o = 16; o > 0; o >>= 1)
        argmax_merge(bv, bi, __shfl_xor_sync(0xffffffffu, bv, o),
                     __shfl_xor_sync(0xffffffffu, bi, o));
}

enum { ARGMAX_THREADS = 1024 };

/* One block per row: each thread scans a strided slice of logits[r][0 .. limit) in 16-byte
 * vectors, ARGMAX_UNROLL of them in flight (a single chain of scalar loads made this kernel 21 us
 * of a 1.85 ms large-v3 step on an H100), then a warp and a block reduction of (value, id)
 * pairs. Rows start 4-byte aligned: a scalar head up to the first 16-byte boundary. */
enum { ARGMAX_UNROLL = 4 };
__global__ void argmax_kernel(const float *__restrict__ logits, int v, int limit,
                              int32_t *__restrict__ out, int32_t *__restrict__ out2)
{
    __shared__ float sv[ARGMAX_THREADS / 32];
    __shared__ int si[ARGMAX_THREADS / 32];
    const float *row = logits + (size_t)blockIdx.x * v;
    float bv = -FLT_MAX;
    int bi = -1;
    int head = (int)(((16u - ((uintptr_t)row & 15u)) & 15u) / 4u);
    head = head < limit ? head : limit;
    if ((int)threadIdx.x < head)
        argmax_merge(bv, bi, __ldg(row + threadIdx.x), (int)threadIdx.x);
    const float4 *r4 = reinterpret_cast<const float4 *>(row + head);
    const int n4 = (limit - head) / 4;
    for (int j0 = (int)threadIdx.x; j0 < n4; j0 += (int)blockDim.x * ARGMAX_UNROLL) {
        float4 q[ARGMAX_UNROLL];
#pragma unroll
        for (int u = 0; u < ARGMAX_UNROLL; u++) {
            const int j = j0 + u * (int)blockDim.x;
            if (j < n4)
                q[u] = __ldg(r4 + j);
        }
#pragma unroll
        for (int u = 0; u < ARGMAX_UNROLL; u++) {
            const int j = j0 + u * (int)blockDim.x;
            if (j < n4) {
                const int t = head + 4 * j;
                argmax_merge(bv, bi, q[u].x, t);
                argmax_merge(bv, bi, q[u].y, t + 1);
                argmax_merge(bv, bi, q[u].z, t + 2);
                argmax_merge(bv, bi, q[u].w, t + 3);
            }
        }
    }
    for (int t = head + 4 * n4 + (int)threadIdx.x; t < limit; t += (int)blockDim.x)
        argmax_merge(bv, bi, __ldg(row + t), t);
    warp_argmax(bv, bi);
    int warp = threadIdx.x / 32, lane = threadIdx.x % 32, nw = blockDim.x / 32;
    if (lane == 0) {
        sv[warp] = bv;
        si[warp] = bi;
    }
    __syncthreads();
    if (warp == 0) {
        bv = lane < nw ? sv[lane] : -FLT_MAX;
        bi = lane < nw ? si[lane] : -1;
        warp_argmax(bv, bi);
        if (lane == 0) {
            out[blockIdx.x] = bi;
            if (out2)
                out2[blockIdx.x] = bi;
        }
    }
}

/* out[r] = argmax over t < limit of logits[r][t], lowest id on ties; see kernels.h. limit < 1
 * writes -1. limit > v: cudaErrorInvalidValue. */
extern "C" int cu_argmax2(const float *logits, int v, int limit, int32_t *out, int32_t *out2,
                          int rows, cu_stream s)
{
    if (rows < 0 || limit > v)
        return (int)cudaErrorInvalidValue;
    if (rows == 0)
        return 0;
    argmax_kernel<<<rows, ARGMAX_THREADS, 0, s>>>(logits, v, limit < 0 ? 0 : limit, out, out2);
    return (int)cudaGetLastError();
}

extern "C" int cu_argmax(const float *logits, int v, int limit, int32_t *out, int rows,
                         cu_stream s)
{
    return cu_argmax2(logits, v, limit, out, NULL, rows, s);
}

/* One block per picked row (backend.h hark_pick): the row's masked ids set to -inf in place,
 * then its argmax (argmax_merge: lowest id on ties, NaN never wins) and the log-sum-exp of the
 * masked row, summed in float per thread and across the block. */
enum { PICK_THREADS = 1024 };
__global__ void pick_kernel(float *__restrict__ logits, int v, const int32_t *__restrict__ rows,
                            const int32_t *__restrict__ off, const int32_t *__restrict__ ids,
                            cu_pick_out *__restrict__ out)
{
    __shared__ float sv[PICK_THREADS / 32];
    __shared__ int si[PICK_THREADS / 32];
    float *row = logits + (size_t)rows[blockIdx.x] * v;
    for (int j = off[blockIdx.x] + (int)threadIdx.x; j < off[blockIdx.x + 1]; j += (int)blockDim.x)
        if (ids[j] >= 0 && ids[j] < v)
            row[ids[j]] = -INFINITY;
    __syncthreads();
    float bv = -FLT_MAX;
    int bi = -1;
    for (int t = (int)threadIdx.x; t < v; t += (int)blockDim.x)
        if (row[t] > -INFINITY) /* -inf and NaN never win, as hark_argmax */
            argmax_merge(bv, bi, row[t], t);
    int warp = threadIdx.x / 32, lane = threadIdx.x % 32, nw = blockDim.x / 32;
    warp_argmax(bv, bi);
    if (lane == 0)
        sv[warp] = bv, si[warp] = bi;
    __syncthreads();
    bv = lane < nw ? sv[lane] : -FLT_MAX;
    bi = lane < nw ? si[lane] : -1;
    warp_argmax(bv, bi);
    const float m = bv; /* every thread: the row's maximum (its warp 0 copy) */
    __syncthreads();
    float sum = 0.0f;
    if (bi >= 0)
        for (int t = (int)threadIdx.x; t < v; t += (int)blockDim.x)
            sum += expf(row[t] - m);
#pragma unroll
    for (int o = 16; o > 0; o >>= 1)
        sum += __shfl_xor_sync(0xffffffffu, sum, o);
    if (lane == 0)
        sv[warp] = sum;
    __syncthreads();
    if (threadIdx.x == 0) {
        float total = 0.0f;
        for (int w = 0; w < nw; w++)
            total += sv[w];
        out[blockIdx.x].token = bi;
        out[blockIdx.x].logit = bi >= 0 ? m : -INFINITY;
        out[blockIdx.x].lse = bi >= 0 ? m + logf(total) : -INFINITY;
    }
}

/* See kernels.h. */
extern "C" int cu_pick(float *logits, int v, const int32_t *rows, const int32_t *off,
                       const int32_t *ids, cu_pick_out *out, int n, cu_stream s)
{
    if (n < 0 || v < 1)
        return (int)cudaErrorInvalidValue;
    if (n == 0)
        return 0;
    pick_kernel<<<n, PICK_THREADS, 0, s>>>(logits, v, rows, off, ids, out);
    return (int)cudaGetLastError();
}

/* ---------------------------------------------------------------- conversions ---------------- */

template <typename S, typename D, int VEC>
__global__ void convert_kernel(const S *__restrict__ x, D *__restrict__ y, long n)
{
    long stride = (long)gridDim.x * blockDim.x * VEC;
    for (long i = ((long)blockIdx.x * blockDim.x + threadIdx.x) * VEC; i < n; i += stride) {
        float v[VEC];
        load_f<S, VEC>(x + i, v);
        store_f<D, VEC>(y + i, v);
    }
}

template <typename S, typename D> static void convert_launch(const S *x, D *y, long n, cudaStream_t s)
{
    const int threads = 256;
    if (n % 4 == 0 && is_aligned(x, 4 * sizeof(S)) && is_aligned(y, 4 * sizeof(D)))
        convert_kernel<S, D, 4><<<grid_for(n / 4, threads), threads, 0, s>>>(x, y, n);
    else
        convert_kernel<S, D, 1><<<grid_for(n, threads), threads, 0, s>>>(x, y, n);
}

/* y[n] (dt) = x[n] (fp32), round to nearest even; see kernels.h. */
extern "C" int cu_from_f32(hark_dtype dt, const float *x, void *y, long n, cu_stream s)
{
    if (n < 0)
        return (int)cudaErrorInvalidValue;
    if (n == 0)
        return 0;
    HARK_CU_DISPATCH(dt, T, convert_launch<float, T>(x, (T *)y, n, s));
    return (int)cudaGetLastError();
}

/* y[n] (fp32) = x[n] (dt); see kernels.h. */
extern "C" int cu_to_f32(hark_dtype dt, const void *x, float *y, long n, cu_stream s)
{
    if (n < 0)
        return (int)cudaErrorInvalidValue;
    if (n == 0)
        return 0;
    HARK_CU_DISPATCH(dt, T, convert_launch<T, float>((const T *)x, y, n, s));
    return (int)cudaGetLastError();
}
