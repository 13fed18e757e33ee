// Small-shape SGEMM: see include/maml_kernels.h for the contract.
//
// Layout of the work (row-major, 8-float vectors via clang vector extensions, so
// the same source compiles to SSE2 pairs or to AVX2 ymm registers):
//   NN, TN  C[i, :] += A(i, p) * B[p, :]: rows of B are contiguous, so each tile
//           keeps up to 4 rows x 16 columns of C in registers and broadcasts A.
//           One or two rows of C (m <= 2, n < 72): all their columns in one pass
//           over p, so the chains run side by side (rb_wide); k == 1: an outer product.
//   NT      B (n x k, k <= 256) is transposed into a stack panel by 8 x 8 shuffle
//           blocks, 32 (16 without AVX-512) of its rows at a time, and the NN path
//           runs on each panel; for narrow C (n < 8) or k > 256, 2 x 4 tiles of dot
//           products over p, reduced together by shuffles.
//   TT      plain loops (no backbone uses it).
//   n == 1  any transpose: a matrix-vector product (dense heads with one output and
//           their gradients): dot products of A's rows, or A's rows scaled and summed.
//           Through the tiles above it ran 8 lanes for 1 (40x1x10 TN: 374 -> 86 ns).
//   k == 1  NT with B one contiguous row needs no transpose (an outer product).
// AVX-512 build (isa 2): the same body compiled for avx512f+avx512vl+fma, where the
// NN/TN column-block loop (also NT after its transpose) takes 32-column blocks (and
// one 16-column block when n % 8 == 0) with 16-float zmm tiles, 4 rows a tile; NT with
// 4-12 rows (x W^T at batch 10) never stores B^T: each 16 x 8 block of B is transposed
// in registers and multiplied at once into one zmm chain per row (nt_direct; 10x40x40
// 430 -> 345 ns on Zen 4, as fast as NN). The columns left and all other paths run the
// 8-wide code. Each element of C is still summed over p in order with one FMA per step
// whatever the tiling, so the AVX-512 build gives the AVX2 build's bits (KernelTests
// checks it on every path) (docs/benchmarks.md, "AVX-512 small-shape kernels", and the
// LIBXSMM comparison, Tests/bench/xsmm-bench.c, have the measurements).
// Summation order is fixed by the shapes alone (no threads, no run-time blocking),
// so a given build gives bit-identical results run to run.
#include "maml_kernels.h"
#include <stdlib.h>
#include <string.h>
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#define MK_X86 1
#endif

// Helpers pass 8-float vectors by value; they are always inlined, so no ABI is involved.
#pragma clang diagnostic ignored "-Wpsabi"
enum { TAIL_STACK_ROWS = 256, PANEL_ROWS = 256 };

typedef float v8 __attribute__((vector_size(32)));
typedef float v16 __attribute__((vector_size(64)));
typedef float v4 __attribute__((vector_size(16)));
#define AI static inline __attribute__((always_inline))

// MARK: - Vector helpers

AI v8 ld8(const float *p) { v8 v; memcpy(&v, p, sizeof v); return v; }
AI void st8(float *p, v8 v) { memcpy(p, &v, sizeof v); }
AI v8 splat(float x) { return (v8){x, x, x, x, x, x, x, x}; }
AI v16 ld16(const float *p) { v16 v; memcpy(&v, p, sizeof v); return v; }
AI void st16(float *p, v16 v) { memcpy(p, &v, sizeof v); }
AI v16 splat16(float x) { return (v16){x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x}; }

/// alpha * s + beta * old, never reading old when beta == 0 (it may be uninitialised).
AI float fin1(float s, float alpha, float beta, const float *old) {
    return beta == 0 ? alpha * s : alpha * s + beta * *old;
}

// MARK: - NN / TN: broadcast A, stream rows of B

