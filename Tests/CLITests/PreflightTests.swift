// MARK: - train refuses, before any work, what could only fail (or destroy a file) at the end
import Foundation
import Testing
import MAMLCore
#if canImport(Glibc)
import Glibc
#endif

@Suite struct PreflightTests {
    /// Runs `train` with `arguments` in a fresh folder; the run must fail fast with `words` in stderr.
    func refused(_ arguments: [String], _ words: String, status: Int32 = 64, in dir: String? = nil) throws {
        let dir = try dir ?? temporaryDirectory()
        let start = Date()
        let run = try mamlHost(["train", "--iterations", "100000"] + arguments, in: dir)
        #expect(run.status == status, "\(arguments): \(run.stderr)")
        #expect(run.stderr.contains(words), "\(arguments): \(run.stderr)")
        #expect(Date().timeIntervalSince(start) < 10, "\(arguments) ran instead of being refused")
    }

    @Test func outputLocationsAreProbedFirst() throws {
        try refused(["--output", "/nonexistent-folder/x.ckpt"], "--output /nonexistent-folder/x.ckpt: cannot be written: the folder /nonexistent-folder does not exist")
        let dir = try temporaryDirectory()
        try refused(["--output", dir], "cannot be written: is a directory")
        let readOnly = dir + "/ro"
        mkdir(readOnly, 0o555)
        if getuid() != 0 {   // root writes anywhere
            try refused(["--output", readOnly + "/x.ckpt"], "cannot create a temporary file")
        }
        try refused(["--output", String(repeating: "x", count: 250) + ".ckpt"], "cannot create a temporary file")
        try refused(["--output", "a.ckpt", "--log", "/nonexistent-folder/m.jsonl"], "--log /nonexistent-folder/m.jsonl")
    }

    @Test func locationsMustDiffer() throws {
        try refused(["--output", "a.ckpt", "--log", "a.ckpt"], "--log and --output name the same file")
        try refused(["--output", "a.ckpt", "--best", "./a.ckpt", "--validate-every", "10"], "--best and --output name the same file")
        let dir = try temporaryDirectory()
        let made = try mamlHost(["train", "--iterations", "3", "--output", "r.ckpt"], in: dir)
        #expect(made.status == 0, "\(made.stderr)")
        let before = try Data(contentsOf: URL(fileURLWithPath: dir + "/r.ckpt"))
        try refused(["--resume", "r.ckpt", "--output", "o.ckpt", "--log", "r.ckpt"], "--log and --resume name the same file", in: dir)
        #expect(try Data(contentsOf: URL(fileURLWithPath: dir + "/r.ckpt")) == before)
    }

    @Test func resumeRefusesFlagsItWouldIgnoreAndIterationsBelowIt() throws {
        let dir = try temporaryDirectory()
        let made = try mamlHost(["train", "--iterations", "6", "--output", "r.ckpt"], in: dir)
        #expect(made.status == 0, "\(made.stderr)")
        try refused(["--resume", "r.ckpt", "--output", "r.ckpt", "--model", "cnn", "--inner-lr", "0.5"],
                    "remove --model, --inner-lr", in: dir)
        let below = try mamlHost(["train", "--resume", "r.ckpt", "--output", "r.ckpt", "--iterations", "4"], in: dir)
        #expect(below.status == 1)
        #expect(below.stderr.contains("--iterations 4 is below the iteration r.ckpt is at (6)"), "\(below.stderr)")
    }

    @Test func numbersAreCheckedNamingTheFlag() throws {
        try refused(["--output", "a.ckpt", "--meta-batch", "0"], "--meta-batch 0: expected")
        try refused(["--output", "a.ckpt", "--meta-lr", "1e39"], "--meta-lr 1e+39 is not a finite 32-bit float")
        try refused(["--output", "a.ckpt", "--inner-lr", "-0.5"], "--inner-lr -0.5: expected")
        try refused(["--output", "a.ckpt", "--seed", "-1"], "The value '-1' is invalid for '--seed")
        try refused(["--output", "a.ckpt", "--threads", "100000"], "--threads 100000 is more than 256")
    }

