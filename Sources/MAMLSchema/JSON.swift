// MARK: - JSON values
//
// A small JSON reader and writer of our own, so plugins need no Foundation; the
// host and the core use it too (configs, checkpoint headers, plugin scan reports).
// Objects keep their members in source order (resolved configs print in
// schema order); duplicate keys are refused. Numbers are Doubles, except those a
// Double would change, which keep their JSON text (`numberText`): integers beyond
// 2^53 (64-bit seeds) and numbers written with a Float's own digits.

/// A JSON value.
public enum JSONValue: Equatable, Sendable {
    case null
    case bool(Bool)
    case number(Double)
    /// A number kept as its JSON text, for values a Double would change: the parser makes
    /// one for an integer of magnitude 2^53 or more (a 64-bit seed, a time in nanoseconds), writers for a
    /// Float's own shortest digits (`init(shortest:)`). The text is always a valid JSON number.
    case numberText(String)
    case string(String)
    case array([JSONValue])
    case object(JSONObject)

    /// "null", "a boolean", "a number", "a string", "an array" or "an object": for messages.
    public var kindDescription: String {
        switch self {
        case .null: return "null"
        case .bool: return "a boolean"
        case .number, .numberText: return "a number"
        case .string: return "a string"
        case .array: return "an array"
        case .object: return "an object"
        }
    }

    /// The value's JSON text cut to about 40 characters ("..." marks a cut): for messages, so a
    /// 100 KB argument is not echoed back whole.
    public var excerpt: String {
        let text = serialized()
        return text.count > 40 ? String(text.prefix(37)) + "..." : text
    }

    /// The number as an exact integer, if it is one: a Double up to 2^53 in magnitude (where
    /// every integer is exact), or a kept integer text that fits an Int.
    public var integerValue: Int? {
        switch self {
        case .number(let x):
            guard x.rounded(.towardZero) == x, abs(x) <= 9_007_199_254_740_992 else { return nil }
            return Int(x)
        case .numberText(let text): return Int(text) ?? Double(text).flatMap { JSONValue.number($0).integerValue }
        default: return nil
        }
    }
    /// The number as an exact UInt64 (a seed), if it is one: as `integerValue`, up to 2^64 - 1.
    public var uint64Value: UInt64? {
        if case .numberText(let text) = self, let n = UInt64(text) { return n }
        return integerValue.flatMap { UInt64(exactly: $0) }
    }
    /// The number, if this is one (a kept text as the nearest Double).
    public var numberValue: Double? {
        switch self {
        case .number(let x): return x
        case .numberText(let text): return Double(text)
        default: return nil
        }
    }
    /// The number as a Float, if a Float can hold it: it must not round to infinity, nor a
    /// non-zero number to zero. It is read from digits, as if from the JSON text: a kept text
    /// directly, a Double from its shortest digits, which are the text's whenever that has at
    /// most 15 significant digits (every Float's shortest digits among them). Rounding the Double
    /// instead would round twice, and for some texts differently (7.038531e-26 for one).
    public var floatValue: Float? {
        let f: Float?
        switch self {
        case .number(let x): f = Float(x.description)
        case .numberText(let text): f = Float(text)
        default: return nil
        }
        guard let f, f.isFinite, f != 0 || numberValue == 0 else { return nil }
        return f
    }
    /// The string, if this is one.
    public var stringValue: String? { if case .string(let s) = self { return s }; return nil }
    /// The boolean, if this is one.
    public var boolValue: Bool? { if case .bool(let b) = self { return b }; return nil }
    /// The elements, if this is an array.
    public var arrayValue: [JSONValue]? { if case .array(let a) = self { return a }; return nil }
    /// The members, if this is an object.
    public var objectValue: JSONObject? { if case .object(let o) = self { return o }; return nil }
}

/// A JSON object whose members keep their order; keys are unique.
public struct JSONObject: Equatable, Sendable {
    /// The members in order.
    public private(set) var members: [(key: String, value: JSONValue)] = []

    /// An empty object.
    public init() {}
    /// An object from ordered members; a repeated key keeps its last value.
    public init(_ members: [(String, JSONValue)]) { for (k, v) in members { self[k] = v } }

    /// The keys in order.
    public var keys: [String] { members.map(\.key) }
    /// Number of members.
    public var count: Int { members.count }

