// MARK: - Parallel meta-batches and evaluation: bit-identical results for any thread count

import Testing
@testable import MAMLCore
import MAMLTasks

/// Throws an error of `kind` whenever the first x of a batch is one of `poison` (a data
/// property, so it fails on the same tasks whichever instance or thread runs them).
/// `.numerical` is a divergence (what --on-nan skip-task may drop); other kinds are not.
final class PoisonedBackbone: Backbone {
    let inner = TestBackbone(TanhModel(hidden: 3))
    let poison: Set<UInt32>
    let kind: BackboneError.Kind
    init(poison: Set<UInt32>, kind: BackboneError.Kind = .invalidArgument) { self.poison = poison; self.kind = kind }
    var parameterCount: Int { inner.parameterCount }
    var inputShape: [Int] { inner.inputShape }
    var outputShape: [Int] { inner.outputShape }
    var lossKind: LossKind { .mse }
    var layout: [LayoutTensor]? { nil }
    var providesHVP: Bool { true }
    func makeReplica() throws(BackboneError) -> any Backbone { PoisonedBackbone(poison: poison, kind: kind) }
    func initParameters(seed: UInt64, into params: UnsafeMutableBufferPointer<Float>) throws(BackboneError) {
        try inner.initParameters(seed: seed, into: params)
    }
    func forward(params: UnsafeBufferPointer<Float>, batch: Batch, output: UnsafeMutableBufferPointer<Float>) throws(BackboneError) {
        try inner.forward(params: params, batch: batch, output: output)
    }
    func lossGrad(params: UnsafeBufferPointer<Float>, batch: Batch,
                         grad gradient: UnsafeMutableBufferPointer<Float>?) throws(BackboneError) -> Float {
        if poison.contains(batch.x[0].bitPattern) { throw BackboneError(kind, "poisoned task") }
        return try inner.lossGrad(params: params, batch: batch, grad: gradient)
    }
    func hvp(params: UnsafeBufferPointer<Float>, batch: Batch, v vector: UnsafeBufferPointer<Float>,
                              output: UnsafeMutableBufferPointer<Float>) throws(BackboneError) {
        try inner.hvp(params: params, batch: batch, v: vector, output: output)
    }
}

/// The first support x of training task t in meta-iteration i (seed 123, the small config's shots).
func firstSupportX(iteration i: Int, task t: Int) throws -> Float {
    let task = TaskBuffer(family: SinusoidTasks(), supportShots: 5, queryShots: 6)
    var rng = RandomGenerator(seed: 123, stream: .metaTrain, iteration: i, task: t)
    try SinusoidTasks().sample(split: .train, supportShots: 5, queryShots: 6, rng: &rng, into: task)
    return task.supportX[0]
}

@Suite struct ParallelTrainingTests {
    /// A meta-batch of 7 spreads unevenly over 2 and 3 threads, and the dynamic hand-out gives
    /// different task-to-thread assignments from run to run.
    @Test(arguments: [(MetaAlgorithm.maml, true), (.maml, false), (.fomaml, true), (.pretrain, true)])
    func parametersAreBitIdenticalForOneTwoAndThreeThreads(algorithm: MetaAlgorithm, exactHVP: Bool) throws {
        var config = smallConfig
        config.algorithm = algorithm; config.metaBatch = 7; config.iterations = 6
        var runs: [(TrainerState, [Double])] = []
        for threads in [1, 2, 3] {
            let trainer = try Trainer(backbone: TestBackbone(TanhModel(hidden: 6), exactHVP: exactHVP),
                                      family: SinusoidTasks(), config: config, threads: threads)
            #expect(trainer.threads == threads)
            var losses: [Double] = []
            try trainer.run { losses.append($0.queryLoss); return true }
            runs.append((trainer.state, losses))
        }
        #expect(runs[0].0.parameters != (try makeTrainer(config)).parameters, "training moved the parameters")
        for run in runs.dropFirst() {
            #expect(run.0 == runs[0].0)      // parameters and optimiser state, bit for bit
            #expect(run.1 == runs[0].1)
        }
    }

