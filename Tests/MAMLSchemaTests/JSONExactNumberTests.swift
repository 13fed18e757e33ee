// MARK: - Exact numbers and the expanded layout, against Foundation as the reference
//
// MAMLSchema's JSON replaced Foundation's JSONEncoder/JSONDecoder in the core, the task
// families and the host. These tests hold the pieces that had to match: integers beyond
// 2^53 kept exactly, Float reading, a Float's and a Double's shortest digits, string
// escaping, sorted keys and the `.expanded` layout (JSONEncoder's `.prettyPrinted`).

import Foundation
import MAMLSchema
import Testing

/// A JSON tree for JSONEncoder: numbers as the Swift values the writer was given.
private indirect enum Mirror: Encodable {
    case null, bool(Bool), double(Double), float(Float), int(Int64), uint(UInt64), string(String)
    case array([Mirror]), object([(String, Mirror)])

    struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    func encode(to encoder: any Encoder) throws {
        switch self {
        case .array(let elements):
            var c = encoder.unkeyedContainer()
            for e in elements { try c.encode(e) }
        case .object(let members):
            var c = encoder.container(keyedBy: Key.self)
            for (k, v) in members { try c.encode(v, forKey: Key(stringValue: k)) }
        default:
            var c = encoder.singleValueContainer()
            switch self {
            case .null: try c.encodeNil()
            case .bool(let b): try c.encode(b)
            case .double(let x): try c.encode(x)
            case .float(let x): try c.encode(x)
            case .int(let x): try c.encode(x)
            case .uint(let x): try c.encode(x)
            case .string(let s): try c.encode(s)
            default: break
            }
        }
    }
}

private extension SplitMix64 {
    mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
}

/// A random tree as a JSONValue and as the same values for JSONEncoder.
private func tree(_ rng: inout SplitMix64, depth: Int) -> (JSONValue, Mirror) {
    let strings = ["", "a", "/", "\\", "\"", "\u{0}", "\u{8}", "\u{C}", "\t", "\n", "\r", "\u{1F}", "\u{7F}", "é",
                   "😀", "\u{2028}", "key", "Key", "_", "a10", "a9", "B", "z"]
    func string() -> String { (0..<rng.below(4)).map { _ in strings[rng.below(strings.count)] }.joined() }
    switch depth > 3 ? rng.below(7) : rng.below(9) {
    case 0: return (.null, .null)
    case 1: let b = rng.below(2) == 0; return (.bool(b), .bool(b))
    case 2:
        var x: Double
        repeat { x = Double(bitPattern: rng.next()) } while !x.isFinite
        if rng.below(2) == 0 { x = [0, -0.0, 1e-08, 0.1, 1e15, 1e16, .leastNonzeroMagnitude, 1e300, 2][rng.below(9)] }
        return (JSONValue(shortest: x), .double(x))
    case 3:
        var x: Float
        repeat { x = Float(bitPattern: UInt32(truncatingIfNeeded: rng.next())) } while !x.isFinite
        if rng.below(2) == 0 { x = [0, -0.0, 0.01, 1e8, 16777216, .leastNonzeroMagnitude][rng.below(6)] }
        return (JSONValue(shortest: x), .float(x))
    case 4: let x = Int64(bitPattern: rng.next()) >> Int64(rng.below(64)); return (JSONValue(integer: x), .int(x))
    case 5: let x = rng.next() >> UInt64(rng.below(64)); return (JSONValue(integer: x), .uint(x))
    case 6: let s = string(); return (.string(s), .string(s))
    case 7:
        let elements = (0..<rng.below(4)).map { _ in tree(&rng, depth: depth + 1) }
        return (.array(elements.map(\.0)), .array(elements.map(\.1)))
    default:
        var object = JSONObject(), members: [(String, Mirror)] = []
        for _ in 0..<rng.below(5) {
            let key = string(), (value, mirror) = tree(&rng, depth: depth + 1)
            guard object[key] == nil else { continue }
            object[key] = value; members.append((key, mirror))
        }
        return (.object(object), .object(members))
    }
}

