// MARK: - Evaluation (meta-test) protocol
//
// For each of `tasks` held-out tasks (task i drawn from
// RandomGenerator(seed, .evaluation, 0, i), split .test) and each support size
// K: start from the meta-learned parameters, fine-tune on the K-shot support
// set for max(steps) steps with the checkpoint's own inner step (plain SGD at
// the inner learning rate for MAML and the baseline; Meta-SGD's and LSLR's
// learned rates; ANIL's head-only step; iMAML's proximal step; Reptile's inner
// optimiser: `adapt` below), and record the query metric after each requested
// step count. Task i is the same
// task for every K (SinusoidTasks draws the function and query set before the
// support points) and for every checkpoint evaluated with the same seed.
//
// Query size: 100 examples for regression, as in the JAX/PyTorch MAML
// reproductions, which evaluate the adapted sinusoid on 100 query points.
//
// Reported per (K, steps): mean over tasks and the 95% confidence interval
// half-width 1.96 * s / sqrt(tasks), s the sample standard deviation (n - 1),
// accumulated in Double. MSE is reported as `loss`; classification families
// (softmax cross-entropy) also get `accuracy`.

/// How to evaluate meta-learned parameters.
public struct EvaluationConfig: Sendable, Equatable {
    /// Number of held-out tasks (at least 2, for a confidence interval).
    public var tasks: Int = 600
    /// Support sizes K (shots) to evaluate.
    public var shots: [Int] = [5, 10, 20]
    /// Fine-tuning step counts at which the query metric is recorded.
    public var steps: [Int] = [0, 1, 5, 10]
    /// Query set size in shots (100 for regression; see the file comment).
    public var queryShots: Int = 100
    /// Fine-tuning learning rate (normally the training's inner learning rate).
    public var innerLR: Float = 0.01
    /// Seed of the evaluation tasks; the same seed gives the same tasks for every checkpoint.
    public var seed: UInt64 = 0
    /// Task pool: .test for meta-test, .validation for validation during training.
    public var split: TaskSplit = .test
    /// The algorithm whose inner step fine-tunes (its innerLR is replaced by `innerLR`);
    /// nil: plain SGD. Meta-SGD and LSLR use their learned rates, so `innerLR` does not apply.
    public var learner: MetaLearner?

    public init(tasks: Int = 600, shots: [Int] = [5, 10, 20], steps: [Int] = [0, 1, 5, 10],
                queryShots: Int = 100, innerLR: Float = 0.01, seed: UInt64 = 0, split: TaskSplit = .test,
                learner: MetaLearner? = nil) {
        self.tasks = tasks; self.shots = shots; self.steps = steps; self.queryShots = queryShots
        self.innerLR = innerLR; self.seed = seed; self.split = split; self.learner = learner
    }

    /// The learner that fine-tunes, with the evaluation's inner rate.
    var adaptation: MetaLearner {
        var l = learner ?? MetaLearner(algorithm: .maml, innerSteps: 1, innerLR: innerLR)
        l.innerLR = innerLR
        return l
    }

    /// Throws `.invalidConfig` naming the bad key.
    public func validate() throws(MAMLError) {
        guard tasks >= 2 && tasks <= maxCount else {
            throw .invalidConfig("evaluation tasks = \(tasks), expected 2...\(maxCount)")
        }
        guard !shots.isEmpty, shots.allSatisfy({ $0 >= 1 && $0 <= maxCount }) else {
            throw .invalidConfig("evaluation shots = \(shots), expected a non-empty list of values in 1...\(maxCount)")
        }
        guard !steps.isEmpty, steps.allSatisfy({ $0 >= 0 && $0 <= 100_000 }) else {
            throw .invalidConfig("evaluation steps = \(steps), expected a non-empty list of values in 0...100000")
        }
        guard queryShots >= 1 && queryShots <= maxCount else {
            throw .invalidConfig("evaluation queryShots = \(queryShots), expected 1...\(maxCount)")
        }
        guard innerLR.isFinite && innerLR >= 0 else {
            throw .invalidConfig("evaluation innerLR = \(innerLR), expected a finite number >= 0")
        }
    }

