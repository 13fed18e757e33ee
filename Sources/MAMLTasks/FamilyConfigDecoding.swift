// MARK: - Decoding task family configs strictly
//
// Image family configs are small JSON objects. A misspelt key ("way": 5) must
// not silently fall back to a default, and a wrong type or value must name the
// key and what is expected: these helpers throw DecodingError.dataCorrupted with
// such a message, which makeTaskFamily shows as it is.

/// A coding key for any name (used to list the keys a config object has).
import MAMLCore
struct AnyCodingKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { return nil }
}

/// Decodes one family config object: every key must be known, every value of the right type and range.
struct FamilyConfigReader {
    let family: String
    let container: KeyedDecodingContainer<AnyCodingKey>

    /// Reads the config object and rejects keys not in `known`.
    init(_ decoder: any Decoder, family: String, known: [String]) throws {
        self.family = family
        container = try decoder.container(keyedBy: AnyCodingKey.self)
        for key in container.allKeys where !known.contains(key.stringValue) {
            throw error(key.stringValue, "is unknown (known keys: \(known.joined(separator: ", ")))")
        }
    }

    func error(_ key: String, _ message: String) -> DecodingError {
        .dataCorrupted(DecodingError.Context(codingPath: [AnyCodingKey(stringValue: key)],
                                             debugDescription: "\(family) \"\(key)\" \(message)"))
    }

    /// The value of `key` if present, as `T`; a value of another type is an error naming `expected`.
    func value<T: Decodable>(_ type: T.Type, _ key: String, expected: String) throws -> T? {
        let k = AnyCodingKey(stringValue: key)
        guard container.contains(k) else { return nil }
        do { return try container.decode(T.self, forKey: k) } catch {
            throw self.error(key, "must be \(expected)")
        }
    }

    /// An integer in `range` (or `fallback` if absent).
    func int(_ key: String, default fallback: Int, in range: ClosedRange<Int>) throws -> Int {
        let v = try value(Int.self, key, expected: "an integer") ?? fallback
        guard range.contains(v) else {
            throw error(key, "= \(v), expected \(range.lowerBound)...\(range.upperBound)")
        }
        return v
    }
}
