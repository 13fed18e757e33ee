// MARK: - Crash-isolated work: train, eval, bench and demo run in a supervised child
//
// A plugin is third-party code in our process: it may crash, call exit(), or hang
// inside loss_grad. So maml-host runs these commands in a child of itself (the
// worker, the same binary and arguments) and waits. The worker keeps a shared
// page up to date (MAMLCore/Activity.swift): the model, the meta-iteration, the
// stage of each worker thread's backbone call, the last checkpoint, a heartbeat,
// and the exit status it chose. When the worker dies by a signal, exits without
// announcing it (a plugin's exit()), or makes no progress for --watchdog seconds,
// the supervisor says what happened and where in a few lines, exits non-zero, and
// for train with --restart N resumes from the last checkpoint by itself.
//
// Signals: the worker runs in its own process group, so a terminal's Ctrl-C reaches
// the supervisor only, which forwards SIGINT/SIGTERM/SIGHUP once; the worker then
// stops as it always does (checkpoint, exit 128 + signal). MAML_SUPERVISE=0 runs the
// command in-process (for debuggers and profilers). Under mpirun every rank runs
// in-process too: MPI's own fault handling and each rank's watchdog end the job
// (MPIRanks.swift, docs/scale-out.md).

#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import MAMLCore
import MAMLHost
import Synchronization

// MARK: Options

/// Options of the supervised commands.
struct SupervisionOptions: ParsableArguments {
    @Option(parsing: .unconditional, help: ArgumentHelp("End the work when it makes no progress (no backbone call finishes) for this many seconds (0: never).", valueName: "SECONDS"))
    var watchdog: Double = 300

    func check() throws {
        guard watchdog >= 0, watchdog.isFinite else { throw ValidationError("--watchdog must be >= 0 seconds, got \(watchdog)") }
    }
}

// MARK: Supervisor

enum Supervisor {
    /// Exit status when the worker exits without announcing it, or hangs.
    static let lostWorkerStatus: Int32 = 70

    /// In the first process of a supervised command: runs it in workers and exits with their
    /// outcome. Returns at once in a worker, for other commands, with MAML_SUPERVISE=0, or when
    /// the arguments do not parse (the normal path then reports the error).
    static func superviseIfNeeded() {
        Activity.attachAtStart()
        guard !Activity.isSupervised, getenv("MAML_SUPERVISE").map({ String(cString: $0) }) != "0",
              !MPIRanks.launchedAsRank else { return }
        let arguments = Array(CommandLine.arguments.dropFirst())
        guard let command = try? MAMLHostCommand.parseAsRoot(arguments) else { return }
        var watchdog: Double, restarts = 0, output: String?, runFolder = false
        switch command {
        case let c as Train:
            watchdog = c.supervision.watchdog; restarts = c.restart; output = c.outputPath; runFolder = c.runDir != nil
        case let c as Eval: watchdog = c.supervision.watchdog
        case let c as Bench: watchdog = c.supervision.watchdog
        case let c as Demo: watchdog = c.supervision.watchdog
        default: return
        }
        var runArguments = arguments
        var attempt = 0
        while true {
            let outcome = runWorker(runArguments, watchdog: watchdog)
            guard let failure = outcome.failure else { exit(outcome.status) }
            printError(failure)
            guard attempt < restarts, let output, let saved = try? Checkpoint.read(from: output) else {
                exit(outcome.status)
            }
            attempt += 1
            printError("maml-host: restarting from \(output) at iteration \(saved.header.iteration) "
                       + "(restart \(attempt) of \(restarts))")
            runArguments = resuming(arguments, from: runFolder ? nil : output)
        }
    }

    /// `arguments` with `--resume PATH`, without any --resume already there and without the
    /// model, task and hyper-parameter flags (a resumed run takes them from the checkpoint).
    /// A run folder (path nil) continues by itself: the same arguments without those flags.
    static func resuming(_ arguments: [String], from path: String?) -> [String] {
        let dropped = ["--resume"] + TrainingOptions.flags
        var out: [String] = []
        var i = 0
        while i < arguments.count {
            let a = arguments[i]
            if dropped.contains(a) { i += 2; continue }
            if dropped.contains(where: { a.hasPrefix($0 + "=") }) { i += 1; continue }
            out.append(a); i += 1
        }
        return path.map { out + ["--resume", $0] } ?? out
    }

    /// How one worker ended: its own status, or a failure report and the status to exit with.
    struct Outcome { var status: Int32; var failure: String? }

