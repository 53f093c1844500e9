/*
 * gemv.cu — the decoder's matrix products at small batch: y[m][n] = x[m][k] W[n][k]^T (+ b)
 * (+ y), m <= 8. Memory-bound: each weight row is read once with 16-byte loads by one warp and
 * multiplied with all m activation rows, fp32 accumulation. What would otherwise be separate
 * small kernels rides along (each is a launch and a pass over memory saved per layer):
 *  - prologue: layer norm of the x rows (statistics once per block, normalised rows in shared
 *    memory), ref: openai/whisper model.py ResidualAttentionBlock (pre-norm);
 *  - epilogue: bias, exact GELU, the residual add, and the K/V columns of a fused QKV product
 *    written straight into the paged cache.
 * cuBLASLt's GEMM kernels at m = 1 read weights well under the card's bandwidth; this path
 * decides single-stream latency.
 *
 * Weights come in the activations' type T or quantized (WQ 8: int8 with a scale per row; WQ 4:
 * int4 packed two to a byte with a scale per group of >= 32 inputs; docs/quant.md): the same
 * 16-byte loads then carry 16 or 32 weights, widened in registers with the float "magic number"
 * trick (the integer's bits OR-ed into the mantissa of 2^23, the bias subtracted: one integer and
 * one floating-point instruction a weight, where I2F would limit the rate). The scale (int8's
 * row, int4's group) multiplies each 16-byte chunk's partial sums, and is fetched with the chunk.
 */
#include "backend/cuda/common.cuh"


#define GEMV_WARPS 8

/* y[i][row] as fp32 when accumulating (the residual the product adds to), else 0. Read
 * before the product so that its latency hides behind the weights' (the kernels call it
 * after pdl_wait(): y is an activation). */
template <typename T, bool OUTF32>
__device__ __forceinline__ float load_prev(const cu_gemv_args &a, int i, int row)
{
    if (!a.accumulate)
        return 0.0f;
    if (OUTF32)
        return ((const float *)a.y)[(size_t)i * a.ldy + row];
    return to_f(((const T *)a.y)[(size_t)i * a.ldy + row]);
}

/* The bias of row `row` as fp32 (0 without one): a weight, so it may be read before
 * pdl_wait(). */
template <typename T>
__device__ __forceinline__ float load_bias(const cu_gemv_args &a, int row)
{
    return a.b && row < a.n ? to_f(__ldg((const T *)a.b + row)) : 0.0f;
}

/* The epilogue of output (i, row) after the bias: exact GELU when asked, plus prev (y's value
 * from load_prev) when accumulating, stored as fp32 or T. Returns the stored value. */
template <typename T, bool OUTF32>
__device__ __forceinline__ float store_row(const cu_gemv_args &a, int i, int row, float v,
                                           float prev)
{
    if (a.gelu)
        v = 0.5f * v * (1.0f + erff(v * 0.70710678118654752f));
    if (a.accumulate)
        v += prev;
    if (OUTF32)
        ((float *)a.y)[(size_t)i * a.ldy + row] = v;
    else
        ((T *)a.y)[(size_t)i * a.ldy + row] = from_f<T>(v);
    return v;
}

/* How weight rows are stored: WQ 0 in T, 8 int8, 4 int4 (two to a byte, element 2j in the low
 * nibble, stored + 8). V weights in 16 bytes. */
