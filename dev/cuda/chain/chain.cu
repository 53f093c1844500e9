/*
 * chain.cu — the floor under a one-row decoder step: how long one dependent kernel of a CUDA
 * graph takes when it does (almost) nothing, with and without programmatic dependent launch.
 * A graph of N kernels, each of G blocks of 256 threads; kernel i reads what kernel i-1 wrote
 * (the 1280 values of an activation row, summed by every block: the layer-norm prologue's
 * read) and writes its own row, so each kernel depends on the one before as in a step.
 * Modes: plain launches; PDL (trigger at the start, griddepcontrol.wait before the read).
 * Prints microseconds per kernel, median of 20 graph replays.
 *   nvcc -O3 -arch=sm_90 -o chain chain.cu && ./chain
 */
#include <cuda_runtime.h>
#include <stdio.h>
#include <stdlib.h>
#include <algorithm>
#include <vector>

#define CK(x) do { cudaError_t e_ = (x); if (e_ != cudaSuccess) { \
    fprintf(stderr, "%s: %s\n", #x, cudaGetErrorString(e_)); exit(1); } } while (0)

__device__ __forceinline__ void trig() { asm volatile("griddepcontrol.launch_dependents;" ::: "memory"); }
__device__ __forceinline__ void wait() { asm volatile("griddepcontrol.wait;" ::: "memory"); }

/* READ: every block sums the k values of in (one 16-byte load a thread, block reduction);
 * block b writes out[b*256 + t] = sum + t. */
template <bool PDL, bool READ>
__global__ void __launch_bounds__(256) step_kernel(const float *in, float *out, int k)
{
    __shared__ float red[8];
    if (PDL)
        trig();
    if (PDL)
        wait();
    float s = 0.0f;
    if (READ) {
        for (int i = threadIdx.x * 4; i < k; i += 1024) {
            float4 v = *reinterpret_cast<const float4 *>(in + i);
            s += v.x + v.y + v.z + v.w;
        }
        for (int o = 16; o; o >>= 1)
            s += __shfl_xor_sync(0xffffffffu, s, o);
        if ((threadIdx.x & 31) == 0)
            red[threadIdx.x >> 5] = s;
        __syncthreads();
        s = 0.0f;
        for (int w = 0; w < 8; w++)
            s += red[w];
    }
    out[blockIdx.x * 256 + threadIdx.x] = s * 1e-9f + (float)threadIdx.x;
}

template <bool PDL, bool READ>
static float run(int nk, int grid, cudaStream_t st, float *buf[2], int k)
{
    cudaGraph_t g;
    cudaGraphExec_t ge;
    CK(cudaStreamBeginCapture(st, cudaStreamCaptureModeThreadLocal));
    for (int i = 0; i < nk; i++) {
        cudaLaunchConfig_t cfg = {};
        cfg.gridDim = dim3(grid);
        cfg.blockDim = dim3(256);
        cfg.stream = st;
        cudaLaunchAttribute attr[1];
        attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
        attr[0].val.programmaticStreamSerializationAllowed = 1;
        cfg.attrs = attr;
        cfg.numAttrs = PDL ? 1 : 0;
        CK(cudaLaunchKernelEx(&cfg, step_kernel<PDL, READ>, (const float *)buf[i & 1],
                              buf[(i + 1) & 1], k));
    }
    CK(cudaStreamEndCapture(st, &g));
    CK(cudaGraphInstantiate(&ge, g, 0));
    cudaEvent_t e0, e1;
    CK(cudaEventCreate(&e0));
    CK(cudaEventCreate(&e1));
    std::vector<float> t;
    for (int r = 0; r < 23; r++) {
        CK(cudaEventRecord(e0, st));
        CK(cudaGraphLaunch(ge, st));
        CK(cudaEventRecord(e1, st));
        CK(cudaEventSynchronize(e1));
        float ms;
        CK(cudaEventElapsedTime(&ms, e0, e1));
        if (r >= 3)
            t.push_back(ms * 1000.0f / nk);
    }
    std::sort(t.begin(), t.end());
    cudaGraphExecDestroy(ge);
    cudaGraphDestroy(g);
    return t[t.size() / 2];
}

int main()
{
    cudaStream_t st;
    CK(cudaStreamCreateWithFlags(&st, cudaStreamNonBlocking));
    float *buf[2];
    for (int i = 0; i < 2; i++) {
        CK(cudaMalloc(&buf[i], 132 * 16 * 256 * sizeof(float)));
        CK(cudaMemset(buf[i], 0, 132 * 16 * 256 * sizeof(float)));
    }
    const int nk = 256;
    for (int grid : { 1, 20, 132, 264, 660 }) {
        printf("grid %4d: plain %.2f us/kernel, plain+read %.2f | PDL %.2f, PDL+read %.2f\n", grid,
               run<false, false>(nk, grid, st, buf, 1280), run<false, true>(nk, grid, st, buf, 1280),
               run<true, false>(nk, grid, st, buf, 1280), run<true, true>(nk, grid, st, buf, 1280));
    }
    return 0;
}
