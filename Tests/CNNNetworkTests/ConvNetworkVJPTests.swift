import Testing
import MAMLPluginKit
@testable import CNNNetwork
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

// MARK: - Conv network: the vector-Jacobian product ("maml.vjp/1") in double precision
//
// s(theta) = u . logits(theta) for a random u, on the reference network with the base
// point's ReLU masks and pooling winners frozen (ConvReference.swift): its central
// finite-difference gradient is the exact VJP. With batch norm the logits of one example
// depend on the whole batch through its statistics, and so does the VJP.

/// Every norm x downsample on the first shape, batches of 3 and 1; two losses (the VJP ignores it).
let convVJPCases: [ConvCase] = convCases.filter { $0.config.input == [1, 8, 8] }
    + [ConvCase(config: .init(input: [2, 6, 6], channels: [3, 3], kernel: 3, downsample: .maxpool, norm: .batch,
                              classes: 3, loss: .mse), n: 1)]

extension ConvProblem {
    /// The network's VJP for output gradient u (n * classes floats), on a batch with or without targets.
    func vjp(_ net: ConvNetwork, _ u: [Float], targets: Bool = true) throws -> [Float] {
        var out = [Float](repeating: .nan, count: net.parameterCount)
        let storage = PluginBatchStorage(self)
        var batch = storage.batch
        if !targets { batch.yFloat = nil; batch.yClass = nil }
        try out.withUnsafeMutableBufferPointer { o in
            try u.withUnsafeBufferPointer { ub in
                try net.vjp(params: params, batch: batch, outputGrad: ub.baseAddress!, grad: o.baseAddress!)
            }
        }
        storage.free()
        return out
    }

    /// The reference's logits on the base point's piece, in Double.
    func referenceOutputs(_ theta: [Double]) -> [Double] {
        reference.evaluate(theta, x: x.map(Double.init), n: n, y: y.map(Double.init), labels: labels, frozen: pattern).logits
    }
}

@Suite struct ConvNetworkVJPTests {
    @Test(arguments: convVJPCases, [UInt64(1), 2])
    func vjpMatchesFiniteDifferences(c: ConvCase, seed: UInt64) throws {
        let net = try ConvNetwork(c.config)
        let problem = ConvProblem(config: c.config, n: c.n, seed: seed, parameterCount: net.parameterCount)
        var rng = SplitMix64(seed: seed &+ 31)
        let u = (0..<(c.n * c.config.classes)).map { _ in rng.nextFloat(symmetric: 1) }
        let got = try problem.vjp(net, u)
        expectClose(got, centralVJP(problem.referenceOutputs, u: u, at: problem.params, h: 1e-5), tolerance: 1e-4, "VJP")
        // Targets are not read, and the instance's state does not leak between calls.
        #expect(try problem.vjp(net, u, targets: false) == got)
    }

    /// Chain rule: with u = d loss / d logits the VJP is loss_grad's gradient (MSE: 2 (z - y) / (n k);
    /// softmax CE: (softmax(z) - onehot) / n), with batch norm's batch statistics.
    @Test(arguments: convVJPCases)
    func vjpOfLossGradientIsTheGradient(c: ConvCase) throws {
        let net = try ConvNetwork(c.config)
        let problem = ConvProblem(config: c.config, n: c.n, seed: 5, parameterCount: net.parameterCount)
        let z = try problem.forward(net).map(Double.init), k = c.config.classes
        var u = [Float](repeating: 0, count: z.count)
        for e in 0..<c.n {
            switch c.config.loss {
            case .mse:
                for j in 0..<k { u[e * k + j] = Float(2 * (z[e * k + j] - Double(problem.y[e * k + j])) / Double(c.n * k)) }
            case .softmaxCrossEntropy:
                let row = z[(e * k)..<((e + 1) * k)], top = row.max()!
                let sum = row.reduce(0.0) { $0 + exp($1 - top) }
                for j in 0..<k {
                    u[e * k + j] = Float((exp(z[e * k + j] - top) / sum - (j == Int(problem.labels[e]) ? 1 : 0)) / Double(c.n))
                }
            }
        }
        let (_, gradient) = try problem.lossGrad(net)
        let got = try problem.vjp(net, u)
        let (err, scale) = maxError(got, gradient.map(Double.init))
        #expect(err <= 1e-5 * max(1, scale), "VJP vs gradient \(err), scale \(scale)")
    }

    /// The VJP between loss_grad and hvp calls changes neither.
    @Test func vjpLeavesOtherResultsAlone() throws {
        let c = convVJPCases[0]
        let net = try ConvNetwork(c.config)
        let problem = ConvProblem(config: c.config, n: c.n, seed: 8, parameterCount: net.parameterCount)
        let (_, before) = try problem.lossGrad(net)
        let v = [Float](repeating: 0.25, count: net.parameterCount)
        let hvBefore = try problem.hvp(net, v)
        _ = try problem.vjp(net, [Float](repeating: 1, count: c.n * c.config.classes))
        #expect(try problem.lossGrad(net).1 == before)
        #expect(try problem.hvp(net, v) == hvBefore)
    }
}
