// MARK: - maml-host eval
import ArgumentParser
import MAMLCore
import MAMLHost
import MAMLSchema
#if canImport(Glibc)
import Glibc
#endif

struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Meta-test a checkpoint on tasks training never saw: mean and 95% CI after fine-tuning steps.")

    @OptionGroup var plugins: PluginOptions
    @Option(help: ArgumentHelp("The checkpoint to evaluate.", valueName: "CKPT")) var checkpoint: String
    @Option(parsing: .unconditional, help: ArgumentHelp("Support sizes K, comma-separated.", valueName: "K,K,...")) var shots = "5,10,20"
    @Option(parsing: .unconditional, help: ArgumentHelp("Fine-tuning step counts, comma-separated.", valueName: "S,S,...")) var steps = "0,1,5,10"
    @Option(parsing: .unconditional, help: "Held-out tasks per support size.") var tasks = 600
    @Option(name: [.customLong("query"), .customLong("queries")],
            parsing: .unconditional, help: "Query examples per task (default: 100 for regression, 15 per class for classification).")
    var queries: Int?
    @Option(name: .customLong("inner-lr"), parsing: .unconditional, help: "Fine-tuning learning rate (default: the checkpoint's inner lr).")
    var innerLR: Float?
    @Option(name: .customLong("eval-seed"), parsing: .unconditional, help: "Seed of the evaluation tasks (same seed, same tasks).") var evalSeed: UInt64 = 0
    @Option(help: ArgumentHelp("The data folder, when it is no longer where the checkpoint says (omniglot, image-folder).", valueName: "DIR"))
    var data: String?
    @Flag(name: .customLong("allow-other-data"), help: "Evaluate on the folder's images even if they differ from the ones trained on (their fingerprint).")
    var allowOtherData = false
    @Flag(help: "One JSON object on stdout instead of a table.") var json = false
    @OptionGroup var threading: ThreadOptions
    @OptionGroup var supervision: SupervisionOptions
    @OptionGroup var verbosity: OutputOptions

    /// The evaluation settings checked before the checkpoint is read, naming the flags.
    func validate() throws {
        try supervision.check()
        if let innerLR, !innerLR.isFinite {
            throw ValidationError("--inner-lr is not a finite 32-bit float (the parameters are Float), got \(innerLR)")
        }
        let config = EvaluationConfig(tasks: tasks, shots: try parseList(shots, "--shots"),
                                      steps: try parseList(steps, "--steps"), queryShots: queries ?? 1,
                                      innerLR: innerLR ?? 0, seed: evalSeed)
        do { try config.validate() } catch { throw ValidationError(flagNames("\(error)")) }
    }

    func run() throws {
        verbosity.apply()
        let group = try MPIRanks.start(watchdog: supervision.watchdog)
        let t0 = now()
        let saved = try Checkpoint.read(from: checkpoint)
        let header = saved.header
        if let bad = saved.parameters.firstIndex(where: { !$0.isFinite }) {
            throw CLIError("\(checkpoint): parameter \(bad) is \(saved.parameters[bad]): the run that wrote it diverged; "
                           + "there is nothing to evaluate (retrain, or use an earlier checkpoint)")
        }
        let setup = try Setup(checkpoint: saved, path: checkpoint, catalog: plugins.catalog(quiet: json || Verbosity.level == .quiet),
                              data: data, allowOtherData: allowOtherData)
        let queryShots = queries ?? (setup.family.lossKind == .mse ? 100 : 15)
        // Prototypical Networks do not fine-tune: one row per K, no step column.
        let fineTunes = header.training.algorithm != .protonet
        let config = EvaluationConfig(tasks: tasks, shots: try parseList(shots, "--shots"),
                                      steps: fineTunes ? try parseList(steps, "--steps") : [0], queryShots: queryShots,
                                      innerLR: innerLR ?? header.training.innerLR, seed: evalSeed, learner: header.training.learner)
        let results = try evaluate(setup: setup, parameters: saved.parameters, config: config,
                                   threads: threading.threads, group: group)
        // Every task diverging at some scored step is a failed evaluation, not a result.
        let failed = results.filter { $0.diverged == tasks }
        if json {
            print(checkpointEvaluationJSON(results, checkpoint: checkpoint, header: header, config: config,
                                           lossKind: setup.family.lossKind))
        } else {
            say("\(checkpoint): \(displaySafe(header.model.id)) on \(header.task.family), \(header.training.algorithm.rawValue), "
                  + "iteration \(header.iteration); \(tasks) unseen tasks, \(queryShots) query "
                  + (setup.family.lossKind == .mse ? "points" : "examples per class")
                  + (fineTunes ? ", fine-tuning lr \(config.innerLR)" : ", classified by distance to the support set's prototypes"))
            print(evaluationTable(results, lossKind: setup.family.lossKind, steps: fineTunes))
            detail("evaluated in \(fmtDuration(now() - t0)) on \(threading.threads) thread\(threading.threads == 1 ? "" : "s")")
        }
        if let f = failed.first {
            printError("every one of the \(tasks) tasks diverged (K = \(f.shots), \(f.steps) steps): "
                       + "these parameters do not fine-tune")
            throw ExitCode(1)
        }
    }
}

