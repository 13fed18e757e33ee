// MARK: - The zoo: shipped checkpoints match their manifest and reproduce its numbers
import Foundation
import Testing
import TestSupport

/// The repository root (this file is Tests/CLITests/ZooTests.swift).
let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().path

/// One evaluation row of the manifest: `metric` is "mse" (regression) or "accuracy" (classification).
struct ZooResult {
    var shots: Int, steps: Int, metric: String, value: Double, ci95: Double

    init(_ r: [String: Any]) throws {
        // No "steps" for Prototypical Networks (no fine-tuning); null for a non-finite mean (diverged tasks).
        shots = try #require(r["shots"] as? Int); steps = r["steps"] as? Int ?? 0
        metric = r["accuracy"] != nil ? "accuracy" : "mse"
        value = r[metric] as? Double ?? .infinity; ci95 = r["ci95"] as? Double ?? .infinity
    }
}

struct ZooEntry {
    var name: String
    var checkpoint: String
    var sha256: String
    /// The full evaluation (600 meta-test tasks).
    var results: [ZooResult]
    /// `eval` arguments whose output the test reproduces (a short run for models slow in debug builds;
    /// absent: `--shots 5`, compared with the full evaluation's K = 5 rows) and the rows it printed.
    var checkArguments: [String]
    var checkResults: [ZooResult]
    /// Named baselines trained and evaluated like this model (name -> rows).
    var baselines: [String: [ZooResult]]

