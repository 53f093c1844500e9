/*
 * decode_step.cu — a whole decoder pass for one or two rows in one cooperative kernel: the
 * embedding, then per layer eight phases separated by grid-wide barriers (LN1 + QKV with K/V
 * into the paged cache | self-attention | output projection + residual | LN2 + cross query |
 * cross-attention over position chunks | chunk merge + cross output + residual | LN3 + fc1 +
 * GELU | fc2 + residual), the residual stream kept in fp32. At one row a step of ~260 small
 * kernels is launch- and ramp-bound (bench/RESULTS.md: 2 ms for large-v3's 1.5 GB of weights);
 * here the step is one launch, and before every barrier each block asks L2 for the weights it
 * reads after it, so the barrier's wait and the weight stream overlap.
 * The final layer norm and the logits stay with the small-batch product (gemv.cu).
 * ref: openai/whisper model.py TextDecoder / ResidualAttentionBlock (pre-norm blocks).
 */
#include "backend/cuda/common.cuh"

#include <cooperative_groups.h>

namespace cg = cooperative_groups;

#define STEP_THREADS 256
#define STEP_WARPS (STEP_THREADS / 32)

/* ---- block helpers ---- */

__device__ __forceinline__ float block_reduce(float v, float *red, bool is_max)
{
    const int lane = threadIdx.x & 31, wid = threadIdx.x >> 5;
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
        float u = __shfl_xor_sync(0xffffffffu, v, o);
        v = is_max ? fmaxf(v, u) : v + u;
    }
    __syncthreads();
    if (lane == 0)
        red[wid] = v;
    __syncthreads();
    float r = red[0];
    for (int i = 1; i < STEP_WARPS; i++)
        r = is_max ? fmaxf(r, red[i]) : r + red[i];
    return r;
}

/* Asks L2 for bytes [p, p + n) split over the grid (this block's share). */
__device__ __forceinline__ void prefetch_l2(const void *p, size_t n)
{
    if (!p)
        return;
    const size_t lines = (n + 127) / 128;
    const size_t per = (lines + gridDim.x - 1) / gridDim.x;
    const size_t first = (size_t)blockIdx.x * per;
    const char *c = (const char *)p;
    for (size_t i = first + threadIdx.x; i < first + per && i < lines; i += blockDim.x)
        asm volatile("prefetch.global.L2 [%0];" ::"l"(c + i * 128));
}

/* Layer norm (eps 1e-5) of m fp32 rows x[m][k] into shared out[m][k]. */
template <typename T>
__device__ void ln_rows(const float *x, int m, int k, const T *g, const T *b, float *out,
                        float *stat)
{
    const int lane = threadIdx.x & 31, wid = threadIdx.x >> 5;
    if (wid < m) {
        const float *r = x + (size_t)wid * k;
        float s = 0.0f;
        for (int i = lane; i < k; i += 32)
            s += r[i];
        const float mean = warp_sum(s) / (float)k;
        float q = 0.0f;
        for (int i = lane; i < k; i += 32)
            q += (r[i] - mean) * (r[i] - mean);
        q = warp_sum(q);
        if (lane == 0) {
            stat[2 * wid] = mean;
            stat[2 * wid + 1] = rsqrtf(q / (float)k + 1e-5f);
        }
    }
    __syncthreads();
    for (int idx = threadIdx.x; idx < m * k; idx += blockDim.x) {
        int i = idx / k, j = idx - i * k;
        out[idx] = (x[idx] - stat[2 * i]) * stat[2 * i + 1] * to_f(g[j]) + to_f(b[j]);
    }
    __syncthreads();
}

/* Copies m fp32 rows of k from global to shared. */
__device__ __forceinline__ void rows_to_shared(const float *x, int n, float *out)
{
    for (int i = threadIdx.x; i < n; i += blockDim.x)
        out[i] = x[i];
    __syncthreads();
}

