/*
 * cross_quant.cu — cross-attention keys and values held as int8 or int4 with one fp32 scale per
 * (position, head): a half (int8) or a quarter (int4) of the bytes of fp16 in the window slots
 * and in every decoder step's reads, which bound batched decoding (bench/RESULTS.md: at 128
 * windows large-v3 reads 31 GB of fp16 cross K/V a step). Symmetric quantisation:
 * scale = max |x| / QMAX over the head's E values (QMAX 127 for int8, 7 for int4),
 * q = round(x / scale); int4 is stored q + 8, element 2j in the low nibble of byte j.
 *  - quantize_kernel: rows [W*C][D] (the model's dtype) -> [W][H][C][E * BITS / 8] bytes and
 *    scales [W][H][C] (head-major, each (window, head) one contiguous run);
 *  - cross_q_kernel: one block per (row, head), online softmax over K/V streamed through a
 *    cp.async ring (the design of the fp16 kernel), widened by byte permutes;
 *  - cross_qk_q_kernel: the scaled scores alone (word timestamps).
 */
#include "backend/cuda/common.cuh"

#define XI8_THREADS 128

/* TPG threads per (row, head) group of E = 8 TPG values: each loads 8 in one vector, the group's
 * maximum by shuffles, 8 values stored as one 8-byte (int8) or 4-byte (int4) word. Input rows
 * are [n_win * c][D]; output is head-major per window, [n_win][h][c][E * BITS / 8] and scales
 * [n_win][h][c], so that the decoder's block for one (row, head) streams one contiguous run of
 * the window (64-byte pieces of D-wide rows read at 1.7 TB/s on an H100, below the fp16
 * layout's 128-byte pieces). */
template <typename T, int TPG, int BITS>
__global__ void quantize_kernel(const T *__restrict__ x, uint8_t *__restrict__ q,
                                float *__restrict__ sc, long groups, int c, int h)
{
    constexpr float QMAX = BITS == 8 ? 127.0f : 7.0f;
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
    const long row = g / h, w = row / c;
    const int hd = (int)(g - row * h), p = (int)(row - w * c);
    const long og = (w * h + hd) * c + p; /* the group's place in the head-major layout */
    const float inv = mx > 0.0f ? QMAX / mx : 0.0f;
    if (part == 0)
        sc[og] = mx / QMAX;
    int qi[8];
#pragma unroll
    for (int i = 0; i < 8; i++)
        qi[i] = (int)fmaxf(-QMAX, fminf(QMAX, rintf(v[i] * inv)));
    if constexpr (BITS == 8) {
        union {
            int8_t b[8];
            uint2 u;
        } o8;
#pragma unroll
        for (int i = 0; i < 8; i++)
            o8.b[i] = (int8_t)qi[i];
        *reinterpret_cast<uint2 *>(q + og * (8 * TPG) + part * 8) = o8.u;
    } else {
        uint32_t wd = 0;
#pragma unroll
        for (int i = 0; i < 8; i++)
            wd |= (uint32_t)(qi[i] + 8) << (4 * i);
        *reinterpret_cast<uint32_t *>(q + og * (4 * TPG) + part * 4) = wd;
    }
}

extern "C" int cu_quantize_kv(hark_dtype dt, int bits, const void *x, long n_win, int c, int d,
                              int h, void *q, float *scales, cu_stream s)
{
    const int e = h > 0 ? d / h : 0;
    if (n_win < 0 || c < 1 || h < 1 || d % h != 0 || (e != 64 && e != 32) || !is_aligned(x, 16) ||
        !is_aligned(q, 8) || (bits != 8 && bits != 4))
        return (int)cudaErrorInvalidValue;
    const long groups = n_win * c * h;
    if (groups == 0)
        return 0;
    const long threads = groups * (e / 8);
    const unsigned blocks = (unsigned)((threads + 255) / 256);
    cudaStream_t st = (cudaStream_t)s;
    uint8_t *qb = (uint8_t *)q;
    HARK_CU_DISPATCH(dt, T, {
        const T *xt = (const T *)x;
        if (e == 64 && bits == 8)
            quantize_kernel<T, 8, 8><<<blocks, 256, 0, st>>>(xt, qb, scales, groups, c, h);
        else if (e == 64)
            quantize_kernel<T, 8, 4><<<blocks, 256, 0, st>>>(xt, qb, scales, groups, c, h);
        else if (bits == 8)
            quantize_kernel<T, 4, 8><<<blocks, 256, 0, st>>>(xt, qb, scales, groups, c, h);
        else
            quantize_kernel<T, 4, 4><<<blocks, 256, 0, st>>>(xt, qb, scales, groups, c, h);
    });
    return (int)cudaGetLastError();
}

