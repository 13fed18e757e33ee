import MAMLCore
import MAMLPluginABI
#if canImport(Glibc)
import Glibc
#endif

// MARK: - A plugin model instance as a MAMLCore Backbone
//
// Everything the plugin reports (sizes, shapes, loss kind, extensions, layout)
// is read and checked once in init; an extension table with a NULL function
// (or a struct_size too short to hold one) refuses the instance. The hot-path calls check buffer sizes,
// build the maml_batch on the stack, call the plugin through a stored C
// function pointer, and check that results are finite: the ABI says a
// non-finite result must be MAML_ERR_NUMERICAL, and the adapter is the one
// place that can enforce that for every plugin, so MAMLCore never sees a NaN
// that came back with MAML_OK.

/// One instance of a plugin model. Not thread-safe (ABI thread rule): make one per worker.
public final class PluginBackbone: Backbone {
    /// The catalog entry this instance was created from.
    public let model: ModelEntry
    /// The plugin's instance, for callers of extension functions (e.g. "maml.ops/1" ops take it first).
    public let instance: OpaquePointer
    /// The config the instance was created with, defaults filled in (what checkpoints record).
    public let config: String

    public let parameterCount: Int
    public let inputShape: [Int]
    public let outputShape: [Int]
    public let lossKind: LossKind
    public let layout: [LayoutTensor]?
    public var providesHVP: Bool { hvpFunction != nil }
    public var providesVJP: Bool { vjpFunction != nil }
    /// Always true: every result is checked here (see the note above), so MAMLCore need not repeat it.
    public var checksFiniteness: Bool { true }
    /// The known extension ids this instance offers, e.g. ["maml.hvp/1", "maml.layout/1", "maml.vjp/1"].
    public let offeredExtensions: [String]
    /// The raw "maml.ops/1" table, or nil. Only its functions are checked here (a NULL one refuses the
    /// instance); names and signatures are checked by `PluginOps` when the ops are asked for.
    public let opsExtension: UnsafePointer<maml_ext_ops>?

    // Hot-path state: sizes and function pointers, read once.
    private let inputCount: Int
    private let outputCount: Int
    private let destroyFunction: @convention(c) (OpaquePointer?) -> Void
    private let initFunction: @convention(c) (OpaquePointer?, UInt64, UnsafeMutablePointer<Float>?) -> maml_status
    private let forwardFunction: @convention(c) (OpaquePointer?, UnsafePointer<Float>?, UnsafePointer<maml_batch>?,
                                                 UnsafeMutablePointer<Float>?) -> maml_status
    private let lossGradFunction: @convention(c) (OpaquePointer?, UnsafePointer<Float>?, UnsafePointer<maml_batch>?,
                                                  UnsafeMutablePointer<Float>?, UnsafeMutablePointer<Float>?) -> maml_status
    private let lastErrorFunction: @convention(c) (OpaquePointer?) -> UnsafePointer<CChar>?
    private let getExtensionFunction: @convention(c) (OpaquePointer?, UnsafePointer<CChar>?) -> UnsafeRawPointer?
    /// The hvp function of "maml.hvp/1", read and checked once at creation (nil: not offered). Callers
    /// that call it raw (the conformance checks) use this one, never a table fetched again.
    public let hvpFunction: HVPFunction?
    /// The vjp function of "maml.vjp/1" (ABI 1.1), read and checked once at creation (nil: not offered;
    /// always nil for a plugin built against ABI 1.0, whose get_extension knows no such id).
    public let vjpFunction: VJPFunction?

    // MARK: Creation

