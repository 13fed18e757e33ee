// MARK: - Crash-isolated work: a plugin that crashes, exits or hangs inside loss_grad
import Foundation
import Testing
import TestSupport
import MAMLCore
#if canImport(Glibc)
import Glibc
#endif

/// The fixture plugin misbehaving on its (n+1)-th loss_grad call, in a folder of its own.
private func misbehaving(_ how: String, after calls: Int = 30) throws -> String {
    try buildFixturePlugin("lib\(how).so", ["-DFX_MISBEHAVE_AFTER=\(calls)", "-DFX_MISBEHAVE=\"\(how)\""])
}

/// Linear regression on sinusoid tasks, one thread (the fixture's call counter is
/// process-wide), 8 loss_grad calls per meta-iteration: call 31 is task 3's support
/// gradient in meta-iteration 3.
private let linreg = ["--model", "linreg", "--config", "{\"inputs\":1,\"outputs\":1}", "--meta-batch", "4",
                      "--threads", "1"]

@Suite("Supervised training", .slow)
struct SupervisionTests {
    @Test("a crash, an abort or an exit(0) in loss_grad: a short report naming model, plugin, iteration, task and stage; non-zero exit; the last checkpoint kept",
          arguments: [("segv", Int32(128 + 11), "killed by SIGSEGV"), ("abort", Int32(128 + 6), "killed by SIGABRT"),
                      ("exit0", Int32(70), "exited with status 0 without finishing")])
    func crashesAreReported(how: String, status: Int32, words: String) throws {
        let plugins = try misbehaving(how)
        let dir = try temporaryDirectory()
        let run = try mamlHost(["train", "--plugin-dir", plugins] + linreg
                               + ["--iterations", "30", "--checkpoint-every", "2", "--output", "m.ckpt"], in: dir)
        #expect(run.status == status, "\(run.stderr)")
        #expect(run.stderr.contains(words), "\(run.stderr)")
        #expect(run.stderr.contains("org.test.linreg") && run.stderr.contains(plugins + "/lib\(how).so"))
        #expect(run.stderr.contains("meta-iteration 3, task 3: support-set gradient (inner step 0)"), "\(run.stderr)")
        #expect(run.stderr.contains("saved:  m.ckpt holds iteration 2"))
        #expect(run.stderr.contains("--resume m.ckpt"))
        // A few lines, not a crash dump.
        #expect(run.stderr.split(separator: "\n").count <= 8, "\(run.stderr)")
        #expect(try Checkpoint.read(from: dir + "/m.ckpt").header.iteration == 2)
    }

    @Test("a hang in loss_grad is ended by the watchdog within seconds, reported, and exits non-zero")
    func hangsAreEnded() throws {
        let plugins = try misbehaving("hang")
        let dir = try temporaryDirectory()
        let start = Date()
        let run = try mamlHost(["train", "--plugin-dir", plugins] + linreg
                               + ["--iterations", "30", "--checkpoint-every", "2", "--output", "h.ckpt", "--watchdog", "2"],
                               in: dir)
        #expect(run.status == 70, "\(run.stderr)")
        #expect(run.stderr.contains("made no progress for 2 s"), "\(run.stderr)")
        #expect(run.stderr.contains("meta-iteration 3, task 3: support-set gradient"))
        #expect(Date().timeIntervalSince(start) < 30)
        #expect(try Checkpoint.read(from: dir + "/h.ckpt").header.iteration == 2)
    }

    @Test("--restart N resumes after each crash; the result is byte-identical to a run that never crashed")
    func restartsFinishTheRun() throws {
        let crashing = try misbehaving("segv")
        let plain = try buildFixturePlugin("libplain.so", [])
        let dir = try temporaryDirectory()
        let crashed = try mamlHost(["train", "--plugin-dir", crashing] + linreg
                                   + ["--iterations", "30", "--checkpoint-every", "1", "--output", "r.ckpt", "--restart", "20"],
                                   in: dir)
        #expect(crashed.status == 0, "\(crashed.stderr)")
        #expect(crashed.stderr.contains("restarting from r.ckpt at iteration"))
        let clean = try mamlHost(["train", "--plugin-dir", plain] + linreg
                                 + ["--iterations", "30", "--output", "c.ckpt"], in: dir)
        #expect(clean.status == 0, "\(clean.stderr)")
        let a = try Data(contentsOf: URL(fileURLWithPath: dir + "/r.ckpt"))
        let b = try Data(contentsOf: URL(fileURLWithPath: dir + "/c.ckpt"))
        #expect(a == b)
    }

    @Test("checkpoints every --checkpoint-seconds: a crash without --checkpoint-every still keeps recent work")
    func timedCheckpoints() throws {
        let plugins = try misbehaving("hang", after: 8 * 20_000)
        let dir = try temporaryDirectory()
        let run = try mamlHost(["train", "--plugin-dir", plugins] + linreg
                               + ["--iterations", "100000", "--checkpoint-seconds", "0.05", "--output", "t.ckpt",
                                  "--watchdog", "2"], in: dir)
        #expect(run.status == 70)
        let saved = try Checkpoint.read(from: dir + "/t.ckpt")
        #expect(saved.header.iteration > 0 && saved.header.iteration <= 20_000, "\(saved.header.iteration)")
    }

    @Test("eval: a crashing plugin is reported with the evaluation task and stage, exit non-zero, no JSON on stdout")
    func evalCrash() throws {
        let plain = try buildFixturePlugin("libplain.so", [])
        let crashing = try misbehaving("segv", after: 5)
        let dir = try temporaryDirectory()
        let trained = try mamlHost(["train", "--plugin-dir", plain] + linreg + ["--iterations", "2", "--output", "e.ckpt"], in: dir)
        #expect(trained.status == 0, "\(trained.stderr)")
        let run = try mamlHost(["eval", "--plugin-dir", crashing, "--checkpoint", "e.ckpt", "--tasks", "20", "--json",
                                "--threads", "1"], in: dir)
        #expect(run.status == 139, "\(run.stderr)")
        #expect(run.stderr.contains("eval worker was killed by SIGSEGV"), "\(run.stderr)")
        #expect(run.stderr.contains("where:  task ") && run.stderr.contains(": evaluation: "), "\(run.stderr)")
        #expect(run.stdout.isEmpty)
    }
}