template <typename T, int WQ> struct wfmt {
    static constexpr int V = WQ == 0 ? vec16<T>() : WQ == 8 ? 16 : 32;
    static __device__ __forceinline__ size_t row_bytes(int k)
    {
        return WQ == 0 ? (size_t)k * sizeof(T) : WQ == 8 ? (size_t)k : (size_t)k / 2;
    }
    /* byte offset of element kk within a row (rows are far below 2 GiB) */
    static __device__ __forceinline__ int offset(int kk)
    {
        return WQ == 0 ? kk * (int)sizeof(T) : WQ == 8 ? kk : kk / 2;
    }
    /* Values [p * P, p * P + P) of a 16-byte chunk as floats: the values (T), or q (int8,
     * int4). P covers whole 32-bit words of quantized values (4 int8, 8 int4). */
    template <int P>
    static __device__ __forceinline__ void unpack(const uint4 &u, int p, float (&out)[P])
    {
        if constexpr (WQ == 0) {
            const T *e = reinterpret_cast<const T *>(&u) + p * P;
#pragma unroll
            for (int i = 0; i < P; i++)
                out[i] = to_f(e[i]);
        } else {
            const unsigned w[4] = { u.x, u.y, u.z, u.w };
            constexpr int PW = WQ == 8 ? 4 : 8; /* values a word */
            static_assert(P % PW == 0, "whole words");
#pragma unroll
            for (int j = 0; j < P / PW; j++) {
                const unsigned x = w[p * (P / PW) + j];
                if constexpr (WQ == 8) { /* byte b + 128 into 2^23's mantissa */
                    const unsigned o = x ^ 0x80808080u;
#pragma unroll
                    for (int b = 0; b < 4; b++)
                        out[4 * j + b] =
                            __int_as_float((int)__byte_perm(o, 0x4B000000u, 0x7540u | b)) -
                            8388736.0f;
                } else { /* nibble q + 8 into 2^23's mantissa */
#pragma unroll
                    for (int b = 0; b < 8; b++)
                        out[8 * j + b] =
                            __int_as_float((int)(((x >> (4 * b)) & 15u) | 0x4B000000u)) -
                            8388616.0f;
                }
            }
        }
    }
    /* Values of a chunk taken P at a time: 16 bytes of activations, and whole words. */
    static constexpr int P = WQ == 4 && vec16<T>() < 8 ? 8 : vec16<T>();
};

/* Weight chunks a lane holds in registers: 16-byte vectors, a row (or a split-K part) of up to
 * 32 * PF * V elements (PF = gemv_pf) is in flight at once (1280 halves: every Whisper width;
 * int8 and int4 need fewer chunks for the same width, and the registers they free keep the
 * one-row kernels within their 48 without spilling). The first row of each warp is asked for before
 * pdl_wait(), while the kernel before still runs. */
template <int WQ> constexpr int gemv_pf() { return WQ == 0 ? 5 : WQ == 8 ? 3 : 2; }

/* The multiplier of the chunk at kk of row `row`: int4's group scale, int8's row scale (the
 * partial sums of every chunk are scaled as they are added), else 1. */
template <int WQ>
__device__ __forceinline__ float chunk_scale(const cu_gemv_args &a, int row, int kk)
{
    if constexpr (WQ == 4)
        return __half2float(((const half *)a.scale)[(size_t)row * (a.k / a.group) + kk / a.group]);
    if constexpr (WQ == 8)
        return __half2float(((const half *)a.scale)[row]);
    return 1.0f;
}

/* Chunks c = 0 .. PF-1 of elements [k0, k1) of weight row `row` (row < n), lane's share,
 * with their scales: asked for together, before pdl_wait() for a warp's first row, so that no
 * load of a scale waits behind the weights. */
template <typename T, int WQ>
__device__ __forceinline__ void gemv_prefetch(const cu_gemv_args &a, const void *__restrict__ w,
                                              int k, int n, int row, int k0, int k1,
                                              int lane, uint4 (&pre)[gemv_pf<WQ>()],
                                              float (&ps)[gemv_pf<WQ>()])
{
    using F = wfmt<T, WQ>;
    if (row >= n)
        return;
    const char *wr = (const char *)w + (size_t)row * F::row_bytes(k);
#pragma unroll
    for (int c = 0; c < gemv_pf<WQ>(); c++) {
        const int kk = k0 + (c * 32 + lane) * F::V;
        if (kk < k1) {
            pre[c] = __ldg(reinterpret_cast<const uint4 *>(wr + F::offset(kk)));
            if constexpr (WQ != 0)
                ps[c] = chunk_scale<WQ>(a, row, kk);
        }
    }
}

