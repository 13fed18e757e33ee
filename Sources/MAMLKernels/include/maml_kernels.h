// The project's CPU kernels, in C, for the plugin kit, the bundled backbones and the host:
// the small-shape GEMM, the finiteness scan, the trainer's vector work, the sine of task
// sampling, and the element-wise passes of the dense, recurrent and convolution networks.
//
// Every kernel is one source compiled three times: AVX-512 (F+VL, with FMA), AVX2+FMA and
// baseline (SSE2 on x86-64, or the target's default elsewhere). The best build the CPU and
// OS support is chosen at load time; MAML_KERNELS_ISA=avx2 or =baseline caps the choice,
// and every kernel has an `_isa` variant naming the build (0, 1, 2; a missing build falls
// back to the next lower one) for tests and measurements. Determinism, per build:
// results depend only on the inputs' shapes and values, never on threads or timing, so
// one build gives the same bits run to run and for any thread count. The AVX-512 and AVX2
// builds do the same operations in the same order (16 lanes instead of 8), so they give
// the same bits too; the baseline build has no FMA and may differ in the last bits where
// a kernel contracts (GEMM, dense, cell and conv passes; the trainer's vector work, the scan and
// the sine give the same bits on all three). docs/kernels.md has the list and the numbers.
//
// GEMM: C[m x n] = alpha * op(A) * op(B) + beta * C with op(X) = X or X^T, as cblas_sgemm
// with CblasRowMajor; beta == 0 never reads C. Written for the tiny products of
// meta-learning backbones (batch ~10, widths ~40), where a BLAS call's fixed cost
// exceeds the arithmetic.
#ifndef MAML_KERNELS_H
#define MAML_KERNELS_H

