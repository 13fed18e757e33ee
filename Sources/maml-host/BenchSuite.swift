// MARK: - maml-host bench --suite: every backbone x task x algorithm that matters
//
// Each workload runs as its own `maml-host bench --json` child, once per thread
// count, one at a time (never two at once: they would share the cores). A child
// per run keeps peak RSS per workload (getrusage's maximum is per process) and
// keeps one workload's crash from hiding the others' numbers.
import ArgumentParser
import MAMLHost
import MAMLSchema

/// One suite entry: a name, what it is, and the `bench` arguments that run it.
struct SuiteWorkload {
    var name: String
    var what: String
    var arguments: [String]
    /// Timed and warm-up iterations (full run); `--quick` divides both.
    var iterations: Int, warmup: Int
    /// Thread counts: 1 and N, or only 1 for memory rows (threads add replicas, not iterates).
    var threadsToo = true
}

enum BenchSuite {
    static let conv4 = ["--model", "cnn", "--task", "glyphs", "--ways", "5", "--shots", "1", "--query", "15",
                        "--inner-lr", "0.4"]
    static func rnn(_ cell: String) -> [String] {
        ["--model", "rnn", "--config", #"{"cell":"\#(cell)","hidden":40}"#, "--task", "sine-sequences",
         "--shots", "10", "--query", "10", "--meta-batch", "25", "--inner-lr", "0.01"]
    }

    static let workloads: [SuiteWorkload] = [
        SuiteWorkload(name: "sinusoid-maml", what: "MLP 1-40-40-1, sinusoid K=10+10, MAML 2nd order, meta-batch 25",
                      arguments: ["--model", "mlp", "--task", "sinusoid", "--algorithm", "maml"], iterations: 3000, warmup: 200),
        SuiteWorkload(name: "sinusoid-fomaml", what: "the same, first order",
                      arguments: ["--model", "mlp", "--task", "sinusoid", "--algorithm", "fomaml"], iterations: 5000, warmup: 200),
        SuiteWorkload(name: "conv4-maml", what: "conv4, glyphs 5-way 1-shot 15 query, MAML 2nd order, meta-batch 32, alpha 0.4",
                      arguments: conv4 + ["--meta-batch", "32", "--algorithm", "maml"], iterations: 4, warmup: 1),
        SuiteWorkload(name: "conv4-fomaml", what: "the same, first order",
                      arguments: conv4 + ["--meta-batch", "32", "--algorithm", "fomaml"], iterations: 4, warmup: 1),
        SuiteWorkload(name: "rnn-elman-maml", what: "Elman hidden 40, sine-sequences length 20, MAML 2nd order, meta-batch 25",
                      arguments: rnn("elman") + ["--algorithm", "maml"], iterations: 600, warmup: 50),
        SuiteWorkload(name: "rnn-gru-maml", what: "GRU, the same", arguments: rnn("gru") + ["--algorithm", "maml"],
                      iterations: 200, warmup: 20),
        SuiteWorkload(name: "rnn-lstm-maml", what: "LSTM, the same", arguments: rnn("lstm") + ["--algorithm", "maml"],
                      iterations: 200, warmup: 20),
    ] + family + [1, 5, 10].flatMap { k in
        // Second-order MAML through k steps stores the k inner iterates (and nothing per step
        // beyond them): peak RSS against k shows it. iMAML's stays flat.
        ["maml", "imaml"].map { algorithm in
            SuiteWorkload(name: "conv4-\(algorithm)-k\(k)",
                          what: "conv4 as above, meta-batch 8, \(algorithm), \(k) inner step\(k == 1 ? "" : "s") (memory)",
                          arguments: conv4 + ["--meta-batch", "8", "--algorithm", algorithm, "--inner-steps", "\(k)"],
                          iterations: 2, warmup: 0, threadsToo: false)
        }
    }