/* The weights of row `row` at [kk, kk + V) when not prefetched. */
template <typename T, int WQ>
__device__ __forceinline__ uint4 gemv_load(const void *__restrict__ w, int k, int row, int kk)
{
    using F = wfmt<T, WQ>;
    const char *wr = (const char *)w + (size_t)row * F::row_bytes(k);
    return __ldg(reinterpret_cast<const uint4 *>(wr + F::offset(kk)));
}

/* acc[i] += gs * sum_j w[j] x_i[kk + j] over the V weights of chunk u, for the m activation rows
 * (from the normalised rows in shared memory with LN, else from x); gs is the chunk's scale
 * (1 for unquantized weights). The chunk is widened P values at a time, each piece used for
 * every row before the next, so that no more than P weights live in registers. */
template <typename T, int WQ, int M, bool LN>
__device__ __forceinline__ void gemv_fma(const cu_gemv_args &a, const float *xs, int kk,
                                         const uint4 u, float gs, float (&acc)[M])
{
    using F = wfmt<T, WQ>;
    constexpr int E = vec16<T>(), P = F::P;
    if constexpr (WQ == 0) { /* the chunk is one 16-byte piece of activations: straight in */
        float wv[E];
        F::template unpack<E>(u, 0, wv);
#pragma unroll
        for (int i = 0; i < M; i++) {
            if (i < a.m) {
                float xv[E];
                if (LN) {
#pragma unroll
                    for (int j = 0; j < E; j++)
                        xv[j] = xs[i * a.k + kk + j];
                } else {
                    load_f<T, E>((const T *)a.x + (size_t)i * a.ldx + kk, xv);
                }
#pragma unroll
                for (int j = 0; j < E; j++)
                    acc[i] = fmaf(wv[j], xv[j], acc[i]);
            }
        }
        (void)gs;
    } else {
        float part[M]; /* the chunk's sums before its scale */
#pragma unroll
        for (int i = 0; i < M; i++)
            part[i] = 0.0f;
#pragma unroll
        for (int p = 0; p < F::V / P; p++) {
            float wv[P];
            F::template unpack<P>(u, p, wv);
#pragma unroll
            for (int i = 0; i < M; i++) {
                if (i < a.m) {
#pragma unroll
                    for (int c = 0; c < P / E; c++) {
                        const int k0 = kk + p * P + c * E;
                        float xv[E];
                        if (LN) {
#pragma unroll
                            for (int j = 0; j < E; j++)
                                xv[j] = xs[i * a.k + k0 + j];
                        } else {
                            load_f<T, E>((const T *)a.x + (size_t)i * a.ldx + k0, xv);
                        }
#pragma unroll
                        for (int j = 0; j < E; j++)
                            part[i] = fmaf(wv[c * E + j], xv[j], part[i]);
                    }
                }
            }
        }
#pragma unroll
        for (int i = 0; i < M; i++)
            acc[i] = fmaf(part[i], gs, acc[i]);
    }
}

/* One row (at most 48 registers): 5 blocks of 256 an SM, so that the 640 blocks of a 5120-row
 * product (fc1) are resident at once and the next kernel can start early (pdl_trigger). */
