import Foundation
import Testing
import MAMLKernels

// MARK: - The dense network's element-wise C kernels (dense_ops.c) against plain Swift
//
// Every build (0 baseline, 1 AVX2+FMA, 2 AVX-512; those the CPU lacks are skipped) on shapes
// whose widths exercise the 16-float blocks, the 8-float blocks and the one-float tails:
// exact where the arithmetic is one rounding (bias adds, relu, column sums in row order),
// within a few ulps where FMA or the vector tanh enter; AVX2 and AVX-512 bit for bit.

@Suite struct DenseOpsTests {
    static let isas: [Int32] = [0, 1, 2].filter {
        $0 == 0 || ($0 == 1 && mk_avx2_available() != 0) || ($0 == 2 && mk_avx512_available() != 0)
    }
    static let shapes: [(rows: Int, cols: Int)] = [(1, 1), (10, 1), (3, 7), (2, 8), (3, 9), (1, 15), (2, 16), (3, 17),
                                                   (2, 31), (4, 33), (10, 40), (3, 41), (5, 64), (2, 100)]

    static func random(_ count: Int, seed: UInt64, scale: Float = 2) -> [Float] {
        var state = seed &* 0x9E37_79B9_7F4A_7C15 | 1
        return (0..<count).map { _ in
            state ^= state << 13; state ^= state >> 7; state ^= state << 17
            return (Float(state >> 40) / Float(1 << 24) * 2 - 1) * scale
        }
    }

    /// |got - want| within k ulps of want (plus a floor for values near 0).
    static func close(_ got: Float, _ want: Double, ulps: Double = 4, floor: Double = 1e-30) -> Bool {
        abs(Double(got) - want) <= ulps * Double(Float(want).ulp) + floor
    }

    @Test func biasAndActivationMatchPlainSwift() {
        for isa in Self.isas {
            for (rows, cols) in Self.shapes {
                let z0 = Self.random(rows * cols, seed: UInt64(rows * 100 + cols)), b = Self.random(cols, seed: 7)
                for act: Int32 in [0, 1, 2] {
                    var z = z0
                    mk_dense_bias_act_isa(isa, act, &z, b, rows, cols)
                    for r in 0..<rows {
                        for c in 0..<cols {
                            let s = z0[r * cols + c] + b[c], got = z[r * cols + c]
                            switch act {
                            case 0: #expect(got == s, "isa \(isa) none \(rows)x\(cols) [\(r), \(c)]")
                            case 1: #expect(got == (s > 0 ? s : 0), "isa \(isa) relu \(rows)x\(cols) [\(r), \(c)]")
                            default: #expect(Self.close(got, Foundation.tanh(Double(s))), "isa \(isa) tanh(\(s)) = \(got)")
                            }
                        }
                    }
                }
            }
        }
    }

