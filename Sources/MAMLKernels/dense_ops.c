// Element-wise passes of the dense network (Plugins/MLP): see include/maml_kernels.h.
//
// At MLP sizes (batch 10, width 40: 400 floats a pass) the plugin's Swift loops ran 4 wide
// (baseline x86-64 is SSE2); here one body is compiled three times (baseline, AVX2+FMA,
// AVX-512) and chosen at load time like small_gemm.c. The AVX-512 build takes 16 floats at a
// time, then 8, then one (a one-lane vector, the same source), so each element goes through
// the same operations in the AVX2 and AVX-512 builds: bit-identical. (Partial vectors through
// stack copies cost more than the arithmetic: a width-1 output layer is all tail.) Bias adds come after a beta = 0 GEMM (GEMM sum + bias,
// rounded once: the bits the old broadcast-then-beta = 1 GEMM gave) and are fused with the
// activation, so the broadcast pass and the separate activation pass are gone.
#include "maml_kernels.h"
#include "vmath.h"

enum { ACT_NONE = 0, ACT_RELU = 1, ACT_TANH = 2 };

/// s(x) and s'(a) * x from the activation a = s(z), for one vector of width S.
#define DENSE_LANES(VT, S)                                                                        \
MK_AI VT act##S(int act, VT x) {                                                                  \
    if (act == ACT_RELU) return sel##S(x > 0.0f, x, splat##S(0));                                 \
    if (act == ACT_TANH) return vtanh##S(x);                                                      \
    return x;                                                                                     \
}                                                                                                 \
MK_AI VT deriv##S(int act, VT x, VT a) {                                                          \
    if (act == ACT_RELU) return sel##S(a > 0.0f, x, splat##S(0));                                 \
    if (act == ACT_TANH) return (1.0f - a * a) * x;                                               \
    return x;                                                                                     \
}
DENSE_LANES(mk_v1, 1)
DENSE_LANES(mk_v8, 8)
DENSE_LANES(mk_v16, 16)

/// Runs STEP(S) with i the first float of a block of S: 16-float blocks (AVX-512 build only),
/// then 8, then single floats, over [0, n). The blocks' split is the same in the AVX2 and
/// AVX-512 builds past the 16-float part, and every width computes the same per element.
#define SPAN(W16, n, STEP)                                                                        \
    do {                                                                                          \
        long i = 0;                                                                               \
        if (W16) for (; i + 16 <= (n); i += 16) { STEP(16); }                                     \
        for (; i + 8 <= (n); i += 8) { STEP(8); }                                                 \
        for (; i < (n); i++) { STEP(1); }                                                         \
    } while (0)

#define AI MK_AI

AI void bias_act_loop(const int W16, const int act, float *z, const float *bias, long rows, long cols) {
    for (long r = 0; r < rows; r++) {
        float *zr = z + r * cols;
#define STEP(S) st##S(zr + i, act##S(act, ld##S(zr + i) + ld##S(bias + i)))
        SPAN(W16, cols, STEP);
#undef STEP
    }
}

AI void deriv_loop(const int W16, const int act, const float *x, const float *a, float *out, long n) {
#define STEP(S) st##S(out + i, deriv##S(act, ld##S(x + i), ld##S(a + i)))
    SPAN(W16, n, STEP);
#undef STEP
}

AI void bias_deriv_loop(const int W16, const int act, float *rz, const float *bias, const float *a, float *ra,
                        long rows, long cols) {
    for (long r = 0; r < rows; r++) {
        float *rzr = rz + r * cols, *rar = ra + r * cols;
        const float *ar = a + r * cols;
#define STEP(S) do { __typeof__(ld##S(rzr)) v = ld##S(rzr + i) + ld##S(bias + i); st##S(rzr + i, v); \
                     st##S(rar + i, deriv##S(act, v, ld##S(ar + i))); } while (0)
        SPAN(W16, cols, STEP);
#undef STEP
    }
}

/// The loops with act a constant (no per-vector branch on it).
#define BY_ACT(LOOP, act, ...)                                                                    \
    do {                                                                                          \
        if ((act) == ACT_RELU) LOOP(W16, ACT_RELU, __VA_ARGS__);                                  \
        else if ((act) == ACT_TANH) LOOP(W16, ACT_TANH, __VA_ARGS__);                             \
        else LOOP(W16, ACT_NONE, __VA_ARGS__);                                                    \
    } while (0)
