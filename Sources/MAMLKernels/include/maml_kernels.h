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
/// The same with an explicit build (0 baseline, 1 or 2 AVX2), for tests and measurements.
long mk_first_nonfinite_isa(int isa, const float *p, long n);

/// *p += 1 as a relaxed atomic (the activity page's heartbeat, MAMLCore/Activity.swift).
static inline void mk_relaxed_increment(unsigned long long *p) { __atomic_fetch_add(p, 1ULL, __ATOMIC_RELAXED); }

// MARK: - Conv backbone passes (conv_ops.c; Plugins/CNN)
//
// Activations are CNHW: channel c of example b is the plane at c * (n*h*w) + b * (h*w).
// Each kernel but mk_conv_flip (a permutation) has an _isa variant (0 baseline, 1 AVX2+FMA,
// 2 AVX-512; falls back to the next lower build when unavailable) for tests; the plain name
// uses mk_active_isa().
// The AVX2 and AVX-512 builds give bit-identical results. Single-threaded, no allocation;
// the caller owns every buffer, and buffers do not alias unless a line says so.

/// im2col for a stride-1 convolution with "same" padding (odd k, padding k/2): cols
/// [channels*k*k, n*h*w] with row stride ld >= n*h*w (the rest of a row is not written)
/// from in, whose element (c, b, y, x) is at c*cstride + b*bstride + y*w + x.
void mk_im2col_same(const float *in, long channels, long n, long h, long w, long k,
                    long cstride, long bstride, float *cols, long ld);
void mk_im2col_same_isa(int isa, const float *in, long channels, long n, long h, long w, long k,
                        long cstride, long bstride, float *cols, long ld);

/// Batch norm forward per row of z [channels, m]: inv_std[c] = 1/sqrt(var + eps) (biased
/// variance), z <- zh = (z - mean) inv_std in place, and y = gamma zh + beta unless y is NULL.
void mk_bn_forward(float *z, long channels, long m, float eps, const float *gamma, const float *beta,
                   float *y, float *inv_std);
void mk_bn_forward_isa(int isa, float *z, long channels, long m, float eps, const float *gamma,
                       const float *beta, float *y, float *inv_std);

/// sums[r] += the sum of x's row r (rows x width, row stride ld), accumulated in Double
/// across chunks of 256: batch-norm means from GEMM output chunks while they are in cache.
void mk_row_sums(const float *x, long rows, long width, long ld, double *sums);
void mk_row_sums_isa(int isa, const float *x, long rows, long width, long ld, double *sums);

/// Batch-norm statistics of z [channels, m] given the row sums: mean[c] = sums[c] / m and
/// inv_std[c] = 1/sqrt(mean((z - mean)^2) + eps) (biased variance).
void mk_bn_stats(const float *z, long channels, long m, float eps, const double *sums, float *mean, float *inv_std);
void mk_bn_stats_isa(int isa, const float *z, long channels, long m, float eps, const double *sums,
                     float *mean, float *inv_std);

/// Pooled blocks' forward after mk_bn_stats: z [channels, n, h, w] <- zh = (z - mean) inv_std
/// in place; pool [channels, n, h/2, w/2] = ReLU(max of gamma zh + beta over each 2x2 window),
/// argmax = the window's first maximum as an index within its h*w plane, winner = zh there.
void mk_bn_pool_relu(float *z, long channels, long n, long h, long w, const float *mean, const float *inv_std,
                     const float *gamma, const float *beta, float *pool, int *argmax, float *winner);
void mk_bn_pool_relu_isa(int isa, float *z, long channels, long n, long h, long w, const float *mean,
                         const float *inv_std, const float *gamma, const float *beta, float *pool, int *argmax,
                         float *winner);

/// Pooled blocks' backward: gp [channels, n, h/2, w/2] (masked in place where pool <= 0)
/// routed to the argmax winners and through batch norm: dz [channels, n, h, w] =
/// inv_std gamma (g - mean g - zh mean(g zh)); dgamma = sum g zh, dbeta = sum g per channel.
/// winner is mk_bn_pool_relu's (zh at the winners).
void mk_bn_pool_backward(const float *zh, const float *inv_std, long channels, long n, long h, long w,
                         const float *gamma, float *gp, const float *pool, const int *argmax,
                         const float *winner, float *dz, float *dgamma, float *dbeta);
void mk_bn_pool_backward_isa(int isa, const float *zh, const float *inv_std, long channels, long n,
                             long h, long w, const float *gamma, float *gp, const float *pool,
                             const int *argmax, const float *winner, float *dz, float *dgamma, float *dbeta);

/// Floats of scratch (pad) the thin-convolution kernels need for n images.
static inline long mk_conv_thin_scratch(long cin, long n, long h, long w, long k) {
    return n * cin * (h + 2 * (k / 2)) * (w + 2 * (k / 2)) + 16;
}

/// A stride-1 "same" convolution computed directly (for few input channels, where im2col +
/// GEMM has K = cin*k*k too small): out[co, b*h*w + y*w + x] (row stride ldo) = sum over ci,
/// ky, kx of weight[co, ci, ky, kx] in(ci, b, y+ky-k/2, x+kx-k/2), zero outside; in as for
/// mk_im2col_same. sums[co] += the sum of row co when sums is not NULL. pad: mk_conv_thin_scratch floats.
void mk_conv_thin_forward(const float *in, long cin, long n, long h, long w, long k, long cstride, long bstride,
                          const float *weight, long cout, float *out, long ldo, double *sums, float *pad);
void mk_conv_thin_forward_isa(int isa, const float *in, long cin, long n, long h, long w, long k, long cstride,
                              long bstride, const float *weight, long cout, float *out, long ldo, double *sums,
                              float *pad);

/// Its weight gradient: acc[co, ci, ky, kx] += sum over b, y, x of gout[co, b*h*w + y*w + x]
/// (row stride ldg) times in(ci, b, y+ky-k/2, x+kx-k/2), each image's float sum added in Double.
void mk_conv_thin_weight_grad(const float *in, long cin, long n, long h, long w, long k, long cstride, long bstride,
                              const float *gout, long cout, long ldg, double *acc, float *pad);
void mk_conv_thin_weight_grad_isa(int isa, const float *in, long cin, long n, long h, long w, long k, long cstride,
                                  long bstride, const float *gout, long cout, long ldg, double *acc, float *pad);

/// The first block's backward in one pass: mk_bn_pool_backward (without storing dz: each h*w
/// plane of it goes through dzp) then mk_conv_thin_weight_grad of those planes against in
/// (n images, cin channels, all at once: pad holds mk_conv_thin_scratch(cin, n, h, w, k) floats).
void mk_bn_pool_backward_thin(const float *zh, const float *inv_std, long cout, long n, long h, long w,
                              const float *gamma, float *gp, const float *pool, const int *argmax,
                              const float *winner, float *dgamma, float *dbeta, const float *in, long cin, long k,
                              long cstride, long bstride, double *acc, float *pad, float *dzp);
void mk_bn_pool_backward_thin_isa(int isa, const float *zh, const float *inv_std, long cout, long n, long h, long w,
                                  const float *gamma, float *gp, const float *pool, const int *argmax,
                                  const float *winner, float *dgamma, float *dbeta, const float *in, long cin,
                                  long k, long cstride, long bstride, double *acc, float *pad, float *dzp);

/// wt [cin, cout, k, k] = w [cout, cin, k, k] with each kernel rotated 180 degrees: the
/// weights of the input gradient of a stride-1 "same" convolution as a convolution.
void mk_conv_flip(const float *w, long cout, long cin, long k, float *wt);

#ifdef __cplusplus
}
#endif

#endif
