// MARK: - Reading JSON objects member by member
//
// Checkpoint headers and training configs are JSON objects read with MAMLSchema's
// JSONValue. A problem names the key path and what was expected:
//   missing key "optimizer.kind"
//   training.innerSteps is "5", expected an integer
//   optimizer.kind is "nesterov", expected "adam" or "sgd"
// Members this build does not know are ignored (new optional keys need no format bump).

/// A problem reading a JSON object: which key, what was found, what was expected.
struct JSONFieldError: Error, Equatable, CustomStringConvertible {
    var message: String
    init(_ message: String) { self.message = message }
    var description: String { message }
}

/// The members of one JSON object; `path` ("optimizer.") prefixes its keys in messages.
struct JSONFields {
    let object: JSONObject
    let path: String

    /// `value` as an object; `name` is its key path ("" for the whole document).
    init(_ value: JSONValue, name: String = "") throws(JSONFieldError) {
        guard case .object(let object) = value else {
            throw JSONFieldError("\(name.isEmpty ? "top level" : name) is \(Self.show(value)), expected an object")
        }
        self.object = object
        path = name.isEmpty ? "" : name + "."
    }

    /// The member `key`, converted; a missing key is an error unless there is a `fallback`,
    /// which also stands in for null (the training config's defaults).
    func read<T>(_ key: String, _ expected: String, default fallback: T? = nil,
                 _ convert: (JSONValue) -> T?) throws(JSONFieldError) -> T {
        let value = object[key]
        if let fallback, value == nil || value == .null { return fallback }
        guard let value else { throw JSONFieldError("missing key \"\(path)\(key)\"") }
        guard let result = convert(value) else {
            throw JSONFieldError("\(path)\(key) is \(Self.show(value)), expected \(expected)")
        }
        return result
    }

    func int(_ key: String, default fallback: Int? = nil) throws(JSONFieldError) -> Int {
        try read(key, "an integer", default: fallback) { $0.integerValue }
    }
    func uint64(_ key: String, default fallback: UInt64? = nil) throws(JSONFieldError) -> UInt64 {
        try read(key, "an integer in 0...\(UInt64.max)", default: fallback) { $0.uint64Value }
    }
    func double(_ key: String, default fallback: Double? = nil) throws(JSONFieldError) -> Double {
        try read(key, "a number", default: fallback) { $0.numberValue }
    }
    func float(_ key: String, default fallback: Float? = nil) throws(JSONFieldError) -> Float {
        try read(key, "a number a Float can hold (0, or 1e-45 to 3.4028235e+38 in magnitude)",
                 default: fallback) { $0.floatValue }
    }
    func string(_ key: String) throws(JSONFieldError) -> String {
        try read(key, "a string") { $0.stringValue }
    }
    /// One of an enumeration's raw values.
    func choice<E: RawRepresentable & CaseIterable>(_ key: String, default fallback: E? = nil) throws(JSONFieldError) -> E
    where E.RawValue == String {
        let names = E.allCases.map { "\"\($0.rawValue)\"" }
        let expected = names.count == 2 ? names.joined(separator: " or ") : "one of " + names.joined(separator: ", ")
        return try read(key, expected, default: fallback) { $0.stringValue.flatMap(E.init(rawValue:)) }
    }
    /// The member `key`, which must be an object.
    func fields(_ key: String) throws(JSONFieldError) -> JSONFields {
        try JSONFields(read(key, "an object") { $0 }, name: path + key)
    }

    /// A value for a message: a scalar as JSON (shortened past 40 characters), else its kind.
    static func show(_ value: JSONValue) -> String {
        switch value {
        case .array, .object: return value.kindDescription
        default:
            let text = value.serialized()
            return text.count > 40 ? String(text.prefix(37)) + "..." : text
        }
    }
}
