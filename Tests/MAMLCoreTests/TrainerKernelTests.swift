// MARK: - The trainer's vector kernels (MAMLKernels, vector_ops.c and sine.c) against Swift references
//
// The reduction, Adam and dst = a + s b moved from Swift loops to C builds for baseline,
// AVX2 and AVX-512. They promise the Swift loops' bits on every build (same operations,
// no FMA), so each is compared bit for bit with the loop it replaced, at lengths that
// exercise the vector blocks and their tails. The sine promises libm's value once
// rounded to float (what task sampling keeps) and the same bits on every build.

import Testing
import Foundation
import MAMLKernels
import MAMLSchema   // SplitMix64 for test data

/// The builds this CPU runs (each `_isa` entry point falls back when a build is missing,
/// so the list names only the real ones to keep failure messages honest).
private let builds: [Int32] = mk_avx512_available() != 0 ? [0, 1, 2] : mk_avx2_available() != 0 ? [0, 1] : [0]
private let lengths = [1, 7, 15, 16, 17, 63, 64, 65, 127, 128, 130, 1761]

private func randomFloats(_ n: Int, _ seed: UInt64, scale: Float = 1) -> [Float] {
    var rng = SplitMix64(seed: seed)
    return (0..<n).map { _ in scale * (Float(rng.next() % 20001) / 10000 - 1) }
}

private func bits(_ a: [Float]) -> [UInt32] { a.map(\.bitPattern) }

@Suite struct TrainerKernelTests {
    @Test func taskMeanSumsInTaskOrderInDoubleLikeTheSwiftLoop() {
        let tasks = 25
        for n in lengths {
            // Values of very different sizes, so a different summation order would change bits.
            var slots = randomFloats(tasks * n, UInt64(n))
            for i in stride(from: 0, to: slots.count, by: 7) { slots[i] *= 1e7 }
            for i in stride(from: 3, to: slots.count, by: 11) { slots[i] *= 1e-7 }
            for kept in [Array(0..<tasks), [0, 3, 4, 9, 24], [7]] {
                let inv = 1.0 / Double(kept.count)
                var expected = [Float](repeating: 0, count: n)
                for k in 0..<n {
                    var s = Double(slots[kept[0] * n + k])
                    for t in kept.dropFirst() { s += Double(slots[t * n + k]) }
                    expected[k] = Float(s * inv)
                }
                for isa in builds {
                    // In chunks, as the trainer's workers call it.
                    var mean = [Float](repeating: .nan, count: n)
                    let chunk = max(1, n / 3 + 1)
                    for lo in stride(from: 0, to: n, by: chunk) {
                        mk_task_mean_isa(isa, slots, n, kept, kept.count, inv, lo, min(n, lo + chunk), &mean)
                    }
                    #expect(bits(mean) == bits(expected), "isa \(isa), n = \(n), \(kept.count) tasks")
                }
            }
        }
    }

    @Test func taskMeanKeepsTheSignOfASingleNegativeZero() {
        for isa in builds {
            var mean: [Float] = [1, 1]
            mk_task_mean_isa(isa, [-0.0, 0.0], 2, [0], 1, 1.0, 0, 2, &mean)
            #expect(mean[0].sign == .minus && mean[0] == 0 && mean[1].sign == .plus, "isa \(isa)")
        }
    }

    @Test func adamIsTheSwiftLoopBitForBit() {
        let (step, bc2Sqrt, w1, b2, w2, eps): (Float, Float, Float, Float, Float, Float) = (-0.0123, 0.0447, 0.1, 0.999, 0.001, 1e-8)
        for n in lengths {
            let g = randomFloats(n, 1, scale: 3), p0 = randomFloats(n, 2), m0 = randomFloats(n, 3, scale: 0.1)
            let v0 = randomFloats(n, 4).map { $0 * $0 }
            var p = p0, m = m0, v = v0
            for i in 0..<n {   // the loop MetaOptimizer.Update.apply ran before it moved to C
                m[i] = m[i] + w1 * (g[i] - m[i])
                v[i] = v[i] * b2 + w2 * g[i] * g[i]
                let denom = v[i].squareRoot() / bc2Sqrt + eps
                p[i] = p[i] + step * m[i] / denom
            }
            for isa in builds {
                var pk = p0, mk = m0, vk = v0
                mk_adam_isa(isa, n, g, &pk, &mk, &vk, step, bc2Sqrt, w1, b2, w2, eps)
                #expect(bits(pk) == bits(p) && bits(mk) == bits(m) && bits(vk) == bits(v), "isa \(isa), n = \(n)")
            }
        }
    }

    @Test func addScaledIsTheSwiftLoopBitForBitAlsoInPlace() {
        for n in lengths {
            let a = randomFloats(n, 5), b = randomFloats(n, 6, scale: 100), s: Float = -0.37
            let expected = (0..<n).map { a[$0] + s * b[$0] }
            for isa in builds {
                var out = [Float](repeating: .nan, count: n)
                mk_add_scaled_isa(isa, a, s, b, &out, n)
                #expect(bits(out) == bits(expected), "isa \(isa), n = \(n)")
                var inPlace = a   // v <- v - alpha Hv writes over its first operand
                inPlace.withUnsafeMutableBufferPointer { mk_add_scaled_isa(isa, $0.baseAddress!, s, b, $0.baseAddress!, n) }
                #expect(bits(inPlace) == bits(expected), "isa \(isa), n = \(n), in place")
            }
        }
    }

    @Test func sineRoundsToLibmsFloatOnEveryBuildWithTheSameBits() {
        // A dense sweep over the sinusoid family's arguments (x - phase in [-5 - pi, 5]) and
        // the sine-sequence family's (up to ~60), plus wide and special arguments.
        var x = (0..<400_000).map { -10 + 80 * Double($0) / 400_000 }
        var rng = SplitMix64(seed: 9)
        x += (0..<50_000).map { _ in (Double(rng.next() % 2_000_001) - 1_000_000) * 1.37 }
        x += [0, -0.0, .pi / 4, -.pi / 4, .pi / 2, .pi, 823_548.9, 823_549, -823_549.5, 1e300, -1e300,
              .infinity, -.infinity, .nan, .leastNonzeroMagnitude, 1e-300]
        var results: [[Double]] = []
        for isa in builds {
            var y = [Double](repeating: 0, count: x.count)
            mk_sin_f64_isa(isa, x, &y, x.count)
            results.append(y)
        }
        var floatMismatches = 0, worstULPs = 0.0
        for (i, xi) in x.enumerated() {
            let reference = sin(xi), y = results.last![i]
            if reference.isNaN { #expect(y.isNaN, "sin(\(xi))"); continue }
            if Float(2.5 * reference) != Float(2.5 * y) { floatMismatches += 1 }
            worstULPs = max(worstULPs, abs(reference - y) / max(reference.ulp, Double.leastNormalMagnitude))
        }
        #expect(floatMismatches == 0)
        #expect(worstULPs <= 4, "worst error \(worstULPs) ulp")
        for (b, y) in zip(builds, results) {
            #expect(y.map(\.bitPattern) == results[0].map(\.bitPattern), "build \(b) differs from the baseline")
        }
        // In place, as task sampling calls it.
        var inPlace = Array(x.prefix(1000))
        inPlace.withUnsafeMutableBufferPointer { mk_sin_f64($0.baseAddress!, $0.baseAddress!, 1000) }
        #expect(inPlace.map(\.bitPattern) == results[0].prefix(1000).map(\.bitPattern))
    }
}
