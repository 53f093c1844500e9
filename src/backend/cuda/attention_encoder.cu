/*
 * attention_encoder.cu — the encoder's fused self-attention on the GPU (cu_encoder_attention).
 *
 * Per window b and head j (E = D / H): out[b][t][j*E ..] = softmax_u(q_t . k_u * scale) v_u over
 * all C positions, non-causal; the C x C score matrix never leaves the chip.
 * ref: openai/whisper model.py MultiHeadAttention.qkv_attention (the function computed here).
 *
 * Three kernels:
 *   - attn_wgmma_e64 (Hopper, sm_90a builds): the same algorithm with both products on wgmma
 *     and the softmax of one key tile overlapped with the products of the next (FlashAttention-3
 *     style). Taken on 9.x devices for grids that cover the card; 1.47x attn_flash_e64 at
 *     Whisper's shape on an H100 (dev/cuda/FLASH.md).
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
#include "backend/cuda/wgmma.cuh"

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

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

static_assert(FA_E == 64, "tiles are wgmma.cuh's [rows][64] swizzled rows");
__device__ __forceinline__ int swz(int row, int chunk) { return wg_swz(row, chunk); }

/* Loads rows [r0, r0 + ROWS) of a [C][ld] matrix (its 64 columns at src) into a swizzled
 * tile; rows >= c are zero-filled. */
