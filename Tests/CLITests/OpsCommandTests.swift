// MARK: - ops and call, end to end (bundled plugins and the C fixture plugin)
import Foundation
import Testing

/// The MAMLHostTests fixture plugin, compiled once per test process into its own directory:
/// good/libgood.so (ops of every type) and dup/libopsdup.so (a duplicate op name).
private let opsFixtures: Result<(good: String, dup: String), CLIFixtureError> = Result {
    (try buildFixturePlugin("libgood.so", []),
     try buildFixturePlugin("libopsdup.so", ["-DFX_OPS_DUP", "-DFX_TAG=\"-opsdup\""]))
}.mapError { $0 as? CLIFixtureError ?? CLIFixtureError(description: "\($0)") }

struct CLIFixtureError: Error, CustomStringConvertible { var description: String }

/// `maml-host call linreg OP ARGS...` on the fixture plugin.
private func callFixture(_ op: String, _ arguments: [String]) throws -> Run {
    try mamlHost(["call", "--plugin-dir", opsFixtures.get().good, "linreg", op] + arguments)
}

@Suite struct OpsCommandTests {
    @Test func bundledModelsDeclareFlops() throws {
        for model in ["mlp", "cnn"] {
            let run = try mamlHost(["ops", model])
            #expect(run.status == 0, "\(run.stderr)")
            #expect(run.stdout.contains("flops  u64(u64)   floating-point operations of one loss_grad"), "\(run.stdout)")
        }
        let json = try jsonObject(try mamlHost(["ops", "mlp", "--json"]).stdout)
        #expect(json["model"] as? String == "org.mamlzoo.mlp")
        let op = try #require((json["ops"] as? [[String: Any]])?.first)
        #expect(op["name"] as? String == "flops" && op["signature"] as? String == "u64(u64)")
        #expect(op["result"] as? String == "u64" && op["parameters"] as? [String] == ["u64"])
    }

    @Test func bundledFlopsMatchTheHandCounts() throws {
        // MLP [1, 40, 40, 1], batch 10: the hand count of DenseNetworkTests.
        #expect(try mamlHost(["call", "mlp", "flops", "10"]).stdout == "101620\n")
        // conv4 on 28x28, 5 classes, batch 1: the hand count of ConvNetworkConfigTests.
        var conv: UInt64 = 2 * 784 * 64 * 9 * 2 + 784 * 64
        for p in [196, 49, 9] as [UInt64] { conv += 2 * p * 64 * 576 * 3 + p * 64 }
        conv += 2 * 64 * 5 * 3 + 5
        #expect(try mamlHost(["call", "cnn", "flops", "1"]).stdout == "\(conv)\n")
        // The config reaches the instance: hidden [8] has 2*(1*8*2 + 8) + 2*(8*1*3 + 1) = 98 per example.
        #expect(try mamlHost(["call", "mlp", "flops", "1", "--config", #"{"hidden": [8]}"#]).stdout == "98\n")
    }

    /// One call per type through the command line, and its exact printed result.
    static let calls: [(String, [String], String)] = [
        ("flops", ["5"], "60"),                                          // 2 * 5 * 2 * 3 (defaults)
        ("add_i32", ["-3", "1"], "-2"),
        ("neg_i32", ["-2147483647"], "2147483647"),
        ("sub_i64", ["-9223372036854775807", "1"], "-9223372036854775808"),
        ("mul_u64", ["4294967296", "4294967295"], "18446744069414584320"),
        ("half_f32", ["3"], "1.5"),
        ("fma_f64", ["1.5", "2", "0.25"], "3.25"),
        ("mixed", ["-1", "1099511627776", "3", "0.5", "0.25", "abcd"], "1099511627782.75"),
        ("weigh8", ["1", "10", "100", "1000", "10000", "100000", "1000000", "10000000"], "87654321"),
        ("weigh10", ["1", "10", "100", "1000", "1e4", "1e5", "1e6", "1e7", "1e8", "1e9"], "10987654321.0"),
        ("greet", ["two words"], "hello, two words"),
        ("maybe", ["0"], "null"),
        ("length", ["héllo"], "6"),
        ("is_null", ["null"], "1"),
        ("set", ["5"], ""),                                              // void prints nothing
        ("get", [], "0"),                                                // a fresh process, a fresh counter
    ]

