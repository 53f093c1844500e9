/*
 * attention_encoder.cu — the encoder's fused self-attention on the GPU (cu_encoder_attention).
 *
 * Per window b and head j (E = D / H): out[b][t][j*E ..] = softmax_u(q_t . k_u * scale) v_u over
 * all C positions, non-causal; the C x C score matrix never leaves the chip.
 * ref: openai/whisper model.py MultiHeadAttention.qkv_attention (the function computed here).
 *
 * Two kernels:
 *   - attn_flash_e64: FlashAttention-2 style (Dao, 2023) for f16/bf16 with E = 64. One CTA per
 *     (query tile of 16*MT*WARPS rows, head, window); each warp owns 16*MT query rows. Key/value
 *     tiles of 64 positions stream through shared memory (cp.async, two stages, XOR-swizzled
 *     rows so ldmatrix is conflict-free); S = Q K^T and O += P V on the tensor cores
 *     (mma.sync m16n8k16, fp32 accumulation); online softmax in registers with exp2 and
 *     scale*log2(e) folded in; P goes from the S accumulators to the A operand without
 *     touching shared memory. Keys >= C in the last tile are masked to -inf.
 *   - attn_simple: any dtype and E <= 64, fp32 arithmetic, one thread per query row; keys in
 *     chunks of 32 through shared memory. The fp32 path and the fallback for E != 64.
 *
 * Not here: causal masking, key padding masks, E > 64 (returns cudaErrorInvalidValue).
 * The lab that grew this kernel, with its CPU reference and benchmark: dev/cuda/flash_attn.cu.
 *
 * Shape legend: B windows, C positions, D width, H heads, E head width (D / H).
 */
#include "backend/cuda/kernels.h"

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <math.h>
#include <stdint.h>

namespace {

/* ---------------------------------------------------------------------------------------------
 * Element conversions and packed pairs.
 */
__device__ __forceinline__ float elem_to_f32(float x) { return x; }
__device__ __forceinline__ float elem_to_f32(__half x) { return __half2float(x); }
__device__ __forceinline__ float elem_to_f32(__nv_bfloat16 x) { return __bfloat162float(x); }

template <typename T> __device__ __forceinline__ T elem_from_f32(float x);
template <> __device__ __forceinline__ float elem_from_f32<float>(float x) { return x; }
template <> __device__ __forceinline__ __half elem_from_f32<__half>(float x)
{
    return __float2half_rn(x);
}
template <> __device__ __forceinline__ __nv_bfloat16 elem_from_f32<__nv_bfloat16>(float x)
{
    return __float2bfloat16_rn(x);
}

/* Two floats -> one 32-bit register holding (lo, hi) in T. */
template <typename T> __device__ __forceinline__ uint32_t pack2(float lo, float hi);
template <> __device__ __forceinline__ uint32_t pack2<__half>(float lo, float hi)
{
    __half2 v = __floats2half2_rn(lo, hi);
    return *reinterpret_cast<uint32_t *>(&v);
}
template <> __device__ __forceinline__ uint32_t pack2<__nv_bfloat16>(float lo, float hi)
{
    __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
    return *reinterpret_cast<uint32_t *>(&v);
}

/* ---------------------------------------------------------------------------------------------
 * PTX wrappers: cp.async, ldmatrix, mma.sync.
 */
__device__ __forceinline__ uint32_t smem_addr(const void *p)
{
    return (uint32_t)__cvta_generic_to_shared(p);
}

/* 16 bytes global -> shared; ok == false writes 16 zero bytes and reads nothing. */
__device__ __forceinline__ void cp_async16(void *dst, const void *src, bool ok)
{
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(smem_addr(dst)),
                 "l"(src), "r"(ok ? 16 : 0));
}
__device__ __forceinline__ void cp_async_commit(void) { asm volatile("cp.async.commit_group;\n"); }
template <int N> __device__ __forceinline__ void cp_async_wait(void)
{
    asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
}