    /// Creates an instance of `model` from a JSON object `config` ("" or "{}" means all defaults).
    /// Errors name the model and carry the plugin's message.
    public init(model: ModelEntry, config: String = "{}") throws(HostError) {
        let d = model.descriptor.pointee
        let label = displaySafe("model '\(model.name)' (\(model.id), plugin \(model.pluginPath))")

        let normalized: String
        do throws(HostError) { normalized = try validateConfig(schema: model.configSchema, config: config) }
        catch { throw HostError("\(label): invalid config: \(displaySafe(error.message))") }

        // MARK: create()
        var created: OpaquePointer?
        let errorCapacity = 1024
        var errorBuffer = [CChar](repeating: 0, count: errorCapacity)
        let status = errorBuffer.withUnsafeMutableBufferPointer { buffer in
            d.create!(normalized, &created, buffer.baseAddress, errorCapacity)
        }
        errorBuffer[errorCapacity - 1] = 0 // a plugin that overruns its message still gives a C string
        guard status == MAML_OK else {
            let message = errorBuffer.withUnsafeBufferPointer { displaySafe(decodeLenient($0.baseAddress!)) }
            throw HostError("\(label): create failed (\(statusName(status))): \(message.isEmpty ? "plugin gave no message" : message)")
        }
        guard let instance = created else { throw HostError("\(label): create returned MAML_OK but no instance") }

        // MARK: Geometry and extensions, checked; the instance is destroyed on any failure
        do throws(HostError) {
            let count = d.param_count!(instance)
            guard count > 0, count <= UInt64(Int32.max) else { throw HostError("param_count is \(count)") }
            let inputShape = try readShape(d.input_shape!(instance), "input_shape")
            let outputShape = try readShape(d.output_shape!(instance), "output_shape")
            let kindValue = d.loss_kind!(instance)
            let lossKind: LossKind
            switch kindValue {
            case MAML_LOSS_MSE: lossKind = .mse
            case MAML_LOSS_SOFTMAX_CE: lossKind = .softmaxCrossEntropy
            default: throw HostError("loss_kind \(kindValue) is not MAML_LOSS_MSE (1) or MAML_LOSS_SOFTMAX_CE (2)")
            }
            let getExtension = d.get_extension!
            let hvpTable = getExtension(instance, MAML_EXT_HVP)
            let layoutTable = getExtension(instance, MAML_EXT_LAYOUT)
            let opsTable = getExtension(instance, MAML_EXT_OPS)
            let vjpTable = getExtension(instance, MAML_EXT_VJP)
            // A table get_extension offers must hold every function of its id: a NULL function, or a
            // struct_size too short to hold one, refuses the instance (docs/abi.md, section 8), so no
            // command silently runs without what the plugin claims to offer.
            let hvp = try hvpTable.map { (table) throws(HostError) in try readHVP(table) }
            let vjp = try vjpTable.map { (table) throws(HostError) in try readVJP(table) }
            var layout: [LayoutTensor]?
            if let layoutTable {
                do throws(HostError) { layout = try readLayout(layoutTable, instance: instance, parameterCount: Int(count)) }
                catch { throw HostError("\(MAML_EXT_LAYOUT): \(error.message)") }
            }
            if let opsTable {
                do throws(HostError) { try checkOpsFunctions(opsTable.assumingMemoryBound(to: maml_ext_ops.self), instance: instance) }
                catch { throw HostError("\(MAML_EXT_OPS): \(error.message)") }
            }

            self.model = model
            self.instance = instance
            self.config = normalized
            self.parameterCount = Int(count)
            self.inputShape = inputShape
            self.outputShape = outputShape
            self.inputCount = inputShape.reduce(1, *)
            self.outputCount = outputShape.reduce(1, *)
            self.lossKind = lossKind
            self.layout = layout
            self.hvpFunction = hvp
            self.vjpFunction = vjp
            self.opsExtension = opsTable?.assumingMemoryBound(to: maml_ext_ops.self)
            self.offeredExtensions = zip([MAML_EXT_HVP, MAML_EXT_LAYOUT, MAML_EXT_OPS, MAML_EXT_VJP],
                                         [hvpTable, layoutTable, opsTable, vjpTable])
                .compactMap { $0.1 == nil ? nil : $0.0 }
            self.destroyFunction = d.destroy!
            self.initFunction = d.init_params!
            self.forwardFunction = d.forward!
            self.lossGradFunction = d.loss_grad!
            self.lastErrorFunction = d.last_error!
            self.getExtensionFunction = getExtension
        } catch {
            d.destroy!(instance)
            throw HostError("\(label): \(displaySafe(error.message))")
        }
    }

