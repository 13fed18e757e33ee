// MARK: - image-folder end to end: train, eval, a moved or changed folder, kill -9 during decoding

import Foundation
import Testing
import TestSupport

@Suite struct ImageFolderCommandTests {
    static let model = ["--model", "cnn", "--config", "{\"channels\":[4],\"blocks\":2}"]

    @Test("train and eval on a folder; eval finds it, or takes --data after a move; other images are refused unless allowed")
    func trainEvalMoveChange() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try ImageTree.write(dir + "/tree", classes: 8, perClass: 6, side: 12)
        let env: [String: String?] = ["MAML_CACHE_DIR": dir + "/cache"]
        let train = try mamlHost(["train"] + Self.model + ["--task", "image-folder", "--data", "tree", "--task-config", "{\"size\":12}",
                                                           "--ways", "2", "--shots", "1", "--query", "2", "--meta-batch", "2",
                                                           "--inner-lr", "0.1", "--iterations", "3", "--output", "a.ckpt"],
                                 in: dir, environment: env)
        #expect(train.status == 0, "\(train.stderr)")
        #expect(train.stderr.contains("note: image-folder: decoded 48 images of 8 classes into \(dir)/cache/image-folder-"))
        let evalArgs = ["eval", "--checkpoint", "a.ckpt", "--tasks", "10", "--shots", "1", "--query", "4", "--steps", "0,1", "--json"]
        let eval = try mamlHost(evalArgs, in: dir, environment: env)
        #expect(eval.status == 0 && eval.stdout.contains("\"accuracy\""), "\(eval.stderr)")
        #expect(eval.stderr.contains("using the decoded cache"))

        // Moved: the recorded (absolute) path fails, naming the way out; --data finds it, with no cache yet.
        try FileManager.default.moveItem(atPath: dir + "/tree", toPath: dir + "/moved")
        let lost = try mamlHost(evalArgs, in: dir, environment: env)
        #expect(lost.status != 0 && lost.stderr.contains("\(dir)/tree does not exist") && lost.stderr.contains("--data DIR"), "\(lost.stderr)")
        let found = try mamlHost(evalArgs + ["--data", "moved"], in: dir, environment: env)
        #expect(found.status == 0 && found.stdout == eval.stdout, "\(found.stderr)")

        // Resume at the new place records it: a later eval needs no --data.
        let resumed = try mamlHost(["train", "--resume", "a.ckpt", "--data", "moved", "--iterations", "4", "--output", "a.ckpt"],
                                   in: dir, environment: env)
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(try mamlHost(evalArgs, in: dir, environment: env).status == 0)

