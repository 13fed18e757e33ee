// MARK: - mpirun: the same bytes on 1, 2 and 3 ranks; a killed rank ends the job; resume on other N
//
// These run the MPI build of maml-host (`swift build --traits MPI --scratch-path .build/mpi`,
// which .ci/mpi makes; or the binary in MAML_MPI_HOST) under Open MPI's mpirun, and are
// skipped when either is missing: the default build and tests need no MPI.
import Foundation
import Testing
import TestSupport

/// The MPI build's maml-host (plugins beside it), if built.
let mpiHost: String? = {
    let path = ProcessInfo.processInfo.environment["MAML_MPI_HOST"]
        ?? String(#filePath.dropLast("Tests/CLITests/MPICommandTests.swift".count)) + ".build/mpi/debug/maml-host"
    return FileManager.default.isExecutableFile(atPath: path) ? path : nil
}()

/// mpirun on PATH, if installed.
let mpirun: String? = (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":")
    .map { $0 + "/mpirun" }.first { FileManager.default.isExecutableFile(atPath: $0) }

/// `mpirun --oversubscribe -np N HOST arguments` in `directory` (root allowed the documented way).
func mpiProcess(ranks: Int, _ arguments: [String], host: String? = mpiHost, in directory: String) -> Process {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: mpirun!)
    process.arguments = ["--oversubscribe", "-np", String(ranks), host!] + arguments
    process.currentDirectoryURL = URL(fileURLWithPath: directory)
    process.environment = testEnvironment(["OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1"])
    return process
}

/// Runs it to the end.
func mpiRun(ranks: Int, _ arguments: [String], host: String? = mpiHost, in directory: String) throws -> Run {
    try runToEnd(mpiProcess(ranks: ranks, arguments, host: host, in: directory))
}

@Suite(.enabled(if: mpiHost != nil && mpirun != nil, "needs the MPI build (.ci/mpi) and mpirun"), .serialized)
struct MPICommandTests {
    private func bytes(_ dir: String, _ name: String) throws -> Data {
        try Data(contentsOf: URL(fileURLWithPath: dir + "/" + name))
    }

    /// Metric lines without their wall-clock field.
    private func metrics(_ dir: String, _ name: String) throws -> String {
        try String(contentsOfFile: dir + "/" + name, encoding: .utf8)
            .replacingOccurrences(of: #""elapsed_s":[^,}]*,?"#, with: "", options: .regularExpression)
    }

    /// Meta-batch 5 splits unevenly over 2 and 3 ranks; validation (9 tasks) too. The reference
    /// is the default build in one process.
    @Test func checkpointsLogsAndBestAreByteIdenticalOnOneTwoAndThreeRanks() throws {
        let dir = try temporaryDirectory()
        let common = ["train"] + quickTraining + ["--meta-batch", "5", "--iterations", "12",
                      "--validate-every", "4", "--validate-tasks", "9", "--validate-steps", "1,3"]
        let one = try mamlHost(common + ["--threads", "2", "--output", "r1.ckpt", "--best", "b1.ckpt", "--log", "l1.jsonl"], in: dir)
        #expect(one.status == 0, "\(one.stderr)")
        for (ranks, threads) in [(2, "1"), (3, "2")] {
            let run = try mpiRun(ranks: ranks, common + ["--threads", threads, "--output", "r\(ranks).ckpt",
                                 "--best", "b\(ranks).ckpt", "--log", "l\(ranks).jsonl"], in: dir)
            #expect(run.status == 0, "\(run.stderr)")
            #expect(run.stdout.contains("tasks split over \(ranks) MPI ranks"))
            #expect(try bytes(dir, "r1.ckpt") == bytes(dir, "r\(ranks).ckpt"))
            #expect(try bytes(dir, "b1.ckpt") == bytes(dir, "b\(ranks).ckpt"))
            #expect(try metrics(dir, "l1.jsonl") == metrics(dir, "l\(ranks).jsonl"))
        }
        // eval: the same table from 1 and 3 ranks (11 tasks: uneven shares).
        let evalArguments = ["eval", "--checkpoint", "r1.ckpt", "--tasks", "11", "--shots", "5,10", "--json"]
        let evalOne = try mamlHost(evalArguments, in: dir)
        let evalThree = try mpiRun(ranks: 3, evalArguments, in: dir)
        #expect(evalOne.status == 0 && evalThree.status == 0, "\(evalThree.stderr)")
        #expect(evalOne.stdout == evalThree.stdout)
    }

    /// Diverging tasks dropped on whichever rank computes them: the same notes and bytes.
    @Test func skippedTasksAreTheSameOnTwoRanks() throws {
        let dir = try temporaryDirectory()
        let common = ["train"] + quickTraining + ["--meta-batch", "6", "--iterations", "40", "--inner-lr", "5",
                                                  "--on-nan", "skip-task"]
        let one = try mamlHost(common + ["--output", "s1.ckpt"], in: dir)
        let two = try mpiRun(ranks: 2, common + ["--output", "s2.ckpt"], in: dir)
        #expect(one.status == 0 && two.status == 0, "\(two.stderr)")
        #expect(one.stderr.contains("skipped diverging task"))
        #expect(one.stderr.split(separator: "\n").filter { $0.hasPrefix("note: meta-iteration") }
                == two.stderr.split(separator: "\n").filter { $0.hasPrefix("note: meta-iteration") })
        #expect(try bytes(dir, "s1.ckpt") == bytes(dir, "s2.ckpt"))
        // --on-nan stop: every rank stops with the error of the first diverging task, from another rank's share.
        let stopped = try mpiRun(ranks: 3, ["train"] + quickTraining + ["--meta-batch", "6", "--iterations", "40",
                                 "--inner-lr", "1.5", "--output", "x.ckpt"], in: dir)
        let alone = try mamlHost(["train"] + quickTraining + ["--meta-batch", "6", "--iterations", "40",
                                  "--inner-lr", "1.5", "--output", "y.ckpt"], in: dir)
        #expect(stopped.status != 0 && alone.status == 1)
        let firstLine = alone.stderr.split(separator: "\n").first.map(String.init) ?? "?"
        #expect(firstLine.contains("diverged"))
        #expect(stopped.stderr.contains(firstLine.replacingOccurrences(of: "y.ckpt", with: "x.ckpt")), "\(stopped.stderr)")
    }

