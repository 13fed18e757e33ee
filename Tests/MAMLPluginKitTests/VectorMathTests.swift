import Foundation
import Testing
import MAMLKernels
import TestSupport

// MARK: - The kernels' vector tanh and sigmoid (vmath.h) over a dense sweep of the float range
//
// Error in ulps of the correctly rounded result (double-precision libm as the reference), over
// every 4093rd float bit pattern (all finite floats, both signs: 2.1 million points) and every
// 251st pattern with |x| <= 20, where the RNN and MLP gates live (8.6 million); the fast loop
// (MAML_TEST_FAST) takes every 65521st and 4093rd. Measured with every 1021st and 61st (40
// million points), every build: tanh max 1.27 ulps, sigmoid max 2.33 ulps for x >= -87 (below,
// exp's clamp at -87.3 leaves an absolute error under 2^-126, the smallest normal float).

@Suite struct VectorMathTests {
    static let isas: [Int32] = [0, 1, 2].filter {
        $0 == 0 || ($0 == 1 && mk_avx2_available() != 0) || ($0 == 2 && mk_avx512_available() != 0)
    }

    /// The sweep's inputs: finite floats from the bit patterns described above.
    static let points: [Float] = {
        var list: [Float] = []
        for sign: UInt32 in [0, 0x8000_0000] {
            var bits: UInt32 = 0
            while bits < 0x7F80_0000 { list.append(Float(bitPattern: sign | bits)); bits += fastLoop ? 65521 : 4093 }
            let limit = Float(20).bitPattern
            bits = 0
            while bits <= limit { list.append(Float(bitPattern: sign | bits)); bits += fastLoop ? 4093 : 251 }
        }
        list += [0.625, -0.625, Float(0.625).nextUp, Float(0.625).nextDown, -87, -87.3, 88.3, 88.72]
        return list
    }()

    /// Largest error in ulps of y = f(x) against ref over the points with `include(x)`.
    static func maxUlps(_ ys: [Float], _ ref: (Double) -> Double, where include: (Float) -> Bool = { _ in true }) -> Double {
        var worst = 0.0
        for (x, y) in zip(points, ys) where include(x) {
            let want = ref(Double(x))
            let ulp = Double(Float(want).magnitude.ulp)
            worst = max(worst, abs(Double(y) - want) / max(ulp, Double(Float.leastNonzeroMagnitude)))
        }
        return worst
    }

    @Test func tanhIsWithinThreeUlpsEverywhere() {
        for isa in Self.isas {
            var ys = [Float](repeating: .nan, count: Self.points.count)
            mk_vtanh_isa(isa, Self.points, &ys, Self.points.count)
            let worst = Self.maxUlps(ys, { Foundation.tanh($0) })
            print("vector tanh, isa \(isa): max \(worst) ulps over \(Self.points.count) points")
            #expect(worst <= 3, "isa \(isa): tanh max error \(worst) ulps")
        }
    }

    @Test func sigmoidIsWithinThreeUlpsAboveMinus87AndTinyBelow() {
        for isa in Self.isas {
            var ys = [Float](repeating: .nan, count: Self.points.count)
            mk_vsigmoid_isa(isa, Self.points, &ys, Self.points.count)
            let ref = { (x: Double) in 1 / (1 + Foundation.exp(-x)) }
            let worst = Self.maxUlps(ys, ref, where: { $0 >= -87 })
            print("vector sigmoid, isa \(isa): max \(worst) ulps for x >= -87")
            #expect(worst <= 3, "isa \(isa): sigmoid max error \(worst) ulps")
            for (x, y) in zip(Self.points, ys) where x < -87 {
                #expect(abs(Double(y) - ref(Double(x))) < Double(Float.leastNormalMagnitude), "sigmoid(\(x)) = \(y)")
            }
        }
    }

    @Test func nanPassesThroughAndLimitsSaturate() {
        for isa in Self.isas {
            let xs: [Float] = [.nan, .infinity, -.infinity, 1e30, -1e30] + [Float](repeating: 0.5, count: 11)
            var t = [Float](repeating: 0, count: xs.count), s = t
            mk_vtanh_isa(isa, xs, &t, xs.count)
            mk_vsigmoid_isa(isa, xs, &s, xs.count)
            #expect(t[0].isNaN && s[0].isNaN, "isa \(isa)")
            #expect(Array(t[1...4]) == [1, -1, 1, -1], "isa \(isa)")
            #expect(s[1] == 1 && s[3] == 1 && s[2] < 1.2e-38 && s[4] < 1.2e-38, "isa \(isa)")
        }
    }

    @Test(.enabled(if: mk_avx512_available() != 0)) func avx2AndAvx512AreBitIdentical() {
        for f in [mk_vtanh_isa, mk_vsigmoid_isa] {
            var y1 = [Float](repeating: 0, count: Self.points.count), y2 = y1
            f(1, Self.points, &y1, Self.points.count)
            f(2, Self.points, &y2, Self.points.count)
            #expect(y1.map(\.bitPattern) == y2.map(\.bitPattern))
        }
    }
}
