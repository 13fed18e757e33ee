@testable import MAMLPluginKit

// MARK: - The Swift GEMM loops: a test-only reference for the kit's kernels
//
// Hand-written loops (baseline SSE2 through SIMD8), once the kit's small-shape GEMM
// before the C kernels (MAMLKernels) replaced them; KernelTests runs them against the
// same naive double-precision loops as BLAS and the C builds. Not part of the kit.

extension Kernels {
    /// The same product with hand-written loops: fast for tiny shapes, correct for all.
    static func smallGEMM(_ transA: Transpose, _ transB: Transpose, m: Int, n: Int, k: Int,
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
}
