/*
 * gemm_skinny.cu — a lab, not in src/ (measured slower than cuBLASLt: README.md). The
 * decoder's matrix products at batch sizes between the one-row kernel (gemv.cu) and the
 * encoder's: y[m][n] = x[m][k] W[n][k]^T (+ b) (GELU) (+ y), 3 <= m <= 256, f16/bf16, on
 * Hopper's wgmma (sm_90a builds, 9.x devices).
 *
 * Why: at m = 256 a large-v3 decoder step spent 2.2 ms in cuBLASLt's products (bench/RESULTS.md,
 * ncu): its kernels for these shapes use 32 x 64 tiles, so the weights (the bulk of the bytes)
 * are read once per 32 rows, and fc2 (1280 x 5120, 13 MB) took 19 us against ~5 us of bytes
 * and tensor work. Here every weight tile is read exactly once:
 *  - The product runs transposed, y^T = W x^T: a CTA owns BN = 64 * NWG weight rows (the wgmma
 *    M side, one warpgroup per 64) and all m activation rows (the N side, NB blocks of 64,
 *    m padded with zero rows). W and x tiles are K-major in the 128-byte swizzle (wgmma.cuh).
 *  - Tiles of 64 along k stream through shared memory by cp.async, STAGES deep; each k-step is
 *    four k16 wgmma per 64-row activation block.
 *  - Too few weight tiles for the card (1280-row products: 10 tiles of 128) are split along k
 *    over gridDim.y CTAs. Each writes its fp32 partial tile to a workspace; the last to arrive
 *    (a counter per tile) adds the partials in split order, so the sum does not depend on
 *    timing, resets the counter, and runs the epilogue.
 *  - Epilogue through shared memory: the tile transposed back to [m][n] rows, then bias, GELU,
 *    the residual and the store with 16-byte accesses where the row allows.
 * Weights are asked for before pdl_wait() (programmatic dependent launch, common.cuh).
 */
#include "backend/cuda/common.cuh"
#include "backend/cuda/wgmma.cuh"

#include <stdlib.h>
#include <string.h>

