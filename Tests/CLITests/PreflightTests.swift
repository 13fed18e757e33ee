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
        _ = try mamlHost(["train", "--iterations", "20", "--meta-lr", "5000", "--output", "d.ckpt"], in: dir)
        let saved = try Checkpoint.read(from: dir + "/d.ckpt")
        #expect(saved.header.iteration > 0)
        let run = try mamlHost(["eval", "--checkpoint", "d.ckpt", "--tasks", "20", "--json"], in: dir)
        #expect(run.status == 1, "\(run.stderr)")
        #expect(run.stderr.contains("every one of the 20 tasks diverged"), "\(run.stderr)")
        #expect(!run.stdout.isEmpty)
    }
}
