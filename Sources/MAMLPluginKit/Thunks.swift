import MAMLPluginABI
import MAMLKernels

// MARK: - C thunks of the instance functions
//
// One set of @convention(c) functions serves every model type: the instance pointer
// leads to an InstanceBox, which holds the model as `any PluginModel`. Each thunk
// checks what the host passed, calls the model, turns a thrown PluginError into a
// status plus last_error, and checks results for non-finite values. Only `create`
// is per type (it has no instance to dispatch on): see ModelDescriptor.

/// The box behind an instance pointer, without retain/release (the host owns the reference).
@inline(__always)
func withBox<R>(_ m: OpaquePointer?, _ body: (InstanceBox) -> R) -> R? {
    guard let m else { return nil }
    return Unmanaged<InstanceBox>.fromOpaque(UnsafeRawPointer(m))._withUnsafeGuaranteedRef(body)
}

/// The model behind a `maml_model *` created by this kit, if it has type M (for op functions).
public func modelInstance<M: PluginModel>(_ m: OpaquePointer?, as type: M.Type) -> M? {
    withBox(m) { $0.model as? M } ?? nil
}

enum Thunks {
    nonisolated(unsafe) static let nullInstance: UnsafePointer<CChar> = UnsafePointer(makeCString("the maml_model instance is NULL"))

    static let destroy: @convention(c) (OpaquePointer?) -> Void = { m in
        guard let m else { return }
        Unmanaged<InstanceBox>.fromOpaque(UnsafeRawPointer(m)).release()
    }

    static let paramCount: @convention(c) (OpaquePointer?) -> UInt64 = { m in
        withBox(m) { UInt64($0.parameterCount) } ?? 0
    }
    static let inputShape: @convention(c) (OpaquePointer?) -> maml_shape = { m in
        withBox(m) { $0.inputShape } ?? maml_shape()
    }
    static let outputShape: @convention(c) (OpaquePointer?) -> maml_shape = { m in
        withBox(m) { $0.outputShape } ?? maml_shape()
    }
    static let lossKind: @convention(c) (OpaquePointer?) -> Int32 = { m in
        withBox(m) { $0.lossKind.rawValue } ?? 0
    }
    static let lastError: @convention(c) (OpaquePointer?) -> UnsafePointer<CChar>? = { m in
        withBox(m) { UnsafePointer($0.lastError) } ?? nullInstance
    }

    static let initParams: @convention(c) (OpaquePointer?, UInt64, UnsafeMutablePointer<Float>?) -> maml_status = { m, seed, params in
        withBox(m) { box in
            guard let params else { return box.fail(PluginError(.invalidArgument, "init_params: params is NULL")) }
            do throws(PluginError) { try box.model.initParameters(seed: seed, into: params) } catch { return box.fail(error) }
            if let bad = firstNonFinite(params, box.parameterCount) {
                return box.fail(PluginError(.numerical, "init_params: parameter \(bad) is \(params[bad])"))
            }
            return MAML_OK
        } ?? MAML_ERR_INVALID_ARGUMENT
    }

    static let forward: @convention(c) (OpaquePointer?, UnsafePointer<Float>?, UnsafePointer<maml_batch>?,
                                         UnsafeMutablePointer<Float>?) -> maml_status = { m, params, batch, out in
        withBox(m) { box in
            do throws(PluginError) {
                let b = try checkCall("forward", box, params, batch, needTargets: false)
                guard let out else { throw PluginError(.invalidArgument, "forward: out is NULL") }
                try box.model.forward(params: params!, batch: b, output: out)
                let count = b.n * box.outputElements
                if let bad = firstNonFinite(out, count) {
                    throw PluginError(.numerical, "forward: output \(bad) of \(count) is \(out[bad])")
                }
                return MAML_OK
            } catch { return box.fail(error) }
        } ?? MAML_ERR_INVALID_ARGUMENT
    }

