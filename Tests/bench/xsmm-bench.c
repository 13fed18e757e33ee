/* xsmm-bench.c - Intel's LIBXSMM against the small-shape kernels (MAMLKernels) on every
 * product the bundled backbones send to mk_sgemm.
 *
 * The products (shape, transposes, beta, calls per MAML task) were listed by printing
 * every mk_sgemm call of one bench run of each backbone (a temporary debug print,
 * not committed): the sinusoid MLP 1-40-40-1 (batch 10, second-order MAML, one inner
 * step), the RNN plugin's Elman/GRU/LSTM cells (hidden 40, batch 10, 20 steps: 200
 * rows in the summed-over-steps products), and the conv4 head (64 -> 5, 5-way 1-shot,
 * 15 queries; the convolutions themselves go to OpenBLAS).
 *
 * LIBXSMM 1.17 is column-major: row-major C = op(A) op(B) is column-major
 * C^T = op(B)^T op(A)^T, so each product is dispatched as (M, N, K) = (n, m, k) with
 * the operands swapped and TRANS_A = tb, TRANS_B = ta. 1.17's JIT has no TRANS_A
 * kernel (libxsmm_smmdispatch returns NULL), so the row-major NT products (x W^T,
 * every forward layer) have no LIBXSMM kernel; for them the bench times two stand-ins:
 * "xs sgemm" (libxsmm_sgemm, which hands unsupported transposes to the BLAS, here
 * OpenBLAS) and "T+xs" (B transposed into a stack buffer by plain loops, then the
 * JIT NN kernel, i.e. what mk does for NT with LIBXSMM's inner kernel). JIT kernels
 * only take alpha = 1 and beta 0 or 1, which is all the backbones use.
 *
 * Each figure: best of 5 rounds of reps calls (reps scaled by shape), implementations
 * alternating within each round (the machine is shared), one thread, timed by the thread's
 * CPU clock (CLOCK_THREAD_CPUTIME_ID) so that time slices taken by other processes on the
 * same core are not counted (this VM exposes no cycle counters). "same bits" says
 * whether LIBXSMM's output (kernel or T+jit) equals mk's AVX-512 output bit for bit, and
 * whether mk's AVX2 output does; "per task" sums calls x ns into one MAML task's mk_sgemm
 * time per backbone, LIBXSMM counted at the faster of its kernel (or T+jit) and
 * libxsmm_sgemm, with "best" taking the faster of that and mk AVX-512 per product.
 *
 * Build and run (from the repository root; Debian 12: apt-get install libxsmm-dev):
 *   clang -O3 -o /tmp/xsmm-bench Tests/bench/xsmm-bench.c Sources/MAMLKernels/small_gemm.c \
 *      Sources/MAMLKernels/finite.c -ISources/MAMLKernels/include \
 *      /usr/lib/libxsmm.a -lopenblas -lpthread -lrt -ldl -lm
 *   taskset -c 1 /tmp/xsmm-bench [reps-scale, default 1]
 */
#include <libxsmm.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "maml_kernels.h"

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);  /* this thread's CPU time: slices lost to other processes don't count */
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

enum { BUF = 1 << 16 };
static float A[BUF], B[BUF], C0[BUF], C[BUF], REF[BUF], OUT[BUF];

typedef struct { const char *net, *what; int ta, tb; long m, n, k; float beta; int times; } Product;

