import Testing
@testable import MAMLCore

// MARK: - The vectorised finiteness scan at every length and position
//
// allFinite is MAMLKernels' scan (finite.c; both builds and the index are tested in
// MAMLPluginKitTests): here, that the host's entry point answers the same at every
// length and position.

@Suite struct FinitenessScanTests {
    @Test func findsEveryNonFiniteValueAtEveryLengthAndPosition() {
        for n in 0...41 {
            var values = (0..<max(n, 1)).map { Float($0) - 20.5 }
            #expect(values.withUnsafeBufferPointer { allFinite($0.baseAddress!, count: n) }, "all finite, n = \(n)")
            for i in 0..<n {
                for bad in [Float.nan, .infinity, -.infinity, .signalingNaN] {
                    let keep = values[i]
                    values[i] = bad
                    #expect(!values.withUnsafeBufferPointer { allFinite($0.baseAddress!, count: n) }, "\(bad) at \(i) of \(n)")
                    values[i] = keep
                }
            }
        }
    }
}
