// MARK: - --on-nan skip-task: diverging tasks dropped from the meta-batch mean, for any thread count

import Testing
@testable import MAMLCore
import MAMLTasks

@Suite struct SkipTaskTests {
    /// Tasks 2 and 5 of meta-iteration 0 and task 1 of meta-iteration 1 diverge (plugin MAML_ERR_NUMERICAL).
    private func poison() throws -> Set<UInt32> {
        [try firstSupportX(iteration: 0, task: 2).bitPattern, try firstSupportX(iteration: 0, task: 5).bitPattern,
         try firstSupportX(iteration: 1, task: 1).bitPattern]
    }

    private var config: TrainerConfig {
        var c = smallConfig; c.metaBatch = 7; c.iterations = 4
        return c
    }

    @Test func skippedTasksAndParametersAreBitIdenticalForAnyThreadCount() throws {
        let poison = try poison()
        var runs: [(TrainerState, [StepResult])] = []
        for threads in [1, 2, 3, 7] {
            let trainer = try Trainer(backbone: PoisonedBackbone(poison: poison, kind: .numerical),
                                      family: SinusoidTasks(), config: config, threads: threads)
            trainer.nonFinitePolicy = .skipTask
            var steps: [StepResult] = []
            try trainer.run { steps.append($0); return true }
            runs.append((trainer.state, steps))
        }
        #expect(runs[0].1.map(\.skippedTasks) == [[2, 5], [1], [], []])
        #expect(runs[0].1.allSatisfy { $0.queryLoss.isFinite })
        for run in runs.dropFirst() {
            #expect(run.0 == runs[0].0)      // parameters and optimiser state, bit for bit
            #expect(run.1 == runs[0].1)      // losses and skipped tasks
        }
    }

    @Test func theStepIsTheMeanOverTheSurvivingTasksInTaskOrder() throws {
        var c = config; c.optimizer = .sgd
        let trainer = try Trainer(backbone: PoisonedBackbone(poison: try poison(), kind: .numerical),
                                  family: SinusoidTasks(), config: c, threads: 3)
        trainer.nonFinitePolicy = .skipTask
        let before = trainer.parameters
        let result = try trainer.step()

        // Each surviving task's meta-gradient on its own, then the Double mean over the 5 survivors.
        let kept = [0, 1, 3, 4, 6], n = before.count
        let worker = MetaWorker(backbone: TestBackbone(TanhModel(hidden: 3)), family: SinusoidTasks(), config: c)
        var sum = [Double](repeating: 0, count: n), lossSum = 0.0
        var slot = [Float](repeating: 0, count: n)
        for t in kept {
            let loss = try before.withUnsafeBufferPointer { p in
                try slot.withUnsafeMutableBufferPointer { s in
                    try worker.metaGradient(iteration: 0, task: t, parameters: p, learner: c.learner, config: c,
                                            skipDivergence: false, maxLoss: .infinity, into: s)
                }
            }
            lossSum += Double(try #require(loss))
            for k in 0..<n { sum[k] += Double(slot[k]) }
        }
        let inv = 1.0 / Double(kept.count), lr = Float(-c.metaLR)
        let expected = (0..<n).map { k in before[k] + lr * Float(sum[k] * inv) }
        #expect(trainer.parameters == expected)
        #expect(result.queryLoss == lossSum / Double(kept.count))
        #expect(result.skippedTasks == [2, 5])
    }

    @Test func whenEveryTaskDivergesTheStepStopsAndKeepsTheParameters() throws {
        var c = smallConfig; c.metaBatch = 3
        let all = Set(try (0..<3).map { try firstSupportX(iteration: 0, task: $0).bitPattern })
        for threads in [1, 3] {
            let trainer = try Trainer(backbone: PoisonedBackbone(poison: all, kind: .numerical),
                                      family: SinusoidTasks(), config: c, threads: threads)
            trainer.nonFinitePolicy = .skipTask
            let before = trainer.state
            #expect(throws: MAMLError.nonFinite("every task of meta-iteration 0 diverged (--on-nan skip-task)")) {
                try trainer.step()
            }
            #expect(trainer.state == before)
        }
    }

    @Test func skipTaskDoesNotSwallowErrorsThatAreNotDivergence() throws {
        let trainer = try Trainer(backbone: PoisonedBackbone(poison: try poison(), kind: .invalidArgument),
                                  family: SinusoidTasks(), config: config, threads: 2)
        trainer.nonFinitePolicy = .skipTask
        #expect {
            try trainer.step()
        } throws: { error in
            guard case MAMLError.backbone(let e, let context) = error else { return false }
            return e.kind == .invalidArgument && context.contains("meta-iteration 0, task 2")
        }
    }

    @Test func underStopTheFirstDivergingTaskIsReportedWhateverTheThreadCount() throws {
        for threads in [1, 2, 7] {
            let trainer = try Trainer(backbone: PoisonedBackbone(poison: try poison(), kind: .numerical),
                                      family: SinusoidTasks(), config: config, threads: threads)
            #expect {
                try trainer.step()
            } throws: { error in
                guard case MAMLError.backbone(let e, let context) = error else { return false }
                return e.kind == .numerical && context.contains("meta-iteration 0, task 2")
            }
            #expect(trainer.iteration == 0)
        }
    }
}
