import Testing
import MAMLPluginKit
@testable import CNNNetwork

// MARK: - Conv network: config validation, layout, initialisation, flops, batch of 1

@Suite struct ConvNetworkConfigTests {
    static func resolve(_ json: String) throws -> ConvNetwork.Config {
        let schema = try ConfigSchema(json: ConvNetwork.configSchema)
        return try ConvNetwork.Config(resolved: schema.validate(json))
    }

    @Test func defaultsAreTheMAMLOmniglotConv4() throws {
        let config = try Self.resolve("{}")
        #expect(config == ConvNetwork.Config())
        let net = try ConvNetwork(config)
        #expect(net.featureCount == 64)  // 28 -> 14 -> 7 -> 3 -> 1
        // conv: 64*1*9+64, then 3 x (64*64*9+64); bn 4 x 128; head 5*64+5
        #expect(net.parameterCount == (576 + 64) + 3 * (36864 + 64) + 4 * 128 + 325)
        let mini = try ConvNetwork(Self.resolve(#"{"input": [3, 84, 84], "channels": [32]}"#))
        #expect(mini.featureCount == 32 * 5 * 5)  // 84 -> 42 -> 21 -> 10 -> 5
        let strided = try ConvNetwork(Self.resolve(#"{"downsample": "stride"}"#))
        #expect(strided.featureCount == 64 * 2 * 2)  // 28 -> 14 -> 7 -> 4 -> 2
    }

    @Test func vanishingFeatureMapNamesTheBlock() throws {
        #expect {
            try ConvNetwork(Self.resolve(#"{"blocks": 5}"#))
        } throws: { e in
            let m = (e as? PluginError)?.message ?? ""
            return m.contains("block 5 of 5") && m.contains("1x1 -> 0x0")
        }
        // Stride never vanishes: a 1x1 map stays 1x1.
        _ = try ConvNetwork(Self.resolve(#"{"blocks": 8, "downsample": "stride"}"#))
    }

    @Test(arguments: [
        (#"{"channels": [8, 8]}"#, "\"channels\""),
        (#"{"kernel": 4}"#, "\"kernel\""),
        (#"{"classes": 1}"#, "\"classes\""),
        (#"{"input": [1, 28]}"#, "\"input\""),
        (#"{"norm": "layer"}"#, "\"norm\""),
        (#"{"depth": 4}"#, "\"depth\""),
    ])
    func badConfigsAreRefusedNamingTheKey(json: String, key: String) {
        #expect {
            try ConvNetwork(Self.resolve(json))
        } throws: { e in
            "\(e)".contains(key)
        }
    }

    @Test func perBlockChannelsAndMSEWithOneOutput() throws {
        let net = try ConvNetwork(Self.resolve(#"{"blocks": 2, "channels": [4, 6], "classes": 1, "loss": "mse", "norm": "none"}"#))
        #expect(net.config.channels == [4, 6])
        #expect(net.layout.map(\.name) == ["block0.conv.weight", "block0.conv.bias", "block1.conv.weight",
                                            "block1.conv.bias", "head.weight", "head.bias"])
    }

    @Test func layoutCoversTheParametersInOrder() throws {
        let net = try ConvNetwork(ConvNetwork.Config(input: [2, 6, 6], channels: [3, 4], kernel: 3, norm: .batch, classes: 3))
        var next = 0
        for t in net.layout {
            #expect(t.offset == next)
            next += t.shape.reduce(1, *)
            #expect(t.role == (t.name.hasPrefix("head") ? "head" : "body"))
        }
        #expect(next == net.parameterCount)
        #expect(net.layout[0].shape == [3, 2, 3, 3])
        #expect(net.layout[2].name == "block0.bn.scale")
        #expect(net.layout.last!.shape == [3])
        #expect(net.layout[net.layout.count - 2].shape == [3, 4])  // 6 -> 3 -> 1: 4 features
    }

    @Test func initialisationIsDeterministicWithPyTorchBounds() throws {
        let net = try ConvNetwork(ConvNetwork.Config())
        var a = [Float](repeating: .nan, count: net.parameterCount), b = a, c = a
        net.initParameters(seed: 42, into: &a); net.initParameters(seed: 42, into: &b); net.initParameters(seed: 43, into: &c)
        #expect(a == b)
        #expect(a != c)
        for t in net.layout {
            let values = a[t.offset..<(t.offset + t.shape.reduce(1, *))]
            switch t.name {
            case let name where name.hasSuffix("bn.scale"): #expect(values.allSatisfy { $0 == 1 })
            case let name where name.hasSuffix("bn.shift"): #expect(values.allSatisfy { $0 == 0 })
            default:
                let fanIn = t.name.hasPrefix("head") ? 64 : (t.name == "block0.conv.weight" || t.name == "block0.conv.bias" ? 9 : 576)
                let bound = 1 / Float(fanIn).squareRoot()
                #expect(values.allSatisfy { abs($0) <= bound }, "\(t.name)")
                #expect(values.map(abs).max()! > bound * 0.8, "\(t.name) uses its range")
            }
        }
    }

    @Test func flopsCountsTheMatrixProducts() throws {
        let net = try ConvNetwork(ConvNetwork.Config())
        // Block 0: 28x28 positions, 64 x 9 MACs, forward + weight gradient; blocks 1-3 also input gradient.
        var want: UInt64 = 2 * 784 * 64 * 9 * 2 + 784 * 64
        for p in [196, 49, 9] as [UInt64] { want += 2 * p * 64 * 576 * 3 + p * 64 }
        want += 2 * 64 * 5 * 3 + 5
        #expect(net.flops(batch: 1) == want)
        #expect(net.flops(batch: 75) == 75 * want)
    }

    /// Batch norm on a batch of 1 normalises over positions; with a 1x1 map (one position)
    /// the block's output is its shift: allowed, finite, and the conv below gets no gradient.
    @Test func batchOfOneWithBatchNorm() throws {
        let config = ConvNetwork.Config(input: [1, 1, 1], channels: [2], kernel: 3, downsample: .stride,
                                        norm: .batch, classes: 3)
        let net = try ConvNetwork(config)
        let problem = ConvProblem(config: config, n: 1, seed: 9, parameterCount: net.parameterCount)
        let (loss, grad) = try problem.lossGrad(net)
        #expect(loss.isFinite)
        #expect(grad[0..<(2 * 9 + 2)].allSatisfy { $0 == 0 })  // conv weight and bias
        let fd = problem.finiteDifferenceGradient()
        #expect(zip(grad, fd).allSatisfy { abs(Double($0) - $1) < 1e-4 })
        let v = (0..<net.parameterCount).map { Float($0 % 3) - 1 }
        let hv = try problem.hvp(net, v)
        #expect(zip(hv, problem.finiteDifferenceHVP(v)).allSatisfy { abs(Double($0) - $1) < 1e-3 })
    }
}
