// MARK: - What the process is doing, readable by a supervisor after it dies
//
// A supervised worker (maml-host runs train, eval, bench and demo in a child of
// itself) keeps one small page of shared memory up to date: the meta-iteration,
// per worker thread the task and the stage of the backbone call in flight (support
// step j, query, HVP step j, evaluation), the model, the last checkpoint, a
// heartbeat, and finally the exit status it chose. When a plugin crashes, exits or
// hangs inside a call, the supervisor reads the page to say exactly where, and
// knows that an exit it did not announce was not the worker's own.
//
// Cost on the hot path: two plain stores and a relaxed increment per backbone call;
// no system call, no allocation. Unsupervised, the page is private memory.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import MAMLKernels

/// The stage a worker thread is in; `idle` between tasks.
public enum ActivityStage: UInt16, Sendable {
    case idle = 0, support, query, supportAndQuery, hvp, evalAdapt, evalQuery, initialise

    /// "support gradient (inner step 2)", "query gradient", ...
    public func describe(step: Int) -> String {
        switch self {
        case .idle: return "between tasks"
        case .support: return "support-set gradient (inner step \(step))"
        case .query: return "query-set gradient"
        case .supportAndQuery: return "support+query gradient"
        case .hvp: return "Hessian-vector product (inner step \(step))"
        case .evalAdapt: return "evaluation: fine-tuning step \(step)"
        case .evalQuery: return "evaluation: query loss after \(step) steps"
        case .initialise: return "parameter initialisation"
        }
    }
}

/// The shared page: fixed layout, read by another process (see `ActivityReport`).
public enum Activity {
    /// Bytes of the page (one page).
    public static let size = 4096
    /// Environment variable naming the inherited file descriptor of a supervisor's page.
    public static let environmentVariable = "MAML_ACTIVITY_FD"
    /// Worker slots (threads beyond this share the last slot's record).
    public static let slots = 64

    // Layout (byte offsets).
    static let magicOffset = 0, exitOffset = 8, exitedOffset = 12, beatsOffset = 16, iterationOffset = 24
    static let checkpointIterationOffset = 32, checkpointTimeOffset = 40, exitPIDOffset = 48
    static let modelOffset = 64, modelLength = 512
    static let checkpointPathOffset = 576, checkpointPathLength = 512
    static let slotOffset = 1088, slotSize = 16   // 64 * 16 = 1024 bytes, ends at 2112
    static let magic: UInt64 = 0x4D41_4D4C_4143_5431   // "MAMLACT1"

    /// The page: the supervisor's (from MAML_ACTIVITY_FD) or private memory.
    public nonisolated(unsafe) static let page: UnsafeMutableRawPointer = attach()

    /// True when this process is a supervisor's worker (MAML_ACTIVITY_FD was set at start).
    public static let isSupervised: Bool = getenv(environmentVariable) != nil

    /// Attaches the supervisor's page, if any; call first thing in main. The variable is then
    /// removed and the descriptor closed on exec, so processes this one starts (plugin scans,
    /// checks) cannot write to the page.
    public static func attachAtStart() { _ = isSupervised; _ = page }

