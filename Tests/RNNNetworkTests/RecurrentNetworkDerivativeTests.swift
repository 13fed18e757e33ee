import Testing
import MAMLPluginKit
@testable import RNNNetwork
import TestSupport

// MARK: - Recurrent network: gradient and HVP against double-precision finite differences
//
// Every cell x head (last/every) x loss, sequence lengths 1 to 5, one and two layers, hidden 3,
// 4 and 9 (SIMD lanes and scalar tail),
// batches 1 to 3, against the naive reference (RecurrentReference.swift).

struct RecurrentCase: CustomTestStringConvertible, Sendable {
    var config: RecurrentNetwork.Config
    var n: Int
    var testDescription: String {
        let c = config
        return "\(c.cell) T\(c.length)x\(c.features) h\(c.hidden) L\(c.layers) \(c.head) \(c.loss) k\(c.classes) n=\(n)"
    }
}

let recurrentCases: [RecurrentCase] = {
    var list: [RecurrentCase] = []
    for cell in RecurrentCell.allCases {
        for (length, layers) in [(1, 1), (2, 2), (5, 1), (4, 2)] {
            list.append(RecurrentCase(config: .init(length: length, features: 2, cell: cell, hidden: 3, layers: layers,
                                                    head: .every, classes: 2, loss: .mse), n: 2))
            list.append(RecurrentCase(config: .init(length: length, features: 3, cell: cell, hidden: 3, layers: layers,
                                                    head: .last, classes: 3, loss: .softmaxCrossEntropy), n: 3))
        }
        list.append(RecurrentCase(config: .init(length: 3, features: 1, cell: cell, hidden: 4, layers: 1,
                                                head: .last, classes: 1, loss: .mse), n: 1))
        // Hidden 9: eight units through the SIMD lanes (CellLanes.swift), one through the scalar tail.
        list.append(RecurrentCase(config: .init(length: 3, features: 2, cell: cell, hidden: 9, layers: 2,
                                                head: .every, classes: 1, loss: .mse), n: 2))
        list.append(RecurrentCase(config: .init(length: 1, features: 2, cell: cell, hidden: 9, layers: 1,
                                                head: .last, classes: 2, loss: .softmaxCrossEntropy), n: 2))
    }
    return list
}()

@Suite(.slow) struct RecurrentNetworkDerivativeTests {
    @Test(arguments: recurrentCases, [UInt64(1), 2])
    func gradientMatchesFiniteDifferences(c: RecurrentCase, seed: UInt64) throws {
        let net = try RecurrentNetwork(c.config)
        let problem = RecurrentProblem(config: c.config, n: c.n, seed: seed, parameterCount: net.parameterCount)
        let (loss, grad) = try problem.lossGrad(net)
        let exact = problem.loss(problem.params.map(Double.init))
        #expect(abs(Double(loss) - exact) <= 1e-5 * max(1, abs(exact)), "loss \(loss) vs \(exact)")
        let (lossOnly, _) = try problem.lossGrad(net, gradient: false)
        #expect(lossOnly == loss)
        let fd = centralGradient(problem.loss, at: problem.params.map(Double.init), h: 1e-5)
        let (err, scale) = maxError(grad, fd)
        #expect(scale > 1e-3, "degenerate problem")
        #expect(err <= 1e-4 * max(1, scale), "gradient error \(err), scale \(scale)")
    }

    @Test(arguments: recurrentCases, [UInt64(3)])
    func hvpMatchesFiniteDifferencesAndIsSymmetric(c: RecurrentCase, seed: UInt64) throws {
        let net = try RecurrentNetwork(c.config)
        let problem = RecurrentProblem(config: c.config, n: c.n, seed: seed, parameterCount: net.parameterCount)
        var rng = SplitMix64(seed: seed &+ 99)
        let u = (0..<net.parameterCount).map { _ in rng.nextFloat(symmetric: 1) }
        let v = (0..<net.parameterCount).map { _ in rng.nextFloat(symmetric: 1) }
        let hv = try problem.hvp(net, v), hu = try problem.hvp(net, u)
        let fd = centralHVP(problem.loss, at: problem.params.map(Double.init), direction: v, h: 1e-4)
        let (err, scale) = maxError(hv, fd)
        #expect(scale > 1e-3, "degenerate problem")
        #expect(err <= 3e-4 * max(1, scale), "HVP error \(err), scale \(scale)")
        expectSymmetricHessian(u: u, hv: hv, v: v, hu: hu)
    }

    @Test(arguments: recurrentCases)
    func forwardMatchesReference(c: RecurrentCase) throws {
        let net = try RecurrentNetwork(c.config)
        let problem = RecurrentProblem(config: c.config, n: c.n, seed: 7, parameterCount: net.parameterCount)
        let out = try problem.forward(net)
        let want = problem.reference.evaluate(problem.params.map(Double.init), x: problem.x.map(Double.init), n: c.n,
                                              y: problem.y.map(Double.init), labels: problem.labels).outputs
        #expect(out.count == want.count)
        let (err, scale) = maxError(out, want)
        #expect(err <= 1e-5 * max(1, scale), "outputs error \(err)")
    }
}
