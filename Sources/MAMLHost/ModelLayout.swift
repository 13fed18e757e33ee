import MAMLCore
import MAMLPluginABI

// MARK: - Shapes and the "maml.layout/1" extension, checked
//
// Everything a plugin reports about its geometry is checked once, when the
// instance is created, so the hot path can trust it.

/// A shape from the plugin as dims: rank 1...MAML_MAX_RANK, every used dim > 0.
func readShape(_ shape: maml_shape, _ what: String) throws(HostError) -> [Int] {
    guard (1...Int(MAML_MAX_RANK)).contains(Int(shape.rank)) else {
        throw HostError("\(what) has rank \(shape.rank), expected 1...\(MAML_MAX_RANK)")
    }
    let dims = withUnsafeBytes(of: shape.dims) { Array($0.bindMemory(to: UInt32.self).prefix(Int(shape.rank))) }
    if let bad = dims.firstIndex(of: 0) {
        throw HostError("\(what) \(dims) has dimension \(bad) equal to 0")
    }
    var count = 1
    for dim in dims {
        let (product, overflow) = count.multipliedReportingOverflow(by: Int(dim))
        guard !overflow, product <= Int(Int32.max) else { throw HostError("\(what) \(dims) is implausibly large") }
        count = product
    }
    return dims.map(Int.init)
}

/// Reads the "maml.layout/1" table: both functions present, named tensors, disjoint, in range and
/// covering [0, parameterCount). Errors name the field; the caller prefixes the extension id.
func readLayout(_ table: UnsafeRawPointer, instance: OpaquePointer,
                parameterCount: Int) throws(HostError) -> [LayoutTensor] {
    let size = Int(table.load(as: UInt32.self))
    guard size >= MemoryLayout<maml_ext_layout>.size else {
        throw HostError("struct_size is \(size) bytes, too small to hold tensor_count and tensor_at (maml_ext_layout is \(MemoryLayout<maml_ext_layout>.size) bytes): set it to sizeof(maml_ext_layout)")
    }
    let ext = table.assumingMemoryBound(to: maml_ext_layout.self).pointee
    guard let tensorCount = ext.tensor_count else {
        throw HostError("tensor_count is NULL: get_extension offers the table without its function; return NULL from get_extension(\"\(MAML_EXT_LAYOUT)\") to offer no layout")
    }
    guard let tensorAt = ext.tensor_at else {
        throw HostError("tensor_at is NULL: get_extension offers the table without its function; return NULL from get_extension(\"\(MAML_EXT_LAYOUT)\") to offer no layout")
    }
    let count = tensorCount(instance)
    guard count <= 1 << 20 else { throw HostError("layout tensor_count \(count) is implausible") }

    var tensors: [LayoutTensor] = []
    for index in 0..<count {
        guard let info = tensorAt(instance, index) else { throw HostError("layout tensor #\(index) is NULL") }
        let infoSize = Int(UnsafeRawPointer(info).load(as: UInt32.self))
        guard infoSize >= MemoryLayout<maml_tensor_info>.size else {
            throw HostError("layout tensor #\(index): struct_size \(infoSize) is shorter than maml_tensor_info (\(MemoryLayout<maml_tensor_info>.size) bytes)")
        }
        let t = info.pointee
        let name = try readString(t.name, "layout tensor #\(index) name")
        let role = try readString(t.role, "layout tensor '\(name)' role")
        let shape = try readShape(t.shape, "layout tensor '\(name)' shape")
        let tensor = LayoutTensor(name: name, offset: Int(clamping: t.offset), shape: shape, role: role)
        guard t.offset <= UInt64(parameterCount), tensor.count <= parameterCount - tensor.offset else {
            throw HostError("layout tensor '\(name)' [\(t.offset), \(t.offset + UInt64(tensor.count))) runs past param_count \(parameterCount)")
        }
        if tensors.contains(where: { $0.name == name }) { throw HostError("layout names two tensors '\(name)'") }
        tensors.append(tensor)
    }
    try checkCoverage(tensors, parameterCount: parameterCount)
    return tensors
}

/// Tensors sorted by offset must tile [0, parameterCount) exactly.
private func checkCoverage(_ tensors: [LayoutTensor], parameterCount: Int) throws(HostError) {
    var end = 0
    var previous: LayoutTensor?
    for tensor in tensors.sorted(by: { ($0.offset, $0.count) < ($1.offset, $1.count) }) {
        if tensor.offset < end, let previous {
            throw HostError("layout tensor '\(tensor.name)' [\(tensor.offset), \(tensor.offset + tensor.count)) overlaps '\(previous.name)' [\(previous.offset), \(previous.offset + previous.count))")
        }
        if tensor.offset > end {
            throw HostError("layout leaves floats [\(end), \(tensor.offset)) uncovered, before tensor '\(tensor.name)'")
        }
        end = tensor.offset + tensor.count
        previous = tensor
    }
    if end < parameterCount {
        let after = previous.map { " after tensor '\($0.name)'" } ?? " (no tensors)"
        throw HostError("layout leaves floats [\(end), \(parameterCount)) uncovered\(after)")
    }
}
