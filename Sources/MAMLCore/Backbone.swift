// MARK: - The model-agnostic view of a backbone
//
// MAMLCore sees a model only as a flat Float parameter vector plus loss and
// gradient (and optionally Hessian-vector and vector-Jacobian product) functions. Plugins are
// adapted to this protocol by MAMLHost; tests use pure-Swift backbones whose
// Hessians are known in closed form.

/// What the model's loss is and therefore which targets a batch carries.
public enum LossKind: String, Sendable {
    /// Mean squared error over all outputs of all examples; targets are floats.
    case mse
    /// Softmax cross-entropy over the output elements (the classes); targets are labels.
    case softmaxCrossEntropy = "softmax-ce"
}

/// A batch of `n` examples, borrowed for the duration of one call (the ABI's maml_batch).
/// `x` holds `n * inputElements` floats; exactly one of `yFloat` (n * outputElements
/// floats, for MSE) or `yClass` (n class indices, for cross-entropy) is set.
public struct Batch {
    public var n: Int
    public var x: UnsafePointer<Float>
    public var yFloat: UnsafePointer<Float>?
    public var yClass: UnsafePointer<Int32>?

    public init(n: Int, x: UnsafePointer<Float>, yFloat: UnsafePointer<Float>? = nil,
                yClass: UnsafePointer<Int32>? = nil) {
        self.n = n; self.x = x; self.yFloat = yFloat; self.yClass = yClass
    }
}

/// A named slice of the parameter vector (from the plugin's "maml.layout/1").
public struct LayoutTensor: Sendable, Equatable {
    public var name: String
    public var offset: Int
    public var shape: [Int]
    /// "body", "head" (the last layer, what a head-only learner adapts), or another label.
    public var role: String
    public var count: Int { shape.reduce(1, *) }

    public init(name: String, offset: Int, shape: [Int], role: String) {
        self.name = name; self.offset = offset; self.shape = shape; self.role = role
    }
}

/// An error from a backbone call, with the backbone's own message.
public struct BackboneError: Error, CustomStringConvertible, Equatable {
    public enum Kind: String, Sendable {
        case invalidArgument = "invalid argument", shapeMismatch = "shape mismatch"
        case outOfMemory = "out of memory", numerical = "numerical error"
        case unsupported, `internal` = "internal error"
    }
    public var kind: Kind
    public var message: String
    public init(_ kind: Kind, _ message: String) { self.kind = kind; self.message = message }
    public var description: String { "\(kind.rawValue): \(message)" }
}

/// A backbone: one model instance. Used by one thread at a time (make one
/// instance per worker). All buffers belong to the caller.
public protocol Backbone: AnyObject {
    /// Number of Floats in the parameter vector.
    var parameterCount: Int { get }
    /// Shape of one example's input and output (no batch dimension).
    var inputShape: [Int] { get }
    var outputShape: [Int] { get }
    var lossKind: LossKind { get }
    /// Named tensors covering the parameter vector, or nil if the model gives none.
    var layout: [LayoutTensor]? { get }
    /// True if `hvp` is exact (the plugin's "maml.hvp/1").
    var providesHVP: Bool { get }
    /// True if `vjp` is implemented (the plugin's "maml.vjp/1"). Defaults to false.
    var providesVJP: Bool { get }
    /// True if the backbone itself guarantees that every gradient and Hessian-vector
    /// product it returns without throwing is finite (the plugin adapter checks them), so
    /// MAMLCore can skip its own check of those vectors. Defaults to false.
    var checksFiniteness: Bool { get }

    /// A fresh initialisation, a pure function of (model config, seed).
    func initParameters(seed: UInt64, into params: UnsafeMutableBufferPointer<Float>) throws(BackboneError)
    /// Predictions or logits for `batch.n` examples into `output`.
    func forward(params: UnsafeBufferPointer<Float>, batch: Batch,
                 output: UnsafeMutableBufferPointer<Float>) throws(BackboneError)
    /// Mean loss over the batch; if `gradient` is non-nil it receives d loss / d params.
    func lossGrad(params: UnsafeBufferPointer<Float>, batch: Batch,
                         grad gradient: UnsafeMutableBufferPointer<Float>?) throws(BackboneError) -> Float
    /// `output` = Hessian of the mean loss times `vector`. Only called when
    /// `providesHVP`; otherwise MAMLCore uses a finite-difference product.
    func hvp(params: UnsafeBufferPointer<Float>, batch: Batch,
                              v vector: UnsafeBufferPointer<Float>,
                              output: UnsafeMutableBufferPointer<Float>) throws(BackboneError)
    /// `grad` = d s / d params = the sum over the batch's examples of J^T `outputGrad`, where J
    /// is the Jacobian of the outputs `forward` returns for this batch and `outputGrad` (n *
    /// outputElements floats, laid out like forward's output) is d s / d outputs for a scalar
    /// s. Targets are ignored. For a loss on the outputs that a meta-learner computes itself
    /// (e.g. Prototypical Networks on embeddings). The default throws `.unsupported`: only
    /// call it when `providesVJP`.
    func vjp(params: UnsafeBufferPointer<Float>, batch: Batch, outputGrad: UnsafeBufferPointer<Float>,
             grad: UnsafeMutableBufferPointer<Float>) throws(BackboneError)
    /// Another instance of the same model and config, for another worker thread. It must
    /// compute bit-identical results to this one (parallel runs rely on it). The default
    /// throws `.unsupported`: such a backbone trains and evaluates on one thread only.
    func makeReplica() throws(BackboneError) -> any Backbone
}

public extension Backbone {
    /// Backbones promise nothing by default: MAMLCore checks their results.
    var checksFiniteness: Bool { false }
    /// Backbones offer no vector-Jacobian product by default.
    var providesVJP: Bool { false }
    func vjp(params: UnsafeBufferPointer<Float>, batch: Batch, outputGrad: UnsafeBufferPointer<Float>,
             grad: UnsafeMutableBufferPointer<Float>) throws(BackboneError) {
        throw BackboneError(.unsupported, "this backbone offers no vector-Jacobian product (maml.vjp/1)")
    }
    func makeReplica() throws(BackboneError) -> any Backbone {
        throw BackboneError(.unsupported, "this backbone cannot make another instance of itself (needed for more than one thread)")
    }
    var inputElements: Int { inputShape.reduce(1, *) }
    var outputElements: Int { outputShape.reduce(1, *) }
}