    static let lossGrad: @convention(c) (OpaquePointer?, UnsafePointer<Float>?, UnsafePointer<maml_batch>?,
                                          UnsafeMutablePointer<Float>?, UnsafeMutablePointer<Float>?) -> maml_status = { m, params, batch, loss, grad in
        withBox(m) { box in
            do throws(PluginError) {
                let b = try checkCall("loss_grad", box, params, batch, needTargets: true)
                guard let loss else { throw PluginError(.invalidArgument, "loss_grad: loss is NULL") }
                let value = try box.model.lossGrad(params: params!, batch: b, grad: grad)
                loss.pointee = value
                guard value.isFinite else { throw PluginError(.numerical, "loss_grad: the loss is \(value)") }
                if let grad, let bad = firstNonFinite(grad, box.parameterCount) {
                    throw PluginError(.numerical, "loss_grad: gradient element \(bad) is \(grad[bad]) (loss \(value))")
                }
                return MAML_OK
            } catch { return box.fail(error) }
        } ?? MAML_ERR_INVALID_ARGUMENT
    }

    static let hvp: @convention(c) (OpaquePointer?, UnsafePointer<Float>?, UnsafePointer<maml_batch>?,
                                     UnsafePointer<Float>?, UnsafeMutablePointer<Float>?) -> maml_status = { m, params, batch, v, out in
        withBox(m) { box in
            do throws(PluginError) {
                let b = try checkCall("hvp", box, params, batch, needTargets: true)
                guard let v else { throw PluginError(.invalidArgument, "hvp: v is NULL") }
                guard let out else { throw PluginError(.invalidArgument, "hvp: out is NULL") }
                let p = box.parameterCount
                if UnsafePointer(out) < v + p && v < UnsafePointer(out) + p {
                    throw PluginError(.invalidArgument, "hvp: v and out overlap; they must not alias")
                }
                try box.model.hvp(params: params!, batch: b, v: v, output: out)
                if let bad = firstNonFinite(out, p) {
                    throw PluginError(.numerical, "hvp: product element \(bad) is \(out[bad])")
                }
                return MAML_OK
            } catch { return box.fail(error) }
        } ?? MAML_ERR_INVALID_ARGUMENT
    }

    static let vjp: @convention(c) (OpaquePointer?, UnsafePointer<Float>?, UnsafePointer<maml_batch>?,
                                     UnsafePointer<Float>?, UnsafeMutablePointer<Float>?) -> maml_status = { m, params, batch, u, out in
        withBox(m) { box in
            do throws(PluginError) {
                let b = try checkCall("vjp", box, params, batch, needTargets: false)
                guard let u else { throw PluginError(.invalidArgument, "vjp: output_grad is NULL") }
                guard let out else { throw PluginError(.invalidArgument, "vjp: grad_out is NULL") }
                let p = box.parameterCount, count = b.n * box.outputElements
                let uStart = UnsafeRawPointer(u), uEnd = UnsafeRawPointer(u + count)
                let outStart = UnsafeRawPointer(out), outEnd = UnsafeRawPointer(out + p)
                if outStart < uEnd && uStart < outEnd {
                    throw PluginError(.invalidArgument, "vjp: output_grad and grad_out overlap; they must not alias")
                }
                try box.model.vjp(params: params!, batch: b, outputGrad: u, grad: out)
                if let bad = firstNonFinite(out, p) {
                    throw PluginError(.numerical, "vjp: product element \(bad) is \(out[bad])")
                }
                return MAML_OK
            } catch { return box.fail(error) }
        } ?? MAML_ERR_INVALID_ARGUMENT
    }

    // MARK: Extensions

    static let getExtension: @convention(c) (OpaquePointer?, UnsafePointer<CChar>?) -> UnsafeRawPointer? = { m, id in
        withBox(m) { box -> UnsafeRawPointer? in
            guard let id else { return nil }
            if cStringEquals(id, MAML_EXT_HVP) { return box.providesHVP ? UnsafeRawPointer(hvpTable) : nil }
            if cStringEquals(id, MAML_EXT_LAYOUT) { return box.tensorCount > 0 ? UnsafeRawPointer(layoutTable) : nil }
            if cStringEquals(id, MAML_EXT_OPS) { return box.opCount > 0 ? UnsafeRawPointer(opsTable) : nil }
            if cStringEquals(id, MAML_EXT_VJP) { return box.providesVJP ? UnsafeRawPointer(vjpTable) : nil }
            return nil
        } ?? nil
    }

    nonisolated(unsafe) static let hvpTable: UnsafeMutablePointer<maml_ext_hvp> = leak(
        maml_ext_hvp(struct_size: UInt32(MemoryLayout<maml_ext_hvp>.size), hvp: hvp))