    static func all() throws -> [ZooEntry] {
        let data = try Data(contentsOf: URL(fileURLWithPath: repositoryRoot + "/models/zoo/manifest.json"))
        let root = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let models = try #require(root["models"] as? [[String: Any]])
        return try models.map { m in
            let evaluation = try #require(m["evaluation"] as? [String: Any])
            let results = try #require(evaluation["results"] as? [[String: Any]]).map(ZooResult.init)
            var arguments = ["--shots", "5"], checkResults = results.filter { $0.shots == 5 }
            if let check = m["check"] as? [String: Any] {
                arguments = try #require(check["arguments"] as? [String])
                checkResults = try #require(check["results"] as? [[String: Any]]).map(ZooResult.init)
            }
            var baselines: [String: [ZooResult]] = [:]
            for b in m["baselines"] as? [[String: Any]] ?? [] {
                baselines[try #require(b["name"] as? String)] = try #require(b["results"] as? [[String: Any]]).map(ZooResult.init)
            }
            return ZooEntry(name: try #require(m["name"] as? String), checkpoint: try #require(m["checkpoint"] as? String),
                            sha256: try #require(m["sha256"] as? String), results: results,
                            checkArguments: arguments, checkResults: checkResults, baselines: baselines)
        }
    }

    func result(shots: Int, steps: Int) -> ZooResult? {
        results.first { $0.shots == shots && $0.steps == steps }
    }

    func mse(shots: Int, steps: Int) -> (mse: Double, ci95: Double)? {
        result(shots: shots, steps: steps).map { ($0.value, $0.ci95) }
    }
}

func sha256(_ path: String) throws -> String {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = ["sha256sum", path]
    let out = Pipe()
    p.standardOutput = out
    try p.run()
    let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    p.waitUntilExit()
    return String(text.prefix { $0 != " " })
}

@Suite(.slow) struct ZooTests {
    @Test func manifestChecksumsMatchTheShippedFiles() throws {
        let entries = try ZooEntry.all()
        #expect(entries.map(\.name) == ["mlp-sinusoid-maml", "mlp-sinusoid-pretrain", "conv4-glyphs-maml-1shot",
                                       "rnn-elman-sine-sequences-maml", "rnn-elman-sine-sequences-len2-maml",
                                       "mlp-sinusoid-meta-sgd", "conv4-glyphs-protonet-1shot"])
        for e in entries {
            #expect(try sha256(repositoryRoot + "/models/zoo/" + e.checkpoint) == e.sha256, "\(e.checkpoint)")
        }
    }

    @Test("eval on each shipped checkpoint reproduces the manifest's numbers")
    func numbersReproduce() throws {
        for e in try ZooEntry.all() {
            let run = try mamlHost(["eval", "--checkpoint", repositoryRoot + "/models/zoo/" + e.checkpoint, "--json"]
                                   + e.checkArguments)
            #expect(run.status == 0, "\(run.stderr)")
            let results = try #require(try jsonObject(run.stdout)["results"] as? [[String: Any]]).map(ZooResult.init)
            #expect(results.count == e.checkResults.count && !results.isEmpty, "\(e.name)")
            for (r, expected) in zip(results, e.checkResults) {
                #expect(r.shots == expected.shots && r.steps == expected.steps && r.metric == expected.metric)
                // Debug and release builds may sum in different orders: MSE equal to 1e-4 relative; an
                // accuracy may move by a query example whose two top logits were within rounding.
                let tolerance = r.metric == "mse" ? 1e-4 * expected.value : 0.005
                #expect(abs(r.value - expected.value) <= tolerance,
                        "\(e.name) K=\(r.shots) steps=\(r.steps): \(r.metric) \(r.value) vs \(expected.value)")
            }
        }
    }

    @Test("the MAML model meets the paper (K = 5 after 1/5/10 steps) and beats the pretrain baseline")
    func mamlMeetsThePaper() throws {
        let entries = try ZooEntry.all()
        let maml = try #require(entries.first { $0.name == "mlp-sinusoid-maml" })
        let pretrain = try #require(entries.first { $0.name == "mlp-sinusoid-pretrain" })
        for (steps, paper) in [(1, 0.67), (5, 0.38), (10, 0.35)] {
            let m = try #require(maml.mse(shots: 5, steps: steps)), p = try #require(pretrain.mse(shots: 5, steps: steps))
            #expect(m.mse - m.ci95 <= paper, "K=5 after \(steps) steps: \(m.mse) ± \(m.ci95) vs paper \(paper)")
            #expect(m.mse + m.ci95 < p.mse - p.ci95, "MAML must be clearly below pretrain after \(steps) steps")
        }
    }

    @Test("the conv4 model beats the pretrain and from-scratch baselines by a wide margin, 5-way 1-shot")
    func conv4BeatsTheBaselines() throws {
        let conv4 = try #require(try ZooEntry.all().first { $0.name == "conv4-glyphs-maml-1shot" })
        #expect(conv4.results.allSatisfy { $0.metric == "accuracy" && $0.shots == 1 })
        // Zero steps is chance: labels are shuffled per task.
        let zero = try #require(conv4.result(shots: 1, steps: 0))
        #expect(abs(zero.value - 0.2) <= zero.ci95 + 0.01)
        let maml = try #require(conv4.result(shots: 1, steps: 1))
        for name in ["pretrain", "scratch"] {
            // A baseline's best over every step count it was given (up to 10), against MAML after one step.
            let rows = try #require(conv4.baselines[name])
            let best = try #require(rows.max { $0.value < $1.value })
            #expect(maml.value - maml.ci95 > best.value + best.ci95 + 0.10,
                    "MAML 1 step \(maml.value) ± \(maml.ci95) vs \(name) best \(best.value) ± \(best.ci95)")
        }
    }

    /// On windows too short to reveal the task (length 2) the Elman model's error after 1, 5 and
    /// 10 steps is below every baseline's with the confidence intervals apart, and below the
    /// from-scratch network's best after 100 steps by far.
    @Test("the length-2 RNN model is clearly best: below FOMAML, pretrain and from-scratch, CIs apart")
    func rnnBeatsTheBaselines() throws {
        let rnn = try #require(try ZooEntry.all().first { $0.name == "rnn-elman-sine-sequences-len2-maml" })
        for steps in [1, 5, 10] {
            let m = try #require(rnn.mse(shots: 10, steps: steps))
            for name in ["fomaml", "pretrain"] {
                let b = try #require(rnn.baselines[name]?.first { $0.steps == steps })
                #expect(m.mse + m.ci95 < b.value - b.ci95, "after \(steps) steps: MAML \(m.mse) ± \(m.ci95) vs \(name) \(b.value) ± \(b.ci95)")
            }
        }
        let scratch = try #require(rnn.baselines["scratch"]?.min { $0.value < $1.value })
        let ten = try #require(rnn.mse(shots: 10, steps: 10))
        #expect(scratch.steps == 100 && ten.mse * 10 < scratch.value - scratch.ci95, "scratch best \(scratch.value) after \(scratch.steps)")
    }

    /// Meta-SGD learns the inner step itself, so one step of it adapts further than one step of MAML
    /// on the same family and network (its paper's claim for few-shot regression).
    @Test("Meta-SGD after one step is clearly below MAML after one step (K = 5 and 10)")
    func metaSGDOneStep() throws {
        let entries = try ZooEntry.all()
        let metaSGD = try #require(entries.first { $0.name == "mlp-sinusoid-meta-sgd" })
        let maml = try #require(entries.first { $0.name == "mlp-sinusoid-maml" })
        let m = try #require(metaSGD.mse(shots: 5, steps: 1)), b = try #require(maml.mse(shots: 5, steps: 1))
        #expect(m.mse + m.ci95 < b.mse - b.ci95, "K=5: Meta-SGD \(m.mse) ± \(m.ci95) vs MAML \(b.mse) ± \(b.ci95)")
        let m10 = try #require(metaSGD.mse(shots: 10, steps: 1))
        #expect(m10.mse < m.mse)
    }

    /// Trained with the budget of the zoo's conv4 MAML model, Prototypical Networks classify
    /// 5-way 1-shot glyphs better than MAML does after 10 steps, the CIs apart.
    @Test("ProtoNets beat conv4 MAML on glyphs 5-way 1-shot at the same training budget")
    func protoNetsBeatMAML() throws {
        let entries = try ZooEntry.all()
        let protonet = try #require(entries.first { $0.name == "conv4-glyphs-protonet-1shot" })
        let maml = try #require(entries.first { $0.name == "conv4-glyphs-maml-1shot" })
        let p = try #require(protonet.result(shots: 1, steps: 0))
        let best = try #require(maml.results.max { $0.value < $1.value })
        #expect(p.metric == "accuracy" && p.value - p.ci95 > best.value + best.ci95,
                "ProtoNets \(p.value) ± \(p.ci95) vs MAML's best \(best.value) ± \(best.ci95)")
    }
}
