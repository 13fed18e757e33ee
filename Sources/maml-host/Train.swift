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
    @Option(help: "Meta-iterations in total (a resumed run continues up to this; 0 writes the untrained initialisation, the from-scratch baseline).")
    var iterations = 70_000
    @Option(help: ArgumentHelp("Checkpoint to write (atomically).", valueName: "CKPT")) var output: String
    @Option(help: ArgumentHelp("Continue the run saved in CKPT (same model, task and hyper-parameters).", valueName: "CKPT"))
    var resume: String?
    @Option(name: .customLong("checkpoint-every"), help: "Also write the checkpoint every N iterations (0: only at the end).")
    var checkpointEvery = 0
    @Option(help: ArgumentHelp("Append metrics as JSON lines to FILE.", valueName: "FILE")) var log: String?
    @Option(name: .customLong("log-every"), help: "Iterations between metric lines in --log.") var logEvery = 100
    @OptionGroup var validation: ValidationOptions
    @Option(name: .customLong("on-nan"), help: ArgumentHelp("When a task's loss or gradient is NaN/infinite: stop (write the last good state to --output and exit 1) or skip-task (drop the task from that meta-batch's mean).", valueName: "stop|skip-task"))
    var onNaN: NonFinitePolicy = .stop

    func validate() throws {
        guard iterations >= 0 else { throw ValidationError("--iterations must be at least 0, got \(iterations)") }
        guard checkpointEvery >= 0 else { throw ValidationError("--checkpoint-every must be >= 0, got \(checkpointEvery)") }
        guard logEvery >= 1 else { throw ValidationError("--log-every must be at least 1, got \(logEvery)") }
        try validation.check()
    }

    func run() throws {
        let catalog = plugins.catalog()
        var trainer: Trainer
        var setup: Setup
        if let resume {
            let saved = try Checkpoint.read(from: resume)
            setup = try Setup(checkpoint: saved, path: resume, catalog: catalog)
            var config = saved.header.training
            config.iterations = iterations
            trainer = try Trainer(backbone: setup.backbone, family: setup.family, config: config,
                                  resumingFrom: try saved.resumeState(family: setup.family, path: resume),
                                  threads: options.threading.threads, log: noteToStderr)
            print("resuming \(resume) at iteration \(trainer.iteration) of \(iterations)")
        } else {
            setup = try Setup(catalog: catalog, model: options.model, config: options.config,
                              task: options.task, taskConfig: try options.resolvedTaskConfig())
            trainer = try Trainer(backbone: setup.backbone, family: setup.family,
                                  config: options.trainerConfig(iterations: iterations),
                                  threads: options.threading.threads, log: noteToStderr)
        }
        let c = trainer.config
        print("training \(setup.identity.id) (\(setup.backbone.parameterCount) parameters) on \(setup.family.name): "
              + "\(c.algorithm.rawValue), k=\(c.innerSteps), alpha=\(c.innerLR), meta-batch \(c.metaBatch), "
              + "\(c.optimizer.rawValue) \(c.metaLR), K=\(c.supportShots)+\(c.queryShots), seed \(c.seed)")

        trainer.nonFinitePolicy = onNaN
        let metrics = try log.map { try MetricsLog(path: $0) }
        // SIGINT/SIGTERM: finish the current meta-iteration, write a checkpoint, exit 128 + signal.
        let signals = StopSignals()
        var selector = try validation.makeSelector(setup: setup, innerLR: c.innerLR, threads: trainer.threads)
        var progress = ProgressReporter(total: iterations, start: trainer.iteration)
        let t0 = now(), startIteration = trainer.iteration
        while trainer.iteration < iterations {
            if let signal = signals.received {
                try Checkpoint(trainer: trainer, model: setup.identity).write(to: output)
                print("\ninterrupted by \(signalName(signal)) at iteration \(trainer.iteration): wrote \(output); continue with "
                      + "`maml-host train --resume \(output) --iterations \(iterations) --output \(output)`")
                throw ExitCode(128 + signal)
            }
            let result = try stepOrSaveLastGoodState(trainer, setup: setup, startIteration: startIteration)
            if !result.skippedTasks.isEmpty {
                printError("note: meta-iteration \(result.iteration - 1): skipped diverging task"
                           + (result.skippedTasks.count == 1 ? " " : "s ") + result.skippedTasks.map(String.init).joined(separator: ", ")
                           + " (--on-nan skip-task)")
            }
            progress.update(iteration: result.iteration, loss: result.queryLoss)
            if let metrics, result.iteration % logEvery == 0 || result.iteration == iterations {
                metrics.write(["iteration": .number(Double(result.iteration)), "query_loss": .number(result.queryLoss),
                               "elapsed_s": .number(now() - t0)])
            }
            if var s = selector, result.iteration % validation.every == 0 || result.iteration == iterations {
                let score = try s.validate(trainer: trainer, model: setup.identity)
                selector = s
                metrics?.write(["iteration": .number(Double(result.iteration)), "validation_score": .number(score),
                                "best_score": .number(s.bestScore), "best_iteration": .number(Double(s.bestIteration))])
            }
            if checkpointEvery > 0, result.iteration % checkpointEvery == 0, result.iteration < iterations {
                try Checkpoint(trainer: trainer, model: setup.identity).write(to: output)
            }
        }
        try Checkpoint(trainer: trainer, model: setup.identity).write(to: output)
        print("wrote \(output) (iteration \(trainer.iteration), \(fmtDuration(now() - t0)))")
        if let selector, let best = validation.best {
            print("wrote \(best): best validation score \(fmt(selector.bestScore, 4)) at iteration \(selector.bestIteration)")
        }
    }
}

