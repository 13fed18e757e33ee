// MARK: - Meta-training
//
// Trainer owns the meta-parameters and the optimiser and runs meta-iterations.
// Meta-iteration i is a pure function of (config, parameters, optimiser state, i):
// task t of the meta-batch is drawn from RandomGenerator(seed, .metaTrain, i, t),
// each task's meta-gradient is computed on its own into its own slot, and the
// slots are reduced in task order 0..B-1 in Double. Running the tasks on N
// threads (each worker with its own backbone instance, task buffer and
// workspace; WorkerPool.swift) or resuming at i therefore gives bit-identical
// parameters: the thread count is not part of a run's identity. Nor is the number
// of processes: with a TaskGroup (TaskGroup.swift) each rank computes its share of
// the tasks, the slots are gathered onto every rank, and every rank reduces all B
// in task order as above.

import MAMLKernels

/// Called with human-readable notes (e.g. the finite-difference HVP fallback).
public typealias LogHandler = @Sendable (String) -> Void

/// The resumable state of a training run.
public struct TrainerState: Sendable, Equatable {
    /// Completed meta-iterations.
    public var iteration: Int
    public var parameters: [Float]
    public var optimizer: OptimizerState

    public init(iteration: Int, parameters: [Float], optimizer: OptimizerState) {
        self.iteration = iteration; self.parameters = parameters; self.optimizer = optimizer
    }
}

/// What one meta-iteration did.
public struct StepResult: Sendable, Equatable {
    /// Completed meta-iterations after this step (1 after the first).
    public var iteration: Int
    /// Mean over the meta-batch of the query loss after adaptation.
    public var queryLoss: Double
    /// Tasks dropped from this meta-batch because they diverged (NonFinitePolicy.skipTask), in task order.
    public var skippedTasks: [Int] = []
}

/// What a meta-iteration does when a task's loss, gradient or HVP is NaN or infinite.
public enum NonFinitePolicy: String, Sendable, CaseIterable {
    /// Throw MAMLError.nonFinite naming iteration and task; the parameters stay as before the step.
    case stop
    /// Drop the task from the meta-batch mean (the mean is over the remaining tasks); if every
    /// task diverges, stop as above.
    case skipTask = "skip-task"
}

/// Runs meta-training of one backbone on one task family.
public final class Trainer {
    public let config: TrainerConfig
    public let backbone: any Backbone
    public let family: any TaskFamily
    /// Completed meta-iterations.
    public private(set) var iteration: Int
    public private(set) var parameters: [Float]
    public private(set) var optimizer: MetaOptimizer
    /// Divergence handling; not saved in checkpoints (it does not change a run that never diverges).
    public var nonFinitePolicy: NonFinitePolicy = .stop
    /// A task whose query loss after adaptation exceeds this has diverged, as if it were NaN
    /// (handled by `nonFinitePolicy`): blow-ups that stay finite (a loss of 1e11 from a too large
    /// inner rate) are caught too. Not saved, like the policy.
    public var maxLoss: Double = Trainer.defaultMaxLoss
    public static let defaultMaxLoss = 1e6

    /// Worker threads the meta-batch's tasks are spread over (at most `config.metaBatch`).
    public var threads: Int { pool.workers }

    /// The processes sharing each meta-batch (nil: this one alone) and this one's tasks.
    public let group: (any TaskGroup)?
    private let share: Range<Int>
    private let learner: MetaLearner
    /// The learner resolved for this backbone: the meta-parameters are theta and `plan.rateCount`
    /// learned rates (MetaPlan.swift), so `parameters` holds `plan.metaCount` floats.
    public let plan: MetaPlan
    private let workers: [MetaWorker]
    private let pool: WorkerPool
    private let taskGradients: FloatBuffer     // metaBatch * P: one slot per task
    private var taskLosses: [Double]
    private var taskSkipped: [Bool]            // per task: diverged and dropped (skip-task)
    /// Parameters per chunk of the parallel reduction.
    private let reductionChunk: Int
    private let meanGradient: FloatBuffer
    /// The state before the last update (parameters, moments, Adam's step), filled during the
    /// update itself: a diverging step rolls back to it (see `step`).
    private let previous: FloatBuffer          // parameters, then (Adam) m and v: n or 3n
    private var previousStep = 0
    private var hasPrevious = false