    /// The random stream of the split: evaluation tasks never share a generator with training tasks.
    var stream: RandomStream { split == .validation ? .validation : .evaluation }
}

/// The result for one (K, steps) pair.
public struct EvalResult: Sendable, Equatable {
    /// Support size K (shots) and fine-tuning steps.
    public var shots: Int
    public var steps: Int
    /// Number of tasks averaged.
    public var tasks: Int
    /// Mean query loss (MSE for regression) and its 95% CI half-width.
    public var loss: Double
    public var lossCI95: Double
    /// Mean query accuracy in [0, 1] and its 95% CI half-width (classification only).
    public var accuracy: Double?
    public var accuracyCI95: Double?
    /// Tasks whose fine-tuning diverged (a non-finite loss) by this step: their loss counts as
    /// +infinity (so `loss` is infinite) and their accuracy as 0.
    public var diverged: Int = 0
}

/// Mean and 95% CI half-width (1.96 * sample std / sqrt(n)) of `values`, in Double.
public func meanAndCI95(_ values: [Double]) -> (mean: Double, ci95: Double) {
    let n = values.count
    guard n > 0 else { return (.nan, .nan) }
    var sum = 0.0
    for x in values { sum += x }
    let mean = sum / Double(n)
    guard mean.isFinite else { return (mean, .infinity) }
    guard n > 1 else { return (mean, 0) }
    var ss = 0.0
    for x in values { ss += (x - mean) * (x - mean) }
    let std = (ss / Double(n - 1)).squareRoot()
    return (mean, 1.96 * std / Double(n).squareRoot())
}

// MARK: - Evaluator

/// Evaluates parameter vectors on a fixed set of held-out tasks; reusable across checkpoints.
/// With `threads` > 1 the tasks run on that many threads, each with its own replica of the
/// backbone; every task writes its own result slots, reduced in task order afterwards, so the
/// results are bit-identical for any thread count. With a `group` each rank evaluates its share
/// of the tasks and the per-task metrics are gathered onto every rank before the same reduction.
public final class Evaluator {
    public let config: EvaluationConfig
    public let backbone: any Backbone
    public let family: any TaskFamily
    /// Worker threads the tasks are spread over (at most `config.tasks`).
    public var threads: Int { pool.workers }
    /// The fine-tuning learner resolved for the backbone: parameters hold `plan.metaCount` floats.
    public let plan: MetaPlan
    let workers: [EvalWorker]
    private let pool: WorkerPool
    /// The processes sharing the tasks (nil: this one alone) and this one's tasks.
    public let group: (any TaskGroup)?
    private let share: Range<Int>

    public init(backbone: any Backbone, family: any TaskFamily, config: EvaluationConfig,
                threads: Int = 1, group: (any TaskGroup)? = nil) throws(MAMLError) {
        try config.validate()
        try checkThreads(threads)
        try checkCompatible(backbone: backbone, family: family, algorithm: config.adaptation.algorithm)
        let plan = try MetaPlan(learner: config.adaptation, backbone: backbone, taskLoss: family.lossKind)
        self.plan = plan
        try checkTaskBuffers(family: family, supportShots: config.shots.max()!, queryShots: config.queryShots)
        try checkBuffer("the per-task metrics", ["shots": config.shots.count, "steps": config.steps.count,
                                                 "tasks": config.tasks])
        self.config = config; self.backbone = backbone; self.family = family
        self.group = group
        share = localShare(of: config.tasks, group: group)
        let count = max(1, min(threads, share.count))
        workers = try backboneInstances(backbone, count: count).enumerated().map { w, instance in
            EvalWorker(backbone: instance, family: family, config: config, plan: plan, index: w)
        }
        pool = WorkerPool(workers: count)
    }

