/*
 * flash_attn.cu — lab for the encoder's fused self-attention (cu_encoder_attention), llm.c style:
 * a plain CPU reference in double, kernel versions, validation on fresh random inputs (output
 * poisoned before every run, every element checked as written), and a benchmark in TFLOP/s.
 *
 * The kernels themselves live in src/backend/cuda/attention_encoder.cu, included below, so the
 * lab measures exactly what the library ships. Versions:
 *   0  cu_encoder_attention, the launcher the library calls (dispatches to 1, 4 or 9)
 *   1  attn_simple: fp32 arithmetic, one thread per query row (the fp32 path and E != 64)
 *   2  attn_flash_e64, 4 warps, 64 query rows per CTA (FlashAttention-2, mma.sync m16n8k16)
 *   3  attn_flash_e64, 8 warps, 128 query rows per CTA
 *   4  attn_flash_e64, 4 warps of 32 rows (two m-tiles share each K/V fragment), 128 rows/CTA
 *   5  attn_flash_e64, 8 warps of 32 rows, 256 rows per CTA
 *   6-15 attn_wgmma_e64 (sm_90a): warpgroups x 64 query rows per CTA, keys per tile, stages,
 *      minimum CTAs per SM, and "pipe" for the softmax overlapped with the next tile's products
 *
 * Build and run (nvcc alone, from the repository root):
 *   nvcc -std=c++17 -O3 -gencode=arch=compute_90a,code=sm_90a -DHARK_CUDA_WGMMA -Iinclude -Isrc \
 *        dev/cuda/flash_attn.cu -o /tmp/fa && /tmp/fa
 * FLOPs counted as 4 * B * H * C * C * E (two matrix products). Notes: dev/cuda/FLASH.md.
 *
 * Shape legend: B windows, C positions, D width, H heads, E head width (D / H).
 */
#include "backend/cuda/attention_encoder.cu"