/// TILE: R <= 5 rows x W*V columns of C in W-float vectors VT (V = 1 or 2), A(i, p) = a[i * ai + p * ap];
/// COLS: all rows of one W*V-column block, RMAIN rows a tile (5 for 8-float vectors, whose 10
/// accumulators fit AVX2's 16 registers: TN 40x40x200 10.0 -> 9.5 us, 120x40x200 29.0 -> 26.8 us;
/// 4 for 16-float ones, where 5 gained nothing) and the last 1-10 rows in tiles of 3-5
/// (m = 10 as 5 + 5 instead of 4 + 4 + 2: NN 10x40x40 335 -> 308 ns, 10x40x160 1412 -> 1226 ns
/// with AVX-512 on Zen 4, 387 -> 330 ns for 10x40x40 with AVX2). Made for 8-float vectors
/// (rb_tile, rb_cols) and 16-float ones (rb_tile16, rb_cols16: only the AVX-512 build runs them).
#define RB_KERNELS(VT, W, LD, ST, SPLAT, TILE, COLS, RMAIN)                                               \
AI void TILE(const int R, const int V, long k, const float *a, long ai, long ap,                   \
             const float *b, long ldb, float alpha, float beta, float *c, long ldc) {               \
    VT acc[5][2];                                                                                   \
    for (int r = 0; r < R; r++) for (int v = 0; v < V; v++) acc[r][v] = SPLAT(0);                   \
    for (long p = 0; p < k; p++) {                                                                  \
        const float *bp = b + p * ldb, *apr = a + p * ap;                                           \
        VT b0 = LD(bp), b1 = V > 1 ? LD(bp + W) : b0;                                               \
        for (int r = 0; r < R; r++) {                                                               \
            VT x = SPLAT(apr[r * ai]);                                                              \
            acc[r][0] += x * b0;                                                                    \
            if (V > 1) acc[r][1] += x * b1;                                                         \
        }                                                                                           \
    }                                                                                               \
    for (int r = 0; r < R; r++)                                                                     \
        for (int v = 0; v < V; v++) {  /* alpha s + beta old, never reading old when beta == 0 */   \
            float *cr = c + r * ldc + W * v;                                                        \
            VT s = acc[r][v];                                                                       \
            ST(cr, beta == 0 ? SPLAT(alpha) * s : SPLAT(alpha) * s + SPLAT(beta) * LD(cr));         \
        }                                                                                           \
}                                                                                                   \
AI void COLS(const int V, long m, long k, const float *a, long ai, long ap,                         \
             const float *b, long ldb, float alpha, float beta, float *c, long ldc) {               \
    long i = 0;                                                                                     \
    for (; m - i > 10; i += RMAIN) TILE(RMAIN, V, k, a + i * ai, ai, ap, b, ldb, alpha, beta, c + i * ldc, ldc); \
    /* the last 1-10 rows in tiles of 3-5, not 4 + a thin 1-2 row rest (m = 10: 5 + 5, not 4 + 4 + 2) */ \
    while (i < m) {                                                                                 \
        const long r = m - i, rows = r == 6 ? 3 : r == 7 || r == 8 ? 4 : r > 8 ? 5 : r;           \
        switch (rows) {                                                                             \
        case 5: TILE(5, V, k, a + i * ai, ai, ap, b, ldb, alpha, beta, c + i * ldc, ldc); break;   \
        case 4: TILE(4, V, k, a + i * ai, ai, ap, b, ldb, alpha, beta, c + i * ldc, ldc); break;   \
        case 3: TILE(3, V, k, a + i * ai, ai, ap, b, ldb, alpha, beta, c + i * ldc, ldc); break;   \
        case 2: TILE(2, V, k, a + i * ai, ai, ap, b, ldb, alpha, beta, c + i * ldc, ldc); break;   \
        default: TILE(1, V, k, a + i * ai, ai, ap, b, ldb, alpha, beta, c + i * ldc, ldc); break;  \
        }                                                                                           \
        i += rows;                                                                                  \
    }                                                                                               \
}
RB_KERNELS(v8, 8, ld8, st8, splat, rb_tile, rb_cols, 5)
RB_KERNELS(v16, 16, ld16, st16, splat16, rb_tile16, rb_cols16, 4)
#undef RB_KERNELS

/// One or two rows of C (R), NV 8-column vectors each, all in one pass over p: NV * R independent
/// chains instead of one column block after another, each a latency-bound chain over k
/// (1x40x200 TN, a one-output head's weight gradient: ~415 -> ~270 ns on Zen 4).
AI void rb_wide(const int R, const int NV, long k, const float *a, long ai, long ap,
                const float *b, long ldb, float alpha, float beta, float *c, long ldc) {
    v8 acc[2][8];
    for (int r = 0; r < R; r++) for (int v = 0; v < NV; v++) acc[r][v] = splat(0);
    for (long p = 0; p < k; p++)
        for (int r = 0; r < R; r++) {
            v8 x = splat(a[r * ai + p * ap]);
            for (int v = 0; v < NV; v++) acc[r][v] += x * ld8(b + p * ldb + 8 * v);
        }
    for (int r = 0; r < R; r++)
        for (int v = 0; v < NV; v++) {
            float *cr = c + r * ldc + 8 * v;
            v8 sv = acc[r][v];
            st8(cr, beta == 0 ? splat(alpha) * sv : splat(alpha) * sv + splat(beta) * ld8(cr));
        }
}

/// k == 1 (an outer product, C = alpha a b + beta C): row by row, without the tiles' set-up;
/// columns in multiples of 8 (16 in the AVX-512 build), the caller does the n % 8 rest.
/// The chain is the tiles' one step from zero, so the bits are the same. BETA0 is a constant.
AI void outer_rows(const int W16, const int BETA0, long m, long n, float alpha, const float *a, long ai,
                   const float *b, float beta, float *c, long ldc) {
    for (long i = 0; i < m; i++) {
        float *cr = c + i * ldc;
        const float x = a[i * ai];
        long j = 0;
        if (W16)
            for (; j + 16 <= n; j += 16) {
                v16 sv = splat16(0);
                sv += splat16(x) * ld16(b + j);
                st16(cr + j, BETA0 ? splat16(alpha) * sv : splat16(alpha) * sv + splat16(beta) * ld16(cr + j));
            }
        for (; j + 8 <= n; j += 8) {
            v8 sv = splat(0);
            sv += splat(x) * ld8(b + j);
            st8(cr + j, BETA0 ? splat(alpha) * sv : splat(alpha) * sv + splat(beta) * ld8(cr + j));
        }
    }
}

AI void rb_outer(const int W16, long m, long n, float alpha, const float *a, long ai,
                 const float *b, float beta, float *c, long ldc) {
    if (beta == 0) outer_rows(W16, 1, m, n, alpha, a, ai, b, beta, c, ldc);
    else outer_rows(W16, 0, m, n, alpha, a, ai, b, beta, c, ldc);
}