    deinit { destroyFunction(instance) }

    /// The raw extension table `id` of this instance, or nil (for extensions this adapter does not wrap).
    public func extensionTable(_ id: String) -> UnsafeRawPointer? {
        getExtensionFunction(instance, id)
    }

    // MARK: Backbone

    /// A new instance of the same model from the same (normalised) config, for another worker
    /// thread. The ABI makes results a pure function of (config, inputs), so the instances agree.
    public func makeReplica() throws(BackboneError) -> any Backbone {
        do {
            return try PluginBackbone(model: model, config: config)
        } catch {
            throw BackboneError(.internal, "another instance of \(model.name): \(error.message)")
        }
    }

    public func initParameters(seed: UInt64, into params: UnsafeMutableBufferPointer<Float>) throws(BackboneError) {
        try checkCount(params.count, parameterCount, "params")
        let status = initFunction(instance, seed, params.baseAddress)
        guard status == MAML_OK else { throw failure(status, "init_params") }
        guard allFinite(params.baseAddress!, count: parameterCount) else { throw nonFinite("initial parameters") }
    }

    public func forward(params: UnsafeBufferPointer<Float>, batch: Batch,
                        output: UnsafeMutableBufferPointer<Float>) throws(BackboneError) {
        try checkCount(params.count, parameterCount, "params")
        try checkBatch(batch)
        try checkCount(output.count, batch.n * outputCount, "forward output")
        var cBatch = makeBatch(batch)
        let status = forwardFunction(instance, params.baseAddress, &cBatch, output.baseAddress)
        guard status == MAML_OK else { throw failure(status, "forward") }
        guard allFinite(output.baseAddress!, count: output.count) else { throw nonFinite("forward output") }
    }

    public func lossGrad(params: UnsafeBufferPointer<Float>, batch: Batch,
                                grad gradient: UnsafeMutableBufferPointer<Float>?) throws(BackboneError) -> Float {
        try checkCount(params.count, parameterCount, "params")
        try checkBatch(batch)
        if let gradient { try checkCount(gradient.count, parameterCount, "gradient") }
        var cBatch = makeBatch(batch)
        var loss = Float.nan
        let status = lossGradFunction(instance, params.baseAddress, &cBatch, &loss, gradient?.baseAddress)
        guard status == MAML_OK else { throw failure(status, "loss_grad") }
        guard loss.isFinite else { throw nonFinite("loss (\(loss))") }
        if let gradient, !allFinite(gradient.baseAddress!, count: parameterCount) { throw nonFinite("gradient") }
        return loss
    }

    public func hvp(params: UnsafeBufferPointer<Float>, batch: Batch,
                                     v vector: UnsafeBufferPointer<Float>,
                                     output: UnsafeMutableBufferPointer<Float>) throws(BackboneError) {
        guard let hvpFunction else {
            throw BackboneError(.unsupported, "\(model.name): no exact Hessian-vector product (\(MAML_EXT_HVP))")
        }
        try checkCount(params.count, parameterCount, "params")
        try checkBatch(batch)
        try checkCount(vector.count, parameterCount, "HVP vector")
        try checkCount(output.count, parameterCount, "HVP output")
        let v = UnsafeRawPointer(vector.baseAddress!), out = UnsafeRawPointer(output.baseAddress!)
        let bytes = parameterCount * MemoryLayout<Float>.stride
        guard v + bytes <= out || out + bytes <= v else {
            throw BackboneError(.invalidArgument, "\(model.name): HVP vector and output overlap")
        }
        var cBatch = makeBatch(batch)
        let status = hvpFunction(instance, params.baseAddress, &cBatch, vector.baseAddress, output.baseAddress)
        guard status == MAML_OK else { throw failure(status, "hvp") }
        guard allFinite(output.baseAddress!, count: parameterCount) else { throw nonFinite("Hessian-vector product") }
    }

