/*
 * test_kernels.c — checks every launcher of src/backend/cuda/kernels.h except the encoder's
 * attention against plain double-precision CPU references written here, for each element type
 * (f32, f16, bf16), on fresh random inputs: relative L2 error <= 1e-6 (f32), 2e-3 (f16),
 * 1e-2 (bf16), exact for argmax, raw copies and conversions; 1e-4 for the log-mel (fp32). Every
 * output is poisoned with NaN bytes before the launch and checked to be fully written.
 * `test_kernels --bench` also times the decode attention, layer norm and the log-mel.
 *
 * Needs a CUDA GPU. Shape legend as kernels.h: B windows, L frames, M mels, C positions, D width,
 * H heads, E head width, R rows, V vocabulary, S block size, MB max blocks per sequence.
 */
#include "cuda_test.h"

#include <cuda_runtime_api.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif


/* ---------------------------------------------------------------- elementwise ---------------- */

/* cu_gemv against a double reference: y[m][n] = x W^T + b (+ y), the split-K path for k >= 2048
 * and the plain one below, GELU or accumulate, fp32 or dt output. */
static void test_gemv(hark_dtype dt, int m, int n, int k, int gelu, int accumulate, int out_f32)
{
    size_t nx = (size_t)m * k, nw = (size_t)n * k, ny = (size_t)m * n;
    float *x = xmalloc(nx * 4), *w = xmalloc(nw * 4), *b = xmalloc((size_t)n * 4), *y0 = xmalloc(ny * 4);
    fill_rand(x, nx, 1.0f, 0.0f);
    fill_rand(w, nw, 0.05f, 0.0f);
    fill_rand(b, (size_t)n, 0.5f, 0.0f);
    fill_rand(y0, ny, 1.0f, 0.0f);
    void *dx = upload(dt, x, nx), *dw = upload(dt, w, nw), *db = upload(dt, b, (size_t)n);
    hark_dtype odt = out_f32 ? HARK_DTYPE_F32 : dt;
    void *dy = accumulate ? upload(odt, y0, ny) : poisoned(odt, ny);
    /* the reference sees what the device sees: inputs rounded to dt */
    float *xr = download(dt, dx, nx), *wr = download(dt, dw, nw), *br = download(dt, db, (size_t)n);
    float *y0r = accumulate ? download(odt, dy, ny) : NULL;
    cu_gemv_args a = { .dt = dt, .x = dx, .ldx = k, .m = m, .w = dw, .b = db, .n = n, .k = k,
                       .y = dy, .ldy = n, .accumulate = accumulate, .out_f32 = out_f32,
                       .gelu = gelu };
    CHECK_CU(cu_gemv(&a, stream));
    float *y = download(odt, dy, ny);
    double *ref = xmalloc(ny * sizeof(double));
    for (int i = 0; i < m; i++)
        for (int r = 0; r < n; r++) {
            double v = br[r];
            for (int j = 0; j < k; j++)
                v += (double)xr[(size_t)i * k + j] * wr[(size_t)r * k + j];
            if (gelu)
                v = gelu_d(v);
            if (accumulate)
                v += y0r[(size_t)i * n + r];
            ref[(size_t)i * n + r] = v;
        }
    char what[96];
    snprintf(what, sizeof(what), "gemv m%d n%d k%d%s%s%s", m, n, k, gelu ? " gelu" : "",
             accumulate ? " acc" : "", out_f32 ? " f32out" : "");
    compare(what, dt, y, ref, ny, tol_of(dt));
    free(x), free(w), free(b), free(y0), free(xr), free(wr), free(br), free(y0r), free(y), free(ref);
    cudaFree(dx), cudaFree(dw), cudaFree(db), cudaFree(dy);
}

static void test_layer_norm(hark_dtype dt, int rows, int d)
{
    size_t n = (size_t)rows * d;
    float *x = xmalloc(n * 4), *g = xmalloc((size_t)d * 4), *b = xmalloc((size_t)d * 4);
    fill_rand(x, n, 2.0f, 3.0f);
    fill_rand(g, (size_t)d, 1.0f, 0.5f);
    fill_rand(b, (size_t)d, 0.5f, 0.0f);
    void *dx = upload(dt, x, n), *dg = upload(dt, g, (size_t)d), *db = upload(dt, b, (size_t)d);
    void *dy = poisoned(dt, n);
    CHECK_CU(cu_layer_norm(dt, dx, dg, db, dy, rows, d, stream));
    float *y = download(dt, dy, n);
    double *ref = xmalloc(n * sizeof(double));
    for (int r = 0; r < rows; r++)
        layer_norm_ref(x + (size_t)r * d, d, g, b, ref + (size_t)r * d);
    char what[64];
    snprintf(what, sizeof(what), "layer_norm %dx%d", rows, d);
    compare(what, dt, y, ref, n, tol_of(dt));
    free(x), free(g), free(b), free(y), free(ref);
    cudaFree(dx), cudaFree(dg), cudaFree(db), cudaFree(dy);
}

static void test_gelu(hark_dtype dt, int n_win, int c, int d, int with_pos)
{
    size_t n = (size_t)n_win * c * d, np = (size_t)c * d;
    float *x = xmalloc(n * 4), *pos = xmalloc(np * 4);
    fill_rand(x, n, 4.0f, 0.0f);
    fill_rand(pos, np, 1.0f, 0.0f);
    void *dx = upload(dt, x, n), *dp = upload(dt, pos, np);
    if (with_pos)
        CHECK_CU(cu_gelu_add_pos(dt, dx, dp, n_win, c, d, stream));
    else
        CHECK_CU(cu_gelu(dt, dx, (long)n, stream));
    float *y = download(dt, dx, n);
    double *ref = xmalloc(n * sizeof(double));
    for (size_t i = 0; i < n; i++)
        ref[i] = gelu_d(x[i]) + (with_pos ? pos[i % np] : 0.0);
    char what[64];
    snprintf(what, sizeof(what), "%s %dx%dx%d", with_pos ? "gelu_add_pos" : "gelu", n_win, c, d);
    compare(what, dt, y, ref, n, tol_of(dt));
    free(x), free(pos), free(y), free(ref);
    cudaFree(dx), cudaFree(dp);
}

