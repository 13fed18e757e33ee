// MARK: - A plugin model that is a network: the PluginModel methods forwarded
//
// A network with exact gradient, HVP and VJP (it owns its scratch and takes validated
// batches: the bundled DenseNetwork, ConvNetwork and RecurrentNetwork in
// Plugins/<Name>/Network are three) makes a whole PluginModel with "maml.hvp/1" and
// "maml.vjp/1"; the model class then only names itself, builds the network from its
// config and lists its ops.
//
// VJP. A network's lossGrad is a forward pass, the loss head's d loss / d outputs, and
// the backward pass from there. Its vjp is the same forward and backward pass with the
// head's gradient replaced by the given d s / d outputs (so the product is the exact
// derivative of the forward pass of this batch, batch statistics included): copy
// outputGrad where the head would write its gradient and run the backward pass.

/// A network with loss, gradient, exact Hessian-vector product and vector-Jacobian product.
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
    /// grad = d s / d params for d s / d outputs = outputGrad (n * outputElements floats, laid out
    /// like forward's output): the backward pass of lossGrad seeded with outputGrad instead of
    /// the loss head's gradient. Targets may be absent.
    func vjp(params: UnsafePointer<Float>, batch: PluginBatch, outputGrad: UnsafePointer<Float>,
             grad: UnsafeMutablePointer<Float>) throws(PluginError)
}

/// A PluginModel whose every method is its network's (exact HVP and VJP for every config).
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
    public var providesVJP: Bool { true }

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
    public func vjp(params: UnsafePointer<Float>, batch: PluginBatch, outputGrad: UnsafePointer<Float>,
                    grad: UnsafeMutablePointer<Float>) throws(PluginError) {
        try network.vjp(params: params, batch: batch, outputGrad: outputGrad, grad: grad)
    }
}
