// MARK: - maml-host train
import ArgumentParser
import MAMLCore
import MAMLHost
import MAMLSchema
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Meta-train a model on a task family and write a checkpoint.",
        discussion: "Defaults are the MAML paper's sinusoid setup: 1-40-40-1 ReLU MLP, alpha 0.01, K = 10, one inner step, meta-batch 25, Adam 0.001, 70,000 iterations.")

    @OptionGroup var plugins: PluginOptions
    @OptionGroup var options: TrainingOptions
    @Option(parsing: .unconditional, help: "Meta-iterations in total (a resumed run continues up to this; 0 writes the untrained initialisation, the from-scratch baseline).")
    var iterations = 70_000
    @Option(help: ArgumentHelp("Checkpoint to write (atomically); or give --run-dir.", valueName: "CKPT")) var output: String?
    @Option(name: .customLong("run-dir"), help: ArgumentHelp("Write everything the run produces into DIR (command and configuration, metrics, last and best checkpoints, final evaluation); a DIR holding a run continues it.", valueName: "DIR"))
    var runDir: String?
    @Option(name: .customLong("eval-tasks"), parsing: .unconditional, help: "With --run-dir: unseen tasks of the final evaluation written to DIR/eval.json (0: none).")
    var evalTasks = 600
    @Option(help: ArgumentHelp("Continue the run saved in CKPT (same model, task and hyper-parameters).", valueName: "CKPT"))
    var resume: String?
    @Option(name: .customLong("checkpoint-every"), parsing: .unconditional, help: "Also write the checkpoint every N iterations (0: only at the end).")
    var checkpointEvery = 0
    @Option(name: .customLong("checkpoint-seconds"), parsing: .unconditional, help: ArgumentHelp("Also write the checkpoint when this many seconds have passed since the last write (0: never), so a crash loses at most that much work.", valueName: "SECONDS"))
    var checkpointSeconds: Double = 60
    @Option(parsing: .unconditional, help: "When the worker crashes, exits or hangs, resume from the last checkpoint up to N times.")
    var restart = 0
    @OptionGroup var supervision: SupervisionOptions
    @Option(help: ArgumentHelp("Append metrics as JSON lines to FILE.", valueName: "FILE")) var log: String?
    @Option(name: .customLong("log-every"), parsing: .unconditional, help: "Iterations between metric lines in --log.") var logEvery = 100
    @OptionGroup var validation: ValidationOptions
    @Option(name: .customLong("on-nan"), help: ArgumentHelp("When a task's loss or gradient is NaN/infinite: stop (write the last good state to --output and exit 1) or skip-task (drop the task from that meta-batch's mean).", valueName: "stop|skip-task"))
    var onNaN: NonFinitePolicy = .stop
    @Option(name: .customLong("max-loss"), parsing: .unconditional, help: ArgumentHelp("A task whose query loss after adaptation exceeds X has diverged, handled like NaN by --on-nan (default: 1e6; inf: only NaN and infinity count).", valueName: "X"))
    var maxLoss: Double?
    @OptionGroup var verbosity: OutputOptions

    /// The run folder, when --run-dir is given.
    var runDirectory: RunDirectory? { runDir.map(RunDirectory.init) }
    /// Where the checkpoint goes: --output, or the run folder's last.ckpt.
    var outputPath: String { output ?? runDirectory!.last }
    /// What the run continues: --resume, or the run folder's last.ckpt when it exists.
    var resumePath: String? { resume ?? runDirectory.flatMap { $0.hasCheckpoint ? $0.last : nil } }
    var logPath: String? { log ?? runDirectory?.metrics }
    var bestPath: String? { validation.best ?? (validation.every > 0 ? runDirectory?.best : nil) }

    func validate() throws {
        guard iterations >= 0 else { throw ValidationError("--iterations must be at least 0, got \(iterations)") }
        guard checkpointEvery >= 0 else { throw ValidationError("--checkpoint-every must be >= 0, got \(checkpointEvery)") }
        guard checkpointSeconds >= 0, checkpointSeconds.isFinite else {
            throw ValidationError("--checkpoint-seconds must be >= 0, got \(checkpointSeconds)")
        }
        guard (maxLoss ?? 1) > 0 else { throw ValidationError("--max-loss must be > 0 (inf turns the limit off), got \(maxLoss ?? 0)") }
        guard restart >= 0 else { throw ValidationError("--restart must be >= 0, got \(restart)") }
        try supervision.check()
        try checkRunDirectory()
        if let resume = resumePath {
            // The saved run's own model, task and hyper-parameters continue; a flag that would
            // change them is an error rather than silently ignored.
            let given = givenFlags(TrainingOptions.flags.filter { $0 != "--data" })   // --data: where the folder is now
            guard given.isEmpty else {
                if let runDir, resume != runDir {
                    throw ValidationError("--run-dir \(runDir) holds a run (\(resume)): it continues with its own model, task "
                                          + "and hyper-parameters: remove \(given.joined(separator: ", ")) (or give a new --run-dir)")
                }
                throw ValidationError("--resume continues the saved run with its own model, task and hyper-parameters: "
                                      + "remove \(given.joined(separator: ", ")) (or start a new run without --resume)")
            }
        } else {
            try options.check(iterations: iterations)
        }
        try checkOutputs(["--output": outputPath, "--best": bestPath, "--log": logPath], resume: resumePath)
        guard logEvery >= 1 else { throw ValidationError("--log-every must be at least 1, got \(logEvery)") }
        try validation.check()
    }

    /// --run-dir goes alone (it names every file) and is created here, before the files in it are probed.
    func checkRunDirectory() throws {
        guard let runDirectory else {
            guard output != nil else { throw ValidationError("give --output CKPT or --run-dir DIR") }
            return
        }
        let clashing = [("--output", output), ("--resume", resume), ("--log", log), ("--best", validation.best)]
            .filter { $0.1 != nil }.map(\.0)
        guard clashing.isEmpty else {
            throw ValidationError("--run-dir names every file of the run (last.ckpt, best.ckpt, metrics.jsonl): "
                                  + "remove \(clashing.joined(separator: ", "))")
        }
        guard evalTasks == 0 || evalTasks >= 2 else { throw ValidationError("--eval-tasks must be 0 or at least 2, got \(evalTasks)") }
        do { try runDirectory.create() } catch { throw ValidationError("\(error)") }
    }

    func run() throws {
        verbosity.apply()
        let group = try MPIRanks.start(watchdog: supervision.watchdog)
        if group != nil && restart > 0 {
            throw CLIError("--restart needs the supervisor, which does not run under mpirun: run mpirun again with "
                           + "--resume (docs/scale-out.md)")
        }
        let writes = (group?.rank ?? 0) == 0     // rank 0 alone writes files and prints
        let output = outputPath, resume = resumePath
        let locks = try (writes ? [output, bestPath] : []).compactMap { $0 }.map { try OutputLock(path: $0) }
        defer { withExtendedLifetime(locks) {} }
        let catalog = plugins.catalog(quiet: Verbosity.level == .quiet)
        var trainer: Trainer
        var setup: Setup
        if let resume {
            var saved = try Checkpoint.read(from: resume)
            guard iterations >= saved.header.iteration else {
                throw CLIError("--iterations \(iterations) is below the iteration \(resume) is at (\(saved.header.iteration)): "
                               + "give at least \(saved.header.iteration)")
            }
            setup = try Setup(checkpoint: saved, path: resume, catalog: catalog, data: options.data)
            // The folder moved (its fingerprint, checked, says the images are the same): record where it is now.
            if options.data != nil { saved.header.task.config = setup.family.configJSON }
            var config = saved.header.training
            config.iterations = iterations
            let horizon = config.options.annealIterations
            if config.algorithm == .reptile, horizon > 0, iterations > horizon {
                printError("note: this Reptile run's outer rate anneals to 0 at iteration \(horizon) (the iterations it "
                           + "started with): iterations past it do not move the parameters; start a new run for more")
            }
            trainer = try Trainer(backbone: setup.backbone, family: setup.family, config: config,
                                  resumingFrom: try saved.resumeState(family: setup.family, path: resume),
                                  threads: options.threading.threads, group: group, log: noteToStderr)
            say("resuming \(resume) at iteration \(trainer.iteration) of \(iterations)")
        } else {
            setup = try Setup(catalog: catalog, model: options.model, config: options.config,
                              task: options.task, taskConfig: try options.resolvedTaskConfig(),
                              algorithm: options.algorithm)
            trainer = try Trainer(backbone: setup.backbone, family: setup.family,
                                  config: options.trainerConfig(iterations: iterations),
                                  threads: options.threading.threads, group: group, log: noteToStderr)
        }
        let c = trainer.config
        // The run folder is rank 0's, like every file the run writes.
        let session = writes ? try runDirectory.map { try RunSession(directory: $0, trainer: trainer, model: setup.identity) } : nil
        say("training \(setup.identity.id) (\(setup.backbone.parameterCount) parameters) on \(setup.family.name): "
              + "\(c.algorithm.rawValue), k=\(c.innerSteps), alpha=\(c.innerLR), meta-batch \(c.metaBatch), "
              + "\(c.optimizer.rawValue) \(c.metaLR), K=\(c.supportShots)+\(c.queryShots), seed \(c.seed)"
              + (group.map { ", tasks split over \($0.size) MPI ranks" } ?? ""))

        trainer.nonFinitePolicy = onNaN
        trainer.maxLoss = maxLoss ?? Trainer.defaultMaxLoss
        // SIGINT/SIGTERM: finish the current meta-iteration, write a checkpoint, exit 128 + signal.
        let signals = StopSignals()
        let plan = TrainingPlan(iterations: iterations, output: output, checkpointEvery: checkpointEvery,
                                metricsLog: writes ? logPath : nil, logEvery: logEvery, validateEvery: validation.every,
                                checkpointSeconds: checkpointSeconds)
        let run = try TrainingRun(trainer: trainer, model: setup.identity, plan: plan,
                                  selector: try validation.makeSelector(setup: setup, learner: c.learner,
                                                                        threads: trainer.threads, group: group,
                                                                        writes: writes, bestPath: bestPath,
                                                                        best: session?.bestSoFar),
                                  writesCheckpoints: writes)
        // Every rank stops at the same iteration: a signal any rank received counts for all.
        let stopRequested: () -> Int32? = group.map { g in
            { let s = (try? g.maximum(Int(signals.received ?? 0))) ?? 0; return s == 0 ? nil : Int32(s) }
        } ?? { signals.received }
        var progress = ProgressReporter(total: iterations, start: trainer.iteration)
        let summary: TrainingSummary
        do {
            summary = try run.run(stopRequested: stopRequested) { event in
                if case .validated(let i, let score, let best, let at) = event {
                    detail("iteration \(i): validation score \(fmt(score, 4)) (best \(fmt(best, 4)) at iteration \(at))")
                }
                guard case .stepped(let result) = event else { return }
                if !result.skippedTasks.isEmpty {
                    printError("note: meta-iteration \(result.iteration - 1): skipped diverging task"
                               + (result.skippedTasks.count == 1 ? " " : "s ")
                               + result.skippedTasks.map(String.init).joined(separator: ", ") + " (--on-nan skip-task)")
                }
                progress.update(iteration: result.iteration, loss: result.queryLoss)
            }
        } catch let stop as TrainingStop {
            try session?.finish(status: stop.status, iteration: trainer.iteration)
            switch stop {
            case .interrupted(let signal, let iteration, let output):
                let again = runDir.map { "--run-dir \($0) --iterations \(iterations)" }
                    ?? "--resume \(output) --iterations \(iterations) --output \(output)"
                print("\ninterrupted by \(signalName(signal)) at iteration \(iteration): wrote \(output); continue with "
                      + "`maml-host train \(again)`")
                throw ExitCode(128 + signal)
            case .diverged(let error, let lastGood, let output):
                var hint = onNaN == .stop ? " (--on-nan skip-task drops diverging tasks instead)" : ""
                if case .diverged = error { hint += "; --max-loss sets the limit" }
                guard let lastGood else {
                    throw CLIError("\(error)\ntraining stopped; no state of this run is known good (a state is, once a "
                                   + "meta-iteration from it has sane losses): \(output) was left as it was" + hint)
                }
                throw CLIError("\(error)\ntraining stopped; the last good state (iteration \(lastGood)) is in \(output)" + hint)
            }
        }
        try session?.finish(status: "finished", iteration: summary.iteration)
        say("wrote \(output) (iteration \(summary.iteration), \(fmtDuration(summary.seconds)))")
        if let best = summary.best, let path = bestPath {
            if best.score.isFinite {
                say("wrote \(path): best validation score \(fmt(best.score, 4)) at iteration \(best.iteration)")
            } else {
                printError("note: no validation score was finite (tasks diverged at every scoring: fine-tuning with "
                           + "--validate-steps blows up), so \(path) was not written")
            }
        }
        if let session, evalTasks > 0 {
            if group != nil {
                // The other ranks are finishing: one rank alone must not start a long evaluation under mpirun.
                printError("note: under mpirun the run folder gets no final evaluation; run `mpirun ... maml-host eval "
                           + "--checkpoint \(output)` (its tasks are split over the ranks)")
            } else {
                try session.evaluateFinal(setup: setup, tasks: evalTasks, threads: trainer.threads)
            }
        }
    }
}

extension NonFinitePolicy: ExpressibleByArgument {}
