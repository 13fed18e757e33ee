import CFFI
import MAMLFFI
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

// MARK: - Calling an op through libffi
//
// One ffi_cif per op, prepared on first use and kept for the life of the process
// (plugins are never unloaded either), in a cache keyed by plugin file, model id,
// op name and signature: every instance of a model shares its ops' cifs, and a
// later instance that declares a different signature under the same name gets its
// own. The real first argument is always the instance pointer.

/// What a prepared call is keyed by.
struct CallKey: Hashable {
    var pluginPath: String
    var modelID: String
    var op: String
    var signature: OpSignature
}

/// A prepared ffi_cif and the signature it was prepared for. The cif and its argument
/// type array are allocated once and never freed, so copies may be used from any thread.
struct PreparedCall: @unchecked Sendable {
    let cif: UnsafeMutablePointer<ffi_cif>
    let signature: OpSignature

    /// Calls `function(instance, arguments...)`. The arguments must match the signature
    /// (PluginOps.call checks). A returned str is copied before returning (the plugin's
    /// pointer is only valid until the next call on the instance).
    func invoke(_ function: @convention(c) () -> Void, instance: OpaquePointer, _ arguments: [OpValue]) -> OpValue {
        precondition(arguments.count == signature.parameters.count, "argument count checked by the caller")
        let count = arguments.count + 1
        // One 8-byte slot per argument (every alphabet type fits); argv points at the slots.
        let slots = UnsafeMutableRawPointer.allocate(byteCount: 8 * count, alignment: 8)
        let argv = UnsafeMutablePointer<UnsafeMutableRawPointer?>.allocate(capacity: count)
        // libffi writes at least a full ffi_arg (8 bytes) even for an i32 result.
        let result = UnsafeMutableRawPointer.allocate(byteCount: 16, alignment: 16)
        var cStrings: [UnsafeMutablePointer<CChar>?] = []
        defer {
            for s in cStrings { free(s) }
            slots.deallocate(); argv.deallocate(); result.deallocate()
        }
        slots.storeBytes(of: UnsafeMutableRawPointer(instance), as: UnsafeMutableRawPointer.self)
        argv[0] = slots
        for (index, argument) in arguments.enumerated() {
            let slot = slots + 8 * (index + 1)
            argv[index + 1] = slot
            switch argument {
            case .void: preconditionFailure("void is not an argument type")
            case .i32(let v): slot.storeBytes(of: v, as: Int32.self)
            case .i64(let v): slot.storeBytes(of: v, as: Int64.self)
            case .u64(let v): slot.storeBytes(of: v, as: UInt64.self)
            case .f32(let v): slot.storeBytes(of: v, as: Float.self)
            case .f64(let v): slot.storeBytes(of: v, as: Double.self)
            case .ptr(let p): slot.storeBytes(of: p, as: UnsafeMutableRawPointer?.self)
            case .str(let s):
                let copy = s.flatMap { strdup($0) }
                cStrings.append(copy)
                slot.storeBytes(of: copy, as: UnsafeMutablePointer<CChar>?.self)
            }
        }
        result.initializeMemory(as: UInt64.self, repeating: 0, count: 2)
        ffi_call(cif, function, result, argv)
        switch signature.result {
        case .void: return .void
        // Integer results narrower than ffi_arg come back widened to a full ffi_arg.
        case .i32: return .i32(Int32(truncatingIfNeeded: result.load(as: Int64.self)))
        case .i64: return .i64(result.load(as: Int64.self))
        case .u64: return .u64(result.load(as: UInt64.self))
        case .f32: return .f32(result.load(as: Float.self))
        case .f64: return .f64(result.load(as: Double.self))
        case .ptr: return .ptr(result.load(as: UnsafeMutableRawPointer?.self))
        case .str: return .str(result.load(as: UnsafePointer<CChar>?.self).map(decodeLenient))
        }
    }
}

/// Prepared cifs by key; entries are never removed.
private let preparedCalls = Mutex<[CallKey: PreparedCall]>([:])

/// The prepared call for `key`, preparing it on first use.
func preparedCall(for key: CallKey) throws(HostError) -> PreparedCall {
    let outcome: Result<PreparedCall, HostError> = preparedCalls.withLock { cache in
        if let known = cache[key] { return .success(known) }
        let signature = key.signature
        let types = UnsafeMutablePointer<UnsafeMutablePointer<ffi_type>?>.allocate(capacity: signature.parameters.count + 1)
        types[0] = mamlffi_type_pointer()
        for (index, parameter) in signature.parameters.enumerated() { types[index + 1] = ffiType(parameter) }
        let cif = UnsafeMutablePointer<ffi_cif>.allocate(capacity: 1)
        let status = ffi_prep_cif(cif, mamlffi_default_abi(), UInt32(signature.parameters.count + 1),
                                  ffiType(signature.result), types)
        guard status == FFI_OK else {
            cif.deallocate(); types.deallocate()
            return .failure(HostError("op '\(key.op)': libffi could not prepare a call for \(signature) (ffi_status \(status.rawValue))"))
        }
        let prepared = PreparedCall(cif: cif, signature: signature)
        cache[key] = prepared
        return .success(prepared)
    }
    return try outcome.get()
}

/// Number of prepared cifs in the process (tests check that instances share them).
func preparedCallCount() -> Int { preparedCalls.withLock { $0.count } }

private func ffiType(_ type: OpType) -> UnsafeMutablePointer<ffi_type> {
    switch type {
    case .void: return mamlffi_type_void()
    case .i32: return mamlffi_type_sint32()
    case .i64: return mamlffi_type_sint64()
    case .u64: return mamlffi_type_uint64()
    case .f32: return mamlffi_type_float()
    case .f64: return mamlffi_type_double()
    case .ptr, .str: return mamlffi_type_pointer()
    }
}
