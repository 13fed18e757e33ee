import Foundation
import Testing
import MAMLPluginKit
@testable import RNNNetwork

// MARK: - Vector exp, tanh and sigmoid against libm (double precision)

@Suite struct CellLanesTests {
    /// Points across the whole useful range, dense near 0 and the tanh polynomial's switch at 0.625.
    static let points: [Float] = {
        var list: [Float] = [0, -0, 1e-30, -1e-7, 0.6249999, 0.625, -0.625, 0.6250001, 9, -9, 20, -20, 87, -87, 100, -100]
        var x: Float = -30
        while x <= 30 { list.append(x); x += 0.0137 }
        while list.count % 8 != 0 { list.append(0.3) }
        return list
    }()

    static func apply(_ f: (SIMD8<Float>) -> SIMD8<Float>) -> [Float] {
        stride(from: 0, to: points.count, by: 8).flatMap { i -> [Float] in
            let r = f(SIMD8(points[i..<(i + 8)]))
            return (0..<8).map { r[$0] }
        }
    }

    @Test func tanhAndSigmoidAreWithinAFewUlps() {
        for (name, f, ref) in [("tanh", VectorMath.tanh, { Foundation.tanh($0) }),
                               ("sigmoid", VectorMath.sigmoid, { 1 / (1 + Foundation.exp(-$0)) })] as [(String, (SIMD8<Float>) -> SIMD8<Float>, (Double) -> Double)] {
            for (x, y) in zip(Self.points, Self.apply(f)) {
                let want = ref(Double(x))
                let tolerance = 3 * Double(Float(want).ulp) + 1e-38
                #expect(abs(Double(y) - want) <= max(tolerance, 2e-7 * abs(want)), "\(name)(\(x)) = \(y), want \(want)")
            }
        }
    }

    @Test func expIsAccurateInRangeAndClampedOutside() {
        for (x, y) in zip(Self.points, Self.apply(VectorMath.exp)) where abs(x) <= 87 {
            let want = Foundation.exp(Double(x))
            #expect(abs(Double(y) - want) <= 3e-7 * want, "exp(\(x)) = \(y), want \(want)")
        }
        let big = VectorMath.exp(SIMD8(repeating: 1000)), small = VectorMath.exp(SIMD8(repeating: -1000))
        #expect(big[0].isFinite && big[0] > 1e38 && small[0] >= 0 && small[0] < 1e-37)
    }
}
