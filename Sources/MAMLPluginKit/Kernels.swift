import CBLAS
import MAMLKernels

// MARK: - Matrix kernels for plugin networks
//
// C[m x n] = alpha * op(A) * op(B) + beta * C, row-major, float32, where op(X) is X
// or its transpose. Two implementations:
//   - `blasGEMM`: OpenBLAS cblas_sgemm, for everything that is not small;
//   - `cGEMM`: the MAMLKernels C target (register-tiled loops: AVX-512, AVX2+FMA and
//     baseline builds, the best one picked at load time by CPUID), for small shapes.
// `gemm` picks C kernels when m*n*k <= `smallWorkLimit`, else BLAS. (The older Swift
// loops, `smallGEMM`, are a test-only reference in MAMLPluginKitTests.)
//
// Measured (release, one core of this 2-core AMD EPYC box, AVX2+FMA; OpenBLAS 0.3.21
// pthread build at 1 thread; best of 5, C harness calling both), us per call:
//                                      C avx2   C baseline   OpenBLAS
//   NT 10x40x40 (hidden forward)         0.53      1.26        1.04
//   TN 40x40x10 (hidden dW)              0.43      1.21        1.12
//   NN 10x40x40 (hidden dX)              0.44      1.09        0.82
//   NT 10x40x1, NN 10x40x1, TN 1x40x10   0.04-0.05 0.04-0.07   0.13-0.26
//   NT 10x1x40 / TN 40x1x10              0.09/0.16 0.18/0.29   0.30/0.25
//   (NT transposes B by 8x8 shuffle blocks, then runs the NN loops)
//   NN 10x20x20                          0.22      0.43        0.38
//   NT/NN/TN 25x64x64 (102k)             2.7/2.4/2.3           4.2/3.7/4.1
//   NT/NN/TN 32x128x128 (524k)           19.3/13.4/12.2        16.0/15.3/18.1
//   NT/NN/TN 64x256x256 (4.2M)           143/128/177           106/104/115
// Crossover: with AVX2 the C kernels win every shape up to ~100k multiply-adds and
// lose NT from ~500k (no packing or cache blocking), so the limit is 2^17. Without
// AVX2 the baseline build is about 2x slower and only worth it below ~16k (2^14),
// where BLAS call overhead (~0.15-0.3 us) dominates.
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
    /// Largest m*n*k served by the C kernels in `gemm` (see the table above); fixed per process.
    public static let smallWorkLimit = mk_active_isa() >= 1 ? 1 << 17 : 1 << 14

    /// C = alpha op(A) op(B) + beta C. `a` is m x k (or k x m if transposed) with row
    /// stride `lda`; `b` is k x n (or n x k) with stride `ldb`; `c` is m x n with stride
    /// `ldc`. beta == 0 overwrites C without reading it. Dispatches by size.
    @inlinable
    public static func gemm(_ transA: Transpose, _ transB: Transpose, m: Int, n: Int, k: Int,
                            alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
                            b: UnsafePointer<Float>, ldb: Int,
                            beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int) {
        if m * n * k <= smallWorkLimit {
            cGEMM(transA, transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda,
                  b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
        } else {
            blasGEMM(transA, transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda,
                     b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
        }
    }

    /// Which build of the C kernels runs: "avx512", "avx2+fma" or "baseline"
    /// (MAML_KERNELS_ISA=avx2 or =baseline caps it).
    public static var cKernelISA: String {
        String(cString: mk_isa_name(mk_active_isa()))
    }

    /// The same product through the C kernels; `isa` forces a build (0 baseline, 1 AVX2+FMA,
    /// 2 AVX-512, each falling back to the next lower one when unavailable) instead of the
    /// one chosen at load time.
    @inlinable
    public static func cGEMM(_ transA: Transpose, _ transB: Transpose, m: Int, n: Int, k: Int,
                             alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
                             b: UnsafePointer<Float>, ldb: Int,
                             beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int, isa: Int32? = nil) {
        let ta: Int32 = transA == .none ? 0 : 1, tb: Int32 = transB == .none ? 0 : 1
        if let isa {
            mk_sgemm_isa(isa, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
        } else {
            mk_sgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
        }
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

    /// The kernel family OpenBLAS chose for this process (e.g. "SkylakeX", "Haswell", "Prescott").
    public static var blasCoreName: String { String(cString: openblas_get_corename()) }

    // MARK: Vector helpers

    /// Every row of c [rows, width] (contiguous) = v [width]: a bias before a beta = 1 product.
    /// Eight columns at a time into every row; a memcpy call per row cost more than the
    /// copy at MLP widths (10 rows x 40 floats: ~150 ns against ~40).
    @inline(__always)
    public static func broadcastRows(_ v: UnsafePointer<Float>, into c: UnsafeMutablePointer<Float>, rows: Int, width: Int) {
        let vr = UnsafeRawPointer(v), cr = UnsafeMutableRawPointer(c)
        var j = 0
        while j + 8 <= width {
            let x = vr.loadUnaligned(fromByteOffset: j * 4, as: SIMD8<Float>.self)
            for r in 0..<rows { cr.storeBytes(of: x, toByteOffset: (r * width + j) * 4, as: SIMD8<Float>.self) }
            j += 8
        }
        while j < width {
            for r in 0..<rows { c[r * width + j] = v[j] }
            j += 1
        }
    }

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
