// MARK: - train, eval, bench, end to end
import Foundation
import MAMLCore
import Testing
import TestSupport

@Suite(.slow) struct TrainEvalTests {
    @Test func trainWritesACheckpointThatEvalReads() throws {
        let dir = try temporaryDirectory()
        let train = try mamlHost(["train"] + quickTraining + ["--iterations", "20", "--output", "m.ckpt",
                                                             "--log", "m.jsonl", "--log-every", "10"], in: dir)
        #expect(train.status == 0, "\(train.stderr)")
        #expect(train.stdout.contains("wrote m.ckpt"))
        let log = try String(contentsOfFile: dir + "/m.jsonl", encoding: .utf8).split(separator: "\n")
        #expect(log.count == 2)
        let last = try jsonObject(String(log[1]))
        #expect(last["iteration"] as? Int == 20)
        #expect((last["query_loss"] as? Double).map { $0.isFinite && $0 > 0 } == true)

        let eval = try mamlHost(["eval", "--checkpoint", "m.ckpt", "--tasks", "20", "--shots", "5,10",
                                 "--steps", "0,1,3", "--json"], in: dir)
        #expect(eval.status == 0, "\(eval.stderr)")
        let results = try #require(try jsonObject(eval.stdout)["results"] as? [[String: Any]])
        #expect(results.count == 6)
        #expect(results.map { $0["shots"] as? Int } == [5, 5, 5, 10, 10, 10])
        #expect(results.map { $0["steps"] as? Int } == [0, 1, 3, 0, 1, 3])
        for r in results {
            let mse = try #require(r["mse"] as? Double), ci = try #require(r["ci95"] as? Double)
            #expect(mse > 0 && ci > 0 && mse.isFinite)
        }
        // Zero steps means no adaptation: the same error whatever K.
        #expect(results[0]["mse"] as? Double == results[3]["mse"] as? Double)

        let table = try mamlHost(["eval", "--checkpoint", "m.ckpt", "--tasks", "10", "--shots", "5", "--steps", "1"], in: dir)
        #expect(table.status == 0)
        #expect(table.stdout.contains("±95% CI"))
    }

    @Test func resumedRunEqualsUninterruptedRunByteForByte() throws {
        let dir = try temporaryDirectory()
        let straight = try mamlHost(["train"] + quickTraining + ["--iterations", "12", "--output", "a.ckpt"], in: dir)
        #expect(straight.status == 0, "\(straight.stderr)")
        let first = try mamlHost(["train"] + quickTraining + ["--iterations", "5", "--output", "b.ckpt"], in: dir)
        #expect(first.status == 0)
        let resumed = try mamlHost(["train", "--resume", "b.ckpt", "--iterations", "12", "--output", "b.ckpt"], in: dir)
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(resumed.stdout.contains("resuming b.ckpt at iteration 5"))
        let a = try Data(contentsOf: URL(fileURLWithPath: dir + "/a.ckpt"))
        let b = try Data(contentsOf: URL(fileURLWithPath: dir + "/b.ckpt"))
        #expect(a == b)
    }

    @Test func sameSeedSameCheckpointDifferentSeedDifferent() throws {
        let dir = try temporaryDirectory()
        for (name, seed) in [("s1", "1"), ("s1b", "1"), ("s2", "2")] {
            let run = try mamlHost(["train", "--meta-batch", "3", "--iterations", "4", "--seed", seed, "--output", name], in: dir)
            #expect(run.status == 0, "\(run.stderr)")
        }
        let read = { (n: String) in try Data(contentsOf: URL(fileURLWithPath: dir + "/" + n)) }
        #expect(try read("s1") == read("s1b"))
        #expect(try read("s1") != read("s2"))
    }

    @Test func zeroIterationsWritesTheSeededInitialisationForTheFromScratchBaseline() throws {
        let dir = try temporaryDirectory()
        for (name, seed, iterations) in [("a", "3", "0"), ("b", "3", "0"), ("c", "4", "0"), ("d", "3", "1")] {
            let run = try mamlHost(["train"] + quickTraining + ["--seed", seed, "--iterations", iterations,
                                                               "--output", name + ".ckpt"], in: dir)
            #expect(run.status == 0, "\(run.stderr)")
        }
        let read = { (name: String) in try Checkpoint.read(from: dir + "/\(name).ckpt") }
        #expect(try read("a").header.iteration == 0)
        #expect(try read("a").parameters == read("b").parameters)
        #expect(try read("a").parameters != read("c").parameters, "the initialisation follows --seed")
        #expect(try read("a").parameters != read("d").parameters, "one meta-iteration moves the parameters")
        let eval = try mamlHost(["eval", "--checkpoint", "a.ckpt", "--tasks", "5", "--steps", "0,20"], in: dir)
        #expect(eval.status == 0, "\(eval.stderr)")
        let negative = try mamlHost(["train", "--iterations=-1", "--output", "n.ckpt"], in: dir)
        #expect(negative.status != 0 && negative.stderr.contains("--iterations must be at least 0"))
    }

