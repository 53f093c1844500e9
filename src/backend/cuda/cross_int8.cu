/*
 * cross_int8.cu — cross-attention keys and values held as int8 with one fp32 scale per
 * (position, head): half the bytes of fp16 in the window slots and in every decoder step's
 * reads, which bound batched decoding (bench/RESULTS.md: at 128 windows large-v3 reads 31 GB of
 * fp16 cross K/V a step). Symmetric quantisation: scale = max |x| / 127 over the head's E values,
 * q = round(x / scale).
 *  - quantize_kernel: rows [W*C][D] (the model's dtype) -> int8 [W][H][C][E] and scales
 *    [W][H][C] (head-major, each (window, head) one contiguous run);
 *  - cross_i8_kernel: one block per (row, head), online softmax over K/V streamed through a
 *    cp.async ring (the design of the fp16 kernel), int8 widened by byte permutes;
 *  - cross_qk_i8_kernel: the scaled scores alone (word timestamps).
 */
#include "backend/cuda/common.cuh"

#define XI8_THREADS 128

/* TPG threads per (row, head) group of E = 8 TPG values: each loads 8 in one vector, the group's
 * maximum by shuffles, 8 int8 stored as one 8-byte word. Input rows are [n_win * c][D]; output
 * is head-major per window, [n_win][h][c][E] and scales [n_win][h][c], so that the decoder's
 * block for one (row, head) streams one contiguous run of the window (64-byte pieces of D-wide
 * rows read at 1.7 TB/s on an H100, below the fp16 layout's 128-byte pieces). */
template <typename T, int TPG>
__global__ void quantize_kernel(const T *__restrict__ x, int8_t *__restrict__ q,
                                float *__restrict__ sc, long groups, int c, int h)
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
    const long row = g / h, w = row / c;
    const int hd = (int)(g - row * h), p = (int)(row - w * c);
    const long og = (w * h + hd) * c + p; /* the group's place in the head-major layout */
    const float inv = mx > 0.0f ? 127.0f / mx : 0.0f;
    if (part == 0)
        sc[og] = mx / 127.0f;
    union {
        int8_t b[8];
        uint2 u;
    } o8;
#pragma unroll
    for (int i = 0; i < 8; i++)
        o8.b[i] = (int8_t)fmaxf(-127.0f, fminf(127.0f, rintf(v[i] * inv)));
    *reinterpret_cast<uint2 *>(q + og * (8 * TPG) + part * 8) = o8.u;
}

extern "C" int cu_quantize_i8(hark_dtype dt, const void *x, long n_win, int c, int d, int h,
                              int8_t *q, float *scales, cu_stream s)
{
    const int e = h > 0 ? d / h : 0;
    if (n_win < 0 || c < 1 || h < 1 || d % h != 0 || (e != 64 && e != 32) || !is_aligned(x, 16) ||
        !is_aligned(q, 8))
        return (int)cudaErrorInvalidValue;
    const long groups = n_win * c * h;
    if (groups == 0)
        return 0;
    const long threads = groups * (e / 8);
    const unsigned blocks = (unsigned)((threads + 255) / 256);
    cudaStream_t st = (cudaStream_t)s;
    HARK_CU_DISPATCH(dt, T, {
        if (e == 64)
            quantize_kernel<T, 8><<<blocks, 256, 0, st>>>((const T *)x, q, scales, groups, c, h);
        else
            quantize_kernel<T, 4><<<blocks, 256, 0, st>>>((const T *)x, q, scales, groups, c, h);
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

/* One block of XI8_THREADS per (row, head), the fp16 kernel's design (attention_decode.cu,
 * variant 2 of dev/cuda/CROSS.md) over int8: lanes in groups of G = E / 16 hold 16 values of a
 * position each, a warp covers P = 32 / G positions U times a step, every group keeps an online
 * softmax (base 2: q carries scale * log2 e) and the groups and warps merge at the end. K/V and
 * their per-(position, head) scales stream through a ring of ST stages in shared memory filled by
 * cp.async, ST - 1 steps ahead: each thread copies the 16-byte chunks it reads itself, lanes 0
 * and 1 of a group the group's two scales (read by the whole group after __syncwarp). Before
 * pdl_wait() only the window's K/V (not written during a step) are touched. */
template <typename T, int E, int U, int ST>
__global__ void __launch_bounds__(XI8_THREADS)
    cross_i8_kernel(const T *__restrict__ q, int ldq, const int8_t *__restrict__ k8,
                    const int8_t *__restrict__ v8, const float *__restrict__ ks,
                    const float *__restrict__ vs, const int32_t *__restrict__ win,
                    T *__restrict__ out, int c, int d, int h, float q_scale)
{
    constexpr int G = E / 16, P = 32 / G, NT = XI8_THREADS, NW = NT / 32, NG = NT / G;
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
    const int8_t *kb = k8 + run * c * E, *vb = v8 + run * c * E;
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
                    cp_async<16>(slot + ((2 * u) * NT + tid) * 16, kb + (long)p * E + gl * 16);
                    cp_async<16>(slot + ((2 * u + 1) * NT + tid) * 16, vb + (long)p * E + gl * 16);
                    if (gl < 2)
                        cp_async<4>(slot + DATA + ((2 * u + gl) * NG + gid) * 4,
                                    (gl == 0 ? ksb : vsb) + p);
                }
            }
        }
        cp_async_commit();
    };
