/*
 * attention_decode.cu — decode-time attention of one query row per (row, head): self-attention
 * over the paged KV cache (cu_self_attention_paged) and cross-attention over a window's cached
 * encoder K/V (cu_cross_attention). Not the encoder's attention (many queries per head).
 *
 * One block per (row, head), no scratch memory. Lanes work in groups of G = E / VEC, each lane
 * holding VEC elements of the head (one 16-byte vector when E allows it: E = 64 in half is
 * 8 lanes x 8 elements), so a warp covers P = 32 / G key positions at once, U times per step.
 * Every group keeps its own online softmax (running max m, sum s, accumulator acc[VEC]) in fp32,
 * in base 2 (the scale is folded with log2 e into q); then the groups of a warp merge by
 * shuffles and the warps of the block merge in shared memory.
 * When there are too few (row, head) pairs to fill the GPU (one or a few decoded rows), the
 * cross-attention splits C over a thread-block cluster of up to 8 blocks (sm_90) and merges the
 * blocks' partials through distributed shared memory: flash-decoding without scratch memory.
 * ref: FlashAttention's online softmax (Milakov & Gimelshein 2018) and flash-decoding's
 * partial-softmax merge.
 *
 * CPU twin: src/backend/cpu/decoder.c. Shape legend as kernels.h: R rows, C positions, D width,
 * H heads, E head width, S block size, MB max blocks per sequence.
 */
#include "backend/cuda/common.cuh"

#include <cooperative_groups.h>
#include <math.h>

namespace cg = cooperative_groups;

enum { ATT_MAX_WARPS = 32 };

/* Merges partial softmax (om, os, oacc) into (m, s, acc); m = -inf means empty. */
template <int VEC>
__device__ __forceinline__ void softmax_merge(float &m, float &s, float (&acc)[VEC], float om,
                                              float os, const float (&oacc)[VEC])
{
    float mx = fmaxf(m, om);
    float a = m == -INFINITY ? 0.0f : exp2f(m - mx);
    float b = om == -INFINITY ? 0.0f : exp2f(om - mx);
    s = s * a + os * b;
#pragma unroll
    for (int e = 0; e < VEC; e++)
        acc[e] = acc[e] * a + oacc[e] * b;
    m = mx;
}

/* CLUSTER: the blocks of a cluster share one (row, head), block rank i taking the i-th slice of
 * the positions; rank 0 merges and writes. Otherwise one block per (row, head).
 * PAGED: keys of row r at position p are pool row block_table[r*mb + p/blk]*blk + p%blk, and
 * len[r] positions. Otherwise: rows 0..c-1 of the window win[r] (c positions, or none when
 * win[r] < 0). q_scale = scale * log2(e). Block: (row, head) = (blockIdx.x / h, blockIdx.x % h). */