static void test_im2col_mel(hark_dtype dt, int n_win, int m, int l)
{
    size_t n = (size_t)n_win * m * l, no = (size_t)n_win * l * m * 3;
    float *mel = xmalloc(n * 4);
    fill_rand(mel, n, 1.0f, 0.0f);
    void *dm = upload_bytes(mel, n * 4), *dout = poisoned(dt, no);
    CHECK_CU(cu_im2col_mel(dt, dm, dout, n_win, m, l, stream));
    float *got = download(dt, dout, no);
    float *ref32 = xmalloc(no * 4);
    for (int b = 0; b < n_win; b++)
        for (int t = 0; t < l; t++)
            for (int mi = 0; mi < m; mi++)
                for (int k = 0; k < 3; k++) {
                    int ti = t + k - 1;
                    ref32[(((size_t)b * l + t) * m + mi) * 3 + k] =
                        ti >= 0 && ti < l ? mel[((size_t)b * m + mi) * l + ti] : 0.0f;
                }
    void *raw = xmalloc(no * dt_size(dt));
    encode(dt, ref32, no, raw); /* the exact expected values after rounding to dt */
    size_t bad = 0;
    for (size_t i = 0; i < no; i++)
        bad += memcmp(&got[i], &ref32[i], 4) != 0;
    CHECK(bad == 0, "im2col_mel %s B%d M%d L%d: %zu of %zu wrong", DT_NAME[dt], n_win, m, l, bad,
          no);
    free(mel), free(got), free(ref32), free(raw);
    cudaFree(dm), cudaFree(dout);
}

static void test_im2col_t(hark_dtype dt, int n_win, int lin, int cin, int stride)
{
    int lout = (lin + 2 - 3) / stride + 1;
    size_t n = (size_t)n_win * lin * cin, no = (size_t)n_win * lout * cin * 3;
    float *x = xmalloc(n * 4);
    fill_rand(x, n, 1.0f, 0.0f);
    void *dx = upload(dt, x, n), *dout = poisoned(dt, no);
    CHECK_CU(cu_im2col_t(dt, dx, dout, n_win, lin, cin, stride, lout, stream));
    float *got = download(dt, dout, no);
    size_t bad = 0;
    for (int b = 0; b < n_win; b++)
        for (int t = 0; t < lout; t++)
            for (int c = 0; c < cin; c++)
                for (int k = 0; k < 3; k++) {
                    int ti = t * stride + k - 1;
                    float want = ti >= 0 && ti < lin ? x[((size_t)b * lin + ti) * cin + c] : 0.0f;
                    float g = got[(((size_t)b * lout + t) * cin + c) * 3 + k];
                    bad += memcmp(&g, &want, 4) != 0;
                }
    CHECK(bad == 0, "im2col_t %s B%d Lin%d Cin%d s%d: %zu of %zu wrong", DT_NAME[dt], n_win, lin,
          cin, stride, bad, no);
    free(x), free(got);
    cudaFree(dx), cudaFree(dout);
}

static void test_embed(hark_dtype dt, int rows, int d)
{
    const int n_vocab = 97, n_ctx = 40;
    float *tok = xmalloc((size_t)n_vocab * d * 4), *pos = xmalloc((size_t)n_ctx * d * 4);
    fill_rand(tok, (size_t)n_vocab * d, 1.0f, 0.0f);
    fill_rand(pos, (size_t)n_ctx * d, 0.1f, 0.0f);
    int32_t *ids = xmalloc((size_t)rows * 4), *ps = xmalloc((size_t)rows * 4);
    for (int r = 0; r < rows; r++) {
        ids[r] = (r * 37 + 5) % n_vocab;
        ps[r] = (r * 7) % n_ctx;
    }
    void *dt_tok = upload(dt, tok, (size_t)n_vocab * d), *dt_pos = upload(dt, pos, (size_t)n_ctx * d);
    void *di = upload_bytes(ids, (size_t)rows * 4), *dp = upload_bytes(ps, (size_t)rows * 4);
    void *dx = poisoned(dt, (size_t)rows * d);
    CHECK_CU(cu_embed(dt, dt_tok, dt_pos, di, dp, dx, rows, d, stream));
    float *got = download(dt, dx, (size_t)rows * d);
    double *ref = xmalloc((size_t)rows * d * sizeof(double));
    for (int r = 0; r < rows; r++)
        for (int j = 0; j < d; j++)
            ref[(size_t)r * d + j] =
                (double)tok[(size_t)ids[r] * d + j] + pos[(size_t)ps[r] * d + j];
    char what[64];
    snprintf(what, sizeof(what), "embed %dx%d", rows, d);
    compare(what, dt, got, ref, (size_t)rows * d, tol_of(dt));
    free(tok), free(pos), free(ids), free(ps), free(got), free(ref);
    cudaFree(dt_tok), cudaFree(dt_pos), cudaFree(di), cudaFree(dp), cudaFree(dx);
}

static void test_kv_write(hark_dtype dt, int rows, int d, int ld)
{
    const int n_slots = 64;
    size_t np = (size_t)n_slots * d, nk = (size_t)rows * ld;
    float *k = xmalloc(nk * 4), *v = xmalloc(nk * 4), *kp = xmalloc(np * 4), *vp = xmalloc(np * 4);
    fill_rand(k, nk, 1.0f, 0.0f);
    fill_rand(v, nk, 1.0f, 0.0f);
    fill_rand(kp, np, 1.0f, 0.0f);
    fill_rand(vp, np, 1.0f, 0.0f);
    int32_t *slot = xmalloc((size_t)rows * 4);
    for (int r = 0; r < rows; r++)
        slot[r] = r % 3 == 1 ? -1 : (r * 13 + 3) % n_slots;
    void *dk = upload(dt, k, nk), *dv = upload(dt, v, nk), *dkp = upload(dt, kp, np),
         *dvp = upload(dt, vp, np), *ds = upload_bytes(slot, (size_t)rows * 4);
    CHECK_CU(cu_kv_write(dt, dk, dv, ld, dkp, dvp, ds, rows, d, stream));
    for (int r = 0; r < rows; r++)
        if (slot[r] >= 0) {
            memcpy(kp + (size_t)slot[r] * d, k + (size_t)r * ld, (size_t)d * 4);
            memcpy(vp + (size_t)slot[r] * d, v + (size_t)r * ld, (size_t)d * 4);
        }
    float *gk = download(dt, dkp, np), *gv = download(dt, dvp, np);
    CHECK(!memcmp(gk, kp, np * 4) && !memcmp(gv, vp, np * 4), "kv_write %s %dx%d ld %d differs",
          DT_NAME[dt], rows, d, ld);
    free(k), free(v), free(kp), free(vp), free(slot), free(gk), free(gv);
    cudaFree(dk), cudaFree(dv), cudaFree(dkp), cudaFree(dvp), cudaFree(ds);
}

