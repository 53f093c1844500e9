/*
 * matmul.c — the CPU backend's matrix products, y = x W^T + b with W[N][K] as stored in the model
 * file (F16, F32, or int8 / int4 quantized: docs/quant.md).
 *
 * Two regimes (the choice and its threshold come from dev/cpu/gemv_f16.c):
 *  - small M (decoder steps): cpu_gemv_f16 streams every weight row once, widens it with F16C
 *    and multiplies it with all M activation rows while it sits in registers and L1. This is
 *    memory-bound, so the goal is to read the weights at the machine's bandwidth.
 *  - large M (encoder, prompts, wide batches): the F16 matrix is widened to fp32 into a panel
 *    (whole for every matrix but the vocabulary one, which goes in row panels) and handed to
 *    OpenBLAS sgemm, which is compute-bound there.
 * Quantized matrices take the same two roads: cpu_gemv_q decodes each weight row once per four
 * activation rows (int8 widened, int4 unpacked from nibbles, both in SIMD), and the panel is
 * filled by dequantizing.
 */
#include "backend/cpu/cpu.h"
#include "util/simd.h"

#include <cblas.h>
#include <string.h>

/* Shape legend: see cpu.h. */

/* Output rows per tile in the one-activation-row kernel; rows per tile and activation rows per
 * tile in the general kernel. */
#define ROWS1 1
#define TN 4
#define TM 4

/* y[0][n0..n0+ROWS1) for one activation row x[K]. */
static void gemv_tile_m1(const uint16_t *w, int n0, int k, const float *b, const float *x,
                         float *y)
{
    const uint16_t *r[ROWS1];
    vf acc[ROWS1];
    for (int j = 0; j < ROWS1; j++) {
        r[j] = w + (size_t)(n0 + j) * k;
        acc[j] = vf_set1(0.0f);
    }
    int kk = 0;
    for (; kk + VW <= k; kk += VW) {
        vf xv = vf_load(x + kk);
        for (int j = 0; j < ROWS1; j++)
            acc[j] = vf_fma(vf_load_f16(r[j] + kk), xv, acc[j]);
    }
    for (int j = 0; j < ROWS1; j++) {
        float s = vf_hsum(acc[j]);
        for (int t = kk; t < k; t++)
            s += hark_f16_to_f32(r[j][t]) * x[t];
        y[n0 + j] = s + (b ? b[n0 + j] : 0.0f);
    }
}

/* y[m0..m0+TM)[n0..n0+TN) for activation rows xr[TM] (padding rows point at zeros). */
static void gemv_tile_4x4(const uint16_t *w, int n0, int k, const float *b,
                          const float *const *xr, int mrows, float *y, int ldy)
{
    const uint16_t *r[TN];
    vf acc[TN][TM];
    for (int j = 0; j < TN; j++) {
        r[j] = w + (size_t)(n0 + j) * k;
        for (int i = 0; i < TM; i++)
            acc[j][i] = vf_set1(0.0f);
    }
    int kk = 0;
    for (; kk + VW <= k; kk += VW) {
        vf w0 = vf_load_f16(r[0] + kk), w1 = vf_load_f16(r[1] + kk);
        vf w2 = vf_load_f16(r[2] + kk), w3 = vf_load_f16(r[3] + kk);
        for (int i = 0; i < TM; i++) {
            vf xv = vf_load(xr[i] + kk);
            acc[0][i] = vf_fma(w0, xv, acc[0][i]);
            acc[1][i] = vf_fma(w1, xv, acc[1][i]);
            acc[2][i] = vf_fma(w2, xv, acc[2][i]);
            acc[3][i] = vf_fma(w3, xv, acc[3][i]);
        }
    }
    for (int i = 0; i < mrows; i++) {
        for (int j = 0; j < TN; j++) {
            float s = vf_hsum(acc[j][i]);
            for (int t = kk; t < k; t++)
                s += hark_f16_to_f32(r[j][t]) * xr[i][t];
            y[(size_t)i * ldy + n0 + j] = s + (b ? b[n0 + j] : 0.0f);
        }
    }
}

/* One output row n for all m activation rows (the tail of N). */
static void gemv_row(const uint16_t *w, int n0, int k, const float *b, const float *x, int ldx,
                     int m, float *y, int ldy)
{
    const uint16_t *r = w + (size_t)n0 * k;
    for (int i = 0; i < m; i++) {
        const float *xi = x + (size_t)i * ldx;
        vf acc = vf_set1(0.0f);
        int kk = 0;
        for (; kk + VW <= k; kk += VW)
            acc = vf_fma(vf_load_f16(r + kk), vf_load(xi + kk), acc);
        float s = vf_hsum(acc);
        for (; kk < k; kk++)
            s += hark_f16_to_f32(r[kk]) * xi[kk];
        y[(size_t)i * ldy + n0] = s + (b ? b[n0] : 0.0f);
    }
}

