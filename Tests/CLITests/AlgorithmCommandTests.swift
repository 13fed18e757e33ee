// MARK: - The meta-learner family from the command line: train, eval with the checkpoint's own step, refusals
import Foundation
import Testing
import MAMLCore

@Suite struct AlgorithmCommandTests {
    /// MSE per step count from `eval --json`.
    func evalMSE(_ checkpoint: String, in dir: String, _ extra: [String] = []) throws -> [Double] {
        let run = try mamlHost(["eval", "--checkpoint", checkpoint, "--tasks", "10", "--shots", "5", "--steps", "0,1",
                                "--json"] + extra, in: dir)
        #expect(run.status == 0, "\(run.stderr)")
        let results = try #require(try jsonObject(run.stdout)["results"] as? [[String: Any]])
        return results.compactMap { $0["mse"] as? Double }
    }

    @Test("a Meta-SGD checkpoint fine-tunes with its learned rates: it adapts even with --inner-lr 0, MAML does not")
    func learnedRatesAdapt() throws {
        let dir = try temporaryDirectory()
        for algorithm in ["meta-sgd", "maml"] {
            let train = try mamlHost(["train", "--algorithm", algorithm, "--iterations", "20", "--meta-batch", "5",
                                      "--output", "\(algorithm).ckpt"], in: dir)
            #expect(train.status == 0, "\(train.stderr)")
        }
        let saved = try Checkpoint.read(from: dir + "/meta-sgd.ckpt")
        #expect(saved.header.learnedRates == 1761 && saved.parameters.count == 2 * 1761)
        let metaSGD = try evalMSE("meta-sgd.ckpt", in: dir, ["--inner-lr", "0"])
        #expect(metaSGD.count == 2 && metaSGD[1] != metaSGD[0], "\(metaSGD)")
        let maml = try evalMSE("maml.ckpt", in: dir, ["--inner-lr", "0"])
        #expect(maml.count == 2 && maml[1] == maml[0], "\(maml)")
    }

    @Test("every optimisation-based algorithm trains and evaluates from the CLI, on one and two threads alike",
          arguments: [["--algorithm", "reptile", "--inner-steps", "3", "--optimizer", "sgd", "--meta-lr", "0.5"],
                      ["--algorithm", "reptile", "--inner-optimizer", "adam"],
                      ["--algorithm", "anil"],
                      ["--algorithm", "imaml", "--imaml-lambda", "2", "--cg-steps", "3"],
                      ["--algorithm", "maml", "--inner-steps", "2", "--lslr", "--multi-step-loss"]])
    func trainsAndEvaluates(arguments: [String]) throws {
        let dir = try temporaryDirectory()
        for threads in ["1", "2"] {
            let train = try mamlHost(["train", "--iterations", "4", "--meta-batch", "4", "--threads", threads,
                                      "--output", "t\(threads).ckpt"] + arguments, in: dir)
            #expect(train.status == 0, "\(train.stderr)")
        }
        let one = try Data(contentsOf: URL(fileURLWithPath: dir + "/t1.ckpt"))
        #expect(one == (try Data(contentsOf: URL(fileURLWithPath: dir + "/t2.ckpt"))))
        #expect(try evalMSE("t1.ckpt", in: dir).allSatisfy(\.isFinite))
    }