static void test_argmax(int rows, int v, int limit)
{
    float *x = xmalloc((size_t)rows * v * 4);
    fill_rand(x, (size_t)rows * v, 10.0f, 0.0f);
    int32_t want[16];
    for (int r = 0; r < rows && r < 16; r++) {
        float *row = x + (size_t)r * v;
        if (r % 2 == 0) { /* a tie between two ids (and a larger value past the limit) */
            int a = (r * 7919) % limit, b = limit - 1 - (r * 31) % (limit / 2);
            row[a] = row[b] = 20.0f;
            if (limit < v)
                row[v - 1] = 30.0f;
        }
        if (r == 3)
            for (int t = 0; t < limit; t++)
                row[t] = -INFINITY;
        int best = 0;
        for (int t = 1; t < limit; t++)
            if (row[t] > row[best])
                best = t;
        want[r] = best;
    }
    void *dx = upload_bytes(x, (size_t)rows * v * 4);
    int32_t *dout = dmalloc((size_t)rows * 4), got[16];
    cudaMemset(dout, 0xFF, (size_t)rows * 4);
    CHECK_CU(cu_argmax(dx, v, limit, dout, rows, stream));
    cudaStreamSynchronize(stream);
    cudaMemcpy(got, dout, (size_t)rows * 4, cudaMemcpyDeviceToHost);
    int bad = 0;
    for (int r = 0; r < rows; r++)
        bad += got[r] != want[r];
    CHECK(bad == 0, "argmax %dx%d limit %d: %d rows wrong (row 0: %d want %d)", rows, v, limit, bad,
          got[0], want[0]);
    free(x);
    cudaFree(dx), cudaFree(dout);
}

static void test_convert(hark_dtype dt, long n)
{
    float *x = xmalloc((size_t)n * 4);
    fill_rand(x, (size_t)n, 100.0f, 0.0f);
    x[0] = 1e-6f; /* subnormal in half */
    float *rounded = xmalloc((size_t)n * 4);
    memcpy(rounded, x, (size_t)n * 4);
    void *raw = xmalloc((size_t)n * dt_size(dt));
    encode(dt, rounded, (size_t)n, raw);
    void *dx = upload_bytes(x, (size_t)n * 4), *dy = poisoned(dt, (size_t)n);
    float *dz = dmalloc((size_t)n * 4);
    cudaMemset(dz, 0xFF, (size_t)n * 4);
    CHECK_CU(cu_from_f32(dt, dx, dy, n, stream));
    CHECK_CU(cu_to_f32(dt, dy, dz, n, stream));
    void *graw = xmalloc((size_t)n * dt_size(dt));
    float *back = xmalloc((size_t)n * 4);
    cudaStreamSynchronize(stream);
    cudaMemcpy(graw, dy, (size_t)n * dt_size(dt), cudaMemcpyDeviceToHost);
    cudaMemcpy(back, dz, (size_t)n * 4, cudaMemcpyDeviceToHost);
    CHECK(!memcmp(graw, raw, (size_t)n * dt_size(dt)), "from_f32 %s n %ld: bits differ",
          DT_NAME[dt], n);
    CHECK(!memcmp(back, rounded, (size_t)n * 4), "to_f32 %s n %ld: values differ", DT_NAME[dt], n);
    free(x), free(rounded), free(raw), free(graw), free(back);
    cudaFree(dx), cudaFree(dy), cudaFree(dz);
}

/* ---------------------------------------------------------------- attention ------------------ */

/* out[e] = sum_p softmax_p(q . k_p * scale) v_p[e] over n keys at rows krow(p) (double). */
static void attend_ref(const float *q, const float *kmat, const float *vmat, const long *rows_of,
                       int n, int d, int e_w, double scale, double *out)
{
    double mx = -INFINITY, *w = xmalloc((size_t)(n > 0 ? n : 1) * sizeof(double));
    for (int p = 0; p < n; p++) {
        double s = 0;
        for (int e = 0; e < e_w; e++)
            s += (double)q[e] * kmat[rows_of[p] * d + e];
        w[p] = s * scale;
        mx = w[p] > mx ? w[p] : mx;
    }
    double sum = 0;
    for (int p = 0; p < n; p++)
        sum += (w[p] = exp(w[p] - mx));
    for (int e = 0; e < e_w; e++) {
        double a = 0;
        for (int p = 0; p < n; p++)
            a += w[p] * vmat[rows_of[p] * d + e];
        out[e] = n > 0 ? a / sum : 0.0;
    }
    free(w);
}

/* The cross-attention reference for every (row, head): row r attends to all c positions of
 * window win[r] (K and V [window][c][d] at win_stride floats apart), none when win[r] < 0. */
static void cross_ref(const float *q, int ldq, const float *ck, const float *cv, long win_stride,
                      const int32_t *win, int rows, int c, int h, int e_w, double *ref)
{
    const int d = h * e_w;
    const float scale = 1.0f / sqrtf((float)e_w); /* as the kernels get it */
    long *rows_of = xmalloc((size_t)(c > 0 ? c : 1) * sizeof(long));
    for (int p = 0; p < c; p++)
        rows_of[p] = p;
    for (int r = 0; r < rows; r++)
        for (int hh = 0; hh < h; hh++) {
            size_t off = (size_t)(win[r] < 0 ? 0 : win[r]) * win_stride + hh * e_w;
            attend_ref(q + (size_t)r * ldq + hh * e_w, ck + off, cv + off, rows_of,
                       win[r] < 0 ? 0 : c, d, e_w, scale, ref + (size_t)r * d + hh * e_w);
        }
    free(rows_of);
}

static void test_self_attention(hark_dtype dt, int rows, int h, int e_w, int blk)
{
    const int max_len = 448, mb = (max_len + blk - 1) / blk, nb = rows * mb + 3;
    int d = h * e_w, ldq = 3 * d;
    size_t npool = (size_t)nb * blk * d, nq = (size_t)rows * ldq;
    float *q = xmalloc(nq * 4), *kp = xmalloc(npool * 4), *vp = xmalloc(npool * 4);
    fill_rand(q, nq, 2.0f, 0.0f);
    fill_rand(kp, npool, 1.0f, 0.0f);
    fill_rand(vp, npool, 1.0f, 0.0f);
    int32_t *table = xmalloc((size_t)rows * mb * 4), *len = xmalloc((size_t)rows * 4);
    for (int i = 0; i < rows * mb; i++) /* a scrambled assignment of blocks */
        table[i] = (int32_t)(((long)i * 7 + 2) % nb);
    const int lens[6] = {17, 0, 448, 1, 100, 33};
    for (int r = 0; r < rows; r++)
        len[r] = lens[r % 6];
    void *dq = upload(dt, q, nq), *dk = upload(dt, kp, npool), *dv = upload(dt, vp, npool);
    void *dtab = upload_bytes(table, (size_t)rows * mb * 4), *dlen = upload_bytes(len, (size_t)rows * 4);
    void *dout = poisoned(dt, (size_t)rows * d);
    float scale = 1.0f / sqrtf((float)e_w);
    CHECK_CU(cu_self_attention_paged(dt, dq, ldq, dk, dv, dtab, mb, blk, dlen, dout, rows, d, h,
                                     scale, stream));
    float *got = download(dt, dout, (size_t)rows * d);
    double *ref = xmalloc((size_t)rows * d * sizeof(double));
    long *rows_of = xmalloc((size_t)max_len * sizeof(long));
    for (int r = 0; r < rows; r++) {
        for (int p = 0; p < len[r]; p++)
            rows_of[p] = (long)table[r * mb + p / blk] * blk + p % blk;
        for (int hh = 0; hh < h; hh++)
            attend_ref(q + (size_t)r * ldq + hh * e_w, kp + hh * e_w, vp + hh * e_w, rows_of,
                       len[r], d, e_w, scale, ref + (size_t)r * d + hh * e_w);
    }
    char what[80];
    snprintf(what, sizeof(what), "self_attention R%d H%d E%d S%d", rows, h, e_w, blk);
    compare(what, dt, got, ref, (size_t)rows * d, tol_of(dt));
    free(q), free(kp), free(vp), free(table), free(len), free(got), free(ref), free(rows_of);
    cudaFree(dq), cudaFree(dk), cudaFree(dv), cudaFree(dtab), cudaFree(dlen), cudaFree(dout);
}

