// Small-shape float32 matrix kernels and the finiteness scan, for the plugin kit and the host.
//
// C[m x n] = alpha * op(A) * op(B) + beta * C with op(X) = X or X^T, as cblas_sgemm
// with CblasRowMajor; beta == 0 never reads C. Written for the tiny products of
// meta-learning backbones (batch ~10, widths ~40), where a BLAS call's fixed cost
// exceeds the arithmetic. Three builds of the same source: AVX-512 (F+VL, with FMA;
// 16-float tiles for the column blocks of NN/TN/NT products with n >= 16), AVX2+FMA
// and baseline (SSE2 on x86-64, or the target's default elsewhere). The best one the
// CPU and OS support is chosen at load time; MAML_KERNELS_ISA=avx2 or =baseline caps
// the choice. Results depend only on the shapes and the build: bit-identical run to
// run and across thread counts with one build; the baseline build differs from the
// others in the last bits (no FMA), and the AVX-512 build may differ from AVX2 there too.
#ifndef MAML_KERNELS_H
#define MAML_KERNELS_H

#ifdef __cplusplus
extern "C" {
#endif

/// The kernel build `mk_sgemm` uses: 0 baseline, 1 AVX2+FMA, 2 AVX-512.
int mk_active_isa(void);
/// 1 if the AVX2+FMA build can run on this CPU.
int mk_avx2_available(void);
/// 1 if the AVX-512 build can run: CPUID AVX-512F and VL, the OS saving opmask and
/// ZMM state (XCR0 bits 5-7), and AVX2+FMA.
int mk_avx512_available(void);

/// C = alpha op(A) op(B) + beta C through the build chosen at load time.
/// transA/transB: 0 = as stored, 1 = transposed. a is m x k (k x m if transposed)
/// with row stride lda; b is k x n (n x k) with stride ldb; c is m x n, stride ldc.
void mk_sgemm(int transA, int transB, long m, long n, long k, float alpha,
              const float *a, long lda, const float *b, long ldb,
              float beta, float *c, long ldc);

/// The same with an explicit build: isa 0 baseline, 1 AVX2+FMA, 2 AVX-512 (each falls
/// back to the next lower build when unavailable). For tests and measurements.
void mk_sgemm_isa(int isa, int transA, int transB, long m, long n, long k, float alpha,
                  const float *a, long lda, const float *b, long ldb,
                  float beta, float *c, long ldc);

/// Index of the first NaN or infinity in p[0..<n], or -1 if all are finite, through the
/// build chosen at load time. Thread-safe (reads p only).
long mk_first_nonfinite(const float *p, long n);
/// The same with an explicit build (0 baseline, 1 AVX2, 2 AVX-512), for tests and measurements.
long mk_first_nonfinite_isa(int isa, const float *p, long n);

/// *p += 1 as a relaxed atomic (the activity page's heartbeat, MAMLCore/Activity.swift).
static inline void mk_relaxed_increment(unsigned long long *p) { __atomic_fetch_add(p, 1ULL, __ATOMIC_RELAXED); }

// MARK: - The trainer's vector work (vector_ops.c)
// Every build (baseline, AVX2, AVX-512) does the same operations without contraction,
// so all give the same bits. Each writes only its outputs; safe on disjoint ranges from
// several threads at once.

/// mean[k] = (float)((sum over t of (double)slots[tasks[t] * stride + k], in order) * inv)
/// for k in [lo, hi): the meta-gradient's fixed-order mean over the kept tasks.
void mk_task_mean(const float *slots, long stride, const long *tasks, long count, double inv,
                  long lo, long hi, float *mean);
void mk_task_mean_isa(int isa, const float *slots, long stride, const long *tasks, long count, double inv,
                      long lo, long hi, float *mean);
/// Adam on n elements: m += w1 (g - m); v = v b2 + w2 g g; p += step m / (sqrt(v) / bc2_sqrt + eps).
void mk_adam(long n, const float *g, float *p, float *m, float *v, float step, float bc2_sqrt,
             float w1, float b2, float w2, float eps);
void mk_adam_isa(int isa, long n, const float *g, float *p, float *m, float *v, float step, float bc2_sqrt,
                 float w1, float b2, float w2, float eps);
/// dst[i] = a[i] + s * b[i] (no FMA); dst may be a or b.
void mk_add_scaled(const float *a, float s, const float *b, float *dst, long n);
void mk_add_scaled_isa(int isa, const float *a, float s, const float *b, float *dst, long n);

// MARK: - Sine for task sampling (sine.c)

/// y[i] = sin(x[i]) in double, within a few ulps (so equal to libm's after rounding to
/// float but for values within ~1e-16 of a float boundary); every build gives the same
/// bits. |x| >= 823,549, NaN and infinities go to libm's sin. x and y may be the same.
void mk_sin_f64(const double *x, double *y, long n);
void mk_sin_f64_isa(int isa, const double *x, double *y, long n);

#ifdef __cplusplus
}
#endif

#endif