    /// d s / d params for d s / d outputs = `outputGrad` (the plugin's "maml.vjp/1"). Targets are not
    /// passed: the ABI says the plugin ignores them, so the batch may have none.
    public func vjp(params: UnsafeBufferPointer<Float>, batch: Batch, outputGrad: UnsafeBufferPointer<Float>,
                    grad: UnsafeMutableBufferPointer<Float>) throws(BackboneError) {
        guard let vjpFunction else {
            throw BackboneError(.unsupported, "\(model.name): no vector-Jacobian product (\(MAML_EXT_VJP))")
        }
        try checkCount(params.count, parameterCount, "params")
        guard batch.n >= 1 else {
            throw BackboneError(.invalidArgument, "\(model.name): batch has \(batch.n) examples, needs at least 1")
        }
        try checkCount(outputGrad.count, batch.n * outputCount, "VJP output gradient")
        try checkCount(grad.count, parameterCount, "VJP gradient")
        let u = UnsafeRawPointer(outputGrad.baseAddress!), out = UnsafeRawPointer(grad.baseAddress!)
        guard u + outputGrad.count * MemoryLayout<Float>.stride <= out || out + parameterCount * MemoryLayout<Float>.stride <= u else {
            throw BackboneError(.invalidArgument, "\(model.name): VJP output gradient and gradient overlap")
        }
        var cBatch = maml_batch(struct_size: UInt32(MemoryLayout<maml_batch>.size), n: UInt64(batch.n), x: batch.x,
                                y_float: nil, y_class: nil)
        let status = vjpFunction(instance, params.baseAddress, &cBatch, outputGrad.baseAddress, grad.baseAddress)
        guard status == MAML_OK else { throw failure(status, "vjp") }
        guard allFinite(grad.baseAddress!, count: parameterCount) else { throw nonFinite("vector-Jacobian product") }
    }

    // MARK: Hot-path helpers (no allocation unless an error is thrown)

    /// The C batch for this call: only the target this model's loss uses is passed (ABI: exactly one is set).
    @inline(__always)
    private func makeBatch(_ batch: Batch) -> maml_batch {
        maml_batch(struct_size: UInt32(MemoryLayout<maml_batch>.size), n: UInt64(batch.n), x: batch.x,
                   y_float: lossKind == .mse ? batch.yFloat : nil,
                   y_class: lossKind == .softmaxCrossEntropy ? batch.yClass : nil)
    }

    @inline(__always)
    private func checkBatch(_ batch: Batch) throws(BackboneError) {
        guard batch.n >= 1 else {
            throw BackboneError(.invalidArgument, "\(model.name): batch has \(batch.n) examples, needs at least 1")
        }
        switch lossKind {
        case .mse where batch.yFloat == nil:
            throw BackboneError(.invalidArgument, "\(model.name): MSE model needs float targets (batch.y is nil)")
        case .softmaxCrossEntropy where batch.yClass == nil:
            throw BackboneError(.invalidArgument, "\(model.name): cross-entropy model needs labels (batch.labels is nil)")
        default: break
        }
    }

    @inline(__always)
    private func checkCount(_ actual: Int, _ expected: Int, _ what: String) throws(BackboneError) {
        guard actual == expected else {
            throw BackboneError(.invalidArgument, "\(model.name): \(what) has \(actual) floats, expected \(expected)")
        }
    }

    /// A non-OK status as a BackboneError carrying the plugin's last_error text.
    private func failure(_ status: maml_status, _ function: String) -> BackboneError {
        // Plugin text: capped and escaped, so it cannot flood or forge lines of the host's messages.
        let text = lastErrorFunction(instance).map { displaySafe(decodeLenient($0, limit: pluginTextLimit)) } ?? ""
        let message = text.isEmpty ? "plugin gave no message" : text
        let kind: BackboneError.Kind
        switch status {
        case MAML_ERR_INVALID_ARGUMENT: kind = .invalidArgument
        case MAML_ERR_SHAPE_MISMATCH: kind = .shapeMismatch
        case MAML_ERR_OUT_OF_MEMORY: kind = .outOfMemory
        case MAML_ERR_NUMERICAL: kind = .numerical
        case MAML_ERR_UNSUPPORTED: kind = .unsupported
        case MAML_ERR_INTERNAL: kind = .internal
        default:
            return BackboneError(.internal, "\(model.name): \(function) returned unknown status \(status): \(message)")
        }
        return BackboneError(kind, "\(model.name): \(function): \(message)")
    }