/* 16 int8 values (raw, in a 16-byte vector) to fp32 without the conversion unit (16 a clock
 * an SM on Hopper, which would bound this kernel below the memory's rate): each byte, offset to
 * unsigned, becomes the low mantissa byte of 2^23 (PRMT), and 2^23 + 128 is taken off (FADD). */
__device__ __forceinline__ void i8x16_to_f(const uint4 &u, float (&out)[16])
{
    const unsigned w[4] = { u.x ^ 0x80808080u, u.y ^ 0x80808080u, u.z ^ 0x80808080u,
                            u.w ^ 0x80808080u };
#pragma unroll
    for (int i = 0; i < 4; i++)
#pragma unroll
        for (int j = 0; j < 4; j++)
            out[4 * i + j] = __uint_as_float(__byte_perm(w[i], 0x4B000000u, 0x7540u + j)) -
                             8388736.0f;
}

/* 32 int4 values (raw, stored q + 8, element 2j in the low nibble of byte j) to fp32 the same
 * way: the low and the high nibbles masked into bytes, each byte into 2^23's mantissa, then
 * 2^23 + 8 taken off. */
__device__ __forceinline__ void i4x32_to_f(const uint4 &u, float (&out)[32])
{
    const unsigned w[4] = { u.x, u.y, u.z, u.w };
#pragma unroll
    for (int i = 0; i < 4; i++) {
        const unsigned lo = w[i] & 0x0F0F0F0Fu, hi = (w[i] >> 4) & 0x0F0F0F0Fu;
#pragma unroll
        for (int j = 0; j < 4; j++) {
            out[8 * i + 2 * j] = __uint_as_float(__byte_perm(lo, 0x4B000000u, 0x7540u + j)) -
                                 8388616.0f;
            out[8 * i + 2 * j + 1] =
                __uint_as_float(__byte_perm(hi, 0x4B000000u, 0x7540u + j)) - 8388616.0f;
        }
    }
}

/* A lane's 16 bytes of K or V to VL = 128 / BITS fp32 values. */
template <int BITS>
__device__ __forceinline__ void widen(const unsigned char *p, float (&out)[128 / BITS])
{
    const uint4 u = *reinterpret_cast<const uint4 *>(p);
    if constexpr (BITS == 8)
        i8x16_to_f(u, out);
    else
        i4x32_to_f(u, out);
}

/* One block of XI8_THREADS per (row, head), the fp16 kernel's design (attention_decode.cu,
 * variant 2 of dev/cuda/CROSS.md) over int8 / int4: lanes in groups of G = E / VL hold VL
 * values of a position each (16 bytes: VL = 16 for int8, 32 for int4), a warp covers P = 32 / G positions U times a step, every group keeps an online
 * softmax (base 2: q carries scale * log2 e) and the groups and warps merge at the end. K/V and
 * their per-(position, head) scales stream through a ring of ST stages in shared memory filled by
 * cp.async, ST - 1 steps ahead: each thread copies the 16-byte chunks it reads itself, lanes 0
 * and 1 of a group (lane 0 alone when G = 1) the group's two scales (read by the whole group after __syncwarp). Before
 * pdl_wait() only the window's K/V (not written during a step) are touched. */
