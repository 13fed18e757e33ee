import Testing
import MAMLPluginKit
@testable import MLPNetwork
import TestSupport

// MARK: - Dense network: gradient and HVP against double-precision finite differences

struct DenseCase: CustomTestStringConvertible, Sendable {
    var sizes: [Int]
    var activation: DenseNetwork.Activation
    var loss: DenseNetwork.Loss
    var n: Int
    var testDescription: String { "\(sizes) \(activation) \(loss) n=\(n)" }
}

let denseCases: [DenseCase] = [
    DenseCase(sizes: [1, 40, 40, 1], activation: .relu, loss: .mse, n: 10),
    DenseCase(sizes: [1, 40, 40, 1], activation: .tanh, loss: .mse, n: 10),
    DenseCase(sizes: [3, 5, 4, 2], activation: .tanh, loss: .mse, n: 1),
    DenseCase(sizes: [3, 5, 4, 2], activation: .relu, loss: .mse, n: 1),
    DenseCase(sizes: [4, 6, 3], activation: .relu, loss: .softmaxCrossEntropy, n: 5),
    DenseCase(sizes: [2, 7, 5, 4], activation: .tanh, loss: .softmaxCrossEntropy, n: 1),
    DenseCase(sizes: [2, 9, 6, 5], activation: .tanh, loss: .softmaxCrossEntropy, n: 7),
    DenseCase(sizes: [5, 3], activation: .tanh, loss: .mse, n: 3),
    DenseCase(sizes: [6, 4], activation: .relu, loss: .softmaxCrossEntropy, n: 2),
]

@Suite struct DenseNetworkTests {
    @Test(arguments: denseCases, [UInt64(1), 2, 3])
    func gradientMatchesFiniteDifferences(c: DenseCase, seed: UInt64) {
        let problem = DenseProblem(sizes: c.sizes, activation: c.activation, loss: c.loss, n: c.n, seed: seed)
        let net = DenseNetwork(sizes: c.sizes, activation: c.activation, loss: c.loss)
        #expect(net.parameterCount == problem.params.count)
        var grad = [Float](repeating: .nan, count: net.parameterCount)
        let loss = problem.withBatch { batch in
            grad.withUnsafeMutableBufferPointer { net.lossGrad(params: problem.params, batch: batch, grad: $0.baseAddress!) }
        }
        let exactLoss = problem.loss(problem.params.map(Double.init))
        #expect(abs(Double(loss) - exactLoss) <= 1e-5 * max(1, abs(exactLoss)), "loss \(loss) vs \(exactLoss)")
        let lossOnly = problem.withBatch { net.lossGrad(params: problem.params, batch: $0, grad: nil) }
        #expect(lossOnly == loss)
        let (err, scale) = maxError(grad, problem.finiteDifferenceGradient())
        #expect(scale > 1e-3, "degenerate problem")
        #expect(err <= 2e-4 * max(1, scale), "gradient error \(err), scale \(scale)")
    }

    @Test(arguments: denseCases, [UInt64(4), 5])
    func hvpMatchesFiniteDifferencesAndIsSymmetric(c: DenseCase, seed: UInt64) {
        let problem = DenseProblem(sizes: c.sizes, activation: c.activation, loss: c.loss, n: c.n, seed: seed, margin: 1e-2)
        let net = DenseNetwork(sizes: c.sizes, activation: c.activation, loss: c.loss)
        var rng = SplitMix64(seed: seed &+ 99)
        let u = (0..<net.parameterCount).map { _ in rng.nextFloat(symmetric: 1) }
        let v = (0..<net.parameterCount).map { _ in rng.nextFloat(symmetric: 1) }
        func hvp(_ dir: [Float]) -> [Float] {
            var out = [Float](repeating: .nan, count: net.parameterCount)
            problem.withBatch { batch in
                out.withUnsafeMutableBufferPointer { net.hvp(params: problem.params, batch: batch, v: dir, output: $0.baseAddress!) }
            }
            return out
        }
        let hv = hvp(v), hu = hvp(u)
        let (err, scale) = maxError(hv, problem.finiteDifferenceHVP(v))
        #expect(scale > 1e-3, "degenerate problem")
        #expect(err <= 1e-3 * max(1, scale), "HVP error \(err), scale \(scale)")
        expectSymmetricHessian(u: u, hv: hv, v: v, hu: hu)
    }

    /// The HVP also agrees with a central difference of the network's own gradients (tanh: smooth).
    @Test func hvpMatchesDifferenceOfGradients() {
        let problem = DenseProblem(sizes: [2, 8, 6, 3], activation: .tanh, loss: .softmaxCrossEntropy, n: 4, seed: 11)
        let net = DenseNetwork(sizes: [2, 8, 6, 3], activation: .tanh, loss: .softmaxCrossEntropy)
        var rng = SplitMix64(seed: 12)
        let v = (0..<net.parameterCount).map { _ in rng.nextFloat(symmetric: 1) }
        let eps: Float = 1e-2
        func grad(_ s: Float) -> [Float] {
            let p = zip(problem.params, v).map { $0 + s * eps * $1 }
            var g = [Float](repeating: 0, count: net.parameterCount)
            problem.withBatch { batch in _ = g.withUnsafeMutableBufferPointer { net.lossGrad(params: p, batch: batch, grad: $0.baseAddress!) } }
            return g
        }
        let fd = zip(grad(1), grad(-1)).map { Double($0 - $1) / Double(2 * eps) }
        var hv = [Float](repeating: 0, count: net.parameterCount)
        problem.withBatch { batch in hv.withUnsafeMutableBufferPointer { net.hvp(params: problem.params, batch: batch, v: v, output: $0.baseAddress!) } }
        let (err, scale) = maxError(hv, fd)
        #expect(err <= 2e-3 * max(1, scale), "HVP vs gradient difference: error \(err), scale \(scale)")
    }

