import Testing
import MAMLKernels
@testable import MAMLPluginKit

// MARK: - The vectorised finiteness scan at every length and position
//
// The scan (MAMLKernels, finite.c) takes 32 (64 on AVX-512), then 8 (16) floats at a
// time, then a scalar tail: a bad value must be found, at its index, in each part, for
// every length that has those parts, in every build (baseline, AVX2, AVX-512: each
// falls back to the one below when the CPU lacks it) and through the kit's wrapper.

@Suite struct FinitenessScanTests {
    @Test func findsEveryNonFiniteValueAtEveryLengthAndPosition() {
        let scans: [(String, (UnsafePointer<Float>, Int) -> Int?)] = [
            ("kit", { firstNonFinite($0, $1) }),
            ("baseline", { let i = mk_first_nonfinite_isa(0, $0, $1); return i < 0 ? nil : i }),
            ("avx2", { let i = mk_first_nonfinite_isa(1, $0, $1); return i < 0 ? nil : i }),
            ("avx512", { let i = mk_first_nonfinite_isa(2, $0, $1); return i < 0 ? nil : i }),
        ]
        for (name, scan) in scans {
            for n in 0...140 {
                // Large finite values too: only the exponent pattern of NaN / infinity may trip it.
                var values = (0..<max(n, 1)).map { $0 % 7 == 3 ? Float.greatestFiniteMagnitude : Float($0) - 20.5 }
                #expect(values.withUnsafeBufferPointer { scan($0.baseAddress!, n) } == nil, "\(name): all finite, n = \(n)")
                for i in 0..<n {
                    for bad in [Float.nan, .infinity, -.infinity, .signalingNaN] {
                        let keep = values[i]
                        values[i] = bad
                        values.withUnsafeBufferPointer {
                            #expect(scan($0.baseAddress!, n) == i, "\(name): \(bad) at \(i) of \(n)")
                        }
                        values[i] = keep
                    }
                }
            }
        }
    }
}