namespace {

template <int NWG, int NB, int STAGES> struct sk_shape {
    static constexpr int BN = 64 * NWG, MR = 64 * NB, THREADS = 128 * NWG;
    static constexpr int W_EL = BN * 64, X_EL = MR * 64, STAGE_EL = W_EL + X_EL;
    static constexpr int LDS = BN + 4; /* fp32 staging row [MR][LDS]: +4 spreads the banks */
    static constexpr int PIPE_BYTES = STAGES * STAGE_EL * 2;
    static constexpr int STAGE_BYTES = MR * LDS * 4;
    static constexpr int SMEM = (PIPE_BYTES > STAGE_BYTES ? PIPE_BYTES : STAGE_BYTES) + 1024;
};

/* Final values of the tile (staged as st[m][LDS], fp32 sums of x W^T) to y. */
template <typename T, int NWG, int NB, int STAGES>
__device__ __forceinline__ void sk_epilogue(const cu_skinny_args &a, const float *st, int n0)
{
    using S = sk_shape<NWG, NB, STAGES>;
    const T *__restrict__ bias = (const T *)a.b;
    for (int idx = threadIdx.x; idx < S::MR * (S::BN / 8); idx += S::THREADS) {
        const int m = idx / (S::BN / 8), c8 = idx % (S::BN / 8), n = n0 + c8 * 8;
        if (m >= a.m || n >= a.n)
            continue;
        float v[8];
        const float4 *sv = reinterpret_cast<const float4 *>(st + m * S::LDS + c8 * 8);
        const float4 lo = sv[0], hi = sv[1];
        v[0] = lo.x, v[1] = lo.y, v[2] = lo.z, v[3] = lo.w;
        v[4] = hi.x, v[5] = hi.y, v[6] = hi.z, v[7] = hi.w;
        const bool whole = a.vec && n + 8 <= a.n;
        if (bias) {
            if (whole) {
                float bv[8];
                load_f<T, 8>(bias + n, bv);
#pragma unroll
                for (int j = 0; j < 8; j++)
                    v[j] += bv[j];
            } else {
                for (int j = 0; j < 8 && n + j < a.n; j++)
                    v[j] += to_f(bias[n + j]);
            }
        }
        if (a.gelu)
#pragma unroll
            for (int j = 0; j < 8; j++)
                v[j] = 0.5f * v[j] * (1.0f + erff(v[j] * 0.70710678118654752f));
        if (a.out_f32) {
            float *yo = (float *)a.y + (size_t)m * a.ldy + n;
            for (int j = 0; j < 8 && n + j < a.n; j++)
                yo[j] = a.accumulate ? yo[j] + v[j] : v[j];
        } else {
            T *yo = (T *)a.y + (size_t)m * a.ldy + n;
            if (whole) {
                if (a.accumulate) {
                    float r[8];
                    load_f<T, 8>(yo, r);
#pragma unroll
                    for (int j = 0; j < 8; j++)
                        v[j] += r[j];
                }
                store_f<T, 8>(yo, v);
            } else {
                for (int j = 0; j < 8 && n + j < a.n; j++)
                    yo[j] = from_f<T>(a.accumulate ? to_f(yo[j]) + v[j] : v[j]);
            }
        }
    }
}

/* grid (weight tiles, k splits), NWG * 128 threads. */
template <typename T, int NWG, int NB, int STAGES>
__global__ void __launch_bounds__(NWG * 128, 1) sk_kernel(cu_skinny_args a)
{
#ifdef HARK_WGMMA_BODY
    using S = sk_shape<NWG, NB, STAGES>;
    constexpr int P = STAGES - 2; /* k-steps in flight ahead of the one computed */
    static_assert(STAGES >= 3, "a stage is refilled two k-steps after its product was issued");
    extern __shared__ __align__(128) unsigned char sk_smem[];
    T *sm = reinterpret_cast<T *>(sk_smem + ((1024u - (smem_addr(sk_smem) & 1023u)) & 1023u));
    __shared__ int last;
    pdl_trigger();
    const int tid = threadIdx.x, wg = tid / 128, wl = tid % 128;
    const int tile = (int)blockIdx.x, split = (int)blockIdx.y, splits = (int)gridDim.y;
    const int n0 = tile * S::BN, nk = a.k / 64;
    const int ks0 = (int)((long)nk * split / splits), ks1 = (int)((long)nk * (split + 1) / splits);
    const int steps = ks1 - ks0;
    const T *__restrict__ W = (const T *)a.w;
    const T *__restrict__ X = (const T *)a.x;

    auto load_w = [&](int s, int ks) {
        T *dst = sm + (s % STAGES) * S::STAGE_EL;
        for (int i = tid; i < S::BN * 8; i += S::THREADS) {
            const int r = i >> 3, ch = i & 7, n = n0 + r;
            const bool ok = n < a.n;
            cp_async16(dst + wg_swz(r, ch), W + (size_t)(ok ? n : 0) * a.k + ks * 64 + ch * 8, ok);
        }
    };
    auto load_x = [&](int s, int ks) {
        T *dst = sm + (s % STAGES) * S::STAGE_EL + S::W_EL;
        for (int i = tid; i < S::MR * 8; i += S::THREADS) {
            const int r = i >> 3, ch = i & 7;
            const bool ok = r < a.m;
            cp_async16(dst + wg_swz(r, ch), X + (size_t)(ok ? r : 0) * a.ldx + ks * 64 + ch * 8,
                       ok);
        }
    };

    float acc[NB][32];
#pragma unroll
    for (int b = 0; b < NB; b++)
#pragma unroll
        for (int i = 0; i < 32; i++)
            acc[b][i] = 0.0f;

    /* the weights of the first stages while the kernel before finishes; the activations after */
    for (int s = 0; s < P && s < steps; s++)
        load_w(s, ks0 + s);
    pdl_wait();
    for (int s = 0; s < P; s++) {
        if (s < steps)
            load_x(s, ks0 + s);
        cp_async_commit();
    }
    for (int s = 0; s < steps; s++) {
        cp_async_wait<STAGES - 3>(); /* this thread's copies of step s have landed */
        fence_proxy_async();         /* ... and are visible to the tensor cores */
        __syncthreads();             /* everyone's; and every warp is past step s - 2's product */
        if (s + P < steps) {
            load_w(s + P, ks0 + s + P);
            load_x(s + P, ks0 + s + P);
        }
        cp_async_commit();
        const T *ws = sm + (s % STAGES) * S::STAGE_EL, *xs = ws + S::W_EL;
        const uint64_t da = wg_desc(ws + wg * 64 * 64, 16, 1024);
        wg_fence();
#pragma unroll
        for (int kk = 0; kk < 4; kk++)
#pragma unroll
            for (int b = 0; b < NB; b++)
                wgmma_ss64<T>(acc[b], da + 2 * kk, wg_desc(xs + b * 64 * 64, 16, 1024) + 2 * kk,
                              1);
        wg_commit();
        wg_wait<1>();
    }
    wg_wait<0>();
#pragma unroll
    for (int b = 0; b < NB; b++)
        wg_pin(acc[b], 32);
    cp_async_wait<0>();

    if (splits > 1) { /* the partial tile out; the last CTA of the tile sums them in order */
        float4 *part = reinterpret_cast<float4 *>(a.ws) +
                       ((size_t)(split * gridDim.x + tile) * (NB * 8)) * S::THREADS + tid;
#pragma unroll
        for (int b = 0; b < NB; b++)
#pragma unroll
            for (int q = 0; q < 8; q++)
                __stcg(part + (size_t)(b * 8 + q) * S::THREADS,
                       make_float4(acc[b][4 * q], acc[b][4 * q + 1], acc[b][4 * q + 2],
                                   acc[b][4 * q + 3]));
        __threadfence();
        __syncthreads();
        if (tid == 0)
            last = atomicAdd(&a.cnt[tile], 1) == splits - 1;
        __syncthreads();
        if (!last)
            return;
        __threadfence();
#pragma unroll
        for (int b = 0; b < NB; b++)
#pragma unroll
            for (int i = 0; i < 32; i++)
                acc[b][i] = 0.0f;
        for (int s = 0; s < splits; s++) {
            const float4 *ps = reinterpret_cast<const float4 *>(a.ws) +
                               ((size_t)(s * gridDim.x + tile) * (NB * 8)) * S::THREADS + tid;
#pragma unroll
            for (int b = 0; b < NB; b++)
#pragma unroll
                for (int q = 0; q < 8; q++) {
                    const float4 v = __ldcg(ps + (size_t)(b * 8 + q) * S::THREADS);
                    acc[b][4 * q] += v.x, acc[b][4 * q + 1] += v.y;
                    acc[b][4 * q + 2] += v.z, acc[b][4 * q + 3] += v.w;
                }
        }
        if (tid == 0)
            a.cnt[tile] = 0; /* every split has arrived: ready for the next launch */
    }

    /* accumulator fragment (m64n64 f32): warp w of the warpgroup holds weight rows
     * 16w + lane/4 (+8 for the odd pairs), activation rows 8j + 2 (lane % 4) (+1) */
    __syncthreads(); /* the pipeline's shared memory becomes the staging tile */
    float *st = reinterpret_cast<float *>(sm);
    const int warp = wl / 32, lane = wl % 32;
#pragma unroll
    for (int b = 0; b < NB; b++)
#pragma unroll
        for (int i = 0; i < 32; i++) {
            const int r = wg * 64 + warp * 16 + lane / 4 + 8 * ((i % 4) / 2);
            const int c = b * 64 + (i / 4) * 8 + (lane % 4) * 2 + (i % 2);
            st[c * S::LDS + r] = acc[b][i];
        }
    __syncthreads();
    sk_epilogue<T, NWG, NB, STAGES>(a, st, n0);
#endif
}

template <typename T, int NWG, int NB, int STAGES>
int sk_launch(const cu_skinny_args *a, int tiles, int splits, cudaStream_t s)
{
    using S = sk_shape<NWG, NB, STAGES>;
    static int attr_set[64];
    int dev = 0;
    cudaGetDevice(&dev);
    if (dev >= 0 && dev < 64 && !__atomic_load_n(&attr_set[dev], __ATOMIC_ACQUIRE)) {
        cudaError_t e = cudaFuncSetAttribute(sk_kernel<T, NWG, NB, STAGES>,
                                             cudaFuncAttributeMaxDynamicSharedMemorySize, S::SMEM);
        if (e != cudaSuccess)
            return (int)e;
        __atomic_store_n(&attr_set[dev], 1, __ATOMIC_RELEASE);
    }
    return launch_pdl(sk_kernel<T, NWG, NB, STAGES>, dim3((unsigned)tiles, (unsigned)splits),
                      dim3(S::THREADS), (size_t)S::SMEM, s, *a);
}

/* Whether this build and the current device run the kernel (sm_90a build, 9.x device), and the
 * device's multiprocessor count. Cached per device. */
bool sk_device_ok(int *sms)
{
#if defined(HARK_CUDA_WGMMA)
    static int state[64], n_sm[64];
    int dev = 0;
    if (cudaGetDevice(&dev) != cudaSuccess || dev < 0 || dev >= 64)
        return false;
    int st = __atomic_load_n(&state[dev], __ATOMIC_ACQUIRE);
    if (st == 0) {
        int major = 0, count = 0;
        if (cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev) != cudaSuccess ||
            cudaDeviceGetAttribute(&count, cudaDevAttrMultiProcessorCount, dev) != cudaSuccess)
            major = 0;
        __atomic_store_n(&n_sm[dev], count, __ATOMIC_RELAXED);
        st = major == 9 ? 1 : 2;
        __atomic_store_n(&state[dev], st, __ATOMIC_RELEASE);
    }
    *sms = __atomic_load_n(&n_sm[dev], __ATOMIC_RELAXED);
    return st == 1;
#else
    *sms = 0;
    return false;
#endif
}

