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
 * With many (row, head) pairs the cross-attention instead streams through a per-thread ring of
 * ST stages in shared memory filled by cp.async (each thread copies exactly the 16-byte chunks it
 * will read, so no barrier is needed): ST - 1 steps of K/V stay in flight while a step is
 * computed, instead of the U positions the direct loads allow. Lab notes: dev/cuda/CROSS.md.
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

/* N elements of T in shared memory (raw, 8- or 16-byte aligned) to fp32 registers. */
template <typename T, int N>
__device__ __forceinline__ void shared_to_f(const void *p, float (&out)[N])
{
    constexpr int BYTES = N * (int)sizeof(T);
    if constexpr (BYTES == 16) {
        uint4 u = *reinterpret_cast<const uint4 *>(p);
        const T *e = reinterpret_cast<const T *>(&u);
#pragma unroll
        for (int i = 0; i < N; i++)
            out[i] = to_f(e[i]);
    } else {
        uint2 u = *reinterpret_cast<const uint2 *>(p);
        const T *e = reinterpret_cast<const T *>(&u);
#pragma unroll
        for (int i = 0; i < N; i++)
            out[i] = to_f(e[i]);
    }
}

/* One online-softmax step of a lane group over U positions base + u * P (+ its group): scores
 * from kf, masked at p1, folded into (m, s, acc) with values vf. */
template <int VEC, int U, int G, int P>
__device__ __forceinline__ void online_step(const float (&qv)[VEC], const float (&kf)[U][VEC],
                                            const float (&vf)[U][VEC], int base, int grp, int p1,
                                            float &m, float &s, float (&acc)[VEC])
{
    float sc[U], mx = m;
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

/* ST > 0 (cross-attention only, not with PAGED): K/V go through a ring of ST stages of
 * U * 2 * blockDim.x chunks of VEC elements in dynamic shared memory (see the file comment).
 * CLUSTER: the blocks of a cluster share one (row, head), block rank i taking the i-th slice of
 * the positions; rank 0 merges and writes. Otherwise one block per (row, head).
 * PAGED: keys of row r at position p are pool row block_table[r*mb + p/blk]*blk + p%blk, and
 * len[r] positions. Otherwise: rows 0..c-1 of the window win[r] (c positions, or none when
 * win[r] < 0). q_scale = scale * log2(e). Block: (row, head) = (blockIdx.x / h, blockIdx.x % h). */
template <typename T, int E, int U, int ST, bool PAGED, bool CLUSTER>
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
    static_assert(ST == 0 || !PAGED, "the ring is for contiguous windows");

    __shared__ float sm_m[ATT_MAX_WARPS], sm_s[ATT_MAX_WARPS];
    __shared__ float sm_acc[ATT_MAX_WARPS][E];
    __shared__ float cl_ms[2], cl_acc[E]; /* this block's merged partial, read by rank 0 */

    pdl_trigger();
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
        pdl_wait();
        for (int i = threadIdx.x; i < E; i += blockDim.x)
            o[i] = from_f<T>(0.0f);
        return;
    }

    int lane = threadIdx.x % 32, warp = threadIdx.x / 32, nwarps = blockDim.x / 32;
    int grp = lane / G, gl = lane % G;
    float qv[VEC];
    /* the query comes from the kernel before: read after pdl_wait() */
    auto load_q = [&]() {
        pdl_wait();
        load_f<T, VEC>(q + (size_t)r * ldq + head * E + gl * VEC, qv);
#pragma unroll
        for (int e = 0; e < VEC; e++)
            qv[e] *= q_scale;
    };

    float m = -INFINITY, s = 0.0f, acc[VEC];
