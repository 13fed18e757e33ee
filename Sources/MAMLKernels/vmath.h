// Private to MAMLKernels (dense_ops.c, cell_ops.c): 8- and 16-float vector types, loads,
// stores, selects and the vector exp / tanh / sigmoid, all always inlined so that each
// caller's target attribute (baseline, AVX2+FMA, AVX-512) decides the instructions.
//
// exp: range reduction by ln 2 in two parts (0.693359375 exact, then -2.12194440e-4),
// degree-6 polynomial, 2^n through the exponent bits; the argument is clamped to
// [-87.3, 88.3] (tanh and sigmoid saturate there anyway; NaN passes through).
// tanh: odd polynomial in x^2 below |x| = 0.625, 1 - 2 / (e^2|x| + 1) above.
// These are the classic Cephes expf/tanhf schemes the RNN plugin ran in Swift; the error
// over a dense sweep of the float range is measured by Tests/MAMLPluginKitTests/CellOpsTests.
// Every operation is element-wise and written the same for both widths, so the AVX2 and
// AVX-512 builds (both contract a * b + c into FMA) give the same bits lane for lane.
#ifndef MK_VMATH_H
#define MK_VMATH_H
#include "isa.h"
#include <stdint.h>
#include <string.h>

#pragma clang diagnostic ignored "-Wpsabi"
typedef float mk_v8 __attribute__((vector_size(32)));
typedef float mk_v16 __attribute__((vector_size(64)));
typedef int32_t mk_i8 __attribute__((vector_size(32)));
typedef int32_t mk_i16 __attribute__((vector_size(64)));
// One-lane "vectors" for the tails: the same source, so a tail element goes through exactly
// the operations (and FMA contractions) of a vector lane.
typedef float mk_v1 __attribute__((vector_size(4)));
typedef int32_t mk_i1 __attribute__((vector_size(4)));
#define MK_AI static inline __attribute__((always_inline))

/// For vector type VT (W floats, int twin IT): load/store of the first `rem` lanes (others 0
/// on load, untouched on store), splat, bit select and exp / tanh / sigmoid, suffixed S.
#define MK_VMATH(VT, IT, W, S)                                                                    \
MK_AI VT ld##S(const float *p) { VT v; memcpy(&v, p, sizeof v); return v; }                       \
MK_AI void st##S(float *p, VT v) { memcpy(p, &v, sizeof v); }                                     \
MK_AI VT ldn##S(const float *p, long rem) {                                                       \
    if (rem >= W) return ld##S(p);                                                                \
    VT v = {0}; memcpy(&v, p, (size_t)rem * sizeof(float)); return v;                             \
}                                                                                                 \
MK_AI void stn##S(float *p, VT v, long rem) {                                                     \
    if (rem >= W) { st##S(p, v); return; }                                                        \
    memcpy(p, &v, (size_t)rem * sizeof(float));                                                   \
}                                                                                                 \
MK_AI VT splat##S(float x) { VT v = {0}; return v + x; }                                         \
/* m ? a : b lane by lane, m from a vector compare (all ones or zero). */                        \
MK_AI VT sel##S(IT m, VT a, VT b) { return (VT)(((IT)a & m) | ((IT)b & ~m)); }                   \
MK_AI VT vexp##S(VT x) {                                                                          \
    const VT lo = splat##S(-87.3f), hi = splat##S(88.3f);                                         \
    x = sel##S(x < lo, lo, x);                                                                    \
    x = sel##S(x > hi, hi, x);                                                                    \
    const VT magic = splat##S(12582912.0f);  /* 1.5 * 2^23: adding it rounds to an integer */     \
    const VT shifted = x * 1.44269504088896341f + magic;                                          \
    const VT fx = shifted - magic;                                                                \
    const VT r = x - fx * 0.693359375f + fx * 2.12194440e-4f;                                     \
    VT p = splat##S(1.9875691500e-4f);                                                            \
    p = p * r + 1.3981999507e-3f;                                                                 \
    p = p * r + 8.3334519073e-3f;                                                                 \
    p = p * r + 4.1665795894e-2f;                                                                 \
    p = p * r + 1.6666665459e-1f;                                                                 \
    p = p * r + 5.0000001201e-1f;                                                                 \
    const VT y = p * (r * r) + r + 1.0f;                                                          \
    /* shifted's low mantissa bits hold n (two's complement): 2^n has exponent bits n + 127. */  \
    const IT n = (IT)shifted - 0x4B400000 + 127;                                                  \
    return y * (VT)(n << 23);                                                                     \
}                                                                                                 \
MK_AI VT vtanh##S(VT x) {                                                                         \
    const VT zero = splat##S(0);                                                                  \
    const VT a = sel##S(x < zero, -x, x), z = x * x;                                              \
    VT p = splat##S(-5.70498872745e-3f);                                                          \
    p = p * z + 2.06390887954e-2f;                                                                \
    p = p * z - 5.37397155531e-2f;                                                                \
    p = p * z + 1.33314422036e-1f;                                                                \
    p = p * z - 3.33332819422e-1f;                                                                \
    const VT small = p * z * x + x;                                                               \
    const VT big = 1.0f - 2.0f / (vexp##S(a + a) + 1.0f);                                         \
    return sel##S(a < 0.625f, small, sel##S(x < zero, -big, big));                                \
}                                                                                                 \
MK_AI VT vsig##S(VT x) { return 1.0f / (1.0f + vexp##S(-x)); }

MK_VMATH(mk_v8, mk_i8, 8, 8)
MK_VMATH(mk_v16, mk_i16, 16, 16)
MK_VMATH(mk_v1, mk_i1, 1, 1)


#endif