/* Development hook of src/backend/cuda/attention_encoder.cu (not in kernels.h): 1 forces the
 * mma.sync kernel, 2 the wgmma kernel (Hopper builds), 0 restores the policy. */
void cu_encoder_attention_tune(int variant);

/* cu_encoder_attention: every window's positions attend to all C positions of that window
 * (qkv [B][C][3D], q at column 0, k at D, v at 2D). On Hopper builds the f16/bf16 E = 64
 * shapes take the wgmma kernel, elsewhere the mma.sync one; E != 64 and f32 the simple one. */
static void test_encoder_attention(hark_dtype dt, int n_win, int c, int h, int e_w, float scale)
{
    const int d = h * e_w;
    const size_t nq = (size_t)n_win * c * 3 * d, no = (size_t)n_win * c * d;
    float *qkv = xmalloc(nq * 4);
    fill_rand(qkv, nq, 2.0f, 0.0f);
    void *dqkv = upload(dt, qkv, nq), *dout = poisoned(dt, no);
    float *rounded = download(dt, dqkv, nq); /* the reference sees the values the kernel reads */
    CHECK_CU(cu_encoder_attention(dt, dqkv, dout, n_win, c, d, h, scale, stream));
    float *got = download(dt, dout, no);
    double *ref = xmalloc(no * sizeof(double));
    long *rows_of = xmalloc((size_t)c * sizeof(long));
    for (int p = 0; p < c; p++)
        rows_of[p] = p;
    for (int b = 0; b < n_win; b++)
        for (int t = 0; t < c; t++)
            for (int hh = 0; hh < h; hh++) {
                const float *w = rounded + (size_t)b * c * 3 * d + hh * e_w;
                attend_ref(w + (size_t)t * 3 * d, w + d, w + 2 * d, rows_of, c, 3 * d, e_w, scale,
                           ref + ((size_t)b * c + t) * d + hh * e_w);
            }
    char what[80];
    snprintf(what, sizeof(what), "encoder_attention B%d C%d H%d E%d scale %g", n_win, c, h, e_w,
             scale);
    compare(what, dt, got, ref, no, dt == HARK_DTYPE_F32 ? 1e-5 : tol_of(dt));
    free(qkv), free(rounded), free(got), free(ref), free(rows_of);
    cudaFree(dqkv), cudaFree(dout);
}

/* Development hook of src/backend/cuda/attention_decode.cu (not in kernels.h): forces the
 * cross-attention kernel variant, cluster size and block size; zeros restore the policy. */
void cu_cross_attention_tune(int variant, int cs, int threads);

static void test_cross_attention(hark_dtype dt, int rows, int c, int h, int e_w)
{
    const int n_win = 2;
    int d = h * e_w, ldq = d + 8;
    long win_stride = (long)c * d + 64;
    size_t nkv = (size_t)n_win * win_stride, nq = (size_t)rows * ldq;
    float *q = xmalloc(nq * 4), *ck = xmalloc(nkv * 4), *cv = xmalloc(nkv * 4);
    fill_rand(q, nq, 3.0f, 0.0f);
    fill_rand(ck, nkv, 1.0f, 0.0f);
    fill_rand(cv, nkv, 1.0f, 0.0f);
    int32_t *win = xmalloc((size_t)rows * 4);
    const int wins[4] = {1, -1, 0, 1};
    for (int r = 0; r < rows; r++)
        win[r] = wins[r % 4];
    void *dq = upload(dt, q, nq), *dk = upload(dt, ck, nkv), *dv = upload(dt, cv, nkv);
    void *dwin = upload_bytes(win, (size_t)rows * 4), *dout = poisoned(dt, (size_t)rows * d);
    float scale = 1.0f / sqrtf((float)e_w);
    CHECK_CU(cu_cross_attention(dt, dq, ldq, dk, dv, win_stride, dwin, dout, rows, c, d, h, scale,
                                stream));
    float *got = download(dt, dout, (size_t)rows * d);
    double *ref = xmalloc((size_t)rows * d * sizeof(double));
    cross_ref(q, ldq, ck, cv, win_stride, win, rows, c, h, e_w, ref);
    char what[80];
    snprintf(what, sizeof(what), "cross_attention R%d C%d H%d E%d", rows, c, h, e_w);
    compare(what, dt, got, ref, (size_t)rows * d, tol_of(dt));
    free(q), free(ck), free(cv), free(got), free(ref), free(win);
    cudaFree(dq), cudaFree(dk), cudaFree(dv), cudaFree(dwin), cudaFree(dout);
}

/* int8 / int4 cross K/V: cu_quantize_kv (each value within half a step of its head's scale)
 * and cu_cross_attention_q against the double reference on the dequantised keys and values. */