    nonisolated(unsafe) static let vjpTable: UnsafeMutablePointer<maml_ext_vjp> = leak(
        maml_ext_vjp(struct_size: UInt32(MemoryLayout<maml_ext_vjp>.size), vjp: vjp))

    nonisolated(unsafe) static let layoutTable: UnsafeMutablePointer<maml_ext_layout> = leak(maml_ext_layout(
        struct_size: UInt32(MemoryLayout<maml_ext_layout>.size),
        tensor_count: { m in withBox(m) { UInt32($0.tensorCount) } ?? 0 },
        tensor_at: { m, i in withBox(m) { box in Int(i) < box.tensorCount ? UnsafePointer(box.tensors + Int(i)) : nil } ?? nil }))

    nonisolated(unsafe) static let opsTable: UnsafeMutablePointer<maml_ext_ops> = leak(maml_ext_ops(
        struct_size: UInt32(MemoryLayout<maml_ext_ops>.size),
        op_count: { m in withBox(m) { UInt32($0.opCount) } ?? 0 },
        op_at: { m, i in withBox(m) { box in Int(i) < box.opCount ? UnsafePointer(box.ops + Int(i)) : nil } ?? nil }))
}

// MARK: - Argument checks

/// Validates the instance call's params and batch and returns the batch as Swift sees it.
@inline(__always)
func checkCall(_ fn: StaticString, _ box: InstanceBox, _ params: UnsafePointer<Float>?,
               _ batch: UnsafePointer<maml_batch>?, needTargets: Bool) throws(PluginError) -> PluginBatch {
    guard params != nil else { throw PluginError(.invalidArgument, "\(fn): params is NULL") }
    guard let batch else { throw PluginError(.invalidArgument, "\(fn): batch is NULL") }
    let b = batch.pointee
    guard b.struct_size >= UInt32(MemoryLayout<maml_batch>.size) else {
        throw PluginError(.invalidArgument, "\(fn): batch struct_size is \(b.struct_size), expected at least \(MemoryLayout<maml_batch>.size) (maml_batch of ABI 1.0)")
    }
    guard b.n >= 1 else { throw PluginError(.invalidArgument, "\(fn): batch n is 0; a batch needs at least 1 example") }
    let widest = max(box.inputElements, box.outputElements)
    guard b.n <= UInt64(Int.max / 4 / widest) else {
        throw PluginError(.invalidArgument, "\(fn): batch n = \(b.n) is too large")
    }
    guard let x = b.x else { throw PluginError(.invalidArgument, "\(fn): batch x is NULL") }
    let n = Int(b.n)
    if needTargets {
        switch box.lossKind {
        case .mse:
            guard b.y_float != nil else {
                throw PluginError(.invalidArgument, "\(fn): batch y_float is NULL; this model's loss is MSE and needs float targets")
            }
        case .softmaxCrossEntropy:
            guard let labels = b.y_class else {
                throw PluginError(.invalidArgument, "\(fn): batch y_class is NULL; this model's loss is softmax cross-entropy and needs class labels")
            }
            let classes = Int32(truncatingIfNeeded: box.outputElements)
            for i in 0..<n where labels[i] < 0 || labels[i] >= classes {
                throw PluginError(.shapeMismatch, "\(fn): label \(labels[i]) of example \(i) is outside [0, \(classes)) for this model's \(classes) classes")
            }
        }
    }
    return PluginBatch(n: n, x: x, yFloat: b.y_float, yClass: b.y_class)
}

/// Index of the first NaN or infinity in p[0..<count], or nil (MAMLKernels' scan).
@inline(__always)
func firstNonFinite(_ p: UnsafePointer<Float>, _ count: Int) -> Int? {
    let i = mk_first_nonfinite(p, count)
    return i < 0 ? nil : i
}

@inline(__always)
func cStringEquals(_ a: UnsafePointer<CChar>, _ b: String) -> Bool {
    var i = 0
    for cb in b.utf8 {
        guard UInt8(bitPattern: a[i]) == cb else { return false }  // also stops at a's NUL
        i += 1
    }
    return a[i] == 0
}

/// A process-lifetime heap copy of a C table.
func leak<T>(_ value: T) -> UnsafeMutablePointer<T> {
    let p = UnsafeMutablePointer<T>.allocate(capacity: 1)
    p.initialize(to: value)
    return p
}