/* Test and lab hook: forced warpgroups per CTA (1, 2) and k splits; 0 keeps the policy. */
int g_sk_nwg = 0, g_sk_splits = 0;

} /* namespace */

extern "C" void cu_skinny_tune(int nwg, int splits)
{
    g_sk_nwg = nwg;
    g_sk_splits = splits;
}

/* See kernels.h. The shape policy: one warpgroup for up to 64 rows (the activation tile is
 * small, and more CTAs share the weights), two above; k split so that the grid has about one
 * CTA per multiprocessor, at least two k-steps each, within the workspace. */
extern "C" int cu_skinny(const cu_skinny_args *a, cu_stream s)
{
    int sms = 0;
    if (!sk_device_ok(&sms))
        return (int)cudaErrorNotSupported;
    if (a->m <= 0 || a->n <= 0)
        return 0;
    if ((a->dt != HARK_DTYPE_F16 && a->dt != HARK_DTYPE_BF16) || a->m > CU_SKINNY_MAX_ROWS ||
        a->k < 64 || a->k % 64 != 0 || a->ldx % 8 != 0 || !is_aligned(a->x, 16) ||
        !is_aligned(a->w, 16) || !a->cnt || !a->ws)
        return (int)cudaErrorInvalidValue;
    const int nb = (a->m + 63) / 64;
    int nwg = g_sk_nwg ? g_sk_nwg : (nb >= 2 ? 2 : 1);
    const int bn = 64 * nwg, tiles = (a->n + bn - 1) / bn, nk = a->k / 64;
    int splits = 1;
    if (g_sk_splits > 0)
        splits = g_sk_splits;
    else if (tiles < sms)
        splits = (sms + tiles / 2) / tiles;
    if (splits > nk / 2)
        splits = nk / 2 > 0 ? nk / 2 : 1;
    if (splits > nk)
        splits = nk;
    const size_t part = (size_t)bn * 64 * nb * sizeof(float); /* one CTA's partial tile */
    while (splits > 1 && ((size_t)splits * tiles * part > a->ws_bytes || tiles > a->cnt_len))
        splits--;
    cu_skinny_args b = *a; /* whole 16-byte vectors of bias, y rows (the f32 output is stored
                              an element at a time) */
    b.vec = a->n % 8 == 0 && a->ldy % 8 == 0 && is_aligned(a->y, 16) &&
            (!a->b || is_aligned(a->b, 16));
    cudaStream_t st = (cudaStream_t)s;
#define SK_GO(T, NW, NBB, STG) return sk_launch<T, NW, NBB, STG>(&b, tiles, splits, st)
#define SK_NB(T, NW)                                                                              \
    switch (nb) {                                                                                 \
    case 1: SK_GO(T, NW, 1, 6);                                                                   \
    case 2: SK_GO(T, NW, 2, 5);                                                                   \
    case 3: SK_GO(T, NW, 3, 4);                                                                   \
    default: SK_GO(T, NW, 4, 4);                                                                  \
    }
    if (a->dt == HARK_DTYPE_F16) {
        if (nwg == 1)
            SK_NB(__half, 1)
        else
            SK_NB(__half, 2)
    } else {
        if (nwg == 1)
            SK_NB(__nv_bfloat16, 1)
        else
            SK_NB(__nv_bfloat16, 2)
    }
#undef SK_NB
#undef SK_GO
    return 0;
}
