import MAMLPluginABI
import MAMLPluginKit

// MARK: - The bundled RNN backbone
//
// A thin shell over the kit's RecurrentNetwork: config -> network, plus identity, the
// "flops" op and the exported entry point. All math lives (and is tested) in the kit.

/// Elman, GRU and LSTM sequence models: sequence-to-one or sequence-to-sequence heads, MSE or softmax cross-entropy.
final class RNNModel: PluginModel {
    static let info = ModelInfo(
        id: "org.mamlzoo.rnn", name: "rnn", version: "1.0.0", family: "rnn",
        summary: "Recurrent network (elman tanh, gru, lstm; stacked layers): head on the last step or every step; exact BPTT gradient and HVP",
        configSchema: RecurrentNetwork.configSchema)

    static let ops: [PluginOp] = [
        PluginOp(name: "flops", help: "floating-point operations of one loss_grad on a batch of the given size",
                 signature: "u64(u64)",
                 function: { (m: OpaquePointer?, n: UInt64) -> UInt64 in
                     guard let model = modelInstance(m, as: RNNModel.self), n <= UInt64(Int32.max) else { return 0 }
                     return model.network.flops(batch: Int(n))
                 } as @convention(c) (OpaquePointer?, UInt64) -> UInt64),
    ]

    let network: RecurrentNetwork

    init(config: JSONObject) throws(PluginError) {
        network = try RecurrentNetwork(RecurrentNetwork.Config(resolved: config))
    }

    var parameterCount: Int { network.parameterCount }
    var inputShape: [Int] { network.inputShape }
    var outputShape: [Int] { network.outputShape }
    var lossKind: PluginLossKind { network.config.loss }
    var layout: [LayoutTensor] { network.layout }
    /// Every accepted configuration has an exact HVP (see RecurrentNetwork).
    var providesHVP: Bool { true }

    func initParameters(seed: UInt64, into params: UnsafeMutablePointer<Float>) throws(PluginError) {
        network.initParameters(seed: seed, into: params)
    }

    func forward(params: UnsafePointer<Float>, batch: PluginBatch, output: UnsafeMutablePointer<Float>) throws(PluginError) {
        try network.forward(params: params, batch: batch, output: output)
    }

    func lossGrad(params: UnsafePointer<Float>, batch: PluginBatch, grad: UnsafeMutablePointer<Float>?) throws(PluginError) -> Float {
        try network.lossGrad(params: params, batch: batch, grad: grad)
    }

    func hvp(params: UnsafePointer<Float>, batch: PluginBatch, v: UnsafePointer<Float>,
             output: UnsafeMutablePointer<Float>) throws(PluginError) {
        try network.hvp(params: params, batch: batch, v: v, output: output)
    }
}

// MARK: - Entry point

let rnnRegistry = PluginRegistry(pluginID: "org.mamlzoo.plugins.rnn", version: "1.0.0", models: [
    ModelDescriptor(RNNModel.self) { RNNModel.create($0, $1, $2, $3) },
])

/// The plugin's one exported symbol.
@_cdecl("maml_plugin_registry")
public func mamlPluginRegistry(_ major: UInt32, _ minor: UInt32,
                               _ host: UnsafePointer<maml_host_api>?) -> UnsafePointer<maml_registry>? {
    rnnRegistry.entry(hostMajor: major, hostMinor: minor, host: host)
}