    @Test("settings for another algorithm, and ANIL without a layout, are refused saying why")
    func refusals() throws {
        let dir = try temporaryDirectory()
        let cases: [([String], String)] = [
            (["--algorithm", "reptile", "--lslr"], "--lslr applies to fomaml and maml, not to reptile"),
            (["--imaml-lambda", "2"], "--imaml-lambda and --cg-steps apply to imaml, not to maml"),
            (["--inner-optimizer", "adam"], "--inner-optimizer applies to reptile, not to maml"),
            (["--algorithm", "imaml", "--imaml-lambda", "0"], "--imaml-lambda 0.0: expected a finite number > 0"),
            (["--algorithm", "maml", "--lslr", "--inner-steps", "0"], "--inner-steps 0: expected at least 1 with lslr"),
        ]
        for (arguments, words) in cases {
            let run = try mamlHost(["train", "--output", "x.ckpt"] + arguments, in: dir)
            #expect(run.status == 64 && run.stderr.contains(words), "\(arguments): \(run.stderr)")
        }
        let plugins = try buildFixturePlugin("libnoext.so", ["-DFX_NO_EXT", "-DFX_TAG=\"-noext\""])
        let anil = try mamlHost(["train", "--plugin-dir", plugins, "--model", "linreg-noext", "--config",
                                 #"{"inputs":1,"outputs":1}"#, "--algorithm", "anil", "--iterations", "1", "--output", "a.ckpt"],
                                in: dir)
        #expect(anil.status == 1 && anil.stderr.contains("publishes no layout"), "\(anil.stderr)")
    }

    @Test("protonet trains the CNN as an embedding, evaluates with no step column, and is refused where it cannot run")
    func protoNets() throws {
        let dir = try temporaryDirectory()
        let train = try mamlHost(["train", "--model", "cnn", "--config", #"{"channels":[8],"classes":16}"#, "--task", "glyphs",
                                  "--ways", "3", "--shots", "1", "--query", "2", "--algorithm", "protonet", "--meta-batch", "2",
                                  "--iterations", "2", "--output", "p.ckpt"], in: dir)
        #expect(train.status == 0, "\(train.stderr)")
        let table = try mamlHost(["eval", "--checkpoint", "p.ckpt", "--tasks", "4", "--shots", "1,2"], in: dir)
        #expect(table.status == 0, "\(table.stderr)")
        #expect(table.stdout.contains("K  ACCURACY") && !table.stdout.contains("STEPS"), "\(table.stdout)")
        #expect(table.stdout.contains("classified by distance to the support set's prototypes"))
        let json = try mamlHost(["eval", "--checkpoint", "p.ckpt", "--tasks", "4", "--shots", "1", "--json"], in: dir)
        let rows = try #require(try jsonObject(json.stdout)["results"] as? [[String: Any]])
        #expect(rows.count == 1 && rows[0]["steps"] == nil && rows[0]["accuracy"] as? Double != nil)

        let regression = try mamlHost(["train", "--algorithm", "protonet", "--iterations", "1", "--output", "r.ckpt"], in: dir)
        #expect(regression.status == 1 && regression.stderr.contains("needs classification tasks"), "\(regression.stderr)")
        let plugins = try buildFixturePlugin("libv10.so", ["-DFX_ABI_MINOR=0", "-DFX_TAG=\"-v10\""])
        let old = try mamlHost(["train", "--plugin-dir", plugins, "--model", "linreg-v10", "--config", #"{"inputs":1,"outputs":1}"#,
                                "--algorithm", "protonet", "--iterations", "1", "--output", "o.ckpt"], in: dir)
        #expect(old.status == 1 && old.stderr.contains("must offer \"maml.vjp/1\" (ABI 1.1)"), "\(old.stderr)")
    }

    @Test("Reptile's outer rate anneals to 0 over the iterations a run starts with; extending it says so and moves nothing")
    func reptileAnnealing() throws {
        let dir = try temporaryDirectory()
        let first = try mamlHost(["train", "--algorithm", "reptile", "--iterations", "3", "--meta-batch", "2",
                                  "--output", "r.ckpt"], in: dir)
        #expect(first.status == 0, "\(first.stderr)")
        let before = try Checkpoint.read(from: dir + "/r.ckpt")
        #expect(before.header.training.options.annealIterations == 3)
        let more = try mamlHost(["train", "--resume", "r.ckpt", "--iterations", "5", "--output", "r.ckpt"], in: dir)
        #expect(more.status == 0 && more.stderr.contains("anneals to 0 at iteration 3"), "\(more.stderr)")
        let after = try Checkpoint.read(from: dir + "/r.ckpt")
        #expect(after.header.iteration == 5 && after.parameters == before.parameters)
    }
}
