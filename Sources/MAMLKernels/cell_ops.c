// Pointwise parts of the recurrent cells (Plugins/RNN): see include/maml_kernels.h.
//
// One time step of all examples: gate pre-activations -> activated gates and new state
// (forward), gradient at the new state -> gradients at the pre-activations and the old
// state (backward). Each is written once over a "cell number" N with add, sub, mul, tanh,
// sigmoid, load and store, and instantiated for plain vectors (the forward pass, the
// gradient) and for dual vectors, a value and its directional derivative (the R-forward
// and R-backward passes: forward-over-reverse, no hand-derived second-order formulas),
// each at 16, 8 and 1 lanes. The plugin ran the same scheme in Swift 8 lanes wide, which its
// baseline x86-64 build split into SSE pairs; here AVX-512 takes 16 units at a time, then 8,
// then 1, and AVX2 8 then 1: every unit goes through the same operations (the one-lane
// vectors are the same source), so the AVX2 and AVX-512 builds give the same bits.
// Gate layout per example row, PyTorch's order: elman [a]; gru [r, z, n]; lstm [i, f, g, o].
// The backward pass reads only stored activations (no transcendental recomputed).
#include "maml_kernels.h"
#include "vmath.h"

enum { ELMAN = 0, GRU = 1, LSTM = 2 };
#define AI MK_AI

// MARK: - Cell numbers: p<S> plain, d<S> dual, S lanes

#define CELL_NUMBERS(VT, S)                                                                       \
typedef VT p##S##_t;                                                                              \
AI VT p##S##_c(float k) { return splat##S(k); }                                                   \
AI VT p##S##_add(VT a, VT b) { return a + b; }                                                    \
AI VT p##S##_sub(VT a, VT b) { return a - b; }                                                    \
AI VT p##S##_mul(VT a, VT b) { return a * b; }                                                    \
AI VT p##S##_tanh(VT a) { return vtanh##S(a); }                                                   \
AI VT p##S##_sig(VT a) { return vsig##S(a); }                                                     \
AI VT p##S##_val(VT a) { return a; }                                                              \
AI VT p##S##_ld(mk_pair p, long i) { return ld##S(p.v + i); }                                     \
AI void p##S##_st(mk_pair p, long i, VT a) { st##S(p.v + i, a); }                                 \
typedef struct { VT v, d; } d##S##_t;                                                             \
AI d##S##_t d##S##_mk(VT v, VT d) { d##S##_t x = {v, d}; return x; }                              \
AI d##S##_t d##S##_c(float k) { return d##S##_mk(splat##S(k), splat##S(0)); }                     \
AI d##S##_t d##S##_add(d##S##_t a, d##S##_t b) { return d##S##_mk(a.v + b.v, a.d + b.d); }        \
AI d##S##_t d##S##_sub(d##S##_t a, d##S##_t b) { return d##S##_mk(a.v - b.v, a.d - b.d); }        \
AI d##S##_t d##S##_mul(d##S##_t a, d##S##_t b) { return d##S##_mk(a.v * b.v, a.d * b.v + a.v * b.d); } \
AI d##S##_t d##S##_tanh(d##S##_t a) { VT t = vtanh##S(a.v); return d##S##_mk(t, (1.0f - t * t) * a.d); } \
AI d##S##_t d##S##_sig(d##S##_t a) { VT s = vsig##S(a.v); return d##S##_mk(s, s * (1.0f - s) * a.d); } \
AI VT d##S##_val(d##S##_t a) { return a.v; }                                                      \
AI d##S##_t d##S##_ld(mk_pair p, long i) { return d##S##_mk(ld##S(p.v + i), ld##S(p.r + i)); }    \
AI void d##S##_st(mk_pair p, long i, d##S##_t a) { st##S(p.v + i, a.v); st##S(p.r + i, a.d); }
CELL_NUMBERS(mk_v1, 1)
CELL_NUMBERS(mk_v8, 8)
CELL_NUMBERS(mk_v16, 16)

// MARK: - One unit block: forward and backward of one cell, written once over N