    @Test func resumingWithAnotherThreadCountGivesTheSameResult() throws {
        var config = smallConfig; config.metaBatch = 5
        let whole = try Trainer(backbone: TestBackbone(TanhModel(hidden: 6)), family: SinusoidTasks(), config: config)
        try whole.run()
        let first = try Trainer(backbone: TestBackbone(TanhModel(hidden: 6)), family: SinusoidTasks(), config: config,
                                threads: 2)
        try first.run(until: 3)
        let path = try temporaryDirectory() + "/threads.mamlckpt"
        try Checkpoint(trainer: first, model: ModelIdentity(id: "test.tanh", version: "1.0.0")).write(to: path)
        let saved = try Checkpoint.read(from: path)
        let resumed = try Trainer(backbone: TestBackbone(TanhModel(hidden: 6)), family: SinusoidTasks(),
                                  config: saved.header.training, resumingFrom: try saved.resumeState(family: SinusoidTasks()),
                                  threads: 3)
        try resumed.run()
        #expect(resumed.state == whole.state)
    }

    @Test func theReportedErrorIsTheFirstFailingTaskWhateverTheThreadCount() throws {
        // Tasks 2 and 5 of meta-iteration 0 fail; a sequential loop stops at task 2.
        let poison: Set<UInt32> = [try firstSupportX(iteration: 0, task: 2).bitPattern,
                                   try firstSupportX(iteration: 0, task: 5).bitPattern]
        var config = smallConfig; config.metaBatch = 7
        for threads in [1, 2, 3, 7] {
            let trainer = try Trainer(backbone: PoisonedBackbone(poison: poison), family: SinusoidTasks(),
                                      config: config, threads: threads)
            #expect {
                try trainer.step()
            } throws: { error in
                guard case MAMLError.backbone(let e, let context) = error else { return false }
                return e.message == "poisoned task" && context.contains("meta-iteration 0, task 2")
            }
            #expect(trainer.iteration == 0)
        }
    }

    @Test func threadCountsAreCheckedAndCapped() throws {
        #expect { try makeTrainerWithThreads(0) } throws: { error in
            (error as? MAMLError) == .invalidConfig("threads = 0, expected at least 1")
        }
        #expect(try makeTrainerWithThreads(9).threads == smallConfig.metaBatch)   // no idle workers
        // A backbone without replicas (FaultyBackbone keeps the protocol's default; its fault
        // never fires here) trains on one thread and refuses more, saying why.
        _ = try Trainer(backbone: FaultyBackbone(nanAt: 0), family: SinusoidTasks(), config: smallConfig, threads: 1)
        #expect {
            try Trainer(backbone: FaultyBackbone(nanAt: 0), family: SinusoidTasks(), config: smallConfig, threads: 2)
        } throws: { error in
            guard case MAMLError.backbone(let e, let context) = error else { return false }
            return e.kind == .unsupported && context.contains("worker thread 1")
        }
    }

    private func makeTrainerWithThreads(_ threads: Int) throws -> Trainer {
        try Trainer(backbone: TestBackbone(TanhModel(hidden: 6)), family: SinusoidTasks(), config: smallConfig,
                    threads: threads)
    }
}

@Suite struct ParallelEvaluationTests {
    @Test func regressionResultsAreBitIdenticalForOneTwoAndThreeThreads() throws {
        // innerLR 1.5 makes some tasks diverge after many steps: the diverged counts must agree too.
        let config = EvaluationConfig(tasks: 11, shots: [2, 5], steps: [0, 1, 30], queryShots: 7, innerLR: 1.5, seed: 9)
        let parameters = try makeTrainer().parameters
        var all: [[EvalResult]] = []
        for threads in [1, 2, 3] {
            let evaluator = try Evaluator(backbone: TestBackbone(TanhModel(hidden: 6)), family: SinusoidTasks(),
                                          config: config, threads: threads)
            #expect(evaluator.threads == threads)
            var reports: [Int] = []
            all.append(try evaluator.evaluate(parameters: parameters) { done, total in
                #expect(total == 11)
                reports.append(done)
            })
            #expect(reports.last == 11 && reports == reports.sorted() && Set(reports).count == reports.count)
        }
        #expect(all[0].contains { $0.diverged > 0 } && all[0].contains { $0.loss.isFinite })
        #expect(all[1] == all[0] && all[2] == all[0])
    }

