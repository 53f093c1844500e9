/*
 * gemv_f16.c — kernel lab for the CPU backend's small-M product y[M][N] = x[M][K] W[N][K]^T + b
 * with F16 weights (the decoder step's hot loop; the vocabulary projection dominates at small
 * models). The llm.c way: a plain reference, versions, validation against the reference, and a
 * benchmark in GB/s of weights read. Also times the large-M path (widen + sgemm) to choose the
 * row threshold CPU_GEMM_MIN_ROWS.
 *
 *   version 1: one weight row at a time, one accumulator (the obvious vector loop)
 *   version 2: the backend's cpu_gemv_f16 (one row per task for M = 1; 4 x 4 tiles otherwise)
 *   version 3: widen W to fp32 + cblas_sgemm (what cpu_linear does at M >= CPU_GEMM_MIN_ROWS)
 *
 * Build and run (from the repository root):
 *   gcc -std=c11 -O2 -march=native -fopenmp -D_GNU_SOURCE -Iinclude -Isrc \
 *       $(pkg-config --cflags openblas) dev/cpu/gemv_f16.c src/backend/cpu/matmul.c \
 *       src/util/half.c src/util/error.c $(pkg-config --libs openblas) -lm -o /tmp/gemv_f16
 *   /tmp/gemv_f16 [threads [N K]]
 */
#include "backend/cpu/cpu.h"
#include "util/simd.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>

/* Shape legend: M activation rows, N output features, K input features. */

static void gemv_ref(const uint16_t *w, int n, int k, const float *b, const float *x, int m,
                     float *y)
{
    for (int i = 0; i < m; i++)
        for (int o = 0; o < n; o++) {
            double s = b[o];
            for (int j = 0; j < k; j++)
                s += (double)hark_f16_to_f32(w[(size_t)o * k + j]) * x[(size_t)i * k + j];
            y[(size_t)i * n + o] = (float)s;
        }
}

static void gemv_v1(const uint16_t *w, int n, int k, const float *b, const float *x, int m,
                    float *y, int nt)
{
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int o = 0; o < n; o++)
        for (int i = 0; i < m; i++) {
            vf acc = vf_set1(0.0f);
            for (int j = 0; j + VW <= k; j += VW)
                acc = vf_fma(vf_load_f16(w + (size_t)o * k + j), vf_load(x + (size_t)i * k + j), acc);
            y[(size_t)i * n + o] = vf_hsum(acc) + b[o];
        }
}

static void gemv_v3(const uint16_t *w, int n, int k, const float *b, const float *x, int m,
                    float *y, int nt, float *panel)
{
#pragma omp parallel for num_threads(nt) schedule(static)
    for (size_t r = 0; r < (size_t)n; r++)
        for (int j = 0; j + VW <= k; j += VW)
            vf_store(panel + r * k + j, vf_load_f16(w + r * k + j));
    for (int i = 0; i < m; i++)
        for (int o = 0; o < n; o++)
            y[(size_t)i * n + o] = b[o];
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1.0f, x, k, panel, k, 1.0f, y,
                n);
}

static double max_rel(const float *a, const float *ref, size_t n)
{
    double worst = 0, scale = 0;
    for (size_t i = 0; i < n; i++)
        scale = fabs(ref[i]) > scale ? fabs(ref[i]) : scale;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - ref[i]) / scale;
        worst = d > worst ? d : worst;
    }
    return worst;
}

int main(int argc, char **argv)
{
    int nt = argc > 1 ? atoi(argv[1]) : omp_get_num_procs();
    openblas_set_num_threads(nt);
    static const int shapes[][2] = {{384, 384}, {1536, 384}, {384, 1536}, {51865, 384},
                                    {2048, 512}, {51865, 512}};
    static const int ms[] = {1, 2, 4, 8, 16, 32};
    const int kmax = 2048, nmax = 51865, mmax = 32;
    uint16_t *w = malloc((size_t)nmax * kmax * 2);
    float *x = malloc((size_t)mmax * kmax * 4), *b = malloc((size_t)nmax * 4);
    float *y = malloc((size_t)mmax * nmax * 4), *yr = malloc((size_t)mmax * nmax * 4);
    float *panel = malloc((size_t)nmax * kmax * 4), *zero = calloc(kmax, 4);
    uint64_t s = 1;
    for (size_t i = 0; i < (size_t)nmax * kmax; i++) {
        s = s * 6364136223846793005ull + 1;
        w[i] = hark_f32_to_f16((float)((double)(s >> 40) / 8388608.0 - 1.0) * 0.05f);
    }
    for (int i = 0; i < mmax * kmax; i++)
        x[i] = (float)((i * 37 % 101) - 50) / 50.0f;
    for (int i = 0; i < nmax; i++)
        b[i] = (float)(i % 7) * 0.01f;

    /* validate on a small shape against the double reference */
    for (int v = 1; v <= 3; v++) {
        int n = 1000, k = 384, m = 5;
        gemv_ref(w, n, k, b, x, m, yr);
        if (v == 1)
            gemv_v1(w, n, k, b, x, m, y, nt);
        else if (v == 2)
            cpu_gemv_f16(w, n, k, b, x, k, m, y, n, zero, nt);
        else
            gemv_v3(w, n, k, b, x, m, y, nt, panel);
        printf("version %d: max error / max |y| = %.2e\n", v, max_rel(y, yr, (size_t)m * n));
    }

    printf("%6s %5s %3s | %10s %10s %10s  (GB/s of f16 weights; ms)\n", "N", "K", "M", "v1",
           "v2", "v3");
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
        int n = shapes[si][0], k = shapes[si][1];
        if (argc > 3 && (n != atoi(argv[2]) || k != atoi(argv[3])))
            continue; /* gemv_f16 THREADS N K: one shape only */
        for (size_t mi = 0; mi < sizeof ms / sizeof ms[0]; mi++) {
            int m = ms[mi];
            double gbs[3], msv[3];
            for (int v = 1; v <= 3; v++) {
                double t0 = hark_time_s(), best = 1e9;
                do {
                    double t1 = hark_time_s();
                    if (v == 1)
                        gemv_v1(w, n, k, b, x, m, y, nt);
                    else if (v == 2)
                        cpu_gemv_f16(w, n, k, b, x, k, m, y, n, zero, nt);
                    else
                        gemv_v3(w, n, k, b, x, m, y, nt, panel);
                    double dt = hark_time_s() - t1;
                    best = dt < best ? dt : best;
                } while (hark_time_s() - t0 < 0.2);
                msv[v - 1] = best * 1e3; /* best of the runs: the machine is shared */
                gbs[v - 1] = (double)n * k * 2 / best / 1e9;
            }
            printf("%6d %5d %3d | %5.1f %4.2f %5.1f %4.2f %5.1f %4.2f\n", n, k, m, gbs[0], msv[0],
                   gbs[1], msv[1], gbs[2], msv[2]);
        }
    }
    free(w), free(x), free(b), free(y), free(yr), free(panel), free(zero);
    return 0;
}
