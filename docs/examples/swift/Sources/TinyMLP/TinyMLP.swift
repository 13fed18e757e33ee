import MAMLPluginABI
import MAMLPluginKit

// MARK: - tinymlp-swift: the model of docs/authoring.md, written with the plugin kit
//
// One hidden layer of tanh units and a linear output, MSE loss: the kit's DenseNetwork
// has the exact gradient and Hessian-vector product (tested in maml-zoo against finite
// differences); the kit's PluginModel turns this class into the C ABI (config validation
// against the schema, status and last_error for every thrown PluginError, layout, ops).
// The same parameter layout as the C and Rust examples: W1, b1, W2, b2.

final class TinyMLP: PluginModel {
    static let info = ModelInfo(
        id: "org.example.tinymlp-swift", name: "tinymlp-swift", version: "1.0.0", family: "mlp",
        summary: "one-hidden-layer tanh MLP for regression, in Swift with the plugin kit (docs/examples/swift)",
        configSchema: """
            {"type": "object", "properties": {
              "inputs": {"type": "integer", "default": 1, "minimum": 1, "maximum": 4096,
                         "description": "input features per example"},
              "hidden": {"type": "integer", "default": 40, "minimum": 1, "maximum": 4096,
                         "description": "tanh units in the hidden layer"},
              "outputs": {"type": "integer", "default": 1, "minimum": 1, "maximum": 4096,
                          "description": "regression outputs per example"}},
             "additionalProperties": false,
             "examples": [{"hidden": 8}, {"inputs": 3, "hidden": 16, "outputs": 2}]}
            """)

    static let ops: [PluginOp] = [
        PluginOp(name: "flops", help: "floating-point operations of one loss_grad on a batch of the given size",
                 signature: "u64(u64)",
                 function: { (m: OpaquePointer?, n: UInt64) -> UInt64 in
                     guard let model = modelInstance(m, as: TinyMLP.self), n <= UInt64(Int.max) else { return 0 }
                     return model.network.flops(batch: Int(n))
                 } as @convention(c) (OpaquePointer?, UInt64) -> UInt64),
    ]

    let network: DenseNetwork
    let inputShape: [Int]
    let outputShape: [Int]
    var lossKind: PluginLossKind { .mse }
    var parameterCount: Int { network.parameterCount }
    var layout: [LayoutTensor] { network.layout }
    var providesHVP: Bool { true }

    /// The config is validated against the schema and every key filled in before this runs.
    init(config: JSONObject) throws(PluginError) {
        let inputs = try config.requireInt("inputs"), outputs = try config.requireInt("outputs")
        network = DenseNetwork(sizes: [inputs, try config.requireInt("hidden"), outputs], activation: .tanh, loss: .mse)
        inputShape = [inputs]
        outputShape = [outputs]
    }

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

// MARK: - Registry and the exported entry point

let registry = PluginRegistry(pluginID: "org.example.tinymlp-swift-plugin", version: "1.0.0", models: [
    ModelDescriptor(TinyMLP.self) { TinyMLP.create($0, $1, $2, $3) },
])

/// The plugin's one exported symbol, with C linkage (`@c`, Swift 6.3).
@c(maml_plugin_registry)
public func mamlPluginRegistry(_ major: UInt32, _ minor: UInt32,
                               _ host: UnsafePointer<maml_host_api>?) -> UnsafePointer<maml_registry>? {
    registry.entry(hostMajor: major, hostMinor: minor, host: host)
}