/// N##_fwd: the units at gate row offset `row`, state offset `s`; adds x - x for every
/// pre-activation x to *q (0 while all are finite, NaN once one is not: the explosion probe).
/// N##_bwd: the pointwise backward (the W_hh product is the caller's).
#define CELL_UNITS(N, VT)                                                                         \
AI void N##_fwd(const int cell, const mk_cell_step *b, long row, long s, long h, VT *q) {         \
    if (cell == ELMAN) {                                                                          \
        N##_t a = N##_add(N##_ld(b->gates, row), N##_ld(b->hidden, row));                         \
        N##_t y = N##_tanh(a);                                                                    \
        N##_st(b->gates, row, y); N##_st(b->h_new, s, y);                                         \
        *q += N##_val(a) - N##_val(a);                                                            \
    } else if (cell == GRU) {                                                                     \
        N##_t ar = N##_add(N##_ld(b->gates, row), N##_ld(b->hidden, row));                        \
        N##_t az = N##_add(N##_ld(b->gates, row + h), N##_ld(b->hidden, row + h));                \
        N##_t hn = N##_ld(b->hidden, row + 2 * h);                                                \
        N##_t r = N##_sig(ar), z = N##_sig(az);                                                   \
        N##_t an = N##_add(N##_ld(b->gates, row + 2 * h), N##_mul(r, hn));                        \
        N##_t nn = N##_tanh(an);                                                                  \
        N##_t y = N##_add(N##_mul(N##_sub(N##_c(1), z), nn), N##_mul(z, N##_ld(b->h_prev, s)));  \
        N##_st(b->gates, row, r); N##_st(b->gates, row + h, z); N##_st(b->gates, row + 2 * h, nn); \
        N##_st(b->extra, s, hn); N##_st(b->h_new, s, y);                                          \
        *q += (N##_val(ar) - N##_val(ar)) + (N##_val(az) - N##_val(az)) + (N##_val(an) - N##_val(an)); \
    } else {                                                                                      \
        N##_t ai = N##_add(N##_ld(b->gates, row), N##_ld(b->hidden, row));                        \
        N##_t af = N##_add(N##_ld(b->gates, row + h), N##_ld(b->hidden, row + h));                \
        N##_t ag = N##_add(N##_ld(b->gates, row + 2 * h), N##_ld(b->hidden, row + 2 * h));        \
        N##_t ao = N##_add(N##_ld(b->gates, row + 3 * h), N##_ld(b->hidden, row + 3 * h));        \
        N##_t i = N##_sig(ai), f = N##_sig(af), g = N##_tanh(ag), o = N##_sig(ao);                \
        N##_t c = N##_add(N##_mul(f, N##_ld(b->c_prev, s)), N##_mul(i, g));                       \
        N##_t tc = N##_tanh(c);                                                                   \
        N##_st(b->gates, row, i); N##_st(b->gates, row + h, f);                                   \
        N##_st(b->gates, row + 2 * h, g); N##_st(b->gates, row + 3 * h, o);                       \
        N##_st(b->c_new, s, c); N##_st(b->extra, s, tc); N##_st(b->h_new, s, N##_mul(o, tc));     \
        *q += (N##_val(ai) - N##_val(ai)) + (N##_val(af) - N##_val(af))                           \
            + (N##_val(ag) - N##_val(ag)) + (N##_val(ao) - N##_val(ao));                          \
    }                                                                                             \
}                                                                                                 \
AI void N##_bwd(const int cell, const mk_cell_step *b, const mk_cell_grads *d, long row, long s, long h) { \
    const N##_t one = N##_c(1);                                                                   \
    const N##_t dh = N##_add(N##_ld(d->top, s), N##_ld(d->carry, s));                             \
    if (cell == ELMAN) {                                                                          \
        N##_t y = N##_ld(b->h_new, s);                                                            \
        N##_st(d->d_input, row, N##_mul(dh, N##_sub(one, N##_mul(y, y))));                        \
        N##_st(d->carry, s, N##_c(0));                                                            \
    } else if (cell == GRU) {                                                                     \
        N##_t r = N##_ld(b->gates, row), z = N##_ld(b->gates, row + h);                           \
        N##_t nn = N##_ld(b->gates, row + 2 * h), hn = N##_ld(b->extra, s);                       \
        N##_t dan = N##_mul(N##_mul(dh, N##_sub(one, z)), N##_sub(one, N##_mul(nn, nn)));        \
        N##_t dar = N##_mul(N##_mul(N##_mul(dan, hn), r), N##_sub(one, r));                       \
        N##_t daz = N##_mul(N##_mul(N##_mul(dh, N##_sub(N##_ld(b->h_prev, s), nn)), z), N##_sub(one, z)); \
        N##_st(d->d_input, row, dar); N##_st(d->d_input, row + h, daz); N##_st(d->d_input, row + 2 * h, dan); \
        N##_st(d->d_hidden, row, dar); N##_st(d->d_hidden, row + h, daz);                         \
        N##_st(d->d_hidden, row + 2 * h, N##_mul(dan, r));                                        \
        N##_st(d->carry, s, N##_mul(dh, z));                                                      \
    } else {                                                                                      \
        N##_t i = N##_ld(b->gates, row), f = N##_ld(b->gates, row + h);                           \
        N##_t g = N##_ld(b->gates, row + 2 * h), o = N##_ld(b->gates, row + 3 * h);               \
        N##_t tc = N##_ld(b->extra, s);                                                           \
        N##_t dc = N##_add(N##_ld(d->cell_carry, s), N##_mul(N##_mul(dh, o), N##_sub(one, N##_mul(tc, tc)))); \
        N##_st(d->d_input, row, N##_mul(N##_mul(N##_mul(dc, g), i), N##_sub(one, i)));           \
        N##_st(d->d_input, row + h, N##_mul(N##_mul(N##_mul(dc, N##_ld(b->c_prev, s)), f), N##_sub(one, f))); \
        N##_st(d->d_input, row + 2 * h, N##_mul(N##_mul(dc, i), N##_sub(one, N##_mul(g, g))));   \
        N##_st(d->d_input, row + 3 * h, N##_mul(N##_mul(N##_mul(dh, tc), o), N##_sub(one, o)));  \
        N##_st(d->cell_carry, s, N##_mul(dc, f));                                                 \
        N##_st(d->carry, s, N##_c(0));                                                            \
    }                                                                                             \
}
CELL_UNITS(p1, mk_v1)
CELL_UNITS(p8, mk_v8)
CELL_UNITS(p16, mk_v16)
CELL_UNITS(d1, mk_v1)
CELL_UNITS(d8, mk_v8)
CELL_UNITS(d16, mk_v16)

// MARK: - All examples of one step

AI int gate_count(int cell) { return cell == ELMAN ? 1 : cell == GRU ? 3 : 4; }

/// Forward of all rows, units 16 (AVX-512 build), then 8, then 1 at a time; P is p or d.
#define STEP_DRIVERS(P)                                                                           \
AI float P##_fwd_step(const int W16, const int cell, long n, long h, const mk_cell_step *b) {      \
    mk_v16 q16 = splat16(0); mk_v8 q8 = splat8(0); mk_v1 q1 = splat1(0);                          \
    const long gh = gate_count(cell) * h;                                                         \
    for (long e = 0; e < n; e++) {                                                                \
        const long row = e * gh, s = e * h;                                                       \
        long j = 0;                                                                               \
        if (W16) for (; j + 16 <= h; j += 16) P##16_fwd(cell, b, row + j, s + j, h, &q16);        \
        for (; j + 8 <= h; j += 8) P##8_fwd(cell, b, row + j, s + j, h, &q8);                     \
        for (; j < h; j++) P##1_fwd(cell, b, row + j, s + j, h, &q1);                             \
    }                                                                                             \
    float q = q1[0];                                                                              \
    for (int k = 0; k < 8; k++) q += q8[k];                                                       \
    for (int k = 0; k < 16; k++) q += q16[k];                                                     \
    return q;                                                                                     \
}                                                                                                 \
AI void P##_bwd_step(const int W16, const int cell, long n, long h, const mk_cell_step *b,       \
                     const mk_cell_grads *d) {                                                    \
    const long gh = gate_count(cell) * h;                                                         \
    for (long e = 0; e < n; e++) {                                                                \
        const long row = e * gh, s = e * h;                                                       \
        long j = 0;                                                                               \
        if (W16) for (; j + 16 <= h; j += 16) P##16_bwd(cell, b, d, row + j, s + j, h);           \
        for (; j + 8 <= h; j += 8) P##8_bwd(cell, b, d, row + j, s + j, h);                       \
        for (; j < h; j++) P##1_bwd(cell, b, d, row + j, s + j, h);                               \
    }                                                                                             \
}
STEP_DRIVERS(p)
STEP_DRIVERS(d)