/* Calls per MAML task (one inner step, second order), from the debug print. */
static const Product products[] = {
    {"mlp", "fwd x W0^T", 0, 1, 10, 40, 1, 1, 3},
    {"mlp", "fwd a W1^T (+R)", 0, 1, 10, 40, 40, 1, 4},
    {"mlp", "fwd a W2^T (+R)", 0, 1, 10, 1, 40, 1, 4},
    {"mlp", "chain g2 W2", 0, 0, 10, 40, 1, 0, 3},
    {"mlp", "Rbwd g2 W2", 0, 0, 10, 40, 1, 1, 1},
    {"mlp", "chain g1 W1", 0, 0, 10, 40, 40, 0, 3},
    {"mlp", "Rbwd g1 W1", 0, 0, 10, 40, 40, 1, 1},
    {"mlp", "dW0 g0^T x", 1, 0, 40, 1, 10, 0, 3},
    {"mlp", "dW1 g1^T a", 1, 0, 40, 40, 10, 0, 3},
    {"mlp", "RdW1 (+=)", 1, 0, 40, 40, 10, 1, 1},
    {"mlp", "dW2 g2^T a", 1, 0, 1, 40, 10, 0, 3},
    {"mlp", "RdW2 (+=)", 1, 0, 1, 40, 10, 1, 1},
    {"elman", "step h W_h^T", 0, 1, 10, 40, 40, 1, 95},
    {"elman", "step dh W_h", 0, 0, 10, 40, 40, 1, 95},
    {"elman", "head fwd", 0, 1, 200, 1, 40, 1, 5},
    {"elman", "input fwd", 0, 1, 200, 40, 1, 1, 4},
    {"elman", "input dX", 0, 0, 200, 40, 1, 0, 4},
    {"elman", "input RdX", 0, 0, 200, 40, 1, 1, 1},
    {"elman", "dW_h sum", 1, 0, 40, 40, 200, 0, 3},
    {"elman", "RdW_h sum", 1, 0, 40, 40, 200, 1, 1},
    {"elman", "dW_x sum", 1, 0, 40, 1, 200, 0, 3},
    {"elman", "dW_head sum", 1, 0, 1, 40, 200, 0, 3},
    {"elman", "RdW_head sum", 1, 0, 1, 40, 200, 1, 1},
    {"gru", "step h W_h^T", 0, 1, 10, 120, 40, 1, 95},
    {"gru", "step dgates W_h", 0, 0, 10, 40, 120, 1, 95},
    {"gru", "head fwd", 0, 1, 200, 1, 40, 1, 5},
    {"gru", "input fwd", 0, 1, 200, 120, 1, 1, 4},
    {"gru", "input dX", 0, 0, 200, 40, 1, 0, 4},
    {"gru", "input RdX", 0, 0, 200, 40, 1, 1, 1},
    {"gru", "dW_h sum", 1, 0, 120, 40, 200, 0, 3},
    {"gru", "RdW_h sum", 1, 0, 120, 40, 200, 1, 1},
    {"gru", "dW_x sum", 1, 0, 120, 1, 200, 0, 3},
    {"gru", "dW_head sum", 1, 0, 1, 40, 200, 0, 3},
    {"gru", "RdW_head sum", 1, 0, 1, 40, 200, 1, 1},
    {"lstm", "step h W_h^T", 0, 1, 10, 160, 40, 1, 95},
    {"lstm", "step dgates W_h", 0, 0, 10, 40, 160, 1, 95},
    {"lstm", "head fwd", 0, 1, 200, 1, 40, 1, 5},
    {"lstm", "input fwd", 0, 1, 200, 160, 1, 1, 4},
    {"lstm", "input dX", 0, 0, 200, 40, 1, 0, 4},
    {"lstm", "input RdX", 0, 0, 200, 40, 1, 1, 1},
    {"lstm", "dW_x sum", 1, 0, 160, 1, 200, 0, 3},
    {"lstm", "dW_head sum", 1, 0, 1, 40, 200, 0, 3},
    {"lstm", "RdW_head sum", 1, 0, 1, 40, 200, 1, 1},
    {"cnn", "head fwd support", 0, 1, 5, 5, 64, 1, 4},
    {"cnn", "head fwd query", 0, 1, 75, 5, 64, 1, 1},
    {"cnn", "head dX support", 0, 0, 5, 64, 5, 0, 3},
    {"cnn", "head RdX support", 0, 0, 5, 64, 5, 1, 1},
    {"cnn", "head dX query", 0, 0, 75, 64, 5, 0, 1},
    {"cnn", "head dW support", 1, 0, 5, 64, 5, 0, 2},
    {"cnn", "head RdW support", 1, 0, 5, 64, 5, 1, 1},
    {"cnn", "head dW query", 1, 0, 5, 64, 75, 0, 1},
};