static void test_cross_attention_q(hark_dtype dt, int bits, int rows, int c, int h, int e_w)
{
    const int n_win = 2, d = h * e_w, ldq = d + 8;
    const size_t nkv = (size_t)n_win * c * d, nq = (size_t)rows * ldq, ns = (size_t)n_win * c * h;
    float *q = xmalloc(nq * 4), *ck = xmalloc(nkv * 4), *cv = xmalloc(nkv * 4);
    fill_rand(q, nq, 3.0f, 0.0f);
    fill_rand(ck, nkv, 1.0f, 0.0f);
    fill_rand(cv, nkv, 2.0f, 0.5f);
    for (int j = 0; j < e_w; j++) /* one head of zeros: scale 0 */
        ck[j] = cv[j] = 0.0f;
    int32_t *win = xmalloc((size_t)rows * 4);
    const int wins[4] = { 1, -1, 0, 1 };
    for (int r = 0; r < rows; r++)
        win[r] = wins[r % 4];
    void *dq = upload(dt, q, nq), *dk = upload(dt, ck, nkv), *dv = upload(dt, cv, nkv);
    float *kr = download(dt, dk, nkv), *vr = download(dt, dv, nkv); /* as the device has them */
    const size_t nb = nkv * (size_t)bits / 8;
    uint8_t *k8 = dmalloc(nb), *v8 = dmalloc(nb);
    float *ks = dmalloc(ns * 4), *vs = dmalloc(ns * 4);
    CHECK_CU(cu_quantize_kv(dt, bits, dk, n_win, c, d, h, k8, ks, stream));
    CHECK_CU(cu_quantize_kv(dt, bits, dv, n_win, c, d, h, v8, vs, stream));
    uint8_t *hk = xmalloc(nb), *hv = xmalloc(nb);
    float *hks = xmalloc(ns * 4), *hvs = xmalloc(ns * 4);
    cudaStreamSynchronize(stream);
    cudaMemcpy(hk, k8, nb, cudaMemcpyDeviceToHost);
    cudaMemcpy(hv, v8, nb, cudaMemcpyDeviceToHost);
    cudaMemcpy(hks, ks, ns * 4, cudaMemcpyDeviceToHost);
    cudaMemcpy(hvs, vs, ns * 4, cudaMemcpyDeviceToHost);
    float *dqk = xmalloc(nkv * 4), *dqv = xmalloc(nkv * 4);
    int within = 1;
    for (size_t i = 0; i < nkv; i++) { /* the head-major layout [W][H][C][E], scales [W][H][C] */
        size_t row = i / (size_t)d, col = i % (size_t)d, w = row / (size_t)c, p = row % (size_t)c;
        size_t hd = col / (size_t)e_w, j = col % (size_t)e_w, g = (w * h + hd) * c + p;
        if (bits == 8) {
            dqk[i] = (int8_t)hk[g * e_w + j] * hks[g], dqv[i] = (int8_t)hv[g * e_w + j] * hvs[g];
        } else { /* stored q + 8, element 2j in the low nibble of byte j */
            const size_t at = g * (e_w / 2) + j / 2, sh = 4 * (j % 2);
            dqk[i] = (float)(((hk[at] >> sh) & 15) - 8) * hks[g];
            dqv[i] = (float)(((hv[at] >> sh) & 15) - 8) * hvs[g];
        }
        within &= fabsf(dqk[i] - kr[i]) <= 0.5001f * hks[g] + 1e-6f &&
                  fabsf(dqv[i] - vr[i]) <= 0.5001f * hvs[g] + 1e-6f;
    }
    CHECK(within, "quantize int%d %s: a value off by more than half a step", bits, DT_NAME[dt]);
    void *dwin = upload_bytes(win, (size_t)rows * 4), *dout = poisoned(dt, (size_t)rows * d);
    float scale = 1.0f / sqrtf((float)e_w);
    CHECK_CU(cu_cross_attention_q(dt, bits, dq, ldq, k8, v8, ks, vs, dwin, dout, rows, c, d, h,
                                  scale, stream));
    float *got = download(dt, dout, (size_t)rows * d);
    double *ref = xmalloc((size_t)rows * d * sizeof(double));
    if (bits == 4) /* the kernel's int8 query: each 32 values of a head quantized with one scale */
        for (int r = 0; r < rows; r++)
            for (int j0 = 0; j0 < d; j0 += 32) {
                float *qr = q + (size_t)r * ldq + j0, qs = scale * 1.4426950408889634f, qa = 0;
                for (int j = 0; j < 32; j++)
                    qa = fmaxf(qa, fabsf(qr[j] * qs));
                const float inv = qa > 0 ? 127.0f / qa : 0.0f, qsc = qa / 127.0f;
                for (int j = 0; j < 32; j++)
                    qr[j] = rintf(qr[j] * qs * inv) * qsc / qs;
            }
    cross_ref(q, ldq, dqk, dqv, (long)c * d, win, rows, c, h, e_w, ref);
    char what[80];
    snprintf(what, sizeof(what), "cross_attention int%d R%d C%d H%d E%d", bits, rows, c, h, e_w);
    compare(what, dt, got, ref, (size_t)rows * d, tol_of(dt));
    free(q), free(ck), free(cv), free(kr), free(vr), free(hk), free(hv), free(hks), free(hvs);
    free(dqk), free(dqv), free(got), free(ref), free(win);
    cudaFree(dq), cudaFree(dk), cudaFree(dv), cudaFree(k8), cudaFree(v8), cudaFree(ks);
    cudaFree(vs), cudaFree(dwin), cudaFree(dout);
}

/* ---------------------------------------------------------------- log-mel -------------------- */

static double hz_to_mel_d(double hz)
{
    return hz < 1000.0 ? hz * 3.0 / 200.0 : 15.0 + log(hz / 1000.0) * 27.0 / log(6.4);
}

static double mel_to_hz_d(double m)
{
    return m < 15.0 ? m * 200.0 / 3.0 : 1000.0 * exp((m - 15.0) * log(6.4) / 27.0);
}

/* The log-mel of one window by a direct DFT in double (ref: openai/whisper audio.py
 * log_mel_spectrogram; slaney filters as librosa). out[M][3000]. */
static void log_mel_ref(const float *pcm, int n_mels, double *out)
{
    enum { N = 400, K = 201, T = 3000 };
    double win[N], cs[N], sn[N], x[N];
    for (int n = 0; n < N; n++) {
        win[n] = 0.5 - 0.5 * cos(2 * M_PI * n / N);
        cs[n] = cos(2 * M_PI * n / N);
        sn[n] = sin(2 * M_PI * n / N);
    }
    double *fb = xmalloc((size_t)n_mels * K * sizeof(double)), *pw = xmalloc(K * sizeof(double));
    double top = hz_to_mel_d(8000.0);
    for (int i = 0; i < n_mels; i++) {
        double e0 = mel_to_hz_d(top * i / (n_mels + 1)), e1 = mel_to_hz_d(top * (i + 1) / (n_mels + 1));
        double e2 = mel_to_hz_d(top * (i + 2) / (n_mels + 1));
        for (int k = 0; k < K; k++) {
            double f = k * 40.0, w = fmin((f - e0) / (e1 - e0), (e2 - f) / (e2 - e1));
            fb[(size_t)i * K + k] = w > 0 ? w * 2.0 / (e2 - e0) : 0.0;
        }
    }
    double mx = -INFINITY;
    for (int t = 0; t < T; t++) {
        for (int n = 0; n < N; n++) {
            long j = (long)t * 160 - 200 + n;
            j = j < 0 ? -j : j >= 480000 ? 2 * 479999 - j : j;
            x[n] = pcm[j] * win[n];
        }
        for (int k = 0; k < K; k++) {
            double re = 0, im = 0;
            for (int n = 0; n < N; n++) {
                int ph = (n * k) % N;
                re += x[n] * cs[ph];
                im += x[n] * sn[ph];
            }
            pw[k] = re * re + im * im;
        }
        for (int i = 0; i < n_mels; i++) {
            double s = 0;
            for (int k = 0; k < K; k++)
                s += fb[(size_t)i * K + k] * pw[k];
            double l = log10(s > 1e-10 ? s : 1e-10);
            out[(size_t)i * T + t] = l;
            mx = l > mx ? l : mx;
        }
    }
    for (size_t i = 0; i < (size_t)n_mels * T; i++)
        out[i] = ((out[i] > mx - 8 ? out[i] : mx - 8) + 4) / 4;
    free(fb), free(pw);
}