    /// kill -9 of rank 1 mid-run: the job ends within seconds, non-zero, naming the rank and
    /// host; resuming its last checkpoint on 3 ranks gives the bytes of one uninterrupted process.
    @Test func killedRankEndsTheJobAndTheRunResumesOnAnotherNumberOfRanks() throws {
        let dir = try temporaryDirectory()
        let common = ["train"] + quickTraining + ["--threads", "1"]
        let process = mpiProcess(ranks: 2, common + ["--iterations", "100000", "--output", "k.ckpt",
                                 "--checkpoint-every", "50"], in: dir)
        let err = Pipe()
        process.standardOutput = FileHandle.nullDevice
        process.standardError = err
        try process.run()
        let errData = PipeReader(err)
        let deadline = Date().addingTimeInterval(60)
        while !FileManager.default.fileExists(atPath: dir + "/k.ckpt") && process.isRunning && Date() < deadline {
            usleep(20_000)
        }
        let rank1 = try #require(rankProcess(1, under: process.processIdentifier), "rank 1's process")
        let killed = Date()
        kill(rank1, SIGKILL)
        while process.isRunning && Date().timeIntervalSince(killed) < 30 { usleep(20_000) }
        let seconds = Date().timeIntervalSince(killed)
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
        let stderr = String(decoding: errData.data(), as: UTF8.self)
        #expect(seconds < 10, "the job took \(seconds) s to end")
        #expect(process.terminationStatus != 0)
        #expect(stderr.contains("rank 1") && stderr.contains("signal 9"), "\(stderr)")
        #expect(stderr.contains("node \(ProcessInfo.processInfo.hostName)") || stderr.contains("host"), "\(stderr)")

        let resumed = try mpiRun(ranks: 3, ["train", "--resume", "k.ckpt", "--iterations", "400", "--threads", "1",
                                            "--output", "k.ckpt"], in: dir)
        #expect(resumed.status == 0, "\(resumed.stderr)")
        let straight = try mamlHost(common + ["--iterations", "400", "--output", "s.ckpt"], in: dir)
        #expect(straight.status == 0, "\(straight.stderr)")
        #expect(try bytes(dir, "k.ckpt") == bytes(dir, "s.ckpt"))
    }

    /// A build without the trait refuses to run as one of several ranks, with a message.
    @Test func aBuildWithoutMPIRefusesUnderMpirun() throws {
        let dir = try temporaryDirectory()
        let run = try mpiRun(ranks: 2, ["train"] + quickTraining + ["--iterations", "2", "--output", "n.ckpt"],
                             host: buildDirectory + "/maml-host", in: dir)
        #expect(run.status != 0)
        #expect(run.stderr.contains("built without MPI"), "\(run.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/n.ckpt"))
    }
}

/// The pid of the child of `launcher` (mpirun) that is rank `rank` (its OMPI_COMM_WORLD_RANK).
func rankProcess(_ rank: Int, under launcher: Int32) -> Int32? {
    let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
    for entry in entries {
        guard let pid = Int32(entry),
              let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { continue }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 2, Int32(fields[1]) == launcher,
              let environ = FileManager.default.contents(atPath: "/proc/\(pid)/environ") else { continue }
        if environ.split(separator: 0).contains(where: { String(decoding: $0, as: UTF8.self) == "OMPI_COMM_WORLD_RANK=\(rank)" }) {
            return pid
        }
    }
    return nil
}