    @Test("eval, bench and demo name the flag of a bad number too, and take negative values as values")
    func otherCommandsNameTheirFlags() throws {
        let dir = try temporaryDirectory()
        let cases: [([String], String)] = [
            (["eval", "--checkpoint", "none.ckpt", "--tasks", "0"], "--tasks 0: expected 2...1000000"),
            (["eval", "--checkpoint", "none.ckpt", "--query", "0"], "--query 0: expected 1...1000000"),
            (["eval", "--checkpoint", "none.ckpt", "--steps", "-1"], "--steps: \"-1\" is not a non-negative integer"),
            (["eval", "--checkpoint", "none.ckpt", "--inner-lr", "-1"], "--inner-lr -1.0: expected a finite number >= 0"),
            (["eval", "--checkpoint", "none.ckpt", "--inner-lr", "1e39"], "--inner-lr is not a finite 32-bit float"),
            (["bench", "--meta-batch", "0"], "--meta-batch 0: expected 1...1000000"),
            (["bench", "--shots", "-3"], "--shots -3: expected 1...1000000"),
            (["bench", "--watchdog", "-1"], "--watchdog must be >= 0"),
            (["demo", "--iterations", "-5"], "--iterations must be at least 0, got -5"),
            (["demo", "--tasks", "1"], "--tasks 1: expected 2...1000000"),
            (["train", "--output", "a.ckpt", "--validate-every", "5", "--validate-steps", "-2"],
             "--validate-steps: \"-2\" is not a non-negative integer"),
        ]
        for (arguments, words) in cases {
            let run = try mamlHost(arguments, in: dir)
            #expect(run.status == 64, "\(arguments): \(run.stderr)")
            #expect(run.stderr.contains(words), "\(arguments): \(run.stderr)")
        }
    }

    @Test("a --task-config that is not JSON says where; a huge one is not echoed back")
    func taskConfigErrors() throws {
        try refused(["--output", "a.ckpt", "--task-config", "{\"amplitude\": [1,"],
                    "task \"sinusoid\" config is not valid JSON: line 1, column 18: expected a JSON value", status: 1)
        try refused(["--output", "a.ckpt", "--task", "glyphs", "--ways", "3", "--task-config", "[1, 2]"],
                    "--task-config must be a JSON object, found an array [1,2]", status: 1)
        let dir = try temporaryDirectory()
        let huge = try mamlHost(["train", "--output", "a.ckpt", "--task-config",
                                 "{\"" + String(repeating: "x", count: 120_000) + "\": 1}"], in: dir)
        #expect(huge.status == 1 && huge.stderr.contains("unknown task config key \"xxxx"), "\(huge.stderr.prefix(300))")
        #expect(huge.stderr.contains("(119") && huge.stderr.contains("more characters)"))
        #expect(huge.stderr.utf8.count < 2_000)
    }

    @Test("a metrics log that cannot be written (a full disk) stops the run with exit 1, keeping a checkpoint")
    func failedLogWriteIsAnError() throws {
        let dir = try temporaryDirectory()
        let run = try mamlHost(["train", "--iterations", "300", "--log", "/dev/full", "--log-every", "10",
                                "--output", "l.ckpt"], in: dir)
        #expect(run.status == 1)
        #expect(run.stderr.contains("cannot write log file /dev/full: No space left on device"), "\(run.stderr)")
        #expect(try Checkpoint.read(from: dir + "/l.ckpt").header.iteration == 10)
    }

    @Test("eval of parameters on which every task diverges exits 1 and says so (the results are still printed)")
    func evalOfDivergedParametersFails() throws {
        let dir = try temporaryDirectory()
        // Training no longer keeps a blown-up state (DivergenceTests); a fine-tuning rate of 1e30 blows up instead.
        _ = try mamlHost(["train", "--iterations", "2", "--meta-batch", "5", "--output", "d.ckpt"], in: dir)
        let run = try mamlHost(["eval", "--checkpoint", "d.ckpt", "--tasks", "20", "--inner-lr", "1e30", "--json"], in: dir)
        #expect(run.status == 1, "\(run.stderr)")
        #expect(run.stderr.contains("every one of the 20 tasks diverged"), "\(run.stderr)")
        #expect(!run.stdout.isEmpty)
    }
}
