// MARK: - The training loop: iterations, checkpoints, metrics, validation selection, signals
//
// Everything `maml-host train` does between building a Trainer and exiting, as a
// type any driver can reuse (the CLI today; a supervising parent or a
// multi-process driver next): it steps the trainer, writes the metrics log, scores
// validation tasks and keeps the best checkpoint, writes periodic and final
// checkpoints, and stops cleanly on SIGINT/SIGTERM or a diverging step. It prints
// nothing: what happens is reported as TrainingEvents and thrown TrainingStops,
// and the driver decides how to show them.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// What a run does besides stepping: how far, where it writes, how often.
public struct TrainingPlan: Sendable {
    /// Meta-iterations in total (a resumed trainer continues up to this).
    public var iterations: Int
    /// Checkpoint written at the end, on a stop, and every `checkpointEvery` iterations (0: never).
    public var output: String
    public var checkpointEvery: Int
    /// JSON-lines metrics file (appended) and the iterations between its lines.
    public var metricsLog: String?
    public var logEvery: Int
    /// Iterations between validation scorings (used when a selector is given).
    public var validateEvery: Int
    /// Also write the checkpoint when this many seconds have passed since the last write
    /// (0: never), so a crash loses at most that much work.
    public var checkpointSeconds: Double

    public init(iterations: Int, output: String, checkpointEvery: Int = 0, metricsLog: String? = nil,
                logEvery: Int = 100, validateEvery: Int = 0, checkpointSeconds: Double = 0) {
        self.iterations = iterations; self.output = output; self.checkpointEvery = checkpointEvery
        self.metricsLog = metricsLog; self.logEvery = logEvery; self.validateEvery = validateEvery
        self.checkpointSeconds = checkpointSeconds
    }
}

/// What a run reports as it goes, in order.
public enum TrainingEvent: Sendable {
    /// One meta-iteration finished (its number is `result.iteration`).
    case stepped(StepResult)
    /// The parameters were scored on validation tasks.
    case validated(iteration: Int, score: Double, bestScore: Double, bestIteration: Int)
}

/// Why a run ended early; the checkpoint named in it is complete and loadable.
public enum TrainingStop: Error, Sendable {
    /// A stop signal arrived; the state at `iteration` was written to `output`.
    case interrupted(signal: Int32, iteration: Int, output: String)
    /// A step diverged (NaN/infinity, a loss past the limit). `lastGood` is the iteration written
    /// to `output`: the newest state whose own meta-iteration had finite losses within the limit
    /// (the state the diverging step started from is suspect and dropped). nil when no such
    /// state of this run exists (then `output` was left as it was).
    case diverged(MAMLError, lastGood: Int?, output: String)
}

/// How a run that reached its last iteration ended.
public struct TrainingSummary: Sendable {
    public var iteration: Int
    public var seconds: Double
    /// Best validation score and its iteration, when validation ran.
    public var best: (score: Double, iteration: Int)?
}

/// One training run over a trainer (see the file comment).
public final class TrainingRun {
    public let trainer: Trainer
    public let model: ModelIdentity
    public let plan: TrainingPlan
    private var selector: ModelSelector?
    private let metrics: MetricsLog?
    private var lastWrite = monotonicSeconds()
    /// The iteration this run last wrote to `plan.output` (nil: not yet).
    private var written: Int?
    /// False on the ranks other than 0 of a group: they run every step and decision alike but
    /// write no checkpoint (give them no metrics log and no best path either).
    private let writesCheckpoints: Bool

    /// Opens the metrics log (appending); `selector` scores validation tasks every
    /// `plan.validateEvery` iterations.
    public init(trainer: Trainer, model: ModelIdentity, plan: TrainingPlan, selector: ModelSelector? = nil,
                writesCheckpoints: Bool = true) throws {
        self.trainer = trainer; self.model = model; self.plan = plan; self.selector = selector
        self.writesCheckpoints = writesCheckpoints
        metrics = try plan.metricsLog.map { try MetricsLog(path: $0) }
    }