@Suite struct JSONExactNumberTests {
    @Test func integersFrom2To53UpKeepTheirDigits() throws {
        #expect(try JSONValue.parse("9007199254740991") == .number(9_007_199_254_740_991))
        #expect(try JSONValue.parse("9007199254740993") == .numberText("9007199254740993"))
        #expect(try JSONValue.parse("18446744073709551615").uint64Value == .max)
        #expect(try JSONValue.parse("-9223372036854775808").integerValue == .min)
        #expect(try JSONValue.parse("9223372036854775808").integerValue == nil)
        #expect(try JSONValue.parse("18446744073709551616").uint64Value == nil)
        #expect(try JSONValue.parse("100000000000000000000000").numberValue == 1e23)
        #expect(try JSONValue.parse("1e17").integerValue == nil)   // not an integer literal: a Double
        #expect(try JSONValue.parse("5.0").uint64Value == 5 && JSONValue.number(-1).uint64Value == nil)
        let text = #"{"seed":18446744073709551615,"t":-1733338123456789012,"x":[9007199254740993]}"#
        #expect(try JSONValue.parse(text).serialized() == text)
        #expect(JSONValue(integer: UInt64.max) == .numberText("18446744073709551615"))
        #expect(JSONValue(integer: -5) == .number(-5) && JSONValue(integer: 999_999_999_999_999) == .number(999_999_999_999_999))
        #expect(JSONValue(integer: 1_000_000_000_000_000).serialized() == "1000000000000000")
        #expect(JSONValue.numberText("1e+08").kindDescription == "a number")
    }

    @Test func shortestDigitsAreTheValuesOwn() {
        #expect(JSONValue(shortest: Float(0.01)).serialized() == "0.01")
        #expect(JSONValue(shortest: Float(1e8)).serialized() == "1e+08")
        #expect(JSONValue(shortest: 1e8).serialized() == "100000000")
        #expect(JSONValue(shortest: 1e-08).serialized() == "1e-08")
        #expect(JSONValue(shortest: -0.0).serialized() == "-0")
        #expect(JSONValue(shortest: Double.nan) == .null && JSONValue(shortest: Float.infinity) == .null)
    }

    /// floatValue accepts and refuses what JSONDecoder's Float did, and reads the same Float:
    /// from the digits (rounding the Double would round twice: 7.038531e-26, a Float's own shortest
    /// digits, would read as the next Float). Texts with more than 15 significant digits may still
    /// round differently when they lie within 2^-53 of a halfway point between two Floats.
    @Test func floatValueRefusesWhatJSONDecoderRefused() throws {
        struct F: Decodable { var f: Float }
        for text in ["0", "-0", "-0.0", "0.01", "1", "16777217", "3.4028235e38", "3.40282356e38", "3.4028236e38",
                     "1e39", "-1e39", "1e-45", "7.1e-46", "7e-46", "1e-50", "-1e-50", "1e-40", "1.1754942e-38",
                     "123456789012345678901234567890", "0.1", "3.1415925", "1e308", "2.5e-45", "7.038531e-26",
                     "1.0000000596046447753906250001"] {
            let foundation = try? JSONDecoder().decode(F.self, from: Data(#"{"f": \#(text)}"#.utf8)).f
            let ours = try JSONValue.parse(text).floatValue
            #expect(ours?.bitPattern == foundation?.bitPattern, "\(text): \(String(describing: ours)) vs \(String(describing: foundation))")
        }
    }

    /// Random trees: compact and expanded text, sorted keys, exactly as JSONEncoder writes them.
    @Test func layoutsMatchJSONEncoder() throws {
        var rng = SplitMix64(seed: 21)
        let pretty = JSONEncoder(), compact = JSONEncoder()
        pretty.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        compact.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        for _ in 0..<3000 {
            let (value, mirror) = tree(&rng, depth: 0)
            guard case .object = value else { continue }   // JSONEncoder's top level here: objects
            let expanded = String(decoding: try pretty.encode(mirror), as: UTF8.self)
            #expect(value.serialized(.expanded, sortedKeys: true) == expanded)
            #expect(value.serialized(.compact, sortedKeys: true) == String(decoding: try compact.encode(mirror), as: UTF8.self))
            #expect(try JSONValue.parse(expanded) == JSONValue.parse(value.serialized(.compact, sortedKeys: true)))
        }
        #expect(JSONValue.object(JSONObject()).serialized(.expanded) == "{\n\n}")
        #expect(JSONValue.object(JSONObject([("a", .array([]))])).serialized(.expanded) == "{\n  \"a\" : [\n\n  ]\n}")
        #expect(JSONValue.string("\u{8}\u{C}/").serialized() == #""\b\f/""#)
    }
}