/* See cpu.h. zero_row holds at least k zeros (padding for partial tiles of activation rows). */
void cpu_gemv_f16(const uint16_t *w, int n, int k, const float *b, const float *x, int ldx,
                  int m, float *y, int ldy, const float *zero_row, int n_threads)
{
    if (m == 1) {
        int tiles = n / ROWS1;
#pragma omp parallel for num_threads(n_threads) schedule(static)
        for (int t = 0; t < tiles; t++)
            gemv_tile_m1(w, t * ROWS1, k, b, x, y);
        for (int r = tiles * ROWS1; r < n; r++)
            gemv_row(w, r, k, b, x, ldx, 1, y, ldy);
        return;
    }
    int tiles = n / TN;
#pragma omp parallel for num_threads(n_threads) schedule(static)
    for (int t = 0; t < tiles; t++) {
        for (int m0 = 0; m0 < m; m0 += TM) {
            const float *xr[TM];
            int mrows = m - m0 < TM ? m - m0 : TM;
            for (int i = 0; i < TM; i++)
                xr[i] = i < mrows ? x + (size_t)(m0 + i) * ldx : zero_row;
            gemv_tile_4x4(w, t * TN, k, b, xr, mrows, y + (size_t)m0 * ldy, ldy);
        }
    }
    for (int r = tiles * TN; r < n; r++)
        gemv_row(w, r, k, b, x, ldx, m, y, ldy);
}

/* ---- quantized weights (docs/quant.md): int8 with a scale per row, int4 with a scale per group
 * of at least 32 inputs (so a vector of VW <= 16 weights never straddles two groups). */

/* Weights [row][kk .. kk + VW) as float, unscaled: int8 (qbits 8), or int4 q (the row's or
 * group's scale is applied by the caller). */
static inline vf load_q_raw(const cpu_mat *w, int qbits, int row, int kk)
{
    if (qbits == 8)
        return vf_load_i8((const int8_t *)w->data + (size_t)row * w->k + kk);
    return vf_load_u4((const uint8_t *)w->data + (size_t)row * (w->k / 2) + kk / 2);
}

/* The same with int4's group scale applied, int8 without (its one row scale is applied to the
 * sum). */
static inline vf load_q(const cpu_mat *w, int row, int kk)
{
    if (w->qbits == 8)
        return load_q_raw(w, 8, row, kk);
    return load_q_raw(w, 4, row, kk) *
           vf_set1(w->scale[(size_t)row * (w->k / w->group) + kk / w->group]);
}

/* One weight as float, scaled like load_q (the tails of int8 rows). */
static inline float load_q1(const cpu_mat *w, int row, int t)
{
    if (w->qbits == 8)
        return (float)((const int8_t *)w->data)[(size_t)row * w->k + t];
    uint8_t byte = ((const uint8_t *)w->data)[(size_t)row * (w->k / 2) + t / 2];
    return (float)(((byte >> (4 * (t & 1))) & 15) - 8) *
           w->scale[(size_t)row * (w->k / w->group) + t / w->group];
}

/* y[i][row] for the m activation rows, four at a time, the weight row decoded once per four.
 * Scales are applied to sums, not weights: an int4 group's raw q . x sums in their own
 * accumulators, then one multiply by the group's scale; an int8 row is one group (per vector,
 * the scale's index and multiply cost as much as the unpacking). The loader guarantees int4
 * groups of whole vectors that divide k (k % group == 0, group % 32 == 0); int8 rows may end
 * in a tail shorter than a vector. qbits is a constant in each caller (gemv_q_row), so each
 * width gets its own loop. */
static inline __attribute__((always_inline)) void
gemv_q_row_of(const cpu_mat *w, const int qbits, int row, const float *b, const float *x, int ldx,
              int m, float *y, int ldy)
{
    const int k = w->k, group = qbits == 4 ? w->group : k, ng = k / group;
    const float *sr = w->scale + (size_t)row * ng;
    for (int m0 = 0; m0 < m; m0 += TM) {
        const int mr = m - m0 < TM ? m - m0 : TM;
        const float *xr = x + (size_t)m0 * ldx;
        vf acc[TM];
        for (int i = 0; i < TM; i++)
            acc[i] = vf_set1(0.0f);
        int kk = 0;
        for (int g = 0; g < ng; g++) {
            vf gacc[TM];
            for (int i = 0; i < TM; i++)
                gacc[i] = vf_set1(0.0f);
            for (kk = g * group; kk + VW <= (g + 1) * group; kk += VW) {
                const vf wv = load_q_raw(w, qbits, row, kk);
                for (int i = 0; i < mr; i++)
                    gacc[i] = vf_fma(wv, vf_load(xr + (size_t)i * ldx + kk), gacc[i]);
            }
            const vf sv = vf_set1(sr[g]);
            for (int i = 0; i < mr; i++)
                acc[i] = vf_fma(gacc[i], sv, acc[i]);
        }
        for (int i = 0; i < mr; i++) {
            float tail = 0.0f; /* int8 only: kk < k after the one group's whole vectors */
            for (int t = kk; t < k; t++)
                tail += load_q1(w, row, t) * xr[(size_t)i * ldx + t];
            y[(size_t)(m0 + i) * ldy + row] =
                vf_hsum(acc[i]) + tail * sr[0] + (b ? b[row] : 0.0f);
        }
    }
}

