import MAMLPluginABI

// MARK: - The instance behind a maml_model *
//
// A `maml_model *` handed to the host is an unmanaged, retained InstanceBox: the
// model, its last-error string and the C tables of its extensions. Everything the
// C side reads (strings, tensor infos, ops) is allocated once at create and freed
// at destroy, so steady-state calls never allocate.

final class InstanceBox {
    let model: any PluginModel
    // Cached at create: constant for the instance's life and read on every call.
    let parameterCount: Int
    let inputElements: Int
    let outputElements: Int
    let lossKind: PluginLossKind
    let inputShape: maml_shape
    let outputShape: maml_shape
    let providesHVP: Bool
    let providesVJP: Bool

    /// NUL-terminated, valid until the next call that sets it.
    private(set) var lastError: UnsafeMutablePointer<CChar>
    private var lastErrorCapacity: Int

    // "maml.layout/1" and "maml.ops/1" tables (count 0: not offered).
    let tensorCount: Int
    let tensors: UnsafeMutablePointer<maml_tensor_info>
    let opCount: Int
    let ops: UnsafeMutablePointer<maml_op>
    private var ownedStrings: [UnsafeMutablePointer<CChar>] = []

    init(model: any PluginModel, modelType: any PluginModel.Type) throws(PluginError) {
        self.model = model
        parameterCount = model.parameterCount
        lossKind = model.lossKind
        providesHVP = model.providesHVP
        providesVJP = model.providesVJP
        inputShape = try InstanceBox.cShape(model.inputShape, what: "input shape")
        outputShape = try InstanceBox.cShape(model.outputShape, what: "output shape")
        inputElements = model.inputShape.reduce(1, *)
        outputElements = model.outputShape.reduce(1, *)
        lastErrorCapacity = 256
        lastError = .allocate(capacity: lastErrorCapacity)
        lastError.initialize(to: 0)

        let layout = model.layout
        tensorCount = layout.count
        tensors = .allocate(capacity: max(layout.count, 1))
        let opList = modelType.ops
        opCount = opList.count
        ops = .allocate(capacity: max(opList.count, 1))
        guard parameterCount > 0 else { throw PluginError(.internal, "model reports 0 parameters") }
        guard lossKind != .softmaxCrossEntropy || outputElements >= 2 else {
            throw PluginError(.internal, "a softmax cross-entropy model needs at least 2 outputs (classes)")
        }
        try checkLayout(layout)
        for (i, t) in layout.enumerated() {
            (tensors + i).initialize(to: maml_tensor_info(
                struct_size: UInt32(MemoryLayout<maml_tensor_info>.size), name: own(t.name),
                offset: UInt64(t.offset), shape: try InstanceBox.cShape(t.shape, what: "shape of tensor \(t.name)"),
                role: own(t.role)))
        }
        for (i, op) in opList.enumerated() {
            (ops + i).initialize(to: maml_op(
                struct_size: UInt32(MemoryLayout<maml_op>.size), name: own(op.name),
                help: own(op.help), signature: own(op.signature), fn: op.function))
        }
    }

    deinit {
        lastError.deallocate()
        tensors.deallocate()  // trivial C structs: no deinitialisation needed
        ops.deallocate()
        for s in ownedStrings { s.deallocate() }
    }

    /// Records a message for last_error and returns the status to give the host.
    func fail(_ error: PluginError) -> maml_status {
        setError(error.message)
        return error.status.rawValue
    }

    func setError(_ message: String) {
        let bytes = message.utf8.count
        if bytes + 1 > lastErrorCapacity {
            lastError.deallocate()
            lastErrorCapacity = bytes + 1
            lastError = .allocate(capacity: lastErrorCapacity)
        }
        copyCString(message, into: lastError, capacity: lastErrorCapacity)
    }

    private func own(_ s: String) -> UnsafePointer<CChar> {
        let p = makeCString(s)
        ownedStrings.append(p)
        return UnsafePointer(p)
    }

    private func checkLayout(_ layout: [LayoutTensor]) throws(PluginError) {
        guard !layout.isEmpty else { return }
        var covered = 0
        for t in layout.sorted(by: { $0.offset < $1.offset }) {
            guard t.offset == covered else {
                throw PluginError(.internal, "layout tensor \(t.name) starts at \(t.offset), expected \(covered): tensors must be disjoint and cover the parameters")
            }
            covered += t.shape.reduce(1, *)
        }
        guard covered == parameterCount else {
            throw PluginError(.internal, "layout tensors cover \(covered) floats, the model has \(parameterCount) parameters")
        }
    }

    static func cShape(_ dims: [Int], what: String) throws(PluginError) -> maml_shape {
        guard (1...Int(MAML_MAX_RANK)).contains(dims.count), dims.allSatisfy({ $0 >= 1 && $0 <= Int(UInt32.max) }) else {
            throw PluginError(.internal, "\(what) \(dims) must have rank 1...\(MAML_MAX_RANK) and positive sizes")
        }
        var shape = maml_shape()
        shape.rank = UInt32(dims.count)
        withUnsafeMutableBytes(of: &shape.dims) { raw in
            let d = raw.bindMemory(to: UInt32.self)
            for (i, v) in dims.enumerated() { d[i] = UInt32(v) }
        }
        return shape
    }
}

// MARK: - C strings without Foundation

/// A newly allocated NUL-terminated copy of `s` (free with deallocate()).
func makeCString(_ s: String) -> UnsafeMutablePointer<CChar> {
    let count = s.utf8.count + 1
    let p = UnsafeMutablePointer<CChar>.allocate(capacity: count)
    copyCString(s, into: p, capacity: count)
    return p
}

/// Writes `s` NUL-terminated into `buffer`, truncating at a UTF-8 character boundary.
func copyCString(_ s: String, into buffer: UnsafeMutablePointer<CChar>, capacity: Int) {
    guard capacity > 0 else { return }
    var utf8 = Array(s.utf8.prefix(capacity - 1))
    if utf8.count < s.utf8.count {  // truncated: do not leave half a character
        while let last = utf8.last, last & 0xC0 == 0x80 { utf8.removeLast() }
        if let last = utf8.last, last >= 0xC0 { utf8.removeLast() }
    }
    for (i, b) in utf8.enumerated() { buffer[i] = CChar(bitPattern: b) }
    buffer[utf8.count] = 0
}