/// C = alpha A B + beta C with A(i, p) = a[i * ai + p * ap] and B row-major (stride ldb).
/// W16 (a constant, 1 only in the AVX-512 build) takes 32- and 16-column blocks in zmm tiles.
AI void rowbcast(const int W16, long m, long n, long k, float alpha, const float *a, long ai, long ap,
                 const float *b, long ldb, float beta, float *c, long ldc) {
    long j = 0;
    if (k == 1 && (beta == 0 || m < 32)) {  // 200x40x1 with beta = 1: 1.07-1.16x slower than the tiles
        rb_outer(W16, m, n, alpha, a, ai, b, beta, c, ldc);
        j = n / 8 * 8;
    } else if (m <= 2 && n >= 16 && n < 72) {
        switch (n / 8 + 8 * (m - 1)) {
        case 2: rb_wide(1, 2, k, a, ai, ap, b, ldb, alpha, beta, c, ldc); break;
        case 3: rb_wide(1, 3, k, a, ai, ap, b, ldb, alpha, beta, c, ldc); break;
        case 4: rb_wide(1, 4, k, a, ai, ap, b, ldb, alpha, beta, c, ldc); break;
        case 5: rb_wide(1, 5, k, a, ai, ap, b, ldb, alpha, beta, c, ldc); break;
        case 6: rb_wide(1, 6, k, a, ai, ap, b, ldb, alpha, beta, c, ldc); break;
        case 7: rb_wide(1, 7, k, a, ai, ap, b, ldb, alpha, beta, c, ldc); break;
        case 8: rb_wide(1, 8, k, a, ai, ap, b, ldb, alpha, beta, c, ldc); break;
        case 10: rb_wide(2, 2, k, a, ai, ap, b, ldb, alpha, beta, c, ldc); break;
        case 11: rb_wide(2, 3, k, a, ai, ap, b, ldb, alpha, beta, c, ldc); break;
        case 12: rb_wide(2, 4, k, a, ai, ap, b, ldb, alpha, beta, c, ldc); break;
        case 13: rb_wide(2, 5, k, a, ai, ap, b, ldb, alpha, beta, c, ldc); break;
        case 14: rb_wide(2, 6, k, a, ai, ap, b, ldb, alpha, beta, c, ldc); break;
        case 15: rb_wide(2, 7, k, a, ai, ap, b, ldb, alpha, beta, c, ldc); break;
        default: rb_wide(2, 8, k, a, ai, ap, b, ldb, alpha, beta, c, ldc); break;
        }
        j = n / 8 * 8;
    } else {
        if (W16) {
            // 32-column zmm blocks always win over 8-float pairs (1.05-1.15x on Zen 4); a single
            // 16-column one only when no padded n % 8 tail follows (n = 20: 0.97x; 16, 24, 48: 1.05-1.1x).
            for (; j + 32 <= n; j += 32) rb_cols16(2, m, k, a, ai, ap, b + j, ldb, alpha, beta, c + j, ldc);
            if (j + 16 <= n && n % 8 == 0) { rb_cols16(1, m, k, a, ai, ap, b + j, ldb, alpha, beta, c + j, ldc); j += 16; }
        }
        for (; j + 16 <= n; j += 16) rb_cols(2, m, k, a, ai, ap, b + j, ldb, alpha, beta, c + j, ldc);
        for (; j + 8 <= n; j += 8) rb_cols(1, m, k, a, ai, ap, b + j, ldb, alpha, beta, c + j, ldc);
    }
    if (j == n) return;
    const long rest = n - j;
    if (k <= TAIL_STACK_ROWS && m <= TAIL_STACK_ROWS) {
        // The last n % 8 columns as one zero-padded 8-column block through stack copies.
        float bt[TAIL_STACK_ROWS * 8], ct[TAIL_STACK_ROWS * 8];
        for (long p = 0; p < k; p++)
            for (long q = 0; q < 8; q++) bt[p * 8 + q] = q < rest ? b[p * ldb + j + q] : 0;
        rb_cols(1, m, k, a, ai, ap, bt, 8, 1, 0, ct, 8);
        for (long i = 0; i < m; i++)
            for (long q = 0; q < rest; q++) c[i * ldc + j + q] = fin1(ct[i * 8 + q], alpha, beta, c + i * ldc + j + q);
        return;
    }
    for (long i = 0; i < m; i++) {  // the last n % 8 columns
        const float *ar = a + i * ai;
        for (long jj = j; jj < n; jj++) {
            float s = 0;
            for (long p = 0; p < k; p++) s += ar[p * ap] * b[p * ldb + jj];
            c[i * ldc + jj] = fin1(s, alpha, beta, c + i * ldc + jj);
        }
    }
}

// MARK: - n == 1: matrix-vector products

