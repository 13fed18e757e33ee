// The trainer's per-step vector work: see include/maml_kernels.h for the contract.
//
// These loops ran in Swift, which is compiled for baseline x86-64 (SSE2: two doubles,
// four floats a step); the one-core sinusoid profile had the reduction and Adam at
// 7.4% of the time. Here each body is compiled three times (baseline, AVX2, AVX-512)
// and chosen with the GEMM's build. Contraction is off: every build does exactly the
// Swift code's operations (double sums in task order, Adam without FMA), so all three
// give the bits the Swift loops gave, and checkpoints do not depend on the CPU.
#include "isa.h"

#pragma clang fp contract(off)

#define AI static inline __attribute__((always_inline))
enum { MEAN_BLOCK = 64 };

// MARK: - Bodies (vectorised by the compiler for each target)

AI void task_mean_body(const float *slots, long stride, const long *tasks, long count, double inv,
                       long lo, long hi, float *mean) {
    long k = lo;
    // A block of columns stays in registers while the tasks stream past, in task order.
    for (; k + MEAN_BLOCK <= hi; k += MEAN_BLOCK) {
        double acc[MEAN_BLOCK];
        const float *first = slots + tasks[0] * stride + k;
        for (int j = 0; j < MEAN_BLOCK; j++) acc[j] = (double)first[j];
        for (long t = 1; t < count; t++) {
            const float *s = slots + tasks[t] * stride + k;
#pragma clang loop vectorize(assume_safety)
            for (int j = 0; j < MEAN_BLOCK; j++) acc[j] += (double)s[j];
        }
        for (int j = 0; j < MEAN_BLOCK; j++) mean[k + j] = (float)(acc[j] * inv);
    }
    for (; k < hi; k++) {
        double acc = (double)slots[tasks[0] * stride + k];
        for (long t = 1; t < count; t++) acc += (double)slots[tasks[t] * stride + k];
        mean[k] = (float)(acc * inv);
    }
}

AI void adam_body(long n, const float *g, float *p, float *m, float *v, float step, float bc2_sqrt,
                  float w1, float b2, float w2, float eps) {
#pragma clang loop vectorize(assume_safety)
    for (long i = 0; i < n; i++) {
        const float gi = g[i];
        const float mi = m[i] + w1 * (gi - m[i]);
        const float vi = v[i] * b2 + w2 * gi * gi;
        m[i] = mi;
        v[i] = vi;
        // The elementwise builtin sets no errno, so the loop vectorises (IEEE sqrt either way).
        const float denom = __builtin_elementwise_sqrt(vi) / bc2_sqrt + eps;
        p[i] = p[i] + step * mi / denom;
    }
}

AI void add_scaled_body(const float *a, float s, const float *b, float *dst, long n) {
    // dst may be a (v <- v - alpha Hv): element-wise at the same index, so safe to vectorise.
#pragma clang loop vectorize(assume_safety)
    for (long i = 0; i < n; i++) dst[i] = a[i] + s * b[i];
}

// MARK: - Builds

#define MK_VECTOR_BUILD(SUFFIX, ATTR)                                                                     \
ATTR static void task_mean_##SUFFIX(const float *slots, long stride, const long *tasks, long count,      \
                                    double inv, long lo, long hi, float *mean) {                          \
    task_mean_body(slots, stride, tasks, count, inv, lo, hi, mean);                                       \
}                                                                                                         \
ATTR static void adam_##SUFFIX(long n, const float *g, float *p, float *m, float *v, float step,          \
                               float bc2_sqrt, float w1, float b2, float w2, float eps) {                 \
    adam_body(n, g, p, m, v, step, bc2_sqrt, w1, b2, w2, eps);                                            \
}                                                                                                         \
ATTR static void add_scaled_##SUFFIX(const float *a, float s, const float *b, float *dst, long n) {      \
    add_scaled_body(a, s, b, dst, n);                                                                     \
}

MK_VECTOR_BUILD(baseline, )
#ifdef MK_X86
MK_VECTOR_BUILD(avx2, MK_TARGET_AVX2)
MK_VECTOR_BUILD(avx512, MK_TARGET_AVX512)
#endif

// MARK: - Dispatch

void mk_task_mean_isa(int isa, const float *slots, long stride, const long *tasks, long count, double inv,
                      long lo, long hi, float *mean) {
    if (count <= 0 || hi <= lo) return;
    switch (mk_build(isa)) {
#ifdef MK_X86
    case 2: task_mean_avx512(slots, stride, tasks, count, inv, lo, hi, mean); return;
    case 1: task_mean_avx2(slots, stride, tasks, count, inv, lo, hi, mean); return;
#endif
    default: task_mean_baseline(slots, stride, tasks, count, inv, lo, hi, mean); return;
    }
}

void mk_task_mean(const float *slots, long stride, const long *tasks, long count, double inv,
                  long lo, long hi, float *mean) {
    mk_task_mean_isa(mk_active_isa(), slots, stride, tasks, count, inv, lo, hi, mean);
}

void mk_adam_isa(int isa, long n, const float *g, float *p, float *m, float *v, float step, float bc2_sqrt,
                 float w1, float b2, float w2, float eps) {
    switch (mk_build(isa)) {
#ifdef MK_X86
    case 2: adam_avx512(n, g, p, m, v, step, bc2_sqrt, w1, b2, w2, eps); return;
    case 1: adam_avx2(n, g, p, m, v, step, bc2_sqrt, w1, b2, w2, eps); return;
#endif
    default: adam_baseline(n, g, p, m, v, step, bc2_sqrt, w1, b2, w2, eps); return;
    }
}

void mk_adam(long n, const float *g, float *p, float *m, float *v, float step, float bc2_sqrt,
             float w1, float b2, float w2, float eps) {
    mk_adam_isa(mk_active_isa(), n, g, p, m, v, step, bc2_sqrt, w1, b2, w2, eps);
}

void mk_add_scaled_isa(int isa, const float *a, float s, const float *b, float *dst, long n) {
    switch (mk_build(isa)) {
#ifdef MK_X86
    case 2: add_scaled_avx512(a, s, b, dst, n); return;
    case 1: add_scaled_avx2(a, s, b, dst, n); return;
#endif
    default: add_scaled_baseline(a, s, b, dst, n); return;
    }
}

void mk_add_scaled(const float *a, float s, const float *b, float *dst, long n) {
    mk_add_scaled_isa(mk_active_isa(), a, s, b, dst, n);
}