template <typename T, int E, int U, bool PAGED, bool CLUSTER>
__global__ void __launch_bounds__(512)
    attn_decode_kernel(const T *__restrict__ q, int ldq, const T *__restrict__ kbase,
                       const T *__restrict__ vbase, long win_stride, const int32_t *__restrict__ win,
                       const int32_t *__restrict__ block_table, int mb, int blk,
                       const int32_t *__restrict__ len, T *__restrict__ out, int c, int d, int h,
                       float q_scale)
{
    constexpr int VEC = vec16<T>() < E ? vec16<T>() : E;
    constexpr int G = E / VEC; /* lanes per key position */
    constexpr int P = 32 / G;  /* positions per warp and unroll step */
    static_assert(E % VEC == 0 && G <= 32 && 32 % G == 0, "head width");

    __shared__ float sm_m[ATT_MAX_WARPS], sm_s[ATT_MAX_WARPS];
    __shared__ float sm_acc[ATT_MAX_WARPS][E];
    __shared__ float cl_ms[2], cl_acc[E]; /* this block's merged partial, read by rank 0 */

    int pair = blockIdx.x, rank = 0, n_rank = 1;
    if constexpr (CLUSTER) {
        cg::cluster_group cl = cg::this_cluster();
        rank = (int)cl.block_rank();
        n_rank = (int)cl.num_blocks();
        pair = blockIdx.x / n_rank;
    }
    int r = pair / h, head = pair % h;
    int n;
    const T *kb = kbase + head * E, *vb = vbase + head * E;
    const int32_t *table = nullptr;
    if constexpr (PAGED) {
        n = len[r];
        table = block_table + (size_t)r * mb;
    } else {
        int w = win[r];
        n = w < 0 ? 0 : c;
        kb += (size_t)(w < 0 ? 0 : w) * win_stride;
        vb += (size_t)(w < 0 ? 0 : w) * win_stride;
    }
    T *o = out + (size_t)r * d + head * E;
    if (n <= 0) {
        for (int i = threadIdx.x; i < E; i += blockDim.x)
            o[i] = from_f<T>(0.0f);
        return;
    }

    int lane = threadIdx.x % 32, warp = threadIdx.x / 32, nwarps = blockDim.x / 32;
    int grp = lane / G, gl = lane % G;
    float qv[VEC];
    load_f<T, VEC>(q + (size_t)r * ldq + head * E + gl * VEC, qv);
#pragma unroll
    for (int e = 0; e < VEC; e++)
        qv[e] *= q_scale;

    float m = -INFINITY, s = 0.0f, acc[VEC];
#pragma unroll
    for (int e = 0; e < VEC; e++)
        acc[e] = 0.0f;

    int chunk = (n + n_rank - 1) / n_rank, p0 = min(n, rank * chunk), p1 = min(n, p0 + chunk);
    const int step = nwarps * P * U;
    for (int base = p0 + warp * P * U; base - warp * P * U - p0 < p1 - p0; base += step) {
        float kf[U][VEC], vf[U][VEC], sc[U];
#pragma unroll
        for (int u = 0; u < U; u++) {
            int p = base + u * P + grp;
            if (p < p1) {
                size_t row;
                if constexpr (PAGED)
                    row = (size_t)table[p / blk] * blk + p % blk;
                else
                    row = (size_t)p;
                load_f<T, VEC>(kb + row * d + gl * VEC, kf[u]);
                load_f<T, VEC>(vb + row * d + gl * VEC, vf[u]);
            } else {
#pragma unroll
                for (int e = 0; e < VEC; e++)
                    kf[u][e] = vf[u][e] = 0.0f;
            }
        }
        float mx = m;
#pragma unroll
        for (int u = 0; u < U; u++) {
            float dot = 0.0f;
#pragma unroll
            for (int e = 0; e < VEC; e++)
                dot += qv[e] * kf[u][e];
#pragma unroll
            for (int off = G / 2; off > 0; off >>= 1)
                dot += __shfl_xor_sync(0xffffffffu, dot, off);
            sc[u] = base + u * P + grp < p1 ? dot : -INFINITY;
            mx = fmaxf(mx, sc[u]);
        }
        float corr = m == -INFINITY ? 0.0f : exp2f(m - mx);
        s *= corr;
#pragma unroll
        for (int e = 0; e < VEC; e++)
            acc[e] *= corr;
#pragma unroll
        for (int u = 0; u < U; u++) {
            float pe = sc[u] == -INFINITY ? 0.0f : exp2f(sc[u] - mx);
            s += pe;
#pragma unroll
            for (int e = 0; e < VEC; e++)
                acc[e] += pe * vf[u][e];
        }
        m = mx;
    }

    /* merge the P groups of the warp: lanes gl, gl + G, ... hold the same element slice */
#pragma unroll
    for (int off = G; off < 32; off <<= 1) {
        float om = __shfl_xor_sync(0xffffffffu, m, off);
        float os = __shfl_xor_sync(0xffffffffu, s, off);
        float oacc[VEC];
#pragma unroll
        for (int e = 0; e < VEC; e++)
            oacc[e] = __shfl_xor_sync(0xffffffffu, acc[e], off);
        softmax_merge<VEC>(m, s, acc, om, os, oacc);
    }
    if (grp == 0) {
#pragma unroll
        for (int e = 0; e < VEC; e++)
            sm_acc[warp][gl * VEC + e] = acc[e];
        if (gl == 0) {
            sm_m[warp] = m;
            sm_s[warp] = s;
        }
    }
    __syncthreads();
    for (int i = threadIdx.x; i < E; i += blockDim.x) {
        float gm = -INFINITY;
        for (int w = 0; w < nwarps; w++)
            gm = fmaxf(gm, sm_m[w]);
        float gs = 0.0f, ga = 0.0f;
        for (int w = 0; w < nwarps; w++) {
            float f = sm_m[w] == -INFINITY ? 0.0f : exp2f(sm_m[w] - gm);
            gs += sm_s[w] * f;
            ga += sm_acc[w][i] * f;
        }
        if constexpr (CLUSTER) {
            cl_acc[i] = ga;
            if (i == 0) {
                cl_ms[0] = gm;
                cl_ms[1] = gs;
            }
        } else {
            o[i] = from_f<T>(ga / gs);
        }
    }
    if constexpr (CLUSTER) {
        cg::cluster_group cl = cg::this_cluster();
        cl.sync();
        if (rank == 0) {
            for (int i = threadIdx.x; i < E; i += blockDim.x) {
                float gm = -INFINITY;
                for (int k = 0; k < n_rank; k++)
                    gm = fmaxf(gm, cl.map_shared_rank(cl_ms, k)[0]);
                float gs = 0.0f, ga = 0.0f;
                for (int k = 0; k < n_rank; k++) {
                    const float *ms = cl.map_shared_rank(cl_ms, k);
                    float f = ms[0] == -INFINITY ? 0.0f : exp2f(ms[0] - gm);
                    gs += ms[1] * f;
                    ga += cl.map_shared_rank(cl_acc, k)[i] * f;
                }
                o[i] = from_f<T>(ga / gs);
            }
        }
        cl.sync(); /* keep every block's shared memory alive until rank 0 has read it */
    }
}