    /// The value for a key; setting nil removes the key, setting a new key appends it.
    public subscript(key: String) -> JSONValue? {
        get { members.first(where: { $0.key == key })?.value }
        set {
            let index = members.firstIndex(where: { $0.key == key })
            switch (index, newValue) {
            case (let i?, let v?): members[i].value = v
            case (let i?, nil): members.remove(at: i)
            case (nil, let v?): members.append((key, v))
            case (nil, nil): break
            }
        }
    }

    public static func == (a: JSONObject, b: JSONObject) -> Bool {
        a.members.count == b.members.count
            && zip(a.members, b.members).allSatisfy { $0.key == $1.key && $0.value == $1.value }
    }
}

// MARK: - Errors

/// A JSON syntax error: where (1-based line and column, 0-based byte offset) and what was expected.
public struct JSONParseError: Error, Equatable, CustomStringConvertible {
    public var offset: Int
    public var line: Int
    public var column: Int
    public var message: String
    public var description: String { "line \(line), column \(column): \(message)" }
}

// MARK: - Parsing

extension JSONValue {
    /// Parses one JSON document (RFC 8259) with nothing but whitespace after it.
    public static func parse(_ text: String) throws(JSONParseError) -> JSONValue {
        var parser = JSONParser(bytes: Array(text.utf8))
        parser.skipWhitespace()
        let value = try parser.parseValue(depth: 0)
        parser.skipWhitespace()
        if parser.index < parser.bytes.count {
            throw parser.error("expected end of input after the JSON value")
        }
        return value
    }
}

private struct JSONParser {
    let bytes: [UInt8]
    var index = 0
    static let maxDepth = 256

    init(bytes: [UInt8]) { self.bytes = bytes }

    func error(_ message: String, at offset: Int? = nil) -> JSONParseError {
        let at = min(offset ?? index, bytes.count)
        var line = 1, column = 1
        for b in bytes[..<at] {
            if b == UInt8(ascii: "\n") { line += 1; column = 1 }
            else if b & 0xC0 != 0x80 { column += 1 }  // count characters, not UTF-8 bytes
        }
        return JSONParseError(offset: at, line: line, column: column, message: message)
    }

    /// "'x'" for the byte at the cursor, or "end of input".
    var found: String {
        guard index < bytes.count else { return "end of input" }
        let b = bytes[index]
        if b >= 0x20 && b < 0x7F { return "'\(Character(Unicode.Scalar(b)))'" }
        return b < 0x20 ? "control character 0x\(String(b, radix: 16))" : "a non-ASCII character"
    }

    mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x09, 0x0A, 0x0D: index += 1
            default: return
            }
        }
    }

    mutating func parseValue(depth: Int) throws(JSONParseError) -> JSONValue {
        guard depth < Self.maxDepth else { throw error("nesting deeper than \(Self.maxDepth) levels") }
        guard index < bytes.count else { throw error("expected a JSON value, found end of input") }
        switch bytes[index] {
        case UInt8(ascii: "{"): return try parseObject(depth: depth)
        case UInt8(ascii: "["): return try parseArray(depth: depth)
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try parseNumber()
        default: throw error("expected a JSON value, found \(found)")
        }
    }

    mutating func literal(_ word: String) throws(JSONParseError) {
        let start = index
        for b in word.utf8 {
            guard index < bytes.count, bytes[index] == b else {
                throw error("expected '\(word)'", at: start)
            }
            index += 1
        }
    }

    mutating func parseObject(depth: Int) throws(JSONParseError) -> JSONValue {
        index += 1  // {
        var object = JSONObject()
        skipWhitespace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "}") { index += 1; return .object(object) }
        while true {
            skipWhitespace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else {
                throw error("expected a string key in object, found \(found)")
            }
            let keyStart = index
            let key = try parseString()
            if object[key] != nil { throw error("duplicate object key \"\(key)\"", at: keyStart) }
            skipWhitespace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else {
                throw error("expected ':' after object key, found \(found)")
            }
            index += 1
            skipWhitespace()
            object[key] = try parseValue(depth: depth + 1)
            skipWhitespace()
            guard index < bytes.count else { throw error("expected ',' or '}' in object, found end of input") }
            if bytes[index] == UInt8(ascii: ",") { index += 1; continue }
            if bytes[index] == UInt8(ascii: "}") { index += 1; return .object(object) }
            throw error("expected ',' or '}' in object, found \(found)")
        }
    }

    mutating func parseArray(depth: Int) throws(JSONParseError) -> JSONValue {
        index += 1  // [
        var elements: [JSONValue] = []
        skipWhitespace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "]") { index += 1; return .array(elements) }
        while true {
            skipWhitespace()
            elements.append(try parseValue(depth: depth + 1))
            skipWhitespace()
            guard index < bytes.count else { throw error("expected ',' or ']' in array, found end of input") }
            if bytes[index] == UInt8(ascii: ",") { index += 1; continue }
            if bytes[index] == UInt8(ascii: "]") { index += 1; return .array(elements) }
            throw error("expected ',' or ']' in array, found \(found)")
        }
    }

    /// A number: a Double, or its text for an integer of magnitude 2^53 or more (a Double
    /// may round those).
    mutating func parseNumber() throws(JSONParseError) -> JSONValue {
        let start = index
        var integral = true
        func digits(_ p: inout JSONParser) -> Int {
            var count = 0
            while p.index < p.bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(p.bytes[p.index]) {
                p.index += 1; count += 1
            }
            return count
        }
        if bytes[index] == UInt8(ascii: "-") { index += 1 }
        if index < bytes.count, bytes[index] == UInt8(ascii: "0") {
            index += 1
            if index < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) {
                throw error("leading zeros are not allowed in numbers")
            }
        } else if digits(&self) == 0 {
            throw error("expected a digit in number, found \(found)")
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            index += 1
            integral = false
            if digits(&self) == 0 { throw error("expected a digit after '.', found \(found)") }
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
            index += 1
            integral = false
            if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") {
                index += 1
            }
            if digits(&self) == 0 { throw error("expected a digit in exponent, found \(found)") }
        }
        let text = String(decoding: bytes[start..<index], as: UTF8.self)
        guard let value = Double(text), value.isFinite else {
            throw error("number \(text) is out of range", at: start)
        }
        return integral && abs(value) >= 9_007_199_254_740_992 ? .numberText(text) : .number(value)
    }

    mutating func parseString() throws(JSONParseError) -> String {
        index += 1  // opening quote
        var out: [UInt8] = []
        while true {
            guard index < bytes.count else { throw error("unterminated string: expected '\"'") }
            let b = bytes[index]
            if b == UInt8(ascii: "\"") { index += 1; return String(decoding: out, as: UTF8.self) }
            if b < 0x20 { throw error("control character 0x\(String(b, radix: 16)) in string: escape it") }
            if b != UInt8(ascii: "\\") { out.append(b); index += 1; continue }
            index += 1
            guard index < bytes.count else { throw error("unterminated escape in string") }
            let e = bytes[index]
            index += 1
            switch e {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(e)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = try hex4()
                if (0xD800..<0xDC00).contains(scalar) {  // high surrogate: a low one must follow
                    guard index + 1 < bytes.count, bytes[index] == UInt8(ascii: "\\"),
                          bytes[index + 1] == UInt8(ascii: "u") else {
                        throw error("expected a low surrogate '\\uDC00'...'\\uDFFF' after a high surrogate")
                    }
                    index += 2
                    let low = try hex4()
                    guard (0xDC00..<0xE000).contains(low) else {
                        throw error("expected a low surrogate '\\uDC00'...'\\uDFFF' after a high surrogate")
                    }
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                } else if (0xDC00..<0xE000).contains(scalar) {
                    throw error("unpaired low surrogate in \\u escape")
                }
                out.append(contentsOf: Array(String(Character(Unicode.Scalar(scalar)!)).utf8))
            default:
                let shown = e >= 0x20 && e < 0x7F ? String(Character(Unicode.Scalar(e))) : "?"
                throw error("invalid escape '\\\(shown)' in string", at: index - 2)
            }
        }
    }

    mutating func hex4() throws(JSONParseError) -> UInt32 {
        var value: UInt32 = 0
        for _ in 0..<4 {
            guard index < bytes.count, let d = Self.hexDigit(bytes[index]) else {
                throw error("expected 4 hex digits after '\\u', found \(found)")
            }
            value = value << 4 | d
            index += 1
        }
        return value
    }

    static func hexDigit(_ b: UInt8) -> UInt32? {
        switch b {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return UInt32(b - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return UInt32(b - UInt8(ascii: "a") + 10)
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return UInt32(b - UInt8(ascii: "A") + 10)
        default: return nil
        }
    }
}

// MARK: - Serialising

/// How `serialized` lays out JSON text.
public enum JSONLayout: Sendable {
    /// No whitespace: `{"a":1,"b":[1,2]}`.
    case compact
    /// Two-space indent, `"a": 1`, arrays of scalars on one line (`[1, 2]`): configs read better.
    case pretty
    /// Two-space indent, `"a" : 1`, every member and element on its own line, an empty object
    /// or array as `{`, an empty line, `}`: the layout of checkpoint headers (which Foundation's
    /// JSONEncoder wrote with `.prettyPrinted` before this writer did; the bytes must not change).
    case expanded
}