    /// Reusing one network across batch sizes (scratch growth) changes nothing.
    @Test func scratchGrowthKeepsResults() {
        let small = DenseProblem(sizes: [3, 5, 2], activation: .tanh, loss: .mse, n: 2, seed: 21)
        let large = DenseProblem(sizes: [3, 5, 2], activation: .tanh, loss: .mse, n: 9, seed: 22)
        let shared = DenseNetwork(sizes: [3, 5, 2], activation: .tanh, loss: .mse)
        func grad(_ net: DenseNetwork, _ p: DenseProblem) -> [Float] {
            var g = [Float](repeating: 0, count: net.parameterCount)
            p.withBatch { b in _ = g.withUnsafeMutableBufferPointer { net.lossGrad(params: p.params, batch: b, grad: $0.baseAddress!) } }
            return g
        }
        let first = grad(shared, small)
        _ = grad(shared, large)
        #expect(grad(shared, small) == first)
        #expect(grad(DenseNetwork(sizes: [3, 5, 2], activation: .tanh, loss: .mse), large) == grad(shared, large))
    }

    @Test func forwardGivesPredictionsOfTheReference() {
        let p = DenseProblem(sizes: [3, 4, 2], activation: .tanh, loss: .mse, n: 3, seed: 31)
        let net = DenseNetwork(sizes: [3, 4, 2], activation: .tanh, loss: .mse)
        var out = [Float](repeating: 0, count: 6)
        p.withBatch { b in out.withUnsafeMutableBufferPointer { net.forward(params: p.params, batch: b, output: $0.baseAddress!) } }
        // MSE against y equals the reference loss.
        let mse = zip(out, p.y).reduce(0.0) { $0 + Double($1.0 - $1.1) * Double($1.0 - $1.1) } / 6
        #expect(abs(mse - p.loss(p.params.map(Double.init))) < 1e-6)
    }

    @Test func softmaxCrossEntropyIsStableForHugeLogits() {
        // Last layer bias 1000 on class 0: naive exp overflows; log-sum-exp does not.
        let net = DenseNetwork(sizes: [1, 3], activation: .relu, loss: .softmaxCrossEntropy)
        let params: [Float] = [0, 0, 0, 1000, 0, 0]
        let x: [Float] = [1], labels: [Int32] = [1]
        var grad = [Float](repeating: 0, count: 6)
        let loss = x.withUnsafeBufferPointer { xp in labels.withUnsafeBufferPointer { lp in
            grad.withUnsafeMutableBufferPointer {
                net.lossGrad(params: params, batch: PluginBatch(n: 1, x: xp.baseAddress!, yClass: lp.baseAddress!), grad: $0.baseAddress!)
            } } }
        #expect(loss == 1000)
        #expect(grad[3] == 1 && grad[4] == -1 && grad[5] == 0)
    }
}

// MARK: - Initialisation, layout and flops

@Suite struct DenseSetupTests {
    @Test func splitMix64MatchesReferenceOutput() {
        var rng = SplitMix64(seed: 0)
        #expect(rng.next() == 0xE220_A839_7B1D_CDAF)
        #expect(rng.next() == 0x6E78_9E6A_A1B9_65F4)
    }

    @Test func initIsDeterministicAndInPyTorchBounds() {
        let net = DenseNetwork(sizes: [1, 40, 40, 1], activation: .relu, loss: .mse)
        #expect(net.parameterCount == 1761)
        func draw(_ seed: UInt64) -> [Float] {
            var p = [Float](repeating: .nan, count: net.parameterCount)
            p.withUnsafeMutableBufferPointer { net.initParameters(seed: seed, into: $0.baseAddress!) }
            return p
        }
        let a = draw(7)
        #expect(a == draw(7))
        #expect(a != draw(8))
        for t in net.layout {
            let fanIn = t.name.hasSuffix("weight") ? t.shape[1] : (t.name == "layer0.bias" ? 1 : 40)
            let bound = 1 / Float(fanIn).squareRoot()
            let slice = a[t.offset..<(t.offset + t.shape.reduce(1, *))]
            #expect(slice.allSatisfy { abs($0) <= bound }, "\(t.name) outside +-\(bound)")
            if slice.count >= 8 { #expect(slice.contains { abs($0) > bound * 0.5 }, "\(t.name) not spread") }
        }
    }

    @Test func layoutCoversParametersInOrderWithHead() {
        let net = DenseNetwork(sizes: [2, 3, 4], activation: .tanh, loss: .mse)
        #expect(net.layout == [
            LayoutTensor(name: "layer0.weight", offset: 0, shape: [3, 2], role: "body"),
            LayoutTensor(name: "layer0.bias", offset: 6, shape: [3], role: "body"),
            LayoutTensor(name: "layer1.weight", offset: 9, shape: [4, 3], role: "head"),
            LayoutTensor(name: "layer1.bias", offset: 21, shape: [4], role: "head"),
        ])
        #expect(net.parameterCount == 25)
    }

    @Test func flopsCountMatrixProductsAndBiases() {
        let net = DenseNetwork(sizes: [1, 40, 40, 1], activation: .relu, loss: .mse)
        // layer0: 2*10*40*2 + 2*10*40; layer1: 2*10*1600*3 + 2*10*40; layer2: 2*10*40*3 + 2*10*1.
        #expect(net.flops(batch: 10) == 1600 + 800 + 96000 + 800 + 2400 + 20)
    }
}