    /// The rest of the meta-learner family on the three backbones (docs/algorithms.md).
    static let family: [SuiteWorkload] = {
        let variants: [(String, [String], String)] = [
            ("reptile", ["--algorithm", "reptile", "--inner-steps", "5", "--optimizer", "sgd", "--meta-lr", "1"],
             "Reptile, 5 SGD steps"),
            ("meta-sgd", ["--algorithm", "meta-sgd"], "Meta-SGD"),
            ("anil", ["--algorithm", "anil"], "ANIL (head-only inner loop)"),
            ("imaml", ["--algorithm", "imaml", "--inner-steps", "5"], "iMAML, 5 steps, 5 CG steps"),
            // 3 steps: with 5, the learned rates outgrow the sinusoid MLP within ~200 iterations (docs/benchmarks.md).
            ("maml-plusplus", ["--algorithm", "maml", "--inner-steps", "3", "--lslr", "--multi-step-loss"],
             "MAML++: 3 steps, LSLR, multi-step loss"),
        ]
        let protonet = SuiteWorkload(name: "conv4-protonet",
                                     what: "conv4 (64-d linear embedding) 5-way 1-shot as above, meta-batch 32, ProtoNets",
                                     arguments: conv4 + ["--meta-batch", "32", "--algorithm", "protonet",
                                                         "--config", #"{"classes":64}"#], iterations: 4, warmup: 1)
        return [protonet] + variants.flatMap { (name, arguments, what) in [
            SuiteWorkload(name: "sinusoid-\(name)", what: "MLP sinusoid as above, \(what)",
                          arguments: ["--model", "mlp", "--task", "sinusoid"] + arguments, iterations: 1000, warmup: 100),
            SuiteWorkload(name: "conv4-\(name)", what: "conv4 5-way 1-shot as above, meta-batch 32, \(what)",
                          arguments: conv4 + ["--meta-batch", "32"] + arguments, iterations: 2, warmup: 1),
            SuiteWorkload(name: "rnn-gru-\(name)", what: "GRU sine-sequences as above, \(what)",
                          arguments: rnn("gru") + arguments, iterations: 60, warmup: 10),
        ] }
    }()

    /// Runs the selected workloads on 1 and `threads` threads; prints a table or (json) one object.
    static func run(only: [String], quick: Bool, threads: Int, pluginDirectories: [String], json: Bool) throws {
        let known = workloads.map(\.name)
        for name in only where !known.contains(name) {
            throw CLIError("bench --only: unknown workload \"\(name)\" (known: \(known.joined(separator: ", ")))")
        }
        let selected = only.isEmpty ? workloads : workloads.filter { only.contains($0.name) }
        guard let exe = currentExecutablePath() else { throw CLIError("bench --suite: cannot find this executable's path") }
        let plugins = pluginDirectories.flatMap { ["--plugin-dir", $0] }
        var rows: [JSONValue] = []
        var failures: [String] = []
        var table = Table("workload", "threads", "meta-it/s", "tasks/s", "GFLOP/s", "peak RSS MiB", "what")
        for w in selected {
            let counts = w.threadsToo && threads > 1 ? [1, threads] : [1]
            for n in counts {
                let iterations = quick ? max(1, w.iterations / 20) : w.iterations
                let warmup = quick ? min(w.warmup, 1) : w.warmup
                let args = ["bench", "--json", "--threads", "\(n)", "--iterations", "\(iterations)", "--warmup", "\(warmup)"]
                    + w.arguments + plugins
                if !json { printError("bench --suite: \(w.name), \(n) thread\(n == 1 ? "" : "s") ...") }
                let result = try runChild(exe, args, timeout: 3600)
                guard result.succeeded, let line = result.stdout.split(separator: "\n").last,
                      case .object(var o)? = try? JSONValue.parse(String(line)) else {
                    // One workload's failure (a diverging run, a crash) does not cost the others' numbers:
                    // it is a row saying so, and the suite ends non-zero.
                    let why = "\(result.termination): " + String(result.stderr.split(separator: "\n").first { $0.hasPrefix("Error") } ?? "")
                    failures.append("\(w.name) with \(n) thread(s) failed (\(why.prefix(300)))")
                    rows.append(jsonObject(["workload": .string(w.name), "threads": .number(Double(n)),
                                            "failed": .string(String(why.prefix(2000)))]))
                    table.add(w.name, "\(n)", "failed", "-", "-", "-", w.what)
                    continue
                }
                o["workload"] = .string(w.name)
                rows.append(.object(o))
                func cell(_ key: String, _ digits: Int) -> String { o[key]?.numberValue.map { fmt($0, digits) } ?? "-" }
                table.add(w.name, "\(n)", cell("meta_iterations_per_s", 3), cell("tasks_per_s", 1), cell("gflops", 2),
                          cell("peak_rss_mib", 1), w.what)
            }
        }
        let sgemm = measureSGEMM()
        if json {
            print(jsonObject(["runs": .array(rows), "sgemm_gflops": .number(sgemm), "quick": .bool(quick)]).serialized())
        } else {
            print(table.render())
            print("OpenBLAS sgemm 512x512x512, 1 thread, this process: \(fmt(sgemm, 1)) GFLOP/s")
        }
        if !failures.isEmpty { throw CLIError("bench --suite: " + failures.joined(separator: "; ")) }
    }
}
