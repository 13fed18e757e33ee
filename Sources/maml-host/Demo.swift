// MARK: - maml-host demo: the main job on an embedded default
import ArgumentParser
import MAMLCore
import MAMLHost

struct Demo: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Meta-train the MLP on sinusoid regression (MAML paper setup) and print the meta-test table.",
        discussion: "Compares with the zoo's 70,000-iteration model (models/zoo) when present, and with the MAML paper's numbers.")

    @OptionGroup var plugins: PluginOptions
    @Option(parsing: .unconditional, help: "Meta-iterations (the paper used 70,000; the zoo model has them).") var iterations = 10_000
    @Option(parsing: .unconditional, help: "Seed of initialisation and task sampling.") var seed: UInt64 = 0
    @Option(parsing: .unconditional, help: "Held-out tasks per support size.") var tasks = 600
    @Option(help: ArgumentHelp("Checkpoints to compare with at K = 5 (repeatable; missing ones are skipped).", valueName: "CKPT"))
    var compare = ["models/zoo/mlp-sinusoid-maml.ckpt", "models/zoo/mlp-sinusoid-pretrain.ckpt"]
    @Option(help: ArgumentHelp("Where to write this run's Figure 2 (SVG): adaptation to unseen tasks before and after 1 and 10 steps.", valueName: "FILE"))
    var plot = "demo-figure2.svg"
    @OptionGroup var threading: ThreadOptions
    @OptionGroup var supervision: SupervisionOptions
    @OptionGroup var verbosity: OutputOptions

    func validate() throws {
        try supervision.check()
        try checkOutputs(["--plot": plot], resume: nil)
        guard iterations >= 0 else { throw ValidationError("--iterations must be at least 0, got \(iterations)") }
        do { try EvaluationConfig(tasks: tasks).validate() } catch { throw ValidationError(flagNames("\(error)")) }
    }

    func run() throws {
        verbosity.apply()
        guard !MPIRanks.launchedAsRank else {
            throw CLIError("demo runs in one process: under mpirun use train, eval or bench (docs/scale-out.md)")
        }
        let catalog = plugins.catalog(quiet: Verbosity.level == .quiet)
        let setup = try Setup(catalog: catalog, model: "mlp", config: "{}", task: "sinusoid", taskConfig: "{}")
        let config = TrainerConfig(iterations: iterations, seed: seed)
        say("maml-zoo demo: second-order MAML, \(displaySafe(setup.identity.id)) 1-40-40-1 ReLU (\(setup.backbone.parameterCount) parameters), "
              + "sinusoid tasks, alpha 0.01, K = 10, meta-batch 25, Adam 0.001, \(iterations) meta-iterations")
        let trainer = try Trainer(backbone: setup.backbone, family: setup.family, config: config,
                                  threads: threading.threads, log: noteToStderr)
        var progress = ProgressReporter(total: iterations)
        while trainer.iteration < iterations {
            let r = try trainer.step()
            progress.update(iteration: r.iteration, loss: r.queryLoss)
        }
        let evalConfig = EvaluationConfig(tasks: tasks)
        print("\nmeta-test: \(tasks) unseen tasks per K, 100 query points, fine-tuning with SGD lr 0.01")
        let results = try evaluate(setup: setup, parameters: trainer.parameters, config: evalConfig,
                                   threads: threading.threads)
        print(evaluationTable(results, lossKind: .mse))

        // K = 5 side by side: this run, the zoo's models (when run from the repository), the paper.
        print("\nK = 5, MSE after 1 / 5 / 10 steps:")
        var table = Table("MODEL", "1 STEP", "5 STEPS", "10 STEPS")
        func row(_ name: String, _ rs: [EvalResult]) {
            let mse = [1, 5, 10].map { s in rs.first { $0.shots == 5 && $0.steps == s }.map { fmt($0.loss) + " ± " + fmt($0.lossCI95) } ?? "-" }
            table.add([name] + mse)
        }
        row("this run (\(iterations) iterations)", results)
        for path in compare {
            guard let saved = try? Checkpoint.read(from: path), saved.header.model.id == setup.identity.id,
                  saved.parameters.count == setup.backbone.parameterCount else { continue }
            let rs = try evaluate(setup: setup, parameters: saved.parameters,
                                  config: EvaluationConfig(tasks: tasks, shots: [5], steps: [1, 5, 10]),
                                  threads: threading.threads)
            row("\(path) (\(saved.header.training.algorithm.rawValue), iteration \(saved.header.iteration))", rs)
        }
        table.add("MAML paper (70,000 iterations)", "0.67", "0.38", "0.35")
        table.add("MAML paper: pretrained baseline", "2.41", "2.23", "2.19")
        print(table.render())

        // Figure 2 of this run: what the table's numbers look like on three unseen tasks.
        let panels = try adaptationPanels(label: "demo", parameters: trainer.parameters, training: config, setup: setup,
                                          shots: 10, count: 3, evalSeed: 0)
        let figure = adaptationFigure(panels, columns: 3, shots: 10,
                                      about: "maml-host demo, \(iterations) meta-iterations, seed \(seed)")
        do { try AtomicFile.write(Array(figure.svg().utf8), to: plot) }
        catch { throw CLIError("--plot \(plot): cannot write: \(error)") }
        print("\nwrote \(plot): Figure 2 of this run (3 unseen tasks, K = 10: the true function, the support points, "
              + "predictions before and after 1 and 10 steps)")
    }
}
