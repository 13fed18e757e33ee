import Testing
@testable import MAMLHost

// MARK: - Op signatures and argument text: parsing, good and bad

@Suite("Op signatures")
struct OpSignatureTests {
    static let good: [(String, OpSignature)] = [
        ("u64(u64)", OpSignature(result: .u64, parameters: [.u64])),
        ("void()", OpSignature(result: .void, parameters: [])),
        (" i64 ( ) ", OpSignature(result: .i64, parameters: [])),
        ("f64(i32, i64 ,u64,  f32,f64,str)", OpSignature(result: .f64, parameters: [.i32, .i64, .u64, .f32, .f64, .str])),
        ("ptr(ptr)", OpSignature(result: .ptr, parameters: [.ptr])),
        ("str(str)", OpSignature(result: .str, parameters: [.str])),
        ("f32 (f32)", OpSignature(result: .f32, parameters: [.f32])),
        ("i32(" + Array(repeating: "i32", count: 16).joined(separator: ",") + ")",
         OpSignature(result: .i32, parameters: Array(repeating: .i32, count: 16))),
    ]

    @Test("good signatures parse; the description is the canonical spelling", arguments: good)
    func goodSignatures(text: String, expected: OpSignature) throws {
        let parsed = try OpSignature(parsing: text)
        #expect(parsed == expected)
        #expect(try OpSignature(parsing: parsed.description) == parsed)
        #expect(!parsed.description.contains(" "))
    }

