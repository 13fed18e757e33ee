import Testing
import MAMLPluginKit
@testable import RNNNetwork
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

// MARK: - Recurrent network: the vector-Jacobian product ("maml.vjp/1") in double precision
//
// vjp(u) against central finite differences of s(theta) = u . outputs(theta) of the naive
// reference, for both heads: "every" (outputs [n, length, classes], u has a gradient at every
// step) and "last" (outputs [n, classes]: only the last step's hidden state is seeded).

/// Each cell with both heads, one and two layers, and hidden 9 (SIMD lanes and the scalar tail).
let recurrentVJPCases: [RecurrentCase] = RecurrentCell.allCases.flatMap { cell -> [RecurrentCase] in [
    RecurrentCase(config: .init(length: 4, features: 2, cell: cell, hidden: 3, layers: 2, head: .every, classes: 2, loss: .mse), n: 2),
    RecurrentCase(config: .init(length: 4, features: 3, cell: cell, hidden: 3, layers: 2, head: .last, classes: 3,
                                loss: .softmaxCrossEntropy), n: 3),
    RecurrentCase(config: .init(length: 3, features: 1, cell: cell, hidden: 4, layers: 1, head: .last, classes: 1, loss: .mse), n: 1),
    RecurrentCase(config: .init(length: 3, features: 2, cell: cell, hidden: 9, layers: 1, head: .every, classes: 1, loss: .mse), n: 2),
] }

extension RecurrentProblem {
    /// The network's VJP for output gradient u (forward's layout), with or without the batch's targets.
    func vjp(_ net: RecurrentNetwork, _ u: [Float], targets: Bool = true) throws -> [Float] {
        var out = [Float](repeating: .nan, count: net.parameterCount)
        try withBatch { batch in
            var b = batch
            if !targets { b.yFloat = nil; b.yClass = nil }
            try u.withUnsafeBufferPointer { ub in
                try out.withUnsafeMutableBufferPointer { try net.vjp(params: params, batch: b, outputGrad: ub.baseAddress!, grad: $0.baseAddress!) }
            }
        }
        return out
    }

    /// The reference's outputs, in Double.
    func referenceOutputs(_ theta: [Double]) -> [Double] {
        reference.evaluate(theta, x: x.map(Double.init), n: n, y: y.map(Double.init), labels: labels).outputs
    }
}

@Suite struct RecurrentNetworkVJPTests {
    @Test(arguments: recurrentVJPCases, [UInt64(1), 2])
    func vjpMatchesFiniteDifferences(c: RecurrentCase, seed: UInt64) throws {
        let net = try RecurrentNetwork(c.config)
        let problem = RecurrentProblem(config: c.config, n: c.n, seed: seed, parameterCount: net.parameterCount)
        let outputs = c.n * (c.config.head == .every ? c.config.length : 1) * c.config.classes
        var rng = SplitMix64(seed: seed &+ 23)
        let u = (0..<outputs).map { _ in rng.nextFloat(symmetric: 1) }
        let got = try problem.vjp(net, u)
        expectClose(got, centralVJP(problem.referenceOutputs, u: u, at: problem.params, h: 1e-5), tolerance: 1e-4, "VJP")
        #expect(try problem.vjp(net, u, targets: false) == got, "targets are not read")
    }

    /// Chain rule: with u = d loss / d outputs the VJP is loss_grad's gradient.
    @Test(arguments: recurrentVJPCases)
    func vjpOfLossGradientIsTheGradient(c: RecurrentCase) throws {
        let net = try RecurrentNetwork(c.config)
        let problem = RecurrentProblem(config: c.config, n: c.n, seed: 4, parameterCount: net.parameterCount)
        let z = try problem.forward(net).map(Double.init), k = c.config.classes, rows = z.count / k
        var u = [Float](repeating: 0, count: z.count)
        for r in 0..<rows {
            let row = z[(r * k)..<((r + 1) * k)]
            switch c.config.loss {
            case .mse:
                for j in 0..<k { u[r * k + j] = Float(2 * (row[r * k + j] - Double(problem.y[r * k + j])) / Double(z.count)) }
            case .softmaxCrossEntropy:   // head "last": one row per sequence
                let top = row.max()!, sum = row.reduce(0.0) { $0 + exp($1 - top) }
                for j in 0..<k {
                    u[r * k + j] = Float((exp(row[r * k + j] - top) / sum - (j == Int(problem.labels[r]) ? 1 : 0)) / Double(rows))
                }
            }
        }
        let (_, gradient) = try problem.lossGrad(net)
        let (err, scale) = maxError(try problem.vjp(net, u), gradient.map(Double.init))
        #expect(err <= 1e-5 * max(1, scale), "VJP vs gradient \(err), scale \(scale)")
    }

    /// Head "last": the outputs are the last step's, so s and its VJP do not depend on head rows of
    /// other steps; the VJP equals the one of the "every" network seeded at the last step only.
    @Test(arguments: RecurrentCell.allCases)
    func lastHeadIsEveryHeadSeededAtTheLastStep(cell: RecurrentCell) throws {
        let every = RecurrentNetwork.Config(length: 4, features: 2, cell: cell, hidden: 5, layers: 2, head: .every, classes: 2, loss: .mse)
        var last = every
        last.head = .last
        let netEvery = try RecurrentNetwork(every), netLast = try RecurrentNetwork(last)
        #expect(netEvery.parameterCount == netLast.parameterCount)
        let n = 3
        let problem = RecurrentProblem(config: every, n: n, seed: 6, parameterCount: netEvery.parameterCount)
        var rng = SplitMix64(seed: 60)
        let uLast = (0..<(n * 2)).map { _ in rng.nextFloat(symmetric: 1) }
        var uEvery = [Float](repeating: 0, count: n * 4 * 2)
        for e in 0..<n { for j in 0..<2 { uEvery[(e * 4 + 3) * 2 + j] = uLast[e * 2 + j] } }
        let fromEvery = try problem.vjp(netEvery, uEvery)
        var lastProblem = problem
        lastProblem.reference.config = last
        let fromLast = try lastProblem.vjp(netLast, uLast)
        let (err, scale) = maxError(fromLast, fromEvery.map(Double.init))
        #expect(err <= 1e-6 * max(1, scale), "last vs every seeded at the last step: \(err)")
    }
}
