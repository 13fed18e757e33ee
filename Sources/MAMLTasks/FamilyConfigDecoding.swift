// MARK: - Reading task family configs strictly
//
// Family configs are small JSON objects (MAMLSchema's JSONValue). A misspelt key
// ("way": 5) must not silently fall back to a default, and a wrong type or value
// must name the key and what is expected: these helpers throw a FamilyConfigError
// with such a message, which makeTaskFamily shows as it is.

import MAMLCore

/// A problem in a family config; the message names the family and the key.
struct FamilyConfigError: Error {
    var message: String
}

/// Reads one family config object: every key must be known, every value of the right type and range.
struct FamilyConfigReader {
    let family: String
    let object: JSONObject

    /// Reads the config object and rejects keys not in `known` (nil: the caller checks keys).
    init(_ object: JSONObject, family: String, known: [String]?) throws(FamilyConfigError) {
        self.family = family
        self.object = object
        if let known, let key = object.keys.first(where: { !known.contains($0) }) {
            throw error(key, "is unknown (known keys: \(known.joined(separator: ", ")))")
        }
    }

    func error(_ key: String, _ message: String) -> FamilyConfigError {
        FamilyConfigError(message: "\(family) \"\(key)\" \(message)")
    }

    /// The value of `key` if present, converted; a value `convert` refuses (null included) is an
    /// error naming `expected`.
    func value<T>(_ key: String, expected: String, _ convert: (JSONValue) -> T?) throws(FamilyConfigError) -> T? {
        guard let v = object[key] else { return nil }
        guard let result = convert(v) else { throw error(key, "must be \(expected)") }
        return result
    }

    /// An integer in `range` (or `fallback` if absent).
    func int(_ key: String, default fallback: Int, in range: ClosedRange<Int>) throws(FamilyConfigError) -> Int {
        let v = try value(key, expected: "an integer") { $0.integerValue } ?? fallback
        guard range.contains(v) else {
            throw error(key, "= \(v), expected \(range.lowerBound)...\(range.upperBound)")
        }
        return v
    }

    /// [low, high] with low <= high, both finite (or `fallback` if absent).
    func range(_ key: String, default fallback: ClosedRange<Float>) throws(FamilyConfigError) -> ClosedRange<Float> {
        guard let pair = try value(key, expected: "[low, high]", Self.floats) else { return fallback }
        guard pair.count == 2, pair[0].isFinite, pair[1].isFinite, pair[0] <= pair[1] else {
            throw error(key, "must be [low, high] with low <= high, got \(pair)")
        }
        return pair[0]...pair[1]
    }

    /// An array of numbers each a Float can hold.
    static func floats(_ value: JSONValue) -> [Float]? {
        guard let elements = value.arrayValue else { return nil }
        var out: [Float] = []
        for e in elements {
            guard let x = e.floatValue else { return nil }
            out.append(x)
        }
        return out
    }
}
