import Foundation
import MAMLKernels
import Testing
@testable import MAMLPluginKit

// MARK: - GEMM kernels against a naive double-precision triple loop

@Suite struct KernelTests {
    typealias GEMM = @Sendable (Transpose, Transpose, Int, Int, Int, Float, UnsafePointer<Float>, Int,
                      UnsafePointer<Float>, Int, Float, UnsafeMutablePointer<Float>, Int) -> Void
    static let small: GEMM = { Kernels.smallGEMM($0, $1, m: $2, n: $3, k: $4, alpha: $5, a: $6, lda: $7, b: $8, ldb: $9, beta: $10, c: $11, ldc: $12) }
    static let blas: GEMM = { Kernels.blasGEMM($0, $1, m: $2, n: $3, k: $4, alpha: $5, a: $6, lda: $7, b: $8, ldb: $9, beta: $10, c: $11, ldc: $12) }
    static let cBaseline: GEMM = { Kernels.cGEMM($0, $1, m: $2, n: $3, k: $4, alpha: $5, a: $6, lda: $7, b: $8, ldb: $9, beta: $10, c: $11, ldc: $12, isa: 0) }
    static let cAVX2: GEMM = { Kernels.cGEMM($0, $1, m: $2, n: $3, k: $4, alpha: $5, a: $6, lda: $7, b: $8, ldb: $9, beta: $10, c: $11, ldc: $12, isa: 1) }
    static let cAVX512: GEMM = { Kernels.cGEMM($0, $1, m: $2, n: $3, k: $4, alpha: $5, a: $6, lda: $7, b: $8, ldb: $9, beta: $10, c: $11, ldc: $12, isa: 2) }
    static let dispatch: GEMM = { Kernels.gemm($0, $1, m: $2, n: $3, k: $4, alpha: $5, a: $6, lda: $7, b: $8, ldb: $9, beta: $10, c: $11, ldc: $12) }

