import Testing
import MAMLPluginKit
@testable import MLPNetwork
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

// MARK: - Dense network: the vector-Jacobian product ("maml.vjp/1") in double precision
//
// vjp(u) is the gradient of s(theta) = u . outputs(theta), which central finite differences of
// the double-precision reference give (relu problems are drawn away from kinks).

extension DenseProblem {
    /// The reference's outputs, in Double.
    func referenceOutputs(_ theta: [Double]) -> [Double] {
        reference.evaluate(theta, x: x.map(Double.init), n: n, y: y.map(Double.init), labels: labels).outputs
    }

    /// The network's VJP for output gradient u, on this batch with or without its targets.
    func vjp(_ net: DenseNetwork, _ u: [Float], targets: Bool = true) -> [Float] {
        var out = [Float](repeating: .nan, count: net.parameterCount)
        withBatch { batch in
            var b = batch
            if !targets { b.yFloat = nil; b.yClass = nil }
            u.withUnsafeBufferPointer { ub in
                out.withUnsafeMutableBufferPointer { net.vjp(params: params, batch: b, outputGrad: ub.baseAddress!, grad: $0.baseAddress!) }
            }
        }
        return out
    }

    func outputs(_ net: DenseNetwork) -> [Float] {
        var out = [Float](repeating: .nan, count: n * net.outputCount)
        withBatch { batch in out.withUnsafeMutableBufferPointer { net.forward(params: params, batch: batch, output: $0.baseAddress!) } }
        return out
    }

    func gradient(_ net: DenseNetwork) -> [Float] {
        var grad = [Float](repeating: .nan, count: net.parameterCount)
        withBatch { batch in _ = grad.withUnsafeMutableBufferPointer { net.lossGrad(params: params, batch: batch, grad: $0.baseAddress!) } }
        return grad
    }
}

/// d loss / d outputs of the ABI's losses, in Double from float outputs: what loss_grad backpropagates.
func lossOutputGradient(_ z: [Float], y: [Float], labels: [Int32], n: Int, k: Int, crossEntropy: Bool) -> [Float] {
    var u = [Float](repeating: 0, count: n * k)
    for e in 0..<n {
        let row = z[(e * k)..<((e + 1) * k)].map(Double.init)
        if crossEntropy {
            let top = row.max()!, sum = row.reduce(0.0) { $0 + exp($1 - top) }
            for j in 0..<k { u[e * k + j] = Float((exp(row[j] - top) / sum - (j == Int(labels[e]) ? 1 : 0)) / Double(n)) }
        } else {
            for j in 0..<k { u[e * k + j] = Float(2 * (row[j] - Double(y[e * k + j])) / Double(n * k)) }
        }
    }
    return u
}

@Suite struct DenseNetworkVJPTests {
    @Test(arguments: denseCases, [UInt64(1), 2])
    func vjpMatchesFiniteDifferences(c: DenseCase, seed: UInt64) {
        let problem = DenseProblem(sizes: c.sizes, activation: c.activation, loss: c.loss, n: c.n, seed: seed, margin: 1e-2)
        let net = DenseNetwork(sizes: c.sizes, activation: c.activation, loss: c.loss)
        var rng = SplitMix64(seed: seed &+ 17)
        let u = (0..<(c.n * c.sizes.last!)).map { _ in rng.nextFloat(symmetric: 1) }
        let got = problem.vjp(net, u)
        expectClose(got, centralVJP(problem.referenceOutputs, u: u, at: problem.params, h: 1e-6), tolerance: 1e-4, "VJP")
        #expect(problem.vjp(net, u, targets: false) == got, "targets are not read")
    }

    /// Chain rule: with u = d loss / d outputs, the VJP is loss_grad's gradient (both losses).
    @Test(arguments: denseCases)
    func vjpOfLossGradientIsTheGradient(c: DenseCase) {
        let problem = DenseProblem(sizes: c.sizes, activation: c.activation, loss: c.loss, n: c.n, seed: 9)
        let net = DenseNetwork(sizes: c.sizes, activation: c.activation, loss: c.loss)
        let u = lossOutputGradient(problem.outputs(net), y: problem.y, labels: problem.labels, n: c.n, k: c.sizes.last!,
                                   crossEntropy: c.loss == .softmaxCrossEntropy)
        let (err, scale) = maxError(problem.vjp(net, u), problem.gradient(net).map(Double.init))
        #expect(err <= 1e-5 * max(1, scale), "VJP vs gradient \(err), scale \(scale)")
    }

    /// A VJP between loss_grad and hvp must not hand hvp its chain (hvp reuses loss_grad's slots).
    @Test func vjpDoesNotDisturbHVPReuse() {
        let c = denseCases[1]
        let problem = DenseProblem(sizes: c.sizes, activation: c.activation, loss: c.loss, n: c.n, seed: 3)
        let net = DenseNetwork(sizes: c.sizes, activation: c.activation, loss: c.loss)
        let v = [Float](repeating: 0.5, count: net.parameterCount)
        func hvp() -> [Float] {
            var out = [Float](repeating: .nan, count: net.parameterCount)
            problem.withBatch { batch in out.withUnsafeMutableBufferPointer { net.hvp(params: problem.params, batch: batch, v: v, output: $0.baseAddress!) } }
            return out
        }
        let fresh = hvp()
        let u = [Float](repeating: 1, count: c.n * c.sizes.last!)
        for _ in 0..<3 {
            _ = problem.gradient(net)
            _ = problem.vjp(net, u)
            #expect(hvp() == fresh)
            _ = problem.vjp(net, u)
            _ = problem.vjp(net, u)
            #expect(hvp() == fresh)
        }
    }
}