    @Test func evalRefusesACorruptedCheckpointAndNamesIt() throws {
        let dir = try temporaryDirectory()
        #expect(try mamlHost(["train"] + quickTraining + ["--iterations", "2", "--output", "c.ckpt"], in: dir).status == 0)
        var bytes = try Data(contentsOf: URL(fileURLWithPath: dir + "/c.ckpt"))
        bytes[bytes.count - 100] ^= 0x40
        try bytes.write(to: URL(fileURLWithPath: dir + "/c.ckpt"))
        let run = try mamlHost(["eval", "--checkpoint", "c.ckpt"], in: dir)
        #expect(run.status != 0)
        #expect(run.stderr.contains("c.ckpt"))
        #expect(run.stderr.contains("corrupted"))

        let missing = try mamlHost(["eval", "--checkpoint", "nothere.ckpt"], in: dir)
        #expect(missing.status != 0)
        #expect(missing.stderr.contains("nothere.ckpt"))
    }

    @Test func checkpointOfAnotherMajorModelVersionIsRefusedMinorOnlyNoted() throws {
        let dir = try temporaryDirectory()
        #expect(try mamlHost(["train"] + quickTraining + ["--iterations", "1", "--output", "v.ckpt"], in: dir).status == 0)
        var saved = try Checkpoint.read(from: dir + "/v.ckpt")
        saved.header.model.version = "2.0.0"
        try saved.write(to: dir + "/v2.ckpt")
        let major = try mamlHost(["eval", "--checkpoint", "v2.ckpt", "--tasks", "5"], in: dir)
        #expect(major.status != 0)
        #expect(major.stderr.contains("v2.ckpt: made with org.mamlzoo.mlp 2.0.0, installed is 1.0.0"))
        saved.header.model.version = "1.9.3"
        try saved.write(to: dir + "/v1.ckpt")
        let minor = try mamlHost(["eval", "--checkpoint", "v1.ckpt", "--tasks", "5"], in: dir)
        #expect(minor.status == 0, "\(minor.stderr)")
        #expect(minor.stderr.contains("note: v1.ckpt was made with org.mamlzoo.mlp 1.9.3, installed is 1.0.0"))
    }

    @Test func badArgumentsExitNonZeroWithMessages() throws {
        let dir = try temporaryDirectory()
        let task = try mamlHost(["train", "--task", "spirals", "--output", "x"], in: dir)
        #expect(task.status != 0)
        #expect(task.stderr.contains("unknown task \"spirals\"") && task.stderr.contains("sinusoid"))
        let key = try mamlHost(["train", "--task-config", #"{"amplitud": [1, 2]}"#, "--output", "x"], in: dir)
        #expect(key.status != 0)
        #expect(key.stderr.contains(#"unknown task config key "amplitud" for sinusoid (known: amplitude, phase, x)"#))
        let ways = try mamlHost(["train", "--ways", "5", "--output", "x"], in: dir)
        #expect(ways.status != 0)
        #expect(ways.stderr.contains(#"unknown task config key "ways" for sinusoid"#))
        let range = try mamlHost(["train", "--task-config", #"{"amplitude": [3, 1]}"#, "--output", "x"], in: dir)
        #expect(range.status != 0)
        #expect(range.stderr.contains("amplitude"))
        let shots = try mamlHost(["eval", "--checkpoint", "x", "--shots", "5,a"], in: dir)
        #expect(shots.status != 0)
        let batch = try mamlHost(["train", "--meta-batch", "0", "--iterations", "1", "--output", "x"], in: dir)
        #expect(batch.status != 0)
        #expect(batch.stderr.contains("--meta-batch 0: expected"), "errors name the flag typed, not the internal key")
        #expect(!FileManager.default.fileExists(atPath: dir + "/x"), "no checkpoint is written on failure")
    }

    @Test func benchReportsRatesAsJSON() throws {
        let run = try mamlHost(["bench"] + quickTraining + ["--iterations", "5", "--warmup", "1", "--json"])
        #expect(run.status == 0, "\(run.stderr)")
        let o = try jsonObject(run.stdout)
        let rate = try #require(o["meta_iterations_per_s"] as? Double)
        let tasks = try #require(o["tasks_per_s"] as? Double)
        #expect(rate > 0 && abs(tasks - 4 * rate) < 1e-6 * tasks)
        #expect(o["algorithm"] as? String == "maml")
        #expect(o["exact_hvp"] as? Bool == true)
    }
}