/* Test audio: window 0 a chirp plus noise then silence from 5 s on, window w > 0 loud noise. */
static void make_pcm(float *pcm, int n_win)
{
    for (int w = 0; w < n_win; w++)
        for (long i = 0; i < HARK_N_SAMPLES; i++) {
            double t = i / 16000.0;
            float *s = pcm + (size_t)w * HARK_N_SAMPLES + i;
            if (w == 0)
                *s = i < 80000 ? (float)(0.3 * sin(2 * M_PI * (200 + 300 * t) * t)) + 0.01f * frand()
                               : 0.0f;
            else
                *s = 0.5f * frand() + 0.2f * (float)sin(2 * M_PI * 440 * t * w);
        }
}

static void test_log_mel(int n_mels, int n_win, int max_win)
{
    size_t nm = (size_t)n_mels * HARK_N_FRAMES;
    float *pcm = xmalloc((size_t)n_win * HARK_N_SAMPLES * 4);
    make_pcm(pcm, n_win);
    cu_mel_plan *plan = NULL;
    CHECK_CU(cu_mel_plan_new(n_mels, max_win, &plan));
    if (!plan) {
        free(pcm);
        return;
    }
    void *dpcm = upload_bytes(pcm, (size_t)n_win * HARK_N_SAMPLES * 4);
    float *dmel = dmalloc(nm * n_win * 4);
    cudaMemset(dmel, 0xFF, nm * n_win * 4);
    CHECK_CU(cu_log_mel(plan, dpcm, n_win, dmel, stream));
    float *got = download(HARK_DTYPE_F32, dmel, nm * n_win);
    double *ref = xmalloc(nm * sizeof(double));
    for (int w = 0; w < n_win; w++) {
        log_mel_ref(pcm + (size_t)w * HARK_N_SAMPLES, n_mels, ref);
        char what[64];
        snprintf(what, sizeof(what), "log_mel M%d window %d of %d (max_win %d)", n_mels, w, n_win,
                 max_win);
        compare(what, HARK_DTYPE_F32, got + (size_t)w * nm, ref, nm, 1e-4);
    }
    cu_mel_plan_free(plan);
    free(pcm), free(got), free(ref);
    cudaFree(dpcm), cudaFree(dmel);
}

static void test_bad_args(void)
{
    cu_mel_plan *plan = NULL;
    CHECK(cu_mel_plan_new(81, 1, &plan) == cudaErrorInvalidValue && !plan, "mel plan n_mels 81");
    CHECK(cu_log_mel(NULL, NULL, 1, NULL, stream) == cudaErrorInvalidValue, "log_mel NULL plan");
    CHECK(cu_layer_norm((hark_dtype)7, NULL, NULL, NULL, NULL, 1, 8, stream) ==
              cudaErrorInvalidValue,
          "layer_norm bad dtype");
    /* E = 48 is not a supported head width */
    CHECK(cu_cross_attention(HARK_DTYPE_F16, NULL, 96, NULL, NULL, 96, NULL, NULL, 1, 1, 96, 2,
                             1.0f, stream) == cudaErrorInvalidValue,
          "cross_attention E 48");
    CHECK(cu_argmax(NULL, 10, 11, NULL, 1, stream) == cudaErrorInvalidValue, "argmax limit > V");
    CHECK(cu_encoder_attention(HARK_DTYPE_F16, NULL, NULL, 1, 10, 100, 3, 0.125f, stream) ==
              cudaErrorInvalidValue, "encoder_attention D not a multiple of H");
    CHECK(cu_encoder_attention(HARK_DTYPE_F16, NULL, NULL, 1, 10, 128, 2, 0.0f, stream) ==
              cudaErrorInvalidValue, "encoder_attention scale 0");
    CHECK(cu_encoder_attention(HARK_DTYPE_BF16, NULL, NULL, 1, 10, 256, 2, 0.125f, stream) ==
              cudaErrorInvalidValue, "encoder_attention E 128");
    CHECK(cu_gelu(HARK_DTYPE_F32, NULL, 0, stream) == 0, "gelu n 0");
}

/* ---------------------------------------------------------------- benchmarks ----------------- */

/* Times cu_cross_attention with large-v3 shapes (D 1280, H 20, C 1500, f16) at R rows of
 * `share` rows per window, under the forced variant (variant, cs, threads); returns ms per call
 * and sets *gbs to the unique K+V bytes per second. */
static double bench_cross_one(cudaEvent_t e0, cudaEvent_t e1, int reps, int rows, int share,
                              const int cfg[3], double *gbs)
{
    const int d = 1280, h = 20, c = 1500;
    int n_win = (rows + share - 1) / share;
    size_t nkv = (size_t)n_win * c * d;
    void *q = dmalloc((size_t)rows * d * 2), *k = dmalloc(nkv * 2), *v = dmalloc(nkv * 2);
    void *o = dmalloc((size_t)rows * d * 2);
    cudaMemset(q, 0, (size_t)rows * d * 2);
    cudaMemset(k, 0, nkv * 2);
    cudaMemset(v, 0, nkv * 2);
    int32_t *win = xmalloc((size_t)rows * 4);
    for (int r = 0; r < rows; r++)
        win[r] = r / share;
    void *dw = upload_bytes(win, (size_t)rows * 4);
    cu_cross_attention_tune(cfg[0], cfg[1], cfg[2]);
    int err = cu_cross_attention(HARK_DTYPE_F16, q, d, k, v, (long)c * d, dw, o, rows, c, d, h,
                                 0.125f, stream);
    cudaEventRecord(e0, stream);
    for (int r = 0; r < reps; r++)
        cu_cross_attention(HARK_DTYPE_F16, q, d, k, v, (long)c * d, dw, o, rows, c, d, h, 0.125f,
                           stream);
    cudaEventRecord(e1, stream);
    double ms = err ? -1.0 : time_ms(e0, e1) / reps;
    cu_cross_attention_tune(0, 0, 0);
    *gbs = err ? 0.0 : 2.0 * nkv * 2 / (ms * 1e6);
    free(win);
    cudaFree(q), cudaFree(k), cudaFree(v), cudaFree(o), cudaFree(dw);
    return ms;
}