template <typename T, int E, int BITS, int U, int ST>
__global__ void __launch_bounds__(XI8_THREADS)
    cross_q_kernel(const T *__restrict__ q, int ldq, const uint8_t *__restrict__ k8,
                   const uint8_t *__restrict__ v8, const float *__restrict__ ks,
                    const float *__restrict__ vs, const int32_t *__restrict__ win,
                    T *__restrict__ out, int c, int d, int h, float q_scale)
{
    constexpr int VL = 128 / BITS;          /* values in a lane's 16 bytes */
    constexpr int EB = E * BITS / 8;        /* bytes of one position's head */
    constexpr int G = E / VL, P = 32 / G, NT = XI8_THREADS, NW = NT / 32, NG = NT / G;
    constexpr int DATA = U * 2 * NT * 16, STAGE = DATA + U * 2 * NG * 4;
    extern __shared__ __align__(16) unsigned char ring[];
    __shared__ float sm_m[NW], sm_s[NW], sm_acc[NW][E];
    pdl_trigger();
    const int r = blockIdx.x / h, hd = blockIdx.x - r * h, w = win[r];
    T *o = out + (long)r * d + hd * E;
    if (w < 0) { /* a padded row: zeros, as cu_cross_attention writes */
        pdl_wait();
        for (int j = threadIdx.x; j < E; j += blockDim.x)
            o[j] = from_f<T>(0.0f);
        return;
    }
    const long run = (long)w * h + hd; /* the (window, head) run of c positions */
    const uint8_t *kb = k8 + run * c * EB, *vb = v8 + run * c * EB;
    const float *ksb = ks + run * c, *vsb = vs + run * c;
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5, grp = lane / G, gl = lane % G;
    const int gid = tid / G, step = NW * P * U, n_it = (c + step - 1) / step;
    const int first = warp * P * U + grp;
    auto issue = [&](int it) {
        if (it < n_it) {
            unsigned char *slot = ring + (size_t)(it % ST) * STAGE;
#pragma unroll
            for (int u = 0; u < U; u++) {
                const int p = first + it * step + u * P;
                if (p < c) {
                    cp_async<16>(slot + ((2 * u) * NT + tid) * 16, kb + (long)p * EB + gl * 16);
                    cp_async<16>(slot + ((2 * u + 1) * NT + tid) * 16,
                                 vb + (long)p * EB + gl * 16);
                    if (G == 1) { /* one lane a position: it copies both scales */
                        cp_async<4>(slot + DATA + ((2 * u) * NG + gid) * 4, ksb + p);
                        cp_async<4>(slot + DATA + ((2 * u + 1) * NG + gid) * 4, vsb + p);
                    } else if (gl < 2) {
                        cp_async<4>(slot + DATA + ((2 * u + gl) * NG + gid) * 4,
                                    (gl == 0 ? ksb : vsb) + p);
                    }
                }
            }
        }
        cp_async_commit();
    };
#pragma unroll
    for (int i = 0; i < ST; i++)
        issue(i);
    pdl_wait();

    float qv[VL];
    {
        const T *qr = q + (long)r * ldq + hd * E + gl * VL;
#pragma unroll
        for (int i = 0; i < VL / 8; i++) {
            float a[8];
            load_f<T, 8>(qr + 8 * i, a);
#pragma unroll
            for (int e = 0; e < 8; e++)
                qv[8 * i + e] = a[e] * q_scale;
        }
    }
    /* int4 keys meet an int8 query: the lane's 32 query values quantized with one scale (max / 127)
     * and packed to match the key's nibble bytes (elements 8i + 2j in the low nibble of byte j of
     * word i, 8i + 2j + 1 in the high), so that a word's scores are two byte dot products (DP4A)
     * instead of eight widened values: the widening, not memory, bounded this kernel at 256 rows.
     * q . (n - 8) = qsc (sum q_i n - 8 sum q_i). */
    int qlo[4], qhi[4], qisum = 0;
    float qsc = 0.0f;
    if constexpr (BITS == 4) {
        float qa = 0.0f;
#pragma unroll
        for (int e = 0; e < VL; e++)
            qa = fmaxf(qa, fabsf(qv[e]));
        const float inv = qa > 0.0f ? 127.0f / qa : 0.0f;
        qsc = qa / 127.0f;
#pragma unroll
        for (int i = 0; i < 4; i++) {
            unsigned lo = 0, hi = 0;
#pragma unroll
            for (int j = 0; j < 4; j++) {
                const int a = (int)rintf(qv[8 * i + 2 * j] * inv);
                const int b = (int)rintf(qv[8 * i + 2 * j + 1] * inv);
                qisum += a + b;
                lo |= (unsigned)(a & 0xFF) << (8 * j);
                hi |= (unsigned)(b & 0xFF) << (8 * j);
            }
            qlo[i] = (int)lo;
            qhi[i] = (int)hi;
        }
    }
    float m = -INFINITY, s = 0.0f, acc[VL];
#pragma unroll
    for (int e = 0; e < VL; e++)
        acc[e] = 0.0f;
    for (int it = 0; it < n_it; it++) {
        cp_async_wait<ST - 1>();
        __syncwarp(); /* the group's scales, copied by lanes 0 and 1, are visible to all */
        const unsigned char *slot = ring + (size_t)(it % ST) * STAGE;
        const float *scl = reinterpret_cast<const float *>(slot + DATA);
        const int base = warp * P * U + it * step;
        float sc[U], vsc[U], mx = m;
#pragma unroll
        for (int u = 0; u < U; u++) {
            const bool live = base + u * P + grp < c;
            float dot = 0.0f;
            if (live && BITS == 4) {
                const uint4 kw = *reinterpret_cast<const uint4 *>(slot + ((2 * u) * NT + tid) * 16);
                const unsigned w4[4] = { kw.x, kw.y, kw.z, kw.w };
                int di = 0;
#pragma unroll
                for (int i = 0; i < 4; i++) {
                    di = __dp4a((int)(w4[i] & 0x0F0F0F0Fu), qlo[i], di);
                    di = __dp4a((int)((w4[i] >> 4) & 0x0F0F0F0Fu), qhi[i], di);
                }
                dot = qsc * (float)(di - 8 * qisum);
            } else if (live) {
                float kf[VL];
                widen<BITS>(slot + ((2 * u) * NT + tid) * 16, kf);
#pragma unroll
                for (int e = 0; e < VL; e++)
                    dot = fmaf(qv[e], kf[e], dot);
            }
#pragma unroll
            for (int off = G / 2; off > 0; off >>= 1)
                dot += __shfl_xor_sync(0xffffffffu, dot, off);
            sc[u] = live ? dot * scl[(2 * u) * NG + gid] : -INFINITY;
            vsc[u] = live ? scl[(2 * u + 1) * NG + gid] : 0.0f;
            mx = fmaxf(mx, sc[u]);
        }
        const float corr = m == -INFINITY ? 0.0f : exp2f(m - mx);
        s *= corr;
#pragma unroll
        for (int e = 0; e < VL; e++)
            acc[e] *= corr;
#pragma unroll
        for (int u = 0; u < U; u++) {
            if (sc[u] != -INFINITY) {
                const float pe = exp2f(sc[u] - mx);
                s += pe;
                const float wv = pe * vsc[u]; /* the value scale rides on the weight */
                float vf[VL];
                widen<BITS>(slot + ((2 * u + 1) * NT + tid) * 16, vf);
#pragma unroll
                for (int e = 0; e < VL; e++)
                    acc[e] = fmaf(wv, vf[e], acc[e]);
            }
        }
        m = mx;
        __syncwarp(); /* every lane is done with the slot's scales before they are refilled */
        issue(it + ST);
    }
    cp_async_wait<0>();

    /* merge the P groups of the warp (lanes gl, gl + G, ... hold the same slice), then warps */
#pragma unroll
    for (int off = G; off < 32; off <<= 1) {
        const float om = __shfl_xor_sync(0xffffffffu, m, off);
        const float os = __shfl_xor_sync(0xffffffffu, s, off);
        const float mx = fmaxf(m, om);
        const float fa = m == -INFINITY ? 0.0f : exp2f(m - mx);
        const float fb = om == -INFINITY ? 0.0f : exp2f(om - mx);
        s = s * fa + os * fb;
#pragma unroll
        for (int e = 0; e < VL; e++)
            acc[e] = acc[e] * fa + __shfl_xor_sync(0xffffffffu, acc[e], off) * fb;
        m = mx;
    }
    if (grp == 0) {
#pragma unroll
        for (int e = 0; e < VL; e++)
            sm_acc[warp][gl * VL + e] = acc[e];
        if (gl == 0) {
            sm_m[warp] = m;
            sm_s[warp] = s;
        }
    }
    __syncthreads();
    for (int i = tid; i < E; i += NT) {
        float gm = -INFINITY;
#pragma unroll
        for (int k = 0; k < NW; k++)
            gm = fmaxf(gm, sm_m[k]);
        float gs = 0.0f, ga = 0.0f;
#pragma unroll
        for (int k = 0; k < NW; k++) {
            const float f = sm_m[k] == -INFINITY ? 0.0f : exp2f(sm_m[k] - gm);
            gs += sm_s[k] * f;
            ga += sm_acc[k][i] * f;
        }
        o[i] = from_f<T>(gs > 0.0f ? ga / gs : 0.0f);
    }
}

