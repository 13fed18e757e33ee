// MARK: - --threads: the same bytes for every thread count (train, resume, eval, validation)
import Foundation
import Testing
import TestSupport

@Suite(.slow) struct ThreadsCommandTests {
    private func bytes(_ dir: String, _ name: String) throws -> Data {
        try Data(contentsOf: URL(fileURLWithPath: dir + "/" + name))
    }

    /// Meta-batch 5 splits unevenly over 2 and 3 threads; the MLP plugin makes one instance per thread.
    @Test(arguments: ["maml", "fomaml", "pretrain"])
    func checkpointsAreByteIdenticalForOneTwoAndThreeThreads(algorithm: String) throws {
        let dir = try temporaryDirectory()
        for threads in ["1", "2", "3"] {
            let run = try mamlHost(["train"] + quickTraining + ["--meta-batch", "5", "--algorithm", algorithm,
                                   "--iterations", "6", "--threads", threads, "--output", "t\(threads).ckpt"], in: dir)
            #expect(run.status == 0, "\(run.stderr)")
        }
        #expect(try bytes(dir, "t1.ckpt") == bytes(dir, "t2.ckpt"))
        #expect(try bytes(dir, "t1.ckpt") == bytes(dir, "t3.ckpt"))
    }

    @Test func resumingWithAnotherThreadCountAndValidatingGiveTheSameBytes() throws {
        let dir = try temporaryDirectory()
        let validation = ["--validate-every", "4", "--validate-tasks", "5", "--validate-steps", "1,3"]
        let straight = try mamlHost(["train"] + quickTraining + validation + [
            "--iterations", "8", "--threads", "1", "--output", "a.ckpt", "--best", "a-best.ckpt", "--log", "a.jsonl"], in: dir)
        #expect(straight.status == 0, "\(straight.stderr)")
        let first = try mamlHost(["train"] + quickTraining + ["--iterations", "3", "--threads", "2", "--output", "b.ckpt"], in: dir)
        #expect(first.status == 0, "\(first.stderr)")
        let resumed = try mamlHost(["train", "--resume", "b.ckpt", "--iterations", "8", "--threads", "3",
                                    "--output", "b.ckpt"], in: dir)
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(try bytes(dir, "a.ckpt") == bytes(dir, "b.ckpt"))

        // Validation during training on 2 threads: the same scores and the same best checkpoint.
        let parallel = try mamlHost(["train"] + quickTraining + validation + [
            "--iterations", "8", "--threads", "2", "--output", "c.ckpt", "--best", "c-best.ckpt", "--log", "c.jsonl"], in: dir)
        #expect(parallel.status == 0, "\(parallel.stderr)")
        #expect(try bytes(dir, "a-best.ckpt") == bytes(dir, "c-best.ckpt"))
        let scores = { (name: String) throws -> [Double] in
            try String(contentsOfFile: dir + "/" + name, encoding: .utf8).split(separator: "\n")
                .compactMap { try jsonObject(String($0))["validation_score"] as? Double }
        }
        #expect(try scores("a.jsonl").count == 2)
        #expect(try scores("a.jsonl") == scores("c.jsonl"))
    }

    @Test func evalJSONIsIdenticalForOneAndTwoThreads() throws {
        let dir = try temporaryDirectory()
        let train = try mamlHost(["train"] + quickTraining + ["--iterations", "3", "--output", "m.ckpt"], in: dir)
        #expect(train.status == 0, "\(train.stderr)")
        var outputs: [String] = []
        for threads in ["1", "2"] {
            let eval = try mamlHost(["eval", "--checkpoint", "m.ckpt", "--tasks", "9", "--shots", "3,5",
                                     "--steps", "0,2", "--threads", threads, "--json"], in: dir)
            #expect(eval.status == 0, "\(eval.stderr)")
            outputs.append(eval.stdout)
        }
        #expect(outputs[0] == outputs[1] && outputs[0].contains("\"mse\""))
    }

    @Test func threadCountsBelowOneAreRefusedAndBenchReportsTheCount() throws {
        for command in [["train", "--output", "x.ckpt"], ["eval", "--checkpoint", "x.ckpt"], ["bench"]] {
            let run = try mamlHost(command + ["--threads", "0"])
            #expect(run.status != 0)
            #expect(run.stderr.contains("--threads must be at least 1"), "\(run.stderr)")
        }
        let bench = try mamlHost(["bench"] + quickTraining + ["--iterations", "2", "--warmup", "0", "--threads", "2", "--json"])
        #expect(bench.status == 0, "\(bench.stderr)")
        #expect(try jsonObject(bench.stdout)["threads"] as? Int == 2)
    }
}