    /// Steps to `plan.iterations`, reporting each step; `stopRequested` is asked between
    /// iterations (StopSignals.received, or a driver's own flag).
    public func run(stopRequested: () -> Int32? = { nil },
                    onEvent: (TrainingEvent) -> Void = { _ in }) throws -> TrainingSummary {
        let t0 = monotonicSeconds(), startIteration = trainer.iteration
        while trainer.iteration < plan.iterations {
            if let signal = stopRequested() {
                try writeCheckpoint()
                throw TrainingStop.interrupted(signal: signal, iteration: trainer.iteration, output: plan.output)
            }
            let result = try stepOrSaveLastGoodState(startIteration: startIteration)
            onEvent(.stepped(result))
            let i = result.iteration, last = i == plan.iterations
            if let metrics, i % plan.logEvery == 0 || last {
                metrics.write(["iteration": .number(Double(i)), "query_loss": .number(result.queryLoss),
                               "elapsed_s": .number(monotonicSeconds() - t0)])
            }
            if var s = selector, plan.validateEvery > 0, i % plan.validateEvery == 0 || last {
                let score = try s.validate(trainer: trainer, model: model)
                selector = s
                metrics?.write(["iteration": .number(Double(i)), "validation_score": .number(score),
                                "best_score": .number(s.bestScore), "best_iteration": .number(Double(s.bestIteration))])
                onEvent(.validated(iteration: i, score: score, bestScore: s.bestScore, bestIteration: s.bestIteration))
            }
            if let failure = metrics?.failure {
                try writeCheckpoint()   // the training itself is fine: keep it, then stop
                throw failure
            }
            if i < plan.iterations && ((plan.checkpointEvery > 0 && i % plan.checkpointEvery == 0)
                || (plan.checkpointSeconds > 0 && monotonicSeconds() - lastWrite >= plan.checkpointSeconds)) {
                try writeCheckpoint()
            }
        }
        try writeCheckpoint()
        return TrainingSummary(iteration: trainer.iteration, seconds: monotonicSeconds() - t0,
                               best: selector.map { ($0.bestScore, $0.bestIteration) })
    }

    private func writeCheckpoint() throws {
        // The trainer never keeps non-finite parameters (it rolls back); this guards the file anyway.
        guard allFinite(trainer.parameters) else {
            throw MAMLError.nonFinite("parameters at iteration \(trainer.iteration); \(plan.output) not written")
        }
        if writesCheckpoints { try Checkpoint(trainer: trainer, model: model).write(to: plan.output) }
        written = trainer.iteration
        lastWrite = monotonicSeconds()
        Activity.checkpointWritten(path: plan.output, iteration: trainer.iteration)
    }

    /// One meta-iteration; on a divergence, writes the last good state (the trainer has rolled
    /// back to it) and throws TrainingStop.diverged. The output is written when that state is
    /// progress over the run's start or when this run wrote a newer, now suspect, state there;
    /// otherwise it is left as it was.
    private func stepOrSaveLastGoodState(startIteration: Int) throws -> StepResult {
        do {
            return try trainer.step()
        } catch {
            guard error.isDivergence else { throw error }
            let good = trainer.iteration
            guard good > startIteration || (written ?? -1) > good else {
                throw TrainingStop.diverged(error, lastGood: nil, output: plan.output)
            }
            try writeCheckpoint()
            throw TrainingStop.diverged(error, lastGood: good, output: plan.output)
        }
    }
}

// MARK: - Model selection on meta-validation tasks
//
// MAML trained with one inner step can become sharp late in training: a few
// tasks diverge when fine-tuned for many steps. Choosing the checkpoint by its
// score on validation tasks (a random stream disjoint from the meta-test tasks
// evaluation uses) is the standard remedy and keeps the test set unseen.

/// Scores parameters on validation tasks and keeps the best checkpoint.
public struct ModelSelector {
    public let evaluator: Evaluator
    public let bestPath: String?
    public private(set) var bestScore = Double.infinity
    public private(set) var bestIteration = 0