static void gemv_q_row(const cpu_mat *w, int row, const float *b, const float *x, int ldx, int m,
                       float *y, int ldy)
{
    if (w->qbits == 8)
        gemv_q_row_of(w, 8, row, b, x, ldx, m, y, ldy);
    else
        gemv_q_row_of(w, 4, row, b, x, ldx, m, y, ldy);
}

/* See cpu.h. */
void cpu_gemv_q(const cpu_mat *w, const float *b, const float *x, int ldx, int m, float *y,
                int ldy, int n_threads)
{
#pragma omp parallel for num_threads(n_threads) schedule(static)
    for (int r = 0; r < w->n; r++)
        gemv_q_row(w, r, b, x, ldx, m, y, ldy);
}

/* dst[rows][k] = rows n0 .. n0 + rows of a quantized matrix as fp32, in parallel. */
static void dequant_rows(const cpu_mat *w, int n0, int rows, float *dst, int n_threads)
{
    const int k = w->k;
#pragma omp parallel for num_threads(n_threads) schedule(static)
    for (int r = 0; r < rows; r++) {
        const int row = n0 + r;
        const float rs = w->qbits == 8 ? w->scale[row] : 1.0f;
        float *d = dst + (size_t)r * k;
        int kk = 0;
        for (; kk + VW <= k; kk += VW)
            vf_store(d + kk, load_q(w, row, kk) * vf_set1(rs));
        for (; kk < k; kk++)
            d[kk] = load_q1(w, row, kk) * rs;
    }
}

/* dst[rows][k] = widened src rows, in parallel. */
static void widen_rows(const uint16_t *src, size_t rows, int k, float *dst, int n_threads)
{
#pragma omp parallel for num_threads(n_threads) schedule(static)
    for (size_t r = 0; r < rows; r++) {
        const uint16_t *s = src + r * k;
        float *d = dst + r * k;
        int kk = 0;
        for (; kk + VW <= k; kk += VW)
            vf_store(d + kk, vf_load_f16(s + kk));
        for (; kk < k; kk++)
            d[kk] = hark_f16_to_f32(s[kk]);
    }
}

/* y[m][n0..n0+nb) = x Wp^T (+ bias) with Wp [nb, K] fp32. */
static void sgemm_panel(const float *wp, int nb, int k, const float *b, const float *x, int ldx,
                        int m, float *y, int ldy)
{
    float beta = 0.0f;
    if (b) {
        for (int i = 0; i < m; i++)
            memcpy(y + (size_t)i * ldy, b, (size_t)nb * sizeof(float));
        beta = 1.0f;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, nb, k, 1.0f, x, ldx, wp, k, beta, y,
                ldy);
}

/* See cpu.h. */
void cpu_linear(const cpu_ctx *c, const cpu_mat *w, const float *b, const float *x, int ldx,
                int m, float *y, int ldy)
{
    if (m <= 0)
        return;
    if (w->dtype == HARK_DTYPE_F32) {
        sgemm_panel(w->data, w->n, w->k, b, x, ldx, m, y, ldy);
        return;
    }
    if (w->qbits && m < CPU_GEMM_MIN_ROWS) {
        cpu_gemv_q(w, b, x, ldx, m, y, ldy, c->n_threads);
        return;
    }
    const uint16_t *w16 = w->data;
    if (!w->qbits && m < CPU_GEMM_MIN_ROWS) {
        cpu_gemv_f16(w16, w->n, w->k, b, x, ldx, m, y, ldy, c->zero_row, c->n_threads);
        return;
    }
    int panel_rows = (int)(c->w->max_nk / (size_t)w->k);
    if (panel_rows > w->n)
        panel_rows = w->n;
    for (int n0 = 0; n0 < w->n; n0 += panel_rows) {
        int nb = w->n - n0 < panel_rows ? w->n - n0 : panel_rows;
        if (w->qbits)
            dequant_rows(w, n0, nb, c->panel, c->n_threads);
        else
            widen_rows(w16 + (size_t)n0 * w->k, (size_t)nb, w->k, c->panel, c->n_threads);
        sgemm_panel(c->panel, nb, w->k, b ? b + n0 : NULL, x, ldx, m, y + n0, ldy);
    }
}
