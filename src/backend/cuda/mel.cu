/*
 * mel.cu — Whisper's log-mel spectrogram on the GPU for whole 30 s windows: the same function
 * as hark_log_mel (src/audio/mel.c, whose file comment gives the steps and references), computed
 * as two fp32 cuBLAS products (no TF32: the log-mel must match the CPU within 1e-4):
 *   frames [B*T][400]   = reflect-padded samples (kernel)
 *   spec   [B*T][402]   = frames @ basis [400][402], basis = Hann-windowed cos | sin of bins 0..200
 *   power  [B*T][201]   = re^2 + im^2 (kernel)
 *   mel    [B][M][T]    = filters [M][201] @ power_b^T (strided batched GEMM)
 *   then log10(max(x, 1e-10)), the per-window maximum, max(x, max - 8), (x + 4) / 4 (kernels).
 * The filter bank is computed here on the host with the formula of hark_mel_filters, so that this
 * file has no link dependency on src/audio.
 *
 * Shape legend: B windows, T = 3000 frames, K = 201 bins, M mels (80 or 128), N = 400 samples per
 * frame.
 */
#include "backend/cuda/common.cuh"

#include <cublas_v2.h>
#include <math.h>
#include <stdlib.h>

enum {
    MEL_N = HARK_N_FFT,           /* 400 */
    MEL_K = HARK_N_FFT / 2 + 1,   /* 201 */
    MEL_K2 = 2 * MEL_K,           /* 402: cos columns then sin columns */
    MEL_T = HARK_N_FRAMES,        /* 3000 */
    MEL_PAD = HARK_N_FFT / 2,     /* 200: reflect padding on both sides */
};

struct cu_mel_plan {
    cublasHandle_t blas;
    int n_mels, max_win;
    float *basis;   /* [N][K2] */
    float *filters; /* [M][K] */
    float *frames;  /* [max_win*T][N], reused for power [max_win*T][K] */
    float *spec;    /* [max_win*T][K2] */
    unsigned *wmax; /* [max_win]: bits of each window's largest floored mel energy */
};

/* ---- host tables ---- */

/* Slaney mel scale, as hark_mel_filters (src/audio/mel.c).
 * ref: librosa core/convert.py hz_to_mel / mel_to_hz with htk=False. */
static double slaney_hz_to_mel(double hz)
{
    const double f_sp = 200.0 / 3.0, min_log_hz = 1000.0, step = log(6.4) / 27.0;
    return hz < min_log_hz ? hz / f_sp : min_log_hz / f_sp + log(hz / min_log_hz) / step;
}

static double slaney_mel_to_hz(double mel)
{
    const double f_sp = 200.0 / 3.0, min_log_hz = 1000.0, step = log(6.4) / 27.0;
    double min_log_mel = min_log_hz / f_sp;
    return mel < min_log_mel ? mel * f_sp : min_log_hz * exp(step * (mel - min_log_mel));
}

/* out[n_mels][K]: librosa.filters.mel(sr=16000, n_fft=400, n_mels, htk=False, norm="slaney"). */
static void mel_filter_bank(int n_mels, float *out)
{
    double max_mel = slaney_hz_to_mel(HARK_SAMPLE_RATE / 2.0);
    for (int i = 0; i < n_mels; i++) {
        double e[3];
        for (int j = 0; j < 3; j++)
            e[j] = slaney_mel_to_hz(max_mel * (double)(i + j) / (double)(n_mels + 1));
        double norm = 2.0 / (e[2] - e[0]);
        for (int k = 0; k < MEL_K; k++) {
            double f = (double)k * HARK_SAMPLE_RATE / HARK_N_FFT;
            double w = fmin((f - e[0]) / (e[1] - e[0]), (e[2] - f) / (e[2] - e[1]));
            out[(size_t)i * MEL_K + k] = (float)(w > 0.0 ? w * norm : 0.0);
        }
    }
}

/* basis[n][k] = w[n] cos(2 pi n k / N), basis[n][K + k] = w[n] sin(...), w the periodic Hann
 * window (the sign of the sine does not matter for the power). */
static void dft_basis(float *basis)
{
    const double pi = 3.14159265358979323846;
    for (int n = 0; n < MEL_N; n++) {
        double w = 0.5 - 0.5 * cos(2.0 * pi * n / MEL_N);
        for (int k = 0; k < MEL_K; k++) {
            double ph = 2.0 * pi * (double)((n * k) % MEL_N) / MEL_N;
            basis[(size_t)n * MEL_K2 + k] = (float)(w * cos(ph));
            basis[(size_t)n * MEL_K2 + MEL_K + k] = (float)(w * sin(ph));
        }
    }
}

/* ---- kernels ---- */

