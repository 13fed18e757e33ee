import MAMLPluginKit

// MARK: - The bundled CNN backbone as a plugin model
//
// Identity, the "flops" op and config -> network; NetworkPluginModel forwards the rest
// to the ConvNetwork. The entry target (Plugins/CNN/Entry) only registers this class.

// Every accepted configuration has an exact HVP (see ConvNetwork.swift).
extension ConvNetwork: ExactNetwork {
    public var lossKind: PluginLossKind { config.loss }
}

/// The MAML paper's conv4 and relatives: conv blocks, a linear head, MSE or softmax cross-entropy.
public final class CNNModel: NetworkPluginModel {
    public static let info = ModelInfo(
        id: "org.mamlzoo.cnn", name: "cnn", version: "1.0.0", family: "cnn",
        summary: "Convolutional network (MAML conv4 by default): [conv, batch norm, ReLU, max-pool] blocks and a linear head; exact HVP",
        configSchema: ConvNetwork.configSchema)

    public static let ops: [PluginOp] = [
        PluginOp(name: "flops", help: "floating-point operations of one loss_grad on a batch of the given size",
                 signature: "u64(u64)",
                 function: { (m: OpaquePointer?, n: UInt64) -> UInt64 in
                     guard let model = modelInstance(m, as: CNNModel.self), n <= UInt64(Int32.max) else { return 0 }
                     return model.network.flops(batch: Int(n))
                 } as @convention(c) (OpaquePointer?, UInt64) -> UInt64),
    ]

    public let network: ConvNetwork

    public init(config: JSONObject) throws(PluginError) {
        network = try ConvNetwork(ConvNetwork.Config(resolved: config))
    }
}
