import Testing
import MAMLPluginKit
@testable import MLPNetwork

// MARK: - MLP config: resolution, shapes, the refusals and their messages, the model's identity

@Suite struct DenseNetworkConfigTests {
    static func resolve(_ json: String) throws -> DenseNetwork.Config {
        let schema = try ConfigSchema(json: DenseNetwork.configSchema)
        return try DenseNetwork.Config(resolved: schema.validate(json))
    }

    @Test func defaultsAreTheSinusoidRegressor() throws {
        let config = try Self.resolve("{}")
        #expect(config == DenseNetwork.Config())
        let net = try DenseNetwork(config)
        #expect(net.sizes == [1, 40, 40, 1] && net.activation == .relu && net.loss == .mse)
        #expect(net.inputShape == [1] && net.outputShape == [1] && net.lossKind == .mse)
        #expect(net.parameterCount == 1761)
    }

    @Test func imageInputIsFlattenedAndKeepsItsShape() throws {
        let net = try DenseNetwork(Self.resolve(#"{"input": [1, 28, 28], "hidden": [256, 128], "output": 5, "loss": "softmax-ce"}"#))
        #expect(net.sizes == [784, 256, 128, 5])
        #expect(net.inputShape == [1, 28, 28] && net.outputShape == [5] && net.lossKind == .softmaxCrossEntropy)
    }

    @Test(arguments: [
        (#"{"output": 1, "loss": "softmax-ce"}"#,
         #"config key "output": 1 classes is too few for "softmax-ce" (expected at least 2)"#),
        (#"{"input": [4096, 4097]}"#,
         #"config key "input": [4096, 4097] has 16781312 elements, expected at most 16777216"#),
        (#"{"input": [65536, 65536, 65536, 65536]}"#,   // 2^64: the product overflowed and trapped before
         #"config key "input": [65536, 65536, 65536, 65536] has more than 9223372036854775807 elements, expected at most 16777216"#),
        (#"{"hidden": [20000, 20000]}"#,
         "config: [1, 20000, 20000, 1] gives 400080001 parameters, more than the 268435456 allowed"),
    ])
    func badConfigsAreRefusedWithTheirMessage(json: String, message: String) {
        #expect {
            try DenseNetwork(Self.resolve(json))
        } throws: { e in
            (e as? PluginError) == PluginError(.invalidArgument, message)
        }
    }

    @Test func modelIsItsNetwork() throws {
        #expect(MLPModel.info.id == "org.mamlzoo.mlp" && MLPModel.info.configSchema == DenseNetwork.configSchema)
        #expect(MLPModel.ops.map(\.name) == ["flops"])
        let schema = try ConfigSchema(json: MLPModel.info.configSchema)
        let model = try MLPModel(config: schema.validate(#"{"input": [2, 3], "hidden": [4], "output": 3, "loss": "softmax-ce"}"#))
        #expect(model.inputShape == [2, 3] && model.outputShape == [3] && model.lossKind == .softmaxCrossEntropy)
        #expect(model.parameterCount == 4 * 6 + 4 + 3 * 4 + 3 && model.providesHVP)
        #expect(model.layout == model.network.layout)
    }
}