/* LIBXSMM's stand-in for one product: a JIT kernel (kind 1), transpose + JIT NN (2), or libxsmm_sgemm (3). */
typedef struct { int kind; libxsmm_smmfunction fn; } XS;

static XS xs_prepare(const Product *p) {
    const float alpha = 1, beta = p->beta;
    const libxsmm_blasint lda = p->ta ? p->m : p->k, ldb = p->tb ? p->k : p->n, ldc = p->n;
    const int flags = (p->tb ? LIBXSMM_GEMM_FLAG_TRANS_A : 0) | (p->ta ? LIBXSMM_GEMM_FLAG_TRANS_B : 0);
    libxsmm_smmfunction fn = libxsmm_smmdispatch(p->n, p->m, p->k, &ldb, &lda, &ldc, &alpha, &beta, &flags, NULL);
    if (fn) return (XS){1, fn};
    if (p->tb && !p->ta) {  /* NT: transpose B (n x k) to k x n, then the NN kernel */
        const libxsmm_blasint ldbt = p->n;
        const int none = 0;
        fn = libxsmm_smmdispatch(p->n, p->m, p->k, &ldbt, &lda, &ldc, &alpha, &beta, &none, NULL);
        if (fn) return (XS){2, fn};
    }
    return (XS){3, NULL};
}

static void xs_call(const XS *x, const Product *p, const float *a, const float *b, float *c, int sgemm) {
    const long lda = p->ta ? p->m : p->k, ldb = p->tb ? p->k : p->n;
    if (!sgemm && x->kind == 1) { x->fn(b, a, c); return; }
    if (!sgemm && x->kind == 2) {
        float bt[8192];
        for (long p0 = 0; p0 < p->k; p0++)
            for (long j = 0; j < p->n; j++) bt[p0 * p->n + j] = b[j * ldb + p0];
        x->fn(bt, a, c);
        return;
    }
    const char ta = p->tb ? 'T' : 'N', tb = p->ta ? 'T' : 'N';
    const libxsmm_blasint M = p->n, N = p->m, K = p->k, LDA = ldb, LDB = lda, LDC = p->n;
    const float alpha = 1, beta = p->beta;
    libxsmm_sgemm(&ta, &tb, &M, &N, &K, &alpha, b, &LDA, a, &LDB, &beta, c, &LDC);
}

/* impl 0: LIBXSMM (kernel, or transpose + kernel), 1: libxsmm_sgemm, 2: mk AVX-512, 3: mk AVX2 */
static void run(int impl, const XS *x, const Product *p, float *c) {
    const long lda = p->ta ? p->m : p->k, ldb = p->tb ? p->k : p->n;
    if (impl <= 1) xs_call(x, p, A, B, c, impl);
    else mk_sgemm_isa(impl == 2 ? 2 : 1, p->ta, p->tb, p->m, p->n, p->k, 1, A, lda, B, ldb, p->beta, c, p->n);
}