#include <algorithm>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CK(call)                                                                                   \
    do {                                                                                           \
        cudaError_t e_ = (call);                                                                   \
        if (e_ != cudaSuccess) {                                                                   \
            fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #call, cudaGetErrorString(e_)); \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

static const char *dt_name(hark_dtype dt)
{
    return dt == HARK_DTYPE_F16 ? "f16" : dt == HARK_DTYPE_BF16 ? "bf16" : "f32";
}
static size_t dt_size(hark_dtype dt) { return dt == HARK_DTYPE_F32 ? 4 : 2; }

/* ---------------------------------------------------------------------------------------------
 * Versions. Each returns cudaErrorNotSupported for a dtype/shape it does not cover.
 */
typedef cudaError_t (*attn_fn)(hark_dtype dt, const void *qkv, void *out, int b, int c, int d,
                               int h, float scale, cudaStream_t st);

static cudaError_t v0_launcher(hark_dtype dt, const void *qkv, void *out, int b, int c, int d,
                               int h, float scale, cudaStream_t st)
{
    return (cudaError_t)cu_encoder_attention(dt, qkv, out, b, c, d, h, scale, (cu_stream)st);
}

static cudaError_t v1_simple(hark_dtype dt, const void *qkv, void *out, int b, int c, int d, int h,
                             float scale, cudaStream_t st)
{
    float sl2 = scale * 1.4426950408889634f;
    if (dt == HARK_DTYPE_F16) return launch_simple<__half>(qkv, out, b, c, d, h, sl2, st);
    if (dt == HARK_DTYPE_BF16) return launch_simple<__nv_bfloat16>(qkv, out, b, c, d, h, sl2, st);
    return launch_simple<float>(qkv, out, b, c, d, h, sl2, st);
}

template <int WARPS, int MT>
static cudaError_t v_flash(hark_dtype dt, const void *qkv, void *out, int b, int c, int d, int h,
                           float scale, cudaStream_t st)
{
    float sl2 = scale * 1.4426950408889634f;
    if (d / h != 64 || dt == HARK_DTYPE_F32) return cudaErrorNotSupported;
    if (dt == HARK_DTYPE_F16) return launch_flash<__half, WARPS, MT>(qkv, out, b, c, d, h, sl2, st);
    return launch_flash<__nv_bfloat16, WARPS, MT>(qkv, out, b, c, d, h, sl2, st);
}

template <int NWG, int BK, int STAGES, int MINB, bool PIPE>
static cudaError_t v_wgmma(hark_dtype dt, const void *qkv, void *out, int b, int c, int d, int h,
                           float scale, cudaStream_t st)
{
    float sl2 = scale * 1.4426950408889634f;
    if (d / h != 64 || dt == HARK_DTYPE_F32) return cudaErrorNotSupported;
    if (dt == HARK_DTYPE_F16)
        return launch_wgmma<__half, NWG, BK, STAGES, MINB, PIPE>(qkv, out, b, c, d, h, sl2, st);
    return launch_wgmma<__nv_bfloat16, NWG, BK, STAGES, MINB, PIPE>(qkv, out, b, c, d, h, sl2, st);
}

static const struct {
    const char *name;
    attn_fn fn;
} versions[] = {
    {"v0 launcher", v0_launcher},
    {"v1 simple", v1_simple},
    {"v2 flash 4w/64q", v_flash<4, 1>},
    {"v3 flash 8w/128q", v_flash<8, 1>},
    {"v4 flash 4w x2m", v_flash<4, 2>},
    {"v5 flash 8w x2m", v_flash<8, 2>},
    {"v6 wg 2x64 k64 s2", v_wgmma<2, 64, 2, 2, false>},
    {"v7 wg 2x64 k64 s3", v_wgmma<2, 64, 3, 2, false>},
    {"v8 wg 3x64 k64 s3", v_wgmma<3, 64, 3, 1, false>},
    {"v9 wg pipe 2x64 k64", v_wgmma<2, 64, 3, 2, true>},
    {"v10 wg pipe 2x64 k64 m1", v_wgmma<2, 64, 3, 1, true>},
    {"v11 wg pipe 1x64 k64", v_wgmma<1, 64, 3, 3, true>},
    {"v12 wg pipe 3x64 k64", v_wgmma<3, 64, 3, 1, true>},
    {"v13 wg pipe 2x64 k128", v_wgmma<2, 128, 3, 1, true>},
    {"v14 wg pipe 2x64 k64 s4", v_wgmma<2, 64, 4, 2, true>},
    {"v15 wg pipe 1x64 k64 m4", v_wgmma<1, 64, 3, 4, true>},
};
enum { N_VERSIONS = sizeof(versions) / sizeof(versions[0]) };

/* ---------------------------------------------------------------------------------------------
 * Host data: random inputs rounded to dt (the reference sees the rounded values).
 */
static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static float rnd_uniform(void) /* [-1, 1) */
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (float)((rng_state >> 40) * (1.0 / 8388608.0) - 1.0);
}

static void host_store(hark_dtype dt, void *dst, size_t i, float x)
{
    if (dt == HARK_DTYPE_F16) ((__half *)dst)[i] = __float2half_rn(x);
    else if (dt == HARK_DTYPE_BF16) ((__nv_bfloat16 *)dst)[i] = __float2bfloat16_rn(x);
    else ((float *)dst)[i] = x;
}
static float host_load(hark_dtype dt, const void *src, size_t i)
{
    if (dt == HARK_DTYPE_F16) return __half2float(((const __half *)src)[i]);
    if (dt == HARK_DTYPE_BF16) return __bfloat162float(((const __nv_bfloat16 *)src)[i]);
    return ((const float *)src)[i];
}

/* qkv_f [B][C][3D] -> ref [E] for window b, head j, query t (double arithmetic). */
static void cpu_attention_row(const float *qkv_f, int c, int d, int h, float scale, int b, int j,
                              int t, double *ref, double *p /* [C] scratch */)
{
    const int e = d / h;
    const long ld = 3L * d;
    const float *base = qkv_f + (long)b * c * ld + (long)j * e;
    const float *q = base + (long)t * ld;
    double mx = -INFINITY, sum = 0.0;
    for (int u = 0; u < c; u++) {
        const float *k = base + (long)u * ld + d;
        double s = 0.0;
        for (int i = 0; i < e; i++) s += (double)q[i] * k[i];
        p[u] = s * scale;
        mx = std::max(mx, p[u]);
    }
    for (int u = 0; u < c; u++) {
        p[u] = exp(p[u] - mx);
        sum += p[u];
    }
    for (int i = 0; i < e; i++) ref[i] = 0.0;
    for (int u = 0; u < c; u++) {
        const float *v = base + (long)u * ld + 2 * d;
        for (int i = 0; i < e; i++) ref[i] += p[u] * v[i];
    }
    for (int i = 0; i < e; i++) ref[i] /= sum;
}

/* One problem on the device: inputs, output, host copies. */
struct problem {
    hark_dtype dt;
    int b, c, d, h;
    float scale;
    float *qkv_f; /* [B][C][3D] rounded values */
    void *d_qkv, *d_out;
    void *h_out;
};

static void problem_new(struct problem *pr, hark_dtype dt, int b, int c, int d, int h, float scale,
                        float amp)
{
    pr->dt = dt, pr->b = b, pr->c = c, pr->d = d, pr->h = h, pr->scale = scale;
    size_t n_in = (size_t)b * c * 3 * d, n_out = (size_t)b * c * d;
    pr->qkv_f = (float *)malloc(n_in * sizeof(float));
    void *h_in = malloc(n_in * dt_size(dt));
    pr->h_out = malloc(n_out * dt_size(dt));
    if (!pr->qkv_f || !h_in || !pr->h_out) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    for (size_t i = 0; i < n_in; i++) {
        host_store(dt, h_in, i, amp * rnd_uniform());
        pr->qkv_f[i] = host_load(dt, h_in, i);
    }
    CK(cudaMalloc(&pr->d_qkv, n_in * dt_size(dt)));
    CK(cudaMalloc(&pr->d_out, n_out * dt_size(dt)));
    CK(cudaMemcpy(pr->d_qkv, h_in, n_in * dt_size(dt), cudaMemcpyHostToDevice));
    free(h_in);
}

static void problem_free(struct problem *pr)
{
    free(pr->qkv_f);
    free(pr->h_out);
    CK(cudaFree(pr->d_qkv));
    CK(cudaFree(pr->d_out));
}

/* Runs version v once on poisoned output; returns rel L2 error over max_rows sampled query rows
 * (all rows when there are fewer), or -1 when unsupported, or +inf (with a message) when an
 * element was left unwritten or is not finite. */
static double validate(const struct problem *pr, int v)
{
    const size_t n_out = (size_t)pr->b * pr->c * pr->d;
    CK(cudaMemset(pr->d_out, 0xFF, n_out * dt_size(pr->dt))); /* NaN in every dtype */
    cudaError_t err = versions[v].fn(pr->dt, pr->d_qkv, pr->d_out, pr->b, pr->c, pr->d, pr->h,
                                     pr->scale, 0);
    if (err == cudaErrorNotSupported) return -1.0;
    CK(err);
    CK(cudaDeviceSynchronize());
    CK(cudaMemcpy(pr->h_out, pr->d_out, n_out * dt_size(pr->dt), cudaMemcpyDeviceToHost));
    for (size_t i = 0; i < n_out; i++) {
        if (!isfinite(host_load(pr->dt, pr->h_out, i))) {
            printf("  %s %s: element %zu unwritten or not finite\n", versions[v].name,
                   dt_name(pr->dt), i);
            return INFINITY;
        }
    }
    const int e = pr->d / pr->h;
    const long rows = (long)pr->b * pr->h * pr->c;
    const int max_rows = 256;
    double *ref = (double *)malloc(e * sizeof(double)), *p = (double *)malloc(pr->c * sizeof(double));
    double num = 0.0, den = 0.0;
    for (long r = 0; r < std::min<long>(rows, max_rows); r++) {
        long idx = rows <= max_rows ? r : (long)((rnd_uniform() + 1.0f) * 0.5f * (float)rows) % rows;
        int b = (int)(idx / ((long)pr->h * pr->c)), j = (int)(idx / pr->c % pr->h), t = (int)(idx % pr->c);
        cpu_attention_row(pr->qkv_f, pr->c, pr->d, pr->h, pr->scale, b, j, t, ref, p);
        for (int i = 0; i < e; i++) {
            double got = host_load(pr->dt, pr->h_out, ((size_t)b * pr->c + t) * pr->d + (size_t)j * e + i);
            num += (got - ref[i]) * (got - ref[i]);
            den += ref[i] * ref[i];
        }
    }
    free(ref);
    free(p);
    return sqrt(num / den);
}

static double tolerance(hark_dtype dt)
{
    return dt == HARK_DTYPE_F16 ? 2e-3 : dt == HARK_DTYPE_BF16 ? 1e-2 : 1e-5;
}

/* Median milliseconds of `reps` runs after 3 warm-up runs. */
static float bench(const struct problem *pr, int v, int reps)
{
    cudaEvent_t a, z;
    CK(cudaEventCreate(&a));
    CK(cudaEventCreate(&z));
    float ms[64];
    for (int i = 0; i < 3 + reps; i++) {
        CK(cudaEventRecord(a));
        CK(versions[v].fn(pr->dt, pr->d_qkv, pr->d_out, pr->b, pr->c, pr->d, pr->h, pr->scale, 0));
        CK(cudaEventRecord(z));
        CK(cudaEventSynchronize(z));
        if (i >= 3) CK(cudaEventElapsedTime(&ms[i - 3], a, z));
    }
    CK(cudaEventDestroy(a));
    CK(cudaEventDestroy(z));
    std::sort(ms, ms + reps);
    return ms[reps / 2];
}

int main(void)
{
    rng_state ^= (uint64_t)time(NULL) * 0x2545F4914F6CDD1Dull;
    cudaDeviceProp prop;
    CK(cudaGetDeviceProperties(&prop, 0));
    printf("device: %s, %d SMs\n", prop.name, prop.multiProcessorCount);
    int failures = 0, checks = 0;

    /* Validation: tails, head widths, dtypes, a peaky softmax (scale 1). */
    static const struct { int b, c, d, h; float scale, amp; } shapes[] = {
        {2, 1, 128, 2, 0.125f, 2.0f},    {2, 7, 128, 2, 0.125f, 2.0f},
        {2, 63, 128, 2, 0.125f, 2.0f},   {2, 64, 128, 2, 0.125f, 2.0f},
        {2, 65, 128, 2, 0.125f, 2.0f},   {1, 129, 384, 6, 0.125f, 2.0f},
        {2, 1500, 128, 2, 0.125f, 2.0f}, {2, 1500, 128, 2, 1.0f, 1.5f},
        {2, 1500, 64, 2, 0.1767767f, 2.0f}, /* E = 32 */
        {2, 300, 8, 2, 0.5f, 2.0f},          /* E = 4 */
        {3, 200, 96, 3, 0.1767767f, 2.0f},   /* E = 32, odd B */
    };
    static const hark_dtype dts[] = {HARK_DTYPE_F16, HARK_DTYPE_BF16, HARK_DTYPE_F32};
    for (size_t si = 0; si < sizeof(shapes) / sizeof(shapes[0]); si++) {
        for (int di = 0; di < 3; di++) {
            struct problem pr;
            problem_new(&pr, dts[di], shapes[si].b, shapes[si].c, shapes[si].d, shapes[si].h,
                        shapes[si].scale, shapes[si].amp);
            for (int v = 0; v < N_VERSIONS; v++) {
                double err = validate(&pr, v);
                if (err < 0) continue;
                bool ok = err <= tolerance(pr.dt);
                checks++;
                failures += !ok;
                if (!ok || si == 6)
                    printf("  check B=%d C=%d D=%d H=%d scale=%g %-5s %-18s rel L2 %.3e %s\n", pr.b,
                           pr.c, pr.d, pr.h, pr.scale, dt_name(pr.dt), versions[v].name, err,
                           ok ? "ok" : "FAIL");
            }
            problem_free(&pr);
        }
    }
    printf("validation: %d checks, %d failed\n", checks, failures);

    /* Benchmark at Whisper large's encoder shape: B=16, H=20, C=1500, E=64. */
    const int B = 16, C = 1500, H = 20, D = 1280;
    const double flops = 4.0 * B * H * (double)C * C * (D / H);
    struct row { const char *name; hark_dtype dt; double err; float ms; } tab[64];
    int nt = 0;
    for (int di = 0; di < 3; di++) {
        struct problem pr;
        problem_new(&pr, dts[di], B, C, D, H, 0.125f, 2.0f);
        for (int v = 0; v < N_VERSIONS; v++) {
            double err = validate(&pr, v);
            if (err < 0) continue;
            bool ok = err <= tolerance(pr.dt);
            checks++;
            failures += !ok;
            float ms = bench(&pr, v, v == 1 ? 3 : 20);
            tab[nt++] = {versions[v].name, pr.dt, err, ms};
        }
        problem_free(&pr);
    }
    printf("\nB=%d H=%d C=%d E=%d, %.1f GFLOP per call\n", B, H, C, D / H, flops * 1e-9);
    printf("%-24s %-5s %10s %10s %11s\n", "version", "dtype", "ms", "TFLOP/s", "rel L2");
    for (int i = 0; i < nt; i++)
        printf("%-24s %-5s %10.3f %10.1f %11.3e\n", tab[i].name, dt_name(tab[i].dt), tab[i].ms,
               flops / (tab[i].ms * 1e-3) * 1e-12, tab[i].err);
    printf("%d passed, %d failed\n", checks - failures, failures);
    return failures ? 1 : 0;
}
