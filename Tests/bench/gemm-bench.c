/* gemm-bench.c - the small-shape kernels (MAMLKernels) on the products of one MAML task.
 *
 * Times mk_sgemm on every product one second-order MAML task of the sinusoid MLP
 * (1-40-40-1, batch 10, one inner step) makes: two loss_grads (forward, gradient
 * chain, weight gradients) and one HVP reusing the support pass (R-forward,
 * R-backward), in every build the CPU runs (baseline, AVX2+FMA, AVX-512), and sums
 * them into the GEMM time of one task. Then the finiteness scan on the MLP's 1,761 parameters. Each
 * figure is the best of 5 rounds of `reps` calls (default 200,000), one thread, the builds
 * alternating within a round, timed by the thread's CPU clock (the machine is shared).
 * Tests/bench/xsmm-bench.c covers every backbone's products and compares LIBXSMM.
 *
 * Build with clang, as SwiftPM builds the kernels (GCC compiles the vector extensions
 * into much slower code: 4.2 against 1.4 us for the 10x40x40 NT product here).
 * Build and run (from the repository root):
 *   clang -O3 -o /tmp/gemm-bench Tests/bench/gemm-bench.c Sources/MAMLKernels/small_gemm.c \
 *      Sources/MAMLKernels/finite.c -ISources/MAMLKernels/include
 *   taskset -c 1 /tmp/gemm-bench [reps]
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "maml_kernels.h"

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);  /* CPU time: other processes' slices on the core don't count */
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

static float A[4096], B[4096], C[4096];

/// One product of the task: transposes, shape, beta, and how often a task makes it.
typedef struct { const char *what; int ta, tb; long m, n, k; float beta; int times; } Product;

static const Product task[] = {
    /* loss_grad (support and query): forward, gradient chain, weight gradients */
    {"fwd layer0 x W0^T", 0, 1, 10, 40, 1, 1, 2},
    {"fwd layer1 a W1^T", 0, 1, 10, 40, 40, 1, 2},
    {"fwd layer2 a W2^T", 0, 1, 10, 1, 40, 1, 2},
    {"chain g2 W2", 0, 0, 10, 40, 1, 0, 2},
    {"chain g1 W1", 0, 0, 10, 40, 40, 0, 2},
    {"dW0 g0^T x", 1, 0, 40, 1, 10, 0, 2},
    {"dW1 g1^T a", 1, 0, 40, 40, 10, 0, 2},
    {"dW2 g2^T a", 1, 0, 1, 40, 10, 0, 2},
    /* HVP at the support pass: R-forward, R-backward */
    {"Rfwd x V0^T", 0, 1, 10, 40, 1, 1, 1},
    {"Rfwd a V1^T, Ra W1^T", 0, 1, 10, 40, 40, 1, 2},
    {"Rfwd a V2^T, Ra W2^T", 0, 1, 10, 1, 40, 1, 2},
    {"Rbwd R dW2 (two)", 1, 0, 1, 40, 10, 0, 2},
    {"Rbwd Rga2 (two)", 0, 0, 10, 40, 1, 0, 2},
    {"Rbwd R dW1 (two)", 1, 0, 40, 40, 10, 0, 2},
    {"Rbwd Rga1 (two)", 0, 0, 10, 40, 40, 0, 2},
    {"Rbwd R dW0", 1, 0, 40, 1, 10, 0, 1},
};

/// Best of 5 rounds of reps calls for every build, the builds alternating within each round
/// (the machine is shared, so a slow spell hits all of them).
static void time_product(int builds, const Product *p, int reps, double best[3]) {
    const long lda = p->ta ? p->m : p->k, ldb = p->tb ? p->k : p->n;
    for (int isa = 0; isa < builds; isa++) best[isa] = 1e30;
    for (int round = 0; round < 5; round++)
        for (int isa = 0; isa < builds; isa++) {
            const double t0 = now();
            for (int r = 0; r < reps; r++)
                mk_sgemm_isa(isa, p->ta, p->tb, p->m, p->n, p->k, 1, A, lda, B, ldb, p->beta, C, p->n);
            const double dt = (now() - t0) / reps;
            if (dt < best[isa]) best[isa] = dt;
        }
}

int main(int argc, char **argv) {
    const int reps = argc > 1 ? atoi(argv[1]) : 200000;
    if (reps < 1) { fprintf(stderr, "usage: %s [reps >= 1]\n", argv[0]); return 2; }
    for (int i = 0; i < 4096; i++) { A[i] = (float)(rand() % 1000) / 1000 - 0.5f; B[i] = (float)(rand() % 1000) / 1000 - 0.5f; }
    const int builds = mk_avx512_available() ? 3 : mk_avx2_available() ? 2 : 1;
    static const char *const tag[] = {"base", "avx2", "a512"}, *const name[] = {"baseline", "avx2", "avx512"};
    printf("%-24s %-4s %4s %4s %4s %5s", "product", "op", "m", "n", "k", "times");
    for (int isa = 0; isa < builds; isa++) printf("  %s ns  GFLOP/s", tag[isa]);
    printf("\n");
    double total[3] = {0, 0, 0};
    const int count = (int)(sizeof task / sizeof task[0]);
    for (int i = 0; i < count; i++) {
        const Product *p = &task[i];
        printf("%-24s %c%c   %4ld %4ld %4ld %5d", p->what, p->ta ? 'T' : 'N', p->tb ? 'T' : 'N', p->m, p->n, p->k, p->times);
        double best[3];
        time_product(builds, p, reps, best);
        for (int isa = 0; isa < builds; isa++) {
            const double t = best[isa];
            total[isa] += p->times * t;
            printf("  %7.1f  %7.2f", t * 1e9, 2.0 * p->m * p->n * p->k / t * 1e-9);
        }
        printf("\n");
    }
    printf("GEMM time of one task:");
    for (int isa = 0; isa < builds; isa++) printf("  %s %.2f us", name[isa], total[isa] * 1e6);
    printf("\n");

    static float x[1761];
    for (int i = 0; i < 1761; i++) x[i] = 0.001f * i;
    printf("finiteness scan, 1,761 floats:");
    for (int isa = 0; isa < builds; isa++) {
        double best = 1e30;
        long sink = 0;
        for (int round = 0; round < 5; round++) {
            const double t0 = now();
            for (int r = 0; r < reps; r++) sink += mk_first_nonfinite_isa(isa, x, 1761);
            const double dt = (now() - t0) / reps;
            if (dt < best) best = dt;
        }
        if (sink != -5L * reps) { fprintf(stderr, "finiteness scan: wrong answer\n"); return 1; }
        printf("  %s %.1f ns", name[isa], best * 1e9);
    }
    printf("\n");
    return 0;
}