template <typename T, int WQ, int M, bool OUTF32, bool LN>
__global__ void __launch_bounds__(GEMV_WARPS * 32, M == 1 ? 5 : 1) gemv_kernel(cu_gemv_args a)
{
    using F = wfmt<T, WQ>;
    constexpr int V = F::V, EV = vec16<T>();
    extern __shared__ float xs[]; /* LN: the normalised rows [m][k], then gamma and beta [k] in T */
    pdl_trigger();
    const T *__restrict__ x = (const T *)a.x;
    const void *__restrict__ w = a.w;
    const int m = a.m, k = a.k, n = a.n;
    const int lane = threadIdx.x & 31, wid = threadIdx.x >> 5;
    const int warp = (int)(blockIdx.x * GEMV_WARPS + wid);
    const int nwarps = (int)(gridDim.x * GEMV_WARPS);
    constexpr int PF = gemv_pf<WQ>();
    uint4 pre[PF];
    float ps[PF];
    gemv_prefetch<T, WQ>(a, w, k, n, warp, 0, k, lane, pre, ps);
    T *lg = reinterpret_cast<T *>(xs + (size_t)m * k), *lb = lg + k;
    if (LN) { /* the layer norm's gamma and beta are weights: into shared memory before the
                 wait, so that no load of them follows the statistics */
        for (int v = threadIdx.x; v < k / EV; v += blockDim.x) {
            reinterpret_cast<uint4 *>(lg)[v] = __ldg(reinterpret_cast<const uint4 *>(a.ln_g) + v);
            reinterpret_cast<uint4 *>(lb)[v] = __ldg(reinterpret_cast<const uint4 *>(a.ln_b) + v);
        }
        __syncthreads();
    }
    pdl_wait();

    if (LN) {
        /* one warp per row: the row read once (all its vectors in flight), kept in shared
         * memory as fp32 for the exact two-pass mean and variance and then normalised in place;
         * each lane touches only its own elements until the barrier */
        if (wid < m) {
            const T *xr = x + (size_t)wid * a.ldx;
            float *xw = xs + (size_t)wid * k;
            float s = 0.0f;
#pragma unroll 8
            for (int kk = lane * EV; kk < k; kk += 32 * EV) {
                float v[EV];
                load_f<T, EV>(xr + kk, v);
#pragma unroll
                for (int j = 0; j < EV; j++) {
                    xw[kk + j] = v[j];
                    s += v[j];
                }
            }
            const float mean = warp_sum(s) / (float)k;
            float q = 0.0f;
            for (int kk = lane * EV; kk < k; kk += 32 * EV)
#pragma unroll
                for (int j = 0; j < EV; j++)
                    q += (xw[kk + j] - mean) * (xw[kk + j] - mean);
            const float rstd = rsqrtf(warp_sum(q) / (float)k + 1e-5f);
#pragma unroll 4
            for (int kk = lane * EV; kk < k; kk += 32 * EV) {
                const uint4 gu = *reinterpret_cast<const uint4 *>(lg + kk);
                const uint4 bu = *reinterpret_cast<const uint4 *>(lb + kk);
                const T *gv = reinterpret_cast<const T *>(&gu), *bv = reinterpret_cast<const T *>(&bu);
#pragma unroll
                for (int j = 0; j < EV; j++)
                    xw[kk + j] = (xw[kk + j] - mean) * rstd * to_f(gv[j]) + to_f(bv[j]);
            }
        }
        __syncthreads();
    }

    for (int row = warp; row < n; row += nwarps) {
        if (row != warp)
            gemv_prefetch<T, WQ>(a, w, k, n, row, 0, k, lane, pre, ps);
        /* asked for before the products, not after them (48 registers: held across pdl_wait()
         * and the layer norm, the bias spilled) */
        const float bias = load_bias<T>(a, row);
        const float prev = lane < m ? load_prev<T, OUTF32>(a, lane, row) : 0.0f;
        float acc[M];
#pragma unroll
        for (int i = 0; i < M; i++)
            acc[i] = 0.0f;
#pragma unroll
        for (int c = 0; c < PF; c++) {
            const int kk = (c * 32 + lane) * V;
            if (kk < k) {
                gemv_fma<T, WQ, M, LN>(a, xs, kk, pre[c], WQ ? ps[c] : 1.0f, acc);
            }
        }
#pragma unroll 4
        for (int kk = (PF * 32 + lane) * V; kk < k; kk += 32 * V) {
            uint4 u = gemv_load<T, WQ>(w, k, row, kk);
            gemv_fma<T, WQ, M, LN>(a, xs, kk, u, WQ ? chunk_scale<WQ>(a, row, kk) : 1.0f, acc);
        }
#pragma unroll
        for (int i = 0; i < M; i++)
            acc[i] = warp_sum(acc[i]);
#pragma unroll
        for (int i = 0; i < M; i++) {
            if (i < m && lane == i) {
                const float v = store_row<T, OUTF32>(a, i, row, acc[i] + bias, prev);
                /* the K and V columns of a fused QKV product also go to the paged cache */
                if (!OUTF32 && a.kv_slot && row >= a.kv_d && a.kv_slot[i] >= 0) {
                    T *pool = (T *)(row < 2 * a.kv_d ? a.k_pool : a.v_pool);
                    int col = row < 2 * a.kv_d ? row - a.kv_d : row - 2 * a.kv_d;
                    pool[(size_t)a.kv_slot[i] * a.kv_d + col] = from_f<T>(v);
                }
            }
        }
    }
}

