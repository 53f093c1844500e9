/*
 * common.cuh — private device helpers of the CUDA kernels (kernels.cu, attention_decode.cu,
 * mel.cu): conversions between the element types (half, __nv_bfloat16, float) and fp32,
 * 16-byte vector loads and stores that widen to fp32 registers, warp reductions, and the
 * dtype dispatch used by the extern "C" launchers. Not a public header.
 */
#ifndef HARK_CUDA_COMMON_CUH
#define HARK_CUDA_COMMON_CUH

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <stdint.h>

#include "backend/cuda/kernels.h"

/* ---- element type <-> fp32 ---- */

__device__ __forceinline__ float to_f(float x) { return x; }
__device__ __forceinline__ float to_f(half x) { return __half2float(x); }
__device__ __forceinline__ float to_f(__nv_bfloat16 x) { return __bfloat162float(x); }

template <typename T> __device__ __forceinline__ T from_f(float x);
template <> __device__ __forceinline__ float from_f<float>(float x) { return x; }
template <> __device__ __forceinline__ half from_f<half>(float x) { return __float2half_rn(x); }
template <> __device__ __forceinline__ __nv_bfloat16 from_f<__nv_bfloat16>(float x)
{
    return __float2bfloat16_rn(x);
}

/* Elements of T in one 16-byte vector: 8 for half and bf16, 4 for float. */
template <typename T> constexpr int vec16() { return 16 / (int)sizeof(T); }

/* ---- vector loads/stores: N elements of T at p (aligned to N * sizeof(T) when that is 8 or 16
 * bytes) to/from fp32 registers. load_f reads through the read-only cache (__ldg): only for data
 * the kernel does not write. ---- */

template <typename T, int N> __device__ __forceinline__ void load_f(const T *p, float (&out)[N])
{
    constexpr int BYTES = N * (int)sizeof(T);
    if constexpr (BYTES == 16) {
        uint4 u = __ldg(reinterpret_cast<const uint4 *>(p));
        const T *e = reinterpret_cast<const T *>(&u);
#pragma unroll
        for (int i = 0; i < N; i++)
            out[i] = to_f(e[i]);
    } else if constexpr (BYTES == 8) {
        uint2 u = __ldg(reinterpret_cast<const uint2 *>(p));
        const T *e = reinterpret_cast<const T *>(&u);
#pragma unroll
        for (int i = 0; i < N; i++)
            out[i] = to_f(e[i]);
    } else {
#pragma unroll
        for (int i = 0; i < N; i++)
            out[i] = to_f(p[i]);
    }
}

template <typename T, int N> __device__ __forceinline__ void store_f(T *p, const float (&in)[N])
{
    constexpr int BYTES = N * (int)sizeof(T);
    if constexpr (BYTES == 16) {
        uint4 u;
        T *e = reinterpret_cast<T *>(&u);
#pragma unroll
        for (int i = 0; i < N; i++)
            e[i] = from_f<T>(in[i]);
        *reinterpret_cast<uint4 *>(p) = u;
    } else if constexpr (BYTES == 8) {
        uint2 u;
        T *e = reinterpret_cast<T *>(&u);
#pragma unroll
        for (int i = 0; i < N; i++)
            e[i] = from_f<T>(in[i]);
        *reinterpret_cast<uint2 *>(p) = u;
    } else {
#pragma unroll
        for (int i = 0; i < N; i++)
            p[i] = from_f<T>(in[i]);
    }
}

/* Copies N elements of T (raw bits, no conversion) with the widest access that fits. */
template <typename T, int N> __device__ __forceinline__ void copy_raw(T *dst, const T *src)
{
    constexpr int BYTES = N * (int)sizeof(T);
    if constexpr (BYTES == 16) {
        *reinterpret_cast<uint4 *>(dst) = __ldg(reinterpret_cast<const uint4 *>(src));
    } else {
#pragma unroll
        for (int i = 0; i < N; i++)
            dst[i] = src[i];
    }
}

/* ---- asynchronous copies global -> shared (sm_80+): CB = 4, 8 or 16 bytes, then commit / wait
 * on groups. 16 bytes bypass L1 (.cg). ---- */

