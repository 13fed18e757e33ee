import Testing
import MAMLPluginKit
@testable import CNNNetwork

// MARK: - Batch normalisation forward against naive loops; the M = 1 case
// (Its gradient and R-operator are checked through the network in ConvNetworkDerivativeTests.)

@Suite struct BatchNormTests {
    @Test(arguments: [1, 2, 9, 100])
    func forwardMatchesNaiveStatistics(m: Int) {
        let channels = 3
        var rng = SplitMix64(seed: UInt64(m))
        let z = (0..<(channels * m)).map { _ in 3 + 2 * rng.nextFloat(symmetric: 1) }
        let gamma: [Float] = [1, 0.5, -2], beta: [Float] = [0, 1, -0.25]
        var zh = [Float](repeating: .nan, count: z.count), y = zh, inv = [Float](repeating: .nan, count: channels)
        BatchNorm.forward(z: z, channels: channels, count: m, eps: 1e-5, gamma: gamma, beta: beta,
                          normalized: &zh, output: &y, invStd: &inv)
        for c in 0..<channels {
            let row = z[(c * m)..<((c + 1) * m)].map(Double.init)
            let mean = row.reduce(0, +) / Double(m)
            let variance = row.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(m)  // biased
            let s = 1 / (variance + 1e-5).squareRoot()
            #expect(abs(Double(inv[c]) - s) <= 1e-5 * s)
            for i in 0..<m {
                let want = Double(gamma[c]) * (row[i] - mean) * s + Double(beta[c])
                #expect(abs(Double(y[c * m + i]) - want) < 1e-4, "c \(c) i \(i)")
            }
        }
        if m == 1 {  // one value per channel: normalised to 0, output is the shift
            #expect(zh.allSatisfy { $0 == 0 })
            #expect(y == beta)
        }
    }

    /// With one position per channel (batch of 1, 1x1 map) nothing flows back into z.
    @Test func singlePositionPassesNoGradientBack() {
        let zh: [Float] = [0, 0], inv: [Float] = [316, 316], gamma: [Float] = [1.5, -1]
        var dy: [Float] = [0.7, -0.3], dg: [Float] = [.nan, .nan], db: [Float] = [.nan, .nan]
        BatchNorm.backward(normalized: zh, invStd: inv, channels: 2, count: 1, gamma: gamma, grad: &dy, dGamma: &dg, dBeta: &db)
        #expect(dy == [0, 0])
        #expect(dg == [0, 0])
        #expect(db == [0.7, -0.3])
    }
}
