/*
 * gemm_q.cu — the quantized weights' matrix product for many rows (the decoder's batched steps,
 * the encoder's windows): y[m][n] = x[m][k] (W dequantized)^T (+ b) (+ y), fp16 activations,
 * int8 or int4 weights widened to fp16 in registers right in front of the tensor cores
 * (mma.sync m16n8k16, fp32 accumulation), so the weights cross memory packed and no dequantized
 * copy is written (cu_dequant + cuBLASLt wrote and read one for every product of every step).
 *
 * Tiles: 64 rows of x by 64 weight rows by 32 of k, four warps of 32 x 32, a cp.async ring of
 * GQ_STAGES tiles in shared memory. The k order inside each 16-wide slice is permuted the same
 * way for both operands (logical k 2t, 2t+1, 2t+8, 2t+9 of lane t is physical k 4t .. 4t+3), so
 * a lane reads its four weights as one 32-bit (int8) or 16-bit (int4) word and its activations
 * as one 8-byte word: the sum over k does not depend on the order.
 * int8: a scale per weight row, applied to the fp32 sum in the epilogue. int4: a scale per
 * group of k (a multiple of 32, so one per tile), applied to the widened fp16 weights (the value
 * cu_dequant would have written). Layouts: docs/quant.md.
 * ref: the mixed-input GEMM idea of FasterTransformer / Marlin (weights widened in registers);
 * the fragment layouts of PTX ISA "mma.m16n8k16".
 */
#include "backend/cuda/common.cuh"

#define GQ_BM 64
#define GQ_BN 64
#define GQ_BK 32
#define GQ_STAGES 4
#define GQ_THREADS 128
#define GQ_XS 48 /* x tile row stride in halves: 96 bytes, conflict-free 8-byte reads */
#define GQ_WS 48 /* weight tile row stride in bytes (int8: 32 used, int4: 16) */

/* 16 bytes global -> shared, or 16 zero bytes when !ok (nothing read). */
__device__ __forceinline__ void gq_cp16(void *dst, const void *src, bool ok)
{
    const unsigned sa = (unsigned)__cvta_generic_to_shared(dst);
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(sa), "l"(src),
                 "r"(ok ? 16 : 0)
                 : "memory");
}

__device__ __forceinline__ void gq_mma(float c[4], uint32_t a0, uint32_t a1, uint32_t a2,
                                       uint32_t a3, uint32_t b0, uint32_t b1)
{
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 "
                 "{%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
}

__device__ __forceinline__ uint32_t h2u(half2 h)
{
    return *reinterpret_cast<uint32_t *>(&h);
}
__device__ __forceinline__ half2 u2h(uint32_t u)
{
    return *reinterpret_cast<half2 *>(&u);
}

/* Four int8 weights (one word, element i in byte i) to two half2 of their integer values:
 * each byte offset to unsigned becomes the low byte of 1024 in fp16 (0x64xx), 1152 taken off. */
__device__ __forceinline__ void gq_i8(uint32_t w, uint32_t &b0, uint32_t &b1)
{
    const uint32_t u = w ^ 0x80808080u;
    const half2 off = __halves2half2(__ushort_as_half(0x6480), __ushort_as_half(0x6480));
    b0 = h2u(__hsub2(u2h(__byte_perm(u, 0x64646464u, 0x4140)), off));
    b1 = h2u(__hsub2(u2h(__byte_perm(u, 0x64646464u, 0x4342)), off));
}

/* Four int4 weights (16 bits: element 2j in the low nibble of byte j, stored q + 8) to two
 * half2 of q times the group's scale s (one rounding, as cu_dequant's). */
__device__ __forceinline__ void gq_i4(uint32_t v, half2 s, uint32_t &b0, uint32_t &b1)
{
    const uint32_t lo = (v & 0x000Fu) | ((v & 0x00F0u) << 12);        /* elements 0, 1 */
    const uint32_t hi = ((v >> 8) & 0x000Fu) | ((v & 0xF000u) << 4);  /* elements 2, 3 */
    const half2 off = __halves2half2(__ushort_as_half(0x6408), __ushort_as_half(0x6408));
    b0 = h2u(__hmul2(__hsub2(u2h(lo | 0x64006400u), off), s));
    b1 = h2u(__hmul2(__hsub2(u2h(hi | 0x64006400u), off), s));
}

