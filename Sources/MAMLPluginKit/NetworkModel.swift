// MARK: - A plugin model that is a network: the PluginModel methods forwarded
//
// A network with exact gradient and HVP (it owns its scratch and takes validated
// batches: the bundled DenseNetwork, ConvNetwork and RecurrentNetwork in
// Plugins/<Name>/Network are three) makes a whole PluginModel; the model class then
// only names itself, builds the network from its config and lists its ops.

/// A network with loss, gradient and exact Hessian-vector product.
public protocol ExactNetwork: AnyObject {
    var parameterCount: Int { get }
    var inputShape: [Int] { get }
    var outputShape: [Int] { get }
    var lossKind: PluginLossKind { get }
    var layout: [LayoutTensor] { get }
    func initParameters(seed: UInt64, into params: UnsafeMutablePointer<Float>)
    func forward(params: UnsafePointer<Float>, batch: PluginBatch, output: UnsafeMutablePointer<Float>) throws(PluginError)
    func lossGrad(params: UnsafePointer<Float>, batch: PluginBatch, grad: UnsafeMutablePointer<Float>?) throws(PluginError) -> Float
    func hvp(params: UnsafePointer<Float>, batch: PluginBatch, v: UnsafePointer<Float>,
             output: UnsafeMutablePointer<Float>) throws(PluginError)
}

/// A PluginModel whose every method is its network's (exact HVP for every config).
public protocol NetworkPluginModel: PluginModel {
    associatedtype Network: ExactNetwork
    var network: Network { get }
}

extension NetworkPluginModel {
    public var parameterCount: Int { network.parameterCount }
    public var inputShape: [Int] { network.inputShape }
    public var outputShape: [Int] { network.outputShape }
    public var lossKind: PluginLossKind { network.lossKind }
    public var layout: [LayoutTensor] { network.layout }
    public var providesHVP: Bool { true }

    public func initParameters(seed: UInt64, into params: UnsafeMutablePointer<Float>) throws(PluginError) {
        network.initParameters(seed: seed, into: params)
    }
    public func forward(params: UnsafePointer<Float>, batch: PluginBatch, output: UnsafeMutablePointer<Float>) throws(PluginError) {
        try network.forward(params: params, batch: batch, output: output)
    }
    public func lossGrad(params: UnsafePointer<Float>, batch: PluginBatch, grad: UnsafeMutablePointer<Float>?) throws(PluginError) -> Float {
        try network.lossGrad(params: params, batch: batch, grad: grad)
    }
    public func hvp(params: UnsafePointer<Float>, batch: PluginBatch, v: UnsafePointer<Float>,
                    output: UnsafeMutablePointer<Float>) throws(PluginError) {
        try network.hvp(params: params, batch: batch, v: v, output: output)
    }
}
