import Testing
@testable import MAMLSchema

// MARK: - JSON parser and serializer

@Suite struct JSONTests {
    @Test func parsesScalarsArraysAndObjectsInOrder() throws {
        let v = try JSONValue.parse(#" { "b": [1, -2.5e1, true, false, null], "a": "x\"\u00e9\ud83d\ude00\n" } "#)
        let o = try #require(v.objectValue)
        #expect(o.keys == ["b", "a"])
        #expect(o["b"] == .array([.number(1), .number(-25), .bool(true), .bool(false), .null]))
        #expect(o["a"] == .string("x\"é😀\n"))
        #expect(try JSONValue.parse("0") == .number(0))
        #expect(try JSONValue.parse("-0.125E+2") == .number(-12.5))
        #expect(try JSONValue.parse("[]") == .array([]))
        #expect(try JSONValue.parse("{}") == .object(JSONObject()))
    }

    @Test func integerValueOnlyForIntegralNumbers() throws {
        #expect(JSONValue.number(3).integerValue == 3)
        #expect(JSONValue.number(3.0).integerValue == 3)
        #expect(JSONValue.number(2.5).integerValue == nil)
        #expect(JSONValue.number(1e300).integerValue == nil)
        #expect(JSONValue.string("3").integerValue == nil)
    }

    /// Each invalid document fails at the expected line and column with the expected message.
    @Test(arguments: [
        ("", 1, 1, "expected a JSON value, found end of input"),
        ("{\"a\" 1}", 1, 6, "expected ':' after object key, found '1'"),
        ("{\"a\": 1,}", 1, 9, "expected a string key in object, found '}'"),
        ("[1 2]", 1, 4, "expected ',' or ']' in array, found '2'"),
        ("[1,\n  tru]", 2, 3, "expected 'true'"),
        ("01", 1, 2, "leading zeros are not allowed in numbers"),
        ("1.", 1, 3, "expected a digit after '.', found end of input"),
        ("-", 1, 2, "expected a digit in number, found end of input"),
        ("\"abc", 1, 5, "unterminated string: expected '\"'"),
        ("\"a\\qb\"", 1, 3, "invalid escape '\\q' in string"),
        ("\"\\u12G4\"", 1, 6, "expected 4 hex digits after '\\u', found 'G'"),
        ("{\"a\":1,\"a\":2}", 1, 8, "duplicate object key \"a\""),
        ("1 2", 1, 3, "expected end of input after the JSON value"),
        ("1e999", 1, 1, "number 1e999 is out of range"),
        ("\"\u{1}\"", 1, 2, "control character 0x1 in string: escape it"),
    ])
    func reportsPositionAndExpectation(text: String, line: Int, column: Int, message: String) {
        do {
            _ = try JSONValue.parse(text)
            Issue.record("parsed invalid JSON \(text)")
        } catch {
            #expect(error.message == message, "for \(text)")
            #expect(error.line == line && error.column == column, "for \(text): \(error)")
        }
    }

    @Test func refusesDeepNesting() {
        let deep = String(repeating: "[", count: 300) + String(repeating: "]", count: 300)
        #expect(throws: JSONParseError.self) { try JSONValue.parse(deep) }
    }

    @Test func serializesCompactAndPrettyAndRoundTrips() throws {
        let text = #"{"input":[1],"hidden":[40,40],"lr":0.001,"name":"a\"b\n","on":true,"none":null,"nested":{"k":[[1],[]]}}"#
        let v = try JSONValue.parse(text)
        #expect(v.serialized() == text)
        let pretty = v.serialized(pretty: true)
        #expect(pretty.contains("\n  \"hidden\": [40, 40],\n"))
        #expect(try JSONValue.parse(pretty) == v)
        #expect(JSONValue.number(1e-5).serialized() == "1e-05")
        #expect(try JSONValue.parse(JSONValue.number(1e-5).serialized()) == .number(1e-5))
        #expect(JSONValue.string("\u{1}").serialized() == "\"\\u0001\"")
        #expect(JSONValue.number(.nan).serialized() == "null")
    }

    @Test func escapesC0ControlsAndReadsEveryControlBack() throws {
        // ESC and the other C0 controls are escaped; DEL, C1 (U+009B) and U+2028 stay raw, byte
        // for byte as JSONEncoder wrote them (checkpoint headers keep their bytes); all read back.
        let raw = "a\u{1B}[31m\u{7F}\u{9B}2J\u{2028}é\u{202E}"
        let text = JSONValue.string(raw).serialized()
        #expect(text == "\"a\\u001b[31m\u{7F}\u{9B}2J\u{2028}é\u{202E}\"")
        #expect(try JSONValue.parse(text) == .string(raw))
    }
}
