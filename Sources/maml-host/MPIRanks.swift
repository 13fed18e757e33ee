// MARK: - Ranks of `mpirun`: the TaskGroup over MPI (trait MPI; docs/scale-out.md)
//
// Under `mpirun -np N maml-host train|eval|bench ...` every rank runs the whole
// command; MAMLCore's Trainer and Evaluator split the tasks by rank and exchange
// per-task results through this group (MAMLMPIShim's C calls). Rank 0 alone prints
// and writes files; the other ranks' stdout and stderr go to /dev/null, and what
// they must say about themselves (a failure of their own, the watchdog) goes to
// their real stderr with "rank R (host H)" in front.
//
// Faults. A rank that dies (kill -9, a plugin's crash) ends the job through
// Open MPI itself: mpirun notices and kills the others, naming the rank and host.
// A rank that hangs in a plugin call is ended by its own watchdog thread
// (--watchdog, as the supervisor would), and a rank that waits for the others
// longer than that too (a rank stopped where nothing of it runs). Each rank runs
// unsupervised: the supervisor's child would only hide the rank from MPI.
#if canImport(Glibc)
import Glibc
#endif
import MAMLCore
import MAMLMPIShim
import Synchronization

final class MPIRanks: TaskGroup {
    let rank: Int
    let size: Int
    let host: String
    /// "rank 1 (host node2)", for messages.
    var name: String { "rank \(rank) (host \(host))" }

    /// The group of this process, once started.
    nonisolated(unsafe) private(set) static var current: MPIRanks?

    /// True when an MPI launcher (Open MPI's mpirun, or a PMI one) started this process
    /// as one of several.
    static var launchedAsRank: Bool {
        for variable in ["OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE"] {
            if let text = getenv(variable), let n = Int(String(cString: text)), n > 1 { return true }
        }
        return false
    }

    /// The group when launched by mpirun (MPI initialised once per process), nil otherwise.
    /// A build without the MPI trait refuses to run as one of several ranks.
    static func start(watchdog: Double) throws -> MPIRanks? {
        if let current { return current }
        guard launchedAsRank else { return nil }
        guard mamlmpi_compiled() != 0 else {
            throw CLIError("this maml-host was built without MPI: under mpirun each of the ranks would run the whole "
                           + "command alone (and write the same files). Build with `swift build -c release --traits MPI` "
                           + "(needs libopenmpi-dev; docs/scale-out.md), or run it without mpirun")
        }
        var rank: Int32 = 0, size: Int32 = 1
        let rc = mamlmpi_init(&rank, &size)
        guard rc == 0 else { throw CLIError("MPI_Init failed: \(errorText(rc))") }
        var name = [CChar](repeating: 0, count: 256)
        _ = mamlmpi_processor_name(&name, Int32(name.count))
        let group = MPIRanks(rank: Int(rank), size: Int(size), host: cText(name))
        current = group
        if rank != 0 { silenceOutput() }
        if watchdog > 0 { RankWatchdog.start(seconds: watchdog, group: group) }
        return group
    }

    private init(rank: Int, size: Int, host: String) { self.rank = rank; self.size = size; self.host = host }

    // MARK: TaskGroup

    func allGather(_ buffer: UnsafeMutablePointer<Float>, blockLength: Int, shares: [Range<Int>]) throws(MAMLError) {
        let (counts, offsets) = blocks(shares)
        exchange("MPI_Allgatherv") { mamlmpi_allgather_floats(buffer, Int32(blockLength), counts, offsets) }
    }

    func allGather(_ buffer: UnsafeMutablePointer<Double>, blockLength: Int, shares: [Range<Int>]) throws(MAMLError) {
        let (counts, offsets) = blocks(shares)
        exchange("MPI_Allgatherv") { mamlmpi_allgather_doubles(buffer, Int32(blockLength), counts, offsets) }
    }

    func broadcast(_ bytes: inout [UInt8], from root: Int) throws(MAMLError) {
        var length = Int64(bytes.count)
        exchange("MPI_Bcast") { mamlmpi_broadcast(&length, 8, Int32(root)) }
        if rank != root { bytes = [UInt8](repeating: 0, count: Int(length)) }
        exchange("MPI_Bcast") { bytes.withUnsafeMutableBytes { mamlmpi_broadcast($0.baseAddress, Int32(length), Int32(root)) } }
    }

    func maximum(_ value: Int) throws(MAMLError) -> Int {
        var v = Int64(value)
        exchange("MPI_Allreduce") { mamlmpi_max(&v) }
        return Int(v)
    }

    /// Block counts and offsets as MPI takes them (Int32: a block is a task, so they are small).
    private func blocks(_ shares: [Range<Int>]) -> ([Int32], [Int32]) {
        (shares.map { Int32($0.count) }, shares.map { Int32($0.lowerBound) })
    }

    /// Runs one collective call, marked as waiting for the watchdog. An MPI error here means
    /// the job cannot go on (another rank is gone): say where, and end every rank.
    private func exchange(_ call: String, _ body: () -> Int32) {
        RankWatchdog.waiting(since: monotonicSeconds())
        let rc = body()
        RankWatchdog.waiting(since: nil)
        if rc != 0 { abortJob("\(call) failed: \(Self.errorText(rc)) (another rank ended or the network failed)", status: 70) }
    }

