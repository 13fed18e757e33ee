// Finiteness scan: see include/maml_kernels.h for the contract.
//
// x * 0 is NaN exactly when x is NaN or infinite (else +-0), and NaN stays NaN through
// sums: so the scan adds x * 0 into four accumulators (one FMA per vector of 8, or 16
// in the AVX-512 build, where earlier integer code needed three ops) and tests the total
// once, with no per-element branch. Only a failed scan looks for the index. Every gradient and
// Hessian-vector product is scanned twice (the plugin kit keeps the ABI's promise,
// the host does not trust it), so this runs six times per MAML task. For 1,761 floats
// on a Zen 4 core (Tests/bench/gemm-bench.c): baseline (SSE2) 82 ns, AVX2 51, AVX-512 34;
// the integer version before it was about 1.2x slower, same-run.
// The answer (an index or -1) is the same on every build.
#include "isa.h"
#include <stdint.h>
#include <string.h>

#pragma clang fp contract(fast)   // x * 0 + acc as one FMA where the build has it

/// Only after a failed scan: the index of the first non-finite element.
static long first_index(const float *p, long n) {
    for (long j = 0; j < n; j++) {
        uint32_t u;
        memcpy(&u, p + j, 4);
        if ((u & 0x7F800000u) == 0x7F800000u) return j;
    }
    return -1;  // not reached
}

typedef float f8v __attribute__((vector_size(32)));
typedef float f16v __attribute__((vector_size(64)));
#define AI static inline __attribute__((always_inline))

/// SCAN: the scan with W-lane float vectors VT (8 for SSE2 / AVX2, 16 for AVX-512): four
/// accumulators over 4 W floats a step, then W at a time, then single floats.
#define SCAN_BODY(SCAN, VT, W)                                                                    \
AI long SCAN(const float *p, long n) {                                                            \
    VT a0, a1, a2, a3, zero;                                                                      \
    for (int l = 0; l < W; l++) zero[l] = 0;                                                      \
    a0 = a1 = a2 = a3 = zero;                                                                     \
    long i = 0;                                                                                   \
    for (; i + 4 * W <= n; i += 4 * W) {                                                          \
        VT x0, x1, x2, x3;                                                                        \
        memcpy(&x0, p + i, sizeof x0); memcpy(&x1, p + i + W, sizeof x1);                         \
        memcpy(&x2, p + i + 2 * W, sizeof x2); memcpy(&x3, p + i + 3 * W, sizeof x3);             \
        a0 += x0 * zero; a1 += x1 * zero; a2 += x2 * zero; a3 += x3 * zero;                       \
    }                                                                                             \
    for (; i + W <= n; i += W) {                                                                  \
        VT x;                                                                                     \
        memcpy(&x, p + i, sizeof x);                                                              \
        a0 += x * zero;                                                                           \
    }                                                                                             \
    const VT a = (a0 + a1) + (a2 + a3);                                                           \
    float acc = 0;                                                                                \
    for (int l = 0; l < W; l++) acc += a[l];                                                      \
    for (; i < n; i++) acc += p[i] * 0.0f;                                                        \
    return acc == acc ? -1 : first_index(p, n);   /* NaN only if some x * 0 was */                \
}

SCAN_BODY(scan_body, f8v, 8)
SCAN_BODY(scan_body16, f16v, 16)

static long scan_baseline(const float *p, long n) { return scan_body(p, n); }

#ifdef MK_X86
MK_TARGET_AVX2 static long scan_avx2(const float *p, long n) { return scan_body(p, n); }
MK_TARGET_AVX512 static long scan_avx512(const float *p, long n) { return scan_body16(p, n); }
#endif

long mk_first_nonfinite_isa(int isa, const float *p, long n) {
    switch (mk_build(isa)) {
#ifdef MK_X86
    case 2: return scan_avx512(p, n);
    case 1: return scan_avx2(p, n);
#endif
    default: return scan_baseline(p, n);
    }
}

long mk_first_nonfinite(const float *p, long n) { return mk_first_nonfinite_isa(mk_active_isa(), p, n); }
