/* conv-ops-bench.c - conv4's first block and weight-gradient product, kernel by kernel.
 *
 * At the conv4 query batch (64 channels, 75 images of 28 x 28, one thread):
 *   1. the first block's forward unfused (mk_conv_thin_forward writing the 64 x 75 x 784
 *      map, then mk_bn_stats and mk_bn_pool_relu reading it) against the fused
 *      mk_bn_pool_relu_thin (planes computed again in L1, the map never stored), and
 *      the fused backward mk_bn_pool_backward_thin;
 *   2. the second block's weight-gradient product over one 2-image im2col chunk (K = 392) in both
 *      operand orders through OpenBLAS: dW = in gcols^T against dW^T = gcols in^T.
 * Best of 5 rounds each; the unfused map lives in memory here as in the network, but
 * without the GEMMs' traffic around it, so the fused path's gain is smaller here than in
 * the bench (docs/benchmarks.md, issue 21).
 *
 * Build and run (from the repository root, after `swift build -c release`):
 *   cc -O2 -o /tmp/conv-ops-bench Tests/bench/conv-ops-bench.c -ISources/MAMLKernels/include \
 *      .build/release/MAMLKernels.build/*.o $(pkg-config --cflags --libs openblas) -lm
 *   OPENBLAS_NUM_THREADS=1 taskset -c 1 /tmp/conv-ops-bench [isa: 0 baseline, 1 avx2, 2 avx512]
 */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "maml_kernels.h"

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

static float frand(unsigned *s) { *s = *s * 1664525u + 1013904223u; return (float)(*s >> 8) / 16777216.0f; }

static float *floats(long count, unsigned seed, float scale, float offset) {
    float *p = malloc(sizeof(float) * count);
    for (long i = 0; i < count; i++) p[i] = offset + scale * frand(&seed);
    return p;
}

int main(int argc, char **argv) {
    const int isa = argc > 1 ? atoi(argv[1]) : 2;
    const long cin = 1, n = 75, h = 28, w = 28, k = 3, cout = 64, plane = h * w, mp = n * (h / 2) * (w / 2);
    float *in = floats(n * plane, 1, 1, 0), *wt = floats(cout * 9, 2, 1, -0.5f), *gp0 = floats(cout * mp, 3, 1, -0.5f);
    float *z = malloc(sizeof(float) * cout * n * plane), *zp = malloc(sizeof(float) * plane);
    float *pad = malloc(sizeof(float) * mk_conv_thin_scratch(cin, n, h, w, k));
    float *gamma = floats(cout, 4, 0, 1), *beta = floats(cout, 5, 0, 0), mean[64], inv[64], dg[64], db[64];
    float *pool = malloc(sizeof(float) * cout * mp), *win = malloc(sizeof(float) * cout * mp);
    float *gp = malloc(sizeof(float) * cout * mp);
    int *arg = malloc(sizeof(int) * cout * mp);
    double sums[64], acc[64 * 9];
    double best[4] = {1e9, 1e9, 1e9, 1e9};
    for (int round = 0; round < 5; round++) {
        for (long c = 0; c < cout; c++) sums[c] = 0;
        double t0 = now();
        mk_conv_thin_forward_isa(isa, in, cin, n, h, w, k, plane, plane, wt, cout, z, n * plane, sums, pad);
        double t1 = now();
        mk_bn_stats_isa(isa, z, cout, n * plane, 1e-5f, sums, mean, inv);
        mk_bn_pool_relu_isa(isa, z, cout, n, h, w, mean, inv, gamma, beta, pool, arg, win);
        double t2 = now();
        mk_bn_pool_relu_thin_isa(isa, in, cin, n, h, w, k, plane, plane, wt, cout, 1e-5f, gamma, beta, mean, inv,
                                 pool, arg, win, pad, zp);
        double t3 = now();
        for (long i = 0; i < cout * mp; i++) gp[i] = gp0[i];
        for (long i = 0; i < cout * 9; i++) acc[i] = 0;
        mk_bn_pool_backward_thin_isa(isa, wt, mean, inv, cout, n, h, w, gamma, gp, pool, arg, win, dg, db, in, cin,
                                     k, plane, plane, acc, pad, zp);
        double t4 = now();
        const double d[4] = {t1 - t0, t2 - t1, t3 - t2, t4 - t3};
        for (int i = 0; i < 4; i++) if (d[i] < best[i]) best[i] = d[i];
    }
    printf("first block, %ld x %ld x %ldx%ld, build %d:\n", cout, n, h, w, isa);
    printf("  unfused forward %.3f ms (mk_conv_thin_forward %.3f + mk_bn_stats and mk_bn_pool_relu %.3f)\n",
           (best[0] + best[1]) * 1e3, best[0] * 1e3, best[1] * 1e3);
    printf("  fused forward   %.3f ms (mk_bn_pool_relu_thin)\n", best[2] * 1e3);
    printf("  fused backward  %.3f ms (mk_bn_pool_backward_thin)\n", best[3] * 1e3);

    // The second block (64 -> 64 channels, 14 x 14): weight gradient over a 2-image chunk, K = 392.
    const int ch = 64, kk = 576, width = 392, ld = 400, reps = 200;
    float *x = floats((long)ch * ld, 6, 1, -0.5f), *gcols = floats((long)kk * ld, 7, 1, -0.5f);
    float *c1 = malloc(sizeof(float) * ch * kk), *c2 = malloc(sizeof(float) * ch * kk);
    double nt[2] = {1e9, 1e9};
    for (int round = 0; round < 5; round++) {
        double t0 = now();
        for (int r = 0; r < reps; r++)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, ch, kk, width, 1, x, ld, gcols, ld, r ? 1 : 0, c1, kk);
        double t1 = now();
        for (int r = 0; r < reps; r++)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, kk, ch, width, 1, gcols, ld, x, ld, r ? 1 : 0, c2, ch);
        double t2 = now();
        if (t1 - t0 < nt[0]) nt[0] = t1 - t0;
        if (t2 - t1 < nt[1]) nt[1] = t2 - t1;
    }
    const double flop = 2.0 * ch * kk * width * reps;
    printf("weight gradient 64 x 576 over K = %d (OpenBLAS): in gcols^T %.1f GFLOP/s, gcols in^T %.1f GFLOP/s\n",
           width, flop / nt[0] * 1e-9, flop / nt[1] * 1e-9);
    return 0;
}