    // MARK: Output and ending

    /// The real stderr of a rank other than 0 (its messages about itself), or stderr.
    nonisolated(unsafe) private static var rankError: Int32 = STDERR_FILENO

    /// Points this rank's stdout (the host's and the plugins') and stderr at /dev/null.
    private static func silenceOutput() {
        rankError = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3)
        if rankError < 0 { rankError = STDERR_FILENO; return }
        let null = open("/dev/null", O_WRONLY)
        guard null >= 0 else { return }
        for fd in Set([STDOUT_FILENO, STDERR_FILENO, HostOutput.descriptor]) { _ = dup2(null, fd) }
        close(null)
    }

    /// Writes "maml-host: rank R (host H): text" to this rank's real stderr.
    func say(_ text: String) {
        let line = "maml-host: \(name): \(text)\n"
        _ = line.withCString { write(Self.rankError, $0, strlen($0)) }
    }

    /// Ends every rank of the job now, after saying why.
    func abortJob(_ reason: String, status: Int32) -> Never {
        say(reason + "; ending the job")
        mamlmpi_abort(status)
        _exit(status)
    }

    /// The end of a command on this rank. A success finalizes MPI (every rank gets there). A
    /// failure every rank shares (a divergence, a stop signal, a bad option) reaches the others
    /// within moments and ends cleanly with its status; a failure of this rank alone (a plugin
    /// missing on its host, a full disk on rank 0) would leave the others waiting, so if they
    /// do not all get here within `wait` seconds, the job is aborted, naming this rank.
    func finish(status: Int32, message: String, wait: Double = 10) -> Never {
        HostOutput.flush()
        if status != 0 && mamlmpi_all_arrive(wait) == 0 {
            if rank != 0, !message.isEmpty { say(message) }
            abortJob("failed alone (exit status \(status)) while the other ranks went on", status: status)
        }
        _ = mamlmpi_finalize()
        exit(status)
    }

    static func errorText(_ code: Int32) -> String {
        var text = [CChar](repeating: 0, count: 512)
        mamlmpi_error_text(code, &text, Int32(text.count))
        return cText(text)
    }
}

/// A NUL-terminated C string in a buffer, as text.
private func cText(_ buffer: [CChar]) -> String {
    String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

// MARK: - The watchdog of a rank

/// A thread that ends the job when this rank makes no progress (no backbone call finishes:
/// Activity's heartbeat) for `seconds` outside exchanges, or waits in one exchange for longer
/// than `seconds` + 10 (another rank hangs where its own watchdog cannot run). It calls no
/// MPI function (MPI is the main thread's): it prints and exits, and mpirun ends the others.
enum RankWatchdog {
    private static let waitingSince = Atomic<UInt64>(0)   // seconds bit pattern; 0: not waiting

    static func waiting(since t: Double?) {
        waitingSince.store(t.map { $0.bitPattern } ?? 0, ordering: .relaxed)
    }

    static func start(seconds: Double, group: MPIRanks) {
        let context = Unmanaged.passRetained(Box(seconds: seconds, group: group)).toOpaque()
        var thread = pthread_t()
        _ = pthread_create(&thread, nil, { context in
            let box = Unmanaged<Box>.fromOpaque(context!).takeRetainedValue()
            RankWatchdog.watch(seconds: box.seconds, group: box.group)
        }, context)
        pthread_detach(thread)
    }

    private final class Box {
        let seconds: Double, group: MPIRanks
        init(seconds: Double, group: MPIRanks) { self.seconds = seconds; self.group = group }
    }

    private static func watch(seconds: Double, group: MPIRanks) -> Never {
        var lastBeats: UInt64 = 0, lastChange = monotonicSeconds()
        while true {
            usleep(200_000)
            let report = ActivityReport(page: Activity.page), t = monotonicSeconds()
            if report.beats != lastBeats { lastBeats = report.beats; lastChange = t }
            let since = waitingSince.load(ordering: .relaxed)
            if since != 0 {
                lastChange = t      // waiting is not this rank's hang
                if t - Double(bitPattern: since) > seconds + 10 {
                    end(group, "waited \(Int(t - Double(bitPattern: since))) s at meta-iteration \(report.iteration) for "
                        + "the other ranks (--watchdog \(Int(seconds)) s + 10): one of them hangs or was stopped")
                }
            } else if t - lastChange > seconds {
                let places = report.busy.map { "task \($0.task): \($0.stage.describe(step: $0.step))" }
                end(group, "made no progress for \(Int(seconds)) s (--watchdog) at meta-iteration \(report.iteration)"
                    + (places.isEmpty ? "" : ", in " + places.joined(separator: "; ")))
            }
        }
    }

    private static func end(_ group: MPIRanks, _ what: String) -> Never {
        group.say(what + "; ending the job")
        _exit(Supervisor.lostWorkerStatus)
    }
}
