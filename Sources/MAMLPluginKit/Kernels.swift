import CBLAS

// MARK: - Matrix kernels shared by the backbones
//
// C[m x n] = alpha * op(A) * op(B) + beta * C, row-major, float32, where op(X) is X
// or its transpose. Two implementations:
//   - `blasGEMM`: OpenBLAS cblas_sgemm, for everything that is not tiny;
//   - `smallGEMM`: hand-written loops (8-wide SIMD, baseline x86-64 SSE2), for tiny shapes.
// `gemm` picks between them by the work m*n*k.
//
// Measured (release, one core of this 2-core Debian box, AVX2+FMA CPU, OpenBLAS
// 0.3.21 pthread build set to 1 thread; best of 5), us per call. The 1-40-40-1 MLP
// at batch 10:
//                                          OpenBLAS   hand loops
//   hidden forward  A[10x40] W^T[40x40] NT    1.2        1.8
//   hidden dW       G^T[40x10] A[10x40] TN    1.1        2.7
//   hidden dX       G[10x40] W[40x40]   NN    0.8        2.4
//   input forward   NT 10x40x1                0.27       0.67
//   output forward  NT 10x1x40                0.31       0.09
//   output dW       TN 1x40x10                0.14       0.07
//   output dX       NN 10x40x1                0.26       0.11
//   input dW        TN 40x1x10                0.25       1.1
//   NN 10x20x20 / 64x256x256                  0.38/105   1.2/511
// OpenBLAS wins every real matrix product, even 10x40x40: it dispatches AVX2/FMA
// kernels at run time, while Swift code here compiles for baseline x86-64 (SSE2:
// 4 lanes, no FMA). Hand loops win only for vector-shaped products (m, n or k is 1),
// where BLAS call overhead (~0.15-0.3 us) dominates: `gemm` uses them exactly for the
// shapes where they measured faster (`handLoopsWin`).
//
// OpenBLAS must not start its own threads inside plugins (the host parallelises over
// tasks): the first `blasGEMM` call sets openblas_set_num_threads(1) for the process.
// Setting OPENBLAS_NUM_THREADS=1 in the environment has the same effect.

/// Whether a GEMM operand is used as stored or transposed.
public enum Transpose: Sendable {
    case none, transposed
}

/// Matrix kernels (row-major float32).
public enum Kernels {
    /// Largest m*n*k of a vector-shaped product served by the hand-written loops in `gemm`.
    public static let smallWorkLimit = 1 << 14

    /// C = alpha op(A) op(B) + beta C. `a` is m x k (or k x m if transposed) with row
    /// stride `lda`; `b` is k x n (or n x k) with stride `ldb`; `c` is m x n with stride
    /// `ldc`. beta == 0 overwrites C without reading it. Dispatches by size.
    @inlinable
    public static func gemm(_ transA: Transpose, _ transB: Transpose, m: Int, n: Int, k: Int,
                            alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
                            b: UnsafePointer<Float>, ldb: Int,
                            beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int) {
        if m * n * k <= smallWorkLimit && handLoopsWin(transA, transB, m: m, n: n, k: k) {
            smallGEMM(transA, transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda,
                      b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
        } else {
            blasGEMM(transA, transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda,
                     b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
        }
    }

    /// The shapes where the hand loops measured faster (see the table above): a single
    /// output row (m == 1), a single output column from untransposed A (dot products),
    /// or an outer product (k == 1) without transposes.
    @inlinable
    public static func handLoopsWin(_ transA: Transpose, _ transB: Transpose, m: Int, n: Int, k: Int) -> Bool {
        m == 1 || (n == 1 && transA == .none) || (k == 1 && transA == .none && transB == .none)
    }

    /// The same product through OpenBLAS (single-threaded).
    public static func blasGEMM(_ transA: Transpose, _ transB: Transpose, m: Int, n: Int, k: Int,
                                alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
                                b: UnsafePointer<Float>, ldb: Int,
                                beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int) {
        guard m > 0, n > 0 else { return }
        _ = openBLASSingleThreaded
        if k == 0 {  // BLAS would scale C by beta; do it here so beta == 0 never reads C
            scaleRows(m: m, n: n, beta: beta, c: c, ldc: ldc)
            return
        }
        cblas_sgemm(CblasRowMajor,
                    transA == .none ? CblasNoTrans : CblasTrans,
                    transB == .none ? CblasNoTrans : CblasTrans,
                    blasint(m), blasint(n), blasint(k), alpha, a, blasint(lda), b, blasint(ldb),
                    beta, c, blasint(ldc))
    }

    /// The same product with hand-written loops: fast for tiny shapes, correct for all.
    public static func smallGEMM(_ transA: Transpose, _ transB: Transpose, m: Int, n: Int, k: Int,
                                 alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
                                 b: UnsafePointer<Float>, ldb: Int,
                                 beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int) {
        guard m > 0, n > 0 else { return }
        if k == 0 { scaleRows(m: m, n: n, beta: beta, c: c, ldc: ldc); return }
        switch (transA, transB) {
        case (.none, .transposed):  // C[i,j] = dot(A row i, B row j): the dense forward pass
            for i in 0..<m {
                let ai = a + i * lda, ci = c + i * ldc
                var j = 0
                while j + 4 <= n {
                    let d = dot4(ai, b + j * ldb, ldb, k)
                    for q in 0..<4 { ci[j + q] = combine(d[q], alpha, beta, ci + j + q) }
                    j += 4
                }
                while j < n { ci[j] = combine(dot(ai, b + j * ldb, k), alpha, beta, ci + j); j += 1 }
            }
        case (.none, .none):  // C row i += A[i,p] * B row p
            for i in 0..<m {
                let ci = c + i * ldc
                scaleRows(m: 1, n: n, beta: beta, c: ci, ldc: ldc)
                for p in 0..<k { axpy(alpha * a[i * lda + p], b + p * ldb, ci, n) }
            }
        case (.transposed, .none):  // C row i += A[p,i] * B row p: the weight gradient
            for i in 0..<m {
                let ci = c + i * ldc
                scaleRows(m: 1, n: n, beta: beta, c: ci, ldc: ldc)
                for p in 0..<k { axpy(alpha * a[p * lda + i], b + p * ldb, ci, n) }
            }
        case (.transposed, .transposed):  // rare: plain loops
            for i in 0..<m {
                for j in 0..<n {
                    var s: Float = 0
                    for p in 0..<k { s += a[p * lda + i] * b[j * ldb + p] }
                    c[i * ldc + j] = combine(s, alpha, beta, c + i * ldc + j)
                }
            }
        }
    }

    // MARK: Vector helpers

    /// y[0..<n] += alpha * x[0..<n].
    @inline(__always)
    public static func axpy(_ alpha: Float, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) {
        let av = SIMD8<Float>(repeating: alpha)
        let xr = UnsafeRawPointer(x), yr = UnsafeMutableRawPointer(y)
        var i = 0
        while i + 8 <= n {
            let off = i * 4
            let v = yr.loadUnaligned(fromByteOffset: off, as: SIMD8<Float>.self)
                + av * xr.loadUnaligned(fromByteOffset: off, as: SIMD8<Float>.self)
            yr.storeBytes(of: v, toByteOffset: off, as: SIMD8<Float>.self)
            i += 8
        }
        while i < n { y[i] += alpha * x[i]; i += 1 }
    }

    /// sum x[i] * y[i] for i < n (float accumulation in 8 lanes).
    @inline(__always)
    public static func dot(_ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, _ n: Int) -> Float {
        let xr = UnsafeRawPointer(x), yr = UnsafeRawPointer(y)
        var acc = SIMD8<Float>(), i = 0
        while i + 8 <= n {
            acc += xr.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self)
                * yr.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self)
            i += 8
        }
        var s = acc.sum()
        while i < n { s += x[i] * y[i]; i += 1 }
        return s
    }