/* Ring depth and positions per group a step: 8 x 2 keeps ~7 steps of K/V in flight per thread
 * with 64 (int8) or 128 (int4) fp32 values of K and V in registers. */
enum { XI8_U = 2, XI8_ST = 8 };

extern "C" int cu_cross_attention_q(hark_dtype dt, int bits, const void *q, int ldq,
                                    const void *k8, const void *v8, const float *ks,
                                    const float *vs, const int32_t *win, void *out, int rows,
                                    int c, int d, int h, float scale, cu_stream s)
{
    const int e = h > 0 ? d / h : 0;
    if (rows < 0 || h < 1 || d % h != 0 || (e != 64 && e != 32) || d % 16 != 0 || c < 1 ||
        ldq % 8 != 0 || !is_aligned(q, 16) || !is_aligned(k8, 16) || !is_aligned(v8, 16) ||
        !is_aligned(ks, 4) || !is_aligned(vs, 4) || (bits != 8 && bits != 4))
        return (int)cudaErrorInvalidValue;
    if (rows == 0)
        return 0;
    if ((long)rows * h > 0x7fffffffL)
        return (int)cudaErrorInvalidValue;
    const int G = e / (128 / bits);
    const size_t smem = (size_t)XI8_ST * (XI8_U * 2 * XI8_THREADS * 16 +
                                          XI8_U * 2 * (XI8_THREADS / G) * 4);
    const float qs = scale * 1.4426950408889634f;
    cudaStream_t st = (cudaStream_t)s;
    const uint8_t *kq = (const uint8_t *)k8, *vq = (const uint8_t *)v8;
    HARK_CU_DISPATCH(dt, T, {
        auto kern = e == 64 ? (bits == 8 ? cross_q_kernel<T, 64, 8, XI8_U, XI8_ST>
                                         : cross_q_kernel<T, 64, 4, XI8_U, XI8_ST>)
                            : (bits == 8 ? cross_q_kernel<T, 32, 8, XI8_U, XI8_ST>
                                         : cross_q_kernel<T, 32, 4, XI8_U, XI8_ST>);
        cudaError_t err = cudaFuncSetAttribute(kern, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                               (int)smem);
        if (err != cudaSuccess)
            return (int)err;
        return launch_pdl(kern, dim3((unsigned)(rows * h)), dim3(XI8_THREADS), smem, st,
                          (const T *)q, ldq, kq, vq, ks, vs, win, (T *)out, c, d, h, qs);
    });
    return 0;
}