/* frames[b*T + t][n] = s_b[t*hop - 200 + n], s_b the window reflect-padded (numpy "reflect"). */
__global__ void mel_frames_kernel(const float *__restrict__ pcm, float *__restrict__ frames,
                                  long total)
{
    for (long i = (long)blockIdx.x * blockDim.x + threadIdx.x; i < total;
         i += (long)gridDim.x * blockDim.x) {
        int n = (int)(i % MEL_N);
        long bt = i / MEL_N;
        int t = (int)(bt % MEL_T);
        long b = bt / MEL_T;
        long j = (long)t * HARK_HOP_LENGTH - MEL_PAD + n;
        if (j < 0)
            j = -j;
        if (j >= HARK_N_SAMPLES)
            j = 2L * (HARK_N_SAMPLES - 1) - j;
        frames[i] = __ldg(pcm + b * HARK_N_SAMPLES + j);
    }
}

/* power[i][k] = spec[i][k]^2 + spec[i][K + k]^2 over rows i < rows. */
__global__ void mel_power_kernel(const float *__restrict__ spec, float *__restrict__ power,
                                 long rows)
{
    long total = rows * MEL_K;
    for (long i = (long)blockIdx.x * blockDim.x + threadIdx.x; i < total;
         i += (long)gridDim.x * blockDim.x) {
        long r = i / MEL_K;
        int k = (int)(i % MEL_K);
        float re = spec[r * MEL_K2 + k], im = spec[r * MEL_K2 + MEL_K + k];
        power[i] = re * re + im * im;
    }
}

/* wmax[b] = max over the window's mel[M][T] of the bits of max(|x|, 1e-10): non-negative floats
 * order like their bit patterns. Grid (blocks, B); one atomicMax per block. */
__global__ void mel_max_kernel(const float *__restrict__ mel, long per_win,
                               unsigned *__restrict__ wmax)
{
    __shared__ unsigned sm[32];
    const float *x = mel + (size_t)blockIdx.y * per_win;
    unsigned best = __float_as_uint(1e-10f);
    for (long i = (long)blockIdx.x * blockDim.x + threadIdx.x; i < per_win;
         i += (long)gridDim.x * blockDim.x)
        best = max(best, __float_as_uint(x[i]) & 0x7FFFFFFFu);
#pragma unroll
    for (int o = 16; o > 0; o >>= 1)
        best = max(best, __shfl_xor_sync(0xffffffffu, best, o));
    int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    if (lane == 0)
        sm[warp] = best;
    __syncthreads();
    if (warp == 0) {
        best = lane < (int)(blockDim.x / 32) ? sm[lane] : 0u;
#pragma unroll
        for (int o = 16; o > 0; o >>= 1)
            best = max(best, __shfl_xor_sync(0xffffffffu, best, o));
        if (lane == 0)
            atomicMax(wmax + blockIdx.y, best);
    }
}

/* mel = (max(log10(max(|x|, 1e-10)), log10(max_b) - 8) + 4) / 4 in place. Grid (blocks, B). */
__global__ void mel_log_kernel(float *__restrict__ mel, long per_win,
                               const unsigned *__restrict__ wmax)
{
    float *x = mel + (size_t)blockIdx.y * per_win;
    float floor = log10f(__uint_as_float(wmax[blockIdx.y])) - 8.0f;
    for (long i = (long)blockIdx.x * blockDim.x + threadIdx.x; i < per_win;
         i += (long)gridDim.x * blockDim.x) {
        float v = log10f(fmaxf(fabsf(x[i]), 1e-10f));
        x[i] = (fmaxf(v, floor) + 4.0f) * 0.25f;
    }
}

/* ---- plan ---- */

/* A plan for n_mels (80 or 128) and up to max_win windows per cuBLAS product (cu_log_mel takes
 * any number, max_win at a time): uploads the tables and allocates ~12 MB of scratch per window.
 * Returns 0, cudaErrorInvalidValue for bad arguments, a cudaError_t of the allocation or upload,
 * or cudaErrorUnknown when cuBLAS cannot start. The plan must be used by one stream at a time. */