/* y rows: for each weight row r (a warp each), v[i] = xs[i] . W[r] + b[r], then epi(i, r, v). */
template <typename T, int M, typename Epi>
__device__ __forceinline__ void gemv_rows(const T *__restrict__ w, const T *__restrict__ b, int n,
                                          int k, const float *xs, int m, Epi epi)
{
    constexpr int V = vec16<T>();
    const int lane = threadIdx.x & 31, wid = threadIdx.x >> 5;
    for (int row = blockIdx.x * STEP_WARPS + wid; row < n; row += gridDim.x * STEP_WARPS) {
        const T *wr = w + (size_t)row * k;
        float acc[M];
#pragma unroll
        for (int i = 0; i < M; i++)
            acc[i] = 0.0f;
#pragma unroll 4
        for (int kk = lane * V; kk < k; kk += 32 * V) {
            float wv[V];
            load_f<T, V>(wr + kk, wv);
#pragma unroll
            for (int i = 0; i < M; i++)
                if (i < m) {
                    const float *xr = xs + i * k + kk;
#pragma unroll
                    for (int j = 0; j < V; j++)
                        acc[i] = fmaf(wv[j], xr[j], acc[i]);
                }
        }
#pragma unroll
        for (int i = 0; i < M; i++)
            acc[i] = warp_sum(acc[i]);
        if (lane == 0) {
            const float bias = b ? to_f(b[row]) : 0.0f;
#pragma unroll
            for (int i = 0; i < M; i++)
                if (i < m)
                    epi(i, row, acc[i] + bias);
        }
    }
}

/* N elements of T at p (16-byte aligned) to fp32, through the coherent path: for data this
 * kernel writes (the paged cache). */
template <typename T, int N> __device__ __forceinline__ void load_c(const T *p, float (&out)[N])
{
    static_assert(N * sizeof(T) == 16, "one 16-byte vector");
    uint4 u = *reinterpret_cast<const uint4 *>(p);
    const T *e = reinterpret_cast<const T *>(&u);
#pragma unroll
    for (int i = 0; i < N; i++)
        out[i] = to_f(e[i]);
}

#define ATT_PART 2048 /* floats of shared memory for the per-group partial outputs */

/* Attention of query q (shared, scaled, E wide) over n keys/values at krow(p), vrow(p) (16-byte
 * aligned rows): out[E] = sum_p softmax(s)_p v_p, normalised when norm, else unnormalised with
 * the maximum and the sum returned for a later merge. Every load is a 16-byte vector and a
 * thread's loads are independent (a position's key per thread; an 8-wide slice of value rows
 * per thread, positions strided over the groups). sc: shared scores for n positions. */
template <typename T, int E, typename KRow, typename VRow>
__device__ void attend(const float *q, int n, KRow krow, VRow vrow, float *sc, float *red,
                       float *part, float *out, bool norm, float *mx_out, float *sum_out)
{
    constexpr int V = vec16<T>(), CH = E / V, G = STEP_THREADS / CH;
    static_assert(E % V == 0 && STEP_THREADS % CH == 0 && G * E <= ATT_PART, "attention shape");
    float mx = -INFINITY;
    for (int p = threadIdx.x; p < n; p += blockDim.x) {
        const T *kr = krow(p);
        float kv[E];
#pragma unroll
        for (int j = 0; j < E; j += V) {
            float t[V];
            load_c<T, V>(kr + j, t);
#pragma unroll
            for (int u = 0; u < V; u++)
                kv[j + u] = t[u];
        }
        float s = 0.0f;
#pragma unroll
        for (int j = 0; j < E; j++)
            s = fmaf(q[j], kv[j], s);
        sc[p] = s;
        mx = fmaxf(mx, s);
    }
    mx = block_reduce(mx, red, true);
    float sum = 0.0f;
    for (int p = threadIdx.x; p < n; p += blockDim.x) {
        float v = __expf(sc[p] - mx);
        sc[p] = v;
        sum += v;
    }
    sum = block_reduce(sum, red, false); /* also makes sc visible to every thread */
    const int c = threadIdx.x % CH, g = threadIdx.x / CH;
    float acc[V];
#pragma unroll
    for (int u = 0; u < V; u++)
        acc[u] = 0.0f;
#pragma unroll 4
    for (int p = g; p < n; p += G) {
        float vv[V];
        load_c<T, V>(vrow(p) + c * V, vv);
        const float w = sc[p];
#pragma unroll
        for (int u = 0; u < V; u++)
            acc[u] = fmaf(w, vv[u], acc[u]);
    }
#pragma unroll
    for (int u = 0; u < V; u++)
        part[g * E + c * V + u] = acc[u];
    __syncthreads();
    if (threadIdx.x < E) {
        float t = 0.0f;
        for (int k = 0; k < G; k++)
            t += part[k * E + threadIdx.x];
        out[threadIdx.x] = norm ? (sum > 0.0f ? t / sum : 0.0f) : t;
    }
    if (threadIdx.x == 0 && !norm) {
        *mx_out = mx;
        *sum_out = sum;
    }
    __syncthreads();
}

