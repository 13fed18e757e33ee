import MAMLPluginABI

// MARK: - Reading an instance's "maml.ops/1" table
//
// The table's functions (op_count, op_at, every fn) are checked when the
// instance is created (`checkOpsFunctions`, called by PluginBackbone): a NULL
// one refuses the model. The ops are read and checked once, as a whole, when
// asked for: struct sizes, non-NULL functions, names (non-empty, no spaces or
// control characters, unique), help (non-NULL, may be empty), signatures
// (OpSignature's grammar) and fn (non-NULL). Any problem refuses the whole table with a message naming the op: a plugin that
// gets one op wrong is buggy, and the host does not guess which ops still work.
// Each op gets its ffi_cif from a process-wide cache (OpCall.swift).

/// One validated op of one instance, ready to call.
public struct PluginOperation: @unchecked Sendable {
    public let name: String
    public let help: String
    /// The signature as the plugin wrote it, and parsed.
    public let signatureText: String
    public let signature: OpSignature
    let function: @convention(c) () -> Void
    let prepared: PreparedCall
}

/// More ops than this in one table means op_count is garbage.
let maxOpsPerInstance: UInt32 = 1024

/// The ops of one plugin instance. Keeps the instance alive; calls follow the ABI
/// thread rule (one thread at a time per instance, like every other instance call).
public final class PluginOps {
    public let backbone: PluginBackbone
    /// In the plugin's order; empty when the instance offers no "maml.ops/1".
    public let operations: [PluginOperation]

    /// Reads and validates the table of `backbone`. Errors name the model and the op.
    public init(backbone: PluginBackbone) throws(HostError) {
        self.backbone = backbone
        guard let table = backbone.opsExtension else { operations = []; return }
        let model = backbone.model
        do throws(HostError) {
            operations = try readOps(table, instance: backbone.instance, model: model)
        } catch {
            throw HostError("model '\(model.name)' (\(model.id), plugin \(model.pluginPath)): \(MAML_EXT_OPS): \(error.message)")
        }
    }

    public func operation(named name: String) -> PluginOperation? {
        operations.first { $0.name == name }
    }

    /// Calls op `name` with typed arguments (checked against its signature).
    public func call(_ name: String, _ arguments: [OpValue]) throws(HostError) -> OpValue {
        let op = try require(name)
        let expected = op.signature.parameters
        guard arguments.count == expected.count else {
            throw HostError("op '\(name)' \(op.signatureText.debugDescription) takes \(countText(expected)), got \(arguments.count)")
        }
        for (index, (argument, type)) in zip(arguments, expected).enumerated() where argument.type != type {
            throw HostError("op '\(name)' argument \(index + 1) must be \(type.rawValue), got \(argument.type.rawValue) (\(argument.text))")
        }
        return op.prepared.invoke(op.function, instance: backbone.instance, arguments)
    }

    /// Calls op `name` with arguments parsed from text by its signature (OpValue's text forms).
    public func call(_ name: String, parsing texts: [String]) throws(HostError) -> OpValue {
        let op = try require(name)
        let expected = op.signature.parameters
        guard texts.count == expected.count else {
            throw HostError("op '\(name)' \(op.signatureText.debugDescription) takes \(countText(expected)), got \(texts.count)")
        }
        var arguments: [OpValue] = []
        for (index, (text, type)) in zip(texts, expected).enumerated() {
            do throws(HostError) { arguments.append(try OpValue(parsing: text, as: type)) }
            catch { throw HostError("op '\(name)' argument \(index + 1): \(error.message)") }
        }
        return try call(name, arguments)
    }

    private func require(_ name: String) throws(HostError) -> PluginOperation {
        guard let op = operation(named: name) else {
            let known = operations.map(\.name)
            throw HostError("model '\(backbone.model.name)' has no op '\(name)' "
                            + (known.isEmpty ? "(it declares none)" : "(it has: \(known.joined(separator: ", ")))"))
        }
        return op
    }
}

/// "2 arguments (i32, i32)", "no arguments".
private func countText(_ types: [OpType]) -> String {
    switch types.count {
    case 0: return "no arguments"
    case 1: return "1 argument (\(types[0].rawValue))"
    default: return "\(types.count) arguments (\(types.map(\.rawValue).joined(separator: ", ")))"
    }
}

// MARK: - Validation

/// The functions of a "maml.ops/1" table, checked when an instance is created (PluginBackbone), so
/// a table with a NULL function refuses the model for every command, not only `ops` and `call`:
/// struct_size covers op_count and op_at, both are non-NULL, and every op op_at returns covers and
/// holds a non-NULL fn. The rest (names, help, signatures, NULL ops, an implausible op_count) is
/// checked by `PluginOps` when the ops are asked for, refusing the table as a whole.
func checkOpsFunctions(_ table: UnsafePointer<maml_ext_ops>, instance: OpaquePointer) throws(HostError) {
    let (opCount, opAt) = try tableFunctions(table)
    let count = opCount(instance)
    guard count <= maxOpsPerInstance else { return }
    for index in 0..<count {
        guard let pointer = opAt(instance, index) else { continue }
        _ = try opFunction(pointer, index: index, label: opLabel(pointer, index))
    }
}