    @Test(arguments: calls)
    func callEveryType(op: String, arguments: [String], output: String) throws {
        let run = try callFixture(op, arguments)
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout == (output.isEmpty ? "" : output + "\n"))
    }

    @Test func pointerResultPrintsAsHex() throws {
        let run = try callFixture("self", [])
        #expect(run.status == 0 && run.stdout.hasPrefix("0x") && run.stdout.count > 4)
    }

    @Test func argumentsAfterDoubleDashAreValues() throws {
        #expect(try callFixture("greet", ["--", "--config"]).stdout == "hello, --config\n")
    }

    /// Wrong calls: non-zero exit, the message on stderr, nothing on stdout.
    static let wrong: [(String, [String], String)] = [
        ("add_i32", ["1"], #"op 'add_i32' "i32(i32,i32)" takes 2 arguments (i32, i32), got 1"#),
        ("flops", ["1", "2"], #"op 'flops' "u64(u64)" takes 1 argument (u64), got 2"#),
        ("flops", ["-1"], #"op 'flops' argument 1: "-1" is not a valid u64: u64 cannot be negative"#),
        ("add_i32", ["1", "2147483648"], #"op 'add_i32' argument 2: "2147483648" is not a valid i32: out of range -2147483648...2147483647"#),
        ("half_f32", ["x"], #"op 'half_f32' argument 1: "x" is not a valid f32: expected a number such as 1.5, -2e-3, inf or nan"#),
        ("is_null", ["0x1000"], #"op 'is_null' argument 1: "0x1000" is not a valid ptr: only null (or 0) can be passed as a pointer from the command line"#),
        ("nope", [], "model 'linreg' has no op 'nope' (it has: flops, add_i32,"),
    ]

    @Test(arguments: wrong)
    func wrongCallsFailClearly(op: String, arguments: [String], message: String) throws {
        let run = try callFixture(op, arguments)
        #expect(run.status != 0)
        #expect(run.stdout.isEmpty)
        #expect(run.stderr.contains(message), "\(run.stderr)")
    }

    @Test func brokenOpsTableIsAnError() throws {
        let run = try mamlHost(["ops", "--plugin-dir", opsFixtures.get().dup, "linreg-opsdup"])
        #expect(run.status != 0)
        #expect(run.stderr.contains("maml.ops/1: op #18 ('flops'): duplicate name (op #0 is also 'flops')"), "\(run.stderr)")
    }

    @Test func fixtureOpsListAndJSON() throws {
        let dir = try opsFixtures.get().good
        let table = try mamlHost(["ops", "--plugin-dir", dir, "linreg"])
        #expect(table.status == 0, "\(table.stderr)")
        #expect(table.stdout.contains("get       i64()"))           // " i64 ( ) " shown canonically
        let json = try jsonObject(try mamlHost(["ops", "--plugin-dir", dir, "linreg", "--json"]).stdout)
        let ops = try #require(json["ops"] as? [[String: Any]])
        #expect(ops.count == 18)
        #expect(ops.first { $0["name"] as? String == "mixed" }?["parameters"] as? [String]
                == ["i32", "i64", "u64", "f32", "f64", "str"])
    }

    /// bench costs the calls it counted by the flops op: per MAML step with one inner step,
    /// each of the 4 tasks makes a support and a query gradient (10 examples each) and one
    /// HVP (2 loss_grads); first order has no HVP. flops(10) = 101620 for the default MLP.
    static let benchCases: [(String, Double)] = [("maml", 1_625_920), ("fomaml", 812_960)]

    @Test(arguments: benchCases)
    func benchReportsGFLOPs(algorithm: String, flopsPerIteration: Double) throws {
        let run = try mamlHost(["bench"] + quickTraining + ["--algorithm", algorithm, "--iterations", "3", "--warmup", "1", "--json"])
        #expect(run.status == 0, "\(run.stderr)")
        let o = try jsonObject(run.stdout)
        #expect(o["flops_per_meta_iteration"] as? Double == flopsPerIteration)
        let rate = try #require(o["meta_iterations_per_s"] as? Double), gflops = try #require(o["gflops"] as? Double)
        #expect(abs(gflops - flopsPerIteration * rate / 1e9) <= 1e-9 * gflops)
        #expect(o["sgemm_gflops"] is NSNull)
    }

    @Test func benchTextShowsGFLOPsAndSGEMM() throws {
        let run = try mamlHost(["bench"] + quickTraining + ["--iterations", "2", "--warmup", "0", "--sgemm"])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout.contains(" GFLOP/s (1.626 MFLOP per meta-iteration by the model's flops op"), "\(run.stdout)")
        #expect(run.stdout.contains("OpenBLAS sgemm 512x512x512, 1 thread, ") && run.stdout.contains(" kernels: ") && run.stdout.contains("% of it)"))
    }
}
