import MAMLPluginABI
import MAMLPluginKit

// MARK: - The bundled RNN backbone
//
// A thin shell over the kit's RecurrentNetwork: config -> network, plus identity, the
// "flops" op and the exported entry point (NetworkPluginModel forwards the rest). All
// math lives (and is tested) in the kit.

/// Elman, GRU and LSTM sequence models: sequence-to-one or sequence-to-sequence heads, MSE or softmax cross-entropy.
final class RNNModel: NetworkPluginModel {
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
