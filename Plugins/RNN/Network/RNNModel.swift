import MAMLPluginKit

// MARK: - The bundled RNN backbone as a plugin model
//
// Identity, the "flops" op and config -> network; NetworkPluginModel forwards the rest
// to the RecurrentNetwork. The entry target (Plugins/RNN/Entry) only registers this class.

extension RecurrentNetwork: ExactNetwork {
    public var lossKind: PluginLossKind { config.loss }
}

/// Elman, GRU and LSTM sequence models: sequence-to-one or sequence-to-sequence heads, MSE or softmax cross-entropy.
public final class RNNModel: NetworkPluginModel {
    public static let info = ModelInfo(
        id: "org.mamlzoo.rnn", name: "rnn", version: "1.0.0", family: "rnn",
        summary: "Recurrent network (elman tanh, gru, lstm; stacked layers): head on the last step or every step; exact BPTT gradient and HVP",
        configSchema: RecurrentNetwork.configSchema)

    public static let ops: [PluginOp] = [
        PluginOp(name: "flops", help: "floating-point operations of one loss_grad on a batch of the given size",
                 signature: "u64(u64)",
                 function: { (m: OpaquePointer?, n: UInt64) -> UInt64 in
                     guard let model = modelInstance(m, as: RNNModel.self), n <= UInt64(Int32.max) else { return 0 }
                     return model.network.flops(batch: Int(n))
                 } as @convention(c) (OpaquePointer?, UInt64) -> UInt64),
    ]

    public let network: RecurrentNetwork

    public init(config: JSONObject) throws(PluginError) {
        network = try RecurrentNetwork(RecurrentNetwork.Config(resolved: config))
    }
}