/* The cross-attention table: every variant at R = 1, 4, 8, 32, 128, 256 (one window per row), and
 * R = 128 with 5 rows per window (beam search: L2 reuse). */
static void bench_cross(cudaEvent_t e0, cudaEvent_t e1, int reps)
{
    enum { NCFG = 11, NR = 7 };
    static const int cfgs[NCFG][3] = {{0, 0, 0},   {1, 0, 0},   {1, 2, 256}, {1, 4, 256},
                                      {1, 8, 256}, {1, 1, 256}, {2, 0, 64},  {2, 0, 128},
                                      {3, 0, 64},  {3, 0, 128}, {3, 0, 256}};
    static const int rows_list[NR] = {1, 4, 8, 32, 128, 256, 128};
    static const int share_list[NR] = {1, 1, 1, 1, 1, 1, 5};
    double gb[NCFG][NR], ms[NCFG][NR];
    for (int i = 0; i < NCFG; i++)
        for (int j = 0; j < NR; j++)
            ms[i][j] = bench_cross_one(e0, e1, reps, rows_list[j], share_list[j], cfgs[i],
                                       &gb[i][j]);
    printf("bench cross_attention f16 C1500 D1280 H20: ms (GB/s of unique K+V bytes)\n");
    printf("variant,cs,threads |");
    for (int j = 0; j < NR; j++)
        printf("  R%d%s      ", rows_list[j], share_list[j] > 1 ? "/5" : "  ");
    printf("\n");
    for (int i = 0; i < NCFG; i++) {
        printf("%d,%d,%-3d %s|", cfgs[i][0], cfgs[i][1], cfgs[i][2],
               i == 0 ? "default" : "       ");
        for (int j = 0; j < NR; j++)
            printf(" %6.3f (%4.0f)", ms[i][j], gb[i][j]);
        printf("\n");
    }
}

/* cu_cross_attention_q with large-v3 shapes (f16 queries), one window per row: ms per call and
 * GB/s of unique K+V and scale bytes. */
static void bench_cross_q(cudaEvent_t e0, cudaEvent_t e1, int reps, int bits)
{
    const int d = 1280, h = 20, c = 1500;
    static const int rows_list[] = { 1, 8, 32, 128, 256 };
    printf("bench cross_attention int%d f16 C1500 D1280 H20: ms (GB/s of K+V+scales)\n", bits);
    for (size_t j = 0; j < sizeof(rows_list) / sizeof(rows_list[0]); j++) {
        const int rows = rows_list[j];
        const size_t nkv = (size_t)rows * c * d * bits / 8, ns = (size_t)rows * c * h;
        void *q = dmalloc((size_t)rows * d * 2), *o = dmalloc((size_t)rows * d * 2);
        uint8_t *k = dmalloc(nkv), *v = dmalloc(nkv);
        float *ks = dmalloc(ns * 4), *vs = dmalloc(ns * 4);
        cudaMemset(q, 0, (size_t)rows * d * 2);
        cudaMemset(k, 1, nkv);
        cudaMemset(v, 1, nkv);
        cudaMemset(ks, 0, ns * 4);
        cudaMemset(vs, 0, ns * 4);
        int32_t *win = xmalloc((size_t)rows * 4);
        for (int r = 0; r < rows; r++)
            win[r] = r;
        void *dw = upload_bytes(win, (size_t)rows * 4);
        int err = cu_cross_attention_q(HARK_DTYPE_F16, bits, q, d, k, v, ks, vs, dw, o, rows, c,
                                       d, h, 0.125f, stream);
        cudaEventRecord(e0, stream);
        for (int r = 0; r < reps; r++)
            cu_cross_attention_q(HARK_DTYPE_F16, bits, q, d, k, v, ks, vs, dw, o, rows, c, d, h,
                                 0.125f, stream);
        cudaEventRecord(e1, stream);
        double ms = err ? -1.0 : time_ms(e0, e1) / reps;
        printf("  R%-4d %.3f ms (%.0f GB/s)\n", rows, ms,
               err ? 0.0 : (2.0 * nkv + 2.0 * ns * 4) / (ms * 1e6));
        free(win);
        cudaFree(q), cudaFree(o), cudaFree(k), cudaFree(v), cudaFree(ks), cudaFree(vs);
        cudaFree(dw);
    }
}

static void bench(void)
{
    cudaEvent_t e0, e1;
    cudaEventCreate(&e0);
    cudaEventCreate(&e1);
    const int reps = 20;
    const int d = 1280, h = 20;
    bench_cross(e0, e1, reps);
    bench_cross_q(e0, e1, reps, 8);
    bench_cross_q(e0, e1, reps, 4);
    { /* self-attention: 128 rows at len 448, blocks of 16 */
        int rows = 128, blk = 16, mb = 28, len = 448;
        size_t npool = (size_t)rows * mb * blk * d;
        void *q = dmalloc((size_t)rows * d * 2), *k = dmalloc(npool * 2), *v = dmalloc(npool * 2);
        void *o = dmalloc((size_t)rows * d * 2);
        cudaMemset(q, 0, (size_t)rows * d * 2);
        cudaMemset(k, 0, npool * 2);
        cudaMemset(v, 0, npool * 2);
        int32_t *tab = xmalloc((size_t)rows * mb * 4), lens[128];
        for (int i = 0; i < rows * mb; i++)
            tab[i] = i;
        for (int r = 0; r < rows; r++)
            lens[r] = len;
        void *dt = upload_bytes(tab, (size_t)rows * mb * 4), *dl = upload_bytes(lens, sizeof(lens));
        cudaEventRecord(e0, stream);
        for (int r = 0; r < reps; r++)
            cu_self_attention_paged(HARK_DTYPE_F16, q, d, k, v, dt, mb, blk, dl, o, rows, d, h,
                                    0.125f, stream);
        cudaEventRecord(e1, stream);
        double ms = time_ms(e0, e1) / reps;
        printf("bench self_attention f16 R%d len %d: %.3f ms, %.0f GB/s\n", rows, len, ms,
               2.0 * rows * len * d * 2 / (ms * 1e6));
        free(tab);
        cudaFree(q), cudaFree(k), cudaFree(v), cudaFree(o), cudaFree(dt), cudaFree(dl);
    }
    { /* layer norm over 8 windows of encoder rows */
        int rows = 8 * 1500;
        void *x = dmalloc((size_t)rows * d * 2), *y = dmalloc((size_t)rows * d * 2),
             *g = dmalloc((size_t)d * 2);
        cudaMemset(x, 0, (size_t)rows * d * 2);
        cudaMemset(g, 0, (size_t)d * 2);
        cudaEventRecord(e0, stream);
        for (int r = 0; r < reps; r++)
            cu_layer_norm(HARK_DTYPE_F16, x, g, g, y, rows, d, stream);
        cudaEventRecord(e1, stream);
        double ms = time_ms(e0, e1) / reps;
        printf("bench layer_norm f16 %dx%d: %.3f ms, %.0f GB/s\n", rows, d, ms,
               2.0 * rows * d * 2 / (ms * 1e6));
        cudaFree(x), cudaFree(y), cudaFree(g);
    }
    { /* log-mel, 8 windows of 128 mels */
        int n_win = 8;
        cu_mel_plan *plan = NULL;
        if (cu_mel_plan_new(128, n_win, &plan) == 0) {
            float *pcm = dmalloc((size_t)n_win * HARK_N_SAMPLES * 4);
            float *mel = dmalloc((size_t)n_win * 128 * HARK_N_FRAMES * 4);
            cudaMemset(pcm, 0, (size_t)n_win * HARK_N_SAMPLES * 4);
            cu_log_mel(plan, pcm, n_win, mel, stream);
            cudaEventRecord(e0, stream);
            for (int r = 0; r < reps; r++)
                cu_log_mel(plan, pcm, n_win, mel, stream);
            cudaEventRecord(e1, stream);
            double ms = time_ms(e0, e1) / reps;
            printf("bench log_mel M128 %d windows: %.3f ms (%.3f ms per window)\n", n_win, ms,
                   ms / n_win);
            cu_mel_plan_free(plan);
            cudaFree(pcm), cudaFree(mel);
        }
    }
    cudaEventDestroy(e0);
    cudaEventDestroy(e1);
}