    /// A fresh run (parameters from `backbone.initParameters(seed: config.seed)`), or a resumed
    /// one when `state` is given. `log` receives notes such as the finite-difference HVP fallback.
    /// `threads` > 1 runs the tasks of a meta-batch on that many threads (capped at the meta-batch),
    /// each with its own replica of `backbone` (`makeReplica()`); the results are the same for any
    /// thread count. With a `group`, this process computes only its share of each meta-batch's
    /// tasks and exchanges the results with the other ranks; the results are the same for any
    /// group size too.
    public init(backbone: any Backbone, family: any TaskFamily, config: TrainerConfig,
                resumingFrom state: TrainerState? = nil, threads: Int = 1, group: (any TaskGroup)? = nil,
                log: LogHandler? = nil) throws(MAMLError) {
        try config.validate()
        try checkThreads(threads)
        try checkCompatible(backbone: backbone, family: family, algorithm: config.algorithm)
        guard backbone.parameterCount > 0 else { throw .incompatible("the backbone has no parameters") }
        self.config = config; self.backbone = backbone; self.family = family
        self.group = group
        share = localShare(of: config.metaBatch, group: group)
        learner = config.learner
        let plan = try MetaPlan(learner: learner, backbone: backbone, taskLoss: family.lossKind)
        self.plan = plan
        let n = plan.metaCount

        if let state {
            guard state.parameters.count == n else {
                throw .incompatible("saved state has \(state.parameters.count) meta-parameters, the model has "
                    + "\(plan.modelCount) parameters" + (plan.rateCount > 0 ? " and \(config.algorithm.rawValue) learns \(plan.rateCount) rates" : ""))
            }
            guard state.optimizer.kind == config.optimizer else {
                throw .incompatible("saved optimizer is \(state.optimizer.kind.rawValue), "
                    + "the configuration asks for \(config.optimizer.rawValue)")
            }
            if state.optimizer.kind == .adam {
                guard state.optimizer.m.count == n, state.optimizer.v.count == n else {
                    throw .incompatible("saved Adam moments have \(state.optimizer.m.count)/"
                        + "\(state.optimizer.v.count) entries, the model has \(n) parameters")
                }
            }
            guard state.iteration >= 0 else { throw .invalidConfig("saved iteration \(state.iteration) < 0") }
            guard state.parameters.allSatisfy(\.isFinite) else {
                throw .nonFinite("saved parameters contain NaN or infinity")
            }
            iteration = state.iteration
            parameters = state.parameters
            optimizer = MetaOptimizer(state: state.optimizer, learningRate: config.metaLR)
        } else {
            var p = [Float](repeating: 0, count: plan.modelCount)
            do {
                try p.withUnsafeMutableBufferPointer { (b) throws(BackboneError) in
                    try backbone.initParameters(seed: config.seed, into: b)
                }
                p += plan.initialRates()
            } catch {
                throw .backbone(error, context: "initial parameters for seed \(config.seed)")
            }
            guard p.allSatisfy(\.isFinite) else { throw .nonFinite("initial parameters for seed \(config.seed)") }
            iteration = 0
            parameters = p
            optimizer = MetaOptimizer(state: .fresh(config.optimizer, parameterCount: n), learningRate: config.metaLR)
        }

        // Sizes from a config or checkpoint header are refused here, before they reach an allocation.
        try checkBuffer("the meta-batch's task-gradient slots", ["metaBatch": config.metaBatch, "parameters": n])
        try checkBuffer("the inner-loop iterates", ["innerSteps": config.innerSteps, "parameters": n])
        try checkTaskBuffers(family: family, supportShots: config.supportShots, queryShots: config.queryShots)
        let workerCount = max(1, min(threads, share.count))
        workers = try backboneInstances(backbone, count: workerCount).enumerated().map { w, instance in
            MetaWorker(backbone: instance, family: family, config: config, plan: plan, index: w)
        }
        pool = WorkerPool(workers: workerCount)
        taskGradients = FloatBuffer(config.metaBatch * n)
        taskLosses = [Double](repeating: 0, count: config.metaBatch)
        taskSkipped = [Bool](repeating: false, count: config.metaBatch)
        // About four chunks per worker (dynamic hand-out evens out), at least 512 parameters
        // each so a chunk's work dwarfs claiming it; a multiple of 16 keeps loops vector-aligned.
        reductionChunk = max(512, (n + 4 * workerCount - 1) / (4 * workerCount) + 15) / 16 * 16
        meanGradient = FloatBuffer(n)
        previous = FloatBuffer((config.optimizer == .adam ? 3 : 1) * n)   // parameters, and Adam's m and v
        if config.algorithm.needsHVP && config.innerSteps > 0 && !backbone.providesHVP {
            log?(finiteDifferenceHVPNote)
        }
    }