    @Test func classificationResultsAreBitIdenticalForOneAndTwoThreads() throws {
        let config = EvaluationConfig(tasks: 9, shots: [1, 2], steps: [0, 3], queryShots: 4, innerLR: 0.5, seed: 5)
        let one = try Evaluator(backbone: SoftmaxBackbone(), family: TwoWayTasks(), config: config)
            .evaluate(parameters: [-1, 2, 0.5, 0])
        let two = try Evaluator(backbone: SoftmaxBackbone(), family: TwoWayTasks(), config: config, threads: 2)
            .evaluate(parameters: [-1, 2, 0.5, 0])
        #expect(one == two && one[0].accuracy != nil)
    }

    @Test func anEvaluationErrorNamesTheFirstFailingTask() throws {
        let config = EvaluationConfig(tasks: 6, shots: [3], steps: [0, 1], queryShots: 4, seed: 2)
        // Poison the support set of evaluation tasks 1 and 4 (the support follows the query).
        var poison: Set<UInt32> = []
        for i in [1, 4] {
            let task = TaskBuffer(family: SinusoidTasks(), supportShots: 3, queryShots: 4)
            var rng = RandomGenerator(seed: 2, stream: .evaluation, iteration: 0, task: i)
            try SinusoidTasks().sample(split: .test, supportShots: 3, queryShots: 4, rng: &rng, into: task)
            poison.insert(task.supportX[0].bitPattern)
        }
        let parameters = try Trainer(backbone: PoisonedBackbone(poison: []), family: SinusoidTasks(),
                                     config: smallConfig).parameters
        for threads in [1, 2, 3] {
            let evaluator = try Evaluator(backbone: PoisonedBackbone(poison: poison), family: SinusoidTasks(),
                                          config: config, threads: threads)
            #expect {
                try evaluator.evaluate(parameters: parameters)
            } throws: { error in
                guard case MAMLError.backbone(_, let context) = error else { return false }
                return context.contains("evaluation task 1,")
            }
        }
    }
}

@Suite struct WorkerPoolTests {
    @Test func everyItemRunsExactlyOnceOnAValidWorkerAcrossManyLoops() {
        for workers in [1, 2, 3, 5] {
            let pool = WorkerPool(workers: workers)
            for count in [0, 1, 2, 7, 64] {
                for _ in 0..<50 {
                    let runs = UnsafeMutableBufferPointer<Int>.allocate(capacity: max(count, 1))
                    let by = UnsafeMutableBufferPointer<Int>.allocate(capacity: max(count, 1))
                    runs.initialize(repeating: 0); by.initialize(repeating: -1)
                    pool.forEach(count) { w, i in runs[i] += 1; by[i] = w; return true }
                    #expect(runs.prefix(count).allSatisfy { $0 == 1 })
                    #expect(by.prefix(count).allSatisfy { (0..<workers).contains($0) })
                    runs.deallocate(); by.deallocate()
                }
            }
        }
    }

    @Test func stoppingRunsEveryItemBelowTheStoppingOne() {
        let pool = WorkerPool(workers: 3)
        for _ in 0..<200 {
            let runs = UnsafeMutableBufferPointer<Int>.allocate(capacity: 40)
            runs.initialize(repeating: 0)
            pool.forEach(40) { _, i in runs[i] += 1; return i != 17 }
            #expect(runs.prefix(18).allSatisfy { $0 == 1 } && runs.allSatisfy { $0 <= 1 })
            runs.deallocate()
        }
    }
}
