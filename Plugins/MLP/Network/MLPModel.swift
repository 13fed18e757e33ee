import MAMLPluginKit

// MARK: - The bundled MLP backbone as a plugin model
//
// Identity, the "flops" op and config -> network; NetworkPluginModel forwards the rest
// to the DenseNetwork. The entry target (Plugins/MLP/Entry) only registers this class.

extension DenseNetwork: ExactNetwork {}

/// A multilayer perceptron: dense layers with relu or tanh, MSE or softmax cross-entropy.
public final class MLPModel: NetworkPluginModel {
    public static let info = ModelInfo(
        id: "org.mamlzoo.mlp", name: "mlp", version: "1.0.0", family: "mlp",
        summary: "Multilayer perceptron: dense layers with relu or tanh; MSE regression or softmax classification",
        configSchema: DenseNetwork.configSchema)

    public static let ops: [PluginOp] = [
        PluginOp(name: "flops", help: "floating-point operations of one loss_grad on a batch of the given size",
                 signature: "u64(u64)",
                 function: { (m: OpaquePointer?, n: UInt64) -> UInt64 in
                     guard let model = modelInstance(m, as: MLPModel.self), n <= UInt64(Int.max) else { return 0 }
                     return model.network.flops(batch: Int(n))
                 } as @convention(c) (OpaquePointer?, UInt64) -> UInt64),
    ]

    public let network: DenseNetwork

    public init(config: JSONObject) throws(PluginError) {
        network = try DenseNetwork(DenseNetwork.Config(resolved: config))
    }
}
