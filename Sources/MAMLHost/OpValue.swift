// MARK: - Values passed to and returned by plugin-declared operations
//
// Text forms (what `maml-host call` accepts and prints), per type:
//   i32, i64   decimal integer, optional sign ("-5", "+7"); out of range is an error
//   u64        decimal integer without '-' (0...18446744073709551615)
//   f32, f64   a decimal or hex float ("1.5", "-2e-3", "0x1p-4"), or inf / -inf / nan;
//              a finite literal too large for the type is an error, not infinity
//   str        the text exactly as given (the plugin gets a NUL-terminated copy)
//   ptr        only "null" or "0" (a NULL pointer): an address typed by hand would be
//              dereferenced by the plugin, so the command line cannot pass one
// Results print the same way; a NULL str or ptr prints as "null", other pointers as hex.

/// One argument or result of an op. Sendable as a value: a ptr is only an address, and
/// whoever dereferences it (the plugin) owns the thread rule for what it points to.
public enum OpValue: Equatable, @unchecked Sendable {
    case void
    case i32(Int32)
    case i64(Int64)
    case u64(UInt64)
    case f32(Float)
    case f64(Double)
    case ptr(UnsafeMutableRawPointer?)
    /// An argument is passed as a C string (nil: NULL); a result is copied out of the plugin at once.
    case str(String?)

    public var type: OpType {
        switch self {
        case .void: return .void
        case .i32: return .i32
        case .i64: return .i64
        case .u64: return .u64
        case .f32: return .f32
        case .f64: return .f64
        case .ptr: return .ptr
        case .str: return .str
        }
    }

    /// The printed form ("" for void; see the table above).
    public var text: String {
        switch self {
        case .void: return ""
        case .i32(let v): return String(v)
        case .i64(let v): return String(v)
        case .u64(let v): return String(v)
        case .f32(let v): return v.description
        case .f64(let v): return v.description
        case .ptr(let p): return p.map { "0x" + String(UInt(bitPattern: $0), radix: 16) } ?? "null"
        case .str(let s): return s ?? "null"
        }
    }

    // MARK: Parsing command-line text

    /// Parses `text` as a value of `type` (see the table above). Errors say what was expected.
    public init(parsing text: String, as type: OpType) throws(HostError) {
        func bad(_ why: String) -> HostError { HostError("\(text.debugDescription) is not a valid \(type.rawValue): \(why)") }
        switch type {
        case .void:
            throw HostError("void is not an argument type")
        case .i32:
            self = .i32(try parseInteger(text, Int32.self, bad))
        case .i64:
            self = .i64(try parseInteger(text, Int64.self, bad))
        case .u64:
            if text.hasPrefix("-") { throw bad("u64 cannot be negative") }
            self = .u64(try parseInteger(text, UInt64.self, bad))
        case .f32:
            self = .f32(try parseFloat(text, Float.self, bad))
        case .f64:
            self = .f64(try parseFloat(text, Double.self, bad))
        case .str:
            self = .str(text)
        case .ptr:
            guard text == "null" || text == "0" else {
                throw bad("only null (or 0) can be passed as a pointer from the command line")
            }
            self = .ptr(nil)
        }
    }
}

/// A decimal integer with optional sign; range errors name the range.
private func parseInteger<T: FixedWidthInteger>(_ text: String, _: T.Type,
                                                _ bad: (String) -> HostError) throws(HostError) -> T {
    if let value = T(text, radix: 10) { return value }
    let digits = text.first == "-" || text.first == "+" ? text.dropFirst() : Substring(text)
    if !digits.isEmpty && digits.allSatisfy({ $0.isASCII && $0.isNumber }) {
        throw bad("out of range \(T.min)...\(T.max)")
    }
    throw bad("expected a decimal integer")
}

/// A float literal; a finite literal that overflows to infinity is refused.
private func parseFloat<T: BinaryFloatingPoint & LosslessStringConvertible>(
    _ text: String, _: T.Type, _ bad: (String) -> HostError) throws(HostError) -> T {
    guard !text.isEmpty, !text.contains(where: { $0.isWhitespace }), let value = T(text) else {
        throw bad("expected a number such as 1.5, -2e-3, inf or nan")
    }
    if value.isInfinite && !text.lowercased().contains("inf") {
        throw bad("out of range (largest finite magnitude is \(T.greatestFiniteMagnitude))")
    }
    return value
}