extension JSONValue {
    /// An integer, exactly: a Double below 10^15 in magnitude (which `serialized` prints as
    /// its digits), its digits from there on.
    public init<T: BinaryInteger>(integer x: T) {
        if x.magnitude < 1_000_000_000_000_000 { self = .number(Double(x)) } else { self = .numberText(String(x)) }
    }

    /// A Float or Double written with its own shortest round-trip digits, as `description`
    /// prints them but without a trailing ".0": "0.01", "1e-08", "-0", and for a Float "1e+08"
    /// (a Double's digits would differ). Non-finite values are null.
    public init<F: BinaryFloatingPoint & CustomStringConvertible>(shortest x: F) {
        guard x.isFinite else { self = .null; return }
        let text = x.description
        self = .numberText(text.hasSuffix(".0") ? String(text.dropLast(2)) : text)
    }

    /// JSON text: compact (`{"a":1}`) or pretty (two-space indent, `"a": 1`).
    /// Integral numbers print without a fraction; non-finite numbers print as null.
    public func serialized(pretty: Bool = false) -> String {
        serialized(pretty ? .pretty : .compact)
    }

    /// JSON text in `layout`; `sortedKeys` writes object members in the byte order of their
    /// keys' UTF-8 instead of their own order.
    public func serialized(_ layout: JSONLayout, sortedKeys: Bool = false) -> String {
        var out = ""
        write(to: &out, layout, sortedKeys: sortedKeys, indent: 0)
        return out
    }

    private func write(to out: inout String, _ layout: JSONLayout, sortedKeys: Bool, indent: Int) {
        func newline(_ level: Int) -> String { "\n" + String(repeating: "  ", count: level) }
        switch self {
        case .null: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .number(let x): out += JSONValue.format(x)
        case .numberText(let text): out += text
        case .string(let s): JSONValue.writeString(s, to: &out)
        case .array(let elements):
            if elements.isEmpty { out += layout == .expanded ? "[\n" + newline(indent) + "]" : "[]"; return }
            let inline = layout == .compact
                || layout == .pretty && elements.allSatisfy { $0.arrayValue == nil && $0.objectValue == nil }
            out += "["
            for (i, e) in elements.enumerated() {
                if i > 0 { out += layout == .pretty && inline ? ", " : "," }
                if !inline { out += newline(indent + 1) }
                e.write(to: &out, layout, sortedKeys: sortedKeys, indent: indent + 1)
            }
            if !inline { out += newline(indent) }
            out += "]"
        case .object(let object):
            if object.count == 0 { out += layout == .expanded ? "{\n" + newline(indent) + "}" : "{}"; return }
            let members = sortedKeys
                ? object.members.sorted { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) } : object.members
            out += "{"
            for (i, member) in members.enumerated() {
                if i > 0 { out += "," }
                if layout != .compact { out += newline(indent + 1) }
                JSONValue.writeString(member.key, to: &out)
                out += layout == .compact ? ":" : layout == .pretty ? ": " : " : "
                member.value.write(to: &out, layout, sortedKeys: sortedKeys, indent: indent + 1)
            }
            if layout != .compact { out += newline(indent) }
            out += "}"
        }
    }

    static func format(_ x: Double) -> String {
        guard x.isFinite else { return "null" }
        if x.rounded(.towardZero) == x, abs(x) < 1e15 { return String(Int64(x)) }
        return x.description  // shortest round-trip form, e.g. 0.1 or 1e-05: valid JSON
    }

    /// A JSON string: `"` and `\\` escaped, control characters as \b \f \n \r \t or \u00XX,
    /// everything else (`/` and non-ASCII included) as it is.
    static func writeString(_ s: String, to out: inout String) {
        out += "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\u{8}": out += "\\b"
            case "\u{C}": out += "\\f"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            // C0 controls must be escaped. DEL, C1 controls and U+2028/2029 stay raw, as
            // Foundation's JSONEncoder wrote them: checkpoint headers and task configs keep
            // their bytes (CheckpointHeaderBytesTests); tables escape them for the terminal.
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        out += "\""
    }
}

extension JSONValue: CustomStringConvertible {
    /// Compact JSON text.
    public var description: String { serialized() }
}