/* The long products (k >= 2048: fc2, k = 4 D) split each row over KS warps of a block, their
 * partial sums added in shared memory: the serial chain of loads per warp is KS times shorter
 * and the grid KS times larger. No layer norm or K/V epilogue (fc2 has neither). Measured on an
 * H100 at one row (bench/RESULTS.md): large-v3 2.009 -> 1.842 ms a step (KS 4; KS 2 1.850),
 * large-v3-turbo 0.329 -> 0.308 ms. Splitting the k = D products too (O, cross output), or asking
 * L2 for a warp's first weight row before the layer-norm prologue, measured no better. */
template <typename T, int WQ, int M, bool OUTF32, int KS>
__global__ void __launch_bounds__(GEMV_WARPS * 32) gemv_splitk_kernel(cu_gemv_args a)
{
    using F = wfmt<T, WQ>;
    constexpr int V = F::V, RPB = GEMV_WARPS / KS;
    __shared__ float red[GEMV_WARPS][M];
    pdl_trigger();
    const int m = a.m, k = a.k, n = a.n, chunk = k / KS;
    const int lane = threadIdx.x & 31, wid = threadIdx.x >> 5, part = wid % KS;
    const int k0 = part * chunk, k1 = k0 + chunk;
    constexpr int PF = gemv_pf<WQ>();
    uint4 pre[PF];
    float ps[PF];
    gemv_prefetch<T, WQ>(a, a.w, k, n, (int)blockIdx.x * RPB + wid / KS, k0, k1, lane, pre,
                         ps);
    const float bias0 = load_bias<T>(a, (int)blockIdx.x * RPB + wid / KS);
    pdl_wait();
    for (int base = blockIdx.x * RPB; base < n; base += gridDim.x * RPB) {
        const int row = base + wid / KS;
        const bool first = base == (int)blockIdx.x * RPB;
        const float bias = first ? bias0 : load_bias<T>(a, row);
        const float prev =
            part == 0 && row < n && lane < m ? load_prev<T, OUTF32>(a, lane, row) : 0.0f;
        float acc[M];
#pragma unroll
        for (int i = 0; i < M; i++)
            acc[i] = 0.0f;
        if (row < n) {
            if (base != (int)blockIdx.x * RPB)
                gemv_prefetch<T, WQ>(a, a.w, k, n, row, k0, k1, lane, pre, ps);
#pragma unroll
            for (int c = 0; c < PF; c++) {
                const int kk = k0 + (c * 32 + lane) * V;
                if (kk < k1) {
                    gemv_fma<T, WQ, M, false>(a, nullptr, kk, pre[c], WQ ? ps[c] : 1.0f, acc);
                }
            }
#pragma unroll 4
            for (int kk = k0 + (PF * 32 + lane) * V; kk < k1; kk += 32 * V) {
                gemv_fma<T, WQ, M, false>(a, nullptr, kk, gemv_load<T, WQ>(a.w, k, row, kk),
                                          chunk_scale<WQ>(a, row, kk), acc);
            }
        }
#pragma unroll
        for (int i = 0; i < M; i++) {
            acc[i] = warp_sum(acc[i]);
            if (lane == 0)
                red[wid][i] = acc[i];
        }
        __syncthreads();
        if (part == 0 && row < n && lane < m) {
            const int i = lane;
            float v = 0.0f;
#pragma unroll
            for (int q = 0; q < KS; q++)
                v += red[wid + q][i];
            store_row<T, OUTF32>(a, i, row, v + bias, prev);
        }
        __syncthreads();
    }
}