template <int CB> __device__ __forceinline__ void cp_async(void *dst, const void *src)
{
    unsigned sa = (unsigned)__cvta_generic_to_shared(dst);
    if constexpr (CB == 16)
        asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(sa), "l"(src) : "memory");
    else if constexpr (CB == 8)
        asm volatile("cp.async.ca.shared.global [%0], [%1], 8;\n" ::"r"(sa), "l"(src) : "memory");
    else
        asm volatile("cp.async.ca.shared.global [%0], [%1], 4;\n" ::"r"(sa), "l"(src) : "memory");
}
__device__ __forceinline__ void cp_async_commit()
{
    asm volatile("cp.async.commit_group;\n" ::: "memory");
}
template <int N> __device__ __forceinline__ void cp_async_wait()
{
    asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
}

/* ---- warp reductions (all 32 lanes take part) ---- */

__device__ __forceinline__ float warp_sum(float x)
{
#pragma unroll
    for (int o = 16; o > 0; o >>= 1)
        x += __shfl_xor_sync(0xffffffffu, x, o);
    return x;
}

__device__ __forceinline__ float warp_max(float x)
{
#pragma unroll
    for (int o = 16; o > 0; o >>= 1)
        x = fmaxf(x, __shfl_xor_sync(0xffffffffu, x, o));
    return x;
}

/* ---- programmatic dependent launch (Hopper) ----
 * The decoder-step kernels are launched with programmatic stream serialization (launch_pdl): a
 * kernel may start while the one before it still runs, once every block of that one has called
 * pdl_trigger(). Before pdl_wait() a kernel may read only what no kernel of the step writes
 * (weights, the cross-attention K/V of the windows, the step's metadata, all written before the
 * step's first kernel started); every read of an activation and every write comes after it.
 * pdl_wait() returns once the previous kernel has completed and its writes are visible; without
 * a programmatic launch both are no-ops. ref: CUDA programming guide, "Programmatic Dependent
 * Launch and Synchronization". */

__device__ __forceinline__ void pdl_trigger()
{
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
}

__device__ __forceinline__ void pdl_wait()
{
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}

/* Asks L2 for the 128-byte line holding p (a hint: no register, no fault on any address the
 * kernel could legally read). */
__device__ __forceinline__ void prefetch_l2(const void *p)
{
    asm volatile("prefetch.global.L2 [%0];" ::"l"(p));
}

/* ---- host helpers ---- */

/* True when p is aligned to `bytes`. */
static inline bool is_aligned(const void *p, unsigned bytes)
{
    return ((uintptr_t)p % bytes) == 0;
}

/* Blocks of `threads` for n items, capped so that a grid-stride loop covers the rest. */
static inline unsigned grid_for(long n, int threads)
{
    long b = (n + threads - 1) / threads;
    long cap = 132L * 32; /* 32 blocks per SM of an H100 is plenty for a grid-stride loop */
    return (unsigned)(b < 1 ? 1 : (b > cap ? cap : b));
}

/* Whether launch_pdl asks for programmatic dependent launch (cu_set_pdl; kernels.cu). */
extern int g_cu_pdl;

/* kern<<<grid, block, smem, s>>>(args...), with programmatic stream serialization when
 * g_cu_pdl is set: only for kernels that call pdl_wait() before touching activations. */
template <typename... P, typename... A>
static inline int launch_pdl(void (*kern)(P...), dim3 grid, dim3 block, size_t smem,
                             cudaStream_t s, A... args)
{
    cudaLaunchConfig_t cfg = {};
    cfg.gridDim = grid;
    cfg.blockDim = block;
    cfg.dynamicSmemBytes = smem;
    cfg.stream = s;
    cudaLaunchAttribute attr[1];
    attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
    attr[0].val.programmaticStreamSerializationAllowed = 1;
    cfg.attrs = attr;
    cfg.numAttrs = g_cu_pdl ? 1 : 0;
    return (int)cudaLaunchKernelEx(&cfg, kern, args...);
}

/* Runs the statement (the variadic part) with T bound to the C++ type of dt; an unknown dt returns cudaErrorInvalidValue. */
#define HARK_CU_DISPATCH(dt, T, ...)                                                            \
    switch (dt) {                                                                               \
    case HARK_DTYPE_F32: {                                                                      \
        using T = float;                                                                        \
        __VA_ARGS__;                                                                            \
        break;                                                                                  \
    }                                                                                           \
    case HARK_DTYPE_F16: {                                                                      \
        using T = half;                                                                         \
        __VA_ARGS__;                                                                            \
        break;                                                                                  \
    }                                                                                           \
    case HARK_DTYPE_BF16: {                                                                     \
        using T = __nv_bfloat16;                                                                \
        __VA_ARGS__;                                                                            \
        break;                                                                                  \
    }                                                                                           \
    default:                                                                                    \
        return (int)cudaErrorInvalidValue;                                                      \
    }

#endif