    private func nonFinite(_ what: String) -> BackboneError {
        BackboneError(.numerical, "\(model.name): plugin returned a non-finite \(what) with MAML_OK (it must return MAML_ERR_NUMERICAL)")
    }
}

// MARK: - Extension and numeric helpers

/// The C type of maml_ext_hvp.hvp.
public typealias HVPFunction = @convention(c) (OpaquePointer?, UnsafePointer<Float>?, UnsafePointer<maml_batch>?,
                                                UnsafePointer<Float>?, UnsafeMutablePointer<Float>?) -> maml_status

/// The hvp function of a "maml.hvp/1" table. A table whose struct_size does not cover hvp, or whose
/// hvp is NULL, is an error: a plugin without an exact HVP returns NULL from get_extension instead.
private func readHVP(_ table: UnsafeRawPointer) throws(HostError) -> HVPFunction {
    try readFunction(table, \maml_ext_hvp.hvp, id: MAML_EXT_HVP, field: "hvp", type: "maml_ext_hvp", absent: "no exact HVP")
}

/// The C type of maml_ext_vjp.vjp.
public typealias VJPFunction = @convention(c) (OpaquePointer?, UnsafePointer<Float>?, UnsafePointer<maml_batch>?,
                                                UnsafePointer<Float>?, UnsafeMutablePointer<Float>?) -> maml_status

/// The vjp function of a "maml.vjp/1" table, refused like an hvp table: a table too short to hold vjp,
/// or whose vjp is NULL, is an error, never "no VJP".
private func readVJP(_ table: UnsafeRawPointer) throws(HostError) -> VJPFunction {
    try readFunction(table, \maml_ext_vjp.vjp, id: MAML_EXT_VJP, field: "vjp", type: "maml_ext_vjp", absent: "no VJP")
}

/// The one function of a one-function extension table (`field` at `path`), checked: struct_size covers
/// it and it is not NULL. `absent` says what returning NULL from get_extension would offer instead.
private func readFunction<Table, Function>(_ table: UnsafeRawPointer, _ path: KeyPath<Table, Function?>, id: String,
                                           field: String, type: String, absent: String) throws(HostError) -> Function {
    let size = Int(table.load(as: UInt32.self))
    let needed = MemoryLayout<Table>.offset(of: path)! + MemoryLayout<Function?>.size
    guard size >= needed else {
        throw HostError("\(id): struct_size is \(size) bytes, too small to hold \(field) (\(type) is \(needed) bytes): set it to sizeof(\(type)), or return NULL from get_extension to offer \(absent)")
    }
    guard let function = table.assumingMemoryBound(to: Table.self).pointee[keyPath: path] else {
        throw HostError("\(id): \(field) is NULL: get_extension offers the table without its function; return NULL from get_extension(\"\(id)\") to offer \(absent)")
    }
    return function
}

/// "MAML_ERR_INVALID_ARGUMENT" etc., for messages.
package func statusName(_ status: maml_status) -> String {
    switch status {
    case MAML_OK: return "MAML_OK"
    case MAML_ERR_INVALID_ARGUMENT: return "MAML_ERR_INVALID_ARGUMENT"
    case MAML_ERR_SHAPE_MISMATCH: return "MAML_ERR_SHAPE_MISMATCH"
    case MAML_ERR_OUT_OF_MEMORY: return "MAML_ERR_OUT_OF_MEMORY"
    case MAML_ERR_NUMERICAL: return "MAML_ERR_NUMERICAL"
    case MAML_ERR_UNSUPPORTED: return "MAML_ERR_UNSUPPORTED"
    case MAML_ERR_INTERNAL: return "MAML_ERR_INTERNAL"
    default: return "unknown status \(status)"
    }
}