    /// Results for every (K, steps) pair, ordered by K then steps as given in the config.
    /// `progress` is called with (tasks done, total) on the caller's thread, from time to time
    /// while the tasks run and once at the end.
    public func evaluate(parameters: [Float], progress: (Int, Int) -> Void = { _, _ in }) throws(MAMLError) -> [EvalResult] {
        let n = plan.metaCount
        guard parameters.count == n else {
            throw .incompatible("evaluating \(parameters.count) meta-parameters on a model with \(plan.modelCount) parameters"
                                + (plan.rateCount > 0 ? " and \(plan.rateCount) learned rates" : ""))
        }
        let nShots = config.shots.count, nSteps = config.steps.count, nTasks = config.tasks
        let classify = family.lossKind == .softmaxCrossEntropy
        // values[i * nShots * nSteps + k * nSteps + s]: per-task metrics (a task's together, so a
        // rank's share is one block), reduced in task order below.
        var losses = [Double](repeating: 0, count: nShots * nSteps * nTasks)
        var accuracies = [Double](repeating: 0, count: classify ? losses.count : 0)

        var reported = 0      // only touched on the caller's thread (worker 0)
        parameters.withUnsafeBufferPointer { p in
            losses.withUnsafeMutableBufferPointer { losses in
                accuracies.withUnsafeMutableBufferPointer { accuracies in
                    let metrics = TaskMetrics(losses: losses, accuracies: accuracies, shots: nShots, steps: nSteps)
                    let firstTask = share.lowerBound, local = share.count
                    pool.forEach(local) { w, j in
                        let worker = workers[w], i = firstTask + j
                        do throws(MAMLError) {
                            try worker.evaluate(task: i, parameters: p, config: config, into: metrics)
                        } catch {
                            worker.error.record(error, task: i)
                            return false
                        }
                        if w == 0 {     // the caller's thread: progress need not be thread-safe
                            // this rank's share, scaled to the whole (rank 0 is the one that shows it)
                            reported = (pool.finishedItems + 1) * nTasks / local
                            progress(reported, nTasks)
                        }
                        return true
                    }
                }
            }
        }
        try throwFirstAcrossRanks(TaskErrorSlot.takeFirst(workers.map(\.error)), group: group)
        if let group, group.size > 1 {
            let shares = group.shares(of: nTasks), block = nShots * nSteps
            try losses.withUnsafeMutableBufferPointer { (b) throws(MAMLError) in
                try group.allGather(b.baseAddress!, blockLength: block, shares: shares)
            }
            if classify {
                try accuracies.withUnsafeMutableBufferPointer { (b) throws(MAMLError) in
                    try group.allGather(b.baseAddress!, blockLength: block, shares: shares)
                }
            }
        }
        if reported < nTasks { progress(nTasks, nTasks) }

        var results: [EvalResult] = []
        for (k, shots) in config.shots.enumerated() {
            for (s, steps) in config.steps.enumerated() {
                let column = (0..<nTasks).map { i in i * nShots * nSteps + k * nSteps + s }
                let taskLosses = column.map { losses[$0] }
                let l = meanAndCI95(taskLosses)
                var r = EvalResult(shots: shots, steps: steps, tasks: nTasks, loss: l.mean, lossCI95: l.ci95)
                r.diverged = taskLosses.reduce(0) { $0 + ($1.isFinite ? 0 : 1) }
                if classify {
                    let a = meanAndCI95(column.map { accuracies[$0] })
                    r.accuracy = a.mean; r.accuracyCI95 = a.ci95
                }
                results.append(r)
            }
        }
        return results
    }
}

// MARK: - One task's evaluation, on one worker

/// Where the tasks' metrics go: slot (i * shots + k) * steps + s; each task writes only its own.
struct TaskMetrics {
    let losses: UnsafeMutableBufferPointer<Double>
    let accuracies: UnsafeMutableBufferPointer<Double>     // empty unless classification
    let shots: Int, steps: Int
    @inline(__always) func slot(shotIndex k: Int, stepIndex s: Int, task i: Int) -> Int { (i * shots + k) * steps + s }
}

