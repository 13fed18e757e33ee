import Testing
@testable import MAMLHost

// MARK: - The vectorised finiteness scan at every length and position
//
// The scan takes 16, then 8 floats at a time, then a scalar tail: a bad value must be
// found in each part, for every length that has those parts.

@Suite struct FinitenessScanTests {
    @Test func findsEveryNonFiniteValueAtEveryLengthAndPosition() {
        for n in 0...41 {
            var values = (0..<max(n, 1)).map { Float($0) - 20.5 }
            #expect(values.withUnsafeBufferPointer { allFinite($0.baseAddress!, n) }, "all finite, n = \(n)")
            for i in 0..<n {
                for bad in [Float.nan, .infinity, -.infinity, .signalingNaN] {
                    let keep = values[i]
                    values[i] = bad
                    #expect(!values.withUnsafeBufferPointer { allFinite($0.baseAddress!, n) }, "\(bad) at \(i) of \(n)")
                    values[i] = keep
                }
            }
        }
    }
}
