import MAMLPluginABI
import MAMLPluginKit

// MARK: - The bundled CNN backbone
//
// A thin shell over the kit's ConvNetwork: config -> network, plus identity, the
// "flops" op and the exported entry point. All math lives (and is tested) in the kit.

/// The MAML paper's conv4 and relatives: conv blocks, a linear head, MSE or softmax cross-entropy.
final class CNNModel: PluginModel {
    static let info = ModelInfo(
        id: "org.mamlzoo.cnn", name: "cnn", version: "1.0.0", family: "cnn",
        summary: "Convolutional network (MAML conv4 by default): [conv, batch norm, ReLU, max-pool] blocks and a linear head; exact HVP",
        configSchema: ConvNetwork.configSchema)

    static let ops: [PluginOp] = [
        PluginOp(name: "flops", help: "floating-point operations of one loss_grad on a batch of the given size",
                 signature: "u64(u64)",
                 function: { (m: OpaquePointer?, n: UInt64) -> UInt64 in
                     guard let model = modelInstance(m, as: CNNModel.self), n <= UInt64(Int32.max) else { return 0 }
                     return model.network.flops(batch: Int(n))
                 } as @convention(c) (OpaquePointer?, UInt64) -> UInt64),
    ]

    let network: ConvNetwork

    init(config: JSONObject) throws(PluginError) {
        network = try ConvNetwork(ConvNetwork.Config(resolved: config))
    }

    var parameterCount: Int { network.parameterCount }
    var inputShape: [Int] { network.inputShape }
    var outputShape: [Int] { network.outputShape }
    var lossKind: PluginLossKind { network.config.loss }
    var layout: [LayoutTensor] { network.layout }
    /// Every accepted configuration has an exact HVP (see ConvNetwork).
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

let cnnRegistry = PluginRegistry(pluginID: "org.mamlzoo.plugins.cnn", version: "1.0.0", models: [
    ModelDescriptor(CNNModel.self) { CNNModel.create($0, $1, $2, $3) },
])

/// The plugin's one exported symbol.
@_cdecl("maml_plugin_registry")
public func mamlPluginRegistry(_ major: UInt32, _ minor: UInt32,
                               _ host: UnsafePointer<maml_host_api>?) -> UnsafePointer<maml_registry>? {
    cnnRegistry.entry(hostMajor: major, hostMinor: minor, host: host)
}