    private static func attach() -> UnsafeMutableRawPointer {
        if isSupervised, let text = getenv(environmentVariable), let fd = Int32(String(cString: text)), fd >= 0,
           let p = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0), p != MAP_FAILED {
            unsetenv(environmentVariable)
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            p.storeBytes(of: magic, toByteOffset: magicOffset, as: UInt64.self)
            return p
        }
        let p = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 64)
        p.initializeMemory(as: UInt8.self, repeating: 0, count: size)
        return p
    }

    // MARK: Writing (the worker)

    @inline(__always) static func slot(_ worker: Int) -> UnsafeMutableRawPointer {
        page + slotOffset + min(worker, slots - 1) * slotSize
    }

    /// Worker `worker` starts `stage` (step `step`) of task `task` in meta-iteration `iteration`.
    @inline(__always)
    public static func mark(worker: Int, iteration: Int, task: Int, stage: ActivityStage, step: Int = 0) {
        let s = slot(worker)
        s.storeBytes(of: Int64(truncatingIfNeeded: iteration), as: Int64.self)
        s.storeBytes(of: Int32(truncatingIfNeeded: task), toByteOffset: 8, as: Int32.self)
        s.storeBytes(of: UInt16(truncatingIfNeeded: step), toByteOffset: 12, as: UInt16.self)
        s.storeBytes(of: stage.rawValue, toByteOffset: 14, as: UInt16.self)
        beat()
    }

    /// Worker `worker` moves to `stage` of the task it is on.
    @inline(__always)
    public static func mark(worker: Int, stage: ActivityStage, step: Int = 0) {
        let s = slot(worker)
        s.storeBytes(of: UInt16(truncatingIfNeeded: step), toByteOffset: 12, as: UInt16.self)
        s.storeBytes(of: stage.rawValue, toByteOffset: 14, as: UInt16.self)
        beat()
    }

    /// Progress without a stage change (the watchdog's heartbeat).
    @inline(__always) public static func beat() {
        mk_relaxed_increment((page + beatsOffset).assumingMemoryBound(to: UInt64.self))
    }

    /// The meta-iteration about to run.
    public static func setIteration(_ i: Int) {
        page.storeBytes(of: Int64(i), toByteOffset: iterationOffset, as: Int64.self)
        beat()
    }

    /// The model being run, for reports ("org.mamlzoo.mlp 1.0.0 from /path/libmaml_mlp.so").
    public static func setModel(_ text: String) { store(text, at: modelOffset, length: modelLength) }

    /// A checkpoint of `iteration` was written to `path`.
    public static func checkpointWritten(path: String, iteration: Int) {
        store(path, at: checkpointPathOffset, length: checkpointPathLength)
        page.storeBytes(of: Int64(iteration), toByteOffset: checkpointIterationOffset, as: Int64.self)
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        page.storeBytes(of: Int64(ts.tv_sec), toByteOffset: checkpointTimeOffset, as: Int64.self)
    }

    /// The exit status the worker itself chose; written just before it exits.
    public static func announceExit(_ status: Int32) {
        page.storeBytes(of: Int32(getpid()), toByteOffset: exitPIDOffset, as: Int32.self)
        page.storeBytes(of: status, toByteOffset: exitOffset, as: Int32.self)
        page.storeBytes(of: Int32(1), toByteOffset: exitedOffset, as: Int32.self)
    }

    private static func store(_ text: String, at offset: Int, length: Int) {
        let bytes = Array(text.utf8.prefix(length - 1))
        let p = (page + offset).assumingMemoryBound(to: UInt8.self)
        for (i, b) in bytes.enumerated() { p[i] = b }
        p[bytes.count] = 0
    }
}

// MARK: - Reading (the supervisor)

/// A snapshot of a worker's page.
public struct ActivityReport: Sendable {
    public struct Slot: Sendable { public var worker: Int; public var iteration: Int; public var task: Int
                                   public var stage: ActivityStage; public var step: Int }
    public var attached: Bool
    public var beats: UInt64
    public var iteration: Int
    public var model: String
    public var checkpointPath: String
    public var checkpointIteration: Int
    /// Seconds since the epoch of the last checkpoint write (0: none).
    public var checkpointTime: Int
    /// The status the worker announced, if it announced one, and the announcing process.
    public var announcedExit: Int32?
    public var announcedBy: Int32
    /// Workers with a task in flight.
    public var busy: [Slot]

    public init(page: UnsafeRawPointer) {
        attached = page.load(fromByteOffset: Activity.magicOffset, as: UInt64.self) == Activity.magic
        beats = page.load(fromByteOffset: Activity.beatsOffset, as: UInt64.self)
        iteration = Int(page.load(fromByteOffset: Activity.iterationOffset, as: Int64.self))
        func text(_ offset: Int, _ length: Int) -> String {
            let p = (page + offset).assumingMemoryBound(to: UInt8.self)
            let n = (0..<length).first { p[$0] == 0 } ?? length
            return String(decoding: UnsafeBufferPointer(start: p, count: n), as: UTF8.self)
        }
        model = text(Activity.modelOffset, Activity.modelLength)
        checkpointPath = text(Activity.checkpointPathOffset, Activity.checkpointPathLength)
        checkpointIteration = Int(page.load(fromByteOffset: Activity.checkpointIterationOffset, as: Int64.self))
        checkpointTime = Int(page.load(fromByteOffset: Activity.checkpointTimeOffset, as: Int64.self))
        announcedExit = page.load(fromByteOffset: Activity.exitedOffset, as: Int32.self) == 1
            ? page.load(fromByteOffset: Activity.exitOffset, as: Int32.self) : nil
        announcedBy = page.load(fromByteOffset: Activity.exitPIDOffset, as: Int32.self)
        busy = (0..<Activity.slots).compactMap { w in
            let s = page + Activity.slotOffset + w * Activity.slotSize
            guard let stage = ActivityStage(rawValue: s.load(fromByteOffset: 14, as: UInt16.self)), stage != .idle
            else { return nil }
            return Slot(worker: w, iteration: Int(s.load(as: Int64.self)), task: Int(s.load(fromByteOffset: 8, as: Int32.self)),
                        stage: stage, step: Int(s.load(fromByteOffset: 12, as: UInt16.self)))
        }
    }
}