#pragma unroll
    for (int e = 0; e < VEC; e++)
        acc[e] = 0.0f;

    int chunk = (n + n_rank - 1) / n_rank, p0 = min(n, rank * chunk), p1 = min(n, p0 + chunk);
    const int step = nwarps * P * U;
    if constexpr (ST > 0) {
        /* ring [ST][U][2][blockDim.x] chunks of CB bytes; thread tid owns column tid */
        constexpr int CB = VEC * (int)sizeof(T);
        extern __shared__ __align__(16) unsigned char ring[];
        const int nt = blockDim.x, tid = threadIdx.x;
        const int n_it = (p1 - p0 + step - 1) / step, first = p0 + warp * P * U + grp;
        auto issue = [&](int it) {
            if (it < n_it) {
                unsigned char *slot = ring + (size_t)(it % ST) * U * 2 * nt * CB;
#pragma unroll
                for (int u = 0; u < U; u++) {
                    int p = first + it * step + u * P;
                    if (p < p1) {
                        cp_async<CB>(slot + ((2 * u) * nt + tid) * CB,
                                     kb + (size_t)p * d + gl * VEC);
                        cp_async<CB>(slot + ((2 * u + 1) * nt + tid) * CB,
                                     vb + (size_t)p * d + gl * VEC);
                    }
                }
            }
            cp_async_commit();
        };
#pragma unroll
        for (int i = 0; i < ST; i++)
            issue(i); /* the window's K/V are not written during a step: before pdl_wait() */
        load_q();
        for (int it = 0; it < n_it; it++) {
            cp_async_wait<ST - 1>(); /* stage it has landed (this thread's own chunks) */
            const unsigned char *slot = ring + (size_t)(it % ST) * U * 2 * nt * CB;
            int base = p0 + warp * P * U + it * step;
            float kf[U][VEC], vf[U][VEC];
#pragma unroll
            for (int u = 0; u < U; u++) {
                if (base + u * P + grp < p1) {
                    shared_to_f<T, VEC>(slot + ((2 * u) * nt + tid) * CB, kf[u]);
                    shared_to_f<T, VEC>(slot + ((2 * u + 1) * nt + tid) * CB, vf[u]);
                } else {
#pragma unroll
                    for (int e = 0; e < VEC; e++)
                        kf[u][e] = vf[u][e] = 0.0f;
                }
            }
            online_step<VEC, U, G, P>(qv, kf, vf, base, grp, p1, m, s, acc);
            issue(it + ST); /* into the slot just read: its values are in registers now */
        }
        cp_async_wait<0>();
    } else {
        /* the K/V lines on their way to L2 while the kernel before finishes: a hint only, so
         * the paged cache's newest position (written by that kernel) may be asked for too, L2
         * being where its write lands */
        for (int p = p0 + (int)threadIdx.x; p < p1; p += (int)blockDim.x) {
            size_t row;
            if constexpr (PAGED)
                row = (size_t)table[p / blk] * blk + p % blk;
            else
                row = (size_t)p;
            prefetch_l2(kb + row * d);
            prefetch_l2(vb + row * d);
        }
        float kf[U][VEC], vf[U][VEC];
        auto load_kv = [&](int base) {
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
        };
        const int base0 = p0 + warp * P * U;
        if constexpr (!PAGED) /* a window's K/V are not written during a step: the first
                                 positions into registers before pdl_wait() */
            load_kv(base0);
        load_q(); /* the current position's K/V (PAGED) come from the kernel before too */
        for (int base = base0; base - warp * P * U - p0 < p1 - p0; base += step) {
            if (PAGED || base != base0)
                load_kv(base);
            online_step<VEC, U, G, P>(qv, kf, vf, base, grp, p1, m, s, acc);
        }
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

/* The vector width the kernel uses for head width e and element size `size`. */
static int attn_vec(int e, int size)
{
    int v = 16 / size;
    return v < e ? v : e;
}

/* Launches the kernel for head width E (E in 4, 8, 16, 32, 64, 128): `grid` (row, head) pairs,
 * each a cluster of `cs` blocks when cs > 1 (only with ST = 0). With ST > 0 the ring takes
 * ST * U * 2 * threads * 16 bytes (or 8 when E * sizeof(T) is 8) of dynamic shared memory. */
template <typename T, int U, int ST, bool PAGED>
static int attn_decode_launch(int e, unsigned grid, int cs, int threads, cudaStream_t st,
                              const T *q,
                              int ldq, const T *k, const T *v, long win_stride, const int32_t *win,
                              const int32_t *bt, int mb, int blk, const int32_t *len, T *out,
                              int c, int d, int h, float q_scale)
{
    int cb = attn_vec(e, (int)sizeof(T)) * (int)sizeof(T);
    size_t ring = ST > 0 ? (size_t)ST * U * 2 * threads * cb : 0;
    cudaLaunchConfig_t cfg = {};
    cudaLaunchAttribute attr[2];
    attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
    attr[0].val.programmaticStreamSerializationAllowed = 1;
    attr[1].id = cudaLaunchAttributeClusterDimension;
    attr[1].val.clusterDim.x = (unsigned)cs;
    attr[1].val.clusterDim.y = 1;
    attr[1].val.clusterDim.z = 1;
    cfg.gridDim = dim3(grid * (unsigned)cs);
    cfg.blockDim = dim3((unsigned)threads);
    cfg.dynamicSmemBytes = ring;
    cfg.stream = st;
    /* the PDL attribute when asked for, the cluster attribute when cs > 1 */
    cfg.attrs = g_cu_pdl ? attr : attr + 1;
    cfg.numAttrs = (g_cu_pdl ? 1 : 0) + (cs > 1 ? 1 : 0);
#define ATT_CASE(EW)                                                                            \
    case EW:                                                                                    \
        if constexpr (ST == 0) {                                                                \
            if (cs > 1)                                                                         \
                return (int)cudaLaunchKernelEx(&cfg, attn_decode_kernel<T, EW, U, 0, PAGED, true>, \
                                               q, ldq, k, v, win_stride, win, bt, mb, blk, len,  \
                                               out, c, d, h, q_scale);                          \
        } else {                                                                                \
            if (cs > 1)                                                                         \
                return (int)cudaErrorInvalidValue;                                              \
            cudaError_t err = cudaFuncSetAttribute(attn_decode_kernel<T, EW, U, ST, PAGED, false>, \
                                                   cudaFuncAttributeMaxDynamicSharedMemorySize,  \
                                                   (int)ring);                                  \
            if (err != cudaSuccess)                                                             \
                return (int)err;                                                                \
        }                                                                                       \
        return (int)cudaLaunchKernelEx(&cfg, attn_decode_kernel<T, EW, U, ST, PAGED, false>,     \
                                       q, ldq, k, v, win_stride, win, bt, mb, blk, len, out, c, \
                                       d, h, q_scale);
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
                     return attn_decode_launch<T, 2, 0, true>(
                         d / h, grid, 1, threads, s, (const T *)q, ldq, (const T *)k_pool,
                         (const T *)v_pool, 0, nullptr, block_table, mb, blk, len, (T *)out, 0,
                         d, h, scale * LOG2E));
    return 0;
}