#pragma unroll
    for (int i = 0; i < ST; i++)
        issue(i);
    pdl_wait();

    float qv[16];
    {
        float a[8], b[8];
        const T *qr = q + (long)r * ldq + hd * E + gl * 16;
        load_f<T, 8>(qr, a);
        load_f<T, 8>(qr + 8, b);
#pragma unroll
        for (int e = 0; e < 8; e++) {
            qv[e] = a[e] * q_scale;
            qv[8 + e] = b[e] * q_scale;
        }
    }
    float m = -INFINITY, s = 0.0f, acc[16];
#pragma unroll
    for (int e = 0; e < 16; e++)
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
            if (live) {
                float kf[16];
                i8x16_to_f(*reinterpret_cast<const uint4 *>(slot + ((2 * u) * NT + tid) * 16), kf);
#pragma unroll
                for (int e = 0; e < 16; e++)
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
        for (int e = 0; e < 16; e++)
            acc[e] *= corr;
#pragma unroll
        for (int u = 0; u < U; u++) {
            if (sc[u] != -INFINITY) {
                const float pe = exp2f(sc[u] - mx);
                s += pe;
                const float wv = pe * vsc[u]; /* the value scale rides on the weight */
                float vf[16];
                i8x16_to_f(*reinterpret_cast<const uint4 *>(slot + ((2 * u + 1) * NT + tid) * 16),
                           vf);
#pragma unroll
                for (int e = 0; e < 16; e++)
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
        for (int e = 0; e < 16; e++)
            acc[e] = acc[e] * fa + __shfl_xor_sync(0xffffffffu, acc[e], off) * fb;
        m = mx;
    }
    if (grp == 0) {
#pragma unroll
        for (int e = 0; e < 16; e++)
            sm_acc[warp][gl * 16 + e] = acc[e];
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
 * with 64 fp32 values of K and V in registers. */
enum { XI8_U = 2, XI8_ST = 8 };

extern "C" int cu_cross_attention_i8(hark_dtype dt, const void *q, int ldq, const int8_t *k8,
                                     const int8_t *v8, const float *ks, const float *vs,
                                     const int32_t *win, void *out, int rows, int c, int d, int h,
                                     float scale, cu_stream s)
{
    const int e = h > 0 ? d / h : 0;
    if (rows < 0 || h < 1 || d % h != 0 || (e != 64 && e != 32) || d % 16 != 0 || c < 1 ||
        ldq % 8 != 0 || !is_aligned(q, 16) || !is_aligned(k8, 16) || !is_aligned(v8, 16) ||
        !is_aligned(ks, 4) || !is_aligned(vs, 4))
        return (int)cudaErrorInvalidValue;
    if (rows == 0)
        return 0;
    if ((long)rows * h > 0x7fffffffL)
        return (int)cudaErrorInvalidValue;
    const int G = e / 16;
    const size_t smem = (size_t)XI8_ST * (XI8_U * 2 * XI8_THREADS * 16 +
                                          XI8_U * 2 * (XI8_THREADS / G) * 4);
    const float qs = scale * 1.4426950408889634f;
    cudaStream_t st = (cudaStream_t)s;
    HARK_CU_DISPATCH(dt, T, {
        auto kern = e == 64 ? cross_i8_kernel<T, 64, XI8_U, XI8_ST>
                            : cross_i8_kernel<T, 32, XI8_U, XI8_ST>;
        cudaError_t err = cudaFuncSetAttribute(kern, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                               (int)smem);
        if (err != cudaSuccess)
            return (int)err;
        return launch_pdl(kern, dim3((unsigned)(rows * h)), dim3(XI8_THREADS), smem, st,
                          (const T *)q, ldq, k8, v8, ks, vs, win, (T *)out, c, d, h, qs);
    });
    return 0;
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
    const long at = ((long)win[row] * h + head) * c + t; /* head-major: see quantize_kernel */
    const int8_t *kr = k8 + at * e;
    float s = 0.0f;
    for (int j = 0; j < e; j++)
        s += to_f(qr[j]) * (float)kr[j];
    out[(long)row * n_frames + t] = s * ks[at] * scale;
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
