import Testing
@testable import MAMLHost

// MARK: - Calling the fixture's ops through libffi: every type, exact results, wrong calls

/// The ops of a fresh fixture linreg instance (4 inputs, 2 outputs).
private func linregOps() throws -> PluginOps {
    try PluginOps(backbone: makeBackbone("linreg", config: #"{"inputs": 4, "outputs": 2}"#))
}

@Suite("Ops calls")
struct OpsCallTests {
    @Test("the table is read in order with names, help and parsed signatures")
    func table() throws {
        let ops = try linregOps()
        #expect(ops.operations.map(\.name) == ["flops", "add_i32", "neg_i32", "sub_i64", "mul_u64", "half_f32", "fma_f64",
                                               "mixed", "weigh8", "weigh10", "greet", "maybe", "length", "self",
                                               "is_null", "bump", "set", "get"])
        let get = try #require(ops.operation(named: "get"))
        #expect(get.signatureText == " i64 ( ) " && get.signature == OpSignature(result: .i64, parameters: []))
        #expect(get.help == "the counter")
        #expect(ops.operation(named: "mixed")?.signature.description == "f64(i32,i64,u64,f32,f64,str)")
    }

    /// Typed calls and their exact results (chosen so a wrong register, widening or order shows).
    static let calls: [(String, [OpValue], OpValue)] = [
        ("flops", [.u64(5)], .u64(80)),                                   // 2 * 5 * 2 * 4
        ("add_i32", [.i32(-3), .i32(1)], .i32(-2)),
        ("add_i32", [.i32(.max), .i32(1)], .i32(.min)),
        ("neg_i32", [.i32(5)], .i32(-5)),
        ("sub_i64", [.i64(-9_223_372_036_854_775_807), .i64(1)], .i64(.min)),
        ("sub_i64", [.i64(1 << 40), .i64(-(1 << 40))], .i64(1 << 41)),
        ("mul_u64", [.u64(1 << 32), .u64((1 << 32) - 1)], .u64(18_446_744_069_414_584_320)),
        ("half_f32", [.f32(3)], .f32(1.5)),
        ("half_f32", [.f32(-.infinity)], .f32(-.infinity)),
        ("fma_f64", [.f64(1.5), .f64(2), .f64(0.25)], .f64(3.25)),
        ("mixed", [.i32(-1), .i64(1 << 40), .u64(3), .f32(0.5), .f64(0.25), .str("abcd")], .f64(1_099_511_627_782.75)),
        ("weigh8", (0..<8).map { .i64(Int64(pow10($0))) }, .i64(87_654_321)),
        ("weigh10", (0..<10).map { .f64(Double(pow10($0))) }, .f64(10_987_654_321)),
        ("greet", [.str("world")], .str("hello, world")),
        ("maybe", [.i32(1)], .str("yes")),
        ("maybe", [.i32(0)], .str(nil)),
        ("length", [.str("héllo")], .u64(6)),                              // UTF-8 bytes
        ("length", [.str(nil)], .u64(.max)),                              // NULL reaches the plugin as NULL
        ("is_null", [.ptr(nil)], .i32(1)),
        ("is_null", [.ptr(UnsafeMutableRawPointer(bitPattern: 0x1000))], .i32(0)),
        ("set", [.i64(-7)], .void),
    ]

    @Test("typed calls of every type return exact results", arguments: calls)
    func typedCalls(name: String, arguments: [OpValue], expected: OpValue) throws {
        #expect(try linregOps().call(name, arguments) == expected)
    }

    @Test("a pointer result: self returns the instance; void ops act on it")
    func pointerAndVoid() throws {
        let ops = try linregOps()
        #expect(try ops.call("self", []) == .ptr(UnsafeMutableRawPointer(ops.backbone.instance)))
        #expect(try ops.call("set", [.i64(41)]) == .void)
        #expect(try ops.call("bump", []) == .void)
        #expect(try ops.call("get", []) == .i64(42))
        // Another instance has its own counter.
        #expect(try linregOps().call("get", []) == .i64(0))
    }

    @Test("a str result is copied: the next call does not change it")
    func stringResultIsCopied() throws {
        let ops = try linregOps()
        let first = try ops.call("greet", [.str("a")])
        _ = try ops.call("greet", [.str("bbbbbbbb")])
        #expect(first == .str("hello, a"))
    }

    @Test("calls with arguments parsed from text")
    func parsedCalls() throws {
        let ops = try linregOps()
        #expect(try ops.call("mixed", parsing: ["-1", "1099511627776", "3", "0.5", "0.25", "abcd"]) == .f64(1_099_511_627_782.75))
        #expect(try ops.call("flops", parsing: ["10"]).text == "160")
        #expect(try ops.call("half_f32", parsing: ["0x1p-4"]) == .f32(0.03125))
        #expect(try ops.call("is_null", parsing: ["null"]) == .i32(1))
        #expect(try ops.call("greet", parsing: ["two words"]).text == "hello, two words")
        #expect(try ops.call("get", parsing: []).text == "0")
    }

    /// Wrong calls and their exact messages.
    static let wrong: [(String, [String]?, [OpValue], String)] = [
        ("flops", nil, [], #"op 'flops' "u64(u64)" takes 1 argument (u64), got 0"#),
        ("flops", nil, [.u64(1), .u64(2)], #"op 'flops' "u64(u64)" takes 1 argument (u64), got 2"#),
        ("get", nil, [.i64(1)], #"op 'get' " i64 ( ) " takes no arguments, got 1"#),
        ("flops", nil, [.f32(1)], "op 'flops' argument 1 must be u64, got f32 (1.0)"),
        ("add_i32", nil, [.i32(1), .i64(2)], "op 'add_i32' argument 2 must be i32, got i64 (2)"),
        ("length", nil, [.ptr(nil)], "op 'length' argument 1 must be str, got ptr (null)"),
        ("add_i32", ["1"], [], #"op 'add_i32' "i32(i32,i32)" takes 2 arguments (i32, i32), got 1"#),
        ("add_i32", ["1", "x"], [], #"op 'add_i32' argument 2: "x" is not a valid i32: expected a decimal integer"#),
        ("flops", ["-1"], [], #"op 'flops' argument 1: "-1" is not a valid u64: u64 cannot be negative"#),
        ("is_null", ["0x1000"], [], #"op 'is_null' argument 1: "0x1000" is not a valid ptr: only null (or 0) can be passed as a pointer from the command line"#),
        ("nope", nil, [], "model 'linreg' has no op 'nope' (it has: flops, add_i32, neg_i32, sub_i64, mul_u64, half_f32, fma_f64, mixed, weigh8, weigh10, greet, maybe, length, self, is_null, bump, set, get)"),
    ]

    @Test("wrong argument counts, types and text are refused before any call", arguments: wrong)
    func wrongCalls(name: String, texts: [String]?, values: [OpValue], message: String) throws {
        let ops = try linregOps()
        let error = #expect(throws: HostError.self) {
            if let texts { _ = try ops.call(name, parsing: texts) } else { _ = try ops.call(name, values) }
        }
        #expect(error?.message == message)
    }

    @Test("instances of one model share each op's prepared cif")
    func cifsAreShared() throws {
        let a = try linregOps(), b = try linregOps()
        for (x, y) in zip(a.operations, b.operations) { #expect(x.prepared.cif == y.prepared.cif) }
        #expect(Set(a.operations.map(\.prepared.cif)).count == a.operations.count) // one per op
    }

    @Test("an instance without maml.ops/1 has no ops, and says so")
    func noOps() throws {
        let ops = try PluginOps(backbone: makeBackbone("linreg-noext"))
        #expect(ops.operations.isEmpty)
        let error = #expect(throws: HostError.self) { try ops.call("flops", [.u64(1)]) }
        #expect(error?.message == "model 'linreg-noext' has no op 'flops' (it declares none)")
    }
}

private func pow10(_ k: Int) -> Int64 { (0..<k).reduce(1) { value, _ in value * 10 } }

// MARK: - Broken ops tables

@Suite("Ops tables")
struct OpTableTests {
    static let broken: [(String, String)] = [
        ("opsbadsig", #"op #18 ('bad'): signature "u64(u65)": unknown type 'u65' at 5 (expected void, i32, i64, u64, f32, f64, ptr or str)"#),
        ("opsdup", "op #18 ('flops'): duplicate name (op #0 is also 'flops')"),
        ("opsnullfn", "op #18 ('nofn'): fn is NULL"),
        ("opsemptyname", "op #18: name is empty"),
        ("opsnullhelp", "op #18 ('nohelp'): help is NULL"),
        ("opsshort", "op #18: struct_size is 32 bytes, shorter than maml_op (40 bytes)"),
    ]

    /// An op whose fn is NULL (or not covered by its struct_size) refuses the instance itself: a NULL
    /// function in an extension table is refused when the instance is created (docs/abi.md, section 8).
    static let refusedAtCreate: Set<String> = ["opsnullfn", "opsshort"]

    @Test("a broken table is refused as a whole, naming the model, the plugin and the op; a missing fn already at create",
          arguments: broken)
    func brokenTable(tag: String, message: String) throws {
        let fixtures = try fixtures()
        let catalog = PluginCatalog.load(directories: [SearchDirectory(path: fixtures.ops, origin: .explicit)])
        #expect(catalog.problems.isEmpty, "\(catalog.problems)")
        let path = fixtures.ops + "/lib\(tag).so"
        let expected = "model 'linreg-\(tag)' (org.test.linreg-\(tag), plugin \(path)): maml.ops/1: \(message)"
        if Self.refusedAtCreate.contains(tag) {
            let error = #expect(throws: HostError.self) { try catalog.instantiate("linreg-\(tag)", config: "{}") }
            #expect(error?.message == expected)
            return
        }
        let backbone = try catalog.instantiate("linreg-\(tag)", config: "{}") // the model itself is fine
        let error = #expect(throws: HostError.self) { try PluginOps(backbone: backbone) }
        #expect(error?.message == expected)
    }
}