/* Launches the kernel for head width E (E in 4, 8, 16, 32, 64, 128): `grid` (row, head) pairs,
 * each a cluster of `cs` blocks when cs > 1. */
template <typename T, int U, bool PAGED>
static int attn_decode_launch(int e, unsigned grid, int cs, int threads, cudaStream_t st,
                              const T *q,
                              int ldq, const T *k, const T *v, long win_stride, const int32_t *win,
                              const int32_t *bt, int mb, int blk, const int32_t *len, T *out,
                              int c, int d, int h, float q_scale)
{
    cudaLaunchConfig_t cfg = {};
    cudaLaunchAttribute attr[1];
    attr[0].id = cudaLaunchAttributeClusterDimension;
    attr[0].val.clusterDim.x = (unsigned)cs;
    attr[0].val.clusterDim.y = 1;
    attr[0].val.clusterDim.z = 1;
    cfg.gridDim = dim3(grid * (unsigned)cs);
    cfg.blockDim = dim3((unsigned)threads);
    cfg.stream = st;
    cfg.attrs = attr;
    cfg.numAttrs = 1;
#define ATT_CASE(EW)                                                                            \
    case EW:                                                                                    \
        if (cs > 1)                                                                             \
            return (int)cudaLaunchKernelEx(&cfg, attn_decode_kernel<T, EW, U, PAGED, true>, q,  \
                                           ldq, k, v, win_stride, win, bt, mb, blk, len, out, c, \
                                           d, h, q_scale);                                      \
        attn_decode_kernel<T, EW, U, PAGED, false><<<grid, threads, 0, st>>>(                   \
            q, ldq, k, v, win_stride, win, bt, mb, blk, len, out, c, d, h, q_scale);            \
        break;
    switch (e) {
        ATT_CASE(4)
        ATT_CASE(8)
        ATT_CASE(16)
        ATT_CASE(32)
        ATT_CASE(64)
        ATT_CASE(128)
    default:
        return (int)cudaErrorInvalidValue;
    }
#undef ATT_CASE
    return (int)cudaGetLastError();
}