extern "C" int cu_mel_plan_new(int n_mels, int max_win, cu_mel_plan **out)
{
    if (!out || (n_mels != 80 && n_mels != 128) || max_win < 1 || max_win > 65535)
        return (int)cudaErrorInvalidValue;
    *out = nullptr;
    cu_mel_plan *p = (cu_mel_plan *)calloc(1, sizeof(*p));
    float *host = (float *)malloc(sizeof(float) * (size_t)MEL_N * MEL_K2);
    cudaError_t err = cudaErrorMemoryAllocation;
    if (!p || !host)
        goto fail;
    p->n_mels = n_mels;
    p->max_win = max_win;
    if (cublasCreate(&p->blas) != CUBLAS_STATUS_SUCCESS ||
        cublasSetMathMode(p->blas, CUBLAS_PEDANTIC_MATH) != CUBLAS_STATUS_SUCCESS) {
        err = cudaErrorUnknown;
        goto fail;
    }
    if ((err = cudaMalloc(&p->basis, sizeof(float) * MEL_N * MEL_K2)) != cudaSuccess ||
        (err = cudaMalloc(&p->filters, sizeof(float) * n_mels * MEL_K)) != cudaSuccess ||
        (err = cudaMalloc(&p->frames, sizeof(float) * max_win * MEL_T * MEL_N)) != cudaSuccess ||
        (err = cudaMalloc(&p->spec, sizeof(float) * max_win * MEL_T * MEL_K2)) != cudaSuccess ||
        (err = cudaMalloc(&p->wmax, sizeof(unsigned) * max_win)) != cudaSuccess)
        goto fail;
    dft_basis(host);
    if ((err = cudaMemcpy(p->basis, host, sizeof(float) * MEL_N * MEL_K2,
                          cudaMemcpyHostToDevice)) != cudaSuccess)
        goto fail;
    mel_filter_bank(n_mels, host);
    if ((err = cudaMemcpy(p->filters, host, sizeof(float) * n_mels * MEL_K,
                          cudaMemcpyHostToDevice)) != cudaSuccess)
        goto fail;
    free(host);
    *out = p;
    return 0;
fail:
    free(host);
    cu_mel_plan_free(p);
    return (int)err;
}

/* Frees the plan and its device memory (NULL: nothing). Synchronizes with the device. */
extern "C" void cu_mel_plan_free(cu_mel_plan *p)
{
    if (!p)
        return;
    if (p->blas)
        cublasDestroy(p->blas);
    cudaFree(p->basis);
    cudaFree(p->filters);
    cudaFree(p->frames);
    cudaFree(p->spec);
    cudaFree(p->wmax);
    free(p);
}

/* Log-mel of `nw` <= max_win windows. */
static int log_mel_chunk(cu_mel_plan *p, const float *pcm, int nw, float *mel, cudaStream_t s)
{
    const float one = 1.0f, zero = 0.0f;
    long rows = (long)nw * MEL_T;
    mel_frames_kernel<<<grid_for(rows * MEL_N, 256), 256, 0, s>>>(pcm, p->frames, rows * MEL_N);
    /* column-major view: spec^T [K2][rows] = basis^T [K2][N] @ frames^T [N][rows] */
    if (cublasSgemm(p->blas, CUBLAS_OP_N, CUBLAS_OP_N, MEL_K2, (int)rows, MEL_N, &one, p->basis,
                    MEL_K2, p->frames, MEL_N, &zero, p->spec, MEL_K2) != CUBLAS_STATUS_SUCCESS)
        return (int)cudaErrorUnknown;
    float *power = p->frames; /* [rows][K] */
    mel_power_kernel<<<grid_for(rows * MEL_K, 256), 256, 0, s>>>(p->spec, power, rows);
    /* per window, column-major: mel_b^T [T][M] = power_b [T][K] (op T of [K][T]) @ filters^T */
    if (cublasSgemmStridedBatched(p->blas, CUBLAS_OP_T, CUBLAS_OP_N, MEL_T, p->n_mels, MEL_K, &one,
                                  power, MEL_K, (long long)MEL_T * MEL_K, p->filters, MEL_K, 0,
                                  &zero, mel, MEL_T, (long long)p->n_mels * MEL_T,
                                  nw) != CUBLAS_STATUS_SUCCESS)
        return (int)cudaErrorUnknown;
    long per_win = (long)p->n_mels * MEL_T;
    cudaError_t err = cudaMemsetAsync(p->wmax, 0, sizeof(unsigned) * nw, s);
    if (err != cudaSuccess)
        return (int)err;
    dim3 grid(64, (unsigned)nw);
    mel_max_kernel<<<grid, 256, 0, s>>>(mel, per_win, p->wmax);
    mel_log_kernel<<<grid, 256, 0, s>>>(mel, per_win, p->wmax);
    return (int)cudaGetLastError();
}

/* pcm fp32 [B][480000] -> mel fp32 [B][M][3000] on stream s; see kernels.h. Enqueues only (the
 * plan's scratch is in use until the stream reaches the end). cudaErrorUnknown on a cuBLAS
 * failure. */
extern "C" int cu_log_mel(cu_mel_plan *p, const float *pcm, int n_win, float *mel, cu_stream s)
{
    if (!p || n_win < 0)
        return (int)cudaErrorInvalidValue;
    if (cublasSetStream(p->blas, s) != CUBLAS_STATUS_SUCCESS)
        return (int)cudaErrorUnknown;
    for (int w0 = 0; w0 < n_win; w0 += p->max_win) {
        int nw = n_win - w0 < p->max_win ? n_win - w0 : p->max_win;
        int err = log_mel_chunk(p, pcm + (size_t)w0 * HARK_N_SAMPLES, nw,
                                mel + (size_t)w0 * p->n_mels * MEL_T, s);
        if (err)
            return err;
    }
    return 0;
}