template <typename T, int M, int E, bool CL>
__global__ void __launch_bounds__(STEP_THREADS) step_kernel(cu_step_args a)
{
    /* the barrier between phases: the whole grid (cooperative launch) or one thread-block
     * cluster that is the whole grid (hardware barrier) */
    auto bar = [&]() {
        if constexpr (CL)
            cg::this_cluster().sync();
        else
            cg::this_grid().sync();
    };
    extern __shared__ float sm[];
    __shared__ float stat[2 * 2], red[STEP_WARPS];
    const int D = a.d, F = a.f, H = a.h, C = a.c, m = a.m, S = a.block;
    const int split = a.split, chunk = (C + split - 1) / split;
    float *x = a.x, *q = a.q, *att = a.att, *hb = a.hb;
    const T *emb = (const T *)a.tok_emb, *pe = (const T *)a.dec_pos;
    const size_t gtid = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    const size_t gstride = (size_t)gridDim.x * blockDim.x;

    for (size_t idx = gtid; idx < (size_t)m * D; idx += gstride) {
        int i = (int)(idx / D), d = (int)(idx - (size_t)i * D);
        x[idx] = to_f(emb[(size_t)a.tok[i] * D + d]) + to_f(pe[(size_t)a.pos[i] * D + d]);
    }
    const cu_step_layer *L0 = &a.layers[0];
    prefetch_l2(L0->qkv_w, (size_t)3 * D * D * sizeof(T));
    bar();

    for (int l = 0; l < a.n_layers; l++) {
        const cu_step_layer *L = &a.layers[l];
        T *kp = (T *)L->k_pool, *vp = (T *)L->v_pool;
        /* A: LN1, QKV; q to global, K and V into the paged cache */
        ln_rows<T>(x, m, D, (const T *)L->ln1_g, (const T *)L->ln1_b, sm, stat);
        gemv_rows<T, M>((const T *)L->qkv_w, (const T *)L->qkv_b, 3 * D, D, sm, m,
                        [&](int i, int row, float v) {
                            if (row < D) {
                                q[i * D + row] = v;
                            } else {
                                int slot = a.slot[i];
                                if (slot >= 0) {
                                    T *pool = row < 2 * D ? kp : vp;
                                    pool[(size_t)slot * D + (row < 2 * D ? row - D : row - 2 * D)] =
                                        from_f<T>(v);
                                }
                            }
                        });
        prefetch_l2(L->o_w, (size_t)D * D * sizeof(T));
        bar();
        /* B: self-attention of each (row, head) over the row's cached positions */
        for (int item = blockIdx.x; item < m * H; item += gridDim.x) {
            const int i = item / H, h = item - i * H, len = a.len[i];
            float *qs = sm, *part = sm + 64, *o = sm + 64 + ATT_PART, *sc = o + 64;
            for (int j = threadIdx.x; j < E; j += blockDim.x)
                qs[j] = q[i * D + h * E + j] * a.scale;
            __syncthreads();
            const int32_t *bt = a.bt + (size_t)i * a.mb;
            auto krow = [&](int p) { return kp + ((size_t)bt[p / S] * S + p % S) * D + h * E; };
            auto vrow = [&](int p) { return vp + ((size_t)bt[p / S] * S + p % S) * D + h * E; };
            attend<T, E>(qs, len, krow, vrow, sc, red, part, o, true, nullptr, nullptr);
            for (int j = threadIdx.x; j < E; j += blockDim.x)
                att[i * D + h * E + j] = o[j];
            __syncthreads();
        }
        prefetch_l2(L->cq_w, (size_t)D * D * sizeof(T));
        bar();
        /* C: output projection + residual */
        rows_to_shared(att, m * D, sm);
        gemv_rows<T, M>((const T *)L->o_w, (const T *)L->o_b, D, D, sm, m,
                        [&](int i, int row, float v) { x[i * D + row] += v; });
        bar();
        /* D: LN2, cross-attention query */
        ln_rows<T>(x, m, D, (const T *)L->ln2_g, (const T *)L->ln2_b, sm, stat);
        gemv_rows<T, M>((const T *)L->cq_w, (const T *)L->cq_b, D, D, sm, m,
                        [&](int i, int row, float v) { q[i * D + row] = v; });
        prefetch_l2(L->co_w, (size_t)D * D * sizeof(T));
        for (int i = 0; i < m; i++) {
            prefetch_l2((const T *)L->cross_k + (size_t)a.win[i] * C * D, (size_t)C * D * sizeof(T));
            prefetch_l2((const T *)L->cross_v + (size_t)a.win[i] * C * D, (size_t)C * D * sizeof(T));
        }
        bar();
        /* E: cross-attention of each (row, head, chunk of positions), unnormalised */
        for (int item = blockIdx.x; item < m * H * split; item += gridDim.x) {
            const int i = item / (H * split), r = item - i * H * split, h = r / split,
                      s = r - h * split;
            const int p0 = s * chunk, n = min(C, p0 + chunk) - p0;
            float *qs = sm, *part = sm + 64, *o = sm + 64 + ATT_PART, *sc = o + 64;
            for (int j = threadIdx.x; j < E; j += blockDim.x)
                qs[j] = q[i * D + h * E + j] * a.scale;
            __syncthreads();
            const T *ck = (const T *)L->cross_k + (size_t)a.win[i] * C * D;
            const T *cv = (const T *)L->cross_v + (size_t)a.win[i] * C * D;
            auto krow = [&](int p) { return ck + (size_t)(p0 + p) * D + h * E; };
            auto vrow = [&](int p) { return cv + (size_t)(p0 + p) * D + h * E; };
            attend<T, E>(qs, n > 0 ? n : 0, krow, vrow, sc, red, part, o, false, &a.pm[item],
                         &a.ps[item]);
            for (int j = threadIdx.x; j < E; j += blockDim.x)
                a.po[(size_t)item * E + j] = o[j];
            __syncthreads();
        }
        prefetch_l2(L->fc1_w, (size_t)F * D * sizeof(T));
        bar();
        /* F: merge the chunks (every block, into shared), cross output + residual */
        for (int idx = threadIdx.x; idx < m * D; idx += blockDim.x) {
            const int i = idx / D, d = idx - i * D, h = d / E, j = d - h * E;
            const int base = (i * H + h) * split;
            float gm = -INFINITY;
            for (int s = 0; s < split; s++)
                gm = fmaxf(gm, a.pm[base + s]);
            float tot = 0.0f, val = 0.0f;
            for (int s = 0; s < split; s++) {
                float f = a.ps[base + s] > 0.0f ? __expf(a.pm[base + s] - gm) : 0.0f;
                tot += a.ps[base + s] * f;
                val += a.po[(size_t)(base + s) * E + j] * f;
            }
            sm[idx] = tot > 0.0f ? val / tot : 0.0f;
        }
        __syncthreads();
        gemv_rows<T, M>((const T *)L->co_w, (const T *)L->co_b, D, D, sm, m,
                        [&](int i, int row, float v) { x[i * D + row] += v; });
        bar();
        /* G: LN3, fc1, exact GELU */
        ln_rows<T>(x, m, D, (const T *)L->ln3_g, (const T *)L->ln3_b, sm, stat);
        gemv_rows<T, M>((const T *)L->fc1_w, (const T *)L->fc1_b, F, D, sm, m,
                        [&](int i, int row, float v) {
                            hb[i * F + row] = 0.5f * v * (1.0f + erff(v * 0.70710678118654752f));
                        });
        prefetch_l2(L->fc2_w, (size_t)D * F * sizeof(T));
        bar();
        /* H: fc2 + residual */
        rows_to_shared(hb, m * F, sm);
        gemv_rows<T, M>((const T *)L->fc2_w, (const T *)L->fc2_b, D, F, sm, m,
                        [&](int i, int row, float v) { x[i * D + row] += v; });
        if (l + 1 < a.n_layers)
            prefetch_l2(a.layers[l + 1].qkv_w, (size_t)3 * D * D * sizeof(T));
        bar();
    }
    T *out = (T *)a.out;
    for (size_t idx = gtid; idx < (size_t)m * D; idx += gstride)
        out[idx] = from_f<T>(x[idx]);
}