template <typename T, int WQ, bool OUTF32>
static bool launch_splitk(const cu_gemv_args *a, cudaStream_t s)
{
    const int ks = a->splitk;
    constexpr int V = wfmt<T, WQ>::V;
    if ((ks != 2 && ks != 4) || a->k < a->splitk_min_k || a->k % (ks * V) != 0 || a->kv_slot ||
        a->ln_g)
        return false;
    const int rpb = GEMV_WARPS / ks;
    long blocks = ((long)a->n + rpb - 1) / rpb;
    if (blocks > 132L * 16)
        blocks = 132L * 16;
    dim3 grid((unsigned)blocks), block(GEMV_WARPS * 32);
#define SPLITK_GO(MM)                                                                           \
    (ks == 2 ? launch_pdl(gemv_splitk_kernel<T, WQ, MM, OUTF32, 2>, grid, block, 0, s, *a)      \
             : launch_pdl(gemv_splitk_kernel<T, WQ, MM, OUTF32, 4>, grid, block, 0, s, *a))
    if (a->m == 1)
        SPLITK_GO(1);
    else if (a->m == 2)
        SPLITK_GO(2);
    else if (a->m <= 4)
        SPLITK_GO(4);
    else
        SPLITK_GO(8);
#undef SPLITK_GO
    return true;
}

template <typename T, int WQ, bool OUTF32, bool LN>
static int launch(const cu_gemv_args *a, cudaStream_t s)
{
    if (!LN && launch_splitk<T, WQ, OUTF32>(a, s))
        return (int)cudaGetLastError();
    /* a warp per row. Programmatic dependent launch pays only when the kernel before triggers
     * early and this one loads its weights before pdl_wait() (large-v3 one row on an H100:
     * 2.00 -> 1.80 ms a step); a launch attribute alone, a tile of loads in flight with
     * software pipelining over rows, or a grid capped at two blocks per SM measured no faster
     * (bench/RESULTS.md). */
    long blocks = ((long)a->n + GEMV_WARPS - 1) / GEMV_WARPS;
    if (blocks > 132L * 16)
        blocks = 132L * 16;
    dim3 grid((unsigned)blocks), block(GEMV_WARPS * 32);
    size_t smem = LN ? (size_t)a->m * a->k * sizeof(float) + 2 * (size_t)a->k * sizeof(T) : 0;
    if (a->m == 1)
        return launch_pdl(gemv_kernel<T, WQ, 1, OUTF32, LN>, grid, block, smem, s, *a);
    if (a->m == 2)
        return launch_pdl(gemv_kernel<T, WQ, 2, OUTF32, LN>, grid, block, smem, s, *a);
    if (a->m <= 4)
        return launch_pdl(gemv_kernel<T, WQ, 4, OUTF32, LN>, grid, block, smem, s, *a);
    return launch_pdl(gemv_kernel<T, WQ, 8, OUTF32, LN>, grid, block, smem, s, *a);
}

template <typename T, int WQ> static int launch_any(const cu_gemv_args *a, cudaStream_t st)
{
    const bool ln = a->ln_g != NULL;
    if (a->out_f32)
        return ln ? launch<T, WQ, true, true>(a, st) : launch<T, WQ, true, false>(a, st);
    return ln ? launch<T, WQ, false, true>(a, st) : launch<T, WQ, false, false>(a, st);
}

