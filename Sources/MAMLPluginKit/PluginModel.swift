import MAMLPluginABI

// MARK: - Authoring API: what a Swift plugin model implements
//
// A model is a class (it usually owns scratch memory) conforming to PluginModel.
// The kit turns it into a maml_model_desc (see ModelDescriptor): it validates the
// config against `configSchema` before `init(config:)`, checks every pointer and
// size the host passes, checks results for non-finite values, and turns thrown
// PluginErrors into status codes plus last_error messages. So the methods below
// receive only valid input: non-NULL buffers, n >= 1, the target the loss kind
// needs, labels in range.

/// A model failure: the ABI status and the message the host shows.
public struct PluginError: Error, Equatable, CustomStringConvertible {
    /// The maml_status codes of maml_plugin.h.
    public enum Status: Int32, Sendable {
        case invalidArgument = 1, shapeMismatch = 2, outOfMemory = 3, numerical = 4
        case unsupported = 5, `internal` = 6
    }
    public var status: Status
    public var message: String
    public init(_ status: Status, _ message: String) { self.status = status; self.message = message }
    public var description: String { message }
}

/// The loss a model computes, as maml_model_desc.loss_kind.
public enum PluginLossKind: Int32, Sendable {
    /// Mean over all n * outputs squared errors; targets are floats (MAML_LOSS_MSE).
    case mse = 1
    /// Mean over examples of -log softmax(logits)[label] (MAML_LOSS_SOFTMAX_CE).
    case softmaxCrossEntropy = 2
}

/// A validated batch, borrowed for one call: `x` has n * inputElements floats; `yFloat`
/// (MSE, n * outputElements floats) or `yClass` (CE, n labels) is set as the loss needs.
public struct PluginBatch {
    public var n: Int
    public var x: UnsafePointer<Float>
    public var yFloat: UnsafePointer<Float>?
    public var yClass: UnsafePointer<Int32>?
    public init(n: Int, x: UnsafePointer<Float>, yFloat: UnsafePointer<Float>? = nil,
                yClass: UnsafePointer<Int32>? = nil) {
        self.n = n; self.x = x; self.yFloat = yFloat; self.yClass = yClass
    }
}

/// A named slice of the parameter vector ("maml.layout/1").
public struct LayoutTensor: Equatable, Sendable {
    public var name: String
    public var offset: Int
    public var shape: [Int]
    /// "body", "head" or another label.
    public var role: String
    public init(name: String, offset: Int, shape: [Int], role: String) {
        self.name = name; self.offset = offset; self.shape = shape; self.role = role
    }
}

/// Identity of a model type, copied into its maml_model_desc.
public struct ModelInfo: Sendable {
    public var id: String, name: String, version: String, family: String, summary: String
    /// JSON text of the config schema (see ConfigSchema.swift for the subset).
    public var configSchema: String
    public init(id: String, name: String, version: String, family: String, summary: String,
                configSchema: String) {
        self.id = id; self.name = name; self.version = version; self.family = family
        self.summary = summary; self.configSchema = configSchema
    }
}

/// A backbone written in Swift. One instance is used by one thread at a time.
public protocol PluginModel: AnyObject {
    /// The model type's identity and config schema.
    static var info: ModelInfo { get }
    /// Extra operations ("maml.ops/1"); default none. See PluginOp.
    static var ops: [PluginOp] { get }

    /// Builds an instance from a config already validated and resolved (every key present).
    init(config: JSONObject) throws(PluginError)

    var parameterCount: Int { get }
    /// Shape of one example's input and output (rank 1...4, no batch dimension).
    var inputShape: [Int] { get }
    var outputShape: [Int] { get }
    var lossKind: PluginLossKind { get }
    /// Named tensors covering the parameter vector; empty means no "maml.layout/1".
    var layout: [LayoutTensor] { get }
    /// True if `hvp` is implemented (offers "maml.hvp/1").
    var providesHVP: Bool { get }
    /// True if `vjp` is implemented (offers "maml.vjp/1", ABI 1.1).
    var providesVJP: Bool { get }