AI void bias_act_body(const int W16, int act, float *z, const float *bias, long rows, long cols) {
    BY_ACT(bias_act_loop, act, z, bias, rows, cols);
}
AI void deriv_body(const int W16, int act, const float *x, const float *a, float *out, long n) {
    BY_ACT(deriv_loop, act, x, a, out, n);
}
AI void bias_deriv_body(const int W16, int act, float *rz, const float *bias, const float *a, float *ra,
                        long rows, long cols) {
    BY_ACT(bias_deriv_loop, act, rz, bias, a, ra, rows, cols);
}

AI void rgrad_tanh_body(const int W16, const float *a, const float *g, const float *rz, float *rga, long n) {
#define STEP(S) do { __typeof__(ld##S(a)) av = ld##S(a + i);                                      \
                     st##S(rga + i, (1.0f - av * av) * ld##S(rga + i) - 2.0f * av * ld##S(g + i) * ld##S(rz + i)); } while (0)
    SPAN(W16, n, STEP);
#undef STEP
}

/// K independent add chains of S-float column blocks at column j, each down all rows in order.
#define COL_BLOCK(S, K)                                                                           \
    for (; j + (K) * (S) <= cols; j += (K) * (S)) {                                               \
        __typeof__(ld##S(m)) acc[K];                                                              \
        for (int k = 0; k < (K); k++) acc[k] = ld##S(m + j + k * (S));                            \
        for (long r = 1; r < rows; r++)                                                           \
            for (int k = 0; k < (K); k++) acc[k] += ld##S(m + r * cols + j + k * (S));            \
        for (int k = 0; k < (K); k++) st##S(out + j + k * (S), acc[k]);                           \
    }

/// Column blocks with several add chains in flight (one chain down 10 rows is latency-bound:
/// 3 cycles an add); every column still adds its rows in order, in every build.
AI void col_sums_body(const int W16, const float *m, long rows, long cols, float *out) {
    if (rows <= 0) { memset(out, 0, (size_t)cols * sizeof(float)); return; }
    long j = 0;
    if (W16) { COL_BLOCK(16, 4) COL_BLOCK(16, 2) }
    COL_BLOCK(8, 4) COL_BLOCK(8, 2) COL_BLOCK(8, 1) COL_BLOCK(1, 1)
}

/// Every row of c [rows, width]: bias (zeros when NULL) at columns [at, at + count), zeros
/// elsewhere. Vector stores; the Swift loop it replaced made one memmove call a row.
AI void fill_rows_body(const int W16, float *c, long rows, long width, const float *bias, long count, long at) {
    for (long r = 0; r < rows; r++) {
        float *cr = c + r * width;
#define STEP(S) st##S(cr + i, splat##S(0))
        SPAN(W16, at, STEP);
#undef STEP
        float *cb = cr + at;
        if (bias) {
#define STEP(S) st##S(cb + i, ld##S(bias + i))
            SPAN(W16, count, STEP);
#undef STEP
        } else {
#define STEP(S) st##S(cb + i, splat##S(0))
            SPAN(W16, count, STEP);
#undef STEP
        }
        float *ce = cb + count;
        const long rest = width - at - count;
#define STEP(S) st##S(ce + i, splat##S(0))
        SPAN(W16, rest, STEP);
#undef STEP
    }
}

typedef double mk_d8 __attribute__((vector_size(64)));
typedef double mk_d1 __attribute__((vector_size(8)));
#define WIDEN8(p) __builtin_convertvector(ld8(p), mk_d8)
#define WIDEN1(p) __builtin_convertvector(ld1(p), mk_d1)

/// Column sums in double (exact widening, adds in row order from 0): the bits of a scalar
/// double loop. 32 columns a pass in four independent add chains (one chain down a few hundred
/// rows is latency-bound), then 8, then single columns. The same source in every build.
AI void col_sums_f64_body(const float *m, long rows, long cols, long ld, float *out) {
    long j = 0;
    for (; j + 32 <= cols; j += 32) {
        mk_d8 s0 = {0}, s1 = {0}, s2 = {0}, s3 = {0};
        for (long r = 0; r < rows; r++) {
            const float *mr = m + r * ld + j;
            s0 += WIDEN8(mr); s1 += WIDEN8(mr + 8); s2 += WIDEN8(mr + 16); s3 += WIDEN8(mr + 24);
        }
        st8(out + j, __builtin_convertvector(s0, mk_v8)); st8(out + j + 8, __builtin_convertvector(s1, mk_v8));
        st8(out + j + 16, __builtin_convertvector(s2, mk_v8)); st8(out + j + 24, __builtin_convertvector(s3, mk_v8));
    }
    for (; j + 8 <= cols; j += 8) {
        mk_d8 s0 = {0};
        for (long r = 0; r < rows; r++) s0 += WIDEN8(m + r * ld + j);
        st8(out + j, __builtin_convertvector(s0, mk_v8));
    }
    for (; j < cols; j++) {
        mk_d1 s0 = {0};
        for (long r = 0; r < rows; r++) s0 += WIDEN1(m + r * ld + j);
        st1(out + j, __builtin_convertvector(s0, mk_v1));
    }
}
#define COL_SUMS_F64_BODY(W16, ...) col_sums_f64_body(__VA_ARGS__)

// MARK: - The three builds and the dispatch

/// Defines NAME_baseline, NAME_avx2, NAME_avx512 (the body with W16 = 0, 0, 1), NAME_isa
/// (explicit build, falling back to the next lower one when unavailable) and NAME (the
/// build chosen at load time, mk_active_isa(), looked up once: these run a few dozen times
/// per MAML task on a few hundred floats, so three calls of dispatch each were measurable).
/// The call's arguments come last (...).
#define DENSE_UNPAREN(...) __VA_ARGS__
#ifdef MK_X86
#define DENSE_BUILDS(NAME, BODY, PARAMS, ...)                                                     \
static void NAME##_baseline PARAMS { BODY(0, __VA_ARGS__); }                                      \
MK_TARGET_AVX2 static void NAME##_avx2 PARAMS { BODY(0, __VA_ARGS__); }                           \
MK_TARGET_AVX512 static void NAME##_avx512 PARAMS { BODY(1, __VA_ARGS__); }                       \
void NAME##_isa(int isa, DENSE_UNPAREN PARAMS) {                                                  \
    const int build_ = mk_build(isa);                                                             \
    if (build_ == 2) { NAME##_avx512(__VA_ARGS__); return; }                                      \
    if (build_ == 1) { NAME##_avx2(__VA_ARGS__); return; }                                        \
    NAME##_baseline(__VA_ARGS__);                                                                 \
}                                                                                                 \
typedef void (*NAME##_fn) PARAMS;                                                                 \
void NAME PARAMS {                                                                                \
    /* Every thread picks the same build (mk_active_isa is fixed at load), so a race is benign. */ \
    static NAME##_fn chosen;                                                                      \
    NAME##_fn f = __atomic_load_n(&chosen, __ATOMIC_RELAXED);                                     \
    if (!f) {                                                                                     \
        const int isa = mk_active_isa();                                                          \
        f = isa >= 2 ? NAME##_avx512 : isa == 1 ? NAME##_avx2 : NAME##_baseline;                  \
        __atomic_store_n(&chosen, f, __ATOMIC_RELAXED);                                           \
    }                                                                                             \
    f(__VA_ARGS__);                                                                               \
}
#else
#define DENSE_BUILDS(NAME, BODY, PARAMS, ...)                                                     \
static void NAME##_baseline PARAMS { BODY(0, __VA_ARGS__); }                                      \
void NAME##_isa(int isa, DENSE_UNPAREN PARAMS) { (void)isa; NAME##_baseline(__VA_ARGS__); }       \
void NAME PARAMS { NAME##_baseline(__VA_ARGS__); }
#endif

DENSE_BUILDS(mk_dense_bias_act, bias_act_body, (int act, float *z, const float *bias, long rows, long cols),
             act, z, bias, rows, cols)
DENSE_BUILDS(mk_dense_deriv, deriv_body, (int act, const float *x, const float *a, float *out, long n),
             act, x, a, out, n)
DENSE_BUILDS(mk_dense_bias_deriv, bias_deriv_body,
             (int act, float *rz, const float *bias, const float *a, float *ra, long rows, long cols),
             act, rz, bias, a, ra, rows, cols)
DENSE_BUILDS(mk_dense_rgrad_tanh, rgrad_tanh_body, (const float *a, const float *g, const float *rz, float *rga, long n),
             a, g, rz, rga, n)
DENSE_BUILDS(mk_dense_col_sums, col_sums_body, (const float *m, long rows, long cols, float *out),
             m, rows, cols, out)
DENSE_BUILDS(mk_col_sums_f64, COL_SUMS_F64_BODY, (const float *m, long rows, long cols, long ld, float *out),
             m, rows, cols, ld, out)
DENSE_BUILDS(mk_fill_rows, fill_rows_body, (float *c, long rows, long width, const float *bias, long count, long at),
             c, rows, width, bias, count, at)
