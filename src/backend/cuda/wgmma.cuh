/*
 * wgmma.cuh — PTX wrappers for Hopper's warpgroup matrix products (sm_90a) and the shared-memory
 * tiles that feed them, used by the encoder attention (attention_encoder.cu) and the skinny
 * products (gemm_skinny.cu).
 *
 * Tiles are [rows][64] 16-bit elements (128 bytes a row) in the 128-byte swizzle: 16-byte chunk
 * ch of row r sits at chunk position ch ^ (r & 7) (wg_swz). That is wgmma's "128B" layout, so a
 * tile is a K-major operand with stride 1024 bytes between groups of 8 rows, and one k16 step
 * further along a row is 32 bytes (2 in the descriptor's 16-byte units).
 * ref: PTX ISA, "Asynchronous Warpgroup Level Matrix Multiply-Accumulate" (wgmma.mma_async,
 * matrix descriptors, register fragments).
 *
 * The wgmma bodies exist only where the compiler targets sm_90a (HARK_WGMMA_BODY); elsewhere the
 * functions are empty, and callers must not launch the kernels that use them (the launchers
 * check the device and the HARK_CUDA_WGMMA build flag).
 */
#ifndef HARK_CUDA_WGMMA_CUH
#define HARK_CUDA_WGMMA_CUH

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <stdint.h>

static __device__ __forceinline__ uint32_t smem_addr(const void *p)
{
    return (uint32_t)__cvta_generic_to_shared(p);
}

/* 16 bytes global -> shared; ok == false writes 16 zero bytes and reads nothing. */
static __device__ __forceinline__ void cp_async16(void *dst, const void *src, bool ok)
{
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(smem_addr(dst)),
                 "l"(src), "r"(ok ? 16 : 0));
}

/* Element offset of chunk ch (8 elements) of row r in a swizzled [rows][64] tile. */
static __device__ __forceinline__ int wg_swz(int r, int ch)
{
    return r * 64 + ((ch ^ (r & 7)) << 3);
}

#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define HARK_WGMMA_BODY 1
#endif

/* Shared-memory matrix descriptor, 128-byte swizzle; lbo/sbo in bytes. */
static __device__ __forceinline__ uint64_t wg_desc(const void *p, uint32_t lbo, uint32_t sbo)
{
    return (uint64_t)((smem_addr(p) & 0x3FFFF) >> 4) | ((uint64_t)(lbo >> 4) << 16) |
           ((uint64_t)(sbo >> 4) << 32) | (1ull << 62);
}
static __device__ __forceinline__ void wg_fence(void)
{
    asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory");
}
static __device__ __forceinline__ void wg_commit(void)
{
    asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory");
}
template <int N> static __device__ __forceinline__ void wg_wait(void)
{
    asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(N) : "memory");
}
/* Pins accumulator registers after a wait so no read of them moves above it. */
static __device__ __forceinline__ void wg_pin(float *d, int n)
{
    for (int i = 0; i < n; i++) asm volatile("" : "+f"(d[i])::"memory");
}
static __device__ __forceinline__ void fence_proxy_async(void)
{
    asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
}

#define WG_D32                                                                                     \
    "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "                 \
    "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31}"
#define WG_D32_OPS(d) \
    "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), \
    "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), \
    "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), \
    "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), \
    "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31])

/* d[32] (+)= A (64x16, shared, K-major) * B (16x64, shared, K-major); acc == 0 overwrites. */
template <typename T>
static __device__ __forceinline__ void wgmma_ss64(float d[32], uint64_t da, uint64_t db, int acc);
/* d[32] += A (64x16, registers) * B (16x64, shared, MN-major). */
template <typename T>
static __device__ __forceinline__ void wgmma_rs64_t(float d[32], const uint32_t a[4], uint64_t db);

#define WG_SS(TY)                                                                                  \
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %34, 0;\n"                                      \
                 "wgmma.mma_async.sync.aligned.m64n64k16.f32." TY "." TY " " WG_D32                \
                 ", %32, %33, p, 1, 1, 0, 0;\n}\n"                                                 \
                 : WG_D32_OPS(d)                                                                   \
                 : "l"(da), "l"(db), "r"(acc))
#define WG_RS(TY)                                                                                  \
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %37, 0;\n"                                      \
                 "wgmma.mma_async.sync.aligned.m64n64k16.f32." TY "." TY " " WG_D32                \
                 ", {%32, %33, %34, %35}, %36, p, 1, 1, 1;\n}\n"                                  \
                 : WG_D32_OPS(d)                                                                   \
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(db), "r"(1))
template <>
__device__ __forceinline__ void wgmma_ss64<__half>(float d[32], uint64_t da, uint64_t db, int acc)
{
#ifdef HARK_WGMMA_BODY
    WG_SS("f16");
#endif
}
template <>
__device__ __forceinline__ void wgmma_ss64<__nv_bfloat16>(float d[32], uint64_t da, uint64_t db,
                                                          int acc)
{
#ifdef HARK_WGMMA_BODY
    WG_SS("bf16");
#endif
}
template <>
__device__ __forceinline__ void wgmma_rs64_t<__half>(float d[32], const uint32_t a[4], uint64_t db)
{
#ifdef HARK_WGMMA_BODY
    WG_RS("f16");
#endif
}
template <>
__device__ __forceinline__ void wgmma_rs64_t<__nv_bfloat16>(float d[32], const uint32_t a[4],
                                                            uint64_t db)
{
#ifdef HARK_WGMMA_BODY
    WG_RS("bf16");
#endif
}


#endif