template <int BITS>
__global__ void __launch_bounds__(GQ_THREADS)
    gemm_q_kernel(const half *__restrict__ x, int ldx, const uint8_t *__restrict__ w,
                  const half *__restrict__ scale, int group, const half *__restrict__ bias,
                  half *__restrict__ y, int ldy, int m, int n, int k, int accumulate)
{
    constexpr int WROW = GQ_BK * BITS / 8; /* bytes of a weight row in one tile */
    __shared__ __align__(16) half xs[GQ_STAGES][GQ_BM * GQ_XS];
    __shared__ __align__(16) uint8_t ws[GQ_STAGES][GQ_BN * GQ_WS];
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int g = lane >> 2, t = lane & 3, wm = warp >> 1, wn = warp & 1;
    const int m0 = blockIdx.y * GQ_BM, n0 = blockIdx.x * GQ_BN;
    const int n_kt = k / GQ_BK;
    const size_t wld = (size_t)k * BITS / 8; /* bytes of a weight row */

    auto issue = [&](int kt) {
        if (kt < n_kt) {
            const int st = kt % GQ_STAGES;
            /* x: 64 rows x 64 bytes = 256 chunks of 16, two a thread */
#pragma unroll
            for (int i = 0; i < 2; i++) {
                const int c = tid + i * GQ_THREADS, r = c >> 2, part = c & 3;
                const bool ok = m0 + r < m;
                gq_cp16(&xs[st][r * GQ_XS + part * 8],
                        x + (size_t)(ok ? m0 + r : 0) * ldx + kt * GQ_BK + part * 8, ok);
            }
            /* weights: 64 rows x WROW bytes (int8 32, int4 16) in 16-byte chunks */
            constexpr int CPR = WROW / 16;
            if (tid < GQ_BN * CPR) {
                const int r = tid / CPR, part = tid % CPR;
                const bool ok = n0 + r < n;
                gq_cp16(&ws[st][r * GQ_WS + part * 16],
                        w + (size_t)(ok ? n0 + r : 0) * wld + (size_t)kt * WROW + part * 16, ok);
            }
        }
        asm volatile("cp.async.commit_group;\n" ::: "memory");
    };

    float acc[2][4][4];
#pragma unroll
    for (int i = 0; i < 2; i++)
#pragma unroll
        for (int j = 0; j < 4; j++)
#pragma unroll
            for (int e = 0; e < 4; e++)
                acc[i][j][e] = 0.0f;

#pragma unroll
    for (int s = 0; s < GQ_STAGES - 1; s++)
        issue(s);
    const int ngroups = BITS == 4 ? k / group : 1;
    for (int kt = 0; kt < n_kt; kt++) {
        asm volatile("cp.async.wait_group %0;\n" ::"n"(GQ_STAGES - 2) : "memory");
        __syncthreads(); /* tile kt has landed for every thread; tile kt - 1 is free */
        issue(kt + GQ_STAGES - 1);
        const int st = kt % GQ_STAGES;
        half2 sc[4];
        if constexpr (BITS == 4) { /* this tile's group scale of each of the lane's 4 rows */
            const int grp = kt * GQ_BK / group;
#pragma unroll
            for (int j = 0; j < 4; j++) {
                const int row = n0 + wn * 32 + j * 8 + g;
                const half s = row < n ? scale[(size_t)row * ngroups + grp] : __float2half(0.0f);
                sc[j] = __halves2half2(s, s);
            }
        }
#pragma unroll
        for (int ks = 0; ks < GQ_BK / 16; ks++) {
            uint32_t a[2][4];
#pragma unroll
            for (int i = 0; i < 2; i++) {
                const half *p = &xs[st][(wm * 32 + i * 16 + g) * GQ_XS + ks * 16 + 4 * t];
                const uint2 lo = *reinterpret_cast<const uint2 *>(p);
                const uint2 hi = *reinterpret_cast<const uint2 *>(p + 8 * GQ_XS);
                a[i][0] = lo.x, a[i][2] = lo.y, a[i][1] = hi.x, a[i][3] = hi.y;
            }
#pragma unroll
            for (int j = 0; j < 4; j++) {
                const uint8_t *wr = &ws[st][(wn * 32 + j * 8 + g) * GQ_WS];
                uint32_t b0, b1;
                if constexpr (BITS == 8)
                    gq_i8(*reinterpret_cast<const uint32_t *>(wr + ks * 16 + 4 * t), b0, b1);
                else
                    gq_i4(*reinterpret_cast<const uint16_t *>(wr + ks * 8 + 2 * t), sc[j], b0,
                          b1);
#pragma unroll
                for (int i = 0; i < 2; i++)
                    gq_mma(acc[i][j], a[i][0], a[i][1], a[i][2], a[i][3], b0, b1);
            }
        }
    }
    asm volatile("cp.async.wait_group 0;\n" ::: "memory");

    /* epilogue: (int8: times the row scale) + bias (+ y), two columns a store */
#pragma unroll
    for (int j = 0; j < 4; j++) {
        const int col = n0 + wn * 32 + j * 8 + 2 * t;
        if (col >= n)
            continue;
        float s0 = 1.0f, s1 = 1.0f, b0 = 0.0f, b1 = 0.0f;
        if constexpr (BITS == 8) {
            s0 = __half2float(scale[col]);
            s1 = __half2float(scale[col + 1]);
        }
        if (bias) {
            b0 = __half2float(bias[col]);
            b1 = __half2float(bias[col + 1]);
        }
#pragma unroll
        for (int i = 0; i < 2; i++)
#pragma unroll
            for (int hrow = 0; hrow < 2; hrow++) {
                const int row = m0 + wm * 32 + i * 16 + g + hrow * 8;
                if (row >= m)
                    continue;
                float v0 = acc[i][j][2 * hrow] * s0 + b0, v1 = acc[i][j][2 * hrow + 1] * s1 + b1;
                half2 *yp = reinterpret_cast<half2 *>(y + (size_t)row * ldy + col);
                if (accumulate) {
                    const float2 o = __half22float2(*yp);
                    v0 += o.x;
                    v1 += o.y;
                }
                *yp = __floats2half2_rn(v0, v1);
            }
    }
}