extension Train {
    /// One meta-iteration; on a non-finite value, writes the last good state (the step threw
    /// before touching the parameters) to --output and throws a message saying so.
    func stepOrSaveLastGoodState(_ trainer: Trainer, setup: Setup, startIteration: Int) throws -> StepResult {
        do {
            return try trainer.step()
        } catch {
            switch error {
            case .nonFinite: break
            case .backbone(let e, _) where e.kind == .numerical: break   // the plugin's MAML_ERR_NUMERICAL
            default: throw error
            }
            let hint = onNaN == .stop ? " (--on-nan skip-task drops diverging tasks instead)" : ""
            // Nothing done in this run: the last good state is the one it started from (the seeded
            // initialisation or the resumed checkpoint), so --output is left as it was.
            guard trainer.iteration > startIteration else {
                throw CLIError("\(error)\ntraining stopped before completing a meta-iteration; nothing written" + hint)
            }
            try Checkpoint(trainer: trainer, model: setup.identity).write(to: output)
            throw CLIError("\(error)\ntraining stopped; the last good state (iteration \(trainer.iteration)) is in \(output)"
                           + hint)
        }
    }
}

extension NonFinitePolicy: ExpressibleByArgument {}

// MARK: - Stopping on SIGINT / SIGTERM

/// The first SIGINT or SIGTERM is recorded for the training loop to act on between iterations;
/// the handler then resets itself, so a second one kills at once (checkpoint writes are atomic).
final class StopSignals {
    init() {
        _ = stopSignal.load(ordering: .relaxed)   // initialise the global outside the handler
        for s in [SIGINT, SIGTERM] {
            var action = sigaction()
            action.__sigaction_handler.sa_handler = { signal in
                stopSignal.store(signal, ordering: .relaxed)
                Glibc.signal(signal, SIG_DFL)
            }
            sigemptyset(&action.sa_mask)
            action.sa_flags = 0
            sigaction(s, &action, nil)
        }
        // A parent may hand down a mask blocking them (test runners do): unblock, or they never arrive.
        var mask = sigset_t()
        sigemptyset(&mask)
        sigaddset(&mask, SIGINT); sigaddset(&mask, SIGTERM)
        pthread_sigmask(SIG_UNBLOCK, &mask, nil)
    }

    /// The signal received, if any.
    var received: Int32? { let s = stopSignal.load(ordering: .relaxed); return s == 0 ? nil : s }
}

private let stopSignal = Atomic<Int32>(0)

/// Metrics as JSON lines, flushed per line so a crash loses at most one.
final class MetricsLog {
    private let file: UnsafeMutablePointer<FILE>

    init(path: String) throws {
        guard let f = fopen(path, "a") else {
            throw CLIError("cannot open log file \(path): \(String(cString: strerror(errno)))")
        }
        file = f
    }
    deinit { fclose(file) }

    func write(_ fields: KeyValuePairs<String, JSONValue>) {
        fputs(jsonObject(fields).serialized() + "\n", file)
        fflush(file)
    }
}