template <typename T, int M, int E>
static int step_launch_cluster(const cu_step_args *a, size_t smem, cudaStream_t s)
{
    auto kern = step_kernel<T, M, E, true>;
    cudaError_t e = cudaFuncSetAttribute(kern, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                         (int)smem);
    if (e == cudaSuccess && a->cluster > 8)
        e = cudaFuncSetAttribute(kern, cudaFuncAttributeNonPortableClusterSizeAllowed, 1);
    if (e != cudaSuccess)
        return (int)e;
    cudaLaunchConfig_t cfg = {};
    cfg.gridDim = dim3((unsigned)a->cluster);
    cfg.blockDim = dim3(STEP_THREADS);
    cfg.dynamicSmemBytes = smem;
    cfg.stream = s;
    cudaLaunchAttribute at[1];
    at[0].id = cudaLaunchAttributeClusterDimension;
    at[0].val.clusterDim.x = (unsigned)a->cluster;
    at[0].val.clusterDim.y = 1;
    at[0].val.clusterDim.z = 1;
    cfg.attrs = at;
    cfg.numAttrs = 1;
    cu_step_args args = *a;
    return (int)cudaLaunchKernelEx(&cfg, kern, args);
}

template <typename T, int M, int E>
static int step_launch(const cu_step_args *a, size_t smem, cudaStream_t s)
{
    if (a->cluster > 0)
        return step_launch_cluster<T, M, E>(a, smem, s);
    auto kern = step_kernel<T, M, E, false>;
    cudaError_t e = cudaFuncSetAttribute(kern, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                         (int)smem);
    if (e != cudaSuccess)
        return (int)e;
    int per_sm = 0;
    e = cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kern, STEP_THREADS, smem);
    if (e != cudaSuccess)
        return (int)e;
    if (per_sm < 1)
        return (int)cudaErrorInvalidConfiguration;
    int want = a->blocks_per_sm > 0 ? a->blocks_per_sm : 1;
    if (per_sm > want)
        per_sm = want;
    const int sms = a->sms > 0 ? a->sms : 1;
    cu_step_args args = *a;
    void *params[] = { &args };
    return (int)cudaLaunchCooperativeKernel((const void *)kern, dim3((unsigned)(sms * per_sm)),
                                           dim3(STEP_THREADS), params, smem, s);
}