/// c[i * ldc] = alpha * sum_p A(i, p) x[p * xs] + beta * c[i * ldc] for A row-major (m x k, stride lda):
/// four rows at a time, vectors along p, one horizontal sum per row.
AI void gemv_rows(long m, long k, float alpha, const float *a, long lda, const float *x, long xs,
                  float beta, float *c, long ldc) {
    float xt[TAIL_STACK_ROWS];
    if (xs != 1 && k <= TAIL_STACK_ROWS) {  // gather x once so the vector loop reads it contiguously
        for (long p = 0; p < k; p++) xt[p] = x[p * xs];
        x = xt; xs = 1;
    }
    long i = 0;
    if (xs == 1)
        for (; i + 4 <= m; i += 4) {
            const float *a0 = a + i * lda, *a1 = a0 + lda, *a2 = a1 + lda, *a3 = a2 + lda;
            v8 s0 = splat(0), s1 = s0, s2 = s0, s3 = s0;
            long p = 0;
            for (; p + 8 <= k; p += 8) {
                v8 xv = ld8(x + p);
                s0 += ld8(a0 + p) * xv; s1 += ld8(a1 + p) * xv; s2 += ld8(a2 + p) * xv; s3 += ld8(a3 + p) * xv;
            }
            // Pairwise: [s0 s1] -> [s0+s1 halves] ..., then the four sums in lanes 0..3.
            v8 u01 = __builtin_shufflevector(s0, s1, 0, 8, 2, 10, 4, 12, 6, 14) + __builtin_shufflevector(s0, s1, 1, 9, 3, 11, 5, 13, 7, 15);
            v8 u23 = __builtin_shufflevector(s2, s3, 0, 8, 2, 10, 4, 12, 6, 14) + __builtin_shufflevector(s2, s3, 1, 9, 3, 11, 5, 13, 7, 15);
            v8 w = __builtin_shufflevector(u01, u23, 0, 1, 8, 9, 4, 5, 12, 13) + __builtin_shufflevector(u01, u23, 2, 3, 10, 11, 6, 7, 14, 15);
            float r[4] = {w[0] + w[4], w[1] + w[5], w[2] + w[6], w[3] + w[7]};
            for (; p < k; p++) {
                const float xp = x[p];
                r[0] += a0[p] * xp; r[1] += a1[p] * xp; r[2] += a2[p] * xp; r[3] += a3[p] * xp;
            }
            for (int q = 0; q < 4; q++) c[(i + q) * ldc] = fin1(r[q], alpha, beta, c + (i + q) * ldc);
        }
    for (; i < m; i++) {
        const float *ar = a + i * lda;
        long p = 0;
        float s = 0;
        if (xs == 1) {
            v8 sv = splat(0);
            for (; p + 8 <= k; p += 8) sv += ld8(ar + p) * ld8(x + p);
            s = ((sv[0] + sv[4]) + (sv[1] + sv[5])) + ((sv[2] + sv[6]) + (sv[3] + sv[7]));
        }
        for (; p < k; p++) s += ar[p] * x[p * xs];
        c[i * ldc] = fin1(s, alpha, beta, c + i * ldc);
    }
}

/// c[i * ldc] = alpha * sum_p A(p, i) x[p * xs] + beta * c[i * ldc] for A^T stored row-major
/// (k x m, stride lda): rows of A scaled and accumulated, vectors along i.
AI void gemv_cols(long m, long k, float alpha, const float *a, long lda, const float *x, long xs,
                  float beta, float *c, long ldc) {
    long i = 0;
    for (; i + 32 <= m; i += 32) {
        v8 s0 = splat(0), s1 = s0, s2 = s0, s3 = s0;
        for (long p = 0; p < k; p++) {
            const float *ap = a + p * lda + i;
            v8 xv = splat(x[p * xs]);
            s0 += ld8(ap) * xv; s1 += ld8(ap + 8) * xv; s2 += ld8(ap + 16) * xv; s3 += ld8(ap + 24) * xv;
        }
        v8 s[4] = {s0, s1, s2, s3};
        for (int v = 0; v < 4; v++)
            for (int q = 0; q < 8; q++) c[(i + 8 * v + q) * ldc] = fin1(s[v][q], alpha, beta, c + (i + 8 * v + q) * ldc);
    }
    for (; i + 8 <= m; i += 8) {
        v8 s0 = splat(0);
        for (long p = 0; p < k; p++) s0 += ld8(a + p * lda + i) * splat(x[p * xs]);
        for (int q = 0; q < 8; q++) c[(i + q) * ldc] = fin1(s0[q], alpha, beta, c + (i + q) * ldc);
    }
    for (; i < m; i++) {
        float s = 0;
        for (long p = 0; p < k; p++) s += a[p * lda + i] * x[p * xs];
        c[i * ldc] = fin1(s, alpha, beta, c + i * ldc);
    }
}

// MARK: - NT: dot products

/// The 8 dot products (a0, a1) x (b0..b3) over k, as [a0.b0 .. a0.b3, a1.b0 .. a1.b3].
AI v8 nt_tile(long k, const float *a0, const float *a1, const float *b0, const float *b1,
              const float *b2, const float *b3) {
    v8 s0 = splat(0), s1 = s0, s2 = s0, s3 = s0, s4 = s0, s5 = s0, s6 = s0, s7 = s0;
    long p = 0;
    for (; p + 8 <= k; p += 8) {
        v8 x0 = ld8(a0 + p), x1 = ld8(a1 + p);
        v8 y0 = ld8(b0 + p), y1 = ld8(b1 + p), y2 = ld8(b2 + p), y3 = ld8(b3 + p);
        s0 += x0 * y0; s1 += x0 * y1; s2 += x0 * y2; s3 += x0 * y3;
        s4 += x1 * y0; s5 += x1 * y1; s6 += x1 * y2; s7 += x1 * y3;
    }
    // Transpose-and-add: 8 accumulators -> one vector of their 8 sums.
    v8 u01 = __builtin_shufflevector(s0, s1, 0, 8, 2, 10, 4, 12, 6, 14) + __builtin_shufflevector(s0, s1, 1, 9, 3, 11, 5, 13, 7, 15);
    v8 u23 = __builtin_shufflevector(s2, s3, 0, 8, 2, 10, 4, 12, 6, 14) + __builtin_shufflevector(s2, s3, 1, 9, 3, 11, 5, 13, 7, 15);
    v8 u45 = __builtin_shufflevector(s4, s5, 0, 8, 2, 10, 4, 12, 6, 14) + __builtin_shufflevector(s4, s5, 1, 9, 3, 11, 5, 13, 7, 15);
    v8 u67 = __builtin_shufflevector(s6, s7, 0, 8, 2, 10, 4, 12, 6, 14) + __builtin_shufflevector(s6, s7, 1, 9, 3, 11, 5, 13, 7, 15);
    v8 w0 = __builtin_shufflevector(u01, u23, 0, 1, 8, 9, 4, 5, 12, 13) + __builtin_shufflevector(u01, u23, 2, 3, 10, 11, 6, 7, 14, 15);
    v8 w1 = __builtin_shufflevector(u45, u67, 0, 1, 8, 9, 4, 5, 12, 13) + __builtin_shufflevector(u45, u67, 2, 3, 10, 11, 6, 7, 14, 15);
    v8 r = __builtin_shufflevector(w0, w1, 0, 1, 2, 3, 8, 9, 10, 11) + __builtin_shufflevector(w0, w1, 4, 5, 6, 7, 12, 13, 14, 15);
    for (; p < k; p++) {
        float x0 = a0[p], x1 = a1[p];
        r += (v8){x0 * b0[p], x0 * b1[p], x0 * b2[p], x0 * b3[p], x1 * b0[p], x1 * b1[p], x1 * b2[p], x1 * b3[p]};
    }
    return r;
}