#ifdef __cplusplus
extern "C" {
#endif

/// The kernel build `mk_sgemm` uses: 0 baseline, 1 AVX2+FMA, 2 AVX-512.
int mk_active_isa(void);
/// "avx512", "avx2+fma" or "baseline" for build 2, 1 or 0 (a static string).
const char *mk_isa_name(int isa);
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

// MARK: - Dense network element-wise passes (dense_ops.c; Plugins/MLP)
//
// Row-major [rows, cols] buffers; act: 0 none, 1 relu, 2 tanh (vector tanh: see cell ops).
// Each runs through the build chosen at load time; the _isa variants take an explicit build
// (0 baseline, 1 AVX2+FMA, 2 AVX-512, falling back to the next lower when unavailable), for
// tests. AVX2 and AVX-512 give the same bits; baseline may differ in the last bits (no FMA).
// Thread-safe: each reads its inputs and writes only its outputs.

/// z[r, c] = act(z[r, c] + bias[c]), in place.
void mk_dense_bias_act(int act, float *z, const float *bias, long rows, long cols);
void mk_dense_bias_act_isa(int isa, int act, float *z, const float *bias, long rows, long cols);
/// out[i] = s'(a[i]) x[i] for i < n, s' from the activation a = s(z) (relu: a > 0, tanh: 1 - a^2); out may be x.
void mk_dense_deriv(int act, const float *x, const float *a, float *out, long n);
void mk_dense_deriv_isa(int isa, int act, const float *x, const float *a, float *out, long n);
/// rz[r, c] += bias[c], then ra[r, c] = s'(a[r, c]) rz[r, c] (the R-forward's bias and derivative).
void mk_dense_bias_deriv(int act, float *rz, const float *bias, const float *a, float *ra, long rows, long cols);
void mk_dense_bias_deriv_isa(int isa, int act, float *rz, const float *bias, const float *a, float *ra, long rows, long cols);
/// rga[i] = (1 - a[i]^2) rga[i] - 2 a[i] g[i] rz[i] for i < n (tanh's R-backward step), in place.
void mk_dense_rgrad_tanh(const float *a, const float *g, const float *rz, float *rga, long n);
void mk_dense_rgrad_tanh_isa(int isa, const float *a, const float *g, const float *rz, float *rga, long n);
/// out[c] = sum over r of m[r, c], rows added in order (0 when rows == 0); out must not alias m.
void mk_dense_col_sums(const float *m, long rows, long cols, float *out);
void mk_dense_col_sums_isa(int isa, const float *m, long rows, long cols, float *out);
/// Every row of c [rows, width] = bias[0..<count] at columns [at, at + count) (zeros when bias
/// is NULL), zeros elsewhere (at + count <= width): the RNN's bias broadcasts.
void mk_fill_rows(float *c, long rows, long width, const float *bias, long count, long at);
void mk_fill_rows_isa(int isa, float *c, long rows, long width, const float *bias, long count, long at);
/// out[c] = sum over r of m[r * ld + c] accumulated in double in row order, rounded once to
/// float: the same bits in every build (the RNN's bias gradients over T n rows); out must not alias m.
void mk_col_sums_f64(const float *m, long rows, long cols, long ld, float *out);
void mk_col_sums_f64_isa(int isa, const float *m, long rows, long cols, long ld, float *out);

// MARK: - Recurrent cells' pointwise step (cell_ops.c; Plugins/RNN)
//
// One time step of n examples, h units: cell 0 elman [a], 1 gru [r, z, n], 2 lstm [i, f, g, o]
// (gate blocks of h per example row, PyTorch's order). dual 0: values only (forward pass,
// gradient); dual 1: values and R-values (every pair's r set), the R-forward / R-backward.
// Same builds and bit rules as the dense ops; tanh and sigmoid are the vector versions below.
// Thread-safe as long as no two calls write the same buffers.

/// A value buffer and (dual passes) the buffer of its R-values, else NULL.
typedef struct { float *v; float *r; } mk_pair;
/// One step's buffers: gates (in: W_ih x + b [n, G h]; out: activated gates), hidden (W_hh h
/// (+ GRU's b_hn in the n block) [n, G h]), h_prev, h_new [n, h], c_prev, c_new (LSTM cell
/// state), extra (LSTM: tanh(c'); GRU: W_hn h + b_hn) [n, h].
typedef struct { mk_pair gates, hidden, h_prev, h_new, c_prev, c_new, extra; } mk_cell_step;
/// One step's gradients: top (d loss / d h' from above), carry (in: the gradient at h' from
/// step t+1; out: the part of d/dh not through W_hh, GRU's z dh, else 0), cell_carry (LSTM:
/// in d/dc', out d/dc), d_input, d_hidden (out: d / d pre-activations [n, G h]; GRU writes
/// d_hidden apart, the others only d_input, which may be the same buffer).
typedef struct { mk_pair top, carry, cell_carry, d_input, d_hidden; } mk_cell_grads;

/// The cell's forward step; returns 0 if every gate pre-activation was finite, NaN otherwise.
float mk_cell_forward(int cell, int dual, long n, long h, const mk_cell_step *b);
float mk_cell_forward_isa(int isa, int cell, int dual, long n, long h, const mk_cell_step *b);
/// The cell's backward step through the pointwise part (the W_hh product is the caller's).
void mk_cell_backward(int cell, int dual, long n, long h, const mk_cell_step *b, const mk_cell_grads *d);
void mk_cell_backward_isa(int isa, int cell, int dual, long n, long h, const mk_cell_step *b, const mk_cell_grads *d);
/// y[i] = tanh(x[i]) / sigmoid(x[i]) for i < n by the kernels' vector functions (Cephes-style
/// exp and tanh; exp's argument clamped to [-87.3, 88.3]); y may be x. For tests and measurements.
void mk_vtanh_isa(int isa, const float *x, float *y, long n);
void mk_vsigmoid_isa(int isa, const float *x, float *y, long n);

// MARK: - Conv backbone passes (conv_ops.c; Plugins/CNN)
//
// Activations are CNHW: channel c of example b is the plane at c * (n*h*w) + b * (h*w).
// Each kernel but mk_conv_flip and mk_conv_unflip_t (permutations) has an _isa variant
// (0 baseline, 1 AVX2+FMA, 2 AVX-512; falls back to the next lower build when unavailable)
// for tests; the plain name uses mk_active_isa().
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
/// mk_im2col_same. When sums is not NULL, sums[co] += the sum of row co computed from the
/// input (over taps, the weight times the input's sum under the tap, in Double: batch norm's
/// mean without a sweep, within rounding of the outputs' sum). pad: mk_conv_thin_scratch floats.
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

/// The first block's forward under batch norm with 2x2 pooling, without its maps: the result of
/// mk_conv_thin_forward (sums from 0), mk_bn_stats (eps) and mk_bn_pool_relu bit for bit (mean,
/// inv_std, pool, argmax, winner), but each h*w plane is computed in zp (h*w floats) for the
/// variance sweep and again to be normalised and pooled, instead of a [cout, n, h, w] map being
/// written and read back (the map, 4x the pooled size, is what bounds those kernels).
/// pad: mk_conv_thin_scratch(cin, n, h, w, k) floats.
void mk_bn_pool_relu_thin(const float *in, long cin, long n, long h, long w, long k, long cstride, long bstride,
                          const float *weight, long cout, float eps, const float *gamma, const float *beta,
                          float *mean, float *inv_std, float *pool, int *argmax, float *winner, float *pad,
                          float *zp);
void mk_bn_pool_relu_thin_isa(int isa, const float *in, long cin, long n, long h, long w, long k, long cstride,
                              long bstride, const float *weight, long cout, float eps, const float *gamma,
                              const float *beta, float *mean, float *inv_std, float *pool, int *argmax,
                              float *winner, float *pad, float *zp);

/// Its backward in one pass: mk_bn_pool_backward then mk_conv_thin_weight_grad, bit for bit, with
/// zh = (conv - mean) inv_std computed again plane by plane in zp (h*w floats) and dz written over
/// it: neither map is stored. weight, mean, inv_std as given to (and by) mk_bn_pool_relu_thin;
/// n images, cin channels, all at once (pad: mk_conv_thin_scratch(cin, n, h, w, k) floats).
void mk_bn_pool_backward_thin(const float *weight, const float *mean, const float *inv_std, long cout, long n,
                              long h, long w, const float *gamma, float *gp, const float *pool, const int *argmax,
                              const float *winner, float *dgamma, float *dbeta, const float *in, long cin, long k,
                              long cstride, long bstride, double *acc, float *pad, float *zp);
void mk_bn_pool_backward_thin_isa(int isa, const float *weight, const float *mean, const float *inv_std, long cout,
                                  long n, long h, long w, const float *gamma, float *gp, const float *pool,
                                  const int *argmax, const float *winner, float *dgamma, float *dbeta,
                                  const float *in, long cin, long k, long cstride, long bstride, double *acc,
                                  float *pad, float *zp);

/// wt [cin, cout, k, k] = w [cout, cin, k, k] with each kernel rotated 180 degrees: the
/// weights of the input gradient of a stride-1 "same" convolution as a convolution.
void mk_conv_flip(const float *w, long cout, long cin, long k, float *wt);

/// w [cout, cin, k, k] = g [cout, k, k, cin] with each kernel rotated 180 degrees: the weight
/// gradient from im2col of the output gradient times the input transposed (gcols in^T, the
/// operand order OpenBLAS packs fastest: 98 against 92 GFLOP/s on conv4's second block, Zen 4).
void mk_conv_unflip_t(const float *g, long cout, long cin, long k, float *w);

#ifdef __cplusplus
}
#endif

#endif