    // Odd sizes hit every tile remainder of the C kernels: rows % 4, columns % 8 and % 16,
    // k < 8 (NT transposes B), k % 8 (NT dot tails), m or k > 256 (no stack tail copy),
    // columns % 32 and n % 8 == 0 (the AVX-512 build's 32- and 16-column zmm blocks),
    // n == 1 (matrix-vector paths: rows % 4, m % 32 and % 8), and k == 1 (NT skips the
    // transpose when B is one contiguous row, i.e. unpadded). NT with 4-12 rows and n >= 16
    // (AVX-512: B^T built in registers, 16- then 8-column panels, k % 8 tails, the last n % 8
    // columns through the panel copy): (12, 120, 40), (4, 16, 8), (5, 21, 33), (8, 31, 7),
    // (10, 160, 40); 13 rows, k > 256 and n > 64 NT take the panel copy or dot products.
    @Test(arguments: [(10, 40, 40), (1, 1, 1), (3, 5, 7), (10, 1, 40), (10, 40, 1), (9, 17, 33), (64, 70, 50),
                      (1, 8, 9), (10, 20, 20), (7, 24, 8), (5, 3, 300), (300, 3, 2), (2, 16, 1), (11, 41, 13),
                      (40, 1, 10), (75, 1, 3), (6, 1, 300), (300, 1, 9), (9, 48, 20),
                      (12, 120, 40), (4, 16, 8), (5, 21, 33), (8, 31, 7), (10, 160, 40), (13, 40, 40), (6, 20, 260)])
    func allTransposesMatchNaiveLoops(m: Int, n: Int, k: Int) {
        var rng = SplitMix64(seed: UInt64(m * 10_000 + n * 100 + k))
        for (name, gemm) in [("small", Self.small), ("blas", Self.blas), ("c baseline", Self.cBaseline),
                             ("c avx2", Self.cAVX2), ("c avx512", Self.cAVX512), ("gemm", Self.dispatch)] {
            for ta in [Transpose.none, .transposed] {
                for tb in [Transpose.none, .transposed] {
                    for (alpha, beta, pad) in [(Float(1), Float(0), 1), (Float(-0.5), Float(1), 1),
                                               (Float(2), Float(0.25), 1), (Float(1), Float(1), 0)] {
                        // Padded leading dimensions catch stride mistakes; unpadded ones take the
                        // contiguous fast paths.
                        let (ar, ac) = ta == .none ? (m, k) : (k, m)
                        let (br, bc) = tb == .none ? (k, n) : (n, k)
                        let lda = ac + 3 * pad, ldb = bc + 2 * pad, ldc = n + pad
                        let a = (0..<(ar * lda)).map { _ in rng.nextFloat(symmetric: 1) }
                        let b = (0..<(br * ldb)).map { _ in rng.nextFloat(symmetric: 1) }
                        var c = (0..<(m * ldc)).map { _ in beta == 0 ? Float.nan : rng.nextFloat(symmetric: 1) }
                        var expected = c
                        for i in 0..<m {
                            for j in 0..<n {
                                var s = 0.0
                                for p in 0..<k {
                                    let av = ta == .none ? a[i * lda + p] : a[p * lda + i]
                                    let bv = tb == .none ? b[p * ldb + j] : b[j * ldb + p]
                                    s += Double(av) * Double(bv)
                                }
                                let old = beta == 0 ? 0 : Double(c[i * ldc + j])
                                expected[i * ldc + j] = Float(Double(alpha) * s + Double(beta) * old)
                            }
                        }
                        c.withUnsafeMutableBufferPointer { cp in
                            gemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, cp.baseAddress!, ldc)
                        }
                        var worst: Float = 0
                        for i in 0..<m { for j in 0..<n { worst = max(worst, abs(c[i * ldc + j] - expected[i * ldc + j])) } }
                        #expect(worst <= 1e-5 * Float(k + 1), "\(name) \(ta) \(tb) alpha \(alpha) beta \(beta) pad \(pad): max error \(worst)")
                        // Padding columns of C are never written.
                        for i in 0..<m where ldc > n {
                            let padOK = c[i * ldc + n].isNaN ? expected[i * ldc + n].isNaN : c[i * ldc + n] == expected[i * ldc + n]
                            #expect(padOK, "\(name): wrote past column n")
                        }
                    }
                }
            }
        }
    }

    /// Every build gives the same bits for the same call (AVX-512 falls back to AVX2 or
    /// baseline on CPUs without it, and is then checked as that build), on shapes that run
    /// its 32- and 16-column zmm blocks, the 8-column and padded tails, and NT's transpose.
    @Test(arguments: [(10, 40, 40), (40, 40, 10), (9, 57, 33), (5, 16, 3)])
    func everyBuildIsDeterministic(m: Int, n: Int, k: Int) {
        var rng = SplitMix64(seed: UInt64(m * 7 + n * 131 + k))
        let a = (0..<(max(m, k) * max(m, k))).map { _ in rng.nextFloat(symmetric: 1) }
        let b = (0..<(max(n, k) * max(n, k))).map { _ in rng.nextFloat(symmetric: 1) }
        for isa: Int32 in [0, 1, 2] {
            for (ta, tb) in [(Transpose.none, Transpose.none), (.transposed, .none), (.none, .transposed)] {
                let lda = ta == .none ? k : m, ldb = tb == .none ? n : k
                var runs: [[Float]] = []
                for _ in 0..<2 {
                    var c = [Float](repeating: 0.5, count: m * n)
                    c.withUnsafeMutableBufferPointer { cp in
                        Kernels.cGEMM(ta, tb, m: m, n: n, k: k, alpha: 0.75, a: a, lda: lda, b: b, ldb: ldb,
                                      beta: 0.5, c: cp.baseAddress!, ldc: n, isa: isa)
                    }
                    runs.append(c)
                }
                #expect(runs[0].map(\.bitPattern) == runs[1].map(\.bitPattern), "isa \(isa) \(ta) \(tb) \(m)x\(n)x\(k)")
            }
        }
    }

    /// The AVX-512 build gives the AVX2 build's bits (each element of C is the same FMA chain over
    /// p in both, whatever the tiling), on the backbones' shapes and on every path and tail:
    /// all transposes, alpha/beta, padded strides. Skipped (trivially true) without AVX-512.
    @Test(arguments: [(10, 40, 40), (40, 40, 10), (10, 120, 40), (10, 160, 40), (10, 40, 120), (10, 40, 1),
                      (10, 1, 40), (1, 40, 10), (40, 1, 10), (200, 40, 1), (1, 40, 200), (40, 40, 200),
                      (5, 5, 64), (75, 5, 64), (5, 64, 75), (9, 57, 33), (4, 16, 8), (12, 20, 9), (13, 36, 17),
                      (7, 24, 8), (3, 23, 17), (6, 20, 260)])
    func avx512GivesAVX2Bits(m: Int, n: Int, k: Int) {
        guard mk_avx512_available() != 0 else { return }
        var rng = SplitMix64(seed: UInt64(m * 1_000_003 + n * 1009 + k))
        for (ta, tb) in [(Transpose.none, Transpose.none), (.transposed, .none), (.none, .transposed), (.transposed, .transposed)] {
            for (alpha, beta, pad) in [(Float(1), Float(0), 0), (Float(1), Float(1), 0), (Float(-0.5), Float(0.25), 3)] {
                let (ar, ac) = ta == .none ? (m, k) : (k, m)
                let (br, bc) = tb == .none ? (k, n) : (n, k)
                let lda = ac + pad, ldb = bc + 2 * pad, ldc = n + pad
                let a = (0..<(ar * lda)).map { _ in rng.nextFloat(symmetric: 1) }
                let b = (0..<(br * ldb)).map { _ in rng.nextFloat(symmetric: 1) }
                let c0 = (0..<(m * ldc)).map { _ in rng.nextFloat(symmetric: 1) }
                var runs: [[Float]] = []
                for isa: Int32 in [1, 2] {
                    var c = c0
                    c.withUnsafeMutableBufferPointer { cp in
                        Kernels.cGEMM(ta, tb, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb,
                                      beta: beta, c: cp.baseAddress!, ldc: ldc, isa: isa)
                    }
                    runs.append(c)
                }
                #expect(runs[0].map(\.bitPattern) == runs[1].map(\.bitPattern),
                        "\(ta) \(tb) \(m)x\(n)x\(k) alpha \(alpha) beta \(beta) pad \(pad)")
            }
        }
    }

    @Test func activeBuildIsTheBestAvailable() {
        // MAML_KERNELS_ISA caps the choice; without it the best available build runs.
        let forced = ProcessInfo.processInfo.environment["MAML_KERNELS_ISA"]
        let best: Int32 = mk_avx512_available() != 0 ? 2 : mk_avx2_available() != 0 ? 1 : 0
        let want: Int32 = forced == "baseline" ? 0 : forced == "avx2" ? min(best, 1) : best
        #expect(mk_active_isa() == want)
        #expect(Kernels.cKernelISA == ["baseline", "avx2+fma", "avx512"][Int(want)])
    }

    @Test func vectorHelpers() {
        let x: [Float] = (0..<19).map { Float($0) * 0.5 }
        var y: [Float] = (0..<19).map { Float($0) }
        let d = Kernels.dot(x, y, 19)
        var want: Float = 0
        for i in 0..<19 { want += x[i] * y[i] }  // half-integer products: exact in any order
        #expect(d == want)
        let expected: [Float] = (0..<19).map { (i: Int) -> Float in Float(i) + 2 * Float(i) * 0.5 }
        y.withUnsafeMutableBufferPointer { Kernels.axpy(2, x, $0.baseAddress!, 19) }
        #expect(y == expected)
    }
}