        // Changed: one more image in a class.
        try FileManager.default.copyItem(atPath: dir + "/moved/c01/i00.png", toPath: dir + "/moved/c01/extra.png")
        let changed = try mamlHost(evalArgs, in: dir, environment: env)
        #expect(changed.status != 0 && changed.stderr.contains("holds other images than the ones recorded"), "\(changed.stderr)")
        let allowed = try mamlHost(evalArgs + ["--allow-other-data"], in: dir, environment: env)
        #expect(allowed.status == 0 && allowed.stderr.contains("was trained on other images"), "\(allowed.stderr)")
        // --data on a family without a folder is refused by name.
        let sine = try mamlHost(["eval", "--checkpoint", repositoryRoot + "/models/zoo/mlp-sinusoid-maml.ckpt", "--data", "x", "--tasks", "2"],
                                in: dir, environment: env)
        #expect(sine.status != 0 && sine.stderr.contains("--data applies to task families with a data folder"), "\(sine.stderr)")
    }

    @Test("kill -9 while the cache is being written leaves no cache; the next run removes the temporary and builds it", .slow)
    func killDuringDecoding() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // 1,200 copies of 6 images of 160 x 160: about a second of decoding.
        try ImageTree.write(dir + "/tree", classes: 6, perClass: 1, side: 160)
        for c in 0..<6 {
            for i in 1..<200 {
                try FileManager.default.copyItem(atPath: dir + String(format: "/tree/c%02d/i00.png", c),
                                                 toPath: dir + String(format: "/tree/c%02d/i%03d.png", c, i))
            }
        }
        let cache = dir + "/cache"
        let process = Process()
        process.executableURL = URL(fileURLWithPath: buildDirectory + "/maml-host")
        let bench = ["bench"] + Self.model + ["--task", "image-folder", "--data", dir + "/tree", "--task-config", "{\"size\":16}",
                                              "--ways", "2", "--shots", "1", "--query", "1", "--meta-batch", "1",
                                              "--iterations", "1", "--warmup", "0"]
        process.arguments = bench
        process.environment = testEnvironment(["MAML_CACHE_DIR": cache, "MAML_SUPERVISE": "0"])
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        var sawTemporary = false
        for _ in 0..<400 where !sawTemporary {
            usleep(10_000)
            sawTemporary = ((try? FileManager.default.contentsOfDirectory(atPath: cache)) ?? []).contains { $0.contains(".tmp-") }
        }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        try #require(sawTemporary, "no temporary cache file appeared")
        let left = try FileManager.default.contentsOfDirectory(atPath: cache)
        #expect(!left.contains { $0.hasSuffix(".cache") && !$0.hasPrefix(".") }, "\(left)")
        let again = try mamlHost(bench, in: dir, environment: ["MAML_CACHE_DIR": cache])
        #expect(again.status == 0, "\(again.stderr)")
        let now = try FileManager.default.contentsOfDirectory(atPath: cache)
        #expect(now.count == 1 && now[0].hasSuffix(".cache") && !now[0].hasPrefix("."), "\(now)")
    }

    // MARK: Real photographs and the MAML paper's MiniImageNet setup

    @Test("real photographs: Fashion-MNIST written as a tree of JPEGs, meta-trained and evaluated well above chance",
          .slow, .enabled(if: FileManager.default.fileExists(atPath: "/usr/share/datasets/fashion-mnist/train-labels-idx1-ubyte.gz"),
                          "needs Debian's dataset-fashion-mnist (.ci/setup installs it)"))
    func fashionMNIST() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let tree = try mamlHost(["fashion-mnist", "--out", "\(dir)/fm", "--per-class", "40", "--format", "jpg"], program: "image-tree")
        try #require(tree.status == 0, "\(tree.stderr)")
        let env: [String: String?] = ["MAML_CACHE_DIR": dir + "/cache"]
        let train = try mamlHost(["train", "--model", "cnn", "--config", "{\"channels\":[16]}", "--task", "image-folder", "--data", "fm",
                                  "--task-config", "{\"channels\":1,\"size\":28}", "--ways", "2", "--shots", "1", "--query", "5",
                                  "--meta-batch", "4", "--inner-lr", "0.1", "--iterations", "20", "--output", "fm.ckpt"],
                                 in: dir, environment: env)
        try #require(train.status == 0, "\(train.stderr)")
        #expect(train.stderr.contains("decoded 400 images of 10 classes"))
        let eval = try mamlHost(["eval", "--checkpoint", "fm.ckpt", "--shots", "5", "--steps", "0,5", "--tasks", "40", "--query", "10", "--json"],
                                in: dir, environment: env)
        try #require(eval.status == 0, "\(eval.stderr)")
        let results = try #require((try JSONSerialization.jsonObject(with: Data(eval.stdout.utf8)) as? [String: Any])?["results"] as? [[String: Any]])
        let adapted = try #require(results.first { $0["steps"] as? Int == 5 }?["accuracy"] as? Double)
        // Two clothing classes from five photographs each: chance is 50%.
        #expect(adapted > 0.7, "accuracy after 5 steps \(adapted): \(eval.stdout)")
    }

    @Test("the MAML paper's MiniImageNet conv4 (3x84x84, 32 filters, 5-way, lr 0.01, 5 steps, meta-batch 4) trains; eval takes 10 steps",
          .slow)
    func miniImageNetSetup() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let tree = try mamlHost(["synthetic", "--out", "\(dir)/mini", "--classes", "15", "--per-class", "4", "--size", "84"],
                                program: "image-tree")   // classes layout: pools of 5 / 5 / 5
        try #require(tree.status == 0, "\(tree.stderr)")
        let env: [String: String?] = ["MAML_CACHE_DIR": dir + "/cache"]
        // One query image per class keeps this to seconds in a debug build; the rest is the paper's.
        let train = try mamlHost(["train", "--model", "cnn", "--config", "{\"channels\":[32]}", "--task", "image-folder", "--data", "mini",
                                  "--ways", "5", "--shots", "1", "--query", "1", "--meta-batch", "4", "--inner-steps", "5",
                                  "--inner-lr", "0.01", "--iterations", "1", "--output", "mini.ckpt"], in: dir, environment: env)
        try #require(train.status == 0, "\(train.stderr)")
        #expect(train.stdout.contains("(32901 parameters) on image-folder: maml, k=5, alpha=0.01, meta-batch 4"), "\(train.stdout)")
        let eval = try mamlHost(["eval", "--checkpoint", "mini.ckpt", "--shots", "1", "--steps", "10", "--tasks", "2", "--query", "1"],
                                in: dir, environment: env)
        #expect(eval.status == 0 && eval.stdout.contains("1     10"), "\(eval.stdout)\(eval.stderr)")
    }
}
