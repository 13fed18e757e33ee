import Testing
import MAMLPluginKit
@testable import CNNNetwork

// MARK: - Convolution by im2col + GEMM against naive loops

struct ConvShape: CustomTestStringConvertible, Sendable {
    var g: ConvGeometry
    var n: Int
    var testDescription: String { "Cin\(g.inChannels) \(g.inHeight)x\(g.inWidth) Cout\(g.outChannels) k\(g.kernel) s\(g.stride) p\(g.padding) n\(n)" }
}

let convShapes: [ConvShape] = [
    ConvShape(g: .init(inChannels: 1, inHeight: 5, inWidth: 5, outChannels: 2, kernel: 3, stride: 1, padding: 1), n: 1),
    ConvShape(g: .init(inChannels: 2, inHeight: 6, inWidth: 7, outChannels: 3, kernel: 3, stride: 2, padding: 1), n: 3),
    ConvShape(g: .init(inChannels: 3, inHeight: 4, inWidth: 5, outChannels: 2, kernel: 3, stride: 1, padding: 0), n: 2),
    ConvShape(g: .init(inChannels: 2, inHeight: 7, inWidth: 6, outChannels: 4, kernel: 5, stride: 2, padding: 2), n: 2),
    ConvShape(g: .init(inChannels: 2, inHeight: 3, inWidth: 3, outChannels: 2, kernel: 1, stride: 1, padding: 0), n: 2),
    ConvShape(g: .init(inChannels: 1, inHeight: 1, inWidth: 2, outChannels: 2, kernel: 3, stride: 2, padding: 1), n: 2),
    ConvShape(g: .init(inChannels: 2, inHeight: 5, inWidth: 4, outChannels: 3, kernel: 3, stride: 3, padding: 1), n: 1),
]

@Suite struct Conv2DTests {
    /// out[o, b, oy, ox] (CNHW) by direct summation; input NCHW if nchw else CNHW.
    static func naive(_ g: ConvGeometry, _ x: [Float], _ w: [Float], _ bias: [Float], n: Int, nchw: Bool) -> [Double] {
        let ho = g.outHeight, wo = g.outWidth, k = g.kernel
        var out = [Double](repeating: 0, count: g.outChannels * n * ho * wo)
        for o in 0..<g.outChannels { for b in 0..<n { for oy in 0..<ho { for ox in 0..<wo {
            var s = Double(bias[o])
            for c in 0..<g.inChannels { for ky in 0..<k { for kx in 0..<k {
                let iy = oy * g.stride - g.padding + ky, ix = ox * g.stride - g.padding + kx
                guard iy >= 0, iy < g.inHeight, ix >= 0, ix < g.inWidth else { continue }
                let plane = nchw ? (b * g.inChannels + c) : (c * n + b)
                s += Double(w[((o * g.inChannels + c) * k + ky) * k + kx]) * Double(x[(plane * g.inHeight + iy) * g.inWidth + ix])
            } } }
            out[((o * n + b) * ho + oy) * wo + ox] = s
        } } } }
        return out
    }

    static func random(_ count: Int, _ rng: inout SplitMix64) -> [Float] { (0..<count).map { _ in rng.nextFloat(symmetric: 1) } }

    @Test(arguments: convShapes, [false, true])
    func forwardMatchesNaiveLoops(s: ConvShape, nchw: Bool) {
        let g = s.g, n = s.n
        #expect(g.outHeight >= 1 && g.outWidth >= 1)
        var rng = SplitMix64(seed: 3)
        let x = Self.random(n * g.inChannels * g.inHeight * g.inWidth, &rng)
        let w = Self.random(g.weightCount, &rng), bias = Self.random(g.outChannels, &rng)
        var cols = [Float](repeating: .nan, count: g.patchSize * n * g.outPlane)
        var out = [Float](repeating: .nan, count: g.outChannels * n * g.outPlane)
        let plane = g.inHeight * g.inWidth
        Conv2D.im2col(g, input: x, n: n, channelStride: nchw ? plane : n * plane,
                      batchStride: nchw ? g.inChannels * plane : plane, cols: &cols)
        Conv2D.forward(g, weight: w, bias: bias, cols: cols, n: n, output: &out)
        let want = Self.naive(g, x, w, bias, n: n, nchw: nchw)
        let err = zip(out, want).map { abs(Double($0) - $1) }.max()!
        #expect(err < 1e-5, "max error \(err)")
    }

    /// col2im is the adjoint of im2col: <im2col(x), c> == <x, col2im(c)>.
    @Test(arguments: convShapes)
    func col2imIsTheAdjointOfIm2col(s: ConvShape) {
        let g = s.g, n = s.n
        var rng = SplitMix64(seed: 4)
        let x = Self.random(n * g.inChannels * g.inHeight * g.inWidth, &rng)
        let c = Self.random(g.patchSize * n * g.outPlane, &rng)
        var cols = [Float](repeating: .nan, count: c.count)
        var back = [Float](repeating: .nan, count: x.count)
        let plane = g.inHeight * g.inWidth
        Conv2D.im2col(g, input: x, n: n, channelStride: n * plane, batchStride: plane, cols: &cols)
        Conv2D.col2im(g, cols: c, n: n, output: &back)
        let lhs = zip(cols, c).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
        let rhs = zip(x, back).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
        #expect(abs(lhs - rhs) < 1e-4 * max(1, abs(lhs)), "\(lhs) vs \(rhs)")
    }

    /// dW = gradOut cols^T, db = row sums, dcols = W^T gradOut: against naive sums.
    @Test(arguments: convShapes)
    func parameterAndColumnGradientsMatchNaiveSums(s: ConvShape) {
        let g = s.g, n = s.n, columns = n * g.outPlane
        var rng = SplitMix64(seed: 5)
        let cols = Self.random(g.patchSize * columns, &rng), gOut = Self.random(g.outChannels * columns, &rng)
        let w = Self.random(g.weightCount, &rng)
        var dw = [Float](repeating: .nan, count: g.weightCount), db = [Float](repeating: .nan, count: g.outChannels)
        var dcols = [Float](repeating: .nan, count: cols.count)
        Conv2D.parameterGradient(g, gradOut: gOut, cols: cols, n: n, weightGrad: &dw, biasGrad: &db)
        Conv2D.colsGradient(g, weight: w, gradOut: gOut, n: n, colsGrad: &dcols)
        for o in 0..<g.outChannels {
            var sb = 0.0
            for j in 0..<columns { sb += Double(gOut[o * columns + j]) }
            #expect(abs(Double(db[o]) - sb) < 1e-4)
            for r in 0..<g.patchSize {
                var sw = 0.0
                for j in 0..<columns { sw += Double(gOut[o * columns + j]) * Double(cols[r * columns + j]) }
                #expect(abs(Double(dw[o * g.patchSize + r]) - sw) < 1e-4)
            }
        }
        for r in 0..<g.patchSize { for j in 0..<columns {
            var sc = 0.0
            for o in 0..<g.outChannels { sc += Double(w[o * g.patchSize + r]) * Double(gOut[o * columns + j]) }
            #expect(abs(Double(dcols[r * columns + j]) - sc) < 1e-4)
        } }
    }
}