AI void dotnt(long m, long n, long k, float alpha, const float *a, long lda,
              const float *b, long ldb, float beta, float *c, long ldc) {
    for (long i = 0; i < m; i += 2) {
        const int two = i + 1 < m;
        const float *a0 = a + i * lda, *a1 = two ? a0 + lda : a0;  // odd last row: computed twice, stored once
        for (long j = 0; j < n; j += 4) {
            const float *bq[4];
            for (int q = 0; q < 4; q++) bq[q] = b + (j + q < n ? j + q : n - 1) * ldb;
            v8 r = nt_tile(k, a0, a1, bq[0], bq[1], bq[2], bq[3]);
            float *c0 = c + i * ldc + j, *c1 = c0 + ldc;
            for (int q = 0; q < 4 && j + q < n; q++) {
                c0[q] = fin1(r[q], alpha, beta, c0 + q);
                if (two) c1[q] = fin1(r[4 + q], alpha, beta, c1 + q);
            }
        }
    }
}

// MARK: - Transposing B for NT

/// bt[p * n + j] = b[j * ldb + p] (bt is k x n): 8 x 8 blocks by shuffles, edges scalar.
AI void transpose_into(long n, long k, const float *b, long ldb, float *bt) {
    long j = 0;
    for (; j + 8 <= n; j += 8) {
        long p = 0;
        for (; p + 8 <= k; p += 8) {
            const float *s = b + j * ldb + p;
            v8 r0 = ld8(s), r1 = ld8(s + ldb), r2 = ld8(s + 2 * ldb), r3 = ld8(s + 3 * ldb);
            v8 r4 = ld8(s + 4 * ldb), r5 = ld8(s + 5 * ldb), r6 = ld8(s + 6 * ldb), r7 = ld8(s + 7 * ldb);
            v8 t0 = __builtin_shufflevector(r0, r1, 0, 8, 1, 9, 4, 12, 5, 13), t1 = __builtin_shufflevector(r0, r1, 2, 10, 3, 11, 6, 14, 7, 15);
            v8 t2 = __builtin_shufflevector(r2, r3, 0, 8, 1, 9, 4, 12, 5, 13), t3 = __builtin_shufflevector(r2, r3, 2, 10, 3, 11, 6, 14, 7, 15);
            v8 t4 = __builtin_shufflevector(r4, r5, 0, 8, 1, 9, 4, 12, 5, 13), t5 = __builtin_shufflevector(r4, r5, 2, 10, 3, 11, 6, 14, 7, 15);
            v8 t6 = __builtin_shufflevector(r6, r7, 0, 8, 1, 9, 4, 12, 5, 13), t7 = __builtin_shufflevector(r6, r7, 2, 10, 3, 11, 6, 14, 7, 15);
            v8 u0 = __builtin_shufflevector(t0, t2, 0, 1, 8, 9, 4, 5, 12, 13), u1 = __builtin_shufflevector(t0, t2, 2, 3, 10, 11, 6, 7, 14, 15);
            v8 u2 = __builtin_shufflevector(t1, t3, 0, 1, 8, 9, 4, 5, 12, 13), u3 = __builtin_shufflevector(t1, t3, 2, 3, 10, 11, 6, 7, 14, 15);
            v8 u4 = __builtin_shufflevector(t4, t6, 0, 1, 8, 9, 4, 5, 12, 13), u5 = __builtin_shufflevector(t4, t6, 2, 3, 10, 11, 6, 7, 14, 15);
            v8 u6 = __builtin_shufflevector(t5, t7, 0, 1, 8, 9, 4, 5, 12, 13), u7 = __builtin_shufflevector(t5, t7, 2, 3, 10, 11, 6, 7, 14, 15);
            float *d = bt + p * n + j;
            st8(d, __builtin_shufflevector(u0, u4, 0, 1, 2, 3, 8, 9, 10, 11));
            st8(d + n, __builtin_shufflevector(u1, u5, 0, 1, 2, 3, 8, 9, 10, 11));
            st8(d + 2 * n, __builtin_shufflevector(u2, u6, 0, 1, 2, 3, 8, 9, 10, 11));
            st8(d + 3 * n, __builtin_shufflevector(u3, u7, 0, 1, 2, 3, 8, 9, 10, 11));
            st8(d + 4 * n, __builtin_shufflevector(u0, u4, 4, 5, 6, 7, 12, 13, 14, 15));
            st8(d + 5 * n, __builtin_shufflevector(u1, u5, 4, 5, 6, 7, 12, 13, 14, 15));
            st8(d + 6 * n, __builtin_shufflevector(u2, u6, 4, 5, 6, 7, 12, 13, 14, 15));
            st8(d + 7 * n, __builtin_shufflevector(u3, u7, 4, 5, 6, 7, 12, 13, 14, 15));
        }
        for (; p < k; p++)
            for (long q = 0; q < 8; q++) bt[p * n + j + q] = b[(j + q) * ldb + p];
    }
    for (; j < n; j++)
        for (long p = 0; p < k; p++) bt[p * n + j] = b[j * ldb + p];
}