extern "C" size_t cu_decode_step_smem(int m, int d, int f, int t)
{
    size_t need = (size_t)m * (f > d ? f : d);
    size_t attn = 64 + ATT_PART + 64 + (size_t)(t > 256 ? t : 256);
    return (need > attn ? need : attn) * sizeof(float);
}

extern "C" int cu_decode_step(hark_dtype dt, const cu_step_args *a, cu_stream s)
{
    const int e = a->h > 0 ? a->d / a->h : 0;
    if (a->m < 1 || a->m > 2 || (e != 64 && e != 32) || a->d % a->h != 0 ||
        a->split < 1 || (a->c + a->split - 1) / a->split > STEP_THREADS)
        return (int)cudaErrorInvalidValue;
    const size_t smem = cu_decode_step_smem(a->m, a->d, a->f, a->t);
    HARK_CU_DISPATCH(dt, T, {
        if (a->d % vec16<T>() != 0 || a->f % vec16<T>() != 0)
            return (int)cudaErrorInvalidValue;
        cudaStream_t st = (cudaStream_t)s;
        if (e == 64)
            return a->m == 1 ? step_launch<T, 1, 64>(a, smem, st) : step_launch<T, 2, 64>(a, smem, st);
        return a->m == 1 ? step_launch<T, 1, 32>(a, smem, st) : step_launch<T, 2, 32>(a, smem, st);
    });
    return 0;
}
