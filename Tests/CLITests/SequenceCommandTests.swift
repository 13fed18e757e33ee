// MARK: - Few-shot sequence tasks, end to end (rnn on sine-sequences and glyph-rows, flat MLP)
import Foundation
import Testing
import MAMLCore
import MAMLTasks

/// Quick training flags (debug builds are slow).
let quickSequenceRun = ["--meta-batch", "2", "--shots", "3", "--query", "3", "--iterations", "2", "--seed", "1"]

@Suite struct SequenceCommandTests {
    @Test(arguments: ["elman", "gru", "lstm"])
    func rnnTrainsOnSineSequencesAndEvalReportsMSE(cell: String) throws {
        let dir = try temporaryDirectory()
        let train = try mamlHost(["train", "--model", "rnn", "--config", #"{"cell": "\#(cell)", "hidden": 6}"#,
                                  "--task", "sine-sequences"] + quickSequenceRun + ["--output", "r.ckpt"], in: dir)
        #expect(train.status == 0, "\(train.stderr)")
        let eval = try mamlHost(["eval", "--checkpoint", "r.ckpt", "--tasks", "4", "--shots", "5", "--steps", "0,1", "--json"], in: dir)
        #expect(eval.status == 0, "\(eval.stderr)")
        let results = try #require(try jsonObject(eval.stdout)["results"] as? [[String: Any]])
        #expect(results.count == 2)
        for r in results { #expect((r["mse"] as? Double).map { $0 > 0 && $0.isFinite } == true) }
    }

    @Test func rnnReadsGlyphRows() throws {
        let dir = try temporaryDirectory()
        let run = try mamlHost(["train", "--model", "rnn", "--config",
                                #"{"input": [12, 12], "cell": "gru", "hidden": 8, "head": "last", "classes": 3, "loss": "softmax-ce"}"#,
                                "--task", "glyph-rows", "--task-config", #"{"size": 12, "classes": 60}"#, "--ways", "3",
                                "--inner-lr", "0.4"] + quickSequenceRun + ["--output", "g.ckpt"], in: dir)
        #expect(run.status == 0, "\(run.stderr)")
        let eval = try mamlHost(["eval", "--checkpoint", "g.ckpt", "--tasks", "4", "--shots", "1", "--steps", "1"], in: dir)
        #expect(eval.status == 0 && eval.stdout.contains("ACCURACY"), "\(eval.stderr)")
    }

    /// Keys the schema marks "task" and the config leaves out come from the task: the RNN reads
    /// the task's sequence length, the CNN gets as many classes as the task has ways; a given key
    /// wins, and a task value that does not fit the model is refused naming where it came from.
    @Test func modelShapesComeFromTheTask() throws {
        let dir = try temporaryDirectory()
        let rnn = try mamlHost(["train", "--model", "rnn", "--config", #"{"hidden": 6, "head": "last"}"#, "--task", "sine-sequences",
                                "--task-config", #"{"length": 5, "predict": "last"}"#] + quickSequenceRun + ["--output", "r.ckpt"], in: dir)
        #expect(rnn.status == 0, "\(rnn.stderr)")
        let eval = try mamlHost(["eval", "--checkpoint", "r.ckpt", "--tasks", "2", "--shots", "3", "--steps", "1", "--json"], in: dir)
        #expect(eval.status == 0, "\(eval.stderr)")
        // The checkpoint stores the resolved config, so eval rebuilds the same model.
        let header = String(decoding: try Data(contentsOf: URL(fileURLWithPath: dir + "/r.ckpt")).prefix(4096), as: UTF8.self)
        #expect(header.contains(#"\"input\":[5,1]"#), "\(header.prefix(600))")
        let rows = try mamlHost(["train", "--model", "rnn", "--config", #"{"cell": "gru", "hidden": 6, "head": "last"}"#,
                                 "--task", "glyph-rows", "--task-config", #"{"size": 12, "classes": 60}"#, "--ways", "3"]
                                + quickSequenceRun + ["--output", "g.ckpt"], in: dir)
        #expect(rows.status == 0, "\(rows.stderr)")
        let given = try mamlHost(["train", "--model", "rnn", "--config", #"{"input": [20, 1]}"#, "--task", "sine-sequences",
                                  "--task-config", #"{"length": 5}"#, "--iterations", "1", "--output", "x"], in: dir)
        #expect(given.status != 0 && given.stderr.contains("takes input [20, 1], sine-sequences tasks have [5, 1]"), "\(given.stderr)")
        let image = try mamlHost(["train", "--model", "rnn", "--task", "glyphs", "--iterations", "1", "--output", "x"], in: dir)
        #expect(image.status != 0 && image.stderr.contains(
            #"on glyphs tasks: invalid config: config key "input" (from the task's input shape): [1,28,28] has 3 items, expected at most 2"#),
            "\(image.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/x"))
    }

    @Test func flatMLPTakesSineSequencesPredictingTheLastValue() throws {
        let dir = try temporaryDirectory()
        let run = try mamlHost(["train", "--model", "mlp", "--config", #"{"input": [20, 1], "hidden": [8]}"#,
                                "--task", "sine-sequences", "--task-config", #"{"predict": "last"}"#]
                               + quickSequenceRun + ["--output", "m.ckpt"], in: dir)
        #expect(run.status == 0, "\(run.stderr)")
        let every = try mamlHost(["train", "--model", "mlp", "--config", #"{"input": [20, 1]}"#, "--task", "sine-sequences",
                                  "--iterations", "1", "--output", "x"], in: dir)
        #expect(every.status != 0 && every.stderr.contains("outputs [1], sine-sequences tasks need [20, 1]"), "\(every.stderr)")
    }

    @Test func infoShowsTheCellLayout() throws {
        let gru = try mamlHost(["info", "rnn", "--config", #"{"cell": "gru", "layers": 2}"#])
        #expect(gru.status == 0, "\(gru.stderr)")
        for name in ["layer0.w_ih", "layer1.w_hh", "layer1.b_hn", "120x40", "head.weight"] {
            #expect(gru.stdout.contains(name), "\(name)")
        }
        let lstm = try mamlHost(["info", "rnn", "--config", #"{"cell": "lstm"}"#])
        #expect(lstm.stdout.contains("160x40") && !lstm.stdout.contains("b_hn"))
    }

    /// An inner step so large that the recurrence overflows stops training with the RNN's
    /// own numerical message, and no checkpoint of NaN parameters is written.
    @Test func explodingSequenceStopsWithANumericalError() throws {
        let dir = try temporaryDirectory()
        let run = try mamlHost(["train", "--model", "rnn", "--config", #"{"hidden": 8}"#, "--task", "sine-sequences",
                                "--inner-lr", "1e38", "--iterations", "3", "--output", "x.ckpt"], in: dir)
        #expect(run.status != 0)
        #expect(run.stderr.contains("numerical error") && run.stderr.contains("the sequence explodes"), "\(run.stderr)")
        #expect(run.stderr.contains("no state of this run is known good"), "\(run.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/x.ckpt"))
    }
}