/// Four rows' floats h..h+3, one per 128-bit lane: [r0[h..h+3] | r1[h..] | r2[h..] | r3[h..]].
AI v16 lanes4(const float *r0, const float *r1, const float *r2, const float *r3, int h) {
    v4 x0, x1, x2, x3;
    memcpy(&x0, r0 + h, sizeof x0); memcpy(&x1, r1 + h, sizeof x1);
    memcpy(&x2, r2 + h, sizeof x2); memcpy(&x3, r3 + h, sizeof x3);
    v8 lo = __builtin_shufflevector(x0, x1, 0, 1, 2, 3, 4, 5, 6, 7), hi = __builtin_shufflevector(x2, x3, 0, 1, 2, 3, 4, 5, 6, 7);
    return __builtin_shufflevector(lo, hi, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
}

/// The 16 x 8 block b[r * ldb + s] (r < 16, s < 8) transposed: o[s] = column s, rows 0..15.
/// Loads put rows 4L..4L+3 in 128-bit lane L, so only in-lane unpacks follow.
AI void tr16x8(const float *b, long ldb, v16 o[8]) {
    const float *b4 = b + 4 * ldb, *b8 = b + 8 * ldb, *b12 = b + 12 * ldb;
    for (int h = 0; h < 8; h += 4) {
        v16 r0 = lanes4(b, b4, b8, b12, h), r1 = lanes4(b + ldb, b4 + ldb, b8 + ldb, b12 + ldb, h);
        v16 r2 = lanes4(b + 2 * ldb, b4 + 2 * ldb, b8 + 2 * ldb, b12 + 2 * ldb, h);
        v16 r3 = lanes4(b + 3 * ldb, b4 + 3 * ldb, b8 + 3 * ldb, b12 + 3 * ldb, h);
        v16 t0 = __builtin_shufflevector(r0, r1, 0, 16, 1, 17, 4, 20, 5, 21, 8, 24, 9, 25, 12, 28, 13, 29);
        v16 t1 = __builtin_shufflevector(r0, r1, 2, 18, 3, 19, 6, 22, 7, 23, 10, 26, 11, 27, 14, 30, 15, 31);
        v16 t2 = __builtin_shufflevector(r2, r3, 0, 16, 1, 17, 4, 20, 5, 21, 8, 24, 9, 25, 12, 28, 13, 29);
        v16 t3 = __builtin_shufflevector(r2, r3, 2, 18, 3, 19, 6, 22, 7, 23, 10, 26, 11, 27, 14, 30, 15, 31);
        o[h] = __builtin_shufflevector(t0, t2, 0, 1, 16, 17, 4, 5, 20, 21, 8, 9, 24, 25, 12, 13, 28, 29);
        o[h + 1] = __builtin_shufflevector(t0, t2, 2, 3, 18, 19, 6, 7, 22, 23, 10, 11, 26, 27, 14, 15, 30, 31);
        o[h + 2] = __builtin_shufflevector(t1, t3, 0, 1, 16, 17, 4, 5, 20, 21, 8, 9, 24, 25, 12, 13, 28, 29);
        o[h + 3] = __builtin_shufflevector(t1, t3, 2, 3, 18, 19, 6, 7, 22, 23, 10, 11, 26, 27, 14, 15, 30, 31);
    }
}

/// The 8 x 8 block b[r * ldb + s] (r, s < 8) transposed: o[s] = column s, rows 0..7.
AI void tr8(const float *b, long ldb, v8 o[8]) {
    for (int h = 0; h < 8; h += 4) {  // rows r and r + 4 share a register, one per 128-bit lane
        v4 x[8];
        for (int r = 0; r < 8; r++) memcpy(&x[r], b + r * ldb + h, sizeof x[r]);
        v8 r0 = __builtin_shufflevector(x[0], x[4], 0, 1, 2, 3, 4, 5, 6, 7), r1 = __builtin_shufflevector(x[1], x[5], 0, 1, 2, 3, 4, 5, 6, 7);
        v8 r2 = __builtin_shufflevector(x[2], x[6], 0, 1, 2, 3, 4, 5, 6, 7), r3 = __builtin_shufflevector(x[3], x[7], 0, 1, 2, 3, 4, 5, 6, 7);
        v8 t0 = __builtin_shufflevector(r0, r1, 0, 8, 1, 9, 4, 12, 5, 13), t1 = __builtin_shufflevector(r0, r1, 2, 10, 3, 11, 6, 14, 7, 15);
        v8 t2 = __builtin_shufflevector(r2, r3, 0, 8, 1, 9, 4, 12, 5, 13), t3 = __builtin_shufflevector(r2, r3, 2, 10, 3, 11, 6, 14, 7, 15);
        o[h] = __builtin_shufflevector(t0, t2, 0, 1, 8, 9, 4, 5, 12, 13);
        o[h + 1] = __builtin_shufflevector(t0, t2, 2, 3, 10, 11, 6, 7, 14, 15);
        o[h + 2] = __builtin_shufflevector(t1, t3, 0, 1, 8, 9, 4, 5, 12, 13);
        o[h + 3] = __builtin_shufflevector(t1, t3, 2, 3, 10, 11, 6, 7, 14, 15);
    }
}

/// NT for R <= 12 rows (AVX-512 build), 16 columns of C a panel (then one of 8), without storing B^T:
/// each 16 x 8 block of B is transposed in registers and multiplied straight away into
/// R zmm accumulators (R independent chains cover the FMA latency). For the batch-10 products
/// (x W^T) this replaces a copy of B that cost about a third of the NN work (10x40x40 on Zen 4:
/// ~125 of ~440 ns). Same chain per element (p in order, one FMA a step) and finish as rb_tile.
AI void nt_direct(const int R, long n, long k, const float *a, long lda, const float *b, long ldb,
                  float alpha, float beta, float *c, long ldc) {
    for (long j = 0; j + 16 <= n; j += 16) {
        const float *bj = b + j * ldb;
        v16 acc[12];
        for (int r = 0; r < R; r++) acc[r] = splat16(0);
        long p = 0;
        for (; p + 8 <= k; p += 8) {
            v16 o[8];
            tr16x8(bj + p, ldb, o);
            for (int s = 0; s < 8; s++)
                for (int r = 0; r < R; r++) acc[r] += splat16(a[r * lda + p + s]) * o[s];
        }
        for (; p < k; p++) {
            v16 bv;
            for (int q = 0; q < 16; q++) bv[q] = bj[q * ldb + p];
            for (int r = 0; r < R; r++) acc[r] += splat16(a[r * lda + p]) * bv;
        }
        for (int r = 0; r < R; r++) {
            float *cr = c + r * ldc + j;
            v16 sv = acc[r];
            st16(cr, beta == 0 ? splat16(alpha) * sv : splat16(alpha) * sv + splat16(beta) * ld16(cr));
        }
    }
    if (n % 16 < 8) return;
    const long j = n / 16 * 16;  // one 8-column panel in ymm accumulators
    const float *bj = b + j * ldb;
    v8 acc[12];
    for (int r = 0; r < R; r++) acc[r] = splat(0);
    long p = 0;
    for (; p + 8 <= k; p += 8) {
        v8 o[8];
        tr8(bj + p, ldb, o);
        for (int s = 0; s < 8; s++)
            for (int r = 0; r < R; r++) acc[r] += splat(a[r * lda + p + s]) * o[s];
    }
    for (; p < k; p++) {
        v8 bv;
        for (int q = 0; q < 8; q++) bv[q] = bj[q * ldb + p];
        for (int r = 0; r < R; r++) acc[r] += splat(a[r * lda + p]) * bv;
    }
    for (int r = 0; r < R; r++) {
        float *cr = c + r * ldc + j;
        v8 sv = acc[r];
        st8(cr, beta == 0 ? splat(alpha) * sv : splat(alpha) * sv + splat(beta) * ld8(cr));
    }
}

/// NT through the NN path, one column panel of C at a time: B's rows j..j+31 (16 without
/// AVX-512) are transposed into a k x 32 stack panel, then multiplied. Per panel the
/// transposed rows are still in L1 and the buffer is bounded by k alone (the whole-B copy
/// this replaces stopped at n k <= 4096, sending GRU/LSTM's 10x120x40 / 10x160x40 to dot
/// products). Each element of C is the same FMA chain over p as in the whole-B version.
AI void ntpanels(const int W16, long m, long n, long k, float alpha, const float *a, long lda,
                 const float *b, long ldb, float beta, float *c, long ldc) {
    float bt[PANEL_ROWS * 32];
    const long w = W16 ? 32 : 16;
    long j = 0;
    for (; j + w <= n; j += w) {
        transpose_into(w, k, b + j * ldb, ldb, bt);
        if (W16) rb_cols16(2, m, k, a, lda, 1, bt, w, alpha, beta, c + j, ldc);
        else rb_cols(2, m, k, a, lda, 1, bt, w, alpha, beta, c + j, ldc);
    }
    if (j == n) return;
    transpose_into(n - j, k, b + j * ldb, ldb, bt);  // the last n % w columns: n - j has n's residue mod 8
    rowbcast(W16, m, n - j, k, alpha, a, lda, 1, bt, n - j, beta, c + j, ldc);
}

// MARK: - Driver

AI void sgemm_body(const int W16, int ta, int tb, long m, long n, long k, float alpha, const float *a, long lda,
                   const float *b, long ldb, float beta, float *c, long ldc) {
    if (m <= 0 || n <= 0) return;
    if (k <= 0) {  // C = beta C; beta == 0 writes zeros without reading C
        for (long i = 0; i < m; i++)
            for (long j = 0; j < n; j++) c[i * ldc + j] = beta == 0 ? 0 : beta * c[i * ldc + j];
        return;
    }
    if (n == 1) {  // one output column: B's column is the vector x, x[p] = op(B)(p, 0)
        const long xs = tb ? 1 : ldb;
        if (ta) gemv_cols(m, k, alpha, a, lda, b, xs, beta, c, ldc);
        else gemv_rows(m, k, alpha, a, lda, b, xs, beta, c, ldc);
        return;
    }
    if (tb && k == 1 && ldb == 1) tb = 0;  // B^T is then one contiguous row: no transpose
    if (!ta && !tb) { rowbcast(W16, m, n, k, alpha, a, lda, 1, b, ldb, beta, c, ldc); return; }
    if (ta && !tb) { rowbcast(W16, m, n, k, alpha, a, 1, lda, b, ldb, beta, c, ldc); return; }
    if (!ta && tb) {
        // Transposed B + the NN path beats dot products (0.56 vs 0.82 us at 10x40x40)
        // except for narrow C (n < 8), where the NN path would run on padded copies.
        const int panels = (n >= 8 || k < 8) && k <= PANEL_ROWS;  // decided on the whole n, as without AVX-512
        if (panels && W16 && n >= 16 && m >= 4 && m <= 12) {
            switch (m) {
            case 4: nt_direct(4, n, k, a, lda, b, ldb, alpha, beta, c, ldc); break;
            case 5: nt_direct(5, n, k, a, lda, b, ldb, alpha, beta, c, ldc); break;
            case 6: nt_direct(6, n, k, a, lda, b, ldb, alpha, beta, c, ldc); break;
            case 7: nt_direct(7, n, k, a, lda, b, ldb, alpha, beta, c, ldc); break;
            case 8: nt_direct(8, n, k, a, lda, b, ldb, alpha, beta, c, ldc); break;
            case 9: nt_direct(9, n, k, a, lda, b, ldb, alpha, beta, c, ldc); break;
            case 10: nt_direct(10, n, k, a, lda, b, ldb, alpha, beta, c, ldc); break;
            case 11: nt_direct(11, n, k, a, lda, b, ldb, alpha, beta, c, ldc); break;
            default: nt_direct(12, n, k, a, lda, b, ldb, alpha, beta, c, ldc); break;
            }
            const long j = n / 8 * 8;  // the last n % 8 columns through the panel copy
            if (j == n) return;
            n -= j; b += j * ldb; c += j;
        }
        if (panels) ntpanels(W16, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        else dotnt(m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        return;
    }
    for (long i = 0; i < m; i++)  // TT
        for (long j = 0; j < n; j++) {
            float s = 0;
            for (long p = 0; p < k; p++) s += a[p * lda + i] * b[j * ldb + p];
            c[i * ldc + j] = fin1(s, alpha, beta, c + i * ldc + j);
        }
}

static void sgemm_baseline(int ta, int tb, long m, long n, long k, float alpha, const float *a, long lda,
                           const float *b, long ldb, float beta, float *c, long ldc) {
    sgemm_body(0, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

#ifdef MK_X86
__attribute__((target("avx2,fma")))
static void sgemm_avx2(int ta, int tb, long m, long n, long k, float alpha, const float *a, long lda,
                       const float *b, long ldb, float beta, float *c, long ldc) {
    sgemm_body(0, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

__attribute__((target("avx512f,avx512vl,avx2,fma")))
static void sgemm_avx512(int ta, int tb, long m, long n, long k, float alpha, const float *a, long lda,
                         const float *b, long ldb, float beta, float *c, long ldc) {
    sgemm_body(1, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}
#endif

// MARK: - Dispatch (decided once, at load time)

static int detect_avx2_fma(void) {
#ifdef MK_X86
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    const int fma = (c >> 12) & 1, osxsave = (c >> 27) & 1, avx = (c >> 28) & 1;
    if (!(fma && osxsave && avx)) return 0;
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    if ((lo & 6) != 6) return 0;  // the OS saves xmm and ymm state
    if (__get_cpuid_max(0, 0) < 7) return 0;
    __cpuid_count(7, 0, a, b, c, d);
    return (b >> 5) & 1;
#else
    return 0;
#endif
}

/// AVX-512F and AVX-512VL (CPUID leaf 7 EBX bits 16 and 31) with the OS saving opmask,
/// upper-ZMM0-15 and ZMM16-31 state (XCR0 bits 5-7) as well as xmm/ymm (bits 1-2).
/// Only asked when AVX2+FMA are present.
static int detect_avx512(void) {
#ifdef MK_X86
    unsigned a, b, c, d;
    if (__get_cpuid_max(0, 0) < 7) return 0;
    __cpuid_count(7, 0, a, b, c, d);
    if (!((b >> 16) & 1) || !((b >> 31) & 1)) return 0;
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return (lo & 0xE6) == 0xE6;
#else
    return 0;
#endif
}

typedef void (*sgemm_fn)(int, int, long, long, long, float, const float *, long, const float *, long, float, float *, long);
static int avx2_available = 0, avx512_available = 0;
static int active_isa = 0;
static sgemm_fn active = sgemm_baseline;  // mk_sgemm calls it directly: ~30 calls per MAML task

/// The best build the CPU and OS support: AVX-512 > AVX2+FMA > baseline.
/// MAML_KERNELS_ISA=avx2 or =baseline caps it (e.g. to compare numbers across machines);
/// =avx512 is the default cap. maml-host refuses other values before anything runs.
__attribute__((constructor)) static void mk_init(void) {
    avx2_available = detect_avx2_fma();
    avx512_available = avx2_available && detect_avx512();
    const char *forced = getenv("MAML_KERNELS_ISA");
    int cap = 2;
    if (forced && strcmp(forced, "baseline") == 0) cap = 0;
    else if (forced && strcmp(forced, "avx2") == 0) cap = 1;
    active_isa = avx512_available && cap >= 2 ? 2 : avx2_available && cap >= 1 ? 1 : 0;
#ifdef MK_X86
    if (active_isa == 2) active = sgemm_avx512;
    else if (active_isa == 1) active = sgemm_avx2;
#endif
}

int mk_active_isa(void) { return active_isa; }

const char *mk_isa_name(int isa) { return isa >= 2 ? "avx512" : isa == 1 ? "avx2+fma" : "baseline"; }
int mk_avx2_available(void) { return avx2_available; }
int mk_avx512_available(void) { return avx512_available; }

void mk_sgemm_isa(int isa, int ta, int tb, long m, long n, long k, float alpha, const float *a, long lda,
                  const float *b, long ldb, float beta, float *c, long ldc) {
#ifdef MK_X86
    if (isa >= 2 && avx512_available) { sgemm_avx512(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc); return; }
    if (isa >= 1 && avx2_available) { sgemm_avx2(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc); return; }
#endif
    (void)isa;
    sgemm_baseline(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

void mk_sgemm(int ta, int tb, long m, long n, long k, float alpha, const float *a, long lda,
              const float *b, long ldb, float beta, float *c, long ldc) {
    active(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}