/// The drivers with cell and dual constants (no per-unit branch on them).
#define BY_CELL(CALL, P, ...)                                                                     \
    (cell == ELMAN ? CALL(P, ELMAN, __VA_ARGS__) : cell == GRU ? CALL(P, GRU, __VA_ARGS__) : CALL(P, LSTM, __VA_ARGS__))
#define FWD_CALL(P, C, W16, n, h, b) P##_fwd_step(W16, C, n, h, b)
#define BWD_CALL(P, C, W16, n, h, b, d) (P##_bwd_step(W16, C, n, h, b, d), 0.0f)

AI float forward_body(const int W16, int cell, int dual, long n, long h, const mk_cell_step *b) {
    return dual ? BY_CELL(FWD_CALL, d, W16, n, h, b) : BY_CELL(FWD_CALL, p, W16, n, h, b);
}
AI void backward_body(const int W16, int cell, int dual, long n, long h, const mk_cell_step *b, const mk_cell_grads *d) {
    (void)(dual ? BY_CELL(BWD_CALL, d, W16, n, h, b, d) : BY_CELL(BWD_CALL, p, W16, n, h, b, d));
}
AI void map_body(const int W16, int fn, const float *x, float *y, long n) {
    long i = 0;
    if (W16) for (; i + 16 <= n; i += 16) st16(y + i, fn ? vsig16(ld16(x + i)) : vtanh16(ld16(x + i)));
    for (; i + 8 <= n; i += 8) st8(y + i, fn ? vsig8(ld8(x + i)) : vtanh8(ld8(x + i)));
    for (; i < n; i++) st1(y + i, fn ? vsig1(ld1(x + i)) : vtanh1(ld1(x + i)));
}