    /// Writes a fresh initialisation, a pure function of (config, seed).
    func initParameters(seed: UInt64, into params: UnsafeMutablePointer<Float>) throws(PluginError)
    /// Predictions or logits, n * outputElements floats.
    func forward(params: UnsafePointer<Float>, batch: PluginBatch,
                 output: UnsafeMutablePointer<Float>) throws(PluginError)
    /// Mean loss over the batch; if `grad` is non-nil, its gradient (parameterCount floats).
    func lossGrad(params: UnsafePointer<Float>, batch: PluginBatch,
                  grad: UnsafeMutablePointer<Float>?) throws(PluginError) -> Float
    /// output = Hessian of the mean loss times v (v and output do not alias).
    func hvp(params: UnsafePointer<Float>, batch: PluginBatch, v: UnsafePointer<Float>,
             output: UnsafeMutablePointer<Float>) throws(PluginError)
    /// grad = d s / d params = the sum over examples of J^T outputGrad, J the Jacobian of the
    /// outputs `forward` computes for this batch; outputGrad = d s / d outputs (n * outputElements
    /// floats, forward's layout), grad parameterCount floats (not aliased). Targets may be absent.
    func vjp(params: UnsafePointer<Float>, batch: PluginBatch, outputGrad: UnsafePointer<Float>,
             grad: UnsafeMutablePointer<Float>) throws(PluginError)
}

extension PluginModel {
    public static var ops: [PluginOp] { [] }
    public var layout: [LayoutTensor] { [] }
    public var providesHVP: Bool { false }
    public var providesVJP: Bool { false }
    public func hvp(params: UnsafePointer<Float>, batch: PluginBatch, v: UnsafePointer<Float>,
                    output: UnsafeMutablePointer<Float>) throws(PluginError) {
        throw PluginError(.unsupported, "\(Self.info.name) does not provide Hessian-vector products")
    }
    public func vjp(params: UnsafePointer<Float>, batch: PluginBatch, outputGrad: UnsafePointer<Float>,
                    grad: UnsafeMutablePointer<Float>) throws(PluginError) {
        throw PluginError(.unsupported, "\(Self.info.name) does not provide vector-Jacobian products")
    }
}

// MARK: - Reading a resolved config

extension JSONObject {
    /// The integer at `key`, or an internal error naming the key (the schema should have ensured it).
    public func requireInt(_ key: String) throws(PluginError) -> Int {
        guard let v = self[key]?.integerValue else { throw missing(key, "an integer") }
        return v
    }
    /// The array of integers at `key`.
    public func requireIntArray(_ key: String) throws(PluginError) -> [Int] {
        guard let list = self[key]?.arrayValue else { throw missing(key, "an array of integers") }
        var out: [Int] = []
        for e in list {
            guard let v = e.integerValue else { throw missing(key, "an array of integers") }
            out.append(v)
        }
        return out
    }
    /// The string at `key`.
    public func requireString(_ key: String) throws(PluginError) -> String {
        guard let v = self[key]?.stringValue else { throw missing(key, "a string") }
        return v
    }
    /// The number at `key`.
    public func requireNumber(_ key: String) throws(PluginError) -> Double {
        guard let v = self[key]?.numberValue else { throw missing(key, "a number") }
        return v
    }
    /// The boolean at `key`.
    public func requireBool(_ key: String) throws(PluginError) -> Bool {
        guard let v = self[key]?.boolValue else { throw missing(key, "a boolean") }
        return v
    }

    private func missing(_ key: String, _ what: String) -> PluginError {
        PluginError(.internal, "config key \"\(key)\" should be \(what) after validation, found \(self[key].map { $0.serialized() } ?? "nothing") (schema and model disagree)")
    }
}

// MARK: - Extra operations ("maml.ops/1")

/// One operation the host can call by signature through libffi. The function's real
/// first parameter is the instance (`OpaquePointer?`, a `maml_model *`): get the model
/// back with `modelInstance(_:as:)`. Example, signature "u64(u64)":
///
///     PluginOp(name: "flops", help: "...", signature: "u64(u64)",
///              function: { (m: OpaquePointer?, n: UInt64) -> UInt64 in
///                  modelInstance(m, as: MyModel.self)?.flops(batch: n) ?? 0
///              } as @convention(c) (OpaquePointer?, UInt64) -> UInt64)
public struct PluginOp: @unchecked Sendable {
    public var name: String
    public var help: String
    public var signature: String
    /// The C function, type-erased as maml_op.fn.
    public var function: @convention(c) () -> Void

    /// `function` must be a `@convention(c)` function whose type matches `signature`.
    public init<F>(name: String, help: String, signature: String, function: F) {
        precondition(MemoryLayout<F>.size == MemoryLayout<UnsafeRawPointer>.size,
                     "PluginOp \(name): function must be a @convention(c) function")
        self.name = name; self.help = help; self.signature = signature
        self.function = unsafeBitCast(function, to: (@convention(c) () -> Void).self)
    }
}