/* The vector width the kernel uses for head width e and element size `size`. */
static int attn_vec(int e, int size)
{
    int v = 16 / size;
    return v < e ? v : e;
}

/* Checks the shapes and alignments the kernel relies on. */
static bool attn_shape_ok(int rows, int d, int h, int ldq, long win_stride, int size,
                          const void *q, const void *k, const void *v, const void *out)
{
    if (rows < 0 || h < 1 || d < h || d % h != 0)
        return false;
    int e = d / h, vec = attn_vec(e, size);
    unsigned bytes = (unsigned)(vec * size);
    return ldq % vec == 0 && d % vec == 0 && win_stride % vec == 0 && is_aligned(q, bytes) &&
           is_aligned(k, bytes) && is_aligned(v, bytes) && is_aligned(out, bytes);
}

static const float LOG2E = 1.4426950408889634f;

/* Decoder self-attention over the paged cache; see kernels.h. E = D / H must be 4, 8, 16, 32,
 * 64 or 128, and ldq a multiple of the vector width (8 halves / 4 floats, or E when smaller):
 * otherwise cudaErrorInvalidValue. */
extern "C" int cu_self_attention_paged(hark_dtype dt, const void *q, int ldq, const void *k_pool,
                                       const void *v_pool, const int32_t *block_table, int mb,
                                       int blk, const int32_t *len, void *out, int rows, int d,
                                       int h, float scale, cu_stream s)
{
    int size = dt == HARK_DTYPE_F32 ? 4 : 2;
    if (!attn_shape_ok(rows, d, h, ldq, 0, size, q, k_pool, v_pool, out) || mb < 1 || blk < 1)
        return (int)cudaErrorInvalidValue;
    if (rows == 0)
        return 0;
    if ((long)rows * h > 0x7fffffffL)
        return (int)cudaErrorInvalidValue;
    unsigned grid = (unsigned)(rows * h);
    int threads = grid < 2 * 132 ? 256 : 128;
    HARK_CU_DISPATCH(dt, T,
                     return attn_decode_launch<T, 2, true>(
                         d / h, grid, 1, threads, s, (const T *)q, ldq, (const T *)k_pool,
                         (const T *)v_pool, 0, nullptr, block_table, mb, blk, len, (T *)out, 0,
                         d, h, scale * LOG2E));
    return 0;
}

/* Decoder cross-attention over a window's C cached positions; see kernels.h. Same E and
 * alignment rules as cu_self_attention_paged (win_stride a multiple of the vector width too). */
extern "C" int cu_cross_attention(hark_dtype dt, const void *q, int ldq, const void *ck,
                                  const void *cv, long win_stride, const int32_t *win, void *out,
                                  int rows, int c, int d, int h, float scale, cu_stream s)
{
    int size = dt == HARK_DTYPE_F32 ? 4 : 2;
    if (!attn_shape_ok(rows, d, h, ldq, win_stride, size, q, ck, cv, out) || c < 0)
        return (int)cudaErrorInvalidValue;
    if (rows == 0)
        return 0;
    if ((long)rows * h > 0x7fffffffL)
        return (int)cudaErrorInvalidValue;
    unsigned grid = (unsigned)(rows * h);
    /* few (row, head) pairs: split C over a cluster of blocks (up to 8), or wider blocks */
    int cs = (int)(2 * 132 / grid);
    cs = cs > 8 ? 8 : cs < 2 ? 1 : cs;
    int threads = cs > 1 ? 256 : grid < 4 * 132 ? 512 : 256;
    HARK_CU_DISPATCH(dt, T,
                     return attn_decode_launch<T, 4, false>(
                         d / h, grid, cs, threads, s, (const T *)q, ldq, (const T *)ck, (const T *)cv,
                         win_stride, win, nullptr, 1, 1, nullptr, (T *)out, c, d, h,
                         scale * LOG2E));
    return 0;
}