// MARK: - The three builds and the dispatch

static float forward_baseline(int cell, int dual, long n, long h, const mk_cell_step *b) {
    return forward_body(0, cell, dual, n, h, b);
}
static void backward_baseline(int cell, int dual, long n, long h, const mk_cell_step *b, const mk_cell_grads *d) {
    backward_body(0, cell, dual, n, h, b, d);
}
static void map_baseline(int fn, const float *x, float *y, long n) { map_body(0, fn, x, y, n); }
#ifdef MK_X86
MK_TARGET_AVX2 static float forward_avx2(int cell, int dual, long n, long h, const mk_cell_step *b) {
    return forward_body(0, cell, dual, n, h, b);
}
MK_TARGET_AVX2 static void backward_avx2(int cell, int dual, long n, long h, const mk_cell_step *b, const mk_cell_grads *d) {
    backward_body(0, cell, dual, n, h, b, d);
}
MK_TARGET_AVX2 static void map_avx2(int fn, const float *x, float *y, long n) { map_body(0, fn, x, y, n); }
MK_TARGET_AVX512 static float forward_avx512(int cell, int dual, long n, long h, const mk_cell_step *b) {
    return forward_body(1, cell, dual, n, h, b);
}
MK_TARGET_AVX512 static void backward_avx512(int cell, int dual, long n, long h, const mk_cell_step *b, const mk_cell_grads *d) {
    backward_body(1, cell, dual, n, h, b, d);
}
MK_TARGET_AVX512 static void map_avx512(int fn, const float *x, float *y, long n) { map_body(1, fn, x, y, n); }
#endif

float mk_cell_forward_isa(int isa, int cell, int dual, long n, long h, const mk_cell_step *b) {
#ifdef MK_X86
    switch (mk_build(isa)) { case 2: return forward_avx512(cell, dual, n, h, b); case 1: return forward_avx2(cell, dual, n, h, b); }
#endif
    (void)isa;
    return forward_baseline(cell, dual, n, h, b);
}

void mk_cell_backward_isa(int isa, int cell, int dual, long n, long h, const mk_cell_step *b, const mk_cell_grads *d) {
#ifdef MK_X86
    switch (mk_build(isa)) { case 2: backward_avx512(cell, dual, n, h, b, d); return; case 1: backward_avx2(cell, dual, n, h, b, d); return; }
#endif
    (void)isa;
    backward_baseline(cell, dual, n, h, b, d);
}

// The load-time choice, looked up once (twice per time step and layer, so the dispatch counts);
// every thread picks the same build (mk_active_isa is fixed at load), so a race is benign.
typedef float (*forward_fn)(int, int, long, long, const mk_cell_step *);
typedef void (*backward_fn)(int, int, long, long, const mk_cell_step *, const mk_cell_grads *);

float mk_cell_forward(int cell, int dual, long n, long h, const mk_cell_step *b) {
    static forward_fn chosen;
    forward_fn f = __atomic_load_n(&chosen, __ATOMIC_RELAXED);
    if (!f) {
        f = forward_baseline;
#ifdef MK_X86
        if (mk_active_isa() >= 2) f = forward_avx512;
        else if (mk_active_isa() == 1) f = forward_avx2;
#endif
        __atomic_store_n(&chosen, f, __ATOMIC_RELAXED);
    }
    return f(cell, dual, n, h, b);
}

void mk_cell_backward(int cell, int dual, long n, long h, const mk_cell_step *b, const mk_cell_grads *d) {
    static backward_fn chosen;
    backward_fn f = __atomic_load_n(&chosen, __ATOMIC_RELAXED);
    if (!f) {
        f = backward_baseline;
#ifdef MK_X86
        if (mk_active_isa() >= 2) f = backward_avx512;
        else if (mk_active_isa() == 1) f = backward_avx2;
#endif
        __atomic_store_n(&chosen, f, __ATOMIC_RELAXED);
    }
    f(cell, dual, n, h, b, d);
}

void mk_vtanh_isa(int isa, const float *x, float *y, long n) {
#ifdef MK_X86
    switch (mk_build(isa)) { case 2: map_avx512(0, x, y, n); return; case 1: map_avx2(0, x, y, n); return; }
#endif
    (void)isa;
    map_baseline(0, x, y, n);
}

void mk_vsigmoid_isa(int isa, const float *x, float *y, long n) {
#ifdef MK_X86
    switch (mk_build(isa)) { case 2: map_avx512(1, x, y, n); return; case 1: map_avx2(1, x, y, n); return; }
#endif
    (void)isa;
    map_baseline(1, x, y, n);
}