template <typename T, int ROWS, int THREADS>
__device__ __forceinline__ void fa_load_tile(T *tile, const T *src, int r0, int c, long ld)
{
#pragma unroll
    for (int i = 0; i < (ROWS * 8 + THREADS - 1) / THREADS; i++) {
        int idx = i * THREADS + (int)threadIdx.x;
        if ((ROWS * 8) % THREADS != 0 && idx >= ROWS * 8) break;
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
 * Hopper kernel (sm_90a): the same FlashAttention-2 loop with both products on wgmma.
 *
 * One CTA of NWG warpgroups per (query tile of 64*NWG rows, head, window); each warpgroup owns
 * 64 query rows. Q, K and V tiles sit in shared memory in the 128-byte swizzle of swz() above,
 * which is the wgmma "128B" layout: Q and K are K-major operands, V is an MN-major B operand
 * (imm-trans-b = 1). S = Q K^T is m64n64k16 from shared memory (four k-steps over E = 64, one
 * n-block per 64 keys); O += P V takes P from registers (the S accumulators repacked to 16-bit:
 * the wgmma accumulator fragment of a warp is the mma.sync m16n8 layout, so the softmax is the
 * same code as attn_flash_e64's) and V from shared memory. K/V tiles arrive by cp.async,
 * STAGES deep; each thread fences its writes into the async proxy before the barrier that hands
 * a tile to the tensor cores. ref: PTX ISA, "Asynchronous Warpgroup Level Matrix Multiply-
 * Accumulate" (wgmma.mma_async, matrix descriptors, register fragments).
 */
/* 2^x on the special-function unit, subnormal results flushed to zero (a P that small is zero
 * in 16 bits anyway); exp2f adds range handling around the same instruction. */
__device__ __forceinline__ float ex2_ftz(float x)
{
    float y;
    asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));
    return y;
}

/* Dynamic shared memory of attn_wgmma_e64: Q tile + STAGES K and V tiles, plus 1 KB so the
 * tiles can start on the 1024-byte boundary the swizzle needs. */
template <typename T> constexpr int wa_smem_bytes(int nwg, int bk, int stages)
{
    return (nwg * 64 + 2 * stages * bk) * FA_E * (int)sizeof(T) + 1024;
}

/* One warp's online-softmax step over an S tile (16 rows x BK keys in the m16n8 accumulator
 * layout, keys from key0; keys >= c masked): updates the running max m and sum l of rows g and
 * g + 8, leaves the exponentials in s and the factors the O rows must be scaled by in alpha. */
template <int BK, bool MASK>
__device__ __forceinline__ void wa_softmax(float *s, float *alpha, float *m, float *l, int key0,
                                           int c, float sl2, int lane)
{
    constexpr int NT = BK / 8;
    if (MASK && key0 + BK > c) {
#pragma unroll
        for (int nt = 0; nt < NT; nt++) {
            int key = key0 + nt * 8 + (lane & 3) * 2;
            if (key >= c) s[nt * 4] = s[nt * 4 + 2] = -INFINITY;
            if (key + 1 >= c) s[nt * 4 + 1] = s[nt * 4 + 3] = -INFINITY;
        }
    }
#pragma unroll
    for (int r = 0; r < 2; r++) {
        float mx = -INFINITY;
#pragma unroll
        for (int nt = 0; nt < NT; nt++)
            mx = fmaxf(mx, fmaxf(s[nt * 4 + 2 * r], s[nt * 4 + 2 * r + 1]));
        mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
        mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
        float mnew = fmaxf(m[r], mx * sl2); /* finite: every tile has a key < C */
        alpha[r] = ex2_ftz(m[r] - mnew);
        m[r] = mnew;
        float sum = 0.0f;
#pragma unroll
        for (int nt = 0; nt < NT; nt++) {
            s[nt * 4 + 2 * r] = ex2_ftz(fmaf(s[nt * 4 + 2 * r], sl2, -mnew));
            s[nt * 4 + 2 * r + 1] = ex2_ftz(fmaf(s[nt * 4 + 2 * r + 1], sl2, -mnew));
            sum += s[nt * 4 + 2 * r] + s[nt * 4 + 2 * r + 1];
        }
        l[r] = l[r] * alpha[r] + sum;
    }
}

/* P (the exponentials in s) as 16-bit A fragments: k-step kk covers keys 16 kk .. 16 kk + 15. */
template <typename T, int BK>
__device__ __forceinline__ void wa_pack(const float *s, uint32_t (*a)[4])
{
#pragma unroll
    for (int kk = 0; kk < BK / 16; kk++) {
        a[kk][0] = pack2<T>(s[8 * kk + 0], s[8 * kk + 1]);
        a[kk][1] = pack2<T>(s[8 * kk + 2], s[8 * kk + 3]);
        a[kk][2] = pack2<T>(s[8 * kk + 4], s[8 * kk + 5]);
        a[kk][3] = pack2<T>(s[8 * kk + 6], s[8 * kk + 7]);
    }
}

template <bool B> struct wa_bool {
    static constexpr bool value = B;
};

/* o rows g and g + 8 (m16n8 layout, 64 columns) times alpha[0] and alpha[1]. */
__device__ __forceinline__ void wa_rescale(float *o, const float *alpha)
{
#pragma unroll
    for (int i = 0; i < 32; i++) o[i] *= alpha[(i >> 1) & 1];
}

/* Issues S = Q K^T for one warpgroup: 64 query rows (descriptor dq) x BK keys at kb. */
template <typename T, int BK>
__device__ __forceinline__ void wa_issue_qk(float *s, uint64_t dq, const T *kb)
{
    wg_fence();
#pragma unroll
    for (int kk = 0; kk < 4; kk++)
#pragma unroll
        for (int nb = 0; nb < BK / 64; nb++)
            wgmma_ss64<T>(s + nb * 32, dq + 2 * kk,
                          wg_desc(kb + nb * 64 * FA_E, 16, 1024) + 2 * kk, kk);
    wg_commit();
}

/* Issues O += P V for one warpgroup: P in registers, BK value rows at vb. */
template <typename T, int BK>
__device__ __forceinline__ void wa_issue_pv(float *o, uint32_t (*a)[4], const T *vb)
{
    wg_fence();
#pragma unroll
    for (int kk = 0; kk < BK / 16; kk++)
        wgmma_rs64_t<T>(o, a[kk], wg_desc(vb + kk * 16 * FA_E, 1024, 1024));
    wg_commit();
}

/* qkv [B][C][3D], out [B][C][D]; grid (ceil(C / (64*NWG)), H, B); sl2 = scale * log2(e) > 0.
 * PIPE (needs STAGES >= 3): the softmax of one tile runs while the tensor cores do the other's
 * products (FlashAttention-3's intra-warpgroup overlap; Shah et al., 2024); costs a second set
 * of P fragments. */
template <typename T, int NWG, int BK, int STAGES, int MINB, bool PIPE>
__global__ void __launch_bounds__(NWG * 128, MINB)
    attn_wgmma_e64(const T *__restrict__ qkv, T *__restrict__ out, int c, int d, float sl2)
{
#ifdef HARK_WGMMA_BODY
    static_assert(!PIPE || STAGES >= 3, "the pipelined loop refills the stage two tiles back");
    constexpr int BQ = 64 * NWG, THREADS = NWG * 128;
    extern __shared__ __align__(128) unsigned char wa_smem[];
    T *sq = reinterpret_cast<T *>(wa_smem + ((1024u - (smem_addr(wa_smem) & 1023u)) & 1023u));
    T *sk = sq + BQ * FA_E;          /* [STAGES][BK][64] */
    T *sv = sk + STAGES * BK * FA_E; /* [STAGES][BK][64] */

    const int warp = (int)threadIdx.x >> 5, lane = (int)threadIdx.x & 31, wg = warp >> 2;
    const int q0 = (int)blockIdx.x * BQ;
    const long ld = 3L * d;
    const T *base = qkv + (long)blockIdx.z * c * ld + (long)blockIdx.y * FA_E;
    const int nkt = (c + BK - 1) / BK;
    auto load_kv = [&](int t) { /* tile t into its stage, one commit group either way */
        if (t < nkt) {
            fa_load_tile<T, BK, THREADS>(sk + (t % STAGES) * BK * FA_E, base + d, t * BK, c, ld);
            fa_load_tile<T, BK, THREADS>(sv + (t % STAGES) * BK * FA_E, base + 2 * d, t * BK, c,
                                         ld);
        }
        cp_async_commit();
    };

    fa_load_tile<T, BQ, THREADS>(sq, base, q0, c, ld);
#pragma unroll
    for (int st = 0; st < STAGES - 1; st++) load_kv(st);

    float o[32], m[2], l[2];
#pragma unroll
    for (int i = 0; i < 32; i++) o[i] = 0.0f;
    m[0] = m[1] = -INFINITY;
    l[0] = l[1] = 0.0f;
    const uint64_t dq = wg_desc(sq + wg * 64 * FA_E, 16, 1024);
    uint32_t a[BK / 16][4];
    float alpha[2];

    if (!PIPE) {
        for (int kt = 0; kt < nkt; kt++) {
            cp_async_wait<STAGES - 2>();
            fence_proxy_async();
            __syncthreads(); /* tile kt landed; all warpgroups are done with the stage refilled */
            load_kv(kt + STAGES - 1);
            float s[BK / 2];
            wa_issue_qk<T, BK>(s, dq, sk + (kt % STAGES) * BK * FA_E);
            wg_wait<0>();
            wg_pin(s, BK / 2);
            wa_softmax<BK, true>(s, alpha, m, l, kt * BK, c, sl2, lane);
            wa_pack<T, BK>(s, a);
            wa_rescale(o, alpha);
            wa_issue_pv<T, BK>(o, a, sv + (kt % STAGES) * BK * FA_E);
            wg_wait<0>();
            wg_pin(o, 32);
        }
    } else {
        /* full(kt) starts with P of tile kt in a and O scaled for it. It issues S of tile kt + 1
         * and O += P V of tile kt, computes the softmax of tile kt + 1 in fp32 while the second
         * product runs, and once that has landed packs P and rescales O (FlashAttention-3's
         * order: O and P are touched only outside the products; one set of P fragments keeps
         * the kernel within 128 registers, two CTAs a multiprocessor). Meanwhile the stage of
         * tile kt - 1 is refilled with tile kt + STAGES - 1. Only the step whose next tile is
         * the last one masks keys: a branch inside a step would make ptxas serialize the
         * products. */
        float s[BK / 2];
        cp_async_wait<STAGES - 2>();
        fence_proxy_async();
        __syncthreads();
        wa_issue_qk<T, BK>(s, dq, sk);
        wg_wait<0>();
        wg_pin(s, BK / 2);
        wa_softmax<BK, true>(s, alpha, m, l, 0, c, sl2, lane);
        wa_pack<T, BK>(s, a);
        auto full = [&](auto last_next, int kt) {
            cp_async_wait<STAGES - 3>();
            fence_proxy_async();
            __syncthreads();
            load_kv(kt + STAGES - 1);
            wa_issue_qk<T, BK>(s, dq, sk + ((kt + 1) % STAGES) * BK * FA_E);
            wa_issue_pv<T, BK>(o, a, sv + (kt % STAGES) * BK * FA_E);
            wg_wait<1>();
            wg_pin(s, BK / 2);
            wa_softmax<BK, decltype(last_next)::value>(s, alpha, m, l, (kt + 1) * BK, c, sl2, lane);
            wg_wait<0>();
            wg_pin(o, 32);
            wa_pack<T, BK>(s, a);
            wa_rescale(o, alpha);
        };
        auto last = [&](int kt) {
            wa_issue_pv<T, BK>(o, a, sv + (kt % STAGES) * BK * FA_E);
            wg_wait<0>();
            wg_pin(o, 32);
        };
        using mid = wa_bool<false>;
        using end = wa_bool<true>;
        int kt = 0;
        for (; kt + 2 < nkt; kt++)
            full(mid(), kt);
        if (kt + 1 < nkt)
            full(end(), kt++);
        last(kt);
    }

    /* Normalise, stage through this warp's own 16 Q rows, store 16-byte chunks. */
    __syncthreads(); /* every warpgroup's last product has read Q */
    const int g = lane >> 2, t2 = (lane & 3) * 2;
    T *so = sq + warp * 16 * FA_E;
#pragma unroll
    for (int r = 0; r < 2; r++) {
        l[r] += __shfl_xor_sync(0xffffffffu, l[r], 1);
        l[r] += __shfl_xor_sync(0xffffffffu, l[r], 2);
        l[r] = 1.0f / l[r];
    }
#pragma unroll
    for (int nt = 0; nt < 8; nt++) {
        *reinterpret_cast<uint32_t *>(so + swz(g, nt) + t2) =
            pack2<T>(o[nt * 4] * l[0], o[nt * 4 + 1] * l[0]);
        *reinterpret_cast<uint32_t *>(so + swz(g + 8, nt) + t2) =
            pack2<T>(o[nt * 4 + 2] * l[1], o[nt * 4 + 3] * l[1]);
    }
    __syncwarp();
    T *ob = out + (long)blockIdx.z * c * d + (long)blockIdx.y * FA_E;
#pragma unroll
    for (int i = 0; i < 4; i++) {
        int idx = i * 32 + lane, row = idx >> 3, ch = idx & 7;
        int t = q0 + warp * 16 + row;
        if (t < c)
            *reinterpret_cast<uint4 *>(ob + (long)t * d + ch * 8) =
                *reinterpret_cast<const uint4 *>(so + swz(row, ch));
    }
#endif
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

template <typename T, int NWG, int BK, int STAGES, int MINB, bool PIPE>
cudaError_t launch_wgmma(const void *qkv, void *out, int n_win, int c, int d, int h, float sl2,
                         cudaStream_t st)
{
    const int smem = wa_smem_bytes<T>(NWG, BK, STAGES);
    if (smem > 48 * 1024) {
        cudaError_t err = cudaFuncSetAttribute(attn_wgmma_e64<T, NWG, BK, STAGES, MINB, PIPE>,
                                               cudaFuncAttributeMaxDynamicSharedMemorySize, smem);
        if (err != cudaSuccess) return err;
    }
    dim3 grid((unsigned)((c + 64 * NWG - 1) / (64 * NWG)), (unsigned)h, (unsigned)n_win);
    attn_wgmma_e64<T, NWG, BK, STAGES, MINB, PIPE>
        <<<grid, NWG * 128, smem, st>>>((const T *)qkv, (T *)out, c, d, sl2);
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

/* Whether the current device can take attn_wgmma_e64: built for sm_90a (HARK_CUDA_WGMMA, set by
 * CMake when HARK_CUDA_ARCH names 90a), a compute-capability 9.x device, and HARK_CUDA_ATTN is
 * not "mma" (which keeps the mma.sync kernel, for comparisons). Sets *sms to the device's
 * multiprocessor count. Cached per device. */
static bool wgmma_ok(int *sms)
{
#if defined(HARK_CUDA_WGMMA)
    static int state[64], n_sm[64]; /* state: 0 unknown, 1 wgmma, 2 mma.sync */
    int dev = 0;
    if (cudaGetDevice(&dev) != cudaSuccess || dev < 0 || dev >= 64) return false;
    int st = __atomic_load_n(&state[dev], __ATOMIC_ACQUIRE);
    if (st == 0) {
        int major = 0, count = 0;
        const char *env = getenv("HARK_CUDA_ATTN");
        bool forced_mma = env && strcmp(env, "mma") == 0;
        if (cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev) != cudaSuccess ||
            cudaDeviceGetAttribute(&count, cudaDevAttrMultiProcessorCount, dev) != cudaSuccess)
            major = 0;
        __atomic_store_n(&n_sm[dev], count, __ATOMIC_RELAXED);
        st = major == 9 && !forced_mma ? 1 : 2;
        __atomic_store_n(&state[dev], st, __ATOMIC_RELEASE);
    }
    *sms = __atomic_load_n(&n_sm[dev], __ATOMIC_RELAXED);
    return st == 1;
#else
    *sms = 0;
    return false;
#endif
}

/* Development hook (tests, not in kernels.h): 0 the policy below, 1 forces the mma.sync kernel,
 * 2 the wgmma kernel where the build and device have it. */
static int g_attn_force = 0;
extern "C" void cu_encoder_attention_tune(int variant) { g_attn_force = variant; }

/* See kernels.h. f16/bf16 with E = 64 (every Whisper model) take a tensor-core kernel (wgmma on
 * Hopper, else mma.sync), all else the simple one. scale must be > 0 (Whisper: E^-0.5); qkv
 * and out 16-byte aligned. Returns 0 or the launch's cudaError_t; cudaErrorInvalidValue when D
 * is not a multiple of H, E > 64 or scale <= 0. Never synchronizes. */
extern "C" int cu_encoder_attention(hark_dtype dt, const void *qkv, void *out, int n_win, int c,
                                    int d, int h, float scale, cu_stream s)
{
    if (n_win <= 0 || c <= 0) return 0;
    if (h <= 0 || d <= 0 || d % h != 0 || !(scale > 0.0f)) return (int)cudaErrorInvalidValue;
    const float sl2 = scale * 1.4426950408889634f; /* scale * log2(e) */
    const cudaStream_t st = (cudaStream_t)s;
    const bool flash = d / h == FA_E && d % 8 == 0;
    /* wgmma when the grid covers the chip: with fewer CTAs than multiprocessors (tiny at one
     * window: 72) its longer per-CTA chain made the encoder slower (dev/cuda/FLASH.md) */
    int sms = 0;
    bool wg = flash && dt != HARK_DTYPE_F32 && wgmma_ok(&sms);
    const long ctas = (long)((c + 127) / 128) * h * n_win;
    if (g_attn_force == 1 || (g_attn_force == 0 && ctas < sms)) wg = false;
    if (wg && dt == HARK_DTYPE_F16) /* shape chosen in dev/cuda/FLASH.md */
        return (int)launch_wgmma<__half, 2, 64, 3, 2, true>(qkv, out, n_win, c, d, h, sl2, st);
    if (wg)
        return (int)launch_wgmma<__nv_bfloat16, 2, 64, 3, 2, true>(qkv, out, n_win, c, d, h, sl2,
                                                                   st);
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