template <typename T>
__global__ void cross_qk_q_kernel(const T *__restrict__ q, int ldq, const uint8_t *__restrict__ k8,
                                  const float *__restrict__ ks, const int32_t *__restrict__ win,
                                  float *out, int c, int d, int h, int head, int n_frames,
                                  float scale, int bits)
{
    const int row = blockIdx.y, t = blockIdx.x * blockDim.x + threadIdx.x, e = d / h;
    if (t >= n_frames || win[row] < 0)
        return;
    const T *qr = q + (long)row * ldq + (long)head * e;
    const long at = ((long)win[row] * h + head) * c + t; /* head-major: see quantize_kernel */
    const uint8_t *kr = k8 + at * e * bits / 8;
    float s = 0.0f;
    for (int j = 0; j < e; j++) {
        const float kv = bits == 8 ? (float)(int8_t)kr[j]
                                   : (float)((kr[j / 2] >> (4 * (j % 2))) & 15) - 8.0f;
        s += to_f(qr[j]) * kv;
    }
    out[(long)row * n_frames + t] = s * ks[at] * scale;
}

extern "C" int cu_cross_qk_q(hark_dtype dt, int bits, const void *q, int ldq, const void *k8,
                             const float *ks, const int32_t *win, float *out, int rows, int c,
                             int d, int h, int head, int n_frames, float scale, cu_stream s)
{
    if (rows < 0 || h < 1 || d % h || head < 0 || head >= h || n_frames < 1 || n_frames > c ||
        rows > 65535 || (bits != 8 && bits != 4))
        return (int)cudaErrorInvalidValue;
    if (rows == 0)
        return 0;
    dim3 grid((unsigned)((n_frames + 127) / 128), (unsigned)rows);
    HARK_CU_DISPATCH(dt, T, {
        cross_qk_q_kernel<T><<<grid, 128, 0, (cudaStream_t)s>>>(
            (const T *)q, ldq, (const uint8_t *)k8, ks, win, out, c, d, h, head, n_frames, scale,
            bits);
    });
    return (int)cudaGetLastError();
}
