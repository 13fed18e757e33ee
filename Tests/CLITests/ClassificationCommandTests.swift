// MARK: - Few-shot image classification, end to end (glyphs, CNN and flat MLP)
import Foundation
import Testing
import TestSupport

/// A small conv net and quick 5-way 1-shot training flags (debug builds are slow).
let smallCNN = ["--model", "cnn", "--config", #"{"channels": [6], "blocks": 2, "classes": 5}"#]
let fiveWayOneShot = ["--task", "glyphs", "--ways", "5", "--shots", "1", "--query", "3", "--meta-batch", "2",
                      "--inner-lr", "0.4", "--seed", "3"]

@Suite(.slow) struct ClassificationCommandTests {
    @Test func cnnTrainsOnGlyphsAndEvalReportsAccuracy() throws {
        let dir = try temporaryDirectory()
        let train = try mamlHost(["train"] + smallCNN + fiveWayOneShot + ["--iterations", "2", "--output", "c.ckpt"], in: dir)
        #expect(train.status == 0, "\(train.stderr)")
        let eval = try mamlHost(["eval", "--checkpoint", "c.ckpt", "--tasks", "8", "--shots", "1,5", "--steps", "0,1",
                                 "--json"], in: dir)
        #expect(eval.status == 0, "\(eval.stderr)")
        let object = try jsonObject(eval.stdout)
        #expect(object["queries"] as? Int == 15)
        let results = try #require(object["results"] as? [[String: Any]])
        #expect(results.count == 4)
        for r in results {
            let accuracy = try #require(r["accuracy"] as? Double), ci = try #require(r["ci95"] as? Double)
            #expect(accuracy >= 0 && accuracy <= 1 && ci >= 0)
            #expect((r["loss"] as? Double).map { $0 > 0 } == true)
            #expect(r["mse"] == nil)
        }
        let table = try mamlHost(["eval", "--checkpoint", "c.ckpt", "--tasks", "8", "--shots", "1", "--steps", "1"], in: dir)
        #expect(table.stdout.contains("ACCURACY"))
    }

    @Test func flatMLPTakesTheSameImageTasks() throws {
        let dir = try temporaryDirectory()
        let run = try mamlHost(["train", "--model", "mlp", "--config",
                                #"{"input": [1, 28, 28], "hidden": [16], "output": 5, "loss": "softmax-ce"}"#]
                               + fiveWayOneShot + ["--iterations", "2", "--output", "m.ckpt"], in: dir)
        #expect(run.status == 0, "\(run.stderr)")
    }

    @Test func shapeMismatchNamesBothShapes() throws {
        let dir = try temporaryDirectory()
        let classes = try mamlHost(["train"] + smallCNN + ["--task", "glyphs", "--ways", "3", "--iterations", "1",
                                                           "--output", "x"], in: dir)
        #expect(classes.status != 0)
        #expect(classes.stderr.contains("outputs [5], glyphs tasks need [3]"))
        let input = try mamlHost(["train", "--model", "mlp", "--config", #"{"input": [1]}"#, "--task", "glyphs",
                                  "--iterations", "1", "--output", "x"], in: dir)
        #expect(input.status != 0)
        #expect(input.stderr.contains("takes input [1], glyphs tasks have [1, 28, 28]"))
        #expect(!FileManager.default.fileExists(atPath: dir + "/x"))
    }

    /// With no config at all the MLP takes its input shape, classes and loss from the task
    /// (schema keyword "task"): the MAML paper's "no conv" row is one flag away.
    @Test func flatMLPTakesItsShapesFromTheTask() throws {
        let dir = try temporaryDirectory()
        let run = try mamlHost(["train", "--model", "mlp", "--task", "glyphs", "--ways", "3", "--shots", "1", "--query", "2",
                                "--meta-batch", "2", "--iterations", "1", "--output", "m.ckpt"], in: dir)
        #expect(run.status == 0, "\(run.stderr)")
        let header = String(decoding: try Data(contentsOf: URL(fileURLWithPath: dir + "/m.ckpt")).prefix(4096), as: UTF8.self)
        #expect(header.contains(#"\"input\":[1,28,28]"#) && header.contains(#"\"output\":3"#)
                && header.contains(#"\"loss\":\"softmax-ce\""#), "\(header.prefix(600))")
    }

    @Test func omniglotWithoutItsFolderSaysWhatIsExpected() throws {
        let dir = try temporaryDirectory()
        let run = try mamlHost(["train", "--model", "cnn", "--task", "omniglot", "--data", dir + "/nothing",
                                "--iterations", "1", "--output", "x"], in: dir)
        #expect(run.status != 0)
        #expect(run.stderr.contains(dir + "/nothing"))
        #expect(run.stderr.contains("images_background"))
    }
}