    /// `best`: the best score and iteration of the run so far, when continuing one (a resumed
    /// run must beat it before `bestPath` is overwritten).
    public init(evaluator: Evaluator, bestPath: String?, best: (score: Double, iteration: Int)? = nil) {
        self.evaluator = evaluator; self.bestPath = bestPath
        if let best { bestScore = best.score; bestIteration = best.iteration }
    }

    /// The mean validation loss over the scored steps; writes `bestPath` when it improves.
    public mutating func validate(trainer: Trainer, model: ModelIdentity) throws -> Double {
        let results = try evaluator.evaluate(parameters: trainer.parameters)
        let score = results.map(\.loss).reduce(0, +) / Double(results.count)
        if score < bestScore {
            bestScore = score
            bestIteration = trainer.iteration
            if let bestPath { try Checkpoint(trainer: trainer, model: model).write(to: bestPath) }
        }
        return score
    }
}

// MARK: - Metrics as JSON lines

/// Metrics as JSON lines, flushed per line so a crash loses at most one.
public final class MetricsLog {
    private let file: UnsafeMutablePointer<FILE>
    private let path: String
    /// Why a write failed (a full disk, say), once one has; the run then stops with it.
    public private(set) var failure: OpenError?

    /// Thrown when the file cannot be opened; the message names it and why.
    public struct OpenError: Error, CustomStringConvertible { public let description: String }

    public init(path: String) throws(OpenError) {
        guard let f = fopen(path, "a") else {
            throw OpenError(description: "cannot open log file \(path): \(String(cString: strerror(errno)))")
        }
        file = f
        self.path = path
    }
    deinit { fclose(file) }

    public func write(_ fields: KeyValuePairs<String, JSONValue>) {
        guard failure == nil else { return }
        let line = JSONValue.object(JSONObject(fields.map { ($0.key, $0.value) })).serialized() + "\n"
        if fputs(line, file) < 0 || fflush(file) != 0 {
            failure = OpenError(description: "cannot write log file \(path): \(String(cString: strerror(errno)))")
        }
    }
}

// MARK: - Stopping on SIGINT / SIGTERM / SIGHUP

/// The first SIGINT, SIGTERM or SIGHUP (a dropped ssh session) is recorded for the training loop to act on between iterations;
/// the handler then resets itself, so a second one kills at once (checkpoint writes are atomic).
public final class StopSignals: Sendable {
    private let parent = getppid()

    public init() {
        _ = stopSignal.load(ordering: .relaxed)   // initialise the global outside the handler
        catchStopSignals { signal in
            stopSignal.store(signal, ordering: .relaxed)
            Glibc.signal(signal, SIG_DFL)
        }
    }

    /// The signal received, if any. A supervised worker whose supervisor is gone (killed with
    /// SIGKILL: it could not pass anything on) stops as if it had received SIGTERM.
    public var received: Int32? {
        let s = stopSignal.load(ordering: .relaxed)
        if s != 0 { return s }
        return Activity.isSupervised && getppid() != parent ? SIGTERM : nil
    }
}

private let stopSignal = Atomic<Int32>(0)

/// The signals that ask a run to stop: SIGINT, SIGTERM, SIGHUP.
public let stopSignalNumbers: [Int32] = [SIGINT, SIGTERM, SIGHUP]

/// Installs `handler` for the stop signals and unblocks them (a parent may hand down a mask
/// blocking them, as test runners do; they would never arrive). The handler must be
/// async-signal-safe (an atomic store, `signal`).
public func catchStopSignals(_ handler: @convention(c) (Int32) -> Void) {
    var mask = sigset_t()
    sigemptyset(&mask)
    for s in stopSignalNumbers {
        var action = sigaction()
        action.__sigaction_handler.sa_handler = handler
        sigemptyset(&action.sa_mask)
        action.sa_flags = 0
        sigaction(s, &action, nil)
        sigaddset(&mask, s)
    }
    pthread_sigmask(SIG_UNBLOCK, &mask, nil)
}

/// Monotonic seconds since an arbitrary origin.
public func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}