/* Launch overrides of cu_cross_attention_tune; zeros mean the policy below. */
static int g_cross_variant, g_cross_cs, g_cross_threads;

/* Development hook for the benchmark of tests/cuda/test_kernels.c and dev/cuda/CROSS.md:
 * forces cu_cross_attention's kernel (variant 1: direct loads, 2: ring of 4 stages of U = 4,
 * 3: ring of 8 stages of U = 2; 0: the default policy), cluster size cs (variant 1 only; 0: the
 * policy) and block size threads (0: the policy). Not thread-safe: production code never
 * calls it. */
extern "C" void cu_cross_attention_tune(int variant, int cs, int threads)
{
    g_cross_variant = variant;
    g_cross_cs = cs;
    g_cross_threads = threads;
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
    /* few (row, head) pairs: split C over a cluster of blocks (up to 8), direct loads */
    int cs = (int)(2 * 132 / grid);
    cs = cs > 8 ? 8 : cs < 2 ? 1 : cs;
    int threads = cs > 1 ? 256 : 128;
    /* enough pairs (R >= 7 at large-v3's H = 20): the ring of 4 stages, 3 blocks of 128 per SM,
     * 1.5x the direct loads from R = 8 to 256 on an H200 (dev/cuda/CROSS.md) */
    int variant = cs > 1 ? 1 : 2;
    if (g_cross_variant > 0) {
        variant = g_cross_variant;
        if (variant > 1) {
            cs = 1;
            threads = 128;
        } else if (cs == 1) { /* the direct loads' own block sizes */
            threads = grid < 4 * 132 ? 512 : 256;
        }
    }
    if (g_cross_cs > 0 && variant == 1)
        cs = g_cross_cs;
    if (g_cross_threads > 0)
        threads = g_cross_threads;
    if (cs > 1 && threads > 256)
        threads = 256;
    if (variant > 1 && threads > 256) /* the ring is U * 2 * ST * 16 bytes a thread */
        threads = 256;
    HARK_CU_DISPATCH(dt, T, {
        const T *tq = (const T *)q, *tk = (const T *)ck, *tv = (const T *)cv;
        float qs = scale * LOG2E;
        if (variant == 2)
            return attn_decode_launch<T, 4, 4, false>(d / h, grid, 1, threads, s, tq, ldq, tk, tv,
                                                      win_stride, win, nullptr, 1, 1, nullptr,
                                                      (T *)out, c, d, h, qs);
        if (variant == 3)
            return attn_decode_launch<T, 2, 8, false>(d / h, grid, 1, threads, s, tq, ldq, tk, tv,
                                                      win_stride, win, nullptr, 1, 1, nullptr,
                                                      (T *)out, c, d, h, qs);
        return attn_decode_launch<T, 4, 0, false>(d / h, grid, cs, threads, s, tq, ldq, tk, tv,
                                                  win_stride, win, nullptr, 1, 1, nullptr,
                                                  (T *)out, c, d, h, qs);
    });
    return 0;
}