    @Test func derivativeProductsMatchPlainSwiftAlsoInPlace() {
        for isa in Self.isas {
            for (rows, cols) in Self.shapes {
                let n = rows * cols
                let x = Self.random(n, seed: UInt64(n)), a = Self.random(n, seed: UInt64(n + 1), scale: 1)
                for act: Int32 in [1, 2] {
                    var out = [Float](repeating: .nan, count: n), inPlace = x
                    mk_dense_deriv_isa(isa, act, x, a, &out, n)
                    inPlace.withUnsafeMutableBufferPointer { mk_dense_deriv_isa(isa, act, $0.baseAddress, a, $0.baseAddress, n) }
                    #expect(out.map(\.bitPattern) == inPlace.map(\.bitPattern), "isa \(isa) act \(act) n \(n): in place")
                    for i in 0..<n {
                        if act == 1 {
                            #expect(out[i] == (a[i] > 0 ? x[i] : 0), "isa \(isa) relu' [\(i)]")
                        } else {
                            let want = (1 - Double(a[i]) * Double(a[i])) * Double(x[i])
                            #expect(abs(Double(out[i]) - want) <= 3e-7 * abs(want) + 1.2e-7 * abs(Double(x[i])),
                                    "isa \(isa) tanh' [\(i)]: \(out[i]) vs \(want)")
                        }
                    }
                }
            }
        }
    }

    @Test func rForwardBiasAndDerivativeMatchPlainSwift() {
        for isa in Self.isas {
            for (rows, cols) in Self.shapes {
                let n = rows * cols
                let rz0 = Self.random(n, seed: UInt64(n + 2)), a = Self.random(n, seed: UInt64(n + 3), scale: 1)
                let bias = Self.random(cols, seed: 11)
                for act: Int32 in [1, 2] {
                    var rz = rz0, ra = [Float](repeating: .nan, count: n)
                    mk_dense_bias_deriv_isa(isa, act, &rz, bias, a, &ra, rows, cols)
                    for i in 0..<n {
                        let s = rz0[i] + bias[i % cols]
                        #expect(rz[i] == s, "isa \(isa) act \(act) \(rows)x\(cols) Rz [\(i)]")
                        if act == 1 {
                            #expect(ra[i] == (a[i] > 0 ? s : 0), "isa \(isa) relu Ra [\(i)]")
                        } else {
                            let want = (1 - Double(a[i]) * Double(a[i])) * Double(s)
                            #expect(abs(Double(ra[i]) - want) <= 3e-7 * abs(want) + 1.2e-7 * abs(Double(s)), "isa \(isa) tanh Ra [\(i)]")
                        }
                    }
                }
            }
        }
    }

    @Test func tanhRBackwardStepMatchesDoublePrecision() {
        for isa in Self.isas {
            for (rows, cols) in Self.shapes {
                let n = rows * cols
                let a = Self.random(n, seed: UInt64(n + 4), scale: 1), g = Self.random(n, seed: UInt64(n + 5))
                let rz = Self.random(n, seed: UInt64(n + 6)), rga0 = Self.random(n, seed: UInt64(n + 7))
                var rga = rga0
                mk_dense_rgrad_tanh_isa(isa, a, g, rz, &rga, n)
                for i in 0..<n {
                    let av = Double(a[i]), t1 = (1 - av * av) * Double(rga0[i]), t2 = 2 * av * Double(g[i]) * Double(rz[i])
                    #expect(abs(Double(rga[i]) - (t1 - t2)) <= 1e-6 * (abs(t1) + abs(t2)) + 1e-30, "isa \(isa) [\(i)]")
                }
            }
        }
    }

    @Test func columnSumsAddRowsInOrder() {
        for isa in Self.isas {
            for (rows, cols) in Self.shapes + [(0, 5), (0, 40)] {
                let m = Self.random(rows * cols, seed: UInt64(rows * 7 + cols), scale: 100)
                var out = [Float](repeating: .nan, count: cols)
                mk_dense_col_sums_isa(isa, m, rows, cols, &out)
                for c in 0..<cols {
                    var s: Float = rows > 0 ? m[c] : 0
                    for r in stride(from: 1, to: rows, by: 1) { s += m[r * cols + c] }
                    #expect(out[c].bitPattern == s.bitPattern, "isa \(isa) \(rows)x\(cols) column \(c)")
                }
            }
        }
    }

    /// Double accumulation with a row stride (the RNN's bias gradients): the bits of the scalar
    /// Double loop it replaced, in every build, including the 32-, 8- and 1-column parts.
    @Test func doubleColumnSumsMatchTheScalarDoubleLoop() {
        for isa in Self.isas {
            for (rows, cols, ld) in [(0, 3, 3), (1, 1, 1), (200, 40, 40), (200, 40, 120), (37, 33, 35), (5, 71, 80), (300, 9, 9)] {
                let m = Self.random(max(rows * ld, 1), seed: UInt64(rows + cols + ld), scale: 50)
                var out = [Float](repeating: .nan, count: cols)
                mk_col_sums_f64_isa(isa, m, rows, cols, ld, &out)
                for c in 0..<cols {
                    var s = 0.0
                    for r in 0..<rows { s += Double(m[r * ld + c]) }
                    #expect(out[c].bitPattern == Float(s).bitPattern, "isa \(isa) \(rows)x\(cols) ld \(ld) column \(c)")
                }
            }
        }
    }

    /// Bias placed in zeroed rows (the RNN's broadcasts): every column written, nothing past the rows.
    @Test func fillRowsPlacesTheBiasAndZeroesTheRest() {
        for isa in Self.isas {
            for (rows, width, count, at) in [(1, 1, 1, 0), (3, 40, 40, 0), (10, 120, 40, 80), (2, 51, 17, 17), (4, 9, 3, 2), (2, 33, 0, 5)] {
                let bias = Self.random(max(count, 1), seed: UInt64(width))
                for withBias in [true, false] {
                    var c = [Float](repeating: .nan, count: rows * width + 3)
                    bias.withUnsafeBufferPointer { b in
                        mk_fill_rows_isa(isa, &c, rows, width, withBias ? b.baseAddress : nil, count, at)
                    }
                    for r in 0..<rows {
                        for j in 0..<width {
                            let want: Float = withBias && j >= at && j < at + count ? bias[j - at] : 0
                            #expect(c[r * width + j].bitPattern == want.bitPattern, "isa \(isa) \(rows)x\(width) [\(r), \(j)]")
                        }
                    }
                    let untouched = c[(rows * width)...].allSatisfy { $0.isNaN }
                    #expect(untouched, "isa \(isa): wrote past the rows")
                }
            }
        }
    }

    /// The AVX2 and AVX-512 builds: the same bits on every kernel and shape (the contract).
    @Test(.enabled(if: mk_avx512_available() != 0)) func avx2AndAvx512AreBitIdentical() {
        for (rows, cols) in Self.shapes {
            let n = rows * cols
            let x = Self.random(n, seed: UInt64(n + 20), scale: 4), a = Self.random(n, seed: UInt64(n + 21), scale: 1)
            let g = Self.random(n, seed: UInt64(n + 22)), bias = Self.random(cols, seed: UInt64(cols))
            func run(_ isa: Int32) -> [[UInt32]] {
                var results: [[Float]] = []
                for act: Int32 in [0, 1, 2] {
                    var z = x
                    mk_dense_bias_act_isa(isa, act, &z, bias, rows, cols)
                    var d = [Float](repeating: 0, count: n)
                    mk_dense_deriv_isa(isa, act, x, a, &d, n)
                    var rz = x, ra = [Float](repeating: 0, count: n)
                    mk_dense_bias_deriv_isa(isa, act, &rz, bias, a, &ra, rows, cols)
                    results += [z, d, rz, ra]
                }
                var rga = g
                mk_dense_rgrad_tanh_isa(isa, a, x, g, &rga, n)
                var sums = [Float](repeating: 0, count: cols)
                mk_dense_col_sums_isa(isa, x, rows, cols, &sums)
                return (results + [rga, sums]).map { $0.map(\.bitPattern) }
            }
            #expect(run(1) == run(2), "\(rows)x\(cols)")
        }
    }
}
