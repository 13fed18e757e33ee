/* cnn-bench.c - release timing of the CNN plugin's loss_grad and hvp, through the C ABI.
 *
 * Loads a plugin .so (dlopen), creates the model from a JSON config, and times
 * loss_grad and hvp on random data at the given batch sizes (single thread:
 * the kit sets OpenBLAS to 1 thread), reporting ms per call (best of R rounds) and
 * GFLOP/s by the model's own "flops" op (hvp reported against the same count).
 * Then cblas_sgemm on 1024^3 in the same process, as the machine's GEMM rate.
 *
 * Build and run (from the repository root, after `swift build -c release`):
 *   cc -O2 -o /tmp/cnn-bench Tests/bench/cnn-bench.c -ISources/MAMLPluginABI/include \
 *      $(pkg-config --cflags --libs openblas) -ldl
 *   OPENBLAS_NUM_THREADS=1 /tmp/cnn-bench .build/release/libmaml_cnn.so '{}' 5 75
 */
#include <cblas.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "maml_plugin.h"

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

static float frand(unsigned *s) { *s = *s * 1664525u + 1013904223u; return (float)(*s >> 8) / 16777216.0f * 2 - 1; }

int main(int argc, char **argv) {
    if (argc < 4) { fprintf(stderr, "usage: %s PLUGIN.so CONFIG_JSON BATCH...\n", argv[0]); return 2; }
    void *lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (!lib) { fprintf(stderr, "dlopen: %s\n", dlerror()); return 1; }
    maml_entry_fn entry = (maml_entry_fn)dlsym(lib, MAML_ENTRY_SYMBOL);
    maml_host_api host = { sizeof(maml_host_api), { MAML_ABI_MAJOR, MAML_ABI_MINOR }, NULL, NULL };
    const maml_registry *reg = entry(MAML_ABI_MAJOR, MAML_ABI_MINOR, &host);
    const maml_model_desc *d = reg->model_at(0);
    maml_model *m = NULL;
    char err[512];
    if (d->create(argv[2], &m, err, sizeof err) != MAML_OK) { fprintf(stderr, "create: %s\n", err); return 1; }
    const maml_ext_hvp *hx = (const maml_ext_hvp *)d->get_extension(m, MAML_EXT_HVP);
    const maml_ext_ops *ox = (const maml_ext_ops *)d->get_extension(m, MAML_EXT_OPS);
    uint64_t (*flops)(maml_model *, uint64_t) = (uint64_t (*)(maml_model *, uint64_t))ox->op_at(m, 0)->fn;
    uint64_t p = d->param_count(m);
    maml_shape in = d->input_shape(m), out = d->output_shape(m);
    uint64_t inElems = 1;
    for (uint32_t i = 0; i < in.rank; i++) inElems *= in.dims[i];
    printf("model %s, %llu parameters, hvp %s\n", argv[2], (unsigned long long)p, hx ? "exact" : "absent");
    float *params = malloc(p * 4), *grad = malloc(p * 4), *v = malloc(p * 4), *hv = malloc(p * 4);
    d->init_params(m, 1, params);
    unsigned s = 7;
    for (uint64_t i = 0; i < p; i++) v[i] = frand(&s);
    for (int a = 3; a < argc; a++) {
        uint64_t n = strtoull(argv[a], NULL, 10);
        float *x = malloc(n * inElems * 4);
        int32_t *y = malloc(n * 4);
        for (uint64_t i = 0; i < n * inElems; i++) x[i] = frand(&s);
        for (uint64_t i = 0; i < n; i++) y[i] = (int32_t)(i % out.dims[0]);
        maml_batch b = { sizeof(maml_batch), n, x, NULL, y };
        float loss;
        int reps = n <= 10 ? 50 : 5;
        double bestG = 1e9, bestH = 1e9;
        for (int r = 0; r < 5; r++) {
            double t0 = now();
            for (int i = 0; i < reps; i++)
                if (d->loss_grad(m, params, &b, &loss, grad) != MAML_OK) { fprintf(stderr, "%s\n", d->last_error(m)); return 1; }
            double t1 = now();
            for (int i = 0; i < reps; i++)
                if (hx->hvp(m, params, &b, v, hv) != MAML_OK) { fprintf(stderr, "%s\n", d->last_error(m)); return 1; }
            double t2 = now();
            if ((t1 - t0) / reps < bestG) bestG = (t1 - t0) / reps;
            if ((t2 - t1) / reps < bestH) bestH = (t2 - t1) / reps;
        }
        double f = (double)flops(m, n);
        printf("batch %3llu: loss_grad %8.3f ms  %6.2f GFLOP/s (%.3f GFLOP)   hvp %8.3f ms  (%.2fx loss_grad)\n",
               (unsigned long long)n, bestG * 1e3, f / bestG * 1e-9, f * 1e-9, bestH * 1e3, bestH / bestG);
        free(x); free(y);
    }
    /* The machine's single-thread GEMM rate. */
    int N = 1024;
    float *A = malloc(N * N * 4), *B = malloc(N * N * 4), *C = malloc(N * N * 4);
    for (int i = 0; i < N * N; i++) { A[i] = frand(&s); B[i] = frand(&s); }
    double best = 1e9;
    for (int r = 0; r < 5; r++) {
        double t0 = now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, N, N, 1, A, N, B, N, 0, C, N);
        double t = now() - t0;
        if (t < best) best = t;
    }
    printf("cblas_sgemm 1024^3: %.2f ms, %.2f GFLOP/s\n", best * 1e3, 2.0 * N * N * N / best * 1e-9);
    d->destroy(m);
    return 0;
}