int main(int argc, char **argv) {
    const double scale = argc > 1 ? atof(argv[1]) : 1;
    if (!(scale > 0)) { fprintf(stderr, "usage: %s [reps-scale > 0]\n", argv[0]); return 2; }
    if (!mk_avx512_available()) { fprintf(stderr, "needs AVX-512 (mk isa 2)\n"); return 1; }
    libxsmm_init();
    srand(1);
    for (int i = 0; i < BUF; i++) {
        A[i] = (float)(rand() % 2001) / 1000 - 1;
        B[i] = (float)(rand() % 2001) / 1000 - 1;
        C0[i] = (float)(rand() % 2001) / 1000 - 1;
    }
    printf("LIBXSMM %s, target %s; ns per call, best of 5 rounds, implementations alternating\n",
           LIBXSMM_VERSION, libxsmm_get_target_arch());
    printf("%-5s %-17s %-2s %4s %4s %4s %4s %5s | %-6s %8s %8s | %8s %8s | %8s | %6s %5s | %s\n", "net", "product", "op",
           "m", "n", "k", "beta", "calls", "xs", "xs ns", "sgemm ns", "a512 ns", "avx2 ns", "xs/a512",
           "GF xs", "a512", "same bits (xs vs a512; a512 vs avx2)");
    const int count = (int)(sizeof products / sizeof products[0]);
    double tot[8][4] = {{0}}, best[8] = {0};
    const char *nets[8] = {0};
    int nnets = 0;
    for (int i = 0; i < count; i++) {
        const Product *p = &products[i];
        int g = 0;
        while (g < nnets && strcmp(nets[g], p->net)) g++;
        if (g == nnets) nets[nnets++] = p->net;
        XS x = xs_prepare(p);
        const long csize = p->m * p->n;
        const double flops = 2.0 * p->m * p->n * p->k;
        long reps = (long)(scale * 4e7 / (flops + 2000));
        if (reps < 200) reps = 200;
        double t[4] = {1e30, 1e30, 1e30, 1e30};
        for (int round = 0; round < 5; round++)
            for (int impl = 0; impl < 4; impl++) {
                memcpy(C, C0, csize * sizeof(float));
                const double t0 = now();
                for (long r = 0; r < reps; r++) run(impl, &x, p, C);
                const double dt = (now() - t0) / reps;
                if (dt < t[impl]) t[impl] = dt;
            }
        /* Outputs from the same C: LIBXSMM's (kernel or stand-in) and AVX2 against AVX-512. */
        memcpy(REF, C0, csize * sizeof(float));
        mk_sgemm_isa(2, p->ta, p->tb, p->m, p->n, p->k, 1, A, p->ta ? p->m : p->k, B, p->tb ? p->k : p->n, p->beta, REF, p->n);
        memcpy(OUT, C0, csize * sizeof(float));
        run(0, &x, p, OUT);
        long diff = 0;
        double worst = 0;
        for (long q = 0; q < csize; q++) {
            if (memcmp(&OUT[q], &REF[q], 4)) diff++;
            if (fabs(OUT[q] - REF[q]) > worst) worst = fabs(OUT[q] - REF[q]);
        }
        memcpy(OUT, C0, csize * sizeof(float));
        run(3, &x, p, OUT);
        const int avx2same = memcmp(OUT, REF, csize * sizeof(float)) == 0;
        static const char *const kind[] = {"", "jit", "T+jit", "sgemm"};
        /* LIBXSMM's best: its kernel (or T+jit) or libxsmm_sgemm (for NT: OpenBLAS behind it) */
        const double xsbest = x.kind == 3 || t[1] < t[0] ? t[1] : t[0];
        printf("%-5s %-17s %c%c %4ld %4ld %4ld %4g %5d | %-6s %8.1f %8.1f | %8.1f %8.1f | %8.2f | %6.1f %5.1f | ",
               p->net, p->what, p->ta ? 'T' : 'N', p->tb ? 'T' : 'N', p->m, p->n, p->k, p->beta, p->times,
               kind[x.kind], t[0] * 1e9, t[1] * 1e9, t[2] * 1e9, t[3] * 1e9, xsbest / t[2],
               flops / xsbest * 1e-9, flops / t[2] * 1e-9);
        if (diff) printf("%ld/%ld differ (max %.1e)", diff, csize, worst); else printf("yes");
        printf("; %s\n", avx2same ? "yes" : "NO");
        for (int impl = 0; impl < 4; impl++) tot[g][impl] += p->times * (impl == 0 ? xsbest : t[impl]);
        best[g] += p->times * (xsbest < t[2] ? xsbest : t[2]);
    }
    printf("\nmk_sgemm time of one MAML task (us): LIBXSMM (JIT or T+jit or sgemm, the fastest), mk AVX-512, mk AVX2,"
           " best of LIBXSMM and mk AVX-512 per product\n");
    for (int g = 0; g < nnets; g++)
        printf("%-6s xs %8.2f  a512 %8.2f  avx2 %8.2f  best %8.2f  (best saves %.2f us = %.1f%% of a512)\n", nets[g],
               tot[g][0] * 1e6, tot[g][2] * 1e6, tot[g][3] * 1e6, best[g] * 1e6, (tot[g][2] - best[g]) * 1e6,
               100 * (tot[g][2] - best[g]) / tot[g][2]);
    return 0;
}
