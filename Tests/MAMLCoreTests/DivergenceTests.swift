// MARK: - Divergence: roll back to the last good state, finite blow-ups, and what reaches the file

import Foundation
import Testing
@testable import MAMLCore
import MAMLTasks

@Suite struct DivergenceTests {
    /// Loss/gradient calls in one meta-iteration of `smallConfig` (the same every iteration).
    private func callsPerIteration() throws -> Int {
        let probe = FaultyBackbone(nanAt: .max)
        let trainer = try Trainer(backbone: probe, family: SinusoidTasks(), config: smallConfig)
        try trainer.step()
        return probe.calls
    }

    /// The states after 0, 1, 2, ... iterations of an undisturbed run.
    private func referenceStates(_ count: Int, config: TrainerConfig = smallConfig) throws -> [TrainerState] {
        let trainer = try Trainer(backbone: FaultyBackbone(nanAt: .max), family: SinusoidTasks(), config: config)
        var states = [trainer.state]
        for _ in 1..<count { try trainer.step(); states.append(trainer.state) }
        return states
    }

    @Test("a NaN in iteration I rolls back to the state after I - 1 (the one I started from is dropped)")
    func rollsBackOneIteration() throws {
        let perIteration = try callsPerIteration(), reference = try referenceStates(5)
        let trainer = try Trainer(backbone: FaultyBackbone(nanAt: 3 * perIteration + 1), family: SinusoidTasks(),
                                  config: smallConfig)
        for _ in 0..<3 { try trainer.step() }
        #expect(trainer.state == reference[3])
        #expect { try trainer.step() } throws: { error in
            guard case MAMLError.nonFinite(let m) = error else { return false }
            return m.contains("meta-iteration 3, task 0")
        }
        #expect(trainer.state == reference[2])          // parameters, Adam moments and step, iteration
        // Rolled back, the trainer goes on as if nothing had happened (the fault was once).
        try trainer.step()
        #expect(trainer.state == reference[3])
        // A second divergence right away has no older state to fall back to: it stays where it is.
        let twice = try Trainer(backbone: FaultyBackbone(nanAt: 1), family: SinusoidTasks(), config: smallConfig)
        #expect(throws: MAMLError.self) { try twice.step() }
        #expect(twice.state == reference[0])
    }

    @Test("a finite query loss above maxLoss is a divergence: stopped, or the task skipped")
    func finiteBlowUps() throws {
        let undisturbed = try makeTrainer(), initial = undisturbed.state
        let firstLoss = try undisturbed.step().queryLoss
        let reference = [initial, undisturbed.state]
        let trainer = try makeTrainer()
        trainer.maxLoss = firstLoss / 100       // every task's query loss is far above this
        #expect { try trainer.step() } throws: { error in
            guard case MAMLError.diverged(let m) = error else { return false }
            return m.contains("above the limit") && m.contains("meta-iteration 0, task 0")
        }
        #expect(trainer.state == reference[0])
        trainer.nonFinitePolicy = .skipTask
        #expect(throws: MAMLError.nonFinite("every task of meta-iteration 0 diverged (--on-nan skip-task)")) {
            try trainer.step()
        }
        // A limit no task reaches changes nothing, bit for bit.
        trainer.maxLoss = firstLoss * 1000
        try trainer.step()
        #expect(trainer.state == reference[1])
    }

    @Test("an update that overflows a parameter is undone; a blown-up finite state is caught at the next step")
    func hugeMetaRates() throws {
        // SGD with a rate near Float's maximum: any gradient above ~1.2 overflows its parameter.
        var sgd = smallConfig; sgd.optimizer = .sgd; sgd.metaLR = 3e38
        let trainer = try makeTrainer(sgd)
        let before = trainer.state
        #expect { try trainer.step() } throws: { error in
            guard case MAMLError.nonFinite(let m) = error else { return false }
            return m.contains("after the meta-update of iteration 0") && m.contains("undone")
        }
        #expect(trainer.state == before)
        #expect(allFinite(trainer.parameters))

        // Adam moves every parameter by about the rate: 1e30 stays finite, and the next
        // iteration's losses overflow. Both iterations are gone: back to the initialisation.
        var adam = smallConfig; adam.metaLR = 1e30
        let blown = try makeTrainer(adam)
        let initial = blown.state
        try blown.step()
        #expect(blown.parameters.contains { abs($0) > 1e29 })
        #expect(throws: MAMLError.self) { try blown.step() }
        #expect(blown.state == initial)
    }

    // MARK: What TrainingRun writes

    private func run(nanAtIteration k: Int, checkpointEvery: Int, output: String) throws -> TrainingStop? {
        let trainer = try Trainer(backbone: FaultyBackbone(nanAt: k * (try callsPerIteration()) + 1),
                                  family: SinusoidTasks(), config: smallConfig)
        let plan = TrainingPlan(iterations: 8, output: output, checkpointEvery: checkpointEvery)
        do {
            _ = try TrainingRun(trainer: trainer, model: model, plan: plan).run()
            return nil
        } catch let stop as TrainingStop {
            return stop
        }
    }

    private func lastGood(_ stop: TrainingStop?) -> Int?? {
        guard case .diverged(_, let lastGood, _)? = stop else { return .none }
        return .some(lastGood)
    }

    @Test("the file gets the last good state, never the suspect one, and is left alone when nothing is good")
    func whatTheOutputHolds() throws {
        let dir = try temporaryDirectory(), reference = try referenceStates(4)
        // Diverging in iteration 3 after checkpoints at 1, 2, 3: the file goes back to 2.
        let a = dir + "/a.ckpt"
        #expect(lastGood(try run(nanAtIteration: 3, checkpointEvery: 1, output: a)) == .some(2))
        let savedA = try Checkpoint.read(from: a)
        #expect(savedA.header.iteration == 2 && savedA.parameters == reference[2].parameters)

        // Diverging in iteration 1 after a checkpoint of iteration 1: the file goes back to 0.
        let b = dir + "/b.ckpt"
        #expect(lastGood(try run(nanAtIteration: 1, checkpointEvery: 1, output: b)) == .some(0))
        #expect(try Checkpoint.read(from: b).parameters == reference[0].parameters)

        // Diverging in iteration 1 with nothing written yet: the existing file is untouched.
        let c = dir + "/c.ckpt"
        try Data("an existing file".utf8).write(to: URL(fileURLWithPath: c))
        #expect(lastGood(try run(nanAtIteration: 1, checkpointEvery: 0, output: c)) == .some(nil))
        #expect(try Data(contentsOf: URL(fileURLWithPath: c)) == Data("an existing file".utf8))
    }
}
