// MARK: - Model selection on meta-validation tasks (train --validate-every)
//
// MAML trained with one inner step can become sharp late in training: a few
// tasks diverge when fine-tuned for many steps. Choosing the checkpoint by its
// score on validation tasks (a random stream disjoint from the meta-test
// tasks `eval` uses) is the standard remedy and keeps the test set unseen.
import ArgumentParser
import MAMLCore

struct ValidationOptions: ParsableArguments {
    @Option(name: .customLong("validate-every"),
            help: "Score the parameters on validation tasks every N iterations (0: never).")
    var every = 0
    @Option(name: .customLong("validate-tasks"), help: "Validation tasks per scoring.") var tasks = 200
    @Option(name: .customLong("validate-shots"), help: "Support size K of validation tasks.") var shots = 5
    @Option(name: .customLong("validate-steps"), help: ArgumentHelp("Fine-tuning steps scored (the score is the mean loss over them).", valueName: "S,S,..."))
    var steps = "1,5,10"
    @Option(help: ArgumentHelp("Write the best-scoring parameters seen so far to CKPT.", valueName: "CKPT"))
    var best: String?

    func check() throws {
        guard every >= 0 else { throw ValidationError("--validate-every must be >= 0, got \(every)") }
        guard tasks >= 2, shots >= 1 else {
            throw ValidationError("--validate-tasks must be >= 2 and --validate-shots >= 1 (got \(tasks), \(shots))")
        }
        _ = try parseList(steps, "--validate-steps")
        if best != nil && every == 0 { throw ValidationError("--best needs --validate-every N") }
    }

    func makeSelector(setup: Setup, innerLR: Float, threads: Int = 1) throws -> ModelSelector? {
        guard every > 0 else { return nil }
        let config = EvaluationConfig(tasks: tasks, shots: [shots], steps: try parseList(steps, "--validate-steps"),
                                      innerLR: innerLR, split: .validation)
        return ModelSelector(evaluator: try Evaluator(backbone: setup.backbone, family: setup.family, config: config,
                                                      threads: threads),
                             bestPath: best)
    }
}

/// Scores parameters on validation tasks and keeps the best checkpoint.
struct ModelSelector {
    let evaluator: Evaluator
    let bestPath: String?
    private(set) var bestScore = Double.infinity
    private(set) var bestIteration = 0

    init(evaluator: Evaluator, bestPath: String?) { self.evaluator = evaluator; self.bestPath = bestPath }

    /// The mean validation loss over the scored steps; writes `bestPath` when it improves.
    mutating func validate(trainer: Trainer, model: ModelIdentity) throws -> Double {
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
