import MAMLPluginABI
import MAMLPluginKit

// MARK: - The bundled MLP backbone
//
// A thin shell over the kit's DenseNetwork: config -> network, plus identity, the
// "flops" op and the exported entry point. All math lives (and is tested) in the kit.

/// A multilayer perceptron: dense layers with relu or tanh, MSE or softmax cross-entropy.
final class MLPModel: PluginModel {
    static let info = ModelInfo(
        id: "org.mamlzoo.mlp", name: "mlp", version: "1.0.0", family: "mlp",
        summary: "Multilayer perceptron: dense layers with relu or tanh; MSE regression or softmax classification",
        configSchema: mlpConfigSchema)

    static let ops: [PluginOp] = [
        PluginOp(name: "flops", help: "floating-point operations of one loss_grad on a batch of the given size",
                 signature: "u64(u64)",
                 function: { (m: OpaquePointer?, n: UInt64) -> UInt64 in
                     guard let model = modelInstance(m, as: MLPModel.self), n <= UInt64(Int.max) else { return 0 }
                     return model.network.flops(batch: Int(n))
                 } as @convention(c) (OpaquePointer?, UInt64) -> UInt64),
    ]

    let network: DenseNetwork
    let inputShape: [Int]
    let outputShape: [Int]
    let lossKind: PluginLossKind

    init(config: JSONObject) throws(PluginError) {
        inputShape = try config.requireIntArray("input")
        let hidden = try config.requireIntArray("hidden")
        let outputs = try config.requireInt("output")
        guard let activation = DenseNetwork.Activation(rawValue: try config.requireString("activation")),
              let loss = DenseNetwork.Loss(rawValue: try config.requireString("loss")) else {
            throw PluginError(.internal, "config: activation or loss not understood after validation")
        }
        if loss == .softmaxCrossEntropy && outputs < 2 {
            throw PluginError(.invalidArgument, "config key \"output\": \(outputs) classes is too few for \"softmax-ce\" (expected at least 2)")
        }
        let inputs = inputShape.reduce(1, *)
        guard inputs <= 1 << 24 else {
            throw PluginError(.invalidArgument, "config key \"input\": \(inputShape) has \(inputs) elements, expected at most \(1 << 24)")
        }
        let sizes = [inputs] + hidden + [outputs]
        var params = 0
        for l in 0..<(sizes.count - 1) { params += sizes[l + 1] * (sizes[l] + 1) }
        guard params <= 1 << 28 else {
            throw PluginError(.invalidArgument, "config: \(sizes) gives \(params) parameters, more than the \(1 << 28) allowed")
        }
        network = DenseNetwork(sizes: sizes, activation: activation, loss: loss)
        outputShape = [outputs]
        lossKind = loss == .mse ? .mse : .softmaxCrossEntropy
    }

    var parameterCount: Int { network.parameterCount }
    var layout: [LayoutTensor] { network.layout }
    var providesHVP: Bool { true }

    func initParameters(seed: UInt64, into params: UnsafeMutablePointer<Float>) throws(PluginError) {
        network.initParameters(seed: seed, into: params)
    }

    func forward(params: UnsafePointer<Float>, batch: PluginBatch, output: UnsafeMutablePointer<Float>) throws(PluginError) {
        network.forward(params: params, batch: batch, output: output)
    }

    func lossGrad(params: UnsafePointer<Float>, batch: PluginBatch, grad: UnsafeMutablePointer<Float>?) throws(PluginError) -> Float {
        network.lossGrad(params: params, batch: batch, grad: grad)
    }

    func hvp(params: UnsafePointer<Float>, batch: PluginBatch, v: UnsafePointer<Float>,
             output: UnsafeMutablePointer<Float>) throws(PluginError) {
        network.hvp(params: params, batch: batch, v: v, output: output)
    }
}

// MARK: - Config schema

let mlpConfigSchema = """
{
  "type": "object",
  "title": "mlp",
  "properties": {
    "input": {"type": "array", "task": "input-shape", "items": {"type": "integer", "minimum": 1, "maximum": 65536},
              "minItems": 1, "maxItems": 4, "default": [1],
              "description": "shape of one input example; inputs are flattened"},
    "hidden": {"type": "array", "items": {"type": "integer", "minimum": 1, "maximum": 65536},
               "minItems": 0, "maxItems": 64, "default": [40, 40],
               "description": "widths of the hidden layers, first to last"},
    "output": {"type": "integer", "task": "output-size", "minimum": 1, "maximum": 65536, "default": 1,
               "description": "outputs (MSE) or classes (softmax-ce)"},
    "activation": {"type": "string", "enum": ["relu", "tanh"], "default": "relu",
                   "description": "nonlinearity between layers"},
    "loss": {"type": "string", "task": "loss", "enum": ["mse", "softmax-ce"], "default": "mse",
             "description": "mse: regression on float targets; softmax-ce: classification on labels"}
  },
  "additionalProperties": false,
  "examples": [
    {},
    {"hidden": [64, 64], "output": 5, "activation": "tanh", "loss": "softmax-ce"},
    {"input": [1, 28, 28], "hidden": [256, 128], "output": 5, "loss": "softmax-ce"}
  ]
}
"""

// MARK: - Entry point

let mlpRegistry = PluginRegistry(pluginID: "org.mamlzoo.plugins.mlp", version: "1.0.0", models: [
    ModelDescriptor(MLPModel.self) { MLPModel.create($0, $1, $2, $3) },
])

/// The plugin's one exported symbol.
@_cdecl("maml_plugin_registry")
public func mamlPluginRegistry(_ major: UInt32, _ minor: UInt32,
                               _ host: UnsafePointer<maml_host_api>?) -> UnsafePointer<maml_registry>? {
    mlpRegistry.entry(hostMajor: major, hostMinor: minor, host: host)
}