private typealias OpCountFunction = @convention(c) (OpaquePointer?) -> UInt32
private typealias OpAtFunction = @convention(c) (OpaquePointer?, UInt32) -> UnsafePointer<maml_op>?

/// op_count and op_at of a table whose struct_size covers them.
private func tableFunctions(_ table: UnsafePointer<maml_ext_ops>) throws(HostError) -> (OpCountFunction, OpAtFunction) {
    let size = Int(UnsafeRawPointer(table).load(as: UInt32.self))
    guard size >= MemoryLayout<maml_ext_ops>.size else {
        throw HostError("table struct_size is \(size) bytes, shorter than maml_ext_ops (\(MemoryLayout<maml_ext_ops>.size) bytes)")
    }
    guard let opCount = table.pointee.op_count else { throw HostError("op_count is NULL") }
    guard let opAt = table.pointee.op_at else { throw HostError("op_at is NULL") }
    return (opCount, opAt)
}

/// fn of op `index`, its struct_size checked to cover it.
private func opFunction(_ pointer: UnsafePointer<maml_op>, index: UInt32,
                        label: @autoclosure () -> String) throws(HostError) -> @convention(c) () -> Void {
    let opSize = Int(UnsafeRawPointer(pointer).load(as: UInt32.self))
    guard opSize >= MemoryLayout<maml_op>.size else {
        throw HostError("op #\(index): struct_size is \(opSize) bytes, shorter than maml_op (\(MemoryLayout<maml_op>.size) bytes)")
    }
    guard let function = pointer.pointee.fn else { throw HostError("\(label()): fn is NULL") }
    return function
}

/// "op #3 ('flops')", or "op #3" when the name is not a valid one (PluginOps says why).
private func opLabel(_ pointer: UnsafePointer<maml_op>, _ index: UInt32) -> String {
    guard Int(UnsafeRawPointer(pointer).load(as: UInt32.self)) >= MemoryLayout<maml_op>.size,
          let name = try? readString(pointer.pointee.name, "name"),
          !name.unicodeScalars.contains(where: { $0.properties.isWhitespace || $0.value < 0x20 || $0.value == 0x7f })
    else { return "op #\(index)" }
    return "op #\(index) ('\(name)')"
}

private func readOps(_ table: UnsafePointer<maml_ext_ops>, instance: OpaquePointer,
                     model: ModelEntry) throws(HostError) -> [PluginOperation] {
    let (opCount, opAt) = try tableFunctions(table)
    let count = opCount(instance)
    guard count <= maxOpsPerInstance else {
        throw HostError("op_count is \(count), more than \(maxOpsPerInstance): the table looks corrupt")
    }
    var operations: [PluginOperation] = []
    var indexByName: [String: UInt32] = [:]
    for index in 0..<count {
        guard let pointer = opAt(instance, index) else { throw HostError("op #\(index): op_at(\(index)) returned NULL") }
        let opSize = Int(UnsafeRawPointer(pointer).load(as: UInt32.self))
        guard opSize >= MemoryLayout<maml_op>.size else {
            throw HostError("op #\(index): struct_size is \(opSize) bytes, shorter than maml_op (\(MemoryLayout<maml_op>.size) bytes)")
        }
        let op = pointer.pointee
        let name: String
        do throws(HostError) { name = try readString(op.name, "name") }
        catch { throw HostError("op #\(index): \(error.message)") }
        let label = "op #\(index) ('\(name)')"
        if let bad = name.unicodeScalars.first(where: { $0.properties.isWhitespace || $0.value < 0x20 || $0.value == 0x7f }) {
            throw HostError("\(label): name has \(bad.value < 0x20 || bad.value == 0x7f ? "a control character" : "white space") (U+\(String(bad.value, radix: 16, uppercase: true))); names must be typable")
        }
        if let first = indexByName[name] {
            throw HostError("\(label): duplicate name (op #\(first) is also '\(name)')")
        }
        indexByName[name] = index
        let help: String, signatureText: String, signature: OpSignature
        do throws(HostError) {
            help = try readString(op.help, "help", allowEmpty: true)
            signatureText = try readString(op.signature, "signature", allowEmpty: true)
            signature = try OpSignature(parsing: signatureText)
        } catch { throw HostError("\(label): \(error.message)") }
        let function = try opFunction(pointer, index: index, label: label)
        let prepared = try preparedCall(for: CallKey(pluginPath: model.pluginPath, modelID: model.id,
                                                     op: name, signature: signature))
        operations.append(PluginOperation(name: name, help: help, signatureText: signatureText,
                                          signature: signature, function: function, prepared: prepared))
    }
    return operations
}