extern "C" int cu_gemv(const cu_gemv_args *a, cu_stream s)
{
    if (a->m <= 0 || a->n <= 0)
        return 0;
    const unsigned es = a->dt == HARK_DTYPE_F32 ? 4u : 2u;
    const int vec = 16 / (int)es;
    /* weights a 16-byte load carries: a row is whole chunks of them */
    const int wv = a->qbits == 8 ? 16 : a->qbits == 4 ? 32 : vec;
    const int ln = a->ln_g != NULL;
    if (a->m > CU_GEMV_MAX_ROWS || a->k % vec != 0 || a->k % wv != 0 || a->ldx % vec != 0 ||
        !is_aligned(a->x, 16) || !is_aligned(a->w, 16) ||
        (ln && (size_t)a->m * a->k * sizeof(float) + 2 * (size_t)a->k * es > 48 * 1024) ||
        (a->kv_slot && (a->out_f32 || a->n != 3 * a->kv_d)) ||
        (a->qbits != 0 && a->qbits != 8 && a->qbits != 4) || (a->qbits && !a->scale) ||
        (a->qbits == 4 && (a->group % 32 != 0 || a->k % a->group != 0)))
        return (int)cudaErrorInvalidValue;
    cudaStream_t st = (cudaStream_t)s;
    HARK_CU_DISPATCH(a->dt, T, {
        if (a->qbits == 8)
            return launch_any<T, 8>(a, st);
        if (a->qbits == 4)
            return launch_any<T, 4>(a, st);
        return launch_any<T, 0>(a, st);
    });
    return 0;
}

/* ---- dequantization for the general path: out[n][k] = q * scale in T, one thread a 16-byte
 * chunk of packed weights (16 or 32 values). */
template <typename T, int WQ>
__global__ void dequant_kernel(const void *__restrict__ w, const half *__restrict__ scale, int n,
                               int k, int group, T *__restrict__ out)
{
    using F = wfmt<T, WQ>;
    constexpr int V = F::V;
    const long chunks = (long)n * (k / V);
    for (long c = blockIdx.x * (long)blockDim.x + threadIdx.x; c < chunks;
         c += (long)gridDim.x * blockDim.x) {
        const int row = (int)(c / (k / V)), kk = (int)(c % (k / V)) * V;
        const uint4 u = gemv_load<T, WQ>(w, k, row, kk);
        const float s = __half2float(scale[WQ == 8 ? row : (size_t)row * (k / group) + kk / group]);
        T *o = out + (size_t)row * k + kk;
        constexpr int P = F::P, E = vec16<T>();
#pragma unroll
        for (int p = 0; p < V / P; p++) {
            float v[P];
            F::template unpack<P>(u, p, v);
#pragma unroll
            for (int i = 0; i < P; i += E) {
                float t[E];
#pragma unroll
                for (int j = 0; j < E; j++)
                    t[j] = v[i + j] * s;
                store_f<T, E>(o + p * P + i, t);
            }
        }
    }
}

extern "C" int cu_dequant(hark_dtype dt, int qbits, int group, const void *w, const void *scale,
                          int n, int k, void *out, cu_stream s)
{
    const int wv = qbits == 8 ? 16 : 32;
    if ((qbits != 8 && qbits != 4) || n <= 0 || k % wv != 0 || !is_aligned(w, 16) ||
        !is_aligned(out, 16) || (qbits == 4 && (group % 32 != 0 || k % group != 0)))
        return (int)cudaErrorInvalidValue;
    const long chunks = (long)n * (k / wv);
    const int threads = 256;
    long blocks = (chunks + threads - 1) / threads;
    if (blocks > 132L * 32)
        blocks = 132L * 32;
    cudaStream_t st = (cudaStream_t)s;
    HARK_CU_DISPATCH(dt, T, {
        if (qbits == 8)
            dequant_kernel<T, 8><<<(unsigned)blocks, threads, 0, st>>>(w, (const half *)scale, n,
                                                                       k, group, (T *)out);
        else
            dequant_kernel<T, 4><<<(unsigned)blocks, threads, 0, st>>>(w, (const half *)scale, n,
                                                                       k, group, (T *)out);
    });
    return (int)cudaGetLastError();
}