    static func runWorker(_ arguments: [String], watchdog: Double) -> Outcome {
        // The shared page: an unlinked temporary file the worker inherits and maps.
        let fd = anonymousFile()
        guard fd >= 0, ftruncate(fd, off_t(Activity.size)) == 0,
              let page = mmap(nil, Activity.size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0), page != MAP_FAILED else {
            printError("maml-host: cannot create the worker's activity page (\(String(cString: strerror(errno)))); running unsupervised")
            return Outcome(status: runInProcess(), failure: nil)
        }
        defer { munmap(page, Activity.size); close(fd) }

        var environment = ProcessEnvironment.current
        environment[Activity.environmentVariable] = String(fd)
        // The supervisor says what happened in a few lines; Swift's backtrace would add 30-70.
        if environment["SWIFT_BACKTRACE"] == nil { environment["SWIFT_BACKTRACE"] = "enable=no" }

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP))
        posix_spawnattr_setpgroup(&attributes, 0)
        let argv = (["/proc/self/exe"] + arguments).map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { argv.forEach { free($0) }; envp.forEach { free($0) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, "/proc/self/exe", nil, &attributes, argv, envp)
        guard spawned == 0 else {
            printError("maml-host: cannot start the worker (\(String(cString: strerror(spawned)))); running unsupervised")
            return Outcome(status: runInProcess(), failure: nil)
        }

        let forwarded = SignalForwarding()
        var lastBeats: UInt64 = 0, lastChange = monotonicSeconds()
        var status: Int32 = 0
        var hung = false
        while true {
            let r = waitpid(pid, &status, WNOHANG)
            if r == pid { break }
            if r < 0 && errno != EINTR { break }
            for signal in forwarded.take() { kill(pid, signal) }
            let beats = ActivityReport(page: page).beats
            if beats != lastBeats { lastBeats = beats; lastChange = monotonicSeconds() }
            if watchdog > 0 && monotonicSeconds() - lastChange > watchdog {
                kill(pid, SIGKILL)
                while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
                hung = true
                break
            }
            usleep(20_000)
        }
        let report = ActivityReport(page: page)
        let exited = status & 0x7f == 0, code = (status >> 8) & 0xff, signal = status & 0x7f
        if !hung, exited, let announced = report.announcedExit, announced == code, report.announcedBy == pid {
            return Outcome(status: code, failure: nil)
        }
        let what: String, exitStatus: Int32
        if hung {
            what = "made no progress for \(Int(watchdog)) s (--watchdog): ended with SIGKILL"
            exitStatus = lostWorkerStatus
        } else if exited {
            what = "exited with status \(code) without finishing (a plugin called exit()?)"
            exitStatus = lostWorkerStatus
        } else {
            what = "was killed by \(signalName(signal)) (a crash in a plugin?)"
            exitStatus = 128 + signal
        }
        return Outcome(status: exitStatus, failure: describe(what, report: report, arguments: arguments))
    }

    /// A temporary file already unlinked (nothing to clean up after a kill -9), or -1.
    static func anonymousFile() -> Int32 {
        let directory = getenv("TMPDIR").map { String(cString: $0) } ?? "/tmp"
        var template = Array((directory + "/maml-activity-XXXXXX").utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        if fd >= 0 { template.withUnsafeBufferPointer { _ = unlink($0.baseAddress!) } }
        return fd
    }

    /// The few lines a user reads instead of a crash dump.
    static func describe(_ what: String, report: ActivityReport, arguments: [String]) -> String {
        var lines = ["maml-host: the \(arguments.first ?? "") worker \(what)"]
        if !report.model.isEmpty { lines.append("  model:  \(report.model)") }
        if report.busy.isEmpty {
            lines.append("  where:  outside any backbone call (loading, setup, or between tasks)")
        }
        for s in report.busy {
            let place = arguments.first == "train" ? "meta-iteration \(s.iteration), task \(s.task)" : "task \(s.task)"
            lines.append("  where:  \(place): \(s.stage.describe(step: s.step)) (worker thread \(s.worker))")
        }
        if arguments.first == "train" {
            if report.checkpointPath.isEmpty {
                lines.append("  saved:  nothing yet (checkpoints are written every --checkpoint-seconds and at the end)")
            } else {
                var now = timespec()
                clock_gettime(CLOCK_REALTIME, &now)
                let age = max(0, Int(now.tv_sec) - report.checkpointTime)
                lines.append("  saved:  \(report.checkpointPath) holds iteration \(report.checkpointIteration) (written \(age) s before)")
                lines.append("  resume: maml-host \(resuming(arguments, from: arguments.contains { $0 == "--run-dir" || $0.hasPrefix("--run-dir=") } ? nil : report.checkpointPath).map(shellQuoted).joined(separator: " "))"
                             + "   (or add --restart N to resume by itself)")
            }
        }
        return lines.joined(separator: "\n")
    }

    /// `text` as one shell word: as is when it is plain, else in single quotes.
    static func shellQuoted(_ text: String) -> String {
        let plain = !text.isEmpty && text.unicodeScalars.allSatisfy {
            ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0) || "_./=:,+-@%".unicodeScalars.contains($0)
        }
        return plain ? text : "'" + text.split(separator: "'", omittingEmptySubsequences: false).joined(separator: "'\\''") + "'"
    }

    /// Runs the command in this process (when a worker cannot be started); the exit status.
    static func runInProcess() -> Int32 {
        setenv("MAML_SUPERVISE", "0", 1)
        return MAMLHostCommand.runCommand()
    }
}

/// The current environment as a dictionary.
enum ProcessEnvironment {
    static var current: [String: String] {
        var out: [String: String] = [:]
        var p = environ
        while let entry = p.pointee {
            let text = String(cString: entry)
            if let eq = text.firstIndex(of: "=") { out[String(text[..<eq])] = String(text[text.index(after: eq)...]) }
            p += 1
        }
        return out
    }
}

/// SIGINT, SIGTERM and SIGHUP caught in the supervisor, to pass on to the worker.
final class SignalForwarding: Sendable {
    init() {
        catchStopSignals { signal in pendingSignals.bitwiseOr(UInt32(1) << UInt32(signal), ordering: .relaxed) }
    }

    /// The signals received since the last call.
    func take() -> [Int32] {
        let bits = pendingSignals.exchange(0, ordering: .relaxed)
        return stopSignalNumbers.filter { bits & (UInt32(1) << UInt32($0)) != 0 }
    }
}

private let pendingSignals = Atomic<UInt32>(0)