__device__ __forceinline__ void ldsm_x4(uint32_t r[4], const void *p)
{
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(smem_addr(p)));
}
__device__ __forceinline__ void ldsm_x4_trans(uint32_t r[4], const void *p)
{
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(smem_addr(p)));
}

/* c[4] += A (16x16, row) * B (16x8, col), fp32 accumulators. */
template <typename T>
__device__ __forceinline__ void mma16816(float c[4], const uint32_t a[4], uint32_t b0, uint32_t b1);
template <>
__device__ __forceinline__ void mma16816<__half>(float c[4], const uint32_t a[4], uint32_t b0,
                                                 uint32_t b1)
{
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 "
                 "{%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}
template <>
__device__ __forceinline__ void mma16816<__nv_bfloat16>(float c[4], const uint32_t a[4],
                                                        uint32_t b0, uint32_t b1)
{
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 "
                 "{%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

/* ---------------------------------------------------------------------------------------------
 * FlashAttention-2 kernel, E = 64, f16/bf16.
 *
 * Shared tiles are [rows][64] elements = 8 chunks of 16 bytes per row; chunk ch of row r lives
 * at chunk position ch ^ (r & 7), so the 8 rows an ldmatrix phase reads hit 8 distinct bank
 * groups.
 */
constexpr int FA_E = 64;  /* head width this kernel handles */
constexpr int FA_BK = 64; /* keys per tile */

__device__ __forceinline__ int swz(int row, int chunk) { return row * FA_E + ((chunk ^ (row & 7)) << 3); }

/* Loads rows [r0, r0 + ROWS) of a [C][ld] matrix (its 64 columns at src) into a swizzled
 * tile; rows >= c are zero-filled. */
template <typename T, int ROWS, int THREADS>
__device__ __forceinline__ void fa_load_tile(T *tile, const T *src, int r0, int c, long ld)
{
#pragma unroll
    for (int i = 0; i < ROWS * 8 / THREADS; i++) {
        int idx = i * THREADS + (int)threadIdx.x;
        int row = idx >> 3, ch = idx & 7;
        bool ok = r0 + row < c;
        const T *g = ok ? src + (long)(r0 + row) * ld + ch * 8 : src;
        cp_async16(tile + swz(row, ch), g, ok);
    }
}

/* Dynamic shared memory of attn_flash_e64<T, WARPS, MT>: Q tile + two K and two V tiles. */
template <typename T> constexpr int fa_smem_bytes(int warps, int mt)
{
    return (warps * 16 * mt + 4 * FA_BK) * FA_E * (int)sizeof(T);
}

/* qkv [B][C][3D], out [B][C][D]; grid (ceil(C / (16*MT*WARPS)), H, B); sl2 = scale * log2(e) > 0.
 * Each warp owns MT m-tiles of 16 query rows: K/V fragments read from shared memory once per
 * warp serve MT m-tiles. */
template <typename T, int WARPS, int MT>
__global__ void __launch_bounds__(WARPS * 32)
    attn_flash_e64(const T *__restrict__ qkv, T *__restrict__ out, int c, int d, float sl2)
{
    constexpr int WR = 16 * MT, BQ = WARPS * WR, THREADS = WARPS * 32;
    extern __shared__ __align__(128) unsigned char fa_smem[];
    T *sq = reinterpret_cast<T *>(fa_smem); /* [BQ][64] */
    T *sk = sq + BQ * FA_E;                  /* [2][BK][64] */
    T *sv = sk + 2 * FA_BK * FA_E;           /* [2][BK][64] */

    const int warp = (int)threadIdx.x >> 5, lane = (int)threadIdx.x & 31;
    const int q0 = (int)blockIdx.x * BQ;
    const long ld = 3L * d;
    const T *base = qkv + (long)blockIdx.z * c * ld + (long)blockIdx.y * FA_E;
    const int nkt = (c + FA_BK - 1) / FA_BK;

    fa_load_tile<T, BQ, THREADS>(sq, base, q0, c, ld);
    fa_load_tile<T, FA_BK, THREADS>(sk, base + d, 0, c, ld);
    fa_load_tile<T, FA_BK, THREADS>(sv, base + 2 * d, 0, c, ld);
    cp_async_commit();

    uint32_t qf[MT][4][4]; /* Q fragments: 16 rows x 64 per m-tile, four k-steps */
    float o[MT][8][4];     /* O accumulators: 16 rows x 64 per m-tile (eight n-tiles of 8) */
    float m[MT][2], l[MT][2]; /* running max (scaled, log2 units), partial sum: rows g, g+8 */
#pragma unroll
    for (int mt = 0; mt < MT; mt++) {
#pragma unroll
        for (int nt = 0; nt < 8; nt++)
#pragma unroll
            for (int i = 0; i < 4; i++) o[mt][nt][i] = 0.0f;
        m[mt][0] = m[mt][1] = -INFINITY;
        l[mt][0] = l[mt][1] = 0.0f;
    }

    for (int kt = 0; kt < nkt; kt++) {
        const int buf = kt & 1;
        if (kt + 1 < nkt) {
            int nb = (kt + 1) & 1;
            fa_load_tile<T, FA_BK, THREADS>(sk + nb * FA_BK * FA_E, base + d, (kt + 1) * FA_BK, c, ld);
            fa_load_tile<T, FA_BK, THREADS>(sv + nb * FA_BK * FA_E, base + 2 * d, (kt + 1) * FA_BK,
                                            c, ld);
            cp_async_commit();
            cp_async_wait<1>();
        } else {
            cp_async_wait<0>();
        }
        __syncthreads();
        if (kt == 0) {
#pragma unroll
            for (int mt = 0; mt < MT; mt++)
#pragma unroll
                for (int kk = 0; kk < 4; kk++)
                    ldsm_x4(qf[mt][kk], sq + swz(warp * WR + mt * 16 + (lane & 15), kk * 2 + (lane >> 4)));
        }
        const T *kb = sk + buf * FA_BK * FA_E;
        const T *vb = sv + buf * FA_BK * FA_E;

        /* S = Q K^T: WR x 64 per warp. */
        float s[MT][8][4];
#pragma unroll
        for (int mt = 0; mt < MT; mt++)
#pragma unroll
            for (int nt = 0; nt < 8; nt++)
#pragma unroll
                for (int i = 0; i < 4; i++) s[mt][nt][i] = 0.0f;
#pragma unroll
        for (int kk = 0; kk < 4; kk++) {
#pragma unroll
            for (int np = 0; np < 4; np++) {
                uint32_t b[4];
                ldsm_x4(b, kb + swz(np * 16 + (lane & 7) + ((lane >> 4) << 3),
                                    kk * 2 + ((lane >> 3) & 1)));
#pragma unroll
                for (int mt = 0; mt < MT; mt++) {
                    mma16816<T>(s[mt][2 * np], qf[mt][kk], b[0], b[1]);
                    mma16816<T>(s[mt][2 * np + 1], qf[mt][kk], b[2], b[3]);
                }
            }
        }
        if ((kt + 1) * FA_BK > c) { /* mask keys >= C */
#pragma unroll
            for (int nt = 0; nt < 8; nt++) {
                int key = kt * FA_BK + nt * 8 + (lane & 3) * 2;
#pragma unroll
                for (int mt = 0; mt < MT; mt++) {
                    if (key >= c) s[mt][nt][0] = s[mt][nt][2] = -INFINITY;
                    if (key + 1 >= c) s[mt][nt][1] = s[mt][nt][3] = -INFINITY;
                }
            }
        }

        /* Online softmax, rows g (r = 0) and g + 8 (r = 1) of each m-tile. */
#pragma unroll
        for (int mt = 0; mt < MT; mt++) {
#pragma unroll
            for (int r = 0; r < 2; r++) {
                float mx = -INFINITY;
#pragma unroll
                for (int nt = 0; nt < 8; nt++)
                    mx = fmaxf(mx, fmaxf(s[mt][nt][2 * r], s[mt][nt][2 * r + 1]));
                mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
                mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
                float mnew = fmaxf(m[mt][r], mx * sl2); /* finite: every tile has a key < C */
                float alpha = exp2f(m[mt][r] - mnew);
                m[mt][r] = mnew;
                float sum = 0.0f;
#pragma unroll
                for (int nt = 0; nt < 8; nt++) {
                    s[mt][nt][2 * r] = exp2f(fmaf(s[mt][nt][2 * r], sl2, -mnew));
                    s[mt][nt][2 * r + 1] = exp2f(fmaf(s[mt][nt][2 * r + 1], sl2, -mnew));
                    sum += s[mt][nt][2 * r] + s[mt][nt][2 * r + 1];
                    o[mt][nt][2 * r] *= alpha;
                    o[mt][nt][2 * r + 1] *= alpha;
                }
                l[mt][r] = l[mt][r] * alpha + sum;
            }
        }

        /* O += P V: P from the S accumulators (A layout), V via ldmatrix.trans. */
#pragma unroll
        for (int kk = 0; kk < 4; kk++) {
            uint32_t a[MT][4];
#pragma unroll
            for (int mt = 0; mt < MT; mt++) {
                a[mt][0] = pack2<T>(s[mt][2 * kk][0], s[mt][2 * kk][1]);
                a[mt][1] = pack2<T>(s[mt][2 * kk][2], s[mt][2 * kk][3]);
                a[mt][2] = pack2<T>(s[mt][2 * kk + 1][0], s[mt][2 * kk + 1][1]);
                a[mt][3] = pack2<T>(s[mt][2 * kk + 1][2], s[mt][2 * kk + 1][3]);
            }
#pragma unroll
            for (int np = 0; np < 4; np++) {
                uint32_t b[4];
                ldsm_x4_trans(b, vb + swz(kk * 16 + (lane & 7) + (((lane >> 3) & 1) << 3),
                                          np * 2 + (lane >> 4)));
#pragma unroll
                for (int mt = 0; mt < MT; mt++) {
                    mma16816<T>(o[mt][2 * np], a[mt], b[0], b[1]);
                    mma16816<T>(o[mt][2 * np + 1], a[mt], b[2], b[3]);
                }
            }
        }
        __syncthreads(); /* this buffer is refilled two tiles on */
    }

    /* Normalise, stage through this warp's own Q rows, store 16-byte chunks. */
    const int g = lane >> 2, t2 = (lane & 3) * 2;
    T *so = sq + warp * WR * FA_E;
#pragma unroll
    for (int mt = 0; mt < MT; mt++) {
#pragma unroll
        for (int r = 0; r < 2; r++) {
            l[mt][r] += __shfl_xor_sync(0xffffffffu, l[mt][r], 1);
            l[mt][r] += __shfl_xor_sync(0xffffffffu, l[mt][r], 2);
            l[mt][r] = 1.0f / l[mt][r];
        }
#pragma unroll
        for (int nt = 0; nt < 8; nt++) {
            *reinterpret_cast<uint32_t *>(so + swz(mt * 16 + g, nt) + t2) =
                pack2<T>(o[mt][nt][0] * l[mt][0], o[mt][nt][1] * l[mt][0]);
            *reinterpret_cast<uint32_t *>(so + swz(mt * 16 + g + 8, nt) + t2) =
                pack2<T>(o[mt][nt][2] * l[mt][1], o[mt][nt][3] * l[mt][1]);
        }
    }
    __syncwarp();
    T *ob = out + (long)blockIdx.z * c * d + (long)blockIdx.y * FA_E;
#pragma unroll
    for (int i = 0; i < 4 * MT; i++) {
        int idx = i * 32 + lane, row = idx >> 3, ch = idx & 7;
        int t = q0 + warp * WR + row;
        if (t < c)
            *reinterpret_cast<uint4 *>(ob + (long)t * d + ch * 8) =
                *reinterpret_cast<const uint4 *>(so + swz(row, ch));
    }
}

/* ---------------------------------------------------------------------------------------------
 * Simple kernel: any T, E <= EMAX, fp32 arithmetic. One thread per query row, 128 rows per
 * CTA; grid (ceil(C / 128), H, B). Keys and values in chunks of 32 through shared memory
 * (zero-padded to EMAX columns, so the dot products need no bound on e).
 */
constexpr int AS_THREADS = 128, AS_KEYS = 32;

template <typename T, int EMAX>
__global__ void __launch_bounds__(AS_THREADS)
    attn_simple(const T *__restrict__ qkv, T *__restrict__ out, int c, int d, int e, float sl2)
{
    __shared__ float sk[AS_KEYS][EMAX], sv[AS_KEYS][EMAX];
    const int t = (int)blockIdx.x * AS_THREADS + (int)threadIdx.x;
    const long ld = 3L * d;
    const T *base = qkv + (long)blockIdx.z * c * ld + (long)blockIdx.y * e;

    float q[EMAX], o[EMAX];
#pragma unroll
    for (int i = 0; i < EMAX; i++) {
        q[i] = (t < c && i < e) ? elem_to_f32(base[(long)t * ld + i]) * sl2 : 0.0f;
        o[i] = 0.0f;
    }
    float m = -INFINITY, l = 0.0f;
    for (int k0 = 0; k0 < c; k0 += AS_KEYS) {
        const int n = min(AS_KEYS, c - k0);
        __syncthreads();
        for (int idx = (int)threadIdx.x; idx < AS_KEYS * EMAX; idx += AS_THREADS) {
            int u = idx / EMAX, i = idx % EMAX;
            bool ok = u < n && i < e;
            const T *row = base + (long)(k0 + u) * ld;
            sk[u][i] = ok ? elem_to_f32(row[d + i]) : 0.0f;
            sv[u][i] = ok ? elem_to_f32(row[2 * d + i]) : 0.0f;
        }
        __syncthreads();
        float s[AS_KEYS];
        float mx = -INFINITY;
#pragma unroll
        for (int u = 0; u < AS_KEYS; u++) {
            float acc = 0.0f;
#pragma unroll
            for (int i = 0; i < EMAX; i++) acc = fmaf(q[i], sk[u][i], acc);
            s[u] = u < n ? acc : -INFINITY;
            mx = fmaxf(mx, s[u]);
        }
        float mnew = fmaxf(m, mx);
        float alpha = exp2f(m - mnew);
        m = mnew;
        l *= alpha;
#pragma unroll
        for (int i = 0; i < EMAX; i++) o[i] *= alpha;
#pragma unroll
        for (int u = 0; u < AS_KEYS; u++) {
            float p = exp2f(s[u] - mnew);
            l += p;
#pragma unroll
            for (int i = 0; i < EMAX; i++) o[i] = fmaf(p, sv[u][i], o[i]);
        }
    }
    if (t >= c) return;
    T *orow = out + ((long)blockIdx.z * c + t) * d + (long)blockIdx.y * e;
    const float inv = 1.0f / l;
#pragma unroll
    for (int i = 0; i < EMAX; i++)
        if (i < e) orow[i] = elem_from_f32<T>(o[i] * inv);
}

/* ---------------------------------------------------------------------------------------------
 * Launch helpers.
 */
template <typename T, int WARPS, int MT>
cudaError_t launch_flash(const void *qkv, void *out, int n_win, int c, int d, int h, float sl2,
                         cudaStream_t st)
{
    const int smem = fa_smem_bytes<T>(WARPS, MT);
    if (smem > 48 * 1024) {
        cudaError_t err = cudaFuncSetAttribute(attn_flash_e64<T, WARPS, MT>,
                                               cudaFuncAttributeMaxDynamicSharedMemorySize, smem);
        if (err != cudaSuccess) return err;
    }
    const int bq = WARPS * 16 * MT;
    dim3 grid((unsigned)((c + bq - 1) / bq), (unsigned)h, (unsigned)n_win);
    attn_flash_e64<T, WARPS, MT><<<grid, WARPS * 32, smem, st>>>((const T *)qkv, (T *)out, c, d, sl2);
    return cudaGetLastError();
}

template <typename T, int EMAX>
cudaError_t launch_simple_e(const void *qkv, void *out, int n_win, int c, int d, int h, float sl2,
                            cudaStream_t st)
{
    dim3 grid((unsigned)((c + AS_THREADS - 1) / AS_THREADS), (unsigned)h, (unsigned)n_win);
    attn_simple<T, EMAX><<<grid, AS_THREADS, 0, st>>>((const T *)qkv, (T *)out, c, d, d / h, sl2);
    return cudaGetLastError();
}

template <typename T>
cudaError_t launch_simple(const void *qkv, void *out, int n_win, int c, int d, int h, float sl2,
                          cudaStream_t st)
{
    const int e = d / h;
    if (e <= 8) return launch_simple_e<T, 8>(qkv, out, n_win, c, d, h, sl2, st);
    if (e <= 32) return launch_simple_e<T, 32>(qkv, out, n_win, c, d, h, sl2, st);
    if (e <= 64) return launch_simple_e<T, 64>(qkv, out, n_win, c, d, h, sl2, st);
    return cudaErrorInvalidValue;
}

} /* namespace */

/* Tensor-core kernel shape: warps per CTA and 16-row m-tiles per warp (query rows per CTA =
 * 16 * WARPS * MT). Chosen by measurement at Whisper's shape (dev/cuda/FLASH.md). */
#ifndef HARK_FA_WARPS
#define HARK_FA_WARPS 4
#endif
#ifndef HARK_FA_MT
#define HARK_FA_MT 2
#endif

/* See kernels.h. f16/bf16 with E = 64 (every Whisper model) take the tensor-core kernel, all
 * else the simple one. scale must be > 0 (Whisper: E^-0.5); qkv and out 16-byte aligned.
 * Returns 0 or the launch's cudaError_t; cudaErrorInvalidValue when D is not a multiple of H,
 * E > 64 or scale <= 0. Never synchronizes. */
extern "C" int cu_encoder_attention(hark_dtype dt, const void *qkv, void *out, int n_win, int c,
                                    int d, int h, float scale, cu_stream s)
{
    if (n_win <= 0 || c <= 0) return 0;
    if (h <= 0 || d <= 0 || d % h != 0 || !(scale > 0.0f)) return (int)cudaErrorInvalidValue;
    const float sl2 = scale * 1.4426950408889634f; /* scale * log2(e) */
    const cudaStream_t st = (cudaStream_t)s;
    const bool flash = d / h == FA_E && d % 8 == 0;
    switch (dt) {
    case HARK_DTYPE_F16:
        return (int)(flash ? launch_flash<__half, HARK_FA_WARPS, HARK_FA_MT>(qkv, out, n_win, c, d, h, sl2, st)
                           : launch_simple<__half>(qkv, out, n_win, c, d, h, sl2, st));
    case HARK_DTYPE_BF16:
        return (int)(flash ? launch_flash<__nv_bfloat16, HARK_FA_WARPS, HARK_FA_MT>(qkv, out, n_win, c, d, h,
                                                                        sl2, st)
                           : launch_simple<__nv_bfloat16>(qkv, out, n_win, c, d, h, sl2, st));
    case HARK_DTYPE_F32:
        return (int)launch_simple<float>(qkv, out, n_win, c, d, h, sl2, st);
    }
    return (int)cudaErrorInvalidValue;
}