/* See kernels.h. */
extern "C" int cu_gemm_q(hark_dtype dt, int qbits, int group, const void *w, const void *scale,
                         const void *bias, const void *x, int ldx, int m, int n, int k, void *y,
                         int ldy, int accumulate, cu_stream s)
{
    if (dt != HARK_DTYPE_F16 || (qbits != 8 && qbits != 4) || m < 0 || n < 1 || n % 2 != 0 ||
        k < GQ_BK || k % GQ_BK != 0 || ldx % 8 != 0 || ldx < k || ldy % 2 != 0 || ldy < n ||
        !w || !scale || !x || !y || !is_aligned(x, 16) || !is_aligned(w, 16) ||
        !is_aligned(y, 4) || (qbits == 4 && (group < GQ_BK || group % GQ_BK != 0 || k % group)))
        return (int)cudaErrorInvalidValue;
    if (m == 0)
        return 0;
    const dim3 grid((unsigned)((n + GQ_BN - 1) / GQ_BN), (unsigned)((m + GQ_BM - 1) / GQ_BM));
    cudaStream_t st = (cudaStream_t)s;
    if (qbits == 8)
        gemm_q_kernel<8><<<grid, GQ_THREADS, 0, st>>>(
            (const half *)x, ldx, (const uint8_t *)w, (const half *)scale, group,
            (const half *)bias, (half *)y, ldy, m, n, k, accumulate);
    else
        gemm_q_kernel<4><<<grid, GQ_THREADS, 0, st>>>(
            (const half *)x, ldx, (const uint8_t *)w, (const half *)scale, group,
            (const half *)bias, (half *)y, ldy, m, n, k, accumulate);
    return (int)cudaGetLastError();
}