    /// The state to save for resuming.
    public var state: TrainerState {
        TrainerState(iteration: iteration, parameters: parameters, optimizer: optimizer.state)
    }

    /// True once `config.iterations` meta-iterations are done.
    public var isFinished: Bool { iteration >= config.iterations }

    // MARK: Stepping

    /// One meta-iteration (number `iteration`), then `iteration += 1`.
    ///
    /// A divergence (NaN/infinity or a query loss above `maxLoss`, under `.stop`, or every task
    /// under `.skipTask`) throws with the trainer rolled back to the last good state: the one
    /// *before* the state this step started from, since a state is only known good once a step
    /// from it had sane losses; the state that diverged is dropped. An update that produces
    /// non-finite parameters (a meta-rate too large) is undone and throws; the state it started
    /// from had sane losses and stays. So `parameters` are always finite.
    @discardableResult
    public func step() throws(MAMLError) -> StepResult {
        Activity.setIteration(iteration)
        let loss: Double, skipped: [Int]
        do {
            (loss, skipped) = try computeMetaGradientAndUpdate(iteration: iteration)
        } catch {
            if error.isDivergence { rollBack() }
            throw error
        }
        iteration += 1
        guard allFinite(parameters) else {
            rollBack()    // to the state this step started from: its losses were sane
            throw .nonFinite("parameters after the meta-update of iteration \(iteration) "
                             + "(meta learning rate \(optimizer.learningRate) too large?); the update was undone")
        }
        return StepResult(iteration: iteration, queryLoss: loss, skippedTasks: skipped)
    }

    /// Restores the state saved before the last update (no-op if there is none).
    private func rollBack() {
        guard hasPrevious else { return }
        let n = parameters.count, saved = previous.base
        parameters.withUnsafeMutableBufferPointer { $0.baseAddress!.update(from: saved, count: n) }
        let step = previousStep
        var state = optimizer.state
        state.step = step
        if state.kind == .adam {
            state.m.withUnsafeMutableBufferPointer { $0.baseAddress!.update(from: saved + n, count: n) }
            state.v.withUnsafeMutableBufferPointer { $0.baseAddress!.update(from: saved + 2 * n, count: n) }
        }
        optimizer = MetaOptimizer(state: state, learningRate: optimizer.learningRate)
        iteration -= 1
        hasPrevious = false
    }

    /// Steps until `config.iterations` (or `until`, if smaller); `progress` sees every step
    /// and may return false to stop early.
    public func run(until limit: Int? = nil, progress: (StepResult) -> Bool = { _ in true }) throws(MAMLError) {
        let end = min(limit ?? config.iterations, config.iterations)
        while iteration < end {
            let result = try step()
            if !progress(result) { break }
        }
    }

