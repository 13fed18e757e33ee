// MARK: - train --validate-every: the options of model selection on meta-validation tasks
//
// The selection itself (ModelSelector) is part of MAMLCore's TrainingRun.
import ArgumentParser
import MAMLCore

struct ValidationOptions: ParsableArguments {
    @Option(name: .customLong("validate-every"),
            parsing: .unconditional, help: "Score the parameters on validation tasks every N iterations (0: never).")
    var every = 0
    @Option(name: .customLong("validate-tasks"), parsing: .unconditional, help: "Validation tasks per scoring.") var tasks = 200
    @Option(name: .customLong("validate-shots"), parsing: .unconditional, help: "Support size K of validation tasks.") var shots = 5
    @Option(name: .customLong("validate-steps"), parsing: .unconditional, help: ArgumentHelp("Fine-tuning steps scored (the score is the mean loss over them).", valueName: "S,S,..."))
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

    /// `group`: the ranks share the validation tasks; `writes`: this rank writes the best parameters (rank 0);
    /// `bestPath`: where they go (default --best); `best`: the score to beat when continuing a run.
    func makeSelector(setup: Setup, learner: MetaLearner, threads: Int = 1, group: (any TaskGroup)? = nil,
                      writes: Bool = true, bestPath: String? = nil,
                      best bestSoFar: (score: Double, iteration: Int)? = nil) throws -> ModelSelector? {
        guard every > 0 else { return nil }
        let config = EvaluationConfig(tasks: tasks, shots: [shots], steps: try parseList(steps, "--validate-steps"),
                                      innerLR: learner.innerLR, split: .validation, learner: learner)
        return ModelSelector(evaluator: try Evaluator(backbone: setup.backbone, family: setup.family, config: config,
                                                      threads: threads, group: group),
                             bestPath: writes ? (bestPath ?? best) : nil, best: bestSoFar)
    }
}
