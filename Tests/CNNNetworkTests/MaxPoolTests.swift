import Testing
import MAMLPluginKit
@testable import CNNNetwork

// MARK: - Max-pooling against naive loops; winners, gather and scatter

@Suite struct MaxPoolTests {
    @Test(arguments: [(4, 4), (5, 7), (2, 3), (7, 2)])
    func forwardMatchesNaiveLoopsAndDropsTheRemainder(h: Int, w: Int) {
        let planes = 3
        var rng = SplitMix64(seed: UInt64(h * 10 + w))
        let x = (0..<(planes * h * w)).map { _ in rng.nextFloat(symmetric: 1) }
        let ho = h / 2, wo = w / 2
        var out = [Float](repeating: .nan, count: planes * ho * wo), arg = [Int32](repeating: -1, count: out.count)
        MaxPool.forward(input: x, planes: planes, height: h, width: w, window: 2, output: &out, argmax: &arg)
        for q in 0..<planes { for oy in 0..<ho { for ox in 0..<wo {
            var best = -Float.infinity
            for dy in 0..<2 { for dx in 0..<2 { best = max(best, x[q * h * w + (2 * oy + dy) * w + 2 * ox + dx]) } }
            let i = (q * ho + oy) * wo + ox
            #expect(out[i] == best)
            #expect(x[q * h * w + Int(arg[i])] == best)
        } } }
        // gather through the winners reproduces the forward; scatter is its adjoint.
        var gathered = [Float](repeating: .nan, count: out.count)
        MaxPool.gather(input: x, argmax: arg, planes: planes, height: h, width: w, window: 2, output: &gathered)
        #expect(gathered == out)
        let gOut = (0..<out.count).map { _ in rng.nextFloat(symmetric: 1) }
        var gIn = [Float](repeating: .nan, count: x.count)
        MaxPool.scatter(gradOut: gOut, argmax: arg, planes: planes, height: h, width: w, window: 2, gradIn: &gIn)
        let r = (0..<x.count).map { _ in rng.nextFloat(symmetric: 1) }
        var gr = [Float](repeating: .nan, count: out.count)
        MaxPool.gather(input: r, argmax: arg, planes: planes, height: h, width: w, window: 2, output: &gr)
        let lhs = zip(gr, gOut).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
        let rhs = zip(r, gIn).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
        #expect(abs(lhs - rhs) < 1e-5)
        #expect(gIn.filter { $0 != 0 }.count <= out.count)
    }

    @Test func tiesGoToTheFirstMaximumInScanOrder() {
        let x: [Float] = [0, 0, 0, 0,  1, 2, 2, 1]  // two 2x2 planes
        var out = [Float](repeating: .nan, count: 2), arg = [Int32](repeating: -1, count: 2)
        MaxPool.forward(input: x, planes: 2, height: 2, width: 2, window: 2, output: &out, argmax: &arg)
        #expect(out == [0, 2])
        #expect(arg == [0, 1])
    }
}