    /// The mean meta-gradient of meta-iteration `i` at the current parameters (into `meanGradient`),
    /// then the optimiser's update; returns the mean query loss and the tasks skipped. If it
    /// throws, parameters and optimiser are as before.
    private func computeMetaGradientAndUpdate(iteration i: Int) throws(MAMLError) -> (Double, [Int]) {
        let n = plan.metaCount
        let b = config.metaBatch
        let skipDivergence = nonFinitePolicy == .skipTask
        // Per task, independently, on any worker: each task writes only its own slot, loss and
        // skipped flag, so which tasks are skipped does not depend on the thread count.
        let slots = taskGradients.base, firstTask = share.lowerBound
        parameters.withUnsafeBufferPointer { p in
            taskLosses.withUnsafeMutableBufferPointer { losses in
                taskSkipped.withUnsafeMutableBufferPointer { skippedFlags in
                    pool.forEach(share.count) { w, j in
                        let worker = workers[w], t = firstTask + j
                        do throws(MAMLError) {
                            let slot = UnsafeMutableBufferPointer(start: slots + t * n, count: n)
                            let loss = try worker.metaGradient(iteration: i, task: t, parameters: p, learner: learner,
                                                               config: config, skipDivergence: skipDivergence,
                                                               maxLoss: maxLoss, into: slot)
                            skippedFlags[t] = loss == nil
                            losses[t] = Double(loss ?? 0)
                            return true
                        } catch {
                            worker.error.record(error, task: t)
                            return false
                        }
                    }
                }
            }
        }
        try throwFirstAcrossRanks(TaskErrorSlot.takeFirst(workers.map(\.error)), group: group)
        if let group, group.size > 1 { try exchangeTaskResults(group) }

        let kept = (0..<b).filter { !taskSkipped[$0] }
        guard !kept.isEmpty else {
            throw .nonFinite("every task of meta-iteration \(i) diverged (--on-nan skip-task)")
        }
        // Fixed-order reduction (mean over the kept tasks, in task order), independent of how the
        // tasks were scheduled. Without skips this is the plain mean over all B tasks. Each
        // parameter's sum runs over the tasks in the same order whichever worker owns its chunk,
        // so splitting the parameters over the workers changes no bit; it takes the reduction
        // (B x n adds, a tenth of a small model's meta-iteration) off the serial path. The
        // optimiser's element-wise update follows on the same chunk (same bits as one `apply`).
        let mean = meanGradient.base
        let chunk = reductionChunk
        let inv = 1.0 / Double(kept.count)
        // The losses were sane: the state this step started from is good. Save it (chunk by chunk,
        // next to its update) so a later divergence can roll back to it.
        previousStep = optimizer.state.step
        hasPrevious = true
        let saved = previous.base
        // Reptile's outer rate anneals (TrainerConfig.metaLR(iteration:)); the others' is constant.
        let update = optimizer.beginUpdate(parameterCount: n, learningRate: config.metaLR(iteration: i))
        optimizer.withMoments { m, v in
            parameters.withUnsafeMutableBufferPointer { p in
                kept.withUnsafeBufferPointer { kept in
                    let p = p.baseAddress!, tasks = kept.baseAddress!, count = kept.count
                    pool.forEach((n + chunk - 1) / chunk) { _, c in
                        let lo = c * chunk, hi = min(n, lo + chunk)
                        (saved + lo).update(from: p + lo, count: hi - lo)
                        if let m, let v {
                            (saved + n + lo).update(from: m + lo, count: hi - lo)
                            (saved + 2 * n + lo).update(from: v + lo, count: hi - lo)
                        }
                        // Double sums in task order, then * inv: MAMLKernels' vector build of the loop.
                        mk_task_mean(slots, n, tasks, count, inv, lo, hi, mean)
                        update.apply(lo..<hi, gradient: mean, to: p, m: m, v: v)
                        return true
                    }
                }
            }
        }
        var lossSum = 0.0
        for t in kept { lossSum += taskLosses[t] }
        return (lossSum / Double(kept.count), (0..<b).filter { taskSkipped[$0] })
    }