    /// Each bad signature and its exact message: the signature is quoted, the bad token named.
    static let bad: [(String, String)] = [
        ("", #"signature is empty (expected RET(ARG,...), e.g. "u64(u64)")"#),
        ("u65(u64)", #"signature "u65(u64)": unknown type 'u65' at 1 (expected void, i32, i64, u64, f32, f64, ptr or str)"#),
        ("u64(u65)", #"signature "u64(u65)": unknown type 'u65' at 5 (expected void, i32, i64, u64, f32, f64, ptr or str)"#),
        ("U64(u64)", #"signature "U64(u64)": unknown type 'U64' at 1 (expected void, i32, i64, u64, f32, f64, ptr or str)"#),
        ("u64", #"signature "u64": missing '(' after the result type"#),
        ("u64(", #"signature "u64(": ends where an argument type was expected"#),
        ("u64(u64", #"signature "u64(u64": missing ')'"#),
        ("u64(u64,)", #"signature "u64(u64,)": expected an argument type at 9, found ')'"#),
        ("u64(,u64)", #"signature "u64(,u64)": expected an argument type at 5, found ','"#),
        ("(u64)", #"signature "(u64)": expected the result type at 1, found '('"#),
        ("u64 u64(u64)", #"signature "u64 u64(u64)": expected '(' at 5, found 'u64'"#),
        ("u64(u64 u64)", #"signature "u64(u64 u64)": expected ',' or ')' at 9, found 'u64'"#),
        ("u64(void)", #"signature "u64(void)": 'void' at 5 is not an argument type (write "u64()" for no arguments)"#),
        ("u64(u64) x", #"signature "u64(u64) x": unexpected 'x' at 10 after ')'"#),
        ("u64(u64)(", #"signature "u64(u64)(": unexpected '(' at 9 after ')'"#),
        ("u64(u64\tu64)", #"signature "u64(u64\tu64)": character U+9 at 8 is not allowed (only type names, '(', ',', ')' and spaces)"#),
        ("ptr(const char*)", #"signature "ptr(const char*)": character '*' at 15 is not allowed (only type names, '(', ',', ')' and spaces)"#),
        ("u64(u64;u64)", #"signature "u64(u64;u64)": character ';' at 8 is not allowed (only type names, '(', ',', ')' and spaces)"#),
        ("i32(" + Array(repeating: "i32", count: 17).joined(separator: ",") + ")",
         "17 arguments, more than the 16 allowed"),
    ]

    @Test("bad signatures are refused with a message naming the signature and the token", arguments: bad)
    func badSignatures(text: String, message: String) {
        let error = #expect(throws: HostError.self) { try OpSignature(parsing: text) }
        #expect(error?.message.hasSuffix(message) == true, "\(error?.message ?? "no error")")
    }
}

@Suite("Op argument text")
struct OpValueParsingTests {
    static let good: [(String, OpType, OpValue)] = [
        ("-2147483648", .i32, .i32(.min)), ("2147483647", .i32, .i32(.max)), ("+7", .i32, .i32(7)),
        ("-9223372036854775808", .i64, .i64(.min)), ("9223372036854775807", .i64, .i64(.max)),
        ("0", .u64, .u64(0)), ("18446744073709551615", .u64, .u64(.max)),
        ("1.5", .f32, .f32(1.5)), ("-2e-3", .f32, .f32(-2e-3)), ("0x1p-4", .f32, .f32(0.0625)),
        ("inf", .f32, .f32(.infinity)), ("-inf", .f64, .f64(-.infinity)),
        ("3.141592653589793", .f64, .f64(3.141592653589793)), ("1e308", .f64, .f64(1e308)),
        ("hello world", .str, .str("hello world")), ("", .str, .str("")), ("null", .str, .str("null")),
        ("null", .ptr, .ptr(nil)), ("0", .ptr, .ptr(nil)),
    ]

    @Test("text parses by type", arguments: good)
    func goodText(text: String, type: OpType, expected: OpValue) throws {
        #expect(try OpValue(parsing: text, as: type) == expected)
    }

    @Test("nan parses as a NaN of the type")
    func nan() throws {
        guard case .f32(let f) = try OpValue(parsing: "nan", as: .f32), case .f64(let d) = try OpValue(parsing: "nan", as: .f64)
        else { Issue.record("not floats"); return }
        #expect(f.isNaN && d.isNaN)
    }

    static let bad: [(String, OpType, String)] = [
        ("2147483648", .i32, #""2147483648" is not a valid i32: out of range -2147483648...2147483647"#),
        ("-2147483649", .i32, #""-2147483649" is not a valid i32: out of range -2147483648...2147483647"#),
        ("1.0", .i32, #""1.0" is not a valid i32: expected a decimal integer"#),
        (" 1", .i32, #"" 1" is not a valid i32: expected a decimal integer"#),
        ("0x10", .i64, #""0x10" is not a valid i64: expected a decimal integer"#),
        ("", .i64, #""" is not a valid i64: expected a decimal integer"#),
        ("9223372036854775808", .i64, #""9223372036854775808" is not a valid i64: out of range -9223372036854775808...9223372036854775807"#),
        ("-1", .u64, #""-1" is not a valid u64: u64 cannot be negative"#),
        ("-0", .u64, #""-0" is not a valid u64: u64 cannot be negative"#),
        ("18446744073709551616", .u64, #""18446744073709551616" is not a valid u64: out of range 0...18446744073709551615"#),
        ("abc", .u64, #""abc" is not a valid u64: expected a decimal integer"#),
        ("1e39", .f32, #""1e39" is not a valid f32: out of range (largest finite magnitude is 3.4028235e+38)"#),
        ("1e309", .f64, #""1e309" is not a valid f64: out of range (largest finite magnitude is 1.7976931348623157e+308)"#),
        ("one", .f64, #""one" is not a valid f64: expected a number such as 1.5, -2e-3, inf or nan"#),
        (" 1.5", .f64, #"" 1.5" is not a valid f64: expected a number such as 1.5, -2e-3, inf or nan"#),
        ("", .f32, #""" is not a valid f32: expected a number such as 1.5, -2e-3, inf or nan"#),
        ("0x7fff0000", .ptr, #""0x7fff0000" is not a valid ptr: only null (or 0) can be passed as a pointer from the command line"#),
        ("NULL", .ptr, #""NULL" is not a valid ptr: only null (or 0) can be passed as a pointer from the command line"#),
    ]

    @Test("bad text is refused with what was expected", arguments: bad)
    func badText(text: String, type: OpType, message: String) {
        let error = #expect(throws: HostError.self) { try OpValue(parsing: text, as: type) }
        #expect(error?.message == message)
    }

    @Test("values print in the form they parse from")
    func printing() throws {
        #expect(OpValue.i32(-5).text == "-5" && OpValue.u64(.max).text == "18446744073709551615")
        #expect(OpValue.f32(0.1).text == "0.1" && OpValue.f64(-2.5).text == "-2.5" && OpValue.void.text == "")
        #expect(OpValue.ptr(nil).text == "null" && OpValue.str(nil).text == "null" && OpValue.str("a b").text == "a b")
        #expect(OpValue.ptr(UnsafeMutableRawPointer(bitPattern: 0xdead0)).text == "0xdead0")
        for value in [OpValue.i32(-5), .i64(.min), .u64(.max), .f32(0.1), .f64(1e-300)] {
            #expect(try OpValue(parsing: value.text, as: value.type) == value)
        }
    }
}
