import Testing
import MAMLPluginKit
@testable import CNNNetwork
import TestSupport

// MARK: - Conv network: gradient and HVP against double-precision finite differences
//
// Every combination of norm none/batch x maxpool/stride x softmax-ce/mse, on two small
// shapes, batches 1 to 4, at several random points.

struct ConvCase: CustomTestStringConvertible, Sendable {
    var config: ConvNetwork.Config
    var n: Int
    var testDescription: String {
        "\(config.input) \(config.channels) k\(config.kernel) \(config.downsample) norm=\(config.norm) \(config.loss) n=\(n)"
    }
}

let convCases: [ConvCase] = {
    var list: [ConvCase] = []
    for norm in ConvNetwork.Norm.allCases {
        for down in ConvNetwork.Downsample.allCases {
            for loss in [PluginLossKind.softmaxCrossEntropy, .mse] {
                list.append(ConvCase(config: .init(input: [1, 8, 8], channels: [3, 4], kernel: 3, downsample: down,
                                                   norm: norm, classes: 3, loss: loss), n: 3))
                list.append(ConvCase(config: .init(input: [2, 6, 6], channels: [3, 3], kernel: 3, downsample: down,
                                                   norm: norm, classes: 3, loss: loss), n: loss == .mse ? 1 : 4))
            }
        }
    }
    // Other kernels and a single block.
    list.append(ConvCase(config: .init(input: [2, 7, 5], channels: [3], kernel: 5, downsample: .stride,
                                       norm: .batch, classes: 4, loss: .softmaxCrossEntropy), n: 2))
    list.append(ConvCase(config: .init(input: [3, 4, 4], channels: [2, 3], kernel: 1, downsample: .maxpool,
                                       norm: .batch, classes: 2, loss: .mse), n: 2))
    // Rows of 16 and more: the first block's 3x3 one-channel kernels (conv_ops.c's thin_plane_k3).
    list.append(ConvCase(config: .init(input: [1, 16, 18], channels: [3, 2], kernel: 3, downsample: .maxpool,
                                       norm: .batch, classes: 3, loss: .softmaxCrossEntropy), n: 2))
    return list
}()

@Suite(.slow) struct ConvNetworkDerivativeTests {
    static func network(_ c: ConvCase) -> ConvNetwork {
        try! ConvNetwork(c.config)
    }

    @Test(arguments: convCases, [UInt64(1), 2])
    func gradientMatchesFiniteDifferences(c: ConvCase, seed: UInt64) throws {
        let net = Self.network(c)
        let problem = ConvProblem(config: c.config, n: c.n, seed: seed, parameterCount: net.parameterCount)
        let (loss, grad) = try problem.lossGrad(net)
        let exact = problem.exactLoss
        #expect(abs(Double(loss) - exact) <= 1e-5 * max(1, abs(exact)), "loss \(loss) vs \(exact)")
        let (lossOnly, _) = try problem.lossGrad(net, gradient: false)
        #expect(lossOnly == loss)
        let (err, scale) = maxError(grad, problem.finiteDifferenceGradient())
        #expect(scale > 1e-3, "degenerate problem")
        #expect(err <= 1e-4 * max(1, scale), "gradient error \(err), scale \(scale)")
    }

    @Test(arguments: convCases, [UInt64(3), 4])
    func hvpMatchesFiniteDifferencesAndIsSymmetric(c: ConvCase, seed: UInt64) throws {
        let net = Self.network(c)
        let problem = ConvProblem(config: c.config, n: c.n, seed: seed, parameterCount: net.parameterCount)
        var rng = SplitMix64(seed: seed &+ 99)
        let u = (0..<net.parameterCount).map { _ in rng.nextFloat(symmetric: 1) }
        let v = (0..<net.parameterCount).map { _ in rng.nextFloat(symmetric: 1) }
        func hvp(_ dir: [Float]) throws -> [Float] { try problem.hvp(net, dir) }
        let hv = try hvp(v), hu = try hvp(u)
        let (err, scale) = maxError(hv, problem.finiteDifferenceHVP(v))
        #expect(scale > 1e-3, "degenerate problem")
        #expect(err <= 3e-4 * max(1, scale), "HVP error \(err), scale \(scale)")
        expectSymmetricHessian(u: u, hv: hv, v: v, hu: hu)
    }

    @Test(arguments: convCases.prefix(8))
    func forwardMatchesReferenceLogits(c: ConvCase) throws {
        let net = Self.network(c)
        let problem = ConvProblem(config: c.config, n: c.n, seed: 7, parameterCount: net.parameterCount)
        let out = try problem.forward(net)
        let want = problem.reference.evaluate(problem.params.map(Double.init), x: problem.x.map(Double.init), n: c.n,
                                              y: problem.y.map(Double.init), labels: problem.labels).logits
        let (err, scale) = maxError(out, want)
        #expect(err <= 1e-5 * max(1, scale), "logits error \(err)")
    }

    /// Larger batches after smaller ones (scratch regrowth) and back give the same results.
    @Test func scratchRegrowthKeepsResults() throws {
        let config = ConvNetwork.Config(input: [1, 8, 8], channels: [3, 4], norm: .batch, classes: 3)
        let net = try ConvNetwork(config)
        let small = ConvProblem(config: config, n: 2, seed: 5, parameterCount: net.parameterCount)
        let large = ConvProblem(config: config, n: 6, seed: 6, parameterCount: net.parameterCount)
        func grad(_ p: ConvProblem) throws -> [Float] { try p.lossGrad(net, at: small.params).1 }
        let first = try grad(small)
        _ = try grad(large)
        #expect(try grad(small) == first)
    }
}