    /// Every rank's task slots, losses and skipped flags onto every rank (after a step's tasks
    /// ran without an error anywhere): B x n floats and 2 B doubles in all, of which each rank
    /// receives what the others computed.
    private func exchangeTaskResults(_ group: any TaskGroup) throws(MAMLError) {
        let b = config.metaBatch, shares = group.shares(of: b)
        var outcomes = [Double](repeating: 0, count: 2 * b)     // per task: loss, skipped (0 or 1)
        for t in share { outcomes[2 * t] = taskLosses[t]; outcomes[2 * t + 1] = taskSkipped[t] ? 1 : 0 }
        try outcomes.withUnsafeMutableBufferPointer { (o) throws(MAMLError) in
            try group.allGather(o.baseAddress!, blockLength: 2, shares: shares)
        }
        for t in 0..<b { taskLosses[t] = outcomes[2 * t]; taskSkipped[t] = outcomes[2 * t + 1] != 0 }
        try group.allGather(taskGradients.base, blockLength: plan.metaCount, shares: shares)
    }
}

// MARK: - One worker's state

/// What one worker thread owns: a backbone instance, a task buffer and a workspace,
/// allocated once; used by that worker only.
final class MetaWorker {
    let backbone: any Backbone
    let family: any TaskFamily
    let task: TaskBuffer
    let workspace: MetaWorkspace
    let error = TaskErrorSlot()

    init(backbone: any Backbone, family: any TaskFamily, config: TrainerConfig, plan: MetaPlan? = nil, index: Int = 0) {
        self.backbone = backbone; self.family = family
        task = TaskBuffer(family: family, supportShots: config.supportShots, queryShots: config.queryShots)
        workspace = plan.map { MetaWorkspace(plan: $0) }
            ?? MetaWorkspace(parameterCount: backbone.parameterCount, innerSteps: config.innerSteps)
        workspace.activitySlot = index
    }

    /// Samples task t of meta-iteration i and writes its meta-gradient into `slot`; returns its query loss,
    /// or nil when the task diverged and `skipDivergence` is set (its slot is then not to be used).
    func metaGradient(iteration i: Int, task t: Int, parameters: UnsafeBufferPointer<Float>, learner: MetaLearner,
                      config: TrainerConfig, skipDivergence: Bool, maxLoss: Double,
                      into slot: UnsafeMutableBufferPointer<Float>) throws(MAMLError) -> Float? {
        var rng = RandomGenerator(seed: config.seed, stream: .metaTrain, iteration: i, task: t)
        try family.sample(split: .train, supportShots: config.supportShots, queryShots: config.queryShots,
                          rng: &rng, into: task)
        Activity.mark(worker: workspace.activitySlot, iteration: i, task: t, stage: .idle)
        workspace.iteration = i
        defer { Activity.mark(worker: workspace.activitySlot, stage: .idle) }
        let loss: Float
        do {
            loss = try learner.compute(backbone, parameters, task, workspace, slot)
        } catch {
            if skipDivergence && error.isDivergence { return nil }
            throw error.error(at: "meta-iteration \(i), task \(t)")
        }
        guard Double(loss) <= maxLoss else {
            if skipDivergence { return nil }
            throw .diverged("query loss \(loss) is above the limit \(maxLoss) at meta-iteration \(i), task \(t)")
        }
        return loss
    }
}

// MARK: - Compatibility

/// Throws `.incompatible` unless the backbone's shapes and loss fit the family's tasks. For
/// `protonet` the backbone is an embedding network: its outputs and loss are its own.
public func checkCompatible(backbone: any Backbone, family: any TaskFamily,
                            algorithm: MetaAlgorithm = .maml) throws(MAMLError) {
    guard backbone.inputShape == family.inputShape else {
        throw .incompatible("the backbone takes input \(backbone.inputShape), \(family.name) tasks have \(family.inputShape)")
    }
    if algorithm == .protonet { return }
    guard backbone.outputShape == family.outputShape else {
        throw .incompatible("the backbone outputs \(backbone.outputShape), \(family.name) tasks need \(family.outputShape)")
    }
    guard backbone.lossKind == family.lossKind else {
        throw .incompatible("the backbone's loss is \(backbone.lossKind.rawValue), "
            + "\(family.name) tasks need \(family.lossKind.rawValue)")
    }
}