/// What one evaluation worker owns: a backbone instance and buffers, allocated once.
final class EvalWorker {
    let backbone: any Backbone
    let family: any TaskFamily
    let error = TaskErrorSlot()
    let task: TaskBuffer
    let theta: FloatBuffer
    let gradient: FloatBuffer
    private let output: FloatBuffer      // forward outputs, for accuracy
    private let maxSteps: Int
    private let index: Int   // slot on the activity page
    private let plan: MetaPlan
    let m: FloatBuffer, v: FloatBuffer   // Reptile's inner Adam (empty otherwise)

    init(backbone: any Backbone, family: any TaskFamily, config: EvaluationConfig, plan: MetaPlan, index: Int) {
        self.backbone = backbone; self.family = family; self.index = index; self.plan = plan
        let p = backbone.parameterCount
        let adam = plan.learner.algorithm == .reptile && plan.learner.options.innerOptimizer == .adam
        m = FloatBuffer(adam ? p : 0); v = FloatBuffer(adam ? p : 0)
        let maxShots = config.shots.max()!
        task = TaskBuffer(family: family, supportShots: maxShots, queryShots: config.queryShots)
        theta = FloatBuffer(backbone.parameterCount)
        gradient = FloatBuffer(backbone.parameterCount)
        output = FloatBuffer(family.lossKind == .softmaxCrossEntropy
                             ? task.queryCapacity * family.outputElements : 0)
        maxSteps = config.steps.max()!
    }

    /// Evaluation task i for every K: fine-tunes from `parameters` and records the query metrics.
    func evaluate(task i: Int, parameters: UnsafeBufferPointer<Float>, config: EvaluationConfig,
                  into metrics: TaskMetrics) throws(MAMLError) {
        let n = backbone.parameterCount
        let classify = !metrics.accuracies.isEmpty
        let start = RandomGenerator(seed: config.seed, stream: config.stream, iteration: 0, task: i)
        Activity.mark(worker: index, iteration: 0, task: i, stage: .idle)
        defer { Activity.mark(worker: index, stage: .idle) }
        for (k, shots) in config.shots.enumerated() {
            var rng = start     // the same task for every K
            try family.sample(split: config.split, supportShots: shots, queryShots: config.queryShots,
                              rng: &rng, into: task)
            copyVector(parameters.baseAddress!, to: theta.base, count: n)
            m.base.update(repeating: 0, count: m.count); v.base.update(repeating: 0, count: v.count)
            // Until recorded, a slot holds the value of a diverged task (see the catch below).
            for s in 0..<config.steps.count {
                metrics.losses[metrics.slot(shotIndex: k, stepIndex: s, task: i)] = .infinity
                if classify { metrics.accuracies[metrics.slot(shotIndex: k, stepIndex: s, task: i)] = 0 }
            }
            if plan.learner.algorithm == .protonet {
                try prototypeMetrics(task: i, shotIndex: k, shots: shots, parameters: parameters, into: metrics)
                continue
            }
            do {
                for step in 0...maxSteps {
                    for (s, want) in config.steps.enumerated() where want == step {
                        let slot = metrics.slot(shotIndex: k, stepIndex: s, task: i)
                        Activity.mark(worker: index, stage: .evalQuery, step: step)
                        metrics.losses[slot] = Double(try lossOnly(backbone, theta.base, task.query, n,
                                                                   .evalQuery(step: step)))
                        if classify { metrics.accuracies[slot] = try queryAccuracy() }
                    }
                    if step < maxSteps {
                        Activity.mark(worker: index, stage: .evalAdapt, step: step)
                        _ = try lossGrad(backbone, theta.base, task.support, gradient.base, n,
                                                .support(step: step))
                        adapt(step: step, start: parameters.baseAddress!)
                    }
                }
            } catch where error.isDivergence {
                // Fine-tuning blew up on this task: a legitimate (bad) outcome of the
                // parameters, reported as +infinity loss from here on, not a failure.
            } catch {
                throw error.error(at: "evaluation task \(i), K = \(shots)")
            }
        }
    }

