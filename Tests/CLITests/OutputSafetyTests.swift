// MARK: - Checkpoint files: strangers refused fast, one writer per output, no stale temporaries
import Foundation
import Testing
import MAMLCore
#if canImport(Glibc)
import Glibc
#endif

@Suite struct OutputSafetyTests {
    @Test("a 3 GiB file that is not a checkpoint is refused in well under a second, naming it; a FIFO does not hang")
    func strangersAreRefusedFast() throws {
        let dir = try temporaryDirectory()
        let big = dir + "/big.ckpt"
        #expect(truncate(big, 0) != 0 || true)
        let fd = open(big, O_WRONLY | O_CREAT, 0o644)
        #expect(ftruncate(fd, 3 << 30) == 0)   // sparse: 3 GiB of zeros, no disk used
        close(fd)
        let start = Date()
        #expect(throws: CheckpointError.self) { try Checkpoint.read(from: big) }
        #expect(Date().timeIntervalSince(start) < 1)
        let run = try mamlHost(["eval", "--checkpoint", "big.ckpt"], in: dir)
        #expect(run.status != 0)
        #expect(run.stderr.contains("big.ckpt") && run.stderr.contains("not a maml-zoo checkpoint"), "\(run.stderr)")

        let fifo = dir + "/pipe.ckpt"
        #expect(mkfifo(fifo, 0o644) == 0)
        let started = Date()
        let piped = try mamlHost(["eval", "--checkpoint", "pipe.ckpt"], in: dir)
        #expect(piped.status != 0)
        #expect(piped.stderr.contains("pipe.ckpt") && piped.stderr.contains("not a regular file"), "\(piped.stderr)")
        #expect(Date().timeIntervalSince(started) < 20)
    }

    @Test("a second trainer on the same --output is refused naming the first one's PID")
    func oneWriterPerOutput() throws {
        let dir = try temporaryDirectory()
        let first = try startMamlHost(["train", "--iterations", "100000000", "--output", "o.ckpt"], in: dir)
        defer { kill(first.processIdentifier, SIGTERM); first.waitUntilExit() }   // forwarded: the worker stops too
        // Wait until the first one holds the lock (its lock file names a PID).
        var holder = ""
        for _ in 0..<400 where holder.isEmpty {
            holder = (try? String(contentsOfFile: dir + "/.o.ckpt.lock", encoding: .utf8))?
                .trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
            usleep(25_000)
        }
        #expect(!holder.isEmpty)
        let second = try mamlHost(["train", "--iterations", "10", "--output", "o.ckpt"], in: dir)
        #expect(second.status != 0)
        #expect(second.stderr.contains("o.ckpt is being written by another maml-host (PID \(holder))"), "\(second.stderr)")
    }

    @Test("temporary files of a process killed mid-write are removed by the next run on that output")
    func staleTemporariesAreRemoved() throws {
        let dir = try temporaryDirectory()
        let gone = Process()
        gone.executableURL = URL(fileURLWithPath: "/bin/true")
        try gone.run(); gone.waitUntilExit()
        let stale = dir + "/.s.ckpt.tmp-\(gone.processIdentifier)-1a2b3c"
        #expect(FileManager.default.createFile(atPath: stale, contents: Data([1, 2, 3])))
        let live = dir + "/.s.ckpt.tmp-\(getpid())-4d5e6f"   // a live process's: kept
        #expect(FileManager.default.createFile(atPath: live, contents: Data([1])))
        let run = try mamlHost(["train", "--iterations", "2", "--output", "s.ckpt"], in: dir)
        #expect(run.status == 0, "\(run.stderr)")
        #expect(!FileManager.default.fileExists(atPath: stale))
        #expect(FileManager.default.fileExists(atPath: live))
        #expect(run.stderr.contains("removed temporary files of s.ckpt"))
    }
}