/* ---------------------------------------------------------------- alignment scores ----------- */

/* out[row][t] = scale * q[row][head] . K[win[row]][t][head] for t < n_frames: one block per
 * (row, 128 frames), one thread per frame. Word timestamps run it once per window: plain code. */
template <typename T>
__global__ void cross_qk_kernel(const T *__restrict__ q, int ldq, const T *__restrict__ ck,
                                long win_stride, const int32_t *__restrict__ win, float *out,
                                int d, int e, int head, int n_frames, float scale)
{
    const int row = blockIdx.y, t = blockIdx.x * blockDim.x + threadIdx.x;
    if (t >= n_frames || win[row] < 0)
        return;
    const T *qr = q + (long)row * ldq + (long)head * e;
    const T *kr = ck + win[row] * win_stride + (long)t * d + (long)head * e;
    float s = 0.0f;
    for (int j = 0; j < e; j++)
        s += to_f(qr[j]) * to_f(kr[j]);
    out[(long)row * n_frames + t] = s * scale;
}

extern "C" int cu_cross_qk(hark_dtype dt, const void *q, int ldq, const void *ck, long win_stride,
                           const int32_t *win, float *out, int rows, int d, int h, int head,
                           int n_frames, float scale, cu_stream s)
{
    if (rows < 0 || h < 1 || d % h || head < 0 || head >= h || n_frames < 1 || rows > 65535)
        return (int)cudaErrorInvalidValue;
    if (rows == 0)
        return 0;
    dim3 grid((unsigned)((n_frames + 127) / 128), (unsigned)rows);
    HARK_CU_DISPATCH(dt, T, {
        cross_qk_kernel<T><<<grid, 128, 0, s>>>((const T *)q, ldq, (const T *)ck, win_stride, win,
                                                out, d, d / h, head, n_frames, scale);
    });
    return (int)cudaGetLastError();
}