    /// Prototypical Networks: no fine-tuning; the query metrics from the support set's
    /// prototypes, the same for every requested step count.
    private let prototypes = PrototypeBuffers()
    private func prototypeMetrics(task i: Int, shotIndex k: Int, shots: Int, parameters: UnsafeBufferPointer<Float>,
                                  into metrics: TaskMetrics) throws(MAMLError) {
        let d = backbone.outputShape.reduce(1, *)
        do {
            Activity.mark(worker: index, stage: .evalQuery, step: 0)
            try embed(backbone, parameters.baseAddress!, task, prototypes, dimensions: d)
            guard let ys = task.support.yClass, let yq = task.query.yClass else { return }
            let (loss, accuracy) = try prototypeLoss(prototypes, supportLabels: ys, supportCount: task.support.n,
                                                     queryLabels: yq, queryCount: task.query.n, dimensions: d,
                                                     ways: task.outputElements, gradients: false)
            for s in 0..<metrics.steps {
                let slot = metrics.slot(shotIndex: k, stepIndex: s, task: i)
                metrics.losses[slot] = loss
                if !metrics.accuracies.isEmpty { metrics.accuracies[slot] = accuracy }
            }
        } catch where error.isDivergence {
            // counted as diverged (the slots hold +infinity)
        } catch {
            throw error.error(at: "evaluation task \(i), K = \(shots)")
        }
    }

    /// One fine-tuning step of `theta` with the plan's inner step (the gradient is in `gradient`);
    /// `meta` are the meta-parameters: theta at the start of fine-tuning, then the learned rates.
    func adapt(step j: Int, start meta: UnsafePointer<Float>) {
        let n = backbone.parameterCount, t = theta.base, g = gradient.base, learner = plan.learner
        let lr = learner.innerLR
        switch learner.algorithm {
        case .metaSGD:
            let a = meta + n
            for i in 0..<n { t[i] -= a[i] * g[i] }
        case .anil:
            for r in plan.head { for i in r { t[i] -= lr * g[i] } }
        case .imaml:
            let lambda = Float(learner.options.imamlLambda)
            for i in 0..<n { t[i] -= lr * (g[i] + lambda * (t[i] - meta[i])) }
        case .reptile where learner.options.innerOptimizer == .adam:
            learner.reptileAdamStep(t, g, m: m.base, v: v.base, step: j + 1, count: n)
        default:
            if learner.options.lslr {
                // Step j's learned rates; past the k trained steps, the last step's.
                let row = min(j, learner.innerSteps - 1) * plan.groups.count
                for (gi, r) in plan.groups.enumerated() { let a = meta[n + row + gi]; for i in r { t[i] -= a * g[i] } }
            } else {
                addScaled(t, -lr, g, into: t, count: n)
            }
        }
    }

    /// Fraction of query examples whose arg-max output equals the label, at `theta`.
    private func queryAccuracy() throws(TaskFault) -> Double {
        let batch = task.query, c = family.outputElements, n = backbone.parameterCount
        guard let labels = batch.yClass else { return 0 }
        do {
            try backbone.forward(params: UnsafeBufferPointer(start: theta.base, count: n), batch: batch,
                                 output: UnsafeMutableBufferPointer(start: output.base, count: batch.n * c))
        } catch {
            throw .backbone(error, "query forward")
        }
        var correct = 0
        for e in 0..<batch.n {
            let row = output.base + e * c
            var best = 0
            for j in 1..<max(c, 1) where row[j] > row[best] { best = j }
            if Int32(best) == labels[e] { correct += 1 }
        }
        return Double(correct) / Double(max(batch.n, 1))
    }
}