/// Runs the evaluator, showing "evaluating task i/N" on a terminal (stderr) for slow models;
/// errors surface as MAMLError messages.
/// With `group` (mpirun) the ranks share the tasks and every rank gets the results.
func evaluate(setup: Setup, parameters: [Float], config: EvaluationConfig, threads: Int = 1,
              group: (any TaskGroup)? = nil) throws -> [EvalResult] {
    let evaluator = try Evaluator(backbone: setup.backbone, family: setup.family, config: config, threads: threads,
                                  group: group)
    guard isatty(STDERR_FILENO) != 0 else { return try evaluator.evaluate(parameters: parameters) }
    var lastDraw = 0.0
    let results = try evaluator.evaluate(parameters: parameters) { done, total in
        let t = now()
        guard t - lastDraw >= 0.2 else { return }
        lastDraw = t
        var stderr = StandardError()
        print("\revaluating task \(done)/\(total)", terminator: "", to: &stderr)
    }
    var stderr = StandardError()
    if lastDraw > 0 { print("\r\u{1B}[K", terminator: "", to: &stderr) }
    return results
}

/// "5,10,20" -> [5, 10, 20], or an error naming the option and the bad item.
func parseList(_ text: String, _ option: String) throws -> [Int] {
    try text.split(separator: ",", omittingEmptySubsequences: false).map { item in
        guard let v = Int(item.trimmingCharacters(in: " ")), v >= 0 else {
            throw ValidationError("\(option): \"\(item)\" is not a non-negative integer (expected e.g. 5,10,20)")
        }
        return v
    }
}

extension Substring {
    func trimmingCharacters(in set: Character) -> Substring {
        var s = self
        while s.first == set { s = s.dropFirst() }
        while s.last == set { s = s.dropLast() }
        return s
    }
}

/// The evaluation table: one row per (K, steps).
/// A DIVERGED column appears when any task's fine-tuning diverged (its loss counts as infinite).
func evaluationTable(_ results: [EvalResult], lossKind: LossKind, steps: Bool = true) -> String {
    let metric = lossKind == .mse ? "MSE" : "LOSS"
    var header = lossKind == .mse ? ["K", "STEPS", metric, "±95% CI"] : ["K", "STEPS", "ACCURACY", "±95% CI", metric]
    if !steps { header.remove(at: 1) }
    let anyDiverged = results.contains { $0.diverged > 0 }
    if anyDiverged { header.append("DIVERGED") }
    var table = Table(header: header)
    for r in results {
        var row = steps ? [String(r.shots), String(r.steps)] : [String(r.shots)]
        if lossKind == .mse {
            row += [fmt(r.loss), fmt(r.lossCI95)]
        } else {
            row += [fmt(100 * (r.accuracy ?? .nan), 2) + "%", fmt(100 * (r.accuracyCI95 ?? .nan), 2) + "%", fmt(r.loss)]
        }
        if anyDiverged { row.append("\(r.diverged)/\(r.tasks)") }
        table.add(row)
    }
    return table.render()
}

/// eval --json's object for a checkpoint (also run folders' eval.json): what was evaluated, how, and the results.
func checkpointEvaluationJSON(_ results: [EvalResult], checkpoint: String, header: CheckpointHeader,
                              config: EvaluationConfig, lossKind: LossKind) -> String {
    evaluationJSON(results, lossKind: lossKind, steps: header.training.algorithm != .protonet,
                   extra: ["checkpoint": .string(checkpoint), "model": .string(header.model.id),
                           "task": .string(header.task.family), "iteration": .number(Double(header.iteration)),
                           "tasks": .number(Double(config.tasks)), "queries": .number(Double(config.queryShots)),
                           "inner_lr": .number(Double("\(config.innerLR)") ?? Double(config.innerLR))])
}

/// {"results": [{"shots", "steps", "mse" | "accuracy" + "loss", "ci95"}], ...extra}
func evaluationJSON(_ results: [EvalResult], lossKind: LossKind, steps: Bool = true,
                    extra: KeyValuePairs<String, JSONValue>) -> String {
    let rows: [JSONValue] = results.map { r in
        var o = JSONObject([("shots", .number(Double(r.shots)))])
        if steps { o["steps"] = .number(Double(r.steps)) }
        o["diverged"] = .number(Double(r.diverged))
        if lossKind == .mse {
            o["mse"] = .number(r.loss); o["ci95"] = .number(r.lossCI95)
        } else {
            o["accuracy"] = .number(r.accuracy ?? .nan); o["ci95"] = .number(r.accuracyCI95 ?? .nan)
            o["loss"] = .number(r.loss); o["loss_ci95"] = .number(r.lossCI95)
        }
        return .object(o)
    }
    var root = JSONObject(extra.map { ($0.key, $0.value) })
    root["results"] = .array(rows)
    return JSONValue.object(root).serialized()
}