    /// Four dot products of x with the rows y, y+stride, y+2 stride, y+3 stride (x loaded once).
    @inline(__always)
    static func dot4(_ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, _ stride: Int, _ n: Int) -> SIMD4<Float> {
        let xr = UnsafeRawPointer(x)
        let y0 = UnsafeRawPointer(y), y1 = UnsafeRawPointer(y + stride)
        let y2 = UnsafeRawPointer(y + 2 * stride), y3 = UnsafeRawPointer(y + 3 * stride)
        var s0 = SIMD8<Float>(), s1 = SIMD8<Float>(), s2 = SIMD8<Float>(), s3 = SIMD8<Float>()
        var i = 0
        while i + 8 <= n {
            let off = i * 4
            let xv = xr.loadUnaligned(fromByteOffset: off, as: SIMD8<Float>.self)
            s0 += xv * y0.loadUnaligned(fromByteOffset: off, as: SIMD8<Float>.self)
            s1 += xv * y1.loadUnaligned(fromByteOffset: off, as: SIMD8<Float>.self)
            s2 += xv * y2.loadUnaligned(fromByteOffset: off, as: SIMD8<Float>.self)
            s3 += xv * y3.loadUnaligned(fromByteOffset: off, as: SIMD8<Float>.self)
            i += 8
        }
        var r = SIMD4<Float>(s0.sum(), s1.sum(), s2.sum(), s3.sum())
        while i < n {
            let xi = x[i]
            r += SIMD4(xi * y[i], xi * y[stride + i], xi * y[2 * stride + i], xi * y[3 * stride + i])
            i += 1
        }
        return r
    }

    /// alpha * s + beta * old, never reading old when beta == 0 (it may be uninitialised).
    @inline(__always)
    static func combine(_ s: Float, _ alpha: Float, _ beta: Float, _ old: UnsafeMutablePointer<Float>) -> Float {
        beta == 0 ? alpha * s : alpha * s + beta * old.pointee
    }

    /// C = beta * C over m rows of n, with beta == 0 meaning "set to zero".
    @inline(__always)
    static func scaleRows(m: Int, n: Int, beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        if beta == 1 { return }
        for i in 0..<m {
            let row = c + i * ldc
            if beta == 0 { row.update(repeating: 0, count: n) } else { for j in 0..<n { row[j] *= beta } }
        }
    }
}

// MARK: - OpenBLAS threading

/// Set once, lazily and thread-safely (Swift global initialisation), before the first BLAS call.
private let openBLASSingleThreaded: Void = openblas_set_num_threads(1)