int main(int argc, char **argv)
{
    if (!cuda_test_start())
        TEST_MAIN_END();
    for (int i = 0; i < 3; i++) {
        hark_dtype dt = DTYPES[i];
        test_gemv(dt, 1, 1280, 5120, 0, 1, 0); /* fc2: split-K, residual */
        test_gemv(dt, 2, 640, 5120, 0, 1, 0);
        test_gemv(dt, 3, 333, 2048, 1, 0, 0);
        test_gemv(dt, 8, 100, 4096, 0, 0, 1);
        test_gemv(dt, 1, 1280, 1280, 0, 0, 0); /* the plain path */
        test_gemv(dt, 2, 77, 512, 1, 1, 1);
        test_layer_norm(dt, 7, 64);
        test_layer_norm(dt, 33, 1280);
        test_layer_norm(dt, 5, 384);
        test_layer_norm(dt, 3, 8);
        test_layer_norm(dt, 1001, 512);
        test_layer_norm(dt, 3, 20); /* not a multiple of 8: the scalar path */
        test_gelu(dt, 1, 1, 1001, 0);
        test_gelu(dt, 1, 4, 1024, 0);
        test_gelu(dt, 2, 5, 64, 1);
        test_gelu(dt, 3, 7, 12, 1);
        test_im2col_mel(dt, 2, 80, 3000);
        test_im2col_mel(dt, 1, 3, 37);
        test_im2col_t(dt, 2, 50, 64, 2);
        test_im2col_t(dt, 1, 37, 5, 1);
        test_embed(dt, 5, 64);
        test_embed(dt, 3, 12);
        test_kv_write(dt, 7, 64, 192);
        test_kv_write(dt, 4, 12, 13);
        test_convert(dt, 1001);
        test_convert(dt, 4096);
        test_self_attention(dt, 7, 3, 64, 16);
        test_self_attention(dt, 6, 2, 4, 5);
        test_self_attention(dt, 5, 4, 32, 32);
        for (int bits = 8; bits >= 4; bits -= 4) {
            test_cross_attention_q(dt, bits, 5, 1500, 4, 64);
            test_cross_attention_q(dt, bits, 4, 200, 2, 32);
            test_cross_attention_q(dt, bits, 9, 37, 20, 64);
        }
        /* tails of the 64-key and 128-row tiles, several CTAs per head, a peaky softmax */
        const int enc[][4] = {{2, 1, 2, 64},   {2, 63, 2, 64}, {2, 64, 2, 64},  {2, 65, 2, 64},
                              {1, 129, 6, 64}, {3, 200, 3, 64}, {2, 1500, 2, 64}, {3, 200, 3, 32},
                              {2, 300, 2, 4}};
        for (int f = 0; f < 3; f++) { /* the policy, then each kernel forced */
            cu_encoder_attention_tune(f);
            for (size_t j = 0; j < sizeof(enc) / sizeof(enc[0]); j++)
                test_encoder_attention(dt, enc[j][0], enc[j][1], enc[j][2], enc[j][3],
                                       1.0f / sqrtf((float)enc[j][3]));
            test_encoder_attention(dt, 2, 1500, 2, 64, 1.0f);
        }
        cu_encoder_attention_tune(0);
        test_cross_attention(dt, 5, 1500, 4, 64);
        test_cross_attention(dt, 3, 37, 2, 4);
        test_cross_attention(dt, 4, 200, 2, 32);
        test_cross_attention(dt, 1, 1500, 20, 64); /* cluster of 8 blocks per head */
        test_cross_attention(dt, 2, 3, 2, 4);      /* cluster blocks with empty slices */
        test_cross_attention(dt, 8, 100, 20, 64);  /* one block of 512 per head */
        test_cross_attention(dt, 8, 50, 80, 4);    /* one block of 256 per head */
        test_cross_attention(dt, 40, 300, 20, 64);  /* many (row, head) pairs */
        test_cross_attention(dt, 33, 1500, 8, 64);
        test_cross_attention(dt, 30, 77, 8, 16);
        test_cross_attention(dt, 27, 50, 4, 128);
        test_cross_attention(dt, 35, 33, 12, 4);
        /* every kernel variant, forced, on small and large grids (variant 1 with a cluster) */
        const int forced[5][3] = {{1, 0, 0}, {1, 3, 128}, {2, 0, 0}, {2, 0, 64}, {3, 0, 256}};
        for (int f = 0; f < 5; f++) {
            cu_cross_attention_tune(forced[f][0], forced[f][1], forced[f][2]);
            test_cross_attention(dt, 5, 1500, 4, 64);
            test_cross_attention(dt, 3, 37, 2, 4);
            test_cross_attention(dt, 2, 3, 2, 4);
            test_cross_attention(dt, 40, 300, 20, 64);
            test_cross_attention(dt, 30, 77, 8, 16);
            test_cross_attention(dt, 27, 50, 4, 128);
            test_cross_attention(dt, 35, 33, 12, 4);
        }
        cu_cross_attention_tune(0, 0, 0);
    }
    test_argmax(5, 51866, 51866);
    test_argmax(7, 51866, 50257);
    test_argmax(2, 100, 7);
    test_log_mel(80, 2, 1);
    test_log_mel(128, 1, 4);
    test_bad_args();
    return cuda_test_finish(argc, argv, bench);
}
